//! Which replica of a tablet a read goes to.

use rigel_catalog::Partition;
use rigel_cluster::Cluster;
use rigel_common::ids::BackendId;
use rigel_common::{ErrorCode, SqlError};

/// The backend to read the tablet of `bucket` of `p` from: a complete replica on a backend
/// that answers heartbeats (see [`Partition::read_replica`]). When there is none, the error
/// names the tablet and why: its replicas' backends are down (5032), or every replica
/// lacks a committed version.
pub(crate) fn read_from(
    cluster: &Cluster,
    p: &Partition,
    bucket: usize,
) -> Result<BackendId, SqlError> {
    if let Some(b) = p.read_replica(bucket, |b| cluster.is_alive(b)) {
        return Ok(b);
    }
    let tablet = p.tablets.get(bucket).map_or(0, |t| t.0);
    let replicas = p.replicas_of(bucket);
    let complete: Vec<String> = replicas
        .iter()
        .filter(|r| r.is_complete())
        .map(|r| r.backend.to_string())
        .collect();
    if complete.is_empty() {
        return Err(SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!(
                "Tablet {tablet} of partition '{}' has no complete replica: each lacks a committed version until it is repaired",
                p.name
            ),
        ));
    }
    Err(SqlError::new(
        ErrorCode::ER_BACKEND_UNAVAILABLE,
        format!(
            "Tablet {tablet} of partition '{}' cannot be read: the backends holding its complete replicas ({}) are not alive",
            p.name,
            complete.join(", ")
        ),
    ))
}
