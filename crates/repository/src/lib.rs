//! Backup repositories: where snapshots are kept, in a directory (`file:///path`) or an S3
//! bucket (`s3://bucket/path`, `s3a://…`), through `object_store`.
//!
//! A repository holds two kinds of objects:
//!
//! * `blobs/<aa>/<sha256>`: files (tablet segments) addressed by the SHA-256 of their
//!   content. A snapshot uploads only the files the repository does not hold yet, so every
//!   backup after the first is incremental, and each snapshot still names all its files and
//!   restores on its own.
//! * `snapshots/<name>/<timestamp>/manifest`: what a snapshot holds (written by the caller;
//!   opaque here), preceded by a header line with the SHA-256 of the rest. The manifest is
//!   written last, after every file it names: a snapshot without one does not exist, so a
//!   backup that stops half way leaves no snapshot that looks complete.
//!
//! Every object is written whole or not at all (a local file is renamed into place, an S3
//! object appears when its upload completes).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{
    ClientOptions, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use rigel_common::{ErrorCode, ErrorExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Files larger than this are uploaded in parts of this size.
const PART_SIZE: usize = 8 << 20;
/// Read buffer for hashing and uploading files.
const READ_BUFFER: usize = 1 << 20;
/// First word of a manifest's header line.
const MANIFEST_MAGIC: &str = "rigel-snapshot-manifest";

/// Result of repository operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A repository error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The location or a property is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The kind of location is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// The object store failed (unreachable endpoint, wrong credentials, …).
    #[error("repository {location}: {source}")]
    Store {
        /// The repository location.
        location: String,
        /// What failed.
        #[source]
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file the snapshot names is not in the repository.
    #[error("snapshot file {0} is missing from the repository")]
    Missing(String),
    /// A file whose content does not match its recorded checksum or size.
    #[error("snapshot file {name} is corrupt: {detail}")]
    Corrupt {
        /// The object's name in the repository.
        name: String,
        /// What does not match.
        detail: String,
    },
    /// A snapshot that does not exist.
    #[error("snapshot {0} does not exist in the repository")]
    UnknownSnapshot(String),
}

impl ErrorExt for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid(_) | Error::UnknownSnapshot(_) => ErrorCode::ER_WRONG_ARGUMENTS,
            Error::Unsupported(_) => ErrorCode::ER_NOT_SUPPORTED_YET,
            Error::Store { .. } | Error::Io { .. } => ErrorCode::ER_IO_ERROR,
            Error::Missing(_) | Error::Corrupt { .. } => ErrorCode::ER_IO_ERROR,
        }
    }
}

impl From<Error> for rigel_common::SqlError {
    fn from(e: Error) -> Self {
        rigel_common::SqlError::new(e.code(), e.user_message())
    }
}

/// The running checksums of a blob being read, and the file it is copied to, if any.
struct Digest {
    sha: Sha256,
    crc: crc32fast::Hasher,
    size: u64,
    out: Option<(std::fs::File, PathBuf)>,
}

impl Digest {
    fn new(out: Option<(std::fs::File, PathBuf)>) -> Self {
        Self {
            sha: Sha256::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            out,
        }
    }

    fn update(&mut self, chunk: &[u8]) -> Result<()> {
        self.sha.update(chunk);
        self.size += chunk.len() as u64;
        if let Some((file, path)) = &mut self.out {
            self.crc.update(chunk);
            file.write_all(chunk).map_err(io(path))?;
        }
        Ok(())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file in the repository: the SHA-256 of its content (hex) and its size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl BlobRef {
    /// The object's name in the repository.
    pub fn name(&self) -> String {
        format!("blobs/{}/{}", &self.sha256[..2], self.sha256)
    }

    fn path(&self) -> ObjectPath {
        ObjectPath::from(self.name())
    }
}

/// Counters of a transfer, shared with whoever reports progress.
#[derive(Debug, Default)]
pub struct Transfer {
    /// Files to transfer in all.
    pub files_total: AtomicU64,
    /// Files done (uploaded, found in the repository already, or downloaded).
    pub files_done: AtomicU64,
    /// Bytes of the files done.
    pub bytes_done: AtomicU64,
    /// Files actually sent to the repository.
    pub files_uploaded: AtomicU64,
    /// Bytes actually sent to the repository.
    pub bytes_uploaded: AtomicU64,
}

impl Transfer {
    fn done(&self, bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A snapshot in the repository: name and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotId {
    /// Snapshot name.
    pub name: String,
    /// Its timestamp (`2024-12-09-10-25-58-842`).
    pub timestamp: String,
}

impl std::fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.timestamp)
    }
}

/// Checks a snapshot name or timestamp: letters, digits, `_` and `-` only.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid {what} '{name}': use letters, digits, '_' and '-' (at most 128)"
        )))
    }
}

