//! PRIMARY KEY tablets: the primary-key index and delete vectors.
//!
//! A PRIMARY KEY tablet never holds two live rows with the same key. Publishing a rowset
//! looks every key it wrote up in the tablet's index (key → rowset, segment, row): the row
//! the key pointed to is marked deleted in its segment's *delete vector* and the index points
//! to the new row. Rows whose [`OP_COLUMN`] says delete remove the key and are themselves
//! marked deleted. Readers skip deleted rows, so no merge is needed on read.
//!
//! Delete vectors are versioned: an entry says "these rows of segment S are deleted from
//! version V on"; a reader at version R skips the union of the entries with V ≤ R. Entries
//! are written in the same metadata commit that publishes the rowset causing them.
//!
//! The index lives in memory and is built the first time a tablet is written or looked up
//! after a start: from its persisted copy when the table has `enable_persistent_index` (see
//! `index_file`), else from the key columns of the current rowsets. Callers serialize publishes and
//! compactions of one tablet (the backend holds a per-tablet lock).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int8Array, RecordBatch, StringArray, UInt32Array, new_empty_array,
    new_null_array,
};
use datafusion::arrow::compute::{cast, concat_batches, interleave, take};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use hashbrown::HashMap;
use rigel_common::ids::RowsetId;
use rigel_common::types::{COLUMN_ID_METADATA_KEY, FILL_METADATA_KEY};

use crate::{Error, Result};

pub use rigel_common::tablet::{
    MAX_KEY_BYTES, OP_COLUMN, OP_DELETE, OP_UPSERT, first_oversized_key,
};

/// Where a row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowLoc {
    /// Rowset.
    pub rowset: RowsetId,
    /// Segment index within the rowset.
    pub segment: u32,
    /// Row ordinal within the segment file.
    pub row: u32,
}

/// The keys of one batch, encoded for the index.
pub(crate) enum Keys {
    /// A single integer-like key column.
    Int(Vec<i64>),
    /// Anything else: arrow's row format.
    Bytes(datafusion::arrow::row::Rows),
}

impl Keys {
    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::Int(v) => v.len(),
            Keys::Bytes(r) => r.num_rows(),
        }
    }
}

/// Key → location of the live row with that key.
#[derive(Debug)]
pub(crate) enum PkIndex {
    Int(HashMap<i64, RowLoc>),
    Bytes(HashMap<Box<[u8]>, RowLoc>),
}

impl PkIndex {
    fn for_keys(keys: &Keys) -> Self {
        match keys {
            Keys::Int(_) => PkIndex::Int(HashMap::new()),
            Keys::Bytes(_) => PkIndex::Bytes(HashMap::new()),
        }
    }

    /// Points `keys[i]` at `loc(i)`; returns the location it pointed to before.
    fn upsert(&mut self, keys: &Keys, i: usize, loc: RowLoc) -> Result<Option<RowLoc>> {
        match (self, keys) {
            (PkIndex::Int(m), Keys::Int(k)) => Ok(m.insert(k[i], loc)),
            (PkIndex::Bytes(m), Keys::Bytes(r)) => {
                let key = r.row(i);
                match m.get_mut(key.as_ref()) {
                    Some(slot) => Ok(Some(std::mem::replace(slot, loc))),
                    None => {
                        m.insert(key.as_ref().into(), loc);
                        Ok(None)
                    }
                }
            }
            _ => Err(key_kind_mismatch()),
        }
    }

    pub(crate) fn get(&self, keys: &Keys, i: usize) -> Result<Option<RowLoc>> {
        match (self, keys) {
            (PkIndex::Int(m), Keys::Int(k)) => Ok(m.get(&k[i]).copied()),
            (PkIndex::Bytes(m), Keys::Bytes(r)) => Ok(m.get(r.row(i).as_ref()).copied()),
            _ => Err(key_kind_mismatch()),
        }
    }

    fn remove(&mut self, keys: &Keys, i: usize) -> Result<Option<RowLoc>> {
        match (self, keys) {
            (PkIndex::Int(m), Keys::Int(k)) => Ok(m.remove(&k[i])),
            (PkIndex::Bytes(m), Keys::Bytes(r)) => Ok(m.remove(r.row(i).as_ref())),
            _ => Err(key_kind_mismatch()),
        }
    }

    /// Live keys.
    pub(crate) fn len(&self) -> usize {
        match self {
            PkIndex::Int(m) => m.len(),
            PkIndex::Bytes(m) => m.len(),
        }
    }

    /// Keeps the keys whose location passes `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&RowLoc) -> bool) {
        match self {
            PkIndex::Int(m) => m.retain(|_, loc| keep(loc)),
            PkIndex::Bytes(m) => m.retain(|_, loc| keep(loc)),
        }
    }
}

