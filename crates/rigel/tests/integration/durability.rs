//! Restarts and crashes: acknowledged data survives, unacknowledged data is all-or-nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::*;

use crate::common::{ServerProcess, TestServer, connect, errno, exec};

/// Dropped tables and partitions stay in the recycle bin across restarts and can be
/// recovered with their data; once `catalog_trash_expire_second` passes they are purged
/// for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recycle_bin_survives_restarts_and_expires() {
    let mut server = TestServer::start().await;
    {
        let mut c = server.conn().await;
        exec(&mut c, "CREATE DATABASE rb").await;
        exec(&mut c, "USE rb").await;
        exec(
            &mut c,
            "CREATE TABLE t (k INT, d DATE) DUPLICATE KEY(k)
             PARTITION BY RANGE(d) (PARTITION p1 VALUES LESS THAN ('2024-01-01'), PARTITION p2 VALUES LESS THAN ('2025-01-01'))
             DISTRIBUTED BY HASH(k) BUCKETS 2",
        )
        .await;
        exec(
            &mut c,
            "INSERT INTO t VALUES (1, '2023-05-01'), (2, '2024-05-01')",
        )
        .await;
        exec(
            &mut c,
            "CREATE TABLE gone (k INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2",
        )
        .await;
        exec(&mut c, "INSERT INTO gone VALUES (1), (2), (3)").await;
        exec(&mut c, "DROP TABLE gone").await;
        exec(&mut c, "ALTER TABLE t DROP PARTITION p1").await;
    }
    server.restart().await;
    let mut c = server.conn_db("rb").await;
    let bin: Vec<(String, String)> = c
        .query("SHOW CATALOG RECYCLE BIN")
        .await
        .unwrap()
        .into_iter()
        .map(|r: mysql_async::Row| (r.get(0).unwrap(), r.get(1).unwrap()))
        .collect();
    assert_eq!(
        bin,
        vec![
            ("Table".to_string(), "gone".to_string()),
            ("Partition".to_string(), "p1".to_string())
        ]
    );
    exec(&mut c, "RECOVER TABLE gone").await;
    exec(&mut c, "RECOVER PARTITION p1 FROM t").await;
    let n: i64 = c
        .query_first("SELECT count(*) FROM gone")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 3);
    let ks: Vec<i32> = c.query("SELECT k FROM t ORDER BY k").await.unwrap();
    assert_eq!(ks, vec![1, 2]);

    // With no grace period the background sweep purges what is dropped.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"catalog_trash_expire_second\" = \"0\")",
    )
    .await;
    exec(&mut c, "DROP TABLE gone").await;
    exec(&mut c, "ALTER TABLE t DROP PARTITION p1").await;
    let mut left = usize::MAX;
    for _ in 0..600 {
        let rows: Vec<mysql_async::Row> = c.query("SHOW CATALOG RECYCLE BIN").await.unwrap();
        left = rows.len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the recycle bin was not emptied");
    let e = c.query_drop("RECOVER TABLE gone").await.unwrap_err();
    assert_eq!(errno(&e), 1051);
    let e = c
        .query_drop("RECOVER PARTITION p1 FROM t")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1735);
    drop(c);
    // Purged for good: still gone after a restart, and the rest of the table is intact.
    server.restart().await;
    let mut c = server.conn_db("rb").await;
    let ks: Vec<i32> = c.query("SELECT k FROM t ORDER BY k").await.unwrap();
    assert_eq!(ks, vec![2]);
    let rows: Vec<mysql_async::Row> = c.query("SHOW CATALOG RECYCLE BIN").await.unwrap();
    assert!(rows.is_empty());
    server.stop().await;
}

