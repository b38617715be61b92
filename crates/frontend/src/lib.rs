//! The frontend role: MySQL sessions, DDL, planning on DataFusion and load transactions, over
//! the catalog state machine of `rigel-catalog`.
//!
//! ```text
//!  MySQL client ──► rigel-mysql ──► Session (this crate) ──► rigel-sql (parse)
//!                                      │
//!                                      ├─ DDL ─────► Catalog (journal) + Backend (tablets)
//!                                      ├─ INSERT ──► Txn: Backend sink → journal commit → publish
//!                                      └─ queries ─► DataFusion with OlapTableProvider
//!                                                      └─► Backend::scan (tablet files)
//! ```
//!
//! The frontend reaches storage only through [`rigel_be_api::Backend`], which cluster mode
//! serves over RPC.

mod account;
mod analyze;
mod autopart;
mod backup;
mod compaction;
mod count_distinct;
mod ddl;
mod ddl_text;
mod delete;
mod describe;
mod dml;
pub mod error;
mod files;
mod float_text;
mod infoschema;
pub mod load;
mod lookup;
mod membership;
pub mod planner;
mod provider;
mod query;
mod recycle;
mod replica;
mod repository;
mod result;
mod rules;
mod session;
mod show;
mod snapshot;
mod system;
mod txn;
mod update;
pub mod variables;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use rigel_common::config::Config;
use rigel_common::{ErrorCode, SqlError};
use rigel_http::{FrontendHttp, Health};
use rigel_mysql::{LoginRequest, MysqlHandler};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::planner::QueryEnv;
use rigel_catalog::Catalog;
use rigel_cluster::{Cluster, Member};
pub use rigel_exec::ProcessMemory;
pub use session::Session;

/// One live connection, as SHOW PROCESSLIST and KILL see it.
#[derive(Debug)]
pub struct Connection {
    /// Connection id.
    pub id: u32,
    /// User name.
    pub user: String,
    /// The host pattern of the account the user logged in as (`'user'@'host'`).
    pub host: String,
    /// Client address.
    pub peer: SocketAddr,
    /// Connected at.
    pub connected: Instant,
    /// Connected at (wall clock, ms).
    pub connected_ms: i64,
    /// Current database, current statement and when it started.
    pub activity: Mutex<Activity>,
    /// Bumped by KILL QUERY / KILL CONNECTION.
    pub cancel: watch::Sender<u64>,
    /// Set by KILL CONNECTION.
    pub killed: AtomicBool,
    /// Wakes the connection loop on KILL CONNECTION.
    pub kill_notify: Notify,
}

/// What a connection is doing.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    /// Current database.
    pub db: Option<String>,
    /// Statement text while one runs.
    pub statement: Option<String>,
    /// When the current statement (or the idle period) started.
    pub since: Option<Instant>,
}

/// The id of the embedded backend in system views (StarRocks numbers backends from 10001).
pub const BACKEND_ID: u64 = 10001;

/// The frontend.
pub struct Frontend {
    config: RwLock<Config>,
    env: Arc<QueryEnv>,
    /// Version string of the handshake, `@@version` and `version()`.
    pub server_version: String,
    version_comment: String,
    connections: Mutex<HashMap<u32, Arc<Connection>>>,
    started: Instant,
    /// Labels in use and recent load jobs.
    pub(crate) loads: Arc<load::LoadRegistry>,
    /// The bound backend HTTP port (Stream Load redirects point there).
    be_http_port: AtomicU16,
    /// When expired labels were last pruned (ms).
    pub(crate) labels_pruned_ms: AtomicI64,
    /// Recent ANALYZE jobs, for SHOW ANALYZE STATUS.
    pub(crate) analyze_jobs: Mutex<std::collections::VecDeque<analyze::AnalyzeJob>>,
    /// Rows loaded per table since its last automatic ANALYZE was considered.
    pub(crate) rows_since_analyze: Mutex<HashMap<rigel_common::ids::TableId, u64>>,
    /// BACKUP and RESTORE jobs.
    pub(crate) backups: backup::Jobs,
    /// Committed transactions some backend has not published yet, retried with every
    /// heartbeat round until all have.
    pub(crate) unpublished: txn::Unpublished,
}