fn key_kind_mismatch() -> Error {
    Error::Corrupt("primary key columns changed type between segments".to_string())
}

/// Encodes the key columns of a batch.
pub(crate) fn encode_keys(columns: &[ArrayRef]) -> Result<Keys> {
    if let [col] = columns
        && integer_like(col.data_type())
    {
        let ints = cast(col, &DataType::Int64)?;
        let ints = ints.as_primitive::<Int64Type>();
        return Ok(Keys::Int(ints.values().to_vec()));
    }
    // One encoding per logical type, however the strings are laid out in memory.
    let columns: Vec<ArrayRef> = columns
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => cast(c, &DataType::Utf8),
            DataType::BinaryView | DataType::LargeBinary => cast(c, &DataType::Binary),
            _ => Ok(Arc::clone(c)),
        })
        .collect::<std::result::Result<_, _>>()?;
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    Ok(Keys::Bytes(converter.convert_columns(&columns)?))
}

fn integer_like(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32
            | DataType::Boolean
    )
}

/// The key columns (by column id) and the op column of one segment file, batch by batch.
pub(crate) fn read_keys(path: &Path, key_uids: &[u32]) -> Result<Vec<(Keys, Option<Int8Array>)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024);
    let schema: SchemaRef = Arc::clone(builder.schema());
    let indices: Vec<usize> = key_uids
        .iter()
        .map(|&uid| {
            field_index(&schema, uid).ok_or_else(|| {
                Error::Corrupt(format!(
                    "segment {} has no primary key column {uid}",
                    path.display()
                ))
            })
        })
        .collect::<Result<_>>()?;
    let op_idx = schema.index_of(OP_COLUMN).ok();
    let mut roots = indices.clone();
    roots.extend(op_idx);
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder.with_projection(mask).build()?;
    // The projected batch keeps the file's column order.
    let mut order: Vec<usize> = roots.clone();
    order.sort_unstable();
    let pos = |file_idx: usize| order.iter().position(|&i| i == file_idx);
    let mut out = vec![];
    for batch in reader {
        let batch: RecordBatch = batch?;
        let keys: Vec<ArrayRef> = indices
            .iter()
            .filter_map(|&i| pos(i).map(|p| Arc::clone(batch.column(p))))
            .collect();
        out.push((encode_keys(&keys)?, op_column(&batch)));
    }
    Ok(out)
}

/// The [`OP_COLUMN`] of a batch, if it has one.
pub(crate) fn op_column(batch: &RecordBatch) -> Option<Int8Array> {
    let c = batch.schema().index_of(OP_COLUMN).ok()?;
    batch
        .column(c)
        .as_any()
        .downcast_ref::<Int8Array>()
        .cloned()
}

/// Deleted rows of one segment, sorted and distinct.
pub(crate) type DeletedRows = Arc<Vec<u32>>;

/// Delete-vector entries produced by publishing one rowset: (target rowset, segment) → rows.
pub(crate) type NewDeletes = std::collections::BTreeMap<(RowsetId, u32), Vec<u32>>;

/// The keys of one segment of a rowset being published.
pub(crate) struct SegmentKeys {
    /// Segment index in the rowset.
    pub segment: u32,
    /// Keys and ops, batch by batch, in row order.
    pub batches: Vec<(Keys, Option<Int8Array>)>,
    /// Rows (sorted) that do not apply: a conditional update that lost to the existing row.
    pub skip: Vec<u32>,
}

impl SegmentKeys {
    pub(crate) fn new(segment: u32, batches: Vec<(Keys, Option<Int8Array>)>) -> Self {
        Self {
            segment,
            batches,
            skip: vec![],
        }
    }
}

/// Applies the rows of a published rowset's segments to the index, in write order. Returns
/// the rows that became deleted, by segment.
pub(crate) fn apply_rowset(
    index: &mut Option<PkIndex>,
    rowset: RowsetId,
    segments: &[SegmentKeys],
) -> Result<NewDeletes> {
    let mut deletes = NewDeletes::new();
    for SegmentKeys {
        segment,
        batches,
        skip,
    } in segments
    {
        let mut row = 0u32;
        for (keys, op) in batches {
            let index = match index {
                Some(i) => i,
                None => index.insert(PkIndex::for_keys(keys)),
            };
            for i in 0..keys.len() {
                let loc = RowLoc {
                    rowset,
                    segment: *segment,
                    row,
                };
                let is_delete = op
                    .as_ref()
                    .is_some_and(|o| o.is_valid(i) && o.value(i) == OP_DELETE);
                if skip.binary_search(&row).is_ok() {
                    deletes.entry((rowset, *segment)).or_default().push(row);
                    row += 1;
                    continue;
                }
                let old = if is_delete {
                    deletes.entry((rowset, *segment)).or_default().push(row);
                    index.remove(keys, i)?
                } else {
                    index.upsert(keys, i, loc)?
                };
                if let Some(old) = old {
                    deletes
                        .entry((old.rowset, old.segment))
                        .or_default()
                        .push(old.row);
                }
                row += 1;
            }
        }
    }
    for rows in deletes.values_mut() {
        rows.sort_unstable();
        rows.dedup();
    }
    Ok(deletes)
}

