//! Arrow batches to MySQL rows, in the text (COM_QUERY) and binary (COM_STMT_EXECUTE)
//! encodings, plus the Arrow → MySQL column type mapping.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::temporal_conversions::timestamp_us_to_datetime;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use mysql_common::constants::ColumnType;
use mysql_common::io::BufMutExt;
use rigel_common::SqlError;
use rigel_common::types::{ColumnType as SrType, TYPE_METADATA_KEY, float_text};

/// How an Arrow field appears to MySQL clients.
#[derive(Debug, Clone, Copy)]
pub struct MysqlTypeInfo {
    /// Column type code.
    pub column_type: ColumnType,
    /// Display length.
    pub length: u32,
    /// Decimals.
    pub decimals: u8,
    /// UNSIGNED flag.
    pub unsigned: bool,
    /// Binary charset.
    pub binary: bool,
    /// Numeric (binary charset, no length in chars).
    pub numeric: bool,
}

/// Maps an Arrow field to its MySQL column type.
pub fn mysql_column_type(field: &Field) -> MysqlTypeInfo {
    use ColumnType::*;
    let sr_type = field
        .metadata()
        .get(TYPE_METADATA_KEY)
        .and_then(|t| t.parse::<SrType>().ok());
    let info = |column_type, length, decimals, unsigned, binary, numeric| MysqlTypeInfo {
        column_type,
        length,
        decimals,
        unsigned,
        binary,
        numeric,
    };
    match &sr_type {
        Some(SrType::Json) => return info(MYSQL_TYPE_JSON, u32::MAX, 0, false, false, false),
        Some(SrType::Char(n)) => return info(MYSQL_TYPE_STRING, n * 4, 0, false, false, false),
        Some(SrType::Varchar(n)) => {
            return info(
                MYSQL_TYPE_VAR_STRING,
                n.saturating_mul(4),
                0,
                false,
                false,
                false,
            );
        }
        Some(SrType::LargeInt) => return info(MYSQL_TYPE_NEWDECIMAL, 40, 0, false, false, true),
        _ => {}
    }
    match field.data_type() {
        DataType::Null => info(MYSQL_TYPE_NULL, 0, 0, false, true, true),
        DataType::Boolean => info(MYSQL_TYPE_TINY, 1, 0, false, true, true),
        DataType::Int8 => info(MYSQL_TYPE_TINY, 4, 0, false, true, true),
        DataType::Int16 => info(MYSQL_TYPE_SHORT, 6, 0, false, true, true),
        DataType::Int32 => info(MYSQL_TYPE_LONG, 11, 0, false, true, true),
        DataType::Int64 => info(MYSQL_TYPE_LONGLONG, 20, 0, false, true, true),
        DataType::UInt8 => info(MYSQL_TYPE_TINY, 3, 0, true, true, true),
        DataType::UInt16 => info(MYSQL_TYPE_SHORT, 5, 0, true, true, true),
        DataType::UInt32 => info(MYSQL_TYPE_LONG, 10, 0, true, true, true),
        DataType::UInt64 => info(MYSQL_TYPE_LONGLONG, 20, 0, true, true, true),
        DataType::Float16 | DataType::Float32 => info(MYSQL_TYPE_FLOAT, 12, 31, false, true, true),
        DataType::Float64 => info(MYSQL_TYPE_DOUBLE, 22, 31, false, true, true),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => info(
            MYSQL_TYPE_NEWDECIMAL,
            *p as u32 + 2,
            (*s).max(0) as u8,
            false,
            true,
            true,
        ),
        DataType::Date32 | DataType::Date64 => info(MYSQL_TYPE_DATE, 10, 0, false, true, true),
        DataType::Timestamp(_, _) => info(MYSQL_TYPE_DATETIME, 26, 0, false, true, true),
        DataType::Time32(_) | DataType::Time64(_) => {
            info(MYSQL_TYPE_TIME, 17, 0, false, true, true)
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => info(MYSQL_TYPE_BLOB, 65535, 0, false, true, false),
        _ => info(MYSQL_TYPE_VAR_STRING, 65533 * 4, 0, false, false, false),
    }
}

/// Text-protocol writer of one batch.
pub struct TextRowWriter<'a> {
    columns: Vec<ColumnText<'a>>,
    scratch: String,
}

