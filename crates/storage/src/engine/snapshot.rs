//! Backup and restore at the tablet level: hard links of a consistent cut's files, and
//! rowsets imported from a repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rigel_common::ids::{RowsetId, TabletId, TxnId};

use super::{DELVECS, ROWSETS, StorageEngine};
use crate::meta::{RowsetMeta, SegmentMeta, encode};
use crate::primary::encode_rows;
use crate::segment::{now_ms, sync_dir};
use crate::{Error, Result};

/// The files of one tablet at one version, linked for a backup.
#[derive(Debug, Clone)]
pub struct LinkedTablet {
    /// Tablet.
    pub tablet: TabletId,
    /// Version the files were taken at.
    pub version: u64,
    /// Visible rowsets, oldest first.
    pub rowsets: Vec<LinkedRowset>,
}

/// The files of one rowset, linked for a backup.
#[derive(Debug, Clone)]
pub struct LinkedRowset {
    /// The version it became visible at (readers merge rows in version order).
    pub version: u64,
    /// Linked segment files, in order, with their row counts.
    pub segments: Vec<(PathBuf, u64)>,
    /// PRIMARY KEY tablets: rows of a segment (by index) deleted at the version.
    pub deletes: Vec<(u32, Vec<u32>)>,
}

/// A rowset to import into a tablet.
#[derive(Debug, Clone)]
pub struct ImportRowset {
    /// The version it is visible from (at most the tablet's version; readers merge rows of
    /// equal keys in version order, so a restore keeps the original versions).
    pub version: u64,
    /// Segment files (on the storage's file system; moved into the tablet), in order.
    pub segments: Vec<ImportSegment>,
    /// Rows of a segment (by index) that are deleted.
    pub deletes: Vec<(u32, Vec<u32>)>,
}

/// A segment file to import.
#[derive(Debug, Clone)]
pub struct ImportSegment {
    /// Where the file is now.
    pub path: PathBuf,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// CRC-32 of the file.
    pub crc32: u32,
}

impl StorageEngine {
    /// A directory for the files of one backup or restore, under the storage root (so that
    /// files can be hard-linked and renamed). Left-overs are removed at the next start.
    pub fn staging_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("snapshot").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
    }

    /// Hard-links into `dir` the segment files readers at each `(tablet, version)` see,
    /// all taken at one instant (one consistent cut): compactions and the removal of
    /// stale files after it cannot take them away while they are backed up.
    pub fn link_snapshot(
        &self,
        dir: &Path,
        tablets: &[(TabletId, u64)],
    ) -> Result<Vec<LinkedTablet>> {
        let state = self.state.read();
        let mut out = Vec::with_capacity(tablets.len());
        for &(tablet, version) in tablets {
            let snapshot = Self::snapshot_of(&state, tablet, version)?;
            let mut rowsets = Vec::with_capacity(snapshot.rowsets.len());
            for rs in &snapshot.rowsets {
                let mut segments = Vec::with_capacity(rs.segments.len());
                let mut deletes = vec![];
                for (i, seg) in rs.segments.iter().enumerate() {
                    let from = self.segment_path(tablet, &seg.name);
                    let to = dir.join(format!("{}_{}", tablet.0, seg.name));
                    if let Err(e) = std::fs::hard_link(&from, &to)
                        && e.kind() != std::io::ErrorKind::AlreadyExists
                    {
                        std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
                    }
                    segments.push((to, seg.rows));
                    if let Some(rows) = snapshot.deleted(rs.rowset_id, i)
                        && !rows.is_empty()
                    {
                        deletes.push((i as u32, rows.to_vec()));
                    }
                }
                rowsets.push(LinkedRowset {
                    version: rs.version.unwrap_or(version),
                    segments,
                    deletes,
                });
            }
            out.push(LinkedTablet {
                tablet,
                version,
                rowsets,
            });
        }
        Ok(out)
    }

    /// Makes `rowsets` the content of `tablet` at `version` (a restore into a new, empty
    /// tablet): their files are moved into the tablet and everything becomes visible in one
    /// metadata commit, each rowset at its own version and the deleted rows at `version`. A
    /// crash before it leaves only files the next start removes.
    pub fn import_rowsets(
        &self,
        tablet: TabletId,
        version: u64,
        rowsets: Vec<ImportRowset>,
    ) -> Result<()> {
        if !self.has_tablet(tablet) {
            return Err(Error::TabletNotFound(tablet));
        }
        let dir = self.tablet_dir(tablet);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let now = now_ms();
        let mut metas = Vec::with_capacity(rowsets.len());
        let mut delvecs = vec![];
        for rowset in rowsets {
            let rowset_id = RowsetId(self.next_rowset.fetch_add(1, Ordering::Relaxed));
            let mut segments = Vec::with_capacity(rowset.segments.len());
            for (i, seg) in rowset.segments.iter().enumerate() {
                let name = format!("{rowset_id}_{i}.parquet");
                let to = dir.join(&name);
                std::fs::rename(&seg.path, &to).map_err(|e| Error::io(&seg.path, e))?;
                segments.push(SegmentMeta {
                    name,
                    rows: seg.rows,
                    bytes: seg.bytes,
                    crc32: seg.crc32,
                });
            }
            for (segment, rows) in rowset.deletes {
                delvecs.push((rowset_id, segment, rows));
            }
            metas.push(RowsetMeta {
                rowset_id,
                tablet_id: tablet,
                txn_id: TxnId(0),
                version: Some(rowset.version.min(version)),
                rows: segments.iter().map(|s| s.rows).sum(),
                bytes: segments.iter().map(|s| s.bytes).sum(),
                segments,
                created_ms: now,
                replaces: vec![],
                stale_from: None,
                stale_since_ms: None,
                update: None,
            });
        }
        sync_dir(&dir)?;
        let mut state = self.state.write();
        let t = state
            .tablets
            .get_mut(&tablet)
            .ok_or(Error::TabletNotFound(tablet))?;
        if !t.rowsets.is_empty() {
            return Err(Error::Corrupt(format!(
                "tablet {tablet} is not empty: a restore imports only into new tablets"
            )));
        }
        let w = self.db.begin_write()?;
        {
            let mut rows = w.open_table(ROWSETS)?;
            for rs in &metas {
                rows.insert((tablet.0, rs.rowset_id.0), encode(rs).as_slice())?;
            }
            let mut d = w.open_table(DELVECS)?;
            for (rowset, segment, deleted) in &delvecs {
                d.insert(
                    (tablet.0, rowset.0, *segment, version),
                    encode_rows(deleted).as_slice(),
                )?;
            }
        }
        w.commit()?;
        t.rowsets.extend(metas.into_iter().map(Arc::new));
        for (rowset, segment, deleted) in delvecs {
            t.delvecs
                .entry((rowset, segment))
                .or_default()
                .push((version, Arc::new(deleted)));
        }
        Ok(())
    }
}
