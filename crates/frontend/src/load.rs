//! Stream Load: `curl -T data.csv http://host:8040/api/db/table/_stream_load`.
//!
//! ```text
//!  HTTP body ──► reader task ──(chunks)──► parser threads: decompress, split rows,
//!                                          map columns, convert, filter (see `parse`)
//!                                              │ (table batches in input order, bounded)
//!                                              ▼
//!                                          writer task: backend sink (route, sort, encode)
//! ```
//!
//! The stages overlap, so parsing and encoding use both cores, and every channel is
//! bounded, so memory stays bounded however large the body. The load is one transaction:
//! all rows become visible at once, or none (on failure, timeout or a cut-off body).

mod csv;
mod json;
mod options;
mod parse;
mod plan;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use parking_lot::Mutex;
use rigel_common::ids::{DbId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_http::{BackendHttp, Reply, StreamLoadRequest};
use rigel_sql::Privilege;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::Frontend;
use csv::BadRow;
use options::LoadOptions;
use plan::{LoadPlan, Processed};

/// Parsed blocks that may wait for the writer.
const PARSED_QUEUE: usize = 8;
/// Recent load jobs kept for SHOW LOAD.
const MAX_JOBS: usize = 1000;
/// How long error logs are served.
pub const ERROR_LOG_KEEP: Duration = Duration::from_secs(48 * 3600);

/// A load job, for SHOW LOAD and information_schema.loads.
#[derive(Debug, Clone)]
pub struct LoadJob {
    /// Transaction id (the job id).
    pub txn: TxnId,
    /// Label.
    pub label: String,
    /// Database.
    pub db: String,
    /// Table.
    pub table: String,
    /// `STREAM_LOAD` or `INSERT`.
    pub kind: &'static str,
    /// `LOADING`, `FINISHED` or `CANCELLED`.
    pub state: &'static str,
    /// Rows read.
    pub total: u64,
    /// Rows loaded.
    pub loaded: u64,
    /// Rows rejected.
    pub filtered: u64,
    /// Rows not selected by `where`.
    pub unselected: u64,
    /// Failure reason.
    pub error: String,
    /// Error log URL.
    pub error_url: String,
    /// Start (ms).
    pub created_ms: i64,
    /// End (ms).
    pub finished_ms: i64,
}

impl LoadJob {
    /// The progress column of SHOW LOAD and information_schema.loads.
    pub fn progress(&self) -> &'static str {
        if self.state == "FINISHED" {
            "100%"
        } else {
            "0%"
        }
    }
}

/// Labels in use and recent jobs.
#[derive(Debug, Default)]
pub struct LoadRegistry {
    running: Mutex<HashMap<(DbId, String), TxnId>>,
    jobs: Mutex<VecDeque<LoadJob>>,
}

impl LoadRegistry {
    /// Records a finished (or failed) job.
    pub fn record(&self, job: LoadJob) {
        let mut jobs = self.jobs.lock();
        jobs.push_back(job);
        while jobs.len() > MAX_JOBS {
            jobs.pop_front();
        }
    }

    /// Recent jobs, oldest first.
    pub fn jobs(&self) -> Vec<LoadJob> {
        self.jobs.lock().iter().cloned().collect()
    }
}

/// Why a label cannot be used.
#[derive(Debug, Clone)]
pub struct LabelInUse {
    /// `RUNNING` or `FINISHED`.
    pub status: &'static str,
    /// Its transaction.
    pub txn: TxnId,
}

/// A reserved label; dropping it releases the reservation.
pub struct LabelGuard {
    fe: Arc<Frontend>,
    key: (DbId, String),
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        self.fe.loads.running.lock().remove(&self.key);
    }
}

impl Frontend {
    /// Reserves `label` in `db` for `txn`: it must be neither running nor committed within
    /// `label_keep_max_second`. Atomic, so two racing requests cannot both get it.
    pub(crate) fn reserve_label(
        self: &Arc<Self>,
        db: DbId,
        label: &str,
        txn: TxnId,
    ) -> Result<LabelGuard, LabelInUse> {
        let key = (db, label.to_string());
        let mut running = self.loads.running.lock();
        if let Some(t) = running.get(&key) {
            return Err(LabelInUse {
                status: "RUNNING",
                txn: *t,
            });
        }
        let keep_ms = self.config.read().label_keep_max_second as i64 * 1000;
        let committed = self
            .catalog()
            .read()
            .labels
            .get(&db)
            .and_then(|m| m.get(label).copied());
        if let Some((t, at)) = committed
            && crate::now_ms() - at < keep_ms
        {
            return Err(LabelInUse {
                status: "FINISHED",
                txn: t,
            });
        }
        running.insert(key.clone(), txn);
        Ok(LabelGuard {
            fe: Arc::clone(self),
            key,
        })
    }
}

