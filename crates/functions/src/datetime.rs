//! MySQL/StarRocks date and time functions.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

const EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// The session's time zone (`time_zone` variable), UTC when unset or unknown.
fn session_tz(config: &ConfigOptions) -> Tz {
    config
        .execution
        .time_zone
        .as_deref()
        .and_then(|tz| Tz::from_str(tz).ok())
        .unwrap_or_else(|| Tz::from_str("+00:00").expect("UTC parses"))
}

/// Converts any date/time/string array to microsecond timestamps (no time zone).
fn to_timestamps(arr: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    let casted = match arr.data_type() {
        DataType::Timestamp(_, Some(_)) => {
            cast(arr, &DataType::Timestamp(TimeUnit::Microsecond, None))?
        }
        DataType::Utf8View | DataType::LargeUtf8 => {
            cast(&cast(arr, &DataType::Utf8)?, &timestamp_type())?
        }
        _ => cast(arr, &timestamp_type())?,
    };
    Ok(casted.as_primitive::<TimestampMicrosecondType>().clone())
}

fn micros_to_datetime(us: i64) -> Option<NaiveDateTime> {
    datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(us)
}

fn datetime_to_micros(dt: &NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_micros()
}

fn date_to_days(d: &NaiveDate) -> i32 {
    d.num_days_from_ce() - EPOCH_DAYS_FROM_CE
}

fn args_to_arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter().map(|a| a.to_array(rows)).collect()
}

fn finish(array: ArrayRef, args: &[ColumnarValue]) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

// ---- now(), curdate(), curtime() ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Clock {
    Now,
    CurDate,
    CurTime,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ClockFunction {
    name: &'static str,
    aliases: Vec<String>,
    clock: Clock,
    signature: Signature,
}

impl ClockFunction {
    fn data_type(&self) -> DataType {
        match self.clock {
            Clock::Now => timestamp_type(),
            Clock::CurDate => DataType::Date32,
            Clock::CurTime => DataType::Time64(TimeUnit::Microsecond),
        }
    }

    fn value(&self, now: chrono::DateTime<Utc>, config: &ConfigOptions) -> ScalarValue {
        let local = session_tz(config)
            .from_utc_datetime(&now.naive_utc())
            .naive_local();
        match self.clock {
            Clock::Now => ScalarValue::TimestampMicrosecond(Some(datetime_to_micros(&local)), None),
            Clock::CurDate => ScalarValue::Date32(Some(date_to_days(&local.date()))),
            Clock::CurTime => {
                let t = local.time();
                let us = t.num_seconds_from_midnight() as i64 * 1_000_000
                    + (t.nanosecond() / 1000) as i64;
                ScalarValue::Time64Microsecond(Some(us))
            }
        }
    }
}

impl ScalarUDFImpl for ClockFunction {
    fn name(&self) -> &str {
        self.name
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.data_type())
    }
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(self.name, self.data_type(), false)))
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Some(now) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            self.value(now, info.config_options()),
            None,
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(
            self.value(Utc::now(), &args.config_options),
        ))
    }
}

fn clock(name: &'static str, aliases: &[&str], clock: Clock) -> ScalarUDF {
    ScalarUDF::new_from_impl(ClockFunction {
        name,
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        clock,
        signature: Signature::nullary(Volatility::Stable),
    })
}

// ---- field extraction: year(), month(), … ------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Quarter,
    DayOfWeek,
    DayOfYear,
    WeekOfYear,
    Weekday,
}