impl std::fmt::Debug for Frontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontend").finish_non_exhaustive()
    }
}

impl Frontend {
    /// Opens the catalog and reconciles it with the backend: committed transactions the
    /// backend has not published are published, others aborted; tablets no table owns are
    /// dropped.
    ///
    /// Queries draw memory from `memory`'s pool.
    pub async fn open(
        config: Config,
        cluster: Arc<Cluster>,
        memory: ProcessMemory,
    ) -> Result<Arc<Self>, SqlError> {
        let catalog = Catalog::open(&config.meta_path())?;
        let server_version = format!(
            "{}-{}-{}",
            config.mysql_server_version,
            rigel_common::PRODUCT,
            rigel_common::VERSION
        );
        let version_comment = format!(
            "{} {} (StarRocks-compatible analytical database)",
            rigel_common::PRODUCT,
            rigel_common::VERSION
        );
        let loads = Arc::new(load::LoadRegistry::default());
        let audit = Arc::new(rigel_audit::AuditLog::new(audit_options(&config)));
        let env = Arc::new(QueryEnv::new(
            Arc::clone(&catalog),
            Arc::clone(&cluster),
            server_version.clone(),
            Arc::clone(&loads),
            audit,
            Arc::clone(&memory.pool),
            Arc::new(system::NodeInfo {
                host: advertised_host(&config),
                query_port: AtomicU16::new(config.query_port),
                http_port: AtomicU16::new(config.http_port),
                be_http_port: AtomicU16::new(config.be_http_port),
                started_ms: now_ms(),
                storage_path: config.storage_path(),
                mem_limit: memory.limit,
                running: Default::default(),
            }),
        ));
        let fe = Arc::new(Self {
            config: RwLock::new(config),
            env,
            server_version,
            version_comment,
            connections: Mutex::new(HashMap::new()),
            started: Instant::now(),
            loads,
            be_http_port: AtomicU16::new(0),
            labels_pruned_ms: AtomicI64::new(now_ms()),
            analyze_jobs: Mutex::default(),
            rows_since_analyze: Mutex::default(),
            backups: backup::Jobs::default(),
            unpublished: txn::Unpublished::default(),
        });
        fe.ensure_cluster_id().await?;
        fe.reconcile().await?;
        Ok(fe)
    }

    async fn reconcile(&self) -> Result<(), SqlError> {
        for member in self.cluster().members() {
            self.reconcile_backend(&member).await?;
        }
        Ok(())
    }

    /// Brings a backend in line with the catalog: its prepared transactions that committed
    /// are published, the others aborted; tablets the catalog does not place on it are
    /// dropped.
    pub(crate) async fn reconcile_backend(&self, member: &Member) -> Result<(), SqlError> {
        let backend = &member.client;
        let pending = backend.pending_txns().await?;
        let placement = self.env.catalog.read().tablet_placement();
        for txn in pending {
            let record = self.env.catalog.read().commits.get(&txn).cloned();
            match record {
                // Committed without this backend (it missed the quorum): its replicas
                // lack the version, and what it prepared is dropped.
                Some(r) if r.missed.iter().any(|(_, b)| *b == member.id) => {
                    backend.abort(txn).await?;
                    info!(%txn, backend = %member.id, "aborted a transaction committed without this backend");
                }
                Some(r) => {
                    let versions = r
                        .tablets
                        .iter()
                        .filter(|(t, _)| placement.contains(&(*t, member.id)))
                        .copied()
                        .collect();
                    backend.publish(txn, versions).await?;
                    info!(%txn, backend = %member.id, "published a transaction committed before the restart");
                }
                None => {
                    backend.abort(txn).await?;
                    info!(%txn, backend = %member.id, "aborted a transaction that never committed");
                }
            }
        }
        let orphans: Vec<_> = backend
            .tablet_infos()
            .await?
            .into_iter()
            .map(|t| t.meta.tablet_id)
            .filter(|t| !placement.contains(&(*t, member.id)))
            .collect();
        if !orphans.is_empty() {
            warn!(count = orphans.len(), backend = %member.id, "dropping tablets no table owns");
            backend.drop_tablets(orphans).await?;
        }
        Ok(())
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.env.catalog
    }

