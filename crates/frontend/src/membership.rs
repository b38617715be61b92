//! Cluster membership: `ALTER SYSTEM ADD / DROP BACKEND`, the cluster id, and the heartbeat
//! loop that keeps [`Cluster`](rigel_cluster::Cluster)'s view of the backends current.
//!
//! The catalog (the journal) holds who the backends are; heartbeats find whether they are
//! alive and where their RPC and data ports are. A backend that joins or restarts is
//! reconciled with the catalog: its prepared transactions that committed are published,
//! the others aborted, and tablets no table places on it are dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rigel_be_api::pb;
use rigel_common::ids::BackendId;
use rigel_common::{ErrorCode, SqlError};
use rigel_mysql::QueryResult;
use tracing::{info, warn};

use crate::Frontend;
use crate::session::Session;
use rigel_catalog::{BackendRecord, JournalEntry};
use rigel_cluster::HeartbeatTarget;

/// The ids of backends added with ALTER SYSTEM ADD BACKEND start above this, as in
/// StarRocks.
const BACKEND_ID_BASE: u64 = 10_000;

/// How often heartbeats go out and how long each may take, for a `heartbeat_timeout_second`.
fn heartbeat_timing(timeout_second: u64) -> (Duration, Duration) {
    let timeout_ms = timeout_second.max(1).saturating_mul(1000);
    let interval = Duration::from_millis((timeout_ms / 3).clamp(200, 5000));
    let call = Duration::from_millis((timeout_ms / 2).clamp(200, 5000));
    (interval, call)
}

impl Frontend {
    /// Chooses the cluster id at the first start (it is in the journal from then on).
    pub(crate) async fn ensure_cluster_id(&self) -> Result<u32, SqlError> {
        let mut w = self.catalog().writer().await;
        let known = w.read().cluster_id;
        if known != 0 {
            return Ok(known);
        }
        let id = new_cluster_id();
        w.commit(vec![JournalEntry::SetClusterId { cluster_id: id }])?;
        info!(cluster_id = id, "a new cluster");
        Ok(id)
    }

