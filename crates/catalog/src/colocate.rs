//! Colocation groups (`"colocate_with" = "<group>"`, as in StarRocks): the tables of a
//! group, in one database, have the same bucket count and distribution column types, and
//! bucket `b` of every partition of each of them lives on the same backend. A join of two
//! tables of a group on their distribution columns then reads every bucket where it is.

use rigel_common::ids::{BackendId, DbId};
use rigel_common::{ErrorCode, SqlError};

use crate::error::Result;
use crate::model::{Distribution, OlapTable};
use crate::state::CatalogState;

/// The table property naming a table's colocation group.
pub const COLOCATE_WITH: &str = "colocate_with";

fn mismatch(msg: String) -> SqlError {
    SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, msg)
}

impl CatalogState {
    /// Where the buckets of a new partition of `olap`, a table of database `db`, go: the
    /// backends of each bucket's replicas in the first partition of the group's first table (by id),
    /// when the table is in a colocation group that has tablets. `None` when it is in no
    /// group or its group has none yet. An error when the table does not fit its group.
    pub fn colocate_sequence(
        &self,
        db: DbId,
        olap: &OlapTable,
    ) -> Result<Option<Vec<Vec<BackendId>>>> {
        let Some(group) = olap.properties.get(COLOCATE_WITH) else {
            return Ok(None);
        };
        let Distribution::Hash { columns, buckets } = &olap.distribution else {
            return Err(mismatch(format!(
                "Colocate table of group '{group}' must be distributed by hash"
            )));
        };
        let mut members: Vec<_> = self
            .tables
            .values()
            .filter(|t| t.db_id == db)
            .filter_map(|t| t.olap().map(|o| (t.id, o)))
            .filter(|(_, o)| o.properties.get(COLOCATE_WITH) == Some(group))
            .collect();
        members.sort_by_key(|(id, _)| *id);
        let Some((_, first)) = members.iter().find(|(_, o)| !o.partitions.is_empty()) else {
            return Ok(None);
        };
        let Distribution::Hash {
            columns: their_columns,
            buckets: their_buckets,
        } = &first.distribution
        else {
            return Ok(None);
        };
        if buckets != their_buckets {
            return Err(mismatch(format!(
                "Colocate tables must have same bucket num: {buckets} should be {their_buckets}"
            )));
        }
        if columns.len() != their_columns.len() {
            return Err(mismatch(format!(
                "Colocate tables distribution columns size must be same: {} should be {}",
                columns.len(),
                their_columns.len()
            )));
        }
        for (mine, theirs) in columns.iter().zip(their_columns) {
            let (Some(a), Some(b)) = (olap.column(mine), first.column(theirs)) else {
                continue;
            };
            if a.ty != b.ty {
                return Err(mismatch(format!(
                    "Colocate tables distribution columns must have the same data type: {} should be {}",
                    a.ty, b.ty
                )));
            }
        }
        Ok(first.partitions.first().map(|p| p.tablet_backends()))
    }
}

/// A colocation group, as `SHOW PROC '/colocation_group'` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColocateGroup {
    /// Its database.
    pub db: DbId,
    /// Its name (the `colocate_with` value).
    pub name: String,
    /// Its tables, by id.
    pub tables: Vec<rigel_common::ids::TableId>,
    /// Their bucket count (the first table's).
    pub buckets: u32,
    /// The types of their distribution columns (the first table's).
    pub columns: Vec<rigel_common::ColumnType>,
    /// Their `replication_num` (the first table's).
    pub replication: String,
    /// Whether every bucket of every partition of every table is where the group puts it.
    pub stable: bool,
}

impl CatalogState {
    /// Every colocation group, by database and name.
    pub fn colocate_groups(&self) -> Vec<ColocateGroup> {
        let mut groups: std::collections::BTreeMap<(DbId, String), Vec<_>> = Default::default();
        for t in self.tables.values() {
            if let Some(o) = t.olap()
                && let Some(name) = o.properties.get(COLOCATE_WITH)
            {
                groups
                    .entry((t.db_id, name.clone()))
                    .or_default()
                    .push((t.id, o));
            }
        }
        groups
            .into_iter()
            .map(|((db, name), mut members)| {
                members.sort_by_key(|(id, _)| *id);
                let first = members[0].1;
                let sequence = members
                    .iter()
                    .find_map(|(_, o)| o.partitions.first())
                    .map(|p| p.tablet_backends());
                let stable = members.iter().all(|(_, o)| {
                    o.partitions
                        .iter()
                        .all(|p| sequence.as_ref().is_none_or(|s| &p.tablet_backends() == s))
                });
                let columns = match &first.distribution {
                    Distribution::Hash { columns, .. } => columns
                        .iter()
                        .filter_map(|c| first.column(c).map(|c| c.ty.clone()))
                        .collect(),
                    Distribution::Random { .. } => vec![],
                };
                ColocateGroup {
                    db,
                    name,
                    tables: members.iter().map(|(id, _)| *id).collect(),
                    buckets: first.distribution.buckets(),
                    columns,
                    replication: first
                        .properties
                        .get("replication_num")
                        .cloned()
                        .unwrap_or_else(|| "1".to_string()),
                    stable,
                }
            })
            .collect()
    }
}
