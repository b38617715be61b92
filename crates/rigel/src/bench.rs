//! `rigel bench tpch`: generate TPC-H data, load it with Stream Load, run the 22 queries
//! over the MySQL protocol, verify every answer, and report times.
//!
//! It works against any StarRocks-compatible endpoint (`--host`), starts a cluster of
//! processes on loopback (`--cluster N`: one `rigel fe`, N `rigel be`), or starts an
//! embedded server when neither is given. Answers are checked against the shipped SF1 answers, or —
//! at other scale factors — against DataFusion run directly on the same generated files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mysql_async::prelude::Queryable;
use serde_json::json;

/// The eight tables, in load order.
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// The 22 queries, shipped with the binary.
pub const QUERIES: [&str; 22] = [
    include_str!("../../../bench/tpch/queries/q01.sql"),
    include_str!("../../../bench/tpch/queries/q02.sql"),
    include_str!("../../../bench/tpch/queries/q03.sql"),
    include_str!("../../../bench/tpch/queries/q04.sql"),
    include_str!("../../../bench/tpch/queries/q05.sql"),
    include_str!("../../../bench/tpch/queries/q06.sql"),
    include_str!("../../../bench/tpch/queries/q07.sql"),
    include_str!("../../../bench/tpch/queries/q08.sql"),
    include_str!("../../../bench/tpch/queries/q09.sql"),
    include_str!("../../../bench/tpch/queries/q10.sql"),
    include_str!("../../../bench/tpch/queries/q11.sql"),
    include_str!("../../../bench/tpch/queries/q12.sql"),
    include_str!("../../../bench/tpch/queries/q13.sql"),
    include_str!("../../../bench/tpch/queries/q14.sql"),
    include_str!("../../../bench/tpch/queries/q15.sql"),
    include_str!("../../../bench/tpch/queries/q16.sql"),
    include_str!("../../../bench/tpch/queries/q17.sql"),
    include_str!("../../../bench/tpch/queries/q18.sql"),
    include_str!("../../../bench/tpch/queries/q19.sql"),
    include_str!("../../../bench/tpch/queries/q20.sql"),
    include_str!("../../../bench/tpch/queries/q21.sql"),
    include_str!("../../../bench/tpch/queries/q22.sql"),
];

/// SF1 answers (`|`-separated, one header line), shipped with the binary.
const SF1_ANSWERS: [&str; 22] = [
    include_str!("../../../bench/tpch/answers/sf1/q01.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q02.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q03.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q04.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q05.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q06.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q07.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q08.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q09.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q10.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q11.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q12.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q13.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q14.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q15.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q16.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q17.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q18.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q19.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q20.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q21.csv"),
    include_str!("../../../bench/tpch/answers/sf1/q22.csv"),
];

