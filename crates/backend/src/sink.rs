//! The local tablet sink: routes rows to tablets and writes rowsets.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use rigel_be_api::{SinkSummary, TabletSink, WriteTarget};
use rigel_common::SqlError;
use rigel_common::ids::{TabletId, TxnId};
use rigel_storage::{RowsetWriter, SegmentOptions, StorageEngine};

use crate::router::Router;
use crate::storage_error;

/// Buffered bytes across all tablets of one sink before the largest buffer is flushed,
/// unless the target sets its own limit. Hashing fills every tablet's buffer at the same
/// pace: a shared budget makes them flush one at a time, spread over the load, instead of
/// all at once when each reaches the segment size.
const SINK_MEMORY_BUDGET: usize = 256 << 20;

struct Inner {
    engine: Arc<StorageEngine>,
    txn: TxnId,
    target: Arc<WriteTarget>,
    router: Router,
    options: SegmentOptions,
    writers: HashMap<TabletId, RowsetWriter>,
}

impl Inner {
    fn write(&mut self, batch: &RecordBatch) -> Result<Vec<u32>, SqlError> {
        let routed = self.router.route(batch)?;
        for (tablet, part) in routed.parts {
            let writer = match self.writers.get_mut(&tablet) {
                Some(w) => w,
                None => {
                    let w = self
                        .engine
                        .rowset_writer(
                            self.txn,
                            tablet,
                            Arc::clone(&self.target.schema),
                            self.options.clone(),
                        )
                        .map_err(|e| storage_error(&e))?;
                    self.writers.entry(tablet).or_insert(w)
                }
            };
            writer.write(part).map_err(|e| storage_error(&e))?;
        }
        self.enforce_budget()?;
        Ok(routed.unmatched)
    }

    fn enforce_budget(&mut self) -> Result<(), SqlError> {
        loop {
            let total: usize = self.writers.values().map(|w| w.buffered_bytes()).sum();
            let budget = match self.target.memory_limit {
                0 => SINK_MEMORY_BUDGET,
                n => n,
            };
            if total <= budget {
                return Ok(());
            }
            let Some(largest) = self.writers.values_mut().max_by_key(|w| w.buffered_bytes()) else {
                return Ok(());
            };
            largest.flush().map_err(|e| storage_error(&e))?;
        }
    }

    fn finish(self) -> Result<SinkSummary, SqlError> {
        let mut rowsets = vec![];
        let mut summary = SinkSummary::default();
        for (_, writer) in self.writers {
            if let Some(rs) = writer.finish().map_err(|e| storage_error(&e))? {
                summary.rows += rs.rows;
                summary.bytes += rs.bytes;
                summary.tablets.push(rs.tablet_id);
                rowsets.push(rs);
            }
        }
        summary.tablets.sort();
        if !rowsets.is_empty() {
            self.engine
                .prepare_txn(self.txn, rowsets)
                .map_err(|e| storage_error(&e))?;
        }
        Ok(summary)
    }
}

/// A [`TabletSink`] writing into the local [`StorageEngine`].
pub struct LocalSink {
    inner: Option<Box<Inner>>,
}

impl LocalSink {
    pub(crate) fn try_new(
        engine: Arc<StorageEngine>,
        txn: TxnId,
        target: Arc<WriteTarget>,
    ) -> Result<Self, SqlError> {
        let router = Router::try_new(Arc::clone(&target))?;
        let options = SegmentOptions {
            compression: target.compression,
            sort_key: target.sort_key.clone(),
            bloom_filter_columns: target.bloom_filter_columns.clone(),
            ..SegmentOptions::default()
        };
        Ok(Self {
            inner: Some(Box::new(Inner {
                engine,
                txn,
                target,
                router,
                options,
                writers: HashMap::new(),
            })),
        })
    }
}

fn closed() -> SqlError {
    SqlError::internal("the tablet sink was used after a failure")
}

#[async_trait]
impl TabletSink for LocalSink {
    async fn write(&mut self, batch: RecordBatch) -> Result<Vec<u32>, SqlError> {
        let mut inner = self.inner.take().ok_or_else(closed)?;
        // Sorting and encoding are CPU work: keep them off the async workers.
        let (inner, result) = tokio::task::spawn_blocking(move || {
            let r = inner.write(&batch);
            (inner, r)
        })
        .await
        .map_err(|e| SqlError::internal(format!("write task failed: {e}")))?;
        if result.is_ok() {
            self.inner = Some(inner);
        }
        result
    }

    async fn finish(mut self: Box<Self>) -> Result<SinkSummary, SqlError> {
        let inner = self.inner.take().ok_or_else(closed)?;
        tokio::task::spawn_blocking(move || inner.finish())
            .await
            .map_err(|e| SqlError::internal(format!("write task failed: {e}")))?
    }
}
