//! The backend's metrics (`/metrics` on the backend HTTP port), with StarRocks' names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::memory_pool::MemoryPool;
use rigel_common::host;
use rigel_common::metrics::{Counter, Gauge, Registry};

use rigel_be_api::CompactionKind;
use rigel_storage::TabletInfo;

/// Counters the backend's write, read and compaction paths bump, and the gauges a scrape
/// refreshes.
pub struct BeMetrics {
    registry: Registry,
    /// Rows queries read from tablets.
    pub query_scan_rows: Counter,
    /// Bytes queries read from tablets.
    pub query_scan_bytes: Counter,
    /// Rows written by loads (Stream Load, INSERT).
    pub load_rows: Counter,
    /// Bytes of segment files written by loads.
    pub load_bytes: Counter,
    /// Rows loaded through Stream Load.
    pub stream_load_rows: Counter,
    /// Stream Load requests received.
    pub stream_load_requests: Counter,
    mem_limit: u64,
    pool: Option<Arc<dyn MemoryPool>>,
}

impl std::fmt::Debug for BeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeMetrics").finish_non_exhaustive()
    }
}

/// What a scrape reads besides the counters.
#[derive(Debug, Clone)]
pub struct BackendState {
    /// Storage directories.
    pub storage_paths: Vec<PathBuf>,
    /// Every tablet.
    pub tablets: Vec<TabletInfo>,
    /// Compactions running now, by kind.
    pub running_compactions: (u64, u64),
}

impl BeMetrics {
    /// Metrics of a backend whose process may use `mem_limit` bytes, with queries drawing on
    /// `pool`.
    pub fn new(mem_limit: u64, pool: Option<Arc<dyn MemoryPool>>) -> Self {
        let registry = Registry::new();
        let c = |name, help| registry.counter(name, help);
        let metrics = Self {
            query_scan_rows: c(
                "starrocks_be_query_scan_rows",
                "Rows queries read from tablets.",
            ),
            query_scan_bytes: c(
                "starrocks_be_query_scan_bytes",
                "Bytes queries read from tablets.",
            ),
            load_rows: c(
                "starrocks_be_load_rows",
                "Rows written by loads (Stream Load and INSERT).",
            ),
            load_bytes: c(
                "starrocks_be_load_bytes",
                "Bytes of segment files written by loads.",
            ),
            stream_load_rows: c(
                "starrocks_be_stream_load_rows_total",
                "Rows loaded through Stream Load.",
            ),
            stream_load_requests: c(
                "starrocks_be_stream_load_requests_total",
                "Stream Load requests received.",
            ),
            registry,
            mem_limit,
            pool,
        };
        metrics.register_families();
        metrics
    }

    /// Registers the labelled families up front, so they are served (as 0) before the first
    /// event.
    fn register_families(&self) {
        for kind in [CompactionKind::Cumulative, CompactionKind::Base] {
            // Registering creates the series; the handles are not needed now.
            let _ = self.compaction_requests(kind, "total");
            let _ = self.compaction_requests(kind, "failed");
            let _ = self.compaction_bytes(kind);
        }
    }

    fn compaction_requests(&self, kind: CompactionKind, status: &'static str) -> Counter {
        let kind_label = match kind {
            CompactionKind::Cumulative => "cumulative_compaction",
            CompactionKind::Base => "base_compaction",
        };
        self.registry.counter_with(
            "starrocks_be_engine_requests_total",
            "Storage engine tasks by type, all and failed.",
            &[
                ("type", kind_label.to_string()),
                ("status", status.to_string()),
            ],
        )
    }

    fn compaction_bytes(&self, kind: CompactionKind) -> Counter {
        match kind {
            CompactionKind::Cumulative => self.registry.counter(
                "starrocks_be_cumulative_compaction_bytes_total",
                "Bytes written by cumulative compactions.",
            ),
            CompactionKind::Base => self.registry.counter(
                "starrocks_be_base_compaction_bytes_total",
                "Bytes written by base compactions.",
            ),
        }
    }

    /// The memory limit of the process, in bytes.
    pub fn mem_limit(&self) -> u64 {
        self.mem_limit
    }

