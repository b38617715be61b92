//! Stream Load: `curl -T data.csv http://host:8040/api/db/table/_stream_load`.
//!
//! ```text
//!  HTTP body ──► reader task ──(chunks)──► parser threads: decompress, split rows,
//!                                          map columns, convert, filter (see `parse`)
//!                                              │ (table batches in input order, bounded)
//!                                              ▼
//!                                          writer task: backend sink (route, sort, encode)
//! ```
//!
//! The stages overlap, so parsing and encoding use both cores, and every channel is
//! bounded, so memory stays bounded however large the body. The load is one transaction:
//! all rows become visible at once, or none (on failure, timeout or a cut-off body).

mod csv;
mod json;
mod options;
mod parse;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int8Array, RecordBatch, new_null_array,
};
use datafusion::arrow::compute::{and, filter, is_not_null};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::sqlparser::ast::ExprWithAlias;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use parking_lot::Mutex;
use rigel_be_api::{OP_COLUMN, OP_DELETE, OP_UPSERT, UpdateRule, WriteTarget};
use rigel_common::convert::{RowError, TargetColumn, TextColumn, convert_column, convert_text};
use rigel_common::ids::{DbId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_http::{BackendHttp, Reply, StreamLoadRequest};
use rigel_sql::sqlparser::ast;
use rigel_sql::{DefaultValue, KeysType, Privilege};
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::Frontend;
use crate::catalog::{OlapTable, Table};
use crate::planner::SessionView;
use csv::{BadRow, Columns, Split, TextFields};
use options::{ColumnItem, Format, LoadOptions};

/// Parsed blocks that may wait for the writer.
const PARSED_QUEUE: usize = 8;
/// Recent load jobs kept for SHOW LOAD.
const MAX_JOBS: usize = 1000;
/// How long error logs are served.
pub const ERROR_LOG_KEEP: Duration = Duration::from_secs(48 * 3600);

/// A load job, for SHOW LOAD and information_schema.loads.
#[derive(Debug, Clone)]
pub struct LoadJob {
    /// Transaction id (the job id).
    pub txn: TxnId,
    /// Label.
    pub label: String,
    /// Database.
    pub db: String,
    /// Table.
    pub table: String,
    /// `STREAM_LOAD` or `INSERT`.
    pub kind: &'static str,
    /// `LOADING`, `FINISHED` or `CANCELLED`.
    pub state: &'static str,
    /// Rows read.
    pub total: u64,
    /// Rows loaded.
    pub loaded: u64,
    /// Rows rejected.
    pub filtered: u64,
    /// Rows not selected by `where`.
    pub unselected: u64,
    /// Failure reason.
    pub error: String,
    /// Error log URL.
    pub error_url: String,
    /// Start (ms).
    pub created_ms: i64,
    /// End (ms).
    pub finished_ms: i64,
}

impl LoadJob {
    /// The progress column of SHOW LOAD and information_schema.loads.
    pub fn progress(&self) -> &'static str {
        if self.state == "FINISHED" {
            "100%"
        } else {
            "0%"
        }
    }
}

/// Labels in use and recent jobs.
#[derive(Debug, Default)]
pub struct LoadRegistry {
    running: Mutex<HashMap<(DbId, String), TxnId>>,
    jobs: Mutex<VecDeque<LoadJob>>,
}

impl LoadRegistry {
    /// Records a finished (or failed) job.
    pub fn record(&self, job: LoadJob) {
        let mut jobs = self.jobs.lock();
        jobs.push_back(job);
        while jobs.len() > MAX_JOBS {
            jobs.pop_front();
        }
    }

    /// Recent jobs, oldest first.
    pub fn jobs(&self) -> Vec<LoadJob> {
        self.jobs.lock().iter().cloned().collect()
    }
}

/// Why a label cannot be used.
#[derive(Debug, Clone)]
pub struct LabelInUse {
    /// `RUNNING` or `FINISHED`.
    pub status: &'static str,
    /// Its transaction.
    pub txn: TxnId,
}

/// A reserved label; dropping it releases the reservation.
pub struct LabelGuard {
    fe: Arc<Frontend>,
    key: (DbId, String),
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        self.fe.loads.running.lock().remove(&self.key);
    }
}

impl Frontend {
    /// Reserves `label` in `db` for `txn`: it must be neither running nor committed within
    /// `label_keep_max_second`. Atomic, so two racing requests cannot both get it.
    pub(crate) fn reserve_label(
        self: &Arc<Self>,
        db: DbId,
        label: &str,
        txn: TxnId,
    ) -> Result<LabelGuard, LabelInUse> {
        let key = (db, label.to_string());
        let mut running = self.loads.running.lock();
        if let Some(t) = running.get(&key) {
            return Err(LabelInUse {
                status: "RUNNING",
                txn: *t,
            });
        }
        let keep_ms = self.config.read().label_keep_max_second as i64 * 1000;
        let committed = self
            .catalog()
            .read()
            .labels
            .get(&db)
            .and_then(|m| m.get(label).copied());
        if let Some((t, at)) = committed
            && crate::now_ms() - at < keep_ms
        {
            return Err(LabelInUse {
                status: "FINISHED",
                txn: t,
            });
        }
        running.insert(key.clone(), txn);
        Ok(LabelGuard {
            fe: Arc::clone(self),
            key,
        })
    }
}

