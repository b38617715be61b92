//! Range and list partitions: building them from DDL, and pruning them (and buckets) from
//! filters.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;
use rigel_common::hash::{bucket_hashes, bucket_of};
use rigel_common::{ColumnType, ErrorCode, SqlError};
use rigel_sql::RangePartitionDef;

use crate::{Distribution, OlapTable, Partition, PartitionScheme};
use rigel_common::ids::PartitionId;

fn partition_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_RANGE_NOT_INCREASING_ERROR, msg)
}

/// Parses a partition value literal for a column type.
pub fn parse_value(text: &str, ty: &ColumnType) -> Result<ScalarValue, SqlError> {
    let dt = ty.to_arrow();
    let mut text = text.trim().to_string();
    if *ty == ColumnType::Datetime && text.len() == 10 {
        text.push_str(" 00:00:00");
    }
    ScalarValue::Utf8(Some(text.clone()))
        .cast_to(&dt)
        .ok()
        .filter(|v| !v.is_null())
        .ok_or_else(|| {
            SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!("Invalid partition value '{text}' for type {ty}"),
            )
        })
}

/// The canonical text of a partition value (as SHOW CREATE TABLE prints it).
pub fn format_value(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Date32(Some(d)) => NaiveDate::from_num_days_from_ce_opt(d + 719_163)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        ScalarValue::TimestampMicrosecond(Some(us), _) => {
            datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(*us)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        }
        other => other.to_string(),
    }
}

/// Bounds of one partition as typed values.
#[derive(Debug, Clone)]
pub struct TypedBounds {
    /// Inclusive lower bound; None = unbounded.
    pub lower: Option<Vec<ScalarValue>>,
    /// Exclusive upper bound; None = MAXVALUE.
    pub upper: Option<Vec<ScalarValue>>,
    /// LIST partitions: the value tuples.
    pub values: Option<Vec<Vec<ScalarValue>>>,
}

fn cmp_tuple(a: &[ScalarValue], b: &[ScalarValue]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y) {
            Some(Ordering::Equal) | None => continue,
            Some(o) => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Typed bounds of a stored partition.
pub fn typed_bounds(p: &Partition, types: &[ColumnType]) -> Result<TypedBounds, SqlError> {
    let conv = |vals: &Vec<String>| -> Result<Vec<ScalarValue>, SqlError> {
        vals.iter()
            .zip(types)
            .map(|(v, t)| parse_value(v, t))
            .collect()
    };
    Ok(TypedBounds {
        lower: p.lower.as_ref().map(conv).transpose()?,
        upper: p.upper.as_ref().map(conv).transpose()?,
        values: p
            .values
            .as_ref()
            .map(|tuples| tuples.iter().map(conv).collect())
            .transpose()?,
    })
}

/// A partition to create: name and bounds (canonical text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartition {
    /// Name.
    pub name: String,
    /// Lower bound.
    pub lower: Option<Vec<String>>,
    /// Upper bound.
    pub upper: Option<Vec<String>>,
    /// LIST partitions: the value tuples.
    pub values: Option<Vec<Vec<String>>>,
}

/// Each partition's name and typed bounds.
fn named_bounds(
    partitions: &[Partition],
    types: &[ColumnType],
) -> Result<Vec<(String, TypedBounds)>, SqlError> {
    partitions
        .iter()
        .map(|p| Ok((p.name.clone(), typed_bounds(p, types)?)))
        .collect()
}

