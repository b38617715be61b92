//! INSERT.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::physical_plan::execute_stream;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use rigel_be_api::OP_UPSERT;
use rigel_common::convert::{RowError, convert_column, good_rows_mask};
use rigel_common::ids::TxnId;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::{BatchStream, QueryResult};
use rigel_sql::sqlparser::ast::{self, SetExpr};
use rigel_sql::{DefaultValue, Insert};

use crate::error::{df_error, unknown_table};
use crate::planner::{logical_plan, name_output_columns, physical_plan, rewrite_mysql};
use crate::session::Session;
use crate::txn::write_target;
use rigel_catalog::{Column, OlapTable};

/// Where each table column's values come from.
enum Source {
    /// Column `i` of the query output.
    Query(usize),
    /// The column's default.
    Default,
}

fn default_sql(col: &Column) -> ast::Expr {
    match &col.default {
        Some(DefaultValue::Literal(v)) => {
            ast::Expr::Value(ast::Value::SingleQuotedString(v.clone()).into())
        }
        Some(DefaultValue::CurrentTimestamp) => {
            rigel_sql::parse_expr("now()").unwrap_or(ast::Expr::Value(ast::Value::Null.into()))
        }
        Some(DefaultValue::Expr(e)) => {
            rigel_sql::parse_expr(e).unwrap_or(ast::Expr::Value(ast::Value::Null.into()))
        }
        Some(DefaultValue::Null) | None => ast::Expr::Value(ast::Value::Null.into()),
    }
}

fn is_default_keyword(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
}

impl Session {
    /// The value of a column's default, as an array of `rows` values.
    async fn default_array(&mut self, col: &Column, rows: usize) -> Result<ArrayRef, SqlError> {
        let target = col.ty.to_arrow();
        let value = match &col.default {
            Some(DefaultValue::Literal(v)) => ScalarValue::Utf8(Some(v.clone()))
                .cast_to(&target)
                .map_err(df_error)?,
            Some(DefaultValue::CurrentTimestamp) | Some(DefaultValue::Expr(_)) => {
                let sql = format!("SELECT {}", default_sql(col));
                let q = match rigel_sql::parse_one(&sql)?.statement {
                    rigel_sql::Statement::Query(q) => *q,
                    _ => return Err(SqlError::internal("default is not an expression")),
                };
                let (_, batches) = self.collect_query(q).await?;
                let batch = batches
                    .into_iter()
                    .find(|b| b.num_rows() > 0)
                    .ok_or_else(|| SqlError::internal("default produced no value"))?;
                ScalarValue::try_from_array(batch.column(0), 0)
                    .and_then(|v| v.cast_to(&target))
                    .map_err(df_error)?
            }
            Some(DefaultValue::Null) | None => {
                if !col.nullable {
                    return Err(SqlError::new(
                        ErrorCode::ER_NO_DEFAULT_FOR_FIELD,
                        format!("Field '{}' doesn't have a default value", col.name),
                    ));
                }
                ScalarValue::try_from(&target).map_err(df_error)?
            }
        };
        value.to_array_of_size(rows).map_err(df_error)
    }

    pub(crate) async fn insert(
        &mut self,
        ins: Insert,
        text: &str,
    ) -> Result<QueryResult, SqlError> {
        self.write_rows(ins, text, OP_UPSERT, "INSERT").await
    }

