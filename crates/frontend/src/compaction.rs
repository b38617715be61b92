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
use std::time::Duration;

use rigel_be_api::{CompactRequest, CompactSummary, CompactionKind};
use rigel_common::SqlError;
use rigel_common::ids::TabletId;
use tracing::{debug, warn};

use crate::Frontend;
use crate::catalog::Table;
use crate::txn::write_target;

impl Frontend {
    /// Compacts one tablet (manual compaction, and the automatic round).
    pub async fn compact_tablet(
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
        let Some(olap) = table.olap() else {
            return Err(SqlError::internal("a tablet of a view"));
        };
        let config = self.config();
        let request = CompactRequest {
            target: write_target(&table, olap, None)?,
            tablet,
            kind,
            min_rowsets: config.min_cumulative_compaction_num_singleton_deltas as usize,
            max_rowsets: config.max_cumulative_compaction_num_singleton_deltas as usize,
        };
        self.backend().compact(request).await
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
        for info in self.backend().tablet_infos().await? {
            let tablet = info.meta.tablet_id;
            if info.rowsets < min || !tables.contains_key(&tablet) {
                continue;
            }
            let mut done = self
                .compact_tablet(tablet, CompactionKind::Cumulative)
                .await?;
            if done.inputs == 0 {
                done = self.compact_tablet(tablet, CompactionKind::Base).await?;
            }
            debug!(
                %tablet,
                inputs = done.inputs,
                rows_in = done.rows_in,
                rows_out = done.rows_out,
                "compacted"
            );
        }
        self.backend()
            .sweep_stale(config.tablet_rowset_stale_sweep_time_sec)
            .await?;
        Ok(())
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
            if interval == 0 {
                continue;
            }
            if let Err(e) = self.compaction_round().await {
                warn!("compaction round failed: {e}");
            }
        }
    }
}
