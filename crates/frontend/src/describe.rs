//! DESC / DESCRIBE: the columns of a table, or of a view's query, in StarRocks' layout
//! (`DESC t ALL` adds the index name and keys type).

use rigel_common::{ColumnType, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::{KeysType, TableName};

use crate::ddl_text::{default_display, desc_type};
use crate::result::{ResultBuilder, s};
use crate::session::Session;
use rigel_catalog::{Column, Table, TableKind};

impl Session {
    /// Columns of a table, or of a view's query.
    pub(crate) async fn columns_of(&mut self, t: &Table) -> Result<Vec<Column>, SqlError> {
        match &t.kind {
            TableKind::Olap(o) => Ok(o.columns.clone()),
            TableKind::View(v) => {
                let parsed = rigel_sql::parse_one(&v.query)?;
                let rigel_sql::Statement::Query(q) = parsed.statement else {
                    return Err(SqlError::internal("view does not hold a query"));
                };
                let db = self
                    .fe
                    .catalog()
                    .read()
                    .databases
                    .get(&t.db_id)
                    .map(|d| d.name.clone());
                let saved = self.db.clone();
                self.db = db;
                let schema = self.query_schema(*q).await;
                self.db = saved;
                let schema = schema?;
                Ok(schema
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(k, f)| Column {
                        uid: k as u32,
                        name: v
                            .columns
                            .get(k)
                            .map(|(n, _)| n.clone())
                            .unwrap_or_else(|| f.name().clone()),
                        ty: ColumnType::from_field(f).unwrap_or(ColumnType::Varchar(65533)),
                        nullable: true,
                        is_key: false,
                        agg: None,
                        default: None,
                        auto_increment: false,
                        comment: String::new(),
                        fill: None,
                    })
                    .collect())
            }
        }
    }

    pub(crate) async fn describe(
        &mut self,
        name: TableName,
        all: bool,
    ) -> Result<QueryResult, SqlError> {
        let (_, t) = self.table_of(&name)?;
        let cols = self.columns_of(&t).await?;
        let mut b = if all {
            ResultBuilder::text(&[
                "IndexName",
                "IndexKeysType",
                "Field",
                "Type",
                "Null",
                "Key",
                "Default",
                "Extra",
            ])
        } else {
            ResultBuilder::text(&["Field", "Type", "Null", "Key", "Default", "Extra"])
        };
        let keys_type = t.olap().map(|o| o.keys_type).unwrap_or(KeysType::Duplicate);
        for (k, c) in cols.iter().enumerate() {
            let mut row = vec![];
            if all {
                row.push(s(if k == 0 {
                    t.name.clone()
                } else {
                    String::new()
                }));
                row.push(s(if k == 0 {
                    format!("{}_KEYS", keys_type.as_str())
                } else {
                    String::new()
                }));
            }
            row.extend([
                s(c.name.clone()),
                s(desc_type(&c.ty)),
                s(if c.nullable { "YES" } else { "NO" }),
                s(if c.is_key { "true" } else { "false" }),
                default_display(c),
                s(c.agg.map(|a| a.as_str()).unwrap_or("")),
            ]);
            b.row(row);
        }
        b.into_result()
    }
}
