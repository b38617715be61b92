//! [`RpcBackend`]: a [`Backend`] reached through its wire messages, over the network or
//! through the in-process loopback.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, Ticket};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use futures::StreamExt;
use prost::Message;
use rigel_be_api::wire::{self, bad_message};
use rigel_be_api::{
    Backend, BackupRequest, CompactRequest, CompactSummary, DeleteRequest, DeleteSummary,
    LookupRequest, RestoreRequest, Result, ScanStream, SinkSummary, TabletBackup, TabletInfo,
    TabletMeta, TabletScanStats, TabletWriter, WriteTarget, pb,
};
use rigel_common::ids::{BackendId, TabletId, TxnId};
use rigel_common::{ErrorCode, SqlError};
use tonic::codegen::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::flight::{WriteEncoder, decode_scan, write_summary};
use crate::handler::BackendHandler;
use crate::services::backend_service_client::BackendServiceClient;
use crate::services::heartbeat_service_client::HeartbeatServiceClient;
use crate::status::{VersionInterceptor, from_status};

/// Largest message a node accepts (plans and write targets of very wide tables).
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Batches of a write that may wait for the network, per backend.
const WRITE_QUEUE: usize = 16;

type Intercepted = InterceptedService<Channel, VersionInterceptor>;

/// Encodes and decodes a message: what crossing the wire does to it.
pub(crate) fn roundtrip<M: Message + Default>(m: &M) -> Result<M> {
    M::decode(m.encode_to_vec().as_slice()).map_err(bad_message)
}

/// A lazily connected gRPC channel to `addr` (`host:port`).
pub fn channel(addr: &str) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| bad_message(format!("address '{addr}': {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}

#[derive(Debug, Clone)]
enum Conn {
    /// The backend of this process: the messages are encoded and decoded, then handled
    /// here; record batches stay in memory.
    Loopback(Arc<BackendHandler>),
    /// A backend over the network.
    Remote {
        /// None for a backend reached only for data (a peer named by a plan fragment).
        control: Option<Box<BackendServiceClient<Intercepted>>>,
        data: Box<FlightServiceClient<Intercepted>>,
    },
}

/// The Flight client of a backend's data port (`host:brpc_port`).
fn data_client(brpc_addr: &str) -> Result<FlightServiceClient<Intercepted>> {
    Ok(
        FlightServiceClient::with_interceptor(channel(brpc_addr)?, VersionInterceptor)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    )
}

/// One backend, reached through its wire messages.
#[derive(Debug, Clone)]
pub struct RpcBackend {
    id: BackendId,
    /// How errors of the transport name it.
    name: String,
    conn: Conn,
}

macro_rules! unary {
    ($self:ident, $method:ident, $request:expr) => {{
        let request = $request;
        match &$self.conn {
            Conn::Loopback(handler) => {
                let response = handler.$method(roundtrip(&request)?).await?;
                roundtrip(&response)
            }
            Conn::Remote { control, .. } => {
                let mut client = $self.control_client(control)?;
                client
                    .$method(tonic::Request::new(request))
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|s| from_status(&s, &$self.name))
            }
        }
    }};
}

impl RpcBackend {
    /// The backend of this process, through the loopback.
    pub fn loopback(id: BackendId, handler: Arc<BackendHandler>) -> Self {
        Self {
            id,
            name: format!("backend {id}"),
            conn: Conn::Loopback(handler),
        }
    }

    /// A backend serving control RPCs at `be_addr` and data at `brpc_addr` (`host:port`).
    /// Connections are made when first used.
    pub fn connect(id: BackendId, be_addr: &str, brpc_addr: &str) -> Result<Self> {
        let control = BackendServiceClient::with_interceptor(channel(be_addr)?, VersionInterceptor)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let data = data_client(brpc_addr)?;
        Ok(Self {
            id,
            name: format!("backend {id} ({be_addr})"),
            conn: Conn::Remote {
                control: Some(Box::new(control)),
                data: Box::new(data),
            },
        })
    }

    /// A backend reached only for data, at `brpc_addr`: what a plan fragment needs to read
    /// another backend's tablets. Control RPCs to it fail with a typed error.
    pub fn connect_data(id: BackendId, brpc_addr: &str) -> Result<Self> {
        let data = data_client(brpc_addr)?;
        Ok(Self {
            id,
            name: format!("backend {id} ({brpc_addr})"),
            conn: Conn::Remote {
                control: None,
                data: Box::new(data),
            },
        })
    }

    fn control_client(
        &self,
        control: &Option<Box<BackendServiceClient<Intercepted>>>,
    ) -> Result<BackendServiceClient<Intercepted>> {
        control.as_deref().cloned().ok_or_else(|| {
            SqlError::new(
                ErrorCode::ER_UNKNOWN_BACKEND,
                format!("{} is known here by its data address only", self.name),
            )
        })
    }

    /// The backend's id.
    pub fn id(&self) -> BackendId {
        self.id
    }

    /// How messages name it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Sends a heartbeat to `addr` (`host:heartbeat_service_port`), waiting at most `timeout`.
pub async fn heartbeat(
    addr: &str,
    request: pb::HeartbeatRequest,
    timeout: Duration,
) -> Result<pb::HeartbeatResponse> {
    let peer = format!("the backend at {addr}");
    let call = async {
        let mut client =
            HeartbeatServiceClient::with_interceptor(channel(addr)?, VersionInterceptor);
        client
            .heartbeat(tonic::Request::new(request))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| from_status(&s, &peer))
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!(
                "{peer} did not answer the heartbeat within {} s",
                timeout.as_secs_f64()
            ),
        )),
    }
}

