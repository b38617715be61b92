//! Short-circuit point lookups on PRIMARY KEY tables.
//!
//! `SELECT cols FROM t WHERE k1 = v1 AND k2 IN (v2, v3)` naming every primary key column by
//! equality or IN list (up to [`MAX_KEYS`] keys) is answered from the tablets' primary-key
//! indexes without planning: each key picks its partition and bucket, the index the row,
//! and only that row's pages are read.
//! StarRocks calls this short-circuiting (`enable_short_circuit`); anything else, or a
//! value that does not convert to its column's type, takes the planner.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Column;
use datafusion::logical_expr::Expr;
use datafusion::prelude::lit;
use datafusion::scalar::ScalarValue;
use rigel_be_api::LookupRequest;
use rigel_common::SqlError;
use rigel_common::ids::TabletId;
use rigel_mysql::QueryResult;
use rigel_sql::sqlparser::ast::{
    self, BinaryOperator, GroupByExpr, SelectItem, SetExpr, TableFactor, UnaryOperator,
};
use rigel_sql::{KeysType, TableName};

use crate::session::Session;
use rigel_catalog::OlapTable;
use rigel_catalog::partition::{combinations, prune_buckets, prune_partitions};

/// A query the short circuit can answer.
struct PointQuery {
    table: TableName,
    /// (output name, column name) per select item; `None` for `*`.
    items: Vec<Option<(String, String)>>,
    /// column name → the literals it may equal.
    equalities: Vec<(String, Vec<ast::Expr>)>,
}

/// Most keys one statement looks up without planning.
const MAX_KEYS: usize = 1024;

fn column_name(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Identifier(id) => Some(id.value.clone()),
        ast::Expr::CompoundIdentifier(parts) if parts.len() <= 3 => {
            parts.last().map(|p| p.value.clone())
        }
        _ => None,
    }
}

fn is_literal(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Value(v) => matches!(
            v.value,
            ast::Value::Number(..) | ast::Value::SingleQuotedString(_)
        ),
        ast::Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => {
            matches!(expr.as_ref(), ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)))
        }
        _ => false,
    }
}

fn is_string(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_string_literal(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Value(v) if matches!(v.value, ast::Value::SingleQuotedString(_)))
}

/// The literal's text, to be cast to the column type.
fn literal_text(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => Some(n.clone()),
            ast::Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        ast::Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => literal_text(expr).map(|t| format!("-{t}")),
        _ => None,
    }
}

