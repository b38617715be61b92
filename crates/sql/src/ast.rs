//! The statements Rigel understands.
//!
//! Standard SQL (queries, EXPLAIN of queries, UPDATE/DELETE, …) stays in sqlparser's AST;
//! StarRocks' own grammar (CREATE TABLE with key models, partitions, distribution and
//! properties; ALTER TABLE; SHOW …; SET) gets the types below.

use std::fmt;

use datafusion::sql::sqlparser::ast;
use rigel_common::ColumnType;

/// A parsed statement and the text it was parsed from.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// The statement.
    pub statement: Statement,
    /// Its text in the original SQL (without the trailing `;`).
    pub text: String,
}

/// A top-level statement.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Statement {
    /// A query (`SELECT`, `WITH`, `VALUES`, a parenthesized query, …).
    Query(Box<ast::Query>),
    /// Any other statement sqlparser understands and Rigel passes on as is
    /// (UPDATE, DELETE, transactions, …).
    Other(Box<ast::Statement>),
    /// `CREATE DATABASE`
    CreateDatabase {
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Name.
        name: String,
        /// `PROPERTIES (...)`
        properties: Vec<(String, String)>,
    },
    /// Accounts and privileges (CREATE/ALTER/DROP USER, SET PASSWORD, GRANT, REVOKE,
    /// SHOW GRANTS, SHOW USERS).
    Account(crate::account::AccountStatement),
    /// `DROP DATABASE`
    DropDatabase {
        /// `IF EXISTS`
        if_exists: bool,
        /// Name.
        name: String,
        /// `FORCE`
        force: bool,
    },
    /// `USE [catalog.]db`
    Use {
        /// Catalog, if given.
        catalog: Option<String>,
        /// Database.
        db: String,
    },
    /// `CREATE TABLE`
    CreateTable(Box<CreateTable>),
    /// `CREATE TABLE t LIKE src`
    CreateTableLike {
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// New table.
        name: TableName,
        /// Template table.
        like: TableName,
    },
    /// `DROP TABLE`
    DropTable {
        /// `IF EXISTS`
        if_exists: bool,
        /// Table.
        name: TableName,
        /// `FORCE`
        force: bool,
    },
    /// `CREATE [OR REPLACE] VIEW`
    CreateView(Box<CreateView>),
    /// `DROP VIEW`
    DropView {
        /// `IF EXISTS`
        if_exists: bool,
        /// View.
        name: TableName,
    },
    /// `ALTER TABLE`
    AlterTable {
        /// Table.
        name: TableName,
        /// Operations, applied in order.
        ops: Vec<AlterOp>,
    },
    /// `TRUNCATE TABLE t [PARTITION (p1, …)]`
    Truncate {
        /// Table.
        name: TableName,
        /// Partitions; empty for the whole table.
        partitions: Vec<String>,
    },
    /// `INSERT INTO|OVERWRITE`
    Insert(Box<Insert>),
    /// `SHOW …`
    Show(Show),
    /// `DESC t` / `DESCRIBE t [ALL]`
    Describe {
        /// Table.
        name: TableName,
        /// `ALL`
        all: bool,
    },
    /// `SET …`
    Set(Vec<SetItem>),
    /// `ANALYZE [FULL|SAMPLE] TABLE t [(c1, …)] [WITH SYNC|ASYNC MODE] [PROPERTIES (…)]`
    Analyze {
        /// The table.
        table: TableName,
        /// Columns; empty means all.
        columns: Vec<String>,
        /// `SAMPLE` (otherwise FULL).
        sample: bool,
    },
    /// `EXPLAIN [VERBOSE|COSTS|ANALYZE] <statement>`
    Explain {
        /// Flavour keyword, lower case (`""` for plain EXPLAIN).
        kind: String,
        /// The statement explained.
        statement: Box<Statement>,
    },
    /// `KILL [CONNECTION|QUERY] id`
    Kill {
        /// `QUERY` kills only the running statement.
        query_only: bool,
        /// Connection id.
        id: u64,
    },
    /// `BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`: accepted, each statement
    /// commits on its own.
    Transaction(String),
    /// `RECOVER TABLE [db.]t`
    RecoverTable(TableName),
    /// `RECOVER PARTITION p FROM [db.]t`
    RecoverPartition {
        /// Partition.
        partition: String,
        /// Table.
        table: TableName,
    },
    /// `ALTER SYSTEM ADD BACKEND "host:heartbeat_port"[, ...]`
    AddBackends(Vec<String>),
    /// `ALTER SYSTEM DROP BACKEND "host:heartbeat_port"[, ...]`
    DropBackends(Vec<String>),
    /// `ADMIN SET FRONTEND CONFIG ("k" = "v")`
    AdminSetConfig(Vec<(String, String)>),
    /// `ADMIN SHOW FRONTEND CONFIG [LIKE 'pattern']`
    AdminShowConfig(Option<String>),
    /// `CREATE [READ ONLY] REPOSITORY r WITH BROKER [b] ON LOCATION "url" [PROPERTIES (…)]`
    CreateRepository {
        /// Name.
        name: String,
        /// `READ ONLY`
        read_only: bool,
        /// Location URL.
        location: String,
        /// Properties (credentials, endpoint, region).
        properties: Vec<(String, String)>,
    },
    /// `DROP REPOSITORY r`
    DropRepository(String),
    /// `BACKUP SNAPSHOT …` / `BACKUP DATABASE … SNAPSHOT …`
    Backup(BackupStmt),
    /// `RESTORE SNAPSHOT …`
    Restore(RestoreStmt),
    /// `CANCEL BACKUP|RESTORE [FROM db]`
    CancelBackup {
        /// RESTORE (else BACKUP).
        restore: bool,
        /// Database (the current one when absent).
        db: Option<String>,
    },
    /// `VERIFY SNAPSHOT snap FROM repo [PROPERTIES ("backup_timestamp" = …)]` (Rigel).
    VerifySnapshot {
        /// Snapshot name.
        snapshot: String,
        /// Repository.
        repository: String,
        /// Properties.
        properties: Vec<(String, String)>,
    },
    /// `DROP SNAPSHOT ON repo WHERE …` (Rigel): the condition is over `Snapshot` and
    /// `Timestamp`, as SHOW SNAPSHOT shows them.
    DropSnapshot {
        /// Repository.
        repository: String,
        /// Which snapshots.
        filter: Box<ast::Expr>,
    },
    /// A statement Rigel recognises but does not implement yet (its leading words).
    Unsupported(String),
}