/// `partition_live_number` keeps a RANGE-partitioned table's most recent partitions: the
/// background sweep moves older ones to the recycle bin; partitions for the future stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_live_number_retires_old_partitions() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE live").await;
    exec(&mut c, "USE live").await;
    exec(
        &mut c,
        "CREATE TABLE t (d DATE NOT NULL, n INT) DUPLICATE KEY(d)
         PARTITION BY RANGE(d) (
           PARTITION p2020 VALUES LESS THAN ('2021-01-01'),
           PARTITION p2021 VALUES LESS THAN ('2022-01-01'),
           PARTITION p2022 VALUES LESS THAN ('2023-01-01'),
           PARTITION p2023 VALUES LESS THAN ('2024-01-01'),
           PARTITION p9998 VALUES [('9998-01-01'), ('9999-01-01'))
         ) DISTRIBUTED BY HASH(d) BUCKETS 1
         PROPERTIES (\"partition_live_number\" = \"2\")",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO t VALUES ('2020-05-01', 1), ('2021-05-01', 2), ('2022-05-01', 3), \
         ('2023-05-01', 4), ('9998-05-01', 5)",
    )
    .await;
    let mut names: Vec<String> = vec![];
    for _ in 0..600 {
        names = c
            .query(
                "SELECT partition_name FROM information_schema.partitions \
                 WHERE table_schema = 'live' AND table_name = 't' ORDER BY partition_name",
            )
            .await
            .unwrap();
        if names.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(names, vec!["p2022", "p2023", "p9998"]);
    let ns: Vec<i32> = c.query("SELECT n FROM t ORDER BY n").await.unwrap();
    assert_eq!(ns, vec![3, 4, 5]);
    let bin: Vec<String> = c
        .query("SHOW CATALOG RECYCLE BIN")
        .await
        .unwrap()
        .into_iter()
        .map(|r: mysql_async::Row| r.get(1).unwrap())
        .collect();
    assert_eq!(bin, vec!["p2020", "p2021"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_schema_and_data() {
    let mut server = TestServer::start().await;
    {
        let mut c = server.conn().await;
        exec(&mut c, "CREATE DATABASE r").await;
        exec(&mut c, "USE r").await;
        exec(
            &mut c,
            "CREATE TABLE t (k INT, d DATE, v STRING) DUPLICATE KEY(k)
             PARTITION BY RANGE(d) (PARTITION p1 VALUES LESS THAN ('2024-01-01'), PARTITION p2 VALUES LESS THAN ('2025-01-01'))
             DISTRIBUTED BY HASH(k) BUCKETS 3",
        )
        .await;
        exec(
            &mut c,
            "INSERT INTO t VALUES (1, '2023-05-01', 'a'), (2, '2024-05-01', 'b')",
        )
        .await;
        exec(&mut c, "CREATE VIEW v AS SELECT k FROM t WHERE k > 1").await;
        exec(&mut c, "ALTER TABLE t ADD COLUMN extra INT DEFAULT '7'").await;
        exec(&mut c, "INSERT INTO t VALUES (3, '2024-06-01', 'c', 8)").await;
        exec(&mut c, "SET GLOBAL query_timeout = 77").await;
    }
    server.restart().await;
    let mut c = server.conn_db("r").await;
    let rows: Vec<(i32, String, String, i32)> = c
        .query("SELECT k, CAST(d AS VARCHAR), v, extra FROM t ORDER BY k")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, "2023-05-01".into(), "a".into(), 7),
            (2, "2024-05-01".into(), "b".into(), 7),
            (3, "2024-06-01".into(), "c".into(), 8)
        ]
    );
    let v: Vec<i32> = c.query("SELECT k FROM v ORDER BY k").await.unwrap();
    assert_eq!(v, vec![2, 3]);
    let timeout: i64 = c
        .query_first("SELECT @@query_timeout")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timeout, 77);
    // Drop and truncate survive a restart too.
    exec(&mut c, "TRUNCATE TABLE t PARTITION (p1)").await;
    exec(&mut c, "DROP VIEW v").await;
    drop(c);
    server.restart().await;
    let mut c = server.conn_db("r").await;
    let n: i64 = c
        .query_first("SELECT count(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 2);
    let tables: Vec<String> = c.query("SHOW TABLES").await.unwrap();
    assert_eq!(tables, vec!["t"]);
    // A DELETE (a rewrite of the tablets it touches) and a UNIQUE KEY table's merged rows
    // survive a restart.
    exec(&mut c, "DELETE FROM t WHERE v = 'c'").await;
    exec(
        &mut c,
        "CREATE TABLE u (k INT NOT NULL, v STRING) UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2",
    )
    .await;
    exec(&mut c, "INSERT INTO u VALUES (1, 'a'), (2, 'b')").await;
    exec(&mut c, "INSERT INTO u VALUES (1, 'z')").await;
    exec(&mut c, "DELETE FROM u WHERE k = 2").await;
    drop(c);
    server.restart().await;
    let mut c = server.conn_db("r").await;
    let ks: Vec<i32> = c.query("SELECT k FROM t ORDER BY k").await.unwrap();
    assert_eq!(ks, vec![2]);
    let u: Vec<(i32, String)> = c.query("SELECT k, v FROM u").await.unwrap();
    assert_eq!(u, vec![(1, "z".to_string())]);
    server.stop().await;
}

/// Rows per INSERT; they land in different partitions and buckets.
const ROWS_PER_INSERT: i64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_concurrent_inserts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = ServerProcess::spawn(dir.path());
        let mut c = connect(server.port, None).await;
        exec(&mut c, "CREATE DATABASE crash").await;
        exec(
            &mut c,
            "CREATE TABLE crash.t (writer INT, seq INT, part INT, payload STRING) DUPLICATE KEY(writer, seq)
             PARTITION BY RANGE(part) (PARTITION p0 VALUES LESS THAN ('1'), PARTITION p1 VALUES LESS THAN ('2'),
                                       PARTITION p2 VALUES LESS THAN MAXVALUE)
             DISTRIBUTED BY HASH(seq) BUCKETS 4",
        )
        .await;
        drop(c);
        server.kill9();
    }
    // writer -> acknowledged sequence numbers
    let acked: Arc<Mutex<BTreeMap<i64, Vec<i64>>>> = Arc::default();
    let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
    const WRITERS: i64 = 4;
    for round in 0..10u64 {
        let server = ServerProcess::spawn(dir.path());
        let port = server.port;
        let mut tasks = vec![];
        for writer in 0..WRITERS {
            let acked = Arc::clone(&acked);
            let start = *next_seq.entry(writer).or_insert(0);
            tasks.push(tokio::spawn(async move {
                let Ok(mut c) = mysql_async::Conn::new(
                    mysql_async::OptsBuilder::default()
                        .ip_or_hostname("127.0.0.1")
                        .tcp_port(port)
                        .user(Some("root"))
                        .db_name(Some("crash")),
                )
                .await
                else {
                    return start;
                };
                let mut seq = start;
                loop {
                    let sql = format!(
                        "INSERT INTO t VALUES ({writer}, {seq}, 0, 'x{seq}'), ({writer}, {seq}, 1, 'y'), ({writer}, {seq}, 2, 'z')"
                    );
                    match c.query_drop(sql).await {
                        Ok(()) => {
                            acked.lock().unwrap().entry(writer).or_default().push(seq);
                            seq += 1;
                        }
                        // The server was killed: the statement's fate is unknown.
                        Err(_) => return seq + 1,
                    }
                }
            }));
        }
        // Let the writers run a little, then pull the plug.
        tokio::time::sleep(Duration::from_millis(300 + 137 * (round % 5))).await;
        server.kill9();
        for (writer, t) in tasks.into_iter().enumerate() {
            let next = t.await.unwrap();
            next_seq.insert(writer as i64, next);
        }

        // Restart and check: every acknowledged INSERT is whole, others are all or nothing.
        let server = ServerProcess::spawn(dir.path());
        let mut c = connect(server.port, Some("crash")).await;
        let counts: Vec<(i64, i64, i64)> = c
            .query("SELECT writer, seq, count(*) FROM t GROUP BY writer, seq")
            .await
            .unwrap();
        let present: BTreeMap<(i64, i64), i64> =
            counts.into_iter().map(|(w, s, n)| ((w, s), n)).collect();
        for ((w, s), n) in &present {
            assert_eq!(
                *n, ROWS_PER_INSERT,
                "round {round}: insert ({w}, {s}) is partly visible ({n} rows)"
            );
        }
        for (w, seqs) in acked.lock().unwrap().iter() {
            for s in seqs {
                assert!(
                    present.contains_key(&(*w, *s)),
                    "round {round}: acknowledged insert ({w}, {s}) is missing"
                );
            }
        }
        drop(c);
        server.kill9();
    }
    let total: usize = acked.lock().unwrap().values().map(Vec::len).sum();
    assert!(total > 0, "no insert was acknowledged at all");
}
