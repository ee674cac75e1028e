//! End to end: syslog in, Datadog Logs out, checked by a local intake that validates every
//! request against Datadog's OpenAPI spec; retries, 413 splitting, refusals; the TCP/TLS
//! transport the seed used.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::intake::{API_KEY, Intake};
use support::*;

fn config(udp: u16, sink: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s, flush_timeout: 5s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  datadog:
    type: datadog_logs
    api_key: ${{DD_API_KEY}}
{sink}
"
    )
}

fn start(config: &str) -> Agent {
    // SAFETY of the test: the key is passed the way operators pass it, from the environment.
    Agent::start_with_env(config, Stdio::null(), &[("DD_API_KEY", API_KEY)])
}

fn lines(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("<189>29: core-sw1: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: {prefix} {i:05}")).collect()
}

fn messages(intake: &Intake) -> Vec<String> {
    intake.logs().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn logs_reach_the_intake_in_the_documented_shape() {
    let intake = Intake::start();
    let udp = free_port();
    let agent = start(&config(
        udp,
        &format!("    endpoint: {}\n    tags: [env:prd, team:noc]\n    batch: {{timeout: 200ms}}", intake.url()),
    ));
    send_udp(addr(udp), &lines(3, "configured"));
    eventually(Duration::from_secs(10), "3 logs at the intake", || intake.logs().len() == 3);
    assert_eq!(intake.violations(), Vec::<String>::new());

    let log = &intake.logs()[0];
    assert_eq!(log["message"], "configured 00000");
    assert_eq!(log["hostname"], "core-sw1");
    assert_eq!(log["ddsource"], "syslog");
    assert_eq!(log["ddtags"], "env:prd,team:noc");
    assert_eq!(log["status"], "notice");
    assert_eq!(log["cisco"]["mnemonic"], "CONFIG_I");
    assert_eq!(log["syslog"]["facility"], "local7");
    assert!(log["timestamp"].as_i64().unwrap() > 1_700_000_000_000, "milliseconds since the epoch");
    // The intake records the logs before it answers; the sink counts them once it has read
    // the answer.
    eventually(Duration::from_secs(10), "3 events counted as sent", || {
        agent.metric("nocwatch_component_sent_events_total", &["component_id=\"datadog\""]) == Some(3.0)
    });
    assert!(!agent.stderr().contains(API_KEY), "the API key never appears in logs");
}

#[test]
fn retries_split_and_refusals() {
    let intake = Intake::start();
    intake.with(|s| {
        // Two failures that may pass later, then the intake works again.
        s.script.extend([503, 429]);
        s.too_large_above = Some(40);
    });
    let udp = free_port();
    let agent = start(&config(
        udp,
        &format!(
            "    endpoint: {}\n    batch: {{max_events: 100, timeout: 300ms}}\n    retry: {{initial_backoff: 50ms, max_backoff: 200ms}}",
            intake.url()
        ),
    ));
    send_udp(addr(udp), &lines(100, "burst"));
    eventually(Duration::from_secs(15), "100 logs after retries and splits", || intake.logs().len() == 100);
    let mut got = messages(&intake);
    got.sort();
    let expected: Vec<String> = (0..100).map(|i| format!("burst {i:05}")).collect();
    assert_eq!(got, expected, "each once");
    let statuses = intake.with(|s| s.requests.clone());
    assert_eq!(&statuses[..2], &[503, 429]);
    assert!(statuses.contains(&413), "the batch was split after a 413: {statuses:?}");
    assert!(agent.metric("nocwatch_component_retried_requests_total", &["component_id=\"datadog\""]).unwrap() >= 2.0);
    assert_eq!(intake.violations(), Vec::<String>::new());

    // A refusal (bad key, bad payload) is final: counted, logged, not retried.
    intake.with(|s| s.script.push_back(403));
    send_udp(addr(udp), &lines(1, "refused"));
    eventually(Duration::from_secs(10), "the refused event counted as dropped", || {
        agent.metric("nocwatch_component_dropped_events_total", &["component_id=\"datadog\"", "reason=\"write_error\""])
            == Some(1.0)
    });
    assert!(agent.stderr().contains("destination refused the request"), "{}", agent.stderr());
    send_udp(addr(udp), &lines(1, "after"));
    eventually(Duration::from_secs(10), "later events still flow", || {
        messages(&intake).contains(&"after 00000".to_owned())
    });
    assert!(!messages(&intake).contains(&"refused 00000".to_owned()));
}

#[test]
fn requests_in_flight_answered_out_of_order_all_arrive_once() {
    let intake = Intake::start();
    intake.with(|s| {
        // The first requests are answered late, later ones at once: answers overtake.
        s.delays.extend([600, 0, 300, 0, 150, 0, 400, 0].map(Duration::from_millis));
    });
    let udp = free_port();
    let agent = start(&config(
        udp,
        &format!(
            "    endpoint: {}\n    batch: {{max_events: 50, timeout: 50ms}}\n    request: {{concurrency: 4}}",
            intake.url()
        ),
    ));
    let total = 1000;
    for chunk in (0..total).step_by(100) {
        let lines: Vec<String> =
            (chunk..chunk + 100).map(|i| format!("<14>Nov 25 08:00:00 h app: line {i:05}")).collect();
        send_udp(addr(udp), &lines);
        std::thread::sleep(Duration::from_millis(10));
    }
    eventually(Duration::from_secs(20), "every line at the intake", || intake.logs().len() >= total);
    let mut got = messages(&intake);
    got.sort();
    let expected: Vec<String> = (0..total).map(|i| format!("line {i:05}")).collect();
    assert_eq!(got, expected, "every line, each once");
    let peak = intake.with(|s| s.peak_active);
    assert!((2..=4).contains(&peak), "requests in flight at once: {peak} (concurrency 4)");
    eventually(Duration::from_secs(5), "sent counted", || {
        agent.metric("nocwatch_component_sent_events_total", &["component_id=\"datadog\""]) == Some(total as f64)
    });
    assert_eq!(intake.violations(), Vec::<String>::new());
}

#[test]
fn oversized_entries_are_truncated_and_flagged() {
    let intake = Intake::start();
    let tcp = free_port();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, mode: tcp, address: '127.0.0.1:{tcp}', max_message_size: 3MiB}}
