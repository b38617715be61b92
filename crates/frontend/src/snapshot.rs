//! Snapshots in a repository: their manifests, SHOW SNAPSHOT, and (beyond StarRocks)
//! VERIFY SNAPSHOT and DROP SNAPSHOT.
//!
//! A manifest names a snapshot's table definitions and, per tablet, its rowsets and the
//! checksums of their files; the files themselves are stored once in the repository under
//! their checksum and shared between snapshots.

use std::collections::{BTreeSet, HashSet};

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast;
use futures::{StreamExt, TryStreamExt};
use rigel_be_api::{BlobRef, TabletBackup};
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_repository::{Repository as Repo, SnapshotId};
use rigel_sql::ShowFilter;
use serde::{Deserialize, Serialize};

use crate::result::{ResultBuilder, i, s};
use crate::session::Session;
use rigel_catalog::{Repository, Table};

/// Version of the manifest format.
pub(crate) const MANIFEST_FORMAT: u32 = 1;
/// Blobs verified at once.
const PARALLEL_VERIFY: usize = 4;

/// What a snapshot holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) snapshot: String,
    pub(crate) timestamp: String,
    pub(crate) database: String,
    /// `full` or `incremental`.
    pub(crate) kind: String,
    pub(crate) created_ms: i64,
    pub(crate) tables: Vec<TableSnapshot>,
}

/// One table of a snapshot: its definition as backed up (only the partitions backed up,
/// each at the version taken) and the tablets' files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TableSnapshot {
    pub(crate) table: Table,
    pub(crate) tablets: Vec<TabletBackup>,
}

impl Manifest {
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.tables
            .iter()
            .flat_map(|t| &t.tablets)
            .flat_map(|t| &t.rowsets)
            .flat_map(|r| r.segments.iter().map(|(b, _)| b))
    }

    fn size(&self) -> (usize, u64) {
        let unique: HashSet<&BlobRef> = self.blobs().collect();
        (unique.len(), unique.iter().map(|b| b.size).sum())
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, msg)
}

pub(crate) fn open_repo(r: &Repository) -> Result<Repo, SqlError> {
    Ok(Repo::open(&r.location, &r.properties, r.read_only)?)
}

/// Reads a snapshot's manifest.
pub(crate) async fn read_manifest(repo: &Repo, id: &SnapshotId) -> Result<Manifest, SqlError> {
    let body = repo.get_manifest(id).await?;
    let manifest: Manifest = serde_json::from_slice(&body).map_err(|e| {
        SqlError::new(
            ErrorCode::ER_IO_ERROR,
            format!("the manifest of snapshot {id} does not decode: {e}"),
        )
    })?;
    if manifest.format > MANIFEST_FORMAT {
        return Err(SqlError::new(
            ErrorCode::ER_NOT_SUPPORTED_YET,
            format!("snapshot {id} was written by a newer version of Rigel"),
        ));
    }
    Ok(manifest)
}

/// The snapshot `name` (at `timestamp`, else the newest of that name).
pub(crate) async fn find_snapshot(
    repo: &Repo,
    repository: &str,
    name: &str,
    timestamp: Option<&str>,
) -> Result<SnapshotId, SqlError> {
    let all = repo.list_snapshots().await?;
    let found = all
        .into_iter()
        .filter(|s| s.name == name && timestamp.is_none_or(|t| s.timestamp == t))
        .max();
    found.ok_or_else(|| {
        let which = match timestamp {
            Some(t) => format!("snapshot {name} with backup_timestamp {t}"),
            None => format!("snapshot {name}"),
        };
        invalid(format!(
            "There is no {which} in repository {repository}; SHOW SNAPSHOT ON {repository} lists them"
        ))
    })
}

impl Session {
    pub(crate) fn repository(&self, name: &str) -> Result<Repository, SqlError> {
        self.fe
            .catalog()
            .read()
            .repositories
            .get(name)
            .cloned()
            .ok_or_else(|| invalid(format!("Repository does not exist: {name}")))
    }

    /// `SHOW SNAPSHOT ON repo [WHERE …]`.
    pub(crate) async fn show_snapshot(
        &mut self,
        repository: String,
        filter: Option<ShowFilter>,
    ) -> Result<QueryResult, SqlError> {
        let repository = self.repository(&repository)?;
        let repo = open_repo(&repository)?;
        let mut b = ResultBuilder::new(&[
            ("Snapshot", DataType::Utf8),
            ("Timestamp", DataType::Utf8),
            ("Status", DataType::Utf8),
            ("Database", DataType::Utf8),
            ("Details", DataType::Utf8),
        ]);
        for id in repo.list_snapshots().await? {
            match read_manifest(&repo, &id).await {
                Ok(m) => {
                    let (files, bytes) = m.size();
                    let details = serde_json::json!({
                        "type": m.kind,
                        "tables": m.tables.iter().map(|t| t.table.name.clone()).collect::<Vec<_>>(),
                        "files": files,
                        "bytes": bytes,
                    });
                    b.row(vec![
                        s(&id.name),
                        s(&id.timestamp),
                        s("OK"),
                        s(&m.database),
                        s(details.to_string()),
                    ]);
                }
                Err(e) => b.row(vec![
                    s(&id.name),
                    s(&id.timestamp),
                    s(format!("ERROR: {}", e.message)),
                    s(""),
                    s(""),
                ]),
            }
        }
        self.filtered(b, filter, 0).await
    }

