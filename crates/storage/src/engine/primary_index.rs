//! PRIMARY KEY tablets: applying a rowset's keys to the tablet's index (with partial
//! updates and merge conditions), and building, loading and persisting that index.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::kernels::cmp::lt;
use datafusion::arrow::compute::{interleave, take};
use datafusion::arrow::datatypes::FieldRef;
use rigel_common::ids::{RowsetId, TabletId};
use tracing::{info, warn};

use super::{SharedIndex, Snapshot, StorageEngine};
use crate::index_file;
use crate::meta::{RowsetMeta, SegmentMeta, UpdateRule};
use crate::primary::{
    NewDeletes, OP_DELETE, PkIndex, RowLoc, SegmentKeys, apply_rowset, encode_keys, fetch_columns,
    field_index, index_segment, op_column, read_keys, read_segment,
};
use crate::segment::{SegmentCompression, write_segment_in_order};
use crate::{Error, Result};

impl StorageEngine {
    /// Reads the keys of a pending PRIMARY KEY rowset and applies them to the tablet's index
    /// (built first if needed). Returns the rows that become deleted.
    ///
    /// A rowset with an [`UpdateRule`] is resolved segment by segment against the rows its
    /// keys have (earlier segments of the same rowset included): segments that take values
    /// from existing rows are rewritten, and the files they replace are returned.
    ///
    /// `keys`: the rowset's keys when already read (a rowset without an update rule).
    pub(super) fn apply_primary(
        &self,
        index: &mut Option<PkIndex>,
        rs: &mut RowsetMeta,
        key: &[u32],
        keys: Option<Vec<SegmentKeys>>,
    ) -> Result<(NewDeletes, Vec<PathBuf>)> {
        if index.is_none() {
            self.rebuild_index(index, rs.tablet_id, key)?;
        }
        let Some(rule) = rs.update.take() else {
            let segments = match keys {
                Some(k) => k,
                None => rs
                    .segments
                    .iter()
                    .enumerate()
                    .map(|(i, seg)| {
                        read_keys(&self.segment_path(rs.tablet_id, &seg.name), key)
                            .map(|k| SegmentKeys::new(i as u32, k))
                    })
                    .collect::<Result<_>>()?,
            };
            return Ok((apply_rowset(index, rs.rowset_id, &segments)?, vec![]));
        };
        let others = self.current_rowsets(rs.tablet_id)?;
        let mut deletes = NewDeletes::new();
        let mut replaced = vec![];
        for i in 0..rs.segments.len() {
            let (keys, rewritten) =
                self.resolve_segment(index.as_ref(), rs, i, &rule, key, &others)?;
            if let Some(meta) = rewritten {
                replaced.push(self.segment_path(rs.tablet_id, &rs.segments[i].name));
                rs.segments[i] = meta;
            }
            for (target, rows) in apply_rowset(index, rs.rowset_id, &[keys])? {
                let all = deletes.entry(target).or_default();
                all.extend(rows);
                all.sort_unstable();
                all.dedup();
            }
        }
        rs.bytes = rs.segments.iter().map(|s| s.bytes).sum();
        Ok((deletes, replaced))
    }

