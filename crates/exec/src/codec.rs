//! [`RigelCodec`]: how Rigel's own plan nodes cross the wire inside datafusion-proto plans.
//!
//! DataFusion's nodes and expressions have datafusion-proto encodings; Rigel adds one node,
//! [`TabletScanExec`], encoded as its [`pb::ScanNode`]. Rigel's functions (UDFs, UDAFs)
//! travel by name and resolve in the receiving node's function registry, which registers
//! the same functions as the planner ([`crate::functions`]).

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use rigel_be_api::pb;

use crate::scan::TabletScanExec;

/// Encodes and decodes Rigel's plan nodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RigelCodec;

impl PhysicalExtensionCodec for RigelCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "a tablet scan has no inputs, {} were given",
                inputs.len()
            )));
        }
        let node = pb::ScanNode::decode(buf)
            .map_err(|e| DataFusionError::Internal(format!("malformed tablet scan: {e}")))?;
        let scan = TabletScanExec::from_node(&node, ctx)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(scan))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(scan) = node.downcast_ref::<TabletScanExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "{} cannot be sent to another node",
                node.name()
            )));
        };
        let proto = scan
            .to_node()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        proto
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("cannot encode a tablet scan: {e}")))
    }
}
