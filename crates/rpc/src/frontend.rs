//! The frontend's services for backends (`rpc_port`): the coordination of loads that run
//! on a backend. [`frontend_routes`] serves a [`LoadCoordinator`]; [`RemoteFrontend`] is
//! one over gRPC, as a backend sees it, pointed at the frontend its heartbeats come from.
//! [`Peers`] resolves the backends a load on a backend routes rows to.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use rigel_be_api::{Backend, LoadCoordinator, Result, pb};
use rigel_common::ids::BackendId;
use rigel_common::{ErrorCode, SqlError};
use rigel_exec::BackendResolver;
use tonic::codegen::InterceptedService;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::client::{MAX_MESSAGE_BYTES, RpcBackend, channel, roundtrip};
use crate::handler::BackendHandler;
use crate::services::frontend_service_client::FrontendServiceClient;
use crate::services::frontend_service_server::{FrontendService, FrontendServiceServer};
use crate::status::{CheckVersion, VersionInterceptor, from_status, to_status};

struct Service(Arc<dyn LoadCoordinator>);

fn reply<T>(r: Result<T>) -> std::result::Result<Response<T>, Status> {
    r.map(Response::new).map_err(|e| to_status(&e))
}

#[async_trait]
impl FrontendService for Service {
    async fn begin_load(
        &self,
        request: Request<pb::BeginLoadRequest>,
    ) -> std::result::Result<Response<pb::BeginLoadResponse>, Status> {
        reply(self.0.begin_load(request.into_inner()).await)
    }

    async fn load_partitions(
        &self,
        request: Request<pb::LoadPartitionsRequest>,
    ) -> std::result::Result<Response<pb::LoadPartitionsResponse>, Status> {
        reply(self.0.load_partitions(request.into_inner()).await)
    }

    async fn finish_load(
        &self,
        request: Request<pb::FinishLoadRequest>,
    ) -> std::result::Result<Response<pb::FinishLoadResponse>, Status> {
        reply(self.0.finish_load(request.into_inner()).await)
    }

    async fn abort_load(
        &self,
        request: Request<pb::AbortLoadRequest>,
    ) -> std::result::Result<Response<pb::Empty>, Status> {
        reply(
            self.0
                .abort_load(request.into_inner())
                .await
                .map(|()| pb::Empty {}),
        )
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> std::result::Result<Response<pb::AuthenticateResponse>, Status> {
        reply(self.0.authenticate(request.into_inner()).await)
    }

    async fn compact_tablet(
        &self,
        request: Request<pb::CompactTabletRequest>,
    ) -> std::result::Result<Response<pb::CompactResponse>, Status> {
        reply(self.0.compact_tablet(request.into_inner()).await)
    }
}

/// The frontend's services, as routes (checks protocol versions).
pub fn frontend_routes(coordinator: Arc<dyn LoadCoordinator>) -> Routes {
    let svc = FrontendServiceServer::new(Service(coordinator))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Routes::new(InterceptedService::new(svc, CheckVersion))
}

type Client = FrontendServiceClient<InterceptedService<Channel, VersionInterceptor>>;

/// The frontend as a backend reaches it: at the address its heartbeats name.
#[derive(Debug, Default)]
pub struct RemoteFrontend {
    current: RwLock<Option<(String, Client)>>,
}

impl RemoteFrontend {
    /// Points at the frontend serving RPCs at `addr` (`host:rpc_port`), unless it does
    /// already. Connections are made when first used.
    pub fn set_address(&self, addr: &str) -> Result<()> {
        if self
            .current
            .read()
            .as_ref()
            .is_some_and(|(known, _)| known == addr)
        {
            return Ok(());
        }
        let client = FrontendServiceClient::with_interceptor(channel(addr)?, VersionInterceptor)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        tracing::info!(
            frontend = addr,
            "frontend address learnt from its heartbeats"
        );
        *self.current.write() = Some((addr.to_string(), client));
        Ok(())
    }

    fn client(&self) -> Result<(String, Client)> {
        self.current.read().clone().ok_or_else(|| {
            SqlError::new(
                ErrorCode::ER_BACKEND_UNAVAILABLE,
                "this backend has not joined a cluster yet (no frontend has sent it a \
                 heartbeat): add it with ALTER SYSTEM ADD BACKEND",
            )
        })
    }
}

macro_rules! call {
    ($self:ident, $method:ident, $request:expr) => {{
        let (name, mut client) = $self.client()?;
        client
            .$method(Request::new($request))
            .await
            .map(Response::into_inner)
            .map_err(|s| from_status(&s, &format!("frontend {name}")))
    }};
}

#[async_trait]
impl LoadCoordinator for RemoteFrontend {
    async fn begin_load(&self, request: pb::BeginLoadRequest) -> Result<pb::BeginLoadResponse> {
        call!(self, begin_load, request)
    }

    async fn load_partitions(
        &self,
        request: pb::LoadPartitionsRequest,
    ) -> Result<pb::LoadPartitionsResponse> {
        call!(self, load_partitions, request)
    }

