//! Automatic compaction and the sweeping of replaced rowsets.
//!
//! Every `cumulative_compaction_check_interval_seconds` the frontend looks for tablets with
//! at least `min_cumulative_compaction_num_singleton_deltas` current rowsets and asks the
//! backend to merge the newest small ones (cumulative); when they are not small, all of
//! them (base). Rowsets replaced for longer than `tablet_rowset_stale_sweep_time_sec` are
//! then removed. The frontend drives it because it knows each tablet's table: its schema,
//! sort key and merge rule.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{StreamExt, stream};
use rigel_be_api::{CompactRequest, CompactSummary, CompactionKind};
use rigel_common::SqlError;
use rigel_common::ids::{BackendId, TabletId};
use tracing::{debug, warn};

use crate::Frontend;
use crate::txn::write_target;
use rigel_catalog::Table;

/// Counters behind `information_schema.be_compactions`.
#[derive(Debug, Default)]
pub struct CompactionStats {
    /// Base compactions running.
    pub running_base: AtomicU64,
    /// Cumulative compactions running.
    pub running_cumulative: AtomicU64,
    /// Manual compactions running.
    pub running_manual: AtomicU64,
    /// Tablets that needed compaction at the last round.
    pub candidates: AtomicU64,
    /// The largest rowset count of a tablet at the last round (StarRocks' score).
    pub max_score: AtomicU64,
    /// The rowset count of the tablet compacted last.
    pub latest_score: AtomicU64,
}

/// Decrements a running counter when dropped.
struct Running<'a>(&'a AtomicU64);

