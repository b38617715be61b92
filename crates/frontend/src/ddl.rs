//! CREATE / DROP / ALTER / TRUNCATE.

use std::collections::BTreeMap;
use std::sync::Arc;

use rigel_be_api::TabletMeta;
use rigel_common::ids::{BackendId, DbId, PartitionId, TableId, TabletId};
use rigel_common::{ColumnType, ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use rigel_sql::{
    ColumnDef, CreateTable, CreateView, DistributionDesc, Insert, KeysDesc, KeysType,
    PartitionDesc, TableName,
};

use crate::error::{unknown_db, unknown_table};
use crate::session::Session;
use rigel_catalog::partition::{
    NewPartition, can_be_list_partition, expand_list_partitions, expand_range_partitions,
    parse_value,
};
use rigel_catalog::{
    COLOCATE_WITH, CatalogWriter, Distribution, IndexSpec, JournalEntry, OlapTable, Partition,
    PartitionScheme, Table, TableKind, ViewDef,
};
use rigel_cluster::Placer;

mod alter;
mod rules;

pub use rules::parse_ttl;
use rules::{check_primary_key, column_from_def, validate_identifier, validate_property};

fn now_ms() -> i64 {
    crate::now_ms()
}

fn table_exists(name: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_TABLE_EXISTS_ERROR,
        format!("Table '{name}' already exists"),
    )
}

/// A new partition of `olap`, with fresh ids and its tablets (whose metadata goes to
/// `tablets`).
pub(crate) fn allocate_partition(
    w: &mut CatalogWriter<'_>,
    olap: &OlapTable,
    table_id: TableId,
    np: NewPartition,
    placer: &mut Placer,
    tablets: &mut NewTablets,
) -> Result<Partition, SqlError> {
    let id = PartitionId(w.next_id()?);
    let ids: Vec<TabletId> = (0..olap.distribution.buckets())
        .map(|_| w.next_id().map(TabletId))
        .collect::<Result<_, _>>()?;
    let db = w.read().tables.get(&table_id).map(|t| t.db_id);
    let sequence = match db {
        Some(db) => w.read().colocate_sequence(db, olap)?,
        None => None,
    };
    let backends = place_tablets(
        placer,
        sequence.as_deref(),
        ids.len(),
        replication_num(olap),
    );
    tablets.extend(ids.iter().zip(&backends).flat_map(|(t, copies)| {
        copies
            .iter()
            .map(move |b| (*b, tablet_meta(olap, table_id, id, *t)))
    }));
    let mut partition = Partition {
        id,
        name: np.name,
        lower: np.lower,
        upper: np.upper,
        values: np.values,
        tablets: ids,
        replicas: vec![],
        visible_version: 1,
        visible_version_time_ms: now_ms(),
        created_ms: now_ms(),
    };
    partition.place(&backends);
    Ok(partition)
}

