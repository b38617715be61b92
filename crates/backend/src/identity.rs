//! Which cluster a backend belongs to and its id there, kept under the storage root.
//!
//! A backend learns both from the first heartbeat of a frontend after `ALTER SYSTEM ADD
//! BACKEND` and writes them to `<storage_root>/cluster_id` (as StarRocks does, one number
//! per file, plus `backend_id`). From then on it answers only heartbeats of that cluster
//! with that id, so a backend cannot be taken over by a second cluster, and it comes back
//! under the same id after a restart. Files are written atomically (temporary file, fsync,
//! rename, directory fsync).

use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rigel_common::ids::BackendId;
use rigel_common::{ErrorCode, SqlError};

const CLUSTER_FILE: &str = "cluster_id";
const BACKEND_FILE: &str = "backend_id";

/// The cluster and id of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The cluster (chosen by its first frontend).
    pub cluster_id: u64,
    /// This backend's id in it.
    pub backend_id: BackendId,
}

/// A backend's identity, loaded at start and set by the first heartbeat.
#[derive(Debug)]
pub struct IdentityStore {
    root: PathBuf,
    current: Mutex<Option<Identity>>,
}

impl IdentityStore {
    /// Reads the identity kept under `root` (none before the first heartbeat).
    pub fn open(root: &Path) -> Result<Self, SqlError> {
        let cluster = read_number(&root.join(CLUSTER_FILE))?;
        let backend = read_number(&root.join(BACKEND_FILE))?;
        let current = match (cluster, backend) {
            (Some(cluster_id), Some(id)) => Some(Identity {
                cluster_id,
                backend_id: BackendId(id),
            }),
            (None, None) => None,
            _ => {
                return Err(SqlError::new(
                    ErrorCode::ER_CLUSTER_ID_MISMATCH,
                    format!(
                        "{} holds only one of {CLUSTER_FILE} and {BACKEND_FILE}; restore the \
                         other or remove both to join a cluster anew",
                        root.display()
                    ),
                ));
            }
        };
        Ok(Self {
            root: root.to_path_buf(),
            current: Mutex::new(current),
        })
    }

    /// The identity, once known.
    pub fn get(&self) -> Option<Identity> {
        *self.current.lock()
    }

    /// Accepts a heartbeat from cluster `cluster_id` naming this backend `backend_id`: the
    /// first one is kept (durably, before it is acknowledged); later ones must match it.
    pub fn accept(&self, cluster_id: u64, backend_id: BackendId) -> Result<Identity, SqlError> {
        if cluster_id == 0 {
            return Err(SqlError::new(
                ErrorCode::ER_CLUSTER_ID_MISMATCH,
                "a heartbeat without a cluster id",
            ));
        }
        let mut current = self.current.lock();
        match *current {
            Some(known) if known.cluster_id != cluster_id => Err(SqlError::new(
                ErrorCode::ER_CLUSTER_ID_MISMATCH,
                format!(
                    "this backend belongs to cluster {}, not to cluster {cluster_id}; a backend \
                     joins one cluster only",
                    known.cluster_id
                ),
            )),
            Some(known) if known.backend_id != backend_id => Err(SqlError::new(
                ErrorCode::ER_CLUSTER_ID_MISMATCH,
                format!(
                    "this backend is backend {} of cluster {cluster_id}, not backend {backend_id}",
                    known.backend_id
                ),
            )),
            Some(known) => Ok(known),
            None => {
                write_number(&self.root, BACKEND_FILE, backend_id.0)?;
                write_number(&self.root, CLUSTER_FILE, cluster_id)?;
                let identity = Identity {
                    cluster_id,
                    backend_id,
                };
                *current = Some(identity);
                tracing::info!(cluster_id, backend = %backend_id, "joined the cluster");
                Ok(identity)
            }
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> SqlError {
    SqlError::new(ErrorCode::ER_IO_ERROR, format!("{}: {e}", path.display()))
}

fn read_number(path: &Path) -> Result<Option<u64>, SqlError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<u64>().map(Some).map_err(|_| {
            SqlError::new(
                ErrorCode::ER_CLUSTER_ID_MISMATCH,
                format!(
                    "{} does not hold a number: {:?}",
                    path.display(),
                    text.trim()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

fn write_number(dir: &Path, name: &str, value: u64) -> Result<(), SqlError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    file.write_all(format!("{value}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_heartbeat_is_kept_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdentityStore::open(dir.path()).unwrap();
        assert_eq!(store.get(), None);
        let id = store.accept(77, BackendId(10002)).unwrap();
        assert_eq!(id.backend_id, BackendId(10002));
        // The same cluster again: fine.
        assert_eq!(store.accept(77, BackendId(10002)).unwrap(), id);
        // Another cluster, or another id: refused with the errno.
        let e = store.accept(78, BackendId(10002)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ER_CLUSTER_ID_MISMATCH);
        let e = store.accept(77, BackendId(10003)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ER_CLUSTER_ID_MISMATCH);
        assert!(store.accept(0, BackendId(10002)).is_err());

        // A restart keeps it.
        let again = IdentityStore::open(dir.path()).unwrap();
        assert_eq!(again.get(), Some(id));
        assert!(again.accept(78, BackendId(10002)).is_err());
    }

    #[test]
    fn damaged_identity_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CLUSTER_FILE), "12\n").unwrap();
        assert!(IdentityStore::open(dir.path()).is_err());
        std::fs::write(dir.path().join(BACKEND_FILE), "not a number").unwrap();
        assert!(IdentityStore::open(dir.path()).is_err());
    }
}
