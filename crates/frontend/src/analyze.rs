//! `ANALYZE [FULL|SAMPLE] TABLE t [(cols)]`: column statistics for the planner.
//!
//! One aggregate query over the table counts rows, NULLs and (approximately, with
//! HyperLogLog) distinct values and takes each column's minimum and maximum. The result is
//! journaled with the table and handed to DataFusion with every scan as (inexact) column
//! statistics, which it uses to estimate filter selectivity and join sizes, and so to pick
//! join sides. `SAMPLE` currently reads every row too.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use rigel_common::{ColumnType, ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::TableName;

use crate::catalog::{ColumnStatistics, JournalEntry, TableKind, TableStatistics};
use crate::error::unknown_table;
use crate::now_ms;
use crate::session::Session;

/// Jobs kept for SHOW ANALYZE STATUS.
const MAX_JOBS: usize = 100;

/// One ANALYZE run.
#[derive(Debug, Clone)]
pub struct AnalyzeJob {
    /// Id.
    pub id: u64,
    /// Database.
    pub db: String,
    /// Table.
    pub table: String,
    /// Analyzed columns.
    pub columns: Vec<String>,
    /// FULL or SAMPLE.
    pub kind: &'static str,
    /// FINISH or FAILED.
    pub status: &'static str,
    /// Started, ms.
    pub start_ms: i64,
    /// Ended, ms.
    pub end_ms: i64,
    /// Why it failed.
    pub reason: String,
}