/// The replicas each tablet of `olap` has: its `replication_num` (1 when not set).
pub(crate) fn replication_num(olap: &OlapTable) -> usize {
    olap.properties
        .get("replication_num")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The backends of the `copies` replicas of `tablets` new tablets, by bucket: where their
/// colocation group has them (`sequence`), else on the least loaded live backends.
fn place_tablets(
    placer: &mut Placer,
    sequence: Option<&[Vec<BackendId>]>,
    tablets: usize,
    copies: usize,
) -> Vec<Vec<BackendId>> {
    match sequence {
        Some(sequence) if sequence.len() == tablets => placer.follow(sequence),
        _ => placer.take_replicas(tablets, copies),
    }
}

/// Tablets to create, each with the backend it goes to.
pub(crate) type NewTablets = Vec<(BackendId, TabletMeta)>;

/// [`OlapTable::auto_partition`] of `PARTITION BY (c1, …)`.
pub(crate) const AUTO_LIST: &str = "values";

/// Checks LIST partition columns; returns their names, lowercased.
fn list_partition_columns(
    columns: &[String],
    col_ty: &dyn Fn(&str) -> Result<ColumnType, SqlError>,
) -> Result<Vec<String>, SqlError> {
    if columns.is_empty() {
        return Err(ddl_error("LIST partitioning needs a column"));
    }
    let mut names = vec![];
    for c in columns {
        let c = c.trim().trim_matches('`').to_ascii_lowercase();
        let ty = col_ty(&c)?;
        if !can_be_list_partition(&ty) {
            return Err(ddl_error(format!(
                "Column '{c}' of type {ty} cannot be a LIST partition column"
            )));
        }
        if names.contains(&c) {
            return Err(ddl_error(format!("Partition column '{c}' is listed twice")));
        }
        names.push(c);
    }
    Ok(names)
}

/// The storage metadata of a new tablet of an OLAP table.
pub(crate) fn tablet_meta(
    olap: &OlapTable,
    table_id: TableId,
    partition_id: PartitionId,
    tablet_id: TabletId,
) -> TabletMeta {
    TabletMeta {
        tablet_id,
        table_id,
        partition_id,
        created_ms: now_ms(),
        primary_key: olap.primary_key_uids(),
        persistent_index: olap.persistent_index(),
    }
}

/// The tablets of the partitions of `olap` that `which` selects, with their backends.
pub(crate) fn new_tablets_of(
    olap: &OlapTable,
    table_id: TableId,
    which: impl Fn(&Partition) -> bool,
) -> NewTablets {
    olap.partitions
        .iter()
        .filter(|p| which(p))
        .flat_map(|p| {
            p.placed_tablets()
                .map(move |(t, b)| (b, tablet_meta(olap, table_id, p.id, t)))
        })
        .collect()
}

pub(crate) fn ddl_error(msg: impl Into<String>) -> SqlError {
    SqlError::new(ErrorCode::ER_WRONG_ARGUMENTS, msg)
}

fn default_buckets() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2)
        .clamp(1, 16)
}

impl Session {
    pub(crate) async fn create_database(
        &mut self,
        if_not_exists: bool,
        name: &str,
        properties: &[(String, String)],
    ) -> Result<QueryResult, SqlError> {
        validate_identifier(name, "database")?;
        for (k, _) in properties {
            if !k.starts_with("replication_num") && !k.starts_with("storage_volume") {
                return Err(ddl_error(format!("Unknown properties: {{{k}}}")));
            }
        }
        if name.eq_ignore_ascii_case(crate::provider::INFORMATION_SCHEMA) {
            return Err(SqlError::new(
                ErrorCode::ER_DB_CREATE_EXISTS,
                format!("Can't create database '{name}'; database exists"),
            ));
        }
        let mut w = self.fe.catalog().writer().await;
        if w.read().database(name).is_some() {
            if if_not_exists {
                return Ok(QueryResult::ok());
            }
            return Err(SqlError::new(
                ErrorCode::ER_DB_CREATE_EXISTS,
                format!("Can't create database '{name}'; database exists"),
            ));
        }
        let id = DbId(w.next_id()?);
        w.commit(vec![JournalEntry::CreateDatabase {
            id,
            name: name.to_string(),
            created_ms: now_ms(),
        }])?;
        Ok(QueryResult::ok())
    }

    pub(crate) async fn drop_database(
        &mut self,
        if_exists: bool,
        name: &str,
    ) -> Result<QueryResult, SqlError> {
        let mut w = self.fe.catalog().writer().await;
        let (id, tablets) = {
            let state = w.read();
            let Some(db) = state.database(name) else {
                if if_exists {
                    return Ok(QueryResult::ok());
                }
                return Err(SqlError::new(
                    ErrorCode::ER_DB_DROP_EXISTS,
                    format!("Can't drop database '{name}'; database doesn't exist"),
                ));
            };
            let tablets: Vec<(TabletId, BackendId)> = db
                .tables
                .values()
                .filter_map(|t| state.tables.get(t))
                .filter_map(|t| t.olap())
                .flat_map(|o| o.placed_tablets())
                .collect();
            (db.id, tablets)
        };
        w.commit(vec![JournalEntry::DropDatabase { id }])?;
        drop(w);
        if !tablets.is_empty() {
            self.fe.cluster().drop_tablets(tablets).await?;
        }
        if self.db.as_deref() == Some(name) {
            self.db = None;
        }
        Ok(QueryResult::ok())
    }

