//! A load's plan: where each table column comes from (a source field, an expression of the
//! `columns` header, a default), the `where` filter and `__op`, and the conversion of one
//! parsed block into the table's typed rows.
//!
//! The frontend builds a plan from the table and the request's headers (it alone has SQL
//! text and the catalog); the plan crosses to the backend running the load as a
//! [`pb::LoadPlan`], its expressions encoded with datafusion-proto.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int8Array, RecordBatch, new_null_array,
};
use datafusion::arrow::compute::{and, filter, is_not_null};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::scalar::ScalarValue;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
use datafusion_proto::protobuf::PhysicalExprNode;
use prost::Message;
use rigel_be_api::wire::{bad_message, decode_scalar, encode_scalar};
use rigel_be_api::{OP_COLUMN, OP_DELETE, OP_UPSERT, WriteTarget, pb};
use rigel_common::convert::{RowError, TargetColumn, TextColumn, convert_column, convert_text};
use rigel_common::{ErrorCode, SqlError};
use rigel_exec::RigelCodec;

use crate::csv::{BadRow, Columns, Split, TextFields};
use crate::load_error;
use crate::options::LoadOptions;

/// Where a table column (or `__op`) comes from.
#[derive(Debug, Clone)]
pub enum ColSource {
    /// A source field, by index.
    Source(usize),
    /// An expression of the `columns` header over the source fields.
    Expr(Arc<dyn PhysicalExpr>),
    /// The column's default (else NULL).
    Default,
}

/// A failure of a load expression as the load's error (ours travel inside DataFusion's
/// errors as external errors).
pub(crate) fn df_error(e: datafusion::error::DataFusionError) -> SqlError {
    use datafusion::error::DataFusionError;
    match e {
        DataFusionError::External(inner) => match inner.downcast::<SqlError>() {
            Ok(e) => *e,
            Err(other) => SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, other.to_string()),
        },
        DataFusionError::Context(_, inner) => df_error(*inner),
        DataFusionError::Internal(msg) => SqlError::internal(msg),
        other => SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, other.strip_backtrace()),
    }
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
                .map_err(df_error),
            ColSource::Default => match default {
                Some(v) => v.to_array_of_size(n).map_err(df_error),
                None => Ok(new_null_array(ty, n)),
            },
        }
    }
}

/// One table column of a load.
#[derive(Debug, Clone)]
pub struct LoadColumn {
    /// Name, type and nullability.
    pub target: TargetColumn,
    /// Part of the key.
    pub is_key: bool,
    /// Where its values come from.
    pub source: ColSource,
    /// The value of rows that do not give it.
    pub default: Option<ScalarValue>,
}

/// Everything the parser threads need, decided before the body is read.
#[derive(Debug)]
pub struct LoadPlan {
    /// The source fields (CSV columns in order, JSON fields by name).
    pub source_names: Vec<String>,
    source_schema: SchemaRef,
    columns: Vec<LoadColumn>,
    where_expr: Option<Arc<dyn PhysicalExpr>>,
    /// PRIMARY KEY tables: where each row's `__op` comes from (`None`: every row upserts).
    op: Option<ColSource>,
    typed_schema: SchemaRef,
    /// Where the rows go.
    pub target: Arc<WriteTarget>,
    strict: bool,
    /// Rows no partition takes may get new partitions.
    pub auto_partition: bool,
    /// Session settings the expressions see (datafusion config keys).
    pub settings: HashMap<String, String>,
    /// The request's options.
    pub options: LoadOptions,
}

/// The rows of one block after conversion.
pub struct Processed {
    /// Rows for the sink, in the target's schema.
    pub batch: RecordBatch,
    /// Rows read.
    pub total: usize,
    /// Rows the `where` header dropped.
    pub unselected: usize,
    /// Rejected rows (the first of them).
    pub bad: Vec<BadRow>,
    /// Rejected rows in all.
    pub bad_count: usize,
}

