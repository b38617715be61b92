//! The catalog's data model: databases, tables, partitions, tablets.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use rigel_common::ColumnType;
use rigel_common::ids::{BackendId, DbId, EMBEDDED_BACKEND, PartitionId, TableId, TabletId};
use rigel_common::types::COLUMN_ID_METADATA_KEY;
use rigel_sql::{AggType, DefaultValue, IndexDef, KeysType};
use serde::{Deserialize, Serialize};

/// A database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Database {
    /// Id.
    pub id: DbId,
    /// Name.
    pub name: String,
    /// Tables and views by name.
    pub tables: BTreeMap<String, TableId>,
    /// Creation time (ms).
    pub created_ms: i64,
}

/// A column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Unique id within the table, stable across renames; segment files refer to it.
    pub uid: u32,
    /// Name.
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Part of the key.
    pub is_key: bool,
    /// Aggregation type (AGGREGATE KEY value columns).
    #[serde(with = "agg_serde")]
    pub agg: Option<AggType>,
    /// Default value.
    #[serde(with = "default_serde")]
    pub default: Option<DefaultValue>,
    /// `AUTO_INCREMENT`
    pub auto_increment: bool,
    /// Comment.
    pub comment: String,
    /// What rows written before this column existed read as (its default when added).
    pub fill: Option<String>,
}

impl Column {
    /// What loaded and inserted values of this column are converted to.
    pub fn target(&self) -> rigel_common::convert::TargetColumn {
        rigel_common::convert::TargetColumn {
            name: self.name.clone(),
            ty: self.ty.clone(),
            nullable: self.nullable,
        }
    }
}

/// Partitioning of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionScheme {
    /// One partition named after the table.
    Unpartitioned,
    /// RANGE on these columns.
    Range {
        /// Partition columns.
        columns: Vec<String>,
    },
    /// LIST on these columns: each partition holds the rows whose values are one of its
    /// value tuples.
    List {
        /// Partition columns.
        columns: Vec<String>,
    },
}

impl PartitionScheme {
    /// The partition columns (none for an unpartitioned table).
    pub fn columns(&self) -> &[String] {
        match self {
            PartitionScheme::Unpartitioned => &[],
            PartitionScheme::Range { columns } | PartitionScheme::List { columns } => columns,
        }
    }

    /// The partition columns, to rename one.
    pub fn columns_mut(&mut self) -> &mut [String] {
        match self {
            PartitionScheme::Unpartitioned => &mut [],
            PartitionScheme::Range { columns } | PartitionScheme::List { columns } => columns,
        }
    }
}

/// A partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Id.
    pub id: PartitionId,
    /// Name.
    pub name: String,
    /// Inclusive lower bound (one literal per partition column); None = no lower bound.
    pub lower: Option<Vec<String>>,
    /// Exclusive upper bound; None = MAXVALUE.
    pub upper: Option<Vec<String>>,
    /// LIST partitions: the value tuples (one literal per partition column) it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Vec<String>>>,
    /// Tablets by bucket.
    pub tablets: Vec<TabletId>,
    /// Where each tablet's replicas are, by bucket (empty in catalogs written before
    /// placement was recorded: then every tablet is on the embedded backend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Vec<Replica>>,
    /// Highest committed version; every tablet is read at this version.
    pub visible_version: u64,
    /// Time of the last visible version (ms).
    pub visible_version_time_ms: i64,
    /// Creation time (ms).
    pub created_ms: i64,
}

/// One copy of a tablet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// The backend holding it.
    pub backend: BackendId,
    /// The first committed version this replica lacks (its backend did not prepare that
    /// load); `None` when it has every committed version. A replica that lacks one is
    /// never read until it has caught up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_from: Option<u64>,
}

impl Replica {
    /// A complete replica on `backend`.
    pub fn on(backend: BackendId) -> Self {
        Self {
            backend,
            missing_from: None,
        }
    }

