//! [`StreamLoader`]: one Stream Load request, from the HTTP body to the commit.

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::execution::TaskContext;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use rigel_be_api::{LoadCoordinator, PartitionRoute, SinkSummary, TabletSink, pb};
use rigel_common::ids::{BackendId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_exec::{BackendResolver, Placement, RoutingSink};
use rigel_http::{Reply, StreamLoadRequest};
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::csv::BadRow;
use crate::options::LoadOptions;
use crate::plan::{LoadPlan, Processed};
use crate::{load_error, parse};

/// Parsed blocks that may wait for the writer.
const PARSED_QUEUE: usize = 8;
/// How long error logs are served.
pub const ERROR_LOG_KEEP: Duration = Duration::from_secs(48 * 3600);
/// Rejected rows kept for the error log.
const MAX_BAD_ROWS: usize = 10_000;

/// How the node running a load reaches the backends its rows go to.
pub trait LoadRouting: Send + Sync + Debug {
    /// The id of the backend running the load (for the frontend's records).
    fn backend_id(&self) -> BackendId;

    /// When that backend started (as its heartbeats say); 0 for the backend of
    /// `rigel server`, which starts and stops with its frontend.
    fn started_ms(&self) -> i64;

    /// A resolver for the backends the frontend named for a load.
    fn resolver(&self, backends: &[pb::LoadBackend]) -> Result<Arc<dyn BackendResolver>, SqlError>;
}

/// What a load did, for the caller's metrics.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The HTTP answer.
    pub reply: Reply,
    /// Rows loaded, when the load committed.
    pub loaded: Option<u64>,
}

/// Runs Stream Loads on this node.
#[derive(Debug, Clone)]
pub struct StreamLoader {
    coordinator: Arc<dyn LoadCoordinator>,
    routing: Arc<dyn LoadRouting>,
    functions: Arc<TaskContext>,
    error_dir: PathBuf,
}

/// Counters and timings of one load, in the reply's order.
#[derive(Debug, Default)]
struct Report {
    txn: i64,
    label: String,
    status: &'static str,
    existing: Option<String>,
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
        if let Some(e) = &self.existing {
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

    fn counters(&self) -> pb::LoadCounters {
        pb::LoadCounters {
            total: self.total,
            filtered: self.filtered,
            unselected: self.unselected,
            bytes: self.bytes,
            error_url: self.error_url.clone(),
        }
    }
}

/// What the reader and writer stages counted.
#[derive(Debug, Default)]
struct Counts {
    total: u64,
    filtered: u64,
    unselected: u64,
}

/// A load that began: its transaction is rolled back unless it commits.
struct Running<'a> {
    loader: &'a StreamLoader,
    txn: TxnId,
    done: bool,
}

impl Running<'_> {
    async fn abort(&mut self, reason: &str, report: &Report) {
        self.done = true;
        let request = pb::AbortLoadRequest {
            txn_id: self.txn.0,
            reason: reason.to_string(),
            counters: Some(report.counters()),
        };
        if let Err(e) = self.loader.coordinator.abort_load(request).await {
            // The frontend aborts loads it hears nothing of within their timeout.
            warn!(txn = %self.txn, "cannot roll the load back now: {e}");
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.done {
            // The request went away mid-load (the client hung up): roll back in the
            // background.
            let coordinator = Arc::clone(&self.loader.coordinator);
            let txn = self.txn;
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let request = pb::AbortLoadRequest {
                        txn_id: txn.0,
                        reason: "the request was cancelled".to_string(),
                        counters: None,
                    };
                    if let Err(e) = coordinator.abort_load(request).await {
                        warn!(%txn, "cannot roll the load back now: {e}");
                    }
                });
            }
        }
    }
}

impl StreamLoader {
    /// The frontend the loads (and the HTTP administration APIs) go to.
    pub fn frontend(&self) -> &dyn LoadCoordinator {
        self.coordinator.as_ref()
    }

    /// Loads planned by `coordinator`, rows routed through `routing`; the functions of
    /// received expressions resolve in `functions`; error logs go to `error_dir`.
    pub fn new(
        coordinator: Arc<dyn LoadCoordinator>,
        routing: Arc<dyn LoadRouting>,
        functions: Arc<TaskContext>,
        error_dir: PathBuf,
    ) -> Self {
        Self {
            coordinator,
            routing,
            functions,
            error_dir,
        }
    }