/// Writes into a remote backend: batches go out as Flight data from a background task.
struct RemoteWriter {
    name: String,
    encoder: WriteEncoder,
    tx: Option<tokio::sync::mpsc::Sender<FlightData>>,
    task: tokio::task::JoinHandle<Result<SinkSummary>>,
}

impl RemoteWriter {
    fn broken(&self) -> SqlError {
        SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!("the write to {} broke off", self.name),
        )
    }
}

#[async_trait]
impl TabletWriter for RemoteWriter {
    fn write(&mut self, tablet: TabletId, batch: RecordBatch) -> Result<()> {
        let messages = self.encoder.batch(tablet, &batch)?;
        let Some(tx) = &self.tx else {
            return Err(self.broken());
        };
        for m in messages {
            if tx.blocking_send(m).is_err() {
                return Err(self.broken());
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<SinkSummary> {
        self.tx = None;
        let name = self.name.clone();
        (&mut self.task)
            .await
            .map_err(|e| SqlError::internal(format!("the write to {name} failed: {e}")))?
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        // Unfinished: cancel the stream, which makes the backend discard the rows.
        if self.tx.is_some() {
            self.task.abort();
        }
    }
}

#[async_trait]
impl Backend for RpcBackend {
    async fn create_tablets(&self, tablets: Vec<TabletMeta>) -> Result<()> {
        unary!(
            self,
            create_tablets,
            pb::CreateTabletsRequest {
                tablets: tablets.iter().map(Into::into).collect(),
            }
        )
        .map(|_| ())
    }

    async fn drop_tablets(&self, tablets: Vec<TabletId>) -> Result<()> {
        unary!(
            self,
            drop_tablets,
            pb::DropTabletsRequest {
                tablet_ids: tablets.iter().map(|t| t.0).collect(),
            }
        )
        .map(|_| ())
    }

    async fn open_writer(
        &self,
        txn: TxnId,
        target: Arc<WriteTarget>,
    ) -> Result<Box<dyn TabletWriter>> {
        let request = pb::OpenWriteRequest {
            txn_id: txn.0,
            target: Some(target.as_ref().try_into()?),
        };
        match &self.conn {
            Conn::Loopback(handler) => handler.open_writer(roundtrip(&request)?).await,
            Conn::Remote { data, .. } => {
                let encoder = WriteEncoder::new();
                let (tx, rx) = tokio::sync::mpsc::channel::<FlightData>(WRITE_QUEUE);
                let first = encoder.open(&request, &target.schema);
                let stream = Outgoing {
                    first: Some(first),
                    rx,
                };
                let client = (**data).clone();
                let name = self.name.clone();
                let task = tokio::spawn(put(client, stream, name));
                Ok(Box::new(RemoteWriter {
                    name: self.name.clone(),
                    encoder,
                    tx: Some(tx),
                    task,
                }))
            }
        }
    }

    async fn publish(&self, txn: TxnId, versions: HashMap<TabletId, u64>) -> Result<()> {
        let mut versions: Vec<(TabletId, u64)> = versions.into_iter().collect();
        versions.sort();
        unary!(
            self,
            publish,
            pb::PublishRequest {
                txn_id: txn.0,
                versions: wire::tablet_versions(&versions),
            }
        )
        .map(|_| ())
    }

    async fn abort(&self, txn: TxnId) -> Result<()> {
        unary!(self, abort, pb::AbortRequest { txn_id: txn.0 }).map(|_| ())
    }

    async fn pending_txns(&self) -> Result<Vec<TxnId>> {
        let r: pb::PendingTxnsResponse = unary!(self, pending_txns, pb::Empty {})?;
        Ok(r.txn_ids.into_iter().map(TxnId).collect())
    }

    async fn delete_rows(&self, txn: TxnId, request: DeleteRequest) -> Result<DeleteSummary> {
        let r: pb::DeleteRowsResponse =
            unary!(self, delete_rows, wire::delete_to_wire(txn, &request)?)?;
        Ok((&r).into())
    }

    async fn compact(&self, request: CompactRequest) -> Result<CompactSummary> {
        let r: pb::CompactResponse =
            unary!(self, compact, pb::CompactRequest::try_from(&request)?)?;
        CompactSummary::try_from(&r)
    }

    async fn sweep_stale(&self, after_secs: u64) -> Result<usize> {
        let r: pb::SweepResponse = unary!(self, sweep_stale, pb::SweepRequest { after_secs })?;
        Ok(r.count as usize)
    }

    async fn sweep_trash(&self, after_secs: u64) -> Result<usize> {
        let r: pb::SweepResponse = unary!(self, sweep_trash, pb::SweepRequest { after_secs })?;
        Ok(r.count as usize)
    }

    async fn lookup_rows(&self, request: LookupRequest) -> Result<RecordBatch> {
        let r: pb::LookupResponse =
            unary!(self, lookup_rows, pb::LookupRequest::try_from(&request)?)?;
        wire::decode_batch(&r.rows)
    }

    async fn describe_scan(&self, tablets: Vec<(TabletId, u64)>) -> Result<Vec<TabletScanStats>> {
        let r: pb::DescribeScanResponse = unary!(
            self,
            describe_scan,
            pb::DescribeScanRequest {
                tablets: wire::tablet_versions(&tablets),
            }
        )?;
        Ok(r.tablets.iter().map(Into::into).collect())
    }

    async fn scan(&self, ticket: pb::ScanTicket) -> Result<ScanStream> {
        match &self.conn {
            Conn::Loopback(handler) => handler.scan(roundtrip(&ticket)?).await,
            Conn::Remote { data, .. } => {
                let node = ticket
                    .node
                    .as_ref()
                    .ok_or_else(|| bad_message("a scan ticket without its scan"))?;
                let schema = scan_schema(node)?;
                let mut client = data.clone();
                let response = client
                    .do_get(tonic::Request::new(Ticket {
                        ticket: ticket.encode_to_vec().into(),
                    }))
                    .await
                    .map_err(|s| from_status(&s, &self.name))?;
                Ok(decode_scan(
                    response.into_inner(),
                    schema,
                    self.name.clone(),
                ))
            }
        }
    }

    async fn tablet_infos(&self) -> Result<Vec<TabletInfo>> {
        let r: pb::TabletInfosResponse = unary!(self, tablet_infos, pb::Empty {})?;
        r.tablets.iter().map(TabletInfo::try_from).collect()
    }

    async fn prepare_shutdown(&self) -> Result<()> {
        unary!(self, prepare_shutdown, pb::Empty {}).map(|_| ())
    }

    async fn backup_tablets(&self, request: BackupRequest) -> Result<Vec<TabletBackup>> {
        let wire_request = pb::BackupRequest::from(&request);
        let mut events = match &self.conn {
            Conn::Loopback(handler) => handler
                .backup_tablets(roundtrip(&wire_request)?)?
                .map(|e| e.and_then(|e| roundtrip(&e)))
                .boxed(),
            Conn::Remote { control, .. } => {
                let name = self.name.clone();
                self.control_client(control)?
                    .backup_tablets(tonic::Request::new(wire_request))
                    .await
                    .map_err(|s| from_status(&s, &self.name))?
                    .into_inner()
                    .map(move |e| e.map_err(|s| from_status(&s, &name)))
                    .boxed()
            }
        };
        while let Some(event) = events.next().await {
            match event?.event {
                Some(pb::backup_event::Event::Progress(p)) => {
                    wire::apply_progress(&p, &request.transfer)
                }
                Some(pb::backup_event::Event::Result(r)) => {
                    return r.tablets.iter().map(TabletBackup::try_from).collect();
                }
                None => return Err(bad_message("an empty backup event")),
            }
        }
        Err(SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!("{} ended a backup without its result", self.name),
        ))
    }

    async fn restore_tablets(&self, request: RestoreRequest) -> Result<()> {
        let wire_request = pb::RestoreRequest::from(&request);
        let mut events = match &self.conn {
            Conn::Loopback(handler) => handler
                .restore_tablets(roundtrip(&wire_request)?)?
                .map(|e| e.and_then(|e| roundtrip(&e)))
                .boxed(),
            Conn::Remote { control, .. } => {
                let name = self.name.clone();
                self.control_client(control)?
                    .restore_tablets(tonic::Request::new(wire_request))
                    .await
                    .map_err(|s| from_status(&s, &self.name))?
                    .into_inner()
                    .map(move |e| e.map_err(|s| from_status(&s, &name)))
                    .boxed()
            }
        };
        while let Some(event) = events.next().await {
            match event?.event {
                Some(pb::restore_event::Event::Progress(p)) => {
                    wire::apply_progress(&p, &request.transfer)
                }
                Some(pb::restore_event::Event::Done(_)) => return Ok(()),
                None => return Err(bad_message("an empty restore event")),
            }
        }
        Err(SqlError::new(
            ErrorCode::ER_BACKEND_UNAVAILABLE,
            format!("{} ended a restore before it was done", self.name),
        ))
    }
}

/// The messages of a write: its first, then what the writer queues.
struct Outgoing {
    first: Option<FlightData>,
    rx: tokio::sync::mpsc::Receiver<FlightData>,
}

impl futures::Stream for Outgoing {
    type Item = FlightData;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<FlightData>> {
        if let Some(first) = self.first.take() {
            return std::task::Poll::Ready(Some(first));
        }
        self.rx.poll_recv(cx)
    }
}

/// Streams a write to a backend and reads its answer.
async fn put(
    mut client: FlightServiceClient<Intercepted>,
    stream: Outgoing,
    name: String,
) -> Result<SinkSummary> {
    let response = client.do_put(tonic::Request::new(stream)).await;
    let mut answers = match response {
        Ok(r) => r.into_inner(),
        Err(s) => return Err(from_status(&s, &name)),
    };
    match answers.message().await {
        Ok(answer) => write_summary(answer),
        Err(s) => Err(from_status(&s, &name)),
    }
}

/// The output schema of a scan node, from its wire form.
fn scan_schema(node: &pb::ScanNode) -> Result<datafusion::arrow::datatypes::SchemaRef> {
    let schema = wire::decode_schema(&node.schema)?;
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    if node.with_sequence {
        fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
            rigel_be_api::SEQUENCE_COLUMN,
            datafusion::arrow::datatypes::DataType::UInt64,
            false,
        )));
    }
    let full = datafusion::arrow::datatypes::Schema::new(fields);
    if !node.has_projection {
        return Ok(Arc::new(full));
    }
    let projection: Vec<usize> = node.projection.iter().map(|&i| i as usize).collect();
    full.project(&projection)
        .map(Arc::new)
        .map_err(|e| bad_message(format!("scan projection: {e}")))
}