/// Where each table column comes from.
enum ColSource {
    Source(usize),
    Expr(Arc<dyn PhysicalExpr>),
    Default,
}

impl ColSource {
    /// The column's raw values for the rows of `source`; `default` (else NULLs of `ty`)
    /// when the load does not give the column.
    fn evaluate(
        &self,
        source: Option<&RecordBatch>,
        n: usize,
        default: &Option<ScalarValue>,
        ty: &DataType,
    ) -> Result<ArrayRef, SqlError> {
        let source = || source.ok_or_else(|| SqlError::internal("load source rows not built"));
        match self {
            ColSource::Source(i) => Ok(Arc::clone(source()?.column(*i))),
            ColSource::Expr(e) => e
                .evaluate(source()?)
                .and_then(|v| v.into_array(n))
                .map_err(crate::error::df_error),
            ColSource::Default => match default {
                Some(v) => v.to_array_of_size(n).map_err(crate::error::df_error),
                None => Ok(new_null_array(ty, n)),
            },
        }
    }
}

/// Everything the parser thread needs, decided before the body is read.
struct LoadPlan {
    olap: OlapTable,
    source_names: Vec<String>,
    source_schema: SchemaRef,
    columns: Vec<ColSource>,
    defaults: Vec<Option<ScalarValue>>,
    where_expr: Option<Arc<dyn PhysicalExpr>>,
    /// PRIMARY KEY tables: where each row's `__op` comes from (`None`: every row upserts).
    op: Option<ColSource>,
    typed_schema: SchemaRef,
    target: Arc<WriteTarget>,
    strict: bool,
    options: LoadOptions,
}

/// The rows of one block after conversion.
struct Processed {
    batch: RecordBatch,
    total: usize,
    unselected: usize,
    bad: Vec<BadRow>,
    bad_count: usize,
}

fn load_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, msg)
}