    /// Whether it holds every committed version.
    pub fn is_complete(&self) -> bool {
        self.missing_from.is_none()
    }
}

impl Partition {
    /// The replicas of the tablet of `bucket` (catalogs written before placement was
    /// recorded have none: their one copy is on the embedded backend).
    pub fn replicas_of(&self, bucket: usize) -> Vec<Replica> {
        match self.replicas.get(bucket) {
            Some(r) if !r.is_empty() => r.clone(),
            _ => vec![Replica::on(EMBEDDED_BACKEND)],
        }
    }

    /// The replica of the tablet of `bucket` to read: a complete one on a backend
    /// `usable` accepts, trying the replicas from one that depends on the bucket, so that
    /// reads spread over the replicas and the buckets of a colocation group (placed alike)
    /// are read on the same backend. `None` when no replica qualifies.
    pub fn read_replica(
        &self,
        bucket: usize,
        usable: impl Fn(BackendId) -> bool,
    ) -> Option<BackendId> {
        let replicas = self.replicas_of(bucket);
        let n = replicas.len();
        (0..n)
            .map(|i| replicas[(bucket + i) % n])
            .find(|r| r.is_complete() && usable(r.backend))
            .map(|r| r.backend)
    }

    /// The backend of the first replica of the tablet of `bucket`.
    pub fn backend_of(&self, bucket: usize) -> BackendId {
        self.replicas
            .get(bucket)
            .and_then(|r| r.first())
            .map_or(EMBEDDED_BACKEND, |r| r.backend)
    }

    /// Every replica of every tablet: the tablet and the backend holding the copy.
    pub fn placed_tablets(&self) -> impl Iterator<Item = (TabletId, BackendId)> + '_ {
        self.tablets.iter().enumerate().flat_map(|(bucket, t)| {
            self.replicas_of(bucket)
                .into_iter()
                .map(move |r| (*t, r.backend))
        })
    }

    /// The backends of each tablet's replicas, by bucket.
    pub fn tablet_backends(&self) -> Vec<Vec<BackendId>> {
        (0..self.tablets.len())
            .map(|b| self.replicas_of(b).iter().map(|r| r.backend).collect())
            .collect()
    }

    /// Records the backends of every tablet's replicas, by bucket (all complete).
    pub fn place(&mut self, backends: &[Vec<BackendId>]) {
        self.replicas = backends
            .iter()
            .map(|copies| copies.iter().map(|&b| Replica::on(b)).collect())
            .collect();
    }
}

/// Bucketing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distribution {
    /// HASH on these columns.
    Hash {
        /// Columns.
        columns: Vec<String>,
        /// Bucket count.
        buckets: u32,
    },
    /// RANDOM.
    Random {
        /// Bucket count.
        buckets: u32,
    },
}

impl Distribution {
    /// Bucket count.
    pub fn buckets(&self) -> u32 {
        match self {
            Distribution::Hash { buckets, .. } | Distribution::Random { buckets } => *buckets,
        }
    }
}

/// An OLAP (native) table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OlapTable {
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Key model.
    #[serde(with = "keys_serde")]
    pub keys_type: KeysType,
    /// Partitioning.
    pub partition_scheme: PartitionScheme,
    /// Partitions, ordered by range.
    pub partitions: Vec<Partition>,
    /// Bucketing.
    pub distribution: Distribution,
    /// `ORDER BY` columns (sort key); empty means the key columns.
    pub order_by: Vec<String>,
    /// Table properties as given (validated), in key order.
    pub properties: BTreeMap<String, String>,
    /// Indexes.
    pub indexes: Vec<IndexSpec>,
    /// Next column uid.
    pub next_column_uid: u32,
    /// Tablets are under-replicated (fewer backends than `replication_num`).
    pub under_replicated: bool,
    /// Column statistics from the last ANALYZE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<TableStatistics>,
    /// Expression partitioning: partitions are created by the loads that need them. For
    /// `PARTITION BY date_trunc('<unit>', col)` (a RANGE scheme) the unit (`hour`, `day`,
    /// `month` or `year`); for `PARTITION BY (c1, …)` (a LIST scheme) `"values"`, one
    /// partition per distinct value tuple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_partition: Option<String>,
}

