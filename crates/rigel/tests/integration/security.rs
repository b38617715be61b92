//! Accounts, authentication and privileges (the production guide's setup).

use mysql_async::prelude::*;

use crate::common::{TestServer, errno, exec};

/// The production guide's accounts and grants, then what each user may and may not do over
/// the MySQL protocol and Stream Load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_accounts_and_privileges() {
    let server = TestServer::start().await;
    let port = server.port();
    let mut root = server.conn().await;
    for sql in [
        "CREATE DATABASE warehouse",
        "CREATE TABLE warehouse.orders (id INT NOT NULL, amount INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        "INSERT INTO warehouse.orders VALUES (1, 10)",
        "CREATE DATABASE other",
        "CREATE TABLE other.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        "CREATE USER 'app_user'@'%' IDENTIFIED BY 'strong_password'",
        "CREATE USER 'readonly_user'@'%' IDENTIFIED BY 'readonly_password'",
        "CREATE USER 'etl_user'@'%' IDENTIFIED BY 'etl_password'",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON warehouse.* TO 'app_user'@'%'",
        "GRANT SELECT ON warehouse.* TO 'readonly_user'@'%'",
        "GRANT SELECT, INSERT, ALTER, CREATE ON warehouse.* TO 'etl_user'@'%'",
        "GRANT LOAD_PRIV ON *.* TO 'etl_user'@'%'",
    ] {
        exec(&mut root, sql).await;
    }
    let grants: Vec<(String, String, String)> =
        root.query("SHOW GRANTS FOR 'app_user'@'%'").await.unwrap();
    assert_eq!(
        grants,
        vec![(
            "'app_user'@'%'".to_string(),
            "default_catalog".to_string(),
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `warehouse`.* TO 'app_user'@'%'".to_string()
        )]
    );
    let login = |user: &str, password: &str| {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some(user))
            .pass(Some(password))
            .db_name(Some("warehouse"));
        async move { mysql_async::Conn::new(opts).await }
    };
    // Wrong passwords and unknown users.
    for (user, pw) in [("app_user", "nope"), ("app_user", ""), ("ghost", "x")] {
        let e = login(user, pw).await.unwrap_err();
        assert_eq!(errno(&e), 1045, "{user}: {e}");
    }
    let mut app = login("app_user", "strong_password").await.unwrap();
    let mut ro = login("readonly_user", "readonly_password").await.unwrap();
    let mut etl = login("etl_user", "etl_password").await.unwrap();
    // (statement, app, readonly, etl): allowed?
    let cases = [
        ("SELECT count(*) FROM orders", true, true, true),
        ("INSERT INTO orders VALUES (2, 20)", true, false, true),
        ("DELETE FROM orders WHERE id = 2", true, false, false),
        (
            "CREATE TABLE t2 (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
            false,
            false,
            true,
        ),
        (
            "ALTER TABLE orders ADD COLUMN note VARCHAR(10)",
            false,
            false,
            true,
        ),
        ("DROP TABLE orders", false, false, false),
        ("SELECT * FROM other.t", false, false, false),
        ("INSERT INTO other.t VALUES (1)", false, false, true),
        ("CREATE DATABASE newdb", false, false, false),
        ("CREATE USER 'x'@'%' IDENTIFIED BY 'y'", false, false, false),
        (
            "GRANT SELECT ON other.* TO 'readonly_user'@'%'",
            false,
            false,
            false,
        ),
    ];
    for (sql, a, r, e) in cases {
        for (who, conn, expected) in [
            ("app", &mut app, a),
            ("readonly", &mut ro, r),
            ("etl", &mut etl, e),
        ] {
            let result = conn.query_drop(sql).await;
            match (&result, expected) {
                (Ok(()), true) => {}
                (Err(err), false) => {
                    let code = errno(err);
                    assert!(
                        [1044, 1142, 1227].contains(&code),
                        "{who}: {sql}: unexpected error {err}"
                    );
                }
                _ => panic!("{who}: {sql}: expected allowed={expected}, got {result:?}"),
            }
        }
    }
    // An account for other hosts does not let this host in; nor can a user alter root.
    exec(&mut root, "CREATE USER 'remote'@'10.%' IDENTIFIED BY 'pw'").await;
    assert_eq!(errno(&login("remote", "pw").await.unwrap_err()), 1045);
    for sql in [
        "ALTER USER 'root'@'%' IDENTIFIED BY 'x'",
        "SET PASSWORD FOR 'root'@'%' = PASSWORD('x')",
        "GRANT ALL ON *.* TO 'etl_user'@'%'",
    ] {
        let e = etl.query_drop(sql).await.unwrap_err();
        assert_eq!(errno(&e), 1227, "{sql}: {e}");
    }
    // Revoking takes effect in open sessions.
    exec(
        &mut root,
        "REVOKE INSERT ON warehouse.* FROM 'app_user'@'%'",
    )
    .await;
    let e = app
        .query_drop("INSERT INTO orders VALUES (3, 30)")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1142, "{e}");
    // A user cannot hand out what they lack, or manage accounts.
    let e = etl
        .query_drop("GRANT SELECT ON warehouse.* TO 'readonly_user'@'%'")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1227, "{e}");
    // Own password change, then the old one no longer works.
    ro.query_drop("SET PASSWORD = PASSWORD('new_pw')")
        .await
        .unwrap();
    assert_eq!(
        errno(
            &login("readonly_user", "readonly_password")
                .await
                .unwrap_err()
        ),
        1045
    );
    login("readonly_user", "new_pw").await.unwrap();
    // Stream Load checks INSERT for the Basic-auth user.
    let be = server
        .handle
        .as_ref()
        .unwrap()
        .be_http_addr
        .expect("rigel server serves be_http_port")
        .port();
    let http = reqwest::Client::new();
    let load = |user: &'static str, pw: &'static str| {
        let req = http
            .put(format!(
                "http://127.0.0.1:{be}/api/warehouse/orders/_stream_load"
            ))
            .basic_auth(user, Some(pw))
            .header("column_separator", ",")
            .body("9,90,x\n");
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let r = load("etl_user", "etl_password").await;
    assert_eq!(r["Status"], "Success", "{r}");
    let r = load("readonly_user", "new_pw").await;
    assert_eq!(r["Status"], "Fail", "{r}");
    assert!(
        r["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("INSERT command denied"),
        "{r}"
    );
    let r = load("etl_user", "wrong").await;
    assert_eq!(r["Status"], "Fail", "{r}");
    // SHOW DATABASES, SHOW TABLES and information_schema show what the user may use.
    let dbs: Vec<String> = ro.query("SHOW DATABASES").await.unwrap();
    assert!(
        dbs.contains(&"warehouse".to_string()) && !dbs.contains(&"other".to_string()),
        "{dbs:?}"
    );
    let schemata: Vec<String> = ro
        .query("SELECT schema_name FROM information_schema.schemata ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(schemata, vec!["information_schema", "warehouse"]);
    let tables: Vec<(String, String)> = ro
        .query("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2")
        .await
        .unwrap();
    assert!(
        tables.iter().all(|(db, _)| db != "other")
            && tables.contains(&("warehouse".to_string(), "orders".to_string())),
        "{tables:?}"
    );
    let columns: i64 = ro
        .query_first("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'other'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(columns, 0);
    let e = ro.query_drop("SHOW TABLES FROM other").await;
    let listed: Vec<String> = match e {
        Ok(()) => ro.query("SHOW TABLES FROM other").await.unwrap(),
        Err(_) => vec![],
    };
    assert!(listed.is_empty(), "{listed:?}");
    let mine: Vec<String> = ro.query("SHOW TABLES").await.unwrap();
    assert!(mine.contains(&"orders".to_string()), "{mine:?}");
    // root with a password.
    exec(
        &mut root,
        "SET PASSWORD FOR 'root'@'%' = PASSWORD('rootpw')",
    )
    .await;
    assert_eq!(errno(&login("root", "").await.unwrap_err()), 1045);
    let mut root2 = login("root", "rootpw").await.unwrap();
    let users: Vec<String> = root2.query("SHOW USERS").await.unwrap();
    assert_eq!(users.len(), 5, "{users:?}");
    exec(&mut root2, "DROP USER 'app_user'@'%'").await;
    assert_eq!(
        errno(&login("app_user", "strong_password").await.unwrap_err()),
        1045
    );
    drop(app);
    server.stop().await;
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Each statement and each login (failed ones too) is audited once, in StarRocks' layout,
/// also in information_schema.audit_log for admins; slow statements also go to the slow
/// log; a password never reaches any file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_records_statements_and_logins() {
    let server = TestServer::start().await;
    let port = server.port();
    let mut c = server.conn().await;
    for sql in [
        "CREATE DATABASE au",
        "CREATE TABLE au.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        "INSERT INTO au.t VALUES (1), (2), (3)",
        "CREATE USER 'spy'@'%' IDENTIFIED BY 'hunter2secret'",
        "GRANT SELECT ON au.* TO 'spy'@'%'",
        "SET PASSWORD FOR 'spy'@'%' = PASSWORD('hunter3secret')",
    ] {
        exec(&mut c, sql).await;
    }
    let rows: Vec<i32> = c.query("SELECT * FROM au.t").await.unwrap();
    assert_eq!(rows.len(), 3);
    let e = c.query_drop("SELECT * FROM au.nope").await.unwrap_err();
    assert_eq!(errno(&e), 1146);
    let opts = |pw: &str| {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("spy"))
            .pass(Some(pw))
    };
    let e = mysql_async::Conn::new(opts("wrong")).await.unwrap_err();
    assert_eq!(errno(&e), 1045);
    let mut spy = mysql_async::Conn::new(opts("hunter3secret")).await.unwrap();

    let log = server.dir.path().join("log").join("fe.audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let select: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("|Stmt=SELECT * FROM au.t|"))
        .collect();
    assert_eq!(select.len(), 1, "{text}");
    for field in [
        " [query] |Timestamp=",
        "|User=root|AuthorizedUser='root'@'%'|",
        "|State=EOF|ErrorCode=|",
        "|ScanRows=3|ReturnRows=3|",
        "|IsQuery=true|",
    ] {
        assert!(select[0].contains(field), "{field} in {}", select[0]);
    }
    let failed: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("|Stmt=SELECT * FROM au.nope|"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].contains("|State=ERR|ErrorCode=1146|"),
        "{}",
        failed[0]
    );
    let insert = lines
        .iter()
        .filter(|l| l.contains("|Stmt=INSERT INTO au.t"))
        .count();
    assert_eq!(insert, 1);
    let logins: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(" [connection] ") && l.contains("|User=spy|"))
        .collect();
    assert_eq!(logins.len(), 2, "{text}");
    assert!(
        logins[0].contains("|State=ERR|ErrorCode=1045|"),
        "{}",
        logins[0]
    );
    assert!(logins[1].contains("|State=OK|"), "{}", logins[1]);

    // Admins query the same records in SQL; others see none.
    let (n, scan_rows): (i64, i64) = c
        .query_first(
            "SELECT count(*), max(scan_rows) FROM information_schema.audit_log
             WHERE stmt = 'SELECT * FROM au.t' AND state = 'EOF' AND user = 'root'",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((n, scan_rows), (1, 3));
    let seen: i64 = spy
        .query_first("SELECT count(*) FROM information_schema.audit_log")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, 0);

    // Slow statements also go to the slow-query log.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"qe_slow_log_ms\" = \"0\")",
    )
    .await;
    let one: i64 = c.query_first("SELECT 41 + 1").await.unwrap().unwrap();
    assert_eq!(one, 42);
    let slow =
        std::fs::read_to_string(server.dir.path().join("log").join("fe.slow_query.log")).unwrap();
    assert!(
        slow.lines()
            .any(|l| l.contains(" [slow_query] ") && l.contains("|Stmt=SELECT 41 + 1|")),
        "{slow}"
    );
    drop(spy);
    drop(c);
    // No password in any file the server wrote (catalog journal, audit logs, data).
    let files = files_under(server.dir.path());
    assert!(files.len() > 3, "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["hunter2secret", "hunter3secret"] {
            assert!(!text.contains(secret), "{secret} in {}", f.display());
        }
    }
    server.stop().await;
}

