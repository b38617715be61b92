//! Compaction merges a tablet's rowsets without changing what queries see, keeps the
//! rowset count bounded under many small loads, and sweeping removes replaced files.

use mysql_async::prelude::*;

use crate::common::{TestServer, exec};

fn segment_files(dir: &std::path::Path) -> usize {
    walk(&dir.join("storage/data"))
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}

async fn answers(c: &mut mysql_async::Conn) -> (String, String, String, String) {
    let sql = "SELECT (SELECT CAST(count(*) AS CHAR) FROM d), \
               (SELECT CAST(sum(v) AS CHAR) FROM d), \
               (SELECT string_agg(concat(k, ':', v), ',' ORDER BY k) FROM u), \
               (SELECT string_agg(concat(k, ':', v), ',' ORDER BY k) FROM a)";
    c.query_first(sql).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_answers_and_bounds_rowsets() {
    let server = TestServer::start().await;
    let fe = std::sync::Arc::clone(&server.handle.as_ref().unwrap().frontend);
    let mut c = server.conn().await;
    // Rounds run when this test says.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
    )
    .await;
    exec(&mut c, "CREATE DATABASE cp").await;
    exec(&mut c, "USE cp").await;
    exec(
        &mut c,
        "CREATE TABLE d (k INT NOT NULL, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE u (k INT NOT NULL, v INT) UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE a (k INT NOT NULL, v BIGINT SUM) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    for i in 0..12 {
        for t in ["d", "u", "a"] {
            exec(
                &mut c,
                &format!("INSERT INTO {t} VALUES ({}, {i}), (100, {i})", i % 4),
            )
            .await;
        }
    }
    let before = answers(&mut c).await;
    assert_eq!(before.0, "24");
    assert_eq!(before.2, "0:8,1:9,2:10,3:11,100:11");
    assert_eq!(before.3, "0:12,1:15,2:18,3:21,100:66");
    let rowsets = |fe: &std::sync::Arc<rigel_frontend::Frontend>| {
        let fe = std::sync::Arc::clone(fe);
        async move {
            fe.tablet_infos()
                .await
                .unwrap()
                .iter()
                .map(|t| t.rowsets)
                .max()
                .unwrap()
        }
    };
    assert_eq!(rowsets(&fe).await, 12);
    fe.compaction_round().await.unwrap();
    assert_eq!(rowsets(&fe).await, 1);
    assert_eq!(answers(&mut c).await, before);
    // Compacted rows merged on disk: the UNIQUE and AGGREGATE tablets hold one row per key.
    let rows: u64 = fe
        .tablet_infos()
        .await
        .unwrap()
        .iter()
        .map(|t| t.rows)
        .sum();
    assert_eq!(rows, 24 + 5 + 5);
    // More loads and a DELETE after compaction, then another round.
    for i in 12..18 {
        exec(&mut c, &format!("INSERT INTO u VALUES ({}, {i})", i % 4)).await;
    }
    exec(&mut c, "DELETE FROM u WHERE k = 100").await;
    fe.compaction_round().await.unwrap();
    let u: String = c
        .query_first("SELECT string_agg(concat(k, ':', v), ',' ORDER BY k) FROM u")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u, "0:16,1:17,2:14,3:15");
    // Replaced files go once no query can need them.
    let files_before = segment_files(server.dir.path());
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"tablet_rowset_stale_sweep_time_sec\" = \"0\")",
    )
    .await;
    fe.compaction_round().await.unwrap();
    let files_after = segment_files(server.dir.path());
    assert!(files_after < files_before, "{files_after} < {files_before}");
    assert_eq!(files_after, 3, "one segment per tablet");
    assert_eq!(answers(&mut c).await.0, "24");
}

/// StarRocks' BE HTTP compaction API and `information_schema.be_compactions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_compaction_over_http() {
    let server = TestServer::start().await;
    let handle = server.handle.as_ref().unwrap();
    let fe = std::sync::Arc::clone(&handle.frontend);
    let be = handle
        .be_http_addr
        .expect("rigel server serves be_http_port")
        .port();
    let mut c = server.conn().await;
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
    )
    .await;
    exec(&mut c, "CREATE DATABASE mc").await;
    exec(&mut c, "USE mc").await;
    exec(
        &mut c,
        "CREATE TABLE t (k INT NOT NULL, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    for i in 0..3 {
        exec(&mut c, &format!("INSERT INTO t VALUES ({i}, {i})")).await;
    }
    let tablet = fe.tablet_infos().await.unwrap()[0].meta.tablet_id.0;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, auth: bool| {
        let mut req = http.request(method, format!("http://127.0.0.1:{be}{path}"));
        if auth {
            req = req.basic_auth("root", Some(""));
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let show = format!("/api/compaction/show?tablet_id={tablet}");
    let (status, body) = call(reqwest::Method::GET, show.clone(), true).await;
    assert_eq!((status, body["rowsets"].as_u64()), (200, Some(3)), "{body}");
    let compact = format!("/api/compact?tablet_id={tablet}&compaction_type=base");
    let (status, body) = call(reqwest::Method::POST, compact.clone(), false).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = call(reqwest::Method::POST, compact, true).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &serde_json::json!("Success")),
        "{body}"
    );
    assert_eq!(body["input_rowsets"], 3);
    let (_, body) = call(reqwest::Method::GET, show, true).await;
    assert_eq!(body["rowsets"], 1, "{body}");
    for (path, expected) in [
        (
            format!("/api/compact?tablet_id={tablet}&compaction_type=update"),
            400,
        ),
        ("/api/compact?compaction_type=base".to_string(), 400),
        (
            "/api/compact?tablet_id=x&compaction_type=base".to_string(),
            400,
        ),
        (
            "/api/compact?tablet_id=999999&compaction_type=base".to_string(),
            400,
        ),
    ] {
        let (status, body) = call(reqwest::Method::POST, path.clone(), true).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let n: i64 = c
        .query_first("SELECT count(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 3);
    let row: (i64, i64, f64) = c
        .query_first(
            "SELECT BE_ID, BASE_COMPACTION_CONCURRENCY, CANDIDATE_MAX_SCORE \
             FROM information_schema.be_compactions",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.0, row.1), (10001, 0));
}

