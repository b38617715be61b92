//! The catalog state machine: journal entries and how they apply.
//!
//! `apply` is deterministic — ids and times are decided before an entry is written — so
//! replaying the journal always rebuilds the same state, and the same entries can later be
//! replicated through Raft.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rigel_common::ids::{BackendId, DbId, PartitionId, TableId, TabletId, TxnId};
use serde::{Deserialize, Serialize};

use super::account::{RoleDef, UserAccount, account_key};
use super::model::{Database, Partition, Table, TableKind};

/// How many committed transactions are remembered for publish recovery.
const RECENT_COMMITS: usize = 100_000;

/// A committed load transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// Transaction.
    pub txn_id: TxnId,
    /// Database.
    pub db_id: DbId,
    /// Table.
    pub table_id: TableId,
    /// Label.
    pub label: String,
    /// New version of each partition written.
    pub partitions: Vec<(PartitionId, u64)>,
    /// Tablets written, with the version each must be published at.
    pub tablets: Vec<(TabletId, u64)>,
    /// Rows loaded.
    pub rows: u64,
    /// Commit time (ms).
    pub commit_ms: i64,
    /// Replicas of written tablets whose backend did not prepare the load (the commit had
    /// a quorum without them): from this version on they are incomplete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<(TabletId, BackendId)>,
}

/// One catalog change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalEntry {
    /// Ids below `next` may be handed out.
    ReserveIds {
        /// New upper bound.
        next: u64,
    },
    /// A new database.
    CreateDatabase {
        /// Id.
        id: DbId,
        /// Name.
        name: String,
        /// Creation time.
        created_ms: i64,
    },
    /// A dropped database (and all its tables).
    DropDatabase {
        /// Id.
        id: DbId,
    },
    /// A new table, or a new definition of an existing one (ALTER, TRUNCATE, rename).
    PutTable {
        /// The table.
        table: Box<Table>,
    },
    /// A dropped table: it moves to the recycle bin (its tablets stay until purged).
    DropTable {
        /// Id.
        id: TableId,
        /// When (ms; 0 in journals written before the recycle bin, which purges them at once).
        #[serde(default)]
        dropped_ms: i64,
    },
    /// A table back from the recycle bin, under its old name.
    RecoverTable {
        /// Id.
        id: TableId,
    },
    /// A table gone from the recycle bin for good (its tablets are dropped).
    PurgeTable {
        /// Id.
        id: TableId,
    },
    /// A dropped partition (the table's new definition comes in a `PutTable`).
    RecyclePartition {
        /// Its table.
        table_id: TableId,
        /// The partition.
        partition: Box<Partition>,
        /// When (ms).
        dropped_ms: i64,
    },
    /// A partition gone from the recycle bin: recovered (with a `PutTable`) or purged.
    ForgetPartition {
        /// Id.
        id: PartitionId,
    },
    /// A committed load.
    CommitTxn(CommitRecord),
    /// Forget the labels of loads committed before `before_ms`.
    PruneLabels {
        /// Cut-off time (ms).
        before_ms: i64,
    },
    /// `SET GLOBAL`.
    SetGlobalVariable {
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
    /// An account created or changed (password, grants).
    PutUser {
        /// The account as it is now.
        user: UserAccount,
    },
    /// An account dropped.
    DropUser {
        /// Name.
        name: String,
        /// Host pattern.
        host: String,
    },
    /// A role created or changed.
    PutRole {
        /// The role as it is now.
        role: RoleDef,
    },
    /// A role dropped (and taken from every account and role that had it).
    DropRole {
        /// Name.
        name: String,
    },
    /// `CREATE REPOSITORY`.
    PutRepository {
        /// The repository.
        repository: Repository,
    },
    /// `DROP REPOSITORY`.
    DropRepository {
        /// Name.
        name: String,
    },
    /// The cluster's id, chosen when its first frontend starts (once).
    SetClusterId {
        /// The id; backends keep it and refuse other clusters.
        cluster_id: u32,
    },
    /// `ALTER SYSTEM ADD BACKEND`.
    AddBackend {
        /// The backend.
        backend: BackendRecord,
    },
    /// `ALTER SYSTEM DROP BACKEND`.
    DropBackend {
        /// Its id.
        id: BackendId,
    },
}

/// A backend of the cluster, as `ALTER SYSTEM ADD BACKEND` named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendRecord {
    /// Its id.
    pub id: BackendId,
    /// Host (name or address) the frontend reaches it at.
    pub host: String,
    /// Its `heartbeat_service_port`.
    pub heartbeat_port: u16,
    /// When it was added (ms).
    pub added_ms: i64,
}

impl BackendRecord {
    /// `host:heartbeat_port`, as ALTER SYSTEM names it.
    pub fn address(&self) -> String {
        rigel_common::host::join_host_port(&self.host, self.heartbeat_port)
    }
}