/// An open repository.
#[derive(Debug, Clone)]
pub struct Repository {
    store: Arc<dyn ObjectStore>,
    location: String,
}

/// Where a location points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory of this host.
    Dir(PathBuf),
    /// An S3 bucket and a path inside it.
    S3 {
        /// Bucket.
        bucket: String,
        /// Path inside the bucket ("" for its root).
        prefix: String,
    },
}

impl Location {
    /// Parses `file:///dir`, `s3://bucket/path` or `s3a://bucket/path`.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "Repository location '{url}' must be an absolute path: file:///dir"
                )));
            }
            return Ok(Location::Dir(PathBuf::from(path)));
        }
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        match scheme.to_ascii_lowercase().as_str() {
            "s3" | "s3a" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(Error::Invalid(format!(
                        "Repository location '{url}' names no bucket: s3://bucket/path"
                    )));
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            "hdfs" | "oss" | "gs" | "cos" | "obs" | "ks3" => Err(Error::Unsupported(format!(
                "Repository location '{url}': {scheme}:// is not supported; use s3://bucket/path \
                 (any S3-compatible store, with aws.s3.endpoint) or file:///dir"
            ))),
            _ => Err(Error::Invalid(format!(
                "Repository location '{url}': expected s3://bucket/path, s3a://bucket/path or file:///dir"
            ))),
        }
    }
}

/// Properties a repository understands (StarRocks' names; `fs.s3a.*` as for GCS).
const S3_PROPERTIES: &[&str] = &[
    "aws.s3.access_key",
    "aws.s3.secret_key",
    "aws.s3.session_token",
    "aws.s3.endpoint",
    "aws.s3.region",
    "aws.s3.use_instance_profile",
    "aws.s3.enable_ssl",
    "aws.s3.enable_path_style_access",
    "fs.s3a.access.key",
    "fs.s3a.secret.key",
    "fs.s3a.endpoint",
];

fn bool_property(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Invalid(format!(
            "Repository property {key} must be true or false, not '{value}'"
        ))),
    }
}

impl Repository {
    /// Opens the repository at `location` with StarRocks' properties. A directory is
    /// created unless `read_only`. Nothing is read or written yet (see [`Self::probe`]).
    pub fn open(
        location: &str,
        properties: &BTreeMap<String, String>,
        read_only: bool,
    ) -> Result<Self> {
        let store: Arc<dyn ObjectStore> = match Location::parse(location)? {
            Location::Dir(dir) => {
                if let Some(key) = properties.keys().next() {
                    return Err(Error::Invalid(format!(
                        "Repository property {key} does not apply to a directory"
                    )));
                }
                if read_only {
                    std::fs::read_dir(&dir).map_err(io(&dir))?;
                } else {
                    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                }
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|source| Error::Store {
                        location: location.to_string(),
                        source,
                    })?
                    .with_automatic_cleanup(true);
                Arc::new(fs)
            }
            Location::S3 { bucket, prefix } => {
                let s3 = s3_store(&bucket, properties).map_err(|source| Error::Store {
                    location: location.to_string(),
                    source,
                })?;
                if prefix.is_empty() {
                    s3
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
        };
        Ok(Self {
            store,
            location: location.to_string(),
        })
    }

    /// The location URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn store_error(&self) -> impl FnOnce(object_store::Error) -> Error + '_ {
        move |source| Error::Store {
            location: self.location.clone(),
            source,
        }
    }

