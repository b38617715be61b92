//! Converting incoming values to a table's column types, with StarRocks' checks.
//!
//! Used by INSERT (values produced by a query) and by loads (text parsed from CSV/JSON).
//! A value that does not convert, a string longer than its column, a decimal that does not
//! fit or a NULL in a NOT NULL column makes its row *bad*: the caller either fails the
//! statement (`enable_insert_strict`, `strict_mode`) or filters the row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Int8Type, Int16Type, Int32Type, Int64Type};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::scalar::ScalarValue;

use crate::error::{ErrorCode, SqlError};
use crate::types::ColumnType;

/// A column values are converted to.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    /// Column name (for messages).
    pub name: String,
    /// StarRocks type.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// Why a row was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Row index in the batch.
    pub row: usize,
    /// The public code.
    pub code: ErrorCode,
    /// Explanation, naming the column and value.
    pub reason: String,
}

impl RowError {
    /// The error a strict statement fails with (1-based row number in the statement).
    pub fn to_sql_error(&self, row_offset: usize) -> SqlError {
        SqlError::new(
            self.code,
            format!("{} at row {}", self.reason, self.row + 1 + row_offset),
        )
    }
}

/// Converts one column. Returns the converted array and, per row, the reason it failed
/// (converted values of failed rows are NULL).
pub fn convert_column(
    source: &ArrayRef,
    target: &TargetColumn,
    errors: &mut Vec<RowError>,
) -> Result<ArrayRef, SqlError> {
    if matches!(target.ty, ColumnType::Hll | ColumnType::Bitmap) {
        return convert_sketch(source, target, errors);
    }
    let to = target.ty.to_arrow();
    let out = if source.data_type() == &to {
        Arc::clone(source)
    } else if let Some(fast) = parse_plain_text(source, &to) {
        fast
    } else if source.data_type() == &DataType::Null {
        // Every value is NULL (a `NullArray` has no null buffer: `is_null` says false).
        let out = new_null_array(&to, source.len());
        return check_converted(out, target, errors, |_| true);
    } else {
        let source_for_cast = normalize_source(source, &target.ty)?;
        let options = CastOptions {
            safe: true,
            format_options: FormatOptions::default(),
        };
        cast_with_options(&source_for_cast, &to, &options).map_err(|e| {
            SqlError::new(
                ErrorCode::ER_TRUNCATED_WRONG_VALUE,
                format!(
                    "cannot convert {} to {} for column '{}': {e}",
                    source.data_type(),
                    target.ty,
                    target.name
                ),
            )
        })?
    };
    // Values that did not survive the cast.
    if out.null_count() > source.null_count() {
        for row in 0..source.len() {
            if out.is_null(row) && !source.is_null(row) {
                errors.push(RowError {
                    row,
                    code: ErrorCode::ER_TRUNCATED_WRONG_VALUE,
                    reason: format!(
                        "Incorrect {} value: '{}' for column '{}'",
                        target.ty,
                        display_value(source, row),
                        target.name
                    ),
                });
            }
        }
    }
    check_converted(out, target, errors, |row| source.is_null(row))
}

/// HLL and BITMAP columns take only values of their type, made by their functions
/// (`hll_hash`, `to_bitmap`, …); a value that does not decode makes its row bad.
fn convert_sketch(
    source: &ArrayRef,
    target: &TargetColumn,
    errors: &mut Vec<RowError>,
) -> Result<ArrayRef, SqlError> {
    use datafusion::arrow::array::BinaryArray;
    let validate = match target.ty {
        ColumnType::Hll => crate::sketch::validate_hll,
        _ => crate::sketch::validate_bitmap,
    };
    let out: ArrayRef = match source.data_type() {
        DataType::Null => new_null_array(&DataType::Binary, source.len()),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let binary = if source.data_type() == &DataType::Binary {
                Arc::clone(source)
            } else {
                cast_with_options(source, &DataType::Binary, &CastOptions::default())
                    .map_err(SqlError::internal)?
            };
            let values = binary.as_binary::<i32>();
            let mut bad = false;
            for (row, v) in values.iter().enumerate() {
                if let Some(Err(e)) = v.map(validate) {
                    bad = true;
                    errors.push(RowError {
                        row,
                        code: ErrorCode::ER_TRUNCATED_WRONG_VALUE,
                        reason: format!("{} for column '{}'", e.message, target.name),
                    });
                }
            }
            if bad {
                let kept: BinaryArray = values
                    .iter()
                    .map(|v| v.filter(|v| validate(v).is_ok()))
                    .collect();
                Arc::new(kept)
            } else {
                binary
            }
        }
        other => {
            let functions = match target.ty {
                ColumnType::Hll => "hll_hash(...) or hll_empty()",
                _ => "to_bitmap(...), bitmap_from_string(...), bitmap_hash(...) or bitmap_empty()",
            };
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!(
                    "Column '{}' is {} and cannot take a {} value; write {functions}",
                    target.name,
                    target.ty.to_string().to_uppercase(),
                    match other {
                        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string",
                        t if t.is_integer() => "integer",
                        _ => "differently typed",
                    }
                ),
            ));
        }
    };
    check_converted(out, target, errors, |row| source.is_null(row))
}

