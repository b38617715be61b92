//! Server configuration in StarRocks' `fe.conf` / `be.conf` syntax.
//!
//! Every key Rigel knows is declared once in [`define_config!`] with its type, default and
//! documentation; the reference in `docs/configuration.md` is generated from that table
//! (`rigel config-reference`), so the two cannot drift. Files use `key = value` lines, `#`
//! comments, optional double quotes around values, and `${NAME}` substitution from earlier
//! keys or the environment, as StarRocks' configuration files do.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A configuration error: the key and what is wrong with it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A value that does not parse as the key's type or is out of range.
    #[error("invalid value '{value}' for configuration key '{key}': {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The offending value.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A line that is not `key = value`.
    #[error("{file}:{line}: expected 'key = value', found '{text}'")]
    Syntax {
        /// File name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// The file could not be read.
    #[error("cannot read configuration file {file}: {reason}")]
    Io {
        /// File name.
        file: String,
        /// OS error.
        reason: String,
    },
    /// A key that cannot be changed at run time.
    #[error("configuration key '{0}' cannot be changed while the server runs")]
    NotMutable(String),
    /// A key Rigel does not know.
    #[error("unknown configuration key '{0}'")]
    UnknownKey(String),
}

/// How a `key = value` pair was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    /// The value is in effect.
    Applied,
    /// A StarRocks key that has no meaning in Rigel; accepted and reported at start.
    NotApplicable(&'static str),
    /// A key nobody knows; reported as a warning at start.
    Unknown,
}

/// Description of one configuration key, for the generated reference and `ADMIN SHOW CONFIG`.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo {
    /// Key name as in fe.conf / be.conf.
    pub name: &'static str,
    /// Value type, for documentation.
    pub value_type: &'static str,
    /// Default value text.
    pub default: &'static str,
    /// Whether `ADMIN SET FRONTEND CONFIG` may change it at run time.
    pub mutable: bool,
    /// Documentation.
    pub doc: &'static str,
}

/// Parses configuration values.
pub trait ConfigValue: Sized {
    /// Parses `text`, explaining what is wrong when it fails.
    fn parse_config(text: &str) -> Result<Self, String>;
    /// Renders the value back to text.
    fn render(&self) -> String;
}

macro_rules! int_config_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse_config(text: &str) -> Result<Self, String> {
                text.trim().parse::<$t>().map_err(|e| format!("expected an integer ({e})"))
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
int_config_value!(u16, u32, u64, i64, usize);

impl ConfigValue for bool {
    fn parse_config(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err("expected true or false".to_string()),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for String {
    fn parse_config(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

/// A memory limit as StarRocks writes it: a share of physical memory (`90%`) or bytes with
/// an optional unit (`16G`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemLimit(pub String);

impl MemLimit {
    /// The limit in bytes on a host with `physical` bytes of memory.
    pub fn bytes(&self, physical: u64) -> u64 {
        crate::host::parse_mem_limit(&self.0, physical).unwrap_or(physical)
    }
}

impl ConfigValue for MemLimit {
    fn parse_config(text: &str) -> Result<Self, String> {
        crate::host::parse_mem_limit(text, 1 << 40)?;
        Ok(Self(text.trim().to_string()))
    }
    fn render(&self) -> String {
        self.0.clone()
    }
}

/// A duration as StarRocks' log settings write it: `7d`, `12h`, `30m`, `3600s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub u64);

impl ConfigValue for Age {
    fn parse_config(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let n: u64 = num
            .parse()
            .map_err(|_| "expected a duration such as 7d, 12h, 30m or 3600s".to_string())?;
        let scale = match unit {
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" | "" => 1,
            _ => return Err("expected a duration such as 7d, 12h, 30m or 3600s".to_string()),
        };
        Ok(Self(n.saturating_mul(scale)))
    }
    fn render(&self) -> String {
        format!("{}s", self.0)
    }
}

/// A `;`-separated list of IPv4/IPv6 CIDR blocks (`priority_networks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrList(pub Vec<(std::net::IpAddr, u8)>);

impl CidrList {
    /// Whether an address is in one of the blocks.
    pub fn contains(&self, addr: std::net::IpAddr) -> bool {
        self.0.iter().any(|(net, bits)| match (net, addr) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                let mask = if *bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - *bits as u32)
                };
                (u32::from(*n) & mask) == (u32::from(a) & mask)
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
                let mask = if *bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - *bits as u32)
                };
                (u128::from(*n) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        })
    }
}

impl ConfigValue for CidrList {
    fn parse_config(text: &str) -> Result<Self, String> {
        let mut out = vec![];
        for part in text
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (ip, bits) = part
                .split_once('/')
                .ok_or_else(|| format!("'{part}' is not a CIDR block like 10.0.0.0/24"))?;
            let ip: std::net::IpAddr = ip
                .trim()
                .parse()
                .map_err(|_| format!("'{ip}' is not an IP address"))?;
            let bits: u8 = bits
                .trim()
                .parse()
                .map_err(|_| format!("'{bits}' is not a prefix length"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(format!("prefix length {bits} exceeds {max}"));
            }
            out.push((ip, bits));
        }
        Ok(CidrList(out))
    }

    fn render(&self) -> String {
        self.0
            .iter()
            .map(|(ip, bits)| format!("{ip}/{bits}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

macro_rules! define_config {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident : $ty:ty = $default:literal $(, mutable = $mutable:literal)? ;
    )*) => {
        /// The server configuration. Field names are the configuration keys.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $(
                $(#[doc = $doc])*
                pub $name: $ty,
            )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self {
                    $(
                        $name: match <$ty as ConfigValue>::parse_config($default) {
                            Ok(v) => v,
                            Err(e) => panic!("default of {} is invalid: {e}", stringify!($name)),
                        },
                    )*
                }
            }
        }

        impl Config {
            /// Every key Rigel implements.
            pub const KEYS: &'static [KeyInfo] = &[
                $(KeyInfo {
                    name: stringify!($name),
                    value_type: stringify!($ty),
                    default: $default,
                    mutable: define_config!(@mutable $($mutable)?),
                    doc: concat!($($doc, "\n"),*),
                }),*
            ];

            fn set_known(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
                match key {
                    $(
                        stringify!($name) => Some(
                            <$ty as ConfigValue>::parse_config(value)
                                .map(|v| self.$name = v)
                                .map_err(|reason| ConfigError::InvalidValue {
                                    key: key.to_string(),
                                    value: value.to_string(),
                                    reason,
                                }),
                        ),
                    )*
                    _ => None,
                }
            }

            /// The current value of a key, as text.
            pub fn get(&self, key: &str) -> Option<String> {
                match canonical_key(key) {
                    $(stringify!($name) => Some(ConfigValue::render(&self.$name)),)*
                    _ => None,
                }
            }
        }
    };
    (@mutable $m:literal) => { $m };
    (@mutable) => { false };
}

