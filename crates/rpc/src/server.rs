//! The gRPC servers of a backend: control RPCs on `be_port`, Arrow Flight data (and any
//! other data service, such as distributed query workers) on `brpc_port`, heartbeats on
//! `heartbeat_service_port`. Every service refuses requests of another protocol version.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty as FlightEmpty, FlightData, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use rigel_be_api::wire::bad_message;
use rigel_be_api::{Result, pb};
use tokio::net::TcpListener;
use tonic::codegen::InterceptedService;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

use crate::client::MAX_MESSAGE_BYTES;
use crate::flight::{encode_scan, receive_write};
use crate::handler::BackendHandler;
use crate::services::backend_service_server::{BackendService, BackendServiceServer};
use crate::services::heartbeat_service_server::{HeartbeatService, HeartbeatServiceServer};
use crate::status::{CheckVersion, to_status};

/// Answers the frontend's heartbeats.
#[async_trait]
pub trait HeartbeatHandler: Send + Sync + 'static {
    /// One heartbeat.
    async fn heartbeat(&self, request: pb::HeartbeatRequest) -> Result<pb::HeartbeatResponse>;
}

fn reply<T>(r: Result<T>) -> std::result::Result<Response<T>, Status> {
    r.map(Response::new).map_err(|e| to_status(&e))
}

struct Control(Arc<BackendHandler>);

#[async_trait]
impl BackendService for Control {
    async fn create_tablets(
        &self,
        request: Request<pb::CreateTabletsRequest>,
    ) -> std::result::Result<Response<pb::Empty>, Status> {
        reply(self.0.create_tablets(request.into_inner()).await)
    }

    async fn drop_tablets(
        &self,
        request: Request<pb::DropTabletsRequest>,
    ) -> std::result::Result<Response<pb::Empty>, Status> {
        reply(self.0.drop_tablets(request.into_inner()).await)
    }

    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> std::result::Result<Response<pb::Empty>, Status> {
        reply(self.0.publish(request.into_inner()).await)
    }

    async fn abort(
        &self,
        request: Request<pb::AbortRequest>,
    ) -> std::result::Result<Response<pb::Empty>, Status> {
        reply(self.0.abort(request.into_inner()).await)
    }

    async fn pending_txns(
        &self,
        request: Request<pb::Empty>,
    ) -> std::result::Result<Response<pb::PendingTxnsResponse>, Status> {
        reply(self.0.pending_txns(request.into_inner()).await)
    }

    async fn delete_rows(
        &self,
        request: Request<pb::DeleteRowsRequest>,
    ) -> std::result::Result<Response<pb::DeleteRowsResponse>, Status> {
        reply(self.0.delete_rows(request.into_inner()).await)
    }

    async fn compact(
        &self,
        request: Request<pb::CompactRequest>,
    ) -> std::result::Result<Response<pb::CompactResponse>, Status> {
        reply(self.0.compact(request.into_inner()).await)
    }

    async fn sweep_stale(
        &self,
        request: Request<pb::SweepRequest>,
    ) -> std::result::Result<Response<pb::SweepResponse>, Status> {
        reply(self.0.sweep_stale(request.into_inner()).await)
    }

    async fn sweep_trash(
        &self,
        request: Request<pb::SweepRequest>,
    ) -> std::result::Result<Response<pb::SweepResponse>, Status> {
        reply(self.0.sweep_trash(request.into_inner()).await)
    }

    async fn lookup_rows(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> std::result::Result<Response<pb::LookupResponse>, Status> {
        reply(self.0.lookup_rows(request.into_inner()).await)
    }

    async fn describe_scan(
        &self,
        request: Request<pb::DescribeScanRequest>,
    ) -> std::result::Result<Response<pb::DescribeScanResponse>, Status> {
        reply(self.0.describe_scan(request.into_inner()).await)
    }

    async fn tablet_infos(
        &self,
        request: Request<pb::Empty>,
    ) -> std::result::Result<Response<pb::TabletInfosResponse>, Status> {
        reply(self.0.tablet_infos(request.into_inner()).await)
    }

    async fn prepare_shutdown(
        &self,
        request: Request<pb::Empty>,
    ) -> std::result::Result<Response<pb::Empty>, Status> {
        reply(self.0.prepare_shutdown(request.into_inner()).await)
    }

    type BackupTabletsStream = BoxStream<'static, std::result::Result<pb::BackupEvent, Status>>;

    async fn backup_tablets(
        &self,
        request: Request<pb::BackupRequest>,
    ) -> std::result::Result<Response<Self::BackupTabletsStream>, Status> {
        reply(
            self.0
                .backup_tablets(request.into_inner())
                .map(|s| s.map_err(|e| to_status(&e)).boxed()),
        )
    }

    type RestoreTabletsStream = BoxStream<'static, std::result::Result<pb::RestoreEvent, Status>>;

    async fn restore_tablets(
        &self,
        request: Request<pb::RestoreRequest>,
    ) -> std::result::Result<Response<Self::RestoreTabletsStream>, Status> {
        reply(
            self.0
                .restore_tablets(request.into_inner())
                .map(|s| s.map_err(|e| to_status(&e)).boxed()),
        )
    }
}

struct Data(Arc<BackendHandler>);

fn unsupported<T>(what: &str) -> std::result::Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not served here: Rigel backends serve DoGet (scans) and DoPut (writes)"
    )))
}