impl<'a> Running<'a> {
    fn start(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Frontend {
    /// Compacts one tablet on request (`POST /api/compact`).
    pub async fn compact_tablet_now(
        &self,
        tablet: TabletId,
        kind: CompactionKind,
    ) -> Result<CompactSummary, SqlError> {
        let table = self.table_of_tablet(tablet).ok_or_else(|| {
            SqlError::new(
                rigel_common::ErrorCode::ER_WRONG_ARGUMENTS,
                format!("tablet {tablet} does not exist"),
            )
        })?;
        let stats = Arc::clone(&self.env.compactions);
        let _running = Running::start(&stats.running_manual);
        // Every replica of it, each on its backend; the first one's outcome is answered.
        let replicas: Vec<BackendId> = table
            .olap()
            .map(|o| {
                o.placed_tablets()
                    .into_iter()
                    .filter(|(t, _)| *t == tablet)
                    .map(|(_, b)| b)
                    .collect()
            })
            .unwrap_or_default();
        let mut first = None;
        for backend in replicas {
            let done = self.compact_tablet(&table, tablet, backend, kind).await;
            if let Err(e) = &done {
                warn!(%tablet, %backend, "compacting a replica failed: {e}");
            }
            first.get_or_insert(done);
        }
        first.unwrap_or_else(|| {
            Err(SqlError::internal(format!(
                "tablet {tablet} has no replica"
            )))
        })
    }

    /// Compacts the replica of one tablet of `table` that `backend` holds.
    async fn compact_tablet(
        &self,
        table: &Table,
        tablet: TabletId,
        backend: BackendId,
        kind: CompactionKind,
    ) -> Result<CompactSummary, SqlError> {
        let Some(olap) = table.olap() else {
            return Err(SqlError::internal("a tablet of a view"));
        };
        let config = self.config();
        let request = CompactRequest {
            target: write_target(table, olap, None)?,
            tablet,
            kind,
            min_rowsets: config.min_cumulative_compaction_num_singleton_deltas as usize,
            max_rowsets: config.max_cumulative_compaction_num_singleton_deltas as usize,
        };
        self.cluster().backend(backend)?.compact(request).await
    }

    fn table_of_tablet(&self, tablet: TabletId) -> Option<Arc<Table>> {
        let state = self.catalog().read();
        state
            .tables
            .values()
            .find(|t| t.olap().is_some_and(|o| o.all_tablets().contains(&tablet)))
            .cloned()
    }

    /// One automatic round: compacts the tablets that need it, then sweeps.
    pub async fn compaction_round(&self) -> Result<(), SqlError> {
        let config = self.config();
        let min = config.min_cumulative_compaction_num_singleton_deltas.max(2) as usize;
        let tables: HashMap<TabletId, Arc<Table>> = {
            let state = self.catalog().read();
            state
                .tables
                .values()
                .filter_map(|t| Some((t, t.olap()?)))
                .flat_map(|(t, o)| o.all_tablets().into_iter().map(|id| (id, Arc::clone(t))))
                .collect()
        };
        // Each backend's replicas, compacted where they are.
        let infos = self.cluster().tablet_infos().await?;
        let stats = Arc::clone(&self.env.compactions);
        let max_score = infos.iter().map(|(_, i)| i.rowsets).max().unwrap_or(0);
        stats.max_score.store(max_score as u64, Ordering::Relaxed);
        let candidates: Vec<_> = infos
            .into_iter()
            .filter(|(_, i)| i.rowsets >= min)
            .filter_map(|(b, i)| Some((Arc::clone(tables.get(&i.meta.tablet_id)?), b, i)))
            .collect();
        stats
            .candidates
            .store(candidates.len() as u64, Ordering::Relaxed);
        // Up to compact_threads tablets at a time (never more than there are cores).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (config.compact_threads as usize).clamp(1, cores);
        let results: Vec<Result<(), SqlError>> = stream::iter(candidates)
            .map(|(table, backend, info)| {
                let stats = Arc::clone(&stats);
                async move {
                    let tablet = info.meta.tablet_id;
                    stats
                        .latest_score
                        .store(info.rowsets as u64, Ordering::Relaxed);
                    let mut done = {
                        let _running = Running::start(&stats.running_cumulative);
                        self.compact_tablet(&table, tablet, backend, CompactionKind::Cumulative)
                            .await?
                    };
                    if done.inputs == 0 {
                        let _running = Running::start(&stats.running_base);
                        done = self
                            .compact_tablet(&table, tablet, backend, CompactionKind::Base)
                            .await?;
                    }
                    debug!(
                        %tablet,
                        inputs = done.inputs,
                        rows_in = done.rows_in,
                        rows_out = done.rows_out,
                        "compacted"
                    );
                    Ok(())
                }
            })
            .buffer_unordered(threads)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), SqlError>>()?;
        for member in self.cluster().members() {
            member
                .client
                .sweep_stale(config.tablet_rowset_stale_sweep_time_sec)
                .await?;
            member
                .client
                .sweep_trash(config.trash_file_expire_time_sec)
                .await?;
        }
        Ok(())
    }

    /// The rowsets of a tablet, for `GET /api/compaction/show`.
    pub async fn tablet_rowsets(&self, tablet: TabletId) -> Option<rigel_be_api::TabletInfo> {
        self.cluster()
            .tablet_infos()
            .await
            .ok()?
            .into_iter()
            .map(|(_, i)| i)
            .find(|i| i.meta.tablet_id == tablet)
    }

    /// Runs automatic compaction until `stop` resolves.
    pub async fn run_compaction(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let interval = self.config().cumulative_compaction_check_interval_seconds;
            let wait = Duration::from_secs(interval.max(1));
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if let Err(e) = self.retire_partitions().await {
                warn!("retiring partitions failed: {e}");
            }
            let expire = self.config().catalog_trash_expire_second;
            if let Err(e) = self.purge_recycle_bin(expire).await {
                warn!("emptying the recycle bin failed: {e}");
            }
            // Read again: the setting may have changed while waiting.
            if self.config().cumulative_compaction_check_interval_seconds == 0 {
                continue;
            }
            if let Err(e) = self.compaction_round().await {
                warn!("compaction round failed: {e}");
            }
        }
    }
}
