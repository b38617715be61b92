//! The tablet writer of this backend: buffers rows of a transaction per tablet and writes
//! them as rowsets. Rows arrive already routed (see `rigel_exec::RoutingSink`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use rigel_be_api::{SinkSummary, TabletWriter, WriteTarget};
use rigel_common::SqlError;
use rigel_common::ids::{TabletId, TxnId};
use rigel_storage::{PendingSegment, RowsetWriter, SegmentMeta, SegmentOptions, StorageEngine};

use crate::metrics::BeMetrics;
use crate::{segment_options, storage_error};

/// Buffered bytes across all tablets of one sink before the largest buffer is flushed,
/// unless the target sets its own limit. Hashing fills every tablet's buffer at the same
/// pace: a shared budget makes them flush one at a time, spread over the load, instead of
/// all at once when each reaches the segment size.
const SINK_MEMORY_BUDGET: usize = 256 << 20;

/// A segment being written on its own thread while the sink routes more rows.
struct InFlight {
    tablet: TabletId,
    bytes: usize,
    handle: std::thread::JoinHandle<rigel_storage::Result<SegmentMeta>>,
}

struct Inner {
    engine: Arc<StorageEngine>,
    txn: TxnId,
    target: Arc<WriteTarget>,
    options: SegmentOptions,
    writers: HashMap<TabletId, RowsetWriter>,
    /// Rows routed to a tablet.
    accepted: u64,
    /// Segments being written in the background, oldest first (at most one per core).
    in_flight: std::collections::VecDeque<InFlight>,
    /// How many segments may be written at once.
    flush_threads: usize,
}

impl Inner {
    fn write(&mut self, tablet: TabletId, part: RecordBatch) -> Result<(), SqlError> {
        self.accepted += part.num_rows() as u64;
        {
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
        self.enforce_budget()
    }

    /// Keeps the rows in memory (buffered and being written) within the budget. Past three
    /// quarters of it the largest buffer is written in the background while routing goes
    /// on (up to one segment per core at a time); only past the whole budget does routing
    /// wait for the oldest of those writes.
    fn enforce_budget(&mut self) -> Result<(), SqlError> {
        let budget = match self.target.memory_limit {
            0 => SINK_MEMORY_BUDGET,
            n => n,
        };
        loop {
            while self
                .in_flight
                .front()
                .is_some_and(|f| f.handle.is_finished())
            {
                self.join_oldest()?;
            }
            let buffered: usize = self.writers.values().map(|w| w.buffered_bytes()).sum();
            let writing: usize = self.in_flight.iter().map(|f| f.bytes).sum();
            if buffered + writing > budget && !self.in_flight.is_empty() {
                self.join_oldest()?;
                continue;
            }
            if buffered <= budget / 4 * 3 || self.in_flight.len() >= self.flush_threads {
                return Ok(());
            }
            let Some(largest) = self.writers.values_mut().max_by_key(|w| w.buffered_bytes()) else {
                return Ok(());
            };
            let tablet = largest.tablet_id();
            let Some(pending) = largest.take_segment() else {
                return Ok(());
            };
            let bytes = pending.bytes();
            let handle = std::thread::Builder::new()
                .name("rigel-flush".to_string())
                .spawn(move || pending.write())
                .map_err(|e| SqlError::internal(format!("cannot start a flush thread: {e}")))?;
            self.in_flight.push_back(InFlight {
                tablet,
                bytes,
                handle,
            });
        }
    }

    /// Waits for the oldest background segment and hands it to its writer. Segments are
    /// handed over in the order they were cut, which keeps each tablet's in load order.
    fn join_oldest(&mut self) -> Result<(), SqlError> {
        let Some(f) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let segment = f
            .handle
            .join()
            .map_err(|_| SqlError::internal("a segment flush thread panicked"))?
            .map_err(|e| storage_error(&e))?;
        if let Some(w) = self.writers.get_mut(&f.tablet) {
            w.add_segment(segment);
        }
        Ok(())
    }

    /// Waits for every background segment.
    fn join_in_flight(&mut self) -> Result<(), SqlError> {
        let mut result = Ok(());
        while !self.in_flight.is_empty() {
            if let Err(e) = self.join_oldest() {
                result = result.and(Err(e));
            }
        }
        result
    }

    fn finish(mut self) -> Result<SinkSummary, SqlError> {
        // The last buffers of all tablets, written on all cores while the segments in flight
        // finish; those are older, and go to their writers first.
        let pending: Vec<(TabletId, PendingSegment)> = self
            .writers
            .values_mut()
            .filter_map(|w| Some((w.tablet_id(), w.take_segment()?)))
            .collect();
        let written = write_all(pending);
        self.join_in_flight()?;
        for (tablet, segment) in written? {
            if let Some(w) = self.writers.get_mut(&tablet) {
                w.add_segment(segment);
            }
        }
        let mut rowsets = vec![];
        let mut summary = SinkSummary::default();
        for (_, writer) in std::mem::take(&mut self.writers) {
            if let Some(mut rs) = writer.finish().map_err(|e| storage_error(&e))? {
                rs.update = self.target.update.clone();
                summary.bytes += rs.bytes;
                summary.tablets.push(rs.tablet_id);
                rowsets.push(rs);
            }
        }
        summary.rows = self.accepted;
        summary.tablets.sort();
        if !rowsets.is_empty() {
            self.engine
                .prepare_txn(self.txn, rowsets)
                .map_err(|e| storage_error(&e))?;
        }
        Ok(summary)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A segment still being written belongs to its writer, which removes the files of
        // an unfinished rowset.
        let _ = self.join_in_flight();
    }
}

/// Writes segments on up to as many threads as there are cores, largest first.
fn write_all(
    mut pending: Vec<(TabletId, PendingSegment)>,
) -> Result<Vec<(TabletId, SegmentMeta)>, SqlError> {
    // `pop` takes the largest first.
    pending.sort_by_key(|(_, p)| p.bytes());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(pending.len())
        .max(1);
    let queue = parking_lot::Mutex::new(pending);
    let results = parking_lot::Mutex::new(vec![]);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let Some((tablet, p)) = queue.lock().pop() else {
                        return;
                    };
                    results.lock().push(p.write().map(|m| (tablet, m)));
                }
            });
        }
    });
    results
        .into_inner()
        .into_iter()
        .map(|r| r.map_err(|e| storage_error(&e)))
        .collect()
}

