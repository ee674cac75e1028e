//! The OpenTelemetry sink: metrics and log events to any OTLP receiver (the OpenTelemetry
//! Collector, Grafana, Honeycomb, Datadog's OTLP intake, ...) over OTLP/HTTP with binary
//! protobuf: `POST {endpoint}/v1/metrics` and `POST {endpoint}/v1/logs`,
//! `Content-Type: application/x-protobuf`, gzip unless `compression: none`. OTLP/gRPC is not
//! offered: every receiver that speaks gRPC also speaks HTTP on 4318, and HTTP reuses the
//! client, TLS set-up and proxy support the other HTTP sinks have.
//!
//! Mapping (the OTel data model; every choice is also in `docs/config.md`):
//!
//! - Events are grouped by host: one `ResourceMetrics` / `ResourceLogs` per device, with
//!   `host.name` = the event's host plus the configured `resource_attributes`; one scope,
//!   `nocwatch` with its version.
//! - Metrics: tags become data point attributes; points of the same name and type become one
//!   `Metric`. `gauge` → Gauge; `count` → Sum, DELTA temporality, monotonic, with
//!   `start_time = time - interval_secs`; `rate` → Gauge with a per-second unit (see
//!   [`rate_unit`] for why it is not a Sum).
//! - Logs: `message` → body (string); `status` → severity number and text (the spec's syslog
//!   mapping, [`severity_number`]); `service` → `service.name`, `source` → `nocwatch.source`;
//!   attributes (nested JSON) → attributes whose objects are kvlists and arrays are arrays;
//!   tags → string attributes.
//!
//! Delivery follows the OTLP/HTTP spec: 429, 502, 503, 504 and network errors are retried
//! (honouring `Retry-After`); 413 splits the batch; every other status is final (the spec
//! forbids retrying them), and the events are dropped and counted. A 200 with a
//! `partial_success` is final too: its rejected points or records are counted as dropped.
//!
//! A request carries events of one kind. Which path it goes to travels as the first byte of
//! [`Request::body`] (the shared [`Request`] has no room for it), stripped before sending.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric as OtlpMetric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::component::Running;
use crate::config::inline::inline_keys;
use crate::config::{Invalid, Secret};
use crate::event::{AttributeValue, Event, LogEvent, Metric, MetricType, Node, Status};
use crate::sinks::SinkContext;
use crate::sinks::util::http::{self, Answer, Destination, HttpSinkConfig};
use crate::sinks::util::request::{Encoded, Encoder, Outcome, Request};
use crate::telemetry::RateLimit;

/// Stop adding events to a request once its protobuf reaches this size. The spec asks
/// clients to stay under 20 MiB before compression (receivers' default limit); staying well
/// below keeps a refused or retried request small.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
const PROTOBUF: &str = "application/x-protobuf";

/// First byte of a [`Request::body`]: which OTLP path it goes to.
const METRICS: u8 = b'm';
const LOGS: u8 = b'l';

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct OtlpSinkConfig {
    /// Base URL of the receiver (`http://collector:4318`); `/v1/metrics` and `/v1/logs` are
    /// appended.
    pub endpoint: String,
    /// Extra request headers (`authorization`, `x-api-key`, ...). Values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Written inline: `compression`, `request_timeout`, `batch`, `request`, `retry`, `tls`.
    #[serde(flatten, skip_deserializing)]
    pub http: OtlpHttpConfig,
    /// Added to every resource (`deployment.environment.name: prd`); `host.name` comes from
    /// each event.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
}

/// The HTTP keys of the OTLP sink: a request may take 10 s, the OTel SDKs' default export
/// timeout.
pub type OtlpHttpConfig = HttpSinkConfig<10>;

inline_keys!(OtlpSinkConfig, http: OtlpHttpConfig);

