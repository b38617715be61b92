//! The backend role: tablets, writes and scans, implementing [`rigel_be_api::Backend`] over
//! the local [`StorageEngine`].

mod backup;
mod compaction;
mod convert;
mod delete;
pub mod identity;
pub mod metrics;
mod scan;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::DataFusionError;
use datafusion::execution::TaskContext;
use futures::StreamExt;
use rigel_be_api::{
    Backend, BackupRequest, CompactRequest, CompactSummary, CompactionKind, DeleteRequest,
    DeleteSummary, LookupRequest, RestoreRequest, Result, ScanRequest, ScanStream, TabletBackup,
    TabletInfo, TabletMeta, TabletScanStats, TabletWriter, WriteTarget, pb,
};
use rigel_common::ids::{BackendId, TabletId, TxnId};
use rigel_common::{ErrorExt, SqlError};
use rigel_exec::{BackendResolver, LocalScanner, ScanRuntime, TabletScanExec};
use rigel_storage::{SegmentOptions, StorageEngine};

pub use metrics::{BackendState, BeMetrics};
pub use scan::ColumnIdAdapterFactory;

/// A DataFusion error as the interface's error (ours travel inside as external errors).
pub(crate) fn df_to_sql(e: DataFusionError) -> SqlError {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<SqlError>() {
            Ok(e) => *e,
            Err(other) => SqlError::internal(other),
        },
        DataFusionError::Context(_, inner) => df_to_sql(*inner),
        other => SqlError::internal(other),
    }
}

/// Converts a storage error into the interface's error.
pub(crate) fn storage_error(e: &rigel_storage::Error) -> SqlError {
    SqlError::new(e.code(), e.to_string())
}

/// How segments of a write target are written.
pub(crate) fn segment_options(target: &WriteTarget) -> SegmentOptions {
    SegmentOptions {
        compression: target.compression,
        sort_key: target.sort_key.clone(),
        bloom_filter_columns: target.bloom_filter_columns.clone(),
        merge: target.merge.clone(),
        ..SegmentOptions::default()
    }
}

/// Per-tablet write locks of PRIMARY KEY tablets: publishes and compactions of one tablet
/// run one at a time, since each changes where the index points.
type TabletLocks = parking_lot::Mutex<HashMap<TabletId, Arc<tokio::sync::Mutex<()>>>>;

/// A backend over the storage engine of this process.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    /// Its id: fixed in `rigel server`, learnt from the first heartbeat in a cluster
    /// (0 until then).
    id: Arc<AtomicU64>,
    engine: Arc<StorageEngine>,
    primary_locks: Arc<TabletLocks>,
    readers: scan::SegmentReaders,
    metrics: Arc<BeMetrics>,
    running_compactions: Arc<[AtomicU64; 2]>,
    /// Scan partitions streaming now.
    running_scans: Arc<AtomicU64>,
    /// Scan plans by the ticket that asked for them, so the partitions of one scan share
    /// one snapshot of their tablets (a compaction between two partitions' tickets would
    /// otherwise give them different files of the same version).
    scan_plans: Arc<ScanPlans>,
    /// Where functions named in received plans resolve.
    functions: Arc<TaskContext>,
    /// How this backend reaches the others (for scans of groups it does not hold).
    peers: Arc<dyn BackendResolver>,
}

/// Resolves no backend: for a backend that is the only one.
#[derive(Debug)]
pub struct NoPeers;

impl BackendResolver for NoPeers {
    fn backend(&self, id: BackendId, _address: &str) -> Result<Arc<dyn Backend>> {
        Err(SqlError::new(
            rigel_common::ErrorCode::ER_UNKNOWN_BACKEND,
            format!("backend {id} is not known here"),
        ))
    }
}

/// Bytes of segment footers and page indexes kept in memory for scans.
const SEGMENT_METADATA_CACHE_BYTES: usize = 128 << 20;

impl LocalBackend {
    /// Wraps a storage engine as backend `id`.
    pub fn new(id: BackendId, engine: Arc<StorageEngine>) -> Result<Self> {
        Self::with_metrics(id, engine, Arc::new(BeMetrics::new(0, None)))
    }

