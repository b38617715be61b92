//! Query memory: one pool for every query of the process (`mem_limit`), and a per-query cap
//! (`query_mem_limit`) on top of it.
//!
//! Operators reserve memory from DataFusion's [`MemoryPool`] before they buffer data. When a
//! reservation is refused, operators that can spill (sorts, aggregations) write to temporary
//! files and go on; others fail the query with `ResourcesExhausted`, which reaches the client
//! as a clear error — the process itself never grows past its limit because of a query.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
    TrackConsumersPool, UnboundedMemoryPool,
};
use datafusion::execution::runtime_env::RuntimeEnv;

/// The share of the process memory limit queries may hold; the rest is for loads,
/// metadata and caches.
pub const QUERY_POOL_SHARE: f64 = 0.9;

/// The process memory limit and the pool queries draw from.
#[derive(Debug, Clone)]
pub struct ProcessMemory {
    /// `mem_limit` in bytes (0: none).
    pub limit: u64,
    /// The query pool: [`QUERY_POOL_SHARE`] of `limit`, unbounded when there is no limit.
    /// Errors name the largest consumers.
    pub pool: Arc<dyn MemoryPool>,
}

impl ProcessMemory {
    /// Memory of a process limited to `limit` bytes.
    pub fn new(limit: u64) -> Self {
        let pool: Arc<dyn MemoryPool> = if limit == 0 {
            Arc::new(UnboundedMemoryPool::default())
        } else {
            let size = (limit as f64 * QUERY_POOL_SHARE) as usize;
            Arc::new(TrackConsumersPool::new(
                GreedyMemoryPool::new(size),
                NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
            ))
        };
        Self { limit, pool }
    }
}

/// The runtime of one statement: `base`'s, its memory capped at `limit` bytes of the
/// process pool when the session sets `query_mem_limit` (`None` or 0: no cap).
pub fn query_runtime(base: &Arc<RuntimeEnv>, limit: Option<usize>) -> Arc<RuntimeEnv> {
    match limit {
        Some(limit) if limit > 0 => Arc::new(RuntimeEnv {
            memory_pool: Arc::new(QueryPool::new(Arc::clone(&base.memory_pool), limit)),
            disk_manager: Arc::clone(&base.disk_manager),
            cache_manager: Arc::clone(&base.cache_manager),
            object_store_registry: Arc::clone(&base.object_store_registry),
        }),
        _ => Arc::clone(base),
    }
}

/// One query's view of the process pool: at most `limit` bytes of it.
#[derive(Debug)]
pub struct QueryPool {
    parent: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl QueryPool {
    /// A cap of `limit` bytes over `parent`.
    pub fn new(parent: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            parent,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query pool: {} of {} bytes used",
            self.used.load(Ordering::Relaxed),
            self.limit
        )
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query_mem_limit"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.parent.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.parent.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.parent.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.parent.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let claimed = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                let next = used.checked_add(additional)?;
                (next <= self.limit).then_some(next)
            });
        if claimed.is_err() {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Memory of query exceeds query_mem_limit ({} bytes): {} wanted {additional} more \
                 bytes with {} in use",
                self.limit,
                reservation.consumer().name(),
                self.used.load(Ordering::Relaxed)
            )));
        }
        if let Err(e) = self.parent.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_cap_and_process_pool() {
        let process = ProcessMemory::new(1000).pool;
        let query: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(Arc::clone(&process), 500));
        let r = MemoryConsumer::new("sort").register(&query);
        r.try_grow(400).unwrap();
        assert_eq!(process.reserved(), 400);
        let err = r.try_grow(200).unwrap_err().to_string();
        assert!(err.contains("query_mem_limit"), "{err}");
        r.try_grow(100).unwrap();
        // A second query is bounded by what the process pool (900 bytes) has left.
        let other: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(Arc::clone(&process), 10_000));
        let r2 = MemoryConsumer::new("join").register(&other);
        assert!(r2.try_grow(500).is_err());
        assert_eq!(other.reserved(), 0);
        r2.try_grow(400).unwrap();
        drop(r);
        drop(r2);
        assert_eq!(process.reserved(), 0);
    }
}
