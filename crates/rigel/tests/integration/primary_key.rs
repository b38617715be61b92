//! PRIMARY KEY tables against an in-memory model: upserts, deletes, partial and conditional
//! updates through INSERT, UPDATE, DELETE and Stream Load, with compactions, restarts and
//! `kill -9` in between.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::*;
use serde_json::Value;

use crate::common::{ServerProcess, TestServer, connect, exec};

/// key -> (v, s)
type Model = BTreeMap<i64, (i64, Option<String>)>;

/// A small deterministic generator (the same sequence every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn stream_load(be: u16, table: &str, headers: &[(&str, &str)], body: String) -> Value {
    let mut req = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{be}/api/pk/{table}/_stream_load"))
        .basic_auth("root", Some(""))
        .header("column_separator", ",")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().json().await.unwrap()
}

async fn table_rows(c: &mut mysql_async::Conn) -> Vec<(i64, i64, Option<String>)> {
    c.query("SELECT k, v, s FROM pk.t ORDER BY k")
        .await
        .unwrap()
}

fn model_rows(model: &Model) -> Vec<(i64, i64, Option<String>)> {
    model
        .iter()
        .map(|(k, (v, s))| (*k, *v, s.clone()))
        .collect()
}

const DDL: &str = "CREATE TABLE pk.t (k BIGINT NOT NULL, v BIGINT NOT NULL, s VARCHAR(8))
    PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 3";

/// Random upserts (with keys repeated inside a statement), deletes through DELETE and
/// `__op`, UPDATEs, partial updates and conditional updates; compactions and restarts. After
/// every step the table equals the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_key_table_matches_a_model() {
    let mut server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE pk").await;
    exec(&mut c, DDL).await;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut model = Model::new();
    for step in 0..80 {
        let be = server
            .handle
            .as_ref()
            .unwrap()
            .be_http_addr
            .expect("rigel server serves be_http_port")
            .port();
        let what = rng.next(12);
        match what {
            0..=2 => {
                let mut rows = vec![];
                for _ in 0..(1 + rng.next(20)) {
                    let (k, v) = (rng.next(60) as i64, rng.next(1000) as i64);
                    let s = format!("s{}", rng.next(5));
                    rows.push(format!("({k}, {v}, '{s}')"));
                    model.insert(k, (v, Some(s)));
                }
                exec(
                    &mut c,
                    &format!("INSERT INTO pk.t VALUES {}", rows.join(", ")),
                )
                .await;
            }
            3 | 4 => {
                // Upserts and deletes in one body, in body order.
                let mut lines = vec![];
                for _ in 0..(1 + rng.next(30)) {
                    let k = rng.next(60) as i64;
                    if rng.next(3) == 0 {
                        lines.push(format!("1,{k},0,"));
                        model.remove(&k);
                    } else {
                        let v = rng.next(1000) as i64;
                        let s = format!("l{}", rng.next(3));
                        lines.push(format!("0,{k},{v},{s}"));
                        model.insert(k, (v, Some(s)));
                    }
                }
                let r =
                    stream_load(be, "t", &[("columns", "__op, k, v, s")], lines.join("\n")).await;
                assert_eq!(r["Status"], "Success", "step {step}: {r}");
            }
            5 => {
                let (lo, hi) = (rng.next(60) as i64, rng.next(60) as i64);
                let (lo, hi) = (lo.min(hi), lo.max(hi).min(lo.min(hi) + 8));
                exec(
                    &mut c,
                    &format!("DELETE FROM pk.t WHERE k BETWEEN {lo} AND {hi}"),
                )
                .await;
                model.retain(|k, _| *k < lo || *k > hi);
            }
            6 => {
                let m = rng.next(3) as i64;
                exec(
                    &mut c,
                    &format!("UPDATE pk.t SET v = v + 7, s = 'u' WHERE k % 3 = {m}"),
                )
                .await;
                for (k, (v, s)) in model.iter_mut() {
                    if k % 3 == m {
                        *v += 7;
                        *s = Some("u".to_string());
                    }
                }
            }
            7 => {
                // Partial update of v: existing keys keep s; new keys get NULL (no default).
                let mut lines = vec![];
                for _ in 0..(1 + rng.next(15)) {
                    let (k, v) = (rng.next(70) as i64, rng.next(1000) as i64);
                    lines.push(format!("{k},{v}"));
                    match model.get_mut(&k) {
                        Some(row) => row.0 = v,
                        None => {
                            model.insert(k, (v, None));
                        }
                    }
                }
                let r = stream_load(
                    be,
                    "t",
                    &[("columns", "k, v"), ("partial_update", "true")],
                    lines.join("\n"),
                )
                .await;
                assert_eq!(r["Status"], "Success", "step {step}: {r}");
            }
            8 => {
                // Conditional update: only rows whose v is not smaller apply.
                let mut lines = vec![];
                let mut keys_seen = std::collections::BTreeSet::new();
                for _ in 0..(1 + rng.next(15)) {
                    let (k, v) = (rng.next(60) as i64, rng.next(1000) as i64);
                    // One row per key: the condition compares with the stored row.
                    if !keys_seen.insert(k) {
                        continue;
                    }
                    lines.push(format!("{k},{v},c"));
                    match model.get(&k) {
                        Some((old, _)) if v < *old => {}
                        _ => {
                            model.insert(k, (v, Some("c".to_string())));
                        }
                    }
                }
                let r = stream_load(
                    be,
                    "t",
                    &[("columns", "k, v, s"), ("merge_condition", "v")],
                    lines.join("\n"),
                )
                .await;
                assert_eq!(r["Status"], "Success", "step {step}: {r}");
            }
            9 | 10 => {
                let fe = Arc::clone(&server.handle.as_ref().unwrap().frontend);
                fe.compaction_round().await.unwrap();
            }
            _ => {
                drop(c);
                server.restart().await;
                c = server.conn().await;
            }
        }
        assert_eq!(
            table_rows(&mut c).await,
            model_rows(&model),
            "after step {step} ({what})"
        );
        let n: i64 = c
            .query_first("SELECT count(*) FROM pk.t")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, model.len() as i64, "count(*) after step {step}");
    }
}

