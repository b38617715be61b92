//! mysql_async against a real server: types, errors, prepared statements, metadata.

use mysql_async::prelude::*;
use mysql_async::{Row, Value};

use crate::common::{TestServer, errno, exec};

const TYPES_DDL: &str = "CREATE TABLE types (
    id INT NOT NULL,
    t TINYINT, s SMALLINT, i INT, b BIGINT, l LARGEINT,
    f FLOAT, d DOUBLE, d1 DECIMAL(10, 2), d2 DECIMAL(38, 10),
    bo BOOLEAN, c CHAR(5), v VARCHAR(50), st STRING,
    da DATE, dt DATETIME, j JSON, a ARRAY<INT>
) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_round_trip_text_and_binary() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE tdb").await;
    exec(&mut c, "USE tdb").await;
    exec(&mut c, TYPES_DDL).await;
    exec(
        &mut c,
        "INSERT INTO types VALUES
         (1, -128, -32768, -2147483648, -9223372036854775808, -99999999999999999999999999999999999999,
          1.5, -2.25, -12345678.91, 1234567890123456789012345678.0123456789,
          true, 'ab', 'héllo wörld ✓', '日本語のテキスト', '0001-01-01', '2024-02-29 23:59:59.123456',
          '{\"k\": [1, 2, {\"x\": null}]}', [1, NULL, 3]),
         (2, 127, 32767, 2147483647, 9223372036854775807, 99999999999999999999999999999999999999,
          0, 1e300, 99999999.99, -0.0000000001,
          false, '', '', '', '9999-12-31', '1970-01-01 00:00:00', 'null', []),
         (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL)",
    )
    .await;

    // Text protocol: everything as the exact text MySQL clients see.
    let rows: Vec<Row> = c.query("SELECT * FROM types ORDER BY id").await.unwrap();
    assert_eq!(rows.len(), 3);
    let text = |r: &Row, i: usize| -> Option<String> { r.get::<Option<String>, _>(i).unwrap() };
    let r = &rows[0];
    assert_eq!(text(r, 1).as_deref(), Some("-128"));
    assert_eq!(text(r, 4).as_deref(), Some("-9223372036854775808"));
    assert_eq!(
        text(r, 5).as_deref(),
        Some("-99999999999999999999999999999999999999")
    );
    assert_eq!(text(r, 6).as_deref(), Some("1.5"));
    assert_eq!(text(r, 7).as_deref(), Some("-2.25"));
    assert_eq!(text(r, 8).as_deref(), Some("-12345678.91"));
    assert_eq!(
        text(r, 9).as_deref(),
        Some("1234567890123456789012345678.0123456789")
    );
    assert_eq!(text(r, 10).as_deref(), Some("1"));
    assert_eq!(text(r, 11).as_deref(), Some("ab"));
    assert_eq!(text(r, 12).as_deref(), Some("héllo wörld ✓"));
    assert_eq!(text(r, 13).as_deref(), Some("日本語のテキスト"));
    assert_eq!(text(r, 14).as_deref(), Some("0001-01-01"));
    assert_eq!(text(r, 15).as_deref(), Some("2024-02-29 23:59:59.123456"));
    assert_eq!(text(r, 16).as_deref(), Some(r#"{"k":[1,2,{"x":null}]}"#));
    assert_eq!(text(r, 17).as_deref(), Some("[1,null,3]"));
    let r = &rows[1];
    assert_eq!(text(r, 3).as_deref(), Some("2147483647"));
    assert_eq!(text(r, 7).as_deref(), Some("1e300"));
    assert_eq!(text(r, 9).as_deref(), Some("-0.0000000001"));
    assert_eq!(text(r, 10).as_deref(), Some("0"));
    assert_eq!(text(r, 11).as_deref(), Some(""));
    assert_eq!(text(r, 14).as_deref(), Some("9999-12-31"));
    assert_eq!(text(r, 15).as_deref(), Some("1970-01-01 00:00:00"));
    assert_eq!(text(r, 17).as_deref(), Some("[]"));
    for i in 1..18 {
        assert_eq!(text(&rows[2], i), None, "column {i} of the NULL row");
    }
    // Typed reads.
    let (b, l, dt): (i64, String, String) = c
        .query_first("SELECT b, l, dt FROM types WHERE id = 2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b, i64::MAX);
    assert_eq!(l, "99999999999999999999999999999999999999");
    assert_eq!(dt, "1970-01-01 00:00:00");

    // Binary protocol (prepared statement) with parameters.
    let stmt = c
        .prep("SELECT id, i, b, d, d2, v, da, dt, bo FROM types WHERE id = ? OR v = ?")
        .await
        .unwrap();
    let rows: Vec<Row> = c.exec(&stmt, (1, "héllo wörld ✓")).await.unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.as_ref(0), Some(&Value::Int(1)));
    assert_eq!(r.as_ref(1), Some(&Value::Int(-2147483648)));
    assert_eq!(r.as_ref(2), Some(&Value::Int(i64::MIN)));
    assert_eq!(r.as_ref(3), Some(&Value::Double(-2.25)));
    assert_eq!(
        r.as_ref(4),
        Some(&Value::Bytes(
            b"1234567890123456789012345678.0123456789".to_vec()
        ))
    );
    assert_eq!(
        r.as_ref(5),
        Some(&Value::Bytes("héllo wörld ✓".as_bytes().to_vec()))
    );
    assert_eq!(r.as_ref(6), Some(&Value::Date(1, 1, 1, 0, 0, 0, 0)));
    assert_eq!(
        r.as_ref(7),
        Some(&Value::Date(2024, 2, 29, 23, 59, 59, 123_456))
    );
    assert_eq!(r.as_ref(8), Some(&Value::Int(1)));
    // NULL parameters and rows with NULLs.
    let rows: Vec<Row> = c
        .exec(
            "SELECT id, v FROM types WHERE id = ? OR v IS NULL",
            (Value::NULL,),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].as_ref(1), Some(&Value::NULL));

    // Prepared INSERT with typed parameters, read back exactly.
    c.exec_drop(
        "INSERT INTO types (id, d1, v, dt, l) VALUES (?, ?, ?, ?, ?)",
        (
            4,
            "123.45",
            "it's \"quoted\" \\ back",
            Value::Date(2023, 7, 1, 12, 30, 0, 500),
            "170141183460469231731687303715884105",
        ),
    )
    .await
    .unwrap();
    let (d1, v, dt, l): (String, String, String, String) = c
        .query_first("SELECT d1, v, dt, l FROM types WHERE id = 4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d1, "123.45");
    assert_eq!(v, "it's \"quoted\" \\ back");
    assert_eq!(dt, "2023-07-01 12:30:00.000500");
    assert_eq!(l, "170141183460469231731687303715884105");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_mysql_codes() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    let err = |r: Result<(), mysql_async::Error>| errno(&r.expect_err("must fail"));
    let state = |r: Result<(), mysql_async::Error>| match r.expect_err("must fail") {
        mysql_async::Error::Server(s) => s.state,
        other => panic!("{other:?}"),
    };
    assert_eq!(err(c.query_drop("SELEC 1").await), 1064);
    assert_eq!(state(c.query_drop("SELECT FROM WHERE").await), "42000");
    assert_eq!(err(c.query_drop("SELECT * FROM t").await), 1046);
    assert_eq!(err(c.query_drop("USE nope").await), 1049);
    exec(&mut c, "CREATE DATABASE e").await;
    assert_eq!(err(c.query_drop("CREATE DATABASE e").await), 1007);
    assert_eq!(err(c.query_drop("DROP DATABASE nope").await), 1008);
    exec(&mut c, "USE e").await;
    assert_eq!(err(c.query_drop("SELECT * FROM nope").await), 1146);
    assert_eq!(err(c.query_drop("SELECT * FROM nope.t").await), 1049);
    exec(
        &mut c,
        "CREATE TABLE t (k INT NOT NULL, v VARCHAR(3)) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2",
    )
    .await;
    assert_eq!(err(c.query_drop("CREATE TABLE t (a INT)").await), 1050);
    assert_eq!(err(c.query_drop("SELECT nope FROM t").await), 1054);
    assert_eq!(
        err(c.query_drop("CREATE TABLE d (a INT, a INT)").await),
        1060
    );
    assert_eq!(err(c.query_drop("DROP TABLE nope").await), 1051);
    assert_eq!(err(c.query_drop("INSERT INTO t VALUES (1)").await), 1136);
    assert_eq!(
        err(c.query_drop("INSERT INTO t VALUES (1, 'toolong')").await),
        1406
    );
    assert_eq!(
        err(c.query_drop("INSERT INTO t VALUES (NULL, 'a')").await),
        1048
    );
    assert_eq!(
        err(c.query_drop("INSERT INTO t VALUES ('x', 'a')").await),
        1292
    );
    assert_eq!(
        err(c.query_drop("INSERT INTO t (nope) VALUES (1)").await),
        1054
    );
    assert_eq!(err(c.query_drop("SET nope = 1").await), 1193);
    assert_eq!(err(c.query_drop("SET query_timeout = 'abc'").await), 1231);
    assert_eq!(err(c.query_drop("SELECT @@nope").await), 1193);
    assert_eq!(
        err(c.query_drop("ALTER TABLE t DROP PARTITION p1").await),
        1210
    );
    assert_eq!(err(c.query_drop("SHOW ROUTINE LOAD").await), 1235);
    assert_eq!(
        err(c.query_drop("CREATE TABLE x (a INT) ENGINE=mysql").await),
        1235
    );
    assert_eq!(err(c.query_drop("SELECT nofunc(1)").await), 1305);
    assert_eq!(err(c.query_drop("KILL 999999").await), 1094);
    assert_eq!(err(c.query_drop("").await), 1065);
    // Non-strict mode filters bad rows instead of failing.
    exec(&mut c, "SET enable_insert_strict = false").await;
    c.query_drop("INSERT INTO t VALUES (1, 'ok'), (2, 'toolong')")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    let warnings: Vec<(String, u16, String)> = c.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(warnings.len(), 1);
    let n: i64 = c
        .query_first("SELECT count(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    // The connection still works after every error.
    let one: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_and_show_for_drivers() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE meta").await;
    exec(&mut c, "USE meta").await;
    exec(
        &mut c,
        "CREATE TABLE orders (o_orderkey BIGINT NOT NULL COMMENT 'key', o_comment VARCHAR(79), o_total DECIMAL(15, 2) DEFAULT '0')
         DUPLICATE KEY(o_orderkey) DISTRIBUTED BY HASH(o_orderkey) BUCKETS 2",
    )
    .await;
    exec(
        &mut c,
        "CREATE VIEW big AS SELECT o_orderkey, o_total FROM orders WHERE o_total > 100",
    )
    .await;

    let schemata: Vec<String> = c
        .query("SELECT schema_name FROM information_schema.schemata ORDER BY schema_name")
        .await
        .unwrap();
    assert!(schemata.contains(&"meta".to_string()));
    assert!(schemata.contains(&"information_schema".to_string()));

    let tables: Vec<(String, String)> = c
        .query("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE table_schema = 'meta' ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(
        tables,
        vec![
            ("big".to_string(), "VIEW".to_string()),
            ("orders".to_string(), "BASE TABLE".to_string())
        ]
    );
    let cols: Vec<(String, i64, String, String, String, Option<String>)> = c
        .query(
            "SELECT column_name, ordinal_position, data_type, column_type, is_nullable, column_default
             FROM information_schema.columns WHERE table_schema = 'meta' AND table_name = 'orders'
             ORDER BY ordinal_position",
        )
        .await
        .unwrap();
    assert_eq!(cols.len(), 3);
    assert_eq!(cols[0].0, "o_orderkey");
    assert_eq!(cols[0].2, "bigint");
    assert_eq!(cols[0].4, "NO");
    assert_eq!(cols[1].3, "varchar(79)");
    assert_eq!(cols[2].3, "decimal(15, 2)");
    assert_eq!(cols[2].5.as_deref(), Some("0"));
    let view_cols: Vec<String> = c
        .query("SELECT column_name FROM information_schema.columns WHERE table_name = 'big' ORDER BY ordinal_position")
        .await
        .unwrap();
    assert_eq!(view_cols, vec!["o_orderkey", "o_total"]);
    let views: Vec<String> = c
        .query("SELECT view_definition FROM information_schema.views")
        .await
        .unwrap();
    assert_eq!(views.len(), 1);
    assert!(views[0].contains("o_total > 100"), "{}", views[0]);

    let full: Vec<Row> = c.query("SHOW FULL COLUMNS FROM orders").await.unwrap();
    assert_eq!(full.len(), 3);
    assert_eq!(full[0].get::<String, _>("Comment").unwrap(), "key");
    let full_tables: Vec<(String, String)> = c.query("SHOW FULL TABLES FROM meta").await.unwrap();
    assert_eq!(full_tables.len(), 2);
    let vars: Vec<(String, String)> = c
        .query("SHOW VARIABLES LIKE 'lower_case_table_names'")
        .await
        .unwrap();
    assert_eq!(
        vars,
        vec![("lower_case_table_names".to_string(), "0".to_string())]
    );
    let vars: Vec<(String, String)> = c
        .query("SHOW VARIABLES WHERE Variable_name = 'query_timeout'")
        .await
        .unwrap();
    assert_eq!(vars[0].1, "300");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_preambles_work() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    // Connector/J.
    let row: Row = c
        .query_first(
            "/* mysql-connector-java-8.0.33 */SELECT @@session.auto_increment_increment AS auto_increment_increment,
             @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection,
             @@character_set_results AS character_set_results, @@character_set_server AS character_set_server,
             @@collation_server AS collation_server, @@collation_connection AS collation_connection,
             @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout,
             @@license AS license, @@lower_case_table_names AS lower_case_table_names,
             @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout,
             @@performance_schema AS performance_schema, @@sql_mode AS sql_mode,
             @@system_time_zone AS system_time_zone, @@time_zone AS time_zone,
             @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64, _>("auto_increment_increment"), Some(1));
    assert_eq!(
        row.get::<String, _>("transaction_isolation").unwrap(),
        "REPEATABLE-READ"
    );
    for sql in [
        "SET NAMES utf8mb4",
        "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
        "SET character_set_results = NULL",
        "SET autocommit=1",
        "SET SQL_SELECT_LIMIT=DEFAULT",
        "SET net_write_timeout=600",
        "SET @@session.autocommit = ON",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET time_zone = '+08:00'",
        "SHOW ENGINES",
        "SHOW CHARSET",
        "SHOW COLLATION",
        "SHOW PLUGINS",
        "SHOW STATUS",
        "SHOW DATABASES",
        "SELECT @@version_comment LIMIT 1",
        "SELECT @@max_allowed_packet, @@wait_timeout, @@socket",
        "SELECT CONNECTION_ID(), VERSION(), DATABASE(), USER(), CURRENT_USER()",
        "SELECT 1 FROM DUAL",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
    ] {
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let (id, version): (i64, String) = c
        .query_first("SELECT CONNECTION_ID(), VERSION()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id as u32, c.id());
    assert!(version.starts_with("8.0.33-Rigel-"), "{version}");
    let tz: String = c.query_first("SELECT @@time_zone").await.unwrap().unwrap();
    assert_eq!(tz, "+08:00");
    // User variables.
    c.query_drop("SET @x = 40 + 2").await.unwrap();
    let x: i64 = c.query_first("SELECT @x").await.unwrap().unwrap();
    assert_eq!(x, 42);
    // Multi-statement text.
    let mut result = c
        .query_iter("SELECT 1; SELECT 'two'; SELECT 3")
        .await
        .unwrap();
    let first: Vec<i64> = result.collect().await.unwrap();
    let second: Vec<String> = result.collect().await.unwrap();
    let third: Vec<i64> = result.collect().await.unwrap();
    drop(result);
    assert_eq!(
        (first, second, third),
        (vec![1], vec!["two".to_string()], vec![3])
    );
    // COM_RESET_CONNECTION (the pool's reset) restores variables.
    c.reset().await.unwrap();
    let tz: String = c.query_first("SELECT @@time_zone").await.unwrap().unwrap();
    assert_eq!(tz, "UTC");
    c.ping().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_and_ddl_round_trips() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE big").await;
    exec(&mut c, "USE big").await;
    exec(
        &mut c,
        "CREATE TABLE nums (n BIGINT NOT NULL, s VARCHAR(20), d DATE)
         DUPLICATE KEY(n)
         PARTITION BY RANGE(d) (
           PARTITION p1 VALUES LESS THAN ('2020-01-01'),
           START ('2020-01-01') END ('2020-01-04') EVERY (INTERVAL 1 DAY),
           PARTITION pmax VALUES LESS THAN MAXVALUE
         )
         DISTRIBUTED BY HASH(n) BUCKETS 4
         PROPERTIES (\"replication_num\" = \"1\", \"compression\" = \"ZSTD\", \"bloom_filter_columns\" = \"s\")",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO nums SELECT value, concat('row', CAST(value AS VARCHAR)), \
         CAST(date_add(DATE '2019-12-30', CAST(value % 7 AS INT)) AS DATE) FROM generate_series(1, 200000)",
    )
    .await;
    assert_eq!(c.affected_rows(), 200_000);
    let mut stream = c.query_iter("SELECT n, s FROM nums").await.unwrap();
    let mut count = 0u64;
    let mut sum = 0u64;
    while let Some(row) = stream.next().await.unwrap() {
        let n: u64 = row.get(0).unwrap();
        count += 1;
        sum += n;
    }
    drop(stream);
    assert_eq!(count, 200_000);
    assert_eq!(sum, 200_000 * 200_001 / 2);

    // SHOW CREATE TABLE fed back creates an identical table.
    let (_, ddl): (String, String) = c
        .query_first("SHOW CREATE TABLE nums")
        .await
        .unwrap()
        .unwrap();
    let copy = ddl.replacen("CREATE TABLE `nums`", "CREATE TABLE `nums_copy`", 1);
    exec(&mut c, &copy).await;
    let (_, ddl2): (String, String) = c
        .query_first("SHOW CREATE TABLE nums_copy")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ddl2.replacen("nums_copy", "nums", 1), ddl);
    let parts: Vec<Row> = c.query("SHOW PARTITIONS FROM nums_copy").await.unwrap();
    assert_eq!(parts.len(), 5);
    server.stop().await;
}

/// SHOW CREATE TABLE of LIST partitioned tables (explicit and `PARTITION BY (cols)`) fed
/// back creates identical tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_partitioned_ddl_round_trips() {
    let server = TestServer::start().await;
    let mut c = server.conn().await;
    exec(&mut c, "CREATE DATABASE lp").await;
    exec(&mut c, "USE lp").await;
    exec(
        &mut c,
        "CREATE TABLE l (id BIGINT, city VARCHAR(20) NOT NULL, dt DATE NOT NULL) DUPLICATE KEY(id)
         PARTITION BY LIST (dt, city) (
            PARTITION p1 VALUES IN ((\"2022-04-01\", \"Los Angeles\"), (\"2022-04-02\", \"Say \\\"hi\\\"\")),
            PARTITION p2 VALUES IN ((\"2022-04-01\", \"Houston\")))
         DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE e (id BIGINT, city VARCHAR(20) NOT NULL) DUPLICATE KEY(id)
         PARTITION BY (city) DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await;
    for (table, clause) in [
        ("l", "PARTITION BY LIST(`dt`, `city`)"),
        ("e", "PARTITION BY (`city`)"),
    ] {
        let (_, ddl): (String, String) = c
            .query_first(format!("SHOW CREATE TABLE {table}"))
            .await
            .unwrap()
            .unwrap();
        assert!(ddl.contains(clause), "{ddl}");
        let copy = ddl.replacen(
            &format!("CREATE TABLE `{table}`"),
            &format!("CREATE TABLE `{table}_copy`"),
            1,
        );
        exec(&mut c, &copy).await;
        let (_, ddl2): (String, String) = c
            .query_first(format!("SHOW CREATE TABLE {table}_copy"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ddl2.replacen(&format!("{table}_copy"), table, 1), ddl);
    }
    exec(
        &mut c,
        "INSERT INTO l_copy VALUES (1, 'Say \\\"hi\\\"', '2022-04-02'), (2, 'Houston', '2022-04-01')",
    )
    .await;
    let rows: Vec<(i64, String)> = c
        .query("SELECT id, city FROM l_copy ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, "Say \"hi\"".to_string()), (2, "Houston".to_string())]
    );
    server.stop().await;
}
