//! Stream Load on the node that receives it: `curl -T data.csv http://host:8040/api/db/table/_stream_load`.
//!
//! ```text
//!  HTTP body ──► reader task ──(chunks)──► parser threads: decompress, split rows,
//!                                          map columns, convert, filter (see `parse`)
//!                                              │ (table batches in input order, bounded)
//!                                              ▼
//!                                          writer task: routing sink ──► each tablet's backend
//! ```
//!
//! The stages overlap, so parsing and encoding use both cores, and every channel is
//! bounded, so memory stays bounded however large the body. The load is one transaction:
//! all rows become visible at once, or none (on failure, timeout or a cut-off body).
//!
//! The node running the load has no catalog and no SQL text: a [`LoadCoordinator`] (the
//! frontend, over RPC or in the process) authorises the load, plans it ([`LoadPlan`], its
//! expressions encoded with datafusion-proto), creates the partitions it needs and commits
//! it. This crate depends on no frontend crate, so the backend role runs loads too.
//!
//! [`LoadCoordinator`]: rigel_be_api::LoadCoordinator

pub mod admin;
mod csv;
mod json;
pub mod options;
mod parse;
pub mod plan;
mod stream;

pub use csv::BadRow;
pub use options::{ColumnItem, Format, LoadOptions};
pub use plan::{ColSource, LoadColumn, LoadPlan, source_schema_of};
pub use stream::{ERROR_LOG_KEEP, LoadOutcome, LoadRouting, StreamLoader};

use rigel_common::{ErrorCode, SqlError};

/// A load's own error (bad headers, bad data): errno 1210, HTTP 400.
pub fn load_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, msg)
}
