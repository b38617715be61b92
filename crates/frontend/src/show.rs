//! SHOW statements and DESC.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::collect;
use datafusion::scalar::ScalarValue;
use futures::stream;
use rigel_common::ids::{PartitionId, TableId};
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::sqlparser::ast;
use rigel_sql::{Show, ShowFilter, TableName};

use crate::error::{df_error, unknown_db, unknown_table};
use crate::provider::INFORMATION_SCHEMA;
use crate::result::{ResultBuilder, i, null_i, opt, s};
use crate::session::Session;
use crate::variables::{self, like_match};
use rigel_catalog::{Distribution, PartitionScheme, Table};

use crate::ddl_text::{create_table_ddl, default_display, desc_type};

mod cluster;
pub(crate) use crate::ddl_text::{list_values_ddl, quote};

impl Session {
    pub(crate) fn table_of(&self, name: &TableName) -> Result<(String, Arc<Table>), SqlError> {
        let db = self.db_of(&name.db)?;
        let state = self.fe.catalog().read();
        if state.database(&db).is_none() {
            return Err(unknown_db(&db));
        }
        let t = state
            .table(&db, &name.name)
            .ok_or_else(|| unknown_table(&db, &name.name))?;
        Ok((db, t))
    }

    async fn tablet_stats(&self) -> HashMap<PartitionId, (u64, u64)> {
        let mut out: HashMap<PartitionId, (u64, u64)> = HashMap::new();
        if let Ok(infos) = self.fe.tablet_infos().await {
            for t in infos {
                let e = out.entry(t.meta.partition_id).or_default();
                e.0 += t.rows;
                e.1 += t.bytes;
            }
        }
        out
    }

    async fn table_stats(&self) -> HashMap<TableId, (u64, u64)> {
        let mut out: HashMap<TableId, (u64, u64)> = HashMap::new();
        if let Ok(infos) = self.fe.tablet_infos().await {
            for t in infos {
                let e = out.entry(t.meta.table_id).or_default();
                e.0 += t.rows;
                e.1 += t.bytes;
            }
        }
        out
    }

    /// Applies `LIKE` (on column `like_col`) or `WHERE` to a SHOW result.
    /// The id of the last catalog journal entry.
    fn journal_id(&self) -> u64 {
        self.fe.catalog().journal_id()
    }

    pub(crate) async fn filtered(
        &mut self,
        mut b: ResultBuilder,
        filter: Option<ShowFilter>,
        like_col: usize,
    ) -> Result<QueryResult, SqlError> {
        match filter {
            None => b.into_result(),
            Some(ShowFilter::Like(p)) => {
                b.retain(|row| match &row[like_col] {
                    ScalarValue::Utf8(Some(v)) => like_match(&p, v),
                    _ => false,
                });
                b.into_result()
            }
            Some(ShowFilter::Where(expr)) => self.where_filter(b, *expr).await,
        }
    }

