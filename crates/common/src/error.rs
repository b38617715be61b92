//! Stable public error codes.
//!
//! Every error that leaves Rigel — as a MySQL ERR packet or an HTTP reply — carries an
//! [`ErrorCode`]: the MySQL errno, its SQLSTATE and the HTTP status used by the REST API.
//! The table below is the single place where those three are tied together; crate error enums
//! implement [`ErrorExt`] with an exhaustive match that picks one of these codes.

use std::fmt;

/// A public error code: MySQL errno + SQLSTATE + HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// Symbolic name, as in MySQL's `mysqld_error.h` where one exists.
    pub name: &'static str,
    /// MySQL error number.
    pub errno: u16,
    /// Five-character SQLSTATE.
    pub sqlstate: &'static str,
    /// HTTP status code used by the REST endpoints.
    pub http_status: u16,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.errno, self.sqlstate)
    }
}

macro_rules! define_error_codes {
    ($($ident:ident => ($errno:expr, $state:expr, $http:expr)),* $(,)?) => {
        impl ErrorCode {
            $(
                #[allow(missing_docs)]
                pub const $ident: ErrorCode = ErrorCode {
                    name: stringify!($ident),
                    errno: $errno,
                    sqlstate: $state,
                    http_status: $http,
                };
            )*

            /// Every defined code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$ident),*];
        }
    };
}

define_error_codes! {
    ER_DBACCESS_DENIED_ERROR => (1044, "42000", 403),
    ER_TABLEACCESS_DENIED_ERROR => (1142, "42000", 403),
    ER_NONEXISTING_GRANT => (1141, "42000", 404),
    ER_CANNOT_USER => (1396, "HY000", 400),
    ER_ACCESS_DENIED_ERROR => (1045, "28000", 401),
    ER_NO_DB_ERROR => (1046, "3D000", 400),
    ER_UNKNOWN_COM_ERROR => (1047, "08S01", 400),
    ER_BAD_NULL_ERROR => (1048, "23000", 400),
    ER_BAD_DB_ERROR => (1049, "42000", 404),
    ER_TABLE_EXISTS_ERROR => (1050, "42S01", 409),
    ER_BAD_TABLE_ERROR => (1051, "42S02", 404),
    ER_NON_UNIQ_ERROR => (1052, "23000", 400),
    ER_NO_SUCH_TABLE => (1146, "42S02", 404),
    ER_SERVER_SHUTDOWN => (1053, "08S01", 503),
    ER_BAD_FIELD_ERROR => (1054, "42S22", 400),
    ER_DUP_FIELDNAME => (1060, "42S21", 400),
    ER_PARSE_ERROR => (1064, "42000", 400),
    ER_EMPTY_QUERY => (1065, "42000", 400),
    ER_INVALID_DEFAULT => (1067, "42000", 400),
    ER_WRONG_VALUE_COUNT => (1058, "21S01", 400),
    ER_DB_CREATE_EXISTS => (1007, "HY000", 409),
    ER_DB_DROP_EXISTS => (1008, "HY000", 404),
    ER_OUT_OF_RESOURCES => (1041, "HY000", 503),
    ER_CON_COUNT_ERROR => (1040, "08004", 503),
    ER_OUTOFMEMORY => (1037, "HY001", 503),
    ER_CANT_DROP_FIELD_OR_KEY => (1091, "42000", 400),
    ER_NO_SUCH_THREAD => (1094, "HY000", 404),
    ER_UNKNOWN_ERROR => (1105, "HY000", 500),
    ER_WRONG_VALUE_COUNT_ON_ROW => (1136, "21S01", 400),
    ER_NET_PACKET_TOO_LARGE => (1153, "08S01", 413),
    ER_NET_READ_ERROR => (1158, "08S01", 400),
    ER_WRONG_COLUMN_NAME => (1166, "42000", 400),
    ER_TOO_MANY_USER_CONNECTIONS => (1203, "42000", 503),
    ER_SPECIFIC_ACCESS_DENIED_ERROR => (1227, "42000", 403),
    ER_WRONG_VALUE_FOR_VAR => (1231, "42000", 400),
    ER_WRONG_TYPE_FOR_VAR => (1232, "42000", 400),
    ER_NOT_SUPPORTED_YET => (1235, "42000", 501),
    ER_UNKNOWN_SYSTEM_VARIABLE => (1193, "HY000", 400),
    ER_UNKNOWN_STMT_HANDLER => (1243, "HY000", 400),
    ER_WARN_DATA_OUT_OF_RANGE => (1264, "22003", 400),
    ER_TRUNCATED_WRONG_VALUE => (1292, "22007", 400),
    ER_SP_DOES_NOT_EXIST => (1305, "42000", 400),
    ER_QUERY_INTERRUPTED => (1317, "70100", 408),
    ER_DIVISION_BY_ZERO => (1365, "22012", 400),
    ER_DATA_TOO_LONG => (1406, "22001", 400),
    ER_TOO_LONG_KEY => (1071, "42000", 400),
    ER_TOO_BIG_PRECISION => (1426, "42000", 400),
    ER_UNKNOWN_PARTITION => (1735, "HY000", 400),
    ER_NO_PARTITION_FOR_GIVEN_VALUE => (1526, "HY000", 400),
    ER_SAME_NAME_PARTITION => (1517, "HY000", 409),
    ER_RANGE_NOT_INCREASING_ERROR => (1493, "HY000", 400),
    ER_WRONG_OBJECT => (1347, "HY000", 400),
    ER_WRONG_ARGUMENTS => (1210, "HY000", 400),
    ER_INVALID_JSON_TEXT => (3140, "22032", 400),
    ER_LOCK_WAIT_TIMEOUT => (1205, "HY000", 408),
    ER_QUERY_TIMEOUT => (3024, "HY000", 408),
    ER_INTERNAL_ERROR => (1815, "HY000", 500),
    ER_LABEL_ALREADY_EXISTS => (5001, "HY000", 409),
    ER_IO_ERROR => (1030, "HY000", 500),
    ER_NO_DEFAULT_FOR_FIELD => (1364, "HY000", 400),
    ER_SECURE_TRANSPORT_REQUIRED => (3159, "HY000", 403),
    // Cluster errors (Rigel's own numbers, in StarRocks' 5000 range).
    ER_BACKEND_UNAVAILABLE => (5032, "HY000", 503),
    ER_PROTOCOL_VERSION_MISMATCH => (5033, "08S01", 400),
    ER_CLUSTER_ID_MISMATCH => (5034, "HY000", 409),
    ER_BACKEND_EXISTS => (5035, "HY000", 409),
    ER_UNKNOWN_BACKEND => (5036, "HY000", 404),
    ER_BAD_MESSAGE => (5037, "08S01", 400),
}