/// Expands DDL partition definitions into partitions, given the existing ones (for ALTER).
/// Validates values, names and that ranges do not overlap.
pub fn expand_range_partitions(
    defs: &[RangePartitionDef],
    types: &[ColumnType],
    existing: &[Partition],
) -> Result<Vec<NewPartition>, SqlError> {
    let mut all = named_bounds(existing, types)?;
    let mut new = vec![];
    let fmt = |v: &Vec<ScalarValue>| v.iter().map(format_value).collect::<Vec<_>>();
    for def in defs {
        match def {
            RangePartitionDef::LessThan { name, upper, .. } => {
                let upper = upper
                    .as_ref()
                    .map(|vals| parse_tuple(vals, types))
                    .transpose()?;
                // The lower bound is the highest upper bound below this one.
                let lower = all
                    .iter()
                    .filter_map(|(_, b)| b.upper.clone())
                    .filter(|u| match &upper {
                        Some(up) => cmp_tuple(u, up) == Ordering::Less,
                        None => true,
                    })
                    .max_by(|a, b| cmp_tuple(a, b));
                if let (Some(l), Some(u)) = (&lower, &upper)
                    && cmp_tuple(l, u) != Ordering::Less
                {
                    return Err(partition_error(format!(
                        "The upper value of partition '{name}' must be greater than the lower value"
                    )));
                }
                let b = TypedBounds {
                    lower,
                    upper,
                    values: None,
                };
                push_checked(&mut all, name, b.clone())?;
                new.push(NewPartition {
                    name: name.clone(),
                    lower: b.lower.as_ref().map(fmt),
                    upper: b.upper.as_ref().map(fmt),
                    values: None,
                });
            }
            RangePartitionDef::Fixed {
                name, lower, upper, ..
            } => {
                let l = parse_tuple(lower, types)?;
                let u = parse_tuple(upper, types)?;
                if cmp_tuple(&l, &u) != Ordering::Less {
                    return Err(partition_error(format!(
                        "The lower value of partition '{name}' must be less than its upper value"
                    )));
                }
                let b = TypedBounds {
                    lower: Some(l),
                    upper: Some(u),
                    values: None,
                };
                push_checked(&mut all, name, b.clone())?;
                new.push(NewPartition {
                    name: name.clone(),
                    lower: b.lower.as_ref().map(fmt),
                    upper: b.upper.as_ref().map(fmt),
                    values: None,
                });
            }
            RangePartitionDef::Batch {
                start,
                end,
                every,
                unit,
            } => {
                if types.len() != 1 {
                    return Err(partition_error(
                        "START … END … EVERY needs exactly one partition column",
                    ));
                }
                for (name, l, u) in batch_ranges(start, end, *every, unit.as_deref(), &types[0])? {
                    let b = TypedBounds {
                        lower: Some(vec![l]),
                        upper: Some(vec![u]),
                        values: None,
                    };
                    push_checked(&mut all, &name, b.clone())?;
                    new.push(NewPartition {
                        name,
                        lower: b.lower.as_ref().map(fmt),
                        upper: b.upper.as_ref().map(fmt),
                        values: None,
                    });
                }
            }
        }
    }
    Ok(new)
}

/// Expands `PARTITION p VALUES IN (…)` definitions into partitions, given the existing
/// ones (for ALTER). Every tuple has one value per partition column, and no tuple is in two
/// partitions.
pub fn expand_list_partitions(
    defs: &[(String, Vec<Vec<String>>)],
    types: &[ColumnType],
    existing: &[Partition],
) -> Result<Vec<NewPartition>, SqlError> {
    let mut all = named_bounds(existing, types)?;
    let mut new = vec![];
    for (name, tuples) in defs {
        if tuples.is_empty() {
            return Err(partition_error(format!(
                "Partition '{name}' needs at least one value"
            )));
        }
        let mut values: Vec<Vec<ScalarValue>> = vec![];
        for tuple in tuples {
            if tuple.len() != types.len() {
                return Err(partition_error(format!(
                    "Partition '{name}': {} value(s) given for {} partition column(s)",
                    tuple.len(),
                    types.len()
                )));
            }
            let typed = parse_tuple(tuple, types)?;
            if values.contains(&typed) {
                return Err(partition_error(format!(
                    "Partition '{name}' lists a value twice"
                )));
            }
            values.push(typed);
        }
        let text = values
            .iter()
            .map(|t| t.iter().map(format_value).collect())
            .collect();
        push_checked(
            &mut all,
            name,
            TypedBounds {
                lower: None,
                upper: None,
                values: Some(values),
            },
        )?;
        new.push(NewPartition {
            name: name.clone(),
            lower: None,
            upper: None,
            values: Some(text),
        });
    }
    Ok(new)
}

/// Can a column of this type partition a table by LIST?
pub fn can_be_list_partition(ty: &ColumnType) -> bool {
    ty.can_be_range_partition()
        || matches!(
            ty,
            ColumnType::Boolean | ColumnType::Char(_) | ColumnType::Varchar(_)
        )
}

