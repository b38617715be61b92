//! The interface between the frontend (catalog, planning) and the backend (tablets, scans).
//!
//! `rigel server` calls a [`Backend`] in-process; in cluster mode the same trait is served
//! over RPC, so everything crossing it is plain data: ids, Arrow schemas and batches,
//! DataFusion logical expressions (serializable with datafusion-proto) and [`SqlError`]s.
//! The frontend never touches segment files, the backend never sees SQL text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int8Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use rigel_common::SqlError;
use rigel_common::ids::{PartitionId, TableId, TabletId, TxnId};
use serde::{Deserialize, Serialize};

pub use rigel_repository::{BlobRef, Transfer};
pub use rigel_storage::primary::{MAX_KEY_BYTES, OP_COLUMN, OP_DELETE, OP_UPSERT};
pub use rigel_storage::{
    MergeRule, SegmentCompression, TabletInfo, TabletMeta, UpdateRule, ValueMerge,
};

/// The column a scan [`with_sequence`](ScanRequest::with_sequence) adds: `UInt64`, equal
/// for the rows of one segment, larger for segments written later.
pub const SEQUENCE_COLUMN: &str = "__rigel_seq";

/// Result of backend calls.
pub type Result<T> = std::result::Result<T, SqlError>;

pub use rigel_common::types::FILL_METADATA_KEY;

mod metrics;
pub use metrics::{BackendState, BeMetrics};

/// A partition as the write path routes to it.
#[derive(Debug, Clone)]
pub struct PartitionRoute {
    /// Partition id.
    pub partition_id: PartitionId,
    /// Partition name, for error messages.
    pub name: String,
    /// Inclusive lower bound (`None` = no lower bound), one value per partition column.
    pub lower: Option<Vec<ScalarValue>>,
    /// Exclusive upper bound (`None` = MAXVALUE).
    pub upper: Option<Vec<ScalarValue>>,
    /// LIST partitions: the value tuples the partition holds (then the bounds are unused).
    pub values: Option<Vec<Vec<ScalarValue>>>,
    /// Tablets, indexed by bucket.
    pub tablets: Vec<TabletId>,
}

/// How rows pick a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketRouting {
    /// CRC-32 of these columns (indexes into the write schema).
    Hash(Vec<usize>),
    /// Round-robin by batch.
    Random,
}

/// Everything a backend needs to write rows of one table.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    /// Table.
    pub table_id: TableId,
    /// Table name, for messages.
    pub table_name: String,
    /// Schema of the batches written (the table's full schema).
    pub schema: SchemaRef,
    /// Partition columns (indexes into the schema); empty for unpartitioned tables.
    pub partition_columns: Vec<usize>,
    /// Target partitions. Unpartitioned tables have exactly one, without bounds.
    pub partitions: Vec<PartitionRoute>,
    /// Bucket routing.
    pub buckets: BucketRouting,
    /// Sort key columns (indexes into the schema).
    pub sort_key: Vec<usize>,
    /// Segment compression.
    pub compression: SegmentCompression,
    /// Columns with bloom filters.
    pub bloom_filter_columns: Vec<String>,
    /// Bytes the sink may buffer before flushing segments (0 = the backend's default).
    pub memory_limit: usize,
    /// AGGREGATE, UNIQUE and PRIMARY KEY tables: how rows with equal keys merge (within
    /// one write, later rows win).
    pub merge: Option<MergeRule>,
    /// PRIMARY KEY tables: the key columns (indexes into the schema). The schema then ends
    /// with [`OP_COLUMN`] (`Int8`, [`OP_UPSERT`] or [`OP_DELETE`]); publishing replaces or
    /// deletes the rows with the same key.
    pub primary_key: Vec<usize>,
    /// PRIMARY KEY tables: a partial update (`partial_update`) or a conditional one
    /// (`merge_condition`), resolved against the existing rows when published.
    pub update: Option<UpdateRule>,
}

impl WriteTarget {
    /// Whether this is a PRIMARY KEY table.
    pub fn is_primary(&self) -> bool {
        !self.primary_key.is_empty()
    }

    /// The rows' columns for the target schema: PRIMARY KEY tables get the op column
    /// appended, with `op` for every row.
    pub fn with_op(&self, mut columns: Vec<ArrayRef>, op: i8) -> Vec<ArrayRef> {
        if self.is_primary() {
            let n = columns.first().map_or(0, |c| c.len());
            columns.push(Arc::new(Int8Array::from_value(op, n)));
        }
        columns
    }
}

/// What a finished sink wrote.
#[derive(Debug, Clone, Default)]
pub struct SinkSummary {
    /// Rows written (as received: before AGGREGATE and UNIQUE KEY tables merge equal keys).
    pub rows: u64,
    /// Bytes written to segment files.
    pub bytes: u64,
    /// Tablets that received rows.
    pub tablets: Vec<TabletId>,
}

