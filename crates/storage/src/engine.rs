//! The storage engine: tablets, their rowsets and versions, and crash recovery.
//!
//! # Write protocol
//!
//! 1. A [`RowsetWriter`] writes segment files (`.tmp`, fsync, rename, fsync dir).
//! 2. [`StorageEngine::prepare_txn`] records the transaction's rowsets as *pending* in
//!    `be_meta.redb` (one durable commit).
//! 3. The frontend commits the transaction in its journal and assigns versions.
//! 4. [`StorageEngine::publish_txn`] makes the rowsets visible at their versions (one durable
//!    commit, idempotent).
//!
//! Readers only see published rowsets at or below the version they ask for. At start, files
//! no rowset refers to are deleted (writes that never prepared), and the frontend either
//! publishes or aborts each pending transaction.

mod maintenance;
mod primary_index;
mod snapshot;
pub use snapshot::{ImportRowset, ImportSegment, LinkedRowset, LinkedTablet};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{FieldRef, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use parking_lot::{Mutex, MutexGuard, RwLock};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rigel_common::ids::{RowsetId, TabletId, TxnId};
use tracing::{info, warn};

use crate::index_file;
use crate::meta::{RowsetMeta, TabletMeta, decode, encode};
use crate::primary::{
    DeletedRows, NewDeletes, PkIndex, SegmentKeys, decode_rows, encode_keys, encode_rows,
    fetch_columns, read_keys, union_rows,
};
use crate::segment::{RowsetWriter, SegmentOptions, now_ms, sync_dir};
use crate::{Error, Result};

const TABLETS: TableDefinition<u64, &[u8]> = TableDefinition::new("tablets");
const ROWSETS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("rowsets");
/// Delete vectors of PRIMARY KEY tablets: (tablet, rowset, segment, version) → the rows of
/// the segment deleted from that version on (delta varints).
const DELVECS: TableDefinition<(u64, u64, u32, u64), &[u8]> = TableDefinition::new("delvecs");

/// Engine options.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Writes fail when a tablet would have more visible rowsets than this.
    pub tablet_max_versions: usize,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            tablet_max_versions: 1000,
        }
    }
}

#[derive(Debug)]
struct TabletState {
    meta: TabletMeta,
    /// Visible rowsets, ordered by version.
    rowsets: Vec<Arc<RowsetMeta>>,
    /// PRIMARY KEY tablets: delete-vector entries by segment, oldest version first.
    delvecs: HashMap<(RowsetId, u32), Vec<(u64, DeletedRows)>>,
    /// PRIMARY KEY tablets: the index, built on first use.
    index: SharedIndex,
}

/// A tablet's primary-key index (`None` until built).
type SharedIndex = Arc<Mutex<Option<PkIndex>>>;

impl TabletState {
    fn new(meta: TabletMeta) -> Self {
        Self {
            meta,
            rowsets: vec![],
            delvecs: HashMap::new(),
            index: Arc::new(Mutex::new(None)),
        }
    }

    fn max_version(&self) -> u64 {
        self.rowsets
            .iter()
            .filter_map(|r| r.version)
            .max()
            .unwrap_or(0)
    }

    /// What a reader at `version` sees.
    fn snapshot(&self, version: u64) -> Snapshot {
        let rowsets: Vec<Arc<RowsetMeta>> = self
            .rowsets
            .iter()
            .filter(|r| r.visible_at(version))
            .cloned()
            .collect();
        let deletes = self.deletes_at(&rowsets, version);
        Snapshot { rowsets, deletes }
    }

    /// The rows of `rowsets`' segments deleted at `version`.
    fn deletes_at(
        &self,
        rowsets: &[Arc<RowsetMeta>],
        version: u64,
    ) -> HashMap<(RowsetId, u32), DeletedRows> {
        let mut out = HashMap::new();
        if self.delvecs.is_empty() {
            return out;
        }
        for rs in rowsets {
            for seg in 0..rs.segments.len() as u32 {
                let Some(entries) = self.delvecs.get(&(rs.rowset_id, seg)) else {
                    continue;
                };
                let visible: Vec<&DeletedRows> = entries
                    .iter()
                    .filter(|(v, _)| *v <= version)
                    .map(|(_, rows)| rows)
                    .collect();
                let rows = match visible.as_slice() {
                    [] => continue,
                    [one] => Arc::clone(one),
                    many => {
                        let lists: Vec<&[u32]> = many.iter().map(|r| r.as_slice()).collect();
                        Arc::new(union_rows(&lists))
                    }
                };
                out.insert((rs.rowset_id, seg), rows);
            }
        }
        out
    }
}

