//! Tablet scans: the segment files of the requested tablet versions, read through
//! DataFusion's Parquet source with projection, limit and statistics pruning.
//!
//! Segment files keep the column names they were written with and carry each column's
//! unique id in the Arrow field metadata. [`ColumnIdAdapterFactory`] maps the table's current
//! columns onto a file's columns by id, so renamed columns still resolve, dropped columns
//! are ignored, columns added after the file was written read as their fill value (the
//! default at `ADD COLUMN` time) and changed types are cast.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::parquet::{
    CachedParquetFileReaderFactory, ParquetFileReaderFactory, ParquetRowSelection,
};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::context::ExecutionProps;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal, lit};
use datafusion::physical_expr_adapter::{PhysicalExprAdapter, PhysicalExprAdapterFactory};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, PhysicalExpr};
use futures::StreamExt;
use rigel_be_api::{
    FILL_METADATA_KEY, SEQUENCE_COLUMN, ScanCounters, ScanRequest, ScanStream, TabletScanStats,
};
use rigel_common::SqlError;
use rigel_common::ids::{TableId, TabletId};
use rigel_common::types::COLUMN_ID_METADATA_KEY;
use rigel_storage::{RowsetMeta, Snapshot, StorageEngine};

use crate::metrics::BeMetrics;
use crate::storage_error;

/// Parquet footers and page indexes of segment files, shared by all scans (segment files
/// never change, so entries stay valid until evicted).
#[derive(Clone)]
pub struct SegmentReaders {
    factory: Arc<dyn ParquetFileReaderFactory>,
}

impl std::fmt::Debug for SegmentReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentReaders").finish_non_exhaustive()
    }
}

impl SegmentReaders {
    /// Readers caching up to `cache_bytes` of metadata.
    pub fn new(cache_bytes: usize) -> Result<Self, SqlError> {
        let store = RuntimeEnv::default()
            .object_store(ObjectStoreUrl::local_filesystem())
            .map_err(SqlError::internal)?;
        let cache: Arc<FileMetadataCache> = Arc::new(DefaultCache::new(cache_bytes));
        Ok(Self {
            factory: Arc::new(CachedParquetFileReaderFactory::new(store, cache)),
        })
    }
}

/// Builds the scan plan of a request.
pub fn build_scan(
    engine: &StorageEngine,
    readers: &SegmentReaders,
    req: ScanRequest,
) -> Result<Arc<dyn ExecutionPlan>, SqlError> {
    // One instant for all tablets: a load being published shows in all or none.
    let snapshots = engine
        .read_snapshots(&req.tablets)
        .map_err(|e| storage_error(&e))?;
    let mut files = vec![];
    for (i, ((tablet, _), snapshot)) in req.tablets.iter().zip(&snapshots).enumerate() {
        let part = req.options.parts.as_ref().and_then(|p| p.get(i).copied());
        files.extend(
            segment_files(engine, *tablet, &snapshot.rowsets, Some(snapshot))
                .into_iter()
                .map(|f| SegmentFile { part, ..f }),
        );
    }
    plan_files(files, req, Some(readers))
}

/// What scanning each tablet version reads: live rows, bytes and files.
pub(crate) fn describe(
    engine: &StorageEngine,
    tablets: &[(TabletId, u64)],
) -> Result<Vec<TabletScanStats>, SqlError> {
    let snapshots = engine
        .read_snapshots(tablets)
        .map_err(|e| storage_error(&e))?;
    Ok(tablets
        .iter()
        .zip(&snapshots)
        .map(|((tablet, _), snapshot)| {
            let files = segment_files(engine, *tablet, &snapshot.rowsets, Some(snapshot));
            TabletScanStats {
                tablet: *tablet,
                rows: files.iter().map(|f| f.rows).sum(),
                bytes: files.iter().map(|f| f.bytes).sum(),
                files: files.len() as u64,
            }
        })
        .collect())
}

/// Runs one partition of a scan: the request's tablets cut into
/// `options.target_partitions` partitions (those past the files are empty), counting what
/// it reads into `metrics` when it ends.
pub(crate) fn scan_partition(
    engine: &StorageEngine,
    readers: &SegmentReaders,
    request: ScanRequest,
    partition: usize,
    ctx: Arc<TaskContext>,
    metrics: Arc<BeMetrics>,
) -> Result<ScanStream, SqlError> {
    let plan = build_scan(engine, readers, request)?;
    run_partition(plan, partition, ctx, metrics)
}