/// `BACKUP`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupStmt {
    /// Database (the current one when absent).
    pub db: Option<String>,
    /// Snapshot name.
    pub snapshot: String,
    /// Repository.
    pub repository: String,
    /// Tables (all when empty).
    pub objects: Vec<BackupObject>,
    /// `type`, `timeout`.
    pub properties: Vec<(String, String)>,
}

/// `RESTORE`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreStmt {
    /// Database the snapshot was taken of (the current one when absent).
    pub db: Option<String>,
    /// `DATABASE db AS new_db`: restore into another database.
    pub new_db: Option<String>,
    /// Snapshot name.
    pub snapshot: String,
    /// Repository.
    pub repository: String,
    /// Tables (all when empty).
    pub objects: Vec<BackupObject>,
    /// `backup_timestamp`, `replication_num`, `timeout`.
    pub properties: Vec<(String, String)>,
}

/// A table in `ON (…)` of BACKUP or RESTORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupObject {
    /// Table or view.
    pub name: String,
    /// Partitions (all when empty).
    pub partitions: Vec<String>,
    /// `AS new_name` (RESTORE).
    pub alias: Option<String>,
}

/// A possibly database-qualified table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    /// Database, if qualified.
    pub db: Option<String>,
    /// Table.
    pub name: String,
}