impl Part {
    fn of(self, dt: &NaiveDateTime) -> i32 {
        match self {
            Part::Year => dt.year(),
            Part::Month => dt.month() as i32,
            Part::Day => dt.day() as i32,
            Part::Hour => dt.hour() as i32,
            Part::Minute => dt.minute() as i32,
            Part::Second => dt.second() as i32,
            Part::Quarter => (dt.month() as i32 - 1) / 3 + 1,
            // MySQL: 1 = Sunday … 7 = Saturday.
            Part::DayOfWeek => dt.weekday().num_days_from_sunday() as i32 + 1,
            Part::DayOfYear => dt.ordinal() as i32,
            Part::WeekOfYear => dt.iso_week().week() as i32,
            // MySQL: 0 = Monday … 6 = Sunday.
            Part::Weekday => dt.weekday().num_days_from_monday() as i32,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PartFunction {
    name: &'static str,
    aliases: Vec<String>,
    part: Part,
    signature: Signature,
}

impl ScalarUDFImpl for PartFunction {
    fn name(&self) -> &str {
        self.name
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = args_to_arrays(&args.args, args.number_rows)?;
        let ts = to_timestamps(&arrays[0])?;
        let out: Int32Array = ts
            .iter()
            .map(|v| v.and_then(micros_to_datetime).map(|dt| self.part.of(&dt)))
            .collect();
        finish(Arc::new(out), &args.args)
    }
}

fn part(name: &'static str, aliases: &[&str], part: Part) -> ScalarUDF {
    ScalarUDF::new_from_impl(PartFunction {
        name,
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        part,
        signature: Signature::any(1, Volatility::Immutable),
    })
}

// ---- generic row-wise helpers --------------------------------------------------------------

/// One row's value: the argument arrays, the row, the session's time zone.
type RowFn = fn(&[ArrayRef], usize, &Tz) -> Result<ScalarValue>;

#[derive(Debug)]
struct RowFunction {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    ret: fn(&ReturnFieldArgs) -> DataType,
    f: RowFn,
}

impl PartialEq for RowFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for RowFunction {}
impl std::hash::Hash for RowFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for RowFunction {
    fn name(&self) -> &str {
        self.name
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("return_field_from_args is used instead")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(self.name, (self.ret)(&args), true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = args_to_arrays(&args.args, args.number_rows)?;
        let n = if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            1
        } else {
            args.number_rows
        };
        let ret = args.return_field.data_type().clone();
        let tz = session_tz(&args.config_options);
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push((self.f)(&arrays, i, &tz)?);
        }
        let array = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(&ret)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        let array = if array.data_type() != &ret {
            cast(&array, &ret)?
        } else {
            array
        };
        finish(array, &args.args)
    }
}

fn row_fn(
    name: &'static str,
    aliases: &[&str],
    signature: Signature,
    ret: fn(&ReturnFieldArgs) -> DataType,
    f: RowFn,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(RowFunction {
        name,
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        signature,
        ret,
        f,
    })
}

fn datetime_at(arr: &ArrayRef, i: usize) -> Result<Option<NaiveDateTime>> {
    if arr.is_null(i) {
        return Ok(None);
    }
    let one = arr.slice(i, 1);
    let ts = match to_timestamps(&one) {
        Ok(ts) => ts,
        // MySQL returns NULL for unparsable dates.
        Err(_) => return Ok(None),
    };
    Ok(if ts.is_null(0) {
        None
    } else {
        micros_to_datetime(ts.value(0))
    })
}

fn string_at(arr: &ArrayRef, i: usize) -> Result<Option<String>> {
    if arr.is_null(i) {
        return Ok(None);
    }
    let v = ScalarValue::try_from_array(arr, i)?;
    Ok(match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s,
        other => Some(other.to_string()),
    })
}

fn int_at(arr: &ArrayRef, i: usize) -> Result<Option<i64>> {
    if arr.is_null(i) {
        return Ok(None);
    }
    let v = ScalarValue::try_from_array(arr, i)?.cast_to(&DataType::Int64)?;
    Ok(match v {
        ScalarValue::Int64(v) => v,
        _ => None,
    })
}

/// Is the argument a DATE (so date arithmetic keeps returning DATE)?
fn is_date(args: &ReturnFieldArgs) -> bool {
    matches!(
        args.arg_fields.first().map(|f| f.data_type()),
        Some(DataType::Date32 | DataType::Date64)
    )
}

fn date_or_datetime(args: &ReturnFieldArgs) -> DataType {
    if is_date(args) {
        DataType::Date32
    } else {
        timestamp_type()
    }
}

fn add_days(args: &[ArrayRef], i: usize, sign: i64) -> Result<ScalarValue> {
    let (Some(dt), Some(n)) = (datetime_at(&args[0], i)?, int_at(&args[1], i)?) else {
        return Ok(ScalarValue::Null);
    };
    let Some(res) = dt.checked_add_signed(chrono::Duration::days(n * sign)) else {
        return Ok(ScalarValue::Null);
    };
    Ok(
        if matches!(args[0].data_type(), DataType::Date32 | DataType::Date64) {
            ScalarValue::Date32(Some(date_to_days(&res.date())))
        } else {
            ScalarValue::TimestampMicrosecond(Some(datetime_to_micros(&res)), None)
        },
    )
}

// ---- date_format / str_to_date ---------------------------------------------------------------

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats a datetime with MySQL's `DATE_FORMAT` specifiers.
pub fn mysql_date_format(dt: &NaiveDateTime, fmt: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(fmt.len() + 8);
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let hour12 = match dt.hour() % 12 {
            0 => 12,
            h => h,
        };
        let _ = match spec {
            'Y' => write!(out, "{:04}", dt.year()),
            'y' => write!(out, "{:02}", dt.year() % 100),
            'm' => write!(out, "{:02}", dt.month()),
            'c' => write!(out, "{}", dt.month()),
            'd' => write!(out, "{:02}", dt.day()),
            'e' => write!(out, "{}", dt.day()),
            'H' => write!(out, "{:02}", dt.hour()),
            'k' => write!(out, "{}", dt.hour()),
            'h' | 'I' => write!(out, "{hour12:02}"),
            'l' => write!(out, "{hour12}"),
            'i' => write!(out, "{:02}", dt.minute()),
            's' | 'S' => write!(out, "{:02}", dt.second()),
            'f' => write!(out, "{:06}", dt.nanosecond() / 1000),
            'p' => write!(out, "{}", if dt.hour() < 12 { "AM" } else { "PM" }),
            'M' => write!(out, "{}", MONTHS[dt.month0() as usize]),
            'b' => write!(out, "{}", &MONTHS[dt.month0() as usize][..3]),
            'W' => write!(
                out,
                "{}",
                DAYS[dt.weekday().num_days_from_monday() as usize]
            ),
            'a' => write!(
                out,
                "{}",
                &DAYS[dt.weekday().num_days_from_monday() as usize][..3]
            ),
            'j' => write!(out, "{:03}", dt.ordinal()),
            'w' => write!(out, "{}", dt.weekday().num_days_from_sunday()),
            'T' => write!(
                out,
                "{:02}:{:02}:{:02}",
                dt.hour(),
                dt.minute(),
                dt.second()
            ),
            'r' => write!(
                out,
                "{hour12:02}:{:02}:{:02} {}",
                dt.minute(),
                dt.second(),
                if dt.hour() < 12 { "AM" } else { "PM" }
            ),
            'D' => {
                let d = dt.day();
                let suffix = match (d % 10, d % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                write!(out, "{d}{suffix}")
            }
            'v' | 'V' | 'u' | 'U' => write!(out, "{:02}", dt.iso_week().week()),
            'x' | 'X' => write!(out, "{:04}", dt.iso_week().year()),
            '%' => write!(out, "%"),
            other => write!(out, "{other}"),
        };
    }
    out
}

/// Translates MySQL `STR_TO_DATE` specifiers to chrono's; also says whether the format
/// has a time part.
fn mysql_to_chrono_format(fmt: &str) -> (String, bool) {
    let mut out = String::with_capacity(fmt.len() + 4);
    let mut has_time = false;
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else { break };
        let (s, time) = match spec {
            'Y' => ("%Y", false),
            'y' => ("%y", false),
            'm' | 'c' => ("%m", false),
            'd' | 'e' => ("%d", false),
            'H' | 'k' => ("%H", true),
            'h' | 'I' | 'l' => ("%I", true),
            'i' => ("%M", true),
            's' | 'S' => ("%S", true),
            'f' => ("%.f", true),
            'p' => ("%p", true),
            'M' => ("%B", false),
            'b' => ("%b", false),
            'W' => ("%A", false),
            'a' => ("%a", false),
            'j' => ("%j", false),
            'T' => ("%H:%M:%S", true),
            'r' => ("%I:%M:%S %p", true),
            '%' => ("%%", false),
            _ => ("", false),
        };
        has_time |= time;
        if spec == 'f' && out.ends_with('.') {
            out.pop();
        }
        out.push_str(s);
    }
    (out, has_time)
}

