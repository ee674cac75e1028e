//! End to end: what the console and file sinks write, file rotation, and a full queue that
//! drops and counts without holding back the rest of the agent.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use support::*;

#[test]
fn console_and_file_write_the_documented_shape() {
    let udp = free_port();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
agent: {{hostname: test-agent}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
  self: {{type: internal_metrics, interval: 100ms}}
sinks:
  console: {{type: console, inputs: [syslog]}}
  file: {{type: file, path: '${{DIR}}/out/events.jsonl'}}
"
    );
    let mut agent = Agent::start(&config, Stdio::piped());
    send_udp(addr(udp), &["<11>link down on Gi1/0/1\n".to_owned()]);
    let file = agent.path("out/events.jsonl");
    eventually(Duration::from_secs(5), "a log and the self-metrics in the file", || {
        let events = read_json_lines(&file);
        events.iter().any(|e| e["kind"] == "log")
            && events.iter().any(|e| e["name"] == "nocwatch.component.sent_events" && e["value"] == 1.0)
    });
    agent.signal("TERM");
    assert!(agent.wait_exit(Duration::from_secs(10)).success());

    let mut stdout = String::new();
    agent.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let console: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(console.len(), 1, "console takes only the syslog source: {stdout}");
    let log = &console[0];
    assert_eq!(log["kind"], "log");
    assert_eq!(log["source"], "syslog");
    assert_eq!(log["status"], "error");
    assert_eq!(log["host"], "127.0.0.1");
    assert_eq!(log["message"], "link down on Gi1/0/1");
    assert_eq!(log["attributes"]["peer"]["ip"], "127.0.0.1");
    assert_eq!(log["attributes"]["syslog"]["severity"], "err");
    assert!(log["timestamp"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());

    let events = read_json_lines(&file);
    assert!(events.contains(log), "the file has the same log event");
    let metric = events.iter().find(|e| e["kind"] == "metric" && e["tags"]["component_id"] == "console").unwrap();
    assert!(metric["name"].as_str().unwrap().starts_with("nocwatch."));
    assert!(["count", "gauge"].contains(&metric["type"].as_str().unwrap()));
    assert!(metric["value"].is_number());
    assert_eq!(metric["host"], "test-agent");
    assert_eq!(metric["tags"]["component_kind"], "sink");
    assert!(metric["timestamp"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
}

#[test]
fn file_rotates_by_size_without_losing_lines() {
    let udp = free_port();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  file: {{type: file, path: '${{DIR}}/events.jsonl', max_size: 2KiB, max_files: 50}}
"
    );
    let mut agent = Agent::start(&config, Stdio::null());
    let total = 60;
    for i in 0..total / 2 {
        send_udp(addr(udp), &[format!("<14>line {i:03}")]);
        std::thread::sleep(Duration::from_millis(2));
    }
    // A burst: one write then carries more than max_size and must be cut at lines.
    let burst: Vec<String> = (total / 2..total).map(|i| format!("<14>line {i:03}")).collect();
    send_udp(addr(udp), &burst);
    eventually(Duration::from_secs(5), "all lines written", || {
        agent.metric("nocwatch_component_sent_events_total", &["component_id=\"file\""]) == Some(total as f64)
    });
    agent.signal("TERM");
    assert!(agent.wait_exit(Duration::from_secs(10)).success());

    let mut messages = Vec::new();
    let mut files = 0;
    for n in (1..=50).rev() {
        let rotated = agent.path(&format!("events.jsonl.{n}"));
        if rotated.exists() {
            files += 1;
            assert!(std::fs::metadata(&rotated).unwrap().len() <= 2048, "rotated file over max_size");
            messages.extend(read_json_lines(&rotated).into_iter().map(|e| e["message"].clone()));
        }
    }
    messages.extend(read_json_lines(&agent.path("events.jsonl")).into_iter().map(|e| e["message"].clone()));
    assert!(files >= 2, "expected rotation, got {files} rotated files");
    let expected: Vec<serde_json::Value> = (0..total).map(|i| format!("line {i:03}").into()).collect();
    assert_eq!(messages, expected, "every line once, in order, across rotated files");
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking_other_sinks() {
    let udp = free_port();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s, flush_timeout: 1s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  console:
    type: console
    buffer: {{max_events: 50, when_full: drop_newest}}
  file: {{type: file, path: '${{DIR}}/events.jsonl'}}
"
    );
    // stdout is a pipe nobody reads: the console sink blocks once the pipe is full.
    let mut agent = Agent::start(&config, Stdio::piped());
    let total = 3000;
    let padding = "x".repeat(200);
    for chunk in 0..total / 50 {
        let lines: Vec<String> = (0..50).map(|i| format!("<14>{} {padding}", chunk * 50 + i)).collect();
        send_udp(addr(udp), &lines);
        std::thread::sleep(Duration::from_millis(3));
    }
    let file = agent.path("events.jsonl");
    eventually(Duration::from_secs(10), "every line in the file sink", || read_json_lines(&file).len() == total);

    let received = agent.metric("nocwatch_component_received_events_total", &["component_id=\"syslog\""]);
    assert_eq!(received, Some(total as f64), "the source received every datagram");
    let console_in = agent.metric("nocwatch_component_received_events_total", &["component_id=\"console\""]).unwrap();
    let console_dropped = agent
        .metric("nocwatch_component_dropped_events_total", &["component_id=\"console\"", "reason=\"queue_full\""])
        .unwrap();
    assert!(console_dropped > 0.0, "the console queue must have overflowed");
    assert_eq!(console_in + console_dropped, total as f64, "every event is either queued or counted as dropped");
    let source_dropped = agent
        .metric("nocwatch_component_dropped_events_total", &["component_id=\"syslog\"", "reason=\"queue_full\""])
        .unwrap();
    assert_eq!(source_dropped, console_dropped, "the source counts what its sinks dropped");
    let depth = agent.metric("nocwatch_queue_events", &["component_id=\"console\""]).unwrap();
    assert!(depth <= 50.0, "queue depth {depth} over its bound");

    // Shutdown with a stuck sink: bounded by flush_timeout, queued events counted as lost.
    agent.signal("TERM");
    assert!(agent.wait_exit(Duration::from_secs(10)).success());
    assert!(agent.stderr().contains("did not finish in time"), "{}", agent.stderr());
}
