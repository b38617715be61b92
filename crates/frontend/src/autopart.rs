//! Expression partitioning, `PARTITION BY date_trunc('<unit>', col)`: a load that brings
//! rows for a period the table has no partition for creates that partition (one unit wide,
//! named `pYYYYMMDD`, `pYYYYMM`, `pYYYY` or `pYYYYMMDDHH`) and writes the rows there.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, take_record_batch};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use rigel_be_api::TabletSink;
use rigel_common::ids::{PartitionId, TableId, TabletId};
use rigel_common::{ColumnType, ErrorCode, SqlError};

use crate::Frontend;
use crate::catalog::{JournalEntry, Partition, PartitionScheme, Table, TableKind};
use crate::now_ms;
use crate::partition::{step_time, time_partition_name};

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

impl Frontend {
    /// Creates the partitions the values of `column` (the partition column) need and the
    /// table lacks. Returns the table as it is afterwards.
    async fn create_partitions_for(
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
        let Some(unit) = olap.auto_partition.clone() else {
            return Ok(table);
        };
        let types = olap.partition_types();
        let Some(ty) = types.first().cloned() else {
            return Ok(table);
        };
        let mut new_tablets = vec![];
        for t in times {
            let Some((start, end)) = period(&unit, t) else {
                continue;
            };
            let lower = bound_text(&ty, start);
            // Another load (or the user) may have created it; anything else overlapping the
            // period is refused by the disjointness check below.
            let value = crate::partition::parse_value(&lower, &ty)?;
            let covered = olap.partitions.iter().any(|p| {
                crate::partition::typed_bounds(p, &types).is_ok_and(|b| {
                    b.lower.as_ref().is_none_or(|l| l[0] <= value)
                        && b.upper.as_ref().is_none_or(|u| value < u[0])
                })
            });
            if covered {
                continue;
            }
            let pid = PartitionId(w.next_id()?);
            let buckets = olap.distribution.buckets();
            let tablets: Vec<TabletId> = (0..buckets)
                .map(|_| w.next_id().map(TabletId))
                .collect::<Result<_, _>>()?;
            let partition = Partition {
                id: pid,
                name: time_partition_name(&start, &unit),
                lower: Some(vec![lower]),
                upper: Some(vec![bound_text(&ty, end)]),
                tablets: tablets.clone(),
                visible_version: 1,
                visible_version_time_ms: now_ms(),
                created_ms: now_ms(),
            };
            if olap.partition(&partition.name).is_some() {
                return Err(SqlError::new(
                    ErrorCode::ER_SAME_NAME_PARTITION,
                    format!(
                        "cannot create partition {}: a partition of that name exists",
                        partition.name
                    ),
                ));
            }
            crate::partition::check_disjoint(&partition, &olap.partitions, &types)?;
            for t in tablets {
                new_tablets.push(crate::ddl::tablet_meta(olap, table_id, pid, t));
            }
            olap.partitions.push(partition);
        }
        if new_tablets.is_empty() {
            return Ok(table);
        }
        crate::ddl::sort_partitions(olap, &types);
        new_table.updated_ms = now_ms();
        self.backend().create_tablets(new_tablets).await?;
        w.commit(vec![JournalEntry::PutTable {
            table: Box::new(new_table.clone()),
        }])?;
        Ok(Arc::new(new_table))
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
        let auto = table.olap().is_some_and(|o| o.auto_partition.is_some());
        if unmatched.is_empty() || !auto {
            return Ok(unmatched);
        }
        let rows = take_record_batch(batch, &UInt32Array::from(unmatched.clone()))
            .map_err(|e| SqlError::internal(e.to_string()))?;
        let Some(olap) = table.olap() else {
            return Ok(unmatched);
        };
        let PartitionScheme::Range { columns } = &olap.partition_scheme else {
            return Ok(unmatched);
        };
        let Some(index) = columns.first().and_then(|c| olap.column_index(c)) else {
            return Ok(unmatched);
        };
        let updated = self
            .create_partitions_for(table.id, rows.column(index).as_ref())
            .await?;
        let Some(new_olap) = updated.olap() else {
            return Ok(unmatched);
        };
        let target = crate::txn::write_target(&updated, new_olap, None)?;
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
