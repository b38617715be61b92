//! `information_schema`: the MySQL views drivers and ORMs read, plus StarRocks' own.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::MemTable;
use datafusion::scalar::ScalarValue;
use rigel_common::ColumnType;
use rigel_common::ids::TableId;
use rigel_sql::{DefaultValue, KeysType};

use crate::planner::StatementContext;
use crate::result::{ResultBuilder, i, null_i, opt, s};
use crate::variables;
use rigel_catalog::{
    CatalogState, Database, Distribution, PartitionScheme, Table, TableKind, UserAccount,
};

/// The tables of information_schema.
pub const TABLES: &[&str] = &[
    "audit_log",
    "backends",
    "be_compactions",
    "be_tablets",
    "character_sets",
    "collations",
    "column_privileges",
    "column_statistics",
    "columns",
    "engines",
    "events",
    "frontends",
    "global_variables",
    "key_column_usage",
    "loads",
    "partitions",
    "partitions_meta",
    "referential_constraints",
    "routines",
    "schema_privileges",
    "schemata",
    "session_variables",
    "statistics",
    "table_constraints",
    "table_privileges",
    "tables",
    "tables_config",
    "tablet_health",
    "triggers",
    "user_privileges",
    "views",
];

/// The information_schema provider.
#[derive(Debug)]
pub struct InformationSchema {
    ctx: Arc<StatementContext>,
}

impl InformationSchema {
    /// For one statement.
    pub fn new(ctx: Arc<StatementContext>) -> Self {
        Self { ctx }
    }
}

/// The tables (with their databases) an account may see, in catalog order.
fn visible_tables<'a>(
    state: &'a CatalogState,
    account: &'a UserAccount,
) -> impl Iterator<Item = (&'a Database, &'a Arc<Table>)> + 'a {
    state.databases.values().flat_map(move |db| {
        db.tables
            .values()
            .filter_map(|id| state.tables.get(id))
            .filter(move |t| rigel_catalog::account::sees_table(account, &db.name, &t.name))
            .map(move |t| (db, t))
    })
}

/// A time as StarRocks prints it; NULL for 0 (not yet).
fn date_text(ms: i64) -> ScalarValue {
    if ms <= 0 {
        return ScalarValue::Utf8(None);
    }
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(d) => s(d.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()),
        None => ScalarValue::Utf8(None),
    }
}

/// Row counts and sizes per table, from the backend.
async fn table_stats(ctx: &StatementContext) -> HashMap<TableId, (u64, u64)> {
    let mut out: HashMap<TableId, (u64, u64)> = HashMap::new();
    if let Ok(infos) = ctx.env.tablet_infos().await {
        for t in infos {
            let e = out.entry(t.meta.table_id).or_default();
            e.0 += t.rows;
            e.1 += t.bytes;
        }
    }
    out
}

/// Numeric precision / scale / char lengths of a type, as information_schema.columns
/// reports them.
fn type_facts(ty: &ColumnType) -> (ScalarValue, ScalarValue, ScalarValue, ScalarValue) {
    match ty {
        ColumnType::TinyInt => (null_i(), null_i(), i(3), i(0)),
        ColumnType::SmallInt => (null_i(), null_i(), i(5), i(0)),
        ColumnType::Int => (null_i(), null_i(), i(10), i(0)),
        ColumnType::BigInt => (null_i(), null_i(), i(19), i(0)),
        ColumnType::LargeInt => (null_i(), null_i(), i(39), i(0)),
        ColumnType::Float => (null_i(), null_i(), i(12), null_i()),
        ColumnType::Double => (null_i(), null_i(), i(22), null_i()),
        ColumnType::Decimal { precision, scale } => (null_i(), null_i(), i(*precision), i(*scale)),
        ColumnType::Char(n) | ColumnType::Varchar(n) => (i(*n), i(*n), null_i(), null_i()),
        _ => (null_i(), null_i(), null_i(), null_i()),
    }
}

fn default_text(d: &Option<DefaultValue>) -> ScalarValue {
    match d {
        None | Some(DefaultValue::Null) => ScalarValue::Utf8(None),
        Some(DefaultValue::Literal(v)) => s(v.clone()),
        Some(DefaultValue::CurrentTimestamp) => s("CURRENT_TIMESTAMP"),
        Some(DefaultValue::Expr(e)) => s(e.clone()),
    }
}