define_config! {
    /// MySQL protocol port of the frontend.
    query_port: u16 = "9030";
    /// HTTP port of the frontend (REST API, Stream Load entry, metrics).
    http_port: u16 = "8030";
    /// HTTP port of the backend (Stream Load, metrics). Alias: `webserver_port`.
    be_http_port: u16 = "8040";
    /// RPC port of a frontend (`rigel fe`): backends reach the frontend here.
    rpc_port: u16 = "9020";
    /// Control RPC port of a backend (`rigel be`): tablets, transactions, maintenance.
    be_port: u16 = "9060";
    /// Data port of a backend (`rigel be`): scans and writes as Arrow Flight streams.
    brpc_port: u16 = "8060";
    /// Heartbeat port of a backend (`rigel be`); `ALTER SYSTEM ADD BACKEND "host:port"`
    /// names this port.
    heartbeat_service_port: u16 = "9050";
    /// A backend that has not answered a heartbeat for this many seconds is shown dead
    /// (`Alive = false` in SHOW BACKENDS) and gets no new tablets; heartbeats go out
    /// several times within it.
    heartbeat_timeout_second: u64 = "5", mutable = true;
    /// Address the servers listen on. The embedded default only accepts local clients;
    /// set `0.0.0.0` (or a specific address) to accept others. Rigel extension.
    bind_address: String = "127.0.0.1";
    /// CIDR list (`10.0.0.0/8;192.168.0.0/16`) choosing the address this node advertises:
    /// Stream Load redirects name `bind_address` when it lies in these networks, otherwise
    /// the host the client used.
    priority_networks: CidrList = "";
    /// Root of everything Rigel stores. `meta_dir` and `storage_root_path` default to
    /// directories under it. Rigel extension.
    data_dir: String = "./rigel-data";
    /// Directory of the frontend metadata (catalog journal). Default: `<data_dir>/meta`.
    meta_dir: String = "";
    /// Directory of the tablet storage. Default: `<data_dir>/storage`. StarRocks'
    /// `;`-separated list and `,medium:SSD` suffixes are accepted; the first path is used.
    storage_root_path: String = "";
    /// The MySQL server version reported in the handshake and by `version()`.
    mysql_server_version: String = "8.0.33";
    /// Maximum number of MySQL connections.
    qe_max_connection: u32 = "4096", mutable = true;
    /// Activate every role granted to a user at login, not only the default roles.
    activate_all_roles_on_login: bool = "false", mutable = true;
    /// Maximum number of MySQL connections of one user (StarRocks' per-user
    /// `max_user_connections` property, as one setting for every user).
    max_conn_per_user: u32 = "100", mutable = true;
    /// Default `query_timeout` (seconds) of new sessions.
    query_timeout: u32 = "300", mutable = true;
    /// Log level: DEBUG, INFO, WARN or ERROR.
    sys_log_level: String = "INFO", mutable = true;
    /// Directory of `fe.log` and `be.log`. Default: `<data_dir>/log`.
    sys_log_dir: String = "";
    /// `fe.log` and `be.log` are rolled (renamed with a timestamp) when they reach this size.
    log_roll_size_mb: u64 = "1024";
    /// Rolled `fe.log` / `be.log` files older than this are deleted (`7d`, `12h`, …).
    sys_log_delete_age: Age = "7d";
    /// Memory limit of the process: a share of physical memory (`90%`) or bytes (`16G`).
    /// Queries draw on 90% of it; a query that needs more spills or fails with an error
    /// instead of the process growing past it.
    mem_limit: MemLimit = "90%";
    /// Number of query execution threads; 0 means one per core.
    pipeline_dop: u32 = "0", mutable = true;
    /// Largest MySQL packet accepted from a client, in bytes.
    max_allowed_packet: u64 = "67108864";
    /// Default compression of new tables: LZ4, ZSTD, SNAPPY or NONE.
    compression_type: String = "LZ4";
    /// How long the label of a finished load stays reserved, in seconds (3 days).
    label_keep_max_second: u64 = "259200", mutable = true;
    /// Seconds between checks for tablets to compact; 0 turns automatic compaction off.
    cumulative_compaction_check_interval_seconds: u64 = "1", mutable = true;
    /// Current rowsets of a tablet that trigger a compaction (and the fewest small rowsets
    /// a cumulative compaction merges).
    min_cumulative_compaction_num_singleton_deltas: u32 = "5", mutable = true;
    /// Tablets compacted at the same time (at most one per core).
    compact_threads: u32 = "4", mutable = true;
    /// Most rowsets one cumulative compaction merges.
    max_cumulative_compaction_num_singleton_deltas: u32 = "1000", mutable = true;
    /// Seconds a rowset replaced by compaction or DELETE stays readable (for queries on
    /// older snapshots) before its files are removed.
    tablet_rowset_stale_sweep_time_sec: u64 = "1800", mutable = true;
    /// Writes to a tablet fail (1041, retry later) once it has this many visible rowsets;
    /// compaction brings the count back down.
    tablet_max_versions: u32 = "1000";
    /// Seconds the files of dropped tables and partitions stay in the trash directory.
    trash_file_expire_time_sec: u64 = "86400", mutable = true;
    /// Seconds a dropped table or partition stays in the recycle bin, recoverable with
    /// `RECOVER TABLE` / `RECOVER PARTITION`, before its data is removed.
    catalog_trash_expire_second: u64 = "86400", mutable = true;
    /// Analyze a table automatically once the rows loaded since its last ANALYZE reach a
    /// fifth of the rows it had then (and at least 100,000).
    enable_statistic_collect: bool = "true", mutable = true;
    /// `ANALYZE SAMPLE` reads whole tablets, spread over the table's partitions, until it has
    /// about this many rows, and scales what it finds to the whole table.
    statistic_sample_collect_rows: u64 = "200000", mutable = true;
    /// PEM file with the server certificate (chain) for TLS on the MySQL and HTTP ports
    /// (HTTP becomes HTTPS). TLS is off while empty.
    ssl_certificate: String = "";
    /// PEM file with the private key of `ssl_certificate`.
    ssl_private_key: String = "";
    /// PEM file with CA certificates client certificates are verified against (optional).
    ssl_ca_certificate: String = "";
    /// Refuse MySQL clients that do not switch to TLS (`ERROR 3159`).
    require_secure_transport: bool = "false";
    /// Directory of `fe.audit.log` and `fe.slow_query.log`. Default: `<data_dir>/log`.
    audit_log_dir: String = "";
    /// Write audit records as JSON objects instead of `|Key=value` fields.
    audit_log_json_format: bool = "false", mutable = true;
    /// Rotated audit and slow-query logs older than this are deleted (`30d`, `12h`, …).
    audit_log_delete_age: String = "30d", mutable = true;
    /// Statements taking at least this many milliseconds also go to `fe.slow_query.log`.
    qe_slow_log_ms: u64 = "5000", mutable = true;
    /// The most recent audit records `information_schema.audit_log` shows (Rigel extension).
    audit_log_memory_records: u64 = "10000", mutable = true;
}

