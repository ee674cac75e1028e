//! End to end: a real Prometheus server (Debian `prometheus`) scrapes nocwatch's Prometheus
//! exposition, and the test reads the series back through Prometheus's HTTP API.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[test]
fn a_real_prometheus_scrapes_series_with_their_labels() {
    let (exposition, prometheus) = (free_port(), free_port());
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
agent: {{hostname: nocwatch-1}}
shutdown: {{drain_period: 0s}}
sources:
  self: {{type: internal_metrics, interval: 200ms}}
  ping: {{type: ping, targets: ['127.0.0.1'], interval: 1s, count: 2, spacing: 50ms, timeout: 300ms}}
sinks:
  prom: {{type: prometheus, address: '127.0.0.1:{exposition}'}}
"
    );
    let agent = Agent::start(&config, Stdio::null());
    let dir = tempfile::tempdir().unwrap();
    let prometheus_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: nocwatch\n    static_configs:\n      - targets: ['127.0.0.1:{exposition}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Peer(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed"),
    );
    let query = |q: &str| -> Vec<serde_json::Value> {
        let Ok((200, body)) = http_get(addr(prometheus), &format!("/api/v1/query?query={q}")) else {
            return Vec::new();
        };
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        json["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    eventually(Duration::from_secs(30), "Prometheus has scraped the counter", || {
        !query("nocwatch_component_received_events_total").is_empty()
    });
    let results = query("nocwatch_component_received_events_total");
    let sink = results.iter().find(|r| r["metric"]["component_id"] == "prom").unwrap();
    assert_eq!(sink["metric"]["host"], "nocwatch-1");
    assert_eq!(sink["metric"]["component_kind"], "sink");
    assert_eq!(sink["metric"]["component_type"], "prometheus");
    assert_eq!(sink["metric"]["job"], "nocwatch");
    let value: f64 = sink["value"][1].as_str().unwrap().parse().unwrap();
    assert!(value > 0.0, "the sink has received events: {value}");

    // Prometheus reads it as a counter: rate() works on it.
    eventually(Duration::from_secs(20), "a rate over the counter", || {
        !query("rate(nocwatch_component_received_events_total%5B5s%5D)").is_empty()
    });
    // A device metric, with the labels the Datadog integration uses.
    eventually(Duration::from_secs(20), "the ping device metric", || !query("networkdevice_ping_reachable").is_empty());
    let device = &query("networkdevice_ping_reachable")[0];
    assert_eq!(device["metric"]["snmp_device"], "127.0.0.1");
    // Without use_device_id_as_hostname the ping metric has no host of its own (as the
    // snmp source's metrics), so no `host` label.
    assert!(device["metric"]["host"].is_null(), "{device}");
    assert_eq!(device["metric"]["device_namespace"], "default");
    assert_eq!(device["value"][1], "1");
    let gauges = query("nocwatch_queue_events");
    assert!(gauges.iter().any(|g| g["metric"]["component_id"] == "prom"), "{gauges:?}");
    drop(agent);
}
