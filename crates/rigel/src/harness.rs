//! A cluster of real processes on loopback: one `rigel fe` and N `rigel be` of a `rigel`
//! executable, on free ports, joined with ALTER SYSTEM ADD BACKEND, killed when dropped.
//! The integration tests and `rigel bench tpch --cluster` start their clusters with it.
//!
//! Every wait is bounded: a process that does not get ready, or backends that do not come
//! alive, end in an error that says what was awaited (with the process' log).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

/// How long a process may take to get ready (a debug build's first start is slow).
const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long backends may take to come alive, or to reach a state a caller waits for.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// Spawns `exe args --data-dir data_dir` and reads its log until a line containing
/// `ready`; the child and that line. The log keeps being drained afterwards.
pub fn spawn_until(
    exe: &Path,
    args: &[&str],
    data_dir: &Path,
    ready: &str,
) -> Result<(Child, String), String> {
    let mut child = Command::new(exe)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RIGEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {} {args:?}: {e}", exe.display()))?;
    let Some(stderr) = child.stderr.take() else {
        let _ = child.kill();
        return Err("the process has no log pipe".to_string());
    };
    // A thread reads the log: lines go to the channel until the receiver is gone, then
    // it keeps draining so the child never blocks on a full pipe.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        let mut listening = true;
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if listening && tx.send(line.clone()).is_err() {
                listening = false;
            }
            line.clear();
        }
    });
    let deadline = Instant::now() + READY_WITHIN;
    let mut log = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                if line.contains(ready) {
                    return Ok((child, line));
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => "was not ready in time",
                    mpsc::RecvTimeoutError::Disconnected => "exited before it was ready",
                };
                return Err(format!("rigel {args:?} {why}:\n{log}"));
            }
        }
    }
}

