//! The HTTP APIs: the frontend's (port 8030) and the backend's (port 8040).
//!
//! Like the MySQL crate, this crate defines the handler traits it calls
//! ([`FrontendHttp`], [`BackendHttp`]) and knows nothing of the catalog or storage.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::info;

/// Cluster health as the frontend reports it.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// Backends known.
    pub total_backends: usize,
    /// Backends alive.
    pub online_backends: usize,
}

/// What the frontend HTTP API needs from the frontend.
#[async_trait]
pub trait FrontendHttp: Send + Sync + 'static {
    /// Backend counts for `/api/health`.
    async fn health(&self) -> Health;
}

/// What the backend HTTP API needs from the backend.
#[async_trait]
pub trait BackendHttp: Send + Sync + 'static {
    /// Whether the backend can serve.
    async fn healthy(&self) -> bool;
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let text = serde_json::to_string_pretty(&body).unwrap_or_else(|_| "{}".to_string());
    (status, [("content-type", "application/json")], text).into_response()
}

async fn fe_health<H: FrontendHttp>(State(h): State<Arc<H>>) -> Response {
    let health = h.health().await;
    json_response(
        StatusCode::OK,
        json!({
            "status": "OK",
            "total_backend_num": health.total_backends,
            "online_backend_num": health.online_backends,
        }),
    )
}

async fn be_health<H: BackendHttp>(State(h): State<Arc<H>>) -> Response {
    if h.healthy().await {
        json_response(
            StatusCode::OK,
            json!({"status": "OK", "msg": "To Be Added"}),
        )
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "FAILED", "msg": "backend is not ready"}),
        )
    }
}

/// The frontend's routes.
pub fn frontend_router<H: FrontendHttp>(handler: Arc<H>) -> Router {
    Router::new()
        .route("/api/health", get(fe_health::<H>))
        .with_state(handler)
}

/// The backend's routes.
pub fn backend_router<H: BackendHttp>(handler: Arc<H>) -> Router {
    Router::new()
        .route("/api/health", get(be_health::<H>))
        .with_state(handler)
}

/// Serves a router until `shutdown` resolves.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    info!(addr = ?listener.local_addr().ok(), "{name} HTTP server listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