/// `max_conn_per_user` and `qe_max_connection` refuse connections past their limits with
/// MySQL's errors, and the server keeps serving everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits() {
    let server = TestServer::start().await;
    let port = server.port();
    let mut root = server.conn().await;
    exec(&mut root, "CREATE USER 'u'@'%' IDENTIFIED BY 'pw'").await;
    exec(
        &mut root,
        "ADMIN SET FRONTEND CONFIG (\"max_conn_per_user\" = \"2\")",
    )
    .await;
    let login = |user: &'static str, pw: &'static str| {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some(user))
            .pass(Some(pw));
        async move { mysql_async::Conn::new(opts).await }
    };
    let a = login("u", "pw").await.unwrap();
    let b = login("u", "pw").await.unwrap();
    let e = login("u", "pw").await.unwrap_err();
    assert_eq!(errno(&e), 1203, "{e}");
    // Other users are not affected; a closed connection frees its slot.
    let mut other = login("root", "").await.unwrap();
    other.query_drop("SELECT 1").await.unwrap();
    a.disconnect().await.unwrap();
    let mut again = None;
    for _ in 0..100 {
        match login("u", "pw").await {
            Ok(c) => {
                again = Some(c);
                break;
            }
            Err(_) => tokio::task::yield_now().await,
        }
    }
    assert!(again.is_some(), "the slot of a closed connection is reused");
    exec(
        &mut root,
        "ADMIN SET FRONTEND CONFIG (\"qe_max_connection\" = \"4\")",
    )
    .await;
    let e = login("root", "").await.unwrap_err();
    assert_eq!(errno(&e), 1040, "{e}");
    root.query_drop("SELECT 1").await.unwrap();
    drop(b);
}

