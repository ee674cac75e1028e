//! The operations surface: the admin HTTP server (`/health/live`, `/health/ready`,
//! `/metrics`, `/status`), the TCP health-check ports of UDP services, systemd's
//! readiness notification, and the web page of the local store ([`web`], served by that
//! sink on its own address).

pub mod health_port;
pub mod systemd;
pub mod web;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::telemetry::{ComponentStatus, Telemetry};

/// What readiness depends on: start-up done, not draining, every source able to receive.
pub struct Lifecycle {
    started: watch::Sender<bool>,
    draining: watch::Sender<bool>,
    sources: std::sync::Mutex<Vec<(String, watch::Receiver<bool>)>>,
    since: Instant,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    pub fn new() -> Self {
        Lifecycle {
            started: watch::Sender::new(false),
            draining: watch::Sender::new(false),
            sources: std::sync::Mutex::new(Vec::new()),
            since: Instant::now(),
        }
    }

    pub fn watch_source(&self, id: &str, healthy: watch::Receiver<bool>) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.push((id.to_owned(), healthy));
        }
    }

    pub fn set_started(&self) {
        self.started.send_replace(true);
    }

    pub fn set_draining(&self) {
        self.draining.send_replace(true);
    }

    pub fn draining(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    fn unhealthy_sources(&self) -> Vec<String> {
        let Ok(sources) = self.sources.lock() else {
            return vec!["<lock poisoned>".to_owned()];
        };
        // A source whose task ended (or panicked) dropped its sender: unhealthy for good.
        sources
            .iter()
            .filter(|(_, healthy)| healthy.has_changed().is_err() || !*healthy.borrow())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn readiness(&self) -> Readiness {
        if self.is_draining() {
            Readiness::Draining
        } else if !*self.started.borrow() {
            Readiness::Starting
        } else {
            let unhealthy = self.unhealthy_sources();
            if unhealthy.is_empty() { Readiness::Ready } else { Readiness::Unhealthy { sources: unhealthy } }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Readiness {
    Ready,
    Starting,
    Draining,
    Unhealthy { sources: Vec<String> },
}

pub struct AdminState {
    pub telemetry: Arc<Telemetry>,
    pub lifecycle: Arc<Lifecycle>,
    pub auth_token: Option<Secret>,
}

pub fn router(state: Arc<AdminState>) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new().route("/health/live", get(live)).route("/health/ready", get(ready)).merge(protected).with_state(state)
}

async fn require_token(State(state): State<Arc<AdminState>>, request: Request, next: Next) -> Response {
    let Some(token) = &state.auth_token else { return next.run(request).await };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), token.expose().as_bytes())) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "unauthorized\n").into_response()
    }
}

/// Compares without an early exit, so response time does not reveal the token.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the admin API until `stop` is cancelled.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, stop: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(stop.cancelled_owned()).await
}

async fn live() -> &'static str {
    "ok\n"
}

async fn ready(State(state): State<Arc<AdminState>>) -> Response {
    let readiness = state.lifecycle.readiness();
    let code = if readiness == Readiness::Ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(readiness)).into_response()
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], state.telemetry.encode()).into_response()
}

#[derive(Serialize)]
struct StatusBody {
    version: &'static str,
    uptime_seconds: u64,
    readiness: Readiness,
    components: Vec<ComponentStatus>,
}

async fn status(State(state): State<Arc<AdminState>>) -> axum::Json<StatusBody> {
    axum::Json(StatusBody {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.lifecycle.since.elapsed().as_secs(),
        readiness: state.lifecycle.readiness(),
        components: state.telemetry.components().iter().map(|c| c.status()).collect(),
    })
}
