//! End to end: the NTP service with real chrony — `chronyd` as the upstream server
//! (local stratum 3 on a loopback port, never touching the clock) and `chronyd -Q` as a
//! device querying nocwatch — in relay mode (what `stone` did) and in server mode.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use nocwatch_ntp::{Leap, Mode, NtpTimestamp, Packet};
use support::*;

/// A chronyd serving time as stratum 3 on 127.0.0.1:`port`.
fn chrony_upstream(port: u16, dir: &std::path::Path) -> Peer {
    let conf = dir.join(format!("chrony-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbindaddress 127.0.0.1\ncmdport 0\nlocal stratum 3\nallow 127.0.0.1\npidfile {}\n",
            dir.join(format!("chrony-{port}.pid")).display()
        ),
    )
    .unwrap();
    let child = Command::new("chronyd")
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chrony is installed");
    // Wait until it answers.
    eventually(Duration::from_secs(10), "chronyd answering", || query(port, 1).is_some());
    Peer(child)
}

/// One NTP client request with transmit timestamp `transmit`; the parsed reply.
fn query(port: u16, transmit: u64) -> Option<Packet> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let (_, request) = nocwatch_ntp::Request::new(transmit, 0);
    socket.send_to(&request, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    Packet::parse(&buf[..len]).ok()
}

/// `chronyd -Q`: a real NTP client measuring against 127.0.0.1:`port`.
fn chrony_client_accepts(port: u16) -> bool {
    let output = Command::new("timeout")
        .args(["8", "chronyd", "-Q", "-u", "root", "-f", "/dev/null"])
        .arg(format!("server 127.0.0.1 port {port} iburst maxsamples 1"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stderr).contains("System clock wrong by")
        || String::from_utf8_lossy(&output.stdout).contains("System clock wrong by")
}

fn config(mode: &str, port: u16, health: u16, upstreams: &str, extra: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  ntp:
    type: ntp
    mode: {mode}
    address: 127.0.0.1:{port}
    health_check: 127.0.0.1:{health}
    upstreams: [{upstreams}]
    timeout: 300ms
{extra}
sinks:
  file: {{type: file, path: '${{DIR}}/events.jsonl'}}
"
    )
}

#[test]
fn relay_returns_each_reply_to_its_own_client_and_fails_over() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, dead, port, health) = (free_port(), free_port(), free_port(), free_port());
    let _chrony = chrony_upstream(upstream, dir.path());
    let upstreams = format!("'127.0.0.1:{dead}', '127.0.0.1:{upstream}'");
    let agent = Agent::start(&config("relay", port, health, &upstreams, ""), Stdio::null());
    assert!(tcp_accepts(addr(health)));

    // The first upstream is dead: after three unanswered requests the relay fails over.
    eventually(Duration::from_secs(10), "a reply via the second upstream", || query(port, 7).is_some());
    let reply = query(port, 7).unwrap();
    assert_eq!((reply.mode, reply.origin, reply.stratum), (Mode::Server, NtpTimestamp(7), 3));

    // Concurrent clients with the SAME transmit timestamp each get exactly their reply.
    let clients: Vec<UdpSocket> = (0..40).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    let (_, request) = nocwatch_ntp::Request::new(0x1234_5678_9ABC_DEF0, 0);
    for client in &clients {
        client.send_to(&request, ("127.0.0.1", port)).unwrap();
    }
    for client in &clients {
        client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 512];
        let (len, _) = client.recv_from(&mut buf).expect("every client gets a reply");
        assert_eq!(Packet::parse(&buf[..len]).unwrap().origin, NtpTimestamp(0x1234_5678_9ABC_DEF0));
        client.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        assert!(client.recv_from(&mut buf).is_err(), "and only one");
    }

    assert!(chrony_client_accepts(port), "a real NTP client synchronises through the relay");
    assert!(agent.metric("nocwatch_component_errors_total", &["reason=\"upstream_timeout\""]).unwrap() >= 3.0);
}

#[test]
fn server_answers_as_stratum_plus_one_and_goes_unsynchronised_without_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, port, health) = (free_port(), free_port(), free_port());
    let chrony = chrony_upstream(upstream, dir.path());
    let agent = Agent::start(
        &config(
            "server",
            port,
            health,
            &format!("'127.0.0.1:{upstream}'"),
            "    poll_interval: 1s\n    max_unsynchronised: 3s\n    metrics_interval: 200ms",
        ),
        Stdio::null(),
    );
    // Readiness waited for the first sample.
    let reply = query(port, 99).unwrap();
    assert_eq!(reply.mode, Mode::Server);
    assert_eq!(reply.leap, Leap::NoWarning);
    assert_eq!(reply.stratum, 4, "chrony's stratum 3, plus one");
    assert_eq!(reply.reference_id, [127, 0, 0, 1], "the upstream's address");
    assert_eq!(reply.origin, NtpTimestamp(99));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
    assert!((reply.transmit.to_unix_nanos() - now).abs() < 1_000_000_000, "serves the right time");
    assert!(chrony_client_accepts(port), "a real NTP client synchronises to nocwatch");
    eventually(Duration::from_secs(5), "ntp metrics", || {
        agent.events().iter().any(|e| e["name"] == "ntp.offset")
            && agent.events().iter().any(|e| e["name"] == "ntp.stratum" && e["value"] == 4.0)
    });

    // The upstream goes away: after max_unsynchronised, devices are told not to trust us,
    // and the load balancer's health check fails.
    drop(chrony);
    eventually(Duration::from_secs(10), "unsynchronised answers", || {
        query(port, 5).is_some_and(|r| r.leap == Leap::Unsynchronised && r.stratum == 16)
    });
    eventually(Duration::from_secs(3), "health port closed", || !tcp_accepts(addr(health)));
    assert_eq!(http_get(agent.admin, "/health/ready").unwrap().0, 503);
    assert!(!chrony_client_accepts(port), "a real client refuses an unsynchronised server");
}

/// Sends `bytes` and reports whether anything came back within 300 ms.
fn answered(port: u16, bytes: &[u8]) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    socket.send_to(bytes, ("127.0.0.1", port)).unwrap();
    socket.recv_from(&mut [0u8; 512]).is_ok()
}

#[test]
fn control_private_and_malformed_packets_get_no_reply_in_either_mode() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = free_port();
    let _chrony = chrony_upstream(upstream, dir.path());
    for mode in ["relay", "server"] {
        let (port, health) = (free_port(), free_port());
        let agent = Agent::start(&config(mode, port, health, &format!("'127.0.0.1:{upstream}'"), ""), Stdio::null());
        assert!(answered(port, &nocwatch_ntp::Request::new(1, 0).1), "{mode}: a client request is answered");
        // Mode 6 (control, `ntpq`) and mode 7 (private, the monlist amplification vector).
        let mut control = [0u8; 48];
        control[0] = (4 << 3) | 6;
        let mut private = [0u8; 48];
        private[0] = (2 << 3) | 7;
        for (what, bytes) in [
            ("mode 6", &control[..]),
            ("mode 7", &private[..]),
            ("short", &[0x23u8; 20][..]),
            ("version 0", &[0x03u8; 48][..]),
        ] {
            assert!(!answered(port, bytes), "{mode}: {what} must get no reply");
        }
        let bad = agent.metric("nocwatch_component_errors_total", &["component_id=\"ntp\"", "reason=\"bad_request\""]);
        assert!(bad.unwrap_or(0.0) >= 4.0, "{mode}: counted: {bad:?}");
    }
}