/// StarRocks DDL of the eight tables (`{buckets}` is filled per table).
fn ddl(table: &str, buckets: u32) -> String {
    let (cols, key, dist) = match table {
        "region" => (
            "r_regionkey INT NOT NULL, r_name VARCHAR(25) NOT NULL, r_comment VARCHAR(152)",
            "r_regionkey",
            "r_regionkey",
        ),
        "nation" => (
            "n_nationkey INT NOT NULL, n_name VARCHAR(25) NOT NULL, n_regionkey INT NOT NULL, n_comment VARCHAR(152)",
            "n_nationkey",
            "n_nationkey",
        ),
        "supplier" => (
            "s_suppkey BIGINT NOT NULL, s_name VARCHAR(25) NOT NULL, s_address VARCHAR(40) NOT NULL, s_nationkey INT NOT NULL, s_phone VARCHAR(15) NOT NULL, s_acctbal DECIMAL(15, 2) NOT NULL, s_comment VARCHAR(101) NOT NULL",
            "s_suppkey",
            "s_suppkey",
        ),
        "customer" => (
            "c_custkey BIGINT NOT NULL, c_name VARCHAR(25) NOT NULL, c_address VARCHAR(40) NOT NULL, c_nationkey INT NOT NULL, c_phone VARCHAR(15) NOT NULL, c_acctbal DECIMAL(15, 2) NOT NULL, c_mktsegment VARCHAR(10) NOT NULL, c_comment VARCHAR(117) NOT NULL",
            "c_custkey",
            "c_custkey",
        ),
        "part" => (
            "p_partkey BIGINT NOT NULL, p_name VARCHAR(55) NOT NULL, p_mfgr VARCHAR(25) NOT NULL, p_brand VARCHAR(10) NOT NULL, p_type VARCHAR(25) NOT NULL, p_size INT NOT NULL, p_container VARCHAR(10) NOT NULL, p_retailprice DECIMAL(15, 2) NOT NULL, p_comment VARCHAR(23) NOT NULL",
            "p_partkey",
            "p_partkey",
        ),
        "partsupp" => (
            "ps_partkey BIGINT NOT NULL, ps_suppkey BIGINT NOT NULL, ps_availqty INT NOT NULL, ps_supplycost DECIMAL(15, 2) NOT NULL, ps_comment VARCHAR(199) NOT NULL",
            "ps_partkey, ps_suppkey",
            "ps_partkey",
        ),
        "orders" => (
            "o_orderkey BIGINT NOT NULL, o_custkey BIGINT NOT NULL, o_orderstatus VARCHAR(1) NOT NULL, o_totalprice DECIMAL(15, 2) NOT NULL, o_orderdate DATE NOT NULL, o_orderpriority VARCHAR(15) NOT NULL, o_clerk VARCHAR(15) NOT NULL, o_shippriority INT NOT NULL, o_comment VARCHAR(79) NOT NULL",
            "o_orderkey",
            "o_orderkey",
        ),
        _ => (
            "l_orderkey BIGINT NOT NULL, l_partkey BIGINT NOT NULL, l_suppkey BIGINT NOT NULL, l_linenumber INT NOT NULL, l_quantity DECIMAL(15, 2) NOT NULL, l_extendedprice DECIMAL(15, 2) NOT NULL, l_discount DECIMAL(15, 2) NOT NULL, l_tax DECIMAL(15, 2) NOT NULL, l_returnflag VARCHAR(1) NOT NULL, l_linestatus VARCHAR(1) NOT NULL, l_shipdate DATE NOT NULL, l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL, l_shipinstruct VARCHAR(25) NOT NULL, l_shipmode VARCHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL",
            "l_orderkey",
            "l_orderkey",
        ),
    };
    // As StarRocks' TPC-H DDL does: the tables joined on their distribution column are
    // colocated, so those joins read every bucket where it is.
    let group = match table {
        "lineitem" | "orders" => ", \"colocate_with\" = \"tpch_orders\"",
        "part" | "partsupp" => ", \"colocate_with\" = \"tpch_parts\"",
        _ => "",
    };
    format!(
        "CREATE TABLE {table} ({cols}) ENGINE=OLAP DUPLICATE KEY({key}) DISTRIBUTED BY HASH({dist}) BUCKETS {buckets} PROPERTIES (\"replication_num\" = \"1\"{group})"
    )
}

/// Buckets per table: about one per 32 MB of data, at least one, at most 32; a colocation
/// group takes the count of its largest table.
fn buckets(table: &str, sf: f64) -> u32 {
    let mb_per_sf = match table {
        "lineitem" | "orders" => 230.0,
        "partsupp" | "part" => 45.0,
        "customer" => 14.0,
        _ => 1.0,
    };
    ((mb_per_sf * sf / 32.0).ceil() as u32).clamp(1, 32)
}

/// The server a benchmark talks to.
#[derive(Args, Debug, Clone)]
pub struct Endpoint {
    /// A StarRocks-compatible server to benchmark; without it an embedded server is started.
    #[arg(long)]
    pub host: Option<String>,
    /// Start a cluster of this binary on loopback instead: one `rigel fe` and this many
    /// `rigel be` processes, on free ports, their data under the work directory.
    #[arg(long, conflicts_with = "host", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub cluster: Option<u16>,
    /// MySQL port of `--host`.
    #[arg(long, default_value_t = 9030)]
    pub port: u16,
    /// HTTP (Stream Load) port of `--host`.
    #[arg(long, default_value_t = 8030)]
    pub http_port: u16,
    /// User.
    #[arg(long, default_value = "root")]
    pub user: String,
    /// Password.
    #[arg(long, default_value = "")]
    pub password: String,
}

/// A server a benchmark started, stopped when it ends.
pub(crate) enum Started {
    /// `rigel server` in this process.
    #[cfg(feature = "frontend")]
    Embedded(crate::ServerHandle),
    /// `rigel fe` and `rigel be` processes.
    Cluster(crate::harness::Cluster),
}

