//! Queries, EXPLAIN and prepared-statement parameters.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{collect, displayable, execute_stream};
use futures::StreamExt;
use rigel_common::{ColumnType, SqlError};
use rigel_mysql::{QueryResult, Value};
use rigel_sql::Statement;
use rigel_sql::sqlparser::ast;
use rigel_sql::sqlparser::dialect::MySqlDialect;
use rigel_sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::df_error;
use crate::planner::{
    display_schema, logical_plan, name_output_columns, physical_plan, rewrite_mysql,
};
use crate::result::{ResultBuilder, s};
use crate::session::Session;

/// HLL and BITMAP values go to clients as NULL, as StarRocks sends them: they are opaque
/// and can be large (`bitmap_to_string`, `hll_cardinality` and friends show them).
fn hide_sketches(stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
    let schema = stream.schema();
    let hidden: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            matches!(
                ColumnType::from_field(f),
                Some(ColumnType::Hll | ColumnType::Bitmap)
            )
        })
        .map(|(i, _)| i)
        .collect();
    if hidden.is_empty() {
        return stream;
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for &i in &hidden {
        fields[i] = fields[i].clone().with_nullable(true);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let out_schema = Arc::clone(&schema);
    let batches = stream.map(move |batch| {
        let batch = batch?;
        let mut columns = batch.columns().to_vec();
        for &i in &hidden {
            columns[i] = new_null_array(columns[i].data_type(), batch.num_rows());
        }
        Ok(RecordBatch::try_new(Arc::clone(&schema), columns)?)
    });
    Box::pin(RecordBatchStreamAdapter::new(out_schema, batches))
}

impl Session {
    /// Runs a query, streaming its result.
    pub(crate) async fn run_query(
        &mut self,
        mut query: ast::Query,
    ) -> Result<QueryResult, SqlError> {
        if let Some(result) = self.point_lookup(&query).await? {
            return Ok(result);
        }
        let names = name_output_columns(&mut query);
        let mut stmt = ast::Statement::Query(Box::new(query));
        rewrite_mysql(&mut stmt);
        let (state, _) = self.fe.env.state(&self.view(), 0);
        let plan = logical_plan(&state, stmt).await?;
        let physical = physical_plan(&state, &plan).await?;
        let schema: SchemaRef = display_schema(&physical.schema(), &names);
        self.last_plan = Some(Arc::clone(&physical));
        let stream = execute_stream(physical, state.task_ctx()).map_err(df_error)?;
        Ok(QueryResult::Rows {
            schema,
            stream: self.guard_stream(hide_sketches(stream)),
        })
    }

    /// Runs a query to completion.
    pub(crate) async fn collect_query(
        &mut self,
        query: ast::Query,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let mut stmt = ast::Statement::Query(Box::new(query));
        rewrite_mysql(&mut stmt);
        let (state, _) = self.fe.env.state(&self.view(), 0);
        let plan = logical_plan(&state, stmt).await?;
        let physical = physical_plan(&state, &plan).await?;
        let schema = physical.schema();
        let batches = collect(physical, state.task_ctx())
            .await
            .map_err(df_error)?;
        Ok((schema, batches))
    }

    /// Plans a query and returns its output schema without running it.
    pub(crate) async fn query_schema(
        &mut self,
        mut query: ast::Query,
    ) -> Result<SchemaRef, SqlError> {
        let names = name_output_columns(&mut query);
        let mut stmt = ast::Statement::Query(Box::new(query));
        rewrite_mysql(&mut stmt);
        let (state, _) = self.fe.env.state(&self.view(), 0);
        let plan = logical_plan(&state, stmt).await?;
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        Ok(display_schema(&schema, &names))
    }

    /// EXPLAIN: the scans with their partition and tablet pruning, then DataFusion's plan.
    pub(crate) async fn explain(
        &mut self,
        kind: &str,
        statement: Statement,
    ) -> Result<QueryResult, SqlError> {
        let query = match statement {
            Statement::Query(q) => *q,
            Statement::Insert(i) => *i.source,
            _ => return Err(SqlError::not_supported("EXPLAIN of this statement")),
        };
        let mut stmt = ast::Statement::Query(Box::new(query));
        rewrite_mysql(&mut stmt);
        let (state, ctx) = self.fe.env.state(&self.view(), 0);
        let plan = logical_plan(&state, stmt).await?;
        let physical = physical_plan(&state, &plan).await?;
        let mut lines: Vec<String> = vec![];
        for scan in ctx.scans.lock().iter() {
            lines.push(format!(
                "OlapScan: {} partitions={}/{} [{}] tablets={}/{}",
                scan.table,
                scan.partitions.0,
                scan.partitions.1,
                scan.partitions.2.join(", "),
                scan.tablets.0,
                scan.tablets.1
            ));
        }
        if kind == "verbose" || kind == "logical" {
            lines.push("Logical plan:".to_string());
            lines.extend(
                plan.display_indent()
                    .to_string()
                    .lines()
                    .map(|l| format!("  {l}")),
            );
        }
        if kind != "logical" {
            if rigel_rpc::distributed::is_distributed(&physical) {
                let analyze = kind == "analyze";
                let plan = if analyze {
                    let _ = collect(Arc::clone(&physical), state.task_ctx())
                        .await
                        .map_err(df_error)?;
                    rigel_rpc::distributed::with_metrics(physical).await
                } else {
                    physical
                };
                lines.push(if analyze {
                    "Distributed plan (stages, with metrics):".to_string()
                } else {
                    "Distributed plan (stages):".to_string()
                });
                let text = rigel_rpc::distributed::display(&plan, analyze);
                lines.extend(text.lines().map(|l| format!("  {l}")));
            } else if kind == "analyze" {
                let _ = collect(Arc::clone(&physical), state.task_ctx())
                    .await
                    .map_err(df_error)?;
                lines.push("Physical plan (with metrics):".to_string());
                let text =
                    datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(
                        physical.as_ref(),
                    )
                    .indent(true)
                    .to_string();
                lines.extend(text.lines().map(|l| format!("  {l}")));
            } else {
                lines.push("Physical plan:".to_string());
                let text = displayable(physical.as_ref()).indent(true).to_string();
                lines.extend(text.lines().map(|l| format!("  {l}")));
            }
        }
        let mut b = ResultBuilder::new(&[("Explain String", DataType::Utf8)]);
        for l in lines {
            b.row(vec![s(l)]);
        }
        b.into_result()
    }
}

/// Number of `?` placeholders in a statement.
pub fn count_placeholders(sql: &str) -> Result<usize, SqlError> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .map_err(|e| SqlError::syntax(format!("Getting syntax error: {e}")))?;
    Ok(tokens
        .iter()
        .filter(|t| matches!(t, Token::Placeholder(p) if p == "?"))
        .count())
}

