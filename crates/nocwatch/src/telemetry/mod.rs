//! Self-observability: the self-metrics every component reports (Prometheus text at the
//! admin `/metrics`), each component's state for `/status`, and rate-limited logging for
//! errors caused by network input.
//!
//! Counters are created once per component at start-up and cloned into the hot path; an
//! increment is one relaxed atomic add.

pub mod logging;
mod ratelimit;

pub use ratelimit::RateLimit;

use std::sync::{Arc, Mutex};

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Source,
    Sink,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Sink => "sink",
        }
    }
}

// The same lower-case names in `/metrics` labels as in `/status` and event tags.
impl EncodeLabelValue for ComponentKind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ComponentLabels {
    component_kind: ComponentKind,
    component_id: String,
    component_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    component_kind: ComponentKind,
    component_id: String,
    component_type: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    component_kind: ComponentKind,
    component_id: String,
    component_type: String,
    request_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// Why an event was dropped or an error happened; one label value each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The sink's queue was full and its policy is `drop_newest`.
    QueueFull,
    /// The sink could not encode the event for its destination.
    EncodeError,
    /// The destination refused or failed, and retrying is over.
    WriteError,
    /// Still queued when the shutdown flush deadline passed.
    Shutdown,
    /// A disk buffer record failed its checksum.
    Corrupt,
    /// A point of a new series that a sink holding every series (`prometheus`) had no room
    /// for: it already held its `max_series`.
    SeriesLimit,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::QueueFull,
        DropReason::EncodeError,
        DropReason::WriteError,
        DropReason::Shutdown,
        DropReason::Corrupt,
        DropReason::SeriesLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::EncodeError => "encode_error",
            DropReason::WriteError => "write_error",
            DropReason::Shutdown => "shutdown",
            DropReason::Corrupt => "corrupt",
            DropReason::SeriesLimit => "series_limit",
        }
    }
}

/// Lifecycle of a component, shown in `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Starting,
    Running,
    Draining,
    Stopped,
    Failed,
}