sinks:
  datadog: {{type: datadog_logs, api_key: '${{DD_API_KEY}}', endpoint: '{}', batch: {{timeout: 100ms}}}}
",
        intake.url()
    );
    let agent = start(&config);
    let mut stream = std::net::TcpStream::connect(addr(tcp)).unwrap();
    use std::io::Write;
    let big = format!("<14>Nov 25 08:00:00 host app: {}\n", "z".repeat(1_500_000));
    stream.write_all(big.as_bytes()).unwrap();
    stream.write_all(b"<14>Nov 25 08:00:01 host app: small\n").unwrap();
    drop(stream);
    eventually(Duration::from_secs(10), "both logs", || intake.logs().len() == 2);
    assert_eq!(intake.violations(), Vec::<String>::new());
    let logs = intake.logs();
    assert_eq!(logs[0]["truncated"], true);
    assert!(logs[0]["message"].as_str().unwrap().len() < 1_000_000);
    assert_eq!(logs[1]["message"], "small");
    drop(agent);
}

#[test]
fn the_intake_schema_check_is_not_vacuous() {
    let validator = support::intake::schema("HTTPLog");
    assert!(validator.is_valid(&serde_json::json!([{"message": "ok", "ddtags": "a:b", "cisco": {"x": 1}}])));
    assert!(!validator.is_valid(&serde_json::json!([{"ddtags": "a:b"}])), "message is required");
    assert!(!validator.is_valid(&serde_json::json!([{"message": "m", "ddtags": ["a:b"]}])), "ddtags is a string");
    assert!(!validator.is_valid(&serde_json::json!({"message": "m"})), "the payload is an array");
}
