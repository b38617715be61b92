//! Session and global variables: the MySQL ones clients read at connect time and
//! StarRocks' own (`query_timeout`, `pipeline_dop`, `enable_insert_strict`, …).

use std::collections::BTreeMap;

use datafusion::scalar::ScalarValue;
use rigel_common::config::Config;
use rigel_common::{ErrorCode, SqlError};

/// The kind of value a variable holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// An integer within bounds.
    Int(i64, i64),
    /// A boolean shown as ON/OFF (MySQL style).
    OnOff,
    /// A boolean shown as true/false (StarRocks style).
    TrueFalse,
    /// Free text.
    Text,
    /// One of these words (stored upper-case).
    Choice(&'static [&'static str]),
    /// Always NULL (e.g. `socket`).
    Null,
}

/// A variable definition.
#[derive(Debug, Clone, Copy)]
pub struct VarDef {
    /// Name (lower case).
    pub name: &'static str,
    /// Kind.
    pub kind: VarKind,
    /// Default, as text.
    pub default: &'static str,
    /// Cannot be SET.
    pub read_only: bool,
}

const fn var(name: &'static str, kind: VarKind, default: &'static str) -> VarDef {
    VarDef {
        name,
        kind,
        default,
        read_only: false,
    }
}

const fn ro(name: &'static str, kind: VarKind, default: &'static str) -> VarDef {
    VarDef {
        name,
        kind,
        default,
        read_only: true,
    }
}

const MAX: i64 = i64::MAX;

