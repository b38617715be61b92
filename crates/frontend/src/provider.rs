//! DataFusion providers over the catalog: one catalog (`default_catalog`), a schema per
//! database plus `information_schema`, and a table provider per OLAP table or view.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider,
};
use datafusion::common::stats::Precision;
use datafusion::common::{Column, DataFusionError, Result as DfResult, Statistics, plan_err};
use datafusion::datasource::{TableType, ViewTable, provider_as_source};
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, cast,
};
use datafusion::physical_plan::ExecutionPlan;
use rigel_be_api::SEQUENCE_COLUMN;
use rigel_common::SqlError;
use rigel_common::ids::{BackendId, TabletId};
use rigel_exec::{Bucketing, ScanGroup, ScanSpec, TabletScanExec};
use rigel_sql::{AggType, KeysType, Privilege};

use crate::infoschema::InformationSchema;
use crate::planner::{DEFAULT_CATALOG, ScanReport, StatementContext, logical_plan, rewrite_mysql};
use rigel_catalog::partition::{prune_buckets, prune_partitions};
use rigel_catalog::{Distribution, Table, TableKind};

/// Name of the information schema.
pub const INFORMATION_SCHEMA: &str = "information_schema";

/// Views may nest this deep.
const MAX_VIEW_DEPTH: usize = 32;