impl TryFrom<&ast::ObjectName> for TableName {
    type Error = String;

    /// `t`, `db.t` or `catalog.db.t`.
    fn try_from(name: &ast::ObjectName) -> Result<Self, String> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p {
                ast::ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
                other => Err(format!("unsupported name part {other}")),
            })
            .collect::<Result<_, _>>()?;
        match parts.as_slice() {
            [t] => Ok(TableName {
                db: None,
                name: t.clone(),
            }),
            [d, t] | [_, d, t] => Ok(TableName {
                db: Some(d.clone()),
                name: t.clone(),
            }),
            _ => Err(format!("invalid table name '{name}'")),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.db {
            Some(db) => write!(f, "{db}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// `IF NOT EXISTS`
    pub if_not_exists: bool,
    /// `EXTERNAL`
    pub external: bool,
    /// `TEMPORARY`
    pub temporary: bool,
    /// Table name.
    pub name: TableName,
    /// Column definitions (empty for CTAS).
    pub columns: Vec<ColumnDef>,
    /// CTAS column names (`CREATE TABLE t (a, b) AS SELECT …`).
    pub column_names: Vec<String>,
    /// `INDEX` definitions.
    pub indexes: Vec<IndexDef>,
    /// `ENGINE = …`
    pub engine: Option<String>,
    /// Key model and columns.
    pub keys: Option<KeysDesc>,
    /// Table comment.
    pub comment: Option<String>,
    /// `PARTITION BY …`
    pub partition: Option<PartitionDesc>,
    /// `DISTRIBUTED BY …`
    pub distribution: Option<DistributionDesc>,
    /// `ORDER BY (…)`
    pub order_by: Vec<String>,
    /// `PROPERTIES (…)`, in order.
    pub properties: Vec<(String, String)>,
    /// `AS <query>` (CTAS).
    pub as_query: Option<Box<ast::Query>>,
}

/// A column definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// Aggregation type (AGGREGATE KEY tables).
    pub agg: Option<AggType>,
    /// `NULL` (Some(true)) / `NOT NULL` (Some(false)) / unspecified.
    pub nullable: Option<bool>,
    /// `DEFAULT …`
    pub default: Option<DefaultValue>,
    /// `AUTO_INCREMENT`
    pub auto_increment: bool,
    /// `AS expr` (generated column), as SQL text.
    pub generated: Option<String>,
    /// `COMMENT "…"`
    pub comment: Option<String>,
}

/// A column default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DefaultValue {
    /// A literal, kept as text as StarRocks does (`DEFAULT "10"`).
    Literal(String),
    /// `DEFAULT NULL`
    Null,
    /// `DEFAULT CURRENT_TIMESTAMP`
    CurrentTimestamp,
    /// `DEFAULT (expr)`, as SQL text.
    Expr(String),
}

/// Aggregation type of a value column in an AGGREGATE KEY table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggType {
    /// SUM
    Sum,
    /// MAX
    Max,
    /// MIN
    Min,
    /// REPLACE
    Replace,
    /// REPLACE_IF_NOT_NULL
    ReplaceIfNotNull,
    /// HLL_UNION
    HllUnion,
    /// BITMAP_UNION
    BitmapUnion,
    /// PERCENTILE_UNION
    PercentileUnion,
}

impl AggType {
    /// Parses an aggregation keyword.
    pub fn parse(word: &str) -> Option<AggType> {
        Some(match word.to_ascii_uppercase().as_str() {
            "SUM" => AggType::Sum,
            "MAX" => AggType::Max,
            "MIN" => AggType::Min,
            "REPLACE" => AggType::Replace,
            "REPLACE_IF_NOT_NULL" => AggType::ReplaceIfNotNull,
            "HLL_UNION" => AggType::HllUnion,
            "BITMAP_UNION" => AggType::BitmapUnion,
            "PERCENTILE_UNION" => AggType::PercentileUnion,
            _ => return None,
        })
    }

