//! [`RoutingSink`]: the coordinator of a write. It routes rows to partitions and buckets
//! (hence tablets), and hands each tablet's rows to a writer on every backend holding a
//! replica of it. An INSERT coordinates on the frontend, a Stream Load on the backend that
//! received it.
//!
//! A backend whose writer fails (it went away, it refused) is dropped from the write; the
//! write goes on while every tablet that received rows keeps the table's `write_quorum` of
//! replicas, and reports the backends it lost so that the commit marks their replicas as
//! lacking its version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// The backends of each tablet's replicas that take the write, and how many of them
    /// must prepare it.
    owner: HashMap<TabletId, (Vec<BackendId>, usize)>,
    writers: HashMap<BackendId, Box<dyn TabletWriter>>,
    /// Backends whose writer failed, with why (the first failure each).
    failed: BTreeMap<BackendId, SqlError>,
    /// Tablets that received rows.
    written: BTreeSet<TabletId>,
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
            let (replicas, _) = self.owner.get(&tablet).cloned().ok_or_else(|| {
                SqlError::internal(format!(
                    "tablet {tablet} has no backend in the write target"
                ))
            })?;
            self.written.insert(tablet);
            for backend in replicas {
                if self.failed.contains_key(&backend) {
                    continue;
                }
                let outcome = match self.writers.get_mut(&backend) {
                    Some(writer) => writer.write(tablet, part.clone()),
                    None => Err(SqlError::internal(format!(
                        "no writer for backend {backend}"
                    ))),
                };
                if let Err(e) = outcome {
                    self.fail(backend, e);
                }
            }
            self.check_quorum(tablet)?;
        }
        Ok(routed.unmatched)
    }

    /// Drops a backend from the write (what it buffered is discarded with its writer).
    fn fail(&mut self, backend: BackendId, error: SqlError) {
        tracing::warn!(%backend, "a replica's writer failed: {error}");
        self.writers.remove(&backend);
        self.failed.entry(backend).or_insert(error);
    }

    /// Fails unless `tablet` keeps the write quorum of its replicas; the error is the
    /// failure of one of its replicas.
    fn check_quorum(&self, tablet: TabletId) -> Result<(), SqlError> {
        let Some((replicas, needed)) = self.owner.get(&tablet) else {
            return Ok(());
        };
        let alive = replicas
            .iter()
            .filter(|b| !self.failed.contains_key(b))
            .count();
        if alive >= *needed {
            return Ok(());
        }
        let lost = replicas.iter().find_map(|b| self.failed.get(b));
        Err(match lost {
            Some(e) if replicas.len() == 1 && *needed == 1 => e.clone(),
            Some(e) => SqlError::new(
                e.code,
                format!(
                    "Tablet {tablet} of table '{}' lost the write quorum ({alive} replicas left, {needed} needed): {}",
                    self.target.table_name, e.message
                ),
            ),
            None => SqlError::new(
                ErrorCode::ER_BACKEND_UNAVAILABLE,
                format!(
                    "Tablet {tablet} of table '{}' has {} complete replicas; the write needs {needed}",
                    self.target.table_name,
                    replicas.len()
                ),
            ),
        })
    }
}

fn owners(target: &WriteTarget) -> HashMap<TabletId, (Vec<BackendId>, usize)> {
    target
        .partitions
        .iter()
        .flat_map(|p| {
            p.tablets.iter().enumerate().map(|(i, t)| {
                let replicas = p.replicas.get(i).cloned().unwrap_or_default();
                let needed = p.needed.get(i).copied().unwrap_or(replicas.len());
                (*t, (replicas, needed))
            })
        })
        .collect()
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
                failed: BTreeMap::new(),
                written: BTreeSet::new(),
                accepted: 0,
            })),
        };
        sink.open_missing_writers().await?;
        Ok(sink)
    }

    /// Opens writers on the backends of the target that have none yet. A backend that
    /// cannot be reached is out of the write (a tablet whose rows then lack their quorum
    /// fails the write with its error).
    async fn open_missing_writers(&mut self) -> Result<(), SqlError> {
        let inner = self.inner.as_mut().ok_or_else(closed)?;
        let needed: BTreeSet<BackendId> = inner
            .owner
            .values()
            .flat_map(|(replicas, _)| replicas)
            .copied()
            .filter(|b| !inner.writers.contains_key(b) && !inner.failed.contains_key(b))
            .collect();
        for backend in needed {
            let address = self.placement.get(&backend).cloned().unwrap_or_default();
            let opened = match self.backends.backend(backend, &address) {
                Ok(client) => {
                    client
                        .open_writer(self.txn, Arc::clone(&inner.target))
                        .await
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(writer) => {
                    inner.writers.insert(backend, writer);
                }
                Err(e) => inner.fail(backend, e),
            }
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
        let mut inner = self.inner.take().ok_or_else(closed)?;
        let writers = std::mem::take(&mut inner.writers);
        let results = futures::future::join_all(
            writers
                .into_iter()
                .map(|(b, w)| async move { (b, w.finish().await) }),
        )
        .await;
        let mut summary = SinkSummary::default();
        for (backend, r) in results {
            match r {
                Ok(s) => summary.merge(s),
                Err(e) => inner.fail(backend, e),
            }
        }
        for &tablet in &inner.written {
            inner.check_quorum(tablet)?;
        }
        summary.rows = inner.accepted;
        summary.failed = inner.failed.keys().copied().collect();
        Ok(summary)
    }
}

#[cfg(test)]
mod tests;
