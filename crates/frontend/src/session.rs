//! A client session: its database, variables and warnings, and statement dispatch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::{BatchStream, MysqlSession, PreparedInfo, QueryResult, Value};
use rigel_sql::sqlparser::ast;
use rigel_sql::{ParsedStatement, SetItem, Statement, VarScope};
use tokio::sync::watch;

use crate::error::{df_error, no_db, unknown_db};
use crate::planner::SessionView;
use crate::provider::INFORMATION_SCHEMA;
use crate::variables::{self, lookup, normalize, unknown_variable};
use crate::{Connection, Frontend};
use rigel_catalog::JournalEntry;

/// A warning for SHOW WARNINGS.
#[derive(Debug, Clone)]
pub struct Warning {
    /// `Warning` or `Note`.
    pub level: &'static str,
    /// Error code.
    pub code: u16,
    /// Text.
    pub message: String,
}

/// One connection's session.
pub struct Session {
    pub(crate) fe: Arc<Frontend>,
    pub(crate) conn: Arc<Connection>,
    pub(crate) db: Option<String>,
    pub(crate) vars: BTreeMap<&'static str, String>,
    pub(crate) user_vars: BTreeMap<String, ScalarValue>,
    pub(crate) warnings: Vec<Warning>,
    /// Statements run on this connection (the audit log's StmtId).
    stmts: u64,
    /// The KILL QUERY counter when the current statement started: a KILL that arrives while
    /// it is still being planned stops it as soon as it executes.
    cancel_at_start: u64,
    /// `SET ROLE`: the active roles (`None`: the account's default roles).
    pub(crate) active_roles: Option<rigel_sql::RoleSet>,
    /// The physical plan of the last query, for the audit log's scan counts.
    pub(crate) last_plan: Option<Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
    closed: bool,
}

impl Session {
    pub(crate) fn new(fe: Arc<Frontend>, conn: Arc<Connection>, db: Option<String>) -> Self {
        let vars = fe.session_defaults();
        Self {
            fe,
            conn,
            db,
            vars,
            user_vars: BTreeMap::new(),
            warnings: vec![],
            stmts: 0,
            cancel_at_start: 0,
            active_roles: None,
            last_plan: None,
            closed: false,
        }
    }

    /// The view of this session planning needs.
    pub(crate) fn view(&self) -> SessionView {
        SessionView {
            db: self.db.clone(),
            current_user: format!("'{}'@'{}'", self.conn.user, self.conn.host),
            user: format!("{}@{}", self.conn.user, self.conn.peer.ip()),
            connection_id: self.conn.id as u64,
            vars: Arc::new(self.vars.clone()),
            user_vars: Arc::new(self.user_vars.clone()),
            scan_tablets: None,
            account: self.account(),
        }
    }

    /// The current database, or `No database selected`.
    pub(crate) fn current_db(&self) -> Result<String, SqlError> {
        self.db.clone().ok_or_else(no_db)
    }