enum ColumnText<'a> {
    Bool(&'a dyn Array),
    Str(&'a dyn Array),
    Bin(&'a dyn Array),
    Nested(&'a ArrayRef),
    Formatted(&'a dyn Array, ArrayFormatter<'a>),
    /// FLOAT and DOUBLE: as formatted, but integral values without `.0`, as MySQL prints
    /// them (`2`, not `2.0`).
    Float(&'a dyn Array, ArrayFormatter<'a>),
}

/// Writes a FLOAT or DOUBLE value as MySQL does (see [`float_text`]).
fn write_float(f: &ArrayFormatter<'_>, row: usize, out: &mut String) {
    let start = out.len();
    let _ = write!(out, "{}", f.value(row));
    let kept = float_text(&out[start..]).len();
    out.truncate(start + kept);
}

static FORMAT_OPTIONS: std::sync::LazyLock<FormatOptions<'static>> =
    std::sync::LazyLock::new(format_options);

fn format_options() -> FormatOptions<'static> {
    FormatOptions::new()
        .with_null("")
        .with_date_format(Some("%Y-%m-%d"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_time_format(Some("%H:%M:%S%.f"))
}

impl<'a> TextRowWriter<'a> {
    /// Prepares the writer for a batch.
    pub fn try_new(batch: &'a RecordBatch) -> Result<Self, SqlError> {
        let options: &'static FormatOptions<'static> = &FORMAT_OPTIONS;
        let columns = batch
            .columns()
            .iter()
            .map(|c| {
                Ok(match c.data_type() {
                    DataType::Boolean => ColumnText::Bool(c.as_ref()),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                        ColumnText::Str(c.as_ref())
                    }
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                        ColumnText::Bin(c.as_ref())
                    }
                    DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::FixedSizeList(_, _)
                    | DataType::Struct(_)
                    | DataType::Map(_, _) => ColumnText::Nested(c),
                    DataType::Float16 | DataType::Float32 | DataType::Float64 => ColumnText::Float(
                        c.as_ref(),
                        ArrayFormatter::try_new(c.as_ref(), options)
                            .map_err(|e| SqlError::internal(format!("formatting: {e}")))?,
                    ),
                    _ => ColumnText::Formatted(
                        c.as_ref(),
                        ArrayFormatter::try_new(c.as_ref(), options)
                            .map_err(|e| SqlError::internal(format!("formatting: {e}")))?,
                    ),
                })
            })
            .collect::<Result<_, SqlError>>()?;
        Ok(Self {
            columns,
            scratch: String::new(),
        })
    }

    /// Appends row `row` as a text-protocol row payload.
    pub fn write_row(&mut self, row: usize, buf: &mut Vec<u8>) {
        for col in &self.columns {
            match col {
                ColumnText::Bool(a) => {
                    if a.is_null(row) {
                        buf.push(0xFB);
                    } else {
                        let v = a.as_boolean().value(row);
                        buf.put_lenenc_str(if v { b"1" } else { b"0" });
                    }
                }
                ColumnText::Str(a) => {
                    if a.is_null(row) {
                        buf.push(0xFB);
                    } else {
                        buf.put_lenenc_str(str_value(*a, row).as_bytes());
                    }
                }
                ColumnText::Bin(a) => {
                    if a.is_null(row) {
                        buf.push(0xFB);
                    } else {
                        buf.put_lenenc_str(bin_value(*a, row));
                    }
                }
                ColumnText::Nested(a) => {
                    if a.is_null(row) {
                        buf.push(0xFB);
                    } else {
                        self.scratch.clear();
                        write_nested(a.as_ref(), row, &mut self.scratch, false);
                        buf.put_lenenc_str(self.scratch.as_bytes());
                    }
                }
                ColumnText::Formatted(a, f) => {
                    if a.is_null(row) {
                        buf.push(0xFB);
                    } else {
                        self.scratch.clear();
                        let _ = write!(self.scratch, "{}", f.value(row));
                        buf.put_lenenc_str(self.scratch.as_bytes());
                    }
                }
                ColumnText::Float(a, f) => {
                    if a.is_null(row) {
                        buf.push(0xFB);
                    } else {
                        self.scratch.clear();
                        write_float(f, row, &mut self.scratch);
                        buf.put_lenenc_str(self.scratch.as_bytes());
                    }
                }
            }
        }
    }
}

fn str_value(a: &dyn Array, row: usize) -> &str {
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(row),
        DataType::LargeUtf8 => a.as_string::<i64>().value(row),
        DataType::Utf8View => a.as_string_view().value(row),
        _ => "",
    }
}

fn bin_value(a: &dyn Array, row: usize) -> &[u8] {
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().value(row),
        DataType::LargeBinary => a.as_binary::<i64>().value(row),
        DataType::BinaryView => a.as_binary_view().value(row),
        _ => b"",
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a value of a nested column the way StarRocks prints it:
/// `[1,2]`, `{"k":1}`, `{"a":1,"b":"x"}`; strings inside are JSON-quoted.
fn write_nested(a: &dyn Array, row: usize, out: &mut String, quote_strings: bool) {
    if a.is_null(row) {
        out.push_str("null");
        return;
    }
    match a.data_type() {
        DataType::List(_) => write_list(a.as_list::<i32>().value(row).as_ref(), out),
        DataType::LargeList(_) => write_list(a.as_list::<i64>().value(row).as_ref(), out),
        DataType::FixedSizeList(_, _) => {
            write_list(a.as_fixed_size_list().value(row).as_ref(), out)
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            out.push('{');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(f.name(), out);
                out.push(':');
                write_nested(s.column(i).as_ref(), row, out, true);
            }
            out.push('}');
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let entries = m.value(row);
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push(',');
                }
                write_nested(entries.column(0).as_ref(), i, out, true);
                out.push(':');
                write_nested(entries.column(1).as_ref(), i, out, true);
            }
            out.push('}');
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            if quote_strings {
                write_json_string(str_value(a, row), out);
            } else {
                out.push_str(str_value(a, row));
            }
        }
        DataType::Boolean => out.push_str(if a.as_boolean().value(row) { "1" } else { "0" }),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
            if let Ok(f) = ArrayFormatter::try_new(a, &FORMAT_OPTIONS) {
                out.push('"');
                let _ = write!(out, "{}", f.value(row));
                out.push('"');
            }
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            if let Ok(f) = ArrayFormatter::try_new(a, &FORMAT_OPTIONS) {
                write_float(&f, row, out);
            }
        }
        _ => {
            if let Ok(f) = ArrayFormatter::try_new(a, &FORMAT_OPTIONS) {
                let _ = write!(out, "{}", f.value(row));
            }
        }
    }
}

