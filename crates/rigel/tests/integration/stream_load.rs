//! Stream Load over HTTP: curl exactly as users run it, and an HTTP client for the rest.

use std::io::Write;
use std::process::Command;

use mysql_async::prelude::*;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::common::{TestServer, exec};

struct Loader {
    client: reqwest::Client,
    be: u16,
}

impl Loader {
    fn new(server: &TestServer) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            be: server
                .handle
                .as_ref()
                .unwrap()
                .be_http_addr
                .expect("rigel server serves be_http_port")
                .port(),
        }
    }

    async fn load(&self, db: &str, table: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Value {
        let mut req = self
            .client
            .put(format!(
                "http://127.0.0.1:{}/api/{db}/{table}/_stream_load",
                self.be
            ))
            .basic_auth("root", Some(""))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        resp.json().await.unwrap()
    }
}

async fn count(c: &mut mysql_async::Conn, sql: &str) -> i64 {
    c.query_first(sql).await.unwrap().unwrap()
}

const DDL: &str = "CREATE TABLE t (id INT NOT NULL, name VARCHAR(10), amount DECIMAL(10, 2), day DATE)
    DUPLICATE KEY(id)
    PARTITION BY RANGE(day) (PARTITION p1 VALUES LESS THAN ('2024-02-01'), PARTITION p2 VALUES LESS THAN ('2024-03-01'))
    DISTRIBUTED BY HASH(id) BUCKETS 3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_redirect_as_the_guide_runs_it() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE sl").await;
    exec(&mut c, "USE sl").await;
    exec(&mut c, DDL).await;
    // dbgen style: '|' separated, trailing '|'.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.tbl");
    let mut f = std::fs::File::create(&file).unwrap();
    for i in 0..1000 {
        writeln!(
            f,
            "{i}|name{}|{}.{:02}|2024-0{}-15|",
            i % 7,
            i,
            i % 100,
            1 + i % 2
        )
        .unwrap();
    }
    drop(f);
    let fe = server.handle.as_ref().unwrap().http_addr.port();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--location-trusted",
            "-u",
            "root:",
            "-H",
            "label:guide_load_1",
            "-H",
            "column_separator:|",
            "-H",
            "timeout:3600",
            "-T",
        ])
        .arg(&file)
        .arg(format!("http://127.0.0.1:{fe}/api/sl/t/_stream_load"))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["Status"], "Success", "{text}");
    assert_eq!(reply["Message"], "OK");
    assert_eq!(reply["Label"], "guide_load_1");
    assert_eq!(reply["NumberTotalRows"], 1000);
    assert_eq!(reply["NumberLoadedRows"], 1000);
    assert_eq!(reply["NumberFilteredRows"], 0);
    // StarRocks' keys, in StarRocks' order.
    let keys: Vec<&str> = reply
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "TxnId",
            "Label",
            "Status",
            "Message",
            "NumberTotalRows",
            "NumberLoadedRows",
            "NumberFilteredRows",
            "NumberUnselectedRows",
            "LoadBytes",
            "LoadTimeMs",
            "BeginTxnTimeMs",
            "StreamLoadPlanTimeMs",
            "ReadDataTimeMs",
            "WriteDataTimeMs",
            "CommitAndPublishTimeMs"
        ]
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM t").await, 1000);
    let (sum, feb): (String, i64) = c
        .query_first("SELECT CAST(sum(amount) AS VARCHAR), sum(CASE WHEN day >= '2024-02-01' THEN 1 ELSE 0 END) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum, "499995.00");
    assert_eq!(feb, 500);

    // The frontend answers 307 with the backend's address, without reading the body.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .put(format!("http://127.0.0.1:{fe}/api/sl/t/_stream_load"))
        .basic_auth("root", Some(""))
        .header("Expect", "100-continue")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let be = server
        .handle
        .as_ref()
        .unwrap()
        .be_http_addr
        .expect("rigel server serves be_http_port")
        .port();
    assert_eq!(
        location,
        format!("http://127.0.0.1:{be}/api/sl/t/_stream_load")
    );
    // Without credentials: 401.
    let resp = client
        .put(format!("http://127.0.0.1:{fe}/api/sl/t/_stream_load"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // Labels are single use: the second attempt loads nothing.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--location-trusted",
            "-u",
            "root:",
            "-H",
            "label:guide_load_1",
            "-H",
            "column_separator:|",
            "-T",
        ])
        .arg(&file)
        .arg(format!("http://127.0.0.1:{fe}/api/sl/t/_stream_load"))
        .output()
        .unwrap();
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["Status"], "Label Already Exists");
    assert_eq!(reply["ExistingJobStatus"], "FINISHED");
    assert_eq!(reply["TxnId"], -1);
    assert_eq!(
        reply["Message"],
        "Label [guide_load_1] has already been used."
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM t").await, 1000);

    // SHOW LOAD and information_schema.loads list it.
    let labels: Vec<(String, String)> = c
        .query("SELECT label, state FROM information_schema.loads WHERE database_name = 'sl'")
        .await
        .unwrap();
    assert!(labels.contains(&("guide_load_1".to_string(), "FINISHED".to_string())));
    let rows: Vec<mysql_async::Row> = c
        .query("SHOW LOAD WHERE LABEL = 'guide_load_1'")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_requests_with_one_label_load_once() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE race").await;
    exec(
        &mut c,
        "CREATE TABLE race.r (id INT, v STRING) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    let loader = std::sync::Arc::new(Loader::new(&server));
    // Large enough that the refused requests are still uploading when they are answered.
    let body: Vec<u8> = (0..300_000)
        .flat_map(|i| format!("{i}\tv{i}\n").into_bytes())
        .collect();
    let mut tasks = vec![];
    for _ in 0..4 {
        let loader = std::sync::Arc::clone(&loader);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            loader.load("race", "r", &[("label", "same")], body).await
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap()["Status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "Success").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| *s == "Label Already Exists")
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM race.r").await, 300_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtering_error_log_and_headers() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE f").await;
    exec(&mut c, "USE f").await;
    exec(&mut c, DDL).await;
    let loader = Loader::new(&server);
    let body = b"1,ok,1.5,2024-01-01\n2,far too long name,2,2024-01-02\n3,x,abc,2024-01-03\n4,y,4,2030-01-01\n5,z\n6,w,6,2024-02-02\n".to_vec();
    // Strict by default about the filter ratio: everything rolls back.
    let r = loader
        .load(
            "f",
            "t",
            &[("column_separator", ","), ("label", "f1")],
            body.clone(),
        )
        .await;
    assert_eq!(r["Status"], "Fail", "{r}");
    assert!(
        r["Message"]
            .as_str()
            .unwrap()
            .contains("too many filtered rows"),
        "{r}"
    );
    let url = r["ErrorURL"].as_str().expect("ErrorURL").to_string();
    assert_eq!(count(&mut c, "SELECT count(*) FROM t").await, 0);
    let log = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(log.contains("Data too long"), "{log}");
    assert!(log.contains("out of partition ranges"), "{log}");
    assert!(log.contains("Expect 4, but got 2"), "{log}");
    // A failed label can be used again; a ratio lets the good rows in. Without strict_mode
    // 'abc' loads as NULL.
    let r = loader
        .load(
            "f",
            "t",
            &[
                ("column_separator", ","),
                ("label", "f1"),
                ("max_filter_ratio", "0.5"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberTotalRows"], 6);
    assert_eq!(r["NumberLoadedRows"], 3);
    assert_eq!(r["NumberFilteredRows"], 3);
    let nulls = count(&mut c, "SELECT count(*) FROM t WHERE amount IS NULL").await;
    assert_eq!(nulls, 1);
    // strict_mode filters the unconvertible value too.
    let r = loader
        .load(
            "f",
            "t",
            &[
                ("column_separator", ","),
                ("strict_mode", "true"),
                ("max_filter_ratio", "1"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(r["NumberLoadedRows"], 2, "{r}");

    // columns with expressions, where, partitions.
    exec(&mut c, "TRUNCATE TABLE t").await;
    let r = loader
        .load(
            "f",
            "t",
            &[
                ("column_separator", "||"),
                (
                    "columns",
                    "id, tmp, day, amount = tmp * 100, name = concat('n', id)",
                ),
                ("where", "id > 1"),
                ("partitions", "p1, p2"),
            ],
            b"1||0.5||2024-01-01\n2||0.25||2024-01-02\n3||1||2024-02-03\n".to_vec(),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberUnselectedRows"], 1);
    let rows: Vec<(i32, String, String)> = c
        .query("SELECT id, name, CAST(amount AS VARCHAR) FROM t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (2, "n2".into(), "25.00".into()),
            (3, "n3".into(), "100.00".into())
        ]
    );

    // Bad requests get StarRocks-style failures.
    let r = loader.load("nodb", "t", &[], b"1\n".to_vec()).await;
    assert_eq!(r["Status"], "Fail");
    assert!(
        r["Message"].as_str().unwrap().contains("Unknown database"),
        "{r}"
    );
    let r = loader.load("f", "nope", &[], b"1\n".to_vec()).await;
    assert_eq!(r["Status"], "Fail");
    let r = loader
        .load("f", "t", &[("max_filter_ratio", "x")], b"1\n".to_vec())
        .await;
    assert_eq!(r["Status"], "Fail");
    let r = loader
        .load("f", "t", &[("format", "avro")], b"1\n".to_vec())
        .await;
    assert_eq!(r["Status"], "Fail");
    // Invalid UTF-8 is a filtered row, not a crash.
    let r = loader
        .load(
            "f",
            "t",
            &[("column_separator", ","), ("max_filter_ratio", "1")],
            b"9,\xff\xfe,1,2024-01-01\n10,ok,1,2024-01-01\n".to_vec(),
        )
        .await;
    assert_eq!(r["NumberFilteredRows"], 1, "{r}");
    assert_eq!(r["NumberLoadedRows"], 1, "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_compressed_bodies() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE j").await;
    exec(&mut c, "USE j").await;
    exec(
        &mut c,
        "CREATE TABLE t (id INT, name STRING, tags JSON) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    let loader = Loader::new(&server);
    let r = loader
        .load(
            "j",
            "t",
            &[("format", "json"), ("strip_outer_array", "true")],
            br#"[{"id": 1, "name": "a", "tags": {"x": 1}}, {"id": 2, "NAME": "b"}]"#.to_vec(),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], 2);
    let r = loader
        .load(
            "j",
            "t",
            &[
                ("format", "json"),
                ("jsonpaths", r#"["$.k", "$.info.name", "$.info.tags"]"#),
                ("json_root", "$.data"),
                ("strip_outer_array", "true"),
                ("columns", "id, name, tags"),
            ],
            br#"{"data": [{"k": 3, "info": {"name": "c", "tags": [1, 2]}}]}"#.to_vec(),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    let rows: Vec<(i32, String, Option<String>)> = c
        .query("SELECT id, name, tags FROM t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, "a".into(), Some(r#"{"x":1}"#.into())),
            (2, "b".into(), None),
            (3, "c".into(), Some("[1,2]".into()))
        ]
    );
    let r = loader
        .load("j", "t", &[("format", "json")], b"{broken".to_vec())
        .await;
    assert_eq!(r["Status"], "Fail", "{r}");

    // Compressed CSV bodies.
    let csv: Vec<u8> = (100..1100)
        .flat_map(|i| format!("{i}\tn{i}\t\\N\n").into_bytes())
        .collect();
    let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
    gz.write_all(&csv).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&csv[..], 3).unwrap();
    let mut lz = lz4_flex::frame::FrameEncoder::new(vec![]);
    lz.write_all(&csv).unwrap();
    let lz = lz.finish().unwrap();
    for (codec, body) in [("gzip", gz), ("zstd", zst), ("lz4", lz)] {
        exec(&mut c, "TRUNCATE TABLE t").await;
        let r = loader.load("j", "t", &[("compression", codec)], body).await;
        assert_eq!(r["Status"], "Success", "{codec}: {r}");
        assert_eq!(
            count(&mut c, "SELECT count(*) FROM t").await,
            1000,
            "{codec}"
        );
    }
    let r = loader
        .load("j", "t", &[("compression", "gzip")], b"not gzip".to_vec())
        .await;
    assert_eq!(r["Status"], "Fail", "{r}");
    server.stop().await;
}

/// `enclose` and `escape` with `trim_space` (spaces around quoted fields go, those inside
/// stay), and `timezone` for the `columns` expressions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enclosed_fields_trim_space_and_timezone() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE e").await;
    exec(&mut c, "USE e").await;
    exec(
        &mut c,
        "CREATE TABLE q (id INT NOT NULL, note VARCHAR(40), ts DATETIME) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await;
    let loader = Loader::new(&server);
    let body = b"1, \"a, b \" ,0\n 2 ,\"say \\\"hi\\\"\", 86400\n".to_vec();
    let r = loader
        .load(
            "e",
            "q",
            &[
                ("column_separator", ","),
                ("enclose", "\""),
                ("escape", "\\"),
                ("trim_space", "true"),
                ("timezone", "Asia/Shanghai"),
                ("columns", "id, note, epoch, ts = from_unixtime(epoch)"),
            ],
            body,
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], 2, "{r}");
    let rows: Vec<(i32, String, String)> = c
        .query("SELECT id, note, ts FROM q ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, "a, b ".to_string(), "1970-01-01 08:00:00".to_string()),
            (
                2,
                "say \"hi\"".to_string(),
                "1970-01-02 08:00:00".to_string()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_off_loads_nothing() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE cut").await;
    exec(
        &mut c,
        "CREATE TABLE cut.t (id INT, v STRING) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    let be = server
        .handle
        .as_ref()
        .unwrap()
        .be_http_addr
        .expect("rigel server serves be_http_port")
        .port();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", be))
        .await
        .unwrap();
    let chunk: Vec<u8> = (0..50_000)
        .flat_map(|i| format!("{i}\tv\n").into_bytes())
        .collect();
    let head = format!(
        "PUT /api/cut/t/_stream_load HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic cm9vdDo=\r\nContent-Length: {}\r\n\r\n",
        chunk.len() * 10
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&chunk).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count(&mut c, "SELECT count(*) FROM cut.t").await, 0);
    // The server keeps serving loads.
    let loader = Loader::new(&server);
    let r = loader.load("cut", "t", &[], b"1\ta\n".to_vec()).await;
    assert_eq!(r["Status"], "Success", "{r}");
    server.stop().await;
}

/// A body of several parse blocks (8 MB each), cut at row boundaries and parsed on several
/// threads, and written as several segments per tablet: every row arrives once, with the
/// header skipped and a bad row in the middle filtered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_many_blocks() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE big").await;
    exec(&mut c, "USE big").await;
    exec(
        &mut c,
        "CREATE TABLE t (id BIGINT NOT NULL, pad VARCHAR(200), amount DECIMAL(12, 2))
         DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    let rows = 150_000i64;
    let pad = "p".repeat(150);
    let mut body = b"id\x01pad\x01amount\r\n".to_vec();
    for i in 0..rows {
        if i == 77_777 {
            body.extend_from_slice(b"not a number\x01x\x011\r\n");
        }
        if i == 50_000 {
            // A NULL far from the start of its block (fields convert in chunks of rows).
            body.extend_from_slice(format!("{i}\x01{pad}{i}\x01\\N\r\n").as_bytes());
            continue;
        }
        body.extend_from_slice(format!("{i}\x01{pad}{i}\x01{i}.25\r\n").as_bytes());
    }
    assert!(body.len() > 3 * (8 << 20));
    let loader = Loader::new(&server);
    let r = loader
        .load(
            "big",
            "t",
            &[
                ("column_separator", "\\x01"),
                ("row_delimiter", "\\x0d\\x0a"),
                ("skip_header", "1"),
                ("max_filter_ratio", "0.01"),
                // A small budget: segments are written in the background during the load.
                ("load_mem_limit", "33554432"),
            ],
            body,
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberTotalRows"], rows + 1, "{r}");
    assert_eq!(r["NumberLoadedRows"], rows, "{r}");
    assert_eq!(r["NumberFilteredRows"], 1, "{r}");
    // The error log names the bad row itself, whatever chunk of its block it was in.
    let log = reqwest::get(r["ErrorURL"].as_str().expect("ErrorURL"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("not a number"), "{log}");
    let (n, distinct, amounts, sum, first, last): (i64, i64, i64, String, String, String) = c
        .query_first(
            "SELECT count(*), count(DISTINCT id), count(amount), CAST(sum(amount) AS CHAR), \
             min(pad), max(id) FROM t",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((n, distinct, amounts), (rows, rows, rows - 1));
    let sum_cents = ((rows - 1) * rows / 2 - 50_000) * 100 + (rows - 1) * 25;
    assert_eq!(sum, format!("{}.{:02}", sum_cents / 100, sum_cents % 100));
    assert_eq!(first, format!("{pad}0"));
    assert_eq!(last, (rows - 1).to_string());
    // Over 100,000 rows: the table gets analyzed in the background.
    let mut analyzed = None;
    for _ in 0..600 {
        let jobs: Vec<mysql_async::Row> = c.query("SHOW ANALYZE STATUS").await.unwrap();
        analyzed = jobs.iter().find_map(|r| {
            let col = |i: usize| r.get::<String, _>(i).unwrap_or_default();
            (col(1) == "big" && col(2) == "t").then(|| (col(5), col(6)))
        });
        if analyzed.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        analyzed,
        Some(("SCHEDULE".to_string(), "FINISH".to_string()))
    );
}

/// Stream Load into UNIQUE KEY and AGGREGATE KEY tables: equal keys merge within a load
/// (in body order) and across loads; NumberLoadedRows counts the rows as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_into_unique_and_aggregate_tables() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE m").await;
    exec(&mut c, "USE m").await;
    exec(
        &mut c,
        "CREATE TABLE u (id INT NOT NULL, v VARCHAR(10)) UNIQUE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE a (id INT NOT NULL, n BIGINT SUM, hi INT MAX) AGGREGATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    let loader = Loader::new(&server);
    let csv = |rows: &[&str]| rows.join("\n").into_bytes();
    let sep = [("column_separator", ",")];
    let r = loader
        .load("m", "u", &sep, csv(&["1,a", "2,b", "1,c", "3,d", "2,e"]))
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], 5, "{r}");
    let r = loader.load("m", "u", &sep, csv(&["3,z", "4,w"])).await;
    assert_eq!(r["Status"], "Success", "{r}");
    let rows: Vec<(i32, String)> = c.query("SELECT id, v FROM u ORDER BY id").await.unwrap();
    let expected = [(1, "c"), (2, "e"), (3, "z"), (4, "w")];
    assert_eq!(
        rows,
        expected.map(|(i, v)| (i, v.to_string())).to_vec(),
        "last write wins"
    );
    for body in [&["1,1,5", "2,10,1", "1,2,9"][..], &["1,3,2", "2,5,7"][..]] {
        let r = loader.load("m", "a", &sep, csv(body)).await;
        assert_eq!(r["Status"], "Success", "{r}");
    }
    let rows: Vec<(i32, i64, i32)> = c
        .query("SELECT id, n, hi FROM a ORDER BY id")
        .await
        .unwrap();
    assert_eq!(rows, vec![(1, 6, 9), (2, 15, 7)]);
}

/// StarRocks' way to fill BITMAP and HLL columns: Stream Load maps a source column through
/// `to_bitmap` / `hll_hash`. Loads merge into the sketches, compaction keeps the answers,
/// and a plain value in a sketch column fails the load with the functions to use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_into_bitmap_and_hll_columns() {
    let server = TestServer::start().await;
    let fe = std::sync::Arc::clone(&server.handle.as_ref().unwrap().frontend);
    let mut c = server.conn().await;
    // Compaction runs when this test says, on any tablet with two rowsets or more.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
    )
    .await;
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"min_cumulative_compaction_num_singleton_deltas\" = \"2\")",
    )
    .await;
    exec(&mut c, "CREATE DATABASE sk").await;
    exec(&mut c, "USE sk").await;
    exec(
        &mut c,
        "CREATE TABLE uv (page INT NOT NULL, users BITMAP BITMAP_UNION NOT NULL, approx HLL HLL_UNION NOT NULL)
         AGGREGATE KEY(page) DISTRIBUTED BY HASH(page) BUCKETS 2",
    )
    .await;
    let loader = Loader::new(&server);
    let columns = "page, user, users = to_bitmap(user), approx = hll_hash(user)";
    let headers = [("column_separator", ","), ("columns", columns)];
    // Three loads: pages 0..10, users 0..3000, every (page, user) pair sent twice.
    for part in 0..3u32 {
        let mut body = String::new();
        for i in 0..2000u32 {
            let user = part * 1000 + i % 1000;
            body.push_str(&format!("{},{user}\n", user % 10));
        }
        let r = loader.load("sk", "uv", &headers, body.into_bytes()).await;
        assert_eq!(r["Status"], "Success", "{r}");
        assert_eq!(r["NumberLoadedRows"], 2000, "{r}");
    }
    let query = "SELECT count(*), bitmap_union_count(users), sum(bitmap_count(users)),
                        hll_union_agg(approx) BETWEEN 2900 AND 3100,
                        max(hll_cardinality(approx)) BETWEEN 290 AND 310
                 FROM uv";
    let expected = Some((10i64, 3000i64, 3000i64, 1i64, 1i64));
    let answer: Option<(i64, i64, i64, i64, i64)> = c.query_first(query).await.unwrap();
    assert_eq!(answer, expected);
    fe.compaction_round().await.unwrap();
    let rows: u64 = fe
        .tablet_infos()
        .await
        .unwrap()
        .iter()
        .map(|t| t.rows)
        .sum();
    assert_eq!(rows, 10, "compaction merged the sketches on disk");
    let answer: Option<(i64, i64, i64, i64, i64)> = c.query_first(query).await.unwrap();
    assert_eq!(answer, expected);
    // A user id sent as it is, without to_bitmap.
    let r = loader
        .load(
            "sk",
            "uv",
            &[
                ("column_separator", ","),
                ("columns", "page, users, approx"),
            ],
            b"1,5,5".to_vec(),
        )
        .await;
    assert_eq!(r["Status"], "Fail", "{r}");
    let message = r["Message"].as_str().unwrap_or_default();
    assert!(message.contains("to_bitmap"), "{message}");
}

/// Stream Load into a table with expression partitioning creates the partitions its rows
/// need, also when two loads race for the same new partition; the partitions and the
/// partitioning survive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_create_expression_partitions() {
    let mut server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE ep").await;
    exec(&mut c, "USE ep").await;
    exec(
        &mut c,
        "CREATE TABLE t (d DATE NOT NULL, id INT NOT NULL, v INT) DUPLICATE KEY(d, id)
         PARTITION BY date_trunc('month', d) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    let loader = Loader::new(&server);
    let sep = [("column_separator", ",")];
    let body = |month: u32, from: i32| -> Vec<u8> {
        (from..from + 50)
            .map(|i| format!("2024-{month:02}-{:02},{i},1\n", 1 + i % 28))
            .collect::<String>()
            .into_bytes()
    };
    // Two loads at once, both bringing rows for March and one for April too.
    let (a, b) = tokio::join!(
        loader.load("ep", "t", &sep, [body(3, 0), body(4, 100)].concat()),
        loader.load("ep", "t", &sep, body(3, 200)),
    );
    for r in [&a, &b] {
        assert_eq!(r["Status"], "Success", "{r}");
    }
    assert_eq!(a["NumberLoadedRows"], 100, "{a}");
    let names: Vec<String> = c
        .query(
            "SELECT partition_name FROM information_schema.partitions \
             WHERE table_schema = 'ep' AND table_name = 't' ORDER BY partition_name",
        )
        .await
        .unwrap();
    assert_eq!(names, vec!["p202403", "p202404"]);
    drop(c);
    server.restart().await;
    let mut c = server.conn_db("ep").await;
    let counts: Vec<(i64, i64)> = c
        .query("SELECT month(d), count(*) FROM t GROUP BY 1 ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(counts, vec![(3, 100), (4, 50)]);
    let ddl: (String, String) = c.query_first("SHOW CREATE TABLE t").await.unwrap().unwrap();
    assert!(
        ddl.1.contains("PARTITION BY date_trunc('month', `d`)"),
        "{}",
        ddl.1
    );
    // After the restart a load still creates what it needs.
    let r = Loader::new(&server)
        .load("ep", "t", &sep, body(5, 300))
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    let n: i64 = c
        .query_first("SELECT count(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 200);
}

/// Stream Load into a PRIMARY KEY table: upserts, deletes through `__op` (a data column, a
/// constant in `columns`, a JSON field), rejected op values, and `__op` refused elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_and_deletes_into_a_primary_key_table() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE pk").await;
    exec(&mut c, "USE pk").await;
    exec(
        &mut c,
        "CREATE TABLE t (id INT NOT NULL, name VARCHAR(10) NOT NULL, score INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE d (id INT NOT NULL, v INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await;
    let loader = Loader::new(&server);
    let csv = |rows: &[&str]| rows.join("\n").into_bytes();
    let sep = ("column_separator", ",");
    let row = |id: i32, name: &str, score: Option<i32>| (id, name.to_string(), score);

    let r = loader
        .load(
            "pk",
            "t",
            &[sep],
            csv(&["1,a,10", "2,b,20", "3,c,30", "1,a2,11"]),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], 4, "{r}");
    assert_eq!(
        pk_rows(&mut c).await,
        vec![
            row(1, "a2", Some(11)),
            row(2, "b", Some(20)),
            row(3, "c", Some(30))
        ]
    );

    // The op as a data column: 0 upserts, 1 deletes; anything else is rejected.
    let r = loader
        .load(
            "pk",
            "t",
            &[
                sep,
                ("columns", "__op, id, name, score"),
                ("max_filter_ratio", "0.5"),
            ],
            csv(&[
                "0,4,d,40",
                "1,2,,",
                "upsert,5,e,50",
                "delete,3,,",
                "2,6,f,60",
            ]),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(r["NumberLoadedRows"], 4, "{r}");
    assert_eq!(r["NumberFilteredRows"], 1, "{r}");
    assert_eq!(
        pk_rows(&mut c).await,
        vec![
            row(1, "a2", Some(11)),
            row(4, "d", Some(40)),
            row(5, "e", Some(50))
        ]
    );

    // Deleting by key only: the other columns (NOT NULL ones too) are not needed.
    let r = loader
        .load(
            "pk",
            "t",
            &[("columns", "id, __op='delete'")],
            csv(&["1", "9"]),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(
        pk_rows(&mut c).await,
        vec![row(4, "d", Some(40)), row(5, "e", Some(50))]
    );

    // JSON: a `__op` field says what a row does.
    let body = br#"[{"id": 6, "name": "f", "score": 60}, {"id": 4, "__op": 1}, {"id": 5, "name": "e2", "__op": 0}]"#;
    let r = loader
        .load(
            "pk",
            "t",
            &[("format", "json"), ("strip_outer_array", "true")],
            body.to_vec(),
        )
        .await;
    assert_eq!(r["Status"], "Success", "{r}");
    assert_eq!(
        pk_rows(&mut c).await,
        vec![row(5, "e2", None), row(6, "f", Some(60))]
    );

    let r = loader
        .load(
            "pk",
            "d",
            &[sep, ("columns", "__op, id, v")],
            csv(&["0,1,1"]),
        )
        .await;
    assert_eq!(r["Status"], "Fail", "{r}");
    assert!(
        r["Message"].as_str().unwrap().contains("PRIMARY KEY"),
        "{r}"
    );
}

async fn pk_rows(c: &mut mysql_async::Conn) -> Vec<(i32, String, Option<i32>)> {
    c.query("SELECT id, name, score FROM t ORDER BY id")
        .await
        .unwrap()
}
