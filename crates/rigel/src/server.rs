//! The frontend roles: `rigel server` (the frontend with its backend in this process) and
//! `rigel fe` (the frontend of a cluster). Built with the `frontend` feature (on by
//! default); without it the binary holds the backend role only (`rigel be`).

use std::net::SocketAddr;
use std::sync::Arc;

use rigel_backend::LocalBackend;
use rigel_common::SqlError;
use rigel_common::config::Config;
use rigel_common::ids::EMBEDDED_BACKEND;
use rigel_frontend::{Frontend, FrontendService};
use rigel_mysql::{MysqlServer, ServerOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::info;

use crate::{StartError, absolute, bind, node, open_engine, stopped};

/// A running server.
pub struct ServerHandle {
    /// MySQL protocol address.
    pub mysql_addr: SocketAddr,
    /// Frontend HTTP address.
    pub http_addr: SocketAddr,
    /// Backend HTTP address (`rigel server`; `rigel fe` has none).
    pub be_http_addr: Option<SocketAddr>,
    /// Frontend RPC address (`rigel fe`: backends coordinate loads there).
    pub rpc_addr: Option<SocketAddr>,
    /// The frontend (for in-process tests and tools).
    pub frontend: Arc<Frontend>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl ServerHandle {
    /// Stops accepting, closes connections and waits for the servers to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        for member in self.frontend.cluster().members() {
            if let Err(e) = member.client.prepare_shutdown().await {
                tracing::warn!("preparing storage for the stop: {e}");
            }
        }
        info!("server stopped");
    }

    /// Waits until the servers stop (they stop only on shutdown).
    pub async fn wait(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The backend of this process, as its HTTP service sees it.
#[derive(Debug)]
struct LocalStatus(Arc<LocalBackend>);

#[async_trait::async_trait]
impl rigel_frontend::load::LocalBackendStatus for LocalStatus {
    async fn render_metrics(&self) -> Result<String, SqlError> {
        self.0.render_metrics().await
    }

    fn stream_load(&self, loaded: Option<u64>) {
        self.0.count_stream_load(loaded);
    }

    fn functions(&self) -> Arc<datafusion::execution::TaskContext> {
        Arc::clone(self.0.functions())
    }
}

/// Whether the backend is part of this process (`rigel server`) or other processes
/// (`rigel fe`).
enum Role {
    Embedded,
    Frontend,
}

/// Starts `rigel server`: both roles in this process.
pub async fn start(config: Config) -> Result<ServerHandle, StartError> {
    start_role(config, Role::Embedded).await
}

/// Starts `rigel fe`: the frontend alone; backends join with ALTER SYSTEM ADD BACKEND.
pub async fn start_frontend(config: Config) -> Result<ServerHandle, StartError> {
    start_role(config, Role::Frontend).await
}

async fn start_role(mut config: Config, role: Role) -> Result<ServerHandle, StartError> {
    let meta = absolute(&config.meta_path())?;
    config.meta_dir = meta.to_string_lossy().into_owned();
    let physical = rigel_common::host::memory().total;
    let mem_limit = config.mem_limit.bytes(physical);
    info!(
        mem_limit,
        physical, "process memory limit (mem_limit = {})", config.mem_limit.0
    );
    let memory = rigel_frontend::ProcessMemory::new(mem_limit);
    let (cluster, embedded) = match role {
        Role::Embedded => {
            let storage = absolute(&config.storage_path())?;
            let engine = open_engine(&config, &storage).await?;
            config.storage_root_path = storage.to_string_lossy().into_owned();
            let be_metrics = Arc::new(rigel_backend::BeMetrics::new(
                mem_limit,
                Some(Arc::clone(&memory.pool)),
            ));
            let backend = Arc::new(
                LocalBackend::with_metrics(EMBEDDED_BACKEND, Arc::new(engine), be_metrics)
                    .map_err(StartError::Backend)?,
            );
            // The frontend reaches the backend of this process through the same messages
            // as a remote one, encoded and decoded by the loopback.
            let handler = Arc::new(rigel_rpc::BackendHandler::new(
                Arc::clone(&backend) as Arc<dyn rigel_be_api::Backend>,
                Arc::clone(backend.functions()),
            ));
            let client = Arc::new(rigel_rpc::RpcBackend::loopback(EMBEDDED_BACKEND, handler));
            let node = Arc::new(node::BackendNode::new(
                Arc::clone(&backend),
                None,
                storage.clone(),
                mem_limit,
            ));
            let cluster = rigel_cluster::Cluster::embedded(
                EMBEDDED_BACKEND,
                client,
                Arc::clone(&node) as Arc<dyn rigel_rpc::HeartbeatHandler>,
            );
            let status: Arc<dyn rigel_frontend::load::LocalBackendStatus> =
                Arc::new(LocalStatus(Arc::clone(&backend)));
            (cluster, Some((node, status, storage.join("error_log"))))
        }
        Role::Frontend => (rigel_cluster::Cluster::managed(), None),
    };
    let frontend = Frontend::open(config.clone(), cluster, memory)
        .await
        .map_err(StartError::Frontend)?;
    let service = Arc::new(FrontendService(Arc::clone(&frontend)));

    let mysql_listener = bind(&config.bind_address, config.query_port).await?;
    let http_listener = bind(&config.bind_address, config.http_port).await?;
    // The backend HTTP port belongs to the backend: `rigel server` serves it, `rigel fe`
    // serves the frontend RPCs backends call instead.
    let (be_http_listener, rpc_listener) = match &embedded {
        Some(_) => (
            Some(bind(&config.bind_address, config.be_http_port).await?),
            None,
        ),
        None => (
            None,
            Some(bind(&config.bind_address, config.rpc_port).await?),
        ),
    };
    let local = |l: &TcpListener| {
        l.local_addr()
            .map_err(|e| StartError::Bind("local address".into(), e))
    };
    let mysql_addr = local(&mysql_listener)?;
    let http_addr = local(&http_listener)?;
    let be_http_addr = be_http_listener.as_ref().map(local).transpose()?;
    let rpc_addr = rpc_listener.as_ref().map(local).transpose()?;

    let (shutdown, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let tls = if config.ssl_certificate.is_empty() {
        if config.require_secure_transport {
            return Err(StartError::Tls(
                "require_secure_transport needs ssl_certificate and ssl_private_key".into(),
            ));
        }
        None
    } else {
        let files = rigel_mysql::tls::TlsFiles {
            certificate: config.ssl_certificate.clone().into(),
            private_key: config.ssl_private_key.clone().into(),
            ca: (!config.ssl_ca_certificate.is_empty())
                .then(|| config.ssl_ca_certificate.clone().into()),
        };
        Some(Arc::new(
            rigel_mysql::tls::TlsSource::new(files).map_err(StartError::Tls)?,
        ))
    };
    let mysql = Arc::new(MysqlServer::new(
        Arc::clone(&service),
        ServerOptions {
            server_version: frontend.server_version.clone(),
            max_allowed_packet: config.max_allowed_packet as usize,
            tls: tls.clone(),
            require_secure_transport: config.require_secure_transport,
        },
    ));
    tasks.spawn(mysql.serve(mysql_listener, stopped(rx.clone())));
    let fe_router = rigel_http::frontend_router(Arc::clone(&service));
    // With a certificate, the HTTP ports speak HTTPS.
    let fe_tls = tls.clone();
    let fe_stop = stopped(rx.clone());
    tasks.spawn(async move {
        if let Err(e) =
            rigel_http::serve("frontend", http_listener, fe_router, fe_tls, fe_stop).await
        {
            tracing::error!("frontend HTTP server failed: {e}");
        }
    });
    tasks.spawn(Arc::clone(&frontend).run_compaction(stopped(rx.clone())));
    frontend.set_ports(mysql_addr.port(), http_addr.port());
    tasks.spawn(Arc::clone(&frontend).run_heartbeats(stopped(rx.clone())));
    if let (Some((node, status, load_dir)), Some(listener), Some(addr)) =
        (embedded, be_http_listener, be_http_addr)
    {
        frontend.set_be_http_port(addr.port());
        node.ports
            .http
            .store(addr.port(), std::sync::atomic::Ordering::Relaxed);
        let load_service =
            rigel_frontend::load::LoadService::new(Arc::clone(&frontend), load_dir, status);
        let be_router = rigel_http::backend_router(Arc::new(load_service));
        let be_tls = tls.clone();
        let be_stop = stopped(rx.clone());
        tasks.spawn(async move {
            if let Err(e) = rigel_http::serve("backend", listener, be_router, be_tls, be_stop).await
            {
                tracing::error!("backend HTTP server failed: {e}");
            }
        });
    }
    if let (Some(listener), Some(addr)) = (rpc_listener, rpc_addr) {
        frontend.set_rpc_port(addr.port());
        let coordinator = Arc::new(rigel_frontend::load::Coordinator(Arc::clone(&frontend)));
        let routes = rigel_rpc::frontend_routes(coordinator);
        let stop = Box::pin(stopped(rx.clone()));
        tasks.spawn(async move {
            if let Err(e) = rigel_rpc::server::serve("frontend", listener, routes, stop).await {
                tracing::error!("{e}");
            }
        });
    }
    info!(
        query_port = mysql_addr.port(),
        http_port = http_addr.port(),
        be_http_port = be_http_addr.map_or(0, |a| a.port()),
        rpc_port = rpc_addr.map_or(0, |a| a.port()),
        data = %config.data_dir,
        "Rigel {} is ready: mysql -h {} -P {} -u root",
        rigel_common::VERSION,
        mysql_addr.ip(),
        mysql_addr.port()
    );
    Ok(ServerHandle {
        mysql_addr,
        http_addr,
        be_http_addr,
        rpc_addr,
        frontend,
        shutdown,
        tasks,
    })
}
