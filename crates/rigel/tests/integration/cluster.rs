//! `rigel fe` + `rigel be` as separate processes: membership, placement, queries and loads
//! over the wire, a backend killed and restarted, the frontend restarted.

use std::process::Command;

use mysql_async::prelude::Queryable;

use crate::common::cluster::TestCluster;
use crate::common::{errno, exec};

/// EXPLAIN says where every stage of `plan` runs.
fn every_stage_placed(plan: &str) {
    for line in plan.lines().filter(|l| l.contains("[Stage ")) {
        let n = line
            .split("[Stage ")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or_default();
        assert!(
            plan.contains(&format!("Stage {n} tasks: ")),
            "no placement of stage {n}: {plan}"
        );
    }
}

async fn count_and_sum(c: &mut mysql_async::Conn, table: &str) -> (i64, i64) {
    let row: (i64, Option<i64>) = c
        .query_first(format!("SELECT count(*), sum(k) FROM {table}"))
        .await
        .unwrap()
        .unwrap();
    (row.0, row.1.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_frontend_three_backends() {
    let mut cluster = TestCluster::start(3).await;
    let mut c = cluster.conn().await;

    // Tablets of a 12-bucket table land on all three backends, four each.
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.t (k INT, v VARCHAR(20)) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 12",
    )
    .await;
    let values: Vec<String> = (1..=300).map(|i| format!("({i}, 'v{i}')")).collect();
    exec(
        &mut c,
        &format!("INSERT INTO d.t VALUES {}", values.join(", ")),
    )
    .await;
    assert_eq!(count_and_sum(&mut c, "d.t").await, (300, 45150));
    let b = cluster
        .wait_for(
            |b| b.len() == 3 && b.iter().all(|x| x.alive && x.tablets == 4),
            "four tablets on each backend",
        )
        .await;
    assert!(b.iter().all(|x| x.err_msg.is_empty()), "{b:?}");
    // The query runs in stages: the scan, filter and partial aggregate on each backend
    // holding tablets (one task each), the rest on the frontend.
    let plan: Vec<String> = c
        .query("EXPLAIN SELECT v, count(*) FROM d.t WHERE k > 10 GROUP BY v")
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("Distributed plan (stages)"), "{plan}");
    every_stage_placed(&plan);
    // The final aggregate reads no table: its stage runs on the live backends in turn.
    assert!(plan.contains("on the live backends in turn"), "{plan}");
    let placed = plan
        .lines()
        .find(|l| l.contains("tasks: t0->backend"))
        .unwrap_or_else(|| panic!("no task placement in {plan}"));
    for x in &b {
        assert!(placed.contains(&format!("backend {}", x.id)), "{placed}");
    }
    let filtered: Vec<(i64, i64)> = c
        .query("SELECT count(*), sum(k) FROM d.t WHERE k > 10")
        .await
        .unwrap();
    assert_eq!(filtered, vec![(290, 45150 - 55)]);
    // SHOW TABLET lists one replica per tablet with its backend; be_tablets gathers every
    // backend's tablets under its id.
    let rows: Vec<mysql_async::Row> = c.query("SHOW TABLET FROM d.t").await.unwrap();
    assert_eq!(rows.len(), 12);
    let mut on: Vec<u64> = rows
        .iter()
        .map(|r| r.get::<String, _>("BackendId").unwrap().parse().unwrap())
        .collect();
    on.sort_unstable();
    on.dedup();
    let ids: Vec<u64> = b.iter().map(|x| x.id).collect();
    assert_eq!(on, ids);
    assert!(
        rows.iter()
            .all(|r| r.get::<String, _>("State").unwrap() == "NORMAL")
    );
    let per_backend: Vec<(u64, i64)> = c
        .query(
            // d.t is the only table so far.
            "SELECT BE_ID, count(*) FROM information_schema.be_tablets \
             GROUP BY BE_ID ORDER BY BE_ID",
        )
        .await
        .unwrap();
    assert_eq!(
        per_backend,
        ids.iter().map(|&id| (id, 4)).collect::<Vec<_>>()
    );

    // Two one-tablet tables (on two backends: placement balances tablet counts) joined,
    // then broadcast to the spread table's stage: the task of the small join runs on one
    // backend and reads the other table's tablet from the backend holding it.
    for (table, n) in [("small", 20), ("tiny", 10)] {
        exec(
            &mut c,
            &format!(
                "CREATE TABLE d.{table} (k INT, name VARCHAR(10)) DUPLICATE KEY(k) \
                 DISTRIBUTED BY HASH(k) BUCKETS 1"
            ),
        )
        .await;
        let values: Vec<String> = (1..=n).map(|i| format!("({i}, 'n{i}')")).collect();
        exec(
            &mut c,
            &format!("INSERT INTO d.{table} VALUES {}", values.join(", ")),
        )
        .await;
    }
    let join = "SELECT count(*), sum(t.k) FROM d.t JOIN \
                (SELECT s.k FROM d.small s JOIN d.tiny y ON s.k = y.k WHERE s.name <> 'n1') j \
                ON t.k = j.k";
    let plan: Vec<String> = c.query(format!("EXPLAIN {join}")).await.unwrap();
    let plan = plan.join("\n");
    let holders: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("tablets=1,"))
        .filter_map(|l| l.split("backends=[").nth(1)?.split(':').next())
        .collect();
    assert!(
        holders.len() == 2 && holders[0] != holders[1],
        "the one-tablet tables are not on two backends: {plan}"
    );
    every_stage_placed(&plan);
    let joined: Vec<(i64, i64)> = c.query(join).await.unwrap();
    assert_eq!(joined, vec![(9, 54)], "{plan}");
    // A query of the one-tablet table alone runs on its backend too: two tasks there,
    // each reading a share of the tablet's parts (a second load makes two segment files),
    // not the frontend reading every row.
    exec(
        &mut c,
        "INSERT INTO d.small VALUES (21, 'n21'), (22, 'n22')",
    )
    .await;
    let alone = "SELECT count(*), sum(k) FROM d.small WHERE name <> 'n1'";
    let plan: Vec<String> = c.query(format!("EXPLAIN {alone}")).await.unwrap();
    let plan = plan.join("\n");
    let placed = plan
        .lines()
        .find(|l| l.contains("tasks: t0->backend"))
        .unwrap_or_else(|| panic!("no stage on a backend: {plan}"));
    let holder = plan
        .lines()
        .find_map(|l| l.split("backends=[").nth(1)?.split(':').next())
        .unwrap_or_else(|| panic!("no scan in {plan}"));
    assert!(
        placed.contains(&format!("t0->backend {holder}, t1->backend {holder}")),
        "{plan}"
    );
    let small: Vec<(i64, i64)> = c.query(alone).await.unwrap();
    assert_eq!(small, vec![(21, 209 + 43)]);

    // The frontend's metadata directory holds no segment files.
    let segments = walk(&cluster.meta_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert_eq!(segments, 0);

    // A Stream Load through the frontend, as the guide runs it.
    let csv = cluster.dir.path().join("rows.csv");
    std::fs::write(&csv, "301,a\n302,b\n303,c\n").unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "--location-trusted",
            "-u",
            "root:",
            "-H",
            "column_separator:,",
            "-T",
        ])
        .arg(&csv)
        .arg(format!(
            "http://127.0.0.1:{}/api/d/t/_stream_load",
            cluster.http_port()
        ))
        .output()
        .expect("curl");
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON reply");
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(reply["NumberLoadedRows"], 3);
    assert_eq!(count_and_sum(&mut c, "d.t").await, (303, 45150 + 906));

    // Garbage and truncated frames on every port of a backend: refused, and it keeps
    // serving.
    {
        use std::io::{Read, Write};
        let be = &cluster.backends[0];
        for port in [be.be_port, be.brpc_port, be.heartbeat_port] {
            for junk in [
                &b"GET / HTTP/1.1\r\n\r\n"[..],
                &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"[..],
                &[0xffu8; 64][..],
            ] {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let _ = s.write_all(junk);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let mut sink = vec![];
                let _ = s.read_to_end(&mut sink);
            }
        }
        assert_eq!(count_and_sum(&mut c, "d.t").await, (303, 45150 + 906));
        cluster.wait_alive(3).await;
    }

    // Membership errors.
    let first = cluster.backends[0].address();
    let e = c
        .query_drop(format!("ALTER SYSTEM ADD BACKEND \"{first}\""))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 5035);
    let e = c
        .query_drop(format!("ALTER SYSTEM DROP BACKEND \"{first}\""))
        .await
        .unwrap_err();
    assert_eq!(
        errno(&e),
        1210,
        "a backend holding the only copy of tablets stays"
    );
    let e = c
        .query_drop("ALTER SYSTEM ADD BACKEND \"no port\"")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1210);
    // An address where no backend listens: added, not alive, with the reason.
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    exec(
        &mut c,
        &format!("ALTER SYSTEM ADD BACKEND \"127.0.0.1:{nowhere}\""),
    )
    .await;
    let b = cluster.backends().await;
    let ghost = b
        .iter()
        .find(|x| x.heartbeat_port == nowhere)
        .expect("the added backend");
    assert!(!ghost.alive && !ghost.err_msg.is_empty(), "{ghost:?}");
    exec(
        &mut c,
        &format!("ALTER SYSTEM DROP BACKEND \"127.0.0.1:{nowhere}\""),
    )
    .await;
    assert_eq!(cluster.backends().await.len(), 3);

    // SIGKILL one backend: it is shown dead, queries on its tablets fail with the errno,
    // tables placed while it is down (on the others) work.
    let victim_port = cluster.backends[1].heartbeat_port;
    cluster.backends[1].kill9();
    let b = cluster
        .wait_for(
            |b| {
                b.iter()
                    .any(|x| x.heartbeat_port == victim_port && !x.alive)
            },
            "the killed backend shown dead",
        )
        .await;
    assert_eq!(b.iter().filter(|x| x.alive).count(), 2);
    let e = c.query_drop("SELECT count(*) FROM d.t").await.unwrap_err();
    assert_eq!(errno(&e), 5032, "{e}");
    let e = c
        .query_drop("INSERT INTO d.t VALUES (1000, 'x'), (1001, 'y'), (1002, 'z'), (1003, 'w')")
        .await;
    // Rows for the dead backend's tablets cannot be written; nothing becomes visible.
    assert!(e.is_err());
    exec(
        &mut c,
        "CREATE TABLE d.u (k INT) DISTRIBUTED BY HASH(k) BUCKETS 4",
    )
    .await;
    exec(&mut c, "INSERT INTO d.u VALUES (1), (2), (3), (4), (5)").await;
    assert_eq!(count_and_sum(&mut c, "d.u").await, (5, 15));

    // Restarted, it rejoins and every answer is what it was.
    cluster.restart_backend(1);
    cluster.wait_alive(3).await;
    assert_eq!(count_and_sum(&mut c, "d.t").await, (303, 45150 + 906));
    assert_eq!(count_and_sum(&mut c, "d.u").await, (5, 15));
    drop(c);

    // A frontend restart keeps the membership (it is in the journal).
    cluster.restart_fe();
    cluster.wait_alive(3).await;
    let mut c = cluster.conn().await;
    assert_eq!(count_and_sum(&mut c, "d.t").await, (303, 45150 + 906));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `rigel bench tpch --cluster 3` at SF0.01: the command starts 1 FE + 3 BE processes of