#[async_trait]
impl FlightService for Data {
    type HandshakeStream = BoxStream<'static, std::result::Result<HandshakeResponse, Status>>;
    type ListFlightsStream = BoxStream<'static, std::result::Result<FlightInfo, Status>>;
    type DoGetStream = BoxStream<'static, std::result::Result<FlightData, Status>>;
    type DoPutStream = BoxStream<'static, std::result::Result<PutResult, Status>>;
    type DoActionStream = BoxStream<'static, std::result::Result<arrow_flight::Result, Status>>;
    type ListActionsStream = BoxStream<'static, std::result::Result<ActionType, Status>>;
    type DoExchangeStream = BoxStream<'static, std::result::Result<FlightData, Status>>;

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<Self::HandshakeStream>, Status> {
        unsupported("Handshake")
    }

    async fn list_flights(
        &self,
        _: Request<Criteria>,
    ) -> std::result::Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("ListFlights")
    }

    async fn get_flight_info(
        &self,
        _: Request<arrow_flight::FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        unsupported("GetFlightInfo")
    }

    async fn poll_flight_info(
        &self,
        _: Request<arrow_flight::FlightDescriptor>,
    ) -> std::result::Result<Response<PollInfo>, Status> {
        unsupported("PollFlightInfo")
    }

    async fn get_schema(
        &self,
        _: Request<arrow_flight::FlightDescriptor>,
    ) -> std::result::Result<Response<SchemaResult>, Status> {
        unsupported("GetSchema")
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<Self::DoGetStream>, Status> {
        let ticket = pb::ScanTicket::decode(request.into_inner().ticket.as_ref())
            .map_err(|e| to_status(&bad_message(format!("scan ticket: {e}"))))?;
        let scan = self.0.scan(ticket).await.map_err(|e| to_status(&e))?;
        Ok(Response::new(encode_scan(scan)))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoPutStream>, Status> {
        let handler = Arc::clone(&self.0);
        let result = receive_write(request.into_inner(), |r| async move {
            handler.open_writer(r).await
        })
        .await
        .map_err(|e| to_status(&e))?;
        Ok(Response::new(
            futures::stream::once(async move { Ok(result) }).boxed(),
        ))
    }

    async fn do_action(
        &self,
        _: Request<Action>,
    ) -> std::result::Result<Response<Self::DoActionStream>, Status> {
        unsupported("DoAction")
    }

    async fn list_actions(
        &self,
        _: Request<FlightEmpty>,
    ) -> std::result::Result<Response<Self::ListActionsStream>, Status> {
        unsupported("ListActions")
    }

    async fn do_exchange(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("DoExchange")
    }
}

struct Heartbeats(Arc<dyn HeartbeatHandler>);

#[async_trait]
impl HeartbeatService for Heartbeats {
    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> std::result::Result<Response<pb::HeartbeatResponse>, Status> {
        reply(self.0.heartbeat(request.into_inner()).await)
    }
}

/// A future that resolves when the servers should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The control service, as routes (checks protocol versions).
pub fn control_routes(handler: Arc<BackendHandler>) -> Routes {
    let svc = BackendServiceServer::new(Control(handler))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Routes::new(InterceptedService::new(svc, CheckVersion))
}

/// The Flight data service, as routes (checks protocol versions). More services (such as
/// distributed query workers) can be added to the same port with [`Routes::add_service`].
pub fn data_routes(handler: Arc<BackendHandler>) -> Routes {
    let svc = FlightServiceServer::new(Data(handler))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Routes::new(InterceptedService::new(svc, CheckVersion))
}

/// The heartbeat service, as routes (checks protocol versions).
pub fn heartbeat_routes(handler: Arc<dyn HeartbeatHandler>) -> Routes {
    Routes::new(HeartbeatServiceServer::with_interceptor(
        Heartbeats(handler),
        CheckVersion,
    ))
}

/// Serves `routes` on `listener` until `shutdown` resolves.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    routes: Routes,
    shutdown: Shutdown,
) -> std::result::Result<(), String> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("the {name} server failed: {e}"))
}