fn write_list(values: &dyn Array, out: &mut String) {
    out.push('[');
    for i in 0..values.len() {
        if i > 0 {
            out.push(',');
        }
        write_nested(values, i, out, true);
    }
    out.push(']');
}

/// Appends row `row` as a binary-protocol row payload.
pub fn write_binary_row(
    batch: &RecordBatch,
    text: &mut TextRowWriter<'_>,
    row: usize,
    buf: &mut Vec<u8>,
) {
    let ncols = batch.num_columns();
    buf.push(0x00);
    let bitmap_start = buf.len();
    buf.resize(bitmap_start + (ncols + 7 + 2) / 8, 0);
    for (i, col) in batch.columns().iter().enumerate() {
        if col.is_null(row) {
            let bit = i + 2;
            buf[bitmap_start + bit / 8] |= 1 << (bit % 8);
            continue;
        }
        if !write_binary_value(col.as_ref(), row, buf) {
            // Everything else travels as its text form.
            text_cell(text, i, row, buf);
        }
    }
}

/// The text encoding of one cell (a lenenc string).
fn text_cell(text: &mut TextRowWriter<'_>, col: usize, row: usize, out: &mut Vec<u8>) {
    let column = &text.columns[col];
    match column {
        ColumnText::Str(a) => out.put_lenenc_str(str_value(*a, row).as_bytes()),
        ColumnText::Bin(a) => out.put_lenenc_str(bin_value(*a, row)),
        ColumnText::Bool(a) => out.put_lenenc_str(if a.as_boolean().value(row) {
            b"1"
        } else {
            b"0"
        }),
        ColumnText::Nested(a) => {
            let mut s = String::new();
            write_nested(a.as_ref(), row, &mut s, false);
            out.put_lenenc_str(s.as_bytes());
        }
        ColumnText::Formatted(_, f) => {
            let s = f.value(row).to_string();
            out.put_lenenc_str(s.as_bytes());
        }
        ColumnText::Float(_, f) => {
            let mut s = String::new();
            write_float(f, row, &mut s);
            out.put_lenenc_str(s.as_bytes());
        }
    }
}

