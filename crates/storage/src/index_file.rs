//! Persisted primary-key indexes (`enable_persistent_index`).
//!
//! A PRIMARY KEY tablet with a persistent index keeps a copy of its index in
//! [`INDEX_FILE`] in the tablet directory, written after the index is rebuilt (at the
//! first write or lookup after a start, and after a compaction) and when the engine shuts
//! down. The file names the rowsets the index covered. On start the file is used when all
//! of those rowsets are still current: entries whose row has since been deleted are
//! dropped, and the live rows of rowsets published after the file was written are added,
//! which gives exactly the index a full rebuild would. Otherwise (a compaction replaced a
//! covered rowset, the file is missing, damaged or of another key kind) the index is
//! rebuilt from the key columns as without the option.
//!
//! Layout, little-endian: magic `RGPKIDX1`, kind (u8: 0 integer keys, 1 encoded keys),
//! rowset count (u32) and ids (u64 each), entry count (u64), entries, then a CRC-32 of
//! everything before it. An entry is the key (i64, or u32 length + bytes), then the row's
//! rowset (u64), segment (u32) and row (u32).

use std::io::Write;
use std::path::Path;

use hashbrown::HashMap;
use rigel_common::ids::RowsetId;

use crate::primary::{PkIndex, RowLoc};
use crate::segment::sync_dir;
use crate::{Error, Result};

/// The file name in the tablet directory.
pub const INDEX_FILE: &str = "primary_index.bin";

const MAGIC: &[u8; 8] = b"RGPKIDX1";

/// An index read back, with the rowsets it covers.
pub(crate) struct IndexFile {
    /// The rowsets whose live rows the index holds.
    pub rowsets: Vec<RowsetId>,
    /// The index.
    pub index: PkIndex,
}

/// Writes an index atomically (temporary file, fsync, rename, directory fsync).
pub(crate) fn write(dir: &Path, rowsets: &[RowsetId], index: &PkIndex) -> Result<()> {
    let mut out = Vec::with_capacity(32 + rowsets.len() * 8 + index.len() * 24);
    out.extend_from_slice(MAGIC);
    out.push(match index {
        PkIndex::Int(_) => 0,
        PkIndex::Bytes(_) => 1,
    });
    out.extend_from_slice(&(rowsets.len() as u32).to_le_bytes());
    for r in rowsets {
        out.extend_from_slice(&r.0.to_le_bytes());
    }
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    let put_loc = |out: &mut Vec<u8>, loc: &RowLoc| {
        out.extend_from_slice(&loc.rowset.0.to_le_bytes());
        out.extend_from_slice(&loc.segment.to_le_bytes());
        out.extend_from_slice(&loc.row.to_le_bytes());
    };
    match index {
        PkIndex::Int(map) => {
            for (k, loc) in map {
                out.extend_from_slice(&k.to_le_bytes());
                put_loc(&mut out, loc);
            }
        }
        PkIndex::Bytes(map) => {
            for (k, loc) in map {
                out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                out.extend_from_slice(k);
                put_loc(&mut out, loc);
            }
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    let path = dir.join(INDEX_FILE);
    let tmp = dir.join(format!("{INDEX_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(&out).map_err(|e| Error::io(&tmp, e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)
}

/// Removes a tablet's index file, if any.
pub(crate) fn remove(dir: &Path) -> Result<()> {
    let path = dir.join(INDEX_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Reads a tablet's index file: `None` when there is none, an error when it is damaged.
pub(crate) fn read(dir: &Path) -> Result<Option<IndexFile>> {
    let path = dir.join(INDEX_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let corrupt = |why: &str| Error::Corrupt(format!("{}: {why}", path.display()));
    let Some((body, crc)) = bytes.split_last_chunk::<4>() else {
        return Err(corrupt("truncated"));
    };
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(corrupt("checksum mismatch"));
    }
    let mut r = Reader { bytes: body };
    if r.take(8)? != MAGIC {
        return Err(corrupt("not a primary key index file"));
    }
    let kind = r.take(1)?[0];
    let nrowsets = r.u32()? as usize;
    let rowsets = (0..nrowsets)
        .map(|_| r.u64().map(RowsetId))
        .collect::<Result<Vec<_>>>()?;
    let entries = r.u64()? as usize;
    let index = match kind {
        0 => {
            let mut map = HashMap::with_capacity(entries);
            for _ in 0..entries {
                let key = r.u64()? as i64;
                map.insert(key, r.loc()?);
            }
            PkIndex::Int(map)
        }
        1 => {
            let mut map = HashMap::with_capacity(entries);
            for _ in 0..entries {
                let len = r.u32()? as usize;
                let key: Box<[u8]> = r.take(len)?.into();
                map.insert(key, r.loc()?);
            }
            PkIndex::Bytes(map)
        }
        _ => return Err(corrupt("unknown key kind")),
    };
    if !r.bytes.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(Some(IndexFile { rowsets, index }))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(Error::Corrupt("primary key index file: truncated".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn loc(&mut self) -> Result<RowLoc> {
        Ok(RowLoc {
            rowset: RowsetId(self.u64()?),
            segment: self.u32()?,
            row: self.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(rowset: u64, row: u32) -> RowLoc {
        RowLoc {
            rowset: RowsetId(rowset),
            segment: 0,
            row,
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let ints = PkIndex::Int((0..1000).map(|k| (k as i64 - 500, loc(7, k))).collect());
        write(dir.path(), &[RowsetId(7), RowsetId(9)], &ints).unwrap();
        let back = read(dir.path()).unwrap().unwrap();
        assert_eq!(back.rowsets, vec![RowsetId(7), RowsetId(9)]);
        let PkIndex::Int(map) = back.index else {
            panic!("kind")
        };
        assert_eq!(map.len(), 1000);
        assert_eq!(map[&-500], loc(7, 0));
        let bytes = PkIndex::Bytes(
            [
                (b"a".to_vec().into_boxed_slice(), loc(1, 2)),
                (Box::from(&b""[..]), loc(1, 3)),
            ]
            .into_iter()
            .collect(),
        );
        write(dir.path(), &[RowsetId(1)], &bytes).unwrap();
        let PkIndex::Bytes(map) = read(dir.path()).unwrap().unwrap().index else {
            panic!("kind")
        };
        assert_eq!(map[&b"a"[..]], loc(1, 2));
        assert_eq!(map[&b""[..]], loc(1, 3));
        // A flipped byte or a cut file is an error, never a different index.
        let path = dir.path().join(INDEX_FILE);
        let mut data = std::fs::read(&path).unwrap();
        data[12] ^= 1;
        std::fs::write(&path, &data).unwrap();
        assert!(read(dir.path()).is_err());
        data[12] ^= 1;
        std::fs::write(&path, &data[..data.len() - 1]).unwrap();
        assert!(read(dir.path()).is_err());
        remove(dir.path()).unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        remove(dir.path()).unwrap();
    }
}
