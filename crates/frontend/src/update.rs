//! `UPDATE` and `DELETE` on PRIMARY KEY tables.
//!
//! Both are a query over the table whose rows are written back through the table's sink:
//! UPDATE selects the matching rows with the assigned columns replaced and upserts them;
//! DELETE selects the matching rows and writes them with `__op` = delete. Publishing
//! resolves them against the primary-key index, so the statement is one transaction: its
//! rows change at once. Rows changed by another load between the query and the publish
//! are overwritten (last writer wins), as in StarRocks.

use std::sync::Arc;

use rigel_be_api::{OP_DELETE, OP_UPSERT};
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::sqlparser::ast::{self, AssignmentTarget, TableFactor, UpdateTableFromKind};
use rigel_sql::{Insert, KeysType, TableName};

use crate::session::Session;
use rigel_catalog::{OlapTable, Table};

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn not_supported(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_NOT_SUPPORTED_YET, msg)
}

impl Session {
    fn primary_table(
        &self,
        name: &TableName,
        verb: &str,
    ) -> Result<(String, Arc<Table>), SqlError> {
        let (db, table) = self.olap_table(name, verb)?;
        let Some(olap) = table.olap() else {
            return Err(SqlError::internal("not an OLAP table"));
        };
        if olap.keys_type != KeysType::Primary {
            return Err(not_supported(format!(
                "{verb} on a {} KEY table (only PRIMARY KEY tables can be updated)",
                olap.keys_type.as_str()
            )));
        }
        Ok((db, table))
    }

    /// Writes the rows of `select` (the table's columns, in order) with `op`.
    async fn write_selected(
        &mut self,
        db: String,
        table: &Table,
        select: String,
        op: i8,
        kind: &'static str,
    ) -> Result<QueryResult, SqlError> {
        let query = match rigel_sql::parse_one(&select)?.statement {
            rigel_sql::Statement::Query(q) => q,
            _ => return Err(SqlError::internal(format!("{kind} produced no query"))),
        };
        let ins = Insert {
            overwrite: false,
            table: TableName {
                db: Some(db),
                name: table.name.clone(),
            },
            partitions: vec![],
            label: None,
            columns: vec![],
            source: query,
        };
        match self.write_rows(ins, &select, op, kind).await? {
            // The rows the statement changed; no label info, as for MySQL.
            QueryResult::Ok {
                affected_rows,
                warnings,
                ..
            } => Ok(QueryResult::Ok {
                affected_rows,
                last_insert_id: 0,
                warnings,
                info: String::new(),
            }),
            other => Ok(other),
        }
    }

    /// `DELETE FROM t [USING t2, …] WHERE …` on a PRIMARY KEY table.
    pub(crate) async fn delete_primary(
        &mut self,
        name: &TableName,
        partitions: &[String],
        using: &[ast::TableWithJoins],
        selection: &ast::Expr,
    ) -> Result<QueryResult, SqlError> {
        let (db, table) = self.primary_table(name, "DELETE")?;
        if !partitions.is_empty() {
            return Err(not_supported(
                "DELETE … PARTITION on a PRIMARY KEY table (filter on the partition column instead)",
            ));
        }
        // The table's own columns, whatever USING adds.
        let target = format!("{}.{}", quote(&db), quote(&table.name));
        let mut from = target.clone();
        for t in using {
            from.push_str(&format!(", {t}"));
        }
        let select = format!("SELECT {target}.* FROM {from} WHERE {selection}");
        self.write_selected(db, &table, select, OP_DELETE, "DELETE")
            .await
    }

    /// `UPDATE t SET c = e, … [FROM t2, …] [WHERE …]`.
    pub(crate) async fn update(&mut self, u: ast::Update) -> Result<QueryResult, SqlError> {
        if u.returning.is_some()
            || u.output.is_some()
            || !u.order_by.is_empty()
            || u.limit.is_some()
        {
            return Err(not_supported("UPDATE with ORDER BY, LIMIT or RETURNING"));
        }
        if !u.table.joins.is_empty() {
            return Err(not_supported(
                "UPDATE of joined tables (use UPDATE t SET … FROM other WHERE …)",
            ));
        }
        let TableFactor::Table {
            name, alias, args, ..
        } = &u.table.relation
        else {
            return Err(not_supported("UPDATE of a subquery"));
        };
        if args.is_some() {
            return Err(not_supported("UPDATE of a table function"));
        }
        let table_name =
            TableName::try_from(name).map_err(|e| SqlError::new(ErrorCode::ER_PARSE_ERROR, e))?;
        let (db, table) = self.primary_table(&table_name, "UPDATE")?;
        self.require(rigel_sql::Privilege::Update, Some(&db), Some(&table.name))?;
        let Some(olap) = table.olap() else {
            return Err(SqlError::internal("not an OLAP table"));
        };
        let qualifier = match alias {
            Some(a) => quote(&a.name.value),
            None => quote(&table.name),
        };
        let assigned = assignments(olap, &u.assignments)?;
        let items: Vec<String> = olap
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match assigned.iter().find(|(idx, _)| *idx == i) {
                Some((_, e)) => format!("({e}) AS {}", quote(&c.name)),
                None => format!("{qualifier}.{}", quote(&c.name)),
            })
            .collect();
        let mut from = format!("{}.{}", quote(&db), quote(&table.name));
        if let Some(a) = alias {
            from.push_str(&format!(" AS {}", quote(&a.name.value)));
        }
        match &u.from {
            None => {}
            Some(
                UpdateTableFromKind::AfterSet(tables) | UpdateTableFromKind::BeforeSet(tables),
            ) => {
                for t in tables {
                    from.push_str(&format!(", {t}"));
                }
            }
        }
        let mut select = format!("SELECT {} FROM {from}", items.join(", "));
        if let Some(w) = &u.selection {
            select.push_str(&format!(" WHERE {w}"));
        }
        self.write_selected(db, &table, select, OP_UPSERT, "UPDATE")
            .await
    }
}

/// The columns an UPDATE sets (index into the table's columns) and their expressions. Key
/// columns cannot be set.
fn assignments(
    olap: &OlapTable,
    list: &[ast::Assignment],
) -> Result<Vec<(usize, ast::Expr)>, SqlError> {
    let mut out: Vec<(usize, ast::Expr)> = vec![];
    for a in list {
        let AssignmentTarget::ColumnName(name) = &a.target else {
            return Err(not_supported("UPDATE of a column tuple"));
        };
        let col = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone())
            .unwrap_or_default();
        let idx = olap.column_index(&col).ok_or_else(|| {
            SqlError::new(
                ErrorCode::ER_BAD_FIELD_ERROR,
                format!("Unknown column '{col}' in 'field list'"),
            )
        })?;
        if olap.columns[idx].is_key {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_ARGUMENTS,
                format!("Primary key column '{col}' cannot be updated"),
            ));
        }
        if out.iter().any(|(i, _)| *i == idx) {
            return Err(SqlError::new(
                ErrorCode::ER_DUP_FIELDNAME,
                format!("Column '{col}' is set twice"),
            ));
        }
        out.push((idx, a.value.clone()));
    }
    Ok(out)
}
