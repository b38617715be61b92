//! Colocated joins: a partitioned hash join of two tables bucketed alike on the join keys
//! reads both sides bucket by bucket, with no exchange between them; and an aggregate
//! grouped by a table's distribution columns aggregates each bucket where it is read.
//!
//! Rows of a HASH-distributed table are in the bucket their distribution columns hash to
//! (`rigel_common::hash`). Two tables with the same bucket count and the same column types
//! therefore keep equal key values in equally numbered buckets, so when both sides of a
//! join on those columns are read with one [`BucketLayout`], partition `p` of one side
//! can only match partition `p` of the other: the join runs partition by partition as it
//! would after hash-repartitioning both sides, without moving a row. In a cluster each
//! task of the stage reads the buckets of one backend, so the join runs where the tablets
//! are (StarRocks' colocate join).
//!
//! DataFusion assumes every `Partitioning::Hash` comes from its own repartition hash; the
//! scans' partitioning is the bucket hash. [`ColocateJoins`] therefore also keeps every
//! operator that needs its inputs partitioned alike (a partitioned join, an interleave)
//! from mixing the two: an input partitioned by buckets meeting one partitioned by
//! DataFusion, or by another layout, is hash-repartitioned first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{JoinType, Result as DfResult};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{Distribution, Partitioning};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::union::InterleaveExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, PhysicalExpr};
use rigel_common::ids::BackendId;

use crate::scan::{BucketLayout, TabletScanExec};

/// The rule. Add it after DataFusion's distribution rules (it removes the exchanges they
/// put below colocated joins) and before the sanity check.
#[derive(Debug, Clone, Copy)]
pub struct ColocateJoins {
    /// Split the buckets into at least this many sets (tasks), when there are as many
    /// buckets: 2 in a cluster, where a stage of one task would run on the frontend.
    pub min_sets: usize,
}

impl PhysicalOptimizerRule for ColocateJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let target = config.execution.target_partitions.max(1);
        plan.transform_up(|node| {
            if let Some(joined) = self.colocate(&node, target)? {
                return Ok(Transformed::yes(joined));
            }
            if let Some(grouped) = self.group_in_place(&node, target)? {
                return Ok(Transformed::yes(grouped));
            }
            keep_partitioned_alike(node, target)
        })
        .data()
    }

    fn name(&self) -> &str {
        "colocate_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One side of a candidate join: the scan it reads and the table columns its keys are.
struct Side<'a> {
    scan: &'a TabletScanExec,
    /// The table column (an index into the scan's schema) of each join key.
    columns: Vec<usize>,
}

impl ColocateJoins {
    /// `node` as a colocated join, when it is a partitioned hash join of two tables
    /// bucketed alike on its keys whose sides reach their scans through filters and
    /// projections only.
    fn colocate(
        &self,
        node: &Arc<dyn ExecutionPlan>,
        target: usize,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(join) = node.downcast_ref::<HashJoinExec>() else {
            return Ok(None);
        };
        if join.mode != PartitionMode::Partitioned || join.null_aware {
            return Ok(None);
        }
        let (left_keys, right_keys): (Vec<_>, Vec<_>) = join.on().iter().cloned().unzip();
        let (Some(left), Some(right)) = (
            trace(join.left(), &left_keys),
            trace(join.right(), &right_keys),
        ) else {
            return Ok(None);
        };
        if !bucketed_alike(&left, &right) {
            return Ok(None);
        }
        let layout = layout(&[left.scan, right.scan], target, self.min_sets);
        let children = vec![
            with_layout(exchanged_input(join.left()), &layout)?,
            with_layout(exchanged_input(join.right()), &layout)?,
        ];
        recompute(Arc::clone(node), children).map(Some)
    }
}

