//! TLS server configuration for the MySQL and HTTP ports: a rustls configuration built from
//! PEM files, rebuilt for new connections once a file changes (a renewed certificate needs
//! no restart).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tracing::{info, warn};

/// The PEM files TLS is configured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate chain (`ssl_certificate`).
    pub certificate: PathBuf,
    /// The server's private key (`ssl_private_key`).
    pub private_key: PathBuf,
    /// CA certificates that client certificates are verified against; clients without a
    /// certificate are still accepted.
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    fn paths(&self) -> Vec<&PathBuf> {
        let mut v = vec![&self.certificate, &self.private_key];
        v.extend(self.ca.as_ref());
        v
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        self.paths()
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// Hands out the acceptor for each new TLS connection.
pub struct TlsSource {
    files: TlsFiles,
    current: Mutex<(Vec<Option<SystemTime>>, TlsAcceptor)>,
}

impl std::fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSource")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsSource {
    /// Loads the files; an error names the file and what is wrong with it.
    pub fn new(files: TlsFiles) -> Result<Self, String> {
        let stamps = files.stamps();
        let acceptor = TlsAcceptor::from(Arc::new(build(&files)?));
        Ok(Self {
            files,
            current: Mutex::new((stamps, acceptor)),
        })
    }

    /// The acceptor for a new connection, rebuilt first if a file changed. A renewed file
    /// that does not load is logged and the previous configuration kept.
    pub fn acceptor(&self) -> TlsAcceptor {
        let stamps = self.files.stamps();
        // The guarded value is replaced whole: a poisoned lock still holds a valid one.
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.0 != stamps {
            match build(&self.files) {
                Ok(config) => {
                    info!("TLS certificate reloaded");
                    *current = (stamps, TlsAcceptor::from(Arc::new(config)));
                }
                Err(e) => {
                    warn!("TLS files changed but do not load, keeping the previous ones: {e}");
                    current.0 = stamps;
                }
            }
        }
        current.1.clone()
    }
}

fn build(files: &TlsFiles) -> Result<ServerConfig, String> {
    let read_err = |path: &PathBuf, e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| read_err(&files.certificate, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(&files.certificate, &e))?;
    if certs.is_empty() {
        return Err(read_err(&files.certificate, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .map_err(|e| read_err(&files.private_key, &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &files.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| read_err(ca, &e))? {
                let cert = cert.map_err(|e| read_err(ca, &e))?;
                roots.add(cert).map_err(|e| read_err(ca, &e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| read_err(ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", files.private_key.display()))
}
