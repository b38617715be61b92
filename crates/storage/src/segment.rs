//! Writing rowsets: batches in, fsynced Parquet segment files out.
//!
//! A [`RowsetWriter`] buffers the rows of one tablet, sorts each segment by the table's sort
//! key, and writes it as a Parquet file (`<rowset_id>_<n>.parquet`, through a `.tmp` name that
//! is renamed only after the file is fsynced). Nothing a writer produces is visible until the
//! rowset is prepared and published by the [`StorageEngine`](crate::StorageEngine).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, interleave, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use rigel_common::ids::{RowsetId, TabletId, TxnId};

use crate::merge::{MergeRule, merge_equal_keys};
use crate::meta::{RowsetMeta, SegmentMeta};
use crate::{Error, Result};

pub use rigel_common::tablet::SegmentCompression;

/// The Parquet codec of a segment compression.
fn to_parquet(c: SegmentCompression) -> Compression {
    match c {
        SegmentCompression::None => Compression::UNCOMPRESSED,
        SegmentCompression::Lz4 => Compression::LZ4_RAW,
        SegmentCompression::Zstd(l) => Compression::ZSTD(ZstdLevel::try_new(l).unwrap_or_default()),
        SegmentCompression::Snappy => Compression::SNAPPY,
        SegmentCompression::Zlib => Compression::GZIP(Default::default()),
    }
}

/// How segments are written.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    /// Compression codec.
    pub compression: SegmentCompression,
    /// Column indexes (into the write schema) of the sort key; rows of a segment are sorted
    /// by them.
    pub sort_key: Vec<usize>,
    /// Column names with Parquet bloom filters.
    pub bloom_filter_columns: Vec<String>,
    /// AGGREGATE and UNIQUE KEY tables: rows of a segment with equal keys merge into one.
    pub merge: Option<MergeRule>,
    /// Roll to a new segment after this many buffered rows.
    pub max_segment_rows: usize,
    /// Roll to a new segment after this many buffered bytes (in memory).
    pub max_segment_bytes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        Self {
            compression: SegmentCompression::Lz4,
            sort_key: vec![],
            bloom_filter_columns: vec![],
            merge: None,
            max_segment_rows: 1 << 20,
            max_segment_bytes: 64 << 20,
            row_group_rows: 128 * 1024,
        }
    }
}

/// A `Write` that computes the CRC-32 and size of everything written through it.
struct CrcWriter {
    file: File,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl Write for CrcWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes the rows of one transaction into one tablet.
pub struct RowsetWriter {
    dir: PathBuf,
    txn_id: TxnId,
    tablet_id: TabletId,
    rowset_id: RowsetId,
    schema: SchemaRef,
    options: SegmentOptions,
    buffered: Vec<RecordBatch>,
    buffered_rows: usize,
    buffered_bytes: usize,
    segments: Vec<SegmentMeta>,
    next_segment: usize,
    finished: bool,
}

impl RowsetWriter {
    pub(crate) fn new(
        dir: PathBuf,
        txn_id: TxnId,
        tablet_id: TabletId,
        rowset_id: RowsetId,
        schema: SchemaRef,
        options: SegmentOptions,
    ) -> Self {
        Self {
            dir,
            txn_id,
            tablet_id,
            rowset_id,
            schema,
            options,
            buffered: vec![],
            buffered_rows: 0,
            buffered_bytes: 0,
            segments: vec![],
            next_segment: 0,
            finished: false,
        }
    }

    /// The tablet written.
    pub fn tablet_id(&self) -> TabletId {
        self.tablet_id
    }

    /// Bytes of row data buffered in memory, not yet in a segment file.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Rows written so far (buffered or flushed).
    pub fn rows(&self) -> u64 {
        self.buffered_rows as u64 + self.segments.iter().map(|s| s.rows).sum::<u64>()
    }

