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
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(output_partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            spec,
            groups,
            partitions_per_group,
            share,
            output_partitions,
            statistics: Arc::new(statistics),
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
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
                })
                .collect(),
            statistics: wire::encode_statistics(&self.statistics),
            part_offset: u32::try_from(self.share.offset).unwrap_or(u32::MAX),
            part_stride: u32::try_from(self.share.stride).unwrap_or(u32::MAX),
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
        };
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
            })
            .collect();
        let statistics = if node.statistics.is_empty() {
            Statistics::new_unknown(spec.output_schema().map_err(SqlError::internal)?.as_ref())
        } else {
            wire::decode_statistics(&node.statistics)?
        };
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
            options: ScanOptions {
                target_partitions: self.partitions_per_group,
                pushdown_filters: self.spec.pushdown_filters,
            },
        }
    }

    /// The ticket that asks a group's backend for one of its partitions.
    fn ticket(&self, g: usize, part: usize, ctx: &TaskContext) -> Result<pb::ScanTicket, SqlError> {
        let group = self.groups[g].clone();
        let single = self
            .with_groups(vec![group], self.partitions_per_group)
            .map_err(SqlError::internal)?;
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
                write!(
                    f,
                    "], partitions={}x{}",
                    self.groups.len(),
                    self.share.count(self.partitions_per_group)
                )?;
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
        let per_group = self.share.count(self.partitions_per_group);
        let g = partition / per_group;
        let part = self.share.part(partition % per_group);
        let Some(group) = self.groups.get(g) else {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        };
        let runtime = ScanRuntime::of(&context).map_err(external)?;
        let scan: futures::future::BoxFuture<'static, Result<ScanStream, SqlError>> =
            match &runtime.local {
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
            };
        let stream = futures::stream::once(async move {
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