fn parse_tuple(vals: &[String], types: &[ColumnType]) -> Result<Vec<ScalarValue>, SqlError> {
    if vals.len() > types.len() || vals.is_empty() {
        return Err(partition_error(format!(
            "Partition value count {} does not match the {} partition column(s)",
            vals.len(),
            types.len()
        )));
    }
    vals.iter()
        .zip(types)
        .map(|(v, t)| parse_value(v, t))
        .collect()
}

/// The partitions `partition_live_number = keep` retires, oldest first: all but the `keep`
/// most recent of those that have started — whose lower bound is not after `now` (a
/// DATE/DATETIME first partition column; for other types every partition counts).
/// Partitions for the future are never retired and do not count.
pub fn expired_partitions(
    partitions: &[Partition],
    types: &[ColumnType],
    keep: usize,
    now: NaiveDateTime,
) -> Result<Vec<PartitionId>, SqlError> {
    let Some(first) = types.first() else {
        return Ok(vec![]);
    };
    let now = match first {
        ColumnType::Date => Some(parse_value(&now.format("%Y-%m-%d").to_string(), first)?),
        ColumnType::Datetime => Some(parse_value(
            &now.format("%Y-%m-%d %H:%M:%S").to_string(),
            first,
        )?),
        _ => None,
    };
    let mut started = vec![];
    for p in partitions {
        let lower = typed_bounds(p, types)?.lower;
        let first_lower = lower.as_ref().and_then(|l| l.first().cloned());
        let has_started = match (&first_lower, &now) {
            (Some(l), Some(now)) => l.partial_cmp(now) != Some(Ordering::Greater),
            _ => true,
        };
        if has_started {
            started.push((lower, p.id));
        }
    }
    started.sort_by(|(a, _), (b, _)| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(a), Some(b)) => cmp_tuple(a, b),
    });
    let retire = started.len().saturating_sub(keep);
    Ok(started.into_iter().take(retire).map(|(_, id)| id).collect())
}

/// An error unless `p`'s range is disjoint from every partition of `existing`.
pub fn check_disjoint(
    p: &Partition,
    existing: &[Partition],
    types: &[ColumnType],
) -> Result<(), SqlError> {
    let bounds = typed_bounds(p, types)?;
    for other in existing {
        if overlaps(&bounds, &typed_bounds(other, types)?) {
            let what = if bounds.values.is_some() {
                "values"
            } else {
                "range"
            };
            return Err(partition_error(format!(
                "The {what} of partition '{}' overlaps partition '{}'",
                p.name, other.name
            )));
        }
    }
    Ok(())
}

fn overlaps(a: &TypedBounds, b: &TypedBounds) -> bool {
    match (&a.values, &b.values) {
        (Some(x), Some(y)) => return x.iter().any(|t| y.contains(t)),
        (None, None) => {}
        // A list partition and a range: tables have one kind or the other.
        _ => return false,
    }
    let a_below_b = match (&a.upper, &b.lower) {
        (Some(au), Some(bl)) => cmp_tuple(au, bl) != Ordering::Greater,
        _ => false,
    };
    let b_below_a = match (&b.upper, &a.lower) {
        (Some(bu), Some(al)) => cmp_tuple(bu, al) != Ordering::Greater,
        _ => false,
    };
    !(a_below_b || b_below_a)
}

fn push_checked(
    all: &mut Vec<(String, TypedBounds)>,
    name: &str,
    b: TypedBounds,
) -> Result<(), SqlError> {
    if all.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Err(SqlError::new(
            ErrorCode::ER_SAME_NAME_PARTITION,
            format!("Duplicate partition name {name}"),
        ));
    }
    if let Some((other, _)) = all.iter().find(|(_, o)| overlaps(o, &b)) {
        let what = if b.values.is_some() {
            "A value of"
        } else {
            "Range of"
        };
        return Err(partition_error(format!(
            "{what} partition '{name}' overlaps with partition '{other}'"
        )));
    }
    all.push((name.to_string(), b));
    Ok(())
}