impl Started {
    pub(crate) async fn shutdown(self) {
        match self {
            #[cfg(feature = "frontend")]
            Started::Embedded(h) => h.shutdown().await,
            // Dropping the cluster kills its processes.
            Started::Cluster(c) => drop(c),
        }
    }
}

/// Starts an embedded server with its data under `work_dir`: it and its MySQL and HTTP
/// ports.
#[cfg(feature = "frontend")]
async fn start_embedded(work_dir: &Path) -> Result<(Started, u16, u16), String> {
    let config = rigel_common::config::Config {
        query_port: 0,
        http_port: 0,
        be_http_port: 0,
        data_dir: work_dir.join("server").to_string_lossy().into_owned(),
        ..Default::default()
    };
    let handle = crate::start(config).await.map_err(|e| e.to_string())?;
    let (mysql, http) = (handle.mysql_addr.port(), handle.http_addr.port());
    Ok((Started::Embedded(handle), mysql, http))
}

#[cfg(not(feature = "frontend"))]
async fn start_embedded(_work_dir: &Path) -> Result<(Started, u16, u16), String> {
    Err(
        "this rigel is built without the frontend roles: pass --host to benchmark a \
         running server"
            .to_string(),
    )
}

/// Starts a cluster of this binary, 1 FE and `backends` BEs, afresh under `work_dir`.
async fn start_cluster(work_dir: &Path, backends: usize) -> Result<(Started, u16, u16), String> {
    let exe = std::env::current_exe().map_err(|e| format!("the rigel executable: {e}"))?;
    let dir = work_dir.join("cluster");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    let cluster = crate::harness::Cluster::start(&exe, &dir, backends, 5).await?;
    let (mysql, http) = (cluster.port()?, cluster.http_port()?);
    Ok((Started::Cluster(cluster), mysql, http))
}

/// A connected benchmark endpoint (and the server it started, if any).
pub(crate) struct Connected {
    pub server: Option<Started>,
    pub host: String,
    pub port: u16,
    pub http_port: u16,
    pub conn: mysql_async::Conn,
}

