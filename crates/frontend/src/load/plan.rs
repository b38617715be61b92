//! A load's plan: where each table column comes from (a source field, an expression of the
//! `columns` header, a default), the `where` filter and `__op`, and the conversion of one
//! parsed block into the table's typed rows.

use std::sync::Arc;

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
use rigel_be_api::{OP_COLUMN, OP_DELETE, OP_UPSERT, UpdateRule, WriteTarget};
use rigel_common::convert::{RowError, TargetColumn, TextColumn, convert_column, convert_text};
use rigel_common::{ErrorCode, SqlError};
use rigel_sql::sqlparser::ast;
use rigel_sql::{DefaultValue, KeysType};

use super::csv::{BadRow, Columns, Split, TextFields};
use super::load_error;
use super::options::{ColumnItem, Format, LoadOptions};
use crate::Frontend;
use crate::catalog::{OlapTable, Table};
use crate::planner::SessionView;

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
pub(super) struct LoadPlan {
    olap: OlapTable,
    pub(super) source_names: Vec<String>,
    source_schema: SchemaRef,
    columns: Vec<ColSource>,
    defaults: Vec<Option<ScalarValue>>,
    where_expr: Option<Arc<dyn PhysicalExpr>>,
    /// PRIMARY KEY tables: where each row's `__op` comes from (`None`: every row upserts).
    op: Option<ColSource>,
    typed_schema: SchemaRef,
    pub(super) target: Arc<WriteTarget>,
    strict: bool,
    pub(super) options: LoadOptions,
}

/// The rows of one block after conversion.
pub(super) struct Processed {
    pub(super) batch: RecordBatch,
    pub(super) total: usize,
    pub(super) unselected: usize,
    pub(super) bad: Vec<BadRow>,
    pub(super) bad_count: usize,
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
    pub(super) fn new(
        fe: &Frontend,
        table: &Table,
        olap: &OlapTable,
        options: LoadOptions,
        session: &SessionView,
    ) -> Result<Self, SqlError> {
        // Expressions see the session's settings (the `timezone` header among them), and
        // `now()` is one instant for the whole load.
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
    pub(super) fn process(&self, split: &mut Split) -> Result<Processed, SqlError> {
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
