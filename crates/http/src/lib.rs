//! The HTTP APIs: the frontend's (port 8030) and the backend's (port 8040).
//!
//! Like the MySQL crate, this crate defines the handler traits it calls
//! ([`FrontendHttp`], [`BackendHttp`]) and knows nothing of the catalog or storage.
//!
//! Stream Load follows StarRocks: `PUT /api/{db}/{table}/_stream_load` on the frontend
//! answers `307 Temporary Redirect` to the same path on a backend (`curl --location-trusted`
//! follows it and re-sends the credentials and the body); the backend runs the load. The
//! frontend never reads the body, so a client sending `Expect: 100-continue` gets the
//! redirect before it uploads anything.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use axum::{Extension, Router};
use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use rigel_common::tls::TlsSource;
use serde_json::{Value, json};
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

/// An HTTP reply: status and a JSON body (keys keep their insertion order).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Body.
    pub body: Value,
}

impl Reply {
    /// 200 with a body.
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }
}

/// The body of a request, as a stream of chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A Stream Load request as the backend receives it.
pub struct StreamLoadRequest {
    /// Database.
    pub db: String,
    /// Table.
    pub table: String,
    /// HTTP Basic credentials.
    pub credentials: Option<(String, String)>,
    /// Request headers, with lower-cased names.
    pub headers: BTreeMap<String, String>,
    /// The client.
    pub client: SocketAddr,
    /// The address the client used to reach this server (`Host`), for URLs in replies.
    pub host: String,
    /// `http` or `https`, for URLs in replies.
    pub scheme: &'static str,
    /// The data.
    pub body: BodyStream,
}

/// What the frontend HTTP API needs from the frontend.
#[async_trait]
pub trait FrontendHttp: Send + Sync + 'static {
    /// Backend counts for `/api/health`.
    async fn health(&self) -> Health;

    /// Checks HTTP Basic credentials; `Err` holds the reason to report.
    async fn authenticate(
        &self,
        user: &str,
        password: &str,
        client: SocketAddr,
    ) -> Result<(), String>;

    /// The `host:port` of the backend HTTP server a Stream Load is sent to, given the host the
    /// client used to reach the frontend; `Err` says why there is none.
    fn backend_http_address(&self, request_host: &str) -> Result<String, String>;

    /// The frontend's metrics in Prometheus' text format.
    async fn metrics(&self) -> String;
}

/// What the backend HTTP API needs from the backend.
#[async_trait]
pub trait BackendHttp: Send + Sync + 'static {
    /// Whether the backend can serve.
    async fn healthy(&self) -> bool;

    /// Runs a Stream Load.
    async fn stream_load(&self, request: StreamLoadRequest) -> Reply;

    /// The backend's metrics in Prometheus' text format.
    async fn metrics(&self) -> Result<String, Reply>;

    /// The content of a load error log, or None when it does not exist (or expired).
    async fn load_error_log(&self, file: &str) -> Option<String>;

    /// `POST /api/compact?tablet_id=…&compaction_type=base|cumulative`: compacts a tablet.
    async fn compact(
        &self,
        credentials: Option<(String, String)>,
        client: SocketAddr,
        tablet_id: u64,
        kind: &str,
    ) -> Reply;

    /// `GET /api/compaction/show?tablet_id=…`: a tablet's rowsets.
    async fn compaction_show(
        &self,
        credentials: Option<(String, String)>,
        client: SocketAddr,
        tablet_id: u64,
    ) -> Reply;
}

fn json_response(status: u16, body: &Value) -> Response {
    let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".to_string());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Parses `Authorization: Basic …`.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    Some((user.to_string(), password.to_string()))
}

fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string()
}

fn auth_failure(msg: &str) -> Response {
    let mut r = json_response(401, &json!({"status": "FAILED", "msg": msg}));
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"rigel\""),
    );
    r
}

async fn fe_health<H: FrontendHttp>(State(h): State<Arc<H>>) -> Response {
    let health = h.health().await;
    json_response(
        200,
        &json!({
            "status": "OK",
            "total_backend_num": health.total_backends,
            "online_backend_num": health.online_backends,
        }),
    )
}