    /// Resolves an optional database qualifier.
    /// The database and OLAP table a statement names (`verb` words the error for a view).
    pub(crate) fn olap_table(
        &self,
        name: &rigel_sql::TableName,
        verb: &str,
    ) -> Result<(String, Arc<rigel_catalog::Table>), SqlError> {
        let db = self.db_of(&name.db)?;
        let table = self
            .fe
            .catalog()
            .read()
            .table(&db, &name.name)
            .ok_or_else(|| crate::error::unknown_table(&db, &name.name))?;
        if table.olap().is_none() {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_OBJECT,
                format!("'{db}.{}' is a view; {verb} needs a table", table.name),
            ));
        }
        Ok((db, table))
    }

    pub(crate) fn db_of(&self, db: &Option<String>) -> Result<String, SqlError> {
        match db {
            Some(d) => Ok(d.clone()),
            None => self.current_db(),
        }
    }

    pub(crate) fn warn(&mut self, code: ErrorCode, message: impl Into<String>) {
        self.warnings.push(Warning {
            level: "Warning",
            code: code.errno,
            message: message.into(),
        });
    }

    pub(crate) fn var_bool(&self, name: &str) -> bool {
        self.vars.get(name).is_some_and(|v| v == "1")
    }

    pub(crate) fn var_u64(&self, name: &str) -> u64 {
        self.vars
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// A receiver that sees KILL QUERY from now on.
    pub(crate) fn cancel_receiver(&self) -> watch::Receiver<u64> {
        let mut rx = self.conn.cancel.subscribe();
        if *rx.borrow() != self.cancel_at_start {
            rx.mark_changed();
        }
        rx
    }

    /// Wraps a result stream with KILL and `query_timeout` handling.
    pub(crate) fn guard_stream(&self, stream: SendableRecordBatchStream) -> BatchStream {
        let timeout = Duration::from_secs(self.var_u64("query_timeout").max(1));
        guard(
            stream,
            self.cancel_receiver(),
            Instant::now() + timeout,
            timeout,
        )
    }

    /// `Table 'db.t' doesn't exist` becomes `Unknown database 'db'` when `db` is unknown.
    fn refine_error(&self, e: SqlError) -> SqlError {
        if e.code != ErrorCode::ER_NO_SUCH_TABLE {
            return e;
        }
        let name = e
            .message
            .strip_prefix("Table '")
            .and_then(|r| r.split('\'').next())
            .unwrap_or_default();
        if let Some((db, _)) = name.split_once('.')
            && !db.is_empty()
            && !db.eq_ignore_ascii_case(INFORMATION_SCHEMA)
            && self.fe.catalog().read().database(db).is_none()
        {
            return unknown_db(db);
        }
        e
    }

    /// Shows `statement` as running (until [`Running`] is dropped).
    fn start_activity(&self, statement: String) {
        let mut a = self.conn.activity.lock();
        a.db = self.db.clone();
        a.statement = Some(statement);
        a.since = Some(Instant::now());
    }

    /// The privilege a statement needs, checked before it runs. Queries are checked as
    /// their tables are resolved (SELECT on each table or view they name); account
    /// statements check their own.
    fn check_privileges(&self, stmt: &Statement) -> Result<(), SqlError> {
        use rigel_sql::Privilege as P;
        let on_table = |p: P, name: &rigel_sql::TableName| -> Result<(), SqlError> {
            let db = self.db_of(&name.db)?;
            self.require(p, Some(&db), Some(&name.name))
        };
        let on_db = |p: P, db: &Option<String>| -> Result<(), SqlError> {
            let db = self.db_of(db)?;
            self.require(p, Some(&db), None)
        };
        match stmt {
            Statement::Insert(i) => on_table(P::Insert, &i.table),
            Statement::CreateDatabase { .. } => self.require(P::Create, None, None),
            Statement::DropDatabase { name, .. } => self.require(P::Drop, Some(name), None),
            Statement::CreateTable(ct) => on_db(P::Create, &ct.name.db),
            Statement::CreateTableLike { name, like, .. } => {
                on_db(P::Create, &name.db)?;
                on_table(P::Select, like)
            }
            Statement::CreateView(v) => on_db(P::Create, &v.name.db),
            Statement::DropTable { name, .. } | Statement::DropView { name, .. } => {
                on_table(P::Drop, name)
            }
            Statement::RecoverTable(name) => on_db(P::Create, &name.db),
            Statement::RecoverPartition { table, .. } => on_table(P::Alter, table),
            Statement::AlterTable { name, .. } => on_table(P::Alter, name),
            Statement::Truncate { name, .. } => on_table(P::Delete, name),
            Statement::Analyze { table, .. } => on_table(P::Select, table),
            Statement::AdminSetConfig(_)
            | Statement::AddBackends(_)
            | Statement::DropBackends(_)
            | Statement::CreateRepository { .. }
            | Statement::DropRepository(_)
            | Statement::Backup(_)
            | Statement::Restore(_)
            | Statement::CancelBackup { .. }
            | Statement::VerifySnapshot { .. }
            | Statement::DropSnapshot { .. }
            | Statement::Show(
                rigel_sql::Show::Repositories
                | rigel_sql::Show::Backup { .. }
                | rigel_sql::Show::Snapshot { .. },
            )
            | Statement::Show(
                rigel_sql::Show::Frontends
                | rigel_sql::Show::Backends
                | rigel_sql::Show::Proc(_)
                | rigel_sql::Show::ReplicaStatus { .. },
            ) => self.require(P::Operate, None, None),
            Statement::Set(items)
                if items.iter().any(|i| {
                    matches!(
                        i,
                        SetItem::Variable {
                            scope: VarScope::Global,
                            ..
                        }
                    )
                }) =>
            {
                self.require(P::Operate, None, None)
            }
            _ => Ok(()),
        }
    }

    async fn run(&mut self, stmt: ParsedStatement) -> Result<QueryResult, SqlError> {
        if !matches!(stmt.statement, Statement::Show(rigel_sql::Show::Warnings))
            && !matches!(stmt.statement, Statement::Show(rigel_sql::Show::Errors))
        {
            self.warnings.clear();
        }
        self.check_privileges(&stmt.statement)?;
        match stmt.statement {
            Statement::Query(q) => self.run_query(*q).await,
            Statement::Explain { kind, statement } => self.explain(&kind, *statement).await,
            Statement::Insert(insert) => self.insert(*insert, &stmt.text).await,
            Statement::CreateDatabase {
                if_not_exists,
                name,
                properties,
            } => {
                self.create_database(if_not_exists, &name, &properties)
                    .await
            }
            Statement::DropDatabase {
                if_exists, name, ..
            } => self.drop_database(if_exists, &name).await,
            Statement::Use { catalog, db } => {
                if let Some(c) = catalog
                    && !c.eq_ignore_ascii_case(crate::planner::DEFAULT_CATALOG)
                {
                    return Err(SqlError::new(
                        ErrorCode::ER_BAD_DB_ERROR,
                        format!("Unknown catalog '{c}'"),
                    ));
                }
                self.use_db(&db)?;
                Ok(QueryResult::ok())
            }
            Statement::CreateTable(ct) => self.create_table(*ct).await,
            Statement::CreateTableLike {
                if_not_exists,
                name,
                like,
            } => self.create_table_like(if_not_exists, name, like).await,
            Statement::DropTable {
                if_exists,
                name,
                force,
            } => self.drop_table(if_exists, name, false, force).await,
            Statement::RecoverTable(name) => self.recover_table(name).await,
            Statement::RecoverPartition { partition, table } => {
                self.recover_partition(partition, table).await
            }
            Statement::CreateView(v) => self.create_view(*v).await,
            Statement::DropView { if_exists, name } => {
                self.drop_table(if_exists, name, true, true).await
            }
            Statement::AlterTable { name, ops } => self.alter_table(name, ops).await,
            Statement::Truncate { name, partitions } => self.truncate(name, partitions).await,
            Statement::Show(show) => self.show(show).await,
            Statement::Describe { name, all } => self.describe(name, all).await,
            Statement::Set(items) => self.set(items).await,
            Statement::Kill { query_only, id } => self.kill(query_only, id),
            Statement::Transaction(_) => Ok(QueryResult::ok()),
            Statement::AdminSetConfig(pairs) => self.admin_set_config(pairs),
            Statement::AddBackends(addresses) => self.add_backends(addresses).await,
            Statement::DropBackends(addresses) => self.drop_backends(addresses).await,
            Statement::Analyze {
                table,
                columns,
                sample,
            } => self.analyze(table, columns, sample).await,
            Statement::AdminShowConfig(pattern) => self.admin_show_config(pattern),
            Statement::CreateRepository {
                name,
                read_only,
                location,
                properties,
            } => {
                self.create_repository(name, read_only, location, properties)
                    .await
            }
            Statement::DropRepository(name) => self.drop_repository(name).await,
            Statement::Backup(b) => self.backup(b).await,
            Statement::Restore(r) => self.restore(r).await,
            Statement::CancelBackup { restore, db } => self.cancel_backup(restore, db).await,
            Statement::VerifySnapshot {
                snapshot,
                repository,
                properties,
            } => self.verify_snapshot(snapshot, repository, properties).await,
            Statement::DropSnapshot { repository, filter } => {
                self.drop_snapshot(repository, *filter).await
            }
            Statement::Account(a) => self.account_statement(a).await,
            Statement::Unsupported(what) => Err(SqlError::not_supported(what)),
            Statement::Other(other) => self.other(*other).await,
        }
    }

    async fn other(&mut self, stmt: ast::Statement) -> Result<QueryResult, SqlError> {
        match stmt {
            ast::Statement::Delete(d) => self.delete(d).await,
            ast::Statement::Update(u) => self.update(u).await,
            other => {
                let first = other.to_string();
                let word = first.split_whitespace().next().unwrap_or("statement");
                Err(SqlError::not_supported(format!("{word} statement")))
            }
        }
    }

    pub(crate) fn use_db(&mut self, db: &str) -> Result<(), SqlError> {
        if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
            self.db = Some(INFORMATION_SCHEMA.to_string());
        } else {
            let state = self.fe.catalog().read();
            let found = state
                .database(db)
                .map(|d| d.name.clone())
                .ok_or_else(|| unknown_db(db))?;
            drop(state);
            let account = self.account();
            if !rigel_catalog::account::sees_database(&account, &found) {
                return Err(SqlError::new(
                    ErrorCode::ER_DBACCESS_DENIED_ERROR,
                    format!(
                        "Access denied for user '{}'@'{}' to database '{found}'",
                        account.name, account.host
                    ),
                ));
            }
            self.db = Some(found);
        }
        self.conn.activity.lock().db = self.db.clone();
        Ok(())
    }

    async fn set(&mut self, items: Vec<SetItem>) -> Result<QueryResult, SqlError> {
        for item in items {
            match item {
                SetItem::Names { charset, collation } => {
                    let charset = charset.to_ascii_lowercase();
                    for v in [
                        "character_set_client",
                        "character_set_connection",
                        "character_set_results",
                    ] {
                        self.vars
                            .insert(lookup(v).map(|d| d.name).unwrap_or("x"), charset.clone());
                    }
                    if let Some(c) = collation {
                        self.vars
                            .insert("collation_connection", c.to_ascii_lowercase());
                    }
                }
                SetItem::Transaction => {}
                SetItem::Variable {
                    scope: VarScope::User,
                    name,
                    value,
                } => {
                    let v = match value {
                        Some(e) => self.eval_constant(*e).await?,
                        None => ScalarValue::Utf8(None),
                    };
                    self.user_vars.insert(name, v);
                }
                SetItem::Variable { scope, name, value } => {
                    let def = lookup(&name).ok_or_else(|| unknown_variable(&name))?;
                    if def.read_only {
                        return Err(SqlError::new(
                            ErrorCode::ER_WRONG_VALUE_FOR_VAR,
                            format!("Variable '{}' is a read only variable", def.name),
                        ));
                    }
                    let text = match value {
                        None => def.default.to_string(),
                        Some(e) => match constant_text(&e) {
                            Some(t) => t,
                            None => scalar_text(&self.eval_constant(*e).await?),
                        },
                    };
                    let text = if def.name.starts_with("character_set_") && text.is_empty() {
                        // `SET character_set_results = NULL` means "send as stored".
                        "utf8mb4".to_string()
                    } else {
                        text
                    };
                    let value = normalize(def, &text)?;
                    if def.name == "time_zone" {
                        validate_time_zone(&value)?;
                    }
                    if scope == VarScope::Global {
                        let mut w = self.fe.catalog().writer().await;
                        w.commit(vec![JournalEntry::SetGlobalVariable {
                            name: def.name.to_string(),
                            value: value.clone(),
                        }])?;
                    }
                    self.vars.insert(def.name, value);
                }
            }
        }
        Ok(QueryResult::ok())
    }

    /// Evaluates a constant expression (`SET @x = 1 + 2`).
    async fn eval_constant(&mut self, expr: ast::Expr) -> Result<ScalarValue, SqlError> {
        let sql = format!("SELECT {expr}");
        let parsed = rigel_sql::parse_one(&sql)?;
        let Statement::Query(q) = parsed.statement else {
            return Err(SqlError::internal("constant is not a query"));
        };
        let (schema, batches) = self.collect_query(*q).await?;
        let _ = schema;
        let batch = batches
            .into_iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| SqlError::internal("constant produced no row"))?;
        ScalarValue::try_from_array(batch.column(0), 0).map_err(df_error)
    }

    fn kill(&mut self, query_only: bool, id: u64) -> Result<QueryResult, SqlError> {
        let target = u32::try_from(id)
            .ok()
            .and_then(|id| self.fe.connection(id))
            .ok_or_else(|| {
                SqlError::new(
                    ErrorCode::ER_NO_SUCH_THREAD,
                    format!("Unknown thread id: {id}"),
                )
            })?;
        let operator = rigel_catalog::account::allowed(
            &self.account(),
            rigel_sql::Privilege::Operate,
            None,
            None,
        );
        if target.user != self.conn.user && !operator {
            return Err(SqlError::new(
                ErrorCode::ER_SPECIFIC_ACCESS_DENIED_ERROR,
                format!("You are not owner of thread {id}"),
            ));
        }
        if query_only {
            target.cancel_query();
        } else {
            target.kill();
        }
        Ok(QueryResult::ok())
    }

    fn admin_set_config(&mut self, pairs: Vec<(String, String)>) -> Result<QueryResult, SqlError> {
        let mut config = self.fe.config.write();
        for (k, v) in pairs {
            if k.trim().eq_ignore_ascii_case("audit_log_delete_age")
                && crate::ddl::parse_ttl(&v).is_none()
            {
                return Err(SqlError::new(
                    ErrorCode::ER_WRONG_ARGUMENTS,
                    format!("Invalid audit_log_delete_age '{v}': expected a duration such as 30d"),
                ));
            }
            config
                .set_runtime(&k, &v)
                .map_err(|e| SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, e.to_string()))?;
        }
        self.fe.env.audit.set_options(crate::audit_options(&config));
        Ok(QueryResult::ok())
    }

    fn admin_show_config(&mut self, pattern: Option<String>) -> Result<QueryResult, SqlError> {
        let config = self.fe.config.read();
        let mut b = crate::result::ResultBuilder::text(&[
            "Key",
            "AliasNames",
            "Value",
            "Type",
            "IsMutable",
            "Comment",
        ]);
        for k in rigel_common::config::Config::KEYS {
            if pattern
                .as_deref()
                .is_some_and(|p| !variables::like_match(p, k.name))
            {
                continue;
            }
            use crate::result::s;
            b.row(vec![
                s(k.name),
                s("[]"),
                s(config.get(k.name).unwrap_or_default()),
                s(k.value_type),
                s(k.mutable.to_string()),
                s(k.doc.trim()),
            ]);
        }
        b.into_result()
    }
}

