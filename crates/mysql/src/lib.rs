//! The MySQL wire protocol, server side.
//!
//! This crate owns the connection state machine — handshake, `mysql_native_password`
//! authentication, the command loop, text and binary (prepared statement) result sets —
//! and nothing else. It calls the frontend through the [`MysqlHandler`] and
//! [`MysqlSession`] traits it defines, so it depends on neither the frontend nor storage.
//! Packets, length-encoded integers, the scramble and compression come from
//! `mysql_common`.
//!
//! Results stream: a [`QueryResult::Rows`] carries a stream of Arrow batches that is written
//! to the client batch by batch, never buffered whole.

mod conn;
mod packets;
mod params;
mod rows;
mod server;
pub mod tls;

use std::net::SocketAddr;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::stream::BoxStream;
use rigel_common::SqlError;

pub use mysql_common::value::Value;
pub use rows::mysql_column_type;
pub use server::{MysqlServer, ServerOptions};

/// A stream of result batches.
pub type BatchStream = BoxStream<'static, Result<RecordBatch, SqlError>>;

/// The outcome of one statement.
pub enum QueryResult {
    /// A statement without a result set.
    Ok {
        /// Affected rows.
        affected_rows: u64,
        /// `LAST_INSERT_ID()`.
        last_insert_id: u64,
        /// Warnings raised (see `SHOW WARNINGS`).
        warnings: u16,
        /// Human-readable info (`{'label':'…', 'status':'VISIBLE', 'txnId':'…'}`).
        info: String,
    },
    /// A result set.
    Rows {
        /// Column names and types.
        schema: SchemaRef,
        /// The rows.
        stream: BatchStream,
    },
}

impl QueryResult {
    /// A plain OK.
    pub fn ok() -> Self {
        QueryResult::Ok {
            affected_rows: 0,
            last_insert_id: 0,
            warnings: 0,
            info: String::new(),
        }
    }
}

impl std::fmt::Debug for QueryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryResult::Ok { affected_rows, .. } => {
                write!(f, "Ok({affected_rows} rows affected)")
            }
            QueryResult::Rows { schema, .. } => write!(f, "Rows({schema:?})"),
        }
    }
}

/// What a client presented at login.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// Connection id assigned to this connection.
    pub connection_id: u32,
    /// User name.
    pub user: String,
    /// Client address.
    pub peer: SocketAddr,
    /// The 20-byte scramble sent to the client.
    pub scramble: [u8; 20],
    /// The client's `mysql_native_password` response (empty for no password).
    pub auth_response: Vec<u8>,
    /// Database requested in the handshake.
    pub database: Option<String>,
    /// Whether the connection is TLS-protected.
    pub secure: bool,
}

/// A prepared statement, as the session describes it.
#[derive(Debug, Clone)]
pub struct PreparedInfo {
    /// Number of `?` parameters.
    pub params: usize,
    /// Result columns, when known at prepare time.
    pub columns: Option<SchemaRef>,
}

/// Creates sessions for new connections.
#[async_trait]
pub trait MysqlHandler: Send + Sync + 'static {
    /// The per-connection session type.
    type Session: MysqlSession;

    /// Checks a login and creates the session, or refuses with an error
    /// (`ER_ACCESS_DENIED_ERROR`, `ER_CON_COUNT_ERROR`, …).
    async fn login(&self, request: LoginRequest) -> Result<Self::Session, SqlError>;
}

/// One client connection's session.
#[async_trait]
pub trait MysqlSession: Send + 'static {
    /// A parsed statement.
    type Statement: Send;

    /// Splits and parses COM_QUERY text. A syntax error anywhere fails the whole text.
    fn parse(&mut self, sql: &str) -> Result<Vec<Self::Statement>, SqlError>;

    /// Executes one statement.
    async fn execute(&mut self, statement: Self::Statement) -> Result<QueryResult, SqlError>;

    /// Prepares a statement (COM_STMT_PREPARE).
    async fn prepare(&mut self, sql: &str) -> Result<PreparedInfo, SqlError>;

    /// Executes a prepared statement with parameter values (COM_STMT_EXECUTE).
    async fn execute_prepared(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<QueryResult, SqlError>;

    /// COM_INIT_DB.
    async fn use_database(&mut self, db: &str) -> Result<(), SqlError>;

    /// COM_FIELD_LIST: the columns of a table in the current database.
    async fn field_list(&mut self, table: &str) -> Result<SchemaRef, SqlError>;

    /// COM_RESET_CONNECTION: back to a fresh session state (same user and database).
    fn reset(&mut self);

    /// COM_STATISTICS text.
    fn statistics(&self) -> String;

    /// Called once when the connection ends, however it ends.
    fn close(&mut self);

    /// Resolves when the session is killed from elsewhere (`KILL CONNECTION`).
    async fn killed(&self);
}
