//! [`RoutingSink`]: the coordinator of a write. It routes rows to partitions and buckets
//! (hence tablets), and hands each tablet's rows to a writer on the backend holding it.
//! An INSERT coordinates on the frontend, a Stream Load on the backend that received it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use rigel_be_api::{
    MAX_KEY_BYTES, PartitionRoute, SinkSummary, TabletSink, TabletWriter, WriteTarget,
};
use rigel_common::ids::{BackendId, TabletId, TxnId};
use rigel_common::{ErrorCode, SqlError};

use crate::router::Router;
use crate::runtime::BackendResolver;

/// Where the backends of a write are: id and data address.
pub type Placement = HashMap<BackendId, String>;

struct Inner {
    target: Arc<WriteTarget>,
    router: Router,
    /// The backend of each tablet.
    owner: HashMap<TabletId, BackendId>,
    writers: HashMap<BackendId, Box<dyn TabletWriter>>,
    /// Rows routed to a tablet.
    accepted: u64,
}

impl Inner {
    fn write(&mut self, batch: &RecordBatch) -> Result<Vec<u32>, SqlError> {
        if self.target.is_primary() {
            let keys: Vec<ArrayRef> = self
                .target
                .primary_key
                .iter()
                .map(|&i| Arc::clone(batch.column(i)))
                .collect();
            if let Some(row) = rigel_common::tablet::first_oversized_key(&keys) {
                return Err(SqlError::new(
                    ErrorCode::ER_TOO_LONG_KEY,
                    format!(
                        "The primary key of a row of table '{}' is longer than {MAX_KEY_BYTES} bytes (row {})",
                        self.target.table_name,
                        row + 1
                    ),
                ));
            }
        }
        let routed = self.router.route(batch)?;
        self.accepted += (batch.num_rows() - routed.unmatched.len()) as u64;
        for (tablet, part) in routed.parts {
            let backend = self.owner.get(&tablet).copied().ok_or_else(|| {
                SqlError::internal(format!(
                    "tablet {tablet} has no backend in the write target"
                ))
            })?;
            let writer = self
                .writers
                .get_mut(&backend)
                .ok_or_else(|| SqlError::internal(format!("no writer for backend {backend}")))?;
            writer.write(tablet, part)?;
        }
        Ok(routed.unmatched)
    }
}

fn owners(target: &WriteTarget) -> HashMap<TabletId, BackendId> {
    target.placement().collect()
}

/// A [`TabletSink`] over the backends of a write target.
pub struct RoutingSink {
    txn: TxnId,
    backends: Arc<dyn BackendResolver>,
    placement: Placement,
    inner: Option<Box<Inner>>,
}

impl RoutingSink {
    /// Opens a writer on every backend holding a tablet of `target`; `placement` gives their
    /// data addresses.
    pub async fn open(
        txn: TxnId,
        target: Arc<WriteTarget>,
        backends: Arc<dyn BackendResolver>,
        placement: Placement,
    ) -> Result<Self, SqlError> {
        let router = Router::try_new(Arc::clone(&target))?;
        let owner = owners(&target);
        let mut sink = Self {
            txn,
            backends,
            placement,
            inner: Some(Box::new(Inner {
                target,
                router,
                owner,
                writers: HashMap::new(),
                accepted: 0,
            })),
        };
        sink.open_missing_writers().await?;
        Ok(sink)
    }

    /// Opens writers on the backends of the target that have none yet.
    async fn open_missing_writers(&mut self) -> Result<(), SqlError> {
        let inner = self.inner.as_mut().ok_or_else(closed)?;
        let needed: BTreeSet<BackendId> = inner
            .owner
            .values()
            .copied()
            .filter(|b| !inner.writers.contains_key(b))
            .collect();
        for backend in needed {
            let address = self.placement.get(&backend).cloned().unwrap_or_default();
            let client = self.backends.backend(backend, &address)?;
            let writer = client
                .open_writer(self.txn, Arc::clone(&inner.target))
                .await?;
            inner.writers.insert(backend, writer);
        }
        Ok(())
    }
}

fn closed() -> SqlError {
    SqlError::internal("the tablet sink was used after a failure")
}

#[async_trait]
impl TabletSink for RoutingSink {
    async fn write(&mut self, batch: RecordBatch) -> Result<Vec<u32>, SqlError> {
        let mut inner = self.inner.take().ok_or_else(closed)?;
        // Routing, sorting and encoding are CPU work: keep them off the async workers.
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

    async fn set_partitions(&mut self, partitions: Vec<PartitionRoute>) -> Result<(), SqlError> {
        {
            let inner = self.inner.as_mut().ok_or_else(closed)?;
            let mut target = (*inner.target).clone();
            target.partitions = partitions;
            let target = Arc::new(target);
            inner.router = Router::try_new(Arc::clone(&target))?;
            inner.owner = owners(&target);
            inner.target = target;
        }
        self.open_missing_writers().await
    }

    async fn finish(mut self: Box<Self>) -> Result<SinkSummary, SqlError> {
        let inner = self.inner.take().ok_or_else(closed)?;
        let Inner {
            writers, accepted, ..
        } = *inner;
        let results = futures::future::join_all(writers.into_values().map(|w| w.finish())).await;
        let mut summary = SinkSummary::default();
        for r in results {
            summary.merge(r?);
        }
        summary.rows = accepted;
        Ok(summary)
    }
}
