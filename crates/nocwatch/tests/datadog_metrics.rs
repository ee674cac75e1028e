//! End to end: metrics to Datadog's `/api/v2/series`, checked by the local intake against
//! the `MetricPayload` schema of Datadog's OpenAPI spec and the documented limits.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::intake::{API_KEY, Intake};
use support::*;

fn config(intake: &Intake, host: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
agent: {{hostname: nocwatch-1}}
shutdown: {{drain_period: 0s}}
sources:
  self: {{type: internal_metrics, interval: 200ms}}
sinks:
  datadog:
    type: datadog_metrics
    api_key: ${{DD_API_KEY}}
    endpoint: {}
    host: {host}
    tags: [env:prd]
    batch: {{timeout: 100ms}}
",
        intake.url()
    )
}

#[test]
fn series_reach_the_intake_with_types_intervals_hosts_and_tags() {
    let intake = Intake::start();
    let agent = Agent::start_with_env(&config(&intake, "device"), Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    eventually(Duration::from_secs(10), "count and gauge series", || {
        let series = intake.series();
        series.iter().any(|s| s["type"] == 1) && series.iter().any(|s| s["type"] == 3)
    });
    assert_eq!(intake.violations(), Vec::<String>::new());
    let series = intake.series();
    let count = series.iter().find(|s| s["metric"] == "nocwatch.component.received_events").unwrap();
    assert_eq!(count["type"], 1, "count");
    assert_eq!(count["interval"], 1, "interval in seconds (200ms rounds up to 1)");
    assert_eq!(count["resources"][0], serde_json::json!({"name": "nocwatch-1", "type": "host"}));
    let tags: Vec<&str> = count["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"env:prd") && tags.contains(&"component_kind:sink"), "{tags:?}");
    let gauge = series.iter().find(|s| s["metric"] == "nocwatch.queue.events").unwrap();
    assert_eq!(gauge["type"], 3);
    assert!(gauge.get("interval").is_none());
    let point = &gauge["points"][0];
    assert!(point["value"].is_number());
    assert!((point["timestamp"].as_i64().unwrap() - jiff::Timestamp::now().as_second()).abs() < 60);
    assert!(agent.metric("nocwatch_component_sent_events_total", &["component_id=\"datadog\""]).unwrap() > 0.0);
}

#[test]
fn the_series_schema_check_is_not_vacuous() {
    let validator = support::intake::schema("MetricPayload");
    assert!(validator.is_valid(
        &serde_json::json!({"series": [{"metric": "m", "type": 3, "points": [{"timestamp": 1, "value": 1.5}]}]})
    ));
    assert!(
        !validator.is_valid(&serde_json::json!({"series": [{"metric": "m", "type": 7, "points": []}]})),
        "type enum"
    );
    assert!(
        !validator.is_valid(&serde_json::json!({"series": [{"metric": "m", "points": [{"value": "x"}]}]})),
        "numeric value"
    );
    assert!(!validator.is_valid(&serde_json::json!({"metrics": []})), "series is required");
}

#[test]
fn non_finite_values_are_dropped_and_counted_not_sent() {
    use nocwatch::event::{Event, Metric, MetricType};
    use nocwatch::sinks::util::request::Encoder as _;
    let metric = |value: f64| {
        Event::Metric(Metric {
            name: "m".into(),
            metric_type: MetricType::Gauge,
            value,
            timestamp: jiff::Timestamp::now(),
            interval_secs: None,
            host: None,
            tags: Default::default(),
        })
    };
    let mut encoder = nocwatch::sinks::datadog::metrics::series_encoder(false);
    let events = [metric(1.0), metric(f64::NAN), metric(2.0), metric(f64::INFINITY)];
    let encoded = encoder.encode(&events);
    assert_eq!((encoded.consumed, encoded.failed), (4, 2));
    let request = encoded.request.unwrap();
    assert_eq!(request.events, 2);
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert!(support::intake::schema("MetricPayload").is_valid(&body), "{body}");
}

/// Requests that fail (nothing listens on the endpoint) are reported in the log and in
/// `/status` with the URL and the cause, never with the API key.
#[test]
fn a_failing_intake_is_reported_without_the_api_key() {
    let closed = free_port();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
sources:
  self: {{type: internal_metrics, interval: 200ms}}
sinks:
  datadog:
    type: datadog_metrics
    api_key: ${{DD_API_KEY}}
    endpoint: 'http://127.0.0.1:{closed}/'
    batch: {{timeout: 100ms}}
"
    );
    let agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    let mut status = String::new();
    eventually(Duration::from_secs(10), "the failed request in /status", || {
        status = http_get(agent.admin, "/status").map(|(_, body)| body).unwrap_or_default();
        status.contains("request failed")
    });
    assert!(status.contains(&format!("127.0.0.1:{closed}/api/v2/series")), "{status}");
    eventually(Duration::from_secs(10), "the failed request in the log", || agent.stderr().contains("request failed"));
    assert!(!status.contains(API_KEY) && !agent.stderr().contains(API_KEY), "{status}\n{}", agent.stderr());
}