/// The number after `key` in a log line (the ports of a ready line).
pub fn log_number(line: &str, key: &str) -> Result<u16, String> {
    let rest = line
        .split(key)
        .nth(1)
        .ok_or_else(|| format!("no {key} in the log line: {line}"))?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits
        .parse()
        .map_err(|_| format!("no port after {key} in the log line: {line}"))
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A `rigel be` process.
#[derive(Debug)]
pub struct BackendProcess {
    child: Option<Child>,
    exe: PathBuf,
    /// Its data directory.
    pub dir: PathBuf,
    /// `be_port`.
    pub be_port: u16,
    /// `brpc_port`.
    pub brpc_port: u16,
    /// `heartbeat_service_port`.
    pub heartbeat_port: u16,
    /// `be_http_port`.
    pub http_port: u16,
}

impl BackendProcess {
    /// Starts a backend on free ports.
    pub fn spawn(exe: &Path, dir: &Path) -> Result<Self, String> {
        Self::spawn_on(exe, dir, [0, 0, 0, 0])
    }

    /// Starts a backend on these ports (be, brpc, heartbeat, http; 0 for a free one).
    pub fn spawn_on(exe: &Path, dir: &Path, ports: [u16; 4]) -> Result<Self, String> {
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
        let (child, line) = spawn_until(exe, &args, dir, "backend is ready")?;
        let mut child = Some(child);
        let ports = (|| {
            Ok::<_, String>([
                log_number(&line, "be_port=")?,
                log_number(&line, "brpc_port=")?,
                log_number(&line, "heartbeat_service_port=")?,
                log_number(&line, "be_http_port=")?,
            ])
        })();
        let [be_port, brpc_port, heartbeat_port, http_port] = match ports {
            Ok(p) => p,
            Err(e) => {
                kill(&mut child);
                return Err(e);
            }
        };
        Ok(Self {
            child,
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            be_port,
            brpc_port,
            heartbeat_port,
            http_port,
        })
    }

    /// `host:heartbeat_service_port`, as ALTER SYSTEM ADD BACKEND names it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.heartbeat_port)
    }

    /// SIGKILL (and reap).
    pub fn kill9(&mut self) {
        kill(&mut self.child);
    }

    /// Kills it and starts it again on the same ports and storage.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill9();
        let again = Self::spawn_on(
            &self.exe,
            &self.dir,
            [
                self.be_port,
                self.brpc_port,
                self.heartbeat_port,
                self.http_port,
            ],
        )?;
        *self = again;
        Ok(())
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `rigel fe` process.
#[derive(Debug)]
pub struct FrontendProcess {
    child: Option<Child>,
    /// `query_port`.
    pub port: u16,
    /// `http_port`.
    pub http_port: u16,
}

impl FrontendProcess {
    /// Starts a frontend on free ports, marking backends dead after
    /// `heartbeat_timeout_second`.
    pub fn spawn(exe: &Path, dir: &Path, heartbeat_timeout_second: u64) -> Result<Self, String> {
        let timeout = heartbeat_timeout_second.to_string();
        let args = [
            "fe",
            "--rpc-port",
            "0",
            "--heartbeat-timeout-second",
            &timeout,
            "--query-port",
            "0",
            "--http-port",
            "0",
        ];
        let (child, line) = spawn_until(exe, &args, dir, "query_port=")?;
        let mut child = Some(child);
        let ports = log_number(&line, "query_port=")
            .and_then(|q| Ok((q, log_number(&line, " http_port=")?)));
        match ports {
            Ok((port, http_port)) => Ok(Self {
                child,
                port,
                http_port,
            }),
            Err(e) => {
                kill(&mut child);
                Err(e)
            }
        }
    }

    /// SIGKILL (and reap).
    pub fn kill9(&mut self) {
        kill(&mut self.child);
    }
}

impl Drop for FrontendProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A backend as SHOW BACKENDS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRow {
    /// BackendId.
    pub id: u64,
    /// HeartbeatPort.
    pub heartbeat_port: u16,
    /// Alive.
    pub alive: bool,
    /// TabletNum.
    pub tablets: u64,
    /// ErrMsg.
    pub err_msg: String,
}

/// One frontend and its backends, all joined; every process is killed when it drops.
#[derive(Debug)]
pub struct Cluster {
    exe: PathBuf,
    dir: PathBuf,
    heartbeat_timeout_second: u64,
    /// The frontend (None only while it restarts).
    pub fe: Option<FrontendProcess>,
    /// The backends, in the order they were added.
    pub backends: Vec<BackendProcess>,
}

impl Cluster {
    /// Starts 1 FE and `n` BEs of `exe` with their data under `dir` (`fe`, `be0`, …), adds
    /// the BEs and waits until all are alive.
    pub async fn start(
        exe: &Path,
        dir: &Path,
        n: usize,
        heartbeat_timeout_second: u64,
    ) -> Result<Self, String> {
        let backends = (0..n)
            .map(|i| BackendProcess::spawn(exe, &dir.join(format!("be{i}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cluster = Self {
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            heartbeat_timeout_second,
            fe: None,
            backends,
        };
        cluster.start_fe()?;
        let addresses: Vec<String> = cluster
            .backends
            .iter()
            .map(|b| format!("\"{}\"", b.address()))
            .collect();
        let mut c = cluster.conn().await?;
        c.query_drop(format!("ALTER SYSTEM ADD BACKEND {}", addresses.join(", ")))
            .await
            .map_err(|e| format!("ALTER SYSTEM ADD BACKEND: {e}"))?;
        drop(c);
        cluster.wait_alive(n).await?;
        Ok(cluster)
    }

    fn start_fe(&mut self) -> Result<(), String> {
        self.fe = Some(FrontendProcess::spawn(
            &self.exe,
            &self.dir.join("fe"),
            self.heartbeat_timeout_second,
        )?);
        Ok(())
    }

    fn frontend(&self) -> Result<&FrontendProcess, String> {
        self.fe
            .as_ref()
            .ok_or_else(|| "the frontend is not running".to_string())
    }

    /// SIGKILLs the frontend and starts it again on the same metadata.
    pub fn restart_fe(&mut self) -> Result<(), String> {
        if let Some(mut fe) = self.fe.take() {
            fe.kill9();
        }
        self.start_fe()
    }

    /// The frontend's MySQL port.
    pub fn port(&self) -> Result<u16, String> {
        Ok(self.frontend()?.port)
    }

    /// The frontend's HTTP port.
    pub fn http_port(&self) -> Result<u16, String> {
        Ok(self.frontend()?.http_port)
    }

    /// The frontend's metadata directory.
    pub fn meta_dir(&self) -> PathBuf {
        self.dir.join("fe").join("meta")
    }

    /// A connection to the frontend, as root.
    pub async fn conn(&self) -> Result<mysql_async::Conn, String> {
        let port = self.port()?;
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("root"))
            .prefer_socket(false);
        mysql_async::Conn::new(opts)
            .await
            .map_err(|e| format!("cannot connect to the frontend on port {port}: {e}"))
    }

    /// SHOW BACKENDS.
    pub async fn backends(&self) -> Result<Vec<BackendRow>, String> {
        let mut c = self.conn().await?;
        let rows: Vec<mysql_async::Row> = c
            .query("SHOW BACKENDS")
            .await
            .map_err(|e| format!("SHOW BACKENDS: {e}"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let text = |name: &str| -> String {
                    r.get::<Option<String>, _>(name)
                        .flatten()
                        .unwrap_or_default()
                };
                BackendRow {
                    id: text("BackendId").parse().unwrap_or(0),
                    heartbeat_port: text("HeartbeatPort").parse().unwrap_or(0),
                    alive: text("Alive") == "true",
                    tablets: text("TabletNum").parse().unwrap_or(0),
                    err_msg: text("ErrMsg"),
                }
            })
            .collect())
    }

    /// Waits until `n` backends are alive.
    pub async fn wait_alive(&self, n: usize) -> Result<(), String> {
        self.wait_for(
            |b| b.iter().filter(|x| x.alive).count() == n,
            "backends alive",
        )
        .await
        .map(|_| ())
    }

    /// Polls SHOW BACKENDS until `done` holds (heartbeats come several times within
    /// `heartbeat_timeout_second`), at most 30 s.
    pub async fn wait_for(
        &self,
        done: impl Fn(&[BackendRow]) -> bool,
        what: &str,
    ) -> Result<Vec<BackendRow>, String> {
        let deadline = Instant::now() + SETTLE_WITHIN;
        loop {
            // The frontend may still be opening its catalog after a restart.
            let b = match self.backends().await {
                Ok(b) => b,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("{e}");
                    vec![]
                }
                Err(e) => return Err(e),
            };
            if done(&b) {
                return Ok(b);
            }
            if Instant::now() >= deadline {
                return Err(format!("timed out waiting for {what}: {b:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
