//! Planning on DataFusion: one `SessionState` per statement, with Rigel's catalog,
//! functions, variables and MySQL-compatible SQL rewrites.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::execution::SessionStateDefaults;
use datafusion::execution::context::{SessionState, TaskContext};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::logical_expr::var_provider::{VarProvider, VarType};
use datafusion::logical_expr::{AggregateUDF, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    self, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, SelectItem,
    SetExpr,
};
use parking_lot::Mutex;
use rigel_common::SqlError;
use rigel_functions::SessionFacts;

use crate::error::df_error;
use crate::provider::RigelCatalogList;
use crate::variables;
use rigel_catalog::Catalog;

/// The internal catalog's name, as StarRocks calls it.
pub const DEFAULT_CATALOG: &str = "default_catalog";

/// What planning needs to know about the session that runs a statement.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Current database.
    pub db: Option<String>,
    /// `'user'@'host'`.
    pub current_user: String,
    /// `user@client`.
    pub user: String,
    /// Connection id.
    pub connection_id: u64,
    /// Session variables.
    pub vars: Arc<BTreeMap<&'static str, String>>,
    /// User variables (`@x`).
    pub user_vars: Arc<BTreeMap<String, ScalarValue>>,
    /// Scans read only these tablets (`ANALYZE SAMPLE`); `None` for all.
    pub scan_tablets: Option<Arc<std::collections::HashSet<rigel_common::ids::TabletId>>>,
    /// The account the statement runs as (tables it names need its SELECT privilege).
    pub account: Arc<rigel_catalog::UserAccount>,
}

impl SessionView {
    /// A session variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// One table scan as planned, for EXPLAIN.
#[derive(Debug, Clone)]
pub struct ScanReport {
    /// `db.table`.
    pub table: String,
    /// Partitions selected / total, with the selected names.
    pub partitions: (usize, usize, Vec<String>),
    /// Tablets selected / total.
    pub tablets: (usize, usize),
}

/// Per-statement planning context shared by the providers.
#[derive(Debug)]
pub struct StatementContext {
    /// The environment.
    pub env: Arc<QueryEnv>,
    /// The session.
    pub session: SessionView,
    /// Scans planned so far.
    pub scans: Mutex<Vec<ScanReport>>,
    /// Nesting depth of views being planned.
    pub view_depth: usize,
}

/// Everything queries run against: catalog, backend and the function library.
pub struct QueryEnv {
    /// The catalog.
    pub catalog: Arc<Catalog>,
    /// The backends.
    pub cluster: Arc<rigel_cluster::Cluster>,
    /// Rigel's version string (for `version()`).
    pub version: String,
    /// Labels in use and recent load jobs.
    pub loads: Arc<crate::load::LoadRegistry>,
    /// Compactions running and their candidates.
    pub compactions: Arc<crate::compaction::CompactionStats>,
    /// The audit log.
    pub audit: Arc<rigel_audit::AuditLog>,
    /// The frontend's metrics.
    pub metrics: Arc<rigel_audit::FeMetrics>,
    /// This node's ports, start time and limits.
    pub node: Arc<crate::system::NodeInfo>,
    runtime: Arc<RuntimeEnv>,
    scalars: Vec<Arc<ScalarUDF>>,
    aggregates: Vec<Arc<AggregateUDF>>,
    windows: Vec<Arc<WindowUDF>>,
    planners: Vec<Arc<dyn ExprPlanner>>,
    table_functions: std::collections::HashMap<String, Arc<datafusion::catalog::TableFunction>>,
    cpus: usize,
    /// In a cluster (`rigel fe`): queries run in stages on the backends.
    distributed: Option<Arc<rigel_rpc::distributed::Coordinator>>,
}

impl std::fmt::Debug for QueryEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEnv").finish_non_exhaustive()
    }
}