async fn fe_stream_load<H: FrontendHttp>(
    State(h): State<Arc<H>>,
    Extension(Scheme(scheme)): Extension<Scheme>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((db, table)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some((user, password)) = basic_credentials(&headers) else {
        return auth_failure(
            "Access denied: no HTTP Basic credentials (use curl -u user:password)",
        );
    };
    if let Err(reason) = h.authenticate(&user, &password, client).await {
        return auth_failure(&reason);
    }
    let host = host_of(&headers);
    let target = match h.backend_http_address(&host) {
        Ok(t) => t,
        Err(msg) => {
            return json_response(503, &json!({"status": "FAILED", "msg": msg}));
        }
    };
    let mut location = format!("{scheme}://{target}/api/{db}/{table}/_stream_load");
    if !query.is_empty() {
        let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        location.push('?');
        location.push_str(&qs.join("&"));
    }
    Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header(header::LOCATION, location)
        .header(header::CONNECTION, "close")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn be_health<H: BackendHttp>(State(h): State<Arc<H>>) -> Response {
    if h.healthy().await {
        json_response(200, &json!({"status": "OK", "msg": "To Be Added"}))
    } else {
        json_response(
            503,
            &json!({"status": "FAILED", "msg": "backend is not ready"}),
        )
    }
}

async fn be_stream_load<H: BackendHttp>(
    State(h): State<Arc<H>>,
    Extension(Scheme(scheme)): Extension<Scheme>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((db, table)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut map = BTreeMap::new();
    for (k, v) in headers.iter() {
        if let Ok(v) = v.to_str() {
            map.insert(k.as_str().to_ascii_lowercase(), v.to_string());
        }
    }
    let expects_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let shared = SharedBody::new(body);
    let request = StreamLoadRequest {
        db,
        table,
        credentials: basic_credentials(&headers),
        headers: map,
        client,
        host: host_of(&headers),
        scheme,
        body: Box::pin(
            shared
                .clone()
                .map(|r| r.map_err(|e| std::io::Error::other(e.to_string()))),
        ),
    };
    let reply = h.stream_load(request).await;
    // A load refused before its body was read (a used label, a bad header): a client that
    // did not ask for `100-continue` is still sending it, and closing the connection under
    // it fails its upload (EPIPE) instead of showing the reply. Read the rest first, up to
    // a limit; past it the connection closes.
    if !expects_continue {
        shared.drain(MAX_DRAIN_BYTES).await;
    }
    json_response(reply.status, &reply.body)
}

/// The most of a refused load's body read (and discarded) before replying.
const MAX_DRAIN_BYTES: usize = 64 << 20;

/// A request body the handler reads and the route can finish reading after it.
#[derive(Clone)]
struct SharedBody {
    inner: Arc<std::sync::Mutex<Option<axum::body::BodyDataStream>>>,
}

impl SharedBody {
    fn new(body: Body) -> Self {
        Self {
            inner: Arc::new(std::sync::Mutex::new(Some(body.into_data_stream()))),
        }
    }

    /// Reads what is left of the body, up to `limit` bytes or 30 seconds.
    async fn drain(&self, limit: usize) {
        let rest = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut rest) = rest else { return };
        let read = async {
            let mut n = 0;
            while let Some(Ok(chunk)) = rest.next().await {
                n += chunk.len();
                if n > limit {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), read).await;
    }
}

impl Stream for SharedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_mut() {
            Some(stream) => stream.poll_next_unpin(cx),
            None => std::task::Poll::Ready(None),
        }
    }
}

async fn be_error_log<H: BackendHttp>(
    State(h): State<Arc<H>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(file) = query.get("file") else {
        return json_response(
            400,
            &json!({"status": "FAILED", "msg": "missing parameter 'file'"}),
        );
    };
    match h.load_error_log(file).await {
        Some(text) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
        }
        None => json_response(
            404,
            &json!({"status": "FAILED", "msg": format!("error log '{file}' does not exist")}),
        ),
    }
}

/// The `tablet_id` parameter, or the reply refusing the request.
fn tablet_param(query: &BTreeMap<String, String>) -> Result<u64, Reply> {
    let bad = |msg: String| Reply {
        status: 400,
        body: json!({"status": "Fail", "msg": msg}),
    };
    let text = query
        .get("tablet_id")
        .ok_or_else(|| bad("missing parameter 'tablet_id'".to_string()))?;
    text.parse()
        .map_err(|_| bad(format!("invalid tablet_id '{text}'")))
}

