//! The bucket hash: which bucket of a HASH-distributed table a row belongs to.
//!
//! Rows are routed with [`bucket_hashes`] on write and buckets are pruned on read by hashing
//! the literal values of equality predicates with the same function (on single-row arrays of
//! the column's own type), so both sides agree by construction. The hash is CRC-32 chained
//! over the distribution columns, in their declared order, of each value's canonical
//! little-endian bytes. It is part of the on-disk format: changing it re-buckets every table.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

/// Marker hashed for NULL values.
const NULL_MARKER: &[u8] = &[0xA5];

/// Computes the CRC-32 bucket hash of every row of `columns` (all of `num_rows` length).
///
/// Returns an error naming the type when a column's type cannot be a distribution column.
pub fn bucket_hashes(columns: &[ArrayRef], num_rows: usize) -> Result<Vec<u32>, String> {
    let mut hashes = vec![0u32; num_rows];
    for col in columns {
        hash_column(col.as_ref(), &mut hashes)?;
    }
    Ok(hashes)
}

/// Bucket index of a hash for a table with `buckets` buckets.
pub fn bucket_of(hash: u32, buckets: u32) -> u32 {
    if buckets == 0 { 0 } else { hash % buckets }
}

fn update(state: &mut u32, bytes: &[u8]) {
    let mut h = crc32fast::Hasher::new_with_initial(*state);
    h.update(bytes);
    *state = h.finalize();
}

macro_rules! hash_primitive {
    ($arr:expr, $ty:ty, $hashes:expr) => {{
        let a = $arr.as_primitive::<$ty>();
        for (i, h) in $hashes.iter_mut().enumerate() {
            if a.is_null(i) {
                update(h, NULL_MARKER);
            } else {
                update(h, &a.value(i).to_le_bytes());
            }
        }
    }};
}

fn hash_column(arr: &dyn Array, hashes: &mut [u32]) -> Result<(), String> {
    match arr.data_type() {
        DataType::Boolean => {
            let a = arr.as_boolean();
            for (i, h) in hashes.iter_mut().enumerate() {
                if a.is_null(i) {
                    update(h, NULL_MARKER);
                } else {
                    update(h, &[a.value(i) as u8]);
                }
            }
        }
        DataType::Int8 => hash_primitive!(arr, Int8Type, hashes),
        DataType::Int16 => hash_primitive!(arr, Int16Type, hashes),
        DataType::Int32 => hash_primitive!(arr, Int32Type, hashes),
        DataType::Int64 => hash_primitive!(arr, Int64Type, hashes),
        DataType::UInt8 => hash_primitive!(arr, UInt8Type, hashes),
        DataType::UInt16 => hash_primitive!(arr, UInt16Type, hashes),
        DataType::UInt32 => hash_primitive!(arr, UInt32Type, hashes),
        DataType::UInt64 => hash_primitive!(arr, UInt64Type, hashes),
        DataType::Float32 => hash_primitive!(arr, Float32Type, hashes),
        DataType::Float64 => hash_primitive!(arr, Float64Type, hashes),
        DataType::Decimal128(_, _) => hash_primitive!(arr, Decimal128Type, hashes),
        DataType::Date32 => hash_primitive!(arr, Date32Type, hashes),
        DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None) => {
            hash_primitive!(arr, TimestampMicrosecondType, hashes)
        }
        DataType::Utf8 => {
            let a = arr.as_string::<i32>();
            for (i, h) in hashes.iter_mut().enumerate() {
                if a.is_null(i) {
                    update(h, NULL_MARKER);
                } else {
                    update(h, a.value(i).as_bytes());
                }
            }
        }
        DataType::LargeUtf8 => {
            let a = arr.as_string::<i64>();
            for (i, h) in hashes.iter_mut().enumerate() {
                if a.is_null(i) {
                    update(h, NULL_MARKER);
                } else {
                    update(h, a.value(i).as_bytes());
                }
            }
        }
        DataType::Utf8View => {
            let a = arr.as_string_view();
            for (i, h) in hashes.iter_mut().enumerate() {
                if a.is_null(i) {
                    update(h, NULL_MARKER);
                } else {
                    update(h, a.value(i).as_bytes());
                }
            }
        }
        DataType::Binary => {
            let a = arr.as_binary::<i32>();
            for (i, h) in hashes.iter_mut().enumerate() {
                if a.is_null(i) {
                    update(h, NULL_MARKER);
                } else {
                    update(h, a.value(i));
                }
            }
        }
        other => return Err(format!("type {other} cannot be hashed for bucketing")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn same_value_same_bucket_in_any_batch() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 42]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![42]));
        let ha = bucket_hashes(&[a], 4).unwrap();
        let hb = bucket_hashes(&[b], 1).unwrap();
        assert_eq!(ha[3], hb[0]);
        assert_ne!(ha[0], ha[1]);
    }

    #[test]
    fn multi_column_order_matters() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["y"]));
        let h1 = bucket_hashes(&[a.clone(), b.clone()], 1).unwrap();
        let h2 = bucket_hashes(&[b, a], 1).unwrap();
        assert_ne!(h1, h2);
    }

    #[test]
    fn nulls_hash_consistently() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(1), None]));
        let h = bucket_hashes(&[a], 3).unwrap();
        assert_eq!(h[0], h[2]);
        assert_ne!(h[0], h[1]);
    }
}