/// StarRocks keys that have no meaning in Rigel's single-binary design, with the reason.
pub const NOT_APPLICABLE_KEYS: &[(&str, &str)] = &[
    ("JAVA_OPTS", "Rigel has no JVM"),
    ("JAVA_OPTS_FOR_JDK_9", "Rigel has no JVM"),
    ("JAVA_OPTS_FOR_JDK_11", "Rigel has no JVM"),
    ("JAVA_HOME", "Rigel has no JVM"),
    (
        "edit_log_port",
        "reserved for replicating the journal between frontends; one frontend for now",
    ),
    ("starlet_port", "shared-data mode is not supported"),
    (
        "max_query_retry_time",
        "queries run on the embedded backend, which has no fragment to retry elsewhere",
    ),
    (
        "scanner_thread_pool_thread_num",
        "scans run on the query threads (pipeline_dop)",
    ),
    (
        "disable_storage_page_cache",
        "segments are read through the operating system's page cache",
    ),
    (
        "storage_page_cache_limit",
        "segments are read through the operating system's page cache",
    ),
    ("sys_log_roll_mode", "logs roll by size (log_roll_size_mb)"),
    (
        "sys_log_roll_num",
        "rolled logs are deleted by age (sys_log_delete_age)",
    ),
    (
        "sys_log_verbose_modules",
        "use RIGEL_LOG for per-module levels",
    ),
    ("enable_metric_calculator", "rates are always computed"),
    ("run_mode", "only shared_nothing is supported"),
];