    /// Writes the rows of an INSERT (also the rows an UPDATE or a DELETE on a PRIMARY KEY
    /// table produce, with their `op`), in one transaction.
    pub(crate) async fn write_rows(
        &mut self,
        ins: Insert,
        text: &str,
        op: i8,
        kind: &'static str,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&ins.table.db)?;
        let table = self
            .fe
            .catalog()
            .read()
            .table(&db, &ins.table.name)
            .ok_or_else(|| unknown_table(&db, &ins.table.name))?;
        let Some(olap) = table.olap() else {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_OBJECT,
                format!("'{db}.{}' is a view; INSERT needs a table", table.name),
            ));
        };
        if ins.overwrite {
            return Err(SqlError::not_supported("INSERT OVERWRITE"));
        }
        for p in &ins.partitions {
            if olap.partition(p).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", table.name),
                ));
            }
        }
        // Map table columns to query output columns.
        let target_names: Vec<String> = if ins.columns.is_empty() {
            olap.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            ins.columns.clone()
        };
        let mut positions = vec![];
        for name in &target_names {
            let idx = olap.column_index(name).ok_or_else(|| {
                SqlError::new(
                    ErrorCode::ER_BAD_FIELD_ERROR,
                    format!("Unknown column '{name}' in '{}'", table.name),
                )
            })?;
            if positions.contains(&idx) {
                return Err(SqlError::new(
                    ErrorCode::ER_DUP_FIELDNAME,
                    format!("Column '{name}' specified twice"),
                ));
            }
            positions.push(idx);
        }
        let sources: Vec<Source> = (0..olap.columns.len())
            .map(|i| match positions.iter().position(|&p| p == i) {
                Some(q) => Source::Query(q),
                None => Source::Default,
            })
            .collect();

        // DEFAULT in VALUES rows.
        let mut query = *ins.source;
        let is_plain_values = query.order_by.is_none()
            && query.limit_clause.is_none()
            && query.with.is_none()
            && matches!(query.body.as_ref(), SetExpr::Values(_));
        if let SetExpr::Values(values) = query.body.as_mut() {
            for (r, row) in values.rows.iter_mut().enumerate() {
                if row.len() != positions.len() {
                    return Err(SqlError::new(
                        ErrorCode::ER_WRONG_VALUE_COUNT_ON_ROW,
                        format!("Column count doesn't match value count at row {}", r + 1),
                    ));
                }
                for (k, e) in row.iter_mut().enumerate() {
                    if is_default_keyword(e) {
                        *e = default_sql(&olap.columns[positions[k]]);
                    }
                }
            }
        }
        let mut stream: BatchStream = if is_plain_values {
            let SetExpr::Values(values) = query.body.as_ref() else {
                return Err(SqlError::internal("VALUES expected"));
            };
            let rows: Vec<&Vec<ast::Expr>> = values.rows.iter().map(|r| &r.content).collect();
            let batch = self.values_batch(&rows).await?;
            Box::pin(futures::stream::iter(vec![Ok(batch)]))
        } else {
            // Columns map by position; equal output names (`SELECT v, v`) are made distinct
            // for the planner, as MySQL needs no distinct names here.
            let mut query = query;
            name_output_columns(&mut query);
            let mut stmt = ast::Statement::Query(Box::new(query));
            rewrite_mysql(&mut stmt);
            let (state, _) = self.fe.env.state(&self.view(), 0);
            let plan = logical_plan(&state, stmt).await?;
            if plan.schema().fields().len() != positions.len() {
                return Err(SqlError::new(
                    ErrorCode::ER_WRONG_VALUE_COUNT_ON_ROW,
                    "Column count doesn't match value count at row 1",
                ));
            }
            let physical = physical_plan(&state, &plan).await?;
            let stream = execute_stream(physical, state.task_ctx()).map_err(df_error)?;
            self.guard_stream(stream)
        };

        let strict = self.var_bool("enable_insert_strict");
        let label = ins
            .label
            .clone()
            .unwrap_or_else(|| format!("{}_{:016x}", kind.to_ascii_lowercase(), rand_label()));
        let txn = self.fe.begin_txn().await?;
        let db_id = self
            .fe
            .catalog()
            .read()
            .database(&db)
            .map(|d| d.id)
            .ok_or_else(|| crate::error::unknown_db(&db))?;
        let _label = self.fe.reserve_label(db_id, &label, txn).map_err(|_| {
            SqlError::new(
                ErrorCode::ER_LABEL_ALREADY_EXISTS,
                format!("Label [{label}] has already been used."),
            )
        })?;
        let started_ms = crate::now_ms();
        let target = write_target(
            &table,
            olap,
            (!ins.partitions.is_empty()).then_some(&ins.partitions[..]),
        )?;
        let mut sink = self.fe.open_sink(txn, Arc::clone(&target)).await?;
        let mut total = 0usize;
        let mut filtered = 0usize;
        // Rows for partitions the table lacks create them (expression partitioning), unless
        // the statement names its partitions.
        let named_partitions = !ins.partitions.is_empty();
        let result: Result<(), SqlError> = async {
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let n = batch.num_rows();
                if n == 0 {
                    continue;
                }
                let (columns, errors) = self.convert_batch(olap, &sources, &batch).await?;
                let columns = if errors.is_empty() {
                    columns
                } else if strict {
                    let first = errors.iter().min_by_key(|e| e.row).cloned();
                    return Err(first
                        .map(|e| insert_error(&e, total))
                        .unwrap_or_else(|| SqlError::internal("row error")));
                } else {
                    filtered += count_rows(&errors);
                    let mask = good_rows_mask(n, &errors);
                    columns
                        .iter()
                        .map(|c| datafusion::arrow::compute::filter(c, &mask))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| SqlError::internal(e.to_string()))?
                };
                let columns = target.with_op(columns, op);
                let converted = RecordBatch::try_new(Arc::clone(&target.schema), columns)
                    .map_err(|e| SqlError::internal(e.to_string()))?;
                total += n;
                if converted.num_rows() > 0 {
                    let mut unmatched = sink.write(converted.clone()).await?;
                    if !unmatched.is_empty() && !named_partitions {
                        unmatched = self
                            .fe
                            .write_to_new_partitions(&table, &mut *sink, &converted, unmatched)
                            .await?;
                    }
                    if let Some(&first) = unmatched.first() {
                        if strict {
                            return Err(no_partition_error(
                                &table.name,
                                olap,
                                &converted,
                                first as usize,
                            ));
                        }
                        filtered += unmatched.len();
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            drop(sink);
            self.fe.abort_txn(txn).await;
            return Err(e);
        }
        let summary = match sink.finish().await {
            Ok(s) => s,
            Err(e) => {
                self.fe.abort_txn(txn).await;
                return Err(e);
            }
        };
        if filtered > 0 {
            self.warn(
                ErrorCode::ER_TRUNCATED_WRONG_VALUE,
                format!("{filtered} row(s) were filtered out because they do not fit the table"),
            );
        }
        let info_status = if summary.rows == 0 {
            self.fe.abort_txn(txn).await;
            "VISIBLE"
        } else {
            let status = self
                .fe
                .commit_txn(txn, &table, label.clone(), &summary)
                .await?;
            self.fe.after_load(table.id, summary.rows);
            status.as_str()
        };
        let _ = text;
        self.fe.loads.record(crate::load::LoadJob {
            txn,
            label: label.clone(),
            db: db.clone(),
            table: table.name.clone(),
            kind,
            state: "FINISHED",
            total: total as u64,
            loaded: summary.rows,
            filtered: filtered as u64,
            unselected: 0,
            error: String::new(),
            error_url: String::new(),
            created_ms: started_ms,
            finished_ms: crate::now_ms(),
        });
        Ok(QueryResult::Ok {
            affected_rows: summary.rows,
            last_insert_id: 0,
            warnings: self.warnings.len() as u16,
            info: format!(
                "{{'label':'{label}', 'status':'{info_status}', 'txnId':'{}'}}",
                txn_display(txn)
            ),
        })
    }

    /// Builds the rows of a `VALUES` list. Columns of plain literals keep each literal's exact
    /// text (so `1.10`, `1e300` and 38-digit decimals convert exactly to the column type);
    /// other columns are evaluated by DataFusion.
    async fn values_batch(&mut self, rows: &[&Vec<ast::Expr>]) -> Result<RecordBatch, SqlError> {
        let width = rows.first().map(|r| r.len()).unwrap_or(0);
        let mut fields = Vec::with_capacity(width);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(width);
        for j in 0..width {
            let texts: Option<Vec<Option<String>>> =
                rows.iter().map(|r| literal_text(&r[j])).collect();
            let array: ArrayRef = match texts {
                Some(texts) => Arc::new(StringArray::from(texts)),
                None => {
                    let list: Vec<String> = rows.iter().map(|r| format!("({})", r[j])).collect();
                    let sql = format!("SELECT * FROM (VALUES {}) AS v(c)", list.join(", "));
                    let q = match rigel_sql::parse_one(&sql)?.statement {
                        rigel_sql::Statement::Query(q) => *q,
                        _ => return Err(SqlError::internal("VALUES is not a query")),
                    };
                    let (_, batches) = self.collect_query(q).await?;
                    let parts: Vec<ArrayRef> =
                        batches.iter().map(|b| Arc::clone(b.column(0))).collect();
                    let refs: Vec<&dyn datafusion::arrow::array::Array> =
                        parts.iter().map(|a| a.as_ref()).collect();
                    if refs.is_empty() {
                        return Err(SqlError::internal("VALUES produced no rows"));
                    }
                    datafusion::arrow::compute::concat(&refs)
                        .map_err(|e| SqlError::internal(e.to_string()))?
                }
            };
            fields.push(datafusion::arrow::datatypes::Field::new(
                format!("c{j}"),
                array.data_type().clone(),
                true,
            ));
            columns.push(array);
        }
        RecordBatch::try_new(
            Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
            columns,
        )
        .map_err(|e| SqlError::internal(e.to_string()))
    }

    /// Converts one batch of query output to the table's columns, reporting bad rows.
    async fn convert_batch(
        &mut self,
        olap: &OlapTable,
        sources: &[Source],
        batch: &RecordBatch,
    ) -> Result<(Vec<ArrayRef>, Vec<RowError>), SqlError> {
        let n = batch.num_rows();
        let mut columns = Vec::with_capacity(olap.columns.len());
        let mut errors = vec![];
        for (col, source) in olap.columns.iter().zip(sources) {
            let array = match source {
                Source::Query(q) => convert_column(batch.column(*q), &col.target(), &mut errors)?,
                Source::Default => self.default_array(col, n).await?,
            };
            columns.push(array);
        }
        Ok((columns, errors))
    }
}