    /// Wraps a storage engine as backend `id`, counting into `metrics`.
    pub fn with_metrics(
        id: BackendId,
        engine: Arc<StorageEngine>,
        metrics: Arc<BeMetrics>,
    ) -> Result<Self> {
        Ok(Self {
            id: Arc::new(AtomicU64::new(id.0)),
            engine,
            primary_locks: Arc::default(),
            readers: scan::SegmentReaders::new(SEGMENT_METADATA_CACHE_BYTES)?,
            metrics,
            running_compactions: Default::default(),
            running_scans: Arc::default(),
            scan_plans: Arc::default(),
            functions: Arc::new(rigel_functions::function_context()),
            peers: Arc::new(NoPeers),
        })
    }

    /// Reaches other backends through `peers`.
    pub fn with_peers(mut self, peers: Arc<dyn BackendResolver>) -> Self {
        self.peers = peers;
        self
    }

    /// The backend's id.
    pub fn id(&self) -> BackendId {
        BackendId(self.id.load(Ordering::Relaxed))
    }

    /// Takes the id the cluster knows this backend by (from its identity or the first
    /// heartbeat).
    pub fn set_id(&self, id: BackendId) {
        self.id.store(id.0, Ordering::Relaxed);
    }

    /// `scan`, counted in [`running_scans`](Self::running_scans) while its stream lives.
    fn counted(&self, mut scan: ScanStream) -> ScanStream {
        let guard = RunningGuard::new(Arc::clone(&self.running_scans));
        scan.batches = Box::pin(scan.batches.inspect(move |_| {
            let _ = &guard;
        }));
        scan
    }

    /// Scan partitions streaming now.
    pub fn running_scans(&self) -> u64 {
        self.running_scans.load(Ordering::Relaxed)
    }

    /// Where functions named in received plans resolve.
    pub fn functions(&self) -> &Arc<TaskContext> {
        &self.functions
    }

    /// The backend's metrics.
    pub fn metrics(&self) -> &Arc<BeMetrics> {
        &self.metrics
    }

    /// Counts a Stream Load request this backend ran, and its rows when it loaded.
    pub fn count_stream_load(&self, loaded: Option<u64>) {
        self.metrics.stream_load_requests.increment(1);
        if let Some(rows) = loaded {
            self.metrics.stream_load_rows.increment(rows);
        }
    }

    /// The backend's metrics in Prometheus' text format (`/metrics` on its HTTP port).
    pub async fn render_metrics(&self) -> Result<String> {
        let engine = Arc::clone(&self.engine);
        let metrics = Arc::clone(&self.metrics);
        let running = (
            self.running_compactions[CompactionKind::Cumulative as usize].load(Ordering::Relaxed),
            self.running_compactions[CompactionKind::Base as usize].load(Ordering::Relaxed),
        );
        // Filesystem and /proc reads block.
        tokio::task::spawn_blocking(move || {
            let state = BackendState {
                storage_paths: vec![engine.root().to_path_buf()],
                tablets: engine.tablet_infos(),
                running_compactions: running,
            };
            metrics.render(&state)
        })
        .await
        .map_err(|e| SqlError::internal(format!("metrics task failed: {e}")))
    }

    /// The execution environment of plans this backend runs.
    pub fn scan_runtime(self: &Arc<Self>) -> ScanRuntime {
        ScanRuntime {
            local: Some((self.id(), Arc::clone(self) as Arc<dyn LocalScanner>)),
            backends: Arc::clone(&self.peers),
        }
    }

    /// A task context for a received scan: the catalog's functions, the session settings
    /// the ticket carries, this backend's runtime.
    fn scan_context(
        self: &Arc<Self>,
        settings: &HashMap<String, String>,
    ) -> Result<Arc<TaskContext>> {
        let config =
            rigel_exec::fragment_config(settings)?.with_extension(Arc::new(self.scan_runtime()));
        let ctx = rigel_exec::fragment_context(&self.functions, config);
        Ok(Arc::new(ctx))
    }