fn external(e: SqlError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The catalog list: just the internal catalog.
#[derive(Debug)]
pub struct RigelCatalogList {
    catalog: Arc<RigelCatalog>,
}

impl RigelCatalogList {
    /// For one statement.
    pub fn new(ctx: Arc<StatementContext>) -> Self {
        Self {
            catalog: Arc::new(RigelCatalog { ctx }),
        }
    }
}

impl CatalogProviderList for RigelCatalogList {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![DEFAULT_CATALOG.to_string()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        if name.eq_ignore_ascii_case(DEFAULT_CATALOG) || name.eq_ignore_ascii_case("def") {
            Some(Arc::clone(&self.catalog) as Arc<dyn CatalogProvider>)
        } else {
            None
        }
    }
}

/// The internal catalog.
#[derive(Debug)]
pub struct RigelCatalog {
    ctx: Arc<StatementContext>,
}

impl CatalogProvider for RigelCatalog {
    fn schema_names(&self) -> Vec<String> {
        let state = self.ctx.env.catalog.read();
        let mut names: Vec<String> = state.databases.values().map(|d| d.name.clone()).collect();
        names.push(INFORMATION_SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
            return Some(Arc::new(InformationSchema::new(Arc::clone(&self.ctx))));
        }
        let state = self.ctx.env.catalog.read();
        let db = state.database(name).or_else(|| {
            let mut it = state
                .databases
                .values()
                .filter(|d| d.name.eq_ignore_ascii_case(name));
            match (it.next(), it.next()) {
                (Some(d), None) => Some(d),
                _ => None,
            }
        })?;
        Some(Arc::new(DatabaseSchema {
            ctx: Arc::clone(&self.ctx),
            db: db.name.clone(),
        }))
    }
}

/// The tables of one database.
#[derive(Debug)]
pub struct DatabaseSchema {
    ctx: Arc<StatementContext>,
    db: String,
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        let state = self.ctx.env.catalog.read();
        state
            .database(&self.db)
            .map(|d| d.tables.keys().cloned().collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let table = self.ctx.env.catalog.read().table(&self.db, name);
        let Some(table) = table else {
            return Ok(None);
        };
        // What a statement names needs SELECT; the tables inside a view it may read need
        // not (the view is the grant).
        let account = &self.ctx.session.account;
        if self.ctx.view_depth == 0
            && !rigel_catalog::account::allowed(
                account,
                Privilege::Select,
                Some(&self.db),
                Some(&table.name),
            )
        {
            let e = rigel_catalog::account::denied(
                account,
                Privilege::Select,
                Some(&self.db),
                Some(&table.name),
            );
            return Err(DataFusionError::External(Box::new(e)));
        }
        match &table.kind {
            TableKind::Olap(_) => Ok(Some(Arc::new(OlapTableProvider::new(
                Arc::clone(&self.ctx),
                self.db.clone(),
                table,
            )?))),
            TableKind::View(_) => Ok(Some(plan_view(&self.ctx, &self.db, &table).await?)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.ctx.env.catalog.read().table(&self.db, name).is_some()
    }
}

/// Plans a view's query in its own database.
pub async fn plan_view(
    ctx: &Arc<StatementContext>,
    db: &str,
    table: &Table,
) -> DfResult<Arc<dyn TableProvider>> {
    let TableKind::View(view) = &table.kind else {
        return plan_err!("{} is not a view", table.name);
    };
    if ctx.view_depth >= MAX_VIEW_DEPTH {
        return plan_err!(
            "view {} nests too deeply (a view that refers to itself?)",
            table.name
        );
    }
    let mut session = ctx.session.clone();
    session.db = Some(db.to_string());
    let (state, _) = ctx.env.state(&session, ctx.view_depth + 1);
    let parsed = rigel_sql::parse_one(&view.query).map_err(|e| external(e.into()))?;
    let rigel_sql::Statement::Query(q) = parsed.statement else {
        return plan_err!("view {} does not hold a query", table.name);
    };
    let mut stmt = datafusion::sql::sqlparser::ast::Statement::Query(q);
    rewrite_mysql(&mut stmt);
    let plan = logical_plan(&state, stmt).await.map_err(external)?;
    let plan = if view.columns.is_empty() {
        plan
    } else {
        let fields = plan.schema().fields().clone();
        if fields.len() != view.columns.len() {
            return plan_err!(
                "view {} names {} columns but its query returns {}",
                table.name,
                view.columns.len(),
                fields.len()
            );
        }
        let exprs: Vec<Expr> = plan
            .schema()
            .columns()
            .into_iter()
            .zip(&view.columns)
            .map(|(c, (name, _))| Expr::Column(c).alias(name))
            .collect();
        LogicalPlanBuilder::from(plan).project(exprs)?.build()?
    };
    let plan = match plan {
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => plan,
        other => other,
    };
    Ok(Arc::new(ViewTable::new(plan, Some(view.query.clone()))))
}

/// Scans an OLAP table through the backend, pruning partitions and buckets.
///
/// AGGREGATE and UNIQUE KEY tables merge rows with equal keys when read: the provider
/// stands for a plan that groups a raw scan (which adds the segments' sequence column) by
/// the key and combines each value column as its aggregation type says (SUM, MAX, MIN,
/// REPLACE = the value of the segment written last). DataFusion inlines that plan, so
/// filters on key columns still reach the scan.
#[derive(Debug)]
pub struct OlapTableProvider {
    ctx: Arc<StatementContext>,
    db: String,
    table: Arc<Table>,
    /// The table's columns as queries see them.
    columns: SchemaRef,
    /// What `scan` produces: `columns`, plus the sequence column for a raw scan.
    schema: SchemaRef,
    raw: bool,
    merged: Option<LogicalPlan>,
}

impl OlapTableProvider {
    fn new(ctx: Arc<StatementContext>, db: String, table: Arc<Table>) -> DfResult<Self> {
        let columns = table
            .olap()
            .map(|o| scan_schema(&o.arrow_schema()))
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let mut provider = Self {
            ctx,
            db,
            table,
            schema: Arc::clone(&columns),
            columns,
            raw: false,
            merged: None,
        };
        let merges = provider
            .table
            .olap()
            .is_some_and(|o| matches!(o.keys_type, KeysType::Aggregate | KeysType::Unique));
        if merges {
            let mut fields: Vec<FieldRef> = provider.columns.fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new(
                SEQUENCE_COLUMN,
                DataType::UInt64,
                false,
            )));
            let raw = Arc::new(Self {
                ctx: Arc::clone(&provider.ctx),
                db: provider.db.clone(),
                table: Arc::clone(&provider.table),
                columns: Arc::clone(&provider.columns),
                schema: Arc::new(Schema::new(fields)),
                raw: true,
                merged: None,
            });
            provider.merged = Some(merge_plan(raw, &provider.table, &provider.columns)?);
        }
        Ok(provider)
    }
}

/// GROUP BY the key over a raw scan, each value column combined by its aggregation type.
fn merge_plan(
    raw: Arc<OlapTableProvider>,
    table: &Table,
    columns: &SchemaRef,
) -> DfResult<LogicalPlan> {
    use datafusion::functions_aggregate::expr_fn::{max, min, sum};
    use datafusion::functions_aggregate::first_last::last_value_udaf;
    use datafusion::logical_expr::ExprFunctionExt;
    use datafusion::logical_expr::expr::NullTreatment;
    let Some(olap) = table.olap() else {
        return plan_err!("{} is not a table", table.name);
    };
    let column = |name: &str| Expr::Column(Column::new_unqualified(name));
    let latest = vec![column(SEQUENCE_COLUMN).sort(true, false)];
    let mut keys = vec![];
    let mut values = vec![];
    for c in &olap.columns {
        if c.is_key {
            keys.push(column(&c.name));
            continue;
        }
        let agg = match (olap.keys_type, c.agg) {
            (KeysType::Aggregate, Some(AggType::Sum)) => sum(column(&c.name)),
            (KeysType::Aggregate, Some(AggType::Max)) => max(column(&c.name)),
            (KeysType::Aggregate, Some(AggType::Min)) => min(column(&c.name)),
            (KeysType::Aggregate, Some(AggType::HllUnion)) => {
                Arc::new(rigel_functions::sketch::hll_union_udaf()).call(vec![column(&c.name)])
            }
            (KeysType::Aggregate, Some(AggType::BitmapUnion)) => {
                Arc::new(rigel_functions::sketch::bitmap_union_udaf()).call(vec![column(&c.name)])
            }
            (KeysType::Aggregate, Some(AggType::ReplaceIfNotNull)) => last_value_udaf()
                .call(vec![column(&c.name)])
                .order_by(latest.clone())
                .null_treatment(NullTreatment::IgnoreNulls)
                .build()?,
            _ => last_value_udaf()
                .call(vec![column(&c.name)])
                .order_by(latest.clone())
                .build()?,
        };
        values.push(agg.alias(&c.name));
    }
    // SUM widens its type; every column keeps the table's, and its metadata (the StarRocks
    // type, which tells a BITMAP from a VARBINARY).
    let output: Vec<Expr> = columns
        .fields()
        .iter()
        .map(|f| {
            let metadata = (!f.metadata().is_empty())
                .then(|| datafusion::common::metadata::FieldMetadata::from(f.metadata()));
            cast(column(f.name()), f.data_type().clone()).alias_with_metadata(f.name(), metadata)
        })
        .collect();
    LogicalPlanBuilder::scan(table.name.as_str(), provider_as_source(raw), None)?
        .aggregate(keys, values)?
        .project(output)?
        .build()
}

/// The schema queries see: string columns as `Utf8View`, which the Parquet reader decodes
/// without copying dictionary values and which DataFusion filters, joins and groups faster
/// than `Utf8`. Segment files store plain strings; the reader converts while decoding.
fn scan_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => {
                f.as_ref().clone().with_data_type(DataType::Utf8View)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[async_trait]
impl TableProvider for OlapTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.merged.as_ref().map(Cow::Borrowed)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Filters prune partitions, buckets, row groups and pages; DataFusion re-applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(olap) = self.table.olap() else {
            return plan_err!("{} is not a table", self.table.name);
        };
        let selected = prune_partitions(olap, filters);
        let buckets = prune_buckets(olap, filters);
        let mut tablets = vec![];
        let mut names = vec![];
        let cluster = &self.ctx.env.cluster;
        for &i in &selected {
            let p = &olap.partitions[i];
            names.push(p.name.clone());
            let chosen: Vec<usize> = match &buckets {
                Some(b) => b.iter().map(|&bucket| bucket as usize).collect(),
                None => (0..p.tablets.len()).collect(),
            };
            for bucket in chosen {
                if let Some(t) = p.tablets.get(bucket) {
                    let backend =
                        crate::replica::read_from(cluster, p, bucket).map_err(external)?;
                    tablets.push((*t, p.visible_version, backend, bucket as u32));
                }
            }
        }
        if let Some(only) = &self.ctx.session.scan_tablets {
            tablets.retain(|(t, _, _, _)| only.contains(t));
        }
        self.ctx.scans.lock().push(ScanReport {
            table: format!("{}.{}", self.db, self.table.name),
            partitions: (selected.len(), olap.partitions.len(), names),
            tablets: (
                tablets.len(),
                olap.partitions.iter().map(|p| p.tablets.len()).sum(),
            ),
        });
        let options = state.config_options();
        let spec = ScanSpec {
            table_id: self.table.id,
            schema: Arc::clone(&self.columns),
            projection: projection.cloned(),
            filters: filters.to_vec(),
            limit,
            with_sequence: self.raw,
            pushdown_filters: options.execution.parquet.pushdown_filters,
            bucketing: match &olap.distribution {
                Distribution::Hash { columns, buckets } => columns
                    .iter()
                    .map(|c| self.columns.index_of(c).ok())
                    .collect::<Option<Vec<usize>>>()
                    .map(|columns| Bucketing {
                        columns,
                        buckets: *buckets,
                    }),
                Distribution::Random { .. } => None,
            },
        };
        // One group per backend; what each reads gives the statistics and the parallelism.
        let mut by_backend: BTreeMap<BackendId, (Vec<(TabletId, u64)>, Vec<u32>)> = BTreeMap::new();
        for (t, v, b, bucket) in tablets {
            let group = by_backend.entry(b).or_default();
            group.0.push((t, v));
            group.1.push(bucket);
        }
        let described = futures::future::try_join_all(by_backend.into_iter().map(
            |(backend, (tablets, buckets))| async move {
                let member = cluster.member(backend)?;
                let stats = member.client.describe_scan(tablets.clone()).await?;
                Ok::<_, SqlError>((
                    ScanGroup {
                        backend,
                        address: member.data_address.clone(),
                        tablets,
                        buckets,
                    },
                    stats,
                ))
            },
        ))
        .await
        .map_err(external)?;
        let target = options.execution.target_partitions.max(1);
        let files = described
            .iter()
            .map(|(_, s)| s.iter().map(|t| t.files).sum::<u64>() as usize)
            .max()
            .unwrap_or(0);
        let partitions_per_group = target.min(files).max(1);
        let rows: u64 = described
            .iter()
            .flat_map(|(_, s)| s.iter().map(|t| t.rows))
            .sum();
        let bytes: u64 = described
            .iter()
            .flat_map(|(_, s)| s.iter().map(|t| t.bytes))
            .sum();
        let output_schema = spec.output_schema()?;
        let mut statistics = Statistics::new_unknown(&output_schema);
        statistics.num_rows = Precision::Exact(rows as usize);
        statistics.total_byte_size = Precision::Inexact(bytes as usize);
        if let Some(columns) = crate::analyze::scan_statistics(olap, &self.columns)
            && columns.len() == self.columns.fields().len()
        {
            let mut columns = columns;
            if self.raw {
                columns.push(datafusion::common::ColumnStatistics::new_unknown());
            }
            statistics.column_statistics = match projection {
                Some(p) => p.iter().filter_map(|&i| columns.get(i).cloned()).collect(),
                None => columns,
            };
        }
        let groups = described.into_iter().map(|(g, _)| g).collect();
        let scan =
            TabletScanExec::try_new(Arc::new(spec), groups, partitions_per_group, 0, statistics)?;
        Ok(Arc::new(scan))
    }
}