/// `d` moved on by `every` units (`hour`, `day`, `week`, `month`, `year`); `None` past the
/// calendar's end or for another unit.
pub fn step_time(d: NaiveDateTime, every: i64, unit: &str) -> Option<NaiveDateTime> {
    match unit {
        "day" => d.checked_add_signed(Duration::days(every)),
        "week" => d.checked_add_signed(Duration::weeks(every)),
        "hour" => d.checked_add_signed(Duration::hours(every)),
        "month" => d.checked_add_months(Months::new(every as u32)),
        "year" => d.checked_add_months(Months::new(every as u32 * 12)),
        _ => None,
    }
}

/// StarRocks' name of the partition of one `unit` that starts at `d`.
pub fn time_partition_name(d: &NaiveDateTime, unit: &str) -> String {
    match unit {
        "day" => d.format("p%Y%m%d").to_string(),
        "week" => format!("p{}_{:02}", d.iso_week().year(), d.iso_week().week()),
        "hour" => d.format("p%Y%m%d%H").to_string(),
        "month" => d.format("p%Y%m").to_string(),
        _ => d.format("p%Y").to_string(),
    }
}

/// The ranges of `START (s) END (e) EVERY (n [unit])`, with StarRocks' partition names.
fn batch_ranges(
    start: &str,
    end: &str,
    every: i64,
    unit: Option<&str>,
    ty: &ColumnType,
) -> Result<Vec<(String, ScalarValue, ScalarValue)>, SqlError> {
    if every <= 0 {
        return Err(partition_error("EVERY must be positive"));
    }
    const MAX_PARTITIONS: usize = 4096;
    let mut out = vec![];
    match (ty, unit) {
        (ColumnType::Date | ColumnType::Datetime, Some(unit)) => {
            let parse = |s: &str| -> Result<NaiveDateTime, SqlError> {
                let v = parse_value(s, &ColumnType::Datetime)?;
                match v {
                    ScalarValue::TimestampMicrosecond(Some(us), _) => {
                        datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(us)
                            .ok_or_else(|| partition_error("invalid date"))
                    }
                    _ => Err(partition_error("invalid date")),
                }
            };
            let (mut cur, end) = (parse(start)?, parse(end)?);
            let step = |d: NaiveDateTime| step_time(d, every, unit);
            let name_of = |d: &NaiveDateTime| time_partition_name(d, unit);
            if !matches!(unit, "day" | "week" | "hour" | "month" | "year") {
                return Err(partition_error(format!("unsupported EVERY unit '{unit}'")));
            }
            if unit == "hour" && *ty == ColumnType::Date {
                return Err(partition_error(
                    "EVERY INTERVAL n HOUR needs a DATETIME column",
                ));
            }
            while cur < end {
                let next = step(cur).ok_or_else(|| partition_error("date overflow"))?;
                let upper = next.min(end);
                let to_value = |d: NaiveDateTime| match ty {
                    ColumnType::Date => {
                        ScalarValue::Date32(Some(d.date().num_days_from_ce() - 719_163))
                    }
                    _ => ScalarValue::TimestampMicrosecond(
                        Some(d.and_utc().timestamp_micros()),
                        None,
                    ),
                };
                out.push((name_of(&cur), to_value(cur), to_value(upper)));
                if out.len() > MAX_PARTITIONS {
                    return Err(partition_error("too many partitions"));
                }
                cur = next;
            }
        }
        (_, None) if ty.can_be_range_partition() => {
            let (s, e): (i128, i128) = (
                start
                    .trim()
                    .parse()
                    .map_err(|_| partition_error("invalid START"))?,
                end.trim()
                    .parse()
                    .map_err(|_| partition_error("invalid END"))?,
            );
            let mut cur = s;
            while cur < e {
                let next = (cur + every as i128).min(e);
                let v = |x: i128| {
                    ScalarValue::Utf8(Some(x.to_string()))
                        .cast_to(&ty.to_arrow())
                        .map_err(|_| partition_error("value out of range"))
                };
                out.push((format!("p{cur}"), v(cur)?, v(next)?));
                if out.len() > MAX_PARTITIONS {
                    return Err(partition_error("too many partitions"));
                }
                cur = next;
            }
        }
        _ => {
            return Err(partition_error(
                "EVERY needs INTERVAL for date columns and a number for integer columns",
            ));
        }
    }
    Ok(out)
}

// ---- pruning ---------------------------------------------------------------------------------

/// A set of allowed values of one column: a union of intervals.
#[derive(Debug, Clone)]
enum Allowed {
    /// Any value.
    All,
    /// `[lo, hi]` intervals (None = unbounded), with inclusive flags.
    Ranges(Vec<Interval>),
}

