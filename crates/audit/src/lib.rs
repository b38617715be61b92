//! The audit log: one record per statement and per login (failed ones too), written to
//! `fe.audit.log` in StarRocks' layout (or JSON with `audit_log_json_format`), rotated daily
//! and deleted after `audit_log_delete_age`. Statements slower than `qe_slow_log_ms` are
//! also written to `fe.slow_query.log`. The most recent records are kept in memory for
//! `information_schema.audit_log` (a Rigel extension; StarRocks has no such table).
//!
//! Statements are recorded as the frontend hands them over, their passwords already masked
//! (`rigel_sql::redact`).
//!
//! [`FeMetrics`] are the frontend's `/metrics` families, fed by the same records.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Local, NaiveDate};
use datafusion::physical_plan::ExecutionPlan;
use parking_lot::Mutex;
use tracing::warn;

mod metrics;

pub use metrics::{FeMetrics, FeState};

/// The audit file's name.
pub const AUDIT_FILE: &str = "fe.audit.log";
/// The slow-query file's name.
pub const SLOW_FILE: &str = "fe.slow_query.log";

/// One audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When the statement started (ms since the epoch).
    pub timestamp_ms: i64,
    /// `query`, `slow_query` or `connection`.
    pub kind: &'static str,
    /// `ip:port` of the client.
    pub client: String,
    /// User name.
    pub user: String,
    /// The account: `'name'@'host'`.
    pub authorized_user: String,
    /// Current database.
    pub db: String,
    /// `EOF` (a result set was sent), `OK` or `ERR`.
    pub state: &'static str,
    /// MySQL error number of a failed statement.
    pub error_code: String,
    /// Duration in ms (until the last row was sent, for queries).
    pub time_ms: u64,
    /// Bytes read from segment files.
    pub scan_bytes: u64,
    /// Rows read from segment files.
    pub scan_rows: u64,
    /// Rows sent to the client.
    pub return_rows: u64,
    /// The statement's number within its connection.
    pub stmt_id: u64,
    /// Unique id of the statement.
    pub query_id: String,
    /// Whether the statement is a query.
    pub is_query: bool,
    /// The statement text, passwords masked.
    pub stmt: String,
}

impl AuditRecord {
    fn timestamp(&self) -> DateTime<Local> {
        DateTime::from_timestamp_millis(self.timestamp_ms)
            .unwrap_or_default()
            .with_timezone(&Local)
    }

    /// The record in StarRocks' text layout (one line).
    pub fn to_text(&self) -> String {
        let ts = self.timestamp();
        format!(
            "{} [{}] |Timestamp={}|Client={}|User={}|AuthorizedUser={}|ResourceGroup=default_wg|Catalog=default_catalog|Db={}|State={}|ErrorCode={}|Time={}|ScanBytes={}|ScanRows={}|ReturnRows={}|StmtId={}|QueryId={}|IsQuery={}|Stmt={}|Digest=",
            ts.format("%Y-%m-%d %H:%M:%S%.3f%:z"),
            self.kind,
            ts.format("%Y-%m-%d %H:%M:%S%.3f"),
            self.client,
            self.user,
            self.authorized_user,
            self.db,
            self.state,
            self.error_code,
            self.time_ms,
            self.scan_bytes,
            self.scan_rows,
            self.return_rows,
            self.stmt_id,
            self.query_id,
            self.is_query,
            one_line(&self.stmt),
        )
    }

    /// The record as one JSON object (`audit_log_json_format`).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "Timestamp": self.timestamp().format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "QueryType": self.kind,
            "Client": self.client,
            "User": self.user,
            "AuthorizedUser": self.authorized_user,
            "ResourceGroup": "default_wg",
            "Catalog": "default_catalog",
            "Db": self.db,
            "State": self.state,
            "ErrorCode": self.error_code,
            "Time": self.time_ms,
            "ScanBytes": self.scan_bytes,
            "ScanRows": self.scan_rows,
            "ReturnRows": self.return_rows,
            "StmtId": self.stmt_id,
            "QueryId": self.query_id,
            "IsQuery": self.is_query,
            "Stmt": self.stmt,
        })
        .to_string()
    }
}

/// Newlines would split a record over lines; they become spaces.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Where and how records are written.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Directory of the log files.
    pub dir: PathBuf,
    /// JSON instead of StarRocks' text layout.
    pub json: bool,
    /// Rotated files older than this many seconds are deleted.
    pub delete_age_secs: u64,
    /// Statements at least this slow (ms) also go to the slow-query log.
    pub slow_ms: u64,
    /// Records kept in memory for `information_schema.audit_log`.
    pub memory_records: usize,
}