/// Runs one partition of a built scan plan (which its other partitions may share).
pub(crate) fn run_partition(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
    ctx: Arc<TaskContext>,
    metrics: Arc<BeMetrics>,
) -> Result<ScanStream, SqlError> {
    let ctx = one_partition_context(&ctx);
    let schema = plan.schema();
    let counters = Arc::new(ScanCounters::default());
    if partition >= plan.output_partitioning().partition_count() {
        return Ok(ScanStream {
            schema,
            batches: Box::pin(futures::stream::empty()),
            counters,
        });
    }
    let stream = plan
        .execute(partition, ctx)
        .map_err(|e| SqlError::internal(e.to_string()))?;
    let rows = Arc::clone(&counters);
    let done = Arc::clone(&counters);
    let batches = stream
        .map(move |b| {
            Some(match b {
                Ok(batch) => {
                    rows.rows
                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    Ok(batch)
                }
                Err(e) => Err(crate::df_to_sql(e)),
            })
        })
        .chain(futures::stream::once(async move {
            // This partition's bytes only: the plan may serve its siblings too.
            let bytes = plan.metrics().map_or(0, |m| {
                m.iter()
                    .filter(|x| x.partition() == Some(partition))
                    .filter(|x| x.value().name() == "bytes_scanned")
                    .map(|x| x.value().as_usize() as u64)
                    .sum()
            });
            done.bytes.store(bytes, Ordering::Relaxed);
            metrics
                .query_scan_rows
                .increment(done.rows.load(Ordering::Relaxed));
            metrics.query_scan_bytes.increment(bytes);
            None
        }))
        .filter_map(|b| async move { b });
    Ok(ScanStream {
        schema,
        batches: Box::pin(batches),
        counters,
    })
}

/// `ctx` for a plan of which only one partition runs: DataFusion's file streams steal
/// files from their sibling partitions when those run in the same plan instance; here each
/// partition is a plan of its own (one per ticket), so a stealing stream would read its
/// siblings' files too.
fn one_partition_context(ctx: &TaskContext) -> Arc<TaskContext> {
    let mut config = ctx.session_config().clone();
    config
        .options_mut()
        .execution
        .enable_file_stream_work_stealing = false;
    Arc::new(TaskContext::new(
        ctx.task_id(),
        ctx.session_id(),
        config,
        ctx.scalar_functions().clone(),
        ctx.higher_order_functions().clone(),
        ctx.aggregate_functions().clone(),
        ctx.window_functions().clone(),
        ctx.runtime_env(),
    ))
}

/// The rows of exactly these rowsets of one tablet, segments in the order they were written
/// (what compaction and DELETE rewrite), without the rows `snapshot` deletes.
pub(crate) fn read_rowsets(
    engine: &StorageEngine,
    schema: SchemaRef,
    tablet: TabletId,
    rowsets: &[Arc<RowsetMeta>],
    snapshot: Option<&Snapshot>,
) -> Result<SendableRecordBatchStream, SqlError> {
    let request = ScanRequest {
        table_id: TableId(0),
        schema,
        tablets: vec![],
        projection: None,
        filters: vec![],
        limit: None,
        column_statistics: None,
        with_sequence: false,
        options: rigel_be_api::ScanOptions {
            target_partitions: 1,
            pushdown_filters: false,
            parts: None,
        },
    };
    // One partition: the files in write order.
    plan_files(
        segment_files(engine, tablet, rowsets, snapshot),
        request,
        None,
    )?
    .execute(0, Arc::new(TaskContext::default()))
    .map_err(|e| SqlError::internal(e.to_string()))
}

fn segment_files(
    engine: &StorageEngine,
    tablet: TabletId,
    rowsets: &[Arc<RowsetMeta>],
    snapshot: Option<&Snapshot>,
) -> Vec<SegmentFile> {
    let mut files = vec![];
    for rowset in rowsets {
        let version = rowset.version.unwrap_or_default();
        for (i, seg) in rowset.segments.iter().enumerate() {
            let deleted = snapshot.and_then(|s| s.deleted(rowset.rowset_id, i));
            let deleted_rows = deleted.map_or(0, |d| d.len() as u64);
            if deleted_rows >= seg.rows {
                continue;
            }
            let path = engine.segment_path(tablet, &seg.name);
            files.push(SegmentFile {
                path: path.to_string_lossy().into_owned(),
                bytes: seg.bytes,
                rows: seg.rows - deleted_rows,
                sequence: (version << 16) | (i as u64).min(0xffff),
                selection: deleted.map(|d| live_rows(d, seg.rows)),
                part: None,
            });
        }
    }
    files
}

/// The rows of a segment of `rows` rows that are not in `deleted` (sorted).
fn live_rows(deleted: &[u32], rows: u64) -> RowSelection {
    let mut selectors = Vec::with_capacity(deleted.len() * 2 + 1);
    let mut next = 0usize;
    for &d in deleted {
        let d = d as usize;
        if d >= rows as usize {
            break;
        }
        if d > next {
            selectors.push(RowSelector::select(d - next));
        }
        selectors.push(RowSelector::skip(1));
        next = d + 1;
    }
    if (rows as usize) > next {
        selectors.push(RowSelector::select(rows as usize - next));
    }
    // Merges adjacent skips.
    RowSelection::from(selectors)
}

