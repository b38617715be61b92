//! Identifier newtypes. Ids are allocated by the frontend's catalog and never reused.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! define_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(
                Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            )]
            #[serde(transparent)]
            pub struct $name(pub u64);

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    self.0.fmt(f)
                }
            }
        )*
    };
}

define_id! {
    /// A database.
    DbId,
    /// A table or view.
    TableId,
    /// A partition of a table.
    PartitionId,
    /// A tablet: one bucket of one partition.
    TabletId,
    /// A load transaction.
    TxnId,
    /// A rowset: the files one transaction (or compaction) added to one tablet.
    RowsetId,
    /// A backend (StarRocks numbers them from 10001).
    BackendId,
}

/// The backend of `rigel server` (the one in its process), and of tablets recorded before
/// the catalog named their backends.
pub const EMBEDDED_BACKEND: BackendId = BackendId(10001);