/// A backup repository: where snapshots are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Location URL (`file:///path`).
    pub location: String,
    /// Only restores may read it.
    pub read_only: bool,
    /// Properties as given (credentials are never shown).
    pub properties: BTreeMap<String, String>,
    /// Creation time (ms).
    pub created_ms: i64,
}

/// Everything the catalog holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CatalogState {
    /// Ids below this are reserved (by the journal).
    pub reserved_ids: u64,
    /// Databases.
    pub databases: BTreeMap<DbId, Database>,
    /// Tables and views.
    pub tables: BTreeMap<TableId, Arc<Table>>,
    /// Global variables set with `SET GLOBAL`.
    pub global_variables: BTreeMap<String, String>,
    /// Recently committed transactions.
    pub commits: BTreeMap<TxnId, CommitRecord>,
    /// Labels of committed loads per database: transaction and commit time.
    #[serde(default)]
    pub labels: BTreeMap<DbId, BTreeMap<String, (TxnId, i64)>>,
    /// Dropped tables that RECOVER TABLE can bring back, with the drop time (ms).
    #[serde(default)]
    pub recycled_tables: BTreeMap<TableId, (Arc<Table>, i64)>,
    /// Dropped partitions that RECOVER PARTITION can bring back: table, partition, drop
    /// time (ms).
    #[serde(default)]
    pub recycled_partitions: BTreeMap<PartitionId, (TableId, Partition, i64)>,
    /// Accounts by `name@host`. `root@%` without a password and with every privilege exists
    /// until it is given a password.
    #[serde(default)]
    pub users: BTreeMap<String, UserAccount>,
    /// Roles created with CREATE ROLE (and `public` once changed), by name.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleDef>,
    /// Backup repositories, by name.
    #[serde(default)]
    pub repositories: BTreeMap<String, Repository>,
    /// The cluster's id (0 until the first frontend chose it).
    #[serde(default)]
    pub cluster_id: u32,
    /// Backends added with ALTER SYSTEM ADD BACKEND (none in `rigel server`, whose backend
    /// is part of the process).
    #[serde(default)]
    pub backends: BTreeMap<BackendId, BackendRecord>,
}

impl CatalogState {
    /// Applies one entry.
    pub fn apply(&mut self, entry: &JournalEntry) {
        match entry {
            JournalEntry::ReserveIds { next } => {
                self.reserved_ids = self.reserved_ids.max(*next);
            }
            JournalEntry::CreateDatabase {
                id,
                name,
                created_ms,
            } => {
                self.databases.insert(
                    *id,
                    Database {
                        id: *id,
                        name: name.clone(),
                        tables: BTreeMap::new(),
                        created_ms: *created_ms,
                    },
                );
            }
            JournalEntry::DropDatabase { id } => {
                self.labels.remove(id);
                if let Some(db) = self.databases.remove(id) {
                    for table in db.tables.values() {
                        self.tables.remove(table);
                    }
                }
            }
            JournalEntry::PutTable { table } => {
                let table: Arc<Table> = Arc::new((**table).clone());
                if let Some(old) = self.tables.get(&table.id)
                    && let Some(db) = self.databases.get_mut(&old.db_id)
                {
                    db.tables.remove(&old.name);
                }
                if let Some(db) = self.databases.get_mut(&table.db_id) {
                    db.tables.insert(table.name.clone(), table.id);
                }
                self.tables.insert(table.id, table);
            }
            JournalEntry::DropTable { id, dropped_ms } => {
                if let Some(old) = self.tables.remove(id) {
                    if let Some(db) = self.databases.get_mut(&old.db_id) {
                        db.tables.remove(&old.name);
                    }
                    if old.olap().is_some() {
                        self.recycled_tables.insert(*id, (old, *dropped_ms));
                    }
                }
            }
            JournalEntry::RecoverTable { id } => {
                if let Some((table, _)) = self.recycled_tables.remove(id)
                    && let Some(db) = self.databases.get_mut(&table.db_id)
                {
                    db.tables.insert(table.name.clone(), table.id);
                    self.tables.insert(table.id, table);
                }
            }
            JournalEntry::PurgeTable { id } => {
                self.recycled_tables.remove(id);
            }
            JournalEntry::RecyclePartition {
                table_id,
                partition,
                dropped_ms,
            } => {
                self.recycled_partitions.insert(
                    partition.id,
                    (*table_id, (**partition).clone(), *dropped_ms),
                );
            }
            JournalEntry::ForgetPartition { id } => {
                self.recycled_partitions.remove(id);
            }
            JournalEntry::PutUser { user } => {
                self.users.insert(user.key(), user.clone());
            }
            JournalEntry::DropUser { name, host } => {
                self.users.remove(&account_key(name, host));
            }
            JournalEntry::PutRepository { repository } => {
                self.repositories
                    .insert(repository.name.clone(), repository.clone());
            }
            JournalEntry::DropRepository { name } => {
                self.repositories.remove(name);
            }
            JournalEntry::SetClusterId { cluster_id } => {
                if self.cluster_id == 0 {
                    self.cluster_id = *cluster_id;
                }
            }
            JournalEntry::AddBackend { backend } => {
                self.backends.insert(backend.id, backend.clone());
            }
            JournalEntry::DropBackend { id } => {
                self.backends.remove(id);
            }
            JournalEntry::PutRole { role } => {
                self.roles.insert(role.name.clone(), role.clone());
            }
            JournalEntry::DropRole { name } => {
                self.roles.remove(name);
                for u in self.users.values_mut() {
                    u.roles.retain(|r| r != name);
                    u.default_roles.retain(|r| r != name);
                }
                for r in self.roles.values_mut() {
                    r.roles.retain(|x| x != name);
                }
            }
            JournalEntry::CommitTxn(record) => {
                if let Some(table) = self.tables.get_mut(&record.table_id) {
                    let t = Arc::make_mut(table);
                    if let TableKind::Olap(olap) = &mut t.kind {
                        for (pid, version) in &record.partitions {
                            if let Some(p) = olap.partitions.iter_mut().find(|p| p.id == *pid) {
                                p.visible_version = p.visible_version.max(*version);
                                p.visible_version_time_ms = record.commit_ms;
                                mark_missed(p, &record.missed, *version);
                            }
                        }
                    }
                }
                if !record.label.is_empty() {
                    self.labels
                        .entry(record.db_id)
                        .or_default()
                        .insert(record.label.clone(), (record.txn_id, record.commit_ms));
                }
                self.commits.insert(record.txn_id, record.clone());
                while self.commits.len() > RECENT_COMMITS {
                    self.commits.pop_first();
                }
            }
            JournalEntry::PruneLabels { before_ms } => {
                for labels in self.labels.values_mut() {
                    labels.retain(|_, (_, at)| *at >= *before_ms);
                }
                self.labels.retain(|_, m| !m.is_empty());
            }
            JournalEntry::SetGlobalVariable { name, value } => {
                self.global_variables.insert(name.clone(), value.clone());
            }
        }
    }

