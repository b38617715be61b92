//! BACKUP and RESTORE jobs (the snapshots themselves: [`crate::snapshot`]).
//!
//! A backup takes its cut when the statement runs: each partition's visible version, read
//! from the catalog at one instant. The backend then links the files of that cut and
//! uploads those the repository lacks (all of them for `"type" = "full"`), and the
//! frontend writes the snapshot's manifest — table definitions and, per tablet, its rowsets
//! and file checksums — last, so a snapshot exists only once everything it names is stored.
//!
//! A restore downloads into new tablets (new ids) and makes the restored tables visible in
//! one catalog commit at the end: a restore that fails or is cancelled leaves nothing
//! visible, and tablets it created are dropped (at the latest by the next start, which
//! drops tablets no table owns).
//!
//! Jobs live in memory: SHOW BACKUP / SHOW RESTORE show each database's last one. A job
//! interrupted by a stop is not resumed; run it again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rigel_be_api::{RepositorySpec, TabletBackup, TabletMeta, Transfer};
use rigel_common::ids::{BackendId, DbId, PartitionId, TableId, TabletId};
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_repository::{SnapshotId, check_name};
use rigel_sql::{BackupObject, BackupStmt, RestoreStmt, ShowFilter};

use crate::Frontend;
use crate::ddl::tablet_meta;
use crate::result::{ResultBuilder, s};
use crate::session::Session;
use crate::show::{human_bytes, ms_text};
use crate::snapshot::{
    MANIFEST_FORMAT, Manifest, TableSnapshot, find_snapshot, invalid, open_repo, read_manifest,
};
use rigel_catalog::{JournalEntry, Repository, Table, TableKind};

/// Default job timeout (StarRocks' default: one day).
const DEFAULT_TIMEOUT_SECS: u64 = 86_400;

/// The last columns of SHOW BACKUP and SHOW RESTORE.
const JOB_TAIL: [&str; 5] = [
    "UnfinishedTasks",
    "Progress",
    "TaskErrMsg",
    "Status",
    "Timeout",
];

/// A BACKUP or RESTORE job.
#[derive(Debug)]
pub(crate) struct Job {
    id: u64,
    restore: bool,
    db: String,
    snapshot: String,
    repository: String,
    objects: String,
    timestamp: String,
    created_ms: i64,
    timeout_secs: u64,
    transfer: Arc<Transfer>,
    state: Mutex<JobState>,
}

#[derive(Debug, Default)]
struct JobState {
    state: &'static str,
    snapshot_ms: Option<i64>,
    transfer_ms: Option<i64>,
    finished_ms: Option<i64>,
    error: Option<String>,
    abort: Option<tokio::task::AbortHandle>,
    /// RESTORE: tablets created and not yet owned by a committed table.
    created_tablets: Vec<(TabletId, BackendId)>,
}

impl Job {
    fn running(&self) -> bool {
        !matches!(self.state.lock().state, "FINISHED" | "CANCELLED")
    }

    /// Moves to `state` unless cancelled meanwhile (then `false`).
    fn advance(&self, state: &'static str) -> bool {
        let mut st = self.state.lock();
        if st.state == "CANCELLED" {
            return false;
        }
        let now = crate::now_ms();
        match state {
            "UPLOADING" | "DOWNLOADING" => st.snapshot_ms = Some(now),
            "SAVE_META" | "COMMITTING" => st.transfer_ms = Some(now),
            "FINISHED" => st.finished_ms = Some(now),
            _ => {}
        }
        st.state = state;
        true
    }

    fn fail(&self, message: String) {
        let mut st = self.state.lock();
        if st.state != "CANCELLED" {
            st.state = "CANCELLED";
            st.error = Some(message);
            st.finished_ms = Some(crate::now_ms());
        }
    }