/// The checks every converted column goes through: string lengths, JSON validity and NOT
/// NULL (`was_null`: whether the row's source value was NULL, as opposed to one that did
/// not convert, which is reported already).
fn check_converted(
    mut out: ArrayRef,
    target: &TargetColumn,
    errors: &mut Vec<RowError>,
    was_null: impl Fn(usize) -> bool,
) -> Result<ArrayRef, SqlError> {
    if let Some(limit) = target.ty.max_length() {
        check_length(&out, limit, target, errors);
    }
    if target.ty == ColumnType::Json {
        out = canonical_json(&out, target, errors)?;
    }
    if !target.nullable && out.null_count() > 0 {
        for row in 0..out.len() {
            if out.is_null(row) && was_null(row) {
                errors.push(RowError {
                    row,
                    code: ErrorCode::ER_BAD_NULL_ERROR,
                    reason: format!("Column '{}' cannot be null", target.name),
                });
            }
        }
    }
    Ok(out)
}

/// A NULL field in a [`TextColumn`].
pub const NULL_SPAN: (u32, u32) = (u32::MAX, u32::MAX);

/// One column of delimited text as it was read: each row's field is a byte range of a
/// buffer shared by all columns ([`NULL_SPAN`] for NULL). Loads convert these without first
/// copying every field into a string array: numbers and dates are parsed straight from the
/// buffer, strings copied once into their final array.
#[derive(Debug, Clone, Copy)]
pub struct TextColumn<'a> {
    /// The text the spans point into.
    pub data: &'a [u8],
    /// Each row's field: `start..end` in `data`, or [`NULL_SPAN`].
    pub spans: &'a [(u32, u32)],
}

impl<'a> TextColumn<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The field of `row`, `None` for NULL.
    pub fn get(&self, row: usize) -> Option<&'a [u8]> {
        let (start, end) = *self.spans.get(row)?;
        if (start, end) == NULL_SPAN {
            return None;
        }
        self.data.get(start as usize..end as usize)
    }

    fn values(&self) -> impl ExactSizeIterator<Item = Option<&'a [u8]>> + 'a {
        let data = self.data;
        self.spans.iter().map(move |&(start, end)| {
            if (start, end) == NULL_SPAN {
                None
            } else {
                data.get(start as usize..end as usize)
            }
        })
    }

    fn nulls(&self) -> Option<datafusion::arrow::buffer::NullBuffer> {
        if !self.spans.contains(&NULL_SPAN) {
            return None;
        }
        let mut nulls = datafusion::arrow::array::builder::NullBufferBuilder::new(self.spans.len());
        for &span in self.spans {
            nulls.append(span != NULL_SPAN);
        }
        nulls.finish()
    }

    /// The fields as a string array (an error when one is not valid UTF-8).
    pub fn to_strings(&self) -> Result<datafusion::arrow::array::StringArray, SqlError> {
        use datafusion::arrow::buffer::OffsetBuffer;
        let total: usize = self.values().flatten().map(<[u8]>::len).sum();
        if i32::try_from(total).is_err() {
            return Err(SqlError::new(
                ErrorCode::ER_OUT_OF_RESOURCES,
                format!("{total} bytes of text in one column of one block"),
            ));
        }
        let mut values = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(self.spans.len() + 1);
        offsets.push(0i32);
        for v in self.values() {
            if let Some(v) = v {
                values.extend_from_slice(v);
            }
            // Cannot overflow: `total` fits.
            offsets.push(values.len() as i32);
        }
        datafusion::arrow::array::StringArray::try_new(
            OffsetBuffer::new(offsets.into()),
            values.into(),
            self.nulls(),
        )
        .map_err(|e| SqlError::new(ErrorCode::ER_TRUNCATED_WRONG_VALUE, e.to_string()))
    }
}