/// Every variable, sorted by name.
pub const VARIABLES: &[VarDef] = &[
    var("auto_increment_increment", VarKind::Int(1, 65535), "1"),
    var("auto_increment_offset", VarKind::Int(1, 65535), "1"),
    var("autocommit", VarKind::OnOff, "1"),
    var("batch_size", VarKind::Int(1, 1 << 20), "8192"),
    var("big_query_profile_threshold", VarKind::Text, "0s"),
    var(
        "cbo_enable_low_cardinality_optimize",
        VarKind::TrueFalse,
        "true",
    ),
    var("character_set_client", VarKind::Text, "utf8mb4"),
    var("character_set_connection", VarKind::Text, "utf8mb4"),
    var("character_set_database", VarKind::Text, "utf8mb4"),
    var("character_set_filesystem", VarKind::Text, "binary"),
    var("character_set_results", VarKind::Text, "utf8mb4"),
    var("character_set_server", VarKind::Text, "utf8mb4"),
    ro("character_set_system", VarKind::Text, "utf8"),
    var("collation_connection", VarKind::Text, "utf8mb4_general_ci"),
    var("collation_database", VarKind::Text, "utf8mb4_general_ci"),
    var("collation_server", VarKind::Text, "utf8mb4_general_ci"),
    var("default_storage_engine", VarKind::Text, "OLAP"),
    var("default_table_compression", VarKind::Text, "lz4_frame"),
    var("default_tmp_storage_engine", VarKind::Text, "OLAP"),
    var("disable_colocate_join", VarKind::TrueFalse, "false"),
    var("div_precision_increment", VarKind::Int(0, 30), "4"),
    var("enable_insert_strict", VarKind::TrueFalse, "true"),
    var("enable_profile", VarKind::TrueFalse, "false"),
    var("enable_short_circuit", VarKind::TrueFalse, "true"),
    var("event_scheduler", VarKind::Text, "OFF"),
    var("exec_mem_limit", VarKind::Int(0, MAX), "2147483648"),
    var("explicit_defaults_for_timestamp", VarKind::OnOff, "1"),
    var("foreign_key_checks", VarKind::OnOff, "1"),
    var("group_concat_max_len", VarKind::Int(4, MAX), "1024"),
    ro("have_query_cache", VarKind::Text, "NO"),
    ro("have_ssl", VarKind::Text, "DISABLED"),
    var("init_connect", VarKind::Text, ""),
    var("innodb_read_only", VarKind::OnOff, "0"),
    var("insert_timeout", VarKind::Int(1, 259200), "14400"),
    var("interactive_timeout", VarKind::Int(1, 31_536_000), "3600"),
    ro("language", VarKind::Text, "/rigel/share/english/"),
    ro("license", VarKind::Text, "Apache License 2.0"),
    var("load_mem_limit", VarKind::Int(0, MAX), "0"),
    ro("lower_case_table_names", VarKind::Int(0, 2), "0"),
    var(
        "max_allowed_packet",
        VarKind::Int(1024, 1 << 30),
        "67108864",
    ),
    var("max_execution_time", VarKind::Int(0, MAX), "0"),
    var("net_buffer_length", VarKind::Int(1024, 1 << 20), "16384"),
    var("net_read_timeout", VarKind::Int(1, 31_536_000), "60"),
    var("net_write_timeout", VarKind::Int(1, 31_536_000), "60"),
    var(
        "parallel_fragment_exec_instance_num",
        VarKind::Int(1, 1024),
        "1",
    ),
    var("performance_schema", VarKind::OnOff, "0"),
    var("pipeline_dop", VarKind::Int(0, 1024), "0"),
    var("profiling", VarKind::OnOff, "0"),
    var("query_cache_size", VarKind::Int(0, MAX), "0"),
    var("query_cache_type", VarKind::Text, "OFF"),
    var("query_mem_limit", VarKind::Int(0, MAX), "0"),
    var("query_timeout", VarKind::Int(1, 259_200), "300"),
    var("resource_group", VarKind::Text, ""),
    ro("socket", VarKind::Null, ""),
    var("sql_auto_is_null", VarKind::OnOff, "0"),
    var("sql_dialect", VarKind::Text, "StarRocks"),
    var("sql_mode", VarKind::Text, "ONLY_FULL_GROUP_BY"),
    var("sql_safe_updates", VarKind::OnOff, "0"),
    var(
        "sql_select_limit",
        VarKind::Int(0, MAX),
        "9223372036854775807",
    ),
    var("storage_engine", VarKind::Text, "OLAP"),
    ro("system_time_zone", VarKind::Text, "UTC"),
    var("time_zone", VarKind::Text, "UTC"),
    var("transaction_isolation", VarKind::Text, "REPEATABLE-READ"),
    var("transaction_read_only", VarKind::OnOff, "0"),
    // How rows exchanged between the backends' tasks are compressed. Off by default:
    // on the links inside a cluster, encoding costs more CPU than the bytes it saves.
    var(
        "transmission_compression_type",
        VarKind::Choice(&["NO_COMPRESSION", "LZ4", "LZ4_FRAME", "ZSTD"]),
        "NO_COMPRESSION",
    ),
    var("tx_isolation", VarKind::Text, "REPEATABLE-READ"),
    var("tx_read_only", VarKind::OnOff, "0"),
    var("tx_visible_wait_timeout", VarKind::Int(0, MAX), "10"),
    var("unique_checks", VarKind::OnOff, "1"),
    ro("version", VarKind::Text, "8.0.33"),
    ro("version_comment", VarKind::Text, ""),
    var("wait_timeout", VarKind::Int(1, 31_536_000), "28800"),
];

/// Looks a variable up by name (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static VarDef> {
    let lower = name.to_ascii_lowercase();
    VARIABLES.iter().find(|v| v.name == lower)
}

/// `Unknown system variable 'x'`.
pub fn unknown_variable(name: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_UNKNOWN_SYSTEM_VARIABLE,
        format!("Unknown system variable '{name}'"),
    )
}

/// Normalizes and validates a value for a variable.
pub fn normalize(def: &VarDef, value: &str) -> Result<String, SqlError> {
    let wrong = || {
        SqlError::new(
            ErrorCode::ER_WRONG_VALUE_FOR_VAR,
            format!(
                "Variable '{}' can't be set to the value of '{value}'",
                def.name
            ),
        )
    };
    match def.kind {
        VarKind::Int(min, max) => {
            let v: i64 = value.trim().parse().map_err(|_| wrong())?;
            if v < min || v > max {
                return Err(wrong());
            }
            Ok(v.to_string())
        }
        VarKind::OnOff | VarKind::TrueFalse => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "on" | "true" => Ok("1".to_string()),
            "0" | "off" | "false" => Ok("0".to_string()),
            _ => Err(wrong()),
        },
        VarKind::Text => Ok(value.to_string()),
        VarKind::Choice(words) => {
            let upper = value.trim().to_ascii_uppercase();
            if words.contains(&upper.as_str()) {
                Ok(upper)
            } else {
                Err(wrong())
            }
        }
        VarKind::Null => Err(wrong()),
    }
}