impl Endpoint {
    /// Connects to `--host`, or starts a cluster or an embedded server with its data under
    /// `work_dir`.
    pub(crate) async fn connect(
        &self,
        work_dir: &Path,
        say: impl Fn(String),
    ) -> Result<Connected, String> {
        let mut server = None;
        let (host, port, http_port) = match (&self.host, self.cluster) {
            (Some(h), _) => (h.clone(), self.port, self.http_port),
            (None, Some(n)) => {
                let (cluster, mysql, http) = start_cluster(work_dir, usize::from(n)).await?;
                server = Some(cluster);
                say(format!(
                    "cluster of 1 frontend and {n} backends on ports {mysql} / {http}"
                ));
                ("127.0.0.1".to_string(), mysql, http)
            }
            (None, None) => {
                let (handle, mysql, http) = start_embedded(work_dir).await?;
                let ports = (mysql, http);
                server = Some(handle);
                say(format!(
                    "embedded server on ports {} / {}",
                    ports.0, ports.1
                ));
                ("127.0.0.1".to_string(), ports.0, ports.1)
            }
        };
        let conn = mysql_async::Conn::new(self.opts(&host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        Ok(Connected {
            server,
            host,
            port,
            http_port,
            conn,
        })
    }

    pub(crate) fn opts(&self, host: &str, port: u16) -> mysql_async::OptsBuilder {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(host.to_string())
            .tcp_port(port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false)
    }
}

/// `rigel bench tpch` options.
#[derive(Args, Debug, Clone)]
pub struct TpchArgs {
    /// Scale factor of the generated data.
    #[arg(long, default_value_t = 1.0)]
    pub sf: f64,
    /// Load these dbgen `.tbl` files instead of generating data.
    #[arg(long)]
    pub tbl_dir: Option<PathBuf>,
    /// Where generated data (and the data of a server it starts) goes.
    #[arg(long, default_value = "./rigel-bench-data")]
    pub work_dir: PathBuf,
    /// The server.
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Database.
    #[arg(long, default_value = "tpch")]
    pub database: String,
    /// Queries to run: `1-22`, `1,6,9`, `3-5,10`.
    #[arg(long, default_value = "1-22")]
    pub queries: String,
    /// Timed runs per query (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Untimed runs per query before the timed ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Reuse the data already loaded in `--database`.
    #[arg(long)]
    pub skip_load: bool,
    /// Do not run ANALYZE TABLE after loading (queries plan without column statistics).
    #[arg(long)]
    pub no_analyze: bool,
    /// How answers are checked: `auto` (shipped answers at SF1, DataFusion otherwise),
    /// `answers`, `datafusion` or `none`.
    #[arg(long, default_value = "auto")]
    pub verify: String,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
    /// A session variable for the queries, `NAME=VALUE` (repeatable): compares plans on
    /// the same data, e.g. `--set disable_colocate_join=true`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// One query's outcome.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    /// 1..=22.
    pub query: usize,
    /// Seconds of each timed run.
    pub times: Vec<f64>,
    /// Rows returned.
    pub rows: usize,
    /// `ok`, `wrong: …` or `error: …`.
    pub status: String,
}

impl QueryOutcome {
    /// Median seconds.
    pub fn median(&self) -> f64 {
        let mut t = self.times.clone();
        t.sort_by(|a, b| a.total_cmp(b));
        if t.is_empty() { 0.0 } else { t[t.len() / 2] }
    }
}

/// Parses `1-22`, `1,6,9`.
pub fn parse_query_list(text: &str) -> Result<Vec<usize>, String> {
    let mut out = vec![];
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a.parse().map_err(|_| format!("bad query number '{a}'"))?;
        let b: usize = b.parse().map_err(|_| format!("bad query number '{b}'"))?;
        if a == 0 || b > 22 || a > b {
            return Err(format!("query range '{part}' is outside 1-22"));
        }
        out.extend(a..=b);
    }
    out.dedup();
    Ok(out)
}

/// Generates the `.tbl` files (skipped when a complete set is already there).
fn generate(dir: &Path, sf: f64, progress: &MultiProgress) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    let style = ProgressStyle::with_template("{prefix:>10} {spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let write_table = |table: &str| -> Result<(), String> {
        use tpchgen::generators::*;
        let bar = progress.add(ProgressBar::new_spinner());
        bar.set_style(style.clone());
        bar.set_prefix(table.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        let path = dir.join(format!("{table}.tbl"));
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut rows = 0u64;
        macro_rules! emit {
            ($gen:expr) => {
                for row in $gen.iter() {
                    writeln!(w, "{row}").map_err(|e| e.to_string())?;
                    rows += 1;
                    if rows % 100_000 == 0 {
                        bar.set_message(format!("{rows} rows"));
                    }
                }
            };
        }
        match table {
            "region" => emit!(RegionGenerator::new(sf, 1, 1)),
            "nation" => emit!(NationGenerator::new(sf, 1, 1)),
            "supplier" => emit!(SupplierGenerator::new(sf, 1, 1)),
            "customer" => emit!(CustomerGenerator::new(sf, 1, 1)),
            "part" => emit!(PartGenerator::new(sf, 1, 1)),
            "partsupp" => emit!(PartSuppGenerator::new(sf, 1, 1)),
            "orders" => emit!(OrderGenerator::new(sf, 1, 1)),
            _ => emit!(LineItemGenerator::new(sf, 1, 1)),
        }
        w.flush().map_err(|e| e.to_string())?;
        bar.finish_with_message(format!("{rows} rows generated"));
        Ok(())
    };
    // Two workers: lineitem alone takes as long as the rest together.
    let (big, rest): (Vec<&str>, Vec<&str>) = TABLES.iter().partition(|t| **t == "lineitem");
    std::thread::scope(|s| {
        let a = s.spawn(|| big.iter().try_for_each(|t| write_table(t)));
        let b = s.spawn(|| rest.iter().try_for_each(|t| write_table(t)));
        a.join()
            .map_err(|_| "generator thread panicked".to_string())??;
        b.join()
            .map_err(|_| "generator thread panicked".to_string())?
    })?;
    std::fs::write(&marker, format!("sf={sf}\n")).map_err(|e| e.to_string())?;
    Ok(())
}

/// Stream-Loads one file: asks the frontend for the redirect first (no body), then sends
/// the file to the backend it names.
/// Stream-loads a file (following the FE's redirect) with the given headers; fails unless
/// the reply says `Success`.
pub(crate) async fn stream_load(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    (host, http_port): (&str, u16),
    (database, table): (&str, &str),
    file: &Path,
    headers: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    let url = format!("http://{host}:{http_port}/api/{database}/{table}/_stream_load");
    let label = format!(
        "bench_{table}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let probe = client
        .put(&url)
        .basic_auth(&endpoint.user, Some(&endpoint.password))
        .header("Expect", "100-continue")
        .header("content-length", "0")
        .send()
        .await
        .map_err(|e| format!("stream load of {table}: {e}"))?;
    let target = if probe.status().is_redirection() {
        probe
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| "redirect without a Location".to_string())?
    } else {
        url.clone()
    };
    let f = tokio::fs::File::open(file)
        .await
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 1 << 20);
    let mut req = client
        .put(&target)
        .basic_auth(&endpoint.user, Some(&endpoint.password))
        .header("label", label)
        .header("timeout", "3600")
        .header("content-length", len.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| format!("stream load of {table}: {e}"))?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("stream load of {table}: bad reply: {e}"))?;
    if body.get("Status").and_then(|s| s.as_str()) != Some("Success") {
        return Err(format!("stream load of {table} failed: {body}"));
    }
    Ok(body)
}

