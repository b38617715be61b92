//! The harness cluster (`rigel::harness`) for tests: one `rigel fe` and N `rigel be` of the
//! binary under test, on free ports, in a temporary directory; failures panic.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

pub use rigel::harness::BackendRow;

/// Seconds without a heartbeat after which the harness' frontend marks a backend dead.
pub const HEARTBEAT_TIMEOUT_SECOND: u64 = 2;

/// The binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rigel"))
}

/// One frontend and its backends, all joined.
pub struct TestCluster {
    inner: rigel::harness::Cluster,
    /// Where their data is (removed at the end).
    pub dir: tempfile::TempDir,
}

impl Deref for TestCluster {
    type Target = rigel::harness::Cluster;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl TestCluster {
    /// Starts 1 FE and `n` BEs, adds the BEs and waits until all are alive.
    pub async fn start(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = rigel::harness::Cluster::start(exe(), dir.path(), n, HEARTBEAT_TIMEOUT_SECOND)
            .await
            .unwrap_or_else(|e| panic!("starting the cluster: {e}"));
        Self { inner, dir }
    }

    /// SIGKILLs the frontend and starts it again on the same metadata.
    pub fn restart_fe(&mut self) {
        self.inner
            .restart_fe()
            .unwrap_or_else(|e| panic!("restarting the frontend: {e}"));
    }

    /// Kills backend `i` and starts it again on its ports and storage.
    pub fn restart_backend(&mut self, i: usize) {
        self.inner.backends[i]
            .restart()
            .unwrap_or_else(|e| panic!("restarting backend {i}: {e}"));
    }

    /// The frontend's MySQL port.
    pub fn port(&self) -> u16 {
        self.inner.port().expect("frontend")
    }

    /// The frontend's HTTP port.
    pub fn http_port(&self) -> u16 {
        self.inner.http_port().expect("frontend")
    }

    /// The frontend's metadata directory.
    pub fn meta_dir(&self) -> PathBuf {
        self.inner.meta_dir()
    }

    /// A connection to the frontend.
    pub async fn conn(&self) -> mysql_async::Conn {
        super::connect(self.port(), None).await
    }

    /// SHOW BACKENDS.
    pub async fn backends(&self) -> Vec<BackendRow> {
        self.inner.backends().await.expect("SHOW BACKENDS")
    }

    /// Waits (bounded) until `n` backends are alive.
    pub async fn wait_alive(&self, n: usize) {
        self.inner
            .wait_alive(n)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Polls SHOW BACKENDS until `done` holds, at most 30 s.
    pub async fn wait_for(
        &self,
        done: impl Fn(&[BackendRow]) -> bool,
        what: &str,
    ) -> Vec<BackendRow> {
        self.inner
            .wait_for(done, what)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
