//! Backup repositories over the MySQL protocol.

use mysql_async::prelude::Queryable;

use crate::common::{TestServer, errno, exec};

/// `ER_IO_ERROR`: the repository directory cannot be used.
const IO_ERROR: u16 = rigel_common::ErrorCode::ER_IO_ERROR.errno;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_are_created_listed_kept_and_dropped() {
    let mut server = TestServer::start().await;
    let repo_dir = tempfile::tempdir().unwrap();
    let location = format!("file://{}/nightly", repo_dir.path().display());
    let mut c = server.conn().await;
    exec(
        &mut c,
        &format!(
            "CREATE REPOSITORY nightly WITH BROKER ON LOCATION \"{location}\" \
             PROPERTIES (\"aws.s3.access_key\" = \"AKIAEXAMPLE\", \"aws.s3.secret_key\" = \"very-secret-key\")"
        ),
    )
    .await;
    assert!(repo_dir.path().join("nightly").is_dir());
    let rows: Vec<mysql_async::Row> = c.query("SHOW REPOSITORIES").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].get::<String, _>("RepoName").as_deref(),
        Some("nightly")
    );
    assert_eq!(
        rows[0].get::<String, _>("IsReadOnly").as_deref(),
        Some("false")
    );
    assert_eq!(rows[0].get::<String, _>("Location"), Some(location.clone()));
    assert_eq!(rows[0].get::<String, _>("ErrMsg").as_deref(), Some("NULL"));
    let shown = format!("{rows:?}");
    assert!(!shown.contains("very-secret-key") && !shown.contains("AKIAEXAMPLE"));

    // A second one read-only over the same files; a read-only one needs an existing directory.
    exec(
        &mut c,
        &format!("CREATE READ ONLY REPOSITORY standby WITH BROKER ON LOCATION \"{location}\""),
    )
    .await;
    let missing = format!("file://{}/nope", repo_dir.path().display());
    let e = c
        .query_drop(format!(
            "CREATE READ ONLY REPOSITORY ghost WITH BROKER ON LOCATION \"{missing}\""
        ))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), IO_ERROR);
    assert!(e.to_string().contains("cannot read"), "{e}");
    let e = c
        .query_drop(format!(
            "CREATE REPOSITORY nightly WITH BROKER ON LOCATION \"{location}\""
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already exist"), "{e}");
    let e = c
        .query_drop("CREATE REPOSITORY s3repo WITH BROKER ON LOCATION \"s3a://bucket/path\"")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1235);

    // Only administrators manage repositories.
    exec(&mut c, "CREATE USER op IDENTIFIED BY 'pw'").await;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some("op"))
        .pass(Some("pw"));
    let mut op = mysql_async::Conn::new(opts).await.unwrap();
    assert_eq!(
        errno(&op.query_drop("DROP REPOSITORY nightly").await.unwrap_err()),
        1227
    );
    assert_eq!(
        errno(&op.query_drop("SHOW REPOSITORIES").await.unwrap_err()),
        1227
    );
    drop(op);

    // The secret is masked in the audit log.
    let stmts: Vec<String> = c
        .query(
            "SELECT stmt FROM information_schema.audit_log WHERE stmt LIKE '%REPOSITORY nightly%'",
        )
        .await
        .unwrap();
    assert!(!stmts.is_empty());
    assert!(
        stmts
            .iter()
            .all(|s| !s.contains("very-secret-key") && !s.contains("AKIAEXAMPLE"))
    );

    // Repositories survive a restart; dropping forgets the name and keeps the files.
    drop(c);
    server.restart().await;
    let mut c = server.conn().await;
    let rows: Vec<mysql_async::Row> = c.query("SHOW REPOSITORIES").await.unwrap();
    assert_eq!(rows.len(), 2);
    exec(&mut c, "DROP REPOSITORY standby").await;
    let e = c.query_drop("DROP REPOSITORY standby").await.unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(repo_dir.path().join("nightly").is_dir());
    let rows: Vec<mysql_async::Row> = c.query("SHOW REPOSITORIES").await.unwrap();
    assert_eq!(rows.len(), 1);
    drop(c);
    server.stop().await;
}