fn validate_time_zone(tz: &str) -> Result<(), SqlError> {
    use std::str::FromStr;
    let normalized = crate::planner::normalize_tz(tz);
    datafusion::arrow::array::timezone::Tz::from_str(&normalized)
        .map(|_| ())
        .map_err(|_| {
            SqlError::new(
                ErrorCode::ER_WRONG_VALUE_FOR_VAR,
                format!("Unknown or incorrect time zone: '{tz}'"),
            )
        })
}

/// The text of a literal or bare word, without planning.
fn constant_text(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                Some(s.clone())
            }
            ast::Value::Number(n, _) => Some(n.clone()),
            ast::Value::Boolean(b) => Some(if *b { "1" } else { "0" }.to_string()),
            ast::Value::Null => Some(String::new()),
            _ => None,
        },
        ast::Expr::Identifier(id) => Some(id.value.clone()),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => constant_text(expr).map(|t| format!("-{t}")),
        _ => None,
    }
}

fn scalar_text(v: &ScalarValue) -> String {
    if v.is_null() {
        return String::new();
    }
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        ScalarValue::Boolean(Some(b)) => if *b { "1" } else { "0" }.to_string(),
        other => other.to_string(),
    }
}

fn interrupted() -> SqlError {
    SqlError::new(
        ErrorCode::ER_QUERY_INTERRUPTED,
        "Query execution was interrupted",
    )
}

