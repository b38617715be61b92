//! Maintenance of tablets: compaction outputs replacing their inputs, and removing what
//! compactions and dropped tablets leave behind.

use std::sync::Arc;

use tracing::{info, warn};

use super::{DELVECS, ROWSETS, StorageEngine, read_dir};
use crate::meta::{RowsetMeta, encode};
use crate::primary::{SegmentKeys, apply_rowset, read_keys};
use crate::segment::now_ms;
use crate::{Error, Result};

impl StorageEngine {
    /// Makes a compaction's output visible in place of its inputs (`replaces`: current
    /// rowsets of one tablet with consecutive versions), at the newest input's version, so
    /// that readers of every version see the same rows as before. Returns `false` when an
    /// input is no longer current or a rewrite of the tablet is running or pending: the
    /// output's files are then removed and everything else stays as it was.
    ///
    /// PRIMARY KEY tablets pass `read_at`, the version the inputs were read at (with their
    /// deleted rows skipped): the output then becomes visible at that version, which must
    /// still be the newest, and the index points at its rows.
    pub fn commit_compaction(&self, mut output: RowsetMeta, read_at: Option<u64>) -> Result<bool> {
        let mut state = self.state.write();
        let tablet = output.tablet_id;
        let moved_on = read_at.is_some_and(|v| {
            state
                .tablets
                .get(&tablet)
                .is_none_or(|t| t.max_version() != v)
        });
        let rewrite_pending = state
            .pending
            .values()
            .flatten()
            .any(|r| r.tablet_id == tablet && !r.replaces.is_empty())
            || state.rewriting.contains_key(&tablet);
        let inputs: Vec<&Arc<RowsetMeta>> = state
            .tablets
            .get(&tablet)
            .map(|t| {
                t.rowsets
                    .iter()
                    .filter(|r| output.replaces.contains(&r.rowset_id) && r.is_current())
                    .collect()
            })
            .unwrap_or_default();
        if moved_on || rewrite_pending || inputs.is_empty() || inputs.len() != output.replaces.len()
        {
            for s in &output.segments {
                let _ = std::fs::remove_file(self.segment_path(tablet, &s.name));
            }
            return Ok(false);
        }
        let version = match read_at {
            Some(v) => Some(v),
            None => inputs.iter().filter_map(|r| r.version).max(),
        };
        output.version = version;
        let now = now_ms();
        let retired: Vec<RowsetMeta> = inputs
            .iter()
            .map(|r| {
                let mut r = r.as_ref().clone();
                r.stale_from = version;
                r.stale_since_ms = Some(now);
                r
            })
            .collect();
        let w = self.db.begin_write()?;
        {
            let mut rows = w.open_table(ROWSETS)?;
            rows.insert((tablet.0, output.rowset_id.0), encode(&output).as_slice())?;
            for r in &retired {
                rows.insert((tablet.0, r.rowset_id.0), encode(r).as_slice())?;
            }
        }
        w.commit()?;
        if let Some(t) = state.tablets.get_mut(&tablet) {
            for r in retired {
                if let Some(slot) = t.rowsets.iter_mut().find(|x| x.rowset_id == r.rowset_id) {
                    *slot = Arc::new(r);
                }
            }
            let pos = t.rowsets.partition_point(|r| r.version <= output.version);
            t.rowsets.insert(pos, Arc::new(output.clone()));
        }
        let primary = state.tablets.get(&tablet).and_then(|t| {
            (!t.meta.primary_key.is_empty())
                .then(|| (t.meta.primary_key.clone(), Arc::clone(&t.index)))
        });
        drop(state);
        if let Some((key, index)) = primary {
            // The output's rows are the live rows of the inputs: their keys move to it.
            let mut index = index.lock();
            if index.is_some() {
                let mut segments = Vec::with_capacity(output.segments.len());
                for (i, seg) in output.segments.iter().enumerate() {
                    match read_keys(&self.segment_path(tablet, &seg.name), &key) {
                        Ok(keys) => segments.push(SegmentKeys::new(i as u32, keys)),
                        Err(e) => {
                            warn!(%tablet, "primary key index dropped, rebuilt on next write: {e}");
                            *index = None;
                            return Ok(true);
                        }
                    }
                }
                match apply_rowset(&mut index, output.rowset_id, &segments) {
                    // Every key was live in an input, which now holds no live row.
                    Ok(d) if d.keys().all(|(r, _)| output.replaces.contains(r)) => {}
                    _ => *index = None,
                }
            }
        }
        Ok(true)
    }

    /// Removes rowsets that have been stale for at least `after_ms` (no query reads an old
    /// snapshot that long): their metadata, then their files. Returns how many went.
    pub fn sweep_stale(&self, after_ms: i64) -> Result<usize> {
        let now = now_ms();
        let old: Vec<Arc<RowsetMeta>> = {
            let state = self.state.read();
            state
                .tablets
                .values()
                .flat_map(|t| t.rowsets.iter())
                .filter(|r| r.stale_since_ms.is_some_and(|s| now - s >= after_ms))
                .cloned()
                .collect()
        };
        if old.is_empty() {
            return Ok(0);
        }
        let w = self.db.begin_write()?;
        {
            let mut rows = w.open_table(ROWSETS)?;
            let mut delvecs = w.open_table(DELVECS)?;
            for r in &old {
                rows.remove((r.tablet_id.0, r.rowset_id.0))?;
                let (t, id) = (r.tablet_id.0, r.rowset_id.0);
                delvecs.retain_in((t, id, 0, 0)..=(t, id, u32::MAX, u64::MAX), |_, _| false)?;
            }
        }
        w.commit()?;
        {
            let mut state = self.state.write();
            for r in &old {
                if let Some(t) = state.tablets.get_mut(&r.tablet_id) {
                    t.rowsets.retain(|x| x.rowset_id != r.rowset_id);
                    t.delvecs.retain(|(rowset, _), _| *rowset != r.rowset_id);
                }
            }
        }
        for r in &old {
            for s in &r.segments {
                let _ = std::fs::remove_file(self.segment_path(r.tablet_id, &s.name));
            }
        }
        Ok(old.len())
    }

    /// Removes what dropped tablets left in the trash directory at least `after_ms` ago
    /// (entries are named `<drop time in ms>_<tablet id>`). Returns how many went.
    pub fn sweep_trash(&self, after_ms: i64) -> Result<usize> {
        let now = now_ms();
        let mut removed = 0;
        for entry in read_dir(&self.root.join("trash"))? {
            let dropped_ms = entry
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('_').next())
                .and_then(|stamp| stamp.parse::<i64>().ok());
            let Some(dropped_ms) = dropped_ms else {
                continue;
            };
            if now - dropped_ms < after_ms {
                continue;
            }
            let gone = if entry.is_dir() {
                std::fs::remove_dir_all(&entry)
            } else {
                std::fs::remove_file(&entry)
            };
            gone.map_err(|e| Error::io(&entry, e))?;
            removed += 1;
        }
        if removed > 0 {
            info!(entries = removed, "emptied the trash");
        }
        Ok(removed)
    }
}