/// A variable's value as SQL sees it (`SELECT @@x`).
pub fn as_scalar(def: &VarDef, value: &str) -> ScalarValue {
    match def.kind {
        VarKind::Int(..) | VarKind::OnOff | VarKind::TrueFalse => {
            ScalarValue::Int64(value.parse().ok())
        }
        VarKind::Text | VarKind::Choice(_) => ScalarValue::Utf8(Some(value.to_string())),
        VarKind::Null => ScalarValue::Utf8(None),
    }
}

/// A variable's value as SHOW VARIABLES displays it.
pub fn display(def: &VarDef, value: &str) -> String {
    match def.kind {
        VarKind::OnOff => if value == "1" { "ON" } else { "OFF" }.to_string(),
        VarKind::TrueFalse => if value == "1" { "true" } else { "false" }.to_string(),
        VarKind::Null => String::new(),
        _ => value.to_string(),
    }
}

/// The defaults every new session starts from: built-ins, then configuration, then
/// `SET GLOBAL` values.
pub fn global_defaults(
    config: &Config,
    version: &str,
    version_comment: &str,
    globals: &BTreeMap<String, String>,
) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for def in VARIABLES {
        let value = match def.name {
            "version" => version.to_string(),
            "version_comment" => version_comment.to_string(),
            "query_timeout" => config.query_timeout.to_string(),
            "pipeline_dop" => config.pipeline_dop.to_string(),
            "max_allowed_packet" => config.max_allowed_packet.to_string(),
            _ => normalize(def, def.default).unwrap_or_else(|_| def.default.to_string()),
        };
        out.insert(def.name, value);
    }
    for (name, value) in globals {
        if let Some(def) = lookup(name) {
            out.insert(def.name, value.clone());
        }
    }
    out
}

/// Simple SQL LIKE matching (`%`, `_`, backslash escapes), case-insensitive as MySQL's
/// default collation is.
pub fn like_match(pattern: &str, text: &str) -> bool {
    fn rec(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| rec(&p[1..], &t[i..])),
            Some('_') => !t.is_empty() && rec(&p[1..], &t[1..]),
            Some('\\') if p.len() > 1 => !t.is_empty() && t[0] == p[1] && rec(&p[2..], &t[1..]),
            Some(c) => !t.is_empty() && t[0] == *c && rec(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    rec(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_defaults_valid() {
        for w in VARIABLES.windows(2) {
            assert!(w[0].name < w[1].name, "{} >= {}", w[0].name, w[1].name);
        }
        for def in VARIABLES {
            if def.kind != VarKind::Null {
                normalize(def, def.default).unwrap_or_else(|e| panic!("{}: {e}", def.name));
            }
        }
    }

    #[test]
    fn like() {
        assert!(like_match("lower_case%", "lower_case_table_names"));
        assert!(like_match("%ZONE", "time_zone"));
        assert!(like_match("a_c", "abc"));
        assert!(!like_match("a_c", "abbc"));
        assert!(like_match("a\\_c", "a_c"));
        assert!(!like_match("a\\_c", "abc"));
    }

    #[test]
    fn bools_and_ints() {
        let d = lookup("autocommit").unwrap();
        assert_eq!(normalize(d, "ON").unwrap(), "1");
        assert_eq!(display(d, "1"), "ON");
        let q = lookup("QUERY_TIMEOUT").unwrap();
        assert!(normalize(q, "0").is_err());
        assert!(normalize(q, "abc").is_err());
        assert_eq!(as_scalar(q, "10"), ScalarValue::Int64(Some(10)));
    }
}