    /// Adds rows. The batch must have the writer's schema.
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(Error::Corrupt(format!(
                "batch schema {:?} does not match rowset schema {:?}",
                batch.schema(),
                self.schema
            )));
        }
        self.buffered_rows += batch.num_rows();
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffered.push(batch);
        if self.buffered_rows >= self.options.max_segment_rows
            || self.buffered_bytes >= self.options.max_segment_bytes
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one segment file.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(pending) = self.take_segment() {
            let segment = pending.write()?;
            self.add_segment(segment);
        }
        Ok(())
    }

    /// Cuts the buffered rows into a segment to be written by [`PendingSegment::write`],
    /// possibly on another thread while this writer takes more rows; its metadata then goes
    /// back through [`add_segment`](Self::add_segment). `None` when nothing is buffered.
    pub fn take_segment(&mut self) -> Option<PendingSegment> {
        if self.buffered.is_empty() {
            return None;
        }
        let batches = std::mem::take(&mut self.buffered);
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        let name = format!("{}_{}.parquet", self.rowset_id, self.next_segment);
        self.next_segment += 1;
        Some(PendingSegment {
            dir: self.dir.clone(),
            name,
            tablet_id: self.tablet_id,
            rowset_id: self.rowset_id,
            txn_id: self.txn_id,
            schema: Arc::clone(&self.schema),
            options: self.options.clone(),
            batches,
        })
    }

    /// Adds a segment written from [`take_segment`](Self::take_segment). Segments keep the
    /// order in which they are added.
    pub fn add_segment(&mut self, segment: SegmentMeta) {
        self.segments.push(segment);
    }

    /// Like [`finish`](Self::finish), for a rewrite of the tablet: the rowset (empty when
    /// every row went) replaces `replaces` once published.
    pub fn finish_replacing(mut self, replaces: Vec<RowsetId>) -> Result<RowsetMeta> {
        let (tablet_id, rowset_id, txn_id) = (self.tablet_id, self.rowset_id, self.txn_id);
        self.flush()?;
        let mut meta = if self.segments.is_empty() {
            self.finished = true;
            RowsetMeta {
                rowset_id,
                tablet_id,
                txn_id,
                version: None,
                segments: vec![],
                rows: 0,
                bytes: 0,
                created_ms: now_ms(),
                replaces: vec![],
                stale_from: None,
                stale_since_ms: None,
                update: None,
            }
        } else {
            match self.finish()? {
                Some(meta) => meta,
                None => return Err(Error::Corrupt("a rewrite lost its segments".to_string())),
            }
        };
        meta.replaces = replaces;
        Ok(meta)
    }

    /// Flushes the remaining rows and fsyncs the tablet directory. Returns the rowset's
    /// metadata (still pending: no version), or `None` when no row was written.
    pub fn finish(mut self) -> Result<Option<RowsetMeta>> {
        self.flush()?;
        self.finished = true;
        if self.segments.is_empty() {
            return Ok(None);
        }
        sync_dir(&self.dir)?;
        let rows = self.segments.iter().map(|s| s.rows).sum();
        let bytes = self.segments.iter().map(|s| s.bytes).sum();
        Ok(Some(RowsetMeta {
            rowset_id: self.rowset_id,
            tablet_id: self.tablet_id,
            txn_id: self.txn_id,
            version: None,
            segments: std::mem::take(&mut self.segments),
            rows,
            bytes,
            created_ms: now_ms(),
            replaces: vec![],
            stale_from: None,
            stale_since_ms: None,
            update: None,
        }))
    }
}

/// Writes `batch` as segment file `name` of a rowset, rows in the order given (a segment
/// rewritten in place of another: row numbers stay the same).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_segment_in_order(
    dir: &Path,
    name: String,
    tablet_id: TabletId,
    rowset_id: RowsetId,
    txn_id: TxnId,
    batch: RecordBatch,
    compression: SegmentCompression,
    bloom_filter_columns: Vec<String>,
) -> Result<SegmentMeta> {
    PendingSegment {
        dir: dir.to_path_buf(),
        name,
        tablet_id,
        rowset_id,
        txn_id,
        schema: batch.schema(),
        options: SegmentOptions {
            compression,
            bloom_filter_columns,
            ..SegmentOptions::default()
        },
        batches: vec![batch],
    }
    .write()
}