/// Key aliases StarRocks accepts, mapped to the canonical key.
const ALIASES: &[(&str, &str)] = &[("webserver_port", "be_http_port")];

fn canonical_key(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map(|(_, canonical)| *canonical)
        .unwrap_or(key)
}

impl Config {
    /// Sets a key from text (file, flag or `ADMIN SET CONFIG`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<SetOutcome, ConfigError> {
        let key = canonical_key(key.trim());
        match self.set_known(key, value.trim()) {
            Some(result) => result.map(|()| SetOutcome::Applied),
            None => Ok(match NOT_APPLICABLE_KEYS.iter().find(|(k, _)| *k == key) {
                Some((_, reason)) => SetOutcome::NotApplicable(reason),
                None => SetOutcome::Unknown,
            }),
        }
    }

    /// Sets a key at run time; only mutable keys may change.
    pub fn set_runtime(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let key = canonical_key(key.trim());
        let info = Self::KEYS
            .iter()
            .find(|k| k.name == key)
            .ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
        if !info.mutable {
            return Err(ConfigError::NotMutable(key.to_string()));
        }
        self.set(key, value).map(|_| ())
    }

    /// Applies a configuration file, returning what each key turned into (for start-up
    /// reporting). Invalid values are errors; unknown keys are reported, not fatal.
    pub fn apply_file(&mut self, path: &Path) -> Result<Vec<(String, SetOutcome)>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            file: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.apply_text(&text, &path.display().to_string())
    }

    /// Applies configuration text in fe.conf syntax.
    pub fn apply_text(
        &mut self,
        text: &str,
        file: &str,
    ) -> Result<Vec<(String, SetOutcome)>, ConfigError> {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut outcomes = vec![];
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError::Syntax {
                    file: file.to_string(),
                    line: idx + 1,
                    text: raw.to_string(),
                });
            };
            let key = key.trim();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(ConfigError::Syntax {
                    file: file.to_string(),
                    line: idx + 1,
                    text: raw.to_string(),
                });
            }
            let value = substitute(unquote(strip_comment(value.trim())), &seen);
            seen.insert(key.to_string(), value.clone());
            let outcome = self.set(key, &value)?;
            outcomes.push((key.to_string(), outcome));
        }
        Ok(outcomes)
    }

    /// Directory of `fe.log` and `be.log`.
    pub fn sys_log_path(&self) -> PathBuf {
        if self.sys_log_dir.is_empty() {
            Path::new(&self.data_dir).join("log")
        } else {
            PathBuf::from(&self.sys_log_dir)
        }
    }

    /// Directory of the audit and slow-query logs.
    pub fn audit_log_path(&self) -> PathBuf {
        if self.audit_log_dir.is_empty() {
            Path::new(&self.data_dir).join("log")
        } else {
            PathBuf::from(&self.audit_log_dir)
        }
    }

    /// Directory of the frontend metadata.
    pub fn meta_path(&self) -> PathBuf {
        if self.meta_dir.is_empty() {
            Path::new(&self.data_dir).join("meta")
        } else {
            PathBuf::from(&self.meta_dir)
        }
    }

    /// Directory of the tablet storage (the first of `storage_root_path`).
    pub fn storage_path(&self) -> PathBuf {
        match parse_storage_root_path(&self.storage_root_path)
            .into_iter()
            .next()
        {
            Some(p) => p.path,
            None => Path::new(&self.data_dir).join("storage"),
        }
    }
}

