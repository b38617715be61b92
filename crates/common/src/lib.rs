//! Shared foundations of Rigel: public error codes, configuration, identifiers, the StarRocks
//! type system and the bucket hash.
//!
//! This crate is the bottom of the dependency graph: every other Rigel crate may use it, it
//! uses none of them.

pub mod config;
pub mod convert;
pub mod error;
pub mod hash;
pub mod host;
pub mod ids;
pub mod metrics;
pub mod sketch;
pub mod tablet;
pub mod tls;
pub mod types;

pub use error::{ErrorCode, ErrorExt, SqlError};
pub use types::ColumnType;

/// The product name used in version strings.
pub const PRODUCT: &str = "Rigel";
/// Rigel's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