/// The schema of the source fields: all text.
pub fn source_schema_of(names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// The schema `where` sees: the table's columns, typed, all nullable.
pub fn typed_schema_of(columns: &[LoadColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.target.name, c.target.ty.to_arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

fn encode_physical(e: &Arc<dyn PhysicalExpr>) -> Result<Vec<u8>, SqlError> {
    Ok(serialize_physical_expr(e, &RigelCodec)
        .map_err(df_error)?
        .encode_to_vec())
}

fn decode_physical(
    bytes: &[u8],
    ctx: &TaskContext,
    schema: &Schema,
) -> Result<Arc<dyn PhysicalExpr>, SqlError> {
    let node = PhysicalExprNode::decode(bytes).map_err(|e| bad_message(e.to_string()))?;
    parse_physical_expr(&node, ctx, schema, &RigelCodec).map_err(df_error)
}

fn source_to_wire(s: &ColSource) -> Result<pb::load_column::Source, SqlError> {
    Ok(match s {
        ColSource::Source(i) => {
            pb::load_column::Source::Field(u32::try_from(*i).unwrap_or(u32::MAX))
        }
        ColSource::Expr(e) => pb::load_column::Source::Expr(encode_physical(e)?),
        ColSource::Default => pb::load_column::Source::Default(pb::Empty {}),
    })
}

fn source_from_wire(
    s: Option<&pb::load_column::Source>,
    ctx: &TaskContext,
    source_schema: &Schema,
) -> Result<ColSource, SqlError> {
    Ok(match s {
        Some(pb::load_column::Source::Field(i)) => {
            let i = *i as usize;
            if i >= source_schema.fields().len() {
                return Err(bad_message(format!(
                    "a load column names source field {i} of {}",
                    source_schema.fields().len()
                )));
            }
            ColSource::Source(i)
        }
        Some(pb::load_column::Source::Expr(bytes)) => {
            ColSource::Expr(decode_physical(bytes, ctx, source_schema)?)
        }
        Some(pb::load_column::Source::Default(_)) | None => ColSource::Default,
    })
}

impl LoadPlan {
    /// A plan; `columns` are the table's, in order.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source_names: Vec<String>,
        columns: Vec<LoadColumn>,
        where_expr: Option<Arc<dyn PhysicalExpr>>,
        op: Option<ColSource>,
        target: Arc<WriteTarget>,
        strict: bool,
        auto_partition: bool,
        settings: HashMap<String, String>,
        options: LoadOptions,
    ) -> Self {
        Self {
            source_schema: source_schema_of(&source_names),
            typed_schema: typed_schema_of(&columns),
            source_names,
            columns,
            where_expr,
            op,
            target,
            strict,
            auto_partition,
            settings,
            options,
        }
    }

    /// The plan's wire form.
    pub fn to_wire(&self) -> Result<pb::LoadPlan, SqlError> {
        let column = |c: &LoadColumn| -> Result<pb::LoadColumn, SqlError> {
            Ok(pb::LoadColumn {
                name: c.target.name.clone(),
                r#type: c.target.ty.to_string(),
                nullable: c.target.nullable,
                is_key: c.is_key,
                source: Some(source_to_wire(&c.source)?),
                default_value: c.default.as_ref().map(encode_scalar).transpose()?,
            })
        };
        Ok(pb::LoadPlan {
            source_names: self.source_names.clone(),
            columns: self.columns.iter().map(column).collect::<Result<_, _>>()?,
            where_expr: self.where_expr.as_ref().map(encode_physical).transpose()?,
            op: self
                .op
                .as_ref()
                .map(|s| {
                    Ok::<_, SqlError>(pb::LoadColumn {
                        name: OP_COLUMN.to_string(),
                        r#type: "TINYINT".to_string(),
                        nullable: true,
                        is_key: false,
                        source: Some(source_to_wire(s)?),
                        default_value: None,
                    })
                })
                .transpose()?,
            target: Some(pb::WriteTarget::try_from(self.target.as_ref())?),
            strict: self.strict,
            auto_partition: self.auto_partition,
            settings: self.settings.clone(),
        })
    }

    /// The plan of its wire form; `ctx` resolves the functions its expressions call and
    /// carries `plan.settings`. The options come from the request's headers.
    pub fn from_wire(
        plan: &pb::LoadPlan,
        options: LoadOptions,
        ctx: &TaskContext,
    ) -> Result<Self, SqlError> {
        let source_schema = source_schema_of(&plan.source_names);
        let mut columns = vec![];
        for c in &plan.columns {
            let ty = c
                .r#type
                .parse()
                .map_err(|e| bad_message(format!("column '{}' type: {e}", c.name)))?;
            columns.push(LoadColumn {
                target: TargetColumn {
                    name: c.name.clone(),
                    ty,
                    nullable: c.nullable,
                },
                is_key: c.is_key,
                source: source_from_wire(c.source.as_ref(), ctx, &source_schema)?,
                default: c.default_value.as_deref().map(decode_scalar).transpose()?,
            });
        }
        let typed_schema = typed_schema_of(&columns);
        let where_expr = plan
            .where_expr
            .as_deref()
            .map(|w| decode_physical(w, ctx, &typed_schema))
            .transpose()?;
        let op = plan
            .op
            .as_ref()
            .map(|o| source_from_wire(o.source.as_ref(), ctx, &source_schema))
            .transpose()?;
        let target = plan
            .target
            .as_ref()
            .ok_or_else(|| bad_message("a load plan without a write target"))?;
        let target = Arc::new(WriteTarget::try_from(target)?);
        let expected = columns.len() + usize::from(target.is_primary());
        if target.schema.fields().len() != expected {
            return Err(bad_message(format!(
                "a load plan of {} columns writes a target of {} columns",
                columns.len(),
                target.schema.fields().len()
            )));
        }
        Ok(Self {
            source_names: plan.source_names.clone(),
            source_schema,
            typed_schema,
            columns,
            where_expr,
            op,
            target,
            strict: plan.strict,
            auto_partition: plan.auto_partition,
            settings: plan.settings.clone(),
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
            .columns
            .iter()
            .map(|col| match col.source {
                ColSource::Source(i) => Some((text.column(i), col.target.clone())),
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
    pub fn process(&self, split: &mut Split) -> Result<Processed, SqlError> {
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
            || self
                .columns
                .iter()
                .any(|c| matches!(c.source, ColSource::Expr(_)));
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
        let mut typed: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for col in &self.columns {
            let (converted, col_errors) = match from_text.next().flatten() {
                Some(done) => done,
                None => {
                    let mut errors = vec![];
                    let raw = col.source.evaluate(
                        source.as_ref(),
                        n,
                        &col.default,
                        &col.target.ty.to_arrow(),
                    )?;
                    (convert_column(&raw, &col.target, &mut errors)?, errors)
                }
            };
            for e in col_errors {
                // Without strict mode a value that does not convert loads as NULL, when the
                // column allows it.
                let becomes_null = !self.strict
                    && col.target.nullable
                    && e.code == ErrorCode::ER_TRUNCATED_WRONG_VALUE;
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
                    .map_err(df_error)?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::common::DFSchema;
    use datafusion::execution::FunctionRegistry;
    use datafusion::execution::context::ExecutionProps;
    use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
    use datafusion::logical_expr::{col, lit};
    use datafusion::physical_expr::create_physical_expr;
    use rigel_be_api::{BucketRouting, PartitionRoute};
    use rigel_common::ColumnType;
    use rigel_common::ids::{BackendId, PartitionId, TableId, TabletId};
    use rigel_common::tablet::SegmentCompression;

    use super::*;
    use crate::csv::CsvSplitter;

    fn physical(e: datafusion::logical_expr::Expr, schema: &SchemaRef) -> Arc<dyn PhysicalExpr> {
        let df = DFSchema::try_from(schema.as_ref().clone()).unwrap();
        create_physical_expr(
            &e,
            &df,
            &ExecutionProps::new(),
            &PhysicalPlanningContext::default(),
        )
        .unwrap()
    }

    fn column(name: &str, ty: ColumnType, key: bool, source: ColSource) -> LoadColumn {
        LoadColumn {
            target: TargetColumn {
                name: name.into(),
                ty,
                nullable: !key,
            },
            is_key: key,
            source,
            default: None,
        }
    }

    /// A plan with a source field, an expression calling a catalog function, a default and
    /// a `where` filter: through its wire form (bytes) and back, it converts rows alike.
    #[test]
    fn plans_round_trip_and_convert_rows_alike() {
        let ctx = rigel_functions::function_context();
        let names: Vec<String> = vec!["tag".into(), "n".into()];
        let source = source_schema_of(&names);
        let upper = ctx.udf("upper").expect("upper is a catalog function");
        let mut d = column("d", ColumnType::Int, false, ColSource::Default);
        d.default = Some(ScalarValue::Int32(Some(7)));
        let columns = vec![
            column("k", ColumnType::Int, true, ColSource::Source(1)),
            column(
                "v",
                ColumnType::Varchar(10),
                false,
                ColSource::Expr(physical(upper.call(vec![col("tag")]), &source)),
            ),
            d,
        ];
        let typed = typed_schema_of(&columns);
        let where_expr = physical(col("k").gt(lit(1i32)), &typed);
        let target = Arc::new(WriteTarget {
            table_id: TableId(1),
            table_name: "t".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Int32, false),
                Field::new("v", DataType::Utf8, true),
                Field::new("d", DataType::Int32, true),
            ])),
            partition_columns: vec![],
            partitions: vec![PartitionRoute {
                partition_id: PartitionId(2),
                name: "t".into(),
                lower: None,
                upper: None,
                values: None,
                tablets: vec![TabletId(3)],
                replicas: vec![vec![BackendId(4), BackendId(5), BackendId(6)]],
                needed: vec![2],
            }],
            buckets: BucketRouting::Hash(vec![0]),
            sort_key: vec![0],
            compression: SegmentCompression::Lz4,
            bloom_filter_columns: vec![],
            memory_limit: 0,
            merge: None,
            primary_key: vec![],
            update: None,
        });
        let headers = BTreeMap::from([("column_separator".to_string(), ",".to_string())]);
        let options = || LoadOptions::from_headers(&headers).unwrap();
        let mut settings = HashMap::new();
        settings.insert(
            "datafusion.execution.time_zone".to_string(),
            "+08:00".to_string(),
        );
        let plan = LoadPlan::new(
            names.clone(),
            columns,
            Some(where_expr),
            None,
            Arc::clone(&target),
            false,
            false,
            settings.clone(),
            options(),
        );
        let bytes = plan.to_wire().unwrap().encode_to_vec();
        let wire = pb::LoadPlan::decode(bytes.as_slice()).unwrap();
        let back = LoadPlan::from_wire(&wire, options(), &ctx).unwrap();
        assert_eq!(back.source_names, names);
        assert_eq!(back.settings, settings);
        assert_eq!(back.target, target);

        let input = b"ab,1\ncd,2\nef,x\ngh,3\n";
        let run = |p: &LoadPlan| {
            let mut splitter =
                CsvSplitter::new(b",".to_vec(), b"\n".to_vec(), None, None, false, 2, 0);
            let mut split = splitter.push(input, true);
            p.process(&mut split).unwrap()
        };
        let (a, b) = (run(&plan), run(&back));
        assert_eq!(a.batch, b.batch);
        assert_eq!((b.total, b.unselected, b.bad_count), (4, 1, 1));
        let k = b
            .batch
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!(k, &Int32Array::from(vec![2, 3]));
        let v = b.batch.column(1).as_string::<i32>();
        assert_eq!(v, &StringArray::from(vec!["CD", "GH"]));
        let d = b
            .batch
            .column(2)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!(d, &Int32Array::from(vec![7, 7]));
    }

    #[test]
    fn malformed_plans_are_refused() {
        let ctx = rigel_functions::function_context();
        let headers = BTreeMap::new();
        let options = || LoadOptions::from_headers(&headers).unwrap();
        // No write target.
        let plan = pb::LoadPlan::default();
        assert!(LoadPlan::from_wire(&plan, options(), &ctx).is_err());
        // A source field that is not there, and an expression that is not one.
        for source in [
            pb::load_column::Source::Field(5),
            pb::load_column::Source::Expr(vec![0xff; 9]),
        ] {
            let plan = pb::LoadPlan {
                source_names: vec!["a".into()],
                columns: vec![pb::LoadColumn {
                    name: "a".into(),
                    r#type: "INT".into(),
                    nullable: true,
                    is_key: false,
                    source: Some(source),
                    default_value: None,
                }],
                ..Default::default()
            };
            assert!(LoadPlan::from_wire(&plan, options(), &ctx).is_err());
        }
        // A type that is not a type.
        let plan = pb::LoadPlan {
            columns: vec![pb::LoadColumn {
                name: "a".into(),
                r#type: "NOT A TYPE".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(LoadPlan::from_wire(&plan, options(), &ctx).is_err());
    }
}
