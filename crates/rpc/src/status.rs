//! Errors and protocol versions on gRPC: a [`SqlError`] travels in a status's details as a
//! [`pb::WireError`]; every request carries [`PROTOCOL_VERSION`] in a header that the
//! receiving node checks before anything else.

use prost::Message;
use rigel_be_api::{PROTOCOL_HEADER, PROTOCOL_VERSION, pb};
use rigel_common::{ErrorCode, SqlError};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The status that carries `e`.
pub fn to_status(e: &SqlError) -> Status {
    let code = if e.code.retryable() {
        Code::Unavailable
    } else if e.code == ErrorCode::ER_BAD_MESSAGE {
        Code::InvalidArgument
    } else if e.code == ErrorCode::ER_PROTOCOL_VERSION_MISMATCH {
        Code::FailedPrecondition
    } else if e.code == ErrorCode::ER_INTERNAL_ERROR {
        Code::Internal
    } else {
        Code::Aborted
    };
    Status::with_details(
        code,
        e.message.clone(),
        pb::WireError::from(e).encode_to_vec().into(),
    )
}

/// The error a status carries; `peer` names the node for errors of the transport itself
/// (it could not be reached, the call timed out), which carry no [`pb::WireError`].
pub fn from_status(status: &Status, peer: &str) -> SqlError {
    if !status.details().is_empty()
        && let Ok(wire) = pb::WireError::decode(status.details())
    {
        return SqlError::from(&wire);
    }
    match status.code() {
        Code::DeadlineExceeded => SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!("{peer} did not answer in time: {}", status.message()),
        ),
        Code::Cancelled => SqlError::new(
            ErrorCode::ER_QUERY_INTERRUPTED,
            format!("the call to {peer} was cancelled"),
        ),
        Code::InvalidArgument | Code::Unimplemented => SqlError::new(
            ErrorCode::ER_BAD_MESSAGE,
            format!("{peer} refused the request: {}", status.message()),
        ),
        _ => SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!("{peer} is unavailable: {}", status.message()),
        ),
    }
}

/// Refuses requests that do not carry this build's protocol version.
pub fn check_version<T>(request: tonic::Request<T>) -> Result<tonic::Request<T>, Status> {
    let theirs = request
        .metadata()
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match theirs.as_deref().map(str::parse::<u32>) {
        Some(Ok(v)) if v == PROTOCOL_VERSION => Ok(request),
        Some(Ok(v)) => {
            tracing::warn!(
                peer_version = v,
                version = PROTOCOL_VERSION,
                "refused a request of another protocol version"
            );
            Err(to_status(&version_mismatch(v)))
        }
        _ => {
            tracing::warn!("refused a request without a protocol version");
            Err(to_status(&SqlError::new(
                ErrorCode::ER_PROTOCOL_VERSION_MISMATCH,
                format!(
                    "the request carries no {PROTOCOL_HEADER} header: the peer is not a Rigel \
                     node of protocol version {PROTOCOL_VERSION}"
                ),
            )))
        }
    }
}

/// The error for a peer of protocol version `theirs`.
pub fn version_mismatch(theirs: u32) -> SqlError {
    SqlError::new(
        ErrorCode::ER_PROTOCOL_VERSION_MISMATCH,
        format!(
            "protocol version mismatch: the peer speaks version {theirs}, this node speaks \
             version {PROTOCOL_VERSION}"
        ),
    )
}

/// Adds this build's protocol version to an outgoing request.
#[derive(Debug, Clone, Copy, Default)]
pub struct VersionInterceptor;

impl tonic::service::Interceptor for VersionInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request.metadata_mut().insert(
            PROTOCOL_HEADER,
            MetadataValue::from(u64::from(PROTOCOL_VERSION)),
        );
        Ok(request)
    }
}

/// Checks the protocol version of incoming requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckVersion;

impl tonic::service::Interceptor for CheckVersion {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        check_version(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    #[test]
    fn errors_cross_statuses_typed() {
        for &code in ErrorCode::ALL {
            let e = SqlError::new(code, "what happened");
            assert_eq!(from_status(&to_status(&e), "backend 10001"), e);
        }
        let plain = Status::unavailable("connection refused");
        let e = from_status(&plain, "backend 10002 (127.0.0.1:9060)");
        assert_eq!(e.code, ErrorCode::ER_BACKEND_UNAVAILABLE);
        assert!(e.message.contains("backend 10002"), "{e}");
    }

    #[test]
    fn versions_are_checked() {
        let ok = VersionInterceptor.call(tonic::Request::new(())).unwrap();
        assert!(check_version(ok).is_ok());
        let missing = check_version(tonic::Request::new(())).unwrap_err();
        assert_eq!(
            from_status(&missing, "x").code,
            ErrorCode::ER_PROTOCOL_VERSION_MISMATCH
        );
        let mut other = tonic::Request::new(());
        other.metadata_mut().insert(
            PROTOCOL_HEADER,
            MetadataValue::from(u64::from(PROTOCOL_VERSION) + 1),
        );
        let e = from_status(&check_version(other).unwrap_err(), "x");
        assert_eq!(e.code, ErrorCode::ER_PROTOCOL_VERSION_MISMATCH);
        assert!(
            e.message
                .contains(&format!("version {}", PROTOCOL_VERSION + 1))
                && e.message.contains(&format!("version {PROTOCOL_VERSION}")),
            "{e}"
        );
    }
}