    /// Counts a finished compaction.
    pub fn compaction_done(&self, kind: CompactionKind, ok: bool, bytes: u64) {
        self.compaction_requests(kind, "total").increment(1);
        if !ok {
            self.compaction_requests(kind, "failed").increment(1);
        }
        self.compaction_bytes(kind).increment(bytes);
    }

    fn gauge(&self, name: &'static str, help: &'static str) -> Gauge {
        self.registry.gauge(name, help)
    }

    fn path_gauge(&self, name: &'static str, help: &'static str, path: &Path) -> Gauge {
        self.registry
            .gauge_with(name, help, &[("path", path.display().to_string())])
    }

    /// Memory the queries of this process hold, from the memory pool.
    pub fn query_mem_bytes(&self) -> u64 {
        self.pool.as_ref().map_or(0, |p| p.reserved() as u64)
    }

    /// Refreshes the gauges from `state` and renders everything in Prometheus' text format.
    pub fn render(&self, state: &BackendState) -> String {
        let data_bytes: u64 = state.tablets.iter().map(|t| t.bytes).sum();
        for path in &state.storage_paths {
            let disk = host::disk_of(path);
            let (total, avail) = disk.as_ref().map_or((0, 0), |d| (d.total, d.available));
            self.path_gauge(
                "starrocks_be_disks_total_capacity",
                "Capacity of the filesystem of a storage path, bytes.",
                path,
            )
            .set(total as f64);
            self.path_gauge(
                "starrocks_be_disks_avail_capacity",
                "Bytes available on the filesystem of a storage path.",
                path,
            )
            .set(avail as f64);
            self.path_gauge(
                "starrocks_be_disks_data_used_capacity",
                "Bytes of tablet data under a storage path.",
                path,
            )
            .set(data_bytes as f64);
            self.path_gauge(
                "starrocks_be_disks_state",
                "1 when the storage path is usable, 0 when not.",
                path,
            )
            .set(if disk.is_some() && path.is_dir() {
                1.0
            } else {
                0.0
            });
            let used_pct = if total > 0 {
                (total - avail.min(total)) as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            self.path_gauge(
                "starrocks_be_disk_usage_percent",
                "Used share of the filesystem of a storage path, percent (Rigel extension).",
                path,
            )
            .set(used_pct);
        }
        let rss = host::process_rss_bytes();
        self.gauge(
            "starrocks_be_process_mem_bytes",
            "Resident memory of the process, bytes.",
        )
        .set(rss as f64);
        self.gauge(
            "starrocks_be_process_mem_limit_bytes",
            "Memory limit of the process (mem_limit), bytes.",
        )
        .set(self.mem_limit as f64);
        let mem_pct = if self.mem_limit > 0 {
            rss as f64 * 100.0 / self.mem_limit as f64
        } else {
            0.0
        };
        self.gauge(
            "starrocks_be_memory_usage_percent",
            "process_mem_bytes as a share of process_mem_limit_bytes, percent (Rigel extension).",
        )
        .set(mem_pct);
        self.gauge(
            "starrocks_be_query_mem_bytes",
            "Memory held by running queries, bytes.",
        )
        .set(self.query_mem_bytes() as f64);
        self.gauge(
            "starrocks_be_process_fd_num_used",
            "Open file descriptors of the process.",
        )
        .set(host::process_open_files() as f64);
        self.gauge("starrocks_be_process_thread_num", "Threads of the process.")
            .set(host::process_threads() as f64);
        self.gauge("starrocks_be_tablet_num", "Tablets on this backend.")
            .set(state.tablets.len() as f64);
        let max_rowsets = state.tablets.iter().map(|t| t.rowsets).max().unwrap_or(0);
        self.gauge(
            "starrocks_be_max_tablet_rowset_num",
            "Most visible rowsets of any tablet.",
        )
        .set(max_rowsets as f64);
        self.gauge(
            "starrocks_be_tablet_cumulative_max_compaction_score",
            "Highest cumulative compaction score (visible rowsets) of any tablet.",
        )
        .set(max_rowsets as f64);
        self.gauge(
            "starrocks_be_running_cumulative_compaction_task_num",
            "Cumulative compactions running.",
        )
        .set(state.running_compactions.0 as f64);
        self.gauge(
            "starrocks_be_running_base_compaction_task_num",
            "Base compactions running.",
        )
        .set(state.running_compactions.1 as f64);
        self.registry.render()
    }
}
