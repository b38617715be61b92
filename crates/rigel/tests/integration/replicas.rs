//! Replicated tablets on 1 FE + 3 BEs: every tablet has `replication_num` replicas on
//! distinct backends, loads write them all and commit with a quorum, reads go to a complete
//! replica on a live backend, so a lost backend costs no query and no acknowledged row.

use mysql_async::prelude::Queryable;

use crate::common::cluster::TestCluster;
use crate::common::{errno, exec};

async fn count_and_sum(c: &mut mysql_async::Conn, table: &str) -> (i64, i64) {
    let row: (i64, Option<i64>) = c
        .query_first(format!("SELECT count(*), sum(k) FROM {table}"))
        .await
        .unwrap()
        .unwrap();
    (row.0, row.1.unwrap_or(0))
}

/// (tablet, backend, LstFailedVersion, State) of every replica of `table`.
async fn replicas(c: &mut mysql_async::Conn, table: &str) -> Vec<(u64, u64, i64, String)> {
    let rows: Vec<mysql_async::Row> = c.query(format!("SHOW TABLET FROM {table}")).await.unwrap();
    rows.iter()
        .map(|r| {
            let n = |name: &str| r.get::<String, _>(name).unwrap();
            (
                n("TabletId").parse().unwrap(),
                n("BackendId").parse().unwrap(),
                n("LstFailedVersion").parse().unwrap(),
                n("State"),
            )
        })
        .collect()
}

/// The tablet states `information_schema.tablet_health` reports for `table`.
async fn health(c: &mut mysql_async::Conn, table: &str) -> Vec<String> {
    let mut states: Vec<String> = c
        .query(format!(
            "SELECT state FROM information_schema.tablet_health WHERE table_name = '{table}'"
        ))
        .await
        .unwrap();
    states.sort();
    states.dedup();
    states
}