fn str_to_date_type(args: &ReturnFieldArgs) -> DataType {
    match args.scalar_arguments.get(1).copied().flatten() {
        Some(ScalarValue::Utf8(Some(f)))
        | Some(ScalarValue::Utf8View(Some(f)))
        | Some(ScalarValue::LargeUtf8(Some(f))) => {
            if mysql_to_chrono_format(f).1 {
                timestamp_type()
            } else {
                DataType::Date32
            }
        }
        _ => timestamp_type(),
    }
}

fn str_to_date(args: &[ArrayRef], i: usize, _: &Tz) -> Result<ScalarValue> {
    let (Some(s), Some(f)) = (string_at(&args[0], i)?, string_at(&args[1], i)?) else {
        return Ok(ScalarValue::Null);
    };
    let (chrono_fmt, has_time) = mysql_to_chrono_format(&f);
    let s = s.trim();
    if has_time {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, &chrono_fmt) {
            return Ok(ScalarValue::TimestampMicrosecond(
                Some(datetime_to_micros(&dt)),
                None,
            ));
        }
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    }
    match NaiveDate::parse_from_str(s, &chrono_fmt) {
        Ok(d) => Ok(ScalarValue::Date32(Some(date_to_days(&d)))),
        Err(_) => Ok(ScalarValue::Date32(None)),
    }
}

