//! Stream Load, the frontend's part: it authorises and plans a load, creates the
//! partitions it needs and commits it; the backend that received the load parses the body
//! and routes the rows (`rigel-load`). In `rigel server` the backend HTTP port of this
//! process runs loads through the same coordinator, called in the process.

mod plan;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use rigel_be_api::{LoadCoordinator, SinkSummary, pb};
use rigel_common::ids::{BackendId, DbId, EMBEDDED_BACKEND, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_exec::BackendResolver;
use rigel_http::{BackendHttp, Reply, StreamLoadRequest};
use rigel_load::{LoadOptions, LoadRouting, StreamLoader, load_error};
use rigel_sql::Privilege;
use tracing::{info, warn};

use crate::Frontend;
use rigel_catalog::Table;

/// Recent load jobs kept for SHOW LOAD.
const MAX_JOBS: usize = 1000;
/// How long after its timeout a load whose backend went silent is rolled back.
const LOAD_GRACE: Duration = Duration::from_secs(30);

/// A load job, for SHOW LOAD and information_schema.loads.
#[derive(Debug, Clone)]
pub struct LoadJob {
    /// Transaction id (the job id).
    pub txn: TxnId,
    /// Label.
    pub label: String,
    /// Database.
    pub db: String,
    /// Table.
    pub table: String,
    /// `STREAM_LOAD` or `INSERT`.
    pub kind: &'static str,
    /// `LOADING`, `FINISHED` or `CANCELLED`.
    pub state: &'static str,
    /// Rows read.
    pub total: u64,
    /// Rows loaded.
    pub loaded: u64,
    /// Rows rejected.
    pub filtered: u64,
    /// Rows not selected by `where`.
    pub unselected: u64,
    /// Failure reason.
    pub error: String,
    /// Error log URL.
    pub error_url: String,
    /// Start (ms).
    pub created_ms: i64,
    /// End (ms); 0 while it runs.
    pub finished_ms: i64,
}

impl LoadJob {
    /// The progress column of SHOW LOAD and information_schema.loads.
    pub fn progress(&self) -> &'static str {
        if self.state == "FINISHED" {
            "100%"
        } else {
            "0%"
        }
    }
}

/// Labels in use and recent jobs.
#[derive(Debug, Default)]
pub struct LoadRegistry {
    running: Mutex<HashMap<(DbId, String), TxnId>>,
    jobs: Mutex<VecDeque<LoadJob>>,
    /// Loads that began and have not finished, by transaction.
    active: Mutex<HashMap<TxnId, ActiveLoad>>,
}

/// A load running on some backend: what its commit needs.
struct ActiveLoad {
    /// Holds the label while the load runs.
    _label: LabelGuard,
    label: String,
    db: String,
    table: Arc<Table>,
    created_ms: i64,
    /// Rolled back when no commit came by then.
    deadline: Instant,
    /// The backend running it and when that started: rolled back when it dies or
    /// restarts.
    backend: (BackendId, i64),
}

impl std::fmt::Debug for ActiveLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveLoad")
            .field("label", &self.label)
            .field("table", &self.table.name)
            .finish()
    }
}

impl LoadRegistry {
    /// Records a finished (or failed) job.
    pub fn record(&self, job: LoadJob) {
        let mut jobs = self.jobs.lock();
        jobs.push_back(job);
        while jobs.len() > MAX_JOBS {
            jobs.pop_front();
        }
    }

    /// Recent jobs, oldest first, then the Stream Loads running now (`LOADING`, as in
    /// StarRocks' SHOW LOAD).
    pub fn jobs(&self) -> Vec<LoadJob> {
        let mut jobs: Vec<LoadJob> = self.jobs.lock().iter().cloned().collect();
        let mut running: Vec<LoadJob> = self
            .active
            .lock()
            .iter()
            .map(|(txn, l)| LoadJob {
                txn: *txn,
                label: l.label.clone(),
                db: l.db.clone(),
                table: l.table.name.clone(),
                kind: "STREAM_LOAD",
                state: "LOADING",
                total: 0,
                loaded: 0,
                filtered: 0,
                unselected: 0,
                error: String::new(),
                error_url: String::new(),
                created_ms: l.created_ms,
                finished_ms: 0,
            })
            .collect();
        running.sort_by_key(|j| (j.created_ms, j.txn.0));
        jobs.extend(running);
        jobs
    }
}

/// Why a label cannot be used.
#[derive(Debug, Clone)]
pub struct LabelInUse {
    /// `RUNNING` or `FINISHED`.
    pub status: &'static str,
    /// Its transaction.
    pub txn: TxnId,
}