struct LogFile {
    name: &'static str,
    file: Option<File>,
    day: Option<NaiveDate>,
}

impl LogFile {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            file: None,
            day: None,
        }
    }

    /// Appends a line, rotating the file at the first write of a new day.
    fn write(
        &mut self,
        dir: &Path,
        line: &str,
        today: NaiveDate,
        delete_age_secs: u64,
    ) -> std::io::Result<()> {
        let path = dir.join(self.name);
        if self.day.is_some_and(|d| d != today) {
            self.file = None;
            if let Some(day) = self.day {
                let rotated = rotated_name(dir, self.name, day);
                std::fs::rename(&path, &rotated)?;
            }
            delete_old(dir, self.name, delete_age_secs);
        }
        if self.file.is_none() {
            std::fs::create_dir_all(dir)?;
            // A file left by a previous run of an earlier day is rotated first.
            if let Ok(meta) = std::fs::metadata(&path)
                && let Ok(modified) = meta.modified()
            {
                let day = DateTime::<Local>::from(modified).date_naive();
                if day != today {
                    std::fs::rename(&path, rotated_name(dir, self.name, day))?;
                }
            }
            delete_old(dir, self.name, delete_age_secs);
            self.file = Some(OpenOptions::new().create(true).append(true).open(&path)?);
            self.day = Some(today);
        }
        match self.file.as_mut() {
            Some(f) => {
                f.write_all(line.as_bytes())?;
                f.write_all(b"\n")
            }
            None => Ok(()),
        }
    }
}

/// `fe.audit.log.20240610`, or `…-2`, `…-3` if taken.
fn rotated_name(dir: &Path, name: &str, day: NaiveDate) -> PathBuf {
    let base = format!("{name}.{}", day.format("%Y%m%d"));
    let mut candidate = dir.join(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = dir.join(format!("{base}-{n}"));
    }
    candidate
}