fn timed_out(limit: Duration) -> SqlError {
    SqlError::new(
        ErrorCode::ER_QUERY_TIMEOUT,
        format!(
            "Query exceeded time limit of {} seconds (query_timeout)",
            limit.as_secs()
        ),
    )
}

/// A result stream that stops on KILL QUERY or when the deadline passes.
fn guard(
    stream: SendableRecordBatchStream,
    cancel: watch::Receiver<u64>,
    deadline: Instant,
    limit: Duration,
) -> BatchStream {
    struct State {
        stream: SendableRecordBatchStream,
        cancel: watch::Receiver<u64>,
        deadline: tokio::time::Instant,
        limit: Duration,
        done: bool,
    }
    let state = State {
        stream,
        cancel,
        deadline: tokio::time::Instant::from_std(deadline),
        limit,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let item = tokio::select! {
            biased;
            _ = st.cancel.changed() => Some(Err(interrupted())),
            _ = tokio::time::sleep_until(st.deadline) => Some(Err(timed_out(st.limit))),
            next = st.stream.next() => next.map(|r| r.map_err(df_error)),
        };
        match item {
            None => None,
            Some(Err(e)) => {
                st.done = true;
                Some((Err(e), st))
            }
            Some(Ok(b)) => Some((Ok(b), st)),
        }
    }))
}