fn plan_files(
    files: Vec<SegmentFile>,
    req: ScanRequest,
    readers: Option<&SegmentReaders>,
) -> Result<Arc<dyn ExecutionPlan>, SqlError> {
    let sequence_field = Arc::new(Field::new(SEQUENCE_COLUMN, DataType::UInt64, false));
    let output_schema = if req.with_sequence {
        let mut fields: Vec<Arc<Field>> = req.schema.fields().iter().cloned().collect();
        fields.push(Arc::clone(&sequence_field));
        Arc::new(Schema::new(fields))
    } else {
        Arc::clone(&req.schema)
    };
    let projected_schema = match &req.projection {
        Some(p) => Arc::new(output_schema.project(p).map_err(SqlError::internal)?),
        None => output_schema,
    };
    if files.is_empty() {
        return Ok(Arc::new(EmptyExec::new(projected_schema)));
    }
    // Exact row counts let the optimizer pick join sides and answer count(*) from metadata.
    let total_rows: u64 = files.iter().map(|f| f.rows).sum();
    let total_bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let table_stats = Statistics {
        num_rows: Precision::Exact(total_rows as usize),
        total_byte_size: Precision::Inexact(total_bytes as usize),
        column_statistics: match &req.column_statistics {
            Some(c) if c.len() == req.schema.fields().len() => c.clone(),
            _ => Statistics::unknown_column(&req.schema),
        },
    };
    let groups = match &req.options.parts {
        Some(_) => by_part(
            files,
            req.options.target_partitions.max(1),
            &req.schema,
            req.with_sequence,
        )?,
        None => balance(
            files,
            req.options.target_partitions.max(1),
            &req.schema,
            req.with_sequence,
        ),
    };

    let mut table_schema = TableSchemaBuilder::new(Arc::clone(&req.schema));
    if req.with_sequence {
        table_schema = table_schema.with_table_partition_cols(vec![sequence_field]);
    }
    let mut source = ParquetSource::new(table_schema.build())
        .with_enable_page_index(true)
        .with_pushdown_filters(req.options.pushdown_filters);
    if let Some(predicate) = physical_predicate(&req.schema, &req.filters) {
        source = source.with_predicate(predicate);
    }
    if let Some(r) = readers {
        source = source.with_parquet_file_reader_factory(Arc::clone(&r.factory));
    }
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_groups(groups)
        .with_statistics(table_stats)
        .with_projection_indices(req.projection.clone())
        .map_err(SqlError::internal)?
        .with_limit(req.limit)
        .with_expr_adapter(Some(Arc::new(ColumnIdAdapterFactory)))
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// One segment file to scan.
struct SegmentFile {
    path: String,
    bytes: u64,
    rows: u64,
    /// The value of [`SEQUENCE_COLUMN`] for its rows.
    sequence: u64,
    /// The rows to read when some are deleted (PRIMARY KEY tablets).
    selection: Option<RowSelection>,
    /// The partition it is read in, when the request assigns its tablet one.
    part: Option<usize>,
}

/// The file DataFusion reads for a segment file.
fn partitioned_file(f: SegmentFile, schema: &SchemaRef, with_sequence: bool) -> PartitionedFile {
    let stats = Statistics {
        num_rows: Precision::Exact(f.rows as usize),
        total_byte_size: Precision::Inexact(f.bytes as usize),
        column_statistics: Statistics::unknown_column(schema),
    };
    let mut file = PartitionedFile::new(f.path, f.bytes).with_statistics(Arc::new(stats));
    if with_sequence {
        file.partition_values = vec![ScalarValue::UInt64(Some(f.sequence))];
    }
    if let Some(selection) = f.selection {
        file = file.with_extension(ParquetRowSelection::new(selection));
    }
    file
}

/// Groups of files, within each the segments in the order they were written.
fn file_groups(groups: Vec<Vec<(u64, PartitionedFile)>>) -> Vec<FileGroup> {
    groups
        .into_iter()
        .map(|mut files| {
            files.sort_by_key(|(sequence, _)| *sequence);
            FileGroup::new(files.into_iter().map(|(_, f)| f).collect())
        })
        .collect()
}

/// Spreads files over `n` groups, largest first onto the lightest group.
fn balance(
    mut files: Vec<SegmentFile>,
    n: usize,
    schema: &SchemaRef,
    with_sequence: bool,
) -> Vec<FileGroup> {
    files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    let n = n.min(files.len()).max(1);
    let mut weights = vec![0u64; n];
    let mut groups: Vec<Vec<(u64, PartitionedFile)>> = (0..n).map(|_| vec![]).collect();
    for f in files {
        let Some((lightest, _)) = weights.iter().enumerate().min_by_key(|(_, w)| **w) else {
            break;
        };
        weights[lightest] += f.bytes;
        let sequence = f.sequence;
        groups[lightest].push((sequence, partitioned_file(f, schema, with_sequence)));
    }
    file_groups(groups)
}

/// Puts every file in the partition the request gave its tablet: `n` groups, some of
/// them empty.
fn by_part(
    files: Vec<SegmentFile>,
    n: usize,
    schema: &SchemaRef,
    with_sequence: bool,
) -> Result<Vec<FileGroup>, SqlError> {
    let mut groups: Vec<Vec<(u64, PartitionedFile)>> = (0..n).map(|_| vec![]).collect();
    for f in files {
        let Some(group) = f.part.and_then(|p| groups.get_mut(p)) else {
            return Err(rigel_be_api::wire::bad_message(format!(
                "a scan in {n} partitions puts a tablet in partition {:?}",
                f.part
            )));
        };
        let sequence = f.sequence;
        group.push((sequence, partitioned_file(f, schema, with_sequence)));
    }
    Ok(file_groups(groups))
}

/// Turns the pushed-down filters into one physical predicate; filters that cannot be
/// converted are skipped (they only prune, DataFusion re-applies every filter).
fn physical_predicate(schema: &SchemaRef, filters: &[Expr]) -> Option<Arc<dyn PhysicalExpr>> {
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).ok()?;
    let props = ExecutionProps::new();
    let exprs: Vec<Arc<dyn PhysicalExpr>> = filters
        .iter()
        .filter_map(|f| create_physical_expr(f, &df_schema, &props, &Default::default()).ok())
        .collect();
    exprs.into_iter().reduce(|a, b| {
        Arc::new(datafusion::physical_expr::expressions::BinaryExpr::new(
            a,
            datafusion::logical_expr::Operator::And,
            b,
        ))
    })
}

