//! ALTER TABLE: columns (add, drop, modify, rename, reorder), partitions, properties and
//! the rest of StarRocks' ALTER TABLE clauses.

use rigel_common::{ColumnType, ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::{
    AlterOp, ColumnDef, ColumnPosition, DefaultValue, KeysType, RangePartitionDef, TableName,
};

use super::{
    allocate_partition, column_from_def, ddl_error, now_ms, sort_partitions, table_exists,
    tablet_meta, validate_identifier, validate_property,
};
use crate::error::unknown_table;
use crate::session::Session;
use rigel_catalog::partition::{expand_list_partitions, expand_range_partitions};
use rigel_catalog::{Column, Distribution, JournalEntry, OlapTable, PartitionScheme, TableKind};

impl Session {
    pub(crate) async fn alter_table(
        &mut self,
        name: TableName,
        ops: Vec<AlterOp>,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let mut w = self.fe.catalog().writer().await;
        let table = w
            .read()
            .table(&db, &name.name)
            .ok_or_else(|| unknown_table(&db, &name.name))?;
        let mut new_table = (*table).clone();
        let mut new_tablets = vec![];
        let mut placer = self.fe.cluster().placer(&w.read().tablets_per_backend())?;
        let mut recycled = vec![];
        for op in ops {
            let TableKind::Olap(olap) = &mut new_table.kind else {
                return Err(ddl_error(
                    "ALTER TABLE needs a table; use ALTER VIEW for views",
                ));
            };
            match op {
                AlterOp::AddPartition(def) => {
                    if !matches!(olap.partition_scheme, PartitionScheme::Range { .. }) {
                        return Err(ddl_error("the table is not RANGE partitioned"));
                    }
                    let types = olap.partition_types();
                    let if_not_exists = matches!(
                        &def,
                        RangePartitionDef::LessThan {
                            if_not_exists: true,
                            ..
                        } | RangePartitionDef::Fixed {
                            if_not_exists: true,
                            ..
                        }
                    );
                    let def_name = match &def {
                        RangePartitionDef::LessThan { name, .. }
                        | RangePartitionDef::Fixed { name, .. } => Some(name.clone()),
                        RangePartitionDef::Batch { .. } => None,
                    };
                    if if_not_exists
                        && def_name
                            .as_ref()
                            .is_some_and(|n| olap.partition(n).is_some())
                    {
                        continue;
                    }
                    let parts = expand_range_partitions(&[def], &types, &olap.partitions)?;
                    for np in parts {
                        let p = allocate_partition(
                            &mut w,
                            olap,
                            table.id,
                            np,
                            &mut placer,
                            &mut new_tablets,
                        )?;
                        olap.partitions.push(p);
                    }
                    sort_partitions(olap, &types);
                }
                AlterOp::AddListPartition { name, values } => {
                    if !matches!(olap.partition_scheme, PartitionScheme::List { .. }) {
                        return Err(ddl_error("the table is not LIST partitioned"));
                    }
                    let types = olap.partition_types();
                    let parts =
                        expand_list_partitions(&[(name, values)], &types, &olap.partitions)?;
                    for np in parts {
                        let p = allocate_partition(
                            &mut w,
                            olap,
                            table.id,
                            np,
                            &mut placer,
                            &mut new_tablets,
                        )?;
                        olap.partitions.push(p);
                    }
                }
                AlterOp::DropPartition { if_exists, name } => {
                    if matches!(olap.partition_scheme, PartitionScheme::Unpartitioned) {
                        return Err(ddl_error("the table is not partitioned"));
                    }
                    match olap
                        .partitions
                        .iter()
                        .position(|p| p.name.eq_ignore_ascii_case(&name))
                    {
                        Some(i) => {
                            // Into the recycle bin (RECOVER PARTITION).
                            let p = olap.partitions.remove(i);
                            recycled.push(JournalEntry::RecyclePartition {
                                table_id: table.id,
                                partition: Box::new(p),
                                dropped_ms: now_ms(),
                            });
                        }
                        None if if_exists => {}
                        None => {
                            return Err(SqlError::new(
                                ErrorCode::ER_UNKNOWN_PARTITION,
                                format!("Unknown partition '{name}' in table '{}'", table.name),
                            ));
                        }
                    }
                }
                AlterOp::AddColumn { column, position } => {
                    add_column(olap, &column, position)?;
                }
                AlterOp::DropColumn(col) => drop_column(olap, &col)?,
                AlterOp::ModifyColumn { column, position } => {
                    modify_column(olap, &column, position)?;
                }
                AlterOp::RenameColumn { from, to } => {
                    validate_identifier(&to, "column")?;
                    if olap.column(&to).is_some() {
                        return Err(SqlError::new(
                            ErrorCode::ER_DUP_FIELDNAME,
                            format!("Duplicate column name '{to}'"),
                        ));
                    }
                    let lower_from = from.to_ascii_lowercase();
                    let to = to.to_ascii_lowercase();
                    let idx = olap
                        .column_index(&from)
                        .ok_or_else(|| unknown_column(&from))?;
                    olap.columns[idx].name = to.clone();
                    rename_in(&mut olap.order_by, &lower_from, &to);
                    rename_in(olap.partition_scheme.columns_mut(), &lower_from, &to);
                    if let Distribution::Hash { columns, .. } = &mut olap.distribution {
                        rename_in(columns, &lower_from, &to);
                    }
                }
                AlterOp::RenameTable(new_name) => {
                    validate_identifier(&new_name, "table")?;
                    if w.read()
                        .table(&db, &new_name)
                        .is_some_and(|t| t.name == new_name)
                    {
                        return Err(table_exists(&new_name));
                    }
                    if matches!(olap.partition_scheme, PartitionScheme::Unpartitioned)
                        && let Some(p) = olap.partitions.first_mut()
                    {
                        p.name = new_name.clone();
                    }
                    new_table.name = new_name;
                }
                AlterOp::RenamePartition { from, to } => {
                    if olap.partition(&to).is_some() {
                        return Err(SqlError::new(
                            ErrorCode::ER_SAME_NAME_PARTITION,
                            format!("Duplicate partition name {to}"),
                        ));
                    }
                    let p = olap
                        .partitions
                        .iter_mut()
                        .find(|p| p.name.eq_ignore_ascii_case(&from))
                        .ok_or_else(|| {
                            SqlError::new(
                                ErrorCode::ER_UNKNOWN_PARTITION,
                                format!("Unknown partition '{from}'"),
                            )
                        })?;
                    p.name = to;
                }
                AlterOp::SetProperties(props) => {
                    let persistent = olap.persistent_index();
                    for (k, v) in props {
                        let (k, v) = validate_property(&k, &v, &olap.columns)?;
                        if k == "compression" {
                            return Err(ddl_error("property 'compression' cannot be changed"));
                        }
                        olap.properties.insert(k, v);
                    }
                    // The tablets learn whether to keep their primary key index on disk.
                    if olap.persistent_index() != persistent {
                        for p in &olap.partitions {
                            new_tablets.extend(
                                p.placed_tablets()
                                    .map(|(t, b)| (b, tablet_meta(olap, table.id, p.id, t))),
                            );
                        }
                    }
                }
                AlterOp::Comment(c) => new_table.comment = c,
            }
        }
        new_table.updated_ms = now_ms();
        if !new_tablets.is_empty() {
            self.fe.cluster().create_tablets(new_tablets).await?;
        }
        let mut entries = vec![JournalEntry::PutTable {
            table: Box::new(new_table),
        }];
        entries.extend(recycled);
        w.commit(entries)?;
        drop(w);
        Ok(QueryResult::ok())
    }
}

fn rename_in(list: &mut [String], from: &str, to: &str) {
    for c in list.iter_mut() {
        if c.eq_ignore_ascii_case(from) {
            *c = to.to_string();
        }
    }
}

fn unknown_column(name: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_BAD_FIELD_ERROR,
        format!("Unknown column '{name}'"),
    )
}

