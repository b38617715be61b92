//! A Prometheus registry per role, on `metrics` handles rendered by
//! `metrics-exporter-prometheus`.
//!
//! Each role (frontend, backend) owns one [`Registry`] rather than a process-global recorder,
//! so `/metrics` on port 8030 shows the frontend's families and port 8040 the backend's, the
//! way StarRocks' separate processes do, and servers started side by side in one test process
//! keep separate counts.

use std::collections::HashSet;
use std::time::Duration;

pub use metrics::{Counter, Gauge, Histogram};
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use parking_lot::Mutex;

/// The quantiles StarRocks reports for its latency summaries.
pub const QUANTILES: [f64; 5] = [0.75, 0.95, 0.98, 0.99, 0.999];

/// How long a summary remembers observations (three buckets of this length).
const SUMMARY_BUCKET: Duration = Duration::from_secs(20);

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// One role's metrics.
pub struct Registry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    described: Mutex<HashSet<&'static str>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry whose summaries report [`QUANTILES`].
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_quantiles(&QUANTILES) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let builder = match builder.set_bucket_duration(SUMMARY_BUCKET) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        Self {
            recorder,
            handle,
            described: Mutex::new(HashSet::new()),
        }
    }

    fn key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect();
        Key::from_parts(name, labels)
    }

    fn first_time(&self, name: &'static str) -> bool {
        self.described.lock().insert(name)
    }

    /// A counter (a value that only grows).
    pub fn counter(&self, name: &'static str, help: &'static str) -> Counter {
        self.counter_with(name, help, &[])
    }

    /// A counter with labels.
    pub fn counter_with(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, String)],
    ) -> Counter {
        if self.first_time(name) {
            self.recorder
                .describe_counter(name.into(), None, help.into());
        }
        self.recorder
            .register_counter(&Self::key(name, labels), &METADATA)
    }

    /// A gauge (a value that goes up and down).
    pub fn gauge(&self, name: &'static str, help: &'static str) -> Gauge {
        self.gauge_with(name, help, &[])
    }

    /// A gauge with labels.
    pub fn gauge_with(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, String)],
    ) -> Gauge {
        if self.first_time(name) {
            self.recorder.describe_gauge(name.into(), None, help.into());
        }
        self.recorder
            .register_gauge(&Self::key(name, labels), &METADATA)
    }

    /// A summary: quantiles over the last minute plus `_sum` and `_count` since the start.
    pub fn summary(&self, name: &'static str, help: &'static str) -> Histogram {
        if self.first_time(name) {
            self.recorder
                .describe_histogram(name.into(), None, help.into());
        }
        self.recorder
            .register_histogram(&Self::key(name, &[]), &METADATA)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// Rates over a recent window, as StarRocks' metric calculator reports `qps`, `rps` and
/// `query_err_rate`: per second over the last 15 to 30 seconds (or since the start, when the
/// process is younger than that).
#[derive(Debug)]
pub struct RateWindow<const N: usize> {
    state: Mutex<RateState<N>>,
}

#[derive(Debug, Clone, Copy)]
struct RateState<const N: usize> {
    older: (std::time::Instant, [u64; N]),
    newer: (std::time::Instant, [u64; N]),
}

/// The shortest window rates are computed over once the process is old enough.
const RATE_WINDOW: Duration = Duration::from_secs(15);

impl<const N: usize> Default for RateWindow<N> {
    fn default() -> Self {
        let now = std::time::Instant::now();
        Self {
            state: Mutex::new(RateState {
                older: (now, [0; N]),
                newer: (now, [0; N]),
            }),
        }
    }
}

impl<const N: usize> RateWindow<N> {
    /// The per-second rates of `totals` (running counters) over the window ending now.
    pub fn rates(&self, totals: [u64; N]) -> [f64; N] {
        let now = std::time::Instant::now();
        let mut state = self.state.lock();
        if now.duration_since(state.newer.0) >= RATE_WINDOW {
            state.older = state.newer;
            state.newer = (now, totals);
        }
        let (since, base) = state.older;
        let secs = now.duration_since(since).as_secs_f64();
        let mut out = [0.0; N];
        if secs > 0.0 {
            for i in 0..N {
                out[i] = totals[i].saturating_sub(base[i]) as f64 / secs;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_summaries() {
        let r = Registry::new();
        let c = r.counter("starrocks_fe_query_total", "Queries received.");
        c.increment(3);
        let g = r.gauge_with(
            "starrocks_be_disks_total_capacity",
            "Disk capacity.",
            &[("path", "/data".to_string())],
        );
        g.set(1024.0);
        let s = r.summary("starrocks_fe_query_latency_ms", "Query latency.");
        for v in 1..=100 {
            s.record(v as f64);
        }
        let text = r.render();
        assert!(
            text.contains("# TYPE starrocks_fe_query_total counter"),
            "{text}"
        );
        assert!(text.contains("starrocks_fe_query_total 3"), "{text}");
        assert!(text.contains("# HELP starrocks_fe_query_total Queries received."));
        assert!(text.contains("starrocks_be_disks_total_capacity{path=\"/data\"} 1024"));
        assert!(text.contains("# TYPE starrocks_fe_query_latency_ms summary"));
        assert!(text.contains("starrocks_fe_query_latency_ms{quantile=\"0.999\"}"));
        assert!(text.contains("starrocks_fe_query_latency_ms_sum 5050"));
        assert!(text.contains("starrocks_fe_query_latency_ms_count 100"));
    }

    #[test]
    fn registering_twice_shares_the_value() {
        let r = Registry::new();
        r.counter("x_total", "x").increment(1);
        r.counter("x_total", "x").increment(1);
        assert!(r.render().contains("x_total 2"));
    }

    #[test]
    fn rates_since_start() {
        let w = RateWindow::<2>::default();
        std::thread::sleep(Duration::from_millis(20));
        let [a, b] = w.rates([10, 0]);
        assert!(a > 0.0);
        assert_eq!(b, 0.0);
    }
}
