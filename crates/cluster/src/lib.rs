//! The frontend's view of the backends: who they are, where new tablets go, and the calls
//! that fan out to the backends holding the tablets concerned.
//!
//! Every backend is reached through a [`Backend`] client: in `rigel server` the loopback to
//! the backend of the process, in a cluster a gRPC client per backend.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use rigel_be_api::{
    Backend, BackupRequest, RepositorySpec, RestoreRequest, TabletBackup, TabletInfo, TabletMeta,
    Transfer, pb,
};
use rigel_common::ids::{BackendId, TabletId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_exec::{BackendResolver, Placement};
use rigel_rpc::{HeartbeatHandler, RpcBackend};

/// One backend.
#[derive(Debug)]
pub struct Member {
    /// Its id.
    pub id: BackendId,
    /// How it is reached.
    pub client: Arc<dyn Backend>,
    /// Its data address (`host:brpc_port`); empty for the backend of this process.
    pub data_address: String,
}

/// What the heartbeats tell of a backend (SHOW BACKENDS).
#[derive(Debug, Clone, Default)]
pub struct BackendStatus {
    /// Host the frontend reaches it at.
    pub host: String,
    /// `heartbeat_service_port` (0 for the backend of this process).
    pub heartbeat_port: u16,
    /// Control RPC port.
    pub be_port: u16,
    /// HTTP port.
    pub http_port: u16,
    /// Data port.
    pub brpc_port: u16,
    /// Whether it answered within `heartbeat_timeout_second`.
    pub alive: bool,
    /// Last heartbeat answered (ms; 0 for never).
    pub last_heartbeat_ms: i64,
    /// When the backend process started (ms; 0 for unknown).
    pub last_start_ms: i64,
    /// Why the last heartbeat failed (empty after one that succeeded).
    pub err_msg: String,
    /// The backend's version.
    pub version: String,
    /// Tablets it holds.
    pub tablets: u64,
    /// Bytes of tablet data.
    pub data_used_bytes: u64,
    /// Disk of its storage root.
    pub disk_total_bytes: u64,
    /// Free space on it.
    pub disk_available_bytes: u64,
    /// Its memory limit.
    pub mem_limit_bytes: u64,
    /// Memory it uses.
    pub mem_used_bytes: u64,
    /// Its cores.
    pub cpu_cores: u32,
    /// Scans running on it.
    pub running_queries: u32,
}

impl BackendStatus {
    fn apply(&mut self, r: &pb::HeartbeatResponse, now: i64) {
        self.be_port = port(r.be_port);
        self.http_port = port(r.http_port);
        self.brpc_port = port(r.brpc_port);
        self.alive = true;
        self.last_heartbeat_ms = now;
        self.last_start_ms = r.started_ms;
        self.err_msg.clear();
        self.version = r.version.clone();
        self.tablets = r.tablets;
        self.data_used_bytes = r.data_used_bytes;
        self.disk_total_bytes = r.disk_total_bytes;
        self.disk_available_bytes = r.disk_available_bytes;
        self.mem_limit_bytes = r.mem_limit_bytes;
        self.mem_used_bytes = r.mem_used_bytes;
        self.cpu_cores = r.cpu_cores;
        self.running_queries = r.running_queries;
    }
}

impl BackendStatus {
    /// How full the disk of its storage root is, in thousandths (0 when unknown).
    pub fn disk_used_permille(&self) -> u32 {
        if self.disk_total_bytes == 0 {
            return 0;
        }
        let used = self
            .disk_total_bytes
            .saturating_sub(self.disk_available_bytes);
        let permille = u128::from(used) * 1000 / u128::from(self.disk_total_bytes);
        u32::try_from(permille.min(1000)).unwrap_or(1000)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn port(p: u32) -> u16 {
    u16::try_from(p).unwrap_or(0)
}

/// What a heartbeat round found.
#[derive(Debug, Default)]
pub struct HeartbeatChanges {
    /// Backends that joined or restarted since the last round.
    pub joined: Vec<BackendId>,
    /// Backends that were alive and are dead now.
    pub lost: Vec<BackendId>,
}

/// One backend to heartbeat: its id and `host:heartbeat_service_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatTarget {
    /// Its id.
    pub id: BackendId,
    /// Host.
    pub host: String,
    /// `heartbeat_service_port`.
    pub port: u16,
}

/// The backends of the cluster.
#[derive(Default)]
pub struct Cluster {
    /// Backends with a client (reached at least once).
    members: RwLock<BTreeMap<BackendId, Arc<Member>>>,
    /// What heartbeats found, for every backend of the cluster.
    statuses: RwLock<BTreeMap<BackendId, BackendStatus>>,
    /// The backend of this process (`rigel server`): it answers heartbeats in-process.
    local: Option<(BackendId, Arc<dyn HeartbeatHandler>)>,
    /// The turn of [`next_http_backend`](Self::next_http_backend).
    next_load: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("members", &self.members.read().keys().collect::<Vec<_>>())
            .field("embedded", &self.local.is_some())
            .finish()
    }
}

/// The error for a backend that cannot be reached.
pub fn unavailable(id: BackendId, why: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_BACKEND_UNAVAILABLE,
        format!("Backend {id} is not available: {why}"),
    )
}