    /// Resolves segment `i` of a pending rowset with an update rule: which rows lose their
    /// merge condition to the existing row (skipped), and, for a partial update, the kept
    /// columns of rows whose key exists (then the segment is rewritten, rows in place).
    pub(super) fn resolve_segment(
        &self,
        index: Option<&PkIndex>,
        rs: &RowsetMeta,
        i: usize,
        rule: &UpdateRule,
        key: &[u32],
        others: &HashMap<RowsetId, Arc<RowsetMeta>>,
    ) -> Result<(SegmentKeys, Option<SegmentMeta>)> {
        let tablet = rs.tablet_id;
        let seg = &rs.segments[i];
        let batch = read_segment(&self.segment_path(tablet, &seg.name))?;
        let schema = batch.schema();
        let find = |uid: u32| {
            field_index(&schema, uid)
                .ok_or_else(|| Error::Corrupt(format!("segment {} has no column {uid}", seg.name)))
        };
        let key_columns: Vec<ArrayRef> = key
            .iter()
            .map(|&u| find(u).map(|c| Arc::clone(batch.column(c))))
            .collect::<Result<_>>()?;
        let keys = encode_keys(&key_columns)?;
        let op = op_column(&batch);
        // Upserted rows whose key has a row already, and where that row is.
        let mut matched: Vec<u32> = vec![];
        let mut locs: Vec<RowLoc> = vec![];
        if let Some(index) = index {
            for r in 0..batch.num_rows() {
                let deletes = op.as_ref().is_some_and(|o| o.value(r) == OP_DELETE);
                if deletes {
                    continue;
                }
                if let Some(loc) = index.get(&keys, r)? {
                    matched.push(r as u32);
                    locs.push(loc);
                }
            }
        }
        let condition = rule.condition.map(&find).transpose()?;
        let keep: Vec<usize> = rule.keep.iter().map(|&u| find(u)).collect::<Result<_>>()?;
        let wanted: Vec<usize> = condition.iter().chain(&keep).copied().collect();
        let fields: Vec<FieldRef> = wanted.iter().map(|&c| schema.fields()[c].clone()).collect();
        let path_of = |rowset: RowsetId, segment: u32| {
            let meta = if rowset == rs.rowset_id {
                rs.segments.get(segment as usize)
            } else {
                others.get(&rowset)?.segments.get(segment as usize)
            };
            meta.map(|m| self.segment_path(tablet, &m.name))
        };
        let old = fetch_columns(path_of, |p| self.reader_metadata(p), &locs, &fields)?;
        // Rows that lose to the existing row.
        let mut skip: Vec<u32> = vec![];
        if let Some(c) = condition {
            let rows = UInt32Array::from(matched.clone());
            let new = take(batch.column(c), &rows, None)?;
            let less = lt(&new, &old[0])?;
            for (j, &row) in matched.iter().enumerate() {
                if less.is_valid(j) && less.value(j) {
                    skip.push(row);
                }
            }
        }
        let mut rewritten = None;
        let taking: Vec<(usize, u32)> = matched
            .iter()
            .enumerate()
            .filter(|(_, r)| skip.binary_search(r).is_err())
            .map(|(j, r)| (j, *r))
            .collect();
        if !keep.is_empty() && !taking.is_empty() {
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            let first_kept = usize::from(condition.is_some());
            // Row r keeps its own value, or takes the j-th fetched one.
            let mut from: Vec<(usize, usize)> = (0..batch.num_rows()).map(|r| (0, r)).collect();
            for &(j, row) in &taking {
                from[row as usize] = (1, j);
            }
            for (k, &c) in keep.iter().enumerate() {
                let old_values = &old[first_kept + k];
                columns[c] = interleave(&[batch.column(c).as_ref(), old_values.as_ref()], &from)?;
            }
            let resolved = RecordBatch::try_new(Arc::clone(&schema), columns)?;
            let name = match seg.name.strip_suffix(".parquet") {
                Some(stem) => format!("{stem}.u.parquet"),
                None => format!("{}.u", seg.name),
            };
            let meta = write_segment_in_order(
                &self.tablet_dir(tablet),
                name,
                tablet,
                rs.rowset_id,
                rs.txn_id,
                resolved,
                SegmentCompression::parse(&rule.compression).unwrap_or(SegmentCompression::Lz4),
                rule.bloom_filter_columns.clone(),
            )?;
            rewritten = Some(meta);
        }
        let keys = SegmentKeys {
            segment: i as u32,
            batches: vec![(keys, op)],
            skip,
        };
        Ok((keys, rewritten))
    }