    /// Database by name.
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.values().find(|d| d.name == name)
    }

    /// Table by database and name.
    pub fn table(&self, db: &str, name: &str) -> Option<Arc<Table>> {
        let db = self.database(db)?;
        let id = db.tables.get(name).or_else(|| {
            // Unquoted names reach us lower-cased; fall back to a unique case-insensitive match.
            let mut matches = db
                .tables
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name));
            match (matches.next(), matches.next()) {
                (Some((_, id)), None) => Some(id),
                _ => None,
            }
        })?;
        self.tables.get(id).cloned()
    }

    /// Every replica of every tablet of every table, those in the recycle bin included:
    /// the (tablet, backend) pairs.
    pub fn tablet_placement(&self) -> std::collections::HashSet<(TabletId, BackendId)> {
        let recycled_partitions = self
            .recycled_partitions
            .values()
            .flat_map(|(_, p, _)| p.placed_tablets());
        self.tables
            .values()
            .chain(self.recycled_tables.values().map(|(t, _)| t))
            .filter_map(|t| t.olap())
            .flat_map(|o| o.placed_tablets())
            .chain(recycled_partitions)
            .collect()
    }

    /// How many tablets each backend holds.
    pub fn tablets_per_backend(&self) -> HashMap<BackendId, usize> {
        let mut counts = HashMap::new();
        for (_, b) in self.tablet_placement() {
            *counts.entry(b).or_insert(0) += 1;
        }
        counts
    }

    /// Every tablet of every table, those in the recycle bin included.
    pub fn all_tablets(&self) -> std::collections::HashSet<TabletId> {
        let recycled_partitions = self
            .recycled_partitions
            .values()
            .flat_map(|(_, p, _)| p.tablets.iter().copied());
        self.tables
            .values()
            .chain(self.recycled_tables.values().map(|(t, _)| t))
            .filter_map(|t| t.olap())
            .flat_map(|o| o.all_tablets())
            .chain(recycled_partitions)
            .collect()
    }
}

/// Marks the replicas of `p` a commit at `version` missed as lacking it (a replica that
/// already lacks an earlier version keeps that one).
fn mark_missed(p: &mut Partition, missed: &[(TabletId, BackendId)], version: u64) {
    if missed.is_empty() {
        return;
    }
    for (bucket, tablet) in p.tablets.iter().enumerate() {
        let Some(replicas) = p.replicas.get_mut(bucket) else {
            continue;
        };
        for r in replicas.iter_mut() {
            if r.missing_from.is_none() && missed.contains(&(*tablet, r.backend)) {
                r.missing_from = Some(version);
            }
        }
    }
}

#[cfg(test)]
mod tests;
