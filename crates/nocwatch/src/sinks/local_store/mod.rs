//! The local store sink (`type: local_store`): every event into an embedded SQLite file,
//! and the web page that shows it (served on its own address, see [`crate::admin::web`]).
//!
//! SQLite (through `rusqlite`, the library compiled in) because it is one file, needs no
//! server, has write-ahead logging (readers never block the writer) and FTS5 for log
//! search. The sink has the shape of every other: the shared delivery loop batches events,
//! the encoder hands a batch over as is, and the service writes it in one transaction on a
//! blocking thread ([`store`]). Rollups and retention run between batches ([`Store::maintain`]).
//!
//! A store that cannot be opened (damaged file, not a database) does not stop nocwatch: the
//! sink reports the error in `/status` and on the page, counts what it drops, and tries to
//! open the file again every minute (after it was moved aside, a new store starts).

pub mod query;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::SinkContext;
use super::util::request::{self, BatchConfig, Encoded, Encoder, Outcome, Request, Service};
use super::util::retry::RetryConfig;
use crate::component::Running;
use crate::config::{self, ByteSize, Secret};
use crate::event::Event;
use crate::telemetry::RateLimit;
pub use query::Reader;
pub use store::{Retention, Store, StoreError};

/// How often a store that could not be opened is tried again.
const REOPEN_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalStoreConfig {
    /// The SQLite file (default `<agent.data_dir>/store/<sink id>.sqlite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How long every metric point is kept as received.
    #[serde(default = "default_raw_retention")]
    pub raw_retention: config::Duration,
    /// How long 5-minute min/max/avg rollups are kept.
    #[serde(default = "default_rollup_5m_retention")]
    pub rollup_5m_retention: config::Duration,
    /// How long hourly rollups are kept.
    #[serde(default = "default_rollup_1h_retention")]
    pub rollup_1h_retention: config::Duration,
    /// How long log events (syslog, traps) are kept.
    #[serde(default = "default_log_retention")]
    pub log_retention: config::Duration,
    /// Above this much data the oldest goes first (raw hours, then logs, then rollups).
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
    /// How often rollups and retention run.
    #[serde(default = "default_maintenance_interval")]
    pub maintenance_interval: config::Duration,
    /// Events per transaction, and how long the first may wait for more.
    #[serde(default = "default_batch")]
    pub batch: BatchConfig,
    #[serde(default)]
    pub web: WebConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub enabled: bool,
    pub address: SocketAddr,
    /// HTTP basic authentication: required to serve on an address other than loopback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { enabled: true, address: SocketAddr::from(([127, 0, 0, 1], 8687)), username: None, password: None }
    }
}

fn default_raw_retention() -> config::Duration {
    config::Duration::from_secs(6 * 3600)
}

fn default_rollup_5m_retention() -> config::Duration {
    config::Duration::from_secs(8 * 86_400)
}

fn default_rollup_1h_retention() -> config::Duration {
    config::Duration::from_secs(90 * 86_400)
}

fn default_log_retention() -> config::Duration {
    config::Duration::from_secs(30 * 86_400)
}

fn default_max_size() -> ByteSize {
    ByteSize::mib(10 * 1024)
}

fn default_maintenance_interval() -> config::Duration {
    config::Duration::from_secs(60)
}

fn default_batch() -> BatchConfig {
    BatchConfig { max_events: 10_000, timeout: config::Duration::from_secs(1) }
}

impl LocalStoreConfig {
    pub fn validate(&self) -> Result<(), String> {
        let web = &self.web;
        if web.password.as_ref().is_some_and(|p| p.expose().trim().is_empty()) {
            return Err("web.password is empty: give one, or remove the key".into());
        }
        if web.password.is_some() != web.username.is_some() {
            return Err("web.username and web.password go together".into());
        }
        if web.enabled && !web.address.ip().is_loopback() && web.password.is_none() {
            return Err(format!(
                "web.address {} is not a loopback address: set web.username and web.password, or serve on \
                 127.0.0.1 behind a reverse proxy that authenticates (docs/config.md, local_store)",
                web.address
            ));
        }
        let raw = self.raw_retention.get();
        if raw < Duration::from_secs(3600) {
            return Err("raw_retention must be at least 1h (points are rolled up by the hour)".into());
        }
        if self.rollup_5m_retention.get() < raw || self.rollup_1h_retention.get() < self.rollup_5m_retention.get() {
            return Err("retentions must grow: raw_retention <= rollup_5m_retention <= rollup_1h_retention".into());
        }
        if self.maintenance_interval.get().is_zero() {
            return Err("maintenance_interval must be more than 0".into());
        }
        Ok(())
    }