impl Cluster {
    /// The cluster of `rigel server`: one backend, in this process, answering heartbeats
    /// through `heartbeat`.
    pub fn embedded(
        id: BackendId,
        client: Arc<dyn Backend>,
        heartbeat: Arc<dyn HeartbeatHandler>,
    ) -> Arc<Self> {
        let cluster = Self {
            local: Some((id, heartbeat)),
            ..Self::default()
        };
        cluster.members.write().insert(
            id,
            Arc::new(Member {
                id,
                client,
                data_address: String::new(),
            }),
        );
        cluster.statuses.write().insert(
            id,
            BackendStatus {
                alive: true,
                ..BackendStatus::default()
            },
        );
        Arc::new(cluster)
    }

    /// The cluster of `rigel fe`: backends join with ALTER SYSTEM ADD BACKEND.
    pub fn managed() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether the backend is part of this process (`rigel server`).
    pub fn is_embedded(&self) -> bool {
        self.local.is_some()
    }

    /// What heartbeats found, by backend.
    pub fn statuses(&self) -> Vec<(BackendId, BackendStatus)> {
        self.statuses
            .read()
            .iter()
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }

    /// [`statuses`](Self::statuses), the backend of this process (`rigel server`) asked
    /// afresh, since that costs nothing; other backends as the last heartbeats found them.
    pub async fn fresh_statuses(&self) -> Vec<(BackendId, BackendStatus)> {
        if self.local.is_some() {
            self.heartbeat(vec![], pb::HeartbeatRequest::default(), Duration::ZERO, 0)
                .await;
        }
        self.statuses()
    }

    /// Whether a backend answers heartbeats.
    pub fn is_alive(&self, id: BackendId) -> bool {
        self.statuses.read().get(&id).is_some_and(|s| s.alive)
    }