/// One entry of `storage_root_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePath {
    /// The directory.
    pub path: PathBuf,
    /// `SSD` or `HDD` when given with `,medium:`.
    pub medium: Option<String>,
}

/// Parses StarRocks' `storage_root_path` (`/a,medium:SSD;/b,medium:HDD`).
pub fn parse_storage_root_path(text: &str) -> Vec<StoragePath> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let mut parts = entry.split(',');
            let path = PathBuf::from(parts.next().unwrap_or_default().trim());
            let medium = parts.find_map(|p| {
                let (k, v) = p.split_once(':')?;
                (k.trim().eq_ignore_ascii_case("medium")).then(|| v.trim().to_ascii_uppercase())
            });
            StoragePath { path, medium }
        })
        .collect()
}

fn strip_comment(value: &str) -> &str {
    // A '#' starts a trailing comment unless it is inside quotes.
    let mut in_quotes = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes => return value[..i].trim_end(),
            _ => {}
        }
    }
    value
}

fn unquote(value: &str) -> &str {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

fn substitute(value: &str, seen: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                let replacement = seen
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(name).ok())
                    .unwrap_or_default();
                out.push_str(&replacement);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, default '{}')",
            self.name, self.value_type, self.default
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_starrocks() {
        let c = Config::default();
        assert_eq!(c.query_port, 9030);
        assert_eq!(c.http_port, 8030);
        assert_eq!(c.be_http_port, 8040);
        assert_eq!(c.bind_address, "127.0.0.1");
    }

    #[test]
    fn parses_fe_conf_syntax() {
        let mut c = Config::default();
        let text = r#"
# a comment
LOG_DIR = /var/log/sr
query_port = 9031   # trailing comment
http_port="8031"
meta_dir = ${LOG_DIR}/meta
webserver_port = 8041
JAVA_OPTS = "-Xmx8g"
some_future_key = 1
"#;
        let outcomes = c.apply_text(text, "fe.conf").unwrap();
        assert_eq!(c.query_port, 9031);
        assert_eq!(c.http_port, 8031);
        assert_eq!(c.be_http_port, 8041);
        assert_eq!(c.meta_dir, "/var/log/sr/meta");
        assert!(
            outcomes
                .iter()
                .any(|(k, o)| k == "JAVA_OPTS" && matches!(o, SetOutcome::NotApplicable(_)))
        );
        assert!(
            outcomes
                .iter()
                .any(|(k, o)| k == "some_future_key" && *o == SetOutcome::Unknown)
        );
    }

    #[test]
    fn invalid_value_names_key() {
        let mut c = Config::default();
        let err = c.apply_text("query_port = abc", "fe.conf").unwrap_err();
        assert!(err.to_string().contains("query_port"), "{err}");
        let err = c.apply_text("no equals sign", "fe.conf").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 1, .. }));
    }

    #[test]
    fn storage_root_path_with_media() {
        let paths = parse_storage_root_path("/data1,medium:ssd;/data2,medium:HDD");
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0].medium.as_deref(), Some("SSD"));
        assert_eq!(paths[1].path, PathBuf::from("/data2"));
    }

    #[test]
    fn priority_networks_are_validated() {
        let mut c = Config::default();
        c.set("priority_networks", "10.1.0.0/16; 192.168.1.0/24")
            .unwrap();
        assert!(c.priority_networks.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.priority_networks.contains("10.2.0.1".parse().unwrap()));
        assert!(c.set("priority_networks", "10.0.0.0").is_err());
        assert!(c.set("priority_networks", "10.0.0.0/33").is_err());
    }

    #[test]
    fn runtime_mutability() {
        let mut c = Config::default();
        assert!(c.set_runtime("qe_max_connection", "10").is_ok());
        assert_eq!(c.qe_max_connection, 10);
        assert_eq!(
            c.set_runtime("query_port", "1"),
            Err(ConfigError::NotMutable("query_port".into()))
        );
    }
}
