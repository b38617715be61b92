//! The requests and results of the interface as Rust values. Each has a wire form in
//! [`crate::pb`]; the conversions are in [`crate::wire`].

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int8Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;
use rigel_common::ids::{BackendId, PartitionId, TableId, TabletId};
use rigel_common::tablet::{MergeRule, SegmentCompression, UpdateRule};
use serde::{Deserialize, Serialize};

pub use rigel_repository::{BlobRef, Transfer};

/// A tablet: one bucket of one partition of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabletMeta {
    /// Tablet id.
    pub tablet_id: TabletId,
    /// Owning table.
    pub table_id: TableId,
    /// Owning partition.
    pub partition_id: PartitionId,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// PRIMARY KEY tables: the column ids of the key, in key order (empty otherwise).
    pub primary_key: Vec<u32>,
    /// PRIMARY KEY tables: keep a copy of the index on disk (`enable_persistent_index`).
    pub persistent_index: bool,
}

/// Summary of one tablet a backend holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabletInfo {
    /// Metadata.
    pub meta: TabletMeta,
    /// Visible rowset count.
    pub rowsets: usize,
    /// Visible rows.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Highest visible version.
    pub max_version: u64,
}

/// What a scan of one tablet at a version reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabletScanStats {
    /// Tablet.
    pub tablet: TabletId,
    /// Live rows.
    pub rows: u64,
    /// Bytes of the segment files.
    pub bytes: u64,
    /// Segment files.
    pub files: u64,
}

/// A partition as the write path routes to it.
#[derive(Debug, Clone, PartialEq)]
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
    /// The backends of each tablet's replicas that take the write (parallel to `tablets`).
    pub replicas: Vec<Vec<BackendId>>,
    /// How many of each tablet's replicas must prepare the write for it to commit
    /// (parallel to `tablets`; empty: all of them). The frontend counts every replica of
    /// the tablet, those that take no writes too, so a write with too few complete
    /// replicas fails.
    pub needed: Vec<usize>,
}

/// How many replicas of each tablet must prepare a write for it to commit (the
/// `write_quorum` table property, as in StarRocks); the frontend turns it into each
/// tablet's [`PartitionRoute::needed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteQuorum {
    /// More than half.
    #[default]
    Majority,
    /// One.
    One,
    /// Every replica.
    All,
}

impl WriteQuorum {
    /// From the property's value (case-insensitive); `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "MAJORITY" => Some(Self::Majority),
            "ONE" => Some(Self::One),
            "ALL" => Some(Self::All),
            _ => None,
        }
    }

    /// The replicas of `replicas` that must succeed.
    pub fn needed(self, replicas: usize) -> usize {
        match self {
            Self::Majority => replicas / 2 + 1,
            Self::One => 1,
            Self::All => replicas,
        }
        .min(replicas)
    }
}

/// How rows pick a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketRouting {
    /// CRC-32 of these columns (indexes into the write schema).
    Hash(Vec<usize>),
    /// Round-robin by batch.
    Random,
}

/// Everything needed to write rows of one table.
#[derive(Debug, Clone, PartialEq)]
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
    /// Bytes a backend may buffer before flushing segments (0 = the backend's default).
    pub memory_limit: usize,
    /// AGGREGATE, UNIQUE and PRIMARY KEY tables: how rows with equal keys merge (within
    /// one write, later rows win).
    pub merge: Option<MergeRule>,
    /// PRIMARY KEY tables: the key columns (indexes into the schema). The schema then ends
    /// with [`OP_COLUMN`](rigel_common::tablet::OP_COLUMN) (`Int8`); publishing replaces
    /// or deletes the rows with the same key.
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

    /// Every replica of every tablet of the target: the tablet and its backend.
    pub fn placement(&self) -> impl Iterator<Item = (TabletId, BackendId)> + '_ {
        self.partitions.iter().flat_map(|p| {
            p.tablets
                .iter()
                .zip(&p.replicas)
                .flat_map(|(t, copies)| copies.iter().map(move |b| (*t, *b)))
        })
    }
}

/// What a finished write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Rows written (as received: before AGGREGATE and UNIQUE KEY tables merge equal keys).
    pub rows: u64,
    /// Bytes written to segment files.
    pub bytes: u64,
    /// Tablets that received rows.
    pub tablets: Vec<TabletId>,
    /// Backends whose writes failed (every tablet still had a quorum of replicas without
    /// them): their replicas of `tablets` lack the write.
    pub failed: Vec<BackendId>,
}

impl SinkSummary {
    /// Adds another backend's summary.
    pub fn merge(&mut self, other: SinkSummary) {
        self.rows += other.rows;
        self.bytes += other.bytes;
        self.tablets.extend(other.tablets);
        self.tablets.sort();
        self.tablets.dedup();
        self.failed.extend(other.failed);
        self.failed.sort();
        self.failed.dedup();
    }
}

/// Scan knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Number of output partitions (parallelism).
    pub target_partitions: usize,
    /// Evaluate filters inside the Parquet decoder (late materialization).
    pub pushdown_filters: bool,
    /// The partition each tablet's files are read in, one per [`ScanRequest::tablets`]
    /// (scans whose partitions follow the table's buckets); `None`: the files are spread
    /// over `target_partitions` by size.
    pub parts: Option<Vec<usize>>,
}

/// A scan of some tablets of one backend at fixed versions.
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
    /// Add a last column, [`SEQUENCE_COLUMN`](crate::SEQUENCE_COLUMN), that orders the
    /// rows of different segments as they were written (AGGREGATE and UNIQUE KEY tables
    /// merge by it).
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// A backup repository as a backend reaches it: its location and properties (the
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
