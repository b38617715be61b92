//! A cluster of real processes on loopback: one `rigel fe` and N `rigel be`, on free ports.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use super::{ServerProcess, connect, log_number, spawn_until};

/// Seconds without a heartbeat after which the harness' frontend marks a backend dead.
pub const HEARTBEAT_TIMEOUT_SECOND: u64 = 2;

/// A `rigel be` process.
pub struct BackendProcess {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub be_port: u16,
    pub brpc_port: u16,
    pub heartbeat_port: u16,
    pub http_port: u16,
}

impl BackendProcess {
    /// Starts a backend on free ports.
    pub fn spawn(dir: &Path) -> Self {
        Self::spawn_on(dir, [0, 0, 0, 0])
    }

    /// Starts a backend on these ports (be, brpc, heartbeat, http; 0 for a free one).
    pub fn spawn_on(dir: &Path, ports: [u16; 4]) -> Self {
        let [be, brpc, hb, http] = ports.map(|p| p.to_string());
        let args = [
            "be",
            "--be-port",
            &be,
            "--brpc-port",
            &brpc,
            "--heartbeat-service-port",
            &hb,
            "--be-http-port",
            &http,
        ];
        let (child, line) = spawn_until(&args, dir, "backend is ready");
        Self {
            child: Some(child),
            dir: dir.to_path_buf(),
            be_port: log_number(&line, "be_port="),
            brpc_port: log_number(&line, "brpc_port="),
            heartbeat_port: log_number(&line, "heartbeat_service_port="),
            http_port: log_number(&line, "be_http_port="),
        }
    }

    /// `host:heartbeat_service_port`, as ALTER SYSTEM ADD BACKEND names it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.heartbeat_port)
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports and storage.
    pub fn restart(&mut self) {
        self.kill9();
        let again = Self::spawn_on(
            &self.dir,
            [
                self.be_port,
                self.brpc_port,
                self.heartbeat_port,
                self.http_port,
            ],
        );
        *self = again;
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One frontend and its backends, all joined.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub fe: Option<ServerProcess>,
    pub backends: Vec<BackendProcess>,
}

impl TestCluster {
    /// Starts 1 FE and `n` BEs, adds the BEs and waits until all are alive.
    pub async fn start(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let backends: Vec<BackendProcess> = (0..n)
            .map(|i| BackendProcess::spawn(&dir.path().join(format!("be{i}"))))
            .collect();
        let mut cluster = Self {
            fe: None,
            backends,
            dir,
        };
        cluster.start_fe();
        let addresses: Vec<String> = cluster
            .backends
            .iter()
            .map(|b| format!("\"{}\"", b.address()))
            .collect();
        let mut c = cluster.conn().await;
        c.query_drop(format!("ALTER SYSTEM ADD BACKEND {}", addresses.join(", ")))
            .await
            .expect("ALTER SYSTEM ADD BACKEND");
        drop(c);
        cluster.wait_alive(n).await;
        cluster
    }

    fn start_fe(&mut self) {
        let timeout = HEARTBEAT_TIMEOUT_SECOND.to_string();
        self.fe = Some(ServerProcess::spawn_role(
            &[
                "fe",
                "--rpc-port",
                "0",
                "--heartbeat-timeout-second",
                &timeout,
            ],
            &self.dir.path().join("fe"),
        ));
    }

    /// SIGKILLs the frontend and starts it again on the same metadata.
    pub fn restart_fe(&mut self) {
        if let Some(fe) = self.fe.take() {
            fe.kill9();
        }
        self.start_fe();
    }

    /// The frontend's MySQL port.
    pub fn port(&self) -> u16 {
        self.fe.as_ref().expect("frontend").port
    }

    /// The frontend's HTTP port.
    pub fn http_port(&self) -> u16 {
        self.fe.as_ref().expect("frontend").http_port
    }

    /// The frontend's metadata directory.
    pub fn meta_dir(&self) -> PathBuf {
        self.dir.path().join("fe").join("meta")
    }

    /// A connection to the frontend.
    pub async fn conn(&self) -> mysql_async::Conn {
        connect(self.port(), None).await
    }

    /// SHOW BACKENDS as (BackendId, HeartbeatPort, Alive, TabletNum, ErrMsg).
    pub async fn backends(&self) -> Vec<(u64, u16, bool, u64, String)> {
        let mut c = self.conn().await;
        let rows: Vec<mysql_async::Row> = c.query("SHOW BACKENDS").await.expect("SHOW BACKENDS");
        rows.iter()
            .map(|r| {
                let text = |name: &str| -> String {
                    r.get::<Option<String>, _>(name)
                        .flatten()
                        .unwrap_or_default()
                };
                (
                    text("BackendId").parse().unwrap_or(0),
                    text("HeartbeatPort").parse().unwrap_or(0),
                    text("Alive") == "true",
                    text("TabletNum").parse().unwrap_or(0),
                    text("ErrMsg"),
                )
            })
            .collect()
    }

    /// Waits (bounded) until `n` backends are alive.
    pub async fn wait_alive(&self, n: usize) {
        self.wait_for(|b| b.iter().filter(|x| x.2).count() == n, "backends alive")
            .await;
    }

    /// Polls SHOW BACKENDS until `done` holds, at most 30 s (heartbeats come several times
    /// within HEARTBEAT_TIMEOUT_SECOND).
    pub async fn wait_for(
        &self,
        done: impl Fn(&[(u64, u16, bool, u64, String)]) -> bool,
        what: &str,
    ) -> Vec<(u64, u16, bool, u64, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let b = self.backends().await;
            if done(&b) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {b:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