fn date_format(args: &[ArrayRef], i: usize, _: &Tz) -> Result<ScalarValue> {
    let (Some(dt), Some(f)) = (datetime_at(&args[0], i)?, string_at(&args[1], i)?) else {
        return Ok(ScalarValue::Utf8(None));
    };
    Ok(ScalarValue::Utf8(Some(mysql_date_format(&dt, &f))))
}

fn datediff(args: &[ArrayRef], i: usize, _: &Tz) -> Result<ScalarValue> {
    let (Some(a), Some(b)) = (datetime_at(&args[0], i)?, datetime_at(&args[1], i)?) else {
        return Ok(ScalarValue::Int32(None));
    };
    Ok(ScalarValue::Int32(Some(
        (a.date() - b.date()).num_days() as i32
    )))
}

/// `unix_timestamp([datetime])`: seconds since the epoch of a date and time in the session's
/// time zone (the earlier instant of a repeated local time; the next valid one in a gap).
fn unix_timestamp(args: &[ArrayRef], i: usize, tz: &Tz) -> Result<ScalarValue> {
    if args.is_empty() {
        return Ok(ScalarValue::Int64(Some(Utc::now().timestamp())));
    }
    Ok(ScalarValue::Int64(
        datetime_at(&args[0], i)?.map(|dt| local_to_utc(tz, &dt).timestamp()),
    ))
}

/// The instant a local date and time of `tz` names.
fn local_to_utc(tz: &Tz, local: &NaiveDateTime) -> chrono::DateTime<Utc> {
    use chrono::LocalResult;
    let mut probe = *local;
    // A local time skipped by a clock change: the first valid one after it.
    for _ in 0..4 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => probe += chrono::Duration::minutes(30),
        }
    }
    local.and_utc()
}

/// The largest `from_unixtime` accepts: 9999-12-31 23:59:59 UTC.
const MAX_UNIXTIME: i64 = 253_402_300_799;

/// `from_unixtime(seconds[, format])`: the date and time of a UNIX timestamp in the session's
/// time zone, as text (`%Y-%m-%d %H:%i:%s` unless a MySQL format is given). NULL for
/// negative or too large values, and for text that is not an integer.
fn from_unixtime(args: &[ArrayRef], i: usize, tz: &Tz) -> Result<ScalarValue> {
    let seconds = cast(&args[0].slice(i, 1), &DataType::Int64)?;
    let seconds = seconds.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    if seconds.is_null(0) || !(0..=MAX_UNIXTIME).contains(&seconds.value(0)) {
        return Ok(ScalarValue::Utf8(None));
    }
    let format = match args.get(1) {
        Some(f) => match string_at(f, i)? {
            Some(f) => f,
            None => return Ok(ScalarValue::Utf8(None)),
        },
        None => "%Y-%m-%d %H:%i:%s".to_string(),
    };
    let Some(utc) = chrono::DateTime::from_timestamp(seconds.value(0), 0) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let local = tz.from_utc_datetime(&utc.naive_utc()).naive_local();
    Ok(ScalarValue::Utf8(Some(mysql_date_format(&local, &format))))
}