fn column_id(schema: &Schema, idx: usize) -> Option<&str> {
    schema
        .fields()
        .get(idx)?
        .metadata()
        .get(COLUMN_ID_METADATA_KEY)
        .map(String::as_str)
}

/// Maps table columns onto segment-file columns by column id.
#[derive(Debug, Clone)]
pub struct ColumnIdAdapterFactory;

impl PhysicalExprAdapterFactory for ColumnIdAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> DfResult<Arc<dyn PhysicalExprAdapter>> {
        Ok(Arc::new(ColumnIdAdapter {
            logical: logical_file_schema,
            physical: physical_file_schema,
        }))
    }
}

#[derive(Debug)]
struct ColumnIdAdapter {
    logical: SchemaRef,
    physical: SchemaRef,
}

impl ColumnIdAdapter {
    fn physical_index(&self, logical_idx: usize, name: &str) -> Option<usize> {
        match column_id(&self.logical, logical_idx) {
            Some(id) => (0..self.physical.fields().len())
                .find(|&j| column_id(&self.physical, j) == Some(id)),
            // Schemas without ids (never written by Rigel) match by name.
            None => self.physical.index_of(name).ok(),
        }
    }

    fn fill_value(&self, logical_idx: usize) -> DfResult<ScalarValue> {
        let field = self.logical.field(logical_idx);
        let null = ScalarValue::try_from(field.data_type())?;
        match field.metadata().get(FILL_METADATA_KEY) {
            Some(text) => ScalarValue::Utf8(Some(text.clone())).cast_to(field.data_type()),
            None => Ok(null),
        }
    }
}

impl PhysicalExprAdapter for ColumnIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> DfResult<Arc<dyn PhysicalExpr>> {
        expr.transform(|e| {
            let Some(col) = e.downcast_ref::<Column>() else {
                return Ok(Transformed::no(e));
            };
            let logical_idx = match self.logical.index_of(col.name()) {
                Ok(i) => i,
                Err(_) => return Ok(Transformed::no(e)),
            };
            let target: &DataType = self.logical.field(logical_idx).data_type();
            match self.physical_index(logical_idx, col.name()) {
                Some(j) => {
                    let pfield = self.physical.field(j);
                    let new_col: Arc<dyn PhysicalExpr> = Arc::new(Column::new(pfield.name(), j));
                    if pfield.data_type() == target {
                        Ok(Transformed::yes(new_col))
                    } else {
                        Ok(Transformed::yes(Arc::new(CastExpr::new(
                            new_col,
                            target.clone(),
                            None,
                        ))))
                    }
                }
                None => {
                    let value = self.fill_value(logical_idx)?;
                    let l: Arc<dyn PhysicalExpr> = lit(value);
                    debug_assert!(l.downcast_ref::<Literal>().is_some());
                    Ok(Transformed::yes(l))
                }
            }
        })
        .data()
    }
}
