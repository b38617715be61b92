//! What a node that executes plan fragments provides to them: the backends it can reach,
//! and, on a backend, its own tablets.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use datafusion::execution::TaskContext;
use datafusion::prelude::SessionConfig;
use rigel_be_api::{Backend, Result, ScanRequest, ScanStream};
use rigel_common::ids::BackendId;

/// Reads tablets of the backend of this process, without crossing the wire.
pub trait LocalScanner: Send + Sync + Debug {
    /// One partition of a scan of this backend's tablets; `request.options.target_partitions`
    /// is the number of partitions the scan is cut into (some may be empty).
    fn scan_local(
        &self,
        request: ScanRequest,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> Result<ScanStream>;
}

/// Finds the backends plan fragments talk to.
pub trait BackendResolver: Send + Sync + Debug {
    /// The backend `id`, whose data address is `address` (`host:brpc_port`; empty for the
    /// backend of this process).
    fn backend(&self, id: BackendId, address: &str) -> Result<Arc<dyn Backend>>;
}

/// The execution environment of plan fragments, a session config extension of every
/// statement's (and every received fragment's) task context.
#[derive(Debug, Clone)]
pub struct ScanRuntime {
    /// The backend of this process, when it serves tablets: its id and its tablets.
    pub local: Option<(BackendId, Arc<dyn LocalScanner>)>,
    /// Every other backend.
    pub backends: Arc<dyn BackendResolver>,
}

impl ScanRuntime {
    /// The runtime of `ctx`.
    pub fn of(ctx: &TaskContext) -> Result<Arc<ScanRuntime>> {
        ctx.session_config()
            .get_extension::<ScanRuntime>()
            .ok_or_else(|| {
                rigel_common::SqlError::internal("a tablet scan runs without its scan runtime")
            })
    }
}

/// The config of a received plan fragment: DataFusion's defaults with `settings` (config
/// keys, such as `datafusion.execution.time_zone`) the sender's session had.
pub fn fragment_config(settings: &HashMap<String, String>) -> Result<SessionConfig> {
    let mut config = SessionConfig::new();
    for (key, value) in settings {
        config
            .options_mut()
            .set(key, value)
            .map_err(|e| rigel_be_api::wire::bad_message(format!("setting {key}: {e}")))?;
    }
    Ok(config)
}

/// A task context with `config` whose functions are those of `functions` (the node's
/// registry, where functions named in received plans resolve).
pub fn fragment_context(functions: &TaskContext, config: SessionConfig) -> TaskContext {
    TaskContext::new(
        None,
        String::new(),
        config,
        functions.scalar_functions().clone(),
        functions.higher_order_functions().clone(),
        functions.aggregate_functions().clone(),
        functions.window_functions().clone(),
        functions.runtime_env(),
    )
}