/// Receives the rows of one transaction for one table.
///
/// Dropping a sink without [`TabletSink::finish`] discards everything it wrote.
#[async_trait]
pub trait TabletSink: Send {
    /// Routes and buffers/writes rows. The batch has the target's schema. Returns the indexes
    /// of rows that belong to no (selected) partition; they are not written.
    async fn write(&mut self, batch: RecordBatch) -> Result<Vec<u32>>;

    /// Replaces the partitions rows are routed to (ordered by range, as in a new
    /// [`WriteTarget`]): partitions created during the write (expression partitioning).
    async fn set_partitions(&mut self, partitions: Vec<PartitionRoute>) -> Result<()>;

    /// Flushes everything and durably prepares the transaction on the backend.
    async fn finish(self: Box<Self>) -> Result<SinkSummary>;
}

/// Scan knobs the frontend passes with each scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Number of output partitions (parallelism).
    pub target_partitions: usize,
    /// Evaluate filters inside the Parquet decoder (late materialization).
    pub pushdown_filters: bool,
}

/// A scan of some tablets of a table at fixed versions.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Table.
    pub table_id: TableId,
    /// The table's current schema (field metadata carries column ids and fill values).
    pub schema: SchemaRef,
    /// Tablets and the version to read each at.
    pub tablets: Vec<(TabletId, u64)>,
    /// Columns to produce (indexes into `schema`); `None` for all.
    pub projection: Option<Vec<usize>>,
    /// Filters used to skip row groups and pages (and rows, when pushed down).
    pub filters: Vec<Expr>,
    /// Stop after this many rows.
    pub limit: Option<usize>,
    /// Column statistics of the table (from ANALYZE), one per `schema` column.
    pub column_statistics: Option<Vec<datafusion::common::ColumnStatistics>>,
    /// Add a last column, [`SEQUENCE_COLUMN`], that orders the rows of different segments
    /// as they were written (AGGREGATE and UNIQUE KEY tables merge by it).
    pub with_sequence: bool,
    /// Knobs.
    pub options: ScanOptions,
}

/// Rows of a PRIMARY KEY table looked up by key in one tablet, at its newest published
/// version.
#[derive(Debug, Clone)]
pub struct LookupRequest {
    /// The table's schema (field metadata carries column ids and fill values).
    pub schema: SchemaRef,
    /// The tablet the keys hash to.
    pub tablet: TabletId,
    /// The keys: one array per primary key column, in key order, typed as the columns.
    pub keys: Vec<ArrayRef>,
    /// Columns to return (indexes into `schema`).
    pub projection: Vec<usize>,
}

/// Rows to delete from some tablets of one table.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    /// How the table's segments are written (its full schema, sort key, compression...).
    pub target: Arc<WriteTarget>,
    /// Tablets and the version to read each at.
    pub tablets: Vec<(TabletId, u64)>,
    /// Rows for which this is true go; rows for which it is false or NULL stay.
    pub predicate: Expr,
}

/// What a delete did.
#[derive(Debug, Clone, Default)]
pub struct DeleteSummary {
    /// Rows deleted.
    pub rows: u64,
    /// Tablets rewritten (with a prepared rowset in the transaction).
    pub tablets: Vec<TabletId>,
}

/// Which rowsets a compaction merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionKind {
    /// The newest run of small rowsets (each under 64 MB), oldest first, at most
    /// `max_rowsets` of them; nothing unless there are `min_rowsets`.
    Cumulative,
    /// Every current rowset (at least two).
    Base,
}

impl CompactionKind {
    /// As StarRocks names it (`base`, `cumulative`).
    pub fn as_str(&self) -> &'static str {
        match self {
            CompactionKind::Cumulative => "cumulative",
            CompactionKind::Base => "base",
        }
    }
}

/// A compaction of one tablet.
#[derive(Debug, Clone)]
pub struct CompactRequest {
    /// How the table's segments are written (schema, sort key, merge rule...).
    pub target: Arc<WriteTarget>,
    /// The tablet.
    pub tablet: TabletId,
    /// Which rowsets.
    pub kind: CompactionKind,
    /// Fewest rowsets worth merging (cumulative).
    pub min_rowsets: usize,
    /// Most rowsets merged at once (cumulative).
    pub max_rowsets: usize,
}

/// What a compaction did; `inputs == 0` when there was nothing to merge.
#[derive(Debug, Clone, Default)]
pub struct CompactSummary {
    /// Rowsets merged.
    pub inputs: usize,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written (fewer for AGGREGATE and UNIQUE KEY tables with repeated keys).
    pub rows_out: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

/// A backup repository as the backend reaches it: its location and properties (the
/// credentials travel with each request; the backend keeps none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositorySpec {
    /// Location URL (`file:///dir`, `s3://bucket/path`).
    pub location: String,
    /// Properties (endpoint, region, keys).
    pub properties: BTreeMap<String, String>,
}

