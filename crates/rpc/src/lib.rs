//! The network seam of Rigel: every use of tonic (gRPC) and Arrow Flight is in this crate.
//!
//! - [`RpcBackend`] is a [`Backend`](rigel_be_api::Backend) reached through its wire
//!   messages: over gRPC and Flight to another process, or through the in-process
//!   loopback, which encodes and decodes the same messages and hands record batches over
//!   in memory (`rigel server` uses it, so every test exercises the wire form).
//! - [`BackendHandler`] receives those messages and calls the backend that serves them;
//!   [`server`] mounts it as gRPC services.
//! - [`distributed`] runs queries in stages across the backends (datafusion-distributed):
//!   the frontend's planner and the backends' workers.
//! - Errors cross as typed [`WireError`](rigel_be_api::pb::WireError)s in the status
//!   details, and every request carries the protocol version ([`status`]).

mod client;
pub mod distributed;
mod flight;
pub mod frontend;
mod handler;
pub mod server;
pub mod status;

/// The generated gRPC services.
#[allow(missing_docs, clippy::all, unused_qualifications)]
pub mod services {
    include!(concat!(env!("OUT_DIR"), "/rigel.rpc.v1.rs"));
}

pub use client::{MAX_MESSAGE_BYTES, RpcBackend, channel, heartbeat};
pub use frontend::{LoopbackFrontend, Peers, RemoteFrontend, frontend_routes};
pub use handler::BackendHandler;
pub use server::HeartbeatHandler;