impl ColocateJoins {
    /// `node` as one aggregate over a bucket-aligned scan, when it is the final step of a
    /// two-step aggregate grouped by exactly the distribution columns of the table it
    /// reads (through filters and projections): every group is in one bucket, so each
    /// partition aggregates its buckets alone and nothing is exchanged.
    fn group_in_place(
        &self,
        node: &Arc<dyn ExecutionPlan>,
        target: usize,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(last) = node.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        if *last.mode() != AggregateMode::FinalPartitioned {
            return Ok(None);
        }
        let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else {
            return Ok(None);
        };
        let Some(first) = repartition.input().downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        if *first.mode() != AggregateMode::Partial || !first.group_expr().is_single() {
            return Ok(None);
        }
        let keys: Vec<Arc<dyn PhysicalExpr>> = first
            .group_expr()
            .expr()
            .iter()
            .map(|(e, _)| Arc::clone(e))
            .collect();
        let Some(side) = trace_down(first.input(), &keys) else {
            return Ok(None);
        };
        match &side.scan.spec().bucketing {
            Some(b) if b.columns == side.columns => {}
            _ => return Ok(None),
        }
        let layout = layout(&[side.scan], target, self.min_sets);
        let input = with_layout(first.input(), &layout)?;
        let single = AggregateExec::try_new(
            AggregateMode::SinglePartitioned,
            first.group_expr().clone(),
            first.aggr_expr().to_vec(),
            first.filter_expr().to_vec(),
            input,
            first.input_schema(),
        )?
        .with_limit_options(last.limit_options());
        Ok(Some(Arc::new(single)))
    }
}

/// The input of the hash repartition DataFusion put below a partitioned join.
fn exchanged_input(side: &Arc<dyn ExecutionPlan>) -> &Arc<dyn ExecutionPlan> {
    match side.downcast_ref::<RepartitionExec>() {
        Some(r) => r.input(),
        None => side,
    }
}

/// Follows the join keys of one side down to a table scan: through the hash repartition
/// above the side, then projections (of plain columns), filters, round-robin repartitions
/// and the probe side of joins that collect their build side.
fn trace<'a>(side: &'a Arc<dyn ExecutionPlan>, keys: &[Arc<dyn PhysicalExpr>]) -> Option<Side<'a>> {
    let repartition = side.downcast_ref::<RepartitionExec>()?;
    if !matches!(repartition.partitioning(), Partitioning::Hash(..)) {
        return None;
    }
    trace_down(repartition.input(), keys)
}

/// Follows columns of `node`'s output (`keys`, plain columns) down to a table scan
/// through projections, filters, round-robin repartitions and the probe side of joins
/// that collect their build side.
fn trace_down<'a>(
    node: &'a Arc<dyn ExecutionPlan>,
    keys: &[Arc<dyn PhysicalExpr>],
) -> Option<Side<'a>> {
    let mut at: Vec<usize> = keys
        .iter()
        .map(|k| k.downcast_ref::<Column>().map(Column::index))
        .collect::<Option<_>>()?;
    let mut node = node;
    loop {
        if let Some(scan) = node.downcast_ref::<TabletScanExec>() {
            let spec = scan.spec();
            if scan.layout().is_some() || spec.limit.is_some() || spec.bucketing.is_none() {
                return None;
            }
            let columns = at
                .iter()
                .map(|&i| match &spec.projection {
                    Some(p) => p.get(i).copied(),
                    None => Some(i),
                })
                .collect::<Option<Vec<usize>>>()?;
            // The sequence column (past the table's columns) is no distribution column.
            if columns.iter().any(|&c| c >= spec.schema.fields().len()) {
                return None;
            }
            return Some(Side { scan, columns });
        }
        if let Some(p) = node.downcast_ref::<ProjectionExec>() {
            at = at
                .iter()
                .map(|&i| {
                    p.expr()
                        .get(i)
                        .and_then(|e| e.expr.downcast_ref::<Column>().map(Column::index))
                })
                .collect::<Option<_>>()?;
            node = p.input();
        } else if let Some(f) = node.downcast_ref::<FilterExec>() {
            if let Some(projection) = f.projection() {
                at = at
                    .iter()
                    .map(|&i| projection.get(i).copied())
                    .collect::<Option<_>>()?;
            }
            node = f.input();
        } else if let Some(r) = node.downcast_ref::<RepartitionExec>()
            && matches!(r.partitioning(), Partitioning::RoundRobinBatch(_))
        {
            node = r.input();
        } else if let Some(j) = node.downcast_ref::<HashJoinExec>()
            && let Some(left_columns) = probe_side_columns(j)
        {
            at = at
                .iter()
                .map(|&i| {
                    let joined = match &j.projection {
                        Some(p) => *p.get(i)?,
                        None => i,
                    };
                    joined.checked_sub(left_columns)
                })
                .collect::<Option<_>>()?;
            node = j.right();
        } else {
            return None;
        }
    }
}