/// A random query id, formatted as a UUID.
fn query_id() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A result stream whose audit record is written when its last row has been sent.
/// A statement in progress, as SHOW PROCESSLIST and SHOW BACKENDS see it: from the start of
/// the statement until its last row is sent (a query executes while its rows stream).
struct Running {
    conn: Arc<Connection>,
    node: Arc<crate::system::NodeInfo>,
}

impl Running {
    fn start(conn: Arc<Connection>, node: Arc<crate::system::NodeInfo>) -> Self {
        node.running.fetch_add(1, Ordering::Relaxed);
        Self { conn, node }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.node.running.fetch_sub(1, Ordering::Relaxed);
        let mut a = self.conn.activity.lock();
        a.statement = None;
        a.since = Some(Instant::now());
    }
}

fn audited(stream: BatchStream, audit: rigel_audit::PendingAudit, running: Running) -> BatchStream {
    Box::pin(futures::stream::unfold(
        (stream, audit, running),
        |(mut stream, mut audit, running)| async move {
            match stream.next().await {
                Some(Ok(batch)) => {
                    audit.add_rows(batch.num_rows());
                    Some((Ok(batch), (stream, audit, running)))
                }
                Some(Err(e)) => {
                    audit.finish("ERR", Some(e.code.errno));
                    Some((Err(e), (stream, audit, running)))
                }
                None => {
                    drop(stream);
                    // The tasks on the backends report their metrics (the scans' rows
                    // and bytes) once the last batch has been sent.
                    if let Some(plan) = audit.take_plan() {
                        audit.set_plan(Some(rigel_rpc::distributed::with_metrics(plan).await));
                    }
                    audit.finish("EOF", None);
                    None
                }
            }
        },
    ))
}

