//! The backend role as a process of its own (`rigel be`), and the part of it `rigel server`
//! shares: the answer to heartbeats.
//!
//! `rigel be` holds tablets under `storage_root_path` and serves control RPCs on `be_port`,
//! Arrow Flight data on `brpc_port`, heartbeats on `heartbeat_service_port` and its HTTP API
//! (Stream Load, `/metrics`, `/api/health`) on `be_http_port`. It has no MySQL port, no
//! catalog and no SQL text; it learns its cluster and id from the first heartbeat and keeps
//! them, and the frontend's RPC address from every heartbeat (loads it runs are planned and
//! committed there).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use async_trait::async_trait;
use rigel_backend::LocalBackend;
use rigel_backend::identity::IdentityStore;
use rigel_be_api::pb;
use rigel_common::config::Config;
use rigel_common::ids::BackendId;
use rigel_common::{SqlError, host};
use rigel_http::{BackendHttp, Reply, StreamLoadRequest};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::info;

use crate::{StartError, absolute, bind, open_engine};

/// The ports a backend serves, for its heartbeat answers.
#[derive(Debug, Default)]
pub struct Ports {
    /// Control RPCs.
    pub be: AtomicU16,
    /// HTTP.
    pub http: AtomicU16,
    /// Data (Flight).
    pub brpc: AtomicU16,
}

/// A backend as its heartbeats describe it.
#[derive(Debug)]
pub struct BackendNode {
    backend: Arc<LocalBackend>,
    /// The cluster and id kept under the storage root (`rigel be`); `None` in `rigel
    /// server`, whose backend belongs to its own process.
    identity: Option<IdentityStore>,
    /// Its ports.
    pub ports: Ports,
    started_ms: i64,
    storage: PathBuf,
    mem_limit: u64,
    /// The frontend the heartbeats come from (`rigel be`).
    frontend: Option<Arc<rigel_rpc::RemoteFrontend>>,
}

impl BackendNode {
    /// Describes `backend`, whose tablets are under `storage`.
    pub fn new(
        backend: Arc<LocalBackend>,
        identity: Option<IdentityStore>,
        storage: PathBuf,
        mem_limit: u64,
    ) -> Self {
        Self {
            backend,
            identity,
            ports: Ports::default(),
            started_ms: now_ms(),
            storage,
            mem_limit,
            frontend: None,
        }
    }