/// Converts one column of text, like [`convert_column`] on its strings but faster: plain
/// integers, decimals and dates are parsed in place, strings copied once.
pub fn convert_text(
    text: TextColumn<'_>,
    target: &TargetColumn,
    errors: &mut Vec<RowError>,
) -> Result<ArrayRef, SqlError> {
    let to = target.ty.to_arrow();
    let fast = if to == DataType::Utf8 {
        Some(Arc::new(text.to_strings()?) as ArrayRef)
    } else {
        parse_plain(text.values(), text.nulls(), &to)
    };
    match fast {
        Some(out) => check_converted(out, target, errors, |row| text.get(row).is_none()),
        None => convert_column(&(Arc::new(text.to_strings()?) as ArrayRef), target, errors),
    }
}

/// The loads' hot path: text columns of plain decimals (`-12.5`) and ISO dates
/// (`1998-12-01`) parsed directly, without the general cast's per-value allocations. `None`
/// when any value is not in that plain form (then the general cast decides, with StarRocks'
/// trimming and rounding rules).
fn parse_plain_text(source: &ArrayRef, to: &DataType) -> Option<ArrayRef> {
    if source.data_type() != &DataType::Utf8 {
        return None;
    }
    let strings = source.as_string::<i32>();
    parse_plain(
        strings.iter().map(|v| v.map(str::as_bytes)),
        strings.nulls().cloned(),
        to,
    )
}

/// Parses `values` (NULL where `nulls` says) as `to`, when every value is in the plain form
/// of [`parse_plain_text`].
fn parse_plain<'a>(
    values: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
    nulls: Option<datafusion::arrow::buffer::NullBuffer>,
    to: &DataType,
) -> Option<ArrayRef> {
    use datafusion::arrow::array::{Date32Array, Decimal128Array};
    match to {
        DataType::Decimal128(precision, scale) if *scale >= 0 => {
            let (precision, scale) = (*precision as u32, *scale as u32);
            let values = parse_all(values, |t| plain_decimal(t, precision, scale))?;
            let array = Decimal128Array::new(values.into(), nulls)
                .with_precision_and_scale(precision as u8, scale as i8)
                .ok()?;
            Some(Arc::new(array))
        }
        DataType::Date32 => {
            let values = parse_all(values, plain_date)?;
            Some(Arc::new(Date32Array::new(values.into(), nulls)))
        }
        DataType::Int8 => plain_integers::<Int8Type>(values, nulls),
        DataType::Int16 => plain_integers::<Int16Type>(values, nulls),
        DataType::Int32 => plain_integers::<Int32Type>(values, nulls),
        DataType::Int64 => plain_integers::<Int64Type>(values, nulls),
        _ => None,
    }
}

/// Parses every value with `parse` (NULLs become the default); `None` as soon as one does
/// not parse.
#[inline(always)]
fn parse_all<'a, T: Default>(
    values: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
    parse: impl Fn(&'a [u8]) -> Option<T>,
) -> Option<Vec<T>> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        out.push(match v {
            None => T::default(),
            Some(t) => parse(t)?,
        });
    }
    Some(out)
}

/// A column of `[-+]digits` in the type's range; `None` if any value is not.
fn plain_integers<'a, T>(
    values: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
    nulls: Option<datafusion::arrow::buffer::NullBuffer>,
) -> Option<ArrayRef>
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    T::Native: TryFrom<i64>,
{
    let values = parse_all(values, |t| T::Native::try_from(plain_integer(t)?).ok())?;
    Some(Arc::new(
        datafusion::arrow::array::PrimitiveArray::<T>::new(values.into(), nulls),
    ))
}

/// `[-+]digits` (at most 18 digits) as an integer.
#[inline]
fn plain_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(if negative { -v } else { v })
}