/// The rows of one segment, cut from a [`RowsetWriter`] and not yet written.
pub struct PendingSegment {
    dir: PathBuf,
    name: String,
    tablet_id: TabletId,
    rowset_id: RowsetId,
    txn_id: TxnId,
    schema: SchemaRef,
    options: SegmentOptions,
    batches: Vec<RecordBatch>,
}

impl PendingSegment {
    /// Bytes of row data in memory.
    pub fn bytes(&self) -> usize {
        self.batches.iter().map(|b| b.get_array_memory_size()).sum()
    }

    /// Sorts (unless the rows arrived in key order), encodes and fsyncs the segment file.
    /// Leaves no file behind on failure.
    pub fn write(self) -> Result<SegmentMeta> {
        let tmp_path = self.dir.join(format!("{}.tmp", self.name));
        let written = self.sort_and_write();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp_path);
        }
        written
    }

    fn sort_and_write(mut self) -> Result<SegmentMeta> {
        let batches = std::mem::take(&mut self.batches);
        // Rows that arrive in sort-key order (time series, dbgen's files) are written as
        // they are; otherwise the segment is gathered and sorted. Merging equal keys
        // (AGGREGATE and UNIQUE KEY tables) needs the written order among them kept.
        let in_order = sorted_in_sequence(&batches, &self.options.sort_key)?;
        let merge = self.options.merge.as_ref();
        if in_order && merge.is_none() {
            return self.write_segment(&batches);
        }
        let batch = concat_batches(&self.schema, &batches)?;
        drop(batches);
        let sort_key = &self.options.sort_key;
        let batch = match merge {
            None if in_order => batch,
            None => sort_batch(batch, sort_key, false)?,
            Some(rule) => {
                // Equal keys must be adjacent, in the order written, to merge.
                let key = rule.key();
                let batch = if in_order && sort_key.starts_with(&key) {
                    batch
                } else {
                    sort_batch(batch, &key, true)?
                };
                let batch = merge_equal_keys(batch, rule)?;
                // A sort key other than the key (PRIMARY KEY tables with ORDER BY).
                if sort_key.starts_with(&key) {
                    batch
                } else {
                    sort_batch(batch, sort_key, false)?
                }
            }
        };
        self.write_segment(std::slice::from_ref(&batch))
    }

    fn write_segment(&self, batches: &[RecordBatch]) -> Result<SegmentMeta> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let name = self.name.clone();
        let final_path = self.dir.join(&name);
        let tmp_path = self.dir.join(format!("{name}.tmp"));
        let file = File::create(&tmp_path).map_err(|e| Error::io(&tmp_path, e))?;
        let writer = CrcWriter {
            file,
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        };
        let mut props = WriterProperties::builder()
            .set_compression(to_parquet(self.options.compression))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.options.row_group_rows))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("rigel.tablet_id".to_string(), self.tablet_id.to_string()),
                KeyValue::new("rigel.rowset_id".to_string(), self.rowset_id.to_string()),
                KeyValue::new("rigel.txn_id".to_string(), self.txn_id.to_string()),
            ]));
        for (i, field) in self.schema.fields().iter().enumerate() {
            let columns: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            if !worth_a_dictionary(&columns) {
                let path = ColumnPath::from(field.name().as_str());
                props = props.set_column_dictionary_enabled(path.clone(), false);
                if stored_as_integer(field.data_type()) {
                    // Keys, ids and amounts with many distinct values: bit-packed deltas
                    // take a fraction of plain 4- or 8-byte values (sorted keys next to
                    // nothing), which block compression barely shrinks.
                    props = props.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
                }
            }
        }
        for col in &self.options.bloom_filter_columns {
            props = props.set_column_bloom_filter_enabled(ColumnPath::from(col.as_str()), true);
        }
        let mut w = ArrowWriter::try_new(writer, Arc::clone(&self.schema), Some(props.build()))?;
        for batch in batches {
            w.write(batch)?;
        }
        // `into_inner` writes the footer.
        let writer = w.into_inner()?;
        writer
            .file
            .sync_all()
            .map_err(|e| Error::io(&tmp_path, e))?;
        let crc32 = writer.hasher.finalize();
        let bytes = writer.bytes;
        drop(writer.file);
        std::fs::rename(&tmp_path, &final_path).map_err(|e| Error::io(&final_path, e))?;
        Ok(SegmentMeta {
            name,
            rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
            bytes,
            crc32,
        })
    }
}