    /// Checks that the repository can be listed, and (unless `read_only`) written to.
    pub async fn probe(&self, read_only: bool) -> Result<()> {
        let mut listing = self.store.list(Some(&ObjectPath::from("snapshots")));
        if let Some(first) = listing.next().await {
            first.map_err(self.store_error())?;
        }
        if !read_only {
            let path = ObjectPath::from(format!(".probe-{}", std::process::id()));
            self.store
                .put(&path, PutPayload::from_static(b"probe"))
                .await
                .map_err(self.store_error())?;
            self.store.delete(&path).await.map_err(self.store_error())?;
        }
        Ok(())
    }

    /// Hashes a local file (on a blocking thread).
    pub async fn hash_file(path: &Path) -> Result<BlobRef> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(&path).map_err(io(&path))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; READ_BUFFER];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf).map_err(io(&path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Ok(BlobRef {
                sha256: hex(&hasher.finalize()),
                size,
            })
        })
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?
    }

    /// Whether the repository holds `blob` (an object of its name and size).
    pub async fn has_blob(&self, blob: &BlobRef) -> Result<bool> {
        match self.store.head(&blob.path()).await {
            Ok(meta) => Ok(meta.size == blob.size),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_error()(e)),
        }
    }

    /// Stores a local file as a blob. Unless `always`, a file the repository holds already
    /// is not sent again. Returns its reference and whether it was sent.
    pub async fn upload_file(
        &self,
        path: &Path,
        always: bool,
        transfer: &Transfer,
    ) -> Result<(BlobRef, bool)> {
        // A file of one part is read and hashed once, in memory; a larger one is hashed
        // first (its name is its checksum) and hashed again as it streams, to be sure the
        // object stored is the file that was hashed.
        let size = tokio::fs::metadata(path).await.map_err(io(path))?.len();
        let (blob, data) = if size <= PART_SIZE as u64 {
            let (blob, data) = read_and_hash(path).await?;
            (blob, Some(data))
        } else {
            (Self::hash_file(path).await?, None)
        };
        if !always && self.has_blob(&blob).await? {
            transfer.done(blob.size);
            return Ok((blob, false));
        }
        let target = blob.path();
        if let Some(data) = data {
            self.store
                .put(&target, PutPayload::from(Bytes::from(data)))
                .await
                .map_err(self.store_error())?;
        } else {
            let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
            use tokio::io::AsyncReadExt;
            let upload = self
                .store
                .put_multipart(&target)
                .await
                .map_err(self.store_error())?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; READ_BUFFER];
            loop {
                let n = file.read(&mut buf).await.map_err(io(path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                writer
                    .wait_for_capacity(2)
                    .await
                    .map_err(self.store_error())?;
                writer.write(&buf[..n]);
            }
            if hex(&hasher.finalize()) != blob.sha256 {
                writer.abort().await.map_err(self.store_error())?;
                return Err(Error::Invalid(format!(
                    "{} changed while being uploaded",
                    path.display()
                )));
            }
            writer.finish().await.map_err(self.store_error())?;
        }
        transfer.done(blob.size);
        transfer.files_uploaded.fetch_add(1, Ordering::Relaxed);
        transfer
            .bytes_uploaded
            .fetch_add(blob.size, Ordering::Relaxed);
        Ok((blob, true))
    }

    /// Downloads a blob into `dest` (written whole, synced), checking its size and
    /// checksum. Returns the CRC-32 of the content.
    pub async fn download(&self, blob: &BlobRef, dest: &Path, transfer: &Transfer) -> Result<u32> {
        let tmp = dest.with_extension("download");
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let read = self
            .read_blob(blob, Digest::new(Some((file, tmp.clone()))))
            .await;
        let checked = read.and_then(|d| {
            check_blob(blob, d.size, &hex(&d.sha.finalize()))?;
            if let Some((file, path)) = d.out {
                file.sync_all().map_err(io(&path))?;
            }
            Ok(d.crc.finalize())
        });
        let crc = match checked {
            Ok(crc) => crc,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, dest).map_err(io(dest))?;
        transfer.done(blob.size);
        Ok(crc)
    }

    /// Reads a blob whole and checks it against its reference.
    pub async fn verify_blob(&self, blob: &BlobRef) -> Result<()> {
        let d = self.read_blob(blob, Digest::new(None)).await?;
        check_blob(blob, d.size, &hex(&d.sha.finalize()))
    }

    /// Feeds a blob's bytes to `digest`. A local file is read in large blocks on a blocking
    /// thread (the store's own stream reads a file 8 KiB at a time, each on a task of its
    /// own); a remote object as its chunks arrive.
    async fn read_blob(&self, blob: &BlobRef, mut digest: Digest) -> Result<Digest> {
        let got = match self.store.get(&blob.path()).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(Error::Missing(blob.name())),
            Err(e) => return Err(self.store_error()(e)),
        };
        match got.payload {
            GetResultPayload::File(mut file, path) => tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; READ_BUFFER];
                loop {
                    let n = file.read(&mut buf).map_err(io(&path))?;
                    if n == 0 {
                        return Ok(digest);
                    }
                    digest.update(&buf[..n])?;
                }
            })
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?,
            GetResultPayload::Stream(mut stream) => {
                while let Some(chunk) = stream.try_next().await.map_err(self.store_error())? {
                    digest.update(&chunk)?;
                }
                Ok(digest)
            }
        }
    }

    fn manifest_path(id: &SnapshotId) -> ObjectPath {
        ObjectPath::from(format!("snapshots/{}/{}/manifest", id.name, id.timestamp))
    }

    /// Writes a snapshot's manifest: call it after every file the manifest names is stored.
    pub async fn put_manifest(&self, id: &SnapshotId, body: &[u8]) -> Result<()> {
        check_name("snapshot name", &id.name)?;
        check_name("snapshot timestamp", &id.timestamp)?;
        let mut data = format!("{MANIFEST_MAGIC} 1 {}\n", hex(&Sha256::digest(body))).into_bytes();
        data.extend_from_slice(body);
        self.store
            .put(
                &Self::manifest_path(id),
                PutPayload::from(Bytes::from(data)),
            )
            .await
            .map_err(self.store_error())?;
        Ok(())
    }

    /// Reads a snapshot's manifest, checking it against its header.
    pub async fn get_manifest(&self, id: &SnapshotId) -> Result<Vec<u8>> {
        let path = Self::manifest_path(id);
        let data = match self.store.get(&path).await {
            Ok(got) => got.bytes().await.map_err(self.store_error())?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::UnknownSnapshot(id.to_string()));
            }
            Err(e) => return Err(self.store_error()(e)),
        };
        let corrupt = |detail: &str| Error::Corrupt {
            name: path.to_string(),
            detail: detail.to_string(),
        };
        let newline = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt("no header line"))?;
        let header = std::str::from_utf8(&data[..newline]).map_err(|_| corrupt("bad header"))?;
        let mut words = header.split(' ');
        if words.next() != Some(MANIFEST_MAGIC) {
            return Err(corrupt("not a snapshot manifest"));
        }
        if words.next() != Some("1") {
            return Err(corrupt("written by a newer version"));
        }
        let body = &data[newline + 1..];
        if words.next() != Some(hex(&Sha256::digest(body)).as_str()) {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(body.to_vec())
    }

    /// Every object under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<object_store::ObjectMeta>> {
        self.store
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await
            .map_err(self.store_error())
    }

    /// The snapshots the repository holds (those with a manifest), oldest first by name
    /// and timestamp.
    pub async fn list_snapshots(&self) -> Result<Vec<SnapshotId>> {
        let metas = self.list("snapshots").await?;
        let mut out: Vec<SnapshotId> = metas
            .iter()
            .filter_map(|m| {
                let parts: Vec<_> = m.location.parts().collect();
                match parts.as_slice() {
                    [_, name, ts, file] if file.as_ref() == "manifest" => Some(SnapshotId {
                        name: name.as_ref().to_string(),
                        timestamp: ts.as_ref().to_string(),
                    }),
                    _ => None,
                }
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes a snapshot's manifest (its files stay until [`Self::delete_blob`]).
    pub async fn delete_manifest(&self, id: &SnapshotId) -> Result<()> {
        self.store
            .delete(&Self::manifest_path(id))
            .await
            .map_err(self.store_error())
    }

    /// Every blob the repository holds, by checksum.
    pub async fn list_blobs(&self) -> Result<Vec<BlobRef>> {
        let metas = self.list("blobs").await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then_some(
                    BlobRef {
                        sha256: name,
                        size: m.size,
                    },
                )
            })
            .collect())
    }

    /// Deletes a blob.
    pub async fn delete_blob(&self, blob: &BlobRef) -> Result<()> {
        match self.store.delete(&blob.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.store_error()(e)),
        }
    }
}