/// `[-+]digits[.digits]` with at most `scale` fraction digits and at most
/// `precision - scale` integer digits, as an unscaled value.
#[inline]
fn plain_decimal(text: &[u8], precision: u32, scale: u32) -> Option<i128> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // One pass: the digits accumulate in a u64 while they fit (up to 18 of them), which is
    // much cheaper than an i128; the point's position is remembered.
    let mut small: u64 = 0;
    let mut big: i128 = 0;
    let mut count = 0u32;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            if count < 18 {
                small = small * 10 + u64::from(d);
            } else {
                if count == 18 {
                    big = i128::from(small);
                }
                big = big * 10 + i128::from(d);
            }
            count += 1;
        } else if b == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let int_len = point.unwrap_or(digits.len()) as u32;
    let frac_len = count - int_len;
    if count == 0 || frac_len > scale || int_len > precision - scale {
        return None;
    }
    let v = if count <= 18 { i128::from(small) } else { big };
    let v = v * 10i128.pow(scale - frac_len);
    Some(if negative { -v } else { v })
}

/// `YYYY-MM-DD` (a valid calendar date) as days since 1970-01-01.
#[inline]
fn plain_date(text: &[u8]) -> Option<i32> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        text[r].iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)? as i32, num(5..7)?, num(8..10)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > month_days {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[inline]
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Strings are trimmed before numeric, date and boolean conversion, as StarRocks does.
fn normalize_source(source: &ArrayRef, to: &ColumnType) -> Result<ArrayRef, SqlError> {
    let is_string = matches!(
        source.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if !is_string || to.is_string() || *to == ColumnType::Json {
        return Ok(Arc::clone(source));
    }
    let utf8 = if source.data_type() == &DataType::Utf8 {
        Arc::clone(source)
    } else {
        datafusion::arrow::compute::cast(source, &DataType::Utf8)
            .map_err(|e| SqlError::internal(e.to_string()))?
    };
    let strings = utf8.as_string::<i32>();
    if !strings
        .iter()
        .flatten()
        .any(|s| s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace))
    {
        return Ok(utf8);
    }
    let trimmed: datafusion::arrow::array::StringArray =
        strings.iter().map(|s| s.map(str::trim)).collect();
    Ok(Arc::new(trimmed))
}

fn check_length(out: &ArrayRef, limit: u32, target: &TargetColumn, errors: &mut Vec<RowError>) {
    let limit = limit as usize;
    let too_long = |row: usize, len: usize| RowError {
        row,
        code: ErrorCode::ER_DATA_TOO_LONG,
        reason: format!(
            "Data too long for column '{}' ({} bytes, limit {})",
            target.name, len, limit
        ),
    };
    match out.data_type() {
        DataType::Utf8 => {
            for (row, v) in out.as_string::<i32>().iter().enumerate() {
                if let Some(v) = v.filter(|v| v.len() > limit) {
                    errors.push(too_long(row, v.len()));
                }
            }
        }
        DataType::Binary => {
            for (row, v) in out.as_binary::<i32>().iter().enumerate() {
                if let Some(v) = v.filter(|v| v.len() > limit) {
                    errors.push(too_long(row, v.len()));
                }
            }
        }
        _ => {}
    }
}

fn canonical_json(
    out: &ArrayRef,
    target: &TargetColumn,
    errors: &mut Vec<RowError>,
) -> Result<ArrayRef, SqlError> {
    let strings = out.as_string::<i32>();
    let mut values = Vec::with_capacity(strings.len());
    for (row, v) in strings.iter().enumerate() {
        match v {
            None => values.push(None),
            Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(json) => values.push(Some(json.to_string())),
                Err(e) => {
                    errors.push(RowError {
                        row,
                        code: ErrorCode::ER_INVALID_JSON_TEXT,
                        reason: format!("Invalid JSON text for column '{}': {e}", target.name),
                    });
                    values.push(None);
                }
            },
        }
    }
    Ok(Arc::new(datafusion::arrow::array::StringArray::from(
        values,
    )))
}

fn display_value(array: &ArrayRef, row: usize) -> String {
    let text = ScalarValue::try_from_array(array, row)
        .map(|v| match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => s,
            other => other.to_string(),
        })
        .unwrap_or_default();
    if text.chars().count() > 64 {
        format!("{}...", text.chars().take(64).collect::<String>())
    } else {
        text
    }
}