impl OtlpSinkConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        self.base_url()?;
        self.header_map()?;
        if self.resource_attributes.keys().any(|k| k.is_empty()) {
            return Err(Invalid::at("resource_attributes", "a key is empty"));
        }
        Ok(self.http.validate()?)
    }

    fn base_url(&self) -> Result<String, Invalid> {
        http::base_url(&self.endpoint, "http://collector:4318", "`headers` (`authorization`)")
    }

    /// `headers` as sent; an error points at the header, never shows its value.
    fn header_map(&self) -> Result<HeaderMap, Invalid> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let at = format!("headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Invalid::at(&at, format!("`{name}` is not a valid HTTP header name")))?;
            if header == CONTENT_TYPE || header == CONTENT_ENCODING || header == reqwest::header::CONTENT_LENGTH {
                return Err(Invalid::at(at, format!("`{name}` is set by nocwatch")));
            }
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| Invalid::at(&at, "the value is not a valid HTTP header value"))?;
            value.set_sensitive(true);
            map.insert(header, value);
        }
        Ok(map)
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        let base = self.base_url().map_err(anyhow::Error::msg)?;
        let receiver = OtlpReceiver {
            metrics_url: format!("{base}/v1/metrics"),
            logs_url: format!("{base}/v1/logs"),
            headers: self.header_map().map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        self.http.deliver(ctx, OtlpEncoder::new(&self.resource_attributes, self.http.gzip()), receiver)
    }
}

/// Cuts events into OTLP export requests: a prefix of one kind, up to [`MAX_REQUEST_BYTES`].
pub struct OtlpEncoder {
    resource_attributes: Vec<KeyValue>,
    scope: InstrumentationScope,
    gzip: bool,
}

impl OtlpEncoder {
    pub fn new(resource_attributes: &BTreeMap<String, String>, gzip: bool) -> Self {
        OtlpEncoder {
            resource_attributes: resource_attributes.iter().map(|(k, v)| string_kv(k, v)).collect(),
            scope: InstrumentationScope {
                name: "nocwatch".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..Default::default()
            },
            gzip,
        }
    }

    /// The resource of `host`: `host.name` first, then the static attributes (a static
    /// `host.name` applies only to events without a host).
    fn resource(&self, host: Option<&str>) -> Resource {
        let mut attributes = Vec::with_capacity(self.resource_attributes.len() + 1);
        if let Some(host) = host {
            attributes.push(string_kv("host.name", host));
        }
        for kv in &self.resource_attributes {
            if host.is_none() || kv.key != "host.name" {
                attributes.push(kv.clone());
            }
        }
        Resource { attributes, ..Default::default() }
    }

    fn encode_metrics(&self, events: &[Event]) -> Encoded {
        let mut resources: Vec<ResourceMetrics> = Vec::new();
        let mut by_host: HashMap<Option<&str>, usize> = HashMap::new();
        // Per resource: (name, type, monotonic) → index in its metrics.
        let mut by_series: Vec<HashMap<(&str, u8, bool), usize>> = Vec::new();
        let (mut consumed, mut size) = (0, 0);
        for event in events {
            let Event::Metric(m) = event else { break };
            if size >= MAX_REQUEST_BYTES {
                break;
            }
            consumed += 1;
            let r = *by_host.entry(m.host.as_deref()).or_insert_with(|| {
                resources.push(ResourceMetrics {
                    resource: Some(self.resource(m.host.as_deref())),
                    scope_metrics: vec![ScopeMetrics { scope: Some(self.scope.clone()), ..Default::default() }],
                    ..Default::default()
                });
                by_series.push(HashMap::new());
                size += 64 + m.host.as_ref().map_or(0, String::len);
                resources.len() - 1
            });
            let point = data_point(m);
            // The point's bytes plus its tag and length; a new Metric adds its name and about
            // as much framing.
            size += point.encoded_len() + 3;
            let monotonic = m.metric_type != MetricType::Count || m.value >= 0.0 || m.value.is_nan();
            let metrics = &mut resources[r].scope_metrics[0].metrics;
            let i = *by_series[r].entry((m.name.as_str(), m.metric_type as u8, monotonic)).or_insert_with(|| {
                size += m.name.len() + 8;
                metrics.push(new_metric(m, monotonic));
                metrics.len() - 1
            });
            match &mut metrics[i].data {
                Some(metric::Data::Gauge(gauge)) => gauge.data_points.push(point),
                Some(metric::Data::Sum(sum)) => sum.data_points.push(point),
                _ => {}
            }
        }
        let request = ExportMetricsServiceRequest { resource_metrics: resources };
        self.finish(METRICS, &request, consumed)
    }

