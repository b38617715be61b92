//! Stream Load on a cluster: the frontend redirects to the backends in turn, each backend
//! parses the body and routes the rows to the backends holding their tablets, the
//! frontend plans, creates partitions and commits.

use std::path::Path;
use std::process::Command;

use mysql_async::prelude::Queryable;

use crate::common::cluster::TestCluster;
use crate::common::exec;

/// `curl -T file` with `headers`, to `url`; the JSON reply. `follow` follows the
/// frontend's 307 with the credentials.
pub(crate) fn curl(
    url: &str,
    file: &Path,
    headers: &[&str],
    user: &str,
    follow: bool,
) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-u", user]);
    if follow {
        cmd.arg("--location-trusted");
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg("-T").arg(file).arg(url).output().expect("curl");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `curl -X method url` (with root's credentials when `auth`): the status and JSON body.
fn http(method: &str, url: &str, auth: bool) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-X", method, "-w", "\n%{http_code}"]);
    if auth {
        cmd.args(["-u", "root:"]);
    }
    let out = cmd.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("a status line");
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status.trim().parse().expect("a status"), body)
}

async fn count(c: &mut mysql_async::Conn, sql: &str) -> i64 {
    c.query_first::<i64, _>(sql).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_load_runs_on_the_backends() {
    let mut cluster = TestCluster::start(3).await;
    let mut c = cluster.conn().await;
    // Rowsets stay as the loads made them until the compaction the test asks for.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
    )
    .await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.t (k INT NOT NULL, v VARCHAR(10)) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 12",
    )
    .await;
    cluster
        .wait_for(
            |b| b.iter().all(|x| x.alive && x.tablets == 4),
            "four tablets each",
        )
        .await;
    let dir = cluster.dir.path().to_path_buf();
    let fe_url = format!(
        "http://127.0.0.1:{}/api/d/t/_stream_load",
        cluster.http_port()
    );

    // Through the frontend: its 307 picks the live backends in turn, and every load lands
    // rows in tablets of all three backends.
    let mut expected = 0i64;
    for round in 0..3 {
        let file = dir.join(format!("fe{round}.csv"));
        let rows: Vec<String> = (0..100)
            .map(|i| format!("{},r{round}", round * 1000 + i))
            .collect();
        std::fs::write(&file, rows.join("\n")).unwrap();
        let reply = curl(&fe_url, &file, &["column_separator:,"], "root:", true);
        assert_eq!(reply["Status"], "Success", "{reply}");
        assert_eq!(reply["NumberLoadedRows"], 100, "{reply}");
        expected += 100;
        assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, expected);
    }

    // Straight to each backend's port, as StarRocks users also do: the same answer.
    for (i, be) in cluster.backends.iter().enumerate() {
        let file = dir.join(format!("be{i}.csv"));
        let rows: Vec<String> = (0..50)
            .map(|j| format!("{},b{i}", 10_000 + i * 100 + j))
            .collect();
        std::fs::write(&file, rows.join("\n")).unwrap();
        let url = format!("http://127.0.0.1:{}/api/d/t/_stream_load", be.http_port);
        let label = format!("be_label_{i}");
        let reply = curl(
            &url,
            &file,
            &["column_separator:,", &format!("label:{label}")],
            "root:",
            false,
        );
        assert_eq!(reply["Status"], "Success", "{reply}");
        assert_eq!(reply["Label"], label.as_str());
        expected += 50;
        // The label is the frontend's to keep: a second load under it, on another
        // backend, is refused.
        let other = &cluster.backends[(i + 1) % cluster.backends.len()];
        let again = curl(
            &format!("http://127.0.0.1:{}/api/d/t/_stream_load", other.http_port),
            &file,
            &["column_separator:,", &format!("label:{label}")],
            "root:",
            false,
        );
        assert_eq!(again["Status"], "Label Already Exists", "{again}");
        assert_eq!(again["ExistingJobStatus"], "FINISHED", "{again}");
    }
    assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, expected);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM d.t WHERE v = 'b2'").await,
        50
    );

    // Rejected rows: the backend that ran the load serves the error log.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "1,ok\nnot_a_number,x\n2,ok\n").unwrap();
    let be0 = &cluster.backends[0];
    let reply = curl(
        &format!("http://127.0.0.1:{}/api/d/t/_stream_load", be0.http_port),
        &bad,
        &["column_separator:,", "max_filter_ratio:0.5"],
        "root:",
        false,
    );
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(reply["NumberLoadedRows"], 2);
    assert_eq!(reply["NumberFilteredRows"], 1);
    expected += 2;
    let url = reply["ErrorURL"].as_str().expect("ErrorURL").to_string();
    assert!(url.contains(&format!(":{}/", be0.http_port)), "{url}");
    let log = Command::new("curl").args(["-s", &url]).output().unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("not_a_number"), "{log}");
    // Too many: nothing of the load is visible.
    let reply = curl(
        &format!("http://127.0.0.1:{}/api/d/t/_stream_load", be0.http_port),
        &bad,
        &["column_separator:,"],
        "root:",
        false,
    );
    assert_eq!(reply["Status"], "Fail", "{reply}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, expected);

    // A wrong password is refused by the frontend, through the backend.
    let reply = curl(
        &format!("http://127.0.0.1:{}/api/d/t/_stream_load", be0.http_port),
        &bad,
        &["column_separator:,"],
        "root:wrong",
        false,
    );
    assert_eq!(reply["Status"], "Fail", "{reply}");
    assert!(
        reply["Message"]
            .as_str()
            .unwrap_or("")
            .contains("Access denied"),
        "{reply}"
    );

    // Columns mapping, an expression and a filter planned by the frontend, evaluated on
    // the backend.
    let mapped = dir.join("mapped.csv");
    std::fs::write(&mapped, "x1,5\nx2,6\nx3,7\n").unwrap();
    let reply = curl(
        &format!(
            "http://127.0.0.1:{}/api/d/t/_stream_load",
            cluster.backends[1].http_port
        ),
        &mapped,
        &[
            "column_separator:,",
            "columns: tag, n, k = n * 1000000, v = upper(tag)",
            "where: k > 5000000",
        ],
        "root:",
        false,
    );
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(reply["NumberLoadedRows"], 2, "{reply}");
    assert_eq!(reply["NumberUnselectedRows"], 1, "{reply}");
    let got: Vec<(i32, String)> = c
        .query("SELECT k, v FROM d.t WHERE k >= 5000000 ORDER BY k")
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![(6_000_000, "X2".into()), (7_000_000, "X3".into())]
    );

    // Expression partitioning: the frontend creates the partitions the rows need, the
    // backend routes the rows into them.
    exec(
        &mut c,
        "CREATE TABLE d.events (day DATE NOT NULL, n INT) DUPLICATE KEY(day) \
         PARTITION BY date_trunc('day', day) DISTRIBUTED BY HASH(n) BUCKETS 3",
    )
    .await;
    let events = dir.join("events.csv");
    std::fs::write(
        &events,
        "2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n2024-01-05,4\n",
    )
    .unwrap();
    let reply = curl(
        &format!(
            "http://127.0.0.1:{}/api/d/events/_stream_load",
            cluster.http_port()
        ),
        &events,
        &["column_separator:,"],
        "root:",
        true,
    );
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(reply["NumberLoadedRows"], 4, "{reply}");
    let parts: Vec<mysql_async::Row> = c.query("SHOW PARTITIONS FROM d.events").await.unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(count(&mut c, "SELECT sum(n) FROM d.events").await, 10);

    // SHOW LOAD lists the loads the backends ran, finished and cancelled.
    let jobs: Vec<(String, String)> = c
        .query("SELECT label, state FROM information_schema.loads WHERE database_name = 'd'")
        .await
        .unwrap();
    assert!(
        jobs.iter()
            .any(|(l, s)| l == "be_label_0" && s == "FINISHED"),
        "{jobs:?}"
    );
    assert!(jobs.iter().any(|(_, s)| s == "CANCELLED"), "{jobs:?}");

    // The administration APIs of a backend's HTTP port: the frontend checks the
    // credentials and builds the compaction, which runs on the backend holding the tablet
    // whichever backend was asked.
    let holder = &cluster.backends[1];
    let holder_id = cluster
        .backends()
        .await
        .into_iter()
        .find(|b| b.heartbeat_port == holder.heartbeat_port)
        .expect("in SHOW BACKENDS")
        .id;
    let tablets: Vec<mysql_async::Row> = c.query("SHOW TABLET FROM d.t").await.unwrap();
    let tablet: u64 = tablets
        .iter()
        .find(|r| r.get::<String, _>("BackendId").unwrap() == holder_id.to_string())
        .map(|r| r.get::<String, _>("TabletId").unwrap().parse().unwrap())
        .expect("a tablet on the backend");
    let rows_before = count(&mut c, "SELECT count(*) FROM d.t").await;
    let api = |port: u16, path: String| format!("http://127.0.0.1:{port}{path}");
    let show = api(
        holder.http_port,
        format!("/api/compaction/show?tablet_id={tablet}"),
    );
    let (status, body) = http("GET", &show, false);
    assert_eq!(status, 401, "{body}");
    let (status, body) = http("GET", &show, true);
    assert_eq!(status, 200, "{body}");
    let rowsets = body["rowsets"].as_u64().expect("rowsets");
    assert!(rowsets >= 2, "{body}");
    let elsewhere = &cluster.backends[0];
    let (status, body) = http(
        "GET",
        &api(
            elsewhere.http_port,
            format!("/api/compaction/show?tablet_id={tablet}"),
        ),
        true,
    );
    assert_eq!(status, 404, "the tablet is not on that backend: {body}");
    let compact = |kind: &str| {
        api(
            elsewhere.http_port,
            format!("/api/compact?tablet_id={tablet}&compaction_type={kind}"),
        )
    };
    let (status, body) = http("POST", &compact("base"), false);
    assert_eq!(status, 401, "{body}");
    let (status, body) = http("POST", &compact("update"), true);
    assert_eq!(status, 400, "{body}");
    let (status, body) = http("POST", &compact("base"), true);
    assert_eq!(
        (status, &body["status"]),
        (200, &serde_json::json!("Success")),
        "{body}"
    );
    assert_eq!(body["input_rowsets"].as_u64(), Some(rowsets), "{body}");
    let (_, body) = http("GET", &show, true);
    assert_eq!(body["rowsets"], 1, "{body}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, rows_before);

    // A backend holding some of the tablets is killed: a load that needs it fails with an
    // error naming it and leaves nothing visible; once it is back, the same load succeeds.
    let before = count(&mut c, "SELECT count(*) FROM d.t").await;
    cluster.backends[2].kill9();
    let wide = dir.join("wide.csv");
    let rows: Vec<String> = (0..200).map(|i| format!("{},w", 20_000 + i)).collect();
    std::fs::write(&wide, rows.join("\n")).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/api/d/t/_stream_load",
        cluster.backends[0].http_port
    );
    let reply = curl(
        &url,
        &wide,
        &["column_separator:,", "label:wide"],
        "root:",
        false,
    );
    assert_eq!(reply["Status"], "Fail", "{reply}");
    let dead = cluster.backends[2].heartbeat_port;
    let dead_id = cluster
        .backends()
        .await
        .into_iter()
        .find(|b| b.heartbeat_port == dead)
        .expect("the killed backend in SHOW BACKENDS")
        .id;
    let message = reply["Message"].as_str().unwrap_or("");
    assert!(
        message.contains(&format!("backend {dead_id}")),
        "the error names the backend: {reply}"
    );
    cluster.restart_backend(2);
    cluster.wait_alive(3).await;
    assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, before);
    // The failed load's label is free again.
    let reply = curl(
        &url,
        &wide,
        &["column_separator:,", "label:wide"],
        "root:",
        false,
    );
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM d.t").await,
        before + 200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_load_loses_nothing() {
    let mut cluster = TestCluster::start(3).await;
    let mut c = cluster.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.t (k INT NOT NULL, v VARCHAR(16)) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 12",
    )
    .await;
    let dir = cluster.dir.path().to_path_buf();
    let first = dir.join("first.csv");
    let rows: Vec<String> = (0..100).map(|i| format!("{i},committed")).collect();
    std::fs::write(&first, rows.join("\n")).unwrap();
    let be0 = format!(
        "http://127.0.0.1:{}/api/d/t/_stream_load",
        cluster.backends[0].http_port
    );
    let be1 = format!(
        "http://127.0.0.1:{}/api/d/t/_stream_load",
        cluster.backends[1].http_port
    );
    let reply = curl(&be0, &first, &["column_separator:,"], "root:", false);
    assert_eq!(reply["Status"], "Success", "{reply}");

    // A large body sent slowly to backend 0, so the load is still running when that
    // backend is SIGKILLed; its timeout is an hour, so only the death ends it.
    let big = dir.join("big.csv");
    let rows: Vec<String> = (0..1_500_000)
        .map(|i| format!("{},row{}", 1_000_000 + i, i % 1000))
        .collect();
    std::fs::write(&big, rows.join("\n")).unwrap();
    let mut slow = Command::new("curl")
        .args(["-s", "-u", "root:", "--limit-rate", "1M"])
        .args([
            "-H",
            "column_separator:,",
            "-H",
            "label:big",
            "-H",
            "timeout:3600",
        ])
        .arg("-T")
        .arg(&big)
        .arg(&be0)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("curl");
    // SHOW LOAD / information_schema.loads list a running Stream Load as LOADING.
    let mut state = String::new();
    for _ in 0..600 {
        let states: Vec<String> = c
            .query("SELECT state FROM information_schema.loads WHERE label = 'big'")
            .await
            .unwrap();
        state = states.into_iter().next().unwrap_or_default();
        if !state.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "LOADING", "the slow load is running");
    cluster.backends[0].kill9();
    let _ = slow.wait();

    // The frontend rolls the load back when it finds its backend dead (not after the
    // load's timeout): the label is free and the load is listed as cancelled.
    let mut cancelled = false;
    for _ in 0..120 {
        let jobs: Vec<String> = c
            .query("SELECT state FROM information_schema.loads WHERE label = 'big'")
            .await
            .unwrap();
        if jobs.iter().any(|s| s == "CANCELLED") {
            cancelled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(cancelled, "the load of the killed backend was rolled back");

    // Back up, every committed row is there and nothing of the killed load is.
    cluster.restart_backend(0);
    cluster.wait_alive(3).await;
    assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, 100);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM d.t WHERE v = 'committed'").await,
        100
    );
    // The label loads again.
    let again = dir.join("again.csv");
    let rows: Vec<String> = (0..1000)
        .map(|i| format!("{},again", 5_000_000 + i))
        .collect();
    std::fs::write(&again, rows.join("\n")).unwrap();
    let reply = curl(
        &be1,
        &again,
        &["column_separator:,", "label:big"],
        "root:",
        false,
    );
    assert_eq!(reply["Status"], "Success", "{reply}");
    assert_eq!(count(&mut c, "SELECT count(*) FROM d.t").await, 1100);
}