impl ErrorCode {
    /// Whether a request that failed with this code may succeed if sent again, to the same
    /// node later or to another one: the node was unreachable, stopping or overloaded.
    pub fn retryable(&self) -> bool {
        matches!(
            self.name,
            "ER_BACKEND_UNAVAILABLE"
                | "ER_SERVER_SHUTDOWN"
                | "ER_OUT_OF_RESOURCES"
                | "ER_LOCK_WAIT_TIMEOUT"
        )
    }

    /// The code of this name, if this build defines it.
    pub fn by_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.name == name)
    }
}

/// Implemented by every crate error enum: which public code does this error map to.
pub trait ErrorExt: std::error::Error {
    /// The public code of this error.
    fn code(&self) -> ErrorCode;

    /// The message shown to users. Internal errors are worded as bugs.
    fn user_message(&self) -> String {
        self.to_string()
    }
}

/// An error as the protocol layers see it: a code and a message.
///
/// This is the currency between the frontend and the protocol crates (MySQL, HTTP), which
/// know nothing of the errors of the crates below them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// Public code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
}

impl SqlError {
    /// Builds an error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A generic "this is a bug" error.
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::ER_INTERNAL_ERROR,
            format!("Internal error: {message}. This is likely a bug in Rigel; please report it."),
        )
    }

    /// A syntax error.
    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ER_PARSE_ERROR, message)
    }

    /// An honest "not supported yet" error.
    pub fn not_supported(what: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::ER_NOT_SUPPORTED_YET,
            format!("{what} is not supported yet"),
        )
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

impl ErrorExt for SqlError {
    fn code(&self) -> ErrorCode {
        self.code
    }
}

impl<E: ErrorExt> From<&E> for SqlError {
    fn from(e: &E) -> Self {
        SqlError::new(e.code(), e.user_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut errnos = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(errnos.insert(code.errno), "duplicate errno {}", code.errno);
            assert_eq!(code.sqlstate.len(), 5, "{}", code.name);
            assert!((400..600).contains(&code.http_status), "{}", code.name);
        }
    }

    #[test]
    fn classic_codes_match_mysql() {
        assert_eq!(ErrorCode::ER_PARSE_ERROR.errno, 1064);
        assert_eq!(ErrorCode::ER_BAD_DB_ERROR.errno, 1049);
        assert_eq!(ErrorCode::ER_NO_SUCH_TABLE.errno, 1146);
        assert_eq!(ErrorCode::ER_BAD_FIELD_ERROR.sqlstate, "42S22");
        assert_eq!(ErrorCode::ER_TABLE_EXISTS_ERROR.errno, 1050);
    }
}