fn insert_at(
    olap: &mut OlapTable,
    col: Column,
    position: Option<ColumnPosition>,
) -> Result<(), SqlError> {
    let idx = match position {
        None => olap.columns.len(),
        Some(ColumnPosition::First) => 0,
        Some(ColumnPosition::After(c)) => {
            olap.column_index(&c).ok_or_else(|| unknown_column(&c))? + 1
        }
    };
    let keys = olap.columns.iter().filter(|c| c.is_key).count();
    if col.is_key && idx > keys {
        return Err(ddl_error(
            "a key column must be placed among the key columns",
        ));
    }
    if !col.is_key && idx < keys {
        return Err(ddl_error(
            "a value column cannot be placed before the key columns",
        ));
    }
    olap.columns.insert(idx, col);
    Ok(())
}

fn add_column(
    olap: &mut OlapTable,
    def: &ColumnDef,
    position: Option<ColumnPosition>,
) -> Result<(), SqlError> {
    validate_identifier(&def.name, "column")?;
    if olap.column(&def.name).is_some() {
        return Err(SqlError::new(
            ErrorCode::ER_DUP_FIELDNAME,
            format!("Duplicate column name '{}'", def.name),
        ));
    }
    let is_key = match olap.keys_type {
        KeysType::Aggregate => def.agg.is_none(),
        KeysType::Duplicate => {
            // A column added among the keys (FIRST, or AFTER a key column) is a key.
            match &position {
                Some(ColumnPosition::First) => true,
                Some(ColumnPosition::After(c)) => {
                    let keys = olap.columns.iter().filter(|c| c.is_key).count();
                    olap.column_index(c).is_some_and(|i| i + 1 < keys)
                }
                None => false,
            }
        }
        _ => false,
    };
    if olap.keys_type != KeysType::Aggregate && def.agg.is_some() {
        return Err(ddl_error(
            "aggregation types are only valid in AGGREGATE KEY tables",
        ));
    }
    if def.nullable == Some(false) && def.default.is_none() {
        return Err(ddl_error(format!(
            "Column '{}' is NOT NULL and needs a DEFAULT for the existing rows",
            def.name
        )));
    }
    let mut col = column_from_def(def, olap.next_column_uid, is_key)?;
    olap.next_column_uid += 1;
    col.fill = match &def.default {
        Some(DefaultValue::Literal(v)) => Some(v.clone()),
        Some(DefaultValue::CurrentTimestamp) => {
            // Existing rows read the time of the change.
            Some(
                chrono::Utc::now()
                    .naive_utc()
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
            )
        }
        _ => None,
    };
    insert_at(olap, col, position)
}

