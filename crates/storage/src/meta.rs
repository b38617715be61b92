//! Tablet and rowset metadata, persisted in `be_meta.redb`.

use rigel_common::ids::{PartitionId, RowsetId, TableId, TabletId, TxnId};
use serde::{Deserialize, Serialize};

/// A tablet: one bucket of one partition of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<u32>,
    /// PRIMARY KEY tables: keep a copy of the index on disk (`enable_persistent_index`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub persistent_index: bool,
}

/// One Parquet segment file of a rowset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// File name inside the tablet directory.
    pub name: String,
    /// Row count.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// CRC-32 of the whole file.
    pub crc32: u32,
}

/// The files one transaction (or compaction) added to one tablet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsetMeta {
    /// Rowset id, unique per backend.
    pub rowset_id: RowsetId,
    /// Tablet.
    pub tablet_id: TabletId,
    /// Transaction that wrote it.
    pub txn_id: TxnId,
    /// Version at which it became visible; `None` while the transaction is pending.
    pub version: Option<u64>,
    /// Segment files.
    pub segments: Vec<SegmentMeta>,
    /// Total rows.
    pub rows: u64,
    /// Total bytes on disk.
    pub bytes: u64,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Rowsets of the same tablet this one replaces (a rewrite, such as a DELETE): they
    /// stop being visible at the version this one is published at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<RowsetId>,
    /// The version from which this rowset is no longer visible (replaced); `None` while
    /// current. Readers at older versions still see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_from: Option<u64>,
    /// When it became stale, milliseconds since the epoch: its files are removed once no
    /// query can still be reading them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_since_ms: Option<i64>,
    /// PRIMARY KEY rowsets of a partial update or a conditional update: how their rows
    /// combine with the existing rows of their keys when published (then cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateRule>,
}

pub use rigel_common::tablet::UpdateRule;

impl RowsetMeta {
    /// Whether a reader at `version` sees this rowset.
    pub fn visible_at(&self, version: u64) -> bool {
        self.version.is_some_and(|v| v <= version) && self.stale_from.is_none_or(|s| version < s)
    }

    /// Whether it is visible at the newest version.
    pub fn is_current(&self) -> bool {
        self.version.is_some() && self.stale_from.is_none()
    }
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain structs of integers and strings cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> crate::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| crate::Error::Corrupt(e.to_string()))
}
