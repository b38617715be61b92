//! The accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::MysqlHandler;
use crate::conn::serve_connection;

/// Protocol-level options.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Version string sent in the handshake (`8.0.33-Rigel-0.1.0`).
    pub server_version: String,
    /// Largest packet accepted from clients.
    pub max_allowed_packet: usize,
    /// TLS, when a certificate is configured.
    pub tls: Option<Arc<crate::tls::TlsSource>>,
    /// Refuse clients that do not switch to TLS (`require_secure_transport`).
    pub require_secure_transport: bool,
}

/// A MySQL protocol server for one handler.
pub struct MysqlServer<H: MysqlHandler> {
    handler: Arc<H>,
    options: Arc<ServerOptions>,
    next_connection_id: AtomicU32,
}

impl<H: MysqlHandler> MysqlServer<H> {
    /// Creates the server.
    pub fn new(handler: Arc<H>, options: ServerOptions) -> Self {
        Self {
            handler,
            options: Arc::new(options),
            next_connection_id: AtomicU32::new(1),
        }
    }

    /// Accepts connections until `shutdown` resolves, then closes every connection.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let local: Option<SocketAddr> = listener.local_addr().ok();
        info!(addr = ?local, "MySQL protocol server listening");
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Typically EMFILE: back off instead of spinning.
                            warn!("accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
                    let handler = Arc::clone(&self.handler);
                    let options = Arc::clone(&self.options);
                    connections.spawn(serve_connection(handler, stream, peer, id, options));
                }
            }
        }
        connections.shutdown().await;
    }
}
