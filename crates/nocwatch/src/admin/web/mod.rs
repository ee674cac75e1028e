//! The web page of the local store and the JSON API under it (`docs/api.md`): devices,
//! one device with its interfaces and charts, logs (search and live tail), and nocwatch's
//! own components. Served by the `local_store` sink on its own address; the page is plain
//! HTML/CSS/JS built into the binary (no CDN, works offline).
//!
//! Authentication: HTTP basic when `web.username`/`web.password` are set (required on a
//! non-loopback address); otherwise the page is only reachable from this machine or
//! through a reverse proxy that authenticates.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::sinks::local_store::query::{self, LogQuery, SeriesQuery};
use crate::sinks::local_store::{Reader, StoreError};
use crate::telemetry::{ComponentStatus, Telemetry};

/// The latest time the API accepts (9999-12-31, in seconds).
const MAX_TIME: i64 = 253_402_300_799;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

pub struct WebState {
    pub reader: Arc<Reader>,
    /// Why the store's writer could not open the file, if it could not.
    pub writer_error: Box<dyn Fn() -> Option<String> + Send + Sync>,
    pub telemetry: Arc<Telemetry>,
    pub auth: Option<(String, Secret)>,
}

pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/api/devices", get(devices))
        .route("/api/device", get(device))
        .route("/api/series", get(series))
        .route("/api/logs", get(logs))
        .route("/api/status", get(status))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Serves the page until `stop` is cancelled.
pub async fn serve(listener: TcpListener, state: Arc<WebState>, stop: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(stop.cancelled_owned()).await
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Everything the page loads is its own: no inline script, no other origin.
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn authenticate(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    let Some((username, password)) = &state.auth else {
        // Without credentials the page is for this machine only. A browser's same-origin
        // rule does not protect it: a hostile page can rebind its own name to 127.0.0.1
        // and read the API. Its requests then carry that name as Host, so only loopback
        // names are served (a reverse proxy's default upstream Host is one).
        let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
        if !host.is_some_and(is_loopback_host) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                "this page answers only to localhost, 127.0.0.1 or [::1] unless web.username/password are set\n",
            )
                .into_response();
        }
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok());
    let expected = format!("{username}:{}", password.expose());
    if given.is_some_and(|given| crate::admin::constant_time_eq(&given, expected.as_bytes())) {
        next.run(request).await
    } else {
        let mut response = (StatusCode::UNAUTHORIZED, "unauthorized\n").into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"nocwatch\""));
        response
    }
}