impl QueryEnv {
    /// Builds the environment.
    pub fn new(
        catalog: Arc<Catalog>,
        cluster: Arc<rigel_cluster::Cluster>,
        version: String,
        loads: Arc<crate::load::LoadRegistry>,
        audit: Arc<rigel_audit::AuditLog>,
        memory_pool: Arc<dyn MemoryPool>,
        node: Arc<crate::system::NodeInfo>,
    ) -> Self {
        let scalars = rigel_functions::catalog_scalar_functions();
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let distributed = (!cluster.is_embedded()).then(|| {
            rigel_rpc::distributed::Coordinator::new(Arc::new(rigel_cluster::QueryWorkers(
                Arc::clone(&cluster),
            )))
        });
        Self {
            catalog,
            cluster,
            version,
            loads,
            compactions: Arc::default(),
            audit,
            metrics: Arc::new(rigel_audit::FeMetrics::new()),
            node,
            runtime: Arc::new(RuntimeEnv {
                memory_pool,
                ..RuntimeEnv::default()
            }),
            scalars,
            aggregates: rigel_functions::catalog_aggregate_functions(),
            windows: rigel_functions::catalog_window_functions(),
            planners: std::iter::once(
                Arc::new(crate::rules::MySqlArithmetic) as Arc<dyn ExprPlanner>
            )
            .chain(SessionStateDefaults::default_expr_planners())
            .collect(),
            table_functions: SessionStateDefaults::default_table_functions()
                .into_iter()
                .map(|f| (f.name().to_string(), f))
                .chain(std::iter::once((
                    "files".to_string(),
                    Arc::new(datafusion::catalog::TableFunction::new(
                        "files".to_string(),
                        Arc::new(crate::files::FilesFunction),
                    )),
                )))
                .collect(),
            cpus,
            distributed,
        }
    }

    /// Every tablet the live backends hold, once each (row counts and sizes count a
    /// tablet once, however many replicas it has).
    pub async fn tablet_infos(&self) -> Result<Vec<rigel_be_api::TabletInfo>, SqlError> {
        Ok(one_per_tablet(self.cluster.tablet_infos().await?))
    }

    /// A DataFusion session state for one statement of `session`.
    pub fn state(
        self: &Arc<Self>,
        session: &SessionView,
        view_depth: usize,
    ) -> (SessionState, Arc<StatementContext>) {
        let dop = session
            .var("pipeline_dop")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(self.cpus);
        let batch_size = session
            .var("batch_size")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(8192);
        let mut config = SessionConfig::new()
            .with_target_partitions(dop)
            .with_batch_size(batch_size)
            .with_information_schema(false)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(
                DEFAULT_CATALOG,
                session.db.clone().unwrap_or_default(),
            )
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
            .set_bool("datafusion.sql_parser.enable_ident_normalization", true)
            // MySQL and StarRocks sort NULL as the smallest value: first in ascending order.
            .set_str("datafusion.sql_parser.default_null_ordering", "nulls_min")
            .set_bool("datafusion.execution.parquet.pushdown_filters", false)
            .with_extension(Arc::new(rigel_exec::ScanRuntime {
                local: None,
                backends: self.cluster.resolver(),
            }))
            .with_option_extension(SessionFacts {
                database: session.db.clone(),
                current_user: session.current_user.clone(),
                user: session.user.clone(),
                connection_id: session.connection_id,
                version: self.version.clone(),
                last_insert_id: 0,
            });
        let tz = session.var("time_zone").map(normalize_tz);
        if let Some(tz) = &tz {
            config.options_mut().execution.time_zone = Some(tz.clone());
        }
        let ctx = Arc::new(StatementContext {
            env: Arc::clone(self),
            session: session.clone(),
            scans: Mutex::new(vec![]),
            view_depth,
        });
        let limit = session
            .var("query_mem_limit")
            .and_then(|v| v.parse::<usize>().ok());
        let runtime = rigel_exec::query_runtime(&self.runtime, limit);
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_scalar_functions(self.scalars.clone())
            .with_aggregate_functions(self.aggregates.clone())
            .with_window_functions(self.windows.clone())
            .with_expr_planners(self.planners.clone())
            .with_table_functions(self.table_functions.clone())
            .with_analyzer_rule(Arc::new(crate::count_distinct::CountDistinctSketch))
            .with_analyzer_rule(Arc::new(crate::float_text::FloatText))
            .with_physical_optimizer_rules(physical_rules(
                session.var("disable_colocate_join") != Some("1"),
                self.distributed.is_some(),
            ))
            .with_catalog_list(Arc::new(RigelCatalogList::new(Arc::clone(&ctx))));
        if let Some(coordinator) = &self.distributed {
            let mut settings = BTreeMap::new();
            if let Some(tz) = &tz {
                settings.insert("datafusion.execution.time_zone".to_string(), tz.clone());
            }
            settings.insert(
                "datafusion.execution.batch_size".to_string(),
                batch_size.to_string(),
            );
            if let Some(limit) = limit.filter(|&l| l > 0) {
                settings.insert(
                    rigel_rpc::distributed::QUERY_MEM_LIMIT.to_string(),
                    limit.to_string(),
                );
            }
            let compression = rigel_rpc::distributed::Compression::from_variable(
                session
                    .var("transmission_compression_type")
                    .unwrap_or_default(),
            );
            state = rigel_rpc::distributed::plan_on_backends(
                state,
                coordinator,
                &settings,
                compression,
            );
        }
        let mut state = state.build();
        // Functions evaluated at run time see the statement's settings (`time_zone` among
        // them); without this DataFusion hands them its defaults.
        let options = Arc::clone(state.config_options());
        let props = state.execution_props_mut();
        props.mark_start_execution(options);
        props.add_var_provider(
            VarType::System,
            Arc::new(SystemVariables {
                vars: Arc::clone(&session.vars),
            }),
        );
        props.add_var_provider(
            VarType::UserDefined,
            Arc::new(UserVariables {
                vars: Arc::clone(&session.user_vars),
            }),
        );
        (state, ctx)
    }
}