/// What ANALYZE found in a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStatistics {
    /// Rows when analyzed.
    pub rows: u64,
    /// Analyzed columns.
    pub columns: Vec<ColumnStatistics>,
    /// When, milliseconds since the epoch.
    pub updated_ms: i64,
}

/// What ANALYZE found in a column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStatistics {
    /// Column name.
    pub name: String,
    /// Distinct values (estimated).
    pub ndv: u64,
    /// NULL values.
    pub nulls: u64,
    /// Smallest value, as text.
    pub min: Option<String>,
    /// Largest value, as text.
    pub max: Option<String>,
}

/// An index definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    /// Name.
    pub name: String,
    /// Columns.
    pub columns: Vec<String>,
    /// Kind (BITMAP, …).
    pub using: Option<String>,
    /// Comment.
    pub comment: Option<String>,
}

impl From<&IndexDef> for IndexSpec {
    fn from(d: &IndexDef) -> Self {
        Self {
            name: d.name.clone(),
            columns: d.columns.clone(),
            using: d.using.clone(),
            comment: d.comment.clone(),
        }
    }
}

/// A view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    /// The query, as SQL.
    pub query: String,
    /// Column names given in the definition (with comments).
    pub columns: Vec<(String, Option<String>)>,
}

/// What a table is.
// Tables live behind `Arc` in the catalog and are rarely moved; boxing the common variant
// would only add an indirection to every catalog lookup.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TableKind {
    /// Native table.
    Olap(OlapTable),
    /// View.
    View(ViewDef),
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Id.
    pub id: TableId,
    /// Database.
    pub db_id: DbId,
    /// Name.
    pub name: String,
    /// Comment.
    pub comment: String,
    /// Kind.
    pub kind: TableKind,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Last schema/partition change (ms).
    pub updated_ms: i64,
}

impl Table {
    /// The OLAP part, if this is a native table.
    pub fn olap(&self) -> Option<&OlapTable> {
        match &self.kind {
            TableKind::Olap(o) => Some(o),
            TableKind::View(_) => None,
        }
    }

    /// Is this a view?
    pub fn is_view(&self) -> bool {
        matches!(self.kind, TableKind::View(_))
    }
}

