//! Row routing: which partition and which bucket (hence which tablet) each row goes to.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::scalar::ScalarValue;
use rigel_be_api::{BucketRouting, WriteTarget};
use rigel_common::hash::{bucket_hashes, bucket_of};
use rigel_common::ids::TabletId;
use rigel_common::{ErrorCode, SqlError};

/// Routes batches of one [`WriteTarget`].
pub struct Router {
    target: Arc<WriteTarget>,
    /// Converts partition-column values to comparable rows.
    converter: Option<RowConverter>,
    /// Per partition: (lower, upper) bounds as comparable rows.
    bounds: Vec<(Option<OwnedRow>, Option<OwnedRow>)>,
    /// LIST partitions: each value tuple (in the row format) → its partition.
    list: Option<HashMap<Box<[u8]>, usize>>,
    round_robin: AtomicUsize,
}

/// A batch split by tablet.
#[derive(Debug)]
pub struct Routed {
    /// Rows per tablet.
    pub parts: Vec<(TabletId, RecordBatch)>,
    /// Indexes of rows that fall in no partition.
    pub unmatched: Vec<u32>,
}

impl Router {
    /// Prepares routing for a target.
    pub fn try_new(target: Arc<WriteTarget>) -> Result<Self, SqlError> {
        let mut converter = None;
        let mut bounds = vec![];
        let mut list = None;
        if !target.partition_columns.is_empty() {
            let fields = target
                .partition_columns
                .iter()
                .map(|&i| SortField::new(target.schema.field(i).data_type().clone()))
                .collect();
            let conv = RowConverter::new(fields).map_err(internal)?;
            if target.partitions.iter().any(|p| p.values.is_some()) {
                let mut map = HashMap::new();
                for (i, p) in target.partitions.iter().enumerate() {
                    for tuple in p.values.iter().flatten() {
                        map.insert(bound_row(&conv, tuple)?.row().as_ref().into(), i);
                    }
                }
                list = Some(map);
            } else {
                for p in &target.partitions {
                    let lower = p.lower.as_ref().map(|v| bound_row(&conv, v)).transpose()?;
                    let upper = p.upper.as_ref().map(|v| bound_row(&conv, v)).transpose()?;
                    bounds.push((lower, upper));
                }
            }
            converter = Some(conv);
        }
        Ok(Self {
            target,
            converter,
            bounds,
            list,
            round_robin: AtomicUsize::new(0),
        })
    }

    /// Splits a batch into per-tablet batches.
    pub fn route(&self, batch: &RecordBatch) -> Result<Routed, SqlError> {
        let n = batch.num_rows();
        let mut unmatched = vec![];
        // Partition index per row.
        let partition_of: Vec<Option<usize>> = match &self.converter {
            None => vec![Some(0); n],
            Some(conv) => {
                let cols: Vec<ArrayRef> = self
                    .target
                    .partition_columns
                    .iter()
                    .map(|&i| Arc::clone(batch.column(i)))
                    .collect();
                let rows = conv.convert_columns(&cols).map_err(internal)?;
                (0..n).map(|i| self.find_partition(&rows, i)).collect()
            }
        };
        let bucket_of_row: Vec<usize> = match &self.target.buckets {
            BucketRouting::Hash(cols) => {
                let arrays: Vec<ArrayRef> =
                    cols.iter().map(|&i| Arc::clone(batch.column(i))).collect();
                let hashes = bucket_hashes(&arrays, n).map_err(internal)?;
                hashes.into_iter().map(|h| h as usize).collect()
            }
            BucketRouting::Random => {
                let b = self.round_robin.fetch_add(1, Ordering::Relaxed);
                vec![b; n]
            }
        };
        // Group row indexes by (partition, bucket).
        let mut groups: std::collections::BTreeMap<TabletId, Vec<u32>> = Default::default();
        for i in 0..n {
            match partition_of[i] {
                Some(p) => {
                    let tablets = &self.target.partitions[p].tablets;
                    if tablets.is_empty() {
                        unmatched.push(i as u32);
                        continue;
                    }
                    let bucket = match &self.target.buckets {
                        BucketRouting::Hash(_) => {
                            bucket_of(bucket_of_row[i] as u32, tablets.len() as u32) as usize
                        }
                        BucketRouting::Random => bucket_of_row[i] % tablets.len(),
                    };
                    groups.entry(tablets[bucket]).or_default().push(i as u32);
                }
                None => unmatched.push(i as u32),
            }
        }
        let mut parts = Vec::with_capacity(groups.len());
        for (tablet, rows) in groups {
            let part = if rows.len() == n {
                batch.clone()
            } else {
                take_record_batch(batch, &UInt32Array::from(rows)).map_err(internal)?
            };
            parts.push((tablet, part));
        }
        Ok(Routed { parts, unmatched })
    }