fn last_day(args: &[ArrayRef], i: usize, _: &Tz) -> Result<ScalarValue> {
    let Some(dt) = datetime_at(&args[0], i)? else {
        return Ok(ScalarValue::Date32(None));
    };
    let (y, m) = (dt.year(), dt.month());
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    Ok(ScalarValue::Date32(
        first_next
            .and_then(|d| d.pred_opt())
            .map(|d| date_to_days(&d)),
    ))
}

fn to_date(args: &[ArrayRef], i: usize, _: &Tz) -> Result<ScalarValue> {
    Ok(ScalarValue::Date32(
        datetime_at(&args[0], i)?.map(|dt| date_to_days(&dt.date())),
    ))
}

fn name_of(args: &[ArrayRef], i: usize, months: bool) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(datetime_at(&args[0], i)?.map(|dt| {
        if months {
            MONTHS[dt.month0() as usize].to_string()
        } else {
            DAYS[dt.weekday().num_days_from_monday() as usize].to_string()
        }
    })))
}

fn utf8(_: &ReturnFieldArgs) -> DataType {
    DataType::Utf8
}
fn int32(_: &ReturnFieldArgs) -> DataType {
    DataType::Int32
}
fn int64(_: &ReturnFieldArgs) -> DataType {
    DataType::Int64
}
fn date32(_: &ReturnFieldArgs) -> DataType {
    DataType::Date32
}

/// The date/time functions.
pub fn functions() -> Vec<ScalarUDF> {
    let any = |n| Signature::any(n, Volatility::Immutable);
    vec![
        clock(
            "now",
            &[
                "current_timestamp",
                "localtime",
                "localtimestamp",
                "sysdate",
            ],
            Clock::Now,
        ),
        clock("curdate", &["current_date"], Clock::CurDate),
        clock("curtime", &["current_time"], Clock::CurTime),
        part("year", &[], Part::Year),
        part("month", &[], Part::Month),
        part("day", &["dayofmonth"], Part::Day),
        part("hour", &[], Part::Hour),
        part("minute", &[], Part::Minute),
        part("second", &[], Part::Second),
        part("quarter", &[], Part::Quarter),
        part("dayofweek", &[], Part::DayOfWeek),
        part("dayofyear", &[], Part::DayOfYear),
        part("weekofyear", &["week"], Part::WeekOfYear),
        part("weekday", &[], Part::Weekday),
        row_fn("date_format", &[], any(2), utf8, date_format),
        row_fn("str_to_date", &[], any(2), str_to_date_type, str_to_date),
        row_fn("datediff", &[], any(2), int32, datediff),
        row_fn(
            "unix_timestamp",
            &[],
            Signature::variadic_any(Volatility::Volatile),
            int64,
            unix_timestamp,
        ),
        row_fn(
            "from_unixtime",
            &[],
            Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
            utf8,
            from_unixtime,
        ),
        row_fn("last_day", &[], any(1), date32, last_day),
        row_fn("to_date", &["date"], any(1), date32, to_date),
        row_fn("monthname", &[], any(1), utf8, |a, i, _| {
            name_of(a, i, true)
        }),
        row_fn("dayname", &[], any(1), utf8, |a, i, _| name_of(a, i, false)),
        row_fn(
            "days_add",
            &["adddate", "date_add"],
            any(2),
            date_or_datetime,
            |a, i, _| add_days(a, i, 1),
        ),
        row_fn(
            "days_sub",
            &["subdate", "date_sub"],
            any(2),
            date_or_datetime,
            |a, i, _| add_days(a, i, -1),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format_specifiers() {
        let dt = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_micro_opt(14, 7, 9, 120)
            .unwrap();
        assert_eq!(
            mysql_date_format(&dt, "%Y-%m-%d %H:%i:%s"),
            "2024-03-05 14:07:09"
        );
        assert_eq!(
            mysql_date_format(&dt, "%W %M %D %y"),
            "Tuesday March 5th 24"
        );
        assert_eq!(
            mysql_date_format(&dt, "%h:%i %p %f %j %%"),
            "02:07 PM 000120 065 %"
        );
    }

    #[test]
    fn str_to_date_formats() {
        let (f, t) = mysql_to_chrono_format("%Y-%m-%d %H:%i:%s");
        assert_eq!(f, "%Y-%m-%d %H:%M:%S");
        assert!(t);
        let (_, t) = mysql_to_chrono_format("%d/%m/%Y");
        assert!(!t);
    }
}