/// The TPC-H schema for reading `.tbl` files with DataFusion.
fn tbl_schema(table: &str) -> Schema {
    use DataType::*;
    let d = || Decimal128(15, 2);
    let cols: Vec<(&str, DataType)> = match table {
        "region" => vec![
            ("r_regionkey", Int32),
            ("r_name", Utf8),
            ("r_comment", Utf8),
        ],
        "nation" => vec![
            ("n_nationkey", Int32),
            ("n_name", Utf8),
            ("n_regionkey", Int32),
            ("n_comment", Utf8),
        ],
        "supplier" => vec![
            ("s_suppkey", Int64),
            ("s_name", Utf8),
            ("s_address", Utf8),
            ("s_nationkey", Int32),
            ("s_phone", Utf8),
            ("s_acctbal", d()),
            ("s_comment", Utf8),
        ],
        "customer" => vec![
            ("c_custkey", Int64),
            ("c_name", Utf8),
            ("c_address", Utf8),
            ("c_nationkey", Int32),
            ("c_phone", Utf8),
            ("c_acctbal", d()),
            ("c_mktsegment", Utf8),
            ("c_comment", Utf8),
        ],
        "part" => vec![
            ("p_partkey", Int64),
            ("p_name", Utf8),
            ("p_mfgr", Utf8),
            ("p_brand", Utf8),
            ("p_type", Utf8),
            ("p_size", Int32),
            ("p_container", Utf8),
            ("p_retailprice", d()),
            ("p_comment", Utf8),
        ],
        "partsupp" => vec![
            ("ps_partkey", Int64),
            ("ps_suppkey", Int64),
            ("ps_availqty", Int32),
            ("ps_supplycost", d()),
            ("ps_comment", Utf8),
        ],
        "orders" => vec![
            ("o_orderkey", Int64),
            ("o_custkey", Int64),
            ("o_orderstatus", Utf8),
            ("o_totalprice", d()),
            ("o_orderdate", Date32),
            ("o_orderpriority", Utf8),
            ("o_clerk", Utf8),
            ("o_shippriority", Int32),
            ("o_comment", Utf8),
        ],
        _ => vec![
            ("l_orderkey", Int64),
            ("l_partkey", Int64),
            ("l_suppkey", Int64),
            ("l_linenumber", Int32),
            ("l_quantity", d()),
            ("l_extendedprice", d()),
            ("l_discount", d()),
            ("l_tax", d()),
            ("l_returnflag", Utf8),
            ("l_linestatus", Utf8),
            ("l_shipdate", Date32),
            ("l_commitdate", Date32),
            ("l_receiptdate", Date32),
            ("l_shipinstruct", Utf8),
            ("l_shipmode", Utf8),
            ("l_comment", Utf8),
        ],
    };
    let mut fields: Vec<Field> = cols
        .into_iter()
        .map(|(n, t)| Field::new(n, t, false))
        .collect();
    // dbgen ends every row with '|': one empty trailing column.
    fields.push(Field::new("__trailing", Utf8, true));
    Schema::new(fields)
}