/// A [`TabletWriter`] into the local [`StorageEngine`].
pub struct LocalWriter {
    inner: Option<Box<Inner>>,
    metrics: Arc<BeMetrics>,
}

impl LocalWriter {
    pub(crate) fn new(
        engine: Arc<StorageEngine>,
        txn: TxnId,
        target: Arc<WriteTarget>,
        metrics: Arc<BeMetrics>,
    ) -> Self {
        let options = segment_options(&target);
        Self {
            inner: Some(Box::new(Inner {
                engine,
                txn,
                target,
                options,
                writers: HashMap::new(),
                accepted: 0,
                in_flight: Default::default(),
                flush_threads: std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
            })),
            metrics,
        }
    }
}

fn closed() -> SqlError {
    SqlError::internal("the tablet writer was used after a failure")
}

#[async_trait]
impl TabletWriter for LocalWriter {
    fn write(&mut self, tablet: TabletId, batch: RecordBatch) -> Result<(), SqlError> {
        let inner = self.inner.as_mut().ok_or_else(closed)?;
        let result = inner.write(tablet, batch);
        if result.is_err() {
            self.inner = None;
        }
        result
    }

    async fn finish(mut self: Box<Self>) -> Result<SinkSummary, SqlError> {
        let inner = self.inner.take().ok_or_else(closed)?;
        let summary = tokio::task::spawn_blocking(move || inner.finish())
            .await
            .map_err(|e| SqlError::internal(format!("write task failed: {e}")))??;
        self.metrics.load_rows.increment(summary.rows);
        self.metrics.load_bytes.increment(summary.bytes);
        Ok(summary)
    }
}