/// What a reader at one version of a tablet sees.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Visible rowsets, oldest first.
    pub rowsets: Vec<Arc<RowsetMeta>>,
    deletes: HashMap<(RowsetId, u32), DeletedRows>,
}

impl Snapshot {
    /// Rows of a segment (sorted ordinals) that readers skip (PRIMARY KEY tablets).
    pub fn deleted(&self, rowset: RowsetId, segment: usize) -> Option<&[u32]> {
        let segment = u32::try_from(segment).ok()?;
        self.deletes.get(&(rowset, segment)).map(|r| r.as_slice())
    }

    /// Live rows.
    pub fn live_rows(&self) -> u64 {
        let rows: u64 = self.rowsets.iter().map(|r| r.rows).sum();
        let deleted: u64 = self.deletes.values().map(|d| d.len() as u64).sum();
        rows.saturating_sub(deleted)
    }
}

#[derive(Debug, Default)]
struct State {
    tablets: HashMap<TabletId, TabletState>,
    pending: HashMap<TxnId, Vec<RowsetMeta>>,
    /// Tablets being rewritten (DELETE), with how many rewrites: a compaction that finishes
    /// meanwhile is discarded instead of invalidating the rowsets the rewrite replaces.
    rewriting: HashMap<TabletId, usize>,
}

/// Marks a tablet as being rewritten until dropped (see [`StorageEngine::begin_rewrite`]).
pub struct RewriteGuard {
    engine: Arc<StorageEngine>,
    tablet: TabletId,
}

impl Drop for RewriteGuard {
    fn drop(&mut self) {
        let mut state = self.engine.state.write();
        if let Some(n) = state.rewriting.get_mut(&self.tablet) {
            *n -= 1;
            if *n == 0 {
                state.rewriting.remove(&self.tablet);
            }
        }
    }
}

/// Summary of one tablet, for system views.
#[derive(Debug, Clone)]
pub struct TabletInfo {
    /// Metadata.
    pub meta: TabletMeta,
    /// Visible rowset count.
    pub rowsets: usize,
    /// Visible rows.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Highest visible version.
    pub max_version: u64,
}

/// The tablet store of one backend.
pub struct StorageEngine {
    root: PathBuf,
    db: Database,
    state: RwLock<State>,
    next_rowset: AtomicU64,
    options: StorageOptions,
    /// Parquet metadata of segment files read by key lookups.
    reader_meta: Mutex<HashMap<PathBuf, ArrowReaderMetadata>>,
}

/// Segment files whose metadata key lookups keep in memory.
const READER_METADATA_ENTRIES: usize = 4096;

impl std::fmt::Debug for StorageEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageEngine")
            .field("root", &self.root)
            .finish()
    }
}