    fn encode_logs(&self, events: &[Event]) -> Encoded {
        // When nocwatch handed the records to OTel: once per request is precise enough.
        let observed = nanos(Timestamp::now());
        let mut resources: Vec<ResourceLogs> = Vec::new();
        let mut by_host: HashMap<Option<&str>, usize> = HashMap::new();
        let (mut consumed, mut size) = (0, 0);
        for event in events {
            let Event::Log(log) = event else { break };
            if size >= MAX_REQUEST_BYTES {
                break;
            }
            consumed += 1;
            let r = *by_host.entry(log.host.as_deref()).or_insert_with(|| {
                resources.push(ResourceLogs {
                    resource: Some(self.resource(log.host.as_deref())),
                    scope_logs: vec![ScopeLogs { scope: Some(self.scope.clone()), ..Default::default() }],
                    ..Default::default()
                });
                size += 64 + log.host.as_ref().map_or(0, String::len);
                resources.len() - 1
            });
            let record = log_record(log, observed);
            size += record.encoded_len() + 3;
            resources[r].scope_logs[0].log_records.push(record);
        }
        let request = ExportLogsServiceRequest { resource_logs: resources };
        self.finish(LOGS, &request, consumed)
    }

    /// The body: the signal byte, then the protobuf, gzipped unless `compression: none`.
    fn finish(&self, signal: u8, message: &impl prost::Message, consumed: usize) -> Encoded {
        if consumed == 0 {
            return Encoded { request: None, consumed, failed: 0 };
        }
        let mut proto = Vec::with_capacity(message.encoded_len() + 1);
        // Encoding into a Vec cannot run out of room.
        let body = if self.gzip {
            let _ = message.encode(&mut proto);
            let compressed = http::gzip(&proto);
            let mut body = Vec::with_capacity(compressed.len() + 1);
            body.push(signal);
            body.extend_from_slice(&compressed);
            body
        } else {
            proto.push(signal);
            let _ = message.encode(&mut proto);
            proto
        };
        if body.len() <= 1 {
            return Encoded { request: None, consumed, failed: consumed };
        }
        Encoded { request: Some(Request { body, events: consumed }), consumed, failed: 0 }
    }
}

impl Encoder for OtlpEncoder {
    fn encode(&mut self, events: &[Event]) -> Encoded {
        match events.first() {
            Some(Event::Metric(_)) => self.encode_metrics(events),
            Some(Event::Log(_)) => self.encode_logs(events),
            // Not routed here (the sink does not accept metadata): skipped, not a failure.
            Some(Event::Metadata(_)) => Encoded { request: None, consumed: 1, failed: 0 },
            None => Encoded { request: None, consumed: 0, failed: 0 },
        }
    }
}

fn nanos(ts: Timestamp) -> u64 {
    u64::try_from(ts.as_nanosecond()).unwrap_or(0)
}

fn string_value(value: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(string_value(value)), ..Default::default() }
}

/// A tag key as an attribute (keys are unique in OTLP): its value as a string, or its
/// several values (Datadog keeps a user's `site:paris` beside a profile's `site:dc1`) as
/// an array of strings, in order.
fn tag_kv(key: &str, group: &[(String, String)]) -> KeyValue {
    let value = match group {
        [(_, value)] => string_value(value),
        several => AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: several.iter().map(|(_, value)| string_value(value)).collect(),
            })),
        },
    };
    KeyValue { key: key.to_owned(), value: Some(value), ..Default::default() }
}

fn data_point(m: &Metric) -> NumberDataPoint {
    let time = nanos(m.timestamp);
    // A delta covers (start, time]: the poll interval. Gauges have no start.
    let start_time_unix_nano = match (m.metric_type, m.interval_secs) {
        (MetricType::Count, Some(secs)) => time.saturating_sub(u64::from(secs) * 1_000_000_000),
        _ => 0,
    };
    NumberDataPoint {
        attributes: m.tags.groups().map(|(key, group)| tag_kv(key, group)).collect(),
        start_time_unix_nano,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(m.value)),
        ..Default::default()
    }
}