    /// `done/total files, size`; for a backup also what was actually sent.
    fn progress(&self) -> String {
        let t = &self.transfer;
        let mut text = format!(
            "{}/{} files, {}",
            t.files_done.load(Ordering::Relaxed),
            t.files_total.load(Ordering::Relaxed),
            human_bytes(t.bytes_done.load(Ordering::Relaxed))
        );
        if !self.restore {
            text.push_str(&format!(
                "; uploaded {} files, {} bytes",
                t.files_uploaded.load(Ordering::Relaxed),
                t.bytes_uploaded.load(Ordering::Relaxed)
            ));
        }
        text
    }

    /// The cells of [`JOB_TAIL`].
    fn tail(&self, st: &JobState) -> [datafusion::scalar::ScalarValue; 5] {
        let t = &self.transfer;
        let left = t
            .files_total
            .load(Ordering::Relaxed)
            .saturating_sub(t.files_done.load(Ordering::Relaxed));
        let status = match &st.error {
            None => "[OK]".to_string(),
            Some(e) => format!("[ERROR: {e}]"),
        };
        [
            s(left.to_string()),
            s(self.progress()),
            s(st.error.clone().unwrap_or_default()),
            s(status),
            s(self.timeout_secs.to_string()),
        ]
    }
}

/// The jobs of this frontend.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    next_id: AtomicU64,
    jobs: Mutex<Vec<Arc<Job>>>,
}

impl Jobs {
    /// Registers a job unless one runs for the database already.
    fn start(&self, job: Job) -> Result<Arc<Job>, SqlError> {
        let mut jobs = self.jobs.lock();
        if let Some(running) = jobs.iter().find(|j| j.db == job.db && j.running()) {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!(
                    "Can only run one backup or restore job of a database at same time: {} job {} \
                     of database {} is running",
                    if running.restore { "restore" } else { "backup" },
                    running.id,
                    job.db
                ),
            ));
        }
        let job = Arc::new(job);
        // The last job per database and kind is what SHOW shows; keep a few more.
        jobs.push(Arc::clone(&job));
        if jobs.len() > 100 {
            jobs.remove(0);
        }
        Ok(job)
    }

    fn last(&self, db: &str, restore: bool) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .iter()
            .rev()
            .find(|j| j.db == db && j.restore == restore)
            .cloned()
    }

    pub(crate) fn backup_running_to(&self, repository: &str) -> bool {
        self.jobs
            .lock()
            .iter()
            .any(|j| !j.restore && j.repository == repository && j.running())
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

fn snapshot_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.naive_utc().format("%Y-%m-%d-%H-%M-%S-%3f").to_string())
        .unwrap_or_default()
}

fn spec(r: &Repository) -> RepositorySpec {
    RepositorySpec {
        location: r.location.clone(),
        properties: r.properties.clone(),
    }
}

fn timeout_property(value: &str) -> Result<u64, SqlError> {
    value.parse::<u64>().ok().filter(|t| *t > 0).ok_or_else(|| {
        invalid(format!(
            "timeout must be a positive number of seconds: '{value}'"
        ))
    })
}

