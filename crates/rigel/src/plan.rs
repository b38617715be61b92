//! `rigel plan`: capacity planning with the deployment guide's formula
//!
//! ```text
//! storage = raw size × compression ratio × replicas × index overhead × growth
//! ```
//!
//! from table sizes given as flags or a file, or from a running server's real compressed
//! sizes (`--from`), where the compression ratio is already in the measured bytes.

use std::path::PathBuf;

use clap::Args;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::doctor::{Role, Tier, requirements};

/// `rigel plan` flags.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// A table and its raw (uncompressed) size: `orders=500G`, `events=2T:0.2` (with its own
    /// compression ratio). Repeat for each table.
    #[arg(long = "table", value_name = "NAME=SIZE[:RATIO]")]
    pub tables: Vec<String>,
    /// A file with one table per line: `name,raw_size[,compression_ratio]` (`#` comments).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Measure the tables of a running server instead (`host[:port]`, MySQL protocol).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub from: Option<String>,
    /// User for `--from`.
    #[arg(long, default_value = "root")]
    pub user: String,
    /// Password for `--from`.
    #[arg(long, default_value = "", env = "RIGEL_PASSWORD")]
    pub password: String,
    /// Only this database with `--from`.
    #[arg(long)]
    pub database: Option<String>,
    /// Compressed size as a share of raw size (columnar LZ4 typically 0.2-0.4).
    #[arg(long, default_value_t = 0.3)]
    pub compression: f64,
    /// Copies of each tablet (`replication_num`).
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// Extra space for indexes, rowsets awaiting compaction and metadata.
    #[arg(long, default_value_t = 1.2)]
    pub index_overhead: f64,
    /// Growth to plan for (1.5 = room for 50% more data).
    #[arg(long, default_value_t = 1.5)]
    pub growth: f64,
    /// Hardware tier of the backends.
    #[arg(long, value_enum, default_value = "medium")]
    pub tier: Tier,
    /// Highest share of a backend's disk the data may fill.
    #[arg(long, default_value_t = 0.7)]
    pub max_disk_fill: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One table's input.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSize {
    /// Name.
    pub name: String,
    /// Bytes before compression (or measured compressed bytes with ratio 1).
    pub bytes: u64,
    /// Compression ratio applied to `bytes`.
    pub ratio: f64,
}

/// Planning factors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    /// Replicas.
    pub replicas: u32,
    /// Index overhead.
    pub index_overhead: f64,
    /// Growth.
    pub growth: f64,
}

/// One table's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePlan {
    /// Name.
    pub name: String,
    /// Input bytes.
    pub raw: u64,
    /// After compression.
    pub compressed: u64,
    /// Storage to provision.
    pub storage: u64,
}

/// The recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Per table.
    pub tables: Vec<TablePlan>,
    /// Storage to provision in all.
    pub storage: u64,
    /// Backends.
    pub backends: u64,
    /// Frontends.
    pub frontends: u64,
    /// Per-backend hardware.
    pub backend_size: (usize, u64, u64),
    /// Per-frontend hardware.
    pub frontend_size: (usize, u64, u64),
}

/// Applies the formula.
pub fn storage_of(t: &TableSize, f: Factors) -> TablePlan {
    let compressed = t.bytes as f64 * t.ratio;
    let storage = compressed * f64::from(f.replicas) * f.index_overhead * f.growth;
    TablePlan {
        name: t.name.clone(),
        raw: t.bytes,
        compressed: compressed.round() as u64,
        storage: storage.round() as u64,
    }
}

/// The plan for `tables`.
pub fn plan(tables: &[TableSize], f: Factors, tier: Tier, max_fill: f64) -> Plan {
    let tables: Vec<TablePlan> = tables.iter().map(|t| storage_of(t, f)).collect();
    let storage: u64 = tables.iter().map(|t| t.storage).sum();
    let be = requirements(Role::Be, tier);
    let fe = requirements(Role::Fe, tier);
    let usable = be.disk_gib as f64 * (1u64 << 30) as f64 * max_fill.clamp(0.05, 1.0);
    let by_disk = (storage as f64 / usable).ceil() as u64;
    // Every replica of a tablet lives on a different backend.
    let backends = by_disk.max(u64::from(f.replicas)).max(1);
    // One frontend is a single point of failure; three keep a majority through one loss.
    let frontends = if backends >= 3 { 3 } else { 1 };
    Plan {
        tables,
        storage,
        backends,
        frontends,
        backend_size: (be.cores, be.memory_gib, be.disk_gib),
        frontend_size: (fe.cores, fe.memory_gib, fe.disk_gib),
    }
}

