//! End to end: syslog and `internal_metrics` in, OTLP/HTTP out. A local receiver decodes
//! every request with the official OpenTelemetry protobuf types (`opentelemetry-proto`,
//! gzip-aware), checks the headers the OTLP/HTTP spec requires, and answers as scripted:
//! retryable 503s, final 400/500s with a `google.rpc.Status` body, and partial successes.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, NumberDataPoint, metric, number_data_point};
use prost::Message;
use support::*;

const TOKEN: &str = "otlp-test-token-5f0c2a";

/// `google.rpc.Status`, as OTLP/HTTP receivers answer errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Default)]
struct Recorded {
    /// Requests answered 200 without a partial success, decoded.
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    /// Every request: path and the status answered.
    requests: Vec<(String, u16)>,
    /// What broke the OTLP/HTTP spec.
    violations: Vec<String>,
    /// `authorization` and `content-encoding` of every request.
    authorization: Vec<Option<String>>,
    encodings: Vec<Option<String>>,
    /// Statuses to answer next on `/v1/logs`.
    logs_script: VecDeque<u16>,
    /// Reject this many records of the next `/v1/logs` request (partial success).
    logs_reject: Option<i64>,
    /// Records in each request answered with a partial success.
    partial: Vec<usize>,
}

#[derive(Clone)]
struct Receiver {
    address: SocketAddr,
    state: Arc<Mutex<Recorded>>,
}

impl Receiver {
    fn start() -> Receiver {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app =
                    Router::new().route("/v1/metrics", post(metrics)).route("/v1/logs", post(logs)).with_state(shared);
                axum::serve(listener, app).await.unwrap();
            });
        });
        Receiver { address, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn records(&self) -> Vec<(ResourceLogs, LogRecord)> {
        self.with(|s| {
            let mut out = Vec::new();
            for request in &s.logs {
                for resource in &request.resource_logs {
                    for scope in &resource.scope_logs {
                        for record in &scope.log_records {
                            out.push((resource.clone(), record.clone()));
                        }
                    }
                }
            }
            out
        })
    }

    fn bodies(&self) -> Vec<String> {
        self.records().iter().map(|(_, r)| body(r)).collect()
    }

    /// Every data point of metric `name`, with its metric and resource attributes.
    fn points(
        &self,
        name: &str,
    ) -> Vec<(Vec<KeyValue>, opentelemetry_proto::tonic::metrics::v1::Metric, NumberDataPoint)> {
        self.with(|s| {
            let mut out = Vec::new();
            for request in &s.metrics {
                for resource in &request.resource_metrics {
                    let attributes = resource.resource.clone().unwrap_or_default().attributes;
                    for scope in &resource.scope_metrics {
                        assert_eq!(scope.scope.as_ref().unwrap().name, "nocwatch");
                        for m in scope.metrics.iter().filter(|m| m.name == name) {
                            let points = match &m.data {
                                Some(metric::Data::Gauge(g)) => g.data_points.clone(),
                                Some(metric::Data::Sum(s)) => s.data_points.clone(),
                                other => panic!("unexpected data {other:?}"),
                            };
                            for point in points {
                                out.push((attributes.clone(), m.clone(), point));
                            }
                        }
                    }
                }
            }
            out
        })
    }
}

/// The body of a request: checks the spec's headers, then un-gzips.
fn plain_body(state: &mut Recorded, headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    state.authorization.push(header("authorization"));
    state.encodings.push(header("content-encoding"));
    if header("content-type").as_deref() != Some("application/x-protobuf") {
        state.violations.push(format!("Content-Type: {:?}", header("content-type")));
    }
    match header("content-encoding").as_deref() {
        None => Some(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(body).read_to_end(&mut out) {
                Ok(_) => Some(out),
                Err(e) => {
                    state.violations.push(format!("gzip body does not decode: {e}"));
                    None
                }
            }
        }
        Some(other) => {
            state.violations.push(format!("Content-Encoding {other}"));
            None
        }
    }
}

fn protobuf(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
}

fn failure(status: u16) -> Response {
    let body = RpcStatus { code: 3, message: format!("scripted failure {status}") }.encode_to_vec();
    protobuf(StatusCode::from_u16(status).unwrap(), body)
}