/// itself, loads through the frontend with Stream Load, runs the 22 queries over MySQL and
/// compares every answer with DataFusion's on the same files, then stops the cluster.
#[test]
fn tpch_on_a_cluster_matches_datafusion() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(crate::common::cluster::exe())
        .args(["bench", "tpch", "--cluster", "3", "--sf", "0.01"])
        .args(["--runs", "1", "--warmup", "0", "--verify", "datafusion"])
        .arg("--work-dir")
        .arg(work.path())
        .output()
        .expect("rigel bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("22/22 queries correct"),
        "some TPC-H answers differ from DataFusion's:\n{stdout}\n{stderr}"
    );
    // It ran on the cluster it started: the frontend's catalog and the three backends'
    // storage are under the work directory.
    let cluster = work.path().join("cluster");
    assert!(cluster.join("fe").join("meta").is_dir());
    for i in 0..3 {
        assert!(cluster.join(format!("be{i}")).is_dir());
    }
}

/// `starrocks_be_query_mem_bytes` of the backend serving HTTP on `port`: what the tasks
/// of queries running there hold.
async fn query_mem_bytes(port: u16) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix("starrocks_be_query_mem_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no starrocks_be_query_mem_bytes in\n{text}"))
}

/// What the backends' tasks hold, together.
async fn held(ports: &[u16]) -> f64 {
    let mut sum = 0.0;
    for &p in ports {
        sum += query_mem_bytes(p).await;
    }
    sum
}