/// Parses `NAME=SIZE[:RATIO]`.
pub fn parse_table_flag(text: &str, default_ratio: f64) -> Result<TableSize, String> {
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': expected NAME=SIZE[:RATIO]"))?;
    let (size, ratio) = match rest.split_once(':') {
        Some((s, r)) => (s, parse_ratio(r)?),
        None => (rest, default_ratio),
    };
    table(name, size, ratio)
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a compression ratio"))?;
    if !(r > 0.0 && r <= 1.0) {
        return Err(format!("compression ratio {r} must be in (0, 1]"));
    }
    Ok(r)
}

fn table(name: &str, size: &str, ratio: f64) -> Result<TableSize, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a table needs a name".into());
    }
    Ok(TableSize {
        name: name.to_string(),
        bytes: rigel_common::host::parse_bytes(size)?,
        ratio,
    })
}

/// Parses the `--file` format.
pub fn parse_file(text: &str, default_ratio: f64) -> Result<Vec<TableSize>, String> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split(',').collect();
        let t = match parts.as_slice() {
            [name, size] => table(name, size, default_ratio),
            [name, size, ratio] => table(name, size, parse_ratio(ratio)?),
            _ => Err("expected name,raw_size[,compression_ratio]".to_string()),
        }
        .map_err(|e| format!("line {}: {e}", n + 1))?;
        out.push(t);
    }
    Ok(out)
}

async fn measure(args: &PlanArgs, from: &str) -> Result<Vec<TableSize>, String> {
    let (host, port) = match from.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("'{from}': bad port"))?,
        ),
        None => (from.to_string(), 9030),
    };
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(args.user.clone()))
        .pass(Some(args.password.clone()));
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| format!("cannot connect to {from}: {e}"))?;
    let mut sql = "SELECT table_schema, table_name, data_length FROM information_schema.tables \
                   WHERE table_type = 'BASE TABLE'"
        .to_string();
    if let Some(db) = &args.database {
        sql.push_str(&format!(" AND table_schema = '{}'", db.replace('\'', "''")));
    }
    let rows: Vec<(String, String, Option<u64>)> = conn
        .query(sql)
        .await
        .map_err(|e| format!("cannot read table sizes: {e}"))?;
    let _ = conn.disconnect().await;
    Ok(rows
        .into_iter()
        .map(|(db, t, bytes)| TableSize {
            name: format!("{db}.{t}"),
            bytes: bytes.unwrap_or(0),
            // Measured bytes are already compressed.
            ratio: 1.0,
        })
        .collect())
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The plan as a table for people.
pub fn render_table(p: &Plan, f: Factors) -> String {
    let w = p
        .tables
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{:<w$}  {:>14}  {:>14}  {:>14}\n",
        "TABLE", "RAW", "COMPRESSED", "STORAGE"
    );
    for t in &p.tables {
        out.push_str(&format!(
            "{:<w$}  {:>14}  {:>14}  {:>14}\n",
            t.name,
            gib(t.raw),
            gib(t.compressed),
            gib(t.storage)
        ));
    }
    out.push_str(&format!(
        "\nstorage = raw x compression x {} replicas x {} index overhead x {} growth = {}\n",
        f.replicas,
        f.index_overhead,
        f.growth,
        gib(p.storage)
    ));
    out.push_str(&format!(
        "backends:  {} x ({} cores, {} GiB memory, {} GiB data disk)\n",
        p.backends, p.backend_size.0, p.backend_size.1, p.backend_size.2
    ));
    out.push_str(&format!(
        "frontends: {} x ({} cores, {} GiB memory, {} GiB metadata disk)\n",
        p.frontends, p.frontend_size.0, p.frontend_size.1, p.frontend_size.2
    ));
    out
}

