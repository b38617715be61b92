//! Rigel's SQL dialect: StarRocks on top of sqlparser's MySQL dialect.
//!
//! [`parse_statements`] splits a (multi-statement) SQL text into [`ParsedStatement`]s.
//! Queries and the statements DataFusion plans stay sqlparser ASTs; StarRocks-only grammar —
//! key models, partitioning, distribution, properties, SHOW/SET/ADMIN — is parsed by hand with
//! sqlparser's tokenizer and helpers into the types of [`ast`]. This crate produces syntax
//! trees only: it knows nothing of catalogs, storage or execution.

pub mod account;
pub mod ast;
mod backup;
mod ddl;
mod parser;
mod partition_clause;
mod show;
mod types;

pub use account::{
    AccountStatement, AuthSpec, GrantObject, Grantee, Privilege, RoleSet, UserIdentity, redact,
};
pub use ast::*;
pub use datafusion::sql::sqlparser;
pub use parser::{ParseError, parse_expr, parse_one, parse_statements};