    /// Locks the PRIMARY KEY tablets among `tablets` (in id order); other tablets need no
    /// lock.
    async fn lock_primary(
        &self,
        mut tablets: Vec<TabletId>,
    ) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        tablets.sort();
        tablets.dedup();
        let mut guards = vec![];
        for t in tablets {
            if self.engine.primary_key(t).is_ok_and(|k| !k.is_empty()) {
                let lock = Arc::clone(self.primary_locks.lock().entry(t).or_default());
                guards.push(lock.lock_owned().await);
            }
        }
        guards
    }

    /// The storage engine.
    pub fn engine(&self) -> &Arc<StorageEngine> {
        &self.engine
    }

    async fn blocking_sql<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StorageEngine) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| SqlError::internal(format!("storage task failed: {e}")))?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StorageEngine) -> rigel_storage::Result<T> + Send + 'static,
    ) -> Result<T> {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| SqlError::internal(format!("storage task failed: {e}")))?
            .map_err(|e| storage_error(&e))
    }
}

#[async_trait]
impl Backend for LocalBackend {
    async fn create_tablets(&self, tablets: Vec<TabletMeta>) -> Result<()> {
        let tablets: Vec<_> = tablets.iter().map(convert::tablet_meta).collect();
        self.blocking(move |e| e.create_tablets(&tablets)).await
    }

    async fn drop_tablets(&self, tablets: Vec<TabletId>) -> Result<()> {
        {
            let mut locks = self.primary_locks.lock();
            for t in &tablets {
                locks.remove(t);
            }
        }
        self.blocking(move |e| e.drop_tablets(&tablets)).await
    }

    async fn open_writer(
        &self,
        txn: TxnId,
        target: Arc<WriteTarget>,
    ) -> Result<Box<dyn TabletWriter>> {
        Ok(Box::new(writer::LocalWriter::new(
            Arc::clone(&self.engine),
            txn,
            target,
            Arc::clone(&self.metrics),
        )))
    }

    async fn publish(&self, txn: TxnId, versions: HashMap<TabletId, u64>) -> Result<()> {
        let _locks = self.lock_primary(self.engine.pending_tablets(txn)).await;
        self.blocking(move |e| e.publish_txn(txn, &versions)).await
    }

    async fn abort(&self, txn: TxnId) -> Result<()> {
        self.blocking(move |e| e.abort_txn(txn)).await
    }

    async fn pending_txns(&self) -> Result<Vec<TxnId>> {
        Ok(self.engine.pending_txns())
    }

    async fn delete_rows(&self, txn: TxnId, request: DeleteRequest) -> Result<DeleteSummary> {
        delete::delete_rows(Arc::clone(&self.engine), txn, request).await
    }

    async fn compact(&self, request: CompactRequest) -> Result<CompactSummary> {
        let _lock = self.lock_primary(vec![request.tablet]).await;
        let kind = request.kind;
        let running = &self.running_compactions[kind as usize];
        running.fetch_add(1, Ordering::Relaxed);
        let outcome = compaction::compact(Arc::clone(&self.engine), request).await;
        running.fetch_sub(1, Ordering::Relaxed);
        match &outcome {
            Ok(s) if s.inputs > 0 => self.metrics.compaction_done(kind, true, s.bytes_out),
            Ok(_) => {}
            Err(_) => self.metrics.compaction_done(kind, false, 0),
        }
        outcome
    }