#[async_trait]
impl MysqlSession for Session {
    type Statement = ParsedStatement;

    fn parse(&mut self, sql: &str) -> Result<Vec<ParsedStatement>, SqlError> {
        Ok(rigel_sql::parse_statements(sql)?)
    }

    async fn execute(&mut self, statement: ParsedStatement) -> Result<QueryResult, SqlError> {
        let text = rigel_sql::redact(&statement.text).into_owned();
        self.start_activity(text.clone());
        self.cancel_at_start = *self.conn.cancel.borrow();
        self.stmts += 1;
        self.last_plan = None;
        let is_query = matches!(statement.statement, Statement::Query(_));
        let mut audit = rigel_audit::PendingAudit::new(
            Arc::clone(&self.fe.env.audit),
            Arc::clone(&self.fe.env.metrics),
            rigel_audit::AuditRecord {
                timestamp_ms: crate::now_ms(),
                kind: "query",
                client: self.conn.peer.to_string(),
                user: self.conn.user.clone(),
                authorized_user: format!("'{}'@'{}'", self.conn.user, self.conn.host),
                db: self.db.clone().unwrap_or_default(),
                state: "OK",
                error_code: String::new(),
                time_ms: 0,
                scan_bytes: 0,
                scan_rows: 0,
                return_rows: 0,
                stmt_id: self.stmts,
                query_id: query_id(),
                is_query,
                stmt: text,
            },
        );
        let running = Running::start(Arc::clone(&self.conn), Arc::clone(&self.fe.env.node));
        let result = self.run(statement).await.map_err(|e| self.refine_error(e));
        audit.set_plan(self.last_plan.take());
        // USE may have changed the database; `running` ends the statement when dropped.
        self.conn.activity.lock().db = self.db.clone();
        match result {
            Ok(QueryResult::Rows { schema, stream }) => Ok(QueryResult::Rows {
                schema,
                stream: audited(stream, audit, running),
            }),
            Ok(ok) => {
                drop(running);
                audit.finish("OK", None);
                Ok(ok)
            }
            Err(e) => {
                drop(running);
                audit.finish("ERR", Some(e.code.errno));
                Err(e)
            }
        }
    }