/// Uploads the files of tablets at given versions to a repository.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// A name for the job's staging files (unique per running job).
    pub job: String,
    /// Where to.
    pub repository: RepositorySpec,
    /// Tablets and the version each is taken at.
    pub tablets: Vec<(TabletId, u64)>,
    /// Send every file, also those the repository holds already (a full backup).
    pub upload_all: bool,
    /// Progress counters.
    pub transfer: Arc<Transfer>,
}

/// One tablet as a snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletBackup {
    /// The tablet's id when it was backed up.
    pub tablet: TabletId,
    /// The version it was taken at.
    pub version: u64,
    /// Visible rowsets, oldest first.
    pub rowsets: Vec<RowsetBackup>,
}

/// One rowset of a [`TabletBackup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsetBackup {
    /// The version it became visible at.
    pub version: u64,
    /// Segment files in order, with their row counts.
    pub segments: Vec<(BlobRef, u64)>,
    /// PRIMARY KEY tablets: rows of a segment (by index) deleted at the version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<(u32, Vec<u32>)>,
}

/// Creates tablets from a snapshot's files.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// A name for the job's staging files (unique per running job).
    pub job: String,
    /// Where from.
    pub repository: RepositorySpec,
    /// The new tablets, each with what it restores.
    pub tablets: Vec<(TabletMeta, TabletBackup)>,
    /// Progress counters.
    pub transfer: Arc<Transfer>,
}

/// The backend role as the frontend sees it.
#[async_trait]
pub trait Backend: Send + Sync + Debug {
    /// Creates tablets; for tablets that exist, updates their metadata.
    async fn create_tablets(&self, tablets: Vec<TabletMeta>) -> Result<()>;

    /// Drops tablets and their data.
    async fn drop_tablets(&self, tablets: Vec<TabletId>) -> Result<()>;

    /// Opens a sink for the rows of transaction `txn` into one table.
    async fn open_sink(&self, txn: TxnId, target: Arc<WriteTarget>) -> Result<Box<dyn TabletSink>>;

    /// Makes a prepared transaction visible at the given tablet versions (idempotent).
    async fn publish(&self, txn: TxnId, versions: HashMap<TabletId, u64>) -> Result<()>;

    /// Discards a prepared or partly written transaction (idempotent).
    async fn abort(&self, txn: TxnId) -> Result<()>;

    /// Transactions prepared but not yet published or aborted.
    async fn pending_txns(&self) -> Result<Vec<TxnId>>;

    /// Deletes the rows matching a predicate (DELETE on a DUPLICATE, AGGREGATE or UNIQUE KEY
    /// table): each tablet that has such rows at its version is rewritten without them as a
    /// rowset of `txn` that, once published, replaces every rowset visible at that version.
    /// Tablets without a matching row are left alone.
    async fn delete_rows(&self, txn: TxnId, request: DeleteRequest) -> Result<DeleteSummary>;

    /// Merges rowsets of one tablet into one (see [`CompactRequest`]). Readers of every
    /// version see the same rows before and after.
    async fn compact(&self, request: CompactRequest) -> Result<CompactSummary>;

    /// Removes the files of rowsets replaced (by compaction or DELETE) at least
    /// `after_secs` ago. Returns how many rowsets went.
    async fn sweep_stale(&self, after_secs: u64) -> Result<usize>;

    /// Empties what dropped tablets left in the trash at least `after_secs` ago. Returns
    /// how many tablets' files went.
    async fn sweep_trash(&self, after_secs: u64) -> Result<usize>;

    /// The rows of the keys found (in key order), with the requested columns.
    async fn lookup_rows(&self, request: LookupRequest) -> Result<RecordBatch>;

    /// Builds the physical plan that scans the requested tablets.
    fn scan(&self, request: ScanRequest) -> Result<Arc<dyn ExecutionPlan>>;

    /// Summaries of all tablets this backend holds.
    async fn tablet_infos(&self) -> Result<Vec<TabletInfo>>;

    /// Prepares for a stop: writes what saves work at the next start (persistent primary
    /// key indexes). Committed data never depends on it.
    async fn prepare_shutdown(&self) -> Result<()>;

    /// Uploads the files of the requested tablets, all taken at one instant, to a
    /// repository (files it holds already are skipped unless `upload_all`).
    async fn backup_tablets(&self, request: BackupRequest) -> Result<Vec<TabletBackup>>;

    /// Creates the requested tablets and fills them with a snapshot's files, each visible
    /// at its backup's version. On failure the created tablets are dropped again.
    async fn restore_tablets(&self, request: RestoreRequest) -> Result<()>;

    /// The backend's metrics in Prometheus' text format (`/metrics` on its HTTP port).
    async fn render_metrics(&self) -> Result<String>;

    /// The metrics of a backend running in this process, which the in-process executor and
    /// Stream Load count into; `None` for a remote backend, which counts for itself.
    fn local_metrics(&self) -> Option<Arc<BeMetrics>>;
}
