//! Shared test fixtures: an in-process server on port 0, and a server process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use rigel_common::config::Config;

pub mod cluster;

/// An in-process server with its own data directory.
pub struct TestServer {
    pub handle: Option<rigel::ServerHandle>,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &Path) -> Config {
    Config {
        query_port: 0,
        http_port: 0,
        be_http_port: 0,
        data_dir: dir.to_string_lossy().into_owned(),
        ..Config::default()
    }
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let handle = rigel::start(test_config(dir.path()))
            .await
            .expect("server starts");
        Self {
            handle: Some(handle),
            dir,
        }
    }

    /// Restarts on the same data directory.
    pub async fn restart(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
        let handle = rigel::start(test_config(self.dir.path()))
            .await
            .expect("server restarts");
        self.handle = Some(handle);
    }

    pub fn port(&self) -> u16 {
        self.handle.as_ref().expect("running").mysql_addr.port()
    }

    pub fn url(&self, db: Option<&str>) -> String {
        format!(
            "mysql://root@127.0.0.1:{}/{}",
            self.port(),
            db.unwrap_or_default()
        )
    }

    pub async fn conn(&self) -> mysql_async::Conn {
        connect(self.port(), None).await
    }

    pub async fn conn_db(&self, db: &str) -> mysql_async::Conn {
        connect(self.port(), Some(db)).await
    }

    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

pub async fn connect(port: u16, db: Option<&str>) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("root"))
        .db_name(db)
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.expect("connects")
}

/// The MySQL error code of a failed statement.
pub fn errno(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

pub async fn exec(conn: &mut mysql_async::Conn, sql: &str) {
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A `rigel server` process (for crash tests).
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    pub http_port: u16,
    pub be_http_port: u16,
}

/// Spawns `rigel <args>` and reads its log until a line containing `ready` shows; returns
/// the child and that line. The log keeps being drained afterwards.
pub fn spawn_until(args: &[&str], data_dir: &Path, ready: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rigel"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RIGEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rigel");
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = BufReader::new(stderr);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut line = String::new();
    let mut log = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read log");
        log.push_str(&line);
        assert!(
            n > 0 && Instant::now() < deadline,
            "rigel {args:?} exited before it was ready:\n{log}"
        );
        if line.contains(ready) {
            break;
        }
    }
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    (child, line)
}

/// The number after `key` in a log line.
pub fn log_number(line: &str, key: &str) -> u16 {
    let rest = line
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("{key} in the log line: {line}"));
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().expect("port")
}

impl ServerProcess {
    pub fn spawn(data_dir: &Path) -> Self {
        Self::spawn_role(&["server"], data_dir)
    }

    /// `rigel server` or `rigel fe` (with extra flags) on free ports.
    pub fn spawn_role(args: &[&str], data_dir: &Path) -> Self {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--query-port",
            "0",
            "--http-port",
            "0",
            "--be-http-port",
            "0",
        ]);
        let (child, line) = spawn_until(&all, data_dir, "query_port=");
        Self {
            child,
            port: log_number(&line, "query_port="),
            http_port: log_number(&line, " http_port="),
            be_http_port: log_number(&line, "be_http_port="),
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that ends (or fails) leaves no server running.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