fn load_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, msg)
}

/// Counters and timings of one load, in the reply's order.
#[derive(Debug, Default)]
struct Report {
    txn: i64,
    label: String,
    status: &'static str,
    existing: Option<&'static str>,
    message: String,
    total: u64,
    loaded: u64,
    filtered: u64,
    unselected: u64,
    bytes: u64,
    load_ms: u64,
    begin_ms: u64,
    plan_ms: u64,
    read_ms: u64,
    write_ms: u64,
    commit_ms: u64,
    error_url: String,
}

impl Report {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("TxnId".into(), json!(self.txn));
        m.insert("Label".into(), json!(self.label));
        m.insert("Status".into(), json!(self.status));
        if let Some(e) = self.existing {
            m.insert("ExistingJobStatus".into(), json!(e));
        }
        m.insert("Message".into(), json!(self.message));
        m.insert("NumberTotalRows".into(), json!(self.total));
        m.insert("NumberLoadedRows".into(), json!(self.loaded));
        m.insert("NumberFilteredRows".into(), json!(self.filtered));
        m.insert("NumberUnselectedRows".into(), json!(self.unselected));
        m.insert("LoadBytes".into(), json!(self.bytes));
        m.insert("LoadTimeMs".into(), json!(self.load_ms));
        m.insert("BeginTxnTimeMs".into(), json!(self.begin_ms));
        m.insert("StreamLoadPlanTimeMs".into(), json!(self.plan_ms));
        m.insert("ReadDataTimeMs".into(), json!(self.read_ms));
        m.insert("WriteDataTimeMs".into(), json!(self.write_ms));
        m.insert("CommitAndPublishTimeMs".into(), json!(self.commit_ms));
        if !self.error_url.is_empty() {
            m.insert("ErrorURL".into(), json!(self.error_url));
        }
        Value::Object(m)
    }
}

/// What the HTTP service of the backend in this process needs from that backend.
#[async_trait]
pub trait LocalBackendStatus: Send + Sync + std::fmt::Debug {
    /// The backend's metrics in Prometheus' text format.
    async fn render_metrics(&self) -> Result<String, SqlError>;

    /// Counts a Stream Load request, and its rows when it loaded.
    fn stream_load(&self, loaded: Option<u64>);
}

/// The backend HTTP service of `rigel server`: Stream Load and error logs.
#[derive(Debug, Clone)]
pub struct LoadService {
    fe: Arc<Frontend>,
    error_dir: PathBuf,
    local: Arc<dyn LocalBackendStatus>,
}

impl LoadService {
    /// Error logs go to `error_dir`.
    pub fn new(fe: Arc<Frontend>, error_dir: PathBuf, local: Arc<dyn LocalBackendStatus>) -> Self {
        Self {
            fe,
            error_dir,
            local,
        }
    }

