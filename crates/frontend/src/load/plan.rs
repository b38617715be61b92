//! Planning a load on the frontend: where each table column comes from (a source field,
//! an expression of the `columns` header, a default), the `where` filter, `__op` and the
//! write target. The plan runs on the node that received the load (see `rigel-load`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::sqlparser::ast::ExprWithAlias;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::scalar::ScalarValue;
use rigel_be_api::{OP_COLUMN, UpdateRule};
use rigel_common::SqlError;
use rigel_load::{
    ColSource, ColumnItem, Format, LoadColumn, LoadOptions, LoadPlan, load_error, source_schema_of,
};
use rigel_sql::sqlparser::ast;
use rigel_sql::{DefaultValue, KeysType};

use crate::Frontend;
use crate::planner::SessionView;
use rigel_catalog::{OlapTable, Table};

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

/// Plans a load of `table` with the request's options.
pub(super) fn compile(
    fe: &Frontend,
    table: &Table,
    olap: &OlapTable,
    options: LoadOptions,
    session: &SessionView,
) -> Result<LoadPlan, SqlError> {
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
                    datafusion::logical_expr::ColumnarValue::Array(a) => {
                        Some(ScalarValue::try_from_array(&a, 0).map_err(crate::error::df_error)?)
                    }
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
                Some(ScalarValue::new_default(&col.ty.to_arrow()).map_err(crate::error::df_error)?)
            }
            (_, d) => d,
        };
        columns.push(LoadColumn {
            target: col.target(),
            is_key: col.is_key,
            source: src,
            default,
        });
    }
    let update = update_rule(olap, &columns, &options)?;
    let typed_schema = rigel_load::plan::typed_schema_of(&columns);
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
    let mut settings = HashMap::new();
    if let Some(tz) = &state.config().options().execution.time_zone {
        settings.insert("datafusion.execution.time_zone".to_string(), tz.clone());
    }
    let auto_partition = olap.auto_partition.is_some() && options.partitions.is_empty();
    Ok(LoadPlan::new(
        source_names,
        columns,
        where_expr,
        op,
        target,
        options.strict_mode,
        auto_partition,
        settings,
        options,
    ))
}

/// The `partial_update` / `merge_condition` of a load into a PRIMARY KEY table.
fn update_rule(
    olap: &OlapTable,
    columns: &[LoadColumn],
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
        for (c, l) in olap.columns.iter().zip(columns) {
            let given = !matches!(l.source, ColSource::Default);
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