/// A reserved label; dropping it releases the reservation.
pub struct LabelGuard {
    fe: Arc<Frontend>,
    key: (DbId, String),
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        self.fe.loads.running.lock().remove(&self.key);
    }
}

impl Frontend {
    /// Reserves `label` in `db` for `txn`: it must be neither running nor committed within
    /// `label_keep_max_second`. Atomic, so two racing requests cannot both get it.
    pub(crate) fn reserve_label(
        self: &Arc<Self>,
        db: DbId,
        label: &str,
        txn: TxnId,
    ) -> Result<LabelGuard, LabelInUse> {
        let key = (db, label.to_string());
        let mut running = self.loads.running.lock();
        if let Some(t) = running.get(&key) {
            return Err(LabelInUse {
                status: "RUNNING",
                txn: *t,
            });
        }
        let keep_ms = self.config.read().label_keep_max_second as i64 * 1000;
        let committed = self
            .catalog()
            .read()
            .labels
            .get(&db)
            .and_then(|m| m.get(label).copied());
        if let Some((t, at)) = committed
            && crate::now_ms() - at < keep_ms
        {
            return Err(LabelInUse {
                status: "FINISHED",
                txn: t,
            });
        }
        running.insert(key.clone(), txn);
        Ok(LabelGuard {
            fe: Arc::clone(self),
            key,
        })
    }
}

/// The frontend as the coordinator of loads running on backends (over `rpc_port`) or on
/// the backend of this process.
#[derive(Debug, Clone)]
pub struct Coordinator(pub Arc<Frontend>);

impl Coordinator {
    fn take(&self, txn: TxnId) -> Option<ActiveLoad> {
        self.0.loads.active.lock().remove(&txn)
    }
}

/// Records the end of a load for SHOW LOAD.
fn record_load(fe: &Frontend, txn: TxnId, load: &ActiveLoad, end: LoadEnd<'_>) {
    let (state, loaded, error, counters) = match end {
        LoadEnd::Finished(rows, c) => ("FINISHED", rows, String::new(), c),
        LoadEnd::Cancelled(why, c) => ("CANCELLED", 0, why.to_string(), c),
    };
    let c = counters.cloned().unwrap_or_default();
    fe.loads.record(LoadJob {
        txn,
        label: load.label.clone(),
        db: load.db.clone(),
        table: load.table.name.clone(),
        kind: "STREAM_LOAD",
        state,
        total: c.total,
        loaded,
        filtered: c.filtered,
        unselected: c.unselected,
        error,
        error_url: c.error_url,
        created_ms: load.created_ms,
        finished_ms: crate::now_ms(),
    });
    fe.env.metrics.load_finished.increment(1);
}

enum LoadEnd<'a> {
    Finished(u64, Option<&'a pb::LoadCounters>),
    Cancelled(&'a str, Option<&'a pb::LoadCounters>),
}

fn unknown_load(txn: TxnId) -> SqlError {
    SqlError::new(
        ErrorCode::ER_UNKNOWN_ERROR,
        format!(
            "load transaction {txn} is not running on this frontend (it timed out and was \
             rolled back, or the frontend restarted)"
        ),
    )
}

fn client_address(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), 0)
}

#[async_trait]
impl LoadCoordinator for Coordinator {
    async fn authenticate(
        &self,
        r: pb::AuthenticateRequest,
    ) -> Result<pb::AuthenticateResponse, SqlError> {
        let account =
            self.0
                .authenticate_http(&r.user, &r.password, client_address(&r.client_ip))?;
        Ok(pb::AuthenticateResponse {
            account: format!("'{}'@'{}'", account.name, account.host),
        })
    }

    async fn compact_tablet(
        &self,
        r: pb::CompactTabletRequest,
    ) -> Result<pb::CompactResponse, SqlError> {
        let credentials = r
            .credentials
            .ok_or_else(|| rigel_be_api::wire::bad_message("a compaction without credentials"))?;
        self.authenticate(credentials).await?;
        let kind = rigel_be_api::wire::compaction_kind(r.kind)?;
        let done = self
            .0
            .compact_tablet_now(rigel_common::ids::TabletId(r.tablet_id), kind)
            .await?;
        Ok(pb::CompactResponse::from(&done))
    }

