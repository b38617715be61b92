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
    let be = server.handle.as_ref().unwrap().be_http_addr.port();
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
    // SHOW DATABASES shows what the user may use.
    let dbs: Vec<String> = ro.query("SHOW DATABASES").await.unwrap();
    assert!(
        dbs.contains(&"warehouse".to_string()) && !dbs.contains(&"other".to_string()),
        "{dbs:?}"
    );
    // root with a password.
    exec(
        &mut root,
        "SET PASSWORD FOR 'root'@'%' = PASSWORD('rootpw')",
    )
    .await;
    assert_eq!(errno(&login("root", "").await.unwrap_err()), 1045);
    let mut root2 = login("root", "rootpw").await.unwrap();
    let users: Vec<String> = root2.query("SHOW USERS").await.unwrap();
    assert_eq!(users.len(), 4, "{users:?}");
    exec(&mut root2, "DROP USER 'app_user'@'%'").await;
    assert_eq!(
        errno(&login("app_user", "strong_password").await.unwrap_err()),
        1045
    );
    drop(app);
    server.stop().await;
}
