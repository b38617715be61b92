//! `fe.log` and `be.log`: the process log, split by role as StarRocks writes it, rolled at
//! `log_roll_size_mb` and deleted after `sys_log_delete_age`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;

/// A log file that rolls over by size.
#[derive(Debug)]
pub struct RollingLog {
    dir: PathBuf,
    name: &'static str,
    max_bytes: u64,
    keep: Duration,
    state: Mutex<Option<(File, u64)>>,
}

impl RollingLog {
    /// `dir/name`, rolled at `max_bytes`; rolled files older than `keep` are deleted.
    pub fn new(dir: &Path, name: &'static str, max_bytes: u64, keep: Duration) -> Self {
        Self {
            dir: dir.to_path_buf(),
            name,
            max_bytes: max_bytes.max(1),
            keep,
            state: Mutex::new(None),
        }
    }

    fn open(&self) -> io::Result<(File, u64)> {
        std::fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(self.name))?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }

    /// Renames the current file to `name.YYYYMMDD-HHMMSS[.n]` and deletes expired ones.
    fn roll(&self) -> io::Result<()> {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
        let mut target = self.dir.join(format!("{}.{stamp}", self.name));
        let mut n = 1;
        while target.exists() {
            target = self.dir.join(format!("{}.{stamp}.{n}", self.name));
            n += 1;
        }
        std::fs::rename(self.dir.join(self.name), target)?;
        self.delete_expired();
        Ok(())
    }

    /// Deletes rolled files whose last write is older than the retention.
    pub fn delete_expired(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let prefix = format!("{}.", self.name);
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > self.keep);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn write_line(&self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state.lock();
        if let Some((_, size)) = state.as_ref()
            && *size > 0
            && size + buf.len() as u64 > self.max_bytes
        {
            *state = None;
            self.roll()?;
        }
        if state.is_none() {
            *state = Some(self.open()?);
        }
        let Some((file, size)) = state.as_mut() else {
            return Ok(0);
        };
        file.write_all(buf)?;
        *size += buf.len() as u64;
        Ok(buf.len())
    }
}

impl Write for &RollingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_line(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Targets whose events go to `be.log`: the storage engine and the backend role.
fn is_backend_target(target: &str) -> bool {
    target.starts_with("rigel_storage") || target.starts_with("rigel_backend")
}

/// The filter from `sys_log_level`, overridden by `RIGEL_LOG`.
fn level_filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_env("RIGEL_LOG").unwrap_or_else(|_| {
        let l = match level.to_ascii_uppercase().as_str() {
            "DEBUG" => "debug",
            "WARN" | "WARNING" => "warn",
            "ERROR" => "error",
            _ => "info",
        };
        EnvFilter::new(format!("{l},datafusion=warn,sqlparser=warn"))
    })
}

/// Logs to stderr only (commands other than the server).
pub fn init_stderr(level: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(level_filter(level))
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr)
        .try_init();
}

/// A plain-text layer writing the events of one role to `log`.
fn file_layer<S>(log: Arc<RollingLog>, backend: bool) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(log)
        .with_filter(filter_fn(move |m| is_backend_target(m.target()) == backend))
}

/// Logs to `fe.log` and `be.log` under `dir`, and to stderr.
pub fn init_files(level: &str, dir: &Path, roll_mb: u64, keep: Duration) {
    let max = roll_mb.saturating_mul(1 << 20);
    let fe = Arc::new(RollingLog::new(dir, "fe.log", max, keep));
    let be = Arc::new(RollingLog::new(dir, "be.log", max, keep));
    fe.delete_expired();
    be.delete_expired();
    let _ = tracing_subscriber::registry()
        .with(level_filter(level))
        .with(file_layer(fe, false))
        .with(file_layer(be, true))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
                .with_writer(io::stderr),
        )
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_by_size_and_deletes_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let log = RollingLog::new(dir.path(), "fe.log", 100, Duration::from_secs(3600));
        let line = [b'x'; 40];
        for _ in 0..5 {
            (&log).write_all(&line).unwrap();
        }
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        // 200 bytes in files of at most 100: the current one and two rolled ones.
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.iter().all(|f| f.starts_with("fe.log")));
        let current = std::fs::metadata(dir.path().join("fe.log")).unwrap().len();
        assert_eq!(current, 40);
        // Zero retention: the next roll removes the files rolled before.
        let log = RollingLog::new(dir.path(), "fe.log", 100, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        for _ in 0..3 {
            (&log).write_all(&line).unwrap();
        }
        for old in files.iter().filter(|f| *f != "fe.log") {
            assert!(
                !dir.path().join(old).exists(),
                "{old} outlived its retention"
            );
        }
    }
}
