//! The real `mariadb` command-line client, in batch mode, driven by a script.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::TestServer;

pub(crate) fn mariadb_binary() -> &'static str {
    for candidate in ["mariadb", "mysql"] {
        if Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return candidate;
        }
    }
    panic!("the mariadb client is not installed; run dev/test.sh, which installs it")
}

fn run_script(port: u16, extra: &[&str], script: &str) -> (bool, String, String) {
    let mut child = Command::new(mariadb_binary())
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "root",
            "--batch",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mariadb");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("mariadb finishes");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SCRIPT: &str = r#"
CREATE DATABASE tpch;
USE tpch;
CREATE TABLE hot_data (id BIGINT, data_time DATETIME, content STRING) ENGINE=OLAP DUPLICATE KEY(id)
PARTITION BY RANGE(data_time) () DISTRIBUTED BY HASH(id) BUCKETS 32
PROPERTIES ("replication_num" = "3", "storage_medium" = "SSD", "storage_cooldown_time" = "7d");
ALTER TABLE hot_data ADD PARTITION p202401 VALUES [("2024-01-01 00:00:00"), ("2024-02-01 00:00:00"));
INSERT INTO hot_data VALUES (1, '2024-01-15 08:30:00', 'first'), (2, '2024-01-20 12:00:00', 'second');
CREATE TABLE IF NOT EXISTS lineitem (
    l_orderkey BIGINT NOT NULL, l_partkey INT NOT NULL, l_suppkey INT NOT NULL, l_linenumber INT NOT NULL,
    l_quantity DECIMAL(15, 2) NOT NULL, l_extendedprice DECIMAL(15, 2) NOT NULL,
    l_discount DECIMAL(15, 2) NOT NULL, l_tax DECIMAL(15, 2) NOT NULL,
    l_returnflag CHAR(1) NOT NULL, l_linestatus CHAR(1) NOT NULL, l_shipdate DATE NOT NULL,
    l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL, l_shipinstruct CHAR(25) NOT NULL,
    l_shipmode CHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL
) ENGINE=OLAP DUPLICATE KEY(l_orderkey, l_partkey)
DISTRIBUTED BY HASH(l_orderkey) BUCKETS 8 PROPERTIES ("replication_num" = "1");
CREATE TABLE IF NOT EXISTS orders (
    o_orderkey BIGINT NOT NULL, o_custkey INT NOT NULL, o_orderstatus CHAR(1) NOT NULL,
    o_totalprice DECIMAL(15, 2) NOT NULL, o_orderdate DATE NOT NULL, o_orderpriority CHAR(15) NOT NULL,
    o_clerk CHAR(15) NOT NULL, o_shippriority INT NOT NULL, o_comment VARCHAR(79) NOT NULL
) ENGINE=OLAP DUPLICATE KEY(o_orderkey) DISTRIBUTED BY HASH(o_orderkey) BUCKETS 8
PROPERTIES ("replication_num" = "1");
INSERT INTO orders VALUES
  (1, 370, 'O', 172799.49, '1996-01-02', '5-LOW', 'Clerk#000000951', 0, 'nstructions sleep furiously'),
  (2, 781, 'O', 38426.09, '1996-12-01', '1-URGENT', 'Clerk#000000880', 0, 'foxes. pending accounts');
INSERT INTO lineitem VALUES
  (1, 155190, 7706, 1, 17, 21168.23, 0.04, 0.02, 'N', 'O', '1996-03-13', '1996-02-12', '1996-03-22', 'DELIVER IN PERSON', 'TRUCK', 'egular courts above the'),
  (1, 67310, 7311, 2, 36, 45983.16, 0.09, 0.06, 'N', 'O', '1996-04-12', '1996-02-28', '1996-04-20', 'TAKE BACK RETURN', 'MAIL', 'ly final dependencies'),
  (2, 106170, 1191, 1, 38, 44694.46, 0.00, 0.05, 'N', 'O', '1997-01-28', '1997-01-14', '1997-02-02', 'TAKE BACK RETURN', 'RAIL', 'ven requests');
SELECT 'hot', count(*), min(content) FROM hot_data;
SELECT o_orderkey, count(*) AS lines, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM orders JOIN lineitem ON o_orderkey = l_orderkey GROUP BY o_orderkey ORDER BY o_orderkey;
SELECT l_returnflag, l_linestatus, sum(l_quantity) FROM lineitem GROUP BY 1, 2;
SHOW TABLES;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_batch_script() {
    let server = TestServer::start().await;
    let port = server.port();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || run_script(port, &[], SCRIPT))
        .await
        .unwrap();
    assert!(ok, "mariadb failed: {stderr}\n{stdout}");
    let expected = "\
hot\tcount(*)\tmin(content)
hot\t2\tfirst
o_orderkey\tlines\trevenue
1\t2\t62166.1764
2\t1\t44694.4600
l_returnflag\tl_linestatus\tsum(l_quantity)
N\tO\t91.00
Tables_in_tpch
hot_data
lineitem
orders
";
    assert_eq!(stdout, expected);

    // Errors reach the CLI with their code; the session keeps going with --force.
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(
            port,
            &["--force", "tpch"],
            "SELECT nope FROM orders;\nSELECT count(*) FROM orders;\n",
        )
    })
    .await
    .unwrap();
    let _ = ok;
    assert!(stderr.contains("ERROR 1054 (42S22)"), "{stderr}");
    assert_eq!(stdout, "count(*)\n2\n");

    // Compressed protocol.
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(
            port,
            &["--compress", "tpch"],
            "SELECT o_clerk FROM orders ORDER BY 1;\n",
        )
    })
    .await
    .unwrap();
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "o_clerk\nClerk#000000880\nClerk#000000951\n");
    server.stop().await;
}