/// For a join that collects its build side whole and keeps the partitions of its probe
/// side (an inner or right join: every output row is a probe row of the same partition),
/// how many build columns come before the probe columns in its output.
fn probe_side_columns(join: &HashJoinExec) -> Option<usize> {
    if join.mode != PartitionMode::CollectLeft {
        return None;
    }
    match join.join_type() {
        JoinType::Inner | JoinType::Right => Some(join.left().schema().fields().len()),
        JoinType::RightSemi | JoinType::RightAnti => Some(0),
        _ => None,
    }
}

/// Hashes of `a` and `b` agree: the bucket hash hashes strings by their bytes, whatever
/// their Arrow encoding.
fn same_hash_type(a: &DataType, b: &DataType) -> bool {
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    a == b || (string(a) && string(b))
}

/// Whether the join pairs the two tables' distribution columns, in their declared order,
/// and nothing else, and the tables hash those alike into as many buckets.
fn bucketed_alike(left: &Side<'_>, right: &Side<'_>) -> bool {
    let (Some(lb), Some(rb)) = (&left.scan.spec().bucketing, &right.scan.spec().bucketing) else {
        return false;
    };
    if lb.buckets != rb.buckets || lb.columns != left.columns || rb.columns != right.columns {
        return false;
    }
    let (ls, rs) = (&left.scan.spec().schema, &right.scan.spec().schema);
    lb.columns
        .iter()
        .zip(&rb.columns)
        .all(|(&l, &r)| same_hash_type(ls.field(l).data_type(), rs.field(r).data_type()))
}

/// The layout both sides are read with: the buckets of each backend (the one holding most
/// of a bucket's tablets across the scans) are a set, split further until there are
/// `min_sets`; each set is read in up to `target` partitions.
fn layout(scans: &[&TabletScanExec], target: usize, min_sets: usize) -> BucketLayout {
    let mut holders: BTreeMap<u32, HashMap<BackendId, usize>> = BTreeMap::new();
    for scan in scans {
        for group in scan.groups() {
            for &bucket in &group.buckets {
                *holders
                    .entry(bucket)
                    .or_default()
                    .entry(group.backend)
                    .or_default() += 1;
            }
        }
    }
    let mut by_backend: BTreeMap<BackendId, Vec<u32>> = BTreeMap::new();
    for (bucket, counts) in holders {
        let owner = counts
            .into_iter()
            .max_by_key(|&(backend, n)| (n, std::cmp::Reverse(backend)))
            .map(|(backend, _)| backend)
            .unwrap_or(BackendId(0));
        by_backend.entry(owner).or_default().push(bucket);
    }
    let mut sets: Vec<Vec<u32>> = by_backend.into_values().collect();
    if sets.is_empty() {
        sets.push(vec![]);
    }
    while sets.len() < min_sets {
        let Some((widest, _)) = sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len() >= 2)
            .max_by_key(|(_, s)| s.len())
        else {
            break;
        };
        let set = sets.remove(widest);
        let (a, b) = set.split_at(set.len() / 2);
        sets.insert(widest, b.to_vec());
        sets.insert(widest, a.to_vec());
    }
    let widest = sets.iter().map(Vec::len).max().unwrap_or(1);
    BucketLayout {
        sets,
        partitions: target.min(widest).max(1),
    }
}

/// `plan` (a side traced by [`trace`], below its hash repartition) reading its scan with
/// `layout`, without the round-robin repartitions that would scatter its buckets.
fn with_layout(
    plan: &Arc<dyn ExecutionPlan>,
    layout: &BucketLayout,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    if let Some(scan) = plan.downcast_ref::<TabletScanExec>() {
        return Ok(Arc::new(scan.with_layout(layout.clone())?));
    }
    if let Some(r) = plan.downcast_ref::<RepartitionExec>()
        && matches!(r.partitioning(), Partitioning::RoundRobinBatch(_))
    {
        return with_layout(r.input(), layout);
    }
    // Along the path `trace_down` followed: a collecting join's probe side, the only
    // input of anything else.
    let children = match plan.downcast_ref::<HashJoinExec>() {
        Some(j) => vec![Arc::clone(j.left()), with_layout(j.right(), layout)?],
        None => plan
            .children()
            .into_iter()
            .map(|c| with_layout(c, layout))
            .collect::<DfResult<Vec<_>>>()?,
    };
    recompute(Arc::clone(plan), children)
}