fn conjuncts<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Expr>) {
    match e {
        ast::Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        ast::Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

/// The shape check: one plain table, plain columns, a conjunction of `column = literal`.
fn point_query(query: &ast::Query) -> Option<PointQuery> {
    if query.with.is_some()
        || query.order_by.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
        || !query.locks.is_empty()
        || query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty()
    {
        return None;
    }
    let SetExpr::Select(s) = query.body.as_ref() else {
        return None;
    };
    let plain_group_by =
        matches!(&s.group_by, GroupByExpr::Expressions(v, m) if v.is_empty() && m.is_empty());
    if s.distinct.is_some()
        || s.top.is_some()
        || s.exclude.is_some()
        || s.into.is_some()
        || !s.lateral_views.is_empty()
        || s.prewhere.is_some()
        || !s.connect_by.is_empty()
        || !plain_group_by
        || !s.cluster_by.is_empty()
        || !s.distribute_by.is_empty()
        || !s.sort_by.is_empty()
        || s.having.is_some()
        || !s.named_window.is_empty()
        || s.qualify.is_some()
        || s.value_table_mode.is_some()
        || s.from.len() != 1
        || !s.from[0].joins.is_empty()
    {
        return None;
    }
    let TableFactor::Table {
        name,
        args: None,
        with_hints,
        version: None,
        partitions,
        sample: None,
        index_hints,
        json_path: None,
        ..
    } = &s.from[0].relation
    else {
        return None;
    };
    if !with_hints.is_empty() || !partitions.is_empty() || !index_hints.is_empty() {
        return None;
    }
    let table = TableName::try_from(name).ok()?;
    let mut items = vec![];
    for item in &s.projection {
        match item {
            SelectItem::Wildcard(opts)
                if opts.opt_exclude.is_none()
                    && opts.opt_except.is_none()
                    && opts.opt_replace.is_none()
                    && opts.opt_rename.is_none()
                    && opts.opt_ilike.is_none() =>
            {
                items.push(None)
            }
            SelectItem::UnnamedExpr(e) => {
                let c = column_name(e)?;
                items.push(Some((c.clone(), c)));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push(Some((alias.value.clone(), column_name(expr)?)));
            }
            _ => return None,
        }
    }
    let mut preds = vec![];
    conjuncts(s.selection.as_ref()?, &mut preds);
    let mut equalities = vec![];
    for p in preds {
        let (c, v) = match p {
            ast::Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => match (column_name(left), column_name(right)) {
                (Some(c), None) if is_literal(right) => (c, vec![right.as_ref().clone()]),
                (None, Some(c)) if is_literal(left) => (c, vec![left.as_ref().clone()]),
                _ => return None,
            },
            ast::Expr::InList {
                expr,
                list,
                negated: false,
            } if !list.is_empty() && list.iter().all(is_literal) => {
                (column_name(expr)?, list.clone())
            }
            _ => return None,
        };
        equalities.push((c, v));
    }
    Some(PointQuery {
        table,
        items,
        equalities,
    })
}

impl Session {
    /// Answers a point lookup on a PRIMARY KEY table from its index; `None` when the query
    /// is not one (the planner takes it).
    pub(crate) async fn point_lookup(
        &mut self,
        query: &ast::Query,
    ) -> Result<Option<QueryResult>, SqlError> {
        if !self.var_bool("enable_short_circuit") {
            return Ok(None);
        }
        let Some(q) = point_query(query) else {
            return Ok(None);
        };
        let Ok(db) = self.db_of(&q.table.db) else {
            return Ok(None);
        };
        let Some(table) = self.fe.catalog().read().table(&db, &q.table.name) else {
            return Ok(None);
        };
        let Some(olap) = table.olap() else {
            return Ok(None);
        };
        if olap.keys_type != KeysType::Primary {
            return Ok(None);
        }
        let Some(per_tablet) = keys_by_tablet(olap, &q.equalities) else {
            return Ok(None);
        };
        let mut projection = vec![];
        let mut names = vec![];
        for item in &q.items {
            match item {
                None => {
                    for (i, c) in olap.columns.iter().enumerate() {
                        projection.push(i);
                        names.push(c.name.clone());
                    }
                }
                Some((out, c)) => {
                    let Some(i) = olap.column_index(c) else {
                        // Unknown column: the planner words the error.
                        return Ok(None);
                    };
                    projection.push(i);
                    names.push(out.clone());
                }
            }
        }
        let table_schema = olap.arrow_schema();
        let projected = table_schema
            .project(&projection)
            .map_err(|e| SqlError::internal(e.to_string()))?;
        let schema: SchemaRef = Arc::new(Schema::new(
            projected
                .fields()
                .iter()
                .zip(&names)
                .map(|(f, n)| Field::new(n, f.data_type().clone(), f.is_nullable()))
                .collect::<Vec<_>>(),
        ));
        // Each tablet is read on a complete replica whose backend is alive.
        let mut placement = std::collections::HashMap::new();
        for p in &olap.partitions {
            for (bucket, t) in p.tablets.iter().enumerate() {
                if per_tablet.iter().any(|(x, _)| x == t) {
                    let backend = crate::replica::read_from(self.fe.cluster(), p, bucket)?;
                    placement.insert(*t, backend);
                }
            }
        }
        let mut batches = vec![];
        for (tablet, keys) in per_tablet {
            let backend = placement
                .get(&tablet)
                .copied()
                .unwrap_or(rigel_common::ids::EMBEDDED_BACKEND);
            let request = LookupRequest {
                schema: Arc::clone(&table_schema),
                tablet,
                keys,
                projection: projection.clone(),
            };
            let batch = self
                .fe
                .cluster()
                .backend(backend)?
                .lookup_rows(request)
                .await?;
            let batch = RecordBatch::try_new_with_options(
                Arc::clone(&schema),
                batch.columns().to_vec(),
                &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
            )
            .map_err(|e| SqlError::internal(e.to_string()))?;
            batches.push(Ok(batch));
        }
        Ok(Some(QueryResult::Rows {
            schema,
            stream: Box::pin(futures::stream::iter(batches)),
        }))
    }
}

/// The keys (one array per primary key column, typed as the columns) grouped by the tablet
/// each hashes to; `None` unless the conditions name exactly the primary key columns, every
/// value converts and there are at most [`MAX_KEYS`] keys.
fn keys_by_tablet(
    olap: &OlapTable,
    equalities: &[(String, Vec<ast::Expr>)],
) -> Option<Vec<(TabletId, Vec<ArrayRef>)>> {
    let key_columns = olap.key_indexes();
    if equalities.len() != key_columns.len() {
        return None;
    }
    // Distinct values per key column, in key order.
    let mut per_column: Vec<Vec<ScalarValue>> = vec![];
    for &i in &key_columns {
        let c = &olap.columns[i];
        let matching: Vec<&Vec<ast::Expr>> = equalities
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&c.name))
            .map(|(_, v)| v)
            .collect();
        let [values] = matching.as_slice() else {
            return None;
        };
        let ty = c.ty.to_arrow();
        let mut typed: Vec<ScalarValue> = vec![];
        for v in values.iter() {
            // MySQL compares a string column with a number numerically ('05' = 5): only
            // string literals look string keys up.
            if is_string(&ty) && !is_string_literal(v) {
                return None;
            }
            let v = ScalarValue::Utf8(Some(literal_text(v)?))
                .cast_to(&ty)
                .ok()
                .filter(|v| !v.is_null())?;
            if !typed.contains(&v) {
                typed.push(v);
            }
        }
        per_column.push(typed);
    }
    let combos = per_column
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()))?;
    if combos == 0 || combos > MAX_KEYS {
        return None;
    }
    let mut groups: BTreeMap<TabletId, Vec<Vec<ScalarValue>>> = BTreeMap::new();
    for key in combinations(&per_column) {
        let filters: Vec<Expr> = key_columns
            .iter()
            .zip(&key)
            .map(|(&i, v)| {
                Expr::Column(Column::from_name(&olap.columns[i].name)).eq(lit(v.clone()))
            })
            .collect();
        let partitions = prune_partitions(olap, &filters);
        let buckets = prune_buckets(olap, &filters)?;
        let ([p], [b]) = (partitions.as_slice(), buckets.as_slice()) else {
            return None;
        };
        let tablet = *olap.partitions.get(*p)?.tablets.get(*b as usize)?;
        groups.entry(tablet).or_default().push(key);
    }
    groups
        .into_iter()
        .map(|(t, keys)| {
            let columns = (0..key_columns.len())
                .map(|c| ScalarValue::iter_to_array(keys.iter().map(|k| k[c].clone())).ok())
                .collect::<Option<Vec<ArrayRef>>>()?;
            Some((t, columns))
        })
        .collect()
}
