//! `ANALYZE [FULL|SAMPLE] TABLE t [(cols)]`: column statistics for the planner.
//!
//! One aggregate query over the table counts rows, NULLs and (approximately, with
//! HyperLogLog) distinct values and takes each column's minimum and maximum. The result is
//! journaled with the table and handed to DataFusion with every scan as (inexact) column
//! statistics, which it uses to estimate filter selectivity and join sizes, and so to pick
//! join sides.
//!
//! `SAMPLE` reads whole tablets, taken in turn from every partition, until they hold about
//! `statistic_sample_collect_rows` rows, and scales counts to the whole table: row and NULL
//! counts by the share of rows read; distinct counts by that share too for columns whose
//! sample is mostly distinct values (keys, ids), and as found for the others (flags,
//! categories, which a sample already sees in full), with a blend in between. Minimum and
//! maximum are the sample's. A table no larger than the sample is read whole.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use rigel_common::{ColumnType, ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::TableName;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::physical_plan::collect;
use rigel_common::ids::{TableId, TabletId};
use rigel_sql::sqlparser::ast;
use tracing::warn;

use crate::Frontend;
use crate::error::df_error;
use crate::now_ms;
use crate::planner::{SessionView, logical_plan, physical_plan, rewrite_mysql};
use crate::session::Session;
use crate::show::quote;
use rigel_catalog::{ColumnStatistics, JournalEntry, Table, TableKind, TableStatistics};

/// Jobs kept for SHOW ANALYZE STATUS.
const MAX_JOBS: usize = 100;
/// Loads smaller than this (since the last ANALYZE) do not trigger an automatic one.
const AUTO_ANALYZE_MIN_ROWS: u64 = 100_000;

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
    /// ONCE (ANALYZE) or SCHEDULE (automatic).
    pub schedule: &'static str,
    /// FINISH or FAILED.
    pub status: &'static str,
    /// Started, ms.
    pub start_ms: i64,
    /// Ended, ms.
    pub end_ms: i64,
    /// Why it failed.
    pub reason: String,
    /// SHOW ANALYZE STATUS's Properties: for a sampled run, the rows read and the table's.
    pub properties: String,
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

