//! TLS on the MySQL port, with certificates made in the test: mysql_async and the mariadb
//! CLI over TLS, plaintext refused when TLS is required, a renewed certificate picked up
//! without a restart.

use std::path::{Path, PathBuf};
use std::process::Command;

use mysql_async::prelude::*;
use mysql_async::{OptsBuilder, SslOpts};

use crate::common::{TestServer, errno, test_config};

/// A CA and a server certificate for localhost / 127.0.0.1 it signed, as PEM files in `dir`:
/// (ca.pem, server.pem, server.key).
fn make_certs(dir: &Path, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("Rigel test CA {tag}"));
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let paths = (
        dir.join(format!("ca-{tag}.pem")),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

async fn start(dir: &Path, require: bool) -> (TestServer, PathBuf) {
    let data = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir, "1");
    let mut config = test_config(data.path());
    config.ssl_certificate = cert.to_string_lossy().into_owned();
    config.ssl_private_key = key.to_string_lossy().into_owned();
    config.require_secure_transport = require;
    let handle = rigel::start(config).await.unwrap();
    (
        TestServer {
            handle: Some(handle),
            dir: data,
        },
        ca,
    )
}

fn opts(port: u16, ssl: Option<SslOpts>) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("root"))
        .ssl_opts(ssl)
}

fn verify_with(ca: &Path) -> SslOpts {
    SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (server, ca) = start(certs.path(), false).await;
    let port = server.port();
    // Verified against the CA (VERIFY_CA / VERIFY_IDENTITY).
    let mut c = mysql_async::Conn::new(opts(port, Some(verify_with(&ca))))
        .await
        .unwrap();
    let n: i64 = c.query_first("SELECT 6 * 7").await.unwrap().unwrap();
    assert_eq!(n, 42);
    // Large results travel over TLS too.
    let rows: Vec<i64> = c
        .query("SELECT value FROM generate_series(1, 100000)")
        .await
        .unwrap();
    assert_eq!(rows.len(), 100_000);
    drop(c);
    // Plaintext still works while TLS is optional...
    let mut plain = mysql_async::Conn::new(opts(port, None)).await.unwrap();
    plain.query_drop("SELECT 1").await.unwrap();
    // ...except for accounts that REQUIRE SSL.
    plain
        .query_drop("CREATE USER 'sec'@'%' IDENTIFIED BY 'pw' REQUIRE SSL")
        .await
        .unwrap();
    let sec = |ssl: Option<SslOpts>| opts(port, ssl).user(Some("sec")).pass(Some("pw"));
    let e = mysql_async::Conn::new(sec(None)).await.unwrap_err();
    assert_eq!(errno(&e), 1045, "{e}");
    mysql_async::Conn::new(sec(Some(verify_with(&ca))))
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    plain
        .query_drop("ALTER USER 'sec'@'%' REQUIRE NONE")
        .await
        .unwrap();
    mysql_async::Conn::new(sec(None)).await.unwrap();

    // The mariadb CLI with --ssl and the CA.
    let out = Command::new(crate::cli::mariadb_binary())
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "root",
            "--batch",
        ])
        .arg("--ssl")
        .arg(format!("--ssl-ca={}", ca.display()))
        .args(["-e", "SELECT 'over tls'"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("over tls"));

    // Stream Load over HTTPS on both HTTP ports; the frontend redirects to an https URL.
    plain.query_drop("CREATE DATABASE s").await.unwrap();
    plain
        .query_drop(
            "CREATE TABLE s.t (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
        )
        .await
        .unwrap();
    let data = certs.path().join("rows.csv");
    std::fs::write(&data, "1,10\n2,20\n").unwrap();
    let handle = server.handle.as_ref().unwrap();
    let (fe, be) = (
        handle.http_addr.port(),
        handle
            .be_http_addr
            .expect("rigel server serves be_http_port")
            .port(),
    );
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert", &ca.to_string_lossy(), "-u", "root:"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let url = |port: u16| format!("https://127.0.0.1:{port}/api/s/t/_stream_load");
    let file = data.to_string_lossy().into_owned();
    let (ok, body) = curl(&["-H", "column_separator:,", "-T", &file, &url(be)]);
    assert!(ok && body.contains("\"Status\": \"Success\""), "{body}");
    let (ok, redirect) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{redirect_url}",
        "-T",
        &file,
        &url(fe),
    ]);
    assert!(ok && redirect.starts_with("https://"), "{redirect}");
    let (ok, body) = curl(&[
        "--location-trusted",
        "-H",
        "column_separator:,",
        "-T",
        &file,
        &url(fe),
    ]);
    assert!(ok && body.contains("\"Status\": \"Success\""), "{body}");
    let n: i64 = plain
        .query_first("SELECT count(*) FROM s.t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 4);
    // Plain HTTP to an HTTPS port gets no answer.
    let (ok, _) = curl(&[&format!("http://127.0.0.1:{be}/api/health")]);
    assert!(!ok);

    // A renewed certificate (from another CA) is used by new connections, no restart.
    let (ca2, _, _) = make_certs(certs.path(), "2");
    let mut renewed = None;
    for _ in 0..50 {
        match mysql_async::Conn::new(opts(port, Some(verify_with(&ca2)))).await {
            Ok(c) => {
                renewed = Some(c);
                break;
            }
            // The file's modification time may need a moment to differ.
            Err(_) => {
                let now = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
                let f = std::fs::File::options()
                    .append(true)
                    .open(certs.path().join("server.pem"))
                    .unwrap();
                f.set_modified(now).unwrap();
            }
        }
    }
    assert!(renewed.is_some(), "the renewed certificate is served");
    let old = mysql_async::Conn::new(opts(port, Some(verify_with(&ca)))).await;
    assert!(old.is_err(), "the old CA no longer verifies the server");
    drop(plain);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_refused_when_tls_is_required() {
    let certs = tempfile::tempdir().unwrap();
    let (server, ca) = start(certs.path(), true).await;
    let port = server.port();
    let e = mysql_async::Conn::new(opts(port, None)).await.unwrap_err();
    assert_eq!(errno(&e), 3159, "{e}");
    let mut c = mysql_async::Conn::new(opts(port, Some(verify_with(&ca))))
        .await
        .unwrap();
    c.query_drop("SELECT 1").await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_stop_the_start() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.ssl_certificate = data
        .path()
        .join("missing.pem")
        .to_string_lossy()
        .into_owned();
    config.ssl_private_key = data
        .path()
        .join("missing.key")
        .to_string_lossy()
        .into_owned();
    let e = rigel::start(config).await.err().unwrap();
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let mut config = test_config(data.path());
    config.require_secure_transport = true;
    assert!(rigel::start(config).await.is_err());
}
