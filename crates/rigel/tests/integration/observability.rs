//! Metrics, health, query control, memory limits, system views, logs, doctor and plan —
//! against a real server with real clients.

use std::process::Command;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::common::{ServerProcess, TestServer, connect, errno, exec};

/// One scrape, parsed with a Prometheus text-format parser.
struct Scrape {
    text: String,
    samples: Vec<prometheus_parse::Sample>,
}

impl Scrape {
    async fn get(port: u16) -> Self {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .expect("scrape")
            .error_for_status()
            .expect("200")
            .text()
            .await
            .expect("body");
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
        Self {
            text,
            samples: parsed.samples,
        }
    }

    /// The value of a sample with these labels (all of them must match).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let sample = self
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{}", self.text));
        match &sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Summary(s) => s
                .iter()
                .find(|q| {
                    labels
                        .iter()
                        .any(|(k, v)| *k == "quantile" && q.quantile.to_string() == *v)
                })
                .map_or(f64::NAN, |q| q.count),
            other => panic!("unexpected value {other:?}"),
        }
    }

    fn names(&self) -> Vec<&str> {
        self.samples.iter().map(|s| s.metric.as_str()).collect()
    }
}

/// `promtool check metrics` over a scrape, when promtool is installed (CI installs it and
/// sets RIGEL_REQUIRE_PROMTOOL so it cannot be skipped there).
fn promtool_check(text: &str) {
    let available = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("RIGEL_REQUIRE_PROMTOOL").is_none(),
            "promtool is required (Debian package prometheus)"
        );
        eprintln!("promtool not installed: skipping `promtool check metrics`");
        return;
    }
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool finishes");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 0: clean; 3: only lint findings; 1: the exposition does not parse. StarRocks'
    // names break Prometheus' naming conventions (counters without `_total`, `_ms`), and
    // compatibility keeps them: those lints, and only those, are expected.
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            for line in report.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    line.contains("counter metrics should have \"_total\" suffix")
                        || line.contains("non-counter metrics should not have \"_total\" suffix")
                        || line.contains("metric names should not contain abbreviated units"),
                    "unexpected promtool finding: {line}\n{report}"
                );
            }
        }
        _ => panic!("promtool check metrics failed:\n{report}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_queries_loads_and_failures() {
    let server = TestServer::start().await;
    let h = server.handle.as_ref().unwrap();
    let (fe, be) = (
        h.http_addr.port(),
        h.be_http_addr
            .expect("rigel server serves be_http_port")
            .port(),
    );
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE m").await;
    exec(
        &mut c,
        "CREATE TABLE m.t (k INT, v VARCHAR(20)) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2",
    )
    .await;
    let fe0 = Scrape::get(fe).await;
    let be0 = Scrape::get(be).await;
    exec(&mut c, "INSERT INTO m.t VALUES (1,'a'),(2,'b'),(3,'c')").await;
    for _ in 0..5 {
        // A filter makes the scan read the segments (a bare count(*) is answered from
        // metadata).
        let n: Option<i64> = c
            .query_first("SELECT count(*) FROM m.t WHERE v <> 'zzz'")
            .await
            .unwrap();
        assert_eq!(n, Some(3));
    }
    let failed = c.query_drop("SELECT nope FROM m.t").await.unwrap_err();
    assert_eq!(errno(&failed), 1054);
    let fe1 = Scrape::get(fe).await;
    let be1 = Scrape::get(be).await;

    let delta = |a: &Scrape, b: &Scrape, name: &str| b.value(name, &[]) - a.value(name, &[]);
    assert!(delta(&fe0, &fe1, "starrocks_fe_query_total") >= 6.0);
    assert!(delta(&fe0, &fe1, "starrocks_fe_query_err") >= 1.0);
    assert!(delta(&fe0, &fe1, "starrocks_fe_query_success") >= 5.0);
    assert!(delta(&fe0, &fe1, "starrocks_fe_request_total") >= 7.0);
    assert!(delta(&fe0, &fe1, "starrocks_fe_txn_success") >= 1.0);
    assert!(delta(&fe0, &fe1, "starrocks_fe_query_latency_ms_count") >= 6.0);
    assert!(fe1.value("starrocks_fe_qps", &[]) > 0.0);
    assert!(fe1.value("starrocks_fe_query_err_rate", &[]) > 0.0);
    assert!(fe1.value("starrocks_fe_connection_total", &[]) >= 1.0);
    assert_eq!(
        fe1.value("node_info", &[("type", "be_node_num"), ("state", "alive")]),
        1.0
    );
    for q in ["0.75", "0.95", "0.98", "0.99", "0.999"] {
        assert!(
            fe1.text.contains(&format!(
                "starrocks_fe_query_latency_ms{{quantile=\"{q}\"}}"
            )),
            "quantile {q} missing"
        );
    }
    assert!(delta(&be0, &be1, "starrocks_be_load_rows") >= 3.0);
    assert!(delta(&be0, &be1, "starrocks_be_query_scan_rows") >= 15.0);
    let path = server.dir.path().join("storage").canonicalize().unwrap();
    let path = path.to_string_lossy();
    let labels = [("path", path.as_ref())];
    assert!(be1.value("starrocks_be_disks_total_capacity", &labels) > 0.0);
    assert!(be1.value("starrocks_be_disks_avail_capacity", &labels) > 0.0);
    assert!(be1.value("starrocks_be_disks_data_used_capacity", &labels) > 0.0);
    let used = be1.value("starrocks_be_disk_usage_percent", &labels);
    assert!((0.0..=100.0).contains(&used));
    assert!(be1.value("starrocks_be_process_mem_bytes", &[]) > 0.0);
    assert!(be1.value("starrocks_be_process_mem_limit_bytes", &[]) > 0.0);
    assert!(be1.value("starrocks_be_memory_usage_percent", &[]) > 0.0);
    assert_eq!(be1.value("starrocks_be_tablet_num", &[]), 2.0);
    // Each role serves its own families.
    assert!(fe1.names().iter().all(|n| !n.starts_with("starrocks_be_")));
    assert!(be1.names().iter().all(|n| !n.starts_with("starrocks_fe_")));
    promtool_check(&fe1.text);
    promtool_check(&be1.text);

    // Every metric the shipped alert rules and dashboard use is served.
    let monitoring = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../monitoring");
    let mut used = String::new();
    for f in ["alerts.yml", "grafana-dashboard.json"] {
        used.push_str(&std::fs::read_to_string(monitoring.join(f)).expect("monitoring file"));
    }
    let served: Vec<&str> = fe1.names().into_iter().chain(be1.names()).collect();
    let mut rest = used.as_str();
    while let Some(at) = rest.find("starrocks_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            served
                .iter()
                .any(|s| *s == name || s.starts_with(&format!("{name}_"))),
            "monitoring/ uses {name}, which /metrics does not serve"
        );
        rest = &rest[at + name.len()..];
    }

    // Bad query parameters are refused with a JSON reason.
    let r = reqwest::get(format!("http://127.0.0.1:{fe}/metrics?type=json"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["msg"].as_str().unwrap().contains("type"));
    let r = reqwest::get(format!("http://127.0.0.1:{be}/metrics?bogus=1"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        reqwest::get(format!("http://127.0.0.1:{fe}/metrics?type=core"))
            .await
            .unwrap()
            .status(),
        200
    );
    drop(c);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints() {
    let server = TestServer::start().await;
    let h = server.handle.as_ref().unwrap();
    let fe: serde_json::Value = reqwest::get(format!("http://{}/api/health", h.http_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fe["status"], "OK");
    assert_eq!(fe["total_backend_num"], 1);
    assert_eq!(fe["online_backend_num"], 1);
    let be: serde_json::Value = reqwest::get(format!(
        "http://{}/api/health",
        h.be_http_addr.expect("rigel server serves be_http_port")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(be["status"], "OK");
    server.stop().await;
}

/// A query that runs for a long time (a large aggregation) unless stopped.
const LONG_QUERY: &str = "SELECT sum(a.value * b.value) FROM generate_series(1, 200000) a, \
                          generate_series(1, 200000) b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_timeout_stop_long_queries_without_leaks() {
    // A server process of its own: its threads and memory are not shared with other tests.
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(dir.path());
    let (port, fe, be) = (server.port, server.http_port, server.be_http_port);
    let mut victim = connect(port, None).await;
    let id: u32 = victim.id();
    let running = tokio::spawn(async move {
        let r = victim.query_drop(LONG_QUERY).await;
        (victim, r)
    });
    // Wait until the statement shows in the process list, then kill it from another session.
    let mut admin = connect(port, None).await;
    for attempt in 0.. {
        assert!(attempt < 3000, "the query never showed in the process list");
        let full: Vec<mysql_async::Row> = admin.query("SHOW FULL PROCESSLIST").await.unwrap();
        let seen = full.iter().any(|r| {
            r.get::<u32, _>("Id") == Some(id)
                && r.get::<Option<String>, _>("Info")
                    .flatten()
                    .is_some_and(|s| s.contains("generate_series"))
        });
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exec(&mut admin, &format!("KILL QUERY {id}")).await;
    let (mut victim, result) = running.await.unwrap();
    let e = result.expect_err("the killed query fails");
    assert_eq!(errno(&e), 1317, "{e}");
    // The connection survives KILL QUERY.
    let one: Option<i64> = victim.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // query_timeout stops it too, again and again, without leaking memory or threads.
    exec(&mut victim, "SET query_timeout = 1").await;
    let threads = |s: &Scrape| s.value("starrocks_be_process_thread_num", &[]);
    let before = Scrape::get(be).await;
    for _ in 0..8 {
        let e = victim.query_drop(LONG_QUERY).await.unwrap_err();
        assert_eq!(errno(&e), 3024);
    }
    // Stopped operators release their reservations as their tasks wind down.
    let mut after = Scrape::get(be).await;
    for _ in 0..600 {
        if after.value("starrocks_be_query_mem_bytes", &[]) == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = Scrape::get(be).await;
    }
    assert_eq!(after.value("starrocks_be_query_mem_bytes", &[]), 0.0);
    assert!(
        threads(&after) <= threads(&before) + 4.0,
        "threads grew from {} to {}",
        threads(&before),
        threads(&after)
    );
    let rss = |s: &Scrape| s.value("starrocks_be_process_mem_bytes", &[]);
    assert!(
        rss(&after) < rss(&before) + 256.0 * 1024.0 * 1024.0,
        "resident memory grew from {} to {}",
        rss(&before),
        rss(&after)
    );
    assert_eq!(
        Scrape::get(fe)
            .await
            .value("starrocks_fe_query_timeout", &[]),
        8.0
    );
    // KILL of an unknown id.
    assert_eq!(
        errno(&admin.query_drop("KILL 4242424").await.unwrap_err()),
        1094
    );
    drop((victim, admin));
    server.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_memory_limit_fails_cleanly() {
    let server = TestServer::start().await;
    let mut greedy = server.conn().await;
    let mut other = server.conn().await;
    exec(&mut greedy, "SET query_mem_limit = 4194304").await;
    // A hash join whose build side is far larger than 4 MB; joins cannot spill.
    let e = greedy
        .query_drop(
            "SELECT count(*) FROM generate_series(1, 2000000) a \
             JOIN generate_series(1, 2000000) b ON a.value = b.value",
        )
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1037, "{e}");
    assert!(e.to_string().contains("query_mem_limit"), "{e}");
    // Both sessions keep working; without the limit the same query runs.
    let n: Option<i64> = other
        .query_first("SELECT count(*) FROM generate_series(1, 1000)")
        .await
        .unwrap();
    assert_eq!(n, Some(1000));
    exec(&mut greedy, "SET query_mem_limit = 0").await;
    let n: Option<i64> = greedy
        .query_first(
            "SELECT count(*) FROM generate_series(1, 200000) a \
             JOIN generate_series(1, 200000) b ON a.value = b.value",
        )
        .await
        .unwrap();
    assert_eq!(n, Some(200000));
    drop((greedy, other));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_views_list_the_real_tablets() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE sv").await;
    exec(
        &mut c,
        "CREATE TABLE sv.t (k INT, v INT) DUPLICATE KEY(k) \
         PARTITION BY RANGE(k) (PARTITION p1 VALUES LESS THAN (10), PARTITION p2 VALUES LESS THAN (20)) \
         DISTRIBUTED BY HASH(k) BUCKETS 3",
    )
    .await;
    exec(&mut c, "INSERT INTO sv.t VALUES (1, 1), (2, 2), (15, 3)").await;

    let fes: Vec<mysql_async::Row> = c.query("SHOW FRONTENDS").await.unwrap();
    assert_eq!(fes.len(), 1);
    assert_eq!(fes[0].get::<String, _>("Role").as_deref(), Some("LEADER"));
    assert_eq!(
        fes[0].get::<u16, _>("QueryPort"),
        Some(server.port()),
        "the real bound port"
    );
    let bes: Vec<mysql_async::Row> = c.query("SHOW BACKENDS").await.unwrap();
    assert_eq!(bes.len(), 1);
    assert_eq!(bes[0].get::<String, _>("Alive").as_deref(), Some("true"));
    assert_eq!(bes[0].get::<i64, _>("TabletNum"), Some(6));
    let proc_be: Vec<mysql_async::Row> = c.query("SHOW PROC '/backends'").await.unwrap();
    assert_eq!(proc_be.len(), 1);
    let stat: Vec<mysql_async::Row> = c.query("SHOW PROC '/statistic'").await.unwrap();
    let sv = stat
        .iter()
        .find(|r| r.get::<String, _>("DbName").as_deref() == Some("sv"))
        .expect("sv row");
    assert_eq!(sv.get::<i64, _>("TabletNum"), Some(6));
    assert_eq!(sv.get::<i64, _>("UnhealthyTabletNum"), Some(0));
    let dbs: Vec<mysql_async::Row> = c.query("SHOW PROC '/dbs'").await.unwrap();
    assert!(
        dbs.iter()
            .any(|r| r.get::<String, _>("DbName").as_deref() == Some("sv"))
    );
    let e = c.query_drop("SHOW PROC '/nope'").await.unwrap_err();
    assert_eq!(errno(&e), 1235);

    let replicas: Vec<mysql_async::Row> = c
        .query("ADMIN SHOW REPLICA STATUS FROM sv.t PARTITION (p1)")
        .await
        .unwrap();
    assert_eq!(replicas.len(), 3);
    assert!(
        replicas
            .iter()
            .all(|r| r.get::<String, _>("Status").as_deref() == Some("OK"))
    );
    let bad: Vec<mysql_async::Row> = c
        .query("ADMIN SHOW REPLICA STATUS FROM sv.t WHERE Status != 'OK'")
        .await
        .unwrap();
    assert!(bad.is_empty());

    let (rows, tablets): (i64, i64) = c
        .query_first("SELECT sum(b.num_row), count(*) FROM information_schema.be_tablets b JOIN information_schema.tablet_health h ON b.tablet_id = h.tablet_id WHERE h.db_name = 'sv' AND h.table_name = 't'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rows, tablets), (3, 6));
    let states: Vec<(String, i64)> = c
        .query("SELECT state, count(*) FROM information_schema.tablet_health WHERE db_name = 'sv' GROUP BY state")
        .await
        .unwrap();
    assert_eq!(states, vec![("HEALTHY".to_string(), 6)]);
    let parts: Vec<(String, i64, i64)> = c
        .query("SELECT partition_name, row_count, buckets FROM information_schema.partitions_meta WHERE db_name = 'sv' ORDER BY partition_name")
        .await
        .unwrap();
    assert_eq!(parts, vec![("p1".into(), 2, 3), ("p2".into(), 1, 3)]);
    let alive: Vec<(String,)> = c
        .query("SELECT alive FROM information_schema.backends")
        .await
        .unwrap();
    assert_eq!(alive, vec![("true".to_string(),)]);
    let fe_alive: Vec<(String, String)> = c
        .query("SELECT role, alive FROM information_schema.frontends")
        .await
        .unwrap();
    assert_eq!(fe_alive, vec![("LEADER".to_string(), "true".to_string())]);

    // Cluster views need OPERATE.
    exec(&mut c, "CREATE USER plain IDENTIFIED BY 'pw'").await;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some("plain"))
        .pass(Some("pw"));
    let mut plain = mysql_async::Conn::new(opts).await.unwrap();
    assert_eq!(
        errno(&plain.query_drop("SHOW BACKENDS").await.unwrap_err()),
        1227
    );
    let n: Option<i64> = plain
        .query_first("SELECT count(*) FROM information_schema.be_tablets")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    drop((c, plain));
    server.stop().await;
}

fn rigel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rigel"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_with_the_guides_keys_starts_the_server_and_logs_roll() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let conf = dir.path().join("be.conf");
    std::fs::write(
        &conf,
        format!(
            "# fe.conf and be.conf keys from the deployment guide\n\
             query_port = 0\nhttp_port = 0\nbe_http_port = 0\n\
             data_dir = {data}\n\
             priority_networks = 10.0.0.0/8;192.168.0.0/16\n\
             meta_dir = {data}/meta\n\
             storage_root_path = {data}/storage,medium:SSD;{data}/storage2,medium:HDD\n\
             sys_log_dir = {data}/log\n\
             log_roll_size_mb = 1\n\
             sys_log_delete_age = 7d\n\
             audit_log_delete_age = 30d\n\
             qe_max_connection = 1000\n\
             max_conn_per_user = 100\n\
             query_timeout = 300\n\
             max_query_retry_time = 2\n\
             heartbeat_timeout_second = 5\n\
             mem_limit = 80%\n\
             scanner_thread_pool_thread_num = 48\n\
             compression_type = LZ4\n\
             pipeline_dop = 0\n\
             disable_storage_page_cache = false\n\
             JAVA_OPTS = \"-Xmx8g\"\n\
             totally_unknown_key = 1\n",
            data = data.display()
        ),
    )
    .unwrap();
    let mut child = rigel()
        .args(["server", "--config"])
        .arg(&conf)
        .env("RIGEL_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut log = String::new();
    {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(stderr);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            log.push_str(&line);
            if line.contains("query_port=") {
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
    }
    assert!(log.contains("query_port="), "server did not start:\n{log}");
    assert!(
        log.contains("'max_query_retry_time' is accepted but has no effect"),
        "{log}"
    );
    assert!(log.contains("'JAVA_OPTS' is accepted but has no effect"));
    assert!(log.contains("unknown configuration key 'totally_unknown_key'"));
    assert!(log.contains("mem_limit = 80%"));
    assert!(
        log.contains("storage_root_path lists 2 directories"),
        "{log}"
    );
    let fe_log = std::fs::read_to_string(data.join("log/fe.log")).expect("fe.log written");
    assert!(fe_log.contains("query_port="), "{fe_log}");
    let _ = child.kill();
    let _ = child.wait();

    // Invalid values stop the start with the key and the reason.
    let refused = |text: &str| {
        std::fs::write(&conf, text).unwrap();
        let out = rigel()
            .args(["server", "--config"])
            .arg(&conf)
            .output()
            .unwrap();
        assert!(!out.status.success(), "started with {text}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused("mem_limit = lots\n");
    assert!(err.contains("mem_limit") && err.contains("lots"), "{err}");
    let err = refused("this is not a config line\n");
    assert!(err.contains("be.conf:1: expected 'key = value'"), "{err}");
}

#[test]
fn doctor_reports_for_people_and_machines() {
    let dir = tempfile::tempdir().unwrap();
    let out = rigel()
        .args([
            "doctor",
            "--role",
            "be",
            "--tier",
            "small",
            "--json",
            "--storage-root-path",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings = report["findings"].as_array().unwrap();
    let checks: Vec<&str> = findings
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for c in [
        "cpu_cores",
        "memory",
        "swap",
        "open_files_limit",
        "clock_sync",
        "port 8040",
    ] {
        assert!(checks.contains(&c), "{c} missing from {checks:?}");
    }
    assert!(checks.iter().any(|c| c.starts_with("disk ")));
    let tw = findings
        .iter()
        .find(|f| f["check"] == "net.ipv4.tcp_tw_recycle")
        .unwrap();
    assert_ne!(tw["recommendation"], "set net.ipv4.tcp_tw_recycle=1");
    // The exit code follows the findings.
    let failed = findings.iter().any(|f| f["status"] == "FAIL");
    assert_eq!(report["ok"], !failed);
    assert_eq!(out.status.code(), Some(if failed { 1 } else { 0 }));
    let table = rigel().args(["doctor", "--role", "fe"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("CHECK"), "{text}");
    assert!(text.contains("RECOMMENDATION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_follows_the_formula_from_flags_and_from_a_server() {
    let out = rigel()
        .args([
            "plan",
            "--table",
            "orders=100G",
            "--table",
            "events=1T:0.2",
            "--replicas",
            "3",
            "--index-overhead",
            "1.2",
            "--growth",
            "1.5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gib = (1u64 << 30) as f64;
    let expected = 100.0 * gib * 0.3 * 3.0 * 1.2 * 1.5 + 1024.0 * gib * 0.2 * 3.0 * 1.2 * 1.5;
    let storage = plan["storage_bytes"].as_f64().unwrap();
    assert!((storage - expected).abs() <= 2.0, "{storage} vs {expected}");
    // Medium backends: 1 TiB data disks filled to 70%.
    let backends = (expected / (1024.0 * gib * 0.7)).ceil().max(3.0);
    assert_eq!(plan["backends"]["count"].as_f64().unwrap(), backends);
    assert_eq!(plan["frontends"]["count"], 3);
    let bad = rigel().args(["plan", "--table", "x"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // From a running server: its real compressed sizes.
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE p").await;
    exec(
        &mut c,
        "CREATE TABLE p.t (k INT, v VARCHAR(50)) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO p.t SELECT value, concat('row-', value) FROM generate_series(1, 5000)",
    )
    .await;
    let bytes: Option<u64> = c
        .query_first("SELECT data_length FROM information_schema.tables WHERE table_schema = 'p' AND table_name = 't'")
        .await
        .unwrap();
    let bytes = bytes.unwrap() as f64;
    assert!(bytes > 0.0);
    let port = server.port();
    let out = tokio::task::spawn_blocking(move || {
        rigel()
            .args([
                "plan",
                "--from",
                &format!("127.0.0.1:{port}"),
                "--database",
                "p",
                "--replicas",
                "1",
                "--json",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tables"][0]["name"], "p.t");
    let storage = plan["storage_bytes"].as_f64().unwrap();
    assert!(
        (storage - bytes * 1.2 * 1.5).abs() <= 1.0,
        "{storage} vs {bytes}"
    );
    drop(c);
    server.stop().await;
}
