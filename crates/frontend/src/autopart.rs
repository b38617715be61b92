//! Expression partitioning: a load that brings rows no partition takes creates the
//! partitions they need and writes the rows there.
//!
//! - `PARTITION BY date_trunc('<unit>', col)`: RANGE partitions one unit wide, named
//!   `pYYYYMMDD`, `pYYYYMM`, `pYYYY` or `pYYYYMMDDHH`.
//! - `PARTITION BY (c1, …)`: a LIST partition per distinct value tuple, named after the
//!   values (`p20240101_Houston`).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, take_record_batch};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::scalar::ScalarValue;
use rigel_be_api::{TabletSink, WriteTarget};
use rigel_common::ids::TableId;
use rigel_common::{ColumnType, ErrorCode, SqlError};

use crate::Frontend;
use crate::ddl::{NewTablets, allocate_partition};
use crate::now_ms;
use rigel_catalog::partition::{NewPartition, format_value, step_time, time_partition_name};
use rigel_catalog::{CatalogWriter, JournalEntry, OlapTable, PartitionScheme, Table, TableKind};
use rigel_cluster::Placer;

/// The period of `unit` that `t` falls in: its start and the next period's start.
fn period(unit: &str, t: NaiveDateTime) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let day = t.date();
    let start = match unit {
        "hour" => day.and_hms_opt(t.hour(), 0, 0)?,
        "day" => day.and_hms_opt(0, 0, 0)?,
        "month" => NaiveDate::from_ymd_opt(day.year(), day.month(), 1)?.and_hms_opt(0, 0, 0)?,
        "year" => NaiveDate::from_ymd_opt(day.year(), 1, 1)?.and_hms_opt(0, 0, 0)?,
        _ => return None,
    };
    Some((start, step_time(start, 1, unit)?))
}

