//! Storage errors.

use std::path::PathBuf;

use rigel_common::ids::{TabletId, TxnId};
use rigel_common::{ErrorCode, ErrorExt};

/// Result of storage operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A storage error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata store failed.
    #[error("tablet metadata store error: {0}")]
    Meta(String),
    /// Metadata that does not decode.
    #[error("corrupt tablet metadata: {0}")]
    Corrupt(String),
    /// A tablet that does not exist.
    #[error("tablet {0} does not exist")]
    TabletNotFound(TabletId),
    /// A transaction that is not pending here.
    #[error("transaction {0} has no pending data on this backend")]
    TxnNotFound(TxnId),
    /// Writing or reading a Parquet segment failed.
    #[error("segment file error: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// An Arrow kernel failed.
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A rewrite of a tablet (DELETE) raced with a compaction of it.
    #[error("tablet {0} was compacted while being rewritten; retry the statement")]
    Conflict(TabletId),
    /// Rows with equal keys could not be merged (a SUM out of the column's range).
    #[error("{0}")]
    Merge(String),
    /// A tablet has too many versions; compaction must catch up first.
    #[error("tablet {tablet} has too many versions ({versions} > {limit}); retry later")]
    TooManyVersions {
        /// The tablet.
        tablet: TabletId,
        /// Its version count.
        versions: usize,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Meta(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl ErrorExt for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Error::Io { .. } => ErrorCode::ER_IO_ERROR,
            Error::Meta(_) | Error::Corrupt(_) | Error::Parquet(_) => ErrorCode::ER_INTERNAL_ERROR,
            Error::Arrow(_) => ErrorCode::ER_UNKNOWN_ERROR,
            Error::TabletNotFound(_) | Error::TxnNotFound(_) => ErrorCode::ER_INTERNAL_ERROR,
            Error::TooManyVersions { .. } => ErrorCode::ER_OUT_OF_RESOURCES,
            Error::Merge(_) => ErrorCode::ER_WARN_DATA_OUT_OF_RANGE,
            Error::Conflict(_) => ErrorCode::ER_LOCK_WAIT_TIMEOUT,
        }
    }
}