/// Wraps source-column operands of arithmetic in `CAST(… AS DOUBLE)`: source fields are text,
/// and StarRocks computes `tmp * 100` numerically.
fn numeric_source_operands(expr: &mut ast::Expr, source: &[String]) {
    use std::ops::ControlFlow;
    let _ = ast::visit_expressions_mut(expr, |e| {
        if let ast::Expr::BinaryOp { left, op, right } = e
            && matches!(
                op,
                ast::BinaryOperator::Plus
                    | ast::BinaryOperator::Minus
                    | ast::BinaryOperator::Multiply
                    | ast::BinaryOperator::Divide
                    | ast::BinaryOperator::Modulo
            )
        {
            for side in [left, right] {
                if let ast::Expr::Identifier(id) = side.as_ref()
                    && source.iter().any(|s| s.eq_ignore_ascii_case(&id.value))
                {
                    let inner = side.as_ref().clone();
                    **side = ast::Expr::Cast {
                        kind: ast::CastKind::Cast,
                        expr: Box::new(inner),
                        data_type: ast::DataType::Double(ast::ExactNumberInfo::None),
                        array: false,
                        format: None,
                    };
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn physical(
    state: &SessionState,
    text: &str,
    schema: &SchemaRef,
    source: Option<&[String]>,
) -> Result<Arc<dyn PhysicalExpr>, SqlError> {
    let mut expr = rigel_sql::parse_expr(text)?;
    if let Some(source) = source {
        numeric_source_operands(&mut expr, source);
    }
    crate::planner::rewrite_mysql_expr(&mut expr);
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(crate::error::df_error)?;
    let logical = state
        .create_logical_expr_from_sql_expr(ExprWithAlias { expr, alias: None }, &df_schema)
        .map_err(crate::error::df_error)?;
    datafusion::catalog::Session::create_physical_expr(state, logical, &df_schema)
        .map_err(crate::error::df_error)
}

impl LoadPlan {
    fn new(
        fe: &Frontend,
        table: &Table,
        olap: &OlapTable,
        options: LoadOptions,
        session: &SessionView,
    ) -> Result<Self, SqlError> {
        let (state, _) = fe.env.state(session, 0);
        // Source fields.
        let (source_names, derived): (Vec<String>, Vec<(String, String)>) = match &options.columns {
            Some(items) => {
                let mut src = vec![];
                let mut der = vec![];
                for item in items {
                    match item {
                        ColumnItem::Source(n) => src.push(n.clone()),
                        ColumnItem::Derived(n, e) => der.push((n.clone(), e.clone())),
                    }
                }
                (src, der)
            }
            None => {
                let mut names: Vec<String> = olap.columns.iter().map(|c| c.name.clone()).collect();
                // JSON fields are picked by name: a `__op` field says what a row does.
                if olap.keys_type == KeysType::Primary && options.format == Format::Json {
                    names.push(OP_COLUMN.to_string());
                }
                (names, vec![])
            }
        };
        let primary = olap.keys_type == KeysType::Primary;
        let op = if let Some((_, text)) = derived.iter().find(|(n, _)| n == OP_COLUMN) {
            Some(ColSource::Expr(physical(
                &state,
                text,
                &source_schema_of(&source_names),
                Some(&source_names),
            )?))
        } else {
            source_names
                .iter()
                .position(|n| n == OP_COLUMN)
                .map(ColSource::Source)
        };
        if op.is_some() && !primary {
            return Err(load_error(format!(
                "'{OP_COLUMN}' in header 'columns' is only for PRIMARY KEY tables"
            )));
        }
        let source_schema = source_schema_of(&source_names);
        for (name, _) in &derived {
            if olap.column(name).is_none() && name != OP_COLUMN {
                return Err(load_error(format!(
                    "column '{name}' in header 'columns' is not a column of the table"
                )));
            }
        }
        let mut columns = vec![];
        let mut defaults = vec![];
        for col in &olap.columns {
            let src = if let Some((_, text)) = derived
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&col.name))
            {
                ColSource::Expr(physical(&state, text, &source_schema, Some(&source_names))?)
            } else if let Some(i) = source_names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(&col.name))
            {
                ColSource::Source(i)
            } else {
                ColSource::Default
            };
            let default = match (&src, &col.default) {
                (ColSource::Default, Some(DefaultValue::Literal(v))) => Some(
                    ScalarValue::Utf8(Some(v.clone()))
                        .cast_to(&col.ty.to_arrow())
                        .map_err(crate::error::df_error)?,
                ),
                (ColSource::Default, Some(DefaultValue::CurrentTimestamp)) => {
                    let now = physical(&state, "now()", &source_schema, None)?;
                    let v = now
                        .evaluate(&RecordBatch::new_empty(Arc::clone(&source_schema)))
                        .map_err(crate::error::df_error)?;
                    match v {
                        datafusion::logical_expr::ColumnarValue::Scalar(s) => Some(s),
                        datafusion::logical_expr::ColumnarValue::Array(a) => Some(
                            ScalarValue::try_from_array(&a, 0).map_err(crate::error::df_error)?,
                        ),
                    }
                }
                _ => None,
            };
            // A partial update leaves the other columns of existing keys alone; rows of new
            // keys get the column default, or the type's zero value for NOT NULL columns
            // without one.
            let default = match (&src, default) {
                (ColSource::Default, None)
                    if options.partial_update && !col.nullable && !col.is_key =>
                {
                    Some(
                        ScalarValue::new_default(&col.ty.to_arrow())
                            .map_err(crate::error::df_error)?,
                    )
                }
                (_, d) => d,
            };
            defaults.push(default);
            columns.push(src);
        }
        let update = update_rule(olap, &columns, &options)?;
        let typed_schema: SchemaRef = Arc::new(Schema::new(
            olap.columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.to_arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let where_expr = options
            .where_clause
            .as_deref()
            .map(|w| physical(&state, w, &typed_schema, None))
            .transpose()?;
        let mut target = crate::txn::write_target(
            table,
            olap,
            (!options.partitions.is_empty()).then_some(&options.partitions[..]),
        )?;
        if let Some(rule) = update {
            let t = Arc::make_mut(&mut target);
            t.update = Some(UpdateRule {
                compression: t.compression.as_str(),
                bloom_filter_columns: t.bloom_filter_columns.clone(),
                ..rule
            });
        }
        if options.load_mem_limit > 0 {
            // Half for buffered segments; the rest covers parsing and encoding.
            Arc::make_mut(&mut target).memory_limit =
                (options.load_mem_limit / 2).max(16 << 20) as usize;
        }
        Ok(Self {
            olap: olap.clone(),
            source_names,
            source_schema,
            columns,
            defaults,
            where_expr,
            op,
            typed_schema,
            target,
            strict: options.strict_mode,
            options,
        })
    }

    /// Converts the table columns that take a text field as it is (one entry per table
    /// column, `None` for the others), [`CONVERT_CHUNK`] rows of every column at a time.
    #[allow(clippy::type_complexity)]
    fn convert_text_columns(
        &self,
        text: &TextFields,
        n: usize,
    ) -> Result<Vec<Option<(ArrayRef, Vec<RowError>)>>, SqlError> {
        let targets: Vec<Option<(TextColumn<'_>, TargetColumn)>> = self
            .olap
            .columns
            .iter()
            .zip(&self.columns)
            .map(|(col, src)| match src {
                ColSource::Source(i) => Some((text.column(*i), col.target())),
                _ => None,
            })
            .collect();
        let mut parts: Vec<(Vec<ArrayRef>, Vec<RowError>)> =
            targets.iter().map(|_| (vec![], vec![])).collect();
        for start in (0..n).step_by(CONVERT_CHUNK) {
            let end = (start + CONVERT_CHUNK).min(n);
            for (target, (arrays, errors)) in targets.iter().zip(&mut parts) {
                let Some((column, target)) = target else {
                    continue;
                };
                let chunk = TextColumn {
                    data: column.data,
                    spans: column.spans.get(start..end).unwrap_or_default(),
                };
                let first = errors.len();
                arrays.push(convert_text(chunk, target, errors)?);
                for e in &mut errors[first..] {
                    e.row += start;
                }
            }
        }
        targets
            .iter()
            .zip(parts)
            .map(|(target, (arrays, errors))| {
                if target.is_none() {
                    return Ok(None);
                }
                let array = match arrays.as_slice() {
                    [one] => Arc::clone(one),
                    _ => {
                        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                        datafusion::arrow::compute::concat(&refs).map_err(arrow_err)?
                    }
                };
                Ok(Some((array, errors)))
            })
            .collect()
    }

    /// Maps, converts and filters the rows of one split block.
    fn process(&self, split: &mut Split) -> Result<Processed, SqlError> {
        let n = split.rows;
        let mut bad = std::mem::take(&mut split.bad);
        let mut bad_count = bad.len();
        let total = n + bad.len();
        if n == 0 {
            return Ok(Processed {
                batch: RecordBatch::new_empty(Arc::clone(&self.target.schema)),
                total,
                unselected: 0,
                bad,
                bad_count,
            });
        }
        // Plain text converts straight from the fields' byte ranges; the rows are built as
        // string arrays only for expressions and `__op` (or when they come as arrays).
        let text = match &split.columns {
            Columns::Text(t) => Some(t),
            Columns::Arrays(_) => None,
        };
        let needs_batch = text.is_none()
            || self.op.is_some()
            || self.columns.iter().any(|c| matches!(c, ColSource::Expr(_)));
        let source = if needs_batch {
            let batch =
                RecordBatch::try_new(Arc::clone(&self.source_schema), split.columns.arrays()?)
                    .map_err(|e| SqlError::internal(e.to_string()))?;
            Some(batch)
        } else {
            None
        };
        let mut errors: Vec<RowError> = vec![];
        let op = match &self.op {
            None => None,
            Some(src) => {
                let raw = src.evaluate(source.as_ref(), n, &None, &DataType::Int8)?;
                Some(op_values(&raw, &mut errors)?)
            }
        };
        // Rows that delete need only their key.
        let deletes = op.as_ref().map(|o| {
            let o = o.as_primitive::<datafusion::arrow::datatypes::Int8Type>();
            (0..n)
                .map(|i| o.value(i) == OP_DELETE)
                .collect::<Vec<bool>>()
        });
        // Columns taken straight from the text, converted a chunk of rows at a time.
        let mut from_text = match text {
            Some(t) => self.convert_text_columns(t, n)?,
            None => vec![],
        }
        .into_iter();
        let mut typed: Vec<ArrayRef> = Vec::with_capacity(self.olap.columns.len());
        for ((col, src), default) in self
            .olap
            .columns
            .iter()
            .zip(&self.columns)
            .zip(&self.defaults)
        {
            let (converted, col_errors) = match from_text.next().flatten() {
                Some(done) => done,
                None => {
                    let mut errors = vec![];
                    let raw = src.evaluate(source.as_ref(), n, default, &col.ty.to_arrow())?;
                    (convert_column(&raw, &col.target(), &mut errors)?, errors)
                }
            };
            for e in col_errors {
                // Without strict mode a value that does not convert loads as NULL, when the
                // column allows it.
                let becomes_null =
                    !self.strict && col.nullable && e.code == ErrorCode::ER_TRUNCATED_WRONG_VALUE;
                let ignored = !col.is_key && deletes.as_ref().is_some_and(|d| d[e.row]);
                if !becomes_null && !ignored {
                    errors.push(e);
                }
            }
            typed.push(converted);
        }
        let mut keep = vec![true; n];
        for e in &errors {
            if keep[e.row] {
                keep[e.row] = false;
                bad_count += 1;
                if bad.len() < 10_000 {
                    let text = match (text, &source) {
                        (Some(t), _) => t.row_text(
                            e.row,
                            &String::from_utf8_lossy(&self.options.column_separator),
                        ),
                        (None, Some(source)) => row_text(source, e.row, &self.options),
                        (None, None) => String::new(),
                    };
                    bad.push(BadRow {
                        text,
                        reason: e.reason.clone(),
                    });
                }
            }
        }
        let good = BooleanArray::from(keep);
        let mut unselected = 0;
        let mask = match &self.where_expr {
            None => good,
            Some(w) => {
                let batch = RecordBatch::try_new(Arc::clone(&self.typed_schema), typed.clone())
                    .map_err(|e| SqlError::internal(e.to_string()))?;
                let selected = w
                    .evaluate(&batch)
                    .and_then(|v| v.into_array(n))
                    .map_err(crate::error::df_error)?;
                let selected = selected
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .ok_or_else(|| load_error("the 'where' header must be a condition"))?;
                // NULL counts as false.
                let selected = and(&selected, &is_not_null(&selected).map_err(arrow_err)?)
                    .map_err(arrow_err)?;
                for i in 0..n {
                    if good.value(i) && !selected.value(i) {
                        unselected += 1;
                    }
                }
                and(&good, &selected).map_err(arrow_err)?
            }
        };
        let mut columns = typed
            .iter()
            .map(|c| filter(c, &mask))
            .collect::<Result<Vec<_>, _>>()
            .map_err(arrow_err)?;
        match op {
            Some(op) => columns.push(filter(&op, &mask).map_err(arrow_err)?),
            None => columns = self.target.with_op(columns, OP_UPSERT),
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.target.schema), columns)
            .map_err(|e| SqlError::internal(e.to_string()))?;
        Ok(Processed {
            batch,
            total,
            unselected,
            bad,
            bad_count,
        })
    }
}

/// Rows converted at a time. A block's fields are found row by row but converted column by
/// column; converting a block of 8 MB in one pass per column reads it sixteen times from
/// memory, one cache line per field. A chunk of rows (~250 KB of lineitem's text) stays in
/// the core's cache across the passes of all its columns.
const CONVERT_CHUNK: usize = 2048;

/// The `partial_update` / `merge_condition` of a load into a PRIMARY KEY table.
fn update_rule(
    olap: &OlapTable,
    sources: &[ColSource],
    options: &LoadOptions,
) -> Result<Option<UpdateRule>, SqlError> {
    if !options.partial_update && options.merge_condition.is_none() {
        return Ok(None);
    }
    if olap.keys_type != KeysType::Primary {
        return Err(load_error(
            "partial_update and merge_condition are only for PRIMARY KEY tables",
        ));
    }
    let mut keep = vec![];
    if options.partial_update && options.columns.is_none() {
        return Err(load_error(
            "a partial update needs header 'columns' naming the columns it writes",
        ));
    }
    if options.partial_update {
        for (c, src) in olap.columns.iter().zip(sources) {
            let given = !matches!(src, ColSource::Default);
            if c.is_key && !given {
                return Err(load_error(format!(
                    "a partial update needs every primary key column; '{}' is not in header 'columns'",
                    c.name
                )));
            }
            if !c.is_key && !given {
                keep.push(c.uid);
            }
        }
    }
    let condition = match &options.merge_condition {
        None => None,
        Some(name) => {
            let Some(c) = olap.column(name) else {
                return Err(load_error(format!(
                    "merge_condition column '{name}' is not a column of the table"
                )));
            };
            if c.is_key {
                return Err(load_error(format!(
                    "merge_condition column '{name}' is a primary key column"
                )));
            }
            Some(c.uid)
        }
    };
    Ok(Some(UpdateRule {
        keep,
        condition,
        compression: String::new(),
        bloom_filter_columns: vec![],
    }))
}

fn source_schema_of(names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// The `__op` of each row: `0`/`upsert` (also NULL or empty) or `1`/`delete`; other values
/// reject the row.
fn op_values(raw: &ArrayRef, errors: &mut Vec<RowError>) -> Result<ArrayRef, SqlError> {
    let text = datafusion::arrow::compute::cast(raw, &DataType::Utf8).map_err(arrow_err)?;
    let text = text.as_string::<i32>();
    let mut ops = Vec::with_capacity(text.len());
    for i in 0..text.len() {
        let v = if text.is_null(i) {
            ""
        } else {
            text.value(i).trim()
        };
        let op = if v.is_empty() || v == "0" || v.eq_ignore_ascii_case("upsert") {
            OP_UPSERT
        } else if v == "1" || v.eq_ignore_ascii_case("delete") {
            OP_DELETE
        } else {
            errors.push(RowError {
                row: i,
                code: ErrorCode::ER_WRONG_ARGUMENTS,
                reason: format!("'{v}' is not a valid {OP_COLUMN} (0, 1, upsert or delete)"),
            });
            OP_UPSERT
        };
        ops.push(op);
    }
    Ok(Arc::new(Int8Array::from(ops)))
}

fn arrow_err(e: datafusion::arrow::error::ArrowError) -> SqlError {
    SqlError::internal(e.to_string())
}

fn row_text(source: &RecordBatch, row: usize, options: &LoadOptions) -> String {
    let sep = String::from_utf8_lossy(&options.column_separator).into_owned();
    source
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(row) {
                "\\N".to_string()
            } else {
                ScalarValue::try_from_array(c, row)
                    .map(|v| match v {
                        ScalarValue::Utf8(Some(s)) => s,
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(&sep)
}

/// Counters and timings of one load, in the reply's order.
#[derive(Debug, Default)]
struct Report {
    txn: i64,
    label: String,
    status: &'static str,
    existing: Option<&'static str>,
    message: String,
    total: u64,
    loaded: u64,
    filtered: u64,
    unselected: u64,
    bytes: u64,
    load_ms: u64,
    begin_ms: u64,
    plan_ms: u64,
    read_ms: u64,
    write_ms: u64,
    commit_ms: u64,
    error_url: String,
}

impl Report {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("TxnId".into(), json!(self.txn));
        m.insert("Label".into(), json!(self.label));
        m.insert("Status".into(), json!(self.status));
        if let Some(e) = self.existing {
            m.insert("ExistingJobStatus".into(), json!(e));
        }
        m.insert("Message".into(), json!(self.message));
        m.insert("NumberTotalRows".into(), json!(self.total));
        m.insert("NumberLoadedRows".into(), json!(self.loaded));
        m.insert("NumberFilteredRows".into(), json!(self.filtered));
        m.insert("NumberUnselectedRows".into(), json!(self.unselected));
        m.insert("LoadBytes".into(), json!(self.bytes));
        m.insert("LoadTimeMs".into(), json!(self.load_ms));
        m.insert("BeginTxnTimeMs".into(), json!(self.begin_ms));
        m.insert("StreamLoadPlanTimeMs".into(), json!(self.plan_ms));
        m.insert("ReadDataTimeMs".into(), json!(self.read_ms));
        m.insert("WriteDataTimeMs".into(), json!(self.write_ms));
        m.insert("CommitAndPublishTimeMs".into(), json!(self.commit_ms));
        if !self.error_url.is_empty() {
            m.insert("ErrorURL".into(), json!(self.error_url));
        }
        Value::Object(m)
    }
}

/// The backend HTTP service of `rigel server`: Stream Load and error logs.
#[derive(Debug, Clone)]
pub struct LoadService {
    fe: Arc<Frontend>,
    error_dir: PathBuf,
}

impl LoadService {
    /// Error logs go to `error_dir`.
    pub fn new(fe: Arc<Frontend>, error_dir: PathBuf) -> Self {
        Self { fe, error_dir }
    }

    fn write_error_log(&self, name: &str, rows: &[BadRow]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.error_dir)?;
        let mut text = String::new();
        for r in rows {
            text.push_str(&format!("Error: {}. Row: {}\n", r.reason, r.text));
        }
        std::fs::write(self.error_dir.join(name), text)
    }

    fn sweep_error_logs(&self) {
        let Ok(entries) = std::fs::read_dir(&self.error_dir) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > ERROR_LOG_KEEP);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    async fn run(&self, req: StreamLoadRequest, report: &mut Report) -> Result<(), SqlError> {
        let started = Instant::now();
        let fe = &self.fe;
        let Some((user, password)) = req.credentials.clone() else {
            return Err(SqlError::new(
                ErrorCode::ER_ACCESS_DENIED_ERROR,
                "Access denied: no HTTP Basic credentials (curl -u user:password)",
            ));
        };
        let account = fe.authenticate_http(&user, &password, req.client)?;
        let options = LoadOptions::from_headers(&req.headers).map_err(load_error)?;
        if let Some(l) = &options.label {
            report.label = l.clone();
        }
        let (db_id, table) = {
            let state = fe.catalog().read();
            let db = state
                .database(&req.db)
                .ok_or_else(|| crate::error::unknown_db(&req.db))?;
            let t = state
                .table(&req.db, &req.table)
                .ok_or_else(|| crate::error::unknown_table(&req.db, &req.table))?;
            (db.id, t)
        };
        if !crate::account::allowed(
            &account,
            Privilege::Insert,
            Some(&req.db),
            Some(&table.name),
        ) {
            return Err(crate::account::denied(
                &account,
                Privilege::Insert,
                Some(&req.db),
                Some(&table.name),
            ));
        }
        let Some(olap) = table.olap() else {
            return Err(load_error(format!("'{}' is a view", req.table)));
        };
        for p in &options.partitions {
            if olap.partition(p).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", req.table),
                ));
            }
        }
        let begin = Instant::now();
        let txn = fe.begin_txn().await?;
        report.txn = txn.0 as i64;
        if report.label.is_empty() {
            report.label = format!("stream_load_{}", txn.0);
        }
        let label = report.label.clone();
        let _guard = match fe.reserve_label(db_id, &label, txn) {
            Ok(g) => g,
            Err(in_use) => {
                report.txn = -1;
                report.status = "Label Already Exists";
                report.existing = Some(in_use.status);
                return Err(SqlError::new(
                    ErrorCode::ER_LABEL_ALREADY_EXISTS,
                    format!("Label [{label}] has already been used."),
                ));
            }
        };
        report.begin_ms = begin.elapsed().as_millis() as u64;

        let plan_start = Instant::now();
        let mut session = fe.load_session_view();
        session.db = Some(req.db.clone());
        if let Some(tz) = &options.timezone {
            let mut vars = (*session.vars).clone();
            vars.insert("time_zone", tz.clone());
            session.vars = Arc::new(vars);
        }
        let timeout = options.timeout;
        let log_rejected = options.log_rejected;
        let plan = Arc::new(LoadPlan::new(fe, &table, olap, options, &session)?);
        let mut sink = fe
            .backend()
            .open_sink(txn, Arc::clone(&plan.target))
            .await?;
        report.plan_ms = plan_start.elapsed().as_millis() as u64;

        let job_start = crate::now_ms();
        let (raw_tx, raw_rx) = tokio::sync::mpsc::channel::<Bytes>(32);
        // Deep enough (PARSED_QUEUE blocks of text) that parsing goes on while the writer
        // encodes a segment, which takes a while.
        let (out_tx, mut out_rx) =
            tokio::sync::mpsc::channel::<Result<Processed, SqlError>>(PARSED_QUEUE);
        let parser_plan = Arc::clone(&plan);
        let parser =
            tokio::task::spawn_blocking(move || parse::parse_loop(parser_plan, raw_rx, out_tx));

        let mut body = req.body;
        let read_start = Instant::now();
        let reader = async {
            let mut bytes = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    load_error(format!("the body was cut off after {bytes} bytes: {e}"))
                })?;
                bytes += chunk.len() as u64;
                if raw_tx.send(chunk).await.is_err() {
                    break;
                }
            }
            drop(raw_tx);
            Ok::<(u64, u64), SqlError>((bytes, read_start.elapsed().as_millis() as u64))
        };
        let mut bad_rows: Vec<BadRow> = vec![];
        let writer = async {
            let mut counts = (0u64, 0u64, 0u64, 0u64); // total, filtered, unselected, written
            let write_start = Instant::now();
            while let Some(item) = out_rx.recv().await {
                let p = item?;
                counts.0 += p.total as u64;
                counts.1 += p.bad_count as u64;
                counts.2 += p.unselected as u64;
                if bad_rows.len() < 10_000 {
                    bad_rows.extend(p.bad);
                }
                if p.batch.num_rows() > 0 {
                    let mut unmatched = sink.write(p.batch.clone()).await?;
                    if !unmatched.is_empty() && plan.options.partitions.is_empty() {
                        unmatched = fe
                            .write_to_new_partitions(&table, &mut *sink, &p.batch, unmatched)
                            .await?;
                    }
                    counts.1 += unmatched.len() as u64;
                    counts.3 += (p.batch.num_rows() - unmatched.len()) as u64;
                    for &r in unmatched.iter().take(100) {
                        bad_rows.push(BadRow {
                            text: typed_row_text(&p.batch, r as usize),
                            reason:
                                "The row is out of partition ranges. Please add a new partition"
                                    .to_string(),
                        });
                    }
                }
            }
            Ok::<((u64, u64, u64, u64), u64), SqlError>((
                counts,
                write_start.elapsed().as_millis() as u64,
            ))
        };
        let work = async { tokio::try_join!(reader, writer) };
        let outcome = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(SqlError::new(
                ErrorCode::ER_QUERY_TIMEOUT,
                format!("the load exceeded its timeout of {} s", timeout.as_secs()),
            )),
        };
        // A parser that died (a bug) must not let the rows before it commit as a whole load.
        let outcome = match (outcome, parser.await) {
            (Ok(v), Ok(())) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(SqlError::internal(format!("the load parser failed: {e}"))),
        };
        let ((bytes, read_ms), ((total, filtered, unselected, _written), write_ms)) = match outcome
        {
            Ok(v) => v,
            Err(e) => {
                drop(sink);
                fe.abort_txn(txn).await;
                return Err(e);
            }
        };
        report.bytes = bytes;
        report.read_ms = read_ms;
        report.write_ms = write_ms;
        report.total = total;
        report.filtered = filtered;
        report.unselected = unselected;
        if !bad_rows.is_empty() {
            let name = format!("error_log_{}_{}", sanitize(&label), txn.0);
            let keep = match log_rejected {
                n if n < 0 => bad_rows.len(),
                n => bad_rows.len().min(n as usize),
            };
            if keep > 0 {
                match self.write_error_log(&name, &bad_rows[..keep]) {
                    Ok(()) => {
                        report.error_url = format!(
                            "{}://{}/api/_load_error_log?file={name}",
                            req.scheme, req.host
                        )
                    }
                    Err(e) => warn!("cannot write error log {name}: {e}"),
                }
            }
        }
        let considered = total.saturating_sub(unselected);
        if filtered > 0
            && (considered == 0 || filtered as f64 / considered as f64 > plan_max_filter(&plan))
        {
            drop(sink);
            fe.abort_txn(txn).await;
            return Err(load_error(format!(
                "too many filtered rows: {filtered} of {considered} rows were rejected (max_filter_ratio {})",
                plan_max_filter(&plan)
            )));
        }
        let summary = match sink.finish().await {
            Ok(s) => s,
            Err(e) => {
                fe.abort_txn(txn).await;
                return Err(e);
            }
        };
        report.loaded = summary.rows;
        let commit_start = Instant::now();
        if summary.rows > 0 {
            let status = fe.commit_txn(txn, &table, label.clone(), &summary).await?;
            fe.after_load(table.id, summary.rows);
            if status == crate::txn::TxnStatus::Committed {
                report.status = "Publish Timeout";
            }
        } else {
            fe.abort_txn(txn).await;
        }
        report.commit_ms = commit_start.elapsed().as_millis() as u64;
        report.load_ms = started.elapsed().as_millis() as u64;
        fe.loads.record(LoadJob {
            txn,
            label,
            db: req.db.clone(),
            table: req.table.clone(),
            kind: "STREAM_LOAD",
            state: "FINISHED",
            total,
            loaded: summary.rows,
            filtered,
            unselected,
            error: String::new(),
            error_url: report.error_url.clone(),
            created_ms: job_start,
            finished_ms: crate::now_ms(),
        });
        Ok(())
    }
}