    /// `VERIFY SNAPSHOT snap FROM repo [PROPERTIES ("backup_timestamp" = …)]`: reads every
    /// file of the snapshot and checks its size and checksum.
    pub(crate) async fn verify_snapshot(
        &mut self,
        snapshot: String,
        repository: String,
        properties: Vec<(String, String)>,
    ) -> Result<QueryResult, SqlError> {
        let mut timestamp = None;
        for (k, v) in properties {
            match k.to_ascii_lowercase().as_str() {
                "backup_timestamp" => timestamp = Some(v),
                _ => return Err(invalid(format!("Unknown property: {k}"))),
            }
        }
        let repository = self.repository(&repository)?;
        let repo = open_repo(&repository)?;
        let id = find_snapshot(&repo, &repository.name, &snapshot, timestamp.as_deref()).await?;
        let mut b = ResultBuilder::new(&[
            ("Snapshot", DataType::Utf8),
            ("Timestamp", DataType::Utf8),
            ("Files", DataType::Int64),
            ("Bytes", DataType::Int64),
            ("Status", DataType::Utf8),
            ("Details", DataType::Utf8),
        ]);
        let manifest = match read_manifest(&repo, &id).await {
            Ok(m) => m,
            Err(e) => {
                b.row(vec![
                    s(&id.name),
                    s(&id.timestamp),
                    i(0),
                    i(0),
                    s("CORRUPT"),
                    s(e.message),
                ]);
                return b.into_result();
            }
        };
        let blobs: BTreeSet<BlobRef> = manifest.blobs().cloned().collect();
        let problems = verify_blobs(&repo, blobs.iter().cloned().collect()).await;
        let bytes: u64 = blobs.iter().map(|b| b.size).sum();
        let (status, details) = if problems.is_empty() {
            ("OK", String::new())
        } else {
            let mut details = problems.clone();
            details.sort();
            ("CORRUPT", details.join("; "))
        };
        b.row(vec![
            s(&id.name),
            s(&id.timestamp),
            i(blobs.len() as i64),
            i(bytes as i64),
            s(status),
            s(details),
        ]);
        b.into_result()
    }

    /// `DROP SNAPSHOT ON repo WHERE …`: deletes the snapshots the condition (over
    /// `Snapshot` and `Timestamp`) selects, then the files no remaining snapshot uses.
    pub(crate) async fn drop_snapshot(
        &mut self,
        repository: String,
        filter: ast::Expr,
    ) -> Result<QueryResult, SqlError> {
        let repository = self.repository(&repository)?;
        if repository.read_only {
            return Err(invalid(format!(
                "Repository {} is read only",
                repository.name
            )));
        }
        if self.fe.backups.backup_running_to(&repository.name) {
            return Err(invalid(format!(
                "A backup to repository {} is running; drop snapshots when it has finished",
                repository.name
            )));
        }
        let repo = open_repo(&repository)?;
        let all = repo.list_snapshots().await?;
        let mut b = ResultBuilder::text(&["Snapshot", "Timestamp"]);
        for id in &all {
            b.row(vec![s(&id.name), s(&id.timestamp)]);
        }
        let chosen = self.matching_rows(b, filter).await?;
        let (doomed, kept): (Vec<SnapshotId>, Vec<SnapshotId>) = all
            .into_iter()
            .partition(|id| chosen.contains(&(id.name.clone(), id.timestamp.clone())));
        // Files still used by the snapshots that stay, read before anything is deleted: a
        // manifest that cannot be read keeps every file.
        let mut keep: HashSet<BlobRef> = HashSet::new();
        let mut collect = true;
        for id in &kept {
            match read_manifest(&repo, id).await {
                Ok(m) => keep.extend(m.blobs().cloned()),
                Err(e) => {
                    tracing::warn!(
                        "snapshot {id} is unreadable, no file is deleted: {}",
                        e.message
                    );
                    collect = false;
                }
            }
        }
        for id in &doomed {
            repo.delete_manifest(id).await?;
        }
        let (mut files, mut bytes) = (0u64, 0u64);
        if collect {
            for blob in repo.list_blobs().await? {
                if !keep.contains(&blob) {
                    repo.delete_blob(&blob).await?;
                    files += 1;
                    bytes += blob.size;
                }
            }
        }
        let mut out = ResultBuilder::new(&[
            ("SnapshotsDropped", DataType::Int64),
            ("FilesDeleted", DataType::Int64),
            ("BytesDeleted", DataType::Int64),
        ]);
        out.row(vec![
            i(doomed.len() as i64),
            i(files as i64),
            i(bytes as i64),
        ]);
        out.into_result()
    }

    /// The (Snapshot, Timestamp) rows of `b` the condition selects.
    async fn matching_rows(
        &mut self,
        b: ResultBuilder,
        filter: ast::Expr,
    ) -> Result<HashSet<(String, String)>, SqlError> {
        let QueryResult::Rows { mut stream, .. } = self
            .filtered(b, Some(ShowFilter::Where(Box::new(filter))), 0)
            .await?
        else {
            return Ok(HashSet::new());
        };
        let mut out = HashSet::new();
        while let Some(batch) = stream.try_next().await? {
            let col = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| SqlError::internal("snapshot names are not text"))
            };
            let (names, times) = (col(0)?, col(1)?);
            for r in 0..batch.num_rows() {
                if names.is_valid(r) && times.is_valid(r) {
                    out.insert((names.value(r).to_string(), times.value(r).to_string()));
                }
            }
        }
        Ok(out)
    }
}

/// Reads every blob and checks it; returns the problems found.
async fn verify_blobs(repo: &Repo, blobs: Vec<BlobRef>) -> Vec<String> {
    let checks = blobs.into_iter().map(|blob| {
        let repo = repo.clone();
        async move { repo.verify_blob(&blob).await.err().map(|e| e.to_string()) }
    });
    let outcomes: Vec<Option<String>> = futures::stream::iter(checks)
        .buffer_unordered(PARALLEL_VERIFY)
        .collect()
        .await;
    outcomes.into_iter().flatten().collect()
}