/// Substitutes parameter values for the `?` placeholders, as SQL literals.
pub fn bind_placeholders(sql: &str, params: &[Value]) -> Result<String, SqlError> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .map_err(|e| SqlError::syntax(format!("Getting syntax error: {e}")))?;
    let mut out = String::with_capacity(sql.len() + params.len() * 8);
    let mut next = 0usize;
    for t in &tokens {
        match t {
            Token::Placeholder(p) if p == "?" => {
                let v = params.get(next).ok_or_else(|| {
                    SqlError::new(
                        rigel_common::ErrorCode::ER_WRONG_ARGUMENTS,
                        "Incorrect arguments to mysqld_stmt_execute: too few parameters",
                    )
                })?;
                out.push_str(&literal(v));
                next += 1;
            }
            other => out.push_str(&other.to_string()),
        }
    }
    if next != params.len() {
        return Err(SqlError::new(
            rigel_common::ErrorCode::ER_WRONG_ARGUMENTS,
            "Incorrect arguments to mysqld_stmt_execute: too many parameters",
        ));
    }
    Ok(out)
}

fn literal(v: &Value) -> String {
    match v {
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(text) => {
                let mut s = String::with_capacity(text.len() + 2);
                s.push('\'');
                for c in text.chars() {
                    match c {
                        '\'' => s.push_str("''"),
                        '\\' => s.push_str("\\\\"),
                        '\0' => s.push_str("\\0"),
                        c => s.push(c),
                    }
                }
                s.push('\'');
                s
            }
            Err(_) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("X'{hex}'")
            }
        },
        Value::Date(y, m, d, 0, 0, 0, 0) => format!("'{y:04}-{m:02}-{d:02}'"),
        Value::Date(y, m, d, h, mi, s, 0) => {
            format!("'{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}'")
        }
        Value::Date(y, m, d, h, mi, s, us) => {
            format!("'{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
        }
        other => other.as_sql(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_strings_only() {
        assert_eq!(
            count_placeholders("select ?, '?', `?` from t where a = ?").unwrap(),
            2
        );
        let sql = bind_placeholders(
            "select ? , ? where x = ?",
            &[
                Value::Int(5),
                Value::Bytes(b"it's".to_vec()),
                Value::Date(2024, 1, 2, 3, 4, 5, 0),
            ],
        )
        .unwrap();
        assert_eq!(sql, "select 5 , 'it''s' where x = '2024-01-02 03:04:05'");
        assert!(bind_placeholders("select ?", &[]).is_err());
        assert!(bind_placeholders("select 1", &[Value::NULL]).is_err());
    }
}