    async fn finish_load(&self, request: pb::FinishLoadRequest) -> Result<pb::FinishLoadResponse> {
        call!(self, finish_load, request)
    }

    async fn abort_load(&self, request: pb::AbortLoadRequest) -> Result<()> {
        call!(self, abort_load, request).map(|_| ())
    }

    async fn authenticate(
        &self,
        request: pb::AuthenticateRequest,
    ) -> Result<pb::AuthenticateResponse> {
        call!(self, authenticate, request)
    }

    async fn compact_tablet(
        &self,
        request: pb::CompactTabletRequest,
    ) -> Result<pb::CompactResponse> {
        call!(self, compact_tablet, request)
    }
}

/// The frontend of this process (`rigel server`), through the loopback: requests and
/// answers are encoded and decoded as they would cross the network.
#[derive(Debug)]
pub struct LoopbackFrontend(pub Arc<dyn LoadCoordinator>);

#[async_trait]
impl LoadCoordinator for LoopbackFrontend {
    async fn begin_load(&self, request: pb::BeginLoadRequest) -> Result<pb::BeginLoadResponse> {
        roundtrip(&self.0.begin_load(roundtrip(&request)?).await?)
    }

    async fn load_partitions(
        &self,
        request: pb::LoadPartitionsRequest,
    ) -> Result<pb::LoadPartitionsResponse> {
        roundtrip(&self.0.load_partitions(roundtrip(&request)?).await?)
    }

    async fn finish_load(&self, request: pb::FinishLoadRequest) -> Result<pb::FinishLoadResponse> {
        roundtrip(&self.0.finish_load(roundtrip(&request)?).await?)
    }

    async fn abort_load(&self, request: pb::AbortLoadRequest) -> Result<()> {
        self.0.abort_load(roundtrip(&request)?).await
    }

    async fn authenticate(
        &self,
        request: pb::AuthenticateRequest,
    ) -> Result<pb::AuthenticateResponse> {
        roundtrip(&self.0.authenticate(roundtrip(&request)?).await?)
    }

    async fn compact_tablet(
        &self,
        request: pb::CompactTabletRequest,
    ) -> Result<pb::CompactResponse> {
        roundtrip(&self.0.compact_tablet(roundtrip(&request)?).await?)
    }
}

/// A backend another one writes to: its addresses (`host:be_port`, `host:brpc_port`) and
/// its client.
type Peer = ((String, String), Arc<RpcBackend>);

/// The backends a backend writes to and reads from: itself through the loopback, the
/// others over the network at the addresses the frontend named (loads) or a plan fragment
/// carries (scans of tablets held elsewhere).
pub struct Peers {
    local: Arc<BackendHandler>,
    local_id: Arc<dyn Fn() -> BackendId + Send + Sync>,
    known: RwLock<HashMap<BackendId, Peer>>,
    /// Backends known only by the data address a plan fragment named.
    data: RwLock<HashMap<BackendId, (String, Arc<RpcBackend>)>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("local", &(self.local_id)())
            .field("known", &self.known.read().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Peers {
    /// This backend is served by `local`, its id is `local_id()`.
    pub fn new(
        local: Arc<BackendHandler>,
        local_id: Arc<dyn Fn() -> BackendId + Send + Sync>,
    ) -> Self {
        Self {
            local,
            local_id,
            known: RwLock::default(),
            data: RwLock::default(),
        }
    }

    /// Learns (or updates) the addresses of backends.
    pub fn learn(&self, backends: &[pb::LoadBackend]) -> Result<()> {
        for b in backends {
            let id = BackendId(b.backend_id);
            let addresses = (b.be_address.clone(), b.brpc_address.clone());
            if self
                .known
                .read()
                .get(&id)
                .is_some_and(|(known, _)| *known == addresses)
            {
                continue;
            }
            if addresses.0.is_empty() || addresses.1.is_empty() {
                continue;
            }
            let client = Arc::new(RpcBackend::connect(id, &addresses.0, &addresses.1)?);
            self.known.write().insert(id, (addresses, client));
        }
        Ok(())
    }
}

impl BackendResolver for Peers {
    fn backend(&self, id: BackendId, address: &str) -> Result<Arc<dyn Backend>> {
        if id == (self.local_id)() {
            return Ok(Arc::new(RpcBackend::loopback(id, Arc::clone(&self.local))));
        }
        if let Some((_, client)) = self.known.read().get(&id) {
            return Ok(Arc::clone(client) as Arc<dyn Backend>);
        }
        // A plan fragment names the data address of the tablets it reads elsewhere.
        if address.is_empty() {
            return Err(SqlError::new(
                ErrorCode::ER_UNKNOWN_BACKEND,
                format!("backend {id} is not known here (the frontend did not name it)"),
            ));
        }
        let mut data = self.data.write();
        if let Some((known, client)) = data.get(&id)
            && known == address
        {
            return Ok(Arc::clone(client) as Arc<dyn Backend>);
        }
        let client = Arc::new(RpcBackend::connect_data(id, address)?);
        data.insert(id, (address.to_string(), Arc::clone(&client)));
        Ok(client)
    }
}