/// DataFusion's physical optimizer rules, with Rigel's colocated joins after the rules that
/// place exchanges (and before the buffering and cooperation wrappers and the sanity check).
fn physical_rules(
    colocate: bool,
    distributed: bool,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    if colocate {
        let at = rules
            .iter()
            .position(|r| r.name() == "HashJoinBuffering")
            .unwrap_or(rules.len().saturating_sub(1));
        rules.insert(
            at,
            Arc::new(rigel_exec::ColocateJoins {
                min_sets: if distributed { 2 } else { 1 },
            }),
        );
    }
    rules
}

/// One report per tablet from the replicas' reports: the replica with the newest version
/// (then the most rows).
pub(crate) fn one_per_tablet(
    reports: Vec<(rigel_common::ids::BackendId, rigel_be_api::TabletInfo)>,
) -> Vec<rigel_be_api::TabletInfo> {
    let mut best: BTreeMap<rigel_common::ids::TabletId, rigel_be_api::TabletInfo> = BTreeMap::new();
    for (_, info) in reports {
        match best.get(&info.meta.tablet_id) {
            Some(b) if (b.max_version, b.rows) >= (info.max_version, info.rows) => {}
            _ => {
                best.insert(info.meta.tablet_id, info);
            }
        }
    }
    best.into_values().collect()
}

/// `SYSTEM` and MySQL-style offsets are accepted; DataFusion wants a zone name or offset.
pub fn normalize_tz(tz: &str) -> String {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("system") || t.is_empty() {
        "UTC".to_string()
    } else {
        t.to_string()
    }
}

/// Plans a sqlparser statement into a logical plan.
pub async fn logical_plan(
    state: &SessionState,
    stmt: ast::Statement,
) -> Result<LogicalPlan, SqlError> {
    state
        .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
        .await
        .map_err(df_error)
}

/// Plans a logical plan into a physical one.
pub async fn physical_plan(
    state: &SessionState,
    plan: &LogicalPlan,
) -> Result<Arc<dyn ExecutionPlan>, SqlError> {
    state.create_physical_plan(plan).await.map_err(df_error)
}

/// The task context of a state.
pub fn task_ctx(state: &SessionState) -> Arc<TaskContext> {
    state.task_ctx()
}

#[derive(Debug)]
struct SystemVariables {
    vars: Arc<BTreeMap<&'static str, String>>,
}

