//! Rigel's tablet storage.
//!
//! A tablet (one bucket of one partition) holds rowsets; a rowset is the set of Parquet
//! segment files one transaction wrote into the tablet, and becomes visible at a version when
//! the transaction is published. Metadata lives in a redb database beside the data. The
//! on-disk layout and the crash-safety protocol are described in `docs/storage-format.md`.
//!
//! This crate knows nothing of SQL: it stores Arrow record batches and hands out the segment
//! files a reader at a given version must scan.

mod engine;
mod error;
mod index_file;
pub mod merge;
pub mod meta;
pub mod primary;
pub mod segment;

pub use engine::{
    ImportRowset, ImportSegment, LinkedRowset, LinkedTablet, RewriteGuard, Snapshot, StorageEngine,
    StorageOptions, TabletInfo,
};
pub use error::{Error, Result};
pub use merge::{MergeRule, ValueMerge};
pub use meta::{RowsetMeta, SegmentMeta, TabletMeta, UpdateRule};
pub use segment::{PendingSegment, RowsetWriter, SegmentCompression, SegmentOptions};
