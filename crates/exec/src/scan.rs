//! [`TabletScanExec`]: the leaf of every query plan that reads a table.
//!
//! The planner (on the frontend) knows which backend holds each tablet and builds one
//! *group* of tablet versions per backend; each group is read in
//! `partitions_per_group` parts, so output partition `i` reads part
//! `i % partitions_per_group` of group `i / partitions_per_group`. Tasks that split one
//! group between them each read a [`PartShare`] of its parts. A partition runs where
//! the node executes: on the backend that holds its group, it reads the tablets directly
//! ([`LocalScanner`](crate::LocalScanner)); anywhere else (the frontend, another backend) it
//! asks that backend over the wire with a [`pb::ScanTicket`] holding the node restricted to
//! the group. The node carries everything it needs (versions, addresses, filters), so it
//! survives being encoded into a plan fragment and decoded on another node.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PhysicalExpr, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use rigel_be_api::wire::{self, bad_message};
use rigel_be_api::{SEQUENCE_COLUMN, ScanOptions, ScanRequest, ScanStream, pb};
use rigel_common::SqlError;
use rigel_common::ids::{BackendId, TableId, TabletId};

use crate::runtime::ScanRuntime;

/// What to read of a table, the same for every group.
#[derive(Debug, Clone)]
pub struct ScanSpec {
    /// The table.
    pub table_id: TableId,
    /// Its schema (field metadata carries column ids and fill values).
    pub schema: SchemaRef,
    /// Columns to produce (indexes into `schema`, then the sequence column); `None` for all.
    pub projection: Option<Vec<usize>>,
    /// Filters that prune row groups and pages (and rows, when pushed down).
    pub filters: Vec<Expr>,
    /// Stop after this many rows.
    pub limit: Option<usize>,
    /// Add [`SEQUENCE_COLUMN`] (AGGREGATE and UNIQUE KEY tables merge by it).
    pub with_sequence: bool,
    /// Evaluate filters inside the Parquet decoder.
    pub pushdown_filters: bool,
    /// How the table is bucketed, for a HASH-distributed table.
    pub bucketing: Option<Bucketing>,
}

/// How a HASH-distributed table is bucketed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucketing {
    /// Its distribution columns, as indexes into [`ScanSpec::schema`], in declared order.
    pub columns: Vec<usize>,
    /// Its bucket count.
    pub buckets: u32,
}

impl ScanSpec {
    /// The schema of the rows produced.
    pub fn output_schema(&self) -> DfResult<SchemaRef> {
        let mut fields: Vec<Arc<Field>> = self.schema.fields().iter().cloned().collect();
        if self.with_sequence {
            fields.push(Arc::new(Field::new(
                SEQUENCE_COLUMN,
                DataType::UInt64,
                false,
            )));
        }
        let full = Schema::new_with_metadata(fields, self.schema.metadata().clone());
        match &self.projection {
            Some(p) => Ok(Arc::new(full.project(p)?)),
            None => Ok(Arc::new(full)),
        }
    }
}

/// The tablet versions of one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanGroup {
    /// The backend holding them.
    pub backend: BackendId,
    /// Its data address (`host:brpc_port`), empty for the backend of the planning process.
    pub address: String,
    /// Tablets and the version each is read at.
    pub tablets: Vec<(TabletId, u64)>,
    /// The bucket of each tablet, one per tablet (empty when not known).
    pub buckets: Vec<u32>,
}

/// The partitions of a scan that follow the table's buckets: partition
/// `t * partitions + i` reads the buckets at positions `i, i + partitions, …` of `sets[t]`,
/// so two tables bucketed alike, scanned with the same layout, hold the same key values in
/// the same partition (a colocated join needs no exchange). Each set is what one task of a
/// distributed plan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketLayout {
    /// The buckets of each task, in the order they are dealt to its partitions.
    pub sets: Vec<Vec<u32>>,
    /// Partitions per set.
    pub partitions: usize,
}