/// Adds the live rows of one segment to the index (rebuilding it).
pub(crate) fn index_segment(
    index: &mut Option<PkIndex>,
    rowset: RowsetId,
    segment: u32,
    batches: &[(Keys, Option<Int8Array>)],
    deleted: Option<&[u32]>,
) -> Result<()> {
    let mut row = 0u32;
    for (keys, _) in batches {
        let index = match index {
            Some(i) => i,
            None => index.insert(PkIndex::for_keys(keys)),
        };
        for i in 0..keys.len() {
            let live = deleted.is_none_or(|d| d.binary_search(&row).is_err());
            if live {
                let loc = RowLoc {
                    rowset,
                    segment,
                    row,
                };
                if index.upsert(keys, i, loc)?.is_some() {
                    return Err(Error::Corrupt(format!(
                        "primary key index: a key is live twice (rowset {rowset}, segment {segment}, row {row})"
                    )));
                }
            }
            row += 1;
        }
    }
    Ok(())
}

/// A whole segment file as one batch.
pub(crate) fn read_segment(path: &Path) -> Result<RecordBatch> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = Arc::clone(builder.schema());
    let batches = builder
        .build()?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(concat_batches(&schema, &batches)?)
}

pub(crate) fn field_index(schema: &Schema, uid: u32) -> Option<usize> {
    let uid = uid.to_string();
    schema
        .fields()
        .iter()
        .position(|f| f.metadata().get(COLUMN_ID_METADATA_KEY) == Some(&uid))
}