fn system_var_name(names: &[String]) -> String {
    // ["@@session", "x"], ["@@x"], ["@@global", "x"]
    let joined = names.join(".");
    let stripped = joined.trim_start_matches('@');
    let lower = stripped.to_ascii_lowercase();
    for prefix in ["session.", "global.", "local."] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    lower
}

impl VarProvider for SystemVariables {
    fn get_value(&self, var_names: Vec<String>) -> DfResult<ScalarValue> {
        let name = system_var_name(&var_names);
        let def = variables::lookup(&name).ok_or_else(|| {
            datafusion::error::DataFusionError::External(Box::new(variables::unknown_variable(
                &name,
            )))
        })?;
        let value = self.vars.get(def.name).cloned().unwrap_or_default();
        Ok(variables::as_scalar(def, &value))
    }

    fn get_type(&self, var_names: &[String]) -> Option<DataType> {
        let name = system_var_name(var_names);
        let def = variables::lookup(&name)?;
        Some(variables::as_scalar(def, "0").data_type())
    }
}

#[derive(Debug)]
struct UserVariables {
    vars: Arc<BTreeMap<String, ScalarValue>>,
}

impl VarProvider for UserVariables {
    fn get_value(&self, var_names: Vec<String>) -> DfResult<ScalarValue> {
        let name = var_names.join(".").trim_start_matches('@').to_string();
        Ok(self
            .vars
            .get(&name)
            .cloned()
            .unwrap_or(ScalarValue::Utf8(None)))
    }

    fn get_type(&self, var_names: &[String]) -> Option<DataType> {
        let name = var_names.join(".").trim_start_matches('@').to_string();
        Some(
            self.vars
                .get(&name)
                .map(|v| v.data_type())
                .unwrap_or(DataType::Utf8),
        )
    }
}

// ---- MySQL compatibility rewrites on the AST -------------------------------------------------

fn func_name(f: &ast::Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

fn func_args(f: &ast::Function) -> Option<Vec<SqlExpr>> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => Some(vec![]),
        FunctionArguments::Subquery(_) => None,
    }
}

/// Rewrites MySQL-only constructs into forms DataFusion plans:
/// `IF(c, a, b)` → `CASE`, `DATE_ADD(d, INTERVAL …)` → `d + INTERVAL …`,
/// `CAST(x AS SIGNED)` → `CAST(x AS BIGINT)`.
pub fn rewrite_mysql(stmt: &mut ast::Statement) {
    if let ast::Statement::Query(q) = stmt {
        remove_dual(q);
    }
    crate::files::rewrite_files_args(stmt);
    let _ = ast::visit_expressions_mut(stmt, |expr| {
        rewrite_expr(expr);
        ControlFlow::<()>::Continue(())
    });
}

/// The expression rewrites of [`rewrite_mysql`], for a standalone expression.
pub fn rewrite_mysql_expr(expr: &mut SqlExpr) {
    let _ = ast::visit_expressions_mut(expr, |e| {
        rewrite_expr(e);
        ControlFlow::<()>::Continue(())
    });
}

/// `SELECT … FROM DUAL` selects from nothing.
fn remove_dual(query: &mut ast::Query) {
    fn walk(body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => {
                let is_dual = select.from.len() == 1
                    && select.from[0].joins.is_empty()
                    && matches!(&select.from[0].relation, ast::TableFactor::Table { name, alias: None, .. }
                        if name.to_string().eq_ignore_ascii_case("dual"));
                if is_dual {
                    select.from.clear();
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                walk(left);
                walk(right);
            }
            SetExpr::Query(q) => walk(q.body.as_mut()),
            _ => {}
        }
    }
    walk(query.body.as_mut());
}