    async fn where_filter(
        &mut self,
        b: ResultBuilder,
        expr: ast::Expr,
    ) -> Result<QueryResult, SqlError> {
        let schema = b.schema();
        let batch = b.finish()?;
        // A private context: the SHOW result is its only table.
        let ctx = datafusion::prelude::SessionContext::new();
        let table = MemTable::try_new(Arc::clone(&schema), vec![vec![batch]]).map_err(df_error)?;
        ctx.register_table("__show", Arc::new(table))
            .map_err(df_error)?;
        // Column names in SHOW output are capitalized; match them case-insensitively.
        let mut expr = expr;
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let _ = ast::visit_expressions_mut(&mut expr, |e| {
            if let ast::Expr::Identifier(id) = e
                && let Some(n) = names.iter().find(|n| n.eq_ignore_ascii_case(&id.value))
            {
                *id = ast::Ident::with_quote('"', n.clone());
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        let sql = format!("SELECT * FROM __show WHERE {expr}");
        let sql = sql.replace('"', "`");
        let df = ctx.sql(&sql).await.map_err(df_error)?;
        let plan = df.create_physical_plan().await.map_err(df_error)?;
        let batches = collect(plan, ctx.task_ctx()).await.map_err(df_error)?;
        Ok(QueryResult::Rows {
            schema,
            stream: Box::pin(stream::iter(batches.into_iter().map(Ok))),
        })
    }

    pub(crate) async fn show(&mut self, show: Show) -> Result<QueryResult, SqlError> {
        match show {
            Show::Databases(filter) => {
                let mut b = ResultBuilder::text(&["Database"]);
                let account = self.account();
                let mut names: Vec<String> = self
                    .fe
                    .catalog()
                    .read()
                    .databases
                    .values()
                    .map(|d| d.name.clone())
                    .filter(|d| rigel_catalog::account::sees_database(&account, d))
                    .collect();
                names.push(INFORMATION_SCHEMA.to_string());
                names.sort();
                for n in names {
                    b.row(vec![s(n)]);
                }
                self.filtered(b, filter, 0).await
            }
            Show::Tables { full, db, filter } => {
                let db = self.db_of(&db)?;
                let header = format!("Tables_in_{db}");
                let mut b = if full {
                    ResultBuilder::text(&[&header, "Table_type"])
                } else {
                    ResultBuilder::text(&[&header])
                };
                if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
                    for t in crate::infoschema::TABLES {
                        let mut row = vec![s(*t)];
                        if full {
                            row.push(s("SYSTEM VIEW"));
                        }
                        b.row(row);
                    }
                } else {
                    let account = self.account();
                    let state = self.fe.catalog().read();
                    let d = state.database(&db).ok_or_else(|| unknown_db(&db))?;
                    for (name, id) in &d.tables {
                        if !rigel_catalog::account::sees_table(&account, &d.name, name) {
                            continue;
                        }
                        let mut row = vec![s(name.clone())];
                        if full {
                            let view = state.tables.get(id).is_some_and(|t| t.is_view());
                            row.push(s(if view { "VIEW" } else { "BASE TABLE" }));
                        }
                        b.row(row);
                    }
                }
                self.filtered(b, filter, 0).await
            }
            Show::Columns {
                full,
                table,
                filter,
            } => {
                let (_, t) = self.table_of(&table)?;
                let cols = self.columns_of(&t).await?;
                let mut b = if full {
                    ResultBuilder::text(&[
                        "Field",
                        "Type",
                        "Collation",
                        "Null",
                        "Key",
                        "Default",
                        "Extra",
                        "Privileges",
                        "Comment",
                    ])
                } else {
                    ResultBuilder::text(&["Field", "Type", "Null", "Key", "Default", "Extra"])
                };
                for c in cols {
                    let null = s(if c.nullable { "YES" } else { "NO" });
                    let key = s(if c.is_key { "YES" } else { "" });
                    let extra = s(c.agg.map(|a| a.as_str()).unwrap_or(""));
                    if full {
                        b.row(vec![
                            s(c.name.clone()),
                            s(desc_type(&c.ty)),
                            if c.ty.is_string() {
                                s("utf8mb4_general_ci")
                            } else {
                                ScalarValue::Utf8(None)
                            },
                            null,
                            key,
                            default_display(&c),
                            extra,
                            s("select,insert,update,references"),
                            s(c.comment.clone()),
                        ]);
                    } else {
                        b.row(vec![
                            s(c.name.clone()),
                            s(desc_type(&c.ty)),
                            null,
                            key,
                            default_display(&c),
                            extra,
                        ]);
                    }
                }
                self.filtered(b, filter, 0).await
            }
            Show::CreateTable(name) => {
                let (_, t) = self.table_of(&name)?;
                if t.is_view() {
                    let mut b = ResultBuilder::text(&[
                        "View",
                        "Create View",
                        "character_set_client",
                        "collation_connection",
                    ]);
                    b.row(vec![
                        s(t.name.clone()),
                        s(create_table_ddl(&t)),
                        s("utf8mb4"),
                        s("utf8mb4_general_ci"),
                    ]);
                    b.into_result()
                } else {
                    let mut b = ResultBuilder::text(&["Table", "Create Table"]);
                    b.row(vec![s(t.name.clone()), s(create_table_ddl(&t))]);
                    b.into_result()
                }
            }
            Show::CreateDatabase(db) => {
                if self.fe.catalog().read().database(&db).is_none() {
                    return Err(unknown_db(&db));
                }
                let mut b = ResultBuilder::text(&["Database", "Create Database"]);
                b.row(vec![
                    s(db.clone()),
                    s(format!("CREATE DATABASE {}", quote(&db))),
                ]);
                b.into_result()
            }
            Show::Partitions { table, temporary } => {
                let (_, t) = self.table_of(&table)?;
                let olap = t
                    .olap()
                    .ok_or_else(|| SqlError::new(ErrorCode::ER_WRONG_OBJECT, "not a table"))?;
                let stats = self.tablet_stats().await;
                let mut b = ResultBuilder::new(&[
                    ("PartitionId", DataType::Int64),
                    ("PartitionName", DataType::Utf8),
                    ("VisibleVersion", DataType::Int64),
                    ("VisibleVersionTime", DataType::Utf8),
                    ("VisibleVersionHash", DataType::Int64),
                    ("State", DataType::Utf8),
                    ("PartitionKey", DataType::Utf8),
                    ("Range", DataType::Utf8),
                    ("DistributionKey", DataType::Utf8),
                    ("Buckets", DataType::Int64),
                    ("ReplicationNum", DataType::Int64),
                    ("StorageMedium", DataType::Utf8),
                    ("CooldownTime", DataType::Utf8),
                    ("LastConsistencyCheckTime", DataType::Utf8),
                    ("DataSize", DataType::Utf8),
                    ("IsInMemory", DataType::Utf8),
                    ("RowCount", DataType::Int64),
                ]);
                if !temporary {
                    let part_key = olap.partition_scheme.columns().join(", ");
                    let dist_key = match &olap.distribution {
                        Distribution::Hash { columns, .. } => columns.join(", "),
                        Distribution::Random { .. } => "ALL KEY".to_string(),
                    };
                    for p in &olap.partitions {
                        let (rows, bytes) = stats.get(&p.id).copied().unwrap_or_default();
                        let range = match &olap.partition_scheme {
                            PartitionScheme::Unpartitioned => String::new(),
                            PartitionScheme::List { .. } => {
                                list_values_ddl(p.values.as_deref().unwrap_or_default())
                            }
                            PartitionScheme::Range { .. } => format!(
                                "[{}, {})",
                                p.lower
                                    .as_ref()
                                    .map(|v| v.join(", "))
                                    .unwrap_or_else(|| "MIN".into()),
                                p.upper
                                    .as_ref()
                                    .map(|v| v.join(", "))
                                    .unwrap_or_else(|| "MAX".into())
                            ),
                        };
                        b.row(vec![
                            i(p.id.0),
                            s(p.name.clone()),
                            i(p.visible_version),
                            s(ms_text(p.visible_version_time_ms)),
                            i(0),
                            s("NORMAL"),
                            s(part_key.clone()),
                            s(range),
                            s(dist_key.clone()),
                            i(p.tablets.len()),
                            i(olap
                                .properties
                                .get("replication_num")
                                .and_then(|v| v.parse::<i64>().ok())
                                .unwrap_or(1)),
                            s(olap
                                .properties
                                .get("storage_medium")
                                .cloned()
                                .unwrap_or_else(|| "HDD".into())),
                            s(olap
                                .properties
                                .get("storage_cooldown_time")
                                .cloned()
                                .unwrap_or_else(|| "9999-12-31 23:59:59".into())),
                            ScalarValue::Utf8(None),
                            s(human_bytes(bytes)),
                            s("false"),
                            i(rows),
                        ]);
                    }
                }
                b.into_result()
            }
            Show::Variables { global, filter } => {
                let values = if global {
                    self.fe.session_defaults()
                } else {
                    self.vars.clone()
                };
                let mut b = ResultBuilder::text(&["Variable_name", "Value"]);
                for def in variables::VARIABLES {
                    let v = values.get(def.name).cloned().unwrap_or_default();
                    b.row(vec![s(def.name), s(variables::display(def, &v))]);
                }
                self.filtered(b, filter, 0).await
            }
            Show::Status(filter) => {
                let mut b = ResultBuilder::text(&["Variable_name", "Value"]);
                b.row(vec![
                    s("Threads_connected"),
                    s(self.fe.connections().len().to_string()),
                ]);
                b.row(vec![s("Uptime"), s(self.fe.uptime_secs().to_string())]);
                self.filtered(b, filter, 0).await
            }
            Show::Warnings | Show::Errors => {
                let errors_only = matches!(show, Show::Errors);
                let mut b = ResultBuilder::new(&[
                    ("Level", DataType::Utf8),
                    ("Code", DataType::Int64),
                    ("Message", DataType::Utf8),
                ]);
                for w in &self.warnings {
                    if errors_only && w.level != "Error" {
                        continue;
                    }
                    b.row(vec![s(w.level), i(w.code), s(w.message.clone())]);
                }
                b.into_result()
            }
            Show::Processlist { full } => {
                let mut b = ResultBuilder::new(&[
                    ("Id", DataType::Int64),
                    ("User", DataType::Utf8),
                    ("Host", DataType::Utf8),
                    ("Db", DataType::Utf8),
                    ("Command", DataType::Utf8),
                    ("ConnectionStartTime", DataType::Utf8),
                    ("Time", DataType::Int64),
                    ("State", DataType::Utf8),
                    ("Info", DataType::Utf8),
                    ("IsPending", DataType::Utf8),
                ]);
                // Others' connections need OPERATE (MySQL's PROCESS).
                let operator = rigel_catalog::account::allowed(
                    &self.account(),
                    rigel_sql::Privilege::Operate,
                    None,
                    None,
                );
                for c in self.fe.connections() {
                    if !operator && c.user != self.conn.user {
                        continue;
                    }
                    let a = c.activity.lock().clone();
                    let (command, state) = if a.statement.is_some() {
                        ("Query", "OK")
                    } else {
                        ("Sleep", "")
                    };
                    let info = a.statement.map(|t| {
                        if full || t.chars().count() <= 100 {
                            t
                        } else {
                            t.chars().take(100).collect()
                        }
                    });
                    b.row(vec![
                        i(c.id),
                        s(c.user.clone()),
                        s(c.peer.to_string()),
                        opt(a.db),
                        s(command),
                        s(ms_text(c.connected_ms)),
                        i(a.since.map(|t| t.elapsed().as_secs()).unwrap_or(0)),
                        s(state),
                        opt(info),
                        s("false"),
                    ]);
                }
                b.into_result()
            }
            Show::Engines => {
                let mut b = ResultBuilder::text(&[
                    "Engine",
                    "Support",
                    "Comment",
                    "Transactions",
                    "XA",
                    "Savepoints",
                ]);
                b.row(vec![
                    s("OLAP"),
                    s("DEFAULT"),
                    s("Rigel columnar storage (StarRocks-compatible)"),
                    s("YES"),
                    s("NO"),
                    s("NO"),
                ]);
                b.into_result()
            }
            Show::Charset(filter) => {
                let mut b = ResultBuilder::new(&[
                    ("Charset", DataType::Utf8),
                    ("Description", DataType::Utf8),
                    ("Default collation", DataType::Utf8),
                    ("Maxlen", DataType::Int64),
                ]);
                b.row(vec![
                    s("utf8mb4"),
                    s("UTF-8 Unicode"),
                    s("utf8mb4_general_ci"),
                    i(4),
                ]);
                b.row(vec![
                    s("utf8"),
                    s("UTF-8 Unicode"),
                    s("utf8_general_ci"),
                    i(3),
                ]);
                b.row(vec![
                    s("binary"),
                    s("Binary pseudo charset"),
                    s("binary"),
                    i(1),
                ]);
                self.filtered(b, filter, 0).await
            }
            Show::Collation(filter) => {
                let mut b = ResultBuilder::new(&[
                    ("Collation", DataType::Utf8),
                    ("Charset", DataType::Utf8),
                    ("Id", DataType::Int64),
                    ("Default", DataType::Utf8),
                    ("Compiled", DataType::Utf8),
                    ("Sortlen", DataType::Int64),
                ]);
                b.row(vec![
                    s("utf8mb4_general_ci"),
                    s("utf8mb4"),
                    i(45),
                    s("Yes"),
                    s("Yes"),
                    i(1),
                ]);
                b.row(vec![
                    s("utf8_general_ci"),
                    s("utf8"),
                    i(33),
                    s("Yes"),
                    s("Yes"),
                    i(1),
                ]);
                b.row(vec![
                    s("binary"),
                    s("binary"),
                    i(63),
                    s("Yes"),
                    s("Yes"),
                    i(1),
                ]);
                self.filtered(b, filter, 0).await
            }
            Show::TableStatus { db, filter } => {
                let db = self.db_of(&db)?;
                let stats = self.table_stats().await;
                let mut b = ResultBuilder::new(&[
                    ("Name", DataType::Utf8),
                    ("Engine", DataType::Utf8),
                    ("Version", DataType::Int64),
                    ("Row_format", DataType::Utf8),
                    ("Rows", DataType::Int64),
                    ("Avg_row_length", DataType::Int64),
                    ("Data_length", DataType::Int64),
                    ("Max_data_length", DataType::Int64),
                    ("Index_length", DataType::Int64),
                    ("Data_free", DataType::Int64),
                    ("Auto_increment", DataType::Int64),
                    ("Create_time", DataType::Utf8),
                    ("Update_time", DataType::Utf8),
                    ("Check_time", DataType::Utf8),
                    ("Collation", DataType::Utf8),
                    ("Checksum", DataType::Int64),
                    ("Create_options", DataType::Utf8),
                    ("Comment", DataType::Utf8),
                ]);
                {
                    let state = self.fe.catalog().read();
                    let d = state.database(&db).ok_or_else(|| unknown_db(&db))?;
                    for id in d.tables.values() {
                        let Some(t) = state.tables.get(id) else {
                            continue;
                        };
                        let (rows, bytes) = stats.get(id).copied().unwrap_or_default();
                        let view = t.is_view();
                        b.row(vec![
                            s(t.name.clone()),
                            if view {
                                ScalarValue::Utf8(None)
                            } else {
                                s("StarRocks")
                            },
                            null_i(),
                            ScalarValue::Utf8(None),
                            i(rows),
                            i(bytes.checked_div(rows).unwrap_or(0)),
                            i(bytes),
                            null_i(),
                            null_i(),
                            null_i(),
                            null_i(),
                            s(ms_text(t.created_ms)),
                            s(ms_text(t.updated_ms)),
                            ScalarValue::Utf8(None),
                            s("utf8mb4_general_ci"),
                            null_i(),
                            s(""),
                            s(if view {
                                "VIEW".to_string()
                            } else {
                                t.comment.clone()
                            }),
                        ]);
                    }
                }
                self.filtered(b, filter, 0).await
            }
            Show::Index(name) => {
                let (_, t) = self.table_of(&name)?;
                let mut b = ResultBuilder::new(&[
                    ("Table", DataType::Utf8),
                    ("Non_unique", DataType::Int64),
                    ("Key_name", DataType::Utf8),
                    ("Seq_in_index", DataType::Int64),
                    ("Column_name", DataType::Utf8),
                    ("Collation", DataType::Utf8),
                    ("Cardinality", DataType::Int64),
                    ("Sub_part", DataType::Int64),
                    ("Packed", DataType::Utf8),
                    ("Null", DataType::Utf8),
                    ("Index_type", DataType::Utf8),
                    ("Comment", DataType::Utf8),
                ]);
                if let Some(o) = t.olap() {
                    for idx in &o.indexes {
                        for (k, c) in idx.columns.iter().enumerate() {
                            b.row(vec![
                                s(t.name.clone()),
                                i(1),
                                s(idx.name.clone()),
                                i(k + 1),
                                s(c.clone()),
                                ScalarValue::Utf8(None),
                                null_i(),
                                null_i(),
                                ScalarValue::Utf8(None),
                                s("YES"),
                                s(idx.using.clone().unwrap_or_default()),
                                s(idx.comment.clone().unwrap_or_default()),
                            ]);
                        }
                    }
                }
                b.into_result()
            }
            Show::Plugins => {
                let b = ResultBuilder::text(&["Name", "Status", "Type", "Library", "License"]);
                b.into_result()
            }
            Show::Frontends => {
                crate::system::frontends(&self.fe.env.node, self.journal_id()).into_result()
            }
            Show::Backends => {
                crate::system::backends(&self.fe.env.node, &self.fe.backend_statuses().await)
                    .into_result()
            }
            Show::Proc(path) => self.show_proc(&path).await,
            Show::Repositories => self.show_repositories().await,
            Show::Backup {
                restore,
                db,
                filter,
            } => self.show_backup(restore, db, filter).await,
            Show::Snapshot { repository, filter } => self.show_snapshot(repository, filter).await,
            Show::ReplicaStatus {
                table,
                partitions,
                filter,
            } => self.show_replica_status(table, partitions, filter).await,
            Show::Tablets(name) => self.show_tablets(name).await,
            Show::Data(table) => {
                let db = self.current_db()?;
                let stats = self.table_stats().await;
                let mut b = ResultBuilder::new(&[
                    ("TableName", DataType::Utf8),
                    ("Size", DataType::Utf8),
                    ("ReplicaCount", DataType::Int64),
                    ("RowCount", DataType::Int64),
                ]);
                let state = self.fe.catalog().read();
                let d = state.database(&db).ok_or_else(|| unknown_db(&db))?;
                let mut total = 0u64;
                for (name, id) in &d.tables {
                    if table
                        .as_ref()
                        .is_some_and(|t| !t.name.eq_ignore_ascii_case(name))
                    {
                        continue;
                    }
                    let Some(t) = state.tables.get(id) else {
                        continue;
                    };
                    let Some(o) = t.olap() else { continue };
                    let (rows, bytes) = stats.get(id).copied().unwrap_or_default();
                    total += bytes;
                    b.row(vec![
                        s(name.clone()),
                        s(human_bytes(bytes)),
                        i(o.all_tablets().len()),
                        i(rows),
                    ]);
                }
                if table.is_none() {
                    b.row(vec![s("Total"), s(human_bytes(total)), null_i(), null_i()]);
                }
                drop(state);
                b.into_result()
            }
            Show::Load { db, filter } => {
                let db = self.db_of(&db)?;
                let mut b = ResultBuilder::new(&[
                    ("JobId", DataType::Int64),
                    ("Label", DataType::Utf8),
                    ("State", DataType::Utf8),
                    ("Progress", DataType::Utf8),
                    ("Type", DataType::Utf8),
                    ("Priority", DataType::Utf8),
                    ("ScanRows", DataType::Int64),
                    ("FilteredRows", DataType::Int64),
                    ("UnselectedRows", DataType::Int64),
                    ("SinkRows", DataType::Int64),
                    ("EtlInfo", DataType::Utf8),
                    ("TaskInfo", DataType::Utf8),
                    ("ErrorMsg", DataType::Utf8),
                    ("CreateTime", DataType::Utf8),
                    ("EtlStartTime", DataType::Utf8),
                    ("EtlFinishTime", DataType::Utf8),
                    ("LoadStartTime", DataType::Utf8),
                    ("LoadFinishTime", DataType::Utf8),
                    ("URL", DataType::Utf8),
                    ("JobDetails", DataType::Utf8),
                ]);
                for j in self.fe.loads.jobs().into_iter().filter(|j| j.db == db) {
                    b.row(vec![
                        i(j.txn.0),
                        s(j.label.clone()),
                        s(j.state),
                        s(j.progress()),
                        s(j.kind),
                        s("NORMAL"),
                        i(j.total),
                        i(j.filtered),
                        i(j.unselected),
                        i(j.loaded),
                        ScalarValue::Utf8(None),
                        s(format!("table:{}", j.table)),
                        if j.error.is_empty() {
                            ScalarValue::Utf8(None)
                        } else {
                            s(j.error.clone())
                        },
                        s(ms_text(j.created_ms)),
                        s(ms_text(j.created_ms)),
                        s(ms_text(j.created_ms)),
                        s(ms_text(j.created_ms)),
                        if j.finished_ms > 0 {
                            s(ms_text(j.finished_ms))
                        } else {
                            ScalarValue::Utf8(None)
                        },
                        if j.error_url.is_empty() {
                            ScalarValue::Utf8(None)
                        } else {
                            s(j.error_url.clone())
                        },
                        s("{}"),
                    ]);
                }
                self.filtered(b, filter, 1).await
            }
            Show::AnalyzeStatus(filter) => {
                let mut b = ResultBuilder::text(&[
                    "Id",
                    "Database",
                    "Table",
                    "Columns",
                    "Type",
                    "Schedule",
                    "Status",
                    "StartTime",
                    "EndTime",
                    "Properties",
                    "Reason",
                ]);
                let jobs: Vec<_> = self.fe.analyze_jobs.lock().iter().cloned().collect();
                for j in jobs.into_iter().rev() {
                    b.row(vec![
                        s(j.id.to_string()),
                        s(j.db),
                        s(j.table),
                        s(j.columns.join(",")),
                        s(j.kind),
                        s(j.schedule),
                        s(j.status),
                        s(ms_text(j.start_ms)),
                        s(ms_text(j.end_ms)),
                        s(j.properties),
                        s(j.reason),
                    ]);
                }
                self.filtered(b, filter, 2).await
            }
            Show::RecycleBin => {
                let mut b = ResultBuilder::text(&[
                    "Type",
                    "Name",
                    "DbId",
                    "TableId",
                    "PartitionId",
                    "DropTime",
                ]);
                let state = self.fe.catalog().read();
                for (t, at) in state.recycled_tables.values() {
                    b.row(vec![
                        s("Table"),
                        s(t.name.clone()),
                        s(t.db_id.0.to_string()),
                        s(t.id.0.to_string()),
                        s(""),
                        s(ms_text(*at)),
                    ]);
                }
                for (table_id, p, at) in state.recycled_partitions.values() {
                    let db = state
                        .tables
                        .get(table_id)
                        .or_else(|| state.recycled_tables.get(table_id).map(|(t, _)| t))
                        .map(|t| t.db_id.0.to_string())
                        .unwrap_or_default();
                    b.row(vec![
                        s("Partition"),
                        s(p.name.clone()),
                        s(db),
                        s(table_id.0.to_string()),
                        s(p.id.0.to_string()),
                        s(ms_text(*at)),
                    ]);
                }
                drop(state);
                b.into_result()
            }
            Show::Catalogs => {
                let mut b = ResultBuilder::text(&["Catalog", "Type", "Comment"]);
                b.row(vec![
                    s(crate::planner::DEFAULT_CATALOG),
                    s("Internal"),
                    s("An internal catalog contains this cluster's self-managed tables."),
                ]);
                b.into_result()
            }
        }
    }
}

pub(crate) fn ms_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b}B")
    } else {
        format!("{v:.3}{}", UNITS[u])
    }
}