    /// One round of heartbeats to `targets` (the catalog's backends; ignored in `rigel
    /// server`), each waiting at most `timeout`. A backend is marked dead once it has not
    /// answered for `dead_after_ms`. Returns the backends that joined or restarted since
    /// the last round (the caller reconciles them with the catalog) and those found dead
    /// in this one.
    pub async fn heartbeat(
        &self,
        targets: Vec<HeartbeatTarget>,
        request: pb::HeartbeatRequest,
        timeout: Duration,
        dead_after_ms: i64,
    ) -> HeartbeatChanges {
        let now = now_ms();
        if let Some((id, local)) = &self.local {
            let mut request = request;
            request.backend_id = id.0;
            match local.heartbeat(request).await {
                Ok(r) => {
                    if let Some(s) = self.statuses.write().get_mut(id) {
                        s.apply(&r, now);
                    }
                }
                Err(e) => tracing::warn!("the backend of this process: {e}"),
            }
            return HeartbeatChanges::default();
        }
        // Backends dropped from the catalog leave.
        {
            let keep = |id: &BackendId| targets.iter().any(|t| t.id == *id);
            self.statuses.write().retain(|id, _| keep(id));
            self.members.write().retain(|id, _| keep(id));
        }
        let calls = targets.into_iter().map(|t| {
            let mut request = request.clone();
            request.backend_id = t.id.0;
            async move {
                let addr = rigel_common::host::join_host_port(&t.host, t.port);
                let r = rigel_rpc::heartbeat(&addr, request, timeout).await;
                (t, r)
            }
        });
        let mut changes = HeartbeatChanges::default();
        for (t, result) in futures::future::join_all(calls).await {
            let result = result.and_then(|r| {
                if r.backend_id == t.id.0 {
                    Ok(r)
                } else {
                    Err(SqlError::new(
                        ErrorCode::ER_CLUSTER_ID_MISMATCH,
                        format!("it answers as backend {}", r.backend_id),
                    ))
                }
            });
            let mut statuses = self.statuses.write();
            let status = statuses.entry(t.id).or_insert_with(|| BackendStatus {
                host: t.host.clone(),
                heartbeat_port: t.port,
                ..BackendStatus::default()
            });
            match result {
                Ok(r) => {
                    let was = (status.be_port, status.brpc_port, status.last_start_ms);
                    let had_client = self.members.read().contains_key(&t.id);
                    status.apply(&r, now);
                    let now_ports = (status.be_port, status.brpc_port, status.last_start_ms);
                    if !had_client || was != now_ports {
                        let be = rigel_common::host::join_host_port(&t.host, status.be_port);
                        let brpc = rigel_common::host::join_host_port(&t.host, status.brpc_port);
                        match RpcBackend::connect(t.id, &be, &brpc) {
                            Ok(client) => {
                                self.members.write().insert(
                                    t.id,
                                    Arc::new(Member {
                                        id: t.id,
                                        client: Arc::new(client),
                                        data_address: brpc,
                                    }),
                                );
                                tracing::info!(backend = %t.id, be, "backend joined");
                                changes.joined.push(t.id);
                            }
                            Err(e) => {
                                status.alive = false;
                                status.err_msg = e.message;
                            }
                        }
                    }
                }
                Err(e) => {
                    if status.alive || status.err_msg != e.message {
                        tracing::warn!(backend = %t.id, "heartbeat failed: {}", e.message);
                    }
                    status.err_msg = e.message;
                    if status.last_heartbeat_ms == 0
                        || now - status.last_heartbeat_ms >= dead_after_ms
                    {
                        if status.alive {
                            changes.lost.push(t.id);
                        }
                        status.alive = false;
                    }
                }
            }
        }
        changes
    }