fn rewrite_expr(expr: &mut SqlExpr) {
    match expr {
        // MySQL: `1.5` is DECIMAL, `1e300` is DOUBLE (approximate-value literal).
        SqlExpr::Value(v) => {
            if let ast::Value::Number(n, _) = &v.value
                && n.contains(['e', 'E'])
            {
                let text = n.clone();
                *expr = SqlExpr::Cast {
                    kind: ast::CastKind::Cast,
                    expr: Box::new(SqlExpr::Value(ast::Value::SingleQuotedString(text).into())),
                    data_type: ast::DataType::Double(ast::ExactNumberInfo::None),
                    array: false,
                    format: None,
                };
            }
        }
        SqlExpr::Function(f) => {
            let name = func_name(f);
            if name == "group_concat" {
                rewrite_group_concat(f);
                return;
            }
            let Some(args) = func_args(f) else { return };
            match (name.as_str(), args.as_slice()) {
                ("if", [c, a, b]) => {
                    *expr = SqlExpr::Case {
                        case_token: ast::helpers::attached_token::AttachedToken::empty(),
                        end_token: ast::helpers::attached_token::AttachedToken::empty(),
                        operand: None,
                        conditions: vec![ast::CaseWhen {
                            condition: c.clone(),
                            result: a.clone(),
                        }],
                        else_result: Some(Box::new(b.clone())),
                    };
                }
                (
                    "date_add" | "adddate" | "date_sub" | "subdate" | "timestampadd",
                    [d, iv @ SqlExpr::Interval(_)],
                ) => {
                    let op = if name == "date_sub" || name == "subdate" {
                        ast::BinaryOperator::Minus
                    } else {
                        ast::BinaryOperator::Plus
                    };
                    // A string literal is a date (or datetime) in MySQL date arithmetic.
                    let d = match d {
                        SqlExpr::Value(v) => match &v.value {
                            ast::Value::SingleQuotedString(s)
                            | ast::Value::DoubleQuotedString(s) => {
                                let ty = if s.contains(':') {
                                    ast::DataType::Timestamp(Some(6), ast::TimezoneInfo::None)
                                } else {
                                    ast::DataType::Date
                                };
                                SqlExpr::Cast {
                                    kind: ast::CastKind::Cast,
                                    expr: Box::new(d.clone()),
                                    data_type: ty,
                                    array: false,
                                    format: None,
                                }
                            }
                            _ => d.clone(),
                        },
                        _ => d.clone(),
                    };
                    *expr = SqlExpr::Nested(Box::new(SqlExpr::BinaryOp {
                        left: Box::new(d),
                        op,
                        right: Box::new(iv.clone()),
                    }));
                }
                _ => {}
            }
        }
        SqlExpr::Cast { data_type, .. } => {
            let replacement = match data_type {
                ast::DataType::Signed | ast::DataType::SignedInteger => {
                    Some(ast::DataType::BigInt(None))
                }
                ast::DataType::Unsigned | ast::DataType::UnsignedInteger => {
                    Some(ast::DataType::BigIntUnsigned(None))
                }
                ast::DataType::Char(_) | ast::DataType::Character(_) => {
                    Some(ast::DataType::Varchar(None))
                }
                ast::DataType::Datetime(_) => {
                    Some(ast::DataType::Timestamp(Some(6), ast::TimezoneInfo::None))
                }
                _ => None,
            };
            if let Some(r) = replacement {
                *data_type = r;
            }
        }
        _ => {}
    }
}

/// `GROUP_CONCAT([DISTINCT] e1 [, e2 …] [ORDER BY …] [SEPARATOR 's'])` as DataFusion's
/// `string_agg(CAST(e1 AS VARCHAR) || …, 's' [ORDER BY …])`: values as text, several
/// expressions concatenated (a NULL in any of them skips the row, as in MySQL), `,` by
/// default between values.
fn rewrite_group_concat(f: &mut ast::Function) {
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    let mut separator: ast::ValueWithSpan = ast::Value::SingleQuotedString(",".to_string()).into();
    list.clauses.retain(|c| match c {
        ast::FunctionArgumentClause::Separator(v) => {
            separator = v.clone();
            false
        }
        _ => true,
    });
    let mut text: Option<SqlExpr> = None;
    for a in &list.args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = a else {
            return;
        };
        let part = SqlExpr::Cast {
            kind: ast::CastKind::Cast,
            expr: Box::new(e.clone()),
            data_type: ast::DataType::Varchar(None),
            array: false,
            format: None,
        };
        text = Some(match text {
            None => part,
            Some(left) => SqlExpr::BinaryOp {
                left: Box::new(left),
                op: ast::BinaryOperator::StringConcat,
                right: Box::new(part),
            },
        });
    }
    let Some(text) = text else { return };
    list.args = vec![
        FunctionArg::Unnamed(FunctionArgExpr::Expr(text)),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(separator))),
    ];
    f.name = ast::ObjectName::from(vec![Ident::new("string_agg")]);
}

