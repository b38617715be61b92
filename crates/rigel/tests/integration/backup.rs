//! Backup repositories over the MySQL protocol.

use mysql_async::prelude::Queryable;

use crate::common::{ServerProcess, TestServer, connect, errno, exec};

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
        &format!("CREATE REPOSITORY nightly WITH BROKER ON LOCATION \"{location}\""),
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
    assert!(e.to_string().contains("No such file or directory"), "{e}");
    let e = c
        .query_drop(format!(
            "CREATE REPOSITORY nightly WITH BROKER ON LOCATION \"{location}\""
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already exist"), "{e}");
    let e = c
        .query_drop("CREATE REPOSITORY h WITH BROKER ON LOCATION \"hdfs://nn:8020/path\"")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1235);
    let e = c
        .query_drop(format!(
            "CREATE REPOSITORY p WITH BROKER ON LOCATION \"{location}\" PROPERTIES (\"aws.s3.region\" = \"x\")"
        ))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("does not apply to a directory"),
        "{e}"
    );

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

/// `CREATE REPOSITORY r` on a directory.
async fn create_repo(c: &mut mysql_async::Conn, dir: &std::path::Path) {
    let sql = format!(
        "CREATE REPOSITORY r WITH BROKER ON LOCATION \"file://{}\"",
        dir.display()
    );
    exec(c, &sql).await;
}