    /// Keyword as written in DDL.
    pub fn as_str(&self) -> &'static str {
        match self {
            AggType::Sum => "SUM",
            AggType::Max => "MAX",
            AggType::Min => "MIN",
            AggType::Replace => "REPLACE",
            AggType::ReplaceIfNotNull => "REPLACE_IF_NOT_NULL",
            AggType::HllUnion => "HLL_UNION",
            AggType::BitmapUnion => "BITMAP_UNION",
            AggType::PercentileUnion => "PERCENTILE_UNION",
        }
    }
}

/// `INDEX name (cols) [USING BITMAP] [COMMENT '…']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    /// Index name.
    pub name: String,
    /// Columns.
    pub columns: Vec<String>,
    /// `USING …` kind (BITMAP, NGRAMBF, …).
    pub using: Option<String>,
    /// Comment.
    pub comment: Option<String>,
}

/// Table key model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeysType {
    /// DUPLICATE KEY
    Duplicate,
    /// AGGREGATE KEY
    Aggregate,
    /// UNIQUE KEY
    Unique,
    /// PRIMARY KEY
    Primary,
}

impl KeysType {
    /// Keyword as written in DDL.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeysType::Duplicate => "DUPLICATE",
            KeysType::Aggregate => "AGGREGATE",
            KeysType::Unique => "UNIQUE",
            KeysType::Primary => "PRIMARY",
        }
    }
}

/// `{DUPLICATE|AGGREGATE|UNIQUE|PRIMARY} KEY (cols)`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysDesc {
    /// Model.
    pub kind: KeysType,
    /// Key columns.
    pub columns: Vec<String>,
}

/// `PARTITION BY …`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionDesc {
    /// `PARTITION BY RANGE (cols) (…)`
    Range {
        /// Partition columns.
        columns: Vec<String>,
        /// Partition definitions (may be empty).
        partitions: Vec<RangePartitionDef>,
    },
    /// `PARTITION BY LIST (cols) (…)`
    List {
        /// Partition columns.
        columns: Vec<String>,
        /// Partitions: name and value tuples.
        partitions: Vec<(String, Vec<Vec<String>>)>,
    },
    /// Expression partitioning: `PARTITION BY date_trunc('day', col)` or `PARTITION BY (c1, c2)`.
    Expr {
        /// Function name, if a function is used (`date_trunc`, `time_slice`).
        function: Option<String>,
        /// Function arguments or columns, as SQL text.
        args: Vec<String>,
    },
}

/// A value bound of a range partition: a tuple of literal texts, or MAXVALUE.
pub type PartitionValues = Vec<String>;

/// One entry in a range partition list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangePartitionDef {
    /// `PARTITION p VALUES LESS THAN ("v", …)` or `… LESS THAN MAXVALUE` (upper = None).
    LessThan {
        /// `IF NOT EXISTS` (ALTER TABLE ADD PARTITION)
        if_not_exists: bool,
        /// Partition name.
        name: String,
        /// Upper bound; None for MAXVALUE.
        upper: Option<PartitionValues>,
        /// Per-partition properties.
        properties: Vec<(String, String)>,
    },
    /// `PARTITION p VALUES [("a"), ("b"))`
    Fixed {
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Partition name.
        name: String,
        /// Inclusive lower bound.
        lower: PartitionValues,
        /// Exclusive upper bound.
        upper: PartitionValues,
        /// Per-partition properties.
        properties: Vec<(String, String)>,
    },
    /// `START ("a") END ("b") EVERY (INTERVAL 1 DAY)` or `EVERY (10)`
    Batch {
        /// First lower bound.
        start: String,
        /// Last upper bound.
        end: String,
        /// Step count.
        every: i64,
        /// Step unit for dates (`day`, `week`, `month`, `year`, `hour`); None for integers.
        unit: Option<String>,
    },
}