fn plan_max_filter(plan: &LoadPlan) -> f64 {
    plan.options.max_filter_ratio
}

fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn typed_row_text(batch: &RecordBatch, row: usize) -> String {
    batch
        .columns()
        .iter()
        .map(|c| {
            ScalarValue::try_from_array(c, row)
                .map(|v| {
                    if v.is_null() {
                        "\\N".to_string()
                    } else {
                        v.to_string()
                    }
                })
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl BackendHttp for LoadService {
    async fn healthy(&self) -> bool {
        true
    }

    async fn stream_load(&self, request: StreamLoadRequest) -> Reply {
        let mut report = Report {
            status: "Success",
            message: "OK".to_string(),
            ..Report::default()
        };
        let db = request.db.clone();
        let table = request.table.clone();
        let started = Instant::now();
        let metrics = Arc::clone(&self.fe.env.metrics);
        let be_metrics = self.fe.backend().local_metrics();
        metrics.load_add.increment(1);
        if let Some(m) = &be_metrics {
            m.stream_load_requests.increment(1);
        }
        let result = self.run(request, &mut report).await;
        metrics.load_finished.increment(1);
        if let (Ok(()), Some(m)) = (&result, &be_metrics) {
            m.stream_load_rows.increment(report.loaded);
        }
        report.load_ms = started.elapsed().as_millis() as u64;
        let mut status = 200;
        if let Err(e) = result {
            if report.status != "Label Already Exists" {
                report.status = "Fail";
            }
            report.message = e.message.clone();
            if e.code == ErrorCode::ER_ACCESS_DENIED_ERROR {
                status = 401;
            }
            if report.txn > 0 {
                self.fe.loads.record(LoadJob {
                    txn: TxnId(report.txn as u64),
                    label: report.label.clone(),
                    db,
                    table: table.clone(),
                    kind: "STREAM_LOAD",
                    state: "CANCELLED",
                    total: report.total,
                    loaded: 0,
                    filtered: report.filtered,
                    unselected: report.unselected,
                    error: e.message.clone(),
                    error_url: report.error_url.clone(),
                    created_ms: crate::now_ms() - report.load_ms as i64,
                    finished_ms: crate::now_ms(),
                });
            }
            info!(table, label = %report.label, "stream load failed: {}", e.message);
        } else {
            info!(
                table,
                label = %report.label,
                rows = report.loaded,
                ms = report.load_ms,
                "stream load finished"
            );
        }
        self.sweep_error_logs();
        Reply {
            status,
            body: report.to_json(),
        }
    }

    async fn metrics(&self) -> Result<String, Reply> {
        self.fe.backend().render_metrics().await.map_err(|e| Reply {
            status: 500,
            body: serde_json::json!({"status": "FAILED", "msg": e.message}),
        })
    }

    async fn load_error_log(&self, file: &str) -> Option<String> {
        if file.contains('/') || file.contains("..") || !file.starts_with("error_log_") {
            return None;
        }
        std::fs::read_to_string(self.error_dir.join(file)).ok()
    }

    async fn compact(
        &self,
        credentials: Option<(String, String)>,
        client: std::net::SocketAddr,
        tablet_id: u64,
        kind: &str,
    ) -> Reply {
        if let Err(reply) = self.admin(credentials, client) {
            return reply;
        }
        let kind = match kind {
            "base" => rigel_be_api::CompactionKind::Base,
            "cumulative" => rigel_be_api::CompactionKind::Cumulative,
            other => {
                return Reply {
                    status: 400,
                    body: json!({"status": "Fail", "msg": format!(
                        "compaction_type must be base or cumulative, not '{other}'"
                    )}),
                };
            }
        };
        match self
            .fe
            .compact_tablet_now(rigel_common::ids::TabletId(tablet_id), kind)
            .await
        {
            Ok(done) => Reply::ok(json!({
                "status": "Success",
                "msg": "compaction task is successfully triggered.",
                "input_rowsets": done.inputs,
                "input_rows": done.rows_in,
                "output_rows": done.rows_out,
            })),
            Err(e) => Reply {
                status: 400,
                body: json!({"status": "Fail", "msg": e.message}),
            },
        }
    }

    async fn compaction_show(
        &self,
        credentials: Option<(String, String)>,
        client: std::net::SocketAddr,
        tablet_id: u64,
    ) -> Reply {
        if let Err(reply) = self.admin(credentials, client) {
            return reply;
        }
        match self
            .fe
            .tablet_rowsets(rigel_common::ids::TabletId(tablet_id))
            .await
        {
            Some(info) => Reply::ok(json!({
                "tablet_id": tablet_id,
                "rowsets": info.rowsets,
                "rows": info.rows,
                "data_size": info.bytes,
                "max_version": info.max_version,
            })),
            None => Reply {
                status: 404,
                body: json!({"status": "Fail", "msg": format!("tablet {tablet_id} does not exist")}),
            },
        }
    }
}

impl LoadService {
    /// Checks HTTP Basic credentials for the administration APIs.
    fn admin(
        &self,
        credentials: Option<(String, String)>,
        client: std::net::SocketAddr,
    ) -> Result<(), Reply> {
        let denied = |msg: String| Reply {
            status: 401,
            body: json!({"status": "Fail", "msg": msg}),
        };
        let Some((user, password)) = credentials else {
            return Err(denied(
                "Access denied: no HTTP Basic credentials (curl -u user:password)".to_string(),
            ));
        };
        self.fe
            .authenticate_http(&user, &password, client)
            .map(|_| ())
            .map_err(|e| denied(e.message))
    }
}