    fn write_error_log(&self, name: &str, rows: &[BadRow]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.error_dir)?;
        let mut text = String::new();
        for r in rows {
            text.push_str(&format!("Error: {}. Row: {}\n", r.reason, r.text));
        }
        std::fs::write(self.error_dir.join(name), text)
    }

    fn sweep_error_logs(&self) {
        let Ok(entries) = std::fs::read_dir(&self.error_dir) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > ERROR_LOG_KEEP);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    async fn run(&self, req: StreamLoadRequest, report: &mut Report) -> Result<(), SqlError> {
        let started = Instant::now();
        let fe = &self.fe;
        let Some((user, password)) = req.credentials.clone() else {
            return Err(SqlError::new(
                ErrorCode::ER_ACCESS_DENIED_ERROR,
                "Access denied: no HTTP Basic credentials (curl -u user:password)",
            ));
        };
        let account = fe.authenticate_http(&user, &password, req.client)?;
        let options = LoadOptions::from_headers(&req.headers).map_err(load_error)?;
        if let Some(l) = &options.label {
            report.label = l.clone();
        }
        let (db_id, table) = {
            let state = fe.catalog().read();
            let db = state
                .database(&req.db)
                .ok_or_else(|| crate::error::unknown_db(&req.db))?;
            let t = state
                .table(&req.db, &req.table)
                .ok_or_else(|| crate::error::unknown_table(&req.db, &req.table))?;
            (db.id, t)
        };
        if !crate::account::allowed(
            &account,
            Privilege::Insert,
            Some(&req.db),
            Some(&table.name),
        ) {
            return Err(crate::account::denied(
                &account,
                Privilege::Insert,
                Some(&req.db),
                Some(&table.name),
            ));
        }
        let Some(olap) = table.olap() else {
            return Err(load_error(format!("'{}' is a view", req.table)));
        };
        for p in &options.partitions {
            if olap.partition(p).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", req.table),
                ));
            }
        }
        let begin = Instant::now();
        let txn = fe.begin_txn().await?;
        report.txn = txn.0 as i64;
        if report.label.is_empty() {
            report.label = format!("stream_load_{}", txn.0);
        }
        let label = report.label.clone();
        let _guard = match fe.reserve_label(db_id, &label, txn) {
            Ok(g) => g,
            Err(in_use) => {
                report.txn = -1;
                report.status = "Label Already Exists";
                report.existing = Some(in_use.status);
                return Err(SqlError::new(
                    ErrorCode::ER_LABEL_ALREADY_EXISTS,
                    format!("Label [{label}] has already been used."),
                ));
            }
        };
        report.begin_ms = begin.elapsed().as_millis() as u64;

        let plan_start = Instant::now();
        let mut session = fe.load_session_view();
        session.db = Some(req.db.clone());
        if let Some(tz) = &options.timezone {
            let mut vars = (*session.vars).clone();
            vars.insert("time_zone", tz.clone());
            session.vars = Arc::new(vars);
        }
        let timeout = options.timeout;
        let log_rejected = options.log_rejected;
        let plan = Arc::new(LoadPlan::new(fe, &table, olap, options, &session)?);
        let mut sink = fe.open_sink(txn, Arc::clone(&plan.target)).await?;
        report.plan_ms = plan_start.elapsed().as_millis() as u64;

        let job_start = crate::now_ms();
        let (raw_tx, raw_rx) = tokio::sync::mpsc::channel::<Bytes>(32);
        // Deep enough (PARSED_QUEUE blocks of text) that parsing goes on while the writer
        // encodes a segment, which takes a while.
        let (out_tx, mut out_rx) =
            tokio::sync::mpsc::channel::<Result<Processed, SqlError>>(PARSED_QUEUE);
        let parser_plan = Arc::clone(&plan);
        let parser =
            tokio::task::spawn_blocking(move || parse::parse_loop(parser_plan, raw_rx, out_tx));

        let mut body = req.body;
        let read_start = Instant::now();
        let reader = async {
            let mut bytes = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    load_error(format!("the body was cut off after {bytes} bytes: {e}"))
                })?;
                bytes += chunk.len() as u64;
                if raw_tx.send(chunk).await.is_err() {
                    break;
                }
            }
            drop(raw_tx);
            Ok::<(u64, u64), SqlError>((bytes, read_start.elapsed().as_millis() as u64))
        };
        let mut bad_rows: Vec<BadRow> = vec![];
        let writer = async {
            let mut counts = (0u64, 0u64, 0u64, 0u64); // total, filtered, unselected, written
            let write_start = Instant::now();
            while let Some(item) = out_rx.recv().await {
                let p = item?;
                counts.0 += p.total as u64;
                counts.1 += p.bad_count as u64;
                counts.2 += p.unselected as u64;
                if bad_rows.len() < 10_000 {
                    bad_rows.extend(p.bad);
                }
                if p.batch.num_rows() > 0 {
                    let mut unmatched = sink.write(p.batch.clone()).await?;
                    if !unmatched.is_empty() && plan.options.partitions.is_empty() {
                        unmatched = fe
                            .write_to_new_partitions(&table, &mut *sink, &p.batch, unmatched)
                            .await?;
                    }
                    counts.1 += unmatched.len() as u64;
                    counts.3 += (p.batch.num_rows() - unmatched.len()) as u64;
                    for &r in unmatched.iter().take(100) {
                        bad_rows.push(BadRow {
                            text: typed_row_text(&p.batch, r as usize),
                            reason:
                                "The row is out of partition ranges. Please add a new partition"
                                    .to_string(),
                        });
                    }
                }
            }
            Ok::<((u64, u64, u64, u64), u64), SqlError>((
                counts,
                write_start.elapsed().as_millis() as u64,
            ))
        };
        let work = async { tokio::try_join!(reader, writer) };
        let outcome = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(SqlError::new(
                ErrorCode::ER_QUERY_TIMEOUT,
                format!("the load exceeded its timeout of {} s", timeout.as_secs()),
            )),
        };
        // A parser that died (a bug) must not let the rows before it commit as a whole load.
        let outcome = match (outcome, parser.await) {
            (Ok(v), Ok(())) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(SqlError::internal(format!("the load parser failed: {e}"))),
        };
        let ((bytes, read_ms), ((total, filtered, unselected, _written), write_ms)) = match outcome
        {
            Ok(v) => v,
            Err(e) => {
                drop(sink);
                fe.abort_txn(txn).await;
                return Err(e);
            }
        };
        report.bytes = bytes;
        report.read_ms = read_ms;
        report.write_ms = write_ms;
        report.total = total;
        report.filtered = filtered;
        report.unselected = unselected;
        if !bad_rows.is_empty() {
            let name = format!("error_log_{}_{}", sanitize(&label), txn.0);
            let keep = match log_rejected {
                n if n < 0 => bad_rows.len(),
                n => bad_rows.len().min(n as usize),
            };
            if keep > 0 {
                match self.write_error_log(&name, &bad_rows[..keep]) {
                    Ok(()) => {
                        report.error_url = format!(
                            "{}://{}/api/_load_error_log?file={name}",
                            req.scheme, req.host
                        )
                    }
                    Err(e) => warn!("cannot write error log {name}: {e}"),
                }
            }
        }
        let considered = total.saturating_sub(unselected);
        if filtered > 0
            && (considered == 0 || filtered as f64 / considered as f64 > plan_max_filter(&plan))
        {
            drop(sink);
            fe.abort_txn(txn).await;
            return Err(load_error(format!(
                "too many filtered rows: {filtered} of {considered} rows were rejected (max_filter_ratio {})",
                plan_max_filter(&plan)
            )));
        }
        let summary = match sink.finish().await {
            Ok(s) => s,
            Err(e) => {
                fe.abort_txn(txn).await;
                return Err(e);
            }
        };
        report.loaded = summary.rows;
        let commit_start = Instant::now();
        if summary.rows > 0 {
            let status = fe.commit_txn(txn, &table, label.clone(), &summary).await?;
            fe.after_load(table.id, summary.rows);
            if status == crate::txn::TxnStatus::Committed {
                report.status = "Publish Timeout";
            }
        } else {
            fe.abort_txn(txn).await;
        }
        report.commit_ms = commit_start.elapsed().as_millis() as u64;
        report.load_ms = started.elapsed().as_millis() as u64;
        fe.loads.record(LoadJob {
            txn,
            label,
            db: req.db.clone(),
            table: req.table.clone(),
            kind: "STREAM_LOAD",
            state: "FINISHED",
            total,
            loaded: summary.rows,
            filtered,
            unselected,
            error: String::new(),
            error_url: report.error_url.clone(),
            created_ms: job_start,
            finished_ms: crate::now_ms(),
        });
        Ok(())
    }
}