/// Rows `from..to` as `(k, 'v<k>')` VALUES.
fn values(from: i64, to: i64) -> String {
    (from..to)
        .map(|k| format!("({k}, 'v{k}')"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sum(from: i64, to: i64) -> i64 {
    (from..to).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_tables_lose_no_query_and_no_row_with_a_backend() {
    let mut cluster = TestCluster::start(3).await;
    let mut c = cluster.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    for (table, quorum) in [("r", "MAJORITY"), ("all_q", "ALL")] {
        exec(
            &mut c,
            &format!(
                "CREATE TABLE d.{table} (k BIGINT, v VARCHAR(20)) DUPLICATE KEY(k) \
                 DISTRIBUTED BY HASH(k) BUCKETS 6 \
                 PROPERTIES (\"replication_num\" = \"3\", \"write_quorum\" = \"{quorum}\")"
            ),
        )
        .await;
    }
    let warnings: Vec<mysql_async::Row> = c.query("SHOW WARNINGS").await.unwrap();
    assert!(warnings.is_empty(), "three backends hold three replicas");

    // Each of the 6 tablets has a replica on each of the 3 backends.
    let placed = replicas(&mut c, "d.r").await;
    assert_eq!(placed.len(), 18);
    let ids: Vec<u64> = cluster.backends().await.iter().map(|b| b.id).collect();
    for tablet in placed.iter().map(|r| r.0) {
        let mut on: Vec<u64> = placed
            .iter()
            .filter(|r| r.0 == tablet)
            .map(|r| r.1)
            .collect();
        on.sort_unstable();
        assert_eq!(on, ids, "tablet {tablet}");
    }
    assert!(placed.iter().all(|r| r.2 == -1 && r.3 == "NORMAL"));

    // INSERT, and a Stream Load coordinated by a backend: every replica gets the rows.
    exec(
        &mut c,
        &format!("INSERT INTO d.r VALUES {}", values(0, 300)),
    )
    .await;
    let file = cluster.dir.path().join("rows.csv");
    let csv: String = (300..500).map(|k| format!("{k},v{k}\n")).collect();
    std::fs::write(&file, csv).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/api/d/r/_stream_load",
        cluster.http_port()
    );
    let reply = crate::cluster_load::curl(&url, &file, &["column_separator:,"], "root:", true);
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(count_and_sum(&mut c, "d.r").await, (500, sum(0, 500)));
    let tablets: Vec<(u64, u64)> = c
        .query(
            "SELECT BE_ID, count(*) FROM information_schema.be_tablets \
             GROUP BY BE_ID ORDER BY BE_ID",
        )
        .await
        .unwrap();
    assert_eq!(tablets, ids.iter().map(|&id| (id, 12)).collect::<Vec<_>>());
    assert_eq!(health(&mut c, "r").await, vec!["HEALTHY"]);

    // SIGKILL one backend: once it is shown dead, every query still answers, from the
    // other replicas.
    let victim = cluster.backends[1].heartbeat_port;
    let victim_id = cluster
        .backends()
        .await
        .iter()
        .find(|b| b.heartbeat_port == victim)
        .map(|b| b.id)
        .unwrap();
    cluster.backends[1].kill9();
    cluster
        .wait_for(
            |b| b.iter().any(|x| x.heartbeat_port == victim && !x.alive),
            "the killed backend shown dead",
        )
        .await;
    for _ in 0..3 {
        assert_eq!(count_and_sum(&mut c, "d.r").await, (500, sum(0, 500)));
    }
    let filtered: (i64,) = c
        .query_first("SELECT count(*) FROM d.r WHERE k = 42")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(filtered, (1,));

    // A load commits on the majority; the dead backend's replicas lack its version.
    exec(
        &mut c,
        &format!("INSERT INTO d.r VALUES {}", values(500, 600)),
    )
    .await;
    assert_eq!(count_and_sum(&mut c, "d.r").await, (600, sum(0, 600)));
    let placed = replicas(&mut c, "d.r").await;
    let lagging: Vec<_> = placed.iter().filter(|r| r.2 != -1).collect();
    assert!(!lagging.is_empty());
    assert!(lagging.iter().all(|r| r.1 == victim_id), "{placed:?}");
    assert_eq!(health(&mut c, "r").await, vec!["REPLICA_MISSING"]);
    // ALL needs the dead backend: refused, and nothing of it is visible.
    let e = c
        .query_drop(format!("INSERT INTO d.all_q VALUES {}", values(0, 50)))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 5032, "{e}");
    assert_eq!(count_and_sum(&mut c, "d.all_q").await, (0, 0));

    // A second backend down: one replica of three cannot make a majority.
    cluster.backends[2].kill9();
    let last = cluster.backends[2].heartbeat_port;
    cluster
        .wait_for(
            |b| {
                b.iter().filter(|x| !x.alive).count() == 2
                    && b.iter().any(|x| x.heartbeat_port == last && !x.alive)
            },
            "two backends shown dead",
        )
        .await;
    let e = c
        .query_drop(format!("INSERT INTO d.r VALUES {}", values(600, 700)))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 5032, "{e}");
    // Reads still have a complete replica of every tablet.
    assert_eq!(count_and_sum(&mut c, "d.r").await, (600, sum(0, 600)));

    // Both back: answers unchanged; the replicas that missed a version are not read and
    // take no new rows until repaired, and loads commit again.
    cluster.restart_backend(1);
    cluster.restart_backend(2);
    cluster.wait_alive(3).await;
    assert_eq!(count_and_sum(&mut c, "d.r").await, (600, sum(0, 600)));
    assert_eq!(health(&mut c, "r").await, vec!["VERSION_INCOMPLETE"]);
    exec(
        &mut c,
        &format!("INSERT INTO d.r VALUES {}", values(600, 650)),
    )
    .await;
    assert_eq!(count_and_sum(&mut c, "d.r").await, (650, sum(0, 650)));
    let status: Vec<(u64, String)> = c
        .query("ADMIN SHOW REPLICA STATUS FROM d.r")
        .await
        .unwrap()
        .into_iter()
        .map(|r: mysql_async::Row| {
            (
                r.get::<String, _>("BackendId").unwrap().parse().unwrap(),
                r.get::<String, _>("Status").unwrap(),
            )
        })
        .collect();
    assert_eq!(status.len(), 18);
    for (backend, s) in &status {
        let expected = if *backend == victim_id {
            "VERSION_ERROR"
        } else {
            "OK"
        };
        assert_eq!(s, expected, "{status:?}");
    }
}