impl OlapTable {
    /// Finds a column by name (case-insensitive).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Index of a column by name (case-insensitive).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The Arrow schema of the table: field names are the column names, field metadata holds
    /// the StarRocks type, the column id and the fill value.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .columns
            .iter()
            .map(|c| {
                let field = c.ty.to_field(&c.name, c.nullable);
                let mut md = field.metadata().clone();
                md.insert(COLUMN_ID_METADATA_KEY.to_string(), c.uid.to_string());
                if let Some(fill) = &c.fill {
                    md.insert(rigel_be_api::FILL_METADATA_KEY.to_string(), fill.clone());
                }
                field.with_metadata(md)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// PRIMARY KEY tables: the column ids of the key, in order (empty for other models).
    pub fn primary_key_uids(&self) -> Vec<u32> {
        if self.keys_type != KeysType::Primary {
            return vec![];
        }
        self.columns
            .iter()
            .filter(|c| c.is_key)
            .map(|c| c.uid)
            .collect()
    }

    /// Whether a PRIMARY KEY table keeps a copy of its index on disk: when
    /// `enable_persistent_index` is true. Off by default (StarRocks defaults to on): loading
    /// the copy takes as long as rebuilding from the key columns (docs/benchmarks).
    pub fn persistent_index(&self) -> bool {
        self.keys_type == KeysType::Primary
            && self
                .properties
                .get("enable_persistent_index")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// Indexes of the key columns.
    pub fn key_indexes(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_key)
            .map(|(i, _)| i)
            .collect()
    }

    /// Key column names.
    pub fn key_columns(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.is_key)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Sort key column indexes.
    pub fn sort_key(&self) -> Vec<usize> {
        if self.order_by.is_empty() {
            self.key_indexes()
        } else {
            self.order_by
                .iter()
                .filter_map(|n| self.column_index(n))
                .collect()
        }
    }

    /// Every tablet of the table with its backend.
    pub fn placed_tablets(&self) -> Vec<(TabletId, BackendId)> {
        self.partitions
            .iter()
            .flat_map(|p| p.placed_tablets())
            .collect()
    }

    /// Every tablet of the table.
    pub fn all_tablets(&self) -> Vec<TabletId> {
        self.partitions
            .iter()
            .flat_map(|p| p.tablets.iter().copied())
            .collect()
    }

    /// Partition by name (case-insensitive).
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The indexes of the partition columns.
    pub fn partition_column_indexes(&self) -> Vec<usize> {
        self.partition_scheme
            .columns()
            .iter()
            .filter_map(|c| self.column_index(c))
            .collect()
    }

    /// The types of the partition columns (empty for an unpartitioned table).
    pub fn partition_types(&self) -> Vec<ColumnType> {
        self.partition_scheme
            .columns()
            .iter()
            .filter_map(|c| self.column(c).map(|c| c.ty.clone()))
            .collect()
    }
}

macro_rules! text_serde {
    ($modname:ident, $ty:ty, $to:expr, $from:expr) => {
        mod $modname {
            use super::*;
            use serde::{Deserializer, Serializer};

            pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                let f: fn(&$ty) -> Option<String> = $to;
                f(v).serialize(s)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let text: Option<String> = Option::deserialize(d)?;
                let f: fn(Option<String>) -> Result<$ty, String> = $from;
                f(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_serde!(
    agg_serde,
    Option<AggType>,
    |v| v.map(|a| a.as_str().to_string()),
    |t| match t {
        None => Ok(None),
        Some(t) => AggType::parse(&t)
            .map(Some)
            .ok_or_else(|| format!("unknown aggregation {t}")),
    }
);

text_serde!(
    keys_serde,
    KeysType,
    |v| Some(v.as_str().to_string()),
    |t| match t.as_deref() {
        Some("DUPLICATE") => Ok(KeysType::Duplicate),
        Some("AGGREGATE") => Ok(KeysType::Aggregate),
        Some("UNIQUE") => Ok(KeysType::Unique),
        Some("PRIMARY") => Ok(KeysType::Primary),
        other => Err(format!("unknown key model {other:?}")),
    }
);

mod default_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "kind", content = "value", rename_all = "snake_case")]
    enum Repr {
        Literal(String),
        Null,
        CurrentTimestamp,
        Expr(String),
    }

    pub fn serialize<S: Serializer>(v: &Option<DefaultValue>, s: S) -> Result<S::Ok, S::Error> {
        let r = v.as_ref().map(|d| match d {
            DefaultValue::Literal(x) => Repr::Literal(x.clone()),
            DefaultValue::Null => Repr::Null,
            DefaultValue::CurrentTimestamp => Repr::CurrentTimestamp,
            DefaultValue::Expr(x) => Repr::Expr(x.clone()),
        });
        r.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DefaultValue>, D::Error> {
        let r: Option<Repr> = Option::deserialize(d)?;
        Ok(r.map(|r| match r {
            Repr::Literal(x) => DefaultValue::Literal(x),
            Repr::Null => DefaultValue::Null,
            Repr::CurrentTimestamp => DefaultValue::CurrentTimestamp,
            Repr::Expr(x) => DefaultValue::Expr(x),
        }))
    }
}