/// Roles as in StarRocks 3.x: privileges granted to roles, roles granted to users and
/// roles, default roles active at login, SET ROLE, the built-in roles and `public`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_carry_privileges() {
    let server = TestServer::start().await;
    let port = server.port();
    let mut root = server.conn().await;
    for sql in [
        "CREATE DATABASE w",
        "CREATE TABLE w.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        "CREATE TABLE w.pub (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
        "CREATE ROLE analyst",
        "GRANT SELECT ON ALL TABLES IN DATABASE w TO ROLE analyst",
        "CREATE USER 'ana'@'%' IDENTIFIED BY 'pw' DEFAULT ROLE analyst",
        "CREATE USER 'bob'@'%' IDENTIFIED BY 'pw'",
        "GRANT analyst TO USER 'bob'@'%'",
        "CREATE USER 'carol'@'%' IDENTIFIED BY 'pw'",
        "GRANT user_admin TO 'carol'@'%'",
        "SET DEFAULT ROLE user_admin TO 'carol'@'%'",
    ] {
        exec(&mut root, sql).await;
    }
    let login = |user: &'static str| {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some(user))
            .pass(Some("pw"));
        async move { mysql_async::Conn::new(opts).await.unwrap() }
    };
    let select = "SELECT count(*) FROM w.t";
    // A default role is active at login.
    let mut ana = login("ana").await;
    ana.query_drop(select).await.unwrap();
    // A granted role that is not a default one is active after SET ROLE.
    let mut bob = login("bob").await;
    assert_eq!(errno(&bob.query_drop(select).await.unwrap_err()), 1142);
    bob.query_drop("SET ROLE analyst").await.unwrap();
    bob.query_drop(select).await.unwrap();
    bob.query_drop("SET ROLE NONE").await.unwrap();
    assert_eq!(errno(&bob.query_drop(select).await.unwrap_err()), 1142);
    assert_eq!(
        errno(&bob.query_drop("SET ROLE db_admin").await.unwrap_err()),
        1227
    );
    // Built-in roles: db_admin for data, user_admin for accounts.
    exec(&mut root, "GRANT db_admin TO USER 'bob'@'%'").await;
    bob.query_drop("SET ROLE ALL").await.unwrap();
    bob.query_drop(
        "CREATE TABLE w.t2 (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await
    .unwrap();
    assert_eq!(
        errno(
            &bob.query_drop("CREATE USER x IDENTIFIED BY 'y'")
                .await
                .unwrap_err()
        ),
        1227
    );
    let mut carol = login("carol").await;
    carol
        .query_drop("CREATE USER 'dave'@'%' IDENTIFIED BY 'pw'")
        .await
        .unwrap();
    // Roles of roles; no cycles.
    exec(&mut root, "CREATE ROLE r1").await;
    exec(&mut root, "CREATE ROLE r2").await;
    exec(&mut root, "GRANT r1 TO ROLE r2").await;
    assert!(root.query_drop("GRANT r2 TO ROLE r1").await.is_err());
    assert!(
        root.query_drop("GRANT ALL ON *.* TO ROLE db_admin")
            .await
            .is_err()
    );
    // public: what every account has.
    let mut dave = login("dave").await;
    assert_eq!(
        errno(&dave.query_drop("SELECT * FROM w.pub").await.unwrap_err()),
        1142
    );
    exec(&mut root, "GRANT SELECT ON TABLE w.pub TO ROLE public").await;
    dave.query_drop("SELECT * FROM w.pub").await.unwrap();
    // Introspection.
    let roles: Vec<(String, String, String)> = root.query("SHOW ROLES").await.unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.0.as_str()).collect();
    for n in [
        "analyst",
        "db_admin",
        "public",
        "r1",
        "r2",
        "root",
        "user_admin",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let grants: Vec<(String, String, String)> =
        root.query("SHOW GRANTS FOR ROLE analyst").await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].2, "GRANT SELECT ON `w`.* TO ROLE 'analyst'");
    let grants: Vec<(String, String, String)> =
        root.query("SHOW GRANTS FOR 'bob'@'%'").await.unwrap();
    assert_eq!(grants[0].2, "GRANT 'analyst', 'db_admin' TO 'bob'@'%'");
    // Other users' connections need OPERATE to be seen or killed.
    let users = |rows: Vec<mysql_async::Row>| -> Vec<String> {
        rows.into_iter()
            .map(|r| r.get::<String, _>(1).unwrap_or_default())
            .collect()
    };
    let seen = users(carol.query("SHOW PROCESSLIST").await.unwrap());
    assert!(seen.iter().all(|u| u == "carol"), "{seen:?}");
    let all = users(root.query("SHOW PROCESSLIST").await.unwrap());
    assert!(
        all.contains(&"bob".to_string()) && all.contains(&"carol".to_string()),
        "{all:?}"
    );
    let bob_id: u32 = bob.id();
    let e = carol
        .query_drop(format!("KILL {bob_id}"))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1227, "{e}");
    // Dropping a role takes it from everyone at once.
    exec(&mut root, "DROP ROLE analyst").await;
    assert_eq!(errno(&ana.query_drop(select).await.unwrap_err()), 1142);
    assert!(root.query_drop("DROP ROLE db_admin").await.is_err());
}