/// Tasks of a stopped query give back what they held: at most a few kilobytes stay, in
/// the task cache of the backends' workers until its next upkeep.
const IDLE_BYTES: f64 = 1024.0 * 1024.0;
/// What the long query's tasks hold once they are well under way.
const WORKING_BYTES: f64 = 16.0 * 1024.0 * 1024.0;

/// Waits (bounded) until the backends' tasks hold no more than [`IDLE_BYTES`].
async fn backends_idle(ports: &[u16]) -> bool {
    for _ in 0..200 {
        if held(ports).await <= IDLE_BYTES {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// A query whose tasks on the backends work (and hold memory) for a long time.
const LONG_QUERY: &str = "SELECT count(DISTINCT a.k * 1000000000 + b.k * 1000000 + c.k * 1000 + e.k) \
                          FROM d.t a, d.t b, d.t c, d.t e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_timeout_stop_the_tasks_on_the_backends() {
    let cluster = TestCluster::start(2).await;
    let mut c = cluster.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.t (k INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 8",
    )
    .await;
    let values: Vec<String> = (1..=300).map(|i| format!("({i})")).collect();
    exec(
        &mut c,
        &format!("INSERT INTO d.t VALUES {}", values.join(", ")),
    )
    .await;
    let ports: Vec<u16> = cluster.backends.iter().map(|b| b.http_port).collect();

    // KILL QUERY from another session: the client gets 1317, and the tasks the query ran
    // on the backends stop and give their memory back.
    let mut victim = cluster.conn().await;
    let id = victim.id();
    let running = tokio::spawn(async move {
        let r = victim.query_drop(LONG_QUERY).await;
        (victim, r)
    });
    let mut working = false;
    for _ in 0..600 {
        if held(&ports).await > WORKING_BYTES {
            working = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        working,
        "the query's tasks never got to work on the backends"
    );
    exec(&mut c, &format!("KILL QUERY {id}")).await;
    let (mut victim, result) = running.await.unwrap();
    let e = result.expect_err("the killed query fails");
    assert_eq!(errno(&e), 1317, "{e}");
    assert!(backends_idle(&ports).await, "tasks kept running after KILL");

    // query_timeout does the same, and the session goes on.
    exec(&mut victim, "SET query_timeout = 1").await;
    for _ in 0..3 {
        let e = victim.query_drop(LONG_QUERY).await.unwrap_err();
        assert_eq!(errno(&e), 3024, "{e}");
    }
    assert!(
        backends_idle(&ports).await,
        "tasks kept running after query_timeout"
    );
    let n: i64 = victim
        .query_first("SELECT count(*) FROM d.t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 300);

    // query_mem_limit caps the tasks on the backends: a join whose build side is far
    // larger fails there with 1037, and the error crosses back with its errno.
    exec(
        &mut c,
        "CREATE TABLE d.big (k BIGINT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 8",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO d.big SELECT value FROM generate_series(1, 400000)",
    )
    .await;
    let join = "SELECT count(*) FROM d.big a JOIN d.big b ON a.k = b.k + 1";
    exec(&mut victim, "SET query_timeout = 300").await;
    exec(&mut victim, "SET query_mem_limit = 1048576").await;
    let e = victim.query_drop(join).await.unwrap_err();
    assert_eq!(errno(&e), 1037, "{e}");
    assert!(e.to_string().contains("query_mem_limit"), "{e}");
    exec(&mut victim, "SET query_mem_limit = 0").await;
    let n: i64 = victim.query_first(join).await.unwrap().unwrap();
    assert_eq!(n, 399_999);
}