/// The plan as JSON.
pub fn render_json(p: &Plan, f: Factors) -> Value {
    json!({
        "factors": {
            "replicas": f.replicas,
            "index_overhead": f.index_overhead,
            "growth": f.growth,
        },
        "tables": p.tables.iter().map(|t| json!({
            "name": t.name,
            "raw_bytes": t.raw,
            "compressed_bytes": t.compressed,
            "storage_bytes": t.storage,
        })).collect::<Vec<_>>(),
        "storage_bytes": p.storage,
        "backends": {
            "count": p.backends,
            "cores": p.backend_size.0,
            "memory_gib": p.backend_size.1,
            "disk_gib": p.backend_size.2,
        },
        "frontends": {
            "count": p.frontends,
            "cores": p.frontend_size.0,
            "memory_gib": p.frontend_size.1,
            "disk_gib": p.frontend_size.2,
        },
    })
}

/// Runs `rigel plan`.
pub async fn run(args: PlanArgs) -> Result<(), String> {
    if !(args.compression > 0.0 && args.compression <= 1.0) {
        return Err(format!(
            "--compression {} must be in (0, 1]",
            args.compression
        ));
    }
    if args.replicas == 0 || args.index_overhead < 1.0 || args.growth < 1.0 {
        return Err(
            "--replicas must be at least 1, --index-overhead and --growth at least 1.0".into(),
        );
    }
    let mut tables = vec![];
    for t in &args.tables {
        tables.push(parse_table_flag(t, args.compression)?);
    }
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        tables.extend(parse_file(&text, args.compression)?);
    }
    if let Some(from) = &args.from {
        tables.extend(measure(&args, from).await?);
    }
    if tables.is_empty() {
        return Err("no tables: give --table, --file or --from".into());
    }
    let f = Factors {
        replicas: args.replicas,
        index_overhead: args.index_overhead,
        growth: args.growth,
    };
    let p = plan(&tables, f, args.tier, args.max_disk_fill);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render_json(&p, f)).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", render_table(&p, f));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Factors = Factors {
        replicas: 3,
        index_overhead: 1.2,
        growth: 1.5,
    };

    #[test]
    fn formula() {
        let t = parse_table_flag("orders=100G", 0.3).unwrap();
        let p = storage_of(&t, F);
        let expected = 100.0 * (1u64 << 30) as f64 * 0.3 * 3.0 * 1.2 * 1.5;
        assert_eq!(p.storage, expected.round() as u64);
        let t = parse_table_flag("events=2T:0.2", 0.3).unwrap();
        assert_eq!(t.bytes, 2 << 40);
        assert_eq!(t.ratio, 0.2);
    }

    #[test]
    fn node_counts() {
        // 10 TiB raw -> 16.2 TiB to provision; medium backends hold 1 TiB x 0.7.
        let t = vec![parse_table_flag("big=10T", 0.3).unwrap()];
        let p = plan(&t, F, Tier::Medium, 0.7);
        let usable = 1024.0 * (1u64 << 30) as f64 * 0.7;
        assert_eq!(p.backends, (p.storage as f64 / usable).ceil() as u64);
        assert_eq!(p.frontends, 3);
        // Small data still needs one backend per replica.
        let t = vec![parse_table_flag("small=1G", 0.3).unwrap()];
        assert_eq!(plan(&t, F, Tier::Medium, 0.7).backends, 3);
        let one = Factors { replicas: 1, ..F };
        let p = plan(&t, one, Tier::Small, 0.7);
        assert_eq!((p.backends, p.frontends), (1, 1));
    }

    #[test]
    fn bad_input() {
        assert!(parse_table_flag("nosize", 0.3).is_err());
        assert!(parse_table_flag("t=12Q", 0.3).is_err());
        assert!(parse_table_flag("t=1G:0", 0.3).is_err());
        assert!(parse_file("a,1G\nb\n", 0.3).unwrap_err().contains("line 2"));
        let ok = parse_file("# name,size\na,1G\nb,2G,0.5\n", 0.3).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].ratio, 0.5);
    }
}
