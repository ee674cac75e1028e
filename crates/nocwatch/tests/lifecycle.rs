//! End to end: the real binary with a UDP source, its TCP health port, readiness, the
//! drain on SIGTERM, and the exit code.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;

fn config(udp: u16, health: u16, drain: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: {drain}, flush_timeout: 5s}}
sources:
  syslog:
    type: syslog
    address: 127.0.0.1:{udp}
    health_check: 127.0.0.1:{health}
sinks:
  file:
    type: file
    path: ${{DIR}}/events.jsonl
"
    )
}

#[test]
fn sigterm_drains_then_exits_zero() {
    let (udp, health) = (free_port(), free_port());
    let mut agent = Agent::start(&config(udp, health, "2s"), Stdio::null());
    let events = agent.path("events.jsonl");

    assert!(tcp_accepts(addr(health)), "health port must accept while the source is healthy");
    send_udp(addr(udp), &["<14>before the signal".to_owned()]);
    eventually(Duration::from_secs(5), "first event written", || read_json_lines(&events).len() == 1);

    let signalled = Instant::now();
    agent.signal("TERM");
    eventually(
        Duration::from_millis(500),
        "readiness 503 right after SIGTERM",
        || matches!(http_get(agent.admin, "/health/ready"), Ok((503, body)) if body.contains("draining")),
    );
    // The health port's task sees the drain a moment after the admin API does.
    eventually(Duration::from_millis(500), "health port refuses once draining", || !tcp_accepts(addr(health)));
    assert_eq!(http_get(agent.admin, "/health/live").unwrap().0, 200, "still alive while draining");

    // The load balancer may still send during the drain period: nothing is lost.
    send_udp(addr(udp), &["<11>during the drain".to_owned()]);
    eventually(Duration::from_secs(1), "event received while draining", || read_json_lines(&events).len() == 2);

    let status = agent.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}:\n{}", agent.stderr());
    assert!(signalled.elapsed() >= Duration::from_secs(2), "left before the drain period ended");
    let messages: Vec<String> =
        read_json_lines(&events).iter().map(|e| e["message"].as_str().unwrap().to_owned()).collect();
    assert_eq!(messages, ["before the signal", "during the drain"]);
}

#[test]
fn second_signal_exits_at_once() {
    let (udp, health) = (free_port(), free_port());
    let mut agent = Agent::start(&config(udp, health, "60s"), Stdio::null());
    agent.signal("TERM");
    eventually(Duration::from_secs(2), "draining", || matches!(http_get(agent.admin, "/health/ready"), Ok((503, _))));
    let signalled = Instant::now();
    agent.signal("INT");
    let status = agent.wait_exit(Duration::from_secs(5));
    assert!(signalled.elapsed() < Duration::from_secs(3));
    assert!(!status.success(), "a forced exit must not look like a clean drain");
}

#[test]
fn admin_endpoints_report_components() {
    let (udp, health) = (free_port(), free_port());
    let agent = Agent::start(&config(udp, health, "1s"), Stdio::null());
    send_udp(addr(udp), &["<14>one".to_owned(), "<14>two".to_owned()]);
    eventually(Duration::from_secs(5), "two events sent by the file sink", || {
        agent.metric("nocwatch_component_sent_events_total", &["component_id=\"file\""]) == Some(2.0)
    });
    assert_eq!(agent.metric("nocwatch_component_received_events_total", &["component_id=\"syslog\""]), Some(2.0));
    assert_eq!(agent.metric("nocwatch_build_info", &[env!("CARGO_PKG_VERSION")]), Some(1.0));
    let (code, body) = http_get(agent.admin, "/status").unwrap();
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["readiness"]["status"], "ready");
    let components = status["components"].as_array().unwrap();
    let file = components.iter().find(|c| c["id"] == "file").unwrap();
    assert_eq!(file["kind"], "sink");
    assert_eq!(file["state"], "running");
    assert_eq!(file["sent_events"], 2);
}

#[test]
fn admin_token_protects_metrics_but_not_health() {
    let (udp, health) = (free_port(), free_port());
    let config = config(udp, health, "1s")
        .replace("admin: {address: '${ADMIN}'}", "admin: {address: '${ADMIN}', auth_token_file: ${DIR}/token}");
    let dir = tempfile::tempdir().unwrap();
    // The token file must exist before start: write the config's ${DIR} by hand.
    let config = config.replace("${DIR}/token", dir.path().join("token").to_str().unwrap());
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let agent = Agent::start(&config, Stdio::null());
    assert_eq!(http_get(agent.admin, "/health/ready").unwrap().0, 200);
    assert_eq!(http_get(agent.admin, "/metrics").unwrap().0, 401);
    assert_eq!(http_get_with(agent.admin, "/metrics", &["Authorization: Bearer wrong"]).unwrap().0, 401);
    assert_eq!(http_get_with(agent.admin, "/status", &["Authorization: Bearer t0ken"]).unwrap().0, 200);
}

#[test]
fn a_busy_port_fails_start_up_even_with_shared_receivers() {
    let (udp, health) = (free_port(), free_port());
    let first = Agent::start(
        &config(udp, health, "1s").replace("health_check", "receivers: 2\n    health_check"),
        Stdio::null(),
    );
    let other_health = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("second.yaml");
    let second = config(udp, other_health, "1s")
        .replace("${ADMIN}", &addr(free_port()).to_string())
        .replace("${DIR}", dir.path().to_str().unwrap())
        .replace("health_check", "receivers: 2\n    health_check");
    std::fs::write(&path, second).unwrap();
    let output = std::process::Command::new(BIN).args(["run", "--config"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("cannot listen on udp://127.0.0.1:{udp}")), "{stderr}");
    drop(first);
}

/// Out of file descriptors, a health port's accept fails while the connection stays queued:
/// the failure is counted and logged (rate-limited) instead of spinning, and the port
/// answers again once descriptors are available.
#[test]
fn health_port_survives_running_out_of_file_descriptors() {
    let (udp, health) = (free_port(), free_port());
    let mut agent = Agent::start(&config(udp, health, "0s"), Stdio::null());
    let pid = agent.child.id().to_string();
    let set_nofile = |limit: &str| {
        let status =
            std::process::Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={limit}")]).status().unwrap();
        assert!(status.success(), "prlimit --nofile={limit}");
    };
    let original = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile", "--raw", "--noheadings", "--output=SOFT,HARD"])
        .output()
        .unwrap();
    let original = String::from_utf8(original.stdout).unwrap();
    let original = original.split_whitespace().collect::<Vec<_>>().join(":");

    // The lowest free descriptor number: with the limit there, every new descriptor fails.
    let open: std::collections::BTreeSet<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let lowest_free = (0..).find(|fd| !open.contains(fd)).unwrap();
    set_nofile(&format!("{lowest_free}:{}", original.split(':').nth(1).unwrap()));

    // The kernel completes the handshake from the backlog; nocwatch's accept() fails.
    let _queued = std::net::TcpStream::connect(addr(health)).unwrap();
    eventually(Duration::from_secs(10), "the accept failure logged", || {
        agent.stderr().contains("health-check port: accept failed")
    });

    set_nofile(&original);
    let failures = agent.metric("nocwatch_component_errors_total", &["component_id=\"syslog\"", "health_accept"]);
    assert!(failures.is_some_and(|n| n >= 1.0), "health_accept errors counted: {failures:?}");
    assert!(tcp_accepts(addr(health)), "the health port answers again");
    agent.signal("TERM");
    assert!(agent.wait_exit(Duration::from_secs(10)).success());
}