    async fn sweep_stale(&self, after_secs: u64) -> Result<usize> {
        let after_ms = i64::try_from(after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.blocking(move |e| e.sweep_stale(after_ms)).await
    }

    async fn lookup_rows(&self, request: LookupRequest) -> Result<RecordBatch> {
        let schema = Arc::new(
            request
                .schema
                .project(&request.projection)
                .map_err(|e| SqlError::internal(e.to_string()))?,
        );
        let fields: Vec<_> = schema.fields().iter().cloned().collect();
        let (tablet, keys) = (request.tablet, request.keys);
        let columns = self
            .blocking(move |e| e.lookup_rows(tablet, &keys, &fields))
            .await?;
        let rows = columns.first().map_or(0, |c| c.len());
        RecordBatch::try_new_with_options(
            schema,
            columns,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| SqlError::internal(e.to_string()))
    }

    async fn sweep_trash(&self, after_secs: u64) -> Result<usize> {
        let after_ms = i64::try_from(after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.blocking(move |e| e.sweep_trash(after_ms)).await
    }

    async fn describe_scan(&self, tablets: Vec<(TabletId, u64)>) -> Result<Vec<TabletScanStats>> {
        self.blocking_sql(move |e| scan::describe(e, &tablets))
            .await
    }

    async fn scan(&self, ticket: pb::ScanTicket) -> Result<ScanStream> {
        let this = Arc::new(self.clone());
        let ctx = this.scan_context(&ticket.settings)?;
        let node = ticket
            .node
            .as_ref()
            .ok_or_else(|| rigel_be_api::wire::bad_message("a scan ticket without its scan"))?;
        let exec = TabletScanExec::from_node(node, &ctx)?;
        let me = self.id();
        if let Some(other) = exec.groups().iter().find(|g| g.backend != me) {
            return Err(SqlError::new(
                rigel_common::ErrorCode::ER_UNKNOWN_BACKEND,
                format!(
                    "backend {} was asked for tablets of backend {}",
                    me, other.backend
                ),
            ));
        }
        let partition = ticket.partition as usize;
        let Some((g, part)) = exec.locate(partition) else {
            return Err(rigel_be_api::wire::bad_message(format!(
                "a scan of {} groups asked for partition {partition}",
                exec.groups().len()
            )));
        };
        let group = &exec.groups()[g];
        let plan = self.scan_plans.get_or_build(node, &ticket.settings, || {
            scan::build_scan(&self.engine, &self.readers, exec.request(group))
        })?;
        let scan = scan::run_partition(plan, part, ctx, Arc::clone(&self.metrics))?;
        Ok(self.counted(scan))
    }

    async fn tablet_infos(&self) -> Result<Vec<TabletInfo>> {
        Ok(self
            .engine
            .tablet_infos()
            .iter()
            .map(convert::tablet_info)
            .collect())
    }

    async fn backup_tablets(&self, request: BackupRequest) -> Result<Vec<TabletBackup>> {
        backup::backup(Arc::clone(&self.engine), request).await
    }

    async fn restore_tablets(&self, request: RestoreRequest) -> Result<()> {
        backup::restore(Arc::clone(&self.engine), request).await
    }

    async fn prepare_shutdown(&self) -> Result<()> {
        let written = self.blocking(|e| Ok(e.persist_indexes())).await?;
        if written > 0 {
            tracing::info!(tablets = written, "persisted primary key indexes");
        }
        Ok(())
    }
}

impl LocalScanner for LocalBackend {
    fn scan_local(
        &self,
        request: ScanRequest,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> Result<ScanStream> {
        let scan = scan::scan_partition(
            &self.engine,
            &self.readers,
            request,
            partition,
            ctx,
            Arc::clone(&self.metrics),
        )?;
        Ok(self.counted(scan))
    }
}

/// Counts one running scan while it lives.
struct RunningGuard(Arc<AtomicU64>);

impl RunningGuard {
    fn new(counter: Arc<AtomicU64>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long the plan of a scan ticket is kept for the scan's other partitions.
const SCAN_PLAN_TTL: std::time::Duration = std::time::Duration::from_secs(60);

type ScanPlan = Arc<dyn datafusion::physical_plan::ExecutionPlan>;

/// Built scan plans by ticket (without the partition), with when each was built.
#[derive(Debug, Default)]
struct ScanPlans(parking_lot::Mutex<HashMap<Vec<u8>, (std::time::Instant, ScanPlan)>>);

impl ScanPlans {
    fn get_or_build(
        &self,
        node: &pb::ScanNode,
        settings: &HashMap<String, String>,
        build: impl FnOnce() -> Result<ScanPlan>,
    ) -> Result<ScanPlan> {
        use prost::Message;
        // The whole ticket is the key: two scans share a plan only if they ask for exactly
        // the same thing (then one snapshot serves both correctly).
        let mut key = node.encode_to_vec();
        let mut settings: Vec<_> = settings.iter().collect();
        settings.sort();
        for (k, v) in settings {
            key.extend_from_slice(k.as_bytes());
            key.push(0);
            key.extend_from_slice(v.as_bytes());
            key.push(0);
        }
        let now = std::time::Instant::now();
        {
            let mut plans = self.0.lock();
            plans.retain(|_, (at, _)| now.duration_since(*at) < SCAN_PLAN_TTL);
            if let Some((_, plan)) = plans.get(&key) {
                return Ok(Arc::clone(plan));
            }
        }
        let plan = build()?;
        Ok(Arc::clone(
            &self.0.lock().entry(key).or_insert((now, plan)).1,
        ))
    }
}