/// An empty `Metric` of `m`'s name and kind.
fn new_metric(m: &Metric, monotonic: bool) -> OtlpMetric {
    let (unit, data) = match m.metric_type {
        MetricType::Gauge => (String::new(), metric::Data::Gauge(Gauge::default())),
        MetricType::Count => (
            String::new(),
            metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: AggregationTemporality::Delta as i32,
                // A count is how many happened in the interval: never negative for the
                // counters nocwatch reads. A negative one (a source's bug or a gauge sent as
                // a count) goes in a non-monotonic Sum of its own rather than a wrong claim.
                is_monotonic: monotonic,
            }),
        ),
        MetricType::Rate => (rate_unit(&m.name).to_owned(), metric::Data::Gauge(Gauge::default())),
    };
    OtlpMetric { name: m.name.clone(), unit, data: Some(data), ..Default::default() }
}

/// The unit of a `rate` metric, which is sent as a Gauge of its per-second value.
///
/// Why a Gauge and not a Sum: an OTel Sum's points are *additive over time* (a delta is
/// what happened between start and time, and two deltas add up). A rate is already divided
/// by time: two consecutive rates do not add up to anything, so the data model's type for
/// it is a Gauge. Turning it back into a delta (value × interval) would be a Sum, but the
/// number users see would no longer be the per-second value that Datadog dashboards show
/// for the same metric (`snmp.ifHCInOctets` in bytes/s). The unit (UCUM, as OTel asks)
/// says it is per second: from the name when the name tells what is counted (octets are
/// bytes, `*Usage.rate` is the Datadog SNMP bandwidth percentage), `1/s` otherwise.
pub fn rate_unit(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.contains("octets") || lower.contains("bytes") {
        "By/s"
    } else if lower.contains("bits") {
        "bit/s"
    } else if lower.contains("pkts") || lower.contains("packets") {
        "{packet}/s"
    } else if lower.ends_with("usage.rate") || lower.contains("percent") {
        "%"
    } else {
        "1/s"
    }
}

/// Syslog severity → OTel severity number, per the logs data model's mapping table
/// (Appendix B): Debug 5, Informational 9, Notice INFO2 10, Warning 13, Error 17,
/// Critical ERROR2 18, Alert ERROR3 19, Emergency FATAL 21.
pub fn severity_number(status: Status) -> SeverityNumber {
    match status {
        Status::Emergency => SeverityNumber::Fatal,
        Status::Alert => SeverityNumber::Error3,
        Status::Critical => SeverityNumber::Error2,
        Status::Error => SeverityNumber::Error,
        Status::Warn => SeverityNumber::Warn,
        Status::Notice => SeverityNumber::Info2,
        Status::Info => SeverityNumber::Info,
        Status::Debug => SeverityNumber::Debug,
    }
}

fn log_record(log: &LogEvent, observed: u64) -> LogRecord {
    let mut attributes = Vec::with_capacity(log.tags.len() + 16);
    if let Some(service) = &log.service {
        attributes.push(string_kv("service.name", service));
    }
    attributes.push(string_kv("nocwatch.source", &log.source));
    // Keys must be unique: the fields above win over an attribute or a tag of that name,
    // and an attribute over a tag.
    for (key, node) in log.attributes.members() {
        if !attributes.iter().any(|kv| kv.key == key) {
            attributes.push(KeyValue { key: key.to_owned(), value: Some(node_value(node)), ..Default::default() });
        }
    }
    for (key, group) in log.tags.groups() {
        if !attributes.iter().any(|kv| kv.key == key) {
            attributes.push(tag_kv(key, group));
        }
    }
    LogRecord {
        time_unix_nano: nanos(log.timestamp),
        observed_time_unix_nano: observed,
        severity_number: severity_number(log.status) as i32,
        severity_text: log.status.as_str().to_owned(),
        body: Some(string_value(&log.message)),
        attributes,
        ..Default::default()
    }
}

/// An attribute → AnyValue: objects become kvlists, other values as [`json_value`].
fn node_value(node: Node<'_>) -> AnyValue {
    use any_value::Value as V;
    let value = match node {
        Node::Value(AttributeValue::Str(s)) => V::StringValue(s.to_owned()),
        Node::Value(AttributeValue::Bool(b)) => V::BoolValue(b),
        Node::Value(AttributeValue::Json(json)) => return json_value(json),
        Node::Object(members) => V::KvlistValue(KeyValueList {
            values: members
                .map(|(k, v)| KeyValue { key: k.to_owned(), value: Some(node_value(v)), ..Default::default() })
                .collect(),
        }),
    };
    AnyValue { value: Some(value) }
}