impl BucketLayout {
    /// Partitions in all.
    pub fn partition_count(&self) -> usize {
        self.sets.len() * self.partitions.max(1)
    }

    /// The partition that reads `bucket`, if the layout has it.
    pub fn partition_of(&self, bucket: u32) -> Option<usize> {
        let per = self.partitions.max(1);
        self.sets.iter().enumerate().find_map(|(t, set)| {
            set.iter()
                .position(|&b| b == bucket)
                .map(|i| t * per + i % per)
        })
    }

    /// The layouts of `tasks` tasks: task `t` reads the sets `t, t + tasks, …`, in order,
    /// as one set. Every scan with this layout splits the same way.
    pub fn split(&self, tasks: usize) -> Vec<BucketLayout> {
        let tasks = tasks.max(1);
        (0..tasks)
            .map(|t| BucketLayout {
                sets: vec![
                    self.sets
                        .iter()
                        .skip(t)
                        .step_by(tasks)
                        .flatten()
                        .copied()
                        .collect(),
                ],
                partitions: self.partitions,
            })
            .collect()
    }
}

/// The parts of each group a scan reads: those whose index is `offset` modulo `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartShare {
    /// The first part read.
    pub offset: usize,
    /// Every `stride`-th part from there (1: every part).
    pub stride: usize,
}

impl PartShare {
    /// Every part.
    pub const ALL: PartShare = PartShare {
        offset: 0,
        stride: 1,
    };

    /// How many of `parts` parts the share holds.
    pub fn count(&self, parts: usize) -> usize {
        parts
            .saturating_sub(self.offset)
            .div_ceil(self.stride.max(1))
    }

    /// The part the share's `i`-th is.
    pub fn part(&self, i: usize) -> usize {
        self.offset + i * self.stride.max(1)
    }
}