#[derive(Debug, Clone)]
struct Interval {
    lo: Option<(ScalarValue, bool)>,
    hi: Option<(ScalarValue, bool)>,
}

fn unwrap_cast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => unwrap_cast(&c.expr),
        Expr::TryCast(c) => unwrap_cast(&c.expr),
        other => other,
    }
}

fn column_name(e: &Expr) -> Option<&str> {
    match unwrap_cast(e) {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

fn literal(e: &Expr, dt: &DataType) -> Option<ScalarValue> {
    match unwrap_cast(e) {
        Expr::Literal(v, _) if !v.is_null() => v.cast_to(dt).ok().filter(|v| !v.is_null()),
        _ => None,
    }
}

fn flip(op: Operator) -> Operator {
    match op {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        o => o,
    }
}

/// What one conjunct says about column `col`.
fn intersect(a: &Interval, b: &Interval) -> Interval {
    fn max_lo(
        x: &Option<(ScalarValue, bool)>,
        y: &Option<(ScalarValue, bool)>,
    ) -> Option<(ScalarValue, bool)> {
        match (x, y) {
            (None, v) | (v, None) => v.clone(),
            (Some(a), Some(b)) => match a.0.partial_cmp(&b.0) {
                Some(Ordering::Greater) => Some(a.clone()),
                Some(Ordering::Less) => Some(b.clone()),
                _ => Some((a.0.clone(), a.1 && b.1)),
            },
        }
    }
    fn min_hi(
        x: &Option<(ScalarValue, bool)>,
        y: &Option<(ScalarValue, bool)>,
    ) -> Option<(ScalarValue, bool)> {
        match (x, y) {
            (None, v) | (v, None) => v.clone(),
            (Some(a), Some(b)) => match a.0.partial_cmp(&b.0) {
                Some(Ordering::Less) => Some(a.clone()),
                Some(Ordering::Greater) => Some(b.clone()),
                _ => Some((a.0.clone(), a.1 && b.1)),
            },
        }
    }
    Interval {
        lo: max_lo(&a.lo, &b.lo),
        hi: min_hi(&a.hi, &b.hi),
    }
}

fn constraint(expr: &Expr, col: &str, dt: &DataType) -> Allowed {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => match (constraint(left, col, dt), constraint(right, col, dt)) {
            (Allowed::Ranges(a), Allowed::Ranges(b)) => Allowed::Ranges(
                a.iter()
                    .flat_map(|x| b.iter().map(move |y| intersect(x, y)))
                    .collect(),
            ),
            (Allowed::Ranges(a), Allowed::All) | (Allowed::All, Allowed::Ranges(a)) => {
                Allowed::Ranges(a)
            }
            _ => Allowed::All,
        },
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => match (constraint(left, col, dt), constraint(right, col, dt)) {
            (Allowed::Ranges(mut a), Allowed::Ranges(b)) => {
                a.extend(b);
                Allowed::Ranges(a)
            }
            _ => Allowed::All,
        },
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, value) = if column_name(left).is_some_and(|c| c.eq_ignore_ascii_case(col)) {
                (*op, literal(right, dt))
            } else if column_name(right).is_some_and(|c| c.eq_ignore_ascii_case(col)) {
                (flip(*op), literal(left, dt))
            } else {
                return Allowed::All;
            };
            let Some(v) = value else { return Allowed::All };
            let iv = match op {
                Operator::Eq => Interval {
                    lo: Some((v.clone(), true)),
                    hi: Some((v, true)),
                },
                Operator::Lt => Interval {
                    lo: None,
                    hi: Some((v, false)),
                },
                Operator::LtEq => Interval {
                    lo: None,
                    hi: Some((v, true)),
                },
                Operator::Gt => Interval {
                    lo: Some((v, false)),
                    hi: None,
                },
                Operator::GtEq => Interval {
                    lo: Some((v, true)),
                    hi: None,
                },
                _ => return Allowed::All,
            };
            Allowed::Ranges(vec![iv])
        }
        Expr::Between(b) if !b.negated => {
            if !column_name(&b.expr).is_some_and(|c| c.eq_ignore_ascii_case(col)) {
                return Allowed::All;
            }
            match (literal(&b.low, dt), literal(&b.high, dt)) {
                (Some(lo), Some(hi)) => Allowed::Ranges(vec![Interval {
                    lo: Some((lo, true)),
                    hi: Some((hi, true)),
                }]),
                _ => Allowed::All,
            }
        }
        Expr::InList(l) if !l.negated => {
            if !column_name(&l.expr).is_some_and(|c| c.eq_ignore_ascii_case(col)) {
                return Allowed::All;
            }
            let mut out = vec![];
            for item in &l.list {
                match literal(item, dt) {
                    Some(v) => out.push(Interval {
                        lo: Some((v.clone(), true)),
                        hi: Some((v, true)),
                    }),
                    None => return Allowed::All,
                }
            }
            Allowed::Ranges(out)
        }
        _ => Allowed::All,
    }
}