impl InformationSchema {
    async fn build(&self, name: &str) -> Result<Option<ResultBuilder>, rigel_common::SqlError> {
        let ctx = &self.ctx;
        let b = match name {
            "schemata" => {
                let mut b = ResultBuilder::text(&[
                    "catalog_name",
                    "schema_name",
                    "default_character_set_name",
                    "default_collation_name",
                    "sql_path",
                ]);
                let state = ctx.env.catalog.read();
                let mut names: Vec<String> = state
                    .databases
                    .values()
                    .map(|d| d.name.clone())
                    .filter(|d| rigel_catalog::account::sees_database(&ctx.session.account, d))
                    .collect();
                names.push("information_schema".to_string());
                names.sort();
                for n in names {
                    b.row(vec![
                        s("def"),
                        s(n),
                        s("utf8mb4"),
                        s("utf8mb4_general_ci"),
                        ScalarValue::Utf8(None),
                    ]);
                }
                b
            }
            "tables" => {
                let stats = table_stats(ctx).await;
                let mut b = ResultBuilder::new(&[
                    ("table_catalog", DataType::Utf8),
                    ("table_schema", DataType::Utf8),
                    ("table_name", DataType::Utf8),
                    ("table_type", DataType::Utf8),
                    ("engine", DataType::Utf8),
                    ("version", DataType::Int64),
                    ("row_format", DataType::Utf8),
                    ("table_rows", DataType::Int64),
                    ("avg_row_length", DataType::Int64),
                    ("data_length", DataType::Int64),
                    ("max_data_length", DataType::Int64),
                    ("index_length", DataType::Int64),
                    ("data_free", DataType::Int64),
                    ("auto_increment", DataType::Int64),
                    ("create_time", DataType::Utf8),
                    ("update_time", DataType::Utf8),
                    ("check_time", DataType::Utf8),
                    ("table_collation", DataType::Utf8),
                    ("checksum", DataType::Int64),
                    ("create_options", DataType::Utf8),
                    ("table_comment", DataType::Utf8),
                ]);
                let state = ctx.env.catalog.read();
                for (db, t) in visible_tables(&state, &ctx.session.account) {
                    let id = &t.id;
                    let (rows, bytes) = stats.get(id).copied().unwrap_or_default();
                    let view = t.is_view();
                    b.row(vec![
                        s("def"),
                        s(db.name.clone()),
                        s(t.name.clone()),
                        s(if view { "VIEW" } else { "BASE TABLE" }),
                        if view {
                            ScalarValue::Utf8(None)
                        } else {
                            s("StarRocks")
                        },
                        null_i(),
                        ScalarValue::Utf8(None),
                        if view { null_i() } else { i(rows) },
                        if view || rows == 0 {
                            null_i()
                        } else {
                            i(bytes / rows.max(1))
                        },
                        if view { null_i() } else { i(bytes) },
                        null_i(),
                        null_i(),
                        null_i(),
                        null_i(),
                        date_text(t.created_ms),
                        date_text(t.updated_ms),
                        ScalarValue::Utf8(None),
                        s("utf8mb4_general_ci"),
                        null_i(),
                        s(""),
                        s(t.comment.clone()),
                    ]);
                }
                for t in TABLES {
                    b.row(vec![
                        s("def"),
                        s("information_schema"),
                        s(*t),
                        s("SYSTEM VIEW"),
                        ScalarValue::Utf8(None),
                        null_i(),
                        ScalarValue::Utf8(None),
                        null_i(),
                        null_i(),
                        null_i(),
                        null_i(),
                        null_i(),
                        null_i(),
                        null_i(),
                        ScalarValue::Utf8(None),
                        ScalarValue::Utf8(None),
                        ScalarValue::Utf8(None),
                        s("utf8mb4_general_ci"),
                        null_i(),
                        s(""),
                        s(""),
                    ]);
                }
                b
            }
            "columns" => {
                let mut b = ResultBuilder::new(&[
                    ("table_catalog", DataType::Utf8),
                    ("table_schema", DataType::Utf8),
                    ("table_name", DataType::Utf8),
                    ("column_name", DataType::Utf8),
                    ("ordinal_position", DataType::Int64),
                    ("column_default", DataType::Utf8),
                    ("is_nullable", DataType::Utf8),
                    ("data_type", DataType::Utf8),
                    ("character_maximum_length", DataType::Int64),
                    ("character_octet_length", DataType::Int64),
                    ("numeric_precision", DataType::Int64),
                    ("numeric_scale", DataType::Int64),
                    ("datetime_precision", DataType::Int64),
                    ("character_set_name", DataType::Utf8),
                    ("collation_name", DataType::Utf8),
                    ("column_type", DataType::Utf8),
                    ("column_key", DataType::Utf8),
                    ("extra", DataType::Utf8),
                    ("privileges", DataType::Utf8),
                    ("column_comment", DataType::Utf8),
                    ("column_size", DataType::Int64),
                    ("decimal_digits", DataType::Int64),
                    ("generation_expression", DataType::Utf8),
                    ("srs_id", DataType::Int64),
                ]);
                let views = self.view_columns().await;
                let state = ctx.env.catalog.read();
                for (db, t) in visible_tables(&state, &ctx.session.account) {
                    let id = &t.id;
                    match &t.kind {
                        TableKind::Olap(o) => {
                            for (pos, c) in o.columns.iter().enumerate() {
                                let (len, octets, prec, scale) = type_facts(&c.ty);
                                let is_string = c.ty.is_string();
                                let key = if c.is_key {
                                    match o.keys_type {
                                        KeysType::Primary => "PRI",
                                        KeysType::Unique => "UNI",
                                        KeysType::Aggregate => "AGG_KEY",
                                        KeysType::Duplicate => "DUP",
                                    }
                                } else {
                                    ""
                                };
                                b.row(vec![
                                    s("def"),
                                    s(db.name.clone()),
                                    s(t.name.clone()),
                                    s(c.name.clone()),
                                    i(pos + 1),
                                    default_text(&c.default),
                                    s(if c.nullable { "YES" } else { "NO" }),
                                    s(c.ty.data_type_name()),
                                    len,
                                    octets,
                                    prec.clone(),
                                    scale.clone(),
                                    if c.ty == ColumnType::Datetime {
                                        i(0)
                                    } else {
                                        null_i()
                                    },
                                    if is_string {
                                        s("utf8mb4")
                                    } else {
                                        ScalarValue::Utf8(None)
                                    },
                                    if is_string {
                                        s("utf8mb4_general_ci")
                                    } else {
                                        ScalarValue::Utf8(None)
                                    },
                                    s(c.ty.to_string()),
                                    s(key),
                                    s(c.agg.map(|a| a.as_str()).unwrap_or("")),
                                    s("select,insert,update,references"),
                                    s(c.comment.clone()),
                                    prec,
                                    scale,
                                    ScalarValue::Utf8(None),
                                    null_i(),
                                ]);
                            }
                        }
                        TableKind::View(_) => {
                            for (pos, (name, ty)) in views
                                .get(id)
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .enumerate()
                            {
                                let (len, octets, prec, scale) = type_facts(&ty);
                                b.row(vec![
                                    s("def"),
                                    s(db.name.clone()),
                                    s(t.name.clone()),
                                    s(name),
                                    i(pos + 1),
                                    ScalarValue::Utf8(None),
                                    s("YES"),
                                    s(ty.data_type_name()),
                                    len,
                                    octets,
                                    prec.clone(),
                                    scale.clone(),
                                    null_i(),
                                    ScalarValue::Utf8(None),
                                    ScalarValue::Utf8(None),
                                    s(ty.to_string()),
                                    s(""),
                                    s(""),
                                    s("select"),
                                    s(""),
                                    prec,
                                    scale,
                                    ScalarValue::Utf8(None),
                                    null_i(),
                                ]);
                            }
                        }
                    }
                }
                b
            }
            "views" => {
                let mut b = ResultBuilder::text(&[
                    "table_catalog",
                    "table_schema",
                    "table_name",
                    "view_definition",
                    "check_option",
                    "is_updatable",
                    "definer",
                    "security_type",
                    "character_set_client",
                    "collation_connection",
                ]);
                let state = ctx.env.catalog.read();
                for (db, t) in visible_tables(&state, &ctx.session.account) {
                    if let TableKind::View(v) = &t.kind {
                        b.row(vec![
                            s("def"),
                            s(db.name.clone()),
                            s(t.name.clone()),
                            s(v.query.clone()),
                            s("NONE"),
                            s("NO"),
                            s("root@%"),
                            s("DEFINER"),
                            s("utf8mb4"),
                            s("utf8mb4_general_ci"),
                        ]);
                    }
                }
                b
            }
            "engines" => {
                let mut b = ResultBuilder::text(&[
                    "engine",
                    "support",
                    "comment",
                    "transactions",
                    "xa",
                    "savepoints",
                ]);
                b.row(vec![
                    s("StarRocks"),
                    s("DEFAULT"),
                    s("Rigel columnar storage (StarRocks-compatible OLAP engine)"),
                    s("YES"),
                    s("NO"),
                    s("NO"),
                ]);
                b
            }
            "character_sets" => {
                let mut b = ResultBuilder::new(&[
                    ("character_set_name", DataType::Utf8),
                    ("default_collate_name", DataType::Utf8),
                    ("description", DataType::Utf8),
                    ("maxlen", DataType::Int64),
                ]);
                b.row(vec![
                    s("utf8mb4"),
                    s("utf8mb4_general_ci"),
                    s("UTF-8 Unicode"),
                    i(4),
                ]);
                b.row(vec![
                    s("utf8"),
                    s("utf8_general_ci"),
                    s("UTF-8 Unicode"),
                    i(3),
                ]);
                b.row(vec![
                    s("binary"),
                    s("binary"),
                    s("Binary pseudo charset"),
                    i(1),
                ]);
                b
            }
            "collations" => {
                let mut b = ResultBuilder::new(&[
                    ("collation_name", DataType::Utf8),
                    ("character_set_name", DataType::Utf8),
                    ("id", DataType::Int64),
                    ("is_default", DataType::Utf8),
                    ("is_compiled", DataType::Utf8),
                    ("sortlen", DataType::Int64),
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
                b
            }
            "session_variables" | "global_variables" => {
                let mut b = ResultBuilder::text(&["variable_name", "variable_value"]);
                for def in variables::VARIABLES {
                    let value = ctx.session.vars.get(def.name).cloned().unwrap_or_default();
                    b.row(vec![s(def.name), s(variables::display(def, &value))]);
                }
                b
            }
            "tables_config" => {
                let mut b = ResultBuilder::new(&[
                    ("table_schema", DataType::Utf8),
                    ("table_name", DataType::Utf8),
                    ("table_engine", DataType::Utf8),
                    ("table_model", DataType::Utf8),
                    ("primary_key", DataType::Utf8),
                    ("partition_key", DataType::Utf8),
                    ("distribute_key", DataType::Utf8),
                    ("distribute_type", DataType::Utf8),
                    ("distribute_bucket", DataType::Int64),
                    ("sort_key", DataType::Utf8),
                    ("properties", DataType::Utf8),
                    ("table_id", DataType::Int64),
                ]);
                let state = ctx.env.catalog.read();
                for (db, t) in visible_tables(&state, &ctx.session.account) {
                    let Some(o) = t.olap() else { continue };
                    let quote = |v: Vec<&str>| {
                        v.iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let (dist_key, dist_type) = match &o.distribution {
                        Distribution::Hash { columns, .. } => {
                            (quote(columns.iter().map(String::as_str).collect()), "HASH")
                        }
                        Distribution::Random { .. } => (String::new(), "RANDOM"),
                    };
                    let part_key = quote(
                        o.partition_scheme
                            .columns()
                            .iter()
                            .map(String::as_str)
                            .collect(),
                    );
                    let sort: Vec<&str> = o
                        .sort_key()
                        .iter()
                        .map(|&i| o.columns[i].name.as_str())
                        .collect();
                    b.row(vec![
                        s(db.name.clone()),
                        s(t.name.clone()),
                        s("OLAP"),
                        s(format!("{}_KEYS", o.keys_type.as_str())),
                        s(quote(o.key_columns())),
                        s(part_key),
                        s(dist_key),
                        s(dist_type),
                        i(o.distribution.buckets()),
                        s(quote(sort)),
                        s(serde_json::to_string(&o.properties).unwrap_or_default()),
                        i(t.id.0),
                    ]);
                }
                b
            }
            "column_statistics" => {
                // Beyond StarRocks (which keeps these in `_statistics_.column_statistics`):
                // what ANALYZE collected and the planner uses, one row per column.
                let mut b = ResultBuilder::new(&[
                    ("table_schema", DataType::Utf8),
                    ("table_name", DataType::Utf8),
                    ("column_name", DataType::Utf8),
                    ("row_count", DataType::Int64),
                    ("ndv", DataType::Int64),
                    ("null_count", DataType::Int64),
                    ("min", DataType::Utf8),
                    ("max", DataType::Utf8),
                    ("update_time", DataType::Utf8),
                ]);
                let state = ctx.env.catalog.read();
                for (db, t) in visible_tables(&state, &ctx.session.account) {
                    let Some(stats) = t.olap().and_then(|o| o.statistics.as_ref()) else {
                        continue;
                    };
                    let opt = |v: &Option<String>| match v {
                        Some(v) => s(v.clone()),
                        None => ScalarValue::Utf8(None),
                    };
                    for c in &stats.columns {
                        b.row(vec![
                            s(db.name.clone()),
                            s(t.name.clone()),
                            s(c.name.clone()),
                            i(stats.rows as i64),
                            i(c.ndv as i64),
                            i(c.nulls as i64),
                            opt(&c.min),
                            opt(&c.max),
                            date_text(stats.updated_ms),
                        ]);
                    }
                }
                b
            }
            "partitions" => {
                let mut b = ResultBuilder::new(&[
                    ("table_catalog", DataType::Utf8),
                    ("table_schema", DataType::Utf8),
                    ("table_name", DataType::Utf8),
                    ("partition_name", DataType::Utf8),
                    ("partition_ordinal_position", DataType::Int64),
                    ("partition_method", DataType::Utf8),
                    ("partition_expression", DataType::Utf8),
                    ("partition_description", DataType::Utf8),
                    ("table_rows", DataType::Int64),
                    ("create_time", DataType::Utf8),
                ]);
                let state = ctx.env.catalog.read();
                for (db, t) in visible_tables(&state, &ctx.session.account) {
                    let Some(o) = t.olap() else { continue };
                    let (method, expr) = match &o.partition_scheme {
                        PartitionScheme::Range { columns } => (s("RANGE"), s(columns.join(", "))),
                        PartitionScheme::List { columns } => (s("LIST"), s(columns.join(", "))),
                        PartitionScheme::Unpartitioned => {
                            (ScalarValue::Utf8(None), ScalarValue::Utf8(None))
                        }
                    };
                    for (pos, p) in o.partitions.iter().enumerate() {
                        b.row(vec![
                            s("def"),
                            s(db.name.clone()),
                            s(t.name.clone()),
                            s(p.name.clone()),
                            i(pos + 1),
                            method.clone(),
                            expr.clone(),
                            opt(match &p.values {
                                Some(tuples) => Some(crate::show::list_values_ddl(tuples)),
                                None => p.upper.as_ref().map(|u| u.join(", ")),
                            }),
                            null_i(),
                            date_text(p.created_ms),
                        ]);
                    }
                }
                b
            }
            // Rigel extension, for admins only (others see no rows).
            "audit_log" => {
                let mut b = ResultBuilder::new(&[
                    ("query_id", DataType::Utf8),
                    ("timestamp", DataType::Utf8),
                    ("query_type", DataType::Utf8),
                    ("client_ip", DataType::Utf8),
                    ("user", DataType::Utf8),
                    ("authorized_user", DataType::Utf8),
                    ("db", DataType::Utf8),
                    ("state", DataType::Utf8),
                    ("error_code", DataType::Utf8),
                    ("query_time", DataType::Int64),
                    ("scan_bytes", DataType::Int64),
                    ("scan_rows", DataType::Int64),
                    ("return_rows", DataType::Int64),
                    ("stmt_id", DataType::Int64),
                    ("is_query", DataType::Boolean),
                    ("stmt", DataType::Utf8),
                ]);
                let admin = rigel_catalog::account::allowed(
                    &ctx.session.account,
                    rigel_sql::Privilege::Grant,
                    None,
                    None,
                );
                if admin {
                    for r in ctx.env.audit.recent() {
                        let client_ip = r
                            .client
                            .rsplit_once(':')
                            .map_or(r.client.as_str(), |(ip, _)| ip)
                            .to_string();
                        b.row(vec![
                            s(r.query_id),
                            date_text(r.timestamp_ms),
                            s(r.kind),
                            s(client_ip),
                            s(r.user),
                            s(r.authorized_user),
                            s(r.db),
                            s(r.state),
                            s(r.error_code),
                            i(r.time_ms),
                            i(r.scan_bytes),
                            i(r.scan_rows),
                            i(r.return_rows),
                            i(r.stmt_id),
                            ScalarValue::Boolean(Some(r.is_query)),
                            s(r.stmt),
                        ]);
                    }
                }
                b
            }
            "loads" => {
                let mut b = ResultBuilder::new(&[
                    ("job_id", DataType::Int64),
                    ("label", DataType::Utf8),
                    ("database_name", DataType::Utf8),
                    ("table_name", DataType::Utf8),
                    ("state", DataType::Utf8),
                    ("progress", DataType::Utf8),
                    ("type", DataType::Utf8),
                    ("priority", DataType::Utf8),
                    ("scan_rows", DataType::Int64),
                    ("filtered_rows", DataType::Int64),
                    ("unselected_rows", DataType::Int64),
                    ("sink_rows", DataType::Int64),
                    ("create_time", DataType::Utf8),
                    ("load_start_time", DataType::Utf8),
                    ("load_finish_time", DataType::Utf8),
                    ("error_msg", DataType::Utf8),
                    ("tracking_url", DataType::Utf8),
                ]);
                let jobs = ctx.env.loads.jobs();
                for j in jobs {
                    if !rigel_catalog::account::sees_table(&ctx.session.account, &j.db, &j.table) {
                        continue;
                    }
                    let progress = j.progress();
                    b.row(vec![
                        i(j.txn.0),
                        s(j.label),
                        s(j.db),
                        s(j.table),
                        s(j.state),
                        s(progress),
                        s(j.kind),
                        s("NORMAL"),
                        i(j.total),
                        i(j.filtered),
                        i(j.unselected),
                        i(j.loaded),
                        date_text(j.created_ms),
                        date_text(j.created_ms),
                        date_text(j.finished_ms),
                        if j.error.is_empty() {
                            ScalarValue::Utf8(None)
                        } else {
                            s(j.error)
                        },
                        if j.error_url.is_empty() {
                            ScalarValue::Utf8(None)
                        } else {
                            s(j.error_url)
                        },
                    ]);
                }
                b
            }
            "frontends" | "backends" | "be_tablets" | "partitions_meta" | "tablet_health" => {
                let operator = rigel_catalog::account::allowed(
                    &ctx.session.account,
                    rigel_sql::Privilege::Operate,
                    None,
                    None,
                );
                let node = &ctx.env.node;
                let placed = if operator && name != "frontends" {
                    ctx.env.cluster.tablet_infos().await?
                } else {
                    vec![]
                };
                let tablets = crate::planner::one_per_tablet(placed.clone());
                let statuses = if name == "backends" {
                    ctx.env.cluster.fresh_statuses().await
                } else {
                    vec![]
                };
                let state = ctx.env.catalog.read();
                let mut b = match name {
                    "frontends" => {
                        crate::system::frontends_table(node, ctx.env.catalog.journal_id())
                    }
                    "backends" => crate::system::backends_table(node, &statuses),
                    "be_tablets" => crate::system::be_tablets(node, &placed),
                    "partitions_meta" => crate::system::partitions_meta(&state, &tablets),
                    _ => crate::system::tablet_health(&state, &placed),
                };
                if !operator {
                    // Cluster views need OPERATE (cluster_admin), as SHOW BACKENDS does.
                    b.retain(|_| false);
                }
                // information_schema columns are matched in lower case.
                b.renamed(|n| n.to_ascii_lowercase())
            }
            "be_compactions" => {
                use std::sync::atomic::Ordering::Relaxed;
                let mut b = ResultBuilder::new(&[
                    ("be_id", DataType::Int64),
                    ("candidates_num", DataType::Int64),
                    ("base_compaction_concurrency", DataType::Int64),
                    ("cumulative_compaction_concurrency", DataType::Int64),
                    ("latest_compaction_score", DataType::Float64),
                    ("candidate_max_score", DataType::Float64),
                    ("manual_compaction_concurrency", DataType::Int64),
                    ("manual_compaction_candidates_num", DataType::Int64),
                ]);
                let c = &ctx.env.compactions;
                let float = |v: u64| ScalarValue::Float64(Some(v as f64));
                b.row(vec![
                    i(crate::BACKEND_ID),
                    i(c.candidates.load(Relaxed)),
                    i(c.running_base.load(Relaxed)),
                    i(c.running_cumulative.load(Relaxed)),
                    float(c.latest_score.load(Relaxed)),
                    float(c.max_score.load(Relaxed)),
                    i(c.running_manual.load(Relaxed)),
                    i(0),
                ]);
                b
            }
            "statistics" => ResultBuilder::text(&[
                "table_catalog",
                "table_schema",
                "table_name",
                "non_unique",
                "index_schema",
                "index_name",
                "seq_in_index",
                "column_name",
                "collation",
                "cardinality",
                "sub_part",
                "packed",
                "nullable",
                "index_type",
                "comment",
            ]),
            "table_constraints" => ResultBuilder::text(&[
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
                "table_schema",
                "table_name",
                "constraint_type",
            ]),
            "key_column_usage" => ResultBuilder::text(&[
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
                "table_catalog",
                "table_schema",
                "table_name",
                "column_name",
                "ordinal_position",
                "position_in_unique_constraint",
                "referenced_table_schema",
                "referenced_table_name",
                "referenced_column_name",
            ]),
            "referential_constraints" => ResultBuilder::text(&[
                "constraint_catalog",
                "constraint_schema",
                "constraint_name",
                "unique_constraint_catalog",
                "unique_constraint_schema",
                "unique_constraint_name",
                "match_option",
                "update_rule",
                "delete_rule",
                "table_name",
                "referenced_table_name",
            ]),
            "routines" => ResultBuilder::text(&[
                "specific_name",
                "routine_catalog",
                "routine_schema",
                "routine_name",
                "routine_type",
                "dtd_identifier",
                "routine_body",
                "routine_definition",
            ]),
            "triggers" => ResultBuilder::text(&[
                "trigger_catalog",
                "trigger_schema",
                "trigger_name",
                "event_manipulation",
                "event_object_schema",
                "event_object_table",
                "action_statement",
            ]),
            "events" => ResultBuilder::text(&[
                "event_catalog",
                "event_schema",
                "event_name",
                "definer",
                "event_type",
                "status",
            ]),
            "user_privileges" => {
                ResultBuilder::text(&["grantee", "table_catalog", "privilege_type", "is_grantable"])
            }
            "schema_privileges" => ResultBuilder::text(&[
                "grantee",
                "table_catalog",
                "table_schema",
                "privilege_type",
                "is_grantable",
            ]),
            "table_privileges" => ResultBuilder::text(&[
                "grantee",
                "table_catalog",
                "table_schema",
                "table_name",
                "privilege_type",
                "is_grantable",
            ]),
            "column_privileges" => ResultBuilder::text(&[
                "grantee",
                "table_catalog",
                "table_schema",
                "table_name",
                "column_name",
                "privilege_type",
                "is_grantable",
            ]),
            _ => return Ok(None),
        };
        Ok(Some(b))
    }

    /// Column names and types of every view (planned on demand).
    async fn view_columns(&self) -> HashMap<TableId, Vec<(String, ColumnType)>> {
        let views: Vec<(String, Arc<Table>)> = {
            let state: &CatalogState = &self.ctx.env.catalog.read();
            state
                .tables
                .values()
                .filter(|t| t.is_view())
                .filter_map(|t| {
                    let db = state.databases.get(&t.db_id)?;
                    Some((db.name.clone(), Arc::clone(t)))
                })
                .collect()
        };
        let mut out = HashMap::new();
        for (db, view) in views {
            if let Ok(provider) = crate::provider::plan_view(&self.ctx, &db, &view).await {
                let cols = provider
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        (
                            f.name().clone(),
                            ColumnType::from_field(f).unwrap_or(ColumnType::Varchar(65533)),
                        )
                    })
                    .collect();
                out.insert(view.id, cols);
            }
        }
        out
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let lower = name.to_ascii_lowercase();
        let Some(builder) = self
            .build(&lower)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
        else {
            return Ok(None);
        };
        let schema = builder.schema();
        let batch = builder
            .finish()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(Arc::new(MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name.to_ascii_lowercase().as_str())
    }
}