    /// The web page's address, if it is served.
    pub fn web_address(&self) -> Option<SocketAddr> {
        self.web.enabled.then_some(self.web.address)
    }

    fn retention(&self) -> Retention {
        Retention {
            raw: self.raw_retention.get(),
            rollup_5m: self.rollup_5m_retention.get(),
            rollup_1h: self.rollup_1h_retention.get(),
            logs: self.log_retention.get(),
            max_size: self.max_size.get(),
        }
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        let path = self.path.clone().unwrap_or_else(|| ctx.data_dir.join("store").join(format!("{}.sqlite", ctx.id)));
        let listener = match self.web_address() {
            Some(address) => {
                Some(crate::net::bind_tcp(address).with_context(|| format!("cannot serve the web page on {address}"))?)
            }
            None => None,
        };
        let writer = Writer::open(path.clone(), self.retention(), &ctx);
        let open_error = writer.open_error.clone();
        let writer = Arc::new(Mutex::new(writer));
        let reader = Arc::new(Reader::new(&path));
        let batch = self.batch.clone();
        let interval = self.maintenance_interval.get();
        let web = self.web.clone();
        Ok(Box::pin(async move {
            let stop = CancellationToken::new();
            let web_task = listener.map(|listener| {
                if let Ok(address) = listener.local_addr() {
                    tracing::info!(sink = %ctx.id, %address, "web page listening");
                }
                let state = Arc::new(crate::admin::web::WebState {
                    reader: reader.clone(),
                    writer_error: {
                        // Its own small lock: the writer's is held for whole batches and
                        // rollup steps, which must never stall the page's async handlers.
                        let open_error = open_error.clone();
                        Box::new(move || open_error.lock().ok().and_then(|e| e.clone()))
                    },
                    telemetry: ctx.telemetry.clone(),
                    auth: web.username.clone().zip(web.password.clone()),
                });
                tokio::spawn(crate::admin::web::serve(listener, state, stop.clone()))
            });
            let maintenance = tokio::spawn(maintain_every(writer.clone(), interval, ctx.metrics.clone(), stop.clone()));
            let service = StoreService { writer, metrics: ctx.metrics.clone() };
            let result = request::run(ctx, PassThrough, service, batch, RetryConfig::default()).await;
            stop.cancel();
            let _ = maintenance.await;
            if let Some(task) = web_task {
                let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
            }
            result
        }))
    }
}

/// The store, or why it could not be opened.
struct Writer {
    path: PathBuf,
    retention: Retention,
    store: Option<Store>,
    /// Why the file could not be opened; shared with the web page under a lock of its own.
    open_error: Arc<Mutex<Option<String>>>,
    last_attempt: Instant,
}

impl Writer {
    fn open(path: PathBuf, retention: Retention, ctx: &SinkContext) -> Writer {
        let mut writer =
            Writer { path, retention, store: None, open_error: Arc::default(), last_attempt: Instant::now() };
        writer.try_open(&ctx.metrics);
        if let Some(store) = &writer.store {
            tracing::info!(sink = %ctx.id, path = %store.path().display(), "local store open");
        }
        writer
    }

    fn try_open(&mut self, metrics: &crate::telemetry::ComponentMetrics) {
        self.last_attempt = Instant::now();
        match Store::open(&self.path, self.retention.clone()) {
            Ok(store) => {
                self.store = Some(store);
                self.set_open_error(None);
            }
            Err(e) => {
                let message = e.to_string();
                metrics.error("open", &message);
                tracing::error!(sink = %metrics.id(), error = %message, "cannot open the local store; its events are dropped (other sinks are not affected)");
                self.set_open_error(Some(message));
            }
        }
    }

