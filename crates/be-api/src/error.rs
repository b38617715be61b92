//! Errors on the wire: a [`SqlError`] travels as a [`pb::WireError`] with its code's name,
//! errno, SQLSTATE and whether it is worth retrying, so the receiver gets the same code
//! back without looking at the message.

use rigel_common::{ErrorCode, SqlError};

use crate::pb;

impl From<&SqlError> for pb::WireError {
    fn from(e: &SqlError) -> Self {
        Self {
            name: e.code.name.to_string(),
            errno: u32::from(e.code.errno),
            sqlstate: e.code.sqlstate.to_string(),
            http_status: u32::from(e.code.http_status),
            message: e.message.clone(),
            retryable: e.code.retryable(),
            backend_id: 0,
        }
    }
}

impl From<&pb::WireError> for SqlError {
    fn from(e: &pb::WireError) -> Self {
        // A peer of another version may send a code this build does not define: keep its
        // meaning as close as the known codes allow.
        let code = ErrorCode::by_name(&e.name)
            .or_else(|| {
                ErrorCode::ALL
                    .iter()
                    .copied()
                    .find(|c| u32::from(c.errno) == e.errno)
            })
            .unwrap_or(if e.retryable {
                ErrorCode::ER_BACKEND_UNAVAILABLE
            } else {
                ErrorCode::ER_UNKNOWN_ERROR
            });
        SqlError::new(code, e.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn every_code_round_trips() {
        for &code in ErrorCode::ALL {
            let e = SqlError::new(code, format!("message of {}", code.name));
            let wire = pb::WireError::from(&e).encode_to_vec();
            let back = SqlError::from(&pb::WireError::decode(wire.as_slice()).unwrap());
            assert_eq!(back, e);
        }
    }

    #[test]
    fn unknown_codes_keep_their_errno_or_retryability() {
        let mut w = pb::WireError::from(&SqlError::new(ErrorCode::ER_NO_SUCH_TABLE, "gone"));
        w.name = "ER_FROM_THE_FUTURE".into();
        assert_eq!(SqlError::from(&w).code, ErrorCode::ER_NO_SUCH_TABLE);
        w.errno = 9999;
        assert_eq!(SqlError::from(&w).code, ErrorCode::ER_UNKNOWN_ERROR);
        w.retryable = true;
        assert_eq!(SqlError::from(&w).code, ErrorCode::ER_BACKEND_UNAVAILABLE);
    }
}
