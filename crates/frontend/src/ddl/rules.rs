//! What CREATE and ALTER TABLE accept: table properties, column definitions (types,
//! aggregation types, defaults), names and PRIMARY KEY columns.

use rigel_be_api::SegmentCompression;
use rigel_common::{ColumnType, ErrorCode, SqlError};
use rigel_sql::{AggType, ColumnDef, DefaultValue};

use super::ddl_error;
use rigel_catalog::Column;

/// Properties StarRocks accepts on tables, and the check for each.
pub(crate) fn validate_property(
    key: &str,
    value: &str,
    columns: &[Column],
) -> Result<(String, String), SqlError> {
    let key = key.trim().to_ascii_lowercase();
    let bad = |why: &str| {
        ddl_error(format!(
            "Invalid value '{value}' for property '{key}': {why}"
        ))
    };
    let bool_ok = || match value.trim().to_ascii_lowercase().as_str() {
        "true" | "false" => Ok(()),
        _ => Err(bad("expected true or false")),
    };
    match key.as_str() {
        "replication_num" | "replication_allocation" if key == "replication_num" => {
            let n: u32 = value
                .trim()
                .parse()
                .map_err(|_| bad("expected a positive integer"))?;
            if n == 0 || n > 32 {
                return Err(bad("must be between 1 and 32"));
            }
        }
        "storage_medium" => {
            if !matches!(value.trim().to_ascii_uppercase().as_str(), "SSD" | "HDD") {
                return Err(bad("expected SSD or HDD"));
            }
        }
        "storage_cooldown_time" => {
            let v = value.trim();
            if parse_ttl(v).is_none()
                && chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_err()
            {
                return Err(bad(
                    "expected 'yyyy-MM-dd HH:mm:ss' or a duration such as '7d'",
                ));
            }
        }
        "storage_cooldown_ttl" => {
            if parse_ttl(value.trim()).is_none() {
                return Err(bad("expected a duration such as '7 DAY' or '7d'"));
            }
        }
        "compression" => {
            if SegmentCompression::parse(value).is_none() {
                return Err(bad("expected LZ4, ZSTD, zstd(1..22), SNAPPY, ZLIB or NONE"));
            }
        }
        "bloom_filter_columns" => {
            for c in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                let col = columns
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(c))
                    .ok_or_else(|| bad(&format!("unknown column '{c}'")))?;
                if !col.ty.can_be_key() {
                    return Err(bad(&format!("column '{c}' cannot have a bloom filter")));
                }
            }
        }
        "write_quorum" => {
            if !matches!(
                value.trim().to_ascii_uppercase().as_str(),
                "MAJORITY" | "ONE" | "ALL"
            ) {
                return Err(bad("expected MAJORITY, ONE or ALL"));
            }
        }
        "replicated_storage"
        | "fast_schema_evolution"
        | "enable_persistent_index"
        | "in_memory" => bool_ok()?,
        "partition_live_number" | "bucket_size" | "primary_index_cache_expire_sec" => {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| bad("expected an integer"))?;
        }
        "colocate_with"
        | "unique_constraints"
        | "foreign_key_constraints"
        | "persistent_index_type"
        | "compaction_strategy"
        | "storage_type"
        | "datacache.enable"
        | "datacache.partition_duration"
        | "enable_async_write_back"
        | "partition_refresh_number"
        | "labels.location"
        | "file_bundling"
        | "storage_volume" => {}
        k if k.starts_with("dynamic_partition.") => {}
        _ => {
            return Err(ddl_error(format!("Unknown properties: {{{key}={value}}}")));
        }
    }
    Ok((key, value.trim().to_string()))
}