/// Whether min/max/NDV of the type are meaningful and computable.
fn analyzable(ty: &ColumnType) -> bool {
    !matches!(
        ty,
        ColumnType::Array(_)
            | ColumnType::Map(_, _)
            | ColumnType::Struct(_)
            | ColumnType::Json
            | ColumnType::Hll
            | ColumnType::Bitmap
    )
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl Session {
    pub(crate) async fn analyze(
        &mut self,
        name: TableName,
        columns: Vec<String>,
        sample: bool,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let table = self
            .fe
            .catalog()
            .read()
            .table(&db, &name.name)
            .ok_or_else(|| unknown_table(&db, &name.name))?;
        let Some(olap) = table.olap() else {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_OBJECT,
                format!("'{db}.{}' is a view; ANALYZE needs a table", table.name),
            ));
        };
        let mut targets = vec![];
        for c in &olap.columns {
            let named =
                columns.is_empty() || columns.iter().any(|n| n.eq_ignore_ascii_case(&c.name));
            if named && analyzable(&c.ty) {
                targets.push(c.name.clone());
            }
        }
        for n in &columns {
            if olap.column(n).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_BAD_FIELD_ERROR,
                    format!("Unknown column '{n}' in '{}'", table.name),
                ));
            }
        }
        let start_ms = now_ms();
        let result = self.collect_statistics(&db, &table.name, &targets).await;
        let mut job = AnalyzeJob {
            id: start_ms as u64,
            db: db.clone(),
            table: table.name.clone(),
            columns: targets.clone(),
            kind: if sample { "SAMPLE" } else { "FULL" },
            status: "FINISH",
            start_ms,
            end_ms: now_ms(),
            reason: String::new(),
        };
        let outcome = match result {
            Ok(stats) => self.store_statistics(table.id, stats).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            job.status = "FAILED";
            job.reason = e.message.clone();
        }
        {
            let mut jobs = self.fe.analyze_jobs.lock();
            jobs.push_back(job.clone());
            while jobs.len() > MAX_JOBS {
                jobs.pop_front();
            }
        }
        outcome?;
        // StarRocks answers with a result set: Table, Op, Msg_type, Msg_text.
        let mut b = crate::result::ResultBuilder::text(&["Table", "Op", "Msg_type", "Msg_text"]);
        b.row(vec![
            crate::result::s(format!("{db}.{}", table.name)),
            crate::result::s("analyze"),
            crate::result::s("status"),
            crate::result::s("OK"),
        ]);
        b.into_result()
    }

    async fn collect_statistics(
        &mut self,
        db: &str,
        table: &str,
        columns: &[String],
    ) -> Result<TableStatistics, SqlError> {
        let mut select = vec!["count(*)".to_string()];
        for c in columns {
            let q = quote(c);
            select.push(format!("count({q})"));
            select.push(format!("approx_distinct({q})"));
            select.push(format!("CAST(min({q}) AS VARCHAR)"));
            select.push(format!("CAST(max({q}) AS VARCHAR)"));
        }
        let sql = format!(
            "SELECT {} FROM {}.{}",
            select.join(", "),
            quote(db),
            quote(table)
        );
        let parsed = rigel_sql::parse_one(&sql)?;
        let rigel_sql::Statement::Query(q) = parsed.statement else {
            return Err(SqlError::internal(
                "ANALYZE built a statement that is not a query",
            ));
        };
        let (_, batches) = self.collect_query(*q).await?;
        let Some(batch) = batches.into_iter().find(|b| b.num_rows() > 0) else {
            return Err(SqlError::internal("ANALYZE's query returned no row"));
        };
        let int = |i: usize| -> u64 {
            let c = batch.column(i);
            match c.data_type() {
                DataType::Int64 => c.as_primitive::<Int64Type>().value(0).max(0) as u64,
                DataType::UInt64 => c.as_primitive::<UInt64Type>().value(0),
                _ => 0,
            }
        };
        let text = |i: usize| -> Option<String> {
            let c = batch.column(i);
            if c.is_null(0) {
                return None;
            }
            match c.data_type() {
                DataType::Utf8 => Some(c.as_string::<i32>().value(0).to_string()),
                DataType::Utf8View => Some(c.as_string_view().value(0).to_string()),
                DataType::LargeUtf8 => Some(c.as_string::<i64>().value(0).to_string()),
                _ => None,
            }
        };
        let rows = int(0);
        let columns = columns
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let base = 1 + 4 * k;
                ColumnStatistics {
                    name: name.clone(),
                    nulls: rows.saturating_sub(int(base)),
                    ndv: int(base + 1),
                    min: text(base + 2),
                    max: text(base + 3),
                }
            })
            .collect();
        Ok(TableStatistics {
            rows,
            columns,
            updated_ms: now_ms(),
        })
    }

    async fn store_statistics(
        &mut self,
        table_id: rigel_common::ids::TableId,
        stats: TableStatistics,
    ) -> Result<(), SqlError> {
        let mut w = self.fe.catalog().writer().await;
        let Some(current) = w.read().tables.get(&table_id).cloned() else {
            return Err(SqlError::new(
                ErrorCode::ER_NO_SUCH_TABLE,
                "the table was dropped while being analyzed",
            ));
        };
        let mut table = (*current).clone();
        let TableKind::Olap(olap) = &mut table.kind else {
            return Err(SqlError::internal("analyzed a view"));
        };
        // Columns analyzed before and not now keep their statistics.
        let mut merged = stats;
        if let Some(old) = &olap.statistics {
            for c in &old.columns {
                if !merged.columns.iter().any(|n| n.name == c.name) {
                    merged.columns.push(c.clone());
                }
            }
        }
        olap.statistics = Some(merged);
        w.commit(vec![JournalEntry::PutTable {
            table: Box::new(table),
        }])?;
        Ok(())
    }
}

/// DataFusion column statistics (in the scan schema's types) from ANALYZE's results.
pub(crate) fn scan_statistics(
    olap: &crate::catalog::OlapTable,
    schema: &datafusion::arrow::datatypes::SchemaRef,
) -> Option<Vec<datafusion::common::ColumnStatistics>> {
    use datafusion::common::stats::Precision;
    use datafusion::scalar::ScalarValue;
    let stats = olap.statistics.as_ref()?;
    let value = |text: &Option<String>, ty: &DataType| -> Precision<ScalarValue> {
        text.as_ref()
            .and_then(|t| ScalarValue::Utf8(Some(t.clone())).cast_to(ty).ok())
            .map(Precision::Inexact)
            .unwrap_or(Precision::Absent)
    };
    Some(
        schema
            .fields()
            .iter()
            .map(|f| {
                let mut c = datafusion::common::ColumnStatistics::new_unknown();
                if let Some(s) = stats.columns.iter().find(|c| c.name == *f.name()) {
                    c.null_count = Precision::Inexact(s.nulls as usize);
                    c.distinct_count = Precision::Inexact(s.ndv as usize);
                    c.min_value = value(&s.min, f.data_type());
                    c.max_value = value(&s.max, f.data_type());
                }
                c
            })
            .collect(),
    )
}