    /// A backend by id.
    pub fn member(&self, id: BackendId) -> Result<Arc<Member>, SqlError> {
        self.members
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| unavailable(id, "it is not a member of the cluster"))
    }

    /// The client of a backend that answers heartbeats.
    pub fn backend(&self, id: BackendId) -> Result<Arc<dyn Backend>, SqlError> {
        let member = self.member(id)?;
        if let Some(s) = self.statuses.read().get(&id)
            && !s.alive
        {
            let why = if s.err_msg.is_empty() {
                "it does not answer heartbeats".to_string()
            } else {
                format!("it does not answer heartbeats ({})", s.err_msg)
            };
            return Err(unavailable(id, &why));
        }
        Ok(Arc::clone(&member.client))
    }

    /// The backends that answer heartbeats.
    pub fn live_members(&self) -> Vec<Arc<Member>> {
        self.members()
            .into_iter()
            .filter(|m| self.is_alive(m.id))
            .collect()
    }

    /// Every backend, by id.
    pub fn members(&self) -> Vec<Arc<Member>> {
        self.members.read().values().cloned().collect()
    }

    /// Where new tablets go: over the backends that can take them, fewest tablets first,
    /// then the least full disk. `placed` counts the tablets each backend holds now.
    pub fn placer(&self, placed: &HashMap<BackendId, usize>) -> Result<Placer, SqlError> {
        let statuses = self.statuses.read();
        let slots: Vec<Slot> = self
            .live_members()
            .iter()
            .map(|m| Slot {
                id: m.id,
                tablets: placed.get(&m.id).copied().unwrap_or(0),
                disk_used: statuses
                    .get(&m.id)
                    .map_or(0, BackendStatus::disk_used_permille),
            })
            .collect();
        if slots.is_empty() {
            return Err(SqlError::new(
                ErrorCode::ER_BACKEND_UNAVAILABLE,
                "No backend is alive to hold the tablets; add one with ALTER SYSTEM ADD BACKEND",
            ));
        }
        Ok(Placer { slots })
    }

    /// The data addresses of the backends.
    pub fn placement(&self) -> Placement {
        self.members
            .read()
            .values()
            .map(|m| (m.id, m.data_address.clone()))
            .collect()
    }

    /// The backends a load running on a backend may route rows to, with their addresses
    /// (empty for the backend of this process).
    pub fn load_backends(&self) -> Vec<pb::LoadBackend> {
        let statuses = self.statuses.read();
        self.members
            .read()
            .values()
            .map(|m| {
                let be_address = match statuses.get(&m.id) {
                    Some(s) if !m.data_address.is_empty() => {
                        rigel_common::host::join_host_port(&s.host, s.be_port)
                    }
                    _ => String::new(),
                };
                pb::LoadBackend {
                    backend_id: m.id.0,
                    be_address,
                    brpc_address: m.data_address.clone(),
                }
            })
            .collect()
    }

    /// The HTTP address (`host:http_port`) of a live backend, taking them in turn: where
    /// the frontend sends Stream Loads. `None` when none is alive.
    pub fn next_http_backend(&self) -> Option<String> {
        let live: Vec<String> = self
            .statuses
            .read()
            .values()
            .filter(|s| s.alive && s.http_port != 0)
            .map(|s| rigel_common::host::join_host_port(&s.host, s.http_port))
            .collect();
        if live.is_empty() {
            return None;
        }
        let turn = self
            .next_load
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        live.get(turn % live.len()).cloned()
    }

    /// Resolves backends for plan fragments and writes.
    pub fn resolver(self: &Arc<Self>) -> Arc<dyn BackendResolver> {
        Arc::new(Resolver(Arc::clone(self)))
    }

    /// Creates tablets on their backends.
    pub async fn create_tablets(
        &self,
        tablets: Vec<(BackendId, TabletMeta)>,
    ) -> Result<(), SqlError> {
        let mut by_backend: BTreeMap<BackendId, Vec<TabletMeta>> = BTreeMap::new();
        for (b, t) in tablets {
            by_backend.entry(b).or_default().push(t);
        }
        for (b, metas) in by_backend {
            self.backend(b)?.create_tablets(metas).await?;
        }
        Ok(())
    }

    /// Drops tablets on their backends. A backend that cannot be reached keeps its copies
    /// until it reports them (tablets no table owns are dropped then).
    pub async fn drop_tablets(&self, tablets: Vec<(TabletId, BackendId)>) -> Result<(), SqlError> {
        let mut by_backend: BTreeMap<BackendId, Vec<TabletId>> = BTreeMap::new();
        for (t, b) in tablets {
            by_backend.entry(b).or_default().push(t);
        }
        let mut first_error = None;
        for (b, ids) in by_backend {
            let outcome = match self.backend(b) {
                Ok(client) => client.drop_tablets(ids).await,
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::warn!(backend = %b, "dropping tablets failed: {e}");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Publishes a committed transaction on every backend it wrote.
    pub async fn publish(
        &self,
        txn: TxnId,
        tablets: &[(TabletId, u64, BackendId)],
    ) -> Result<(), SqlError> {
        let mut by_backend: BTreeMap<BackendId, HashMap<TabletId, u64>> = BTreeMap::new();
        for (t, v, b) in tablets {
            by_backend.entry(*b).or_default().insert(*t, *v);
        }
        let calls = by_backend.into_iter().map(|(b, versions)| async move {
            match self.backend(b) {
                Ok(client) => client.publish(txn, versions).await,
                Err(e) => Err(e),
            }
        });
        let mut result = Ok(());
        for r in futures::future::join_all(calls).await {
            if let Err(e) = r {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Aborts a transaction on every backend (those that never saw it ignore it).
    pub async fn abort(&self, txn: TxnId) -> Result<(), SqlError> {
        // A backend that is down aborts what it holds when it rejoins.
        let calls = self
            .live_members()
            .into_iter()
            .map(|m| async move { m.client.abort(txn).await });
        let mut result = Ok(());
        for r in futures::future::join_all(calls).await {
            if let Err(e) = r {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// The tablets every backend that answers heartbeats holds.
    pub async fn tablet_infos(&self) -> Result<Vec<(BackendId, TabletInfo)>, SqlError> {
        let calls = self.live_members().into_iter().map(|m| async move {
            let infos = m.client.tablet_infos().await?;
            Ok::<_, SqlError>(infos.into_iter().map(move |i| (m.id, i)))
        });
        let mut out = vec![];
        for r in futures::future::join_all(calls).await {
            out.extend(r?);
        }
        Ok(out)
    }
}

impl Cluster {
    /// Uploads tablet versions (each on its backend) to a repository, the backends in
    /// parallel; `transfer` sums their progress.
    pub async fn backup_tablets(
        &self,
        job: &str,
        repository: RepositorySpec,
        tablets: Vec<(TabletId, u64, BackendId)>,
        upload_all: bool,
        transfer: Arc<Transfer>,
    ) -> Result<Vec<TabletBackup>, SqlError> {
        let mut by_backend: BTreeMap<BackendId, Vec<(TabletId, u64)>> = BTreeMap::new();
        for (t, v, b) in tablets {
            by_backend.entry(b).or_default().push((t, v));
        }
        let mut parts = vec![];
        for (b, tablets) in by_backend {
            let client = self.backend(b)?;
            let part = Arc::new(Transfer::default());
            let request = BackupRequest {
                job: job.to_string(),
                repository: repository.clone(),
                tablets,
                upload_all,
                transfer: Arc::clone(&part),
            };
            parts.push((client, request, part));
        }
        let counters: Vec<Arc<Transfer>> = parts.iter().map(|(_, _, t)| Arc::clone(t)).collect();
        let calls = parts
            .into_iter()
            .map(|(client, request, _)| async move { client.backup_tablets(request).await });
        let results = with_progress(futures::future::join_all(calls), &counters, &transfer).await;
        let mut out = vec![];
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Creates tablets on their backends from a snapshot's files, the backends in
    /// parallel; `transfer` sums their progress.
    pub async fn restore_tablets(
        &self,
        job: &str,
        repository: RepositorySpec,
        tablets: Vec<(BackendId, TabletMeta, TabletBackup)>,
        transfer: Arc<Transfer>,
    ) -> Result<(), SqlError> {
        let mut by_backend: BTreeMap<BackendId, Vec<(TabletMeta, TabletBackup)>> = BTreeMap::new();
        for (b, m, t) in tablets {
            by_backend.entry(b).or_default().push((m, t));
        }
        let mut parts = vec![];
        for (b, tablets) in by_backend {
            let client = self.backend(b)?;
            let part = Arc::new(Transfer::default());
            let request = RestoreRequest {
                job: job.to_string(),
                repository: repository.clone(),
                tablets,
                transfer: Arc::clone(&part),
            };
            parts.push((client, request, part));
        }
        let counters: Vec<Arc<Transfer>> = parts.iter().map(|(_, _, t)| Arc::clone(t)).collect();
        let calls = parts
            .into_iter()
            .map(|(client, request, _)| async move { client.restore_tablets(request).await });
        let results = with_progress(futures::future::join_all(calls), &counters, &transfer).await;
        results.into_iter().collect()
    }
}

/// Runs `work`, summing the `parts` of its progress into `total` as it goes.
async fn with_progress<T>(
    work: impl Future<Output = T>,
    parts: &[Arc<Transfer>],
    total: &Transfer,
) -> T {
    use std::sync::atomic::Ordering::Relaxed;
    let sum = || {
        let add = |f: fn(&Transfer) -> &std::sync::atomic::AtomicU64| {
            parts.iter().map(|p| f(p).load(Relaxed)).sum::<u64>()
        };
        total.files_total.store(add(|t| &t.files_total), Relaxed);
        total.files_done.store(add(|t| &t.files_done), Relaxed);
        total.bytes_done.store(add(|t| &t.bytes_done), Relaxed);
        total
            .files_uploaded
            .store(add(|t| &t.files_uploaded), Relaxed);
        total
            .bytes_uploaded
            .store(add(|t| &t.bytes_uploaded), Relaxed);
    };
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            out = &mut work => {
                sum();
                return out;
            }
            _ = tick.tick() => sum(),
        }
    }
}

/// Picks backends for new tablets.
#[derive(Debug, Clone)]
pub struct Placer {
    slots: Vec<Slot>,
}

/// A backend new tablets may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    id: BackendId,
    /// Tablets it holds, counting those this placer gave it.
    tablets: usize,
    /// How full its disk is, in thousandths.
    disk_used: u32,
}

impl Placer {
    /// How many backends tablets may go to (the live ones).
    pub fn live(&self) -> usize {
        self.slots.len()
    }

    /// The backends of `tablets` new tablets' replicas, `copies` distinct backends each
    /// (as many as are alive when fewer): the ones with the fewest tablets, then the least
    /// full disks, then the lowest ids.
    pub fn take_replicas(&mut self, tablets: usize, copies: usize) -> Vec<Vec<BackendId>> {
        (0..tablets)
            .map(|_| self.pick_distinct(copies, &[]))
            .collect()
    }

    /// The backends of a colocation group's buckets, by bucket: each replica goes where
    /// `sequence` puts it while that backend is alive, else to another backend the bucket
    /// does not use yet.
    pub fn follow(&mut self, sequence: &[Vec<BackendId>]) -> Vec<Vec<BackendId>> {
        sequence
            .iter()
            .map(|copies| {
                let mut chosen: Vec<BackendId> = vec![];
                let mut missing = 0;
                for &id in copies {
                    match self.slots.iter_mut().find(|s| s.id == id) {
                        Some(slot) if !chosen.contains(&id) => {
                            slot.tablets += 1;
                            chosen.push(id);
                        }
                        _ => missing += 1,
                    }
                }
                let more = self.pick_distinct(missing, &chosen);
                chosen.extend(more);
                chosen
            })
            .collect()
    }

    /// Up to `n` backends not in `besides`, the least loaded first.
    fn pick_distinct(&mut self, n: usize, besides: &[BackendId]) -> Vec<BackendId> {
        if self.slots.is_empty() {
            return vec![rigel_common::ids::EMBEDDED_BACKEND; n.min(1)];
        }
        let mut order: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !besides.contains(&self.slots[i].id))
            .collect();
        order.sort_by_key(|&i| {
            let s = &self.slots[i];
            (s.tablets, s.disk_used, s.id)
        });
        order
            .into_iter()
            .take(n)
            .map(|i| {
                self.slots[i].tablets += 1;
                self.slots[i].id
            })
            .collect()
    }

    /// The backend for the next tablet: the one with the fewest tablets, then the least
    /// full disk, then the lowest id.
    pub fn pick(&mut self) -> BackendId {
        let Some(slot) = self
            .slots
            .iter_mut()
            .min_by_key(|s| (s.tablets, s.disk_used, s.id))
        else {
            return rigel_common::ids::EMBEDDED_BACKEND;
        };
        slot.tablets += 1;
        slot.id
    }

    /// Backends for `n` tablets.
    pub fn take(&mut self, n: usize) -> Vec<BackendId> {
        (0..n).map(|_| self.pick()).collect()
    }
}

#[derive(Debug)]
struct Resolver(Arc<Cluster>);

impl BackendResolver for Resolver {
    fn backend(&self, id: BackendId, _address: &str) -> Result<Arc<dyn Backend>, SqlError> {
        self.0.backend(id)
    }
}

/// The backends distributed queries run on.
#[derive(Debug)]
pub struct QueryWorkers(pub Arc<Cluster>);

impl rigel_rpc::distributed::Workers for QueryWorkers {
    fn live(&self) -> Vec<String> {
        self.0
            .live_members()
            .iter()
            .filter(|m| !m.data_address.is_empty())
            .map(|m| m.data_address.clone())
            .collect()
    }

    fn address(&self, id: BackendId) -> Result<String, SqlError> {
        self.0.backend(id)?;
        let member = self.0.member(id)?;
        if member.data_address.is_empty() {
            return Err(unavailable(id, "it serves no data port"));
        }
        Ok(member.data_address.clone())
    }
}

#[cfg(test)]
mod tests;
