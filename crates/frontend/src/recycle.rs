//! The recycle bin: dropped tables and partitions stay recoverable with `RECOVER TABLE` /
//! `RECOVER PARTITION` for `catalog_trash_expire_second`, then their tablets are dropped.
//!
//! A drop only moves the table or partition out of sight in the catalog; its tablets keep
//! their data in the backend untouched, so a recovery is a catalog change and nothing
//! else. `DROP TABLE … FORCE` skips the bin.

use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::TableName;
use tracing::info;

use crate::Frontend;
use crate::error::unknown_db;
use crate::now_ms;
use crate::session::Session;
use rigel_catalog::{JournalEntry, PartitionScheme, TableKind};

impl Session {
    pub(crate) async fn recover_table(&mut self, name: TableName) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let mut w = self.fe.catalog().writer().await;
        let state = w.read();
        let Some(database) = state.database(&db) else {
            return Err(unknown_db(&db));
        };
        // The most recently dropped table of that name.
        let found = state
            .recycled_tables
            .values()
            .filter(|(t, _)| t.db_id == database.id && t.name.eq_ignore_ascii_case(&name.name))
            .max_by_key(|(_, at)| *at)
            .map(|(t, _)| (t.id, t.name.clone()));
        let Some((id, table_name)) = found else {
            return Err(SqlError::new(
                ErrorCode::ER_BAD_TABLE_ERROR,
                format!("Unknown table '{}' in the recycle bin", name.name),
            ));
        };
        if database.tables.contains_key(&table_name) {
            return Err(SqlError::new(
                ErrorCode::ER_TABLE_EXISTS_ERROR,
                format!("Table '{table_name}' already exists; rename it before recovering"),
            ));
        }
        drop(state);
        w.commit(vec![JournalEntry::RecoverTable { id }])?;
        Ok(QueryResult::ok())
    }

    pub(crate) async fn recover_partition(
        &mut self,
        partition: String,
        name: TableName,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let mut w = self.fe.catalog().writer().await;
        let state = w.read();
        if state.database(&db).is_none() {
            return Err(unknown_db(&db));
        }
        let Some(table) = state.table(&db, &name.name) else {
            return Err(SqlError::new(
                ErrorCode::ER_NO_SUCH_TABLE,
                format!("Table '{db}.{}' doesn't exist", name.name),
            ));
        };
        let found = state
            .recycled_partitions
            .values()
            .filter(|(t, p, _)| *t == table.id && p.name.eq_ignore_ascii_case(&partition))
            .max_by_key(|(_, _, at)| *at)
            .map(|(_, p, _)| p.clone());
        drop(state);
        let Some(recovered) = found else {
            return Err(SqlError::new(
                ErrorCode::ER_UNKNOWN_PARTITION,
                format!("Unknown partition '{partition}' in the recycle bin"),
            ));
        };
        let mut new_table = (*table).clone();
        let TableKind::Olap(olap) = &mut new_table.kind else {
            return Err(SqlError::internal("not an OLAP table"));
        };
        if matches!(olap.partition_scheme, PartitionScheme::Unpartitioned) {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_OBJECT,
                "the table is no longer partitioned",
            ));
        }
        if olap.partition(&recovered.name).is_some() {
            return Err(SqlError::new(
                ErrorCode::ER_SAME_NAME_PARTITION,
                format!("Duplicate partition name {}", recovered.name),
            ));
        }
        let types = olap.partition_types();
        rigel_catalog::partition::check_disjoint(&recovered, &olap.partitions, &types)?;
        let id = recovered.id;
        olap.partitions.push(recovered);
        crate::ddl::sort_partitions(olap, &types);
        new_table.updated_ms = now_ms();
        w.commit(vec![
            JournalEntry::PutTable {
                table: Box::new(new_table),
            },
            JournalEntry::ForgetPartition { id },
        ])?;
        Ok(QueryResult::ok())
    }
}