fn bound_text(ty: &ColumnType, t: NaiveDateTime) -> String {
    match ty {
        ColumnType::Date => t.format("%Y-%m-%d").to_string(),
        _ => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// The distinct value tuples (canonical text) of `columns` in `rows`; rows with a NULL in
/// any of them are left out (no partition takes NULL).
fn distinct_tuples(
    rows: &RecordBatch,
    columns: &[usize],
) -> Result<BTreeSet<Vec<String>>, SqlError> {
    let mut tuples = BTreeSet::new();
    'rows: for r in 0..rows.num_rows() {
        let mut tuple = Vec::with_capacity(columns.len());
        for &c in columns {
            let v = ScalarValue::try_from_array(rows.column(c), r)
                .map_err(|e| SqlError::internal(e.to_string()))?;
            if v.is_null() {
                continue 'rows;
            }
            tuple.push(format_value(&v));
        }
        tuples.insert(tuple);
    }
    Ok(tuples)
}

/// The name of the LIST partition of a value tuple, as StarRocks names them: `p` and the
/// values without their punctuation, joined by `_` (`p20240101_Houston`).
fn list_partition_name(tuple: &[String]) -> String {
    let parts: Vec<String> = tuple
        .iter()
        .map(|v| v.chars().filter(|c| c.is_alphanumeric()).collect())
        .collect();
    format!("p{}", parts.join("_"))
}

impl Frontend {
    /// Adds partitions to a table under the catalog lock: `add` pushes them (allocated with
    /// [`allocate_partition`]) onto the table. Returns the table as it is afterwards.
    async fn add_partitions(
        &self,
        table_id: TableId,
        add: impl FnOnce(
            &mut CatalogWriter<'_>,
            &mut OlapTable,
            &mut Placer,
            &mut NewTablets,
        ) -> Result<(), SqlError>,
    ) -> Result<Arc<Table>, SqlError> {
        let mut w = self.catalog().writer().await;
        let Some(table) = w.read().tables.get(&table_id).cloned() else {
            return Err(SqlError::new(
                ErrorCode::ER_NO_SUCH_TABLE,
                "the table was dropped while loading",
            ));
        };
        let mut new_table = (*table).clone();
        let TableKind::Olap(olap) = &mut new_table.kind else {
            return Ok(table);
        };
        let mut new_tablets = vec![];
        let mut placer = self.cluster().placer(&w.read().tablets_per_backend())?;
        add(&mut w, olap, &mut placer, &mut new_tablets)?;
        if new_tablets.is_empty() {
            return Ok(table);
        }
        let types = olap.partition_types();
        crate::ddl::sort_partitions(olap, &types);
        new_table.updated_ms = now_ms();
        self.cluster().create_tablets(new_tablets).await?;
        w.commit(vec![JournalEntry::PutTable {
            table: Box::new(new_table.clone()),
        }])?;
        Ok(Arc::new(new_table))
    }

    /// Creates the RANGE partitions the values of `column` (the partition column) need and
    /// the table lacks.
    async fn create_range_partitions_for(
        &self,
        table_id: TableId,
        column: &dyn Array,
    ) -> Result<Arc<Table>, SqlError> {
        let micros = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))
            .map_err(|e| SqlError::internal(e.to_string()))?;
        let times: BTreeSet<NaiveDateTime> = micros
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .flatten()
            .filter_map(|us| chrono::DateTime::from_timestamp_micros(us).map(|t| t.naive_utc()))
            .collect();
        self.add_partitions(table_id, |w, olap, placer, new_tablets| {
            let Some(unit) = olap.auto_partition.clone() else {
                return Ok(());
            };
            let types = olap.partition_types();
            let Some(ty) = types.first().cloned() else {
                return Ok(());
            };
            for t in times {
                let Some((start, end)) = period(&unit, t) else {
                    continue;
                };
                let lower = bound_text(&ty, start);
                // Another load (or the user) may have created it; anything else overlapping
                // the period is refused by the disjointness check below.
                let value = rigel_catalog::partition::parse_value(&lower, &ty)?;
                let covered = olap.partitions.iter().any(|p| {
                    rigel_catalog::partition::typed_bounds(p, &types).is_ok_and(|b| {
                        b.lower.as_ref().is_none_or(|l| l[0] <= value)
                            && b.upper.as_ref().is_none_or(|u| value < u[0])
                    })
                });
                if covered {
                    continue;
                }
                let name = time_partition_name(&start, &unit);
                if olap.partition(&name).is_some() {
                    return Err(SqlError::new(
                        ErrorCode::ER_SAME_NAME_PARTITION,
                        format!("cannot create partition {name}: a partition of that name exists"),
                    ));
                }
                let np = NewPartition {
                    name,
                    lower: Some(vec![lower]),
                    upper: Some(vec![bound_text(&ty, end)]),
                    values: None,
                };
                let partition = allocate_partition(w, olap, table_id, np, placer, new_tablets)?;
                rigel_catalog::partition::check_disjoint(&partition, &olap.partitions, &types)?;
                olap.partitions.push(partition);
            }
            Ok(())
        })
        .await
    }

    /// Creates a LIST partition for each value tuple the table has none for.
    async fn create_list_partitions_for(
        &self,
        table_id: TableId,
        tuples: BTreeSet<Vec<String>>,
    ) -> Result<Arc<Table>, SqlError> {
        self.add_partitions(table_id, |w, olap, placer, new_tablets| {
            let types = olap.partition_types();
            for tuple in tuples {
                let typed = tuple
                    .iter()
                    .zip(&types)
                    .map(|(v, t)| rigel_catalog::partition::parse_value(v, t))
                    .collect::<Result<Vec<_>, _>>()?;
                // Another load (or the user) may have created it.
                let covered = olap.partitions.iter().any(|p| {
                    rigel_catalog::partition::typed_bounds(p, &types)
                        .is_ok_and(|b| b.values.is_some_and(|v| v.contains(&typed)))
                });
                if covered {
                    continue;
                }
                let base = list_partition_name(&tuple);
                let mut name = base.clone();
                let mut n = 1;
                while olap.partition(&name).is_some() {
                    n += 1;
                    name = format!("{base}_{n}");
                }
                let np = NewPartition {
                    name,
                    lower: None,
                    upper: None,
                    values: Some(vec![tuple]),
                };
                let partition = allocate_partition(w, olap, table_id, np, placer, new_tablets)?;
                olap.partitions.push(partition);
            }
            Ok(())
        })
        .await
    }

    /// For a table with expression partitioning, creates the partitions `rows` need
    /// (rows in the table's write schema) and returns the write target over every
    /// partition now; `None` when the table does not create partitions.
    pub(crate) async fn partitions_for_rows(
        &self,
        table: &Table,
        rows: &RecordBatch,
    ) -> Result<Option<Arc<WriteTarget>>, SqlError> {
        let Some(olap) = table.olap().filter(|o| o.auto_partition.is_some()) else {
            return Ok(None);
        };
        let columns = olap.partition_column_indexes();
        let updated = match &olap.partition_scheme {
            PartitionScheme::Range { .. } => {
                let Some(&index) = columns.first() else {
                    return Ok(None);
                };
                self.create_range_partitions_for(table.id, rows.column(index).as_ref())
                    .await?
            }
            PartitionScheme::List { .. } => {
                let tuples = distinct_tuples(rows, &columns)?;
                self.create_list_partitions_for(table.id, tuples).await?
            }
            PartitionScheme::Unpartitioned => return Ok(None),
        };
        let Some(new_olap) = updated.olap() else {
            return Ok(None);
        };
        Ok(Some(crate::txn::write_target(&updated, new_olap, None)?))
    }

    /// After `sink` left the rows `unmatched` of `batch` unwritten (no partition takes
    /// them): for a table with expression partitioning, creates their partitions, points
    /// the sink at them and writes the rows. Returns the rows still without a partition
    /// (NULL partition values, or a table without expression partitioning).
    pub(crate) async fn write_to_new_partitions(
        &self,
        table: &Table,
        sink: &mut dyn TabletSink,
        batch: &RecordBatch,
        unmatched: Vec<u32>,
    ) -> Result<Vec<u32>, SqlError> {
        if table.olap().is_none_or(|o| o.auto_partition.is_none()) || unmatched.is_empty() {
            return Ok(unmatched);
        }
        let rows = take_record_batch(batch, &UInt32Array::from(unmatched.clone()))
            .map_err(|e| SqlError::internal(e.to_string()))?;
        let Some(target) = self.partitions_for_rows(table, &rows).await? else {
            return Ok(unmatched);
        };
        sink.set_partitions(target.partitions.clone()).await?;
        let still = sink.write(rows).await?;
        Ok(still.into_iter().map(|i| unmatched[i as usize]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_names() {
        let t = NaiveDate::from_ymd_opt(2024, 2, 29)
            .and_then(|d| d.and_hms_opt(13, 45, 0))
            .unwrap();
        let text = |unit: &str| {
            let (s, e) = period(unit, t).unwrap();
            (
                time_partition_name(&s, unit),
                bound_text(&ColumnType::Datetime, s),
                bound_text(&ColumnType::Datetime, e),
            )
        };
        assert_eq!(
            text("hour"),
            (
                "p2024022913".into(),
                "2024-02-29 13:00:00".into(),
                "2024-02-29 14:00:00".into()
            )
        );
        assert_eq!(
            text("day"),
            (
                "p20240229".into(),
                "2024-02-29 00:00:00".into(),
                "2024-03-01 00:00:00".into()
            )
        );
        assert_eq!(
            text("month"),
            (
                "p202402".into(),
                "2024-02-01 00:00:00".into(),
                "2024-03-01 00:00:00".into()
            )
        );
        assert_eq!(
            text("year"),
            (
                "p2024".into(),
                "2024-01-01 00:00:00".into(),
                "2025-01-01 00:00:00".into()
            )
        );
        assert!(period("week", t).is_none());
    }
}