impl Drop for RowsetWriter {
    fn drop(&mut self) {
        // An abandoned writer leaves no files behind.
        if !self.finished {
            for s in &self.segments {
                let _ = std::fs::remove_file(self.dir.join(&s.name));
            }
        }
    }
}

/// Whether Parquet stores values of this type as INT32 or INT64, the physical types that
/// `DELTA_BINARY_PACKED` encodes.
fn stored_as_integer(data_type: &DataType) -> bool {
    match data_type {
        t if t.is_integer() => true,
        DataType::Date32
        | DataType::Date64
        | DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Timestamp(_, _) => true,
        DataType::Decimal128(precision, _) => *precision <= 18,
        _ => false,
    }
}

/// Whether dictionary encoding pays off for a column: not when most values of a sample are
/// distinct (comments, names, surrogate keys), where building the dictionary costs write
/// time only for Parquet to fall back to plain encoding.
fn worth_a_dictionary(columns: &[&dyn Array]) -> bool {
    use datafusion::arrow::row::{RowConverter, SortField};
    const SAMPLE: usize = 4096;
    let n: usize = columns.iter().map(|c| c.len()).sum();
    let Some(first) = columns.first() else {
        return true;
    };
    if n < 2 * SAMPLE || first.data_type() == &DataType::Boolean {
        return true;
    }
    // Every `step`-th row of the segment, across its batches.
    let step = n / SAMPLE;
    let mut picks = Vec::with_capacity(SAMPLE);
    let mut next = 0;
    let mut offset = 0;
    for (b, c) in columns.iter().enumerate() {
        while next < offset + c.len() && picks.len() < SAMPLE {
            picks.push((b, next - offset));
            next += step;
        }
        offset += c.len();
    }
    let Ok(sample) = interleave(columns, &picks) else {
        return true;
    };
    let Ok(converter) = RowConverter::new(vec![SortField::new(first.data_type().clone())]) else {
        return true;
    };
    let Ok(rows) = converter.convert_columns(&[sample]) else {
        return true;
    };
    let distinct: std::collections::HashSet<&[u8]> =
        (0..rows.num_rows()).map(|i| rows.row(i).data()).collect();
    distinct.len() * 2 <= rows.num_rows()
}

/// Sorts a batch by the given key columns (ascending, nulls first); callers check
/// [`sorted_in_sequence`] first. `stable` keeps the written order among equal keys.
pub fn sort_batch(batch: RecordBatch, sort_key: &[usize], stable: bool) -> Result<RecordBatch> {
    if sort_key.is_empty() || batch.num_rows() < 2 {
        return Ok(batch);
    }
    let mut columns: Vec<SortColumn> = sort_key
        .iter()
        .map(|&i| SortColumn {
            values: Arc::clone(batch.column(i)),
            options: None,
        })
        .collect();
    if stable {
        let n = u32::try_from(batch.num_rows())
            .map_err(|_| Error::Corrupt("a segment of more than 2^32 rows".to_string()))?;
        columns.push(SortColumn {
            values: Arc::new(UInt32Array::from_iter_values(0..n)),
            options: None,
        });
    }
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(&batch, &indices)?)
}