/// The error for a row no partition holds.
pub(crate) fn no_partition_error(
    table: &str,
    olap: &OlapTable,
    batch: &RecordBatch,
    row: usize,
) -> SqlError {
    if olap.partitions.is_empty() {
        return SqlError::new(
            ErrorCode::ER_NO_PARTITION_FOR_GIVEN_VALUE,
            format!(
                "data cannot be inserted into table with empty partition. Use `SHOW PARTITIONS FROM {table}` to see the currently partitions of this table."
            ),
        );
    }
    let values: Vec<String> = olap
        .partition_column_indexes()
        .into_iter()
        .map(|i| {
            ScalarValue::try_from_array(batch.column(i), row)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    SqlError::new(
        ErrorCode::ER_NO_PARTITION_FOR_GIVEN_VALUE,
        format!(
            "Insert has filtered data in strict mode: the row is out of partition ranges of table '{table}' (value: {})",
            values.join(", ")
        ),
    )
}

/// The exact text of a plain literal (`NULL` is None), or None for anything else.
fn literal_text(e: &ast::Expr) -> Option<Option<String>> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => Some(Some(n.clone())),
            ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                Some(Some(s.clone()))
            }
            ast::Value::Boolean(b) => Some(Some(if *b { "1" } else { "0" }.to_string())),
            ast::Value::Null => Some(None),
            _ => None,
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => Some(Some(format!("-{n}"))),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

fn count_rows(errors: &[RowError]) -> usize {
    let mut rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
    rows.sort_unstable();
    rows.dedup();
    rows.len()
}

fn insert_error(e: &RowError, offset: usize) -> SqlError {
    let base = e.to_sql_error(offset);
    SqlError::new(
        base.code,
        format!("Insert has filtered data in strict mode: {}", base.message),
    )
}

fn txn_display(txn: TxnId) -> String {
    txn.0.to_string()
}

fn rand_label() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // Mix in a counter so two inserts in the same nanosecond differ.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    nanos
        ^ COUNTER
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed)
            .rotate_left(17)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keyword() {
        let e = rigel_sql::parse_expr("DEFAULT").unwrap();
        assert!(is_default_keyword(&e));
        let e = rigel_sql::parse_expr("`default`").unwrap();
        assert!(!is_default_keyword(&e));
    }
}