impl StorageEngine {
    /// Opens (or creates) the store under `root`, removing files of writes that never
    /// prepared.
    pub fn open(root: &Path, options: StorageOptions) -> Result<Self> {
        for dir in [root.to_path_buf(), root.join("data"), root.join("trash")] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let db_path = root.join("be_meta.redb");
        let db = Database::create(&db_path)?;
        {
            let w = db.begin_write()?;
            w.open_table(TABLETS)?;
            w.open_table(ROWSETS)?;
            w.open_table(DELVECS)?;
            w.commit()?;
        }
        let mut state = State::default();
        let mut max_rowset = 0u64;
        {
            let r = db.begin_read()?;
            let tablets = r.open_table(TABLETS)?;
            for entry in tablets.iter()? {
                let (_, v) = entry?;
                let meta: TabletMeta = decode(v.value())?;
                state.tablets.insert(meta.tablet_id, TabletState::new(meta));
            }
            let rowsets = r.open_table(ROWSETS)?;
            for entry in rowsets.iter()? {
                let (_, v) = entry?;
                let rs: RowsetMeta = decode(v.value())?;
                max_rowset = max_rowset.max(rs.rowset_id.0);
                match rs.version {
                    Some(_) => match state.tablets.get_mut(&rs.tablet_id) {
                        Some(t) => t.rowsets.push(Arc::new(rs)),
                        None => warn!(tablet = %rs.tablet_id, "rowset of unknown tablet ignored"),
                    },
                    None => state.pending.entry(rs.txn_id).or_default().push(rs),
                }
            }
        }
        {
            let r = db.begin_read()?;
            let delvecs = r.open_table(DELVECS)?;
            // Keys are ordered, so each segment's entries come oldest version first.
            for entry in delvecs.iter()? {
                let (k, v) = entry?;
                let (tablet, rowset, segment, version) = k.value();
                let rows = decode_rows(v.value())?;
                if let Some(t) = state.tablets.get_mut(&TabletId(tablet)) {
                    t.delvecs
                        .entry((RowsetId(rowset), segment))
                        .or_default()
                        .push((version, Arc::new(rows)));
                }
            }
        }
        for t in state.tablets.values_mut() {
            t.rowsets.sort_by_key(|r| r.version);
        }
        let engine = Self {
            root: root.to_path_buf(),
            db,
            state: RwLock::new(state),
            next_rowset: AtomicU64::new(max_rowset + 1),
            options,
            reader_meta: Mutex::new(HashMap::new()),
        };
        engine.remove_orphan_files()?;
        // Files linked or downloaded for a backup or restore the process did not finish.
        let staging = root.join("snapshot");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        }
        Ok(engine)
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tablet_dir(&self, tablet: TabletId) -> PathBuf {
        self.root
            .join("data")
            .join((tablet.0 % 256).to_string())
            .join(tablet.0.to_string())
    }

    /// Path of a segment file.
    pub fn segment_path(&self, tablet: TabletId, segment: &str) -> PathBuf {
        self.tablet_dir(tablet).join(segment)
    }

    /// Deletes segment files no rowset refers to, and leftovers of interrupted writes.
    fn remove_orphan_files(&self) -> Result<()> {
        let state = self.state.read();
        let mut known: HashSet<PathBuf> = HashSet::new();
        let all_rowsets = state
            .tablets
            .values()
            .flat_map(|t| t.rowsets.iter().map(|r| r.as_ref()))
            .chain(state.pending.values().flatten());
        for rs in all_rowsets {
            for s in &rs.segments {
                known.insert(self.segment_path(rs.tablet_id, &s.name));
            }
        }
        for (id, t) in &state.tablets {
            if t.meta.persistent_index {
                known.insert(self.segment_path(*id, index_file::INDEX_FILE));
            }
        }
        let data = self.root.join("data");
        let mut removed = 0usize;
        for shard in read_dir(&data)? {
            if !shard.is_dir() {
                continue;
            }
            for tablet_dir in read_dir(&shard)? {
                if !tablet_dir.is_dir() {
                    continue;
                }
                for file in read_dir(&tablet_dir)? {
                    if !known.contains(&file) {
                        std::fs::remove_file(&file).map_err(|e| Error::io(&file, e))?;
                        removed += 1;
                    }
                }
            }
        }
        if removed > 0 {
            info!(files = removed, "removed files of unfinished writes");
        }
        Ok(())
    }