    /// Builds a PRIMARY KEY tablet's index: from its persisted copy when there is a usable
    /// one, else from the key columns of its live rows (then persisted, when the tablet
    /// keeps a persistent index).
    pub(super) fn rebuild_index(
        &self,
        index: &mut Option<PkIndex>,
        tablet: TabletId,
        key: &[u32],
    ) -> Result<()> {
        let started = std::time::Instant::now();
        let (snapshot, persistent) = {
            let state = self.state.read();
            let t = state
                .tablets
                .get(&tablet)
                .ok_or(Error::TabletNotFound(tablet))?;
            (t.snapshot(u64::MAX), t.meta.persistent_index)
        };
        let dir = self.tablet_dir(tablet);
        if persistent {
            match self.load_index_file(&dir, &snapshot, key) {
                Ok(Some((loaded, added))) => {
                    info!(
                        %tablet,
                        keys = loaded.as_ref().map_or(0, PkIndex::len),
                        rowsets_added = added,
                        ms = started.elapsed().as_millis() as u64,
                        "loaded primary key index"
                    );
                    *index = loaded;
                    if added > 0 {
                        self.persist_index(tablet, &snapshot, index.as_ref());
                    }
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => warn!(%tablet, "primary key index file not used, rebuilding: {e}"),
            }
        }
        let mut built = None;
        for rs in &snapshot.rowsets {
            for (i, seg) in rs.segments.iter().enumerate() {
                let keys = read_keys(&self.segment_path(tablet, &seg.name), key)?;
                let deleted = snapshot.deleted(rs.rowset_id, i);
                index_segment(&mut built, rs.rowset_id, i as u32, &keys, deleted)?;
            }
        }
        if let Some(b) = &built {
            info!(
                %tablet,
                keys = b.len(),
                ms = started.elapsed().as_millis() as u64,
                "built primary key index"
            );
        }
        *index = built;
        if persistent {
            self.persist_index(tablet, &snapshot, index.as_ref());
        }
        Ok(())
    }

    /// The index a tablet's index file gives for `snapshot` (the tablet's current state):
    /// `None` when there is no file or it covers a rowset that is no longer current. Also
    /// returns how many rowsets were added to what the file held.
    pub(super) fn load_index_file(
        &self,
        dir: &Path,
        snapshot: &Snapshot,
        key: &[u32],
    ) -> Result<Option<(Option<PkIndex>, usize)>> {
        let Some(file) = index_file::read(dir)? else {
            return Ok(None);
        };
        let current: HashSet<RowsetId> = snapshot.rowsets.iter().map(|r| r.rowset_id).collect();
        if file.rowsets.iter().any(|r| !current.contains(r)) {
            return Ok(None);
        }
        let covered: HashSet<RowsetId> = file.rowsets.into_iter().collect();
        // Rows deleted since the file was written (replaced or deleted by later writes).
        let mut loaded = file.index;
        loaded.retain(|loc| {
            snapshot
                .deleted(loc.rowset, loc.segment as usize)
                .is_none_or(|d| d.binary_search(&loc.row).is_err())
        });
        let mut index = Some(loaded);
        let mut added = 0;
        for rs in snapshot
            .rowsets
            .iter()
            .filter(|r| !covered.contains(&r.rowset_id))
        {
            for (i, seg) in rs.segments.iter().enumerate() {
                let keys = read_keys(&self.segment_path(rs.tablet_id, &seg.name), key)?;
                let deleted = snapshot.deleted(rs.rowset_id, i);
                index_segment(&mut index, rs.rowset_id, i as u32, &keys, deleted)?;
            }
            added += 1;
        }
        Ok(Some((index, added)))
    }

    /// Writes a tablet's index file for the rowsets of `snapshot`. A failure is logged, not
    /// returned: the index file only saves work at the next start.
    pub(super) fn persist_index(
        &self,
        tablet: TabletId,
        snapshot: &Snapshot,
        index: Option<&PkIndex>,
    ) {
        let dir = self.tablet_dir(tablet);
        let result = match index {
            Some(ix) => {
                let rowsets: Vec<RowsetId> = snapshot.rowsets.iter().map(|r| r.rowset_id).collect();
                index_file::write(&dir, &rowsets, ix)
            }
            None => index_file::remove(&dir),
        };
        if let Err(e) = result {
            warn!(%tablet, "primary key index not persisted: {e}");
        }
    }

    /// Writes the index file of every PRIMARY KEY tablet with a persistent index whose index
    /// is in memory, so that the next start loads them instead of rebuilding. Called at
    /// shutdown; returns how many were written.
    pub fn persist_indexes(&self) -> usize {
        let tablets: Vec<(TabletId, SharedIndex)> = {
            let state = self.state.read();
            state
                .tablets
                .iter()
                .filter(|(_, t)| t.meta.persistent_index && !t.meta.primary_key.is_empty())
                .map(|(id, t)| (*id, Arc::clone(&t.index)))
                .collect()
        };
        let mut written = 0;
        for (tablet, index) in tablets {
            // Held while the rowsets are read: no publish or compaction changes either.
            let index = index.lock();
            let Some(ix) = index.as_ref() else {
                continue;
            };
            let Ok(snapshot) = self.read_snapshot(tablet, u64::MAX) else {
                continue;
            };
            self.persist_index(tablet, &snapshot, Some(ix));
            written += 1;
        }
        written
    }
}