    fn find_partition(&self, rows: &Rows, i: usize) -> Option<usize> {
        let row = rows.row(i);
        if let Some(list) = &self.list {
            return list.get(row.as_ref()).copied();
        }
        // Partitions are ordered and disjoint: the first whose upper bound is above the row
        // is the only candidate.
        let idx = self.bounds.partition_point(|(_, upper)| match upper {
            Some(u) => u.row() <= row,
            None => false,
        });
        let (lower, _) = self.bounds.get(idx)?;
        match lower {
            Some(l) if row < l.row() => None,
            _ => Some(idx),
        }
    }

    /// Renders the partition-column values of a row, for error messages.
    pub fn describe_row(&self, batch: &RecordBatch, row: usize) -> String {
        self.target
            .partition_columns
            .iter()
            .map(|&c| {
                ScalarValue::try_from_array(batch.column(c), row)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn bound_row(conv: &RowConverter, values: &[ScalarValue]) -> Result<OwnedRow, SqlError> {
    let arrays: Vec<ArrayRef> = values
        .iter()
        .map(|v| v.to_array())
        .collect::<Result<_, _>>()
        .map_err(internal)?;
    let rows = conv.convert_columns(&arrays).map_err(internal)?;
    Ok(rows.row(0).owned())
}

fn internal(e: impl std::fmt::Display) -> SqlError {
    SqlError::new(ErrorCode::ER_INTERNAL_ERROR, format!("routing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use rigel_be_api::{PartitionRoute, SegmentCompression};
    use rigel_common::ids::{PartitionId, TableId};

    fn target(partitions: Vec<PartitionRoute>) -> Arc<WriteTarget> {
        Arc::new(WriteTarget {
            table_id: TableId(1),
            table_name: "t".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("d", DataType::Date32, true),
                Field::new("k", DataType::Int64, true),
            ])),
            partition_columns: vec![0],
            partitions,
            buckets: BucketRouting::Hash(vec![1]),
            sort_key: vec![],
            compression: SegmentCompression::Lz4,
            bloom_filter_columns: vec![],
            memory_limit: 0,
            merge: None,
            primary_key: vec![],
            update: None,
        })
    }

    fn route(id: u64, lower: Option<i32>, upper: Option<i32>, tablets: Vec<u64>) -> PartitionRoute {
        PartitionRoute {
            partition_id: PartitionId(id),
            name: format!("p{id}"),
            lower: lower.map(|v| vec![ScalarValue::Date32(Some(v))]),
            upper: upper.map(|v| vec![ScalarValue::Date32(Some(v))]),
            values: None,
            replicas: vec![vec![rigel_common::ids::BackendId(10001)]; tablets.len()],
            needed: vec![],
            tablets: tablets.into_iter().map(TabletId).collect(),
        }
    }

    #[test]
    fn routes_by_range_and_hash() {
        let t = target(vec![
            route(1, None, Some(10), vec![11, 12]),
            route(2, Some(10), Some(20), vec![21, 22]),
            route(3, Some(30), None, vec![31]),
        ]);
        let router = Router::try_new(Arc::clone(&t)).unwrap();
        let batch = RecordBatch::try_new(
            Arc::clone(&t.schema),
            vec![
                Arc::new(Date32Array::from(vec![
                    Some(5),
                    Some(10),
                    Some(25),
                    Some(35),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
            ],
        )
        .unwrap();
        let routed = router.route(&batch).unwrap();
        // 25 falls in the gap between p2 and p3.
        assert_eq!(routed.unmatched, vec![2]);
        let total: usize = routed.parts.iter().map(|(_, b)| b.num_rows()).sum();
        assert_eq!(total, 4);
        let tablets: Vec<u64> = routed.parts.iter().map(|(t, _)| t.0).collect();
        assert!(tablets.contains(&31));
        // NULL goes to the partition holding the minimum.
        assert!(tablets.iter().any(|t| *t == 11 || *t == 12));
        assert_eq!(router.describe_row(&batch, 2), "1970-01-26");
    }

    #[test]
    fn routes_by_list_values() {
        let list = |id: u64, days: &[i32], tablet: u64| PartitionRoute {
            values: Some(
                days.iter()
                    .map(|d| vec![ScalarValue::Date32(Some(*d))])
                    .collect(),
            ),
            ..route(id, None, None, vec![tablet])
        };
        let t = target(vec![list(1, &[3, 1], 11), list(2, &[2], 21)]);
        let router = Router::try_new(Arc::clone(&t)).unwrap();
        let batch = RecordBatch::try_new(
            Arc::clone(&t.schema),
            vec![
                Arc::new(Date32Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    Some(4),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
            ],
        )
        .unwrap();
        let routed = router.route(&batch).unwrap();
        // 4 is in no list, and no partition takes NULL.
        assert_eq!(routed.unmatched, vec![3, 4]);
        let rows = |tablet: u64| {
            routed
                .parts
                .iter()
                .find(|(t, _)| t.0 == tablet)
                .map_or(0, |(_, b)| b.num_rows())
        };
        assert_eq!((rows(11), rows(21)), (2, 1));
    }
}