async fn metrics(State(state): State<Arc<Mutex<Recorded>>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap();
    let decoded = plain_body(&mut state, &headers, &body).and_then(|plain| {
        ExportMetricsServiceRequest::decode(&plain[..])
            .map_err(|e| state.violations.push(format!("not an ExportMetricsServiceRequest: {e}")))
            .ok()
    });
    let Some(request) = decoded else {
        state.requests.push(("/v1/metrics".into(), 400));
        return failure(400);
    };
    state.metrics.push(request);
    state.requests.push(("/v1/metrics".into(), 200));
    protobuf(StatusCode::OK, ExportMetricsServiceResponse::default().encode_to_vec())
}

async fn logs(State(state): State<Arc<Mutex<Recorded>>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap();
    let decoded = plain_body(&mut state, &headers, &body).and_then(|plain| {
        ExportLogsServiceRequest::decode(&plain[..])
            .map_err(|e| state.violations.push(format!("not an ExportLogsServiceRequest: {e}")))
            .ok()
    });
    let Some(request) = decoded else {
        state.requests.push(("/v1/logs".into(), 400));
        return failure(400);
    };
    if let Some(status) = state.logs_script.pop_front() {
        state.requests.push(("/v1/logs".into(), status));
        return failure(status);
    }
    state.requests.push(("/v1/logs".into(), 200));
    let mut response = ExportLogsServiceResponse::default();
    if let Some(rejected) = state.logs_reject.take() {
        let records = request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
        state.partial.push(records);
        response.partial_success = Some(ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: "scripted rejection".into(),
        });
    } else {
        state.logs.push(request);
    }
    protobuf(StatusCode::OK, response.encode_to_vec())
}

/// The value of attribute `key`.
fn attr(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.clone())
}

fn string(value: &str) -> Option<any_value::Value> {
    Some(any_value::Value::StringValue(value.to_owned()))
}

/// The value at `path` inside nested kvlists.
fn nested(attributes: &[KeyValue], path: &[&str]) -> Option<any_value::Value> {
    let (first, rest) = path.split_first()?;
    let value = attr(attributes, first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, any_value::Value::KvlistValue(list)) => nested(&list.values, rest),
        (false, _) => None,
    }
}

fn body(record: &LogRecord) -> String {
    match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("body is not a string: {other:?}"),
    }
}

fn resource_attributes(resource: &ResourceLogs) -> Vec<KeyValue> {
    resource.resource.clone().unwrap_or_default().attributes
}

fn value(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        other => panic!("not a double: {other:?}"),
    }
}

