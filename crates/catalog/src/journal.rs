//! The durable journal behind the catalog: a redb file holding the last checkpoint image and
//! the entries written since.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::state::{CatalogState, JournalEntry};
use crate::error::CatalogError;

type Result<T> = std::result::Result<T, CatalogError>;

const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");
const IMAGE: TableDefinition<&str, &[u8]> = TableDefinition::new("image");

/// Entries between checkpoints.
pub(crate) const CHECKPOINT_EVERY: u64 = 2_000;

fn meta_err(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Meta(e.to_string())
}

/// The journal file.
pub struct Journal {
    db: Database,
    next_entry: u64,
    since_checkpoint: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Image {
    last_entry: u64,
    state: CatalogState,
}

impl Journal {
    /// Opens the journal and replays it into a state.
    pub fn open(dir: &Path) -> Result<(Self, CatalogState)> {
        std::fs::create_dir_all(dir).map_err(|e| CatalogError::Io(dir.display().to_string(), e))?;
        let db = Database::create(dir.join("journal.redb")).map_err(meta_err)?;
        {
            let w = db.begin_write().map_err(meta_err)?;
            w.open_table(JOURNAL).map_err(meta_err)?;
            w.open_table(IMAGE).map_err(meta_err)?;
            w.commit().map_err(meta_err)?;
        }
        let r = db.begin_read().map_err(meta_err)?;
        let image_table = r.open_table(IMAGE).map_err(meta_err)?;
        let (mut state, mut last) = match image_table.get("image").map_err(meta_err)? {
            Some(bytes) => {
                let image: Image = serde_json::from_slice(bytes.value())
                    .map_err(|e| CatalogError::Meta(format!("corrupt catalog image: {e}")))?;
                (image.state, image.last_entry)
            }
            None => (CatalogState::default(), 0),
        };
        let journal = r.open_table(JOURNAL).map_err(meta_err)?;
        let mut replayed = 0u64;
        for item in journal.range((last + 1)..).map_err(meta_err)? {
            let (k, v) = item.map_err(meta_err)?;
            let entry: JournalEntry = serde_json::from_slice(v.value()).map_err(|e| {
                CatalogError::Meta(format!("corrupt journal entry {}: {e}", k.value()))
            })?;
            state.apply(&entry);
            last = k.value();
            replayed += 1;
        }
        drop(journal);
        drop(image_table);
        drop(r);
        Ok((
            Self {
                db,
                next_entry: last + 1,
                since_checkpoint: replayed,
            },
            state,
        ))
    }

    /// The number of the last entry written (0 before the first).
    pub fn last_entry(&self) -> u64 {
        self.next_entry.saturating_sub(1)
    }

    /// Durably appends entries (one fsync for all of them).
    pub fn append(&mut self, entries: &[JournalEntry]) -> Result<()> {
        let w = self.db.begin_write().map_err(meta_err)?;
        {
            let mut t = w.open_table(JOURNAL).map_err(meta_err)?;
            for (id, e) in (self.next_entry..).zip(entries) {
                let bytes = serde_json::to_vec(e).map_err(meta_err)?;
                t.insert(id, bytes.as_slice()).map_err(meta_err)?;
            }
        }
        w.commit().map_err(meta_err)?;
        self.next_entry += entries.len() as u64;
        self.since_checkpoint += entries.len() as u64;
        Ok(())
    }

    /// How many entries the journal holds beyond the image.
    #[cfg(test)]
    pub fn entries_held(&self) -> u64 {
        let held = || -> Result<u64> {
            let r = self.db.begin_read().map_err(meta_err)?;
            let t = r.open_table(JOURNAL).map_err(meta_err)?;
            redb::ReadableTableMetadata::len(&t).map_err(meta_err)
        };
        held().unwrap_or(u64::MAX)
    }

    /// Whether a checkpoint is due.
    pub fn checkpoint_due(&self) -> bool {
        self.since_checkpoint >= CHECKPOINT_EVERY
    }

    /// Writes `state` (which must reflect every appended entry) as the new image and drops
    /// the entries it covers.
    pub fn checkpoint(&mut self, state: &CatalogState) -> Result<()> {
        let last_entry = self.next_entry - 1;
        let image = Image {
            last_entry,
            state: state.clone(),
        };
        let bytes = serde_json::to_vec(&image).map_err(meta_err)?;
        let w = self.db.begin_write().map_err(meta_err)?;
        {
            let mut t = w.open_table(IMAGE).map_err(meta_err)?;
            t.insert("image", bytes.as_slice()).map_err(meta_err)?;
            let mut j = w.open_table(JOURNAL).map_err(meta_err)?;
            j.retain(|k, _| k > last_entry).map_err(meta_err)?;
        }
        w.commit().map_err(meta_err)?;
        self.since_checkpoint = 0;
        Ok(())
    }
}