impl Session {
    /// `BACKUP SNAPSHOT …`: takes the cut and starts the job.
    pub(crate) async fn backup(&mut self, stmt: BackupStmt) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&stmt.db)?;
        let repository = self.repository(&stmt.repository)?;
        if repository.read_only {
            return Err(invalid(format!(
                "Repository {} is read only",
                repository.name
            )));
        }
        check_name("snapshot name", &stmt.snapshot)?;
        let mut upload_all = true;
        let mut timeout_secs = DEFAULT_TIMEOUT_SECS;
        for (k, v) in &stmt.properties {
            match k.to_ascii_lowercase().as_str() {
                "type" => {
                    upload_all = match v.to_ascii_lowercase().as_str() {
                        "full" => true,
                        "incremental" => false,
                        _ => {
                            return Err(invalid(format!(
                                "type must be full or incremental, not '{v}'"
                            )));
                        }
                    }
                }
                "timeout" => timeout_secs = timeout_property(v)?,
                _ => return Err(invalid(format!("Unknown backup property: {k}"))),
            }
        }
        if stmt.objects.iter().any(|o| o.alias.is_some()) {
            return Err(invalid("BACKUP does not rename tables; use AS in RESTORE"));
        }
        let tables = self.cut(&db, &stmt.objects)?;
        let created_ms = crate::now_ms();
        let fe = Arc::clone(&self.fe);
        let job = fe.backups.start(Job {
            id: fe.backups.new_id(),
            restore: false,
            db: db.clone(),
            snapshot: stmt.snapshot.clone(),
            repository: repository.name.clone(),
            objects: tables
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            timestamp: snapshot_timestamp(created_ms),
            created_ms,
            timeout_secs,
            transfer: Arc::new(Transfer::default()),
            state: Mutex::new(JobState {
                state: "SNAPSHOTING",
                ..JobState::default()
            }),
        })?;
        let kind = if upload_all { "full" } else { "incremental" };
        let work = {
            let job = Arc::clone(&job);
            async move { run_backup(&fe, &job, repository, tables, upload_all, kind).await }
        };
        spawn_job(job, "backup", work, async {});
        Ok(QueryResult::ok())
    }

    /// The tables to back up, each with only the chosen partitions, read at one instant.
    fn cut(&self, db: &str, objects: &[BackupObject]) -> Result<Vec<Table>, SqlError> {
        let catalog = self.fe.catalog().read();
        let database = catalog
            .database(db)
            .ok_or_else(|| crate::error::unknown_db(db))?;
        let mut tables: Vec<Table> = if objects.is_empty() {
            catalog
                .tables
                .values()
                .filter(|t| t.db_id == database.id)
                .map(|t| t.as_ref().clone())
                .collect()
        } else {
            let mut out = vec![];
            for o in objects {
                let mut t = catalog
                    .table(db, &o.name)
                    .ok_or_else(|| {
                        SqlError::new(
                            ErrorCode::ER_NO_SUCH_TABLE,
                            format!("Unknown table '{db}.{}'", o.name),
                        )
                    })?
                    .as_ref()
                    .clone();
                keep_partitions(&mut t, &o.partitions, "does not exist in table")?;
                if out.iter().any(|x: &Table| x.id == t.id) {
                    return Err(invalid(format!("Table {} is listed twice", o.name)));
                }
                out.push(t);
            }
            out
        };
        if tables.is_empty() {
            return Err(invalid(format!("Database {db} has no tables to back up")));
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tables)
    }

    /// `RESTORE SNAPSHOT …`: checks the snapshot and the target names, and starts the job.
    pub(crate) async fn restore(&mut self, stmt: RestoreStmt) -> Result<QueryResult, SqlError> {
        let repository = self.repository(&stmt.repository)?;
        let mut timestamp = None;
        let mut timeout_secs = DEFAULT_TIMEOUT_SECS;
        let mut replication_num = None;
        for (k, v) in &stmt.properties {
            match k.to_ascii_lowercase().as_str() {
                "backup_timestamp" => timestamp = Some(v.clone()),
                "timeout" => timeout_secs = timeout_property(v)?,
                "replication_num" => {
                    let n: u32 = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        invalid(format!("replication_num must be a positive number: '{v}'"))
                    })?;
                    replication_num = Some(n);
                }
                // Loads into other tables go on during a restore; the restored tables do not
                // exist until it finishes, so there is nothing to allow or disallow.
                "allow_load" => {}
                _ => return Err(invalid(format!("Unknown restore property: {k}"))),
            }
        }
        let target_db = match (&stmt.new_db, &stmt.db) {
            (Some(new), _) => new.clone(),
            (None, db) => self.db_of(db)?,
        };
        let repo = open_repo(&repository)?;
        let id = find_snapshot(
            &repo,
            &repository.name,
            &stmt.snapshot,
            timestamp.as_deref(),
        )
        .await?;
        let manifest = read_manifest(&repo, &id).await?;
        let mut chosen: Vec<(TableSnapshot, String)> = vec![];
        if stmt.objects.is_empty() {
            chosen.extend(
                manifest
                    .tables
                    .iter()
                    .map(|t| (t.clone(), t.table.name.clone())),
            );
        } else {
            for o in &stmt.objects {
                let Some(t) = manifest
                    .tables
                    .iter()
                    .find(|t| t.table.name.eq_ignore_ascii_case(&o.name))
                else {
                    return Err(invalid(format!("Table {} is not in snapshot {id}", o.name)));
                };
                let mut t = t.clone();
                keep_partitions(
                    &mut t.table,
                    &o.partitions,
                    "is not in the snapshot for table",
                )?;
                chosen.push((t, o.alias.clone().unwrap_or_else(|| o.name.clone())));
            }
        }
        for (t, _) in &mut chosen {
            if let (Some(n), TableKind::Olap(olap)) = (replication_num, &mut t.table.kind) {
                olap.properties
                    .insert("replication_num".to_string(), n.to_string());
            }
        }
        self.check_free(&target_db, chosen.iter().map(|(_, n)| n.as_str()))?;
        let fe = Arc::clone(&self.fe);
        let created_ms = crate::now_ms();
        let job = fe.backups.start(Job {
            id: fe.backups.new_id(),
            restore: true,
            db: target_db.clone(),
            snapshot: id.name.clone(),
            repository: repository.name.clone(),
            objects: chosen
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            timestamp: id.timestamp.clone(),
            created_ms,
            timeout_secs,
            transfer: Arc::new(Transfer::default()),
            state: Mutex::new(JobState {
                state: "PENDING",
                ..JobState::default()
            }),
        })?;
        let work = {
            let (fe, job) = (Arc::clone(&fe), Arc::clone(&job));
            async move { run_restore(&fe, &job, &repository, target_db, chosen).await }
        };
        let cleanup = {
            let job = Arc::clone(&job);
            async move { drop_created(&fe, &job).await }
        };
        spawn_job(job, "restore", work, cleanup);
        Ok(QueryResult::ok())
    }

    /// Fails when a table of these names exists in `db`.
    fn check_free<'a>(
        &self,
        db: &str,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), SqlError> {
        let catalog = self.fe.catalog().read();
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(invalid(format!("Table {name} would be restored twice")));
            }
            if catalog.table(db, name).is_some() {
                return Err(SqlError::new(
                    ErrorCode::ER_TABLE_EXISTS_ERROR,
                    format!(
                        "Table '{name}' already exists in database {db}: restore it AS another \
                         name, into another database (DATABASE d AS d2), or drop it first"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `CANCEL BACKUP|RESTORE [FROM db]`.
    pub(crate) async fn cancel_backup(
        &mut self,
        restore: bool,
        db: Option<String>,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&db)?;
        let kind = if restore { "restore" } else { "backup" };
        let job = self
            .fe
            .backups
            .last(&db, restore)
            .filter(|j| j.running())
            .ok_or_else(|| invalid(format!("No running {kind} job in database {db}")))?;
        {
            let mut st = job.state.lock();
            if st.state == "COMMITTING" {
                return Err(invalid(format!(
                    "The {kind} job {} is committing and can no longer be cancelled",
                    job.id
                )));
            }
            st.state = "CANCELLED";
            st.error = Some("cancelled by user".to_string());
            st.finished_ms = Some(crate::now_ms());
            if let Some(abort) = st.abort.take() {
                abort.abort();
            }
        }
        drop_created(&self.fe, &job).await;
        Ok(QueryResult::ok())
    }

    /// `SHOW BACKUP` / `SHOW RESTORE`: the database's last job, StarRocks' columns.
    pub(crate) async fn show_backup(
        &mut self,
        restore: bool,
        db: Option<String>,
        filter: Option<ShowFilter>,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&db)?;
        let job = self.fe.backups.last(&db, restore);
        let text = |v: Option<i64>| s(v.map(ms_text).unwrap_or_else(|| "NULL".to_string()));
        let b = if restore {
            let mut b = ResultBuilder::text(
                &[
                    &[
                        "JobId",
                        "Label",
                        "Timestamp",
                        "DbName",
                        "State",
                        "AllowLoad",
                        "ReplicationNum",
                        "RestoreObjs",
                        "CreateTime",
                        "MetaPreparedTime",
                        "SnapshotFinishedTime",
                        "DownloadFinishedTime",
                        "FinishedTime",
                    ][..],
                    &JOB_TAIL[..],
                ]
                .concat(),
            );
            if let Some(j) = job {
                let st = j.state.lock();
                b.row(
                    [
                        s(j.id.to_string()),
                        s(&j.snapshot),
                        s(&j.timestamp),
                        s(&j.db),
                        s(st.state),
                        s("true"),
                        s("1"),
                        s(&j.objects),
                        s(ms_text(j.created_ms)),
                        text(st.snapshot_ms),
                        text(st.snapshot_ms),
                        text(st.transfer_ms),
                        text(st.finished_ms),
                    ]
                    .into_iter()
                    .chain(j.tail(&st))
                    .collect(),
                );
            }
            b
        } else {
            let mut b = ResultBuilder::text(
                &[
                    &[
                        "JobId",
                        "SnapshotName",
                        "DbName",
                        "State",
                        "BackupObjs",
                        "CreateTime",
                        "SnapshotFinishedTime",
                        "UploadFinishedTime",
                        "FinishedTime",
                    ][..],
                    &JOB_TAIL[..],
                ]
                .concat(),
            );
            if let Some(j) = job {
                let st = j.state.lock();
                b.row(
                    [
                        s(j.id.to_string()),
                        s(&j.snapshot),
                        s(&j.db),
                        s(st.state),
                        s(&j.objects),
                        s(ms_text(j.created_ms)),
                        text(st.snapshot_ms),
                        text(st.transfer_ms),
                        text(st.finished_ms),
                    ]
                    .into_iter()
                    .chain(j.tail(&st))
                    .collect(),
                );
            }
            b
        };
        self.filtered(b, filter, 1).await
    }
}

/// Keeps only the named partitions of a table (all when none are named).
fn keep_partitions(table: &mut Table, names: &[String], missing: &str) -> Result<(), SqlError> {
    if names.is_empty() {
        return Ok(());
    }
    let TableKind::Olap(olap) = &mut table.kind else {
        return Err(invalid(format!(
            "{} is a view: it has no partitions",
            table.name
        )));
    };
    let has = |p: &str| {
        olap.partitions
            .iter()
            .any(|x| x.name.eq_ignore_ascii_case(p))
    };
    if let Some(p) = names.iter().find(|p| !has(p)) {
        return Err(invalid(format!("Partition {p} {missing} {}", table.name)));
    }
    olap.partitions
        .retain(|x| names.iter().any(|p| p.eq_ignore_ascii_case(&x.name)));
    Ok(())
}

/// Runs a job's work in the background within its timeout; a failure (or the timeout)
/// cancels the job with the reason, after `cleanup`.
fn spawn_job<W, C>(job: Arc<Job>, what: &'static str, work: W, cleanup: C)
where
    W: Future<Output = Result<(), SqlError>> + Send + 'static,
    C: Future<Output = ()> + Send + 'static,
{
    let task = {
        let job = Arc::clone(&job);
        async move {
            let limit = std::time::Duration::from_secs(job.timeout_secs);
            let outcome = tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                Err(SqlError::new(
                    ErrorCode::ER_QUERY_TIMEOUT,
                    format!(
                        "the {what} took longer than its timeout ({} s)",
                        job.timeout_secs
                    ),
                ))
            });
            if let Err(e) = outcome {
                tracing::warn!(job = job.id, "{what} failed: {}", e.message);
                job.fail(e.message);
                cleanup.await;
            }
        }
    };
    let handle = tokio::spawn(task);
    job.state.lock().abort = Some(handle.abort_handle());
}

