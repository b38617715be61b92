//! The frontend's metrics (`/metrics` on the frontend HTTP port), with StarRocks' names.

use std::sync::atomic::{AtomicU64, Ordering};

use rigel_common::ErrorCode;
use rigel_common::metrics::{Counter, Histogram, RateWindow, Registry};

use crate::AuditRecord;

/// Counters bumped as statements, loads and transactions finish.
pub struct FeMetrics {
    registry: Registry,
    requests: AtomicU64,
    queries: AtomicU64,
    query_errors: AtomicU64,
    request_total: Counter,
    query_total: Counter,
    query_err: Counter,
    query_success: Counter,
    query_timeout: Counter,
    slow_query: Counter,
    query_latency: Histogram,
    /// Transactions begun.
    pub txn_begin: Counter,
    /// Transactions committed.
    pub txn_success: Counter,
    /// Transactions aborted.
    pub txn_failed: Counter,
    /// Load jobs submitted.
    pub load_add: Counter,
    /// Load jobs finished (committed or failed).
    pub load_finished: Counter,
    rates: RateWindow<3>,
}

impl std::fmt::Debug for FeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeMetrics").finish_non_exhaustive()
    }
}

/// Cluster membership and connections, read when `/metrics` is scraped.
#[derive(Debug, Clone, Copy)]
pub struct FeState {
    /// Open MySQL connections.
    pub connections: usize,
    /// Backends known and alive.
    pub backends: (usize, usize),
    /// Tablets in the catalog.
    pub tablets: usize,
}

impl Default for FeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl FeMetrics {
    /// A frontend's metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let c = |name, help| registry.counter(name, help);
        Self {
            requests: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            query_errors: AtomicU64::new(0),
            request_total: c(
                "starrocks_fe_request_total",
                "Statements received over the MySQL protocol.",
            ),
            query_total: c("starrocks_fe_query_total", "Queries run."),
            query_err: c("starrocks_fe_query_err", "Queries that failed."),
            query_success: c("starrocks_fe_query_success", "Queries that succeeded."),
            query_timeout: c(
                "starrocks_fe_query_timeout",
                "Queries stopped by query_timeout.",
            ),
            slow_query: c(
                "starrocks_fe_slow_query",
                "Queries slower than qe_slow_log_ms.",
            ),
            query_latency: registry.summary(
                "starrocks_fe_query_latency_ms",
                "Query latency in milliseconds (quantiles over the last minute).",
            ),
            txn_begin: c("starrocks_fe_txn_begin", "Load transactions begun."),
            txn_success: c("starrocks_fe_txn_success", "Load transactions committed."),
            txn_failed: c("starrocks_fe_txn_failed", "Load transactions aborted."),
            load_add: c("starrocks_fe_load_add", "Load jobs submitted."),
            load_finished: c("starrocks_fe_load_finished", "Load jobs finished."),
            registry,
            rates: RateWindow::default(),
        }
    }

    /// Accounts one finished statement (as its audit record describes it).
    pub fn statement_finished(&self, record: &AuditRecord, slow_ms: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_total.increment(1);
        if !record.is_query {
            return;
        }
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.query_total.increment(1);
        if record.state == "ERR" {
            self.query_errors.fetch_add(1, Ordering::Relaxed);
            self.query_err.increment(1);
            if record.error_code == ErrorCode::ER_QUERY_TIMEOUT.errno.to_string() {
                self.query_timeout.increment(1);
            }
        } else {
            self.query_success.increment(1);
        }
        self.query_latency.record(record.time_ms as f64);
        if record.time_ms >= slow_ms {
            self.slow_query.increment(1);
        }
    }

    /// Refreshes the gauges from `state` and renders everything in Prometheus' text format.
    pub fn render(&self, state: FeState) -> String {
        let r = &self.registry;
        let [qps, rps, err_rate] = self.rates.rates([
            self.queries.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
            self.query_errors.load(Ordering::Relaxed),
        ]);
        r.gauge("starrocks_fe_qps", "Queries per second (recent window).")
            .set(qps);
        r.gauge("starrocks_fe_rps", "Statements per second (recent window).")
            .set(rps);
        r.gauge(
            "starrocks_fe_query_err_rate",
            "Failed queries per second (recent window).",
        )
        .set(err_rate);
        r.gauge("starrocks_fe_connection_total", "Open MySQL connections.")
            .set(state.connections as f64);
        r.gauge("starrocks_fe_tablet_num", "Tablets in the catalog.")
            .set(state.tablets as f64);
        let node = |kind: &'static str, node_state: &'static str, value: usize| {
            r.gauge_with(
                "node_info",
                "Nodes of the cluster by type and state.",
                &[
                    ("type", kind.to_string()),
                    ("state", node_state.to_string()),
                ],
            )
            .set(value as f64);
        };
        node("fe_node_num", "total", 1);
        node("fe_node_num", "alive", 1);
        node("be_node_num", "total", state.backends.0);
        node("be_node_num", "alive", state.backends.1);
        node("be_node_num", "decommissioned", 0);
        r.gauge_with(
            "node_info",
            "Nodes of the cluster by type and state.",
            &[("type", "is_master".to_string())],
        )
        .set(1.0);
        r.render()
    }
}