    /// The backends.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.env.cluster
    }

    /// Every tablet every backend holds.
    pub async fn tablet_infos(&self) -> Result<Vec<rigel_be_api::TabletInfo>, SqlError> {
        self.env.tablet_infos().await
    }

    /// What the heartbeats found of every backend; the backend of this process (`rigel
    /// server`) is asked afresh, since that costs nothing.
    pub async fn backend_statuses(
        &self,
    ) -> Vec<(rigel_common::ids::BackendId, rigel_cluster::BackendStatus)> {
        self.cluster().fresh_statuses().await
    }

    /// Backends in the cluster and those alive.
    pub fn backend_counts(&self) -> (usize, usize) {
        let statuses = self.cluster().statuses();
        let alive = statuses.iter().filter(|(_, s)| s.alive).count();
        (statuses.len(), alive)
    }

    /// The current configuration.
    pub fn config(&self) -> Config {
        self.config.read().clone()
    }

    /// Variable defaults for a new session.
    fn session_defaults(&self) -> BTreeMap<&'static str, String> {
        let config = self.config.read();
        let globals = self.env.catalog.read().global_variables.clone();
        variables::global_defaults(
            &config,
            &self.server_version,
            &self.version_comment,
            &globals,
        )
    }

    fn register(&self, conn: Arc<Connection>) -> Result<(), SqlError> {
        let (max, per_user) = {
            let config = self.config.read();
            (
                config.qe_max_connection as usize,
                config.max_conn_per_user as usize,
            )
        };
        let mut conns = self.connections.lock();
        if conns.len() >= max {
            return Err(SqlError::new(
                ErrorCode::ER_CON_COUNT_ERROR,
                "Too many connections",
            ));
        }
        if conns.values().filter(|c| c.user == conn.user).count() >= per_user {
            return Err(SqlError::new(
                ErrorCode::ER_TOO_MANY_USER_CONNECTIONS,
                format!(
                    "User {} has exceeded the 'max_user_connections' resource (current value: {per_user})",
                    conn.user
                ),
            ));
        }
        conns.insert(conn.id, conn);
        Ok(())
    }

    fn unregister(&self, id: u32) {
        self.connections.lock().remove(&id);
    }

    /// A snapshot of the live connections, ordered by id.
    pub fn connections(&self) -> Vec<Arc<Connection>> {
        let mut v: Vec<_> = self.connections.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    fn connection(&self, id: u32) -> Option<Arc<Connection>> {
        self.connections.lock().get(&id).cloned()
    }

    /// Records the port the backend HTTP server is bound to.
    pub fn set_be_http_port(&self, port: u16) {
        self.be_http_port.store(port, Ordering::Relaxed);
        self.env.node.be_http_port.store(port, Ordering::Relaxed);
    }

    /// Records the bound RPC port: heartbeats tell backends where to reach it.
    pub fn set_rpc_port(&self, port: u16) {
        self.config.write().rpc_port = port;
    }

    /// Records the bound MySQL and HTTP ports (they differ from the configured ones when
    /// those are 0).
    pub fn set_ports(&self, query_port: u16, http_port: u16) {
        self.env
            .node
            .query_port
            .store(query_port, Ordering::Relaxed);
        self.env.node.http_port.store(http_port, Ordering::Relaxed);
    }

    /// Checks HTTP Basic credentials (Stream Load); returns the account.
    pub fn authenticate_http(
        &self,
        user: &str,
        password: &str,
        client: SocketAddr,
    ) -> Result<rigel_catalog::UserAccount, SqlError> {
        let account = rigel_catalog::account::find_account(
            &self.catalog().read(),
            user,
            &client.ip().to_string(),
        );
        match account {
            Some(a) if rigel_catalog::account::check_password(&a.password, password) => Ok(a),
            _ => Err(access_denied(user, client, !password.is_empty())),
        }
    }

    /// The session a load's expressions are planned in.
    pub(crate) fn load_session_view(&self) -> planner::SessionView {
        planner::SessionView {
            db: None,
            current_user: "'root'@'%'".to_string(),
            user: "root@%".to_string(),
            connection_id: 0,
            vars: Arc::new(self.session_defaults()),
            user_vars: Arc::new(BTreeMap::new()),
            scan_tablets: None,
            account: Arc::new(rigel_catalog::account::builtin_root()),
        }
    }

    /// Records a login attempt in the audit log.
    fn audit_login(&self, request: &LoginRequest, account: &str, outcome: Result<(), &SqlError>) {
        let (state, error_code) = match outcome {
            Ok(()) => ("OK", String::new()),
            Err(e) => ("ERR", e.code.errno.to_string()),
        };
        self.env.audit.write(rigel_audit::AuditRecord {
            timestamp_ms: now_ms(),
            kind: "connection",
            client: request.peer.to_string(),
            user: request.user.clone(),
            authorized_user: account.to_string(),
            db: request.database.clone().unwrap_or_default(),
            state,
            error_code,
            time_ms: 0,
            scan_bytes: 0,
            scan_rows: 0,
            return_rows: 0,
            stmt_id: 0,
            query_id: String::new(),
            is_query: false,
            stmt: String::new(),
        });
    }

    /// Seconds since start.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// The address this node names itself by in system views: the bind address unless it is a
/// wildcard, then the first non-loopback address the host routes from, else 127.0.0.1.
fn advertised_host(config: &Config) -> String {
    match config.bind_address.parse::<std::net::IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => ip.to_string(),
        Ok(_) => std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| {
                s.connect("10.255.255.255:1")?;
                s.local_addr()
            })
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|_| "127.0.0.1".to_string()),
        Err(_) => config.bind_address.clone(),
    }
}