/// The process-wide registry of self-metrics and component handles.
pub struct Telemetry {
    registry: Registry,
    received: Family<ComponentLabels, Counter>,
    sent: Family<ComponentLabels, Counter>,
    dropped: Family<ReasonLabels, Counter>,
    errors: Family<ReasonLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    queue_events: Family<ComponentLabels, Gauge>,
    queue_capacity: Family<ComponentLabels, Gauge>,
    last_event: Family<ComponentLabels, Gauge>,
    buffer_bytes: Family<ComponentLabels, Gauge>,
    replayed: Family<ComponentLabels, Counter>,
    retried: Family<ComponentLabels, Counter>,
    last_success: Family<ComponentLabels, Gauge>,
    oldest_buffered: Family<ComponentLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    draining: Gauge,
    components: Mutex<Vec<ComponentMetrics>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nocwatch");
        let received = Family::default();
        let sent = Family::default();
        let dropped = Family::default();
        let errors = Family::default();
        let requests = Family::default();
        let queue_events = Family::default();
        let queue_capacity = Family::default();
        let last_event = Family::default();
        let buffer_bytes = Family::default();
        let replayed = Family::default();
        let retried = Family::default();
        let last_success = Family::default();
        let oldest_buffered = Family::default();
        let draining = Gauge::default();
        registry.register(
            "component_received_events",
            "Events a source produced, or a sink accepted into its queue",
            received.clone(),
        );
        registry.register("component_sent_events", "Events a sink delivered to its destination", sent.clone());
        registry.register(
            "component_dropped_events",
            "Events lost, by reason; a source counts each of its events a sink dropped",
            dropped.clone(),
        );
        registry.register("component_errors", "Errors by kind (bad input, I/O, destination)", errors.clone());
        registry.register(
            "component_requests",
            "Requests a source sent to devices, by type (SNMP get, getbulk, getnext)",
            requests.clone(),
        );
        registry.register("queue_events", "Events waiting in a sink's queue", queue_events.clone());
        registry.register("queue_capacity_events", "Capacity of a sink's queue", queue_capacity.clone());
        registry.register(
            "component_last_event_timestamp_seconds",
            "Unix time of the last event a component handled",
            last_event.clone(),
        );
        registry.register(
            "buffer_bytes",
            "Bytes in a sink's disk buffer not yet delivered, or in a UDP syslog source's receive queue not yet parsed",
            buffer_bytes.clone(),
        );
        registry.register(
            "component_replayed_events",
            "Events a disk buffer held at start-up from an earlier run (delivered again: at least once)",
            replayed.clone(),
        );
        registry.register("component_retried_requests", "Requests a sink sent again after a failure", retried.clone());
        registry.register(
            "component_last_success_timestamp_seconds",
            "Unix time of a sink's last successful delivery",
            last_success.clone(),
        );
        registry.register(
            "buffer_oldest_event_timestamp_seconds",
            "When the oldest event not yet delivered entered a sink's buffer (0 when none waits)",
            oldest_buffered.clone(),
        );
        registry.register("draining", "1 while shutting down (readiness is 503)", draining.clone());
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").to_owned() }).set(1);
        registry.register("build_info", "Version of this nocwatch binary", build);
        Telemetry {
            registry,
            received,
            sent,
            dropped,
            errors,
            requests,
            queue_events,
            queue_capacity,
            last_event,
            buffer_bytes,
            replayed,
            retried,
            last_success,
            oldest_buffered,
            draining,
            components: Mutex::new(Vec::new()),
        }
    }

    /// Creates the counters of one component. Call once per component at start-up.
    pub fn component(&self, kind: ComponentKind, id: &str, component_type: &str) -> ComponentMetrics {
        let labels = ComponentLabels {
            component_kind: kind,
            component_id: id.to_owned(),
            component_type: component_type.to_owned(),
        };
        let metrics = ComponentMetrics {
            inner: Arc::new(ComponentInner {
                received: self.received.get_or_create(&labels).clone(),
                sent: self.sent.get_or_create(&labels).clone(),
                queue_events: self.queue_events.get_or_create(&labels).clone(),
                queue_capacity: self.queue_capacity.get_or_create(&labels).clone(),
                last_event: self.last_event.get_or_create(&labels).clone(),
                buffer_bytes: self.buffer_bytes.get_or_create(&labels).clone(),
                replayed: self.replayed.get_or_create(&labels).clone(),
                retried: self.retried.get_or_create(&labels).clone(),
                last_success: self.last_success.get_or_create(&labels).clone(),
                oldest_buffered: self.oldest_buffered.get_or_create(&labels).clone(),
                in_flight: std::sync::atomic::AtomicU64::new(0),
                dropped: self.dropped.clone(),
                errors: self.errors.clone(),
                requests: self.requests.clone(),
                labels,
                state: Mutex::new((ComponentState::Starting, None)),
            }),
        };
        if let Ok(mut components) = self.components.lock() {
            components.push(metrics.clone());
        }
        metrics
    }

    pub fn set_draining(&self) {
        self.draining.set(1);
    }

    /// Prometheus text exposition of every self-metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn components(&self) -> Vec<ComponentMetrics> {
        self.components.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

struct ComponentInner {
    labels: ComponentLabels,
    received: Counter,
    sent: Counter,
    queue_events: Gauge,
    queue_capacity: Gauge,
    last_event: Gauge,
    buffer_bytes: Gauge,
    replayed: Counter,
    retried: Counter,
    last_success: Gauge,
    oldest_buffered: Gauge<f64, std::sync::atomic::AtomicU64>,
    in_flight: std::sync::atomic::AtomicU64,
    dropped: Family<ReasonLabels, Counter>,
    errors: Family<ReasonLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    state: Mutex<(ComponentState, Option<String>)>,
}

/// One component's counters and state; cheap to clone.
#[derive(Clone)]
pub struct ComponentMetrics {
    inner: Arc<ComponentInner>,
}

impl ComponentMetrics {
    pub fn id(&self) -> &str {
        &self.inner.labels.component_id
    }

    pub fn received(&self, n: u64) {
        self.inner.received.inc_by(n);
        self.inner.last_event.set(jiff::Timestamp::now().as_second());
    }