async fn be_compact<H: BackendHttp>(
    State(h): State<Arc<H>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let kind = query
        .get("compaction_type")
        .map(String::as_str)
        .unwrap_or("");
    let reply = match tablet_param(&query) {
        Ok(t) => {
            h.compact(basic_credentials(&headers), client, t, kind)
                .await
        }
        Err(r) => r,
    };
    json_response(reply.status, &reply.body)
}

async fn be_compaction_show<H: BackendHttp>(
    State(h): State<Arc<H>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let reply = match tablet_param(&query) {
        Ok(t) => {
            h.compaction_show(basic_credentials(&headers), client, t)
                .await
        }
        Err(r) => r,
    };
    json_response(reply.status, &reply.body)
}

async fn not_found() -> Response {
    json_response(404, &json!({"status": "FAILED", "msg": "no such API"}))
}

/// Checks `/metrics` query parameters: StarRocks' `type=core` and `with_table_metrics`
/// are accepted (Rigel has no per-table metrics); anything else is refused.
fn metrics_params(query: &BTreeMap<String, String>) -> Result<(), Reply> {
    for (key, value) in query {
        let ok = match key.as_str() {
            "type" => value.eq_ignore_ascii_case("core") || value.is_empty(),
            "with_table_metrics" => matches!(value.as_str(), "all" | "minified" | ""),
            _ => false,
        };
        if !ok {
            let msg = if key == "type" {
                format!(
                    "metrics type '{value}' is not supported: only the Prometheus text format (type=core or no type) is served"
                )
            } else {
                format!("unknown metrics parameter '{key}'")
            };
            return Err(Reply {
                status: 400,
                body: json!({"status": "FAILED", "msg": msg}),
            });
        }
    }
    Ok(())
}

fn prometheus_text(text: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn fe_metrics<H: FrontendHttp>(
    State(h): State<Arc<H>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(reply) = metrics_params(&query) {
        return json_response(reply.status, &reply.body);
    }
    prometheus_text(h.metrics().await)
}

async fn be_metrics<H: BackendHttp>(
    State(h): State<Arc<H>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(reply) = metrics_params(&query) {
        return json_response(reply.status, &reply.body);
    }
    match h.metrics().await {
        Ok(text) => prometheus_text(text),
        Err(reply) => json_response(reply.status, &reply.body),
    }
}

/// The frontend's routes.
pub fn frontend_router<H: FrontendHttp>(handler: Arc<H>) -> Router {
    Router::new()
        .route("/api/health", get(fe_health::<H>))
        .route("/metrics", get(fe_metrics::<H>))
        .route("/api/{db}/{table}/_stream_load", put(fe_stream_load::<H>))
        .fallback(not_found)
        .with_state(handler)
}

/// The backend's routes.
pub fn backend_router<H: BackendHttp>(handler: Arc<H>) -> Router {
    Router::new()
        .route("/api/health", get(be_health::<H>))
        .route("/metrics", get(be_metrics::<H>))
        .route("/api/{db}/{table}/_stream_load", put(be_stream_load::<H>))
        .route("/api/_load_error_log", get(be_error_log::<H>))
        .route("/api/compact", post(be_compact::<H>))
        .route("/api/compaction/show", get(be_compaction_show::<H>))
        .fallback(not_found)
        .with_state(handler)
}

/// Serves a router until `shutdown` resolves.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<TlsSource>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            info!(addr = ?listener.local_addr().ok(), "{name} HTTP server listening");
            let router = router.layer(Extension(Scheme("http")));
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
        Some(tls) => {
            info!(addr = ?listener.local_addr().ok(), "{name} HTTPS server listening");
            let router = router.layer(Extension(Scheme("https")));
            // `tap_io` makes the client address available as ConnectInfo<SocketAddr>.
            let listener = TlsListener { tcp: listener, tls }.tap_io(|_| {});
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
    }
}

/// The scheme the server is reached by (`http` or `https`), for URLs in replies.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// Accepts TCP connections and completes their TLS handshake (bounded by a timeout, so a
/// client that stalls cannot hold up the others for long).
struct TlsListener {
    tcp: TcpListener,
    tls: Arc<TlsSource>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handshake = self.tls.acceptor().accept(stream);
            match tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => tracing::debug!(%addr, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