impl Frontend {
    /// Moves partitions past a table's `partition_live_number` to the recycle bin: of the
    /// partitions that have started, all but that many most recent ones.
    pub(crate) async fn retire_partitions(&self) -> Result<usize, SqlError> {
        let live_number = |t: &rigel_catalog::Table| -> Option<usize> {
            let o = t.olap()?;
            if !matches!(o.partition_scheme, PartitionScheme::Range { .. }) {
                return None;
            }
            o.properties
                .get("partition_live_number")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| *n > 0)
                .map(|n| n as usize)
        };
        let tables: Vec<_> = self
            .catalog()
            .read()
            .tables
            .values()
            .filter(|t| live_number(t).is_some())
            .map(|t| t.id)
            .collect();
        let now = chrono::Local::now().naive_local();
        let mut retired = 0;
        for id in tables {
            let mut w = self.catalog().writer().await;
            let Some(table) = w.read().tables.get(&id).cloned() else {
                continue;
            };
            let Some(keep) = live_number(&table) else {
                continue;
            };
            let mut new_table = (*table).clone();
            let TableKind::Olap(olap) = &mut new_table.kind else {
                continue;
            };
            let types = olap.partition_types();
            let expired =
                rigel_catalog::partition::expired_partitions(&olap.partitions, &types, keep, now)?;
            if expired.is_empty() {
                continue;
            }
            let dropped_ms = now_ms();
            let mut entries = vec![];
            olap.partitions.retain(|p| {
                if !expired.contains(&p.id) {
                    return true;
                }
                entries.push(JournalEntry::RecyclePartition {
                    table_id: id,
                    partition: Box::new(p.clone()),
                    dropped_ms,
                });
                false
            });
            retired += entries.len();
            info!(table = %table.name, partitions = entries.len(), keep, "retired partitions past partition_live_number");
            new_table.updated_ms = dropped_ms;
            entries.insert(
                0,
                JournalEntry::PutTable {
                    table: Box::new(new_table),
                },
            );
            w.commit(entries)?;
        }
        Ok(retired)
    }

    /// Drops the tablets of tables and partitions in the recycle bin for longer than
    /// `catalog_trash_expire_second` (all of them with `expire_secs` 0).
    pub(crate) async fn purge_recycle_bin(&self, expire_secs: u64) -> Result<usize, SqlError> {
        let cutoff = now_ms().saturating_sub(expire_secs.saturating_mul(1000) as i64);
        let (tables, partitions) = {
            let state = self.catalog().read();
            let tables: Vec<_> = state
                .recycled_tables
                .values()
                .filter(|(_, at)| *at <= cutoff)
                .map(|(t, _)| {
                    (
                        t.id,
                        t.olap().map(|o| o.placed_tablets()).unwrap_or_default(),
                    )
                })
                .collect();
            let partitions: Vec<_> = state
                .recycled_partitions
                .values()
                .filter(|(_, _, at)| *at <= cutoff)
                .map(|(_, p, _)| (p.id, p.placed_tablets().collect::<Vec<_>>()))
                .collect();
            (tables, partitions)
        };
        let purged = tables.len() + partitions.len();
        // A backend that misses a drop drops the tablets when it reports them next (no
        // table owns them any more).
        for (id, tablets) in tables {
            if !tablets.is_empty() {
                let _ = self.cluster().drop_tablets(tablets).await;
            }
            let mut w = self.catalog().writer().await;
            w.commit(vec![JournalEntry::PurgeTable { id }])?;
        }
        for (id, tablets) in partitions {
            if !tablets.is_empty() {
                let _ = self.cluster().drop_tablets(tablets).await;
            }
            let mut w = self.catalog().writer().await;
            w.commit(vec![JournalEntry::ForgetPartition { id }])?;
        }
        if purged > 0 {
            info!(purged, "emptied expired entries of the recycle bin");
        }
        Ok(purged)
    }
}