fn drop_column(olap: &mut OlapTable, name: &str) -> Result<(), SqlError> {
    let idx = olap.column_index(name).ok_or_else(|| {
        SqlError::new(
            ErrorCode::ER_CANT_DROP_FIELD_OR_KEY,
            format!("Can't DROP '{name}'; check that column/key exists"),
        )
    })?;
    let col = &olap.columns[idx];
    let lower = col.name.clone();
    if col.is_key {
        return Err(ddl_error(format!("Key column '{name}' cannot be dropped")));
    }
    let used_by_partition = olap.partition_scheme.columns().contains(&lower);
    let used_by_distribution = matches!(&olap.distribution, Distribution::Hash { columns, .. } if columns.contains(&lower));
    if used_by_partition || used_by_distribution || olap.order_by.contains(&lower) {
        return Err(ddl_error(format!(
            "Column '{name}' is a partition, distribution or sort column and cannot be dropped"
        )));
    }
    if olap.columns.len() == 1 {
        return Err(ddl_error("a table needs at least one column"));
    }
    olap.columns.remove(idx);
    Ok(())
}

/// Type changes that keep every stored value readable.
fn type_change_allowed(from: &ColumnType, to: &ColumnType) -> bool {
    use ColumnType::*;
    if from == to {
        return true;
    }
    let rank = |t: &ColumnType| match t {
        TinyInt => Some(1),
        SmallInt => Some(2),
        Int => Some(3),
        BigInt => Some(4),
        LargeInt => Some(5),
        _ => None,
    };
    match (from, to) {
        (a, b) if rank(a).is_some() && rank(b).is_some() => rank(a) < rank(b),
        (TinyInt | SmallInt | Int | BigInt | LargeInt, Varchar(n)) => *n >= 40,
        (Float, Double) => true,
        (Char(a), Varchar(b)) | (Varchar(a), Varchar(b)) | (Char(a), Char(b)) => b >= a,
        (
            Decimal {
                precision: p1,
                scale: s1,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 == s2 && p2 >= p1,
        (Date, Datetime) => true,
        _ => false,
    }
}

fn modify_column(
    olap: &mut OlapTable,
    def: &ColumnDef,
    position: Option<ColumnPosition>,
) -> Result<(), SqlError> {
    let idx = olap
        .column_index(&def.name)
        .ok_or_else(|| unknown_column(&def.name))?;
    let old = olap.columns[idx].clone();
    if !type_change_allowed(&old.ty, &def.ty) {
        return Err(ddl_error(format!(
            "Cannot change column '{}' from {} to {}",
            def.name, old.ty, def.ty
        )));
    }
    let lower = old.name.clone();
    let is_structural = olap.partition_scheme.columns().contains(&lower)
        || matches!(&olap.distribution, Distribution::Hash { columns, .. } if columns.contains(&lower));
    if is_structural && old.ty != def.ty {
        return Err(ddl_error(format!(
            "Cannot change the type of partition or distribution column '{}'",
            def.name
        )));
    }
    if old.nullable && def.nullable == Some(false) {
        return Err(ddl_error(format!(
            "Cannot change column '{}' from NULL to NOT NULL",
            def.name
        )));
    }
    if olap.keys_type == KeysType::Aggregate
        && !old.is_key
        && def.agg != old.agg
        && def.agg.is_some()
    {
        return Err(ddl_error(
            "the aggregation type of a column cannot be changed",
        ));
    }
    let mut col = column_from_def(def, old.uid, old.is_key)?;
    col.agg = old.agg;
    col.nullable = def.nullable.unwrap_or(old.nullable);
    col.fill = old.fill.clone();
    olap.columns.remove(idx);
    match position {
        None => olap.columns.insert(idx, col),
        Some(p) => insert_at(olap, col, Some(p))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_changes() {
        use ColumnType::*;
        assert!(type_change_allowed(&Int, &BigInt));
        assert!(!type_change_allowed(&BigInt, &Int));
        assert!(type_change_allowed(&Varchar(10), &Varchar(20)));
        assert!(!type_change_allowed(&Varchar(20), &Varchar(10)));
        assert!(!type_change_allowed(&Varchar(20), &Int));
    }
}