/// Polls `SHOW BACKUP|RESTORE FROM db` until the job ends; returns its row.
async fn wait_job(c: &mut mysql_async::Conn, what: &str, db: &str) -> mysql_async::Row {
    // A guard against a hung job, not a timing assertion.
    for _ in 0..2400 {
        let rows: Vec<mysql_async::Row> = c.query(format!("SHOW {what} FROM {db}")).await.unwrap();
        let row = rows.into_iter().next().expect("a job");
        let state: String = row.get("State").unwrap();
        if state == "FINISHED" || state == "CANCELLED" {
            return row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the {what} job in {db} did not end");
}

async fn finished(c: &mut mysql_async::Conn, what: &str, db: &str) {
    let row = wait_job(c, what, db).await;
    assert_eq!(
        row.get::<String, _>("State").as_deref(),
        Some("FINISHED"),
        "{row:?}"
    );
}

/// Every table's rows, sorted, as text: what a restore must reproduce.
async fn contents(c: &mut mysql_async::Conn, db: &str, tables: &[&str]) -> Vec<Vec<String>> {
    let mut out = vec![];
    for t in tables {
        let rows: Vec<mysql_async::Row> = c.query(format!("SELECT * FROM {db}.{t}")).await.unwrap();
        let mut rows: Vec<String> = rows
            .into_iter()
            .map(|r| format!("{:?}", r.unwrap()))
            .collect();
        rows.sort();
        assert!(!rows.is_empty(), "{db}.{t} is empty");
        out.push(rows);
    }
    out
}

fn blob_count(repo: &std::path::Path) -> usize {
    let blobs = repo.join("blobs");
    if !blobs.exists() {
        return 0;
    }
    std::fs::read_dir(blobs)
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum()
}

const TABLES: [&str; 5] = ["dup", "agg", "uniq", "pk", "v"];

/// A database with every table model, partitions, several rowsets, a DELETE rewrite,
/// primary-key updates and deletes, and a view.
async fn fill(c: &mut mysql_async::Conn, db: &str) {
    for sql in [
        format!("CREATE DATABASE {db}"),
        format!(
            "CREATE TABLE {db}.dup (d DATE NOT NULL, k INT, s VARCHAR(20)) DUPLICATE KEY(d, k) \
             PARTITION BY RANGE(d) (PARTITION p1 VALUES LESS THAN ('2024-02-01'), \
             PARTITION p2 VALUES LESS THAN ('2024-03-01')) DISTRIBUTED BY HASH(k) BUCKETS 2"
        ),
        format!(
            "CREATE TABLE {db}.agg (k INT NOT NULL, total BIGINT SUM, most INT MAX) \
             AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2"
        ),
        format!(
            "CREATE TABLE {db}.uniq (k INT NOT NULL, v VARCHAR(10)) UNIQUE KEY(k) \
             DISTRIBUTED BY HASH(k) BUCKETS 2"
        ),
        format!(
            "CREATE TABLE {db}.pk (k INT NOT NULL, v INT, s STRING) PRIMARY KEY(k) \
             DISTRIBUTED BY HASH(k) BUCKETS 2"
        ),
        // A view keeps its SQL text: a restore into another database still reads {db}.uniq.
        format!("CREATE VIEW {db}.v AS SELECT k, v FROM {db}.uniq WHERE k > 1"),
    ] {
        exec(c, &sql).await;
    }
    for round in 0..3 {
        let dup: Vec<String> = (0..20)
            .map(|i| {
                let month = 1 + i % 2;
                format!(
                    "('2024-0{month}-{:02}', {}, 's{round}-{i}')",
                    1 + i % 28,
                    i + round * 100
                )
            })
            .collect();
        exec(c, &format!("INSERT INTO {db}.dup VALUES {}", dup.join(","))).await;
        let agg: Vec<String> = (0..10)
            .map(|i| format!("({i}, {}, {})", i + round, round * i))
            .collect();
        exec(c, &format!("INSERT INTO {db}.agg VALUES {}", agg.join(","))).await;
        let uniq: Vec<String> = (0..10).map(|i| format!("({i}, 'r{round}')")).collect();
        exec(
            c,
            &format!("INSERT INTO {db}.uniq VALUES {}", uniq.join(",")),
        )
        .await;
        let pk: Vec<String> = (0..30)
            .map(|i| format!("({i}, {}, 'p{round}')", i * round))
            .collect();
        exec(c, &format!("INSERT INTO {db}.pk VALUES {}", pk.join(","))).await;
    }
    exec(c, &format!("DELETE FROM {db}.dup WHERE k % 7 = 0")).await;
    exec(c, &format!("DELETE FROM {db}.pk WHERE k >= 25")).await;
    exec(c, &format!("UPDATE {db}.pk SET v = -1 WHERE k < 3")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_backups_restore_every_table_model() {
    let server = TestServer::start().await;
    let repo_dir = tempfile::tempdir().unwrap();
    let mut c = server.conn().await;
    // No compaction between the backups: the incremental one must send exactly one file.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"cumulative_compaction_check_interval_seconds\" = \"0\")",
    )
    .await;
    create_repo(&mut c, repo_dir.path()).await;
    fill(&mut c, "src").await;
    let before = contents(&mut c, "src", &TABLES).await;

    exec(
        &mut c,
        "BACKUP SNAPSHOT src.monday TO r PROPERTIES (\"type\" = \"full\")",
    )
    .await;
    let job = wait_job(&mut c, "BACKUP", "src").await;
    assert_eq!(
        job.get::<String, _>("State").as_deref(),
        Some("FINISHED"),
        "{job:?}"
    );
    assert_eq!(job.get::<String, _>("Status").as_deref(), Some("[OK]"));
    assert_eq!(
        job.get::<String, _>("BackupObjs").as_deref(),
        Some("agg, dup, pk, uniq, v")
    );
    let full_files = blob_count(repo_dir.path());
    assert!(full_files >= 8, "{full_files} files");
    let rows: Vec<mysql_async::Row> = c.query("SHOW SNAPSHOT ON r").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].get::<String, _>("Snapshot").as_deref(),
        Some("monday")
    );
    assert_eq!(rows[0].get::<String, _>("Status").as_deref(), Some("OK"));
    assert_eq!(rows[0].get::<String, _>("Database").as_deref(), Some("src"));
    let monday_ts: String = rows[0].get("Timestamp").unwrap();

    // A small change, then an incremental backup: only the new files are sent.
    exec(&mut c, "INSERT INTO src.agg VALUES (1, 1000, 1)").await;
    let after = contents(&mut c, "src", &TABLES).await;
    exec(
        &mut c,
        "BACKUP SNAPSHOT src.tuesday TO r PROPERTIES (\"type\" = \"incremental\")",
    )
    .await;
    finished(&mut c, "BACKUP", "src").await;
    assert_eq!(
        blob_count(repo_dir.path()),
        full_files + 1,
        "one new segment file"
    );
    // One job per database at a time; a second backup of the same name is a new snapshot.
    let rows: Vec<mysql_async::Row> = c
        .query("SHOW SNAPSHOT ON r WHERE Snapshot = 'tuesday'")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);

    // Each snapshot restores on its own, into new databases.
    exec(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT monday FROM r DATABASE src AS mon PROPERTIES (\"backup_timestamp\" = \"{monday_ts}\")"
        ),
    )
    .await;
    finished(&mut c, "RESTORE", "mon").await;
    assert_eq!(contents(&mut c, "mon", &TABLES).await, before);
    exec(
        &mut c,
        "RESTORE SNAPSHOT tuesday FROM r DATABASE src AS tue",
    )
    .await;
    finished(&mut c, "RESTORE", "tue").await;
    assert_eq!(contents(&mut c, "tue", &TABLES).await, after);
    // Restored tables take loads and keep their models.
    exec(&mut c, "INSERT INTO tue.pk VALUES (1, 5, 'new')").await;
    let v: Option<i64> = c
        .query_first("SELECT v FROM tue.pk WHERE k = 1")
        .await
        .unwrap();
    assert_eq!(v, Some(5));
    exec(&mut c, "INSERT INTO tue.agg VALUES (1, 1, 1)").await;
    let n: Option<i64> = c.query_first("SELECT count(*) FROM tue.agg").await.unwrap();
    assert_eq!(n, Some(10));

    // One table, renamed, into the source database; a name in use is refused.
    exec(
        &mut c,
        "RESTORE SNAPSHOT src.monday FROM r ON (dup PARTITION (p1) AS dup_jan)",
    )
    .await;
    finished(&mut c, "RESTORE", "src").await;
    let jan: Option<i64> = c
        .query_first("SELECT count(*) FROM src.dup_jan")
        .await
        .unwrap();
    let want: Option<i64> = c
        .query_first("SELECT count(*) FROM mon.dup WHERE d < '2024-02-01'")
        .await
        .unwrap();
    assert_eq!(jan, want);
    let e = c
        .query_drop("RESTORE SNAPSHOT src.monday FROM r ON (agg)")
        .await
        .unwrap_err();
    assert_eq!(errno(&e), 1050, "{e}");
    let e = c
        .query_drop("RESTORE SNAPSHOT src.friday FROM r")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("There is no snapshot friday"), "{e}");
    let e = c
        .query_drop("RESTORE SNAPSHOT src.monday FROM r PROPERTIES (\"backup_timestamp\" = \"2020-01-01-00-00-00-000\")")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("backup_timestamp"), "{e}");
    let e = c
        .query_drop("BACKUP SNAPSHOT src.x TO nowhere")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Repository does not exist"), "{e}");

    // Verification reads every file.
    let rows: Vec<mysql_async::Row> = c.query("VERIFY SNAPSHOT monday FROM r").await.unwrap();
    assert_eq!(
        rows[0].get::<String, _>("Status").as_deref(),
        Some("OK"),
        "{rows:?}"
    );
    assert_eq!(rows[0].get::<i64, _>("Files"), Some(full_files as i64));

    // Retention: dropping monday deletes only what tuesday does not use (the agg file the
    // insert replaced nothing, so nothing goes); dropping tuesday empties the repository.
    let rows: Vec<mysql_async::Row> = c
        .query("DROP SNAPSHOT ON r WHERE Snapshot = 'monday'")
        .await
        .unwrap();
    assert_eq!(rows[0].get::<i64, _>("SnapshotsDropped"), Some(1));
    assert_eq!(rows[0].get::<i64, _>("FilesDeleted"), Some(0));
    assert_eq!(blob_count(repo_dir.path()), full_files + 1);
    let rows: Vec<mysql_async::Row> = c
        .query("DROP SNAPSHOT ON r WHERE Timestamp > '2000'")
        .await
        .unwrap();
    assert_eq!(rows[0].get::<i64, _>("SnapshotsDropped"), Some(1));
    assert_eq!(
        rows[0].get::<i64, _>("FilesDeleted"),
        Some(full_files as i64 + 1)
    );
    assert_eq!(blob_count(repo_dir.path()), 0);
    drop(c);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_missing_files_are_found_and_refused() {
    let server = TestServer::start().await;
    let repo_dir = tempfile::tempdir().unwrap();
    let mut c = server.conn().await;
    create_repo(&mut c, repo_dir.path()).await;
    fill(&mut c, "src").await;
    exec(&mut c, "BACKUP SNAPSHOT src.s1 TO r ON (pk, uniq)").await;
    finished(&mut c, "BACKUP", "src").await;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(repo_dir.path().join("blobs"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    let name = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();

    // One file flipped, one gone.
    let mut data = std::fs::read(&files[0]).unwrap();
    data[10] ^= 0xff;
    std::fs::write(&files[0], data).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let rows: Vec<mysql_async::Row> = c.query("VERIFY SNAPSHOT s1 FROM r").await.unwrap();
    assert_eq!(
        rows[0].get::<String, _>("Status").as_deref(),
        Some("CORRUPT")
    );
    let details: String = rows[0].get("Details").unwrap();
    assert!(
        details.contains(&name(&files[0])) && details.contains("corrupt"),
        "{details}"
    );
    assert!(
        details.contains(&name(&files[1])) && details.contains("missing"),
        "{details}"
    );

    // The restore fails naming a file, and leaves nothing behind.
    let tablets_before: Vec<mysql_async::Row> = c
        .query("SELECT * FROM information_schema.be_tablets")
        .await
        .unwrap();
    exec(&mut c, "RESTORE SNAPSHOT s1 FROM r DATABASE src AS dst").await;
    let job = wait_job(&mut c, "RESTORE", "dst").await;
    assert_eq!(job.get::<String, _>("State").as_deref(), Some("CANCELLED"));
    let err: String = job.get("TaskErrMsg").unwrap();
    assert!(
        err.contains(&name(&files[0])) || err.contains(&name(&files[1])),
        "{err}"
    );
    let e = c.query_drop("SELECT * FROM dst.pk").await.unwrap_err();
    assert!(matches!(errno(&e), 1049 | 1146), "{e}");
    let tablets_after: Vec<mysql_async::Row> = c
        .query("SELECT * FROM information_schema.be_tablets")
        .await
        .unwrap();
    assert_eq!(tablets_before.len(), tablets_after.len());
    // A corrupt manifest is reported, not trusted.
    let manifest = std::fs::read_dir(repo_dir.path().join("snapshots/s1"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("manifest");
    let mut m = std::fs::read(&manifest).unwrap();
    let last = m.len() - 2;
    m[last] ^= 0x01;
    std::fs::write(&manifest, m).unwrap();
    let rows: Vec<mysql_async::Row> = c.query("SHOW SNAPSHOT ON r").await.unwrap();
    let status: String = rows[0].get("Status").unwrap();
    assert!(
        status.starts_with("ERROR") && status.contains("checksum"),
        "{status}"
    );
    let e = c
        .query_drop("RESTORE SNAPSHOT s1 FROM r DATABASE src AS dst2")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("corrupt"), "{e}");
    drop(c);
    server.stop().await;
}

/// `kill -9` during a backup and during a restore: afterwards the repository lists either
/// a complete snapshot or none, a restored table is either whole or absent, and both jobs
/// can be run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_backup_or_restore_leaves_nothing_half_done() {
    let data = tempfile::tempdir().unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path());
    let mut c = connect(server.port, None).await;
    create_repo(&mut c, repo_dir.path()).await;
    fill(&mut c, "src").await;
    let want = contents(&mut c, "src", &TABLES).await;
    exec(&mut c, "BACKUP SNAPSHOT src.s1 TO r").await;
    drop(c);
    server.kill9();

    let server = ServerProcess::spawn(data.path());
    let mut c = connect(server.port, None).await;
    let rows: Vec<mysql_async::Row> = c.query("SHOW SNAPSHOT ON r").await.unwrap();
    assert!(rows.len() <= 1);
    if !rows.is_empty() {
        let v: Vec<mysql_async::Row> = c.query("VERIFY SNAPSHOT s1 FROM r").await.unwrap();
        assert_eq!(v[0].get::<String, _>("Status").as_deref(), Some("OK"));
    }
    // Run it again (a second snapshot of the name when the first one made it).
    exec(&mut c, "BACKUP SNAPSHOT src.s1 TO r").await;
    finished(&mut c, "BACKUP", "src").await;
    exec(&mut c, "RESTORE SNAPSHOT s1 FROM r DATABASE src AS dst").await;
    drop(c);
    server.kill9();

    let server = ServerProcess::spawn(data.path());
    let mut c = connect(server.port, None).await;
    let restored: Vec<String> = c
        .query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'dst'")
        .await
        .unwrap();
    if restored.is_empty() {
        exec(&mut c, "RESTORE SNAPSHOT s1 FROM r DATABASE src AS dst").await;
        finished(&mut c, "RESTORE", "dst").await;
    }
    assert_eq!(contents(&mut c, "dst", &TABLES).await, want);
    // Every tablet belongs to a table: none left over from the interrupted restore.
    let tablets: Vec<u64> = c
        .query("SELECT tablet_id FROM information_schema.be_tablets")
        .await
        .unwrap();
    // dup: 2 partitions x 2 buckets; agg, uniq, pk: 2 buckets each; in src and in dst.
    assert_eq!(tablets.len(), 2 * (4 + 2 + 2 + 2));
    drop(c);
    server.kill9();
}

/// An S3-compatible server on loopback (`moto_server`), if installed. `dev/test.sh` installs
/// it and sets `RIGEL_REQUIRE_MOTO=1`, which turns its absence into a failure.
struct Moto {
    child: std::process::Child,
    port: u16,
}

impl Moto {
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("RIGEL_REQUIRE_MOTO").is_err(),
                    "moto_server is required: {e}"
                );
                eprintln!("skipping the S3 test: moto_server is not installed ({e})");
                return None;
            }
        };
        let moto = Moto { child, port };
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(moto);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_to_an_s3_server_restore_on_another_server() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let bucket = format!("{}/rigel-backups", moto.endpoint());
    let made = reqwest::Client::new().put(&bucket).send().await.unwrap();
    assert!(made.status().is_success(), "{made:?}");
    let props = format!(
        "PROPERTIES (\"aws.s3.access_key\" = \"AKIAEXAMPLE\", \"aws.s3.secret_key\" = \
         \"very-secret-key\", \"aws.s3.endpoint\" = \"{}\", \"aws.s3.region\" = \"us-east-1\")",
        moto.endpoint()
    );
    let primary = TestServer::start().await;
    let mut c = primary.conn().await;
    exec(
        &mut c,
        &format!(
            "CREATE REPOSITORY s3 WITH BROKER ON LOCATION \"s3a://rigel-backups/prod\" {props}"
        ),
    )
    .await;
    let rows: Vec<mysql_async::Row> = c.query("SHOW REPOSITORIES").await.unwrap();
    assert_eq!(rows[0].get::<String, _>("ErrMsg").as_deref(), Some("NULL"));
    let shown = format!("{rows:?}");
    assert!(!shown.contains("very-secret-key") && !shown.contains("AKIAEXAMPLE"));
    let stmts: Vec<String> = c
        .query("SELECT stmt FROM information_schema.audit_log WHERE stmt LIKE '%REPOSITORY s3%'")
        .await
        .unwrap();
    assert!(!stmts.is_empty());
    assert!(
        stmts
            .iter()
            .all(|s| !s.contains("very-secret-key") && !s.contains("AKIAEXAMPLE"))
    );
    // An unreachable endpoint and an unknown bucket are clear errors.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = c
        .query_drop(format!(
            "CREATE REPOSITORY down WITH BROKER ON LOCATION \"s3://rigel-backups/x\" PROPERTIES \
             (\"aws.s3.endpoint\" = \"http://127.0.0.1:{closed_port}\", \"aws.s3.access_key\" = \"a\", \
             \"aws.s3.secret_key\" = \"b\")"
        ))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), IO_ERROR, "{e}");
    let e = c
        .query_drop(format!(
            "CREATE REPOSITORY nob WITH BROKER ON LOCATION \"s3://no-such-bucket/x\" {props}"
        ))
        .await
        .unwrap_err();
    assert_eq!(errno(&e), IO_ERROR, "{e}");

    fill(&mut c, "src").await;
    let want = contents(&mut c, "src", &TABLES).await;
    exec(&mut c, "BACKUP DATABASE src SNAPSHOT nightly TO s3").await;
    finished(&mut c, "BACKUP", "src").await;
    drop(c);

    // The standby: a second server restores the primary's snapshot from the same bucket.
    let standby = TestServer::start().await;
    let mut s = standby.conn().await;
    exec(
        &mut s,
        &format!(
            "CREATE READ ONLY REPOSITORY s3 WITH BROKER ON LOCATION \"s3://rigel-backups/prod\" {props}"
        ),
    )
    .await;
    let rows: Vec<mysql_async::Row> = s.query("SHOW SNAPSHOT ON s3").await.unwrap();
    assert_eq!(rows.len(), 1);
    let v: Vec<mysql_async::Row> = s.query("VERIFY SNAPSHOT nightly FROM s3").await.unwrap();
    assert_eq!(
        v[0].get::<String, _>("Status").as_deref(),
        Some("OK"),
        "{v:?}"
    );
    let e = s
        .query_drop("BACKUP SNAPSHOT src.x TO s3")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("read only"), "{e}");
    exec(&mut s, "RESTORE SNAPSHOT nightly FROM s3 DATABASE src").await;
    finished(&mut s, "RESTORE", "src").await;
    assert_eq!(contents(&mut s, "src", &TABLES).await, want);
    drop(s);
    standby.stop().await;
    primary.stop().await;
}