    /// Follows the frontend address of heartbeats into `frontend`.
    pub fn with_frontend(mut self, frontend: Arc<rigel_rpc::RemoteFrontend>) -> Self {
        self.frontend = Some(frontend);
        self
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl rigel_rpc::HeartbeatHandler for BackendNode {
    async fn heartbeat(
        &self,
        request: pb::HeartbeatRequest,
    ) -> Result<pb::HeartbeatResponse, SqlError> {
        if let Some(identity) = &self.identity {
            let known =
                identity.accept(u64::from(request.cluster_id), BackendId(request.backend_id))?;
            self.backend.set_id(known.backend_id);
        }
        if let Some(frontend) = &self.frontend
            && !request.frontend_host.is_empty()
            && request.frontend_rpc_port != 0
        {
            let port = u16::try_from(request.frontend_rpc_port).unwrap_or(0);
            frontend.set_address(&host::join_host_port(&request.frontend_host, port))?;
        }
        let engine = Arc::clone(self.backend.engine());
        let storage = self.storage.clone();
        // Filesystem and /proc reads block.
        let (tablets, data_used, disk, mem_used) = tokio::task::spawn_blocking(move || {
            let infos = engine.tablet_infos();
            let data: u64 = infos.iter().map(|t| t.bytes).sum();
            (
                infos.len() as u64,
                data,
                host::disk_of(&storage),
                host::process_rss_bytes(),
            )
        })
        .await
        .map_err(|e| SqlError::internal(format!("heartbeat task failed: {e}")))?;
        let (disk_total, disk_available) = disk.map_or((0, 0), |d| (d.total, d.available));
        Ok(pb::HeartbeatResponse {
            backend_id: self.backend.id().0,
            be_port: u32::from(self.ports.be.load(Ordering::Relaxed)),
            http_port: u32::from(self.ports.http.load(Ordering::Relaxed)),
            brpc_port: u32::from(self.ports.brpc.load(Ordering::Relaxed)),
            version: format!("{}-{}", rigel_common::PRODUCT, rigel_common::VERSION),
            started_ms: self.started_ms,
            tablets,
            data_used_bytes: data_used,
            disk_total_bytes: disk_total,
            disk_available_bytes: disk_available,
            mem_limit_bytes: self.mem_limit,
            cpu_cores: u32::try_from(host::cpu_count()).unwrap_or(u32::MAX),
            running_queries: u32::try_from(self.backend.running_scans()).unwrap_or(u32::MAX),
            mem_used_bytes: mem_used,
        })
    }
}

/// The HTTP API of `rigel be`.
struct BackendApi {
    backend: Arc<LocalBackend>,
    loader: rigel_load::StreamLoader,
}

/// How a load on this backend reaches the backends of its tablets.
#[derive(Debug)]
struct LoadPeers {
    backend: Arc<LocalBackend>,
    started_ms: i64,
    peers: Arc<rigel_rpc::Peers>,
}

impl rigel_load::LoadRouting for LoadPeers {
    fn backend_id(&self) -> BackendId {
        self.backend.id()
    }

    fn started_ms(&self) -> i64 {
        self.started_ms
    }

    fn resolver(
        &self,
        backends: &[pb::LoadBackend],
    ) -> Result<Arc<dyn rigel_exec::BackendResolver>, SqlError> {
        self.peers.learn(backends)?;
        Ok(Arc::clone(&self.peers) as Arc<dyn rigel_exec::BackendResolver>)
    }
}

#[async_trait]
impl BackendHttp for BackendApi {
    async fn healthy(&self) -> bool {
        self.backend.id().0 != 0
    }

    async fn stream_load(&self, request: StreamLoadRequest) -> Reply {
        let outcome = self.loader.stream_load(request).await;
        self.backend.count_stream_load(outcome.loaded);
        outcome.reply
    }

    async fn metrics(&self) -> Result<String, Reply> {
        self.backend.render_metrics().await.map_err(|e| Reply {
            status: e.code.http_status,
            body: serde_json::json!({"status": "FAILED", "msg": e.message}),
        })
    }

    async fn load_error_log(&self, file: &str) -> Option<String> {
        self.loader.error_log(file)
    }

    async fn compact(
        &self,
        credentials: Option<(String, String)>,
        client: SocketAddr,
        tablet_id: u64,
        kind: &str,
    ) -> Reply {
        rigel_load::admin::compact(self.loader.frontend(), credentials, client, tablet_id, kind)
            .await
    }

    async fn compaction_show(
        &self,
        credentials: Option<(String, String)>,
        client: SocketAddr,
        tablet_id: u64,
    ) -> Reply {
        if let Err(reply) =
            rigel_load::admin::authorize(self.loader.frontend(), credentials, client).await
        {
            return reply;
        }
        use rigel_be_api::Backend;
        let info = match self.backend.tablet_infos().await {
            Ok(infos) => infos.into_iter().find(|i| i.meta.tablet_id.0 == tablet_id),
            Err(e) => {
                return Reply {
                    status: e.code.http_status,
                    body: serde_json::json!({"status": "Fail", "msg": e.message}),
                };
            }
        };
        rigel_load::admin::rowsets(tablet_id, info)
    }
}

/// What the tasks of distributed queries find on this backend.
struct Fragments {
    backend: Arc<LocalBackend>,
    /// Where a task reads tablets this backend does not hold.
    peers: Arc<rigel_rpc::Peers>,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
}

impl rigel_rpc::distributed::FragmentHost for Fragments {
    fn functions(&self) -> Arc<datafusion::execution::TaskContext> {
        Arc::clone(self.backend.functions())
    }

    fn scan_runtime(&self) -> rigel_exec::ScanRuntime {
        rigel_exec::ScanRuntime {
            backends: Arc::clone(&self.peers) as Arc<dyn rigel_exec::BackendResolver>,
            ..self.backend.scan_runtime()
        }
    }

    fn runtime(&self) -> Arc<datafusion::execution::runtime_env::RuntimeEnv> {
        Arc::clone(&self.runtime)
    }
}

/// A running `rigel be`.
pub struct BackendHandle {
    /// `be_port`.
    pub be_addr: SocketAddr,
    /// `brpc_port`.
    pub brpc_addr: SocketAddr,
    /// `heartbeat_service_port`.
    pub heartbeat_addr: SocketAddr,
    /// `be_http_port`.
    pub http_addr: SocketAddr,
    backend: Arc<LocalBackend>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl BackendHandle {
    /// Stops serving and waits for the servers to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        use rigel_be_api::Backend;
        if let Err(e) = self.backend.prepare_shutdown().await {
            tracing::warn!("preparing storage for the stop: {e}");
        }
        info!("backend stopped");
    }

    /// Waits until the servers stop (they stop only on shutdown).
    pub async fn wait(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts `rigel be`.
pub async fn start_backend(mut config: Config) -> Result<BackendHandle, StartError> {
    let storage = absolute(&config.storage_path())?;
    let identity = IdentityStore::open(&storage).map_err(StartError::Backend)?;
    let known = identity.get();
    let engine = open_engine(&config, &storage).await?;
    config.storage_root_path = storage.to_string_lossy().into_owned();
    let mem_limit = config.mem_limit.bytes(host::memory().total);
    let memory = rigel_exec::ProcessMemory::new(mem_limit);
    let metrics = Arc::new(rigel_backend::BeMetrics::new(
        mem_limit,
        Some(Arc::clone(&memory.pool)),
    ));
    let id = known.map_or(BackendId(0), |k| k.backend_id);
    let backend = Arc::new(
        LocalBackend::with_metrics(id, Arc::new(engine), metrics).map_err(StartError::Backend)?,
    );
    let handler = Arc::new(rigel_rpc::BackendHandler::new(
        Arc::clone(&backend) as Arc<dyn rigel_be_api::Backend>,
        Arc::clone(backend.functions()),
    ));
    let frontend = Arc::new(rigel_rpc::RemoteFrontend::default());
    let node = Arc::new(
        BackendNode::new(
            Arc::clone(&backend),
            Some(identity),
            storage.clone(),
            mem_limit,
        )
        .with_frontend(Arc::clone(&frontend)),
    );
    let id_of = Arc::clone(&backend);
    let peers = Arc::new(rigel_rpc::Peers::new(
        Arc::clone(&handler),
        Arc::new(move || id_of.id()),
    ));
    let loader = rigel_load::StreamLoader::new(
        frontend,
        Arc::new(LoadPeers {
            backend: Arc::clone(&backend),
            started_ms: node.started_ms,
            peers: Arc::clone(&peers),
        }),
        Arc::clone(backend.functions()),
        storage.join("error_log"),
    );

    let be_listener = bind(&config.bind_address, config.be_port).await?;
    let brpc_listener = bind(&config.bind_address, config.brpc_port).await?;
    let hb_listener = bind(&config.bind_address, config.heartbeat_service_port).await?;
    let http_listener = bind(&config.bind_address, config.be_http_port).await?;
    let local = |l: &tokio::net::TcpListener| {
        l.local_addr()
            .map_err(|e| StartError::Bind("local address".into(), e))
    };
    let be_addr = local(&be_listener)?;
    let brpc_addr = local(&brpc_listener)?;
    let heartbeat_addr = local(&hb_listener)?;
    let http_addr = local(&http_listener)?;
    node.ports.be.store(be_addr.port(), Ordering::Relaxed);
    node.ports.brpc.store(brpc_addr.port(), Ordering::Relaxed);
    node.ports.http.store(http_addr.port(), Ordering::Relaxed);

    let (shutdown, rx) = watch::channel(false);
    let stopped = crate::stopped;
    let mut tasks = JoinSet::new();
    let servers = [
        (
            "control",
            be_listener,
            rigel_rpc::server::control_routes(Arc::clone(&handler)),
        ),
        (
            "data",
            brpc_listener,
            rigel_rpc::distributed::worker_routes(
                rigel_rpc::server::data_routes(Arc::clone(&handler)),
                Arc::new(Fragments {
                    backend: Arc::clone(&backend),
                    peers: Arc::clone(&peers),
                    runtime: Arc::new(datafusion::execution::runtime_env::RuntimeEnv {
                        memory_pool: Arc::clone(&memory.pool),
                        ..Default::default()
                    }),
                }),
            ),
        ),
        (
            "heartbeat",
            hb_listener,
            rigel_rpc::server::heartbeat_routes(
                Arc::clone(&node) as Arc<dyn rigel_rpc::HeartbeatHandler>
            ),
        ),
    ];
    for (name, listener, routes) in servers {
        let stop = Box::pin(stopped(rx.clone()));
        tasks.spawn(async move {
            if let Err(e) = rigel_rpc::server::serve(name, listener, routes, stop).await {
                tracing::error!("{e}");
            }
        });
    }
    let router = rigel_http::backend_router(Arc::new(BackendApi {
        backend: Arc::clone(&backend),
        loader,
    }));
    let http_stop = stopped(rx.clone());
    tasks.spawn(async move {
        if let Err(e) = rigel_http::serve("backend", http_listener, router, None, http_stop).await {
            tracing::error!("backend HTTP server failed: {e}");
        }
    });
    match known {
        Some(k) => info!(
            cluster_id = k.cluster_id,
            backend = %k.backend_id,
            "rejoining the cluster"
        ),
        None => info!(
            "waiting for a frontend: ALTER SYSTEM ADD BACKEND \"<host>:{}\"",
            heartbeat_addr.port()
        ),
    }
    info!(
        be_port = be_addr.port(),
        brpc_port = brpc_addr.port(),
        heartbeat_service_port = heartbeat_addr.port(),
        be_http_port = http_addr.port(),
        storage = %storage.display(),
        "Rigel {} backend is ready",
        rigel_common::VERSION
    );
    Ok(BackendHandle {
        be_addr,
        brpc_addr,
        heartbeat_addr,
        http_addr,
        backend,
        shutdown,
        tasks,
    })
}
