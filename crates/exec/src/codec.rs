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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::Statistics;
    use datafusion::logical_expr::expr::ScalarFunction;
    use datafusion::logical_expr::{Expr, col, lit};
    use datafusion::physical_plan::filter::FilterExec;
    use datafusion::physical_plan::{ExecutionPlan, displayable};
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };
    use prost::Message;
    use rigel_be_api::pb;
    use rigel_common::ids::{BackendId, TableId, TabletId};

    use super::RigelCodec;
    use crate::scan::{ScanGroup, ScanSpec, TabletScanExec};

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]))
    }

    /// Every filter kind the planner pushes into a scan, and a call of every function of
    /// the catalog (arguments need not fit: the wire form does not check them).
    fn filters() -> Vec<Expr> {
        let mut f = vec![
            col("a").eq(lit(1i64)),
            col("a").lt(lit(5i64)).and(col("a").gt_eq(lit(-3i64))),
            col("a").is_null().or(col("b").is_not_null()),
            col("a").between(lit(1i64), lit(9i64)),
            col("a").in_list(vec![lit(1i64), lit(2i64)], true),
            col("b").like(lit("x%")),
            Expr::Not(Box::new(col("b").eq(lit("y")))),
            Expr::Cast(datafusion::logical_expr::Cast::new(
                Box::new(col("b")),
                DataType::Int64,
            ))
            .gt(lit(0i64)),
        ];
        // Every function a name resolves to (the catalog lists some DataFusion functions
        // that Rigel's of the same name replace; those are never planned).
        let ctx = rigel_functions::function_context();
        let mut effective: Vec<_> = ctx.scalar_functions().values().cloned().collect();
        effective.sort_by(|a, b| a.name().cmp(b.name()));
        effective.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for udf in effective {
            f.push(Expr::ScalarFunction(ScalarFunction::new_udf(
                udf,
                vec![col("a"), lit(1i64)],
            )));
        }
        f
    }

    fn scan() -> TabletScanExec {
        let spec = ScanSpec {
            table_id: TableId(7),
            schema: schema(),
            projection: Some(vec![1, 0]),
            filters: filters(),
            limit: Some(10),
            with_sequence: false,
            pushdown_filters: true,
            bucketing: Some(crate::Bucketing {
                columns: vec![0],
                buckets: 3,
            }),
        };
        let groups = vec![
            ScanGroup {
                backend: BackendId(10001),
                address: "127.0.0.1:8060".into(),
                tablets: vec![(TabletId(1), 3), (TabletId(2), 3)],
                buckets: vec![0, 2],
            },
            ScanGroup {
                backend: BackendId(10002),
                address: "127.0.0.1:8061".into(),
                tablets: vec![(TabletId(3), 2)],
                buckets: vec![1],
            },
        ];
        let stats = Statistics::new_unknown(&spec.output_schema().unwrap());
        TabletScanExec::try_new(Arc::new(spec), groups, 2, 0, stats).unwrap()
    }

    #[test]
    fn scan_nodes_round_trip_with_every_function_and_filter_kind() {
        let ctx = rigel_functions::function_context();
        let original = scan();
        let bytes = original.to_node().unwrap().encode_to_vec();
        let node = pb::ScanNode::decode(bytes.as_slice()).unwrap();
        let back = TabletScanExec::from_node(&node, &ctx).unwrap();
        assert_eq!(back.spec().filters.len(), original.spec().filters.len());
        let differ: Vec<String> = back
            .spec()
            .filters
            .iter()
            .zip(&original.spec().filters)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("{a} != {b}"))
            .collect();
        assert!(differ.is_empty(), "{differ:#?}");
        assert_eq!(back.spec().projection, original.spec().projection);
        assert_eq!(back.spec().limit, Some(10));
        assert_eq!(back.groups(), original.groups());
        assert_eq!(back.partitions_per_group(), 2);
        assert_eq!(back.output_partitions(), 4);
        assert_eq!(back.schema(), original.schema());
        assert_eq!(back.share(), crate::PartShare::ALL);

        // A task's share of one group's parts survives the wire too.
        let share = crate::PartShare {
            offset: 1,
            stride: 2,
        };
        let shared = original
            .with_share(original.groups()[1].clone(), share, 1)
            .unwrap();
        let node =
            pb::ScanNode::decode(shared.to_node().unwrap().encode_to_vec().as_slice()).unwrap();
        let back = TabletScanExec::from_node(&node, &ctx).unwrap();
        assert_eq!(back.share(), share);
        assert_eq!(back.output_partitions(), 1);
        // A share past the parts is refused.
        let mut bad = node.clone();
        bad.part_offset = 2;
        assert!(TabletScanExec::from_node(&bad, &ctx).is_err());
    }

    #[test]
    fn bucket_aligned_scans_round_trip_and_bad_layouts_are_refused() {
        let ctx = rigel_functions::function_context();
        let mut original = scan();
        // A layout needs every distribution column produced and no limit (the planner's
        // rule only aligns such scans).
        let mut spec = (**original.spec()).clone();
        spec.limit = None;
        original = TabletScanExec::try_new(
            Arc::new(spec),
            original.groups().to_vec(),
            2,
            0,
            Statistics::new_unknown(&original.schema()),
        )
        .unwrap();
        let layout = crate::BucketLayout {
            sets: vec![vec![0, 2], vec![1]],
            partitions: 2,
        };
        let aligned = original.with_layout(layout.clone()).unwrap();
        assert_eq!(aligned.output_partitions(), 4);
        // Hash-partitioned on the distribution column, where the projection puts it.
        match &aligned.properties().partitioning {
            datafusion::physical_expr::Partitioning::Hash(keys, 4) => {
                assert_eq!(keys.len(), 1);
                assert_eq!(keys[0].to_string(), "a@1");
            }
            other => panic!("{other:?}"),
        }
        let node =
            pb::ScanNode::decode(aligned.to_node().unwrap().encode_to_vec().as_slice()).unwrap();
        let back = TabletScanExec::from_node(&node, &ctx).unwrap();
        assert_eq!(back.layout(), Some(&layout));
        assert_eq!(back.groups(), aligned.groups());
        assert_eq!(back.spec().bucketing, aligned.spec().bucketing);
        assert_eq!(back.output_partitions(), 4);

        // Split for two tasks: each set on its own, the backend holding it first.
        let variants = back.split_by_buckets(2).unwrap();
        let held: Vec<Vec<u64>> = variants
            .iter()
            .map(|v| v.groups().iter().map(|g| g.backend.0).collect())
            .collect();
        assert_eq!(held, vec![vec![10001], vec![10002]]);
        assert_eq!(variants[0].output_partitions(), 2);

        // A bucket no set holds, buckets missing for tablets, an empty layout, a
        // distribution column past the schema.
        let mut bad = node.clone();
        bad.groups[1].buckets = vec![5];
        assert!(TabletScanExec::from_node(&bad, &ctx).is_err());
        let mut bad = node.clone();
        bad.groups[0].buckets = vec![0];
        assert!(TabletScanExec::from_node(&bad, &ctx).is_err());
        let mut bad = node.clone();
        bad.layout = Some(pb::BucketLayout {
            sets: vec![],
            partitions: 2,
        });
        assert!(TabletScanExec::from_node(&bad, &ctx).is_err());
        let mut bad = node.clone();
        bad.layout = Some(pb::BucketLayout {
            sets: vec![pb::BucketSet { buckets: vec![0] }; 1 << 10],
            partitions: 1 << 10,
        });
        assert!(TabletScanExec::from_node(&bad, &ctx).is_err());
        let mut bad = node.clone();
        bad.bucket_columns = vec![7];
        assert!(TabletScanExec::from_node(&bad, &ctx).is_err());
    }

    #[test]
    fn a_layout_deals_each_set_to_its_partitions_and_splits_alike() {
        let layout = crate::BucketLayout {
            sets: vec![vec![4, 0, 2], vec![1, 3]],
            partitions: 2,
        };
        assert_eq!(layout.partition_count(), 4);
        let dealt: Vec<Option<usize>> = (0..6).map(|b| layout.partition_of(b)).collect();
        assert_eq!(
            dealt,
            vec![Some(1), Some(2), Some(0), Some(3), Some(0), None]
        );
        // Fewer tasks than sets: a task reads several sets as one.
        let one = layout.split(1);
        assert_eq!(one[0].sets, vec![vec![4, 0, 2, 1, 3]]);
        // More tasks than sets: the extra tasks read nothing.
        let three = layout.split(3);
        assert_eq!(three[2].sets, vec![Vec::<u32>::new()]);
    }

    #[test]
    fn plans_with_rigel_functions_round_trip_through_the_codec() {
        let session = SessionContext::new();
        for udf in rigel_functions::catalog_scalar_functions() {
            session.register_udf((*udf).clone());
        }
        let scan: Arc<dyn ExecutionPlan> = Arc::new(scan());
        // A filter above the scan that calls a Rigel function (physical expressions).
        let df_schema =
            datafusion::common::DFSchema::try_from(scan.schema().as_ref().clone()).unwrap();
        let udf = rigel_functions::catalog_scalar_functions()
            .into_iter()
            .find(|f| f.name() == "locate")
            .expect("locate is a catalog function");
        let predicate = session
            .create_physical_expr(
                Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![lit("x"), col("b")]))
                    .gt(lit(0i64)),
                &df_schema,
            )
            .unwrap();
        let plan: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, scan).unwrap());
        let bytes =
            physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), &RigelCodec).unwrap();
        let ctx = rigel_functions::function_context();
        let back =
            physical_plan_from_bytes_with_extension_codec(&bytes, &ctx, &RigelCodec).unwrap();
        assert_eq!(
            displayable(back.as_ref()).indent(true).to_string(),
            displayable(plan.as_ref()).indent(true).to_string()
        );
    }

    #[test]
    fn garbage_and_hostile_nodes_are_refused() {
        let ctx = rigel_functions::function_context();
        // Not a scan node at all, and a truncated one.
        let codec = RigelCodec;
        let proto = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
        use datafusion_proto::physical_plan::PhysicalExtensionCodec;
        assert!(
            codec
                .try_decode(&[0xff, 0xff, 0xff], &[], &ctx, &proto)
                .is_err()
        );
        let bytes = scan().to_node().unwrap().encode_to_vec();
        assert!(
            codec
                .try_decode(&bytes[..bytes.len() / 2], &[], &ctx, &proto)
                .is_err()
        );
        // A projection past the columns, no partitions, a filter naming no function known.
        let mut node = scan().to_node().unwrap();
        node.projection = vec![9];
        assert!(TabletScanExec::from_node(&node, &ctx).is_err());
        let mut node = scan().to_node().unwrap();
        node.partitions_per_group = 0;
        assert!(TabletScanExec::from_node(&node, &ctx).is_err());
        let mut node = scan().to_node().unwrap();
        node.schema = vec![1, 2, 3];
        assert!(TabletScanExec::from_node(&node, &ctx).is_err());
    }
}