    /// Creates tablets (idempotent). For a tablet that exists, updates its metadata from
    /// `metas` (a table property such as `enable_persistent_index` changed), keeping its
    /// creation time.
    pub fn create_tablets(&self, metas: &[TabletMeta]) -> Result<()> {
        let mut state = self.state.write();
        let metas: Vec<TabletMeta> = metas
            .iter()
            .map(|m| match state.tablets.get(&m.tablet_id) {
                Some(t) => TabletMeta {
                    created_ms: t.meta.created_ms,
                    ..m.clone()
                },
                None => m.clone(),
            })
            .collect();
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(TABLETS)?;
            for m in &metas {
                t.insert(m.tablet_id.0, encode(m).as_slice())?;
            }
        }
        w.commit()?;
        for m in metas {
            match state.tablets.get_mut(&m.tablet_id) {
                Some(t) => t.meta = m,
                None => {
                    state.tablets.insert(m.tablet_id, TabletState::new(m));
                }
            }
        }
        Ok(())
    }

    /// Drops tablets and their data (idempotent). Files move to the trash directory.
    pub fn drop_tablets(&self, ids: &[TabletId]) -> Result<()> {
        let w = self.db.begin_write()?;
        {
            let mut tablets = w.open_table(TABLETS)?;
            let mut rowsets = w.open_table(ROWSETS)?;
            for id in ids {
                tablets.remove(id.0)?;
                let keys: Vec<(u64, u64)> = rowsets
                    .range((id.0, 0)..=(id.0, u64::MAX))?
                    .map(|e| e.map(|(k, _)| k.value()))
                    .collect::<std::result::Result<_, _>>()?;
                for k in keys {
                    rowsets.remove(k)?;
                }
            }
            let mut delvecs = w.open_table(DELVECS)?;
            for id in ids {
                delvecs.retain_in(
                    (id.0, 0, 0, 0)..=(id.0, u64::MAX, u32::MAX, u64::MAX),
                    |_, _| false,
                )?;
            }
        }
        w.commit()?;
        {
            let mut state = self.state.write();
            for id in ids {
                state.tablets.remove(id);
            }
            for rowsets in state.pending.values_mut() {
                rowsets.retain(|r| !ids.contains(&r.tablet_id));
            }
            state.pending.retain(|_, v| !v.is_empty());
        }
        let stamp = now_ms();
        for id in ids {
            let dir = self.tablet_dir(*id);
            if dir.exists() {
                let dest = self.root.join("trash").join(format!("{stamp}_{}", id.0));
                std::fs::rename(&dir, &dest).map_err(|e| Error::io(&dir, e))?;
            }
        }
        Ok(())
    }

    /// Does the tablet exist?
    pub fn has_tablet(&self, id: TabletId) -> bool {
        self.state.read().tablets.contains_key(&id)
    }

    /// Starts writing the rows of transaction `txn` into `tablet`.
    pub fn rowset_writer(
        &self,
        txn: TxnId,
        tablet: TabletId,
        schema: SchemaRef,
        options: SegmentOptions,
    ) -> Result<RowsetWriter> {
        if !self.has_tablet(tablet) {
            return Err(Error::TabletNotFound(tablet));
        }
        let rowset_id = RowsetId(self.next_rowset.fetch_add(1, Ordering::Relaxed));
        Ok(RowsetWriter::new(
            self.tablet_dir(tablet),
            txn,
            tablet,
            rowset_id,
            schema,
            options,
        ))
    }

    /// Marks `tablet` as being rewritten until the guard is dropped: compactions of it that
    /// finish meanwhile are discarded, so the rowsets the rewrite read stay current until
    /// its rowset is pending (hold the guard until [`Self::prepare_txn`] returned).
    pub fn begin_rewrite(self: &Arc<Self>, tablet: TabletId) -> RewriteGuard {
        *self.state.write().rewriting.entry(tablet).or_default() += 1;
        RewriteGuard {
            engine: Arc::clone(self),
            tablet,
        }
    }

    /// Durably records the finished rowsets of a transaction as pending.
    pub fn prepare_txn(&self, txn: TxnId, rowsets: Vec<RowsetMeta>) -> Result<()> {
        // Held until the rowsets are pending, so that a compaction cannot replace the
        // rowsets a rewrite replaces in between.
        let mut state = self.state.write();
        {
            for rs in &rowsets {
                let tablet = state
                    .tablets
                    .get(&rs.tablet_id)
                    .ok_or(Error::TabletNotFound(rs.tablet_id))?;
                let current = tablet.rowsets.iter().filter(|r| r.is_current()).count();
                if current >= self.options.tablet_max_versions {
                    return Err(Error::TooManyVersions {
                        tablet: rs.tablet_id,
                        versions: current,
                        limit: self.options.tablet_max_versions,
                    });
                }
                let replaced_current = rs.replaces.iter().all(|id| {
                    tablet
                        .rowsets
                        .iter()
                        .any(|r| r.rowset_id == *id && r.is_current())
                });
                if !replaced_current {
                    return Err(Error::Conflict(rs.tablet_id));
                }
            }
        }
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(ROWSETS)?;
            for rs in &rowsets {
                t.insert((rs.tablet_id.0, rs.rowset_id.0), encode(rs).as_slice())?;
            }
        }
        w.commit()?;
        state.pending.entry(txn).or_default().extend(rowsets);
        Ok(())
    }

    /// The current rowsets of a tablet by id (where the index's row locations point).
    fn current_rowsets(&self, tablet: TabletId) -> Result<HashMap<RowsetId, Arc<RowsetMeta>>> {
        Ok(self
            .read_view(tablet, u64::MAX)?
            .into_iter()
            .map(|r| (r.rowset_id, r))
            .collect())
    }

    /// Makes a pending transaction's rowsets visible at the given per-tablet versions.
    /// Publishing a transaction that is already visible is a no-op.
    pub fn publish_txn(&self, txn: TxnId, versions: &HashMap<TabletId, u64>) -> Result<()> {
        let mut pending = match self.state.read().pending.get(&txn) {
            Some(p) => p.clone(),
            None => return Ok(()),
        };
        // PRIMARY KEY tablets: the new rows go through the index first; the rows they
        // replace or delete are committed with the rowsets below.
        let mut pk_deletes: Vec<(TabletId, u64, NewDeletes)> = vec![];
        // (pending position, key, index) of the PRIMARY KEY rowsets.
        let primary: Vec<(usize, Vec<u32>, SharedIndex)> = {
            let state = self.state.read();
            pending
                .iter()
                .enumerate()
                .filter_map(|(i, rs)| {
                    let t = state.tablets.get(&rs.tablet_id)?;
                    (!t.meta.primary_key.is_empty())
                        .then(|| (i, t.meta.primary_key.clone(), Arc::clone(&t.index)))
                })
                .collect()
        };
        // The keys of plain upserts and deletes are read before the indexes are locked, so
        // that lookups wait only for the index updates.
        let mut keys: Vec<Option<Vec<SegmentKeys>>> = primary
            .iter()
            .map(|(i, key, _)| {
                let rs = &pending[*i];
                if rs.update.is_some() {
                    return Ok(None);
                }
                rs.segments
                    .iter()
                    .enumerate()
                    .map(|(n, seg)| {
                        read_keys(&self.segment_path(rs.tablet_id, &seg.name), key)
                            .map(|k| SegmentKeys::new(n as u32, k))
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            })
            .collect::<Result<_>>()?;
        // Held until the rowsets are visible, so that lookups never find rows of a rowset
        // that is not (yet) published.
        let mut indexes: Vec<MutexGuard<'_, Option<PkIndex>>> =
            primary.iter().map(|(_, _, index)| index.lock()).collect();
        // Segments replaced by their resolved rewrite (partial and conditional updates).
        let mut replaced: Vec<PathBuf> = vec![];
        for (((i, key, _), guard), read) in
            primary.iter().zip(indexes.iter_mut()).zip(keys.iter_mut())
        {
            let rs = &mut pending[*i];
            let Some(&version) = versions.get(&rs.tablet_id) else {
                continue;
            };
            let applied = self.apply_primary(guard, rs, key, read.take());
            match applied {
                Ok((d, files)) => {
                    pk_deletes.push((rs.tablet_id, version, d));
                    replaced.extend(files);
                }
                Err(e) => {
                    reset_indexes(&mut indexes);
                    return Err(e);
                }
            }
        }
        let result = self.publish_rowsets(txn, pending, versions, pk_deletes);
        match result {
            Ok(()) => {
                for f in replaced {
                    let _ = std::fs::remove_file(f);
                }
            }
            // The rewritten files are removed as orphans at the next start.
            Err(_) => reset_indexes(&mut indexes),
        }
        drop(indexes);
        result
    }

    fn publish_rowsets(
        &self,
        txn: TxnId,
        pending: Vec<RowsetMeta>,
        versions: &HashMap<TabletId, u64>,
        pk_deletes: Vec<(TabletId, u64, NewDeletes)>,
    ) -> Result<()> {
        let mut published = Vec::with_capacity(pending.len());
        // Rowsets the published ones replace, marked stale from the new version.
        let mut retired: Vec<RowsetMeta> = vec![];
        {
            let state = self.state.read();
            for rs in &pending {
                let (Some(t), Some(&version)) = (
                    state.tablets.get(&rs.tablet_id),
                    versions.get(&rs.tablet_id),
                ) else {
                    continue;
                };
                for old in t
                    .rowsets
                    .iter()
                    .filter(|r| rs.replaces.contains(&r.rowset_id))
                {
                    let mut old = old.as_ref().clone();
                    old.stale_from = Some(version);
                    old.stale_since_ms = Some(now_ms());
                    retired.push(old);
                }
            }
        }
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(ROWSETS)?;
            for mut rs in pending {
                let Some(&version) = versions.get(&rs.tablet_id) else {
                    return Err(Error::Corrupt(format!(
                        "no version for tablet {} when publishing transaction {txn}",
                        rs.tablet_id
                    )));
                };
                rs.version = Some(version);
                t.insert((rs.tablet_id.0, rs.rowset_id.0), encode(&rs).as_slice())?;
                published.push(rs);
            }
            for rs in &retired {
                t.insert((rs.tablet_id.0, rs.rowset_id.0), encode(rs).as_slice())?;
            }
            let mut d = w.open_table(DELVECS)?;
            for (tablet, version, deletes) in &pk_deletes {
                for ((rowset, segment), rows) in deletes {
                    d.insert(
                        (tablet.0, rowset.0, *segment, *version),
                        encode_rows(rows).as_slice(),
                    )?;
                }
            }
        }
        w.commit()?;
        let mut state = self.state.write();
        state.pending.remove(&txn);
        for (tablet, version, deletes) in pk_deletes {
            if let Some(t) = state.tablets.get_mut(&tablet) {
                for (key, rows) in deletes {
                    t.delvecs
                        .entry(key)
                        .or_default()
                        .push((version, Arc::new(rows)));
                }
            }
        }
        for rs in retired {
            if let Some(t) = state.tablets.get_mut(&rs.tablet_id)
                && let Some(slot) = t.rowsets.iter_mut().find(|r| r.rowset_id == rs.rowset_id)
            {
                *slot = Arc::new(rs);
            }
        }
        for rs in published {
            if let Some(t) = state.tablets.get_mut(&rs.tablet_id) {
                let pos = t.rowsets.partition_point(|r| r.version <= rs.version);
                t.rowsets.insert(pos, Arc::new(rs));
            }
        }
        Ok(())
    }

    /// Discards a pending transaction and its files (idempotent).
    pub fn abort_txn(&self, txn: TxnId) -> Result<()> {
        let Some(pending) = self.state.read().pending.get(&txn).cloned() else {
            return Ok(());
        };
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(ROWSETS)?;
            for rs in &pending {
                t.remove((rs.tablet_id.0, rs.rowset_id.0))?;
            }
        }
        w.commit()?;
        self.state.write().pending.remove(&txn);
        for rs in &pending {
            for s in &rs.segments {
                let _ = std::fs::remove_file(self.segment_path(rs.tablet_id, &s.name));
            }
        }
        Ok(())
    }

    /// Transactions with pending (prepared, unpublished) data.
    pub fn pending_txns(&self) -> Vec<TxnId> {
        let mut v: Vec<_> = self.state.read().pending.keys().copied().collect();
        v.sort();
        v
    }

    /// The tablets a pending transaction wrote.
    pub fn pending_tablets(&self, txn: TxnId) -> Vec<TabletId> {
        self.state
            .read()
            .pending
            .get(&txn)
            .map(|v| v.iter().map(|r| r.tablet_id).collect())
            .unwrap_or_default()
    }

    /// The rowsets a reader at `version` sees in `tablet`.
    pub fn read_view(&self, tablet: TabletId, version: u64) -> Result<Vec<Arc<RowsetMeta>>> {
        let state = self.state.read();
        let t = state
            .tablets
            .get(&tablet)
            .ok_or(Error::TabletNotFound(tablet))?;
        Ok(t.rowsets
            .iter()
            .filter(|r| r.visible_at(version))
            .cloned()
            .collect())
    }

    /// What a reader at `version` sees in `tablet`: rowsets and deleted rows.
    pub fn read_snapshot(&self, tablet: TabletId, version: u64) -> Result<Snapshot> {
        Self::snapshot_of(&self.state.read(), tablet, version)
    }

    /// Snapshots of several tablets taken at one instant: a transaction being published
    /// is visible in all of them or in none.
    pub fn read_snapshots(&self, tablets: &[(TabletId, u64)]) -> Result<Vec<Snapshot>> {
        let state = self.state.read();
        tablets
            .iter()
            .map(|(t, v)| Self::snapshot_of(&state, *t, *v))
            .collect()
    }

    fn snapshot_of(state: &State, tablet: TabletId, version: u64) -> Result<Snapshot> {
        let t = state
            .tablets
            .get(&tablet)
            .ok_or(Error::TabletNotFound(tablet))?;
        Ok(t.snapshot(version))
    }

    /// Looks rows of a PRIMARY KEY tablet up by key, at the newest published version.
    /// `keys` are the key columns (in key order, typed as the table's columns); returns the
    /// values of `fields` (matched to segment columns by column id) of the keys found, in
    /// the order of `keys`.
    pub fn lookup_rows(
        &self,
        tablet: TabletId,
        keys: &[ArrayRef],
        fields: &[FieldRef],
    ) -> Result<Vec<ArrayRef>> {
        let (key, index) = {
            let state = self.state.read();
            let t = state
                .tablets
                .get(&tablet)
                .ok_or(Error::TabletNotFound(tablet))?;
            (t.meta.primary_key.clone(), Arc::clone(&t.index))
        };
        if key.is_empty() {
            return Err(Error::Corrupt(format!(
                "tablet {tablet} has no primary key to look up"
            )));
        }
        let mut index = index.lock();
        if index.is_none() {
            self.rebuild_index(&mut index, tablet, &key)?;
        }
        let encoded = encode_keys(keys)?;
        let mut locs = vec![];
        if let Some(ix) = index.as_ref() {
            for i in 0..encoded.len() {
                if let Some(loc) = ix.get(&encoded, i)? {
                    locs.push(loc);
                }
            }
        }
        // Rows are read while the index is held: no publish or compaction moves them.
        let rowsets = self.current_rowsets(tablet)?;
        let path_of = |rowset: RowsetId, segment: u32| {
            let meta = rowsets.get(&rowset)?.segments.get(segment as usize)?;
            Some(self.segment_path(tablet, &meta.name))
        };
        fetch_columns(path_of, |p| self.reader_metadata(p), &locs, fields)
    }

    /// The Parquet metadata (with page index) of a segment file, cached.
    fn reader_metadata(&self, path: &Path) -> Result<ArrowReaderMetadata> {
        if let Some(m) = self.reader_meta.lock().get(path) {
            return Ok(m.clone());
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let meta = ArrowReaderMetadata::load(&file, options)?;
        let mut cache = self.reader_meta.lock();
        if cache.len() >= READER_METADATA_ENTRIES {
            // Segment files never change; forgetting them all only costs re-reads.
            cache.clear();
        }
        cache.insert(path.to_path_buf(), meta.clone());
        Ok(meta)
    }

    /// The key column ids of a PRIMARY KEY tablet (empty for other tablets).
    pub fn primary_key(&self, tablet: TabletId) -> Result<Vec<u32>> {
        let state = self.state.read();
        let t = state
            .tablets
            .get(&tablet)
            .ok_or(Error::TabletNotFound(tablet))?;
        Ok(t.meta.primary_key.clone())
    }

    /// The newest visible version of a tablet.
    pub fn max_version(&self, tablet: TabletId) -> Result<u64> {
        let state = self.state.read();
        let t = state
            .tablets
            .get(&tablet)
            .ok_or(Error::TabletNotFound(tablet))?;
        Ok(t.max_version())
    }

    /// Summaries of every tablet, ordered by id.
    pub fn tablet_infos(&self) -> Vec<TabletInfo> {
        let state = self.state.read();
        let sorted: BTreeMap<_, _> = state.tablets.iter().collect();
        sorted
            .into_values()
            .map(|t| {
                let current = t.snapshot(u64::MAX);
                TabletInfo {
                    meta: t.meta.clone(),
                    rowsets: current.rowsets.len(),
                    rows: current.live_rows(),
                    bytes: current.rowsets.iter().map(|r| r.bytes).sum(),
                    max_version: t.max_version(),
                }
            })
            .collect()
    }

    /// Flushes the metadata store's directory entry (after creating the store).
    pub fn sync(&self) -> Result<()> {
        sync_dir(&self.root)
    }
}

/// Forgets indexes that may have applied rows that were not committed; they are rebuilt
/// from the committed rows on next use.
fn reset_indexes(indexes: &mut [MutexGuard<'_, Option<PkIndex>>]) {
    for i in indexes {
        **i = None;
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        out.push(entry.path());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
