//! The interface between the frontend (catalog, planning) and the backends (tablets).
//!
//! Everything that crosses it is plain data with a wire form: the messages in [`pb`]
//! (generated from `proto/rigel.proto`), Arrow schemas and batches, DataFusion expressions
//! and plans encoded with datafusion-proto, and errors as [`pb::WireError`]. [`Backend`] is
//! one backend as a frontend (or another backend) sees it; `rigel-rpc` implements it over
//! gRPC and Arrow Flight, and over an in-process loopback that encodes and decodes the same
//! messages, so `rigel server` exercises the wire form too. The frontend never touches
//! segment files, a backend never sees SQL text.
//!
//! This crate holds wire types only: it depends on no implementation crate.

mod error;
mod types;
pub mod wire;

/// The generated wire messages.
#[allow(missing_docs, clippy::all, unused_qualifications)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/rigel.v1.rs"));
}

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::Stream;
use rigel_common::SqlError;
use rigel_common::ids::{TabletId, TxnId};

pub use rigel_common::tablet::{
    MAX_KEY_BYTES, MergeRule, OP_COLUMN, OP_DELETE, OP_UPSERT, SegmentCompression, UpdateRule,
    ValueMerge,
};
pub use rigel_common::types::FILL_METADATA_KEY;
pub use types::*;

/// The version of the messages this build speaks. A peer of another version is refused
/// with an error naming both; a change that an older peer cannot read raises it.
pub const PROTOCOL_VERSION: u32 = 1;

/// The gRPC header that carries [`PROTOCOL_VERSION`] on every request and response.
pub const PROTOCOL_HEADER: &str = "rigel-protocol-version";

/// The column a scan [`with_sequence`](ScanRequest::with_sequence) adds: `UInt64`, equal
/// for the rows of one segment, larger for segments written later.
pub const SEQUENCE_COLUMN: &str = "__rigel_seq";

/// Result of backend calls.
pub type Result<T> = std::result::Result<T, SqlError>;

/// Rows and bytes a scan read, filled in as it goes (bytes when it ends).
#[derive(Debug, Default)]
pub struct ScanCounters {
    /// Rows produced.
    pub rows: AtomicU64,
    /// Bytes of segment files read.
    pub bytes: AtomicU64,
}

/// A stream of record batches.
pub type BatchStream = std::pin::Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send + 'static>>;

/// One partition of a scan, streaming.
pub struct ScanStream {
    /// The schema of the batches.
    pub schema: SchemaRef,
    /// The batches.
    pub batches: BatchStream,
    /// What the scan read.
    pub counters: Arc<ScanCounters>,
}

impl Debug for ScanStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Receives the rows of one transaction for tablets of one backend, already routed.
///
/// Dropping a writer without [`TabletWriter::finish`] discards everything it wrote.
#[async_trait]
pub trait TabletWriter: Send {
    /// Buffers or writes rows of one tablet. It may block: call it from a blocking thread.
    fn write(&mut self, tablet: TabletId, batch: RecordBatch) -> Result<()>;

    /// Flushes everything and durably prepares the transaction on the backend.
    async fn finish(self: Box<Self>) -> Result<SinkSummary>;
}

/// Receives the rows of one transaction into one table, wherever its tablets are.
///
/// Dropping a sink without [`TabletSink::finish`] discards everything it wrote.
#[async_trait]
pub trait TabletSink: Send {
    /// Routes and writes rows. The batch has the target's schema. Returns the indexes of
    /// rows that belong to no (selected) partition; they are not written.
    async fn write(&mut self, batch: RecordBatch) -> Result<Vec<u32>>;

    /// Replaces the partitions rows are routed to (ordered by range, as in a new
    /// [`WriteTarget`]): partitions created during the write (expression partitioning).
    async fn set_partitions(&mut self, partitions: Vec<PartitionRoute>) -> Result<()>;

    /// Flushes everything and durably prepares the transaction on every backend written.
    async fn finish(self: Box<Self>) -> Result<SinkSummary>;
}

/// One backend, as the frontend (or another backend) sees it.
#[async_trait]
pub trait Backend: Send + Sync + Debug {
    /// Creates tablets; for tablets that exist, updates their metadata.
    async fn create_tablets(&self, tablets: Vec<TabletMeta>) -> Result<()>;

    /// Drops tablets and their data (tablets it does not hold are ignored).
    async fn drop_tablets(&self, tablets: Vec<TabletId>) -> Result<()>;

    /// Opens a writer for rows of transaction `txn` into tablets of this backend.
    async fn open_writer(
        &self,
        txn: TxnId,
        target: Arc<WriteTarget>,
    ) -> Result<Box<dyn TabletWriter>>;

    /// Makes a prepared transaction visible at the given tablet versions (idempotent).
    async fn publish(&self, txn: TxnId, versions: HashMap<TabletId, u64>) -> Result<()>;

    /// Discards a prepared or partly written transaction (idempotent; unknown ones too).
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

    /// What scanning these tablet versions would read (rows and files per tablet).
    async fn describe_scan(&self, tablets: Vec<(TabletId, u64)>) -> Result<Vec<TabletScanStats>>;

    /// Runs one partition of a scan of tablets this backend holds.
    async fn scan(&self, ticket: pb::ScanTicket) -> Result<ScanStream>;

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
}

/// The frontend as the backend running a load sees it: it authorises and plans the load,
/// creates the partitions it needs and commits or rolls it back; it also checks the
/// credentials of the backend's HTTP administration APIs and runs the compactions they
/// ask for. `rigel-rpc` implements it over gRPC; in `rigel server` the frontend is called
/// in the process, with the same messages.
#[async_trait]
pub trait LoadCoordinator: Send + Sync + Debug {
    /// Checks the user and the table, begins a transaction under the request's label and
    /// plans the load. A label in use answers with `existing_job_status` set.
    async fn begin_load(&self, request: pb::BeginLoadRequest) -> Result<pb::BeginLoadResponse>;

    /// Creates the partitions rows of a running load need (expression partitioning).
    async fn load_partitions(
        &self,
        request: pb::LoadPartitionsRequest,
    ) -> Result<pb::LoadPartitionsResponse>;

    /// Commits a load whose rows every backend written to has prepared, then publishes it.
    async fn finish_load(&self, request: pb::FinishLoadRequest) -> Result<pb::FinishLoadResponse>;

    /// Rolls a load back.
    async fn abort_load(&self, request: pb::AbortLoadRequest) -> Result<()>;

    /// Checks HTTP Basic credentials a backend received.
    async fn authenticate(
        &self,
        request: pb::AuthenticateRequest,
    ) -> Result<pb::AuthenticateResponse>;

    /// Compacts a tablet now (`POST /api/compact`), on the backend holding it.
    async fn compact_tablet(
        &self,
        request: pb::CompactTabletRequest,
    ) -> Result<pb::CompactResponse>;
}
