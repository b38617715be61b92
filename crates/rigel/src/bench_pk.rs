//! `rigel bench pk`: a PRIMARY KEY table under Stream Load upserts and point lookups.
//!
//! 1. Generates a CSV of `--rows` rows (keys 0..rows, shuffled) once.
//! 2. Loads it into an empty PRIMARY KEY table (inserts), then loads a second file with
//!    new values for every key (upserts: each row replaces a row), and checks count and sum.
//! 3. Runs point lookups by primary key from `--clients` connections at once and reports
//!    latency percentiles.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use mysql_async::prelude::Queryable;
use serde_json::json;

use crate::bench::{Connected, Endpoint, stream_load};

/// `rigel bench pk` options.
#[derive(Args, Debug, Clone)]
pub struct PkArgs {
    /// Rows in the table.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Buckets of the table.
    #[arg(long, default_value_t = 8)]
    pub buckets: u32,
    /// Concurrent connections running point lookups.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Point lookups in total (after as many untimed ones per client as `--warmup`).
    #[arg(long, default_value_t = 50_000)]
    pub lookups: usize,
    /// Untimed lookups per client first.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Lookups per second offered by all clients together (each sends on a fixed
    /// schedule; latency counts from the scheduled time, so a slow server cannot hide
    /// its queueing). 0: every client sends its next lookup as soon as the last returns.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Where the generated files (and the embedded server's data) go.
    #[arg(long, default_value = "./rigel-bench-data")]
    pub work_dir: PathBuf,
    /// The server.
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Database.
    #[arg(long, default_value = "bench_pk")]
    pub database: String,
    /// Reuse the table a previous run loaded (only the lookups run).
    #[arg(long)]
    pub skip_load: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The value columns of key `k` in round `round`: `v1` is `k * 3 + round`.
fn write_rows(path: &Path, rows: u64, round: u64) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    // Keys in a scrambled order (a bijection of 0..rows), as CDC streams deliver them.
    let stride = (rows / 2 + 1..).find(|s| gcd(*s, rows) == 1).unwrap_or(1);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ round);
    for i in 0..rows {
        let k = (i * stride + round * 7) % rows;
        let r = rng.next();
        writeln!(
            out,
            "{k}\t{}\t{:.3}\tname-{:06}\t2024-{:02}-{:02}",
            k * 3 + round,
            (r % 100_000) as f64 / 7.0,
            r % 1_000_000,
            1 + (r >> 20) % 12,
            1 + (r >> 30) % 28,
        )?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs the benchmark; `Ok(false)` when the table did not end up as loaded.
pub async fn run(args: PkArgs) -> Result<bool, String> {
    let say = |s: String| {
        if !args.json {
            println!("{s}");
        }
    };
    let files: Vec<PathBuf> = (0..2)
        .map(|round| args.work_dir.join(format!("pk-{}-{round}.tsv", args.rows)))
        .collect();
    for (round, f) in files.iter().enumerate() {
        if !f.exists() && !args.skip_load {
            let started = Instant::now();
            let (path, rows) = (f.clone(), args.rows);
            tokio::task::spawn_blocking(move || write_rows(&path, rows, round as u64))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{}: {e}", f.display()))?;
            say(format!(
                "data: {} ({:.1}s)",
                f.display(),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let Connected {
        server,
        host,
        port,
        http_port,
        mut conn,
    } = args.endpoint.connect(&args.work_dir, &say).await?;
    let db = &args.database;
    let setup = if args.skip_load {
        vec![]
    } else {
        vec![
            format!("CREATE DATABASE IF NOT EXISTS {db}"),
            format!("DROP TABLE IF EXISTS {db}.t"),
            format!(
                "CREATE TABLE {db}.t (id BIGINT NOT NULL, v1 BIGINT NOT NULL, v2 DOUBLE, name VARCHAR(32), day DATE) \
             PRIMARY KEY (id) DISTRIBUTED BY HASH (id) BUCKETS {}",
                args.buckets
            ),
        ]
    };
    for sql in setup {
        conn.query_drop(&sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut loads = vec![];
    for (round, file) in files.iter().enumerate().filter(|_| !args.skip_load) {
        let started = Instant::now();
        let reply = stream_load(
            &client,
            &args.endpoint,
            (&host, http_port),
            (db, "t"),
            file,
            &[],
        )
        .await?;
        let secs = started.elapsed().as_secs_f64();
        let rows = reply["NumberLoadedRows"].as_u64().unwrap_or(0);
        let kind = if round == 0 { "insert" } else { "upsert" };
        say(format!(
            "{kind}: {rows} rows in {secs:.2}s = {:.0} rows/s",
            rows as f64 / secs
        ));
        loads.push((kind, rows, secs));
    }
    // Every key once, with the values of the last load.
    let (count, sum): (u64, String) = conn
        .query_first(format!(
            "SELECT count(*), CAST(sum(v1) AS STRING) FROM {db}.t"
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no answer to count(*)")?;
    let n = u128::from(args.rows);
    let expected_sum = 3 * n * n.saturating_sub(1) / 2 + n;
    let correct = count == args.rows && sum == expected_sum.to_string();
    say(format!(
        "check: count {count} (expected {}), sum(v1) {sum} (expected {expected_sum}): {}",
        args.rows,
        if correct { "ok" } else { "WRONG" }
    ));

    // Point lookups from many connections.
    let opts = args.endpoint.opts(&host, port).db_name(Some(db.clone()));
    let per_client = args.lookups.div_ceil(args.clients.max(1));
    let wrong = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for c in 0..args.clients {
        let (opts, wrong) = (opts.clone(), Arc::clone(&wrong));
        let (rows, warmup) = (args.rows, args.warmup);
        // Open loop: client c sends at start + offset + i * interval.
        let interval = (args.rate > 0)
            .then(|| std::time::Duration::from_secs_f64(args.clients as f64 / args.rate as f64));
        let offset = interval.map(|i| i.mul_f64(c as f64 / args.clients.max(1) as f64));
        tasks.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts)
                .await
                .map_err(|e| e.to_string())?;
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (c as u64 + 1));
            let mut mine = Vec::with_capacity(per_client);
            let start = tokio::time::Instant::now();
            for i in 0..warmup + per_client {
                let k = rng.next() % rows.max(1);
                let t = match (interval, offset) {
                    (Some(every), Some(offset)) => {
                        let at = start + offset + every.mul_f64(i as f64);
                        tokio::time::sleep_until(at).await;
                        at.into_std()
                    }
                    _ => Instant::now(),
                };
                let v: Option<u64> = conn
                    .query_first(format!("SELECT v1 FROM t WHERE id = {k}"))
                    .await
                    .map_err(|e| e.to_string())?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if v != Some(k * 3 + 1) {
                    wrong.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if i >= warmup {
                    mine.push(ms);
                }
            }
            Ok::<Vec<f64>, String>(mine)
        }));
    }
    let mut lat = Vec::with_capacity(args.lookups);
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let wall = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    let wrong = wrong.load(std::sync::atomic::Ordering::Relaxed);
    let (p50, p95, p99) = (
        percentile(&lat, 0.50),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
    );
    let max = lat.last().copied().unwrap_or(0.0);
    let qps = (lat.len() + args.clients * args.warmup) as f64 / wall;
    say(format!(
        "point lookups: {} from {} clients (offered {}), {qps:.0}/s; p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; wrong answers {wrong}",
        lat.len(),
        args.clients,
        if args.rate > 0 {
            format!("{}/s", args.rate)
        } else {
            "closed loop".to_string()
        }
    ));
    drop(conn);
    if let Some(h) = server {
        h.shutdown().await;
    }
    if args.json {
        let doc = json!({
            "rows": args.rows,
            "buckets": args.buckets,
            "loads": loads.iter().map(|(kind, rows, secs)| json!({
                "kind": kind, "rows": rows, "seconds": secs,
                "rows_per_second": *rows as f64 / secs.max(1e-9),
            })).collect::<Vec<_>>(),
            "check": correct,
            "lookups": {
                "clients": args.clients, "offered_rate": args.rate, "count": lat.len(), "qps": qps,
                "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": max,
                "wrong": wrong,
            },
        });
        println!("{doc:#}");
    }
    Ok(correct && wrong == 0)
}