    async fn begin_load(&self, r: pb::BeginLoadRequest) -> Result<pb::BeginLoadResponse, SqlError> {
        let fe = &self.0;
        let account = fe.authenticate_http(&r.user, &r.password, client_address(&r.client_ip))?;
        let headers: BTreeMap<String, String> = r.headers.into_iter().collect();
        let options = LoadOptions::from_headers(&headers).map_err(load_error)?;
        let (db_id, table) = {
            let state = fe.catalog().read();
            let db = state
                .database(&r.db)
                .ok_or_else(|| crate::error::unknown_db(&r.db))?;
            let t = state
                .table(&r.db, &r.table)
                .ok_or_else(|| crate::error::unknown_table(&r.db, &r.table))?;
            (db.id, t)
        };
        if !rigel_catalog::account::allowed(
            &account,
            Privilege::Insert,
            Some(&r.db),
            Some(&table.name),
        ) {
            return Err(rigel_catalog::account::denied(
                &account,
                Privilege::Insert,
                Some(&r.db),
                Some(&table.name),
            ));
        }
        let Some(olap) = table.olap() else {
            return Err(load_error(format!("'{}' is a view", r.table)));
        };
        for p in &options.partitions {
            if olap.partition(p).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", r.table),
                ));
            }
        }
        let txn = fe.begin_txn().await?;
        let label = options
            .label
            .clone()
            .unwrap_or_else(|| format!("stream_load_{}", txn.0));
        let guard = match fe.reserve_label(db_id, &label, txn) {
            Ok(g) => g,
            Err(in_use) => {
                return Ok(pb::BeginLoadResponse {
                    label,
                    existing_job_status: in_use.status.to_string(),
                    ..Default::default()
                });
            }
        };
        let mut session = fe.load_session_view();
        session.db = Some(r.db.clone());
        if let Some(tz) = &options.timezone {
            let mut vars = (*session.vars).clone();
            vars.insert("time_zone", tz.clone());
            session.vars = Arc::new(vars);
        }
        let deadline = Instant::now() + options.timeout + LOAD_GRACE;
        let plan = plan::compile(fe, &table, olap, options, &session)?;
        let wire = plan.to_wire()?;
        fe.loads.active.lock().insert(
            txn,
            ActiveLoad {
                _label: guard,
                label: label.clone(),
                db: r.db.clone(),
                table,
                created_ms: crate::now_ms(),
                deadline,
                backend: (BackendId(r.backend_id), r.backend_started_ms),
            },
        );
        fe.env.metrics.load_add.increment(1);
        info!(%txn, label, backend = r.backend_id, "stream load began");
        Ok(pb::BeginLoadResponse {
            txn_id: txn.0,
            label,
            existing_job_status: String::new(),
            plan: Some(wire),
            backends: fe.cluster().load_backends(),
        })
    }

    async fn load_partitions(
        &self,
        r: pb::LoadPartitionsRequest,
    ) -> Result<pb::LoadPartitionsResponse, SqlError> {
        let txn = TxnId(r.txn_id);
        let table = {
            let active = self.0.loads.active.lock();
            let load = active.get(&txn).ok_or_else(|| unknown_load(txn))?;
            Arc::clone(&load.table)
        };
        let rows = rigel_be_api::wire::decode_batch(&r.rows)?;
        let partitions = match self.0.partitions_for_rows(&table, &rows).await? {
            Some(target) => target
                .partitions
                .iter()
                .map(pb::PartitionRoute::try_from)
                .collect::<Result<_, _>>()?,
            None => vec![],
        };
        Ok(pb::LoadPartitionsResponse {
            partitions,
            backends: self.0.cluster().load_backends(),
        })
    }

    async fn finish_load(
        &self,
        r: pb::FinishLoadRequest,
    ) -> Result<pb::FinishLoadResponse, SqlError> {
        let fe = &self.0;
        let txn = TxnId(r.txn_id);
        let load = self.take(txn).ok_or_else(|| unknown_load(txn))?;
        let summary = r
            .written
            .as_ref()
            .map(SinkSummary::from)
            .unwrap_or_default();
        let counters = r.counters.as_ref();
        if summary.rows == 0 {
            fe.abort_txn(txn).await;
            record_load(&self.0, txn, &load, LoadEnd::Finished(0, counters));
            return Ok(pb::FinishLoadResponse { visible: true });
        }
        match fe
            .commit_txn(txn, &load.table, load.label.clone(), &summary)
            .await
        {
            Ok(status) => {
                fe.after_load(load.table.id, summary.rows);
                record_load(
                    &self.0,
                    txn,
                    &load,
                    LoadEnd::Finished(summary.rows, counters),
                );
                Ok(pb::FinishLoadResponse {
                    visible: status == crate::txn::TxnStatus::Visible,
                })
            }
            Err(e) => {
                record_load(
                    &self.0,
                    txn,
                    &load,
                    LoadEnd::Cancelled(&e.message, counters),
                );
                Err(e)
            }
        }
    }

    async fn abort_load(&self, r: pb::AbortLoadRequest) -> Result<(), SqlError> {
        let txn = TxnId(r.txn_id);
        let Some(load) = self.take(txn) else {
            // Rolled back already (a repeat, or the frontend's timeout).
            return Ok(());
        };
        self.0.abort_txn(txn).await;
        record_load(
            &self.0,
            txn,
            &load,
            LoadEnd::Cancelled(&r.reason, r.counters.as_ref()),
        );
        Ok(())
    }
}