    /// One round of heartbeats; reconciles the backends that joined or restarted.
    pub async fn heartbeat_round(&self) {
        let (cluster_id, targets) = {
            let state = self.catalog().read();
            let targets = state
                .backends
                .values()
                .map(|b| HeartbeatTarget {
                    id: b.id,
                    host: b.host.clone(),
                    port: b.heartbeat_port,
                })
                .collect::<Vec<_>>();
            (state.cluster_id, targets)
        };
        let (timeout_second, host, rpc_port, http_port) = {
            let c = self.config.read();
            (
                c.heartbeat_timeout_second,
                self.env.node.host.clone(),
                c.rpc_port,
                self.env
                    .node
                    .http_port
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
        };
        let (_, call) = heartbeat_timing(timeout_second);
        let request = pb::HeartbeatRequest {
            cluster_id,
            backend_id: 0,
            frontend_host: host,
            frontend_rpc_port: u32::from(rpc_port),
            frontend_http_port: u32::from(http_port),
            epoch: 1,
        };
        let dead_after_ms =
            i64::try_from(timeout_second.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
        let changes = self
            .cluster()
            .heartbeat(targets, request, call, dead_after_ms)
            .await;
        // A load's backend that died or restarted will send no commit.
        let statuses = self.cluster().statuses();
        for id in &changes.joined {
            let started = statuses
                .iter()
                .find(|(b, _)| b == id)
                .map(|(_, s)| s.last_start_ms);
            self.abort_loads_of(*id, started).await;
        }
        for id in &changes.lost {
            self.abort_loads_of(*id, None).await;
        }
        self.retry_publishes().await;
        self.expire_loads().await;
        for id in changes.joined {
            match self.cluster().member(id) {
                Ok(member) => {
                    if let Err(e) = self.reconcile_backend(&member).await {
                        warn!(backend = %id, "reconciling the backend with the catalog: {e}");
                    }
                }
                Err(e) => warn!("{e}"),
            }
        }
    }

    /// Heartbeats every few seconds (a third of `heartbeat_timeout_second`) until `stop`.
    pub async fn run_heartbeats(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            self.heartbeat_round().await;
            let (interval, _) = heartbeat_timing(self.config.read().heartbeat_timeout_second);
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// A cluster id: random, never 0, fitting StarRocks' positive 32-bit ids.
fn new_cluster_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(crate::now_ms());
    h.write_u32(std::process::id());
    let id = (h.finish() as u32) & 0x7fff_ffff;
    id.max(1)
}

fn parse_addresses(addresses: &[String]) -> Result<Vec<(String, u16)>, SqlError> {
    addresses
        .iter()
        .map(|a| {
            rigel_common::host::split_host_port(a).map_err(|e| {
                SqlError::new(
                    ErrorCode::ER_WRONG_ARGUMENTS,
                    format!(
                        "Invalid backend address: {e}; expected \"host:heartbeat_service_port\""
                    ),
                )
            })
        })
        .collect()
}

impl Session {
    fn require_cluster(&self, what: &str) -> Result<(), SqlError> {
        if self.fe.cluster().is_embedded() {
            return Err(SqlError::new(
                ErrorCode::ER_NOT_SUPPORTED_YET,
                format!(
                    "{what} needs a cluster: `rigel server` runs its backend in its own process; \
                     start `rigel fe` and `rigel be` to add backends"
                ),
            ));
        }
        Ok(())
    }

    /// `ALTER SYSTEM ADD BACKEND "host:port"[, ...]`: the backends join the catalog and are
    /// heartbeated at once (one that does not answer is added as not alive, with ErrMsg).
    pub(crate) async fn add_backends(
        &mut self,
        addresses: Vec<String>,
    ) -> Result<QueryResult, SqlError> {
        self.require_cluster("ALTER SYSTEM ADD BACKEND")?;
        let wanted = parse_addresses(&addresses)?;
        {
            let mut w = self.fe.catalog().writer().await;
            let mut entries = vec![];
            let mut seen: Vec<(String, u16)> = w
                .read()
                .backends
                .values()
                .map(|b| (b.host.clone(), b.heartbeat_port))
                .collect();
            for (host, port) in wanted {
                if seen.iter().any(|(h, p)| *h == host && *p == port) {
                    return Err(SqlError::new(
                        ErrorCode::ER_BACKEND_EXISTS,
                        format!(
                            "Backend {} already exists",
                            rigel_common::host::join_host_port(&host, port)
                        ),
                    ));
                }
                let id = BackendId(BACKEND_ID_BASE + w.next_id()?);
                seen.push((host.clone(), port));
                entries.push(JournalEntry::AddBackend {
                    backend: BackendRecord {
                        id,
                        host,
                        heartbeat_port: port,
                        added_ms: crate::now_ms(),
                    },
                });
            }
            w.commit(entries)?;
        }
        self.fe.heartbeat_round().await;
        Ok(QueryResult::ok())
    }

    /// `ALTER SYSTEM DROP BACKEND "host:port"[, ...]`: refused while the backend holds
    /// tablets (their only copy).
    pub(crate) async fn drop_backends(
        &mut self,
        addresses: Vec<String>,
    ) -> Result<QueryResult, SqlError> {
        self.require_cluster("ALTER SYSTEM DROP BACKEND")?;
        let wanted = parse_addresses(&addresses)?;
        {
            let mut w = self.fe.catalog().writer().await;
            let mut entries = vec![];
            let held = w.read().tablets_per_backend();
            for (host, port) in wanted {
                let address = rigel_common::host::join_host_port(&host, port);
                let id = w
                    .read()
                    .backends
                    .values()
                    .find(|b| b.host == host && b.heartbeat_port == port)
                    .map(|b| b.id)
                    .ok_or_else(|| {
                        SqlError::new(
                            ErrorCode::ER_UNKNOWN_BACKEND,
                            format!("Backend {address} does not exist"),
                        )
                    })?;
                if let Some(&n) = held.get(&id).filter(|n| **n > 0) {
                    return Err(SqlError::new(
                        ErrorCode::ER_WRONG_ARGUMENTS,
                        format!(
                            "Backend {address} (id {id}) holds the only replica of {n} tablet(s); \
                             drop or move their tables first (decommissioning, which moves \
                             tablets away, is not supported yet)"
                        ),
                    ));
                }
                entries.push(JournalEntry::DropBackend { id });
            }
            w.commit(entries)?;
        }
        self.fe.heartbeat_round().await;
        Ok(QueryResult::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_the_timeout() {
        let (interval, call) = heartbeat_timing(5);
        assert!(interval < Duration::from_secs(5));
        assert!(call <= Duration::from_secs(5));
        // Several heartbeats fit in the timeout, however small.
        let (interval, _) = heartbeat_timing(1);
        assert!(interval * 3 <= Duration::from_secs(1));
        let (interval, call) = heartbeat_timing(0);
        assert!(interval > Duration::ZERO && call > Duration::ZERO);
    }

    #[test]
    fn cluster_ids_are_positive() {
        for _ in 0..100 {
            let id = new_cluster_id();
            assert!(id > 0 && id <= i32::MAX as u32);
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert!(parse_addresses(&["127.0.0.1:9050".into()]).is_ok());
        let e = parse_addresses(&["127.0.0.1".into()]).unwrap_err();
        assert_eq!(e.code, ErrorCode::ER_WRONG_ARGUMENTS);
    }
}
