//! Frontend errors and the mapping of DataFusion's errors to MySQL codes.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use rigel_common::{ErrorCode, SqlError};

/// Result of frontend operations: errors carry their public code.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// Maps a DataFusion error to the MySQL error a client expects.
pub fn df_error(e: DataFusionError) -> SqlError {
    // Our own errors travel through DataFusion wrapped as External, with their wire form
    // around them when they may come from another node.
    if let Some(sql) = rigel_exec::sql_error(&e) {
        return sql;
    }
    let e = match e {
        DataFusionError::Context(_, inner) => return df_error(*inner),
        DataFusionError::Diagnostic(_, inner) => return df_error(*inner),
        DataFusionError::Shared(inner) => {
            // A hash join shares its build side's failure with every probe partition.
            let inner = match std::sync::Arc::try_unwrap(inner) {
                Ok(owned) => return df_error(owned),
                Err(shared) => shared,
            };
            if let DataFusionError::ResourcesExhausted(msg) = inner.as_ref() {
                return df_error(DataFusionError::ResourcesExhausted(msg.clone()));
            }
            return df_error(DataFusionError::External(Box::new(SharedDisplay(
                inner.to_string(),
            ))));
        }
        other => other,
    };
    match &e {
        DataFusionError::SchemaError(err, _) => match err.as_ref() {
            SchemaError::FieldNotFound { field, .. } => SqlError::new(
                ErrorCode::ER_BAD_FIELD_ERROR,
                format!("Unknown column '{}' in 'field list'", field.name),
            ),
            SchemaError::AmbiguousReference { field } => SqlError::new(
                ErrorCode::ER_NON_UNIQ_ERROR,
                format!("Column '{}' is ambiguous", field.name),
            ),
            SchemaError::DuplicateQualifiedField { name, .. }
            | SchemaError::DuplicateUnqualifiedField { name } => SqlError::new(
                ErrorCode::ER_DUP_FIELDNAME,
                format!("Duplicate column name '{name}'"),
            ),
            #[allow(unreachable_patterns)]
            _ => SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, strip(&e)),
        },
        DataFusionError::SQL(err, _) => SqlError::new(
            ErrorCode::ER_PARSE_ERROR,
            format!("Getting syntax error: {err}"),
        ),
        DataFusionError::NotImplemented(msg) => SqlError::new(
            ErrorCode::ER_NOT_SUPPORTED_YET,
            format!("{msg} is not supported yet"),
        ),
        DataFusionError::ResourcesExhausted(msg) => SqlError::new(
            ErrorCode::ER_OUTOFMEMORY,
            format!("Memory limit exceeded: {msg}"),
        ),
        DataFusionError::Plan(msg) => plan_error(msg),
        DataFusionError::ArrowError(err, _) => {
            let text = err.to_string();
            if text.contains("Divide by zero") {
                SqlError::new(ErrorCode::ER_DIVISION_BY_ZERO, "Division by 0")
            } else {
                SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, text)
            }
        }
        DataFusionError::Execution(msg) => {
            if msg.contains("Divide by zero") {
                SqlError::new(ErrorCode::ER_DIVISION_BY_ZERO, "Division by 0")
            } else {
                SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, msg.clone())
            }
        }
        DataFusionError::Internal(msg) => SqlError::internal(msg),
        _ => SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, strip(&e)),
    }
}

#[derive(Debug)]
struct SharedDisplay(String);

impl std::fmt::Display for SharedDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SharedDisplay {}

fn strip(e: &DataFusionError) -> String {
    e.strip_backtrace()
}

fn plan_error(msg: &str) -> SqlError {
    // "table 'default_catalog.db.t' not found"
    if let Some(rest) = msg.strip_prefix("table '")
        && let Some(name) = rest.strip_suffix("' not found")
    {
        let short = name
            .strip_prefix("default_catalog.")
            .unwrap_or(name)
            .to_string();
        if short.starts_with('.') {
            return no_db();
        }
        return SqlError::new(
            ErrorCode::ER_NO_SUCH_TABLE,
            format!("Table '{short}' doesn't exist"),
        );
    }
    if let Some(rest) = msg.strip_prefix("failed to resolve schema: ") {
        return SqlError::new(
            ErrorCode::ER_BAD_DB_ERROR,
            format!("Unknown database '{}'", rest.trim()),
        );
    }
    if msg.contains("Invalid function") || msg.contains("There is no function") {
        return SqlError::new(ErrorCode::ER_SP_DOES_NOT_EXIST, msg.to_string());
    }
    if let Some(rest) = msg.strip_prefix("variable [") {
        // variable ["@@session", "x"] has no type information
        let names: Vec<&str> = rest
            .split(']')
            .next()
            .unwrap_or_default()
            .split(',')
            .map(|p| p.trim().trim_matches('"').trim_start_matches('@'))
            .collect();
        let name = names
            .iter()
            .rev()
            .find(|n| {
                !matches!(
                    n.to_ascii_lowercase().as_str(),
                    "session" | "global" | "local"
                )
            })
            .copied()
            .unwrap_or_default();
        return crate::variables::unknown_variable(name);
    }
    SqlError::new(ErrorCode::ER_UNKNOWN_ERROR, msg.to_string())
}

/// `Unknown database 'x'`.
pub fn unknown_db(name: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_BAD_DB_ERROR,
        format!("Unknown database '{name}'"),
    )
}

/// `Table 'db.t' doesn't exist`.
pub fn unknown_table(db: &str, name: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_NO_SUCH_TABLE,
        format!("Table '{db}.{name}' doesn't exist"),
    )
}

/// `No database selected`.
pub fn no_db() -> SqlError {
    SqlError::new(ErrorCode::ER_NO_DB_ERROR, "No database selected")
}