    fn db_id(&self, w: &CatalogWriter<'_>, db: &str) -> Result<DbId, SqlError> {
        w.read()
            .database(db)
            .map(|d| d.id)
            .ok_or_else(|| unknown_db(db))
    }

    pub(crate) async fn create_table(&mut self, ct: CreateTable) -> Result<QueryResult, SqlError> {
        if ct.external {
            return Err(SqlError::not_supported("CREATE EXTERNAL TABLE"));
        }
        if ct.temporary {
            return Err(SqlError::not_supported("CREATE TEMPORARY TABLE"));
        }
        if let Some(engine) = &ct.engine
            && !engine.eq_ignore_ascii_case("olap")
        {
            return Err(SqlError::not_supported(format!("ENGINE = {engine}")));
        }
        let db = self.db_of(&ct.name.db)?;
        validate_identifier(&ct.name.name, "table")?;
        if ct.as_query.is_some() {
            return self.create_table_as_select(ct, db).await;
        }
        {
            let state = self.fe.catalog().read();
            if state.database(&db).is_none() {
                return Err(unknown_db(&db));
            }
            if state
                .database(&db)
                .is_some_and(|d| d.tables.contains_key(&ct.name.name))
            {
                if ct.if_not_exists {
                    return Ok(QueryResult::ok());
                }
                return Err(table_exists(&ct.name.name));
            }
        }
        let mut olap = self.build_olap_table(&ct)?;
        self.create_olap_table(
            &db,
            &ct.name.name,
            ct.if_not_exists,
            ct.comment.clone(),
            &mut olap,
        )
        .await?;
        Ok(QueryResult::Ok {
            affected_rows: 0,
            last_insert_id: 0,
            warnings: self.warnings.len() as u16,
            info: String::new(),
        })
    }