/// `enable_persistent_index`: a stop writes each PRIMARY KEY tablet's index
/// file, the next start reads it and adds what was written since, and a damaged file is
/// rebuilt from the key columns. Answers are the same either way; a table with the option
/// off has no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_index_survives_restarts_and_damage() {
    let mut server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE pi").await;
    exec(&mut c, "USE pi").await;
    exec(
        &mut c,
        "CREATE TABLE p (k BIGINT NOT NULL, v BIGINT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2
         PROPERTIES (\"enable_persistent_index\" = \"true\")",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE s (k VARCHAR(20) NOT NULL, v BIGINT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2
         PROPERTIES (\"enable_persistent_index\" = \"false\")",
    )
    .await;
    for t in ["p", "s"] {
        exec(
            &mut c,
            &format!("INSERT INTO {t} SELECT value, value * 1 FROM generate_series(1, 1000)"),
        )
        .await;
        exec(
            &mut c,
            &format!("INSERT INTO {t} SELECT value, -value FROM generate_series(1, 1000, 3)"),
        )
        .await;
    }
    drop(c);
    let index_files = |server: &TestServer| {
        let fe = Arc::clone(&server.handle.as_ref().unwrap().frontend);
        let dir = server.dir.path().join("storage").join("data");
        async move {
            let mut files = BTreeMap::new();
            for t in fe.tablet_infos().await.unwrap() {
                let id = t.meta.tablet_id.0;
                let path = dir
                    .join((id % 256).to_string())
                    .join(id.to_string())
                    .join("primary_index.bin");
                files.insert(id, (t.meta.persistent_index, path));
            }
            files
        }
    };
    // Sum and count of v, and v of a few keys.
    async fn answers(c: &mut mysql_async::Conn, t: &str) -> (i64, i64, Vec<i64>) {
        let (n, sum): (i64, i64) = c
            .query_first(format!("SELECT count(*), sum(v) FROM {t}"))
            .await
            .unwrap()
            .unwrap();
        let picks: Vec<i64> = c
            .query(format!(
                "SELECT v FROM {t} WHERE k IN ('1', '2', '999', '1000') ORDER BY k"
            ))
            .await
            .unwrap();
        (n, sum, picks)
    }
    server.restart().await;
    let files = index_files(&server).await;
    assert_eq!(files.len(), 4);
    for (persistent, path) in files.values() {
        assert_eq!(path.exists(), *persistent, "{}", path.display());
    }
    // Writes after the files were written, then a restart that reads them.
    let mut c = server.conn_db("pi").await;
    for t in ["p", "s"] {
        exec(&mut c, &format!("DELETE FROM {t} WHERE k = '2'")).await;
        exec(
            &mut c,
            &format!("INSERT INTO {t} VALUES ('1000', 7), ('1001', 8)"),
        )
        .await;
    }
    let expected = answers(&mut c, "p").await;
    assert_eq!(expected.0, 1000);
    assert_eq!(expected.2, vec![-1, 999, 7]);
    assert_eq!(answers(&mut c, "s").await.0, 1000);
    drop(c);
    server.restart().await;
    let mut c = server.conn_db("pi").await;
    assert_eq!(answers(&mut c, "p").await, expected);
    exec(&mut c, "INSERT INTO p VALUES (1, 5), (2, 6)").await;
    let expected = answers(&mut c, "p").await;
    assert_eq!(expected.2, vec![5, 6, 999, 7]);
    drop(c);
    // Damaged files: stop (which writes them), damage them, start.
    if let Some(h) = server.handle.take() {
        h.shutdown().await;
    }
    for (persistent, path) in files.values() {
        if *persistent {
            let mut data = std::fs::read(path).unwrap();
            let middle = data.len() / 2;
            data[middle] ^= 0xff;
            std::fs::write(path, &data).unwrap();
        }
    }
    server.handle = Some(
        rigel::start(crate::common::test_config(server.dir.path()))
            .await
            .unwrap(),
    );
    let mut c = server.conn_db("pi").await;
    exec(&mut c, "INSERT INTO p VALUES (3, 0)").await;
    let (n, sum, picks) = answers(&mut c, "p").await;
    assert_eq!((n, picks), (expected.0, expected.2));
    let old_v3: i64 = 3;
    assert_eq!(sum, expected.1 - old_v3);
    // Turning the option on later gives the table's tablets their files once their index
    // is built (here by a write).
    exec(
        &mut c,
        "ALTER TABLE s SET (\"enable_persistent_index\" = \"true\")",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO s SELECT value, value * 2 FROM generate_series(1, 20)",
    )
    .await;
    let s_before = answers(&mut c, "s").await;
    drop(c);
    server.restart().await;
    for (_, path) in index_files(&server).await.values() {
        assert!(path.exists(), "{}", path.display());
    }
    let mut c = server.conn_db("pi").await;
    assert_eq!(answers(&mut c, "s").await, s_before);
}

/// Queries running while one statement at a time rewrites every row never see a mix of
/// two statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_see_one_version_during_upserts() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE pk").await;
    exec(&mut c, DDL).await;
    const KEYS: i64 = 200;
    let all = |v: i64| {
        (0..KEYS)
            .map(|k| format!("({k}, {v}, 'x')"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    exec(&mut c, &format!("INSERT INTO pk.t VALUES {}", all(0))).await;
    let url = server.url(Some("pk"));
    let reader = tokio::spawn(async move {
        let mut r = mysql_async::Conn::from_url(url).await.unwrap();
        let mut seen = 0;
        for _ in 0..60 {
            let (n, lo, hi): (i64, i64, i64) = r
                .query_first("SELECT count(*), min(v), max(v) FROM t")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, KEYS, "a query saw {n} rows");
            assert_eq!(lo, hi, "a query saw two statements at once");
            seen = seen.max(hi);
        }
        seen
    });
    for v in 1..=30 {
        exec(&mut c, &format!("INSERT INTO pk.t VALUES {}", all(v))).await;
        if v % 10 == 0 {
            let fe = Arc::clone(&server.handle.as_ref().unwrap().frontend);
            fe.compaction_round().await.unwrap();
        }
    }
    reader.await.unwrap();
    let hi: i64 = c
        .query_first("SELECT max(v) FROM pk.t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hi, 30);
}

/// `kill -9` during upserts, deletes and compactions: after each restart every key holds
/// what its last acknowledged statement left, or what the one statement in flight would
/// have left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_upserts_deletes_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = ServerProcess::spawn(dir.path());
        let mut c = connect(server.port, None).await;
        exec(&mut c, "CREATE DATABASE pk").await;
        exec(&mut c, DDL).await;
        drop(c);
        server.kill9();
    }
    const WRITERS: i64 = 3;
    const KEYS_PER_WRITER: i64 = 8;
    // Per writer: the acknowledged state of its keys, and the statement in flight at the
    // kill (its effect may or may not be there).
    type State = BTreeMap<i64, i64>;
    let acked: Arc<Mutex<BTreeMap<i64, State>>> = Arc::default();
    let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
    for round in 0..6u64 {
        let server = ServerProcess::spawn(dir.path());
        let port = server.port;
        {
            let mut c = connect(port, None).await;
            exec(
                &mut c,
                "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"1\")",
            )
            .await;
            exec(
                &mut c,
                "ADMIN SET FRONTEND CONFIG (\"min_cumulative_compaction_num_singleton_deltas\" = \"2\")",
            )
            .await;
        }
        let mut tasks = vec![];
        for writer in 0..WRITERS {
            let acked = Arc::clone(&acked);
            let start = *next_seq.entry(writer).or_insert(1);
            tasks.push(tokio::spawn(async move {
                let Ok(mut c) = connect_maybe(port).await else {
                    return (start, None);
                };
                let mut seq = start;
                loop {
                    let key = writer * 100 + seq % KEYS_PER_WRITER;
                    let (sql, effect) = if seq % 4 == 0 {
                        (format!("DELETE FROM t WHERE k = {key}"), None)
                    } else {
                        (
                            format!("INSERT INTO t VALUES ({key}, {seq}, 'w{writer}')"),
                            Some(seq),
                        )
                    };
                    match c.query_drop(sql).await {
                        Ok(()) => {
                            let mut a = acked.lock().unwrap();
                            let state = a.entry(writer).or_default();
                            match effect {
                                Some(v) => state.insert(key, v),
                                None => state.remove(&key),
                            };
                            seq += 1;
                        }
                        // Killed: the statement's fate is unknown.
                        Err(_) => return (seq + 1, Some((key, effect))),
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(700 + 211 * (round % 4))).await;
        server.kill9();
        let mut in_flight = BTreeMap::new();
        for (writer, t) in tasks.into_iter().enumerate() {
            let (next, pending) = t.await.unwrap();
            next_seq.insert(writer as i64, next);
            if let Some(p) = pending {
                in_flight.insert(writer as i64, p);
            }
        }

        let server = ServerProcess::spawn(dir.path());
        let mut c = connect(server.port, Some("pk")).await;
        let rows: Vec<(i64, i64)> = c.query("SELECT k, v FROM t ORDER BY k").await.unwrap();
        let table: BTreeMap<i64, i64> = rows.into_iter().collect();
        let mut a = acked.lock().unwrap();
        for writer in 0..WRITERS {
            let state = a.entry(writer).or_default();
            let mine: State = table
                .iter()
                .filter(|(k, _)| **k / 100 == writer)
                .map(|(k, v)| (*k, *v))
                .collect();
            if mine == *state {
                continue;
            }
            // Only the statement in flight may explain a difference; it then committed.
            let Some((key, effect)) = in_flight.get(&writer) else {
                panic!("round {round}: writer {writer}: table {mine:?} != acknowledged {state:?}");
            };
            let mut applied = state.clone();
            match effect {
                Some(v) => applied.insert(*key, *v),
                None => applied.remove(key),
            };
            assert_eq!(
                mine, applied,
                "round {round}: writer {writer}: neither the acknowledged state nor it plus the statement in flight"
            );
            *state = applied;
        }
        drop(a);
        drop(c);
        server.kill9();
    }
    let total: usize = acked.lock().unwrap().values().map(BTreeMap::len).sum();
    assert!(total > 0, "nothing was acknowledged");
}

async fn connect_maybe(port: u16) -> Result<mysql_async::Conn, mysql_async::Error> {
    mysql_async::Conn::new(
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("root"))
            .db_name(Some("pk")),
    )
    .await
}
