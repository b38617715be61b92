//! Shared test fixtures: an in-process server on port 0, and a server process.

#![allow(dead_code)]

use std::path::Path;
use std::process::Child;

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
    rigel::harness::spawn_until(cluster::exe(), args, data_dir, ready)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The number after `key` in a log line.
pub fn log_number(line: &str, key: &str) -> u16 {
    rigel::harness::log_number(line, key).unwrap_or_else(|e| panic!("{e}"))
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
