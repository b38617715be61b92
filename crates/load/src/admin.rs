//! The administration APIs of a backend's HTTP port, the same in both roles:
//! `POST /api/compact?tablet_id=N&compaction_type=base|cumulative` and
//! `GET /api/compaction/show?tablet_id=N`. The frontend checks the HTTP Basic credentials;
//! a compaction is built from its catalog and runs on the backend holding the tablet.

use std::net::SocketAddr;

use rigel_be_api::{LoadCoordinator, TabletInfo, pb};
use rigel_common::SqlError;
use rigel_http::Reply;
use serde_json::json;

fn failed(status: u16, msg: impl Into<String>) -> Reply {
    Reply {
        status,
        body: json!({"status": "Fail", "msg": msg.into()}),
    }
}

fn credentials_of(
    credentials: Option<(String, String)>,
    client: SocketAddr,
) -> Result<pb::AuthenticateRequest, Reply> {
    let Some((user, password)) = credentials else {
        return Err(failed(
            401,
            "Access denied: no HTTP Basic credentials (curl -u user:password)",
        ));
    };
    Ok(pb::AuthenticateRequest {
        user,
        password,
        client_ip: client.ip().to_string(),
    })
}

/// How an error of the frontend answers: its HTTP status for access and availability
/// errors, 400 for the request's own.
fn error_reply(e: &SqlError) -> Reply {
    let status = match e.code.http_status {
        401 | 403 | 503 => e.code.http_status,
        _ => 400,
    };
    failed(status, e.message.clone())
}

/// Checks the request's credentials with the frontend.
pub async fn authorize(
    frontend: &dyn LoadCoordinator,
    credentials: Option<(String, String)>,
    client: SocketAddr,
) -> Result<(), Reply> {
    let request = credentials_of(credentials, client)?;
    frontend
        .authenticate(request)
        .await
        .map(|_| ())
        .map_err(|e| error_reply(&e))
}

/// `POST /api/compact`: compacts the tablet now and says what it merged.
pub async fn compact(
    frontend: &dyn LoadCoordinator,
    credentials: Option<(String, String)>,
    client: SocketAddr,
    tablet_id: u64,
    kind: &str,
) -> Reply {
    let kind = match kind {
        "base" => rigel_be_api::CompactionKind::Base,
        "cumulative" => rigel_be_api::CompactionKind::Cumulative,
        other => {
            return failed(
                400,
                format!("compaction_type must be base or cumulative, not '{other}'"),
            );
        }
    };
    let credentials = match credentials_of(credentials, client) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let request = pb::CompactTabletRequest {
        credentials: Some(credentials),
        tablet_id,
        kind: rigel_be_api::wire::compaction_kind_to_wire(kind),
    };
    match frontend.compact_tablet(request).await {
        Ok(done) => Reply::ok(json!({
            "status": "Success",
            "msg": "compaction task is successfully triggered.",
            "input_rowsets": done.inputs,
            "input_rows": done.rows_in,
            "output_rows": done.rows_out,
        })),
        Err(e) => error_reply(&e),
    }
}

/// `GET /api/compaction/show`: the rowsets of a tablet (`info`, None when it is not here).
pub fn rowsets(tablet_id: u64, info: Option<TabletInfo>) -> Reply {
    match info {
        Some(info) => Reply::ok(json!({
            "tablet_id": tablet_id,
            "rowsets": info.rowsets,
            "rows": info.rows,
            "data_size": info.bytes,
            "max_version": info.max_version,
        })),
        None => failed(404, format!("tablet {tablet_id} does not exist")),
    }
}