    pub fn sent(&self, n: u64) {
        self.inner.sent.inc_by(n);
        self.inner.last_success.set(jiff::Timestamp::now().as_second());
    }

    pub fn retried(&self) {
        self.inner.retried.inc();
    }

    pub fn replayed(&self, n: u64) {
        self.inner.replayed.inc_by(n);
    }

    /// Events taken from the buffer and not yet delivered (counted as lost if the sink is
    /// stopped at the flush deadline with a memory buffer).
    pub fn set_in_flight(&self, events: usize) {
        self.inner.in_flight.store(events as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the oldest undelivered event was buffered, in ms since the epoch (`None`: none).
    pub fn set_oldest_buffered(&self, at_ms: Option<u64>) {
        self.inner.oldest_buffered.set(at_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
    }

    pub fn set_buffer_bytes(&self, bytes: u64) {
        self.inner.buffer_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// A counter for one drop reason, to keep in the hot path.
    pub fn drop_counter(&self, reason: DropReason) -> Counter {
        self.inner.dropped.get_or_create(&self.reason_labels(reason.as_str())).clone()
    }

    pub fn dropped(&self, reason: DropReason, n: u64) {
        self.drop_counter(reason).inc_by(n);
    }

    /// A counter of errors of `kind`, to keep in the hot path (no `/status` message).
    pub fn error_counter(&self, kind: &str) -> Counter {
        self.inner.errors.get_or_create(&self.reason_labels(kind)).clone()
    }

    /// A counter of requests of `request_type` a source sends (SNMP `get`, `getbulk`...).
    pub fn request_counter(&self, request_type: &str) -> Counter {
        let labels = &self.inner.labels;
        let labels = RequestLabels {
            component_kind: labels.component_kind,
            component_id: labels.component_id.clone(),
            component_type: labels.component_type.clone(),
            request_type: request_type.to_owned(),
        };
        self.inner.requests.get_or_create(&labels).clone()
    }

    /// Counts an error of `kind` (a short snake_case label) and remembers it for `/status`.
    pub fn error(&self, kind: &str, message: &str) {
        self.inner.errors.get_or_create(&self.reason_labels(kind)).inc();
        if let Ok(mut state) = self.inner.state.lock() {
            state.1 = Some(message.to_owned());
        }
    }

    pub fn set_queue(&self, depth: usize, capacity: usize) {
        self.inner.queue_events.set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.inner.queue_capacity.set(i64::try_from(capacity).unwrap_or(i64::MAX));
    }

    pub fn set_state(&self, new_state: ComponentState) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.0 = new_state;
        }
    }

    pub fn status(&self) -> ComponentStatus {
        let (state, last_error) = self.inner.state.lock().map(|s| s.clone()).unwrap_or((ComponentState::Failed, None));
        let dropped = DropReason::ALL.iter().map(|reason| self.drop_counter(*reason).get()).sum();
        ComponentStatus {
            kind: self.inner.labels.component_kind,
            id: self.inner.labels.component_id.clone(),
            component_type: self.inner.labels.component_type.clone(),
            state,
            received_events: self.inner.received.get(),
            sent_events: self.inner.sent.get(),
            dropped_events: dropped,
            queue_events: self.inner.queue_events.get(),
            oldest_buffered_timestamp: self.inner.oldest_buffered.get(),
            last_error,
        }
    }

    fn reason_labels(&self, reason: &str) -> ReasonLabels {
        let labels = &self.inner.labels;
        ReasonLabels {
            component_kind: labels.component_kind,
            component_id: labels.component_id.clone(),
            component_type: labels.component_type.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// One component in `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub kind: ComponentKind,
    pub id: String,
    #[serde(rename = "type")]
    pub component_type: String,
    pub state: ComponentState,
    pub received_events: u64,
    pub sent_events: u64,
    pub dropped_events: u64,
    pub queue_events: i64,
    /// Unix time (s) the oldest undelivered event was buffered; 0 when none waits.
    pub oldest_buffered_timestamp: f64,
    pub last_error: Option<String>,
}