fn plan_max_filter(plan: &LoadPlan) -> f64 {
    plan.options.max_filter_ratio
}

fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn typed_row_text(batch: &RecordBatch, row: usize) -> String {
    batch
        .columns()
        .iter()
        .map(|c| {
            ScalarValue::try_from_array(c, row)
                .map(|v| {
                    if v.is_null() {
                        "\\N".to_string()
                    } else {
                        v.to_string()
                    }
                })
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl BackendHttp for LoadService {
    async fn healthy(&self) -> bool {
        true
    }

    async fn stream_load(&self, request: StreamLoadRequest) -> Reply {
        let mut report = Report {
            status: "Success",
            message: "OK".to_string(),
            ..Report::default()
        };
        let db = request.db.clone();
        let table = request.table.clone();
        let started = Instant::now();
        let metrics = Arc::clone(&self.fe.env.metrics);
        metrics.load_add.increment(1);
        let result = self.run(request, &mut report).await;
        metrics.load_finished.increment(1);
        self.local
            .stream_load(result.is_ok().then_some(report.loaded));
        report.load_ms = started.elapsed().as_millis() as u64;
        let mut status = 200;
        if let Err(e) = result {
            if report.status != "Label Already Exists" {
                report.status = "Fail";
            }
            report.message = e.message.clone();
            if e.code == ErrorCode::ER_ACCESS_DENIED_ERROR {
                status = 401;
            }
            if report.txn > 0 {
                self.fe.loads.record(LoadJob {
                    txn: TxnId(report.txn as u64),
                    label: report.label.clone(),
                    db,
                    table: table.clone(),
                    kind: "STREAM_LOAD",
                    state: "CANCELLED",
                    total: report.total,
                    loaded: 0,
                    filtered: report.filtered,
                    unselected: report.unselected,
                    error: e.message.clone(),
                    error_url: report.error_url.clone(),
                    created_ms: crate::now_ms() - report.load_ms as i64,
                    finished_ms: crate::now_ms(),
                });
            }
            info!(table, label = %report.label, "stream load failed: {}", e.message);
        } else {
            info!(
                table,
                label = %report.label,
                rows = report.loaded,
                ms = report.load_ms,
                "stream load finished"
            );
        }
        self.sweep_error_logs();
        Reply {
            status,
            body: report.to_json(),
        }
    }

    async fn metrics(&self) -> Result<String, Reply> {
        self.local.render_metrics().await.map_err(|e| Reply {
            status: 500,
            body: serde_json::json!({"status": "FAILED", "msg": e.message}),
        })
    }

    async fn load_error_log(&self, file: &str) -> Option<String> {
        if file.contains('/') || file.contains("..") || !file.starts_with("error_log_") {
            return None;
        }
        std::fs::read_to_string(self.error_dir.join(file)).ok()
    }

    async fn compact(
        &self,
        credentials: Option<(String, String)>,
        client: std::net::SocketAddr,
        tablet_id: u64,
        kind: &str,
    ) -> Reply {
        if let Err(reply) = self.admin(credentials, client) {
            return reply;
        }
        let kind = match kind {
            "base" => rigel_be_api::CompactionKind::Base,
            "cumulative" => rigel_be_api::CompactionKind::Cumulative,
            other => {
                return Reply {
                    status: 400,
                    body: json!({"status": "Fail", "msg": format!(
                        "compaction_type must be base or cumulative, not '{other}'"
                    )}),
                };
            }
        };
        match self
            .fe
            .compact_tablet_now(rigel_common::ids::TabletId(tablet_id), kind)
            .await
        {
            Ok(done) => Reply::ok(json!({
                "status": "Success",
                "msg": "compaction task is successfully triggered.",
                "input_rowsets": done.inputs,
                "input_rows": done.rows_in,
                "output_rows": done.rows_out,
            })),
            Err(e) => Reply {
                status: 400,
                body: json!({"status": "Fail", "msg": e.message}),
            },
        }
    }

    async fn compaction_show(
        &self,
        credentials: Option<(String, String)>,
        client: std::net::SocketAddr,
        tablet_id: u64,
    ) -> Reply {
        if let Err(reply) = self.admin(credentials, client) {
            return reply;
        }
        match self
            .fe
            .tablet_rowsets(rigel_common::ids::TabletId(tablet_id))
            .await
        {
            Some(info) => Reply::ok(json!({
                "tablet_id": tablet_id,
                "rowsets": info.rowsets,
                "rows": info.rows,
                "data_size": info.bytes,
                "max_version": info.max_version,
            })),
            None => Reply {
                status: 404,
                body: json!({"status": "Fail", "msg": format!("tablet {tablet_id} does not exist")}),
            },
        }
    }
}

impl LoadService {
    /// Checks HTTP Basic credentials for the administration APIs.
    fn admin(
        &self,
        credentials: Option<(String, String)>,
        client: std::net::SocketAddr,
    ) -> Result<(), Reply> {
        let denied = |msg: String| Reply {
            status: 401,
            body: json!({"status": "Fail", "msg": msg}),
        };
        let Some((user, password)) = credentials else {
            return Err(denied(
                "Access denied: no HTTP Basic credentials (curl -u user:password)".to_string(),
            ));
        };
        self.fe
            .authenticate_http(&user, &password, client)
            .map(|_| ())
            .map_err(|e| denied(e.message))
    }
}
