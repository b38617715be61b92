//! Plain values that describe how a tablet's rows are written, shared by the storage engine
//! and the frontend/backend interface: compression, how equal keys merge, PRIMARY KEY
//! update rules and the hidden op column.

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

/// The hidden last column of a PRIMARY KEY table's segments: what each row does.
pub const OP_COLUMN: &str = "__op";
/// [`OP_COLUMN`]: insert the row or replace the row with its key.
pub const OP_UPSERT: i8 = 0;
/// [`OP_COLUMN`]: delete the row with its key.
pub const OP_DELETE: i8 = 1;

/// StarRocks' limit on the encoded size of a primary key.
pub const MAX_KEY_BYTES: usize = 128;

/// Compression of segment files (table property `compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentCompression {
    /// No compression.
    None,
    /// LZ4 (StarRocks' default).
    Lz4,
    /// Zstandard at the given level.
    Zstd(i32),
    /// Snappy.
    Snappy,
    /// zlib/gzip.
    Zlib,
}

impl SegmentCompression {
    /// Parses the table property value: `LZ4`, `ZSTD`, `zstd(3)`, `SNAPPY`, `ZLIB`, `NONE`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        if let Some(level) = t.strip_prefix("zstd(").and_then(|r| r.strip_suffix(')')) {
            let level: i32 = level.trim().parse().ok()?;
            return (1..=22)
                .contains(&level)
                .then_some(SegmentCompression::Zstd(level));
        }
        Some(match t.as_str() {
            "none" | "no_compression" => SegmentCompression::None,
            "lz4" | "lz4_frame" | "default_compression" => SegmentCompression::Lz4,
            "zstd" => SegmentCompression::Zstd(3),
            "snappy" => SegmentCompression::Snappy,
            "zlib" | "gzip" => SegmentCompression::Zlib,
            _ => return None,
        })
    }

    /// The canonical property text.
    pub fn as_str(&self) -> String {
        match self {
            SegmentCompression::None => "NONE".to_string(),
            SegmentCompression::Lz4 => "LZ4".to_string(),
            SegmentCompression::Zstd(3) => "ZSTD".to_string(),
            SegmentCompression::Zstd(l) => format!("ZSTD({l})"),
            SegmentCompression::Snappy => "SNAPPY".to_string(),
            SegmentCompression::Zlib => "ZLIB".to_string(),
        }
    }
}

/// How a column's values of rows with equal keys combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMerge {
    /// A key column.
    Key,
    /// The sum of the non-NULL values.
    Sum,
    /// The largest non-NULL value.
    Max,
    /// The smallest non-NULL value.
    Min,
    /// The value of the last row written.
    Replace,
    /// The last non-NULL value written.
    ReplaceIfNotNull,
    /// The union of the non-NULL HLL sketches.
    HllUnion,
    /// The union of the non-NULL bitmaps.
    BitmapUnion,
}

/// One [`ValueMerge`] per column of the write schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRule {
    /// Per column.
    pub columns: Vec<ValueMerge>,
}

impl MergeRule {
    /// Key column indexes.
    pub fn key(&self) -> Vec<usize> {
        (0..self.columns.len())
            .filter(|&i| self.columns[i] == ValueMerge::Key)
            .collect()
    }
}

/// How the rows of a PRIMARY KEY rowset combine with existing rows of the same keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRule {
    /// Partial update: column ids whose values a row takes from the existing row of its key
    /// (rows of new keys keep what they were written with: the column defaults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<u32>,
    /// Conditional update (`merge_condition`): a row replaces the existing row of its key
    /// only if its value of this column (a column id) is greater than or equal to the
    /// existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<u32>,
    /// Compression of segments rewritten when resolving (table property text).
    pub compression: String,
    /// Columns with bloom filters in rewritten segments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bloom_filter_columns: Vec<String>,
}

/// Whether every row of the batch has a key no longer than [`MAX_KEY_BYTES`] once
/// encoded; returns the first row that is too long.
pub fn first_oversized_key(columns: &[ArrayRef]) -> Option<usize> {
    let fixed: usize = columns
        .iter()
        .map(|c| c.data_type().primitive_width().unwrap_or(0))
        .sum();
    let var: Vec<&ArrayRef> = columns
        .iter()
        .filter(|c| c.data_type().primitive_width().is_none())
        .collect();
    if var.is_empty() {
        return (fixed > MAX_KEY_BYTES).then_some(0);
    }
    let n = columns.first().map_or(0, |c| c.len());
    (0..n).find(|&i| {
        let len: usize = var
            .iter()
            .map(|c| match c.data_type() {
                DataType::Utf8 => c.as_string::<i32>().value(i).len(),
                DataType::LargeUtf8 => c.as_string::<i64>().value(i).len(),
                DataType::Utf8View => c.as_string_view().value(i).len(),
                DataType::Binary => c.as_binary::<i32>().value(i).len(),
                _ => 0,
            })
            .sum();
        fixed + len > MAX_KEY_BYTES
    })
}