/// A UNIQUE KEY table against an in-memory model: random batches of upserts (with repeated
/// keys inside a batch), DELETEs, compactions and restarts; after every step the table must
/// equal the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_table_matches_a_model_through_compaction_and_restarts() {
    use std::collections::BTreeMap;
    let mut server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
    )
    .await;
    exec(&mut c, "CREATE DATABASE model").await;
    exec(
        &mut c,
        "CREATE TABLE model.u (k INT NOT NULL, v INT, s VARCHAR(8)) UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 3",
    )
    .await;
    // A small deterministic generator (no dependency, same sequence every run).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut model: BTreeMap<i64, (i64, String)> = BTreeMap::new();
    for step in 0..60 {
        match next(10) {
            0..=5 => {
                let mut rows = vec![];
                for _ in 0..(1 + next(20)) {
                    let (k, v) = (next(50) as i64, next(1000) as i64);
                    let s = format!("s{}", next(5));
                    rows.push(format!("({k}, {v}, '{s}')"));
                    model.insert(k, (v, s));
                }
                exec(
                    &mut c,
                    &format!("INSERT INTO model.u VALUES {}", rows.join(", ")),
                )
                .await;
            }
            6 | 7 => {
                let (lo, hi) = (next(50) as i64, next(50) as i64);
                let (lo, hi) = (lo.min(hi), lo.max(hi).min(lo.min(hi) + 5));
                exec(
                    &mut c,
                    &format!("DELETE FROM model.u WHERE k BETWEEN {lo} AND {hi}"),
                )
                .await;
                model.retain(|k, _| *k < lo || *k > hi);
            }
            8 => {
                let fe = std::sync::Arc::clone(&server.handle.as_ref().unwrap().frontend);
                fe.compaction_round().await.unwrap();
            }
            _ => {
                drop(c);
                server.restart().await;
                c = server.conn().await;
                exec(
                    &mut c,
                    "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
                )
                .await;
            }
        }
        let rows: Vec<(i64, i64, String)> = c
            .query("SELECT k, v, s FROM model.u ORDER BY k")
            .await
            .unwrap();
        let expected: Vec<(i64, i64, String)> = model
            .iter()
            .map(|(k, (v, s))| (*k, *v, s.clone()))
            .collect();
        assert_eq!(rows, expected, "after step {step}");
    }
}

/// Past `tablet_max_versions` visible rowsets a write fails with a clear error; once
/// compaction catches up, writes go through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_past_tablet_max_versions_until_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.tablet_max_versions = 3;
    config.min_cumulative_compaction_num_singleton_deltas = 2;
    config.cumulative_compaction_check_interval_seconds = 0;
    let handle = rigel::start(config).await.unwrap();
    let mut c = crate::common::connect(handle.mysql_addr.port(), None).await;
    exec(&mut c, "CREATE DATABASE v").await;
    exec(
        &mut c,
        "CREATE TABLE v.t (k INT NOT NULL, n INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    for i in 0..3 {
        exec(&mut c, &format!("INSERT INTO v.t VALUES ({i}, {i})")).await;
    }
    let err = c
        .query_drop("INSERT INTO v.t VALUES (9, 9)")
        .await
        .expect_err("a fourth version is refused");
    assert_eq!(crate::common::errno(&err), 1041, "{err}");
    assert!(err.to_string().contains("too many versions"), "{err}");
    std::sync::Arc::clone(&handle.frontend)
        .compaction_round()
        .await
        .unwrap();
    exec(&mut c, "INSERT INTO v.t VALUES (9, 9)").await;
    let n: i64 = c
        .query_first("SELECT count(*) FROM v.t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 4, "the refused INSERT left nothing behind");
    drop(c);
    handle.shutdown().await;
}
