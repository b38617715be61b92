//! Query execution shared by both roles.
//!
//! - [`TabletScanExec`], the plan leaf that reads tablets wherever they are, and
//!   [`RigelCodec`], its datafusion-proto encoding inside plan fragments.
//! - [`ScanRuntime`], what a node provides to the fragments it runs: the backends it can
//!   reach and, on a backend, its own tablets.
//! - [`RoutingSink`] and [`Router`]: a write's coordinator, routing rows to the backends
//!   holding their tablets.
//! - [`ProcessMemory`] and [`QueryPool`]: the memory queries of a process draw from, and
//!   a statement's cap on it (`query_mem_limit`), on whichever node the query runs.

mod codec;
mod colocate;
mod error;
mod memory;
mod router;
mod runtime;
mod scan;
mod write;

pub use codec::RigelCodec;
pub use colocate::ColocateJoins;
pub use error::{plan_error, sql_error};
pub use memory::{ProcessMemory, QUERY_POOL_SHARE, QueryPool, query_runtime};
pub use router::{Routed, Router};
pub use runtime::{BackendResolver, LocalScanner, ScanRuntime, fragment_config, fragment_context};
pub use scan::{BucketLayout, Bucketing, PartShare, ScanGroup, ScanSpec, TabletScanExec};
pub use write::{Placement, RoutingSink};