    async fn prepare(&mut self, sql: &str) -> Result<PreparedInfo, SqlError> {
        let params = crate::query::count_placeholders(sql)?;
        Ok(PreparedInfo {
            params,
            columns: None,
        })
    }

    async fn execute_prepared(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<QueryResult, SqlError> {
        let text = crate::query::bind_placeholders(sql, &params)?;
        let mut statements = rigel_sql::parse_statements(&text)?;
        if statements.len() != 1 {
            return Err(SqlError::syntax(
                "a prepared statement must hold one statement",
            ));
        }
        let stmt = statements.remove(0);
        self.execute(stmt).await
    }

    async fn use_database(&mut self, db: &str) -> Result<(), SqlError> {
        self.use_db(db)
    }

    async fn field_list(&mut self, table: &str) -> Result<SchemaRef, SqlError> {
        let db = self.current_db()?;
        let t = self
            .fe
            .catalog()
            .read()
            .table(&db, table)
            .ok_or_else(|| crate::error::unknown_table(&db, table))?;
        match t.olap() {
            Some(o) => Ok(o.arrow_schema()),
            None => Ok(Arc::new(datafusion::arrow::datatypes::Schema::empty())),
        }
    }

    fn reset(&mut self) {
        self.vars = self.fe.session_defaults();
        self.user_vars.clear();
        self.warnings.clear();
    }

    fn statistics(&self) -> String {
        format!(
            "Uptime: {}  Threads: {}  Questions: 0  Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0  Queries per second avg: 0.000",
            self.fe.uptime_secs(),
            self.fe.connections().len()
        )
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.fe.unregister(self.conn.id);
        }
    }

    async fn killed(&self) {
        loop {
            let notified = self.conn.kill_notify.notified();
            if self.conn.killed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        MysqlSession::close(self);
    }
}
