//! The receiving side of a backend's RPCs: wire messages in, a [`Backend`] called, wire
//! messages out. The gRPC services and the in-process loopback both go through it.

use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::TaskContext;
use futures::StreamExt;
use futures::stream::BoxStream;
use rigel_be_api::wire::{self, bad_message};
use rigel_be_api::{
    Backend, BackupRequest, CompactRequest, LookupRequest, RestoreRequest, Result, ScanStream,
    TabletWriter, WriteTarget, pb,
};
use rigel_common::ids::{TabletId, TxnId};

/// How often a running backup or restore reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Serves one backend's requests.
#[derive(Debug, Clone)]
pub struct BackendHandler {
    backend: Arc<dyn Backend>,
    /// Where functions named in received expressions resolve.
    functions: Arc<TaskContext>,
}

impl BackendHandler {
    /// Serves `backend`; expressions received resolve their functions in `functions`.
    pub fn new(backend: Arc<dyn Backend>, functions: Arc<TaskContext>) -> Self {
        Self { backend, functions }
    }

    /// The backend served.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub(crate) async fn create_tablets(&self, r: pb::CreateTabletsRequest) -> Result<pb::Empty> {
        let tablets = r.tablets.iter().map(Into::into).collect();
        self.backend.create_tablets(tablets).await?;
        Ok(pb::Empty {})
    }

    pub(crate) async fn drop_tablets(&self, r: pb::DropTabletsRequest) -> Result<pb::Empty> {
        let tablets = r.tablet_ids.into_iter().map(TabletId).collect();
        self.backend.drop_tablets(tablets).await?;
        Ok(pb::Empty {})
    }

    pub(crate) async fn publish(&self, r: pb::PublishRequest) -> Result<pb::Empty> {
        self.backend
            .publish(TxnId(r.txn_id), wire::version_map(&r.versions))
            .await?;
        Ok(pb::Empty {})
    }

    pub(crate) async fn abort(&self, r: pb::AbortRequest) -> Result<pb::Empty> {
        self.backend.abort(TxnId(r.txn_id)).await?;
        Ok(pb::Empty {})
    }

    pub(crate) async fn pending_txns(&self, _: pb::Empty) -> Result<pb::PendingTxnsResponse> {
        let txns = self.backend.pending_txns().await?;
        Ok(pb::PendingTxnsResponse {
            txn_ids: txns.into_iter().map(|t| t.0).collect(),
        })
    }

    pub(crate) async fn delete_rows(
        &self,
        r: pb::DeleteRowsRequest,
    ) -> Result<pb::DeleteRowsResponse> {
        let request = wire::delete_from_wire(&r, &self.functions)?;
        let summary = self.backend.delete_rows(TxnId(r.txn_id), request).await?;
        Ok((&summary).into())
    }

    pub(crate) async fn compact(&self, r: pb::CompactRequest) -> Result<pb::CompactResponse> {
        let request = CompactRequest::try_from(&r)?;
        let summary = self.backend.compact(request).await?;
        Ok((&summary).into())
    }

    pub(crate) async fn sweep_stale(&self, r: pb::SweepRequest) -> Result<pb::SweepResponse> {
        let count = self.backend.sweep_stale(r.after_secs).await?;
        Ok(pb::SweepResponse {
            count: count as u64,
        })
    }

    pub(crate) async fn sweep_trash(&self, r: pb::SweepRequest) -> Result<pb::SweepResponse> {
        let count = self.backend.sweep_trash(r.after_secs).await?;
        Ok(pb::SweepResponse {
            count: count as u64,
        })
    }

    pub(crate) async fn lookup_rows(&self, r: pb::LookupRequest) -> Result<pb::LookupResponse> {
        let request = LookupRequest::try_from(&r)?;
        let rows = self.backend.lookup_rows(request).await?;
        Ok(pb::LookupResponse {
            rows: wire::encode_batch(&rows)?,
        })
    }

    pub(crate) async fn describe_scan(
        &self,
        r: pb::DescribeScanRequest,
    ) -> Result<pb::DescribeScanResponse> {
        let stats = self
            .backend
            .describe_scan(wire::from_tablet_versions(&r.tablets))
            .await?;
        Ok(pb::DescribeScanResponse {
            tablets: stats.iter().map(Into::into).collect(),
        })
    }

    pub(crate) async fn tablet_infos(&self, _: pb::Empty) -> Result<pb::TabletInfosResponse> {
        let infos = self.backend.tablet_infos().await?;
        Ok(pb::TabletInfosResponse {
            tablets: infos.iter().map(Into::into).collect(),
        })
    }

    pub(crate) async fn prepare_shutdown(&self, _: pb::Empty) -> Result<pb::Empty> {
        self.backend.prepare_shutdown().await?;
        Ok(pb::Empty {})
    }

    /// Runs a backup, streaming its progress and then its result.
    pub(crate) fn backup_tablets(
        &self,
        r: pb::BackupRequest,
    ) -> Result<BoxStream<'static, Result<pb::BackupEvent>>> {
        let request = BackupRequest::try_from(&r)?;
        let transfer = Arc::clone(&request.transfer);
        let backend = Arc::clone(&self.backend);
        let job = tokio::spawn(async move { backend.backup_tablets(request).await });
        Ok(progress_stream(job, transfer, |p| pb::BackupEvent {
            event: Some(pb::backup_event::Event::Progress(p)),
        })
        .map(|item| {
            item.map(|outcome| match outcome {
                Outcome::Progress(event) => event,
                Outcome::Done(tablets) => pb::BackupEvent {
                    event: Some(pb::backup_event::Event::Result(pb::BackupResult {
                        tablets: tablets.iter().map(Into::into).collect(),
                    })),
                },
            })
        })
        .boxed())
    }

    /// Runs a restore, streaming its progress and then its end.
    pub(crate) fn restore_tablets(
        &self,
        r: pb::RestoreRequest,
    ) -> Result<BoxStream<'static, Result<pb::RestoreEvent>>> {
        let request = RestoreRequest::try_from(&r)?;
        let transfer = Arc::clone(&request.transfer);
        let backend = Arc::clone(&self.backend);
        let job = tokio::spawn(async move { backend.restore_tablets(request).await });
        Ok(progress_stream(job, transfer, |p| pb::RestoreEvent {
            event: Some(pb::restore_event::Event::Progress(p)),
        })
        .map(|item| {
            item.map(|outcome| match outcome {
                Outcome::Progress(event) => event,
                Outcome::Done(()) => pb::RestoreEvent {
                    event: Some(pb::restore_event::Event::Done(pb::Empty {})),
                },
            })
        })
        .boxed())
    }

    pub(crate) async fn scan(&self, ticket: pb::ScanTicket) -> Result<ScanStream> {
        self.backend.scan(ticket).await
    }

    pub(crate) async fn open_writer(
        &self,
        r: pb::OpenWriteRequest,
    ) -> Result<Box<dyn TabletWriter>> {
        let target = r
            .target
            .as_ref()
            .ok_or_else(|| bad_message("a write without its target"))?;
        let target = Arc::new(WriteTarget::try_from(target)?);
        self.backend.open_writer(TxnId(r.txn_id), target).await
    }
}

enum Outcome<E, T> {
    Progress(E),
    Done(T),
}

/// Progress events of `job` every [`PROGRESS_EVERY`], then its outcome.
fn progress_stream<T: Send + 'static, E: Send + 'static>(
    job: tokio::task::JoinHandle<Result<T>>,
    transfer: Arc<rigel_be_api::Transfer>,
    progress: impl Fn(pb::TransferProgress) -> E + Send + 'static,
) -> BoxStream<'static, Result<Outcome<E, T>>> {
    let state = (Some(job), transfer, progress);
    futures::stream::unfold(state, |(job, transfer, progress)| async move {
        let mut handle = job?;
        tokio::select! {
            done = &mut handle => {
                let outcome = match done {
                    Ok(Ok(v)) => Ok(Outcome::Done(v)),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(rigel_common::SqlError::internal(format!("transfer task failed: {e}"))),
                };
                Some((outcome, (None, transfer, progress)))
            }
            _ = tokio::time::sleep(PROGRESS_EVERY) => {
                let event = progress(wire::progress_of(&transfer));
                Some((Ok(Outcome::Progress(event)), (Some(handle), transfer, progress)))
            }
        }
    })
    .boxed()
}