/// JSON → AnyValue: objects become kvlists, arrays arrays; integers that fit i64 are ints,
/// larger ones strings (exact, where a double would round), others doubles; null is empty.
fn json_value(value: &serde_json::Value) -> AnyValue {
    use any_value::Value as V;
    let value = match value {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some(V::BoolValue(*b)),
        serde_json::Value::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => V::IntValue(i),
            (None, Some(_)) => V::StringValue(n.to_string()),
            (None, None) => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        serde_json::Value::String(s) => Some(V::StringValue(s.clone())),
        serde_json::Value::Array(items) => {
            Some(V::ArrayValue(ArrayValue { values: items.iter().map(json_value).collect() }))
        }
        serde_json::Value::Object(map) => Some(V::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(k, v)| KeyValue { key: k.clone(), value: Some(json_value(v)), ..Default::default() })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// `google.rpc.Status`, the body of OTLP/HTTP error answers (only what we log).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Metrics,
    Logs,
}

/// Where requests go: the receiver's path of each signal, with the configured headers.
#[derive(Clone)]
struct OtlpReceiver {
    metrics_url: String,
    logs_url: String,
    /// Marked sensitive: never printed.
    headers: HeaderMap,
}

impl Destination for OtlpReceiver {
    type Sent = Signal;

    fn post(&self, client: &reqwest::Client, request: &Request) -> Result<(reqwest::RequestBuilder, Signal), Outcome> {
        let (signal, url, body) = match request.body.split_first() {
            Some((&METRICS, body)) => (Signal::Metrics, &self.metrics_url, body),
            Some((&LOGS, body)) => (Signal::Logs, &self.logs_url, body),
            _ => return Err(Outcome::Reject { reason: "internal: request without an OTLP signal".to_owned() }),
        };
        let post = client.post(url).headers(self.headers.clone()).header(CONTENT_TYPE, PROTOBUF).body(body.to_vec());
        Ok((post, signal))
    }

    fn outcome(&self, signal: Signal, answer: &Answer) -> Outcome {
        let protobuf =
            answer.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with(PROTOBUF));
        classify(signal, answer.status, protobuf, answer.retry_after, &answer.body)
    }
}