/// Runs `rigel backup …` against a server; returns the exit code and stdout.
fn rigel_backup(port: u16, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rigel"))
        .args([
            "backup",
            "--port",
            &port.to_string(),
            "--repo",
            "r",
            "--quiet",
        ])
        .args(args)
        .output()
        .expect("run rigel backup");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("rigel backup {args:?}: {stdout}{stderr}");
    (out.status.code().unwrap_or(-1), stdout)
}

/// TPC-H at a small scale through `rigel backup`: a full backup restored into another
/// database answers the 22 queries as DataFusion does on the generated files; verify,
/// list and cleanup with their exit codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_round_trip_through_the_backup_command() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let port = server.port();
    let http_port = server.handle.as_ref().unwrap().http_addr.port();
    let bench =
        |database: &str, skip_load: bool, queries: &str, verify: &str| rigel::bench::TpchArgs {
            sf: 0.01,
            tbl_dir: None,
            work_dir: work.path().to_path_buf(),
            endpoint: rigel::bench::Endpoint {
                host: Some("127.0.0.1".into()),
                port,
                http_port,
                user: "root".into(),
                password: String::new(),
                cluster: None,
            },
            database: database.into(),
            queries: queries.into(),
            runs: 1,
            warmup: 0,
            skip_load,
            no_analyze: false,
            verify: verify.into(),
            json: true,
            set: vec![],
        };
    assert!(
        rigel::bench::run(bench("tpch", false, "1", "none"))
            .await
            .unwrap()
    );
    let mut c = server.conn().await;
    create_repo(&mut c, repo_dir.path()).await;
    drop(c);

    let (code, out) = rigel_backup(port, &["full", "--db", "tpch", "--snapshot", "sf001"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("full backup sf001 of tpch finished"), "{out}");
    let (code, out) = rigel_backup(
        port,
        &[
            "restore",
            "--db",
            "tpch",
            "--snapshot",
            "sf001",
            "--as",
            "tpch_copy",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        rigel::bench::run(bench("tpch_copy", true, "1-22", "datafusion"))
            .await
            .unwrap(),
        "the restored TPC-H database answers differently"
    );

    let (code, out) = rigel_backup(port, &["list"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("sf001\t") && out.contains("\tOK"), "{out}");
    let (code, out) = rigel_backup(port, &["verify"]);
    assert_eq!(code, 0, "{out}");
    // A damaged file: verify exits 1, as does a restore of it; a restore of a snapshot that
    // does not exist exits 2 (the statement could not run).
    let blob = std::fs::read_dir(repo_dir.path().join("blobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&blob)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, b"damaged").unwrap();
    let (code, out) = rigel_backup(port, &["verify", "--snapshot", "sf001"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("CORRUPT"), "{out}");
    let (code, _) = rigel_backup(port, &["restore", "--db", "tpch", "--snapshot", "nope"]);
    assert_eq!(code, 2);
    let (code, _) = rigel_backup(
        port,
        &[
            "restore",
            "--db",
            "tpch",
            "--snapshot",
            "sf001",
            "--as",
            "tpch_bad",
        ],
    );
    assert_eq!(code, 1, "a restore of a damaged snapshot fails");
    // Retention: snapshots newer than the cut-off stay, older ones and their files go.
    let (code, out) = rigel_backup(port, &["cleanup", "--keep-days", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("dropped 0 snapshots"), "{out}");
    let (code, out) = rigel_backup(port, &["cleanup", "--keep-days", "0"]);
    assert_eq!(code, 0);
    assert!(out.contains("dropped 1 snapshots"), "{out}");
    assert_eq!(blob_count(repo_dir.path()), 0);
    let (code, out) = rigel_backup(port, &["list"]);
    assert_eq!((code, out.as_str()), (0, ""));
    server.stop().await;
}
