//! The catalog: databases, tables, partitions, tablets, versions, global variables and
//! accounts.
//!
//! The state lives in memory and changes only through [`JournalEntry`]s, which are made
//! durable in the journal before they are applied. Writers serialize on
//! [`Catalog::writer`]; readers take cheap snapshots of `Arc`ed tables.

pub mod account;
mod colocate;
pub mod error;
pub mod health;
mod journal;
pub mod model;
pub mod partition;
pub mod state;

use std::path::Path;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};
use tokio::sync::{Mutex, MutexGuard};

pub use account::{Grant, GrantTarget, RoleDef, UserAccount, account_key};
pub use colocate::{COLOCATE_WITH, ColocateGroup};
pub use model::*;
pub use state::{BackendRecord, CatalogState, CommitRecord, JournalEntry, Repository};

pub use error::{CatalogError, Result};
use journal::Journal;

/// Ids reserved per journal entry.
const ID_BATCH: u64 = 1_000;

/// The catalog.
pub struct Catalog {
    writer: Mutex<Writer>,
    state: RwLock<CatalogState>,
    /// Number of the last journal entry written.
    journal_id: std::sync::atomic::AtomicU64,
}

struct Writer {
    journal: Journal,
    next_id: u64,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens the catalog stored in `dir`.
    pub fn open(dir: &Path) -> Result<Arc<Self>, CatalogError> {
        let (journal, state) = Journal::open(dir)?;
        // Ids reserved before a restart may have been handed out: start after them.
        let next_id = state.reserved_ids.max(1);
        let journal_id = std::sync::atomic::AtomicU64::new(journal.last_entry());
        Ok(Arc::new(Self {
            writer: Mutex::new(Writer { journal, next_id }),
            state: RwLock::new(state),
            journal_id,
        }))
    }

    /// The number of the last journal entry (SHOW FRONTENDS' ReplayedJournalId).
    pub fn journal_id(&self) -> u64 {
        self.journal_id.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A read view of the state. Do not hold it across `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, CatalogState> {
        self.state.read()
    }

    /// Takes the writer lock: all catalog changes are serialized through it.
    pub async fn writer(&self) -> CatalogWriter<'_> {
        CatalogWriter {
            catalog: self,
            guard: self.writer.lock().await,
        }
    }
}

/// Exclusive access for changing the catalog.
pub struct CatalogWriter<'a> {
    catalog: &'a Catalog,
    guard: MutexGuard<'a, Writer>,
}

impl CatalogWriter<'_> {
    /// A read view of the state.
    pub fn read(&self) -> RwLockReadGuard<'_, CatalogState> {
        self.catalog.state.read()
    }

    /// Allocates a fresh id (database, table, partition, tablet or transaction).
    pub fn next_id(&mut self) -> Result<u64> {
        let reserved = self.catalog.state.read().reserved_ids;
        if self.guard.next_id >= reserved {
            let next = self.guard.next_id + ID_BATCH;
            self.commit(vec![JournalEntry::ReserveIds { next }])?;
        }
        let id = self.guard.next_id;
        self.guard.next_id += 1;
        Ok(id)
    }

    /// Makes entries durable, then applies them.
    pub fn commit(&mut self, entries: Vec<JournalEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.guard.journal.append(&entries)?;
        self.catalog.journal_id.store(
            self.guard.journal.last_entry(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let mut state = self.catalog.state.write();
        for e in &entries {
            state.apply(e);
        }
        if self.guard.journal.checkpoint_due()
            && let Err(e) = self.guard.journal.checkpoint(&state)
        {
            // The journal still holds everything; a failed checkpoint only costs replay time.
            tracing::warn!("catalog checkpoint failed: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