/// Answers computed by DataFusion directly on the `.tbl` files.
async fn datafusion_answers(
    dir: &Path,
    queries: &[usize],
) -> Result<BTreeMap<usize, Vec<Vec<String>>>, String> {
    let config =
        SessionConfig::new().set_bool("datafusion.sql_parser.parse_float_as_decimal", true);
    let ctx = SessionContext::new_with_config(config);
    for t in TABLES {
        let schema = tbl_schema(t);
        let path = dir.join(format!("{t}.tbl"));
        let options = CsvReadOptions::new()
            .delimiter(b'|')
            .has_header(false)
            .file_extension(".tbl")
            .schema(&schema);
        ctx.register_csv(t, path.to_string_lossy().as_ref(), options)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut out = BTreeMap::new();
    for &q in queries {
        let df = ctx
            .sql(QUERIES[q - 1])
            .await
            .map_err(|e| format!("q{q}: {e}"))?;
        let batches = df.collect().await.map_err(|e| format!("q{q}: {e}"))?;
        let mut rows = vec![];
        for b in &batches {
            let fmt: Vec<_> = b
                .columns()
                .iter()
                .map(|c| {
                    datafusion::arrow::util::display::ArrayFormatter::try_new(
                        c.as_ref(),
                        &datafusion::arrow::util::display::FormatOptions::default()
                            .with_null("NULL"),
                    )
                })
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            for r in 0..b.num_rows() {
                rows.push(fmt.iter().map(|f| f.value(r).to_string()).collect());
            }
        }
        out.insert(q, rows);
    }
    Ok(out)
}

fn shipped_answers(q: usize) -> Vec<Vec<String>> {
    SF1_ANSWERS[q - 1]
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

fn cell_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            let diff = (x - y).abs();
            // Renderings of one value at different scales (StarRocks' avg has 12 decimals,
            // DataFusion's 6, truncated) agree when the coarser one is the finer one rounded
            // or truncated to the coarser scale.
            let decimals = |t: &str| t.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
            let scaled = !a.contains(['e', 'E']) && !b.contains(['e', 'E']);
            let (coarse, fine, c_txt) = if decimals(a) <= decimals(b) {
                (x, y, a)
            } else {
                (y, x, b)
            };
            let unit = 10f64.powi(-(decimals(c_txt) as i32));
            let slack = 1e-9 * unit;
            let rounded = (fine - coarse).abs() <= 0.5 * unit + slack;
            let towards_zero = fine - coarse;
            let truncated = if coarse >= 0.0 {
                (-slack..unit - slack).contains(&towards_zero)
            } else {
                (-unit + slack..slack).contains(&towards_zero)
            };
            diff <= 1e-6 * x.abs().max(y.abs())
                || diff <= 1e-9
                || (scaled && decimals(c_txt) > 0 && (rounded || truncated))
        }
        _ => false,
    }
}

fn rows_equal(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| cell_equal(x, y))
}

/// Compares results: in order, or — when rows tie on the sort keys — as a multiset.
pub fn compare(actual: &[Vec<String>], expected: &[Vec<String>]) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "{} rows, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    if actual.iter().zip(expected).all(|(a, e)| rows_equal(a, e)) {
        return Ok(());
    }
    let mut remaining: Vec<&Vec<String>> = expected.iter().collect();
    for (i, row) in actual.iter().enumerate() {
        match remaining.iter().position(|e| rows_equal(row, e)) {
            Some(p) => {
                remaining.swap_remove(p);
            }
            None => {
                return Err(format!(
                    "row {} is [{}], not in the expected answer (row {} there is [{}])",
                    i + 1,
                    row.join("|"),
                    i + 1,
                    expected[i].join("|")
                ));
            }
        }
    }
    Ok(())
}