fn write_binary_value(a: &dyn Array, row: usize, buf: &mut Vec<u8>) -> bool {
    match a.data_type() {
        DataType::Boolean => buf.push(a.as_boolean().value(row) as u8),
        DataType::Int8 => buf.push(a.as_primitive::<Int8Type>().value(row) as u8),
        DataType::UInt8 => buf.push(a.as_primitive::<UInt8Type>().value(row)),
        DataType::Int16 => {
            buf.extend_from_slice(&a.as_primitive::<Int16Type>().value(row).to_le_bytes())
        }
        DataType::UInt16 => {
            buf.extend_from_slice(&a.as_primitive::<UInt16Type>().value(row).to_le_bytes())
        }
        DataType::Int32 => {
            buf.extend_from_slice(&a.as_primitive::<Int32Type>().value(row).to_le_bytes())
        }
        DataType::UInt32 => {
            buf.extend_from_slice(&a.as_primitive::<UInt32Type>().value(row).to_le_bytes())
        }
        DataType::Int64 => {
            buf.extend_from_slice(&a.as_primitive::<Int64Type>().value(row).to_le_bytes())
        }
        DataType::UInt64 => {
            buf.extend_from_slice(&a.as_primitive::<UInt64Type>().value(row).to_le_bytes())
        }
        DataType::Float32 => {
            buf.extend_from_slice(&a.as_primitive::<Float32Type>().value(row).to_le_bytes())
        }
        DataType::Float64 => {
            buf.extend_from_slice(&a.as_primitive::<Float64Type>().value(row).to_le_bytes())
        }
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(row);
            match chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163) {
                Some(d) => write_date(buf, d.year(), d.month(), d.day()),
                None => return false,
            }
        }
        DataType::Date64 => {
            let ms = a.as_primitive::<Date64Type>().value(row);
            match chrono::DateTime::from_timestamp_millis(ms) {
                Some(d) => write_date(buf, d.year(), d.month(), d.day()),
                None => return false,
            }
        }
        DataType::Timestamp(unit, _) => {
            let Some(dt) = timestamp_value(a, row, unit) else {
                return false;
            };
            write_datetime(buf, &dt);
        }
        _ => return false,
    }
    true
}

fn timestamp_value(a: &dyn Array, row: usize, unit: &TimeUnit) -> Option<NaiveDateTime> {
    use datafusion::arrow::datatypes::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    let micros = match unit {
        TimeUnit::Second => a
            .as_primitive::<TimestampSecondType>()
            .value(row)
            .checked_mul(1_000_000)?,
        TimeUnit::Millisecond => a
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .checked_mul(1000)?,
        TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row) / 1000,
    };
    timestamp_us_to_datetime(micros)
}