/// `DISTRIBUTED BY …`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistributionDesc {
    /// `HASH (cols) [BUCKETS n]`
    Hash {
        /// Columns.
        columns: Vec<String>,
        /// Bucket count; None for automatic.
        buckets: Option<u32>,
    },
    /// `RANDOM [BUCKETS n]`
    Random {
        /// Bucket count; None for automatic.
        buckets: Option<u32>,
    },
}

/// `CREATE VIEW`
#[derive(Debug, Clone)]
pub struct CreateView {
    /// `OR REPLACE`
    pub or_replace: bool,
    /// `IF NOT EXISTS`
    pub if_not_exists: bool,
    /// View name.
    pub name: TableName,
    /// Optional column list with comments.
    pub columns: Vec<(String, Option<String>)>,
    /// Comment.
    pub comment: Option<String>,
    /// The query.
    pub query: Box<ast::Query>,
}

/// `[FIRST | AFTER col]` of ADD/MODIFY COLUMN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnPosition {
    /// `FIRST`
    First,
    /// `AFTER col`
    After(String),
}

/// One ALTER TABLE operation.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterOp {
    /// `ADD PARTITION …` (one definition, or a batch).
    AddPartition(RangePartitionDef),
    /// `ADD PARTITION p VALUES IN (…)`
    AddListPartition {
        /// Name.
        name: String,
        /// Value tuples.
        values: Vec<Vec<String>>,
    },
    /// `DROP PARTITION [IF EXISTS] p [FORCE]`
    DropPartition {
        /// `IF EXISTS`
        if_exists: bool,
        /// Partition.
        name: String,
    },
    /// `ADD COLUMN col … [FIRST|AFTER c]`
    AddColumn {
        /// Definition.
        column: ColumnDef,
        /// Position.
        position: Option<ColumnPosition>,
    },
    /// `DROP COLUMN col`
    DropColumn(String),
    /// `MODIFY COLUMN col … [FIRST|AFTER c]`
    ModifyColumn {
        /// New definition.
        column: ColumnDef,
        /// Position.
        position: Option<ColumnPosition>,
    },
    /// `RENAME COLUMN a TO b` / `RENAME COLUMN a b`
    RenameColumn {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// `RENAME new_name`
    RenameTable(String),
    /// `RENAME PARTITION old new`
    RenamePartition {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// `SET ("k" = "v", …)`
    SetProperties(Vec<(String, String)>),
    /// `COMMENT = "…"`
    Comment(String),
}

/// `INSERT`
#[derive(Debug, Clone)]
pub struct Insert {
    /// `OVERWRITE` instead of `INTO`.
    pub overwrite: bool,
    /// Target table.
    pub table: TableName,
    /// `PARTITION (p1, …)`
    pub partitions: Vec<String>,
    /// `WITH LABEL l`
    pub label: Option<String>,
    /// Column list.
    pub columns: Vec<String>,
    /// The rows: `VALUES …` or a query.
    pub source: Box<ast::Query>,
}

/// `LIKE 'pattern'` or `WHERE expr` of SHOW statements.
#[derive(Debug, Clone)]
pub enum ShowFilter {
    /// `LIKE 'pattern'`
    Like(String),
    /// `WHERE expr`
    Where(Box<ast::Expr>),
}

/// `SHOW …`
#[derive(Debug, Clone)]
pub enum Show {
    /// `SHOW DATABASES`
    Databases(Option<ShowFilter>),
    /// `SHOW [FULL] TABLES [FROM db]`
    Tables {
        /// `FULL`
        full: bool,
        /// `FROM db`
        db: Option<String>,
        /// Filter.
        filter: Option<ShowFilter>,
    },
    /// `SHOW [FULL] COLUMNS FROM t [FROM db]`
    Columns {
        /// `FULL`
        full: bool,
        /// Table.
        table: TableName,
        /// Filter.
        filter: Option<ShowFilter>,
    },
    /// `SHOW CREATE TABLE|VIEW t`
    CreateTable(TableName),
    /// `SHOW CREATE DATABASE db`
    CreateDatabase(String),
    /// `SHOW [TEMPORARY] PARTITIONS FROM t`
    Partitions {
        /// Table.
        table: TableName,
        /// `TEMPORARY`
        temporary: bool,
    },
    /// `SHOW [GLOBAL|SESSION] VARIABLES`
    Variables {
        /// `GLOBAL`
        global: bool,
        /// Filter.
        filter: Option<ShowFilter>,
    },
    /// `SHOW [GLOBAL|SESSION] STATUS`
    Status(Option<ShowFilter>),
    /// `SHOW WARNINGS`
    Warnings,
    /// `SHOW ERRORS`
    Errors,
    /// `SHOW [FULL] PROCESSLIST`
    Processlist {
        /// `FULL`
        full: bool,
    },
    /// `SHOW ENGINES`
    Engines,
    /// `SHOW CHARSET` / `SHOW CHARACTER SET`
    Charset(Option<ShowFilter>),
    /// `SHOW COLLATION`
    Collation(Option<ShowFilter>),
    /// `SHOW TABLE STATUS [FROM db]`
    TableStatus {
        /// `FROM db`
        db: Option<String>,
        /// Filter.
        filter: Option<ShowFilter>,
    },
    /// `SHOW INDEX|INDEXES|KEYS FROM t`
    Index(TableName),
    /// `SHOW PLUGINS`
    Plugins,
    /// `SHOW TABLETS FROM t` / `SHOW TABLET FROM t`
    Tablets(TableName),
    /// `SHOW DATA [FROM t]`
    Data(Option<TableName>),
    /// `SHOW CATALOGS`
    Catalogs,
    /// `SHOW CATALOG RECYCLE BIN`
    RecycleBin,
    /// `SHOW LOAD [FROM db] [WHERE …]`
    Load {
        /// `FROM db`
        db: Option<String>,
        /// Filter.
        filter: Option<ShowFilter>,
    },
    /// `SHOW ANALYZE STATUS [WHERE …]`
    AnalyzeStatus(Option<ShowFilter>),
    /// `SHOW FRONTENDS`
    Frontends,
    /// `SHOW REPOSITORIES`
    Repositories,
    /// `SHOW BACKUP|RESTORE [FROM db] [WHERE …]`
    Backup {
        /// RESTORE (else BACKUP).
        restore: bool,
        /// Database (the current one when absent).
        db: Option<String>,
        /// Filter.
        filter: Option<ShowFilter>,
    },
    /// `SHOW SNAPSHOT ON repo [WHERE …]`
    Snapshot {
        /// Repository.
        repository: String,
        /// Filter (on `Snapshot`, `Timestamp`).
        filter: Option<ShowFilter>,
    },
    /// `SHOW BACKENDS`
    Backends,
    /// `SHOW PROC '/path'`
    Proc(String),
    /// `ADMIN SHOW REPLICA STATUS FROM t [PARTITION (p, …)] [WHERE …]`
    ReplicaStatus {
        /// Table.
        table: TableName,
        /// Partitions (all when empty).
        partitions: Vec<String>,
        /// Filter (on `Status`).
        filter: Option<ShowFilter>,
    },
}

/// Scope of a variable assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarScope {
    /// Session (default).
    Session,
    /// `GLOBAL`
    Global,
    /// `@user_var`
    User,
}

/// One assignment of a SET statement.
#[derive(Debug, Clone)]
pub enum SetItem {
    /// `[GLOBAL|SESSION] var = value`
    Variable {
        /// Scope.
        scope: VarScope,
        /// Variable name, lower case.
        name: String,
        /// Value expression; `DEFAULT` is `None`.
        value: Option<Box<ast::Expr>>,
    },
    /// `SET NAMES charset [COLLATE c]` / `SET CHARACTER SET charset`
    Names {
        /// Charset.
        charset: String,
        /// Collation.
        collation: Option<String>,
    },
    /// `SET TRANSACTION …` (accepted, no effect).
    Transaction,
}