/// `plan` over new children, its properties derived from theirs.
fn recompute(
    plan: Arc<dyn ExecutionPlan>,
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    plan.replace_children(
        children,
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )
}

/// What a node's hash partitioning comes from.
#[derive(Debug, Clone, PartialEq)]
enum Origin {
    /// DataFusion's repartition hash, or no hash partitioning.
    DataFusion,
    /// A bucket-aligned scan: its bucket count, the types of its distribution columns and
    /// its layout.
    Buckets(u32, Vec<DataType>, BucketLayout),
}

/// Where the hash partitioning of `plan`'s output comes from: a node hash-partitioned
/// without being a repartition passes on the partitioning of its input.
fn origin(plan: &Arc<dyn ExecutionPlan>) -> Origin {
    let partitioning = plan.output_partitioning();
    if !matches!(partitioning, Partitioning::Hash(..)) || plan.is::<RepartitionExec>() {
        return Origin::DataFusion;
    }
    if let Some(scan) = plan.downcast_ref::<TabletScanExec>() {
        return match (scan.layout(), &scan.spec().bucketing) {
            (Some(layout), Some(b)) => {
                let types = b
                    .columns
                    .iter()
                    .map(|&c| match scan.spec().schema.field(c).data_type() {
                        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
                        t => t.clone(),
                    })
                    .collect();
                Origin::Buckets(b.buckets, types, layout.clone())
            }
            _ => Origin::DataFusion,
        };
    }
    let count = partitioning.partition_count();
    plan.children()
        .into_iter()
        .find(|c| {
            matches!(c.output_partitioning(), Partitioning::Hash(..))
                && c.output_partitioning().partition_count() == count
        })
        .map_or(Origin::DataFusion, origin)
}

/// Repartitions the inputs of `node` that are partitioned by buckets when it needs its
/// inputs partitioned alike and they are not (see the module's documentation).
fn keep_partitioned_alike(
    node: Arc<dyn ExecutionPlan>,
    target: usize,
) -> DfResult<Transformed<Arc<dyn ExecutionPlan>>> {
    let children = node.children();
    if children.len() < 2 {
        return Ok(Transformed::no(node));
    }
    let required: Vec<Distribution> = node
        .input_distribution_requirements()
        .per_child_distributions()
        .cloned()
        .collect();
    let interleave = node.is::<InterleaveExec>();
    #[allow(deprecated)]
    let keyed: Vec<usize> = (0..children.len())
        .filter(|&i| {
            interleave
                || matches!(
                    required.get(i),
                    Some(Distribution::HashPartitioned(_) | Distribution::KeyPartitioned(_))
                )
        })
        .collect();
    if keyed.len() < 2 {
        return Ok(Transformed::no(node));
    }
    let origins: Vec<Origin> = keyed.iter().map(|&i| origin(children[i])).collect();
    if origins.iter().all(|o| *o == origins[0]) {
        return Ok(Transformed::no(node));
    }
    // Inputs partitioned by DataFusion keep their partitioning; the others follow it.
    let reference = keyed
        .iter()
        .zip(&origins)
        .find(|(_, o)| **o == Origin::DataFusion)
        .map(|(&i, _)| children[i].output_partitioning().clone());
    let count = reference
        .as_ref()
        .map_or(target, Partitioning::partition_count);
    let mut new_children: Vec<Arc<dyn ExecutionPlan>> =
        children.iter().map(|c| Arc::clone(c)).collect();
    for (&i, o) in keyed.iter().zip(&origins) {
        if *o == Origin::DataFusion {
            continue;
        }
        // A join wants each input hashed on its own keys; an interleave wants its inputs
        // (of one schema) partitioned exactly alike, as the first one is.
        let first = reference
            .clone()
            .unwrap_or_else(|| children[keyed[0]].output_partitioning().clone());
        #[allow(deprecated)]
        let exprs = match (interleave, required.get(i), first) {
            (true, _, Partitioning::Hash(e, _)) => e,
            (
                false,
                Some(Distribution::HashPartitioned(e) | Distribution::KeyPartitioned(e)),
                _,
            ) => e.clone(),
            _ => continue,
        };
        new_children[i] = Arc::new(RepartitionExec::try_new(
            Arc::clone(children[i]),
            Partitioning::Hash(exprs, count),
        )?);
    }
    recompute(node, new_children).map(Transformed::yes)
}