fn write_date(buf: &mut Vec<u8>, year: i32, month: u32, day: u32) {
    buf.push(4);
    buf.extend_from_slice(&(year.clamp(0, 9999) as u16).to_le_bytes());
    buf.push(month as u8);
    buf.push(day as u8);
}

fn write_datetime(buf: &mut Vec<u8>, dt: &NaiveDateTime) {
    let micros = dt.and_utc().timestamp_subsec_micros();
    buf.push(if micros == 0 { 7 } else { 11 });
    buf.extend_from_slice(&(dt.year().clamp(0, 9999) as u16).to_le_bytes());
    buf.push(dt.month() as u8);
    buf.push(dt.day() as u8);
    buf.push(dt.hour() as u8);
    buf.push(dt.minute() as u8);
    buf.push(dt.second() as u8);
    if micros != 0 {
        buf.extend_from_slice(&micros.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Int32Array, ListArray, StringArray,
        TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{Int32Type as I32, Schema};
    use std::sync::Arc;

    fn text_cells(batch: &RecordBatch) -> Vec<Option<String>> {
        let mut w = TextRowWriter::try_new(batch).unwrap();
        let mut buf = vec![];
        w.write_row(0, &mut buf);
        let mut out = vec![];
        let mut p = &buf[..];
        while !p.is_empty() {
            if p[0] == 0xFB {
                out.push(None);
                p = &p[1..];
            } else {
                let len = p[0] as usize;
                out.push(Some(String::from_utf8(p[1..1 + len].to_vec()).unwrap()));
                p = &p[1 + len..];
            }
        }
        out
    }

    #[test]
    fn integral_doubles_print_without_a_fraction() {
        use datafusion::arrow::array::{Float32Array, Float64Array};
        let values = [2.0, -3.0, 2.5, 0.1 + 0.2, 1e20, f64::INFINITY];
        let schema = Arc::new(Schema::new(
            (0..values.len())
                .map(|i| Field::new(format!("c{i}"), DataType::Float64, true))
                .chain([Field::new("f", DataType::Float32, true)])
                .collect::<Vec<_>>(),
        ));
        let mut columns: Vec<ArrayRef> = values
            .iter()
            .map(|&v| Arc::new(Float64Array::from(vec![v])) as ArrayRef)
            .collect();
        columns.push(Arc::new(Float32Array::from(vec![7.0f32])));
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let cells: Vec<String> = text_cells(&batch).into_iter().flatten().collect();
        assert_eq!(
            cells,
            ["2", "-3", "2.5", "0.30000000000000004", "1e20", "inf", "7"]
        );
    }

    #[test]
    fn text_formats_like_mysql() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("b", DataType::Boolean, true),
            Field::new("d", DataType::Date32, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("dec", DataType::Decimal128(10, 2), true),
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
            Field::new(
                "l",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
        ]));
        let list = ListArray::from_iter_primitive::<I32, _, _>(vec![Some(vec![Some(1), None])]);
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(Date32Array::from(vec![19723])),
                Arc::new(TimestampMicrosecondArray::from(vec![1_704_103_200_000_000])),
                Arc::new(
                    Decimal128Array::from(vec![12345])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                Arc::new(StringArray::from(vec!["héllo"])),
                Arc::new(Int32Array::from(vec![None])),
                Arc::new(list),
            ],
        )
        .unwrap();
        let cells = text_cells(&batch);
        assert_eq!(cells[0].as_deref(), Some("1"));
        assert_eq!(cells[1].as_deref(), Some("2024-01-01"));
        assert_eq!(cells[2].as_deref(), Some("2024-01-01 10:00:00"));
        assert_eq!(cells[3].as_deref(), Some("123.45"));
        assert_eq!(cells[4].as_deref(), Some("héllo"));
        assert_eq!(cells[5], None);
        assert_eq!(cells[6].as_deref(), Some("[1,null]"));
    }
}
