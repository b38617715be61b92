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
            fe.backend()
                .tablet_infos()
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
        .backend()
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