fn value_text(v: &mysql_async::Value) -> String {
    match v {
        mysql_async::Value::NULL => "NULL".to_string(),
        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        mysql_async::Value::Int(i) => i.to_string(),
        mysql_async::Value::UInt(u) => u.to_string(),
        mysql_async::Value::Float(f) => f.to_string(),
        mysql_async::Value::Double(d) => d.to_string(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

/// Runs the benchmark; returns the process exit code.
pub async fn run(args: TpchArgs) -> Result<bool, String> {
    let queries = parse_query_list(&args.queries)?;
    let progress = MultiProgress::new();
    if args.json {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let say = |s: String| {
        if !args.json {
            let _ = progress.println(s);
        }
    };
    let data_dir = match &args.tbl_dir {
        Some(d) => d.clone(),
        None => args.work_dir.join(format!("tpch-sf{}", args.sf)),
    };
    if args.tbl_dir.is_none() && !args.skip_load {
        let started = Instant::now();
        let (dir, sf, mp) = (data_dir.clone(), args.sf, progress.clone());
        tokio::task::spawn_blocking(move || generate(&dir, sf, &mp))
            .await
            .map_err(|e| e.to_string())??;
        say(format!(
            "data: {} ({:.1}s)",
            data_dir.display(),
            started.elapsed().as_secs_f64()
        ));
    }

    // The server: the one given, or one started here.
    let Connected {
        server,
        host,
        port: _,
        http_port,
        mut conn,
    } = args.endpoint.connect(&args.work_dir, &say).await?;

    // Load.
    let mut load_report = vec![];
    if !args.skip_load {
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", args.database))
            .await
            .map_err(|e| e.to_string())?;
        conn.query_drop(format!("USE {}", args.database))
            .await
            .map_err(|e| e.to_string())?;
        for t in TABLES {
            conn.query_drop(format!("DROP TABLE IF EXISTS {t}"))
                .await
                .map_err(|e| e.to_string())?;
            conn.query_drop(ddl(t, buckets(t, args.sf)))
                .await
                .map_err(|e| format!("CREATE TABLE {t}: {e}"))?;
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let bar = progress.add(ProgressBar::new(TABLES.len() as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix("load");
        for t in TABLES {
            bar.set_message(t.to_string());
            let file = data_dir.join(format!("{t}.tbl"));
            let started = Instant::now();
            let reply = stream_load(
                &client,
                &args.endpoint,
                (&host, http_port),
                (&args.database, t),
                &file,
                &[("column_separator", "|")],
            )
            .await?;
            let secs = started.elapsed().as_secs_f64();
            let rows = reply["NumberLoadedRows"].as_u64().unwrap_or(0);
            let bytes = reply["LoadBytes"].as_u64().unwrap_or(0);
            load_report.push((t, rows, bytes, secs));
            bar.inc(1);
        }
        bar.finish_and_clear();
        // Column statistics for the planner (StarRocks collects them after loads).
        if !args.no_analyze {
            for t in TABLES {
                if let Err(e) = conn.query_drop(format!("ANALYZE TABLE {t}")).await {
                    eprintln!("ANALYZE TABLE {t} failed ({e}); queries run without statistics");
                }
            }
        }
    } else {
        conn.query_drop(format!("USE {}", args.database))
            .await
            .map_err(|e| e.to_string())?;
    }
    for setting in &args.set {
        let Some((name, value)) = setting.split_once('=') else {
            return Err(format!("--set '{setting}': expected NAME=VALUE"));
        };
        conn.query_drop(format!(
            "SET {} = '{}'",
            name.trim(),
            value.trim().replace('\'', "''")
        ))
        .await
        .map_err(|e| format!("--set {setting}: {e}"))?;
    }

    // Expected answers.
    let verify = match args.verify.as_str() {
        "auto" if (args.sf - 1.0).abs() < f64::EPSILON && args.tbl_dir.is_none() => "answers",
        "auto" => "datafusion",
        other => other,
    };
    let expected: BTreeMap<usize, Vec<Vec<String>>> = match verify {
        "answers" => queries.iter().map(|&q| (q, shipped_answers(q))).collect(),
        "datafusion" => datafusion_answers(&data_dir, &queries).await?,
        "none" => BTreeMap::new(),
        other => return Err(format!("unknown --verify '{other}'")),
    };

    // Queries.
    let bar = progress.add(ProgressBar::new(queries.len() as u64));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix("queries");
    let mut outcomes = vec![];
    for &q in &queries {
        bar.set_message(format!("Q{q:02}"));
        let sql = QUERIES[q - 1];
        let mut outcome = QueryOutcome {
            query: q,
            times: vec![],
            rows: 0,
            status: "ok".to_string(),
        };
        let mut last: Vec<Vec<String>> = vec![];
        for i in 0..(args.warmup + args.runs) {
            let started = Instant::now();
            let result: Result<Vec<mysql_async::Row>, _> = conn.query(sql).await;
            let secs = started.elapsed().as_secs_f64();
            match result {
                Ok(rows) => {
                    if i >= args.warmup {
                        outcome.times.push(secs);
                    }
                    last = rows
                        .iter()
                        .map(|r| {
                            (0..r.len())
                                .map(|c| {
                                    value_text(r.as_ref(c).unwrap_or(&mysql_async::Value::NULL))
                                })
                                .collect()
                        })
                        .collect();
                }
                Err(e) => {
                    outcome.status = format!("error: {e}");
                    break;
                }
            }
        }
        outcome.rows = last.len();
        if outcome.status == "ok"
            && let Some(exp) = expected.get(&q)
            && let Err(why) = compare(&last, exp)
        {
            outcome.status = format!("wrong: {why}");
        }
        outcomes.push(outcome);
        bar.inc(1);
    }
    bar.finish_and_clear();
    drop(conn);
    if let Some(h) = server {
        h.shutdown().await;
    }

    let passed = outcomes.iter().filter(|o| o.status == "ok").count();
    let total: f64 = outcomes.iter().map(QueryOutcome::median).sum();
    let load_rows: u64 = load_report.iter().map(|l| l.1).sum();
    let load_secs: f64 = load_report.iter().map(|l| l.3).sum();
    if args.json {
        let doc = json!({
            "scale_factor": args.sf,
            "verify": verify,
            "load": load_report.iter().map(|(t, rows, bytes, secs)| json!({
                "table": t, "rows": rows, "bytes": bytes, "seconds": secs,
                "rows_per_second": *rows as f64 / secs.max(1e-9),
            })).collect::<Vec<_>>(),
            "queries": outcomes.iter().map(|o| json!({
                "query": o.query, "median_seconds": o.median(), "times": o.times,
                "rows": o.rows, "status": o.status,
            })).collect::<Vec<_>>(),
            "passed": passed,
            "total_seconds": total,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        if !load_report.is_empty() {
            println!(
                "{:<10} {:>12} {:>10} {:>14}",
                "table", "rows", "seconds", "rows/s"
            );
            for (t, rows, _, secs) in &load_report {
                println!(
                    "{:<10} {:>12} {:>10.2} {:>14.0}",
                    t,
                    rows,
                    secs,
                    *rows as f64 / secs.max(1e-9)
                );
            }
            println!(
                "{:<10} {:>12} {:>10.2} {:>14.0}\n",
                "total",
                load_rows,
                load_secs,
                load_rows as f64 / load_secs.max(1e-9)
            );
        }
        println!("{:<6} {:>10} {:>8}  status", "query", "median s", "rows");
        for o in &outcomes {
            println!(
                "Q{:02}    {:>10.3} {:>8}  {}",
                o.query,
                o.median(),
                o.rows,
                o.status
            );
        }
        println!(
            "\n{passed}/{} queries correct (checked against {verify}); total {total:.3} s",
            outcomes.len()
        );
    }
    Ok(passed == outcomes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists() {
        assert_eq!(parse_query_list("1-3,6").unwrap(), vec![1, 2, 3, 6]);
        assert!(parse_query_list("0-3").is_err());
        assert!(parse_query_list("20-23").is_err());
    }

    #[test]
    fn answers_compare_with_tolerance_and_ties() {
        let row = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let exp = vec![row(&["a", "1.0000001"]), row(&["b", "2"])];
        assert!(compare(&[row(&["a", "1"]), row(&["b", "2.00"])], &exp).is_ok());
        assert!(compare(&[row(&["b", "2"]), row(&["a", "1"])], &exp).is_ok());
        assert!(compare(&[row(&["a", "1.1"]), row(&["b", "2"])], &exp).is_err());
        // A 6-decimal rendering matches a 12-decimal one of the same value.
        let avg = vec![row(&["25.522005853257"])];
        assert!(compare(&[row(&["25.522006"])], &avg).is_ok());
        assert!(compare(&[row(&["25.522106"])], &avg).is_err());
        // ... or a truncated one.
        let small = vec![row(&["0.047758620689"])];
        assert!(compare(&[row(&["0.047758"])], &small).is_ok());
        assert!(compare(&[row(&["0.047759"])], &small).is_ok());
        assert!(compare(&[row(&["0.047757"])], &small).is_err());
        assert!(compare(&[row(&["a", "1"])], &exp).is_err());
    }
}