/// The audit log's settings from the configuration.
pub(crate) fn audit_options(config: &Config) -> rigel_audit::AuditOptions {
    rigel_audit::AuditOptions {
        dir: config.audit_log_path(),
        json: config.audit_log_json_format,
        delete_age_secs: ddl::parse_ttl(&config.audit_log_delete_age).unwrap_or(30 * 86_400),
        slow_ms: config.qe_slow_log_ms,
        memory_records: usize::try_from(config.audit_log_memory_records).unwrap_or(usize::MAX),
    }
}

/// MySQL's error for a failed login.
fn access_denied(user: &str, client: SocketAddr, password_given: bool) -> SqlError {
    SqlError::new(
        ErrorCode::ER_ACCESS_DENIED_ERROR,
        format!(
            "Access denied for user '{user}'@'{}' (using password: {})",
            client.ip(),
            if password_given { "YES" } else { "NO" }
        ),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Adapter implementing the protocol crates' handler traits.
#[derive(Debug, Clone)]
pub struct FrontendService(pub Arc<Frontend>);

#[async_trait]
impl MysqlHandler for FrontendService {
    type Session = Session;

    async fn login(&self, request: LoginRequest) -> Result<Session, SqlError> {
        let fe = &self.0;
        let password_given = !request.auth_response.is_empty();
        let found = rigel_catalog::account::find_account(
            &fe.catalog().read(),
            &request.user,
            &request.peer.ip().to_string(),
        );
        let account = match found {
            Some(a)
                if rigel_catalog::account::check_scramble(
                    &a.password,
                    &request.scramble,
                    &request.auth_response,
                ) =>
            {
                a
            }
            _ => {
                let e = access_denied(&request.user, request.peer, password_given);
                fe.audit_login(&request, "", Err(&e));
                return Err(e);
            }
        };
        if account.require_ssl && !request.secure {
            let e = access_denied(&request.user, request.peer, password_given);
            fe.audit_login(&request, &account.identity(), Err(&e));
            return Err(e);
        }
        if let Some(db) = &request.database {
            if fe.catalog().read().database(db).is_none()
                && !db.eq_ignore_ascii_case(provider::INFORMATION_SCHEMA)
            {
                return Err(error::unknown_db(db));
            }
            if !db.eq_ignore_ascii_case(provider::INFORMATION_SCHEMA)
                && !rigel_catalog::account::sees_database(&account, db)
            {
                return Err(SqlError::new(
                    ErrorCode::ER_DBACCESS_DENIED_ERROR,
                    format!(
                        "Access denied for user '{}'@'{}' to database '{db}'",
                        account.name, account.host
                    ),
                ));
            }
        }
        let (cancel, _) = watch::channel(0u64);
        let conn = Arc::new(Connection {
            id: request.connection_id,
            user: account.name.clone(),
            host: account.host.clone(),
            peer: request.peer,
            connected: Instant::now(),
            connected_ms: now_ms(),
            activity: Mutex::new(Activity {
                db: request.database.clone(),
                statement: None,
                since: Some(Instant::now()),
            }),
            cancel,
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
        });
        if let Err(e) = fe.register(Arc::clone(&conn)) {
            fe.audit_login(&request, &account.identity(), Err(&e));
            return Err(e);
        }
        fe.audit_login(&request, &account.identity(), Ok(()));
        Ok(Session::new(Arc::clone(fe), conn, request.database))
    }
}

#[async_trait]
impl FrontendHttp for FrontendService {
    async fn health(&self) -> Health {
        let (total, alive) = self.0.backend_counts();
        Health {
            total_backends: total,
            online_backends: alive,
        }
    }

    async fn authenticate(
        &self,
        user: &str,
        password: &str,
        client: SocketAddr,
    ) -> Result<(), String> {
        self.0
            .authenticate_http(user, password, client)
            .map(|_| ())
            .map_err(|e| e.message)
    }

    fn backend_http_address(&self, request_host: &str) -> Result<String, String> {
        if !self.0.cluster().is_embedded() {
            // Loads go to the live backends in turn.
            return self
                .0
                .cluster()
                .next_http_backend()
                .ok_or_else(|| "no backend is alive to take the load (SHOW BACKENDS)".to_string());
        }
        // The backend runs in this process. Advertise the bound address when it lies in
        // priority_networks; otherwise the host the client used to reach us.
        let port = self.0.be_http_port.load(Ordering::Relaxed);
        let config = self.0.config.read();
        if let Ok(ip) = config.bind_address.parse::<std::net::IpAddr>()
            && !ip.is_unspecified()
            && config.priority_networks.contains(ip)
        {
            return Ok(format!("{ip}:{port}"));
        }
        let host = match request_host.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
            _ => request_host,
        };
        Ok(format!("{host}:{port}"))
    }

    async fn metrics(&self) -> String {
        let fe = &self.0;
        let state = rigel_audit::FeState {
            connections: fe.connections.lock().len(),
            backends: fe.backend_counts(),
            tablets: fe.catalog().read().all_tablets().len(),
        };
        fe.env.metrics.render(state)
    }
}

impl Connection {
    /// Cancels the running statement.
    pub fn cancel_query(&self) {
        self.cancel.send_modify(|g| *g += 1);
    }

    /// Closes the connection (and cancels its statement).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.cancel_query();
        self.kill_notify.notify_waiters();
    }
}