/// Whether the batches, one after the other, are sorted by the key columns.
fn sorted_in_sequence(batches: &[RecordBatch], sort_key: &[usize]) -> Result<bool> {
    use datafusion::arrow::row::{RowConverter, SortField};
    if sort_key.is_empty() {
        return Ok(true);
    }
    let Some(first) = batches.first() else {
        return Ok(true);
    };
    let converter = RowConverter::new(
        sort_key
            .iter()
            .map(|&i| SortField::new(first.column(i).data_type().clone()))
            .collect(),
    )?;
    let mut previous_last: Option<datafusion::arrow::row::OwnedRow> = None;
    for batch in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        let arrays: Vec<ArrayRef> = sort_key
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let rows = converter.convert_columns(&arrays)?;
        if let Some(prev) = &previous_last
            && prev.row() > rows.row(0)
        {
            return Ok(false);
        }
        if !(1..rows.num_rows()).all(|i| rows.row(i - 1) <= rows.row(i)) {
            return Ok(false);
        }
        previous_last = Some(rows.row(rows.num_rows() - 1).owned());
    }
    Ok(true)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
    d.sync_all().map_err(|e| Error::io(dir, e))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn compression_property() {
        assert_eq!(
            SegmentCompression::parse("LZ4"),
            Some(SegmentCompression::Lz4)
        );
        assert_eq!(
            SegmentCompression::parse("zstd(9)"),
            Some(SegmentCompression::Zstd(9))
        );
        assert_eq!(SegmentCompression::parse("zstd(99)"), None);
        assert_eq!(SegmentCompression::parse("brotli"), None);
    }

    #[test]
    fn batches_sorted_in_sequence() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let b = |v: Vec<i64>| {
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(v))]).unwrap()
        };
        assert!(sorted_in_sequence(&[b(vec![1, 2]), b(vec![2, 5])], &[0]).unwrap());
        assert!(!sorted_in_sequence(&[b(vec![1, 3]), b(vec![2, 5])], &[0]).unwrap());
        assert!(!sorted_in_sequence(&[b(vec![2, 1])], &[0]).unwrap());
        assert!(sorted_in_sequence(&[b(vec![2, 1])], &[]).unwrap());
    }

    #[test]
    fn dictionary_only_for_repeated_values() {
        let distinct_a = Int64Array::from_iter_values(0..6000);
        let distinct_b = Int64Array::from_iter_values(6000..12000);
        assert!(!worth_a_dictionary(&[&distinct_a, &distinct_b]));
        let repeated =
            StringArray::from_iter_values((0..12000).map(|i| ["AIR", "MAIL", "SHIP"][i % 3]));
        assert!(worth_a_dictionary(&[&repeated]));
        let small = Int64Array::from_iter_values(0..100);
        assert!(worth_a_dictionary(&[&small]));
    }

    #[test]
    fn distinct_integers_are_delta_encoded() {
        use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("flag", DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
        ]));
        let n = 20_000i64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 7 + 3))),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| ["A", "B"][i as usize % 2]),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("n{i}")),
                )),
            ],
        )
        .unwrap();
        let mut w = RowsetWriter::new(
            dir.path().to_path_buf(),
            TxnId(1),
            TabletId(1),
            RowsetId(1),
            Arc::clone(&schema),
            SegmentOptions::default(),
        );
        w.write(batch.clone()).unwrap();
        let meta = w.finish().unwrap().unwrap();
        let path = dir.path().join(&meta.segments[0].name);
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let rg = reader.metadata().row_group(0);
        let encodings = |c: usize| rg.column(c).encodings().collect::<Vec<_>>();
        assert!(encodings(0).contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(encodings(1).contains(&Encoding::RLE_DICTIONARY));
        assert!(!encodings(2).contains(&Encoding::RLE_DICTIONARY));
        assert!(!encodings(2).contains(&Encoding::DELTA_BINARY_PACKED));
        // Sorted keys take next to nothing.
        assert!(rg.column(0).compressed_size() < n / 4);
        let read: Vec<RecordBatch> =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
                File::open(&path).unwrap(),
                8192,
            )
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(concat_batches(&schema, &read).unwrap(), batch);
    }

    #[test]
    fn sorts_by_key() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![3, 1, 2])),
                Arc::new(StringArray::from(vec!["c", "a", "b"])),
            ],
        )
        .unwrap();
        let sorted = sort_batch(batch, &[0], false).unwrap();
        let k = sorted
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(k.values(), &[1, 2, 3]);
    }
}
