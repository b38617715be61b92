//! Rows with equal keys, merged (AGGREGATE KEY and UNIQUE KEY tables).
//!
//! A segment of such a table holds each key once: its rows are sorted by key, keeping the
//! order in which they were written among equal keys, and runs of equal keys merge into one
//! row per [`MergeRule`]. Rows of different segments merge when read, in segment order.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch, UInt32Array, new_empty_array,
};
use datafusion::arrow::compute::{interleave, take};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::scalar::ScalarValue;
use rigel_common::sketch::{Bitmap, Hll};

use crate::{Error, Result};

pub use rigel_common::tablet::{MergeRule, ValueMerge};

/// Merges runs of rows with equal keys in a batch sorted stably by key (see
/// [`sort_batch`](crate::segment::sort_batch)).
pub fn merge_equal_keys(batch: RecordBatch, rule: &MergeRule) -> Result<RecordBatch> {
    let key = rule.key();
    if key.is_empty() || batch.num_rows() < 2 {
        return Ok(batch);
    }
    let fields = key
        .iter()
        .map(|&i| SortField::new(batch.schema().field(i).data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let key_columns: Vec<ArrayRef> = key.iter().map(|&i| Arc::clone(batch.column(i))).collect();
    let rows = converter.convert_columns(&key_columns)?;
    // The first row of each run, and where the last run ends.
    let mut starts: Vec<usize> = vec![0];
    for i in 1..rows.num_rows() {
        if rows.row(i) != rows.row(i - 1) {
            starts.push(i);
        }
    }
    if starts.len() == batch.num_rows() {
        return Ok(batch);
    }
    let n = batch.num_rows();
    let runs: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .map(|(g, &s)| (s, starts.get(g + 1).copied().unwrap_or(n)))
        .collect();
    let last = UInt32Array::from_iter_values(runs.iter().map(|&(_, end)| (end - 1) as u32));
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (i, how) in rule.columns.iter().enumerate() {
        let column = batch.column(i);
        let merged = match how {
            ValueMerge::Key | ValueMerge::Replace => take(column, &last, None)?,
            ValueMerge::ReplaceIfNotNull => {
                let picks = UInt32Array::from_iter_values(runs.iter().map(|&(start, end)| {
                    (start..end)
                        .rev()
                        .find(|&r| column.is_valid(r))
                        .unwrap_or(end - 1) as u32
                }));
                take(column, &picks, None)?
            }
            ValueMerge::Sum | ValueMerge::Max | ValueMerge::Min => {
                fold_runs(column, &runs, &last, *how)?
            }
            ValueMerge::HllUnion | ValueMerge::BitmapUnion => union_runs(column, &runs, *how)?,
        };
        columns.push(merged);
    }
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

fn merge_error(e: datafusion::error::DataFusionError) -> Error {
    Error::Merge(e.to_string())
}

/// SUM, MAX or MIN of each run. Runs of one row (most of them) keep their value; the others
/// are folded value by value and spliced in.
fn fold_runs(
    column: &ArrayRef,
    runs: &[(usize, usize)],
    last: &UInt32Array,
    how: ValueMerge,
) -> Result<ArrayRef> {
    let single = take(column, last, None)?;
    let mut folded: Vec<ScalarValue> = vec![];
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (g, &(start, end)) in runs.iter().enumerate() {
        if end - start == 1 {
            picks.push((0, g));
            continue;
        }
        let mut acc: Option<ScalarValue> = None;
        for r in start..end {
            if column.is_null(r) {
                continue;
            }
            let v = ScalarValue::try_from_array(column, r).map_err(merge_error)?;
            acc = Some(match acc {
                None => v,
                Some(a) => match how {
                    ValueMerge::Sum => a.add_checked(&v).map_err(|e| {
                        Error::Merge(format!("SUM of rows with equal keys is out of range: {e}"))
                    })?,
                    ValueMerge::Max if v > a => v,
                    ValueMerge::Min if v < a => v,
                    _ => a,
                },
            });
        }
        let value = match acc {
            Some(v) => v,
            None => ScalarValue::try_from(column.data_type()).map_err(merge_error)?,
        };
        picks.push((1, folded.len()));
        folded.push(value);
    }
    let patches = if folded.is_empty() {
        new_empty_array(column.data_type())
    } else {
        ScalarValue::iter_to_array(folded).map_err(merge_error)?
    };
    // A folded SUM may come back as a wider type; it must keep the column's.
    let patches = if patches.data_type() == column.data_type() {
        patches
    } else {
        datafusion::arrow::compute::cast(&patches, column.data_type())?
    };
    Ok(interleave(&[single.as_ref(), patches.as_ref()], &picks)?)
}

/// The union of the sketches of each run (NULL when all of them are NULL).
fn union_runs(column: &ArrayRef, runs: &[(usize, usize)], how: ValueMerge) -> Result<ArrayRef> {
    let Some(values) = column.as_binary_opt::<i32>() else {
        return Err(Error::Merge(format!(
            "{how:?} over a {} column",
            column.data_type()
        )));
    };
    let sketch_error = |e: rigel_common::SqlError| Error::Merge(e.message);
    let mut out = BinaryBuilder::with_capacity(runs.len(), values.values().len());
    for &(start, end) in runs {
        let mut present = (start..end).filter(|&r| values.is_valid(r)).peekable();
        let Some(&first) = present.peek() else {
            out.append_null();
            continue;
        };
        if end - start == 1 {
            out.append_value(values.value(first));
            continue;
        }
        let merged = if how == ValueMerge::HllUnion {
            let mut hll = Hll::new();
            for r in present {
                hll.merge_bytes(values.value(r)).map_err(sketch_error)?;
            }
            hll.to_bytes()
        } else {
            let mut bitmap = Bitmap::new();
            for r in present {
                bitmap.union_bytes(values.value(r)).map_err(sketch_error)?;
            }
            bitmap.to_bytes()
        };
        out.append_value(merged);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::sort_batch;
    use datafusion::arrow::array::{AsArray, Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};

    fn batch() -> RecordBatch {
        let extremes = Int64Array::from(vec![Some(4), Some(1), Some(9), None, Some(2)]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, false),
            Field::new("sum", DataType::Int64, true),
            Field::new("max", DataType::Int64, true),
            Field::new("min", DataType::Int64, true),
            Field::new("replace", DataType::Utf8, true),
            Field::new("rinn", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![2, 1, 2, 3, 2])),
                Arc::new(Int64Array::from(vec![
                    Some(10),
                    Some(1),
                    None,
                    Some(3),
                    Some(5),
                ])),
                Arc::new(extremes.clone()),
                Arc::new(extremes),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    Some("c"),
                    Some("d"),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("c"),
                    None,
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn sketches_of_equal_keys_are_unioned() {
        use datafusion::arrow::array::BinaryArray;
        let hll = |v: &str| Hll::single_bytes(rigel_common::sketch::hll_hash(v.as_bytes()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, false),
            Field::new("h", DataType::Binary, true),
            Field::new("b", DataType::Binary, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 1, 1, 3])),
                Arc::new(BinaryArray::from(vec![
                    Some(hll("a").as_slice()),
                    Some(hll("a").as_slice()),
                    Some(hll("b").as_slice()),
                    Some(hll("a").as_slice()),
                    None,
                ])),
                Arc::new(BinaryArray::from(vec![
                    Some(Bitmap::single_bytes(1).as_slice()),
                    None,
                    Some(Bitmap::single_bytes(7).as_slice()),
                    None,
                    None,
                ])),
            ],
        )
        .unwrap();
        let rule = MergeRule {
            columns: vec![
                ValueMerge::Key,
                ValueMerge::HllUnion,
                ValueMerge::BitmapUnion,
            ],
        };
        let sorted = sort_batch(batch, &rule.key(), true).unwrap();
        let merged = merge_equal_keys(sorted, &rule).unwrap();
        assert_eq!(merged.num_rows(), 3);
        let h = merged.column(1).as_binary::<i32>();
        assert_eq!(Hll::from_bytes(h.value(0)).unwrap().estimate(), 2);
        assert_eq!(Hll::from_bytes(h.value(1)).unwrap().estimate(), 1);
        assert!(h.is_null(2));
        let b = merged.column(2).as_binary::<i32>();
        assert_eq!(Bitmap::from_bytes(b.value(0)).unwrap().to_text(), "1,7");
        assert!(b.is_null(1));
    }

    #[test]
    fn equal_keys_merge_in_written_order() {
        let rule = MergeRule {
            columns: vec![
                ValueMerge::Key,
                ValueMerge::Sum,
                ValueMerge::Max,
                ValueMerge::Min,
                ValueMerge::Replace,
                ValueMerge::ReplaceIfNotNull,
            ],
        };
        let sorted = sort_batch(batch(), &rule.key(), true).unwrap();
        let merged = merge_equal_keys(sorted, &rule).unwrap();
        assert_eq!(merged.num_rows(), 3);
        let k = merged.column(0).as_primitive::<Int32Type>();
        assert_eq!(k.values(), &[1, 2, 3]);
        let sum = merged.column(1).as_primitive::<Int64Type>();
        assert_eq!(sum.value(1), 15);
        assert_eq!(merged.column(2).as_primitive::<Int64Type>().value(1), 9);
        assert_eq!(merged.column(3).as_primitive::<Int64Type>().value(1), 2);
        assert!(merged.column(3).is_null(2));
        // Key 2 was written as rows 0, 2, 4: the last row's value, NULL included...
        assert!(merged.column(4).is_null(1));
        assert_eq!(merged.column(4).as_string::<i32>().value(0), "b");
        // ...or the last non-NULL one.
        assert_eq!(merged.column(5).as_string::<i32>().value(1), "c");
        assert!(merged.column(5).is_null(0));
    }

    #[test]
    fn distinct_keys_pass_through() {
        let rule = MergeRule {
            columns: vec![ValueMerge::Key; 1]
                .into_iter()
                .chain(vec![ValueMerge::Replace; 5])
                .collect(),
        };
        let b = batch().slice(0, 2);
        let sorted = sort_batch(b, &rule.key(), true).unwrap();
        assert_eq!(merge_equal_keys(sorted, &rule).unwrap().num_rows(), 2);
    }
}