fn start(receiver: &Receiver, udp: u16, extra_sources: &str, sink: &str) -> Agent {
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
agent: {{hostname: nocwatch-1}}
shutdown: {{drain_period: 0s, flush_timeout: 5s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
{extra_sources}
sinks:
  otlp:
    type: otlp
    endpoint: {}/
    headers: {{authorization: 'Bearer ${{OTLP_TOKEN}}'}}
{sink}
",
        receiver.url()
    );
    Agent::start_with_env(&config, Stdio::null(), &[("OTLP_TOKEN", TOKEN)])
}

const CISCO: &str = "<189>29: core-sw1: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console";
const JUNOS: &str =
    r#"<11>1 2026-11-25T08:00:00.123Z fw01 RT_FLOW 1234 ID47 [junos@2636 reason="x" port="22"] session closed"#;

#[test]
fn metrics_and_logs_arrive_in_otlp_shape() {
    let receiver = Receiver::start();
    let udp = free_port();
    let agent = start(
        &receiver,
        udp,
        "  self: {type: internal_metrics, interval: 100ms}",
        "    resource_attributes: {deployment.environment.name: prd, host.name: only-for-events-without-a-host}\n    batch: {timeout: 100ms}",
    );
    send_udp(addr(udp), &[CISCO.to_owned(), JUNOS.to_owned()]);
    eventually(Duration::from_secs(10), "2 log records", || receiver.records().len() == 2);
    let received = |r: &Receiver| {
        r.points("nocwatch.component.received_events")
            .iter()
            .filter(|(_, _, p)| attr(&p.attributes, "component_id") == string("syslog"))
            .map(|(_, _, p)| value(p))
            .sum::<f64>()
    };
    eventually(Duration::from_secs(10), "the syslog source's 2 received events as deltas", || {
        received(&receiver) == 2.0
    });
    assert_eq!(receiver.with(|s| s.violations.clone()), Vec::<String>::new());

    // Every request: the token from the environment, gzip (the default).
    let (auth, encodings) = receiver.with(|s| (s.authorization.clone(), s.encodings.clone()));
    assert!(auth.iter().all(|a| a.as_deref() == Some(&format!("Bearer {TOKEN}")[..])), "{auth:?}");
    assert!(encodings.iter().all(|e| e.as_deref() == Some("gzip")), "{encodings:?}");
    assert!(!agent.stderr().contains(TOKEN), "a header value never appears in logs");

    // Logs: one resource per device, body, severity, time, attributes.
    let records = receiver.records();
    let (cisco_resource, cisco) = records.iter().find(|(_, r)| body(r) == "Configured from console").unwrap();
    let resource = resource_attributes(cisco_resource);
    assert_eq!(attr(&resource, "host.name"), string("core-sw1"));
    assert_eq!(resource.iter().filter(|kv| kv.key == "host.name").count(), 1, "the event's host wins: {resource:?}");
    assert_eq!(attr(&resource, "deployment.environment.name"), string("prd"));
    assert_eq!((cisco.severity_number, cisco.severity_text.as_str()), (10, "notice"), "notice is INFO2");
    assert_eq!(cisco.time_unix_nano % 1_000_000_000, 411_000_000, "the device's milliseconds");
    assert!(cisco.observed_time_unix_nano > 1_700_000_000_000_000_000);
    assert_eq!(attr(&cisco.attributes, "nocwatch.source"), string("syslog"));
    assert_eq!(nested(&cisco.attributes, &["cisco", "mnemonic"]), string("CONFIG_I"));
    assert_eq!(nested(&cisco.attributes, &["syslog", "facility"]), string("local7"));
    assert_eq!(attr(&cisco.attributes, "service.name"), None, "a Cisco line has no app name");

    let (junos_resource, junos) = records.iter().find(|(_, r)| body(r) == "session closed").unwrap();
    assert_eq!(attr(&resource_attributes(junos_resource), "host.name"), string("fw01"));
    assert_eq!((junos.severity_number, junos.severity_text.as_str()), (17, "error"));
    assert_eq!(junos.time_unix_nano, 1_795_593_600_123_000_000);
    assert_eq!(attr(&junos.attributes, "service.name"), string("RT_FLOW"));
    assert_eq!(nested(&junos.attributes, &["structured_data", "junos@2636", "port"]), string("22"));

    // Metrics: counts are monotonic delta sums over the interval, gauges are gauges, tags
    // are point attributes, the resource is the agent.
    let points = receiver.points("nocwatch.component.received_events");
    let (resource, count, point) =
        points.iter().find(|(_, _, p)| attr(&p.attributes, "component_id") == string("syslog")).unwrap();
    assert_eq!(attr(resource, "host.name"), string("nocwatch-1"));
    assert_eq!(attr(resource, "deployment.environment.name"), string("prd"));
    let Some(metric::Data::Sum(sum)) = &count.data else { panic!("a count is a Sum: {count:?}") };
    assert_eq!(sum.aggregation_temporality, AggregationTemporality::Delta as i32);
    assert!(sum.is_monotonic);
    assert_eq!(point.time_unix_nano - point.start_time_unix_nano, 1_000_000_000, "interval_secs (100ms → 1 s)");
    assert_eq!(attr(&point.attributes, "component_kind"), string("source"));
    assert_eq!(attr(&point.attributes, "component_type"), string("syslog"));

    let gauges = receiver.points("nocwatch.queue.events");
    let (_, gauge, point) = gauges.first().unwrap();
    assert!(matches!(gauge.data, Some(metric::Data::Gauge(_))), "{gauge:?}");
    assert_eq!(point.start_time_unix_nano, 0);
    assert!((point.time_unix_nano as i128 - jiff::Timestamp::now().as_nanosecond()).abs() < 60_000_000_000);
    assert!(agent.metric("nocwatch_component_sent_events_total", &["component_id=\"otlp\""]).unwrap() > 2.0);
}

#[test]
fn retryable_answers_are_retried_and_others_dropped() {
    let receiver = Receiver::start();
    receiver.with(|s| s.logs_script.extend([503, 503]));
    let udp = free_port();
    let agent = start(
        &receiver,
        udp,
        "",
        "    compression: none\n    batch: {timeout: 300ms}\n    retry: {initial_backoff: 50ms, max_backoff: 200ms}",
    );
    let lines = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("<14>Nov 25 08:00:00 sw1 app: {prefix} {i}")).collect()
    };
    send_udp(addr(udp), &lines("burst", 5));
    eventually(Duration::from_secs(10), "5 records after two 503s", || receiver.records().len() == 5);
    let mut bodies = receiver.bodies();
    bodies.sort();
    assert_eq!(bodies, (0..5).map(|i| format!("burst {i}")).collect::<Vec<_>>(), "each once");
    let statuses: Vec<u16> = receiver.with(|s| s.requests.iter().map(|(_, status)| *status).collect());
    assert_eq!(&statuses[..3], &[503, 503, 200], "{statuses:?}");
    assert!(receiver.with(|s| s.encodings.iter().all(Option::is_none)), "compression: none");
    let retried = || agent.metric("nocwatch_component_retried_requests_total", &["component_id=\"otlp\""]);
    assert_eq!(retried(), Some(2.0));
    assert_eq!(receiver.with(|s| s.violations.clone()), Vec::<String>::new());

    // 400 (bad data) and 500 are final in OTLP: dropped, counted, logged, not retried.
    let dropped = || {
        agent.metric("nocwatch_component_dropped_events_total", &["component_id=\"otlp\"", "reason=\"write_error\""])
    };
    receiver.with(|s| s.logs_script.push_back(400));
    send_udp(addr(udp), &lines("refused", 1));
    eventually(Duration::from_secs(10), "the refused record counted as dropped", || dropped() == Some(1.0));
    receiver.with(|s| s.logs_script.push_back(500));
    send_udp(addr(udp), &lines("failed", 1));
    eventually(Duration::from_secs(10), "the 500 counted as dropped", || dropped() == Some(2.0));
    send_udp(addr(udp), &lines("after", 1));
    eventually(Duration::from_secs(10), "later records still flow", || {
        receiver.bodies().contains(&"after 0".to_owned())
    });
    let stderr = agent.stderr();
    assert!(stderr.contains("destination refused the request"), "{stderr}");
    assert!(stderr.contains("scripted failure 400"), "the google.rpc.Status message is read: {stderr}");
    let statuses: Vec<u16> = receiver.with(|s| s.requests.iter().map(|(_, status)| *status).collect());
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 1, "a 500 is not retried: {statuses:?}");
    assert_eq!(retried(), Some(2.0), "nothing else was retried");
    let bodies = receiver.bodies();
    assert!(!bodies.contains(&"refused 0".to_owned()) && !bodies.contains(&"failed 0".to_owned()));
}

#[test]
fn a_partial_success_counts_the_rejected_records_as_dropped() {
    let receiver = Receiver::start();
    receiver.with(|s| s.logs_reject = Some(2));
    let udp = free_port();
    let agent = start(&receiver, udp, "", "    batch: {timeout: 500ms}");
    let lines: Vec<String> = (0..3).map(|i| format!("<14>Nov 25 08:00:00 sw1 app: partial {i}")).collect();
    send_udp(addr(udp), &lines);
    eventually(Duration::from_secs(10), "the partial answer counted", || {
        agent.metric("nocwatch_component_dropped_events_total", &["component_id=\"otlp\"", "reason=\"write_error\""])
            == Some(2.0)
    });
    assert_eq!(receiver.with(|s| s.partial.clone()), vec![3], "one request held the 3 records");
    assert_eq!(agent.metric("nocwatch_component_sent_events_total", &["component_id=\"otlp\""]), Some(1.0));
    let stderr = agent.stderr();
    assert!(stderr.contains("destination refused part of the request"), "{stderr}");
    assert!(stderr.contains("scripted rejection"), "{stderr}");
    assert_eq!(receiver.with(|s| s.requests.len()), 1, "a partial success is not retried");
}