    /// Runs one Stream Load request.
    pub async fn stream_load(&self, request: StreamLoadRequest) -> LoadOutcome {
        let mut report = Report {
            status: "Success",
            message: "OK".to_string(),
            ..Report::default()
        };
        let table = request.table.clone();
        let started = Instant::now();
        let result = self.run(request, &mut report).await;
        report.load_ms = started.elapsed().as_millis() as u64;
        let mut status = 200;
        let loaded = match result {
            Ok(()) => {
                info!(
                    table,
                    label = %report.label,
                    rows = report.loaded,
                    ms = report.load_ms,
                    "stream load finished"
                );
                Some(report.loaded)
            }
            Err(e) => {
                if report.status != "Label Already Exists" {
                    report.status = "Fail";
                }
                report.message = e.message.clone();
                if e.code == ErrorCode::ER_ACCESS_DENIED_ERROR {
                    status = 401;
                }
                info!(table, label = %report.label, "stream load failed: {}", e.message);
                None
            }
        };
        self.sweep_error_logs();
        LoadOutcome {
            reply: Reply {
                status,
                body: report.to_json(),
            },
            loaded,
        }
    }

    /// The content of an error log this node wrote.
    pub fn error_log(&self, file: &str) -> Option<String> {
        if file.contains('/') || file.contains("..") || !file.starts_with("error_log_") {
            return None;
        }
        std::fs::read_to_string(self.error_dir.join(file)).ok()
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

    /// A task context for the plan's expressions: its settings, this node's functions.
    fn plan_context(&self, settings: &HashMap<String, String>) -> Result<TaskContext, SqlError> {
        let config = rigel_exec::fragment_config(settings)?;
        Ok(rigel_exec::fragment_context(&self.functions, config))
    }

    async fn run(&self, req: StreamLoadRequest, report: &mut Report) -> Result<(), SqlError> {
        let started = Instant::now();
        let Some((user, password)) = req.credentials.clone() else {
            return Err(SqlError::new(
                ErrorCode::ER_ACCESS_DENIED_ERROR,
                "Access denied: no HTTP Basic credentials (curl -u user:password)",
            ));
        };
        let options = LoadOptions::from_headers(&req.headers).map_err(load_error)?;
        if let Some(l) = &options.label {
            report.label = l.clone();
        }
        let begin = Instant::now();
        let began = self
            .coordinator
            .begin_load(pb::BeginLoadRequest {
                user,
                password,
                client_ip: req.client.ip().to_string(),
                db: req.db.clone(),
                table: req.table.clone(),
                headers: req
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                backend_id: self.routing.backend_id().0,
                backend_started_ms: self.routing.started_ms(),
            })
            .await?;
        report.label = began.label.clone();
        if !began.existing_job_status.is_empty() {
            report.txn = -1;
            report.status = "Label Already Exists";
            report.existing = Some(began.existing_job_status.clone());
            return Err(SqlError::new(
                ErrorCode::ER_LABEL_ALREADY_EXISTS,
                format!("Label [{}] has already been used.", began.label),
            ));
        }
        let txn = TxnId(began.txn_id);
        report.txn = txn.0 as i64;
        report.begin_ms = begin.elapsed().as_millis() as u64;
        let mut running = Running {
            loader: self,
            txn,
            done: false,
        };
        match self.load(req, options, began, report, started).await {
            Ok(()) => {
                running.done = true;
                Ok(())
            }
            Err(e) => {
                running.abort(&e.message, report).await;
                Err(e)
            }
        }
    }

    /// Everything after the transaction began; an error rolls it back.
    async fn load(
        &self,
        req: StreamLoadRequest,
        options: LoadOptions,
        began: pb::BeginLoadResponse,
        report: &mut Report,
        started: Instant,
    ) -> Result<(), SqlError> {
        let txn = TxnId(began.txn_id);
        let label = began.label.clone();
        let plan_start = Instant::now();
        let wire_plan = began
            .plan
            .as_ref()
            .ok_or_else(|| rigel_be_api::wire::bad_message("BeginLoad answered without a plan"))?;
        let ctx = self.plan_context(&wire_plan.settings)?;
        let timeout = options.timeout;
        let log_rejected = options.log_rejected;
        let max_filter_ratio = options.max_filter_ratio;
        let plan = Arc::new(LoadPlan::from_wire(wire_plan, options, &ctx)?);
        let resolver = self.routing.resolver(&began.backends)?;
        let placement = placement_of(&began.backends);
        let mut sink: Box<dyn TabletSink> = Box::new(
            RoutingSink::open(
                txn,
                Arc::clone(&plan.target),
                Arc::clone(&resolver),
                placement,
            )
            .await?,
        );
        report.plan_ms = plan_start.elapsed().as_millis() as u64;

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
            let mut counts = Counts::default();
            let write_start = Instant::now();
            while let Some(item) = out_rx.recv().await {
                let p = item?;
                counts.total += p.total as u64;
                counts.filtered += p.bad_count as u64;
                counts.unselected += p.unselected as u64;
                if bad_rows.len() < MAX_BAD_ROWS {
                    bad_rows.extend(p.bad);
                }
                if p.batch.num_rows() > 0 {
                    let mut unmatched = sink.write(p.batch.clone()).await?;
                    if !unmatched.is_empty() && plan.auto_partition {
                        unmatched = self
                            .write_to_new_partitions(txn, &mut *sink, &p.batch, unmatched)
                            .await?;
                    }
                    counts.filtered += unmatched.len() as u64;
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
            Ok::<(Counts, u64), SqlError>((counts, write_start.elapsed().as_millis() as u64))
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
        let ((bytes, read_ms), (counts, write_ms)) = outcome?;
        report.bytes = bytes;
        report.read_ms = read_ms;
        report.write_ms = write_ms;
        report.total = counts.total;
        report.filtered = counts.filtered;
        report.unselected = counts.unselected;
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
        let considered = counts.total.saturating_sub(counts.unselected);
        if counts.filtered > 0
            && (considered == 0 || counts.filtered as f64 / considered as f64 > max_filter_ratio)
        {
            return Err(load_error(format!(
                "too many filtered rows: {} of {considered} rows were rejected (max_filter_ratio {max_filter_ratio})",
                counts.filtered
            )));
        }
        let summary: SinkSummary = sink.finish().await?;
        report.loaded = summary.rows;
        let commit_start = Instant::now();
        let finished = self
            .coordinator
            .finish_load(pb::FinishLoadRequest {
                txn_id: txn.0,
                written: Some(pb::WriteSummary::from(&summary)),
                counters: Some(report.counters()),
            })
            .await?;
        if !finished.visible {
            report.status = "Publish Timeout";
        }
        report.commit_ms = commit_start.elapsed().as_millis() as u64;
        report.load_ms = started.elapsed().as_millis() as u64;
        Ok(())
    }

    /// Rows no partition took: asks the frontend for their partitions (expression
    /// partitioning), points the sink at them and writes the rows. Returns the rows still
    /// without a partition.
    async fn write_to_new_partitions(
        &self,
        txn: TxnId,
        sink: &mut dyn TabletSink,
        batch: &RecordBatch,
        unmatched: Vec<u32>,
    ) -> Result<Vec<u32>, SqlError> {
        let rows = take_record_batch(batch, &UInt32Array::from(unmatched.clone()))
            .map_err(|e| SqlError::internal(e.to_string()))?;
        let created = self
            .coordinator
            .load_partitions(pb::LoadPartitionsRequest {
                txn_id: txn.0,
                rows: rigel_be_api::wire::encode_batch(&rows)?,
            })
            .await?;
        if created.partitions.is_empty() {
            return Ok(unmatched);
        }
        let partitions = created
            .partitions
            .iter()
            .map(PartitionRoute::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // The new partitions' tablets may be on backends the load has not met yet.
        self.routing.resolver(&created.backends)?;
        sink.set_partitions(partitions).await?;
        let still = sink.write(rows).await?;
        Ok(still.into_iter().map(|i| unmatched[i as usize]).collect())
    }
}

/// The data address of each backend a load may write to.
fn placement_of(backends: &[pb::LoadBackend]) -> Placement {
    backends
        .iter()
        .map(|b| (BackendId(b.backend_id), b.brpc_address.clone()))
        .collect()
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