fn split_conjunction(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            split_conjunction(left, out);
            split_conjunction(right, out);
        }
        other => out.push(other.clone()),
    }
}

fn interval_intersects_partition(
    iv: &Interval,
    lower: Option<&ScalarValue>,
    upper: Option<&ScalarValue>,
    upper_inclusive: bool,
) -> bool {
    // iv.hi below the partition's lower bound?
    if let (Some((hi, hi_inc)), Some(lower)) = (&iv.hi, lower) {
        match hi.partial_cmp(lower) {
            Some(Ordering::Less) => return false,
            Some(Ordering::Equal) if !hi_inc => return false,
            _ => {}
        }
    }
    // iv.lo at or above the partition's upper bound?
    if let (Some((lo, lo_inc)), Some(upper)) = (&iv.lo, upper) {
        match lo.partial_cmp(upper) {
            Some(Ordering::Greater) => return false,
            Some(Ordering::Equal) if !(upper_inclusive && *lo_inc) => return false,
            _ => {}
        }
    }
    true
}

/// The partitions (indexes into `olap.partitions`) the filters may select.
pub fn prune_partitions(olap: &OlapTable, filters: &[Expr]) -> Vec<usize> {
    let all: Vec<usize> = (0..olap.partitions.len()).collect();
    let columns = match &olap.partition_scheme {
        PartitionScheme::Range { columns } => columns,
        PartitionScheme::List { columns } => return prune_list(olap, columns, filters),
        PartitionScheme::Unpartitioned => return all,
    };
    let Some(first) = columns.first() else {
        return all;
    };
    let Some(col) = olap.column(first) else {
        return all;
    };
    let mut conjuncts = vec![];
    for f in filters {
        split_conjunction(f, &mut conjuncts);
    }
    let constraints = column_constraints(&conjuncts, &col.name, &col.ty);
    if constraints.is_empty() {
        return all;
    }
    let types = [col.ty.clone()];
    let multi = columns.len() > 1;
    all.into_iter()
        .filter(|&i| {
            let p = &olap.partitions[i];
            let first_only = |v: &Vec<String>| -> Option<ScalarValue> {
                v.first().and_then(|t| parse_value(t, &types[0]).ok())
            };
            let lower = p.lower.as_ref().and_then(first_only);
            let upper = p.upper.as_ref().and_then(first_only);
            // With several partition columns only the first is compared, so the upper
            // bound's first value may still hold rows.
            constraints.iter().all(|ranges| {
                ranges.iter().any(|iv| {
                    interval_intersects_partition(iv, lower.as_ref(), upper.as_ref(), multi)
                })
            })
        })
        .collect()
}

/// For each conjunct that constrains `column`, the ranges of values it allows.
fn column_constraints(conjuncts: &[Expr], column: &str, ty: &ColumnType) -> Vec<Vec<Interval>> {
    let dt = ty.to_arrow();
    conjuncts
        .iter()
        .filter_map(|c| match constraint(c, column, &dt) {
            Allowed::Ranges(r) => Some(r),
            Allowed::All => None,
        })
        .collect()
}