/// Gives every top-level output column a unique name, and returns the names MySQL clients
/// should see (which may repeat, as in `SELECT 1, 1`).
pub fn name_output_columns(query: &mut ast::Query) -> Vec<String> {
    let mut body = query.body.as_mut();
    // The first SELECT of a set operation names the columns.
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else {
        return vec![];
    };
    let mut display = vec![];
    let mut used = std::collections::HashSet::new();
    for item in select.projection.iter_mut() {
        let (name, needs_alias) = match item {
            SelectItem::UnnamedExpr(SqlExpr::Identifier(id)) => (id.value.clone(), false),
            SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(ids)) => {
                let last = ids.last().map(|i| i.value.clone()).unwrap_or_default();
                // `@@session.x` keeps its full spelling.
                if ids.first().is_some_and(|i| i.value.starts_with('@')) {
                    (
                        ids.iter()
                            .map(|i| i.value.clone())
                            .collect::<Vec<_>>()
                            .join("."),
                        false,
                    )
                } else {
                    (last, false)
                }
            }
            SelectItem::UnnamedExpr(SqlExpr::Value(v)) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                    (s.clone(), true)
                }
                other => (other.to_string(), true),
            },
            SelectItem::UnnamedExpr(e) => (e.to_string(), true),
            SelectItem::ExprWithAlias { alias, .. } => (alias.value.clone(), false),
            _ => return vec![],
        };
        let mut unique = name.clone();
        let mut n = 1;
        while !used.insert(unique.to_ascii_lowercase()) {
            n += 1;
            unique = format!("{name} #{n}");
        }
        if needs_alias || unique != name {
            let expr = match item {
                SelectItem::UnnamedExpr(e) => e.clone(),
                SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
                _ => continue,
            };
            *item = SelectItem::ExprWithAlias {
                expr,
                alias: Ident::with_quote('`', unique),
            };
        }
        display.push(name);
    }
    display
}

/// Replaces the field names of a schema with display names (when they line up).
pub fn display_schema(schema: &SchemaRef, names: &[String]) -> SchemaRef {
    if names.len() != schema.fields().len() {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, n)| f.as_ref().clone().with_name(n))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(sql: &str) -> ast::Query {
        match rigel_sql::parse_one(sql).unwrap().statement {
            rigel_sql::Statement::Query(q) => *q,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_like_mysql() {
        let mut q = query("select 1, 1, a, t.b, count(*), x as y, @@session.tx from t");
        let names = name_output_columns(&mut q);
        assert_eq!(
            names,
            vec!["1", "1", "a", "b", "count(*)", "y", "@@session.tx"]
        );
        let text = q.to_string();
        assert!(text.contains("`1 #2`"), "{text}");
    }

    #[test]
    fn rewrites_if_and_date_add() {
        let mut stmt = ast::Statement::Query(Box::new(query(
            "select if(a > 1, 'x', 'y'), date_add(d, interval 1 day), cast(a as signed) from t",
        )));
        rewrite_mysql(&mut stmt);
        let text = stmt.to_string();
        assert!(
            text.contains("CASE WHEN a > 1 THEN 'x' ELSE 'y' END"),
            "{text}"
        );
        assert!(text.contains("(d + INTERVAL 1 DAY)"), "{text}");
        assert!(text.contains("CAST(a AS BIGINT)"), "{text}");
    }

    #[test]
    fn system_variable_names() {
        assert_eq!(
            system_var_name(&["@@version_comment".into()]),
            "version_comment"
        );
        assert_eq!(
            system_var_name(&["@@session".into(), "auto_increment_increment".into()]),
            "auto_increment_increment"
        );
        assert_eq!(system_var_name(&["@@GLOBAL".into(), "x".into()]), "x");
    }
}
