//! Query execution shared by both roles.
//!
//! - [`TabletScanExec`], the plan leaf that reads tablets wherever they are, and
//!   [`RigelCodec`], its datafusion-proto encoding inside plan fragments.
//! - [`ScanRuntime`], what a node provides to the fragments it runs: the backends it can
//!   reach and, on a backend, its own tablets.
//! - [`RoutingSink`] and [`Router`]: a write's coordinator, routing rows to the backends
//!   holding their tablets.

mod codec;
mod router;
mod runtime;
mod scan;
mod write;

pub use codec::RigelCodec;
pub use router::{Routed, Router};
pub use runtime::{BackendResolver, LocalScanner, ScanRuntime, fragment_config, fragment_context};
pub use scan::{ScanGroup, ScanSpec, TabletScanExec};
pub use write::{Placement, RoutingSink};