/// LIST partitions: those with a value tuple every filter on a partition column allows.
fn prune_list(olap: &OlapTable, columns: &[String], filters: &[Expr]) -> Vec<usize> {
    let all: Vec<usize> = (0..olap.partitions.len()).collect();
    let mut conjuncts = vec![];
    for f in filters {
        split_conjunction(f, &mut conjuncts);
    }
    // Per partition column: its type, and the ranges each constraining conjunct allows.
    let mut per_column: Vec<(usize, ColumnType, Vec<Vec<Interval>>)> = vec![];
    for (i, name) in columns.iter().enumerate() {
        let Some(col) = olap.column(name) else {
            return all;
        };
        let constraints = column_constraints(&conjuncts, &col.name, &col.ty);
        if !constraints.is_empty() {
            per_column.push((i, col.ty.clone(), constraints));
        }
    }
    if per_column.is_empty() {
        return all;
    }
    all.into_iter()
        .filter(|&p| {
            let Some(tuples) = &olap.partitions[p].values else {
                return true;
            };
            tuples.iter().any(|tuple| {
                per_column.iter().all(|(i, ty, constraints)| {
                    let Some(value) = tuple.get(*i).and_then(|t| parse_value(t, ty).ok()) else {
                        return true;
                    };
                    constraints.iter().all(|ranges| {
                        ranges.iter().any(|iv| {
                            interval_intersects_partition(iv, Some(&value), Some(&value), true)
                        })
                    })
                })
            })
        })
        .collect()
}

/// The buckets the filters may select, or None for all of them.
pub fn prune_buckets(olap: &OlapTable, filters: &[Expr]) -> Option<Vec<u32>> {
    let Distribution::Hash { columns, buckets } = &olap.distribution else {
        return None;
    };
    let mut conjuncts = vec![];
    for f in filters {
        split_conjunction(f, &mut conjuncts);
    }
    // Every hash column needs a finite set of values.
    let mut per_column: Vec<Vec<ScalarValue>> = vec![];
    for name in columns {
        let col = olap.column(name)?;
        let dt = col.ty.to_arrow();
        let mut values: Option<Vec<ScalarValue>> = None;
        for c in &conjuncts {
            if let Allowed::Ranges(r) = constraint(c, &col.name, &dt) {
                let points: Option<Vec<ScalarValue>> = r
                    .iter()
                    .map(|iv| match (&iv.lo, &iv.hi) {
                        (Some((a, true)), Some((b, true))) if a == b => Some(a.clone()),
                        _ => None,
                    })
                    .collect();
                if let Some(p) = points {
                    values = Some(p);
                    break;
                }
            }
        }
        per_column.push(values?);
    }
    let combos: usize = per_column.iter().map(Vec::len).product();
    if combos == 0 || combos > 256 {
        return None;
    }
    let mut result = std::collections::BTreeSet::new();
    for combo in combinations(&per_column) {
        let arrays: Vec<ArrayRef> = combo
            .iter()
            .map(ScalarValue::to_array)
            .collect::<Result<_, _>>()
            .ok()?;
        let h = bucket_hashes(&arrays, 1).ok()?;
        result.insert(bucket_of(h[0], *buckets));
    }
    Some(result.into_iter().collect())
}

/// Every combination of one value per column (the cartesian product), first column
/// slowest.
pub fn combinations(per_column: &[Vec<ScalarValue>]) -> Vec<Vec<ScalarValue>> {
    let mut out: Vec<Vec<ScalarValue>> = vec![vec![]];
    for values in per_column {
        out = out
            .iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    out
}

/// Typed bounds of every partition, for the write path.
pub fn routes_bounds(olap: &OlapTable) -> Result<Vec<TypedBounds>, SqlError> {
    let types: Vec<ColumnType> = olap
        .partition_scheme
        .columns()
        .iter()
        .map(|c| {
            olap.column(c)
                .map(|c| c.ty.clone())
                .ok_or_else(|| SqlError::internal(format!("partition column {c} missing")))
        })
        .collect::<Result<_, _>>()?;
    if types.is_empty() {
        return Ok(vec![]);
    }
    olap.partitions
        .iter()
        .map(|p| typed_bounds(p, &types))
        .collect()
}

/// Keeps `Arc` in scope for callers building routes.
pub type SharedBounds = Arc<Vec<TypedBounds>>;

/// Is a data type a timestamp without zone at microsecond precision?
pub fn is_datetime(dt: &DataType) -> bool {
    matches!(dt, DataType::Timestamp(TimeUnit::Microsecond, None))
}

#[cfg(test)]
mod tests;