async fn run_backup(
    fe: &Arc<Frontend>,
    job: &Arc<Job>,
    repository: Repository,
    tables: Vec<Table>,
    upload_all: bool,
    kind: &str,
) -> Result<(), SqlError> {
    let repo = open_repo(&repository)?;
    // One complete replica of each tablet, on a live backend.
    let mut tablets: Vec<(TabletId, u64, BackendId)> = vec![];
    for p in tables
        .iter()
        .filter_map(|t| t.olap())
        .flat_map(|o| &o.partitions)
    {
        for (bucket, t) in p.tablets.iter().enumerate() {
            let backend = crate::replica::read_from(fe.cluster(), p, bucket)?;
            tablets.push((*t, p.visible_version, backend));
        }
    }
    if !job.advance("UPLOADING") {
        return Ok(());
    }
    let backups = fe
        .cluster()
        .backup_tablets(
            &job.id.to_string(),
            spec(&repository),
            tablets,
            upload_all,
            Arc::clone(&job.transfer),
        )
        .await?;
    let mut by_tablet: HashMap<TabletId, TabletBackup> =
        backups.into_iter().map(|b| (b.tablet, b)).collect();
    if !job.advance("SAVE_META") {
        return Ok(());
    }
    let mut snapshots = Vec::with_capacity(tables.len());
    for table in tables {
        let tablets = table
            .olap()
            .map(|o| {
                o.partitions
                    .iter()
                    .flat_map(|p| &p.tablets)
                    .map(|t| {
                        by_tablet.remove(t).ok_or_else(|| {
                            SqlError::internal(format!("tablet {t} was not backed up"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        snapshots.push(TableSnapshot { table, tablets });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        snapshot: job.snapshot.clone(),
        timestamp: job.timestamp.clone(),
        database: job.db.clone(),
        kind: kind.to_string(),
        created_ms: job.created_ms,
        tables: snapshots,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| SqlError::internal(e.to_string()))?;
    if !job.advance("UPLOAD_INFO") {
        return Ok(());
    }
    let id = SnapshotId {
        name: job.snapshot.clone(),
        timestamp: job.timestamp.clone(),
    };
    repo.put_manifest(&id, &body).await?;
    job.advance("FINISHED");
    Ok(())
}

async fn run_restore(
    fe: &Arc<Frontend>,
    job: &Arc<Job>,
    repository: &Repository,
    target_db: String,
    chosen: Vec<(TableSnapshot, String)>,
) -> Result<(), SqlError> {
    // New ids for every table, partition and tablet.
    let mut tables = Vec::with_capacity(chosen.len());
    let mut restores: Vec<(BackendId, TabletMeta, TabletBackup)> = vec![];
    {
        let mut w = fe.catalog().writer().await;
        let mut placer = fe.cluster().placer(&w.read().tablets_per_backend())?;
        for (snapshot, name) in chosen {
            let mut table = snapshot.table;
            let mut backups: HashMap<TabletId, TabletBackup> = snapshot
                .tablets
                .into_iter()
                .map(|t| (t.tablet, t))
                .collect();
            table.id = TableId(w.next_id()?);
            table.name = name;
            let table_id = table.id;
            if let TableKind::Olap(olap) = &mut table.kind {
                let shape = olap.clone();
                for p in olap.partitions.iter_mut() {
                    p.id = PartitionId(w.next_id()?);
                    let mut new_tablets = Vec::with_capacity(p.tablets.len());
                    // One replica each, from the snapshot's files; more copies come
                    // when replicas are repaired.
                    let backends = placer.take_replicas(p.tablets.len(), 1);
                    for (old, copies) in p.tablets.iter().zip(&backends) {
                        let backend = copies
                            .first()
                            .copied()
                            .unwrap_or(rigel_common::ids::EMBEDDED_BACKEND);
                        let backup = backups.remove(old).ok_or_else(|| {
                            SqlError::new(
                                ErrorCode::ER_IO_ERROR,
                                format!(
                                    "snapshot {} names no files for tablet {old}",
                                    job.snapshot
                                ),
                            )
                        })?;
                        let id = TabletId(w.next_id()?);
                        new_tablets.push(id);
                        restores.push((backend, tablet_meta(&shape, table_id, p.id, id), backup));
                    }
                    p.tablets = new_tablets;
                    p.place(&backends);
                }
            }
            tables.push(table);
        }
    }
    job.state.lock().created_tablets = restores.iter().map(|(b, m, _)| (m.tablet_id, *b)).collect();
    if !job.advance("DOWNLOADING") {
        return Ok(());
    }
    fe.cluster()
        .restore_tablets(
            &job.id.to_string(),
            spec(repository),
            restores,
            Arc::clone(&job.transfer),
        )
        .await?;
    if !job.advance("COMMITTING") {
        return Ok(());
    }
    let mut w = fe.catalog().writer().await;
    let mut entries = vec![];
    let existing = w.read().database(&target_db).map(|d| d.id);
    let db_id = match existing {
        Some(id) => id,
        None => {
            let id = DbId(w.next_id()?);
            entries.push(JournalEntry::CreateDatabase {
                id,
                name: target_db.clone(),
                created_ms: crate::now_ms(),
            });
            id
        }
    };
    let now = crate::now_ms();
    for mut table in tables {
        if w.read().table(&target_db, &table.name).is_some() {
            return Err(SqlError::new(
                ErrorCode::ER_TABLE_EXISTS_ERROR,
                format!(
                    "Table '{}' was created in database {target_db} while it was being restored",
                    table.name
                ),
            ));
        }
        table.db_id = db_id;
        table.created_ms = now;
        table.updated_ms = now;
        entries.push(JournalEntry::PutTable {
            table: Box::new(table),
        });
    }
    w.commit(entries)?;
    job.state.lock().created_tablets.clear();
    job.advance("FINISHED");
    Ok(())
}

/// Drops what a failed or cancelled restore created.
async fn drop_created(fe: &Arc<Frontend>, job: &Job) {
    let tablets = std::mem::take(&mut job.state.lock().created_tablets);
    if tablets.is_empty() {
        return;
    }
    if let Err(e) = fe.cluster().drop_tablets(tablets).await {
        tracing::warn!(
            job = job.id,
            "dropping the tablets of a failed restore: {}",
            e.message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_starrocks() {
        assert_eq!(
            snapshot_timestamp(1_733_739_958_842),
            "2024-12-09-10-25-58-842"
        );
    }

    #[test]
    fn one_job_per_database() {
        let jobs = Jobs::default();
        let job = |db: &str, restore| Job {
            id: jobs.new_id(),
            restore,
            db: db.to_string(),
            snapshot: "s".into(),
            repository: "r".into(),
            objects: String::new(),
            timestamp: String::new(),
            created_ms: 0,
            timeout_secs: 1,
            transfer: Arc::default(),
            state: Mutex::new(JobState {
                state: "PENDING",
                ..JobState::default()
            }),
        };
        let a = jobs.start(job("d", false)).unwrap();
        assert!(jobs.start(job("d", true)).is_err());
        jobs.start(job("e", true)).unwrap();
        assert!(jobs.backup_running_to("r"));
        a.fail("x".into());
        assert!(!jobs.backup_running_to("r"));
        jobs.start(job("d", true)).unwrap();
        assert_eq!(jobs.last("d", false).unwrap().id, a.id);
    }
}