    fn set_open_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.open_error.lock() {
            *slot = error;
        }
    }

    fn store(&mut self, metrics: &crate::telemetry::ComponentMetrics) -> Result<&mut Store, StoreError> {
        if self.store.is_none() && self.last_attempt.elapsed() >= REOPEN_INTERVAL {
            self.try_open(metrics);
        }
        match &mut self.store {
            Some(store) => Ok(store),
            None => Err(StoreError::Corrupt(self.open_error.lock().ok().and_then(|e| e.clone()).unwrap_or_default())),
        }
    }
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The store's encoder hands the batch over as it is: the rows are built in the
/// transaction, on the blocking thread.
struct PassThrough;

impl Encoder<Arc<[Event]>> for PassThrough {
    fn encode(&mut self, events: &[Event]) -> Encoded<Arc<[Event]>> {
        Encoded {
            request: Some(Request { body: events.into(), events: events.len() }),
            consumed: events.len(),
            failed: 0,
        }
    }
}

struct StoreService {
    writer: Arc<Mutex<Writer>>,
    metrics: crate::telemetry::ComponentMetrics,
}

impl Service<Arc<[Event]>> for StoreService {
    async fn send(&mut self, request: &Request<Arc<[Event]>>) -> Outcome {
        static TOO_OLD: RateLimit = RateLimit::new(Duration::from_secs(60));
        let writer = self.writer.clone();
        let events = request.body.clone();
        let metrics = self.metrics.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut writer = writer.lock().map_err(|_| StoreError::Other("local store lock poisoned".into()))?;
            writer.store(&metrics)?.write(&events, now_secs())
        })
        .await;
        match written {
            Ok(Ok(written)) => {
                if written.not_finite > 0 {
                    // Dropped, so counted: a chart cannot draw them and SQLite stores NaN as NULL.
                    self.metrics.error_counter("not_finite").inc_by(written.not_finite as u64);
                }
                if written.too_old > 0 {
                    self.metrics.error_counter("too_old").inc_by(written.too_old as u64);
                    if let Some(suppressed) = TOO_OLD.allow() {
                        tracing::warn!(sink = %self.metrics.id(), points = written.too_old, suppressed, "metric points older than raw_retention arrived; not stored");
                    }
                }
                Outcome::Delivered
            }
            // Retrying cannot repair a file: dropped, counted, reported.
            Ok(Err(StoreError::Corrupt(reason))) => Outcome::Reject { reason },
            // A full disk or a busy file may recover; the buffer holds (and counts) meanwhile.
            Ok(Err(StoreError::Full(reason) | StoreError::Other(reason))) => Outcome::Retry { reason, after: None },
            Err(e) => Outcome::Retry { reason: format!("local store writer: {e}"), after: None },
        }
    }
}

async fn maintain_every(
    writer: Arc<Mutex<Writer>>,
    interval: Duration,
    metrics: crate::telemetry::ComponentMetrics,
    stop: CancellationToken,
) {
    static FAILED: RateLimit = RateLimit::new(Duration::from_secs(60));
    static OVER_SIZE: RateLimit = RateLimit::new(Duration::from_secs(600));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        // Step by step, releasing the lock in between so batches are written meanwhile.
        loop {
            let writer = writer.clone();
            let metrics_inner = metrics.clone();
            let done = tokio::task::spawn_blocking(move || {
                let mut writer = writer.lock().map_err(|_| StoreError::Other("local store lock poisoned".into()))?;
                writer.store(&metrics_inner)?.maintain(now_secs())
            })
            .await;
            match done {
                Ok(Ok(done)) => {
                    if done.over_size
                        && let Some(suppressed) = OVER_SIZE.allow()
                    {
                        tracing::warn!(sink = %metrics.id(), dropped = ?done.dropped_tables, suppressed, "local store over max_size: the oldest data was removed");
                    }
                    if !done.more || stop.is_cancelled() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Err(e)) => {
                    metrics.error("maintenance", &e.to_string());
                    if let Some(suppressed) = FAILED.allow() {
                        tracing::error!(sink = %metrics.id(), error = %e, suppressed, "local store maintenance failed");
                    }
                    break;
                }
                Err(e) => {
                    metrics.error("maintenance", &e.to_string());
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