/// Whether a Host header names this machine's loopback (`localhost`, `127.0.0.0/8`,
/// `[::1]`), with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(inside, _)| inside),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An API error as JSON: `{"error": "..."}`.
fn error(code: StatusCode, message: String) -> Response {
    (code, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Runs a query on a blocking thread with a pooled read connection.
async fn read<T: Serialize + Send + 'static>(
    state: &Arc<WebState>,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Response {
    if let Some(message) = (state.writer_error)() {
        return error(StatusCode::SERVICE_UNAVAILABLE, message);
    }
    let reader = state.reader.clone();
    match tokio::task::spawn_blocking(move || reader.with(f)).await {
        Ok(Ok(value)) => axum::Json(value).into_response(),
        Ok(Err(StoreError::Corrupt(m) | StoreError::Full(m) | StoreError::Other(m))) => {
            error(StatusCode::SERVICE_UNAVAILABLE, m)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Serialize)]
struct DevicesBody {
    devices: Vec<query::DeviceRow>,
}

async fn devices(State(state): State<Arc<WebState>>) -> Response {
    read(&state, |conn| Ok(DevicesBody { devices: query::devices(conn)? })).await
}

#[derive(Deserialize)]
struct DeviceParams {
    id: String,
}

#[derive(Serialize)]
struct DeviceBody {
    device: query::DeviceRow,
    interfaces: Vec<query::InterfaceRow>,
}

async fn device(State(state): State<Arc<WebState>>, Query(params): Query<DeviceParams>) -> Response {
    let id = params.id;
    let reader = state.reader.clone();
    let found = tokio::task::spawn_blocking(move || reader.with(|conn| query::device(conn, &id))).await;
    match found {
        Ok(Ok(Some((device, interfaces)))) => axum::Json(DeviceBody { device, interfaces }).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "no such device".into()),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct SeriesParams {
    device: Option<String>,
    /// Comma-separated metric names.
    metric: Option<String>,
    interface_index: Option<i64>,
    /// Unix seconds; default: the last hour.
    from: Option<i64>,
    to: Option<i64>,
}

async fn series(State(state): State<Arc<WebState>>, Query(params): Query<SeriesParams>) -> Response {
    let now = jiff::Timestamp::now().as_second();
    // Clamped so that no arithmetic on user-given times can overflow downstream.
    let to = params.to.unwrap_or(now).clamp(0, MAX_TIME);
    let query = SeriesQuery {
        device: params.device,
        names: params
            .metric
            .iter()
            .flat_map(|m| m.split(','))
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect(),
        interface_index: params.interface_index,
        from: params.from.unwrap_or(to - 3600).clamp(0, to),
        to,
    };
    if query.device.is_none() && query.names.is_empty() {
        return error(StatusCode::BAD_REQUEST, "give `device` or `metric` (or both)".into());
    }
    read(&state, move |conn| query::series(conn, &query)).await
}

#[derive(Deserialize)]
struct LogParams {
    device: Option<String>,
    host: Option<String>,
    source: Option<String>,
    /// A status name (`error`, `warn`, ...): that one and worse.
    status: Option<String>,
    q: Option<String>,
    /// RFC 3339 or Unix milliseconds.
    from: Option<String>,
    to: Option<String>,
    before_id: Option<i64>,
    after_id: Option<i64>,
    limit: Option<usize>,
}

fn millis(text: Option<&str>) -> Result<Option<i64>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .map_err(|e| format!("`{text}` is neither Unix milliseconds nor an RFC 3339 time: {e}"))
}

#[derive(Serialize)]
struct LogsBody {
    logs: Vec<query::LogRow>,
}

async fn logs(State(state): State<Arc<WebState>>, Query(params): Query<LogParams>) -> Response {
    let (from_ms, to_ms) = match (millis(params.from.as_deref()), millis(params.to.as_deref())) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let max_severity = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => match (0..8u8).find(|s| crate::event::Status::from_syslog_severity(*s).as_str() == name) {
            Some(severity) => Some(severity),
            None => return error(StatusCode::BAD_REQUEST, format!("unknown status `{name}`")),
        },
    };
    let empty_none = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let query = LogQuery {
        device: empty_none(params.device),
        host: empty_none(params.host),
        source: empty_none(params.source),
        max_severity,
        text: empty_none(params.q),
        from_ms,
        to_ms,
        before_id: params.before_id,
        after_id: params.after_id,
        limit: params.limit.unwrap_or(200),
    };
    read(&state, move |conn| Ok(LogsBody { logs: query::logs(conn, &query)? })).await
}

#[derive(Serialize)]
struct StatusBody {
    version: &'static str,
    components: Vec<ComponentStatus>,
    store: Option<query::StoreStats>,
    store_error: Option<String>,
}

async fn status(State(state): State<Arc<WebState>>) -> Response {
    let components = state.telemetry.components().iter().map(|c| c.status()).collect();
    let writer_error = (state.writer_error)();
    let reader = state.reader.clone();
    let stats = match writer_error {
        Some(_) => Ok(Ok(None)),
        None => {
            tokio::task::spawn_blocking(move || reader.with(|conn| query::stats(conn, reader.path()).map(Some))).await
        }
    };
    let (store, store_error) = match stats {
        Ok(Ok(stats)) => (stats, writer_error),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(e) => (None, Some(e.to_string())),
    };
    axum::Json(StatusBody { version: env!("CARGO_PKG_VERSION"), components, store, store_error }).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_hosts_are_served_without_credentials() {
        for host in
            ["localhost", "localhost:8687", "127.0.0.1", "127.0.0.1:8687", "127.1.2.3:80", "[::1]", "[::1]:8687"]
        {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in
            ["evil.example", "evil.example:8687", "10.0.0.1:8687", "[2001:db8::1]:8687", "localhost.evil.example", ""]
        {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