impl Session {
    pub(crate) async fn analyze(
        &mut self,
        name: TableName,
        columns: Vec<String>,
        sample: bool,
    ) -> Result<QueryResult, SqlError> {
        let (db, table) = self.olap_table(&name, "ANALYZE")?;
        let Some(olap) = table.olap() else {
            return Err(SqlError::internal("not an OLAP table"));
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
        let kind = if sample { "SAMPLE" } else { "FULL" };
        self.fe
            .run_analyze(&self.view(), &db, &table, targets, kind, "ONCE")
            .await?;
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
}

impl Frontend {
    /// Collects and stores a table's statistics, and records the run for SHOW ANALYZE
    /// STATUS (`schedule`: ONCE for ANALYZE, SCHEDULE for automatic runs).
    pub(crate) async fn run_analyze(
        &self,
        view: &SessionView,
        db: &str,
        table: &Table,
        columns: Vec<String>,
        kind: &'static str,
        schedule: &'static str,
    ) -> Result<(), SqlError> {
        let start_ms = now_ms();
        let mut properties = "{}".to_string();
        let outcome = async {
            let mut view = view.clone();
            let mut factor = None;
            if let Some((tablets, read, total)) = self.sample(table, kind).await? {
                properties =
                    format!("{{\"sample_rows\": \"{read}\", \"table_rows\": \"{total}\"}}");
                view.scan_tablets = Some(Arc::new(tablets));
                factor = Some(total as f64 / read as f64);
            }
            let stats = self
                .collect_statistics(&view, db, &table.name, &columns)
                .await?;
            let stats = match factor {
                Some(f) => scale_statistics(stats, f),
                None => stats,
            };
            self.store_statistics(table.id, stats).await
        }
        .await;
        let job = AnalyzeJob {
            id: start_ms as u64,
            db: db.to_string(),
            table: table.name.clone(),
            columns,
            kind,
            schedule,
            status: if outcome.is_ok() { "FINISH" } else { "FAILED" },
            start_ms,
            end_ms: now_ms(),
            reason: outcome
                .as_ref()
                .err()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
            properties,
        };
        let mut jobs = self.analyze_jobs.lock();
        jobs.push_back(job);
        while jobs.len() > MAX_JOBS {
            jobs.pop_front();
        }
        outcome
    }

    /// Counts rows loaded into a table and, when `enable_statistic_collect` is on and the
    /// loads since the last ANALYZE reach a fifth of the rows it saw (at least
    /// AUTO_ANALYZE_MIN_ROWS), analyzes the table in the background.
    pub(crate) fn after_load(self: &Arc<Self>, table_id: TableId, rows: u64) {
        if rows == 0 || !self.config().enable_statistic_collect {
            return;
        }
        let Some((db, table)) = ({
            let state = self.catalog().read();
            state.tables.get(&table_id).and_then(|t| {
                let db = state.databases.get(&t.db_id)?.name.clone();
                Some((db, Arc::clone(t)))
            })
        }) else {
            return;
        };
        let Some(olap) = table.olap() else {
            return;
        };
        let analyzed = olap.statistics.as_ref().map_or(0, |s| s.rows);
        {
            let mut pending = self.rows_since_analyze.lock();
            let since = pending.entry(table_id).or_default();
            *since += rows;
            if *since < AUTO_ANALYZE_MIN_ROWS.max(analyzed / 5) {
                return;
            }
            *since = 0;
        }
        let columns: Vec<String> = olap
            .columns
            .iter()
            .filter(|c| analyzable(&c.ty))
            .map(|c| c.name.clone())
            .collect();
        let fe = Arc::clone(self);
        tokio::spawn(async move {
            let view = fe.load_session_view();
            if let Err(e) = fe
                .run_analyze(&view, &db, &table, columns, "FULL", "SCHEDULE")
                .await
            {
                warn!(table = %table.name, "automatic ANALYZE failed: {}", e.message);
            }
        });
    }

    /// For `SAMPLE`: the tablets to read, the rows they hold and the table's rows; `None`
    /// to read the whole table.
    async fn sample(
        &self,
        table: &Table,
        kind: &str,
    ) -> Result<Option<(HashSet<TabletId>, u64, u64)>, SqlError> {
        let Some(olap) = table.olap() else {
            return Ok(None);
        };
        if kind != "SAMPLE" {
            return Ok(None);
        }
        let want = self.config().statistic_sample_collect_rows.max(1);
        let rows: HashMap<TabletId, u64> = self
            .cluster()
            .tablet_infos()
            .await?
            .into_iter()
            .map(|(_, i)| (i.meta.tablet_id, i.rows))
            .collect();
        let per_partition: Vec<Vec<(TabletId, u64)>> = olap
            .partitions
            .iter()
            .map(|p| {
                p.tablets
                    .iter()
                    .map(|t| (*t, rows.get(t).copied().unwrap_or(0)))
                    .collect()
            })
            .collect();
        let total: u64 = per_partition.iter().flatten().map(|(_, r)| r).sum();
        if total <= want {
            return Ok(None);
        }
        // Round robin over the partitions (time ranges differ), tablets in bucket order.
        let mut chosen = HashSet::new();
        let mut read = 0u64;
        let deepest = per_partition.iter().map(Vec::len).max().unwrap_or(0);
        'pick: for i in 0..deepest {
            for tablets in &per_partition {
                if let Some(&(t, r)) = tablets.get(i)
                    && r > 0
                {
                    chosen.insert(t);
                    read += r;
                    if read >= want {
                        break 'pick;
                    }
                }
            }
        }
        if read == 0 || read >= total {
            return Ok(None);
        }
        Ok(Some((chosen, read, total)))
    }

    async fn collect_statistics(
        &self,
        view: &SessionView,
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
        let mut stmt = ast::Statement::Query(q);
        rewrite_mysql(&mut stmt);
        let (state, _) = self.env.state(view, 0);
        let plan = logical_plan(&state, stmt).await?;
        let physical = physical_plan(&state, &plan).await?;
        let batches = collect(physical, state.task_ctx())
            .await
            .map_err(df_error)?;
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
        &self,
        table_id: TableId,
        stats: TableStatistics,
    ) -> Result<(), SqlError> {
        let mut w = self.catalog().writer().await;
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
    olap: &rigel_catalog::OlapTable,
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

/// Statistics of a sample holding `1 / factor` of the table's rows, scaled to the table.
fn scale_statistics(mut stats: TableStatistics, factor: f64) -> TableStatistics {
    let sampled = stats.rows;
    let scale = |n: u64| (n as f64 * factor).round() as u64;
    stats.rows = scale(sampled);
    for c in &mut stats.columns {
        c.nulls = scale(c.nulls);
        let non_null = sampled.saturating_sub(c.nulls).max(1) as f64;
        // Share of distinct values among the sample's values: ~1 for keys (which a larger
        // table has proportionally more of), ~0 for flags (which the sample saw in full).
        let distinct = (c.ndv as f64 / non_null).min(1.0);
        let ndv = c.ndv as f64 * (1.0 + (factor - 1.0) * distinct);
        c.ndv = (ndv.round() as u64).min(stats.rows.saturating_sub(c.nulls));
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(ndv: u64, nulls: u64) -> ColumnStatistics {
        ColumnStatistics {
            name: "c".into(),
            nulls,
            ndv,
            min: None,
            max: None,
        }
    }

    #[test]
    fn samples_scale_to_the_table() {
        let stats = TableStatistics {
            rows: 1000,
            columns: vec![column(1000, 0), column(3, 0), column(500, 100)],
            updated_ms: 0,
        };
        let s = scale_statistics(stats, 10.0);
        assert_eq!(s.rows, 10_000);
        // A key: as many distinct values as rows.
        assert_eq!(s.columns[0].ndv, 10_000);
        // A flag: the sample saw every value.
        assert_eq!(s.columns[1].ndv, 3);
        // In between, and never more than the non-NULL rows.
        assert_eq!(s.columns[2].nulls, 1000);
        assert!(s.columns[2].ndv > 500 && s.columns[2].ndv <= 9000);
    }
}