/// Reads tablet versions, wherever they are.
#[derive(Debug)]
pub struct TabletScanExec {
    spec: Arc<ScanSpec>,
    groups: Vec<ScanGroup>,
    /// The parts each group is cut into (what the backend is asked for).
    partitions_per_group: usize,
    /// The parts of each group this scan reads.
    share: PartShare,
    output_partitions: usize,
    /// Set when the partitions follow the buckets (then `partitions_per_group` and `share`
    /// are unused: partition `p` reads the tablets of every group that the layout deals
    /// to `p`).
    layout: Option<Arc<BucketLayout>>,
    statistics: Arc<Statistics>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl TabletScanExec {
    /// A scan of `groups`, each in `partitions_per_group` partitions, with at least
    /// `output_partitions` partitions in all (the ones past the groups' are empty).
    pub fn try_new(
        spec: Arc<ScanSpec>,
        groups: Vec<ScanGroup>,
        partitions_per_group: usize,
        output_partitions: usize,
        statistics: Statistics,
    ) -> DfResult<Self> {
        Self::try_new_shared(
            spec,
            groups,
            partitions_per_group,
            PartShare::ALL,
            output_partitions,
            statistics,
        )
    }

    /// A scan of `share` of the parts of `groups`, each cut in `partitions_per_group`
    /// parts, with at least `output_partitions` partitions in all.
    fn try_new_shared(
        spec: Arc<ScanSpec>,
        groups: Vec<ScanGroup>,
        partitions_per_group: usize,
        share: PartShare,
        output_partitions: usize,
        statistics: Statistics,
    ) -> DfResult<Self> {
        let partitions_per_group = partitions_per_group.max(1);
        let share = PartShare {
            offset: share.offset,
            stride: share.stride.max(1),
        };
        if share.count(partitions_per_group) == 0 {
            return Err(DataFusionError::Plan(format!(
                "a scan of parts {}+{}k of {partitions_per_group}",
                share.offset, share.stride
            )));
        }
        let output_partitions = output_partitions
            .max(groups.len() * share.count(partitions_per_group))
            .max(1);
        let schema = spec.output_schema()?;
        Ok(Self {
            properties: properties(
                &schema,
                Partitioning::UnknownPartitioning(output_partitions),
            ),
            spec,
            groups,
            partitions_per_group,
            share,
            output_partitions,
            layout: None,
            statistics: Arc::new(statistics),
            schema,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// A scan of `groups` whose partitions follow `layout`; its output is hash-partitioned
    /// on the distribution columns (by the bucket hash, not DataFusion's: only a plan that
    /// scans every side of a join with the same layout may rely on it).
    fn try_new_bucketed(
        spec: Arc<ScanSpec>,
        groups: Vec<ScanGroup>,
        layout: BucketLayout,
        statistics: Arc<Statistics>,
    ) -> DfResult<Self> {
        let keys = bucket_keys(&spec)?;
        if layout.sets.is_empty() || layout.partitions == 0 {
            return Err(DataFusionError::Plan("an empty bucket layout".to_string()));
        }
        for g in &groups {
            if g.buckets.len() != g.tablets.len() {
                return Err(DataFusionError::Plan(format!(
                    "a bucket-aligned scan of {} tablets with {} buckets",
                    g.tablets.len(),
                    g.buckets.len()
                )));
            }
            if let Some(b) = g
                .buckets
                .iter()
                .find(|&&b| layout.partition_of(b).is_none())
            {
                return Err(DataFusionError::Plan(format!(
                    "bucket {b} is not in the scan's layout"
                )));
            }
        }
        let schema = spec.output_schema()?;
        let count = layout.partition_count();
        Ok(Self {
            properties: properties(&schema, Partitioning::Hash(keys, count)),
            spec,
            groups,
            partitions_per_group: 1,
            share: PartShare::ALL,
            output_partitions: count,
            layout: Some(Arc::new(layout)),
            statistics,
            schema,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The same scan with its partitions following `layout` (only the tablets of the
    /// layout's buckets are read).
    pub fn with_layout(&self, layout: BucketLayout) -> DfResult<TabletScanExec> {
        let groups = self
            .groups
            .iter()
            .filter_map(|g| {
                let keep: Vec<usize> = (0..g.tablets.len())
                    .filter(|&i| {
                        g.buckets
                            .get(i)
                            .is_some_and(|&b| layout.partition_of(b).is_some())
                    })
                    .collect();
                (!keep.is_empty()).then(|| ScanGroup {
                    backend: g.backend,
                    address: g.address.clone(),
                    tablets: keep.iter().map(|&i| g.tablets[i]).collect(),
                    buckets: keep.iter().map(|&i| g.buckets[i]).collect(),
                })
            })
            .collect();
        TabletScanExec::try_new_bucketed(
            Arc::clone(&self.spec),
            groups,
            layout,
            Arc::clone(&self.statistics),
        )
    }

    /// Whether the partitions follow the buckets, and how.
    pub fn layout(&self) -> Option<&BucketLayout> {
        self.layout.as_deref()
    }

    /// The variants of a bucket-aligned scan for `tasks` tasks (see
    /// [`BucketLayout::split`]), each group holding only its task's buckets, the group
    /// with the most of them first (the task runs on its backend).
    pub fn split_by_buckets(&self, tasks: usize) -> DfResult<Vec<TabletScanExec>> {
        let Some(layout) = &self.layout else {
            return Err(DataFusionError::Plan(
                "a scan that does not follow its buckets cannot be split by them".to_string(),
            ));
        };
        layout
            .split(tasks)
            .into_iter()
            .map(|part| {
                let mut scan = self.with_layout(part)?;
                scan.groups
                    .sort_by_key(|g| (std::cmp::Reverse(g.tablets.len()), g.backend));
                Ok(scan)
            })
            .collect()
    }

    /// The group and the part of it that output partition `partition` reads, for a scan of
    /// whole groups; in a bucket-aligned scan of one group, that group and `partition`.
    pub fn locate(&self, partition: usize) -> Option<(usize, usize)> {
        if let Some(layout) = &self.layout {
            return (self.groups.len() == 1 && partition < layout.partition_count())
                .then_some((0, partition));
        }
        let per_group = self.share.count(self.partitions_per_group);
        let g = partition / per_group;
        (g < self.groups.len()).then(|| (g, self.share.part(partition % per_group)))
    }

    /// What is read.
    pub fn spec(&self) -> &Arc<ScanSpec> {
        &self.spec
    }

    /// The groups, one per backend.
    pub fn groups(&self) -> &[ScanGroup] {
        &self.groups
    }

    /// Partitions each group is read in.
    pub fn partitions_per_group(&self) -> usize {
        self.partitions_per_group
    }

    /// The parts of each group this scan reads.
    pub fn share(&self) -> PartShare {
        self.share
    }

    /// The same scan of `share` of one group's parts, with `output_partitions` partitions:
    /// what each of the tasks that split a group between them reads.
    pub fn with_share(
        &self,
        group: ScanGroup,
        share: PartShare,
        output_partitions: usize,
    ) -> DfResult<TabletScanExec> {
        TabletScanExec::try_new_shared(
            Arc::clone(&self.spec),
            vec![group],
            self.partitions_per_group,
            share,
            output_partitions,
            Statistics::new_unknown(&self.schema),
        )
    }

    /// Output partitions in all.
    pub fn output_partitions(&self) -> usize {
        self.output_partitions
    }

    /// The statistics of the whole scan.
    pub fn statistics(&self) -> &Arc<Statistics> {
        &self.statistics
    }

    /// The same scan restricted to some groups (every part of each), with
    /// `output_partitions` partitions.
    pub fn with_groups(
        &self,
        groups: Vec<ScanGroup>,
        output_partitions: usize,
    ) -> DfResult<TabletScanExec> {
        TabletScanExec::try_new(
            Arc::clone(&self.spec),
            groups,
            self.partitions_per_group,
            output_partitions,
            Statistics::new_unknown(&self.schema),
        )
    }

    /// The same scan of group `g` alone, its partitions numbered as in this scan's view
    /// of the group (what a ticket asks the group's backend for).
    fn single(&self, g: usize) -> DfResult<TabletScanExec> {
        let group = self.groups[g].clone();
        match &self.layout {
            Some(layout) => TabletScanExec::try_new_bucketed(
                Arc::clone(&self.spec),
                vec![group],
                (**layout).clone(),
                Arc::new(Statistics::new_unknown(&self.schema)),
            ),
            None => self.with_groups(vec![group], self.partitions_per_group),
        }
    }

    /// The wire form.
    pub fn to_node(&self) -> Result<pb::ScanNode, SqlError> {
        let spec = &self.spec;
        Ok(pb::ScanNode {
            table_id: spec.table_id.0,
            schema: wire::encode_schema(&spec.schema)?,
            has_projection: spec.projection.is_some(),
            projection: spec
                .projection
                .iter()
                .flatten()
                .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
            filters: spec
                .filters
                .iter()
                .map(wire::encode_expr)
                .collect::<Result<_, _>>()?,
            limit: spec.limit.map(|l| l as u64),
            with_sequence: spec.with_sequence,
            pushdown_filters: spec.pushdown_filters,
            partitions_per_group: u32::try_from(self.partitions_per_group).unwrap_or(u32::MAX),
            output_partitions: u32::try_from(self.output_partitions).unwrap_or(u32::MAX),
            groups: self
                .groups
                .iter()
                .map(|g| pb::ScanGroup {
                    backend_id: g.backend.0,
                    address: g.address.clone(),
                    tablets: wire::tablet_versions(&g.tablets),
                    buckets: g.buckets.clone(),
                })
                .collect(),
            statistics: wire::encode_statistics(&self.statistics),
            part_offset: u32::try_from(self.share.offset).unwrap_or(u32::MAX),
            part_stride: u32::try_from(self.share.stride).unwrap_or(u32::MAX),
            bucket_columns: spec
                .bucketing
                .iter()
                .flat_map(|b| &b.columns)
                .map(|&c| u32::try_from(c).unwrap_or(u32::MAX))
                .collect(),
            buckets: spec.bucketing.as_ref().map_or(0, |b| b.buckets),
            layout: self.layout.as_ref().map(|l| pb::BucketLayout {
                sets: l
                    .sets
                    .iter()
                    .map(|set| pb::BucketSet {
                        buckets: set.clone(),
                    })
                    .collect(),
                partitions: u32::try_from(l.partitions).unwrap_or(u32::MAX),
            }),
        })
    }

    /// From the wire form; the filters' functions resolve in `ctx`.
    pub fn from_node(node: &pb::ScanNode, ctx: &TaskContext) -> Result<Self, SqlError> {
        let schema = wire::decode_schema(&node.schema)?;
        let columns = schema.fields().len() + usize::from(node.with_sequence);
        let projection = if node.has_projection {
            let p: Vec<usize> = node.projection.iter().map(|&i| i as usize).collect();
            if let Some(bad) = p.iter().find(|&&i| i >= columns) {
                return Err(bad_message(format!(
                    "a scan projects column {bad} of {columns}"
                )));
            }
            Some(p)
        } else {
            None
        };
        let spec = ScanSpec {
            table_id: TableId(node.table_id),
            schema,
            projection,
            filters: node
                .filters
                .iter()
                .map(|f| wire::decode_expr(f, ctx))
                .collect::<Result<_, _>>()?,
            limit: node
                .limit
                .map(|l| usize::try_from(l).map_err(|_| bad_message("scan limit")))
                .transpose()?,
            with_sequence: node.with_sequence,
            pushdown_filters: node.pushdown_filters,
            bucketing: (node.buckets > 0).then(|| Bucketing {
                columns: node.bucket_columns.iter().map(|&c| c as usize).collect(),
                buckets: node.buckets,
            }),
        };
        if let Some(bad) = node
            .bucket_columns
            .iter()
            .find(|&&c| c as usize >= spec.schema.fields().len())
        {
            return Err(bad_message(format!(
                "a scan bucketed on column {bad} of {}",
                spec.schema.fields().len()
            )));
        }
        // Bounds keep a hostile node from asking for absurd work.
        const MAX_PARTITIONS: u32 = 1 << 16;
        if node.partitions_per_group == 0
            || node.partitions_per_group > MAX_PARTITIONS
            || node.output_partitions > MAX_PARTITIONS
            || node.part_offset >= node.partitions_per_group
            || node.part_stride > MAX_PARTITIONS
        {
            return Err(bad_message(format!(
                "a scan of {} partitions per group, {} in all",
                node.partitions_per_group, node.output_partitions
            )));
        }
        let groups = node
            .groups
            .iter()
            .map(|g| ScanGroup {
                backend: BackendId(g.backend_id),
                address: g.address.clone(),
                tablets: wire::from_tablet_versions(&g.tablets),
                buckets: g.buckets.clone(),
            })
            .collect();
        let statistics = if node.statistics.is_empty() {
            Statistics::new_unknown(spec.output_schema().map_err(SqlError::internal)?.as_ref())
        } else {
            wire::decode_statistics(&node.statistics)?
        };
        if let Some(layout) = &node.layout {
            let sets: Vec<Vec<u32>> = layout.sets.iter().map(|s| s.buckets.clone()).collect();
            let count = sets.len().saturating_mul(layout.partitions as usize);
            if count == 0 || count > MAX_PARTITIONS as usize {
                return Err(bad_message(format!(
                    "a bucket layout of {} sets in {} partitions each",
                    sets.len(),
                    layout.partitions
                )));
            }
            let layout = BucketLayout {
                sets,
                partitions: layout.partitions as usize,
            };
            return TabletScanExec::try_new_bucketed(
                Arc::new(spec),
                groups,
                layout,
                Arc::new(statistics),
            )
            .map_err(|e| bad_message(format!("scan: {e}")));
        }
        TabletScanExec::try_new_shared(
            Arc::new(spec),
            groups,
            node.partitions_per_group as usize,
            PartShare {
                offset: node.part_offset as usize,
                stride: node.part_stride.max(1) as usize,
            },
            node.output_partitions as usize,
            statistics,
        )
        .map_err(|e| bad_message(format!("scan: {e}")))
    }

    /// The request that reads one group on its backend.
    pub fn request(&self, group: &ScanGroup) -> ScanRequest {
        ScanRequest {
            table_id: self.spec.table_id,
            schema: Arc::clone(&self.spec.schema),
            tablets: group.tablets.clone(),
            projection: self.spec.projection.clone(),
            filters: self.spec.filters.clone(),
            limit: self.spec.limit,
            column_statistics: None,
            with_sequence: self.spec.with_sequence,
            options: match &self.layout {
                Some(layout) => ScanOptions {
                    target_partitions: layout.partition_count(),
                    pushdown_filters: self.spec.pushdown_filters,
                    parts: Some(
                        group
                            .buckets
                            .iter()
                            .map(|&b| layout.partition_of(b).unwrap_or(0))
                            .collect(),
                    ),
                },
                None => ScanOptions {
                    target_partitions: self.partitions_per_group,
                    pushdown_filters: self.spec.pushdown_filters,
                    parts: None,
                },
            },
        }
    }

    /// The ticket that asks a group's backend for one of its partitions.
    fn ticket(&self, g: usize, part: usize, ctx: &TaskContext) -> Result<pb::ScanTicket, SqlError> {
        let single = self.single(g).map_err(SqlError::internal)?;
        let mut settings = std::collections::HashMap::new();
        if let Some(tz) = &ctx.session_config().options().execution.time_zone {
            settings.insert("datafusion.execution.time_zone".to_string(), tz.clone());
        }
        Ok(pb::ScanTicket {
            node: Some(single.to_node()?),
            partition: u32::try_from(part).unwrap_or(u32::MAX),
            settings,
        })
    }
}

fn properties(schema: &SchemaRef, partitioning: Partitioning) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(Arc::clone(schema)),
        partitioning,
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

/// The distribution columns of the scanned table in the scan's output, in declared order;
/// an error when the table is not HASH-distributed or a column is not produced.
fn bucket_keys(spec: &ScanSpec) -> DfResult<Vec<Arc<dyn PhysicalExpr>>> {
    let Some(bucketing) = &spec.bucketing else {
        return Err(DataFusionError::Plan(format!(
            "table {} is not bucketed by hash",
            spec.table_id
        )));
    };
    let output = spec.output_schema()?;
    bucketing
        .columns
        .iter()
        .map(|&c| {
            let at = match &spec.projection {
                Some(p) => p.iter().position(|&i| i == c),
                None => (c < spec.schema.fields().len()).then_some(c),
            };
            match at {
                Some(i) => Ok(
                    Arc::new(datafusion::physical_expr::expressions::Column::new(
                        output.field(i).name(),
                        i,
                    )) as Arc<dyn PhysicalExpr>,
                ),
                None => Err(DataFusionError::Plan(format!(
                    "distribution column {c} of table {} is not scanned",
                    spec.table_id
                ))),
            }
        })
        .collect()
}

impl DisplayAs for TabletScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tablets: usize = self.groups.iter().map(|g| g.tablets.len()).sum();
        match t {
            DisplayFormatType::TreeRender => {
                writeln!(f, "table={}", self.spec.table_id)?;
                writeln!(f, "tablets={tablets}")
            }
            _ => {
                write!(
                    f,
                    "TabletScanExec: table={}, tablets={tablets}, backends=[",
                    self.spec.table_id
                )?;
                for (i, g) in self.groups.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}:{}", g.backend, g.tablets.len())?;
                }
                match &self.layout {
                    Some(layout) => write!(
                        f,
                        "], partitions={} by bucket ({}x{})",
                        layout.partition_count(),
                        layout.sets.len(),
                        layout.partitions
                    )?,
                    None => write!(
                        f,
                        "], partitions={}x{}",
                        self.groups.len(),
                        self.share.count(self.partitions_per_group)
                    )?,
                }
                if self.share != PartShare::ALL {
                    write!(
                        f,
                        " (parts {}+{}k of {})",
                        self.share.offset, self.share.stride, self.partitions_per_group
                    )?;
                }
                if let Some(p) = &self.spec.projection {
                    write!(f, ", projection={p:?}")?;
                }
                if !self.spec.filters.is_empty() {
                    let filters: Vec<String> =
                        self.spec.filters.iter().map(|e| e.to_string()).collect();
                    write!(f, ", filters=[{}]", filters.join(", "))?;
                }
                if let Some(l) = self.spec.limit {
                    write!(f, ", limit={l}")?;
                }
                Ok(())
            }
        }
    }
}

impl ExecutionPlan for TabletScanExec {
    fn name(&self) -> &str {
        "TabletScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "TabletScanExec has no children".to_string(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let bytes = MetricBuilder::new(&self.metrics).counter("bytes_scanned", partition);
        let schema = Arc::clone(&self.schema);
        // The (group, part) pieces this partition reads: one part of one group, or in a
        // bucket-aligned scan the same partition of every group holding its buckets.
        let pieces: Vec<(usize, usize)> = match &self.layout {
            Some(layout) => self
                .groups
                .iter()
                .enumerate()
                .filter(|(_, g)| {
                    g.buckets
                        .iter()
                        .any(|&b| layout.partition_of(b) == Some(partition))
                })
                .map(|(g, _)| (g, partition))
                .collect(),
            None => self.locate(partition).into_iter().collect(),
        };
        if pieces.is_empty() {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        }
        let runtime = ScanRuntime::of(&context).map_err(external)?;
        let mut scans: Vec<futures::future::BoxFuture<'static, Result<ScanStream, SqlError>>> =
            Vec::with_capacity(pieces.len());
        for (g, part) in pieces {
            let group = &self.groups[g];
            scans.push(match &runtime.local {
                Some((id, local)) if *id == group.backend => {
                    let result = local.scan_local(self.request(group), part, Arc::clone(&context));
                    Box::pin(async move { result })
                }
                _ => {
                    let ticket = self.ticket(g, part, &context).map_err(external)?;
                    let backend = runtime
                        .backends
                        .backend(group.backend, &group.address)
                        .map_err(external)?;
                    Box::pin(async move { backend.scan(ticket).await })
                }
            });
        }
        let stream = futures::stream::iter(scans)
            .then(move |scan| {
                let bytes = bytes.clone();
                async move {
                    let scan = scan.await.map_err(external)?;
                    let counters = Arc::clone(&scan.counters);
                    let batches = scan.batches.map_err(external);
                    let done = futures::stream::once(async move {
                        bytes.add(counters.bytes.load(Ordering::Relaxed) as usize);
                        None
                    });
                    Ok::<_, DataFusionError>(
                        batches
                            .map(Some)
                            .chain(done)
                            .filter_map(|b| async move { b }),
                    )
                }
            })
            .try_flatten()
            .map(move |b| {
                if let Ok(batch) = &b {
                    baseline.record_output(batch.num_rows());
                }
                b
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        match partition {
            None => Ok(Arc::clone(&self.statistics)),
            Some(_) => Ok(Arc::new(Statistics::new_unknown(&self.schema))),
        }
    }
}

fn external(e: SqlError) -> DataFusionError {
    crate::plan_error(e)
}