/// A mask keeping the rows not listed in `errors`.
pub fn good_rows_mask(num_rows: usize, errors: &[RowError]) -> BooleanArray {
    let mut keep = vec![true; num_rows];
    for e in errors {
        if let Some(k) = keep.get_mut(e.row) {
            *k = false;
        }
    }
    BooleanArray::from(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    #[test]
    fn plain_text_fast_path_matches_the_general_cast() {
        use chrono::Datelike;
        assert_eq!(plain_decimal(b"12.5", 15, 2), Some(1250));
        assert_eq!(plain_decimal(b"-0.07", 15, 2), Some(-7));
        assert_eq!(plain_decimal(b"+3", 15, 2), Some(300));
        assert_eq!(
            plain_decimal(b"-123456789012345678901.25", 38, 4),
            Some(-1_234_567_890_123_456_789_012_500)
        );
        assert_eq!(plain_decimal(b".5", 15, 2), Some(50));
        assert_eq!(plain_decimal(b"1.005", 15, 2), None); // needs rounding
        assert_eq!(plain_decimal(b"1e3", 15, 2), None);
        assert_eq!(plain_decimal(b"1234", 5, 2), None); // too many integer digits
        assert_eq!(plain_decimal(b"-", 15, 2), None);
        assert_eq!(plain_decimal(b".", 15, 2), None);
        assert_eq!(plain_date(b"1998-12-01"), Some(10561));
        assert_eq!(plain_date(b"1970-01-01"), Some(0));
        assert_eq!(plain_date(b"1969-12-31"), Some(-1));
        assert_eq!(plain_date(b"2023-02-29"), None);
        assert_eq!(plain_date(b"2024-02-29"), Some(19782));
        assert_eq!(plain_date(b"2000-02-30"), None);
        assert_eq!(plain_date(b"0001-01-01"), Some(-719_162));
        assert_eq!(plain_date(b"9999-12-31"), Some(2_932_896));
        // Every day of four centuries agrees with chrono.
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut day = chrono::NaiveDate::from_ymd_opt(1800, 1, 1).unwrap();
        while day.year() < 2200 {
            let text = day.format("%Y-%m-%d").to_string();
            let expected = day.signed_duration_since(epoch).num_days() as i32;
            assert_eq!(plain_date(text.as_bytes()), Some(expected), "{text}");
            day = day.succ_opt().unwrap();
        }
        assert_eq!(plain_date(b"2023-2-01x"), None);
        assert_eq!(plain_integer(b"-42"), Some(-42));
        assert_eq!(plain_integer(b"+7"), Some(7));
        assert_eq!(plain_integer(b"007"), Some(7));
        assert_eq!(plain_integer(b" 7"), None); // trimmed by the general cast
        assert_eq!(plain_integer(b"1.0"), None);
        assert_eq!(plain_integer(b"-"), None);
        assert_eq!(plain_integer(b"1234567890123456789"), None); // may overflow: general cast

        let ints: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2147483647"),
            None,
            Some("-2147483648"),
            Some("+12"),
        ]));
        let target = col(ColumnType::Int, true);
        let mut errors = vec![];
        let fast = convert_column(&ints, &target, &mut errors).unwrap();
        let general =
            cast_with_options(&ints, &target.ty.to_arrow(), &CastOptions::default()).unwrap();
        assert_eq!(fast.as_ref(), general.as_ref());
        assert!(errors.is_empty());
        let small: ArrayRef = Arc::new(StringArray::from(vec!["127", "128"]));
        let out = convert_column(&small, &col(ColumnType::TinyInt, true), &mut errors).unwrap();
        assert!(out.is_null(1));
        assert_eq!(errors.len(), 1);

        let texts: ArrayRef = Arc::new(StringArray::from(vec![
            Some("12.5"),
            None,
            Some("-0.07"),
            Some("99999.99"),
        ]));
        let target = col(
            ColumnType::Decimal {
                precision: 7,
                scale: 2,
            },
            true,
        );
        let mut errors = vec![];
        let fast = convert_column(&texts, &target, &mut errors).unwrap();
        let general =
            cast_with_options(&texts, &target.ty.to_arrow(), &CastOptions::default()).unwrap();
        assert_eq!(fast.as_ref(), general.as_ref());
        assert!(errors.is_empty());
    }

    fn col(ty: ColumnType, nullable: bool) -> TargetColumn {
        TargetColumn {
            name: "c".into(),
            ty,
            nullable,
        }
    }

    #[test]
    fn bad_values_are_reported_per_row() {
        let src: ArrayRef = Arc::new(StringArray::from(vec![
            Some(" 12 "),
            Some("x"),
            None,
            Some("99999999999"),
        ]));
        let mut errors = vec![];
        let out = convert_column(&src, &col(ColumnType::Int, false), &mut errors).unwrap();
        assert_eq!(out.len(), 4);
        let rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
        assert_eq!(rows, vec![1, 3, 2]);
        assert_eq!(errors[2].code, ErrorCode::ER_BAD_NULL_ERROR);
        assert_eq!(out.as_primitive::<Int32Type>().value(0), 12);
    }

    #[test]
    fn string_length_and_decimal_overflow() {
        let src: ArrayRef = Arc::new(StringArray::from(vec!["abc", "abcdef"]));
        let mut errors = vec![];
        convert_column(&src, &col(ColumnType::Varchar(4), true), &mut errors).unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, ErrorCode::ER_DATA_TOO_LONG);

        let src: ArrayRef = Arc::new(Int64Array::from(vec![1, 1000]));
        let mut errors = vec![];
        convert_column(
            &src,
            &col(
                ColumnType::Decimal {
                    precision: 4,
                    scale: 2,
                },
                true,
            ),
            &mut errors,
        )
        .unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].row, 1);
    }

    #[test]
    fn json_is_validated_and_canonical() {
        let src: ArrayRef = Arc::new(StringArray::from(vec![r#"{ "a" : 1 }"#, "{bad"]));
        let mut errors = vec![];
        let out = convert_column(&src, &col(ColumnType::Json, true), &mut errors).unwrap();
        assert_eq!(out.as_string::<i32>().value(0), r#"{"a":1}"#);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn untyped_nulls_load_as_nulls() {
        let nulls: ArrayRef = Arc::new(datafusion::arrow::array::NullArray::new(2));
        let mut errors = vec![];
        let out = convert_column(&nulls, &col(ColumnType::Varchar(10), true), &mut errors).unwrap();
        assert_eq!((out.len(), out.null_count(), errors.len()), (2, 2, 0));
        let out = convert_column(&nulls, &col(ColumnType::Int, false), &mut errors).unwrap();
        assert_eq!(out.null_count(), 2);
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .all(|e| e.code == ErrorCode::ER_BAD_NULL_ERROR)
        );
    }

    #[test]
    fn text_columns_convert_like_their_strings() {
        let fields: [Option<&str>; 11] = [
            Some("12"),
            None,
            Some(" 7 "),
            Some("-3"),
            Some("1.5"),
            Some("x"),
            Some("1998-12-01"),
            Some(""),
            Some("123456789012"),
            Some("+0.25"),
            Some("{\"a\": 1}"),
        ];
        let mut data = vec![];
        let mut spans = vec![];
        for f in fields {
            match f {
                None => spans.push(NULL_SPAN),
                Some(t) => {
                    let start = data.len() as u32;
                    data.extend_from_slice(t.as_bytes());
                    spans.push((start, data.len() as u32));
                }
            }
        }
        let text = TextColumn {
            data: &data,
            spans: &spans,
        };
        let strings: ArrayRef = Arc::new(StringArray::from(fields.to_vec()));
        let types = [
            ColumnType::TinyInt,
            ColumnType::Int,
            ColumnType::BigInt,
            ColumnType::Double,
            ColumnType::Decimal {
                precision: 9,
                scale: 2,
            },
            ColumnType::Date,
            ColumnType::Datetime,
            ColumnType::Varchar(3),
            ColumnType::Json,
            ColumnType::Boolean,
        ];
        for ty in types {
            for nullable in [true, false] {
                let target = col(ty.clone(), nullable);
                let (mut from_text, mut from_strings) = (vec![], vec![]);
                let a = convert_text(text, &target, &mut from_text).unwrap();
                let b = convert_column(&strings, &target, &mut from_strings).unwrap();
                assert_eq!(a.as_ref(), b.as_ref(), "{ty}");
                from_text.sort_by_key(|e| e.row);
                from_strings.sort_by_key(|e| e.row);
                assert_eq!(from_text, from_strings, "{ty}");
            }
        }
        // All plain: the fast path.
        let ints = TextColumn {
            data: b"1-2",
            spans: &[(0, 1), NULL_SPAN, (1, 3)],
        };
        let out = convert_text(ints, &col(ColumnType::BigInt, true), &mut vec![]).unwrap();
        assert_eq!(
            out.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
            vec![Some(1), None, Some(-2)]
        );
    }
}