/// The values of some columns (`fields`, carrying column ids) at rows of other segments,
/// in the order of `locs`. `path` names the file of a (rowset, segment). Columns a file
/// predates read as their fill value.
pub(crate) fn fetch_columns(
    path: impl Fn(RowsetId, u32) -> Option<std::path::PathBuf>,
    metadata: impl Fn(&Path) -> Result<ArrowReaderMetadata>,
    locs: &[RowLoc],
    fields: &[FieldRef],
) -> Result<Vec<ArrayRef>> {
    let mut groups: std::collections::BTreeMap<(RowsetId, u32), Vec<(u32, usize)>> =
        Default::default();
    for (pos, loc) in locs.iter().enumerate() {
        groups
            .entry((loc.rowset, loc.segment))
            .or_default()
            .push((loc.row, pos));
    }
    // Per group, one array per field; then interleaved into `locs` order.
    let mut group_arrays: Vec<Vec<ArrayRef>> = vec![];
    let mut order = vec![(0usize, 0usize); locs.len()];
    for (g, ((rowset, segment), mut rows)) in groups.into_iter().enumerate() {
        rows.sort_unstable();
        let file_path = path(rowset, segment).ok_or_else(|| {
            Error::Corrupt(format!(
                "primary key index points at rowset {rowset} segment {segment}, which is gone"
            ))
        })?;
        let meta = metadata(&file_path)?;
        let file = std::fs::File::open(&file_path).map_err(|e| Error::io(&file_path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
        let schema = Arc::clone(builder.schema());
        let present: Vec<Option<usize>> = fields
            .iter()
            .map(|f| {
                f.metadata()
                    .get(COLUMN_ID_METADATA_KEY)
                    .and_then(|u| u.parse().ok())
                    .and_then(|u| field_index(&schema, u))
            })
            .collect();
        let mut roots: Vec<usize> = present.iter().flatten().copied().collect();
        roots.sort_unstable();
        roots.dedup();
        let total = builder.metadata().file_metadata().num_rows() as usize;
        let mut selectors = vec![];
        let mut next = 0usize;
        for &(row, _) in &rows {
            let row = row as usize;
            if row > next {
                selectors.push(RowSelector::skip(row - next));
            }
            selectors.push(RowSelector::select(1));
            next = row + 1;
        }
        if total > next {
            selectors.push(RowSelector::skip(total - next));
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_row_selection(RowSelection::from(selectors))
            .build()?;
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        let projected = Arc::new(schema.project(&roots)?);
        let batch = concat_batches(&projected, &batches)?;
        if batch.num_rows() != rows.len() {
            return Err(Error::Corrupt(format!(
                "{}: asked for {} rows, read {}",
                file_path.display(),
                rows.len(),
                batch.num_rows()
            )));
        }
        let mut arrays = vec![];
        for (f, idx) in fields.iter().zip(&present) {
            let array = match idx.and_then(|i| roots.iter().position(|r| *r == i)) {
                Some(p) => cast(batch.column(p), f.data_type())?,
                None => fill_array(f, rows.len())?,
            };
            arrays.push(array);
        }
        for (i, &(_, pos)) in rows.iter().enumerate() {
            order[pos] = (g, i);
        }
        group_arrays.push(arrays);
    }
    (0..fields.len())
        .map(|f| {
            let parts: Vec<&dyn Array> = group_arrays.iter().map(|g| g[f].as_ref()).collect();
            if parts.is_empty() {
                return Ok(new_empty_array(fields[f].data_type()));
            }
            Ok(interleave(&parts, &order)?)
        })
        .collect()
}

/// The value rows read for a column a segment predates: its fill text (the default when the
/// column was added), or NULL.
fn fill_array(field: &FieldRef, n: usize) -> Result<ArrayRef> {
    let text = field.metadata().get(FILL_METADATA_KEY);
    let one: ArrayRef = match text {
        Some(t) => cast(
            &(Arc::new(StringArray::from(vec![t.as_str()])) as ArrayRef),
            field.data_type(),
        )?,
        None => new_null_array(field.data_type(), 1),
    };
    let indices = UInt32Array::from(vec![0u32; n]);
    Ok(take(&one, &indices, None)?)
}

/// Sorted, distinct row numbers as delta varints.
pub(crate) fn encode_rows(rows: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() + 8);
    let mut prev = 0u32;
    for (i, &r) in rows.iter().enumerate() {
        let mut d = if i == 0 { r } else { r - prev };
        prev = r;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// The inverse of [`encode_rows`].
pub(crate) fn decode_rows(bytes: &[u8]) -> Result<Vec<u32>> {
    let mut out = vec![];
    let mut cur = 0u64;
    let mut shift = 0u32;
    let mut prev = 0u64;
    for &b in bytes {
        if shift > 28 {
            return Err(Error::Corrupt("delete vector: varint too long".to_string()));
        }
        cur |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let v = if out.is_empty() { cur } else { prev + cur };
            let v = u32::try_from(v)
                .map_err(|_| Error::Corrupt("delete vector: row out of range".to_string()))?;
            out.push(v);
            prev = u64::from(v);
            cur = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(Error::Corrupt("delete vector: truncated".to_string()));
    }
    Ok(out)
}

/// The union of sorted row lists.
pub(crate) fn union_rows(lists: &[&[u32]]) -> Vec<u32> {
    let mut all: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    #[test]
    fn rows_round_trip() {
        for rows in [
            vec![],
            vec![0],
            vec![5, 6, 7, 1000, 1_000_000, u32::MAX],
            (0..10_000).step_by(3).collect(),
        ] {
            assert_eq!(decode_rows(&encode_rows(&rows)).unwrap(), rows);
        }
        assert!(decode_rows(&[0x80]).is_err());
    }

    #[test]
    fn upserts_and_deletes_mark_the_replaced_rows() {
        let mut index = None;
        let keys = |v: Vec<i64>| encode_keys(&[Arc::new(Int64Array::from(v)) as ArrayRef]).unwrap();
        let r1 = RowsetId(1);
        let d = apply_rowset(
            &mut index,
            r1,
            &[SegmentKeys::new(0, vec![(keys(vec![1, 2, 3]), None)])],
        )
        .unwrap();
        assert!(d.is_empty());
        // Rowset 2: upsert 2, delete 3, delete 9 (absent).
        let ops = Int8Array::from(vec![OP_UPSERT, OP_DELETE, OP_DELETE]);
        let d = apply_rowset(
            &mut index,
            RowsetId(2),
            &[SegmentKeys::new(0, vec![(keys(vec![2, 3, 9]), Some(ops))])],
        )
        .unwrap();
        assert_eq!(d.get(&(r1, 0)), Some(&vec![1, 2]));
        assert_eq!(d.get(&(RowsetId(2), 0)), Some(&vec![1, 2]));
        assert_eq!(index.as_ref().map(PkIndex::len), Some(2));
    }

    #[test]
    fn composite_keys_and_the_size_limit() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 1]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["x", "y"]));
        let keys = encode_keys(&[Arc::clone(&a), Arc::clone(&b)]).unwrap();
        let mut index = None;
        let d = apply_rowset(
            &mut index,
            RowsetId(1),
            &[SegmentKeys::new(0, vec![(keys, None)])],
        )
        .unwrap();
        assert!(d.is_empty());
        assert_eq!(index.as_ref().map(PkIndex::len), Some(2));
        let long: ArrayRef = Arc::new(StringArray::from(vec!["a".repeat(10), "b".repeat(200)]));
        assert_eq!(first_oversized_key(&[a, long]), Some(1));
    }
}
