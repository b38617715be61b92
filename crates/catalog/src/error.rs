//! Catalog errors.

use rigel_common::{ErrorCode, ErrorExt, SqlError};

/// Result of catalog operations: errors carry their public code.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// Failures of the catalog's own machinery (the journal and its files).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The journal could not be read or written, or holds what it should not.
    #[error("catalog metadata error: {0}")]
    Meta(String),
    /// A file system operation failed.
    #[error("I/O error on {0}: {1}")]
    Io(String, #[source] std::io::Error),
}

impl ErrorExt for CatalogError {
    fn code(&self) -> ErrorCode {
        match self {
            CatalogError::Meta(_) => ErrorCode::ER_INTERNAL_ERROR,
            CatalogError::Io(..) => ErrorCode::ER_IO_ERROR,
        }
    }
}

impl From<CatalogError> for SqlError {
    fn from(e: CatalogError) -> Self {
        SqlError::new(e.code(), e.to_string())
    }
}
