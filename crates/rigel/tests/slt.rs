//! sqllogictest files run over the MySQL protocol against an in-process `rigel server`,
//! then against a cluster of processes (one `rigel fe`, three `rigel be`).
//!
//! Every `tests/slt/**/*.slt` file gets a fresh database (`slt_<file>`) as its default
//! database. Errors are reported as `ERROR <errno> (<sqlstate>): <message>`, so files can
//! match codes with `statement error 1064`. NULL prints as `NULL`, the empty string as
//! `(empty)`. Run one file with `cargo test --test slt -- <name-substring>`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mysql_async::prelude::*;
use mysql_async::{Row, Value};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

#[path = "common/mod.rs"]
mod common;

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

impl From<mysql_async::Error> for SltError {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => {
                SltError(format!("ERROR {} ({}): {}", s.code, s.state, s.message))
            }
            other => SltError(other.to_string()),
        }
    }
}

struct Rigel {
    conn: mysql_async::Conn,
}

fn cell(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".to_string(),
        Value::Bytes(b) if b.is_empty() => "(empty)".to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

#[async_trait]
impl AsyncDB for Rigel {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let mut result = self.conn.query_iter(sql).await?;
        let columns = result.columns().map(|c| c.len()).unwrap_or(0);
        if columns == 0 {
            let affected = result.affected_rows();
            result.drop_result().await?;
            return Ok(DBOutput::StatementComplete(affected));
        }
        let rows: Vec<Row> = result.collect().await?;
        let rows = rows
            .into_iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| cell(r.as_ref(i).unwrap_or(&Value::NULL)))
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "rigel"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            slt_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "slt") {
            out.push(p);
        }
    }
}

async fn run_files(port: u16, root: &Path, files: &[PathBuf], on: &str) -> Vec<PathBuf> {
    let mut failures = vec![];
    for file in files {
        let name = file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace(['/', '.', '-'], "_");
        let db = format!("slt_{name}");
        let mut admin = common::connect(port, None).await;
        admin
            .query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .expect("drop db");
        admin
            .query_drop(format!("CREATE DATABASE {db}"))
            .await
            .expect("create db");
        let db_for_conn = db.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let db = db_for_conn.clone();
            async move {
                Ok::<_, SltError>(Rigel {
                    conn: common::connect(port, Some(&db)).await,
                })
            }
        });
        let started = std::time::Instant::now();
        match runner.run_file_async(file).await {
            Ok(()) => println!("ok   [{on}] {} ({:.1?})", file.display(), started.elapsed()),
            Err(e) => {
                println!("FAIL [{on}] {}\n{e}", file.display());
                failures.push(file.clone());
            }
        }
    }
    failures
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files = vec![];
    slt_files(&root, &mut files);
    files.retain(|f| {
        filter.is_empty()
            || filter
                .iter()
                .any(|s| f.to_string_lossy().contains(s.as_str()))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let failures = runtime.block_on(async move {
        // `rigel server`, in process.
        let server = common::TestServer::start().await;
        let mut failures = run_files(server.port(), &root, &files, "server").await;
        server.stop().await;
        // The same files on a cluster of processes: one `rigel fe`, three `rigel be`.
        let cluster = common::cluster::TestCluster::start(3).await;
        failures.extend(run_files(cluster.port(), &root, &files, "cluster").await);
        drop(cluster);
        failures
    });
    if !failures.is_empty() {
        eprintln!("{} slt file(s) failed", failures.len());
        std::process::exit(1);
    }
}