impl Frontend {
    /// Rolls back the loads past their timeout whose backend sent no commit (it lost the
    /// frontend, or hangs).
    pub(crate) async fn expire_loads(&self) {
        let now = Instant::now();
        self.roll_back_loads(
            |l| l.deadline <= now,
            "the load timed out: its backend sent no commit",
        )
        .await;
    }

    /// Rolls back the loads `backend` runs, but not those of its start at `started_ms`
    /// (None: it died): no commit will come (the label is free again at once, not after
    /// the load's timeout).
    pub(crate) async fn abort_loads_of(&self, backend: BackendId, started_ms: Option<i64>) {
        self.roll_back_loads(
            |l| l.backend.0 == backend && Some(l.backend.1) != started_ms,
            "the backend running the load died or restarted before it committed",
        )
        .await;
    }

    async fn roll_back_loads(&self, which: impl Fn(&ActiveLoad) -> bool, why: &'static str) {
        let taken: Vec<(TxnId, ActiveLoad)> = {
            let mut active = self.loads.active.lock();
            let due: Vec<TxnId> = active
                .iter()
                .filter(|(_, l)| which(l))
                .map(|(t, _)| *t)
                .collect();
            due.into_iter()
                .filter_map(|t| active.remove(&t).map(|l| (t, l)))
                .collect()
        };
        for (txn, load) in taken {
            warn!(%txn, label = load.label, backend = %load.backend.0, "{why}; rolled back");
            self.abort_txn(txn).await;
            record_load(self, txn, &load, LoadEnd::Cancelled(why, None));
        }
    }
}

/// How the backend of `rigel server` reaches the backends of a load: the frontend's own
/// clients (the loopback).
#[derive(Debug)]
struct EmbeddedRouting(Arc<Frontend>);

impl LoadRouting for EmbeddedRouting {
    fn started_ms(&self) -> i64 {
        0
    }

    fn backend_id(&self) -> BackendId {
        EMBEDDED_BACKEND
    }

    fn resolver(
        &self,
        _backends: &[pb::LoadBackend],
    ) -> Result<Arc<dyn BackendResolver>, SqlError> {
        Ok(self.0.cluster().resolver())
    }
}

/// What the HTTP service of the backend in this process needs from that backend.
#[async_trait]
pub trait LocalBackendStatus: Send + Sync + std::fmt::Debug {
    /// The backend's metrics in Prometheus' text format.
    async fn render_metrics(&self) -> Result<String, SqlError>;

    /// Counts a Stream Load request, and its rows when it loaded.
    fn stream_load(&self, loaded: Option<u64>);

    /// The functions received load expressions resolve in.
    fn functions(&self) -> Arc<datafusion::execution::TaskContext>;
}

/// The backend HTTP service of `rigel server`: Stream Load, error logs, compaction.
#[derive(Debug, Clone)]
pub struct LoadService {
    fe: Arc<Frontend>,
    loader: StreamLoader,
    local: Arc<dyn LocalBackendStatus>,
}

impl LoadService {
    /// Error logs go to `error_dir`.
    pub fn new(fe: Arc<Frontend>, error_dir: PathBuf, local: Arc<dyn LocalBackendStatus>) -> Self {
        let loader = StreamLoader::new(
            Arc::new(rigel_rpc::LoopbackFrontend(Arc::new(Coordinator(
                Arc::clone(&fe),
            )))),
            Arc::new(EmbeddedRouting(Arc::clone(&fe))),
            local.functions(),
            error_dir,
        );
        Self { fe, loader, local }
    }
}

#[async_trait]
impl BackendHttp for LoadService {
    async fn healthy(&self) -> bool {
        true
    }

    async fn stream_load(&self, request: StreamLoadRequest) -> Reply {
        let outcome = self.loader.stream_load(request).await;
        self.local.stream_load(outcome.loaded);
        outcome.reply
    }

    async fn metrics(&self) -> Result<String, Reply> {
        self.local.render_metrics().await.map_err(|e| Reply {
            status: 500,
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
        let info = self
            .fe
            .tablet_rowsets(rigel_common::ids::TabletId(tablet_id))
            .await;
        rigel_load::admin::rowsets(tablet_id, info)
    }
}