/// Deletes rotated files of `name` last written more than `age_secs` ago.
fn delete_old(dir: &Path, name: &str, age_secs: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{name}.");
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if !n.starts_with(&prefix) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= age_secs);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The audit log of one frontend.
pub struct AuditLog {
    options: Mutex<AuditOptions>,
    audit: Mutex<LogFile>,
    slow: Mutex<LogFile>,
    recent: Mutex<VecDeque<AuditRecord>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// An audit log writing under `options.dir`.
    pub fn new(options: AuditOptions) -> Self {
        Self {
            options: Mutex::new(options),
            audit: Mutex::new(LogFile::new(AUDIT_FILE)),
            slow: Mutex::new(LogFile::new(SLOW_FILE)),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// The slow-query threshold, ms.
    pub fn slow_ms(&self) -> u64 {
        self.options.lock().slow_ms
    }

    /// Applies changed settings (`ADMIN SET FRONTEND CONFIG`).
    pub fn set_options(&self, options: AuditOptions) {
        *self.options.lock() = options;
    }

    /// Writes a record. A write error is logged, never returned: auditing must not fail
    /// the statement.
    pub fn write(&self, mut record: AuditRecord) {
        let options = self.options.lock().clone();
        let today = Local::now().date_naive();
        let line = if options.json {
            record.to_json()
        } else {
            record.to_text()
        };
        if let Err(e) = self
            .audit
            .lock()
            .write(&options.dir, &line, today, options.delete_age_secs)
        {
            warn!("audit log not written: {e}");
        }
        if record.kind == "query" && record.time_ms >= options.slow_ms {
            record.kind = "slow_query";
            let line = if options.json {
                record.to_json()
            } else {
                record.to_text()
            };
            if let Err(e) =
                self.slow
                    .lock()
                    .write(&options.dir, &line, today, options.delete_age_secs)
            {
                warn!("slow query log not written: {e}");
            }
            record.kind = "query";
        }
        let mut recent = self.recent.lock();
        recent.push_back(record);
        while recent.len() > options.memory_records {
            recent.pop_front();
        }
    }

    /// The records kept in memory, oldest first.
    pub fn recent(&self) -> Vec<AuditRecord> {
        self.recent.lock().iter().cloned().collect()
    }
}

/// A statement being audited: its record is written once, when it finishes — for a query,
/// when its last row has been sent (or the client went away).
pub struct PendingAudit {
    log: Arc<AuditLog>,
    metrics: Arc<FeMetrics>,
    record: Option<AuditRecord>,
    started: Instant,
    plan: Option<Arc<dyn ExecutionPlan>>,
    rows: u64,
}

impl PendingAudit {
    pub fn new(log: Arc<AuditLog>, metrics: Arc<FeMetrics>, record: AuditRecord) -> Self {
        Self {
            log,
            metrics,
            record: Some(record),
            started: Instant::now(),
            plan: None,
            rows: 0,
        }
    }

    /// The physical plan, whose scans give ScanRows and ScanBytes.
    pub fn set_plan(&mut self, plan: Option<Arc<dyn ExecutionPlan>>) {
        self.plan = plan;
    }

    /// The physical plan, to be given back (with the metrics its remote tasks reported)
    /// by [`set_plan`](Self::set_plan) before [`finish`](Self::finish).
    pub fn take_plan(&mut self) -> Option<Arc<dyn ExecutionPlan>> {
        self.plan.take()
    }

    /// Counts rows sent.
    pub fn add_rows(&mut self, n: usize) {
        self.rows += n as u64;
    }

    /// Writes the record.
    pub fn finish(&mut self, state: &'static str, error_code: Option<u16>) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.state = state;
        record.error_code = error_code.map(|c| c.to_string()).unwrap_or_default();
        record.time_ms = self.started.elapsed().as_millis() as u64;
        record.return_rows = self.rows;
        if let Some(plan) = &self.plan {
            let (rows, bytes) = scanned(plan.as_ref());
            record.scan_rows = rows;
            record.scan_bytes = bytes;
        }
        self.metrics.statement_finished(&record, self.log.slow_ms());
        self.log.write(record);
    }
}

impl Drop for PendingAudit {
    fn drop(&mut self) {
        // Dropped before its end: the client stopped reading.
        self.finish(
            "ERR",
            Some(rigel_common::ErrorCode::ER_QUERY_INTERRUPTED.errno),
        );
    }
}

/// Rows and bytes the leaf nodes (the scans) of an executed plan read.
fn scanned(plan: &dyn ExecutionPlan) -> (u64, u64) {
    let children = plan.children();
    if children.is_empty() {
        let Some(m) = plan.metrics() else {
            return (0, 0);
        };
        let rows = m.output_rows().unwrap_or(0) as u64;
        let bytes = m
            .sum_by_name("bytes_scanned")
            .map_or(0, |v| v.as_usize() as u64);
        return (rows, bytes);
    }
    children.iter().fold((0, 0), |(r, b), c| {
        let (cr, cb) = scanned(c.as_ref());
        (r + cr, b + cb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stmt: &str) -> AuditRecord {
        AuditRecord {
            timestamp_ms: 1_700_000_000_000,
            kind: "query",
            client: "10.0.0.1:5000".into(),
            user: "root".into(),
            authorized_user: "'root'@'%'".into(),
            db: "d".into(),
            state: "EOF",
            error_code: String::new(),
            time_ms: 12,
            scan_bytes: 100,
            scan_rows: 10,
            return_rows: 1,
            stmt_id: 3,
            query_id: "q".into(),
            is_query: true,
            stmt: stmt.into(),
        }
    }

    #[test]
    fn text_and_json_layouts() {
        let text = record("select\n1").to_text();
        assert!(text.contains(" [query] |Timestamp="), "{text}");
        assert!(
            text.contains("|Client=10.0.0.1:5000|User=root|AuthorizedUser='root'@'%'|"),
            "{text}"
        );
        assert!(text.contains("|State=EOF|ErrorCode=|Time=12|ScanBytes=100|ScanRows=10|ReturnRows=1|StmtId=3|QueryId=q|IsQuery=true|"), "{text}");
        assert!(text.ends_with("|Stmt=select 1|Digest="), "{text}");
        let json: serde_json::Value = serde_json::from_str(&record("x").to_json()).unwrap();
        assert_eq!(json["ScanRows"], 10);
        assert_eq!(json["Stmt"], "x");
    }

    #[test]
    fn rotation_keeps_old_days_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = LogFile::new(AUDIT_FILE);
        let day1 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let day2 = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        f.write(dir.path(), "a", day1, 3600).unwrap();
        f.write(dir.path(), "b", day1, 3600).unwrap();
        f.write(dir.path(), "c", day2, 3600).unwrap();
        let rotated = dir.path().join("fe.audit.log.20240101");
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "a\nb\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap(),
            "c\n"
        );
        // Age 0: the rotated file goes at the next rotation.
        let day3 = NaiveDate::from_ymd_opt(2024, 1, 3).unwrap();
        f.write(dir.path(), "d", day3, 0).unwrap();
        assert!(!rotated.exists());
    }
}