fn check_blob(blob: &BlobRef, size: u64, sha256: &str) -> Result<()> {
    if size != blob.size {
        return Err(Error::Corrupt {
            name: blob.name(),
            detail: format!("{size} bytes, expected {}", blob.size),
        });
    }
    if sha256 != blob.sha256 {
        return Err(Error::Corrupt {
            name: blob.name(),
            detail: format!("SHA-256 is {sha256}"),
        });
    }
    Ok(())
}

/// Reads a file whole and hashes it (on a blocking thread).
async fn read_and_hash(path: &Path) -> Result<(BlobRef, Vec<u8>)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let data = std::fs::read(&path).map_err(io(&path))?;
        let blob = BlobRef {
            sha256: hex(&Sha256::digest(&data)),
            size: data.len() as u64,
        };
        Ok((blob, data))
    })
    .await
    .map_err(|e| Error::Invalid(e.to_string()))?
}

fn s3_store(
    bucket: &str,
    properties: &BTreeMap<String, String>,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let invalid = |msg: String| object_store::Error::Generic {
        store: "S3",
        source: msg.into(),
    };
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let mut region = None;
    let mut endpoint = None;
    let mut ssl = true;
    for (key, value) in properties {
        match key.as_str() {
            "aws.s3.access_key" | "fs.s3a.access.key" => {
                builder = builder.with_access_key_id(value);
            }
            "aws.s3.secret_key" | "fs.s3a.secret.key" => {
                builder = builder.with_secret_access_key(value);
            }
            "aws.s3.session_token" => builder = builder.with_token(value),
            "aws.s3.endpoint" | "fs.s3a.endpoint" => endpoint = Some(value.clone()),
            "aws.s3.region" => region = Some(value.clone()),
            "aws.s3.enable_ssl" => {
                ssl = bool_property(key, value).map_err(|e| invalid(e.to_string()))?
            }
            "aws.s3.enable_path_style_access" => {
                let path_style = bool_property(key, value).map_err(|e| invalid(e.to_string()))?;
                builder = builder.with_virtual_hosted_style_request(!path_style);
            }
            "aws.s3.use_instance_profile" => {
                // Credentials come from the environment or the instance metadata service
                // when no keys are given, which is what this asks for.
                bool_property(key, value).map_err(|e| invalid(e.to_string()))?;
            }
            _ => {
                return Err(invalid(format!(
                    "unknown repository property {key}; known: {}",
                    S3_PROPERTIES.join(", ")
                )));
            }
        }
    }
    // Fail in seconds, not minutes, when the endpoint is unreachable.
    let mut client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300));
    if let Some(endpoint) = endpoint {
        let url = if endpoint.contains("://") {
            endpoint
        } else if ssl {
            format!("https://{endpoint}")
        } else {
            format!("http://{endpoint}")
        };
        client = client.with_allow_http(url.starts_with("http://"));
        builder = builder.with_endpoint(url);
    }
    builder = builder
        .with_region(region.unwrap_or_else(|| "us-east-1".to_string()))
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        })
        .with_client_options(client);
    Ok(Arc::new(builder.build()?))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(dir: &Path) -> Repository {
        let url = format!("file://{}", dir.display());
        Repository::open(&url, &BTreeMap::new(), false).unwrap()
    }

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("s3a://bucket/a/b/").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            Location::parse("file:///x").unwrap(),
            Location::Dir("/x".into())
        );
        assert!(matches!(
            Location::parse("file://x"),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            Location::parse("hdfs://nn:8020/p"),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(Location::parse("s3:///p"), Err(Error::Invalid(_))));
        let props = BTreeMap::from([("aws.s3.colour".to_string(), "x".to_string())]);
        let err = Repository::open("s3://b/p", &props, false).unwrap_err();
        assert!(
            err.to_string().contains("unknown repository property"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn files_are_stored_once_and_checked_on_the_way_back() {
        let dir = tempfile::tempdir().unwrap();
        let r = repo(&dir.path().join("repo"));
        r.probe(false).await.unwrap();
        let small = dir.path().join("small");
        let big = dir.path().join("big");
        std::fs::write(&small, b"hello").unwrap();
        let big_data: Vec<u8> = (0..(PART_SIZE * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&big, &big_data).unwrap();
        let t = Transfer::default();
        let (a, sent) = r.upload_file(&small, false, &t).await.unwrap();
        assert!(sent);
        let (b, sent) = r.upload_file(&big, false, &t).await.unwrap();
        assert!(sent);
        let (_, sent) = r.upload_file(&small, false, &t).await.unwrap();
        assert!(!sent, "held already");
        let (_, sent) = r.upload_file(&small, true, &t).await.unwrap();
        assert!(sent, "always");
        assert_eq!(t.files_uploaded.load(Ordering::Relaxed), 3);
        assert_eq!(t.files_done.load(Ordering::Relaxed), 4);
        let mut blobs = r.list_blobs().await.unwrap();
        blobs.sort_by_key(|b| b.size);
        assert_eq!(blobs, vec![a.clone(), b.clone()]);
        let out = dir.path().join("out");
        let crc = r.download(&b, &out, &t).await.unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), big_data);
        assert_eq!(crc, crc32fast::hash(&big_data));
        r.verify_blob(&a).await.unwrap();
        // A corrupted copy is found by verify and refused by download.
        let stored = dir.path().join("repo").join(a.name());
        std::fs::write(&stored, b"jello").unwrap();
        let err = r.verify_blob(&a).await.unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&a.sha256), "{err}");
        assert!(r.download(&a, &out, &t).await.is_err());
        assert!(!out.with_extension("download").exists());
        std::fs::remove_file(&stored).unwrap();
        let err = r.verify_blob(&a).await.unwrap_err();
        assert!(matches!(err, Error::Missing(_)), "{err}");
        r.delete_blob(&b).await.unwrap();
        assert!(r.list_blobs().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn manifests_are_listed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let r = repo(dir.path());
        let id = |n: &str, t: &str| SnapshotId {
            name: n.into(),
            timestamp: t.into(),
        };
        r.put_manifest(&id("s2", "2026-01-02-00-00-00-000"), b"{\"b\":2}")
            .await
            .unwrap();
        r.put_manifest(&id("s1", "2026-01-01-00-00-00-000"), b"{\"a\":1}")
            .await
            .unwrap();
        assert_eq!(
            r.list_snapshots().await.unwrap(),
            vec![
                id("s1", "2026-01-01-00-00-00-000"),
                id("s2", "2026-01-02-00-00-00-000")
            ]
        );
        let s1 = id("s1", "2026-01-01-00-00-00-000");
        assert_eq!(r.get_manifest(&s1).await.unwrap(), b"{\"a\":1}");
        assert!(matches!(
            r.get_manifest(&id("s1", "x")).await,
            Err(Error::UnknownSnapshot(_))
        ));
        assert!(r.put_manifest(&id("../x", "t"), b"").await.is_err());
        let file = dir
            .path()
            .join("snapshots/s1/2026-01-01-00-00-00-000/manifest");
        let mut data = std::fs::read(&file).unwrap();
        *data.last_mut().unwrap() = b'0';
        std::fs::write(&file, data).unwrap();
        let err = r.get_manifest(&s1).await.unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        r.delete_manifest(&s1).await.unwrap();
        assert_eq!(r.list_snapshots().await.unwrap().len(), 1);
    }
}