    /// Validates a CREATE TABLE and builds the table definition (without ids).
    fn build_olap_table(&mut self, ct: &CreateTable) -> Result<OlapTable, SqlError> {
        if ct.columns.is_empty() {
            return Err(ddl_error("a table needs at least one column"));
        }
        // Columns.
        let mut seen = std::collections::HashSet::new();
        for c in &ct.columns {
            if !seen.insert(c.name.to_ascii_lowercase()) {
                return Err(SqlError::new(
                    ErrorCode::ER_DUP_FIELDNAME,
                    format!("Duplicate column name '{}'", c.name),
                ));
            }
            validate_identifier(&c.name, "column")?;
        }
        // Key model.
        let keys = match &ct.keys {
            Some(k) => k.clone(),
            None => {
                // StarRocks picks up to three leading columns, stopping after a string.
                let mut cols = vec![];
                for c in &ct.columns {
                    if !c.ty.can_be_key() || cols.len() == 3 {
                        break;
                    }
                    cols.push(c.name.clone());
                    if c.ty.is_string() {
                        break;
                    }
                }
                if cols.is_empty() {
                    return Err(ddl_error(
                        "the first column cannot be a key; declare DUPLICATE KEY(...) explicitly",
                    ));
                }
                KeysDesc {
                    kind: KeysType::Duplicate,
                    columns: cols,
                }
            }
        };
        if keys.columns.is_empty() {
            return Err(ddl_error("the key needs at least one column"));
        }
        for (i, k) in keys.columns.iter().enumerate() {
            let Some(pos) = ct
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(k))
            else {
                return Err(SqlError::new(
                    ErrorCode::ER_BAD_FIELD_ERROR,
                    format!("Key column '{k}' does not exist"),
                ));
            };
            if pos != i {
                return Err(ddl_error(format!(
                    "Key columns must be the first columns of the table, in order; '{k}' is not"
                )));
            }
            if !ct.columns[pos].ty.can_be_key() {
                return Err(ddl_error(format!(
                    "Type {} of column '{k}' cannot be a key",
                    ct.columns[pos].ty
                )));
            }
        }
        let mut columns = vec![];
        for (i, def) in ct.columns.iter().enumerate() {
            let is_key = i < keys.columns.len();
            let mut def = def.clone();
            match keys.kind {
                KeysType::Aggregate => {
                    if is_key && def.agg.is_some() {
                        return Err(ddl_error(format!(
                            "Key column '{}' must not have an aggregation type",
                            def.name
                        )));
                    }
                    if !is_key && def.agg.is_none() {
                        return Err(ddl_error(format!(
                            "Value column '{}' of an AGGREGATE KEY table needs an aggregation type",
                            def.name
                        )));
                    }
                }
                _ => {
                    if def.agg.is_some() {
                        return Err(ddl_error(format!(
                            "Aggregation type on column '{}' is only valid in AGGREGATE KEY tables",
                            def.name
                        )));
                    }
                }
            }
            if keys.kind == KeysType::Primary && is_key {
                if def.nullable == Some(true) {
                    return Err(ddl_error(format!(
                        "Primary key column '{}' must be NOT NULL",
                        def.name
                    )));
                }
                def.nullable = Some(false);
            }
            columns.push(column_from_def(&def, i as u32, is_key)?);
        }
        if keys.kind == KeysType::Primary {
            check_primary_key(&columns)?;
        }
        let col_ty = |name: &str| -> Result<ColumnType, SqlError> {
            columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .map(|c| c.ty.clone())
                .ok_or_else(|| {
                    SqlError::new(
                        ErrorCode::ER_BAD_FIELD_ERROR,
                        format!("Unknown column '{name}'"),
                    )
                })
        };
        // Partitioning.
        let mut auto_partition = None;
        let mut list_defs: Vec<(String, Vec<Vec<String>>)> = vec![];
        let (partition_scheme, range_defs) = match &ct.partition {
            None => (PartitionScheme::Unpartitioned, vec![]),
            Some(PartitionDesc::Range {
                columns: pcols,
                partitions,
            }) => {
                if pcols.is_empty() {
                    return Err(ddl_error("PARTITION BY RANGE needs a column"));
                }
                let mut names = vec![];
                for c in pcols {
                    let ty = col_ty(c)?;
                    if !ty.can_be_range_partition() {
                        return Err(ddl_error(format!(
                            "Column '{c}' of type {ty} cannot be a RANGE partition column"
                        )));
                    }
                    names.push(c.to_ascii_lowercase());
                }
                (
                    PartitionScheme::Range { columns: names },
                    partitions.clone(),
                )
            }
            Some(PartitionDesc::List {
                columns: pcols,
                partitions,
            }) => {
                let names = list_partition_columns(pcols, &col_ty)?;
                list_defs = partitions.clone();
                (PartitionScheme::List { columns: names }, vec![])
            }
            // `PARTITION BY (c1, …)`: a LIST partition per distinct value tuple, created by
            // the loads that bring it.
            Some(PartitionDesc::Expr {
                function: None,
                args,
            }) => {
                let names = list_partition_columns(args, &col_ty)?;
                auto_partition = Some(AUTO_LIST.to_string());
                (PartitionScheme::List { columns: names }, vec![])
            }
            Some(PartitionDesc::Expr { function, args }) => {
                let is_date_trunc = function
                    .as_deref()
                    .is_some_and(|f| f.eq_ignore_ascii_case("date_trunc"));
                let [unit, column] = args.as_slice() else {
                    return Err(SqlError::not_supported(
                        "Expression partitioning other than PARTITION BY date_trunc('<unit>', col)",
                    ));
                };
                if !is_date_trunc {
                    return Err(SqlError::not_supported(
                        "Expression partitioning other than PARTITION BY date_trunc('<unit>', col)",
                    ));
                }
                let unit = unit
                    .trim()
                    .trim_matches(|c| c == '\'' || c == '"')
                    .to_ascii_lowercase();
                if !matches!(unit.as_str(), "hour" | "day" | "month" | "year") {
                    return Err(ddl_error(format!(
                        "date_trunc partitioning by '{unit}': expected hour, day, month or year"
                    )));
                }
                let column = column.trim().trim_matches('`').to_ascii_lowercase();
                let ty = col_ty(&column)?;
                if !matches!(ty, ColumnType::Date | ColumnType::Datetime) {
                    return Err(ddl_error(format!(
                        "date_trunc partitioning needs a DATE or DATETIME column; '{column}' is {ty}"
                    )));
                }
                if unit == "hour" && ty == ColumnType::Date {
                    return Err(ddl_error(
                        "date_trunc partitioning by hour needs a DATETIME column",
                    ));
                }
                auto_partition = Some(unit);
                (
                    PartitionScheme::Range {
                        columns: vec![column],
                    },
                    vec![],
                )
            }
        };
        // Distribution.
        let distribution = match &ct.distribution {
            Some(DistributionDesc::Hash {
                columns: dcols,
                buckets,
            }) => {
                let mut names = vec![];
                for c in dcols {
                    let ty = col_ty(c)?;
                    if !ty.can_be_key() {
                        return Err(ddl_error(format!(
                            "Column '{c}' of type {ty} cannot be a distribution column"
                        )));
                    }
                    names.push(c.to_ascii_lowercase());
                }
                Distribution::Hash {
                    columns: names,
                    buckets: buckets.unwrap_or_else(default_buckets),
                }
            }
            Some(DistributionDesc::Random { buckets }) => {
                if keys.kind != KeysType::Duplicate {
                    return Err(ddl_error(
                        "DISTRIBUTED BY RANDOM is only supported for DUPLICATE KEY tables",
                    ));
                }
                Distribution::Random {
                    buckets: buckets.unwrap_or_else(default_buckets),
                }
            }
            None => {
                if keys.kind == KeysType::Duplicate {
                    Distribution::Random {
                        buckets: default_buckets(),
                    }
                } else {
                    Distribution::Hash {
                        columns: keys
                            .columns
                            .iter()
                            .map(|c| c.to_ascii_lowercase())
                            .collect(),
                        buckets: default_buckets(),
                    }
                }
            }
        };
        if keys.kind == KeysType::Primary {
            // Partition and bucket columns must be part of the primary key.
            let key_set: Vec<String> = keys
                .columns
                .iter()
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let mut needed = vec![];
            needed.extend(partition_scheme.columns().iter().cloned());
            if let Distribution::Hash { columns, .. } = &distribution {
                needed.extend(columns.clone());
            }
            for c in needed {
                if !key_set.contains(&c) {
                    return Err(ddl_error(format!(
                        "Partition and distribution columns must be primary key columns; '{c}' is not"
                    )));
                }
            }
        }
        let mut order_by = vec![];
        for c in &ct.order_by {
            col_ty(c)?;
            order_by.push(c.to_ascii_lowercase());
        }
        // Properties.
        let mut properties = BTreeMap::new();
        for (k, v) in &ct.properties {
            let (k, v) = validate_property(k, v, &columns)?;
            properties.insert(k, v);
        }
        // Set when the tablets are placed, from the backends alive then.
        let under_replicated = false;
        let indexes = ct.indexes.iter().map(IndexSpec::from).collect();
        // Partitions (ids are assigned at creation).
        let types: Vec<ColumnType> = partition_scheme
            .columns()
            .iter()
            .map(|c| col_ty(c))
            .collect::<Result<_, _>>()?;
        let new_parts = match &partition_scheme {
            PartitionScheme::Range { .. } => expand_range_partitions(&range_defs, &types, &[])?,
            PartitionScheme::List { .. } => expand_list_partitions(&list_defs, &types, &[])?,
            PartitionScheme::Unpartitioned => vec![NewPartition {
                name: ct.name.name.clone(),
                lower: None,
                upper: None,
                values: None,
            }],
        };
        let next_column_uid = columns.len() as u32;
        let partitions = new_parts
            .into_iter()
            .map(|p| Partition {
                id: PartitionId(0),
                name: p.name,
                lower: p.lower,
                upper: p.upper,
                values: p.values,
                tablets: vec![],
                replicas: vec![],
                visible_version: 1,
                visible_version_time_ms: now_ms(),
                created_ms: now_ms(),
            })
            .collect();
        Ok(OlapTable {
            columns,
            keys_type: keys.kind,
            partition_scheme,
            partitions,
            distribution,
            order_by,
            properties,
            indexes,
            next_column_uid,
            under_replicated,
            statistics: None,
            auto_partition,
        })
    }

    /// Assigns ids, creates the tablets and records the table.
    async fn create_olap_table(
        &mut self,
        db: &str,
        name: &str,
        if_not_exists: bool,
        comment: Option<String>,
        olap: &mut OlapTable,
    ) -> Result<Arc<Table>, SqlError> {
        let mut w = self.fe.catalog().writer().await;
        let db_id = self.db_id(&w, db)?;
        if let Some(existing) = w.read().table(db, name)
            && existing.name == name
        {
            if if_not_exists {
                return Ok(existing);
            }
            return Err(table_exists(name));
        }
        let table_id = TableId(w.next_id()?);
        let buckets = olap.distribution.buckets();
        let mut placer = self.fe.cluster().placer(&w.read().tablets_per_backend())?;
        let replicas = replication_num(olap);
        let warning = (replicas > placer.live()).then(|| {
            format!(
                "replication_num {replicas} is larger than the number of alive backends ({}); the table is created with its tablets marked under-replicated",
                placer.live()
            )
        });
        olap.under_replicated = warning.is_some();
        // In a colocation group every partition puts its buckets where the group does; a
        // new group takes the placement of the table's first partition.
        let mut sequence = w.read().colocate_sequence(db_id, olap)?;
        let grouped = olap.properties.contains_key(COLOCATE_WITH);
        for p in olap.partitions.iter_mut() {
            p.id = PartitionId(w.next_id()?);
            p.tablets = (0..buckets)
                .map(|_| w.next_id().map(TabletId))
                .collect::<Result<_, _>>()?;
            let backends =
                place_tablets(&mut placer, sequence.as_deref(), p.tablets.len(), replicas);
            if grouped && sequence.is_none() {
                sequence = Some(backends.clone());
            }
            p.place(&backends);
        }
        let metas = new_tablets_of(olap, table_id, |_| true);
        self.fe.cluster().create_tablets(metas).await?;
        let table = Table {
            id: table_id,
            db_id,
            name: name.to_string(),
            comment: comment.unwrap_or_default(),
            kind: TableKind::Olap(olap.clone()),
            created_ms: now_ms(),
            updated_ms: now_ms(),
        };
        w.commit(vec![JournalEntry::PutTable {
            table: Box::new(table.clone()),
        }])?;
        drop(w);
        if let Some(warning) = warning {
            self.warn(ErrorCode::ER_WRONG_ARGUMENTS, warning);
        }
        Ok(Arc::new(table))
    }

    async fn create_table_as_select(
        &mut self,
        mut ct: CreateTable,
        db: String,
    ) -> Result<QueryResult, SqlError> {
        let Some(query) = ct.as_query.take() else {
            return Err(SqlError::internal("CTAS without a query"));
        };
        if self.fe.catalog().read().table(&db, &ct.name.name).is_some() {
            if ct.if_not_exists {
                return Ok(QueryResult::ok());
            }
            return Err(table_exists(&ct.name.name));
        }
        let schema = self.query_schema((*query).clone()).await?;
        if !ct.column_names.is_empty() && ct.column_names.len() != schema.fields().len() {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_VALUE_COUNT,
                "Column count of the table and the query differ",
            ));
        }
        let mut columns = vec![];
        for (i, f) in schema.fields().iter().enumerate() {
            let name = ct
                .column_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| f.name().clone());
            let ty = ColumnType::from_field(f).ok_or_else(|| {
                SqlError::not_supported(format!("CTAS column '{name}' of type {}", f.data_type()))
            })?;
            // A NULL literal in the query has no type; store it as a string.
            columns.push(ColumnDef {
                name,
                ty,
                agg: None,
                nullable: Some(true),
                default: None,
                auto_increment: false,
                generated: None,
                comment: None,
            });
        }
        ct.columns = columns;
        if ct.keys.is_none() {
            let first = ct
                .columns
                .iter()
                .find(|c| c.ty.can_be_key())
                .map(|c| c.name.clone())
                .ok_or_else(|| ddl_error("CTAS needs a column usable as a key"))?;
            if ct.columns.first().map(|c| &c.name) != Some(&first) {
                return Err(ddl_error(
                    "the first column of the query cannot be a key; declare DUPLICATE KEY(...)",
                ));
            }
            ct.keys = Some(KeysDesc {
                kind: KeysType::Duplicate,
                columns: vec![first],
            });
        }
        let mut olap = self.build_olap_table(&ct)?;
        self.create_olap_table(&db, &ct.name.name, false, ct.comment.clone(), &mut olap)
            .await?;
        let insert = Insert {
            overwrite: false,
            table: TableName {
                db: Some(db.clone()),
                name: ct.name.name.clone(),
            },
            partitions: vec![],
            label: None,
            columns: vec![],
            source: query,
        };
        match self.insert(insert, "").await {
            Ok(r) => Ok(r),
            Err(e) => {
                // The table of a failed CTAS does not stay behind.
                let _ = self
                    .drop_table(
                        true,
                        TableName {
                            db: Some(db),
                            name: ct.name.name.clone(),
                        },
                        false,
                        true,
                    )
                    .await;
                Err(e)
            }
        }
    }

    pub(crate) async fn create_table_like(
        &mut self,
        if_not_exists: bool,
        name: TableName,
        like: TableName,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let src_db = self.db_of(&like.db)?;
        let src = self
            .fe
            .catalog()
            .read()
            .table(&src_db, &like.name)
            .ok_or_else(|| unknown_table(&src_db, &like.name))?;
        let Some(src_olap) = src.olap() else {
            return Err(ddl_error("CREATE TABLE LIKE needs a table, not a view"));
        };
        let mut olap = src_olap.clone();
        for p in olap.partitions.iter_mut() {
            p.visible_version = 1;
            p.tablets.clear();
        }
        if let PartitionScheme::Unpartitioned = olap.partition_scheme
            && let Some(p) = olap.partitions.first_mut()
        {
            p.name = name.name.clone();
        }
        self.create_olap_table(
            &db,
            &name.name,
            if_not_exists,
            Some(src.comment.clone()),
            &mut olap,
        )
        .await?;
        Ok(QueryResult::ok())
    }

    pub(crate) async fn drop_table(
        &mut self,
        if_exists: bool,
        name: TableName,
        view: bool,
        force: bool,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let mut w = self.fe.catalog().writer().await;
        if w.read().database(&db).is_none() {
            return Err(unknown_db(&db));
        }
        let Some(table) = w.read().table(&db, &name.name) else {
            if if_exists {
                return Ok(QueryResult::ok());
            }
            return Err(SqlError::new(
                ErrorCode::ER_BAD_TABLE_ERROR,
                format!("Unknown table '{db}.{}'", name.name),
            ));
        };
        if view && !table.is_view() {
            return Err(ddl_error(format!("'{db}.{}' is not a view", name.name)));
        }
        if !view && table.is_view() {
            return Err(ddl_error(format!(
                "'{db}.{}' is a view; use DROP VIEW",
                name.name
            )));
        }
        // Into the recycle bin (RECOVER TABLE), unless FORCE.
        let mut entries = vec![JournalEntry::DropTable {
            id: table.id,
            dropped_ms: now_ms(),
        }];
        if force {
            entries.push(JournalEntry::PurgeTable { id: table.id });
        }
        w.commit(entries)?;
        drop(w);
        if force && let Some(o) = table.olap() {
            let tablets = o.placed_tablets();
            if !tablets.is_empty() {
                self.fe.cluster().drop_tablets(tablets).await?;
            }
        }
        Ok(QueryResult::ok())
    }

    pub(crate) async fn create_view(&mut self, v: CreateView) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&v.name.db)?;
        validate_identifier(&v.name.name, "view")?;
        // The query must plan (in the view's database).
        let saved = self.db.clone();
        self.db = Some(db.clone());
        let planned = self.query_schema((*v.query).clone()).await;
        self.db = saved;
        let schema = planned?;
        if !v.columns.is_empty() && v.columns.len() != schema.fields().len() {
            return Err(SqlError::new(
                ErrorCode::ER_WRONG_VALUE_COUNT,
                "View's SELECT and view's field list have different column counts",
            ));
        }
        let mut w = self.fe.catalog().writer().await;
        let db_id = self.db_id(&w, &db)?;
        let existing = w.read().table(&db, &v.name.name);
        let id = match existing {
            Some(t) if t.name == v.name.name => {
                if v.if_not_exists {
                    return Ok(QueryResult::ok());
                }
                if !v.or_replace {
                    return Err(table_exists(&v.name.name));
                }
                if !t.is_view() {
                    return Err(ddl_error(format!("'{}' is a table, not a view", t.name)));
                }
                t.id
            }
            _ => TableId(w.next_id()?),
        };
        let table = Table {
            id,
            db_id,
            name: v.name.name.clone(),
            comment: v.comment.clone().unwrap_or_default(),
            kind: TableKind::View(ViewDef {
                query: v.query.to_string(),
                columns: v.columns.clone(),
            }),
            created_ms: now_ms(),
            updated_ms: now_ms(),
        };
        w.commit(vec![JournalEntry::PutTable {
            table: Box::new(table),
        }])?;
        Ok(QueryResult::ok())
    }

    pub(crate) async fn truncate(
        &mut self,
        name: TableName,
        partitions: Vec<String>,
    ) -> Result<QueryResult, SqlError> {
        let db = self.db_of(&name.db)?;
        let mut w = self.fe.catalog().writer().await;
        let table = w
            .read()
            .table(&db, &name.name)
            .ok_or_else(|| unknown_table(&db, &name.name))?;
        let Some(olap) = table.olap() else {
            return Err(ddl_error("TRUNCATE needs a table, not a view"));
        };
        for p in &partitions {
            if olap.partition(p).is_none() {
                return Err(SqlError::new(
                    ErrorCode::ER_UNKNOWN_PARTITION,
                    format!("Unknown partition '{p}' in table '{}'", table.name),
                ));
            }
        }
        let mut new_table = (*table).clone();
        let TableKind::Olap(new_olap) = &mut new_table.kind else {
            return Err(SqlError::internal("not an OLAP table"));
        };
        let mut old_tablets = vec![];
        let mut created = std::collections::HashSet::new();
        // The new tablets stay where the old ones were.
        for p in new_olap.partitions.iter_mut() {
            if !partitions.is_empty() && !partitions.iter().any(|n| n.eq_ignore_ascii_case(&p.name))
            {
                continue;
            }
            old_tablets.extend(p.placed_tablets());
            let count = p.tablets.len();
            let backends = p.tablet_backends();
            p.tablets = (0..count)
                .map(|_| w.next_id().map(TabletId))
                .collect::<Result<_, _>>()?;
            p.place(&backends);
            // Versions keep increasing so no reader mixes old and new tablets.
            p.visible_version += 1;
            created.insert(p.id);
        }
        let metas = new_tablets_of(new_olap, table.id, |p| created.contains(&p.id));
        new_table.updated_ms = now_ms();
        self.fe.cluster().create_tablets(metas).await?;
        w.commit(vec![JournalEntry::PutTable {
            table: Box::new(new_table),
        }])?;
        drop(w);
        if !old_tablets.is_empty() {
            self.fe.cluster().drop_tablets(old_tablets).await?;
        }
        Ok(QueryResult::ok())
    }
}

pub(crate) fn sort_partitions(olap: &mut OlapTable, types: &[ColumnType]) {
    let key = |p: &Partition| -> Option<datafusion::scalar::ScalarValue> {
        p.lower
            .as_ref()
            .and_then(|l| l.first())
            .and_then(|v| parse_value(v, &types[0]).ok())
    };
    olap.partitions.sort_by(|a, b| match (key(a), key(b)) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Less,
        (_, None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
    });
}