/// What an answer means, per the OTLP/HTTP spec.
fn classify(signal: Signal, status: StatusCode, protobuf: bool, after: Option<Duration>, body: &[u8]) -> Outcome {
    static WARNED: RateLimit = RateLimit::new(Duration::from_secs(60));
    if status.is_success() {
        let Some((rejected, message)) = partial_success(signal, protobuf, body) else { return Outcome::Delivered };
        if rejected > 0 {
            let reason = format!("partial success: {rejected} rejected: {}", http::clip(&message));
            return Outcome::Partial { rejected: usize::try_from(rejected).unwrap_or(usize::MAX), reason };
        }
        // Rejected 0 with a message: a warning from the receiver, everything was taken.
        if !message.is_empty()
            && let Some(suppressed) = WARNED.allow()
        {
            tracing::warn!(message = %http::clip(&message), suppressed, "OTLP receiver accepted the request with a warning");
        }
        return Outcome::Delivered;
    }
    let detail = if protobuf {
        RpcStatus::decode(body).map(|s| s.message).unwrap_or_default()
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    let reason = format!("HTTP {status}: {}", http::clip(&detail));
    match status.as_u16() {
        413 => Outcome::TooLarge,
        429 | 502 | 503 | 504 => Outcome::Retry { reason, after },
        // "All other 4xx or 5xx response status codes MUST NOT be retried."
        _ => Outcome::Reject { reason },
    }
}

/// The `partial_success` of a 2xx answer: rejected count and message, if set.
fn partial_success(signal: Signal, protobuf: bool, body: &[u8]) -> Option<(i64, String)> {
    if !protobuf || body.is_empty() {
        return None;
    }
    match signal {
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Tags;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn metric(name: &str, metric_type: MetricType, value: f64, host: Option<&str>) -> Event {
        Event::Metric(Metric {
            name: name.to_owned(),
            metric_type,
            value,
            timestamp: ts("2026-11-25T08:00:00Z"),
            interval_secs: Some(60),
            host: host.map(str::to_owned),
            tags: [("interface".to_owned(), "Gi1/0/1".to_owned())].into(),
        })
    }

    fn decode_metrics(body: &[u8]) -> ExportMetricsServiceRequest {
        assert_eq!(body[0], METRICS);
        let mut proto = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[1..]), &mut proto).unwrap();
        ExportMetricsServiceRequest::decode(&proto[..]).unwrap()
    }

    #[test]
    fn metrics_group_by_host_and_series() {
        let events = vec![
            metric("snmp.ifHCInOctets", MetricType::Rate, 1250.5, Some("sw1")),
            metric("snmp.ifInErrors", MetricType::Count, 3.0, Some("sw1")),
            metric("snmp.ifHCInOctets", MetricType::Rate, 10.0, Some("sw2")),
            metric("snmp.ifHCInOctets", MetricType::Rate, 99.0, Some("sw1")),
            metric("snmp.cpu", MetricType::Gauge, 7.0, None),
        ];
        let attrs = [("deployment.environment.name".to_owned(), "prd".to_owned())].into();
        let mut encoder = OtlpEncoder::new(&attrs, true);
        let encoded = encoder.encode(&events);
        assert_eq!((encoded.consumed, encoded.failed), (5, 0));
        let request = encoded.request.unwrap();
        assert_eq!(request.events, 5);
        let decoded = decode_metrics(&request.body);
        assert_eq!(decoded.resource_metrics.len(), 3, "sw1, sw2, no host");
        let sw1 = &decoded.resource_metrics[0];
        let resource = sw1.resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0], string_kv("host.name", "sw1"));
        assert_eq!(resource.attributes[1], string_kv("deployment.environment.name", "prd"));
        let scope = &sw1.scope_metrics[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "nocwatch");
        assert_eq!(scope.metrics.len(), 2, "two points of one rate share a Metric");
        let rate = &scope.metrics[0];
        assert_eq!((rate.name.as_str(), rate.unit.as_str()), ("snmp.ifHCInOctets", "By/s"));
        let Some(metric::Data::Gauge(gauge)) = &rate.data else { panic!("rate is a gauge: {rate:?}") };
        let values: Vec<_> = gauge.data_points.iter().map(|p| p.value).collect();
        assert_eq!(
            values,
            [Some(number_data_point::Value::AsDouble(1250.5)), Some(number_data_point::Value::AsDouble(99.0))]
        );
        assert_eq!(gauge.data_points[0].attributes, vec![string_kv("interface", "Gi1/0/1")]);
        assert_eq!(gauge.data_points[0].start_time_unix_nano, 0);
        let count = &scope.metrics[1];
        let Some(metric::Data::Sum(sum)) = &count.data else { panic!("count is a sum: {count:?}") };
        assert_eq!(sum.aggregation_temporality, AggregationTemporality::Delta as i32);
        assert!(sum.is_monotonic);
        let point = &sum.data_points[0];
        assert_eq!(point.time_unix_nano - point.start_time_unix_nano, 60_000_000_000);
        assert_eq!(point.time_unix_nano, 1_795_593_600_000_000_000);
        let no_host = decoded.resource_metrics[2].resource.as_ref().unwrap();
        assert_eq!(no_host.attributes, vec![string_kv("deployment.environment.name", "prd")]);
    }

    #[test]
    fn a_request_holds_one_kind_and_a_negative_count_is_not_monotonic() {
        let log = Event::Log(LogEvent {
            timestamp: ts("2026-11-25T08:00:00Z"),
            host: None,
            source: "syslog".into(),
            service: None,
            status: Status::Info,
            message: "m".into(),
            tags: Tags::new(),
            attributes: Default::default(),
        });
        let events = vec![
            metric("c", MetricType::Count, 1.0, None),
            metric("c", MetricType::Count, -1.0, None),
            log.clone(),
            metric("g", MetricType::Gauge, 1.0, None),
        ];
        let mut encoder = OtlpEncoder::new(&BTreeMap::new(), false);
        let encoded = encoder.encode(&events);
        assert_eq!(encoded.consumed, 2, "stops at the log");
        let body = encoded.request.unwrap().body;
        let decoded = ExportMetricsServiceRequest::decode(&body[1..]).unwrap();
        let metrics = &decoded.resource_metrics[0].scope_metrics[0].metrics;
        let monotonic: Vec<bool> = metrics
            .iter()
            .map(|m| match &m.data {
                Some(metric::Data::Sum(s)) => s.is_monotonic,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(monotonic, [true, false]);
        let encoded = encoder.encode(&events[2..]);
        assert_eq!(encoded.consumed, 1);
        assert_eq!(encoded.request.unwrap().body[0], LOGS);
    }

    #[test]
    fn requests_stop_at_the_size_cap() {
        let events: Vec<Event> = (0..60_000)
            .map(|i| metric(&format!("snmp.metric.with.a.longish.name.{i}"), MetricType::Gauge, 1.0, Some("sw1")))
            .collect();
        let mut encoder = OtlpEncoder::new(&BTreeMap::new(), false);
        let encoded = encoder.encode(&events);
        assert!(encoded.consumed < events.len(), "cut before {}", events.len());
        let body = encoded.request.unwrap().body;
        assert!(body.len() <= MAX_REQUEST_BYTES + 1024, "{} bytes", body.len());
        assert!(
            body.len() >= MAX_REQUEST_BYTES / 10 * 9,
            "the estimate does not stop far too early: {} bytes",
            body.len()
        );
    }

    #[test]
    fn log_records_carry_severity_body_and_nested_attributes() {
        let attributes = serde_json::json!({
            "cisco": {"mnemonic": "CONFIG_I", "seq": 29, "flags": [true, null], "big": 18446744073709551615u64, "ratio": 0.5},
            "service.name": "ignored: the event's service wins",
        });
        let log = LogEvent {
            timestamp: ts("2026-11-25T08:00:00.123Z"),
            host: Some("core-sw1".into()),
            source: "syslog".into(),
            service: Some("RT_FLOW".into()),
            status: Status::Critical,
            message: "link down".into(),
            tags: [("env".to_owned(), "prd".to_owned()), ("cisco".to_owned(), "tag loses".to_owned())].into(),
            attributes: attributes.as_object().unwrap().clone().into(),
        };
        let record = log_record(&log, 7);
        assert_eq!(record.severity_number, 18);
        assert_eq!(record.severity_text, "critical");
        assert_eq!(record.body, Some(string_value("link down")));
        assert_eq!(record.time_unix_nano, 1_795_593_600_123_000_000);
        assert_eq!(record.observed_time_unix_nano, 7);
        let keys: Vec<&str> = record.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["service.name", "nocwatch.source", "cisco", "env"]);
        assert_eq!(record.attributes[0], string_kv("service.name", "RT_FLOW"));
        let Some(any_value::Value::KvlistValue(cisco)) = &record.attributes[2].value.as_ref().unwrap().value else {
            panic!("{:?}", record.attributes[2])
        };
        let get = |k: &str| cisco.values.iter().find(|kv| kv.key == k).unwrap().value.clone().unwrap().value;
        assert_eq!(get("mnemonic"), Some(any_value::Value::StringValue("CONFIG_I".into())));
        assert_eq!(get("seq"), Some(any_value::Value::IntValue(29)));
        assert_eq!(get("big"), Some(any_value::Value::StringValue("18446744073709551615".into())));
        assert_eq!(get("ratio"), Some(any_value::Value::DoubleValue(0.5)));
        assert_eq!(
            get("flags"),
            Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(any_value::Value::BoolValue(true)) }, AnyValue { value: None }]
            }))
        );
    }

    #[test]
    fn a_tag_key_with_several_values_is_one_array_attribute() {
        let Event::Metric(mut m) = metric("snmp.cpu.usage", MetricType::Gauge, 1.0, Some("sw1")) else {
            unreachable!()
        };
        m.tags = [("site".to_owned(), "paris".to_owned()), ("site".to_owned(), "dc1".to_owned())].into();
        let point = data_point(&m);
        assert_eq!(point.attributes.len(), 1, "{:?}", point.attributes);
        assert_eq!(
            point.attributes[0].value,
            Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![string_value("dc1"), string_value("paris")]
                }))
            })
        );
    }

    #[test]
    fn severities_follow_the_spec_table() {
        let numbers: Vec<i32> = (0..8).map(|s| severity_number(Status::from_syslog_severity(s)) as i32).collect();
        assert_eq!(numbers, [21, 19, 18, 17, 13, 10, 9, 5]);
    }

    #[test]
    fn rate_units() {
        assert_eq!(rate_unit("snmp.ifHCInOctets"), "By/s");
        assert_eq!(rate_unit("snmp.ifBandwidthInUsage.rate"), "%");
        assert_eq!(rate_unit("snmp.ifHCInUcastPkts"), "{packet}/s");
        assert_eq!(rate_unit("snmp.ifInErrors"), "1/s");
    }

    #[test]
    fn answers_are_classified_as_the_spec_says() {
        let status = |code: u16| StatusCode::from_u16(code).unwrap();
        for code in [429, 502, 503, 504] {
            assert!(matches!(classify(Signal::Logs, status(code), false, None, b""), Outcome::Retry { .. }), "{code}");
        }
        for code in [400, 401, 403, 404, 408, 500, 501] {
            assert!(matches!(classify(Signal::Logs, status(code), false, None, b""), Outcome::Reject { .. }), "{code}");
        }
        assert!(matches!(classify(Signal::Logs, status(413), false, None, b""), Outcome::TooLarge));
        let rpc = RpcStatus { code: 3, message: "bad attribute".into() }.encode_to_vec();
        match classify(Signal::Metrics, status(400), true, None, &rpc) {
            Outcome::Reject { reason } => assert_eq!(reason, "HTTP 400 Bad Request: bad attribute"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(Signal::Metrics, status(200), true, None, b""), Outcome::Delivered));
        let partial = ExportMetricsServiceResponse {
            partial_success: Some(opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess {
                rejected_data_points: 2,
                error_message: "NaN".into(),
            }),
        }
        .encode_to_vec();
        match classify(Signal::Metrics, status(200), true, None, &partial) {
            Outcome::Partial { rejected, reason } => {
                assert_eq!((rejected, reason.as_str()), (2, "partial success: 2 rejected: NaN"))
            }
            other => panic!("{other:?}"),
        }
        // A logs answer read as metrics would be a different message: the signal matters.
        let warning = ExportLogsServiceResponse {
            partial_success: Some(opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess {
                rejected_log_records: 0,
                error_message: "deprecated attribute".into(),
            }),
        }
        .encode_to_vec();
        assert!(matches!(classify(Signal::Logs, status(200), true, None, &warning), Outcome::Delivered));
        assert!(
            matches!(classify(Signal::Logs, status(200), false, None, &partial), Outcome::Delivered),
            "not protobuf"
        );
    }

    #[test]
    fn config_checks_name_headers_but_never_show_their_values() {
        let mut config: OtlpSinkConfig =
            serde_json::from_value(serde_json::json!({"endpoint": "http://127.0.0.1:4318/"})).unwrap();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.base_url().unwrap(), "http://127.0.0.1:4318");
        config.headers.insert("authorization".into(), Secret::new("Bearer s3cr3t\n"));
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("headers.authorization") && !error.contains("s3cr3t"), "{error}");
        config.headers.insert("authorization".into(), Secret::new("Bearer s3cr3t"));
        assert_eq!(config.validate(), Ok(()));
        assert!(format!("{:?}", config.header_map().unwrap()).contains("Sensitive"));
        config.headers.insert("content-type".into(), Secret::new("text/plain"));
        assert!(config.validate().unwrap_err().to_string().contains("set by nocwatch"));
        config.headers.clear();
        for bad in ["collector:4318", "ftp://x", "https://user:pw@collector", "http://c/?token=x"] {
            config.endpoint = bad.into();
            let error = config.validate().unwrap_err().to_string();
            assert!(!error.contains("pw") && !error.contains("token"), "{error}");
        }
    }
}
