//! BACKUP and RESTORE on the backend: tablet files to and from a repository.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::{StreamExt, TryStreamExt};
use rigel_be_api::{BackupRequest, RepositorySpec, RestoreRequest, RowsetBackup, TabletBackup};
use rigel_common::SqlError;
use rigel_repository::Repository;
use rigel_storage::{ImportRowset, ImportSegment, StorageEngine};

use crate::storage_error;

/// Files sent or fetched at once.
const PARALLEL_FILES: usize = 4;

/// A staging directory removed when the job ends, however it ends.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(spec: &RepositorySpec, read_only: bool) -> Result<Repository, SqlError> {
    Ok(Repository::open(
        &spec.location,
        &spec.properties,
        read_only,
    )?)
}

pub(crate) async fn backup(
    engine: Arc<StorageEngine>,
    req: BackupRequest,
) -> Result<Vec<TabletBackup>, SqlError> {
    let repo = open(&req.repository, false)?;
    let staging = Staging(
        engine
            .staging_dir(&format!("backup-{}", req.job))
            .map_err(|e| storage_error(&e))?,
    );
    let linked = {
        let engine = Arc::clone(&engine);
        let dir = staging.0.clone();
        let tablets = req.tablets.clone();
        tokio::task::spawn_blocking(move || engine.link_snapshot(&dir, &tablets))
            .await
            .map_err(|e| SqlError::internal(e.to_string()))?
            .map_err(|e| storage_error(&e))?
    };
    let files: Vec<PathBuf> = linked
        .iter()
        .flat_map(|t| t.rowsets.iter())
        .flat_map(|r| r.segments.iter().map(|(p, _)| p.clone()))
        .collect();
    req.transfer
        .files_total
        .store(files.len() as u64, Ordering::Relaxed);
    let uploads = files.into_iter().map(|path| {
        let (repo, transfer) = (repo.clone(), Arc::clone(&req.transfer));
        async move {
            repo.upload_file(&path, req.upload_all, &transfer)
                .await
                .map(|(blob, _)| blob)
        }
    });
    let blobs: Vec<_> = futures::stream::iter(uploads)
        .buffered(PARALLEL_FILES)
        .try_collect()
        .await?;
    let mut blobs = blobs.into_iter();
    let mut out = Vec::with_capacity(linked.len());
    for t in linked {
        let mut rowsets = Vec::with_capacity(t.rowsets.len());
        for r in t.rowsets {
            let segments = r
                .segments
                .iter()
                .map(|(_, rows)| {
                    blobs
                        .next()
                        .map(|b| (b, *rows))
                        .ok_or_else(|| SqlError::internal("backup lost track of a file"))
                })
                .collect::<Result<_, _>>()?;
            rowsets.push(RowsetBackup {
                version: r.version,
                segments,
                deletes: r.deletes,
            });
        }
        out.push(TabletBackup {
            tablet: t.tablet,
            version: t.version,
            rowsets,
        });
    }
    drop(staging);
    Ok(out)
}

pub(crate) async fn restore(
    engine: Arc<StorageEngine>,
    req: RestoreRequest,
) -> Result<(), SqlError> {
    let metas: Vec<rigel_storage::TabletMeta> = req
        .tablets
        .iter()
        .map(|(m, _)| crate::convert::tablet_meta(m))
        .collect();
    engine
        .create_tablets(&metas)
        .map_err(|e| storage_error(&e))?;
    let outcome = restore_into(&engine, &req).await;
    if outcome.is_err() {
        let ids: Vec<_> = metas.iter().map(|m| m.tablet_id).collect();
        if let Err(e) = engine.drop_tablets(&ids) {
            tracing::warn!("dropping the tablets of a failed restore: {e}");
        }
    }
    outcome
}

async fn restore_into(engine: &Arc<StorageEngine>, req: &RestoreRequest) -> Result<(), SqlError> {
    let repo = open(&req.repository, true)?;
    let staging = Staging(
        engine
            .staging_dir(&format!("restore-{}", req.job))
            .map_err(|e| storage_error(&e))?,
    );
    let files: Vec<_> = req
        .tablets
        .iter()
        .flat_map(|(_, b)| b.rowsets.iter())
        .flat_map(|r| r.segments.iter())
        .enumerate()
        .map(|(i, (blob, _))| (blob.clone(), staging.0.join(format!("{i}.parquet"))))
        .collect();
    req.transfer
        .files_total
        .store(files.len() as u64, Ordering::Relaxed);
    let downloads = files.clone().into_iter().map(|(blob, path)| {
        let (repo, transfer) = (repo.clone(), Arc::clone(&req.transfer));
        async move { repo.download(&blob, &path, &transfer).await }
    });
    let crcs: Vec<u32> = futures::stream::iter(downloads)
        .buffered(PARALLEL_FILES)
        .try_collect()
        .await?;
    let mut downloaded = files.into_iter().zip(crcs);
    for (meta, backup) in &req.tablets {
        let mut rowsets = Vec::with_capacity(backup.rowsets.len());
        for r in &backup.rowsets {
            let mut segments = Vec::with_capacity(r.segments.len());
            for (_, rows) in &r.segments {
                let ((blob, path), crc32) = downloaded
                    .next()
                    .ok_or_else(|| SqlError::internal("restore lost track of a file"))?;
                segments.push(ImportSegment {
                    path,
                    rows: *rows,
                    bytes: blob.size,
                    crc32,
                });
            }
            rowsets.push(ImportRowset {
                version: r.version,
                segments,
                deletes: r.deletes.clone(),
            });
        }
        let engine = Arc::clone(engine);
        let (tablet, version) = (meta.tablet_id, backup.version);
        tokio::task::spawn_blocking(move || engine.import_rowsets(tablet, version, rowsets))
            .await
            .map_err(|e| SqlError::internal(e.to_string()))?
            .map_err(|e| storage_error(&e))?;
    }
    drop(staging);
    Ok(())
}