/// `7d`, `12h`, `30m`, `45s`, `7 DAY`: a duration in seconds.
pub fn parse_ttl(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (num, unit): (String, String) = {
        let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
        let rest = t[digits.len()..].trim().to_string();
        (digits, rest)
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit.as_str() {
        "s" | "second" | "seconds" => 1,
        "m" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        "month" | "months" => 2_592_000,
        "y" | "year" | "years" => 31_536_000,
        _ => return None,
    };
    Some(n * mult)
}

/// An aggregation type must suit its column's type: HLL_UNION takes HLL, BITMAP_UNION takes
/// BITMAP, SUM numbers; HLL and BITMAP columns merge by union or replacement only.
pub(crate) fn check_agg_type(def: &ColumnDef) -> Result<(), SqlError> {
    let Some(agg) = def.agg else {
        return Ok(());
    };
    let sketch = matches!(def.ty, ColumnType::Hll | ColumnType::Bitmap);
    let fits = match agg {
        AggType::HllUnion => def.ty == ColumnType::Hll,
        AggType::BitmapUnion => def.ty == ColumnType::Bitmap,
        AggType::Sum => def.ty.to_arrow().is_numeric(),
        AggType::Max | AggType::Min => def.ty.is_scalar() && !sketch && def.ty != ColumnType::Json,
        AggType::Replace | AggType::ReplaceIfNotNull => true,
        AggType::PercentileUnion => {
            return Err(SqlError::not_supported(
                "The PERCENTILE type and PERCENTILE_UNION",
            ));
        }
    };
    if fits {
        Ok(())
    } else {
        Err(ddl_error(format!(
            "Aggregation type {} does not fit column '{}' of type {}",
            agg.as_str(),
            def.name,
            def.ty.to_string().to_uppercase()
        )))
    }
}

pub(crate) fn column_from_def(def: &ColumnDef, uid: u32, is_key: bool) -> Result<Column, SqlError> {
    def.ty
        .validate()
        .map_err(|e| ddl_error(format!("column '{}': {e}", def.name)))?;
    check_agg_type(def)?;
    if def.generated.is_some() {
        return Err(SqlError::not_supported("Generated columns"));
    }
    let name = def.name.to_ascii_lowercase();
    let nullable = def.nullable.unwrap_or(true);
    // A literal default must convert to the column type.
    if let Some(d) = &def.default {
        match d {
            DefaultValue::Literal(v) => {
                let dt = def.ty.to_arrow();
                let ok = datafusion::scalar::ScalarValue::Utf8(Some(v.clone()))
                    .cast_to(&dt)
                    .map(|x| !x.is_null())
                    .unwrap_or(false);
                let empty_string_ok = v.is_empty() && def.ty.is_string();
                if !ok && !empty_string_ok {
                    return Err(SqlError::new(
                        ErrorCode::ER_INVALID_DEFAULT,
                        format!("Invalid default value for '{}'", def.name),
                    ));
                }
                if let Some(limit) = def.ty.max_length()
                    && v.len() > limit as usize
                {
                    return Err(SqlError::new(
                        ErrorCode::ER_INVALID_DEFAULT,
                        format!("Invalid default value for '{}'", def.name),
                    ));
                }
            }
            DefaultValue::CurrentTimestamp => {
                if def.ty != ColumnType::Datetime {
                    return Err(SqlError::new(
                        ErrorCode::ER_INVALID_DEFAULT,
                        format!(
                            "Invalid default value for '{}': CURRENT_TIMESTAMP needs DATETIME",
                            def.name
                        ),
                    ));
                }
            }
            DefaultValue::Null => {
                if def.nullable == Some(false) {
                    return Err(SqlError::new(
                        ErrorCode::ER_INVALID_DEFAULT,
                        format!("Invalid default value for '{}'", def.name),
                    ));
                }
            }
            DefaultValue::Expr(_) => {}
        }
    }
    Ok(Column {
        uid,
        name,
        ty: def.ty.clone(),
        nullable,
        is_key,
        agg: def.agg,
        default: def.default.clone(),
        auto_increment: def.auto_increment,
        comment: def.comment.clone().unwrap_or_default(),
        fill: None,
    })
}

/// StarRocks names: letters, digits, `_`, `-`, `$`, starting with a letter or `_`; up to
/// 1024 characters.
pub(crate) fn validate_identifier(name: &str, what: &str) -> Result<(), SqlError> {
    let ok = !name.is_empty()
        && name.len() <= 1024
        && !name.chars().any(|c| c.is_control() || c == '`' || c == '/');
    if ok {
        Ok(())
    } else {
        Err(SqlError::new(
            ErrorCode::ER_WRONG_COLUMN_NAME,
            format!("Incorrect {what} name '{name}'"),
        ))
    }
}

/// StarRocks' rules for PRIMARY KEY columns beyond those of all keys: no DECIMAL, and a key
/// of fixed-size columns that fits the encoded-size limit (keys with strings are checked
/// row by row when written).
pub(crate) fn check_primary_key(columns: &[Column]) -> Result<(), SqlError> {
    use datafusion::arrow::datatypes::DataType;
    let mut fixed = 0usize;
    for c in columns.iter().filter(|c| c.is_key) {
        let ty = c.ty.to_arrow();
        if matches!(
            ty,
            DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
        ) {
            return Err(ddl_error(format!(
                "Type {} of column '{}' cannot be part of a primary key",
                c.ty, c.name
            )));
        }
        fixed += ty.primitive_width().unwrap_or(0);
    }
    if fixed > rigel_be_api::MAX_KEY_BYTES {
        return Err(ddl_error(format!(
            "The primary key is {fixed} bytes long; the limit is {} bytes",
            rigel_be_api::MAX_KEY_BYTES
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_formats() {
        assert_eq!(parse_ttl("7d"), Some(7 * 86_400));
        assert_eq!(parse_ttl("7 DAY"), Some(7 * 86_400));
        assert_eq!(parse_ttl("12h"), Some(12 * 3600));
        assert_eq!(parse_ttl("x"), None);
        assert_eq!(parse_ttl("7 fortnights"), None);
    }
}
