//! The frontend's view of the backends: who they are, where new tablets go, and the calls
//! that fan out to the backends holding the tablets concerned.
//!
//! Every backend is reached through a [`Backend`] client: in `rigel server` the loopback to
//! the backend of the process, in a cluster a gRPC client per backend.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use parking_lot::RwLock;
use rigel_be_api::{
    Backend, BackupRequest, RepositorySpec, RestoreRequest, TabletBackup, TabletInfo, TabletMeta,
    Transfer,
};
use rigel_common::ids::{BackendId, TabletId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use rigel_exec::{BackendResolver, Placement};

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

/// The backends of the cluster.
#[derive(Debug, Default)]
pub struct Cluster {
    members: RwLock<BTreeMap<BackendId, Arc<Member>>>,
}

/// The error for a backend that cannot be reached.
pub fn unavailable(id: BackendId, why: &str) -> SqlError {
    SqlError::new(
        ErrorCode::ER_BACKEND_UNAVAILABLE,
        format!("Backend {id} is not available: {why}"),
    )
}

impl Cluster {
    /// The cluster of `rigel server`: one backend, in this process.
    pub fn embedded(id: BackendId, client: Arc<dyn Backend>) -> Arc<Self> {
        let cluster = Self::default();
        cluster.members.write().insert(
            id,
            Arc::new(Member {
                id,
                client,
                data_address: String::new(),
            }),
        );
        Arc::new(cluster)
    }

    /// A backend by id.
    pub fn member(&self, id: BackendId) -> Result<Arc<Member>, SqlError> {
        self.members
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| unavailable(id, "it is not a member of the cluster"))
    }

    /// The client of a backend.
    pub fn backend(&self, id: BackendId) -> Result<Arc<dyn Backend>, SqlError> {
        Ok(Arc::clone(&self.member(id)?.client))
    }

    /// Every backend, by id.
    pub fn members(&self) -> Vec<Arc<Member>> {
        self.members.read().values().cloned().collect()
    }

    /// Where new tablets go: over the backends that can take them, fewest tablets first.
    /// `placed` counts the tablets each backend holds now.
    pub fn placer(&self, placed: &HashMap<BackendId, usize>) -> Result<Placer, SqlError> {
        let load: Vec<(BackendId, usize)> = self
            .members
            .read()
            .keys()
            .map(|id| (*id, placed.get(id).copied().unwrap_or(0)))
            .collect();
        if load.is_empty() {
            return Err(SqlError::new(
                ErrorCode::ER_BACKEND_UNAVAILABLE,
                "No backend is alive to hold the tablets; add one with ALTER SYSTEM ADD BACKEND",
            ));
        }
        Ok(Placer { load })
    }

    /// The data addresses of the backends.
    pub fn placement(&self) -> Placement {
        self.members
            .read()
            .values()
            .map(|m| (m.id, m.data_address.clone()))
            .collect()
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
        let calls = self
            .members()
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

    /// The tablets every backend holds.
    pub async fn tablet_infos(&self) -> Result<Vec<(BackendId, TabletInfo)>, SqlError> {
        let calls = self.members().into_iter().map(|m| async move {
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
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
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
    load: Vec<(BackendId, usize)>,
}

impl Placer {
    /// The backend for the next tablet: the one with the fewest (lowest id among equals).
    pub fn pick(&mut self) -> BackendId {
        let Some(slot) = self.load.iter_mut().min_by_key(|(id, n)| (*n, *id)) else {
            return rigel_common::ids::EMBEDDED_BACKEND;
        };
        slot.1 += 1;
        slot.0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placer_balances_by_tablet_count() {
        let mut p = Placer {
            load: vec![
                (BackendId(10001), 4),
                (BackendId(10002), 0),
                (BackendId(10003), 1),
            ],
        };
        let picked = p.take(6);
        let count = |id| picked.iter().filter(|b| b.0 == id).count();
        // The emptiest first; equals by id.
        assert_eq!(picked[0], BackendId(10002));
        assert_eq!((count(10001), count(10002), count(10003)), (0, 4, 2));
        assert_eq!(p.take(3).len(), 3);
        let counts: Vec<usize> = p.load.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, vec![5, 5, 4]);
    }
}
