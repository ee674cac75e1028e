//! End to end: the NTP service with real chrony — `chronyd` as the upstream server
//! (local stratum 3 on a loopback port, never touching the clock) and `chronyd -Q` as a
//! device querying nocwatch — in relay mode (what `stone` did) and in server mode. On a
//! wildcard address, replies must come from the address asked: IPv4 through 127.0.0.2,
//! IPv6 through a network namespace of the test's (root).
#![allow(clippy::unwrap_used)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use nocwatch_ntp::{Leap, Mode, NtpTimestamp, Packet};
use support::*;

/// A chronyd serving time as stratum 3 on 127.0.0.1:`port`.
fn chrony_upstream(port: u16, dir: &std::path::Path) -> Peer {
    chrony_upstream_with(port, dir, 3, false)
}

/// A chronyd serving its own clock as `stratum` on 127.0.0.1:`port` (and [::1]:`port` with
/// `ipv6`), never touching the system clock.
fn chrony_upstream_with(port: u16, dir: &std::path::Path, stratum: u8, ipv6: bool) -> Peer {
    let conf = dir.join(format!("chrony-{port}.conf"));
    let v6 = if ipv6 { "bindaddress ::1\nallow ::1\n" } else { "" };
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbindaddress 127.0.0.1\n{v6}cmdport 0\nlocal stratum {stratum}\nallow 127.0.0.1\npidfile {}\n",
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
    let (_, request) = nocwatch_ntp::Request::new(transmit, nocwatch_ntp::Moment::default());
    socket.send_to(&request, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    Packet::parse(&buf[..len]).ok()
}

/// `chronyd -Q`: a real NTP client measuring against 127.0.0.1:`port`.
fn chrony_client_accepts(port: u16) -> bool {
    chrony_client_accepts_from(&[], "127.0.0.1", port)
}

/// `chronyd -Q` measuring against `server`:`port`, run as `prefix` + chronyd (e.g. in a
/// network namespace). chronyd takes a reply only from the address it sent to.
fn chrony_client_accepts_from(prefix: &[&str], server: &str, port: u16) -> bool {
    let output = Command::new("timeout")
        .arg("8")
        .args(prefix)
        .args(["chronyd", "-Q", "-u", "root", "-f", "/dev/null"])
        .arg(format!("server {server} port {port} iburst maxsamples 1"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stderr).contains("System clock wrong by")
        || String::from_utf8_lossy(&output.stdout).contains("System clock wrong by")
}

/// The source's config; the rate limit is off unless `extra` sets one (the tests send many
/// requests from 127.0.0.1).
fn config(mode: &str, port: u16, health: u16, upstreams: &str, extra: &str) -> String {
    config_at(mode, &format!("127.0.0.1:{port}"), health, upstreams, extra)
}

/// [`config`] with the source listening on `address`.
fn config_at(mode: &str, address: &str, health: u16, upstreams: &str, extra: &str) -> String {
    let limit = if extra.contains("rate_limit") { "" } else { "    rate_limit: {enabled: false}\n" };
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  ntp:
    type: ntp
    mode: {mode}
    address: '{address}'
    health_check: 127.0.0.1:{health}
    upstreams: [{upstreams}]
    timeout: 300ms
{limit}{extra}
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
    let (_, request) = nocwatch_ntp::Request::new(0x1234_5678_9ABC_DEF0, nocwatch_ntp::Moment::default());
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
        assert!(
            answered(port, &nocwatch_ntp::Request::new(1, nocwatch_ntp::Moment::default()).1),
            "{mode}: a client request is answered"
        );
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

#[test]
fn rate_limit_kisses_in_server_mode_and_drops_in_relay_mode() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = free_port();
    let _chrony = chrony_upstream(upstream, dir.path());
    // 4 at once, then one per 100 s: the bucket does not refill during the test.
    let limit = "    rate_limit: {rate: 0.01, burst: 4}";
    for mode in ["server", "relay"] {
        let (port, health) = (free_port(), free_port());
        let agent = Agent::start(&config(mode, port, health, &format!("'127.0.0.1:{upstream}'"), limit), Stdio::null());
        let replies: Vec<Option<Packet>> = (0..6).map(|i| query(port, 1000 + i)).collect();
        for (i, reply) in replies.iter().take(4).enumerate() {
            let reply = reply.as_ref().unwrap_or_else(|| panic!("{mode}: request {i} is within the burst"));
            assert_eq!((reply.stratum, reply.kiss_code()), (if mode == "server" { 4 } else { 3 }, None), "{mode}");
        }
        if mode == "server" {
            // The first request over the limit gets a Kiss-o'-Death RATE; the next, within the
            // second, nothing (a kiss per client per second at most).
            let kiss = replies[4].as_ref().expect("a kiss-o'-death");
            assert_eq!((kiss.stratum, kiss.kiss_code().as_deref(), kiss.origin), (0, Some("RATE"), NtpTimestamp(1004)));
            assert_eq!(kiss.leap, Leap::Unsynchronised);
            assert!(replies[5].is_none());
            let kod = agent.metric("nocwatch_component_errors_total", &["reason=\"rate_limited_kod\""]);
            assert!(kod.unwrap_or(0.0) >= 1.0, "{kod:?}");
        } else {
            // A relay has no time of its own: a limited request gets no reply.
            assert!(replies[4].is_none() && replies[5].is_none(), "relay: over the limit, no reply");
        }
        let limited = agent.metric("nocwatch_component_errors_total", &["reason=\"rate_limited\""]);
        assert!(limited.unwrap_or(0.0) >= 1.0, "{mode}: {limited:?}");
        // A real client from the same address (127.0.0.1) gets no time now.
        assert!(!chrony_client_accepts(port), "{mode}: a rate-limited client must not synchronise");
    }
}

#[test]
fn relay_health_follows_upstream_reachability_without_any_client() {
    let dir = tempfile::tempdir().unwrap();
    let (dead, upstream, port, health) = (free_port(), free_port(), free_port(), free_port());
    let chrony = chrony_upstream(upstream, dir.path());
    let agent = Agent::start(
        &config(
            "relay",
            port,
            health,
            &format!("'127.0.0.1:{dead}', '127.0.0.1:{upstream}'"),
            "    poll_interval: 500ms\n    metrics_interval: 200ms",
        ),
        Stdio::null(),
    );
    let reachable = |value: f64| {
        move |e: &serde_json::Value| {
            e["name"] == "ntp.upstream.reachable"
                && e["tags"]["upstream"] == format!("127.0.0.1:{upstream}")
                && e["value"] == value
        }
    };
    assert!(tcp_accepts(addr(health)));
    eventually(Duration::from_secs(5), "reachable upstream metric", || agent.events().iter().any(reachable(1.0)));
    // The first upstream never answers the relay's polls: it moves to the second before any
    // device has asked, so the very first request is answered.
    eventually(Duration::from_secs(10), "failover on the polls", || {
        agent.stderr().contains("relaying to another upstream")
    });
    assert_eq!(query(port, 41).expect("the first request is answered").origin, NtpTimestamp(41));

    // The upstream stops; no device sends anything: the relay's own probes notice.
    drop(chrony);
    eventually(Duration::from_secs(10), "health port closed", || !tcp_accepts(addr(health)));
    assert_eq!(http_get(agent.admin, "/health/ready").unwrap().0, 503);
    eventually(Duration::from_secs(5), "unreachable upstream metric", || agent.events().iter().any(reachable(0.0)));
    let timeouts = agent.metric("nocwatch_component_errors_total", &["reason=\"upstream_timeout\""]);
    assert!(timeouts.unwrap_or(0.0) >= 3.0, "probe timeouts counted: {timeouts:?}");

    // It comes back on the same port: healthy again.
    let _chrony = chrony_upstream(upstream, dir.path());
    eventually(Duration::from_secs(10), "health port open again", || tcp_accepts(addr(health)));
    assert_eq!(http_get(agent.admin, "/health/ready").unwrap().0, 200);
    assert!(chrony_client_accepts(port), "and relays again");

    // The receiving threads stop at shutdown: the process exits, cleanly.
    let mut agent = agent;
    agent.signal("TERM");
    assert!(agent.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn a_stratum_15_upstream_makes_the_server_unsynchronised_not_stratum_15() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, port, health) = (free_port(), free_port(), free_port());
    let _chrony = chrony_upstream_with(upstream, dir.path(), 15, false);
    assert_eq!(query(upstream, 3).unwrap().stratum, 15, "chronyd serves stratum 15");
    let agent = Agent::start_live(
        &config("server", port, health, &format!("'127.0.0.1:{upstream}'"), "    metrics_interval: 200ms"),
        Stdio::null(),
        &[],
    );
    // The upstream answers (it is reachable), but one stratum more is 16: unsynchronised.
    eventually(Duration::from_secs(5), "the upstream reached", || {
        agent.events().iter().any(|e| e["name"] == "ntp.upstream.reachable" && e["value"] == 1.0)
    });
    let reply = query(port, 8).unwrap();
    assert_eq!((reply.leap, reply.stratum), (Leap::Unsynchronised, 16));
    assert!(!tcp_accepts(addr(health)));
    assert!(!chrony_client_accepts(port), "a real client refuses it");
}

#[test]
fn ipv4_and_ipv6_upstreams_each_get_a_socket_of_their_family() {
    let dir = tempfile::tempdir().unwrap();
    let (v4_upstream, v6_upstream) = (free_port(), free_port());
    let _chrony4 = chrony_upstream_with(v4_upstream, dir.path(), 3, false);
    let _chrony6 = chrony_upstream_with(v6_upstream, dir.path(), 5, true);
    let upstreams = format!("'[::1]:{v6_upstream}', '127.0.0.1:{v4_upstream}'");
    for mode in ["server", "relay"] {
        let (port, health) = (free_port(), free_port());
        let agent = Agent::start(&config(mode, port, health, &upstreams, "    metrics_interval: 200ms"), Stdio::null());
        for upstream in [format!("[::1]:{v6_upstream}"), format!("127.0.0.1:{v4_upstream}")] {
            eventually(Duration::from_secs(5), &format!("{mode}: {upstream} reachable"), || {
                agent.events().iter().any(|e| {
                    e["name"] == "ntp.upstream.reachable" && e["tags"]["upstream"] == upstream && e["value"] == 1.0
                })
            });
        }
        // The first upstream (IPv6, stratum 5) is the preferred one. Server mode announces
        // it by the first 4 bytes of the MD5 of its address (RFC 5905 7.3), here computed by
        // Python: hashlib.md5(ipaddress.IPv6Address("::1").packed).hexdigest()[:8].
        let reply = query(port, 77).unwrap();
        let expected = if mode == "server" { (6, [0xcf, 0x40, 0x4d, 0xc8]) } else { (5, reply.reference_id) };
        assert_eq!((reply.stratum, reply.reference_id), expected, "{mode}");
        assert!(chrony_client_accepts(port), "{mode}");
    }
}

/// One NTP request from `client` (an address to bind) on a socket connected to `server`, so
/// the kernel drops a reply from any other address, as ntpd and chronyd do: the reply's
/// origin timestamp and the address it came from.
fn query_connected(client: &str, server: SocketAddr, transmit: u64) -> Option<(NtpTimestamp, SocketAddr)> {
    let socket = UdpSocket::bind(client).unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let (_, request) = nocwatch_ntp::Request::new(transmit, nocwatch_ntp::Moment::default());
    socket.send(&request).unwrap();
    let mut buf = [0u8; 512];
    let (len, from) = socket.recv_from(&mut buf).ok()?;
    Some((Packet::parse(&buf[..len]).ok()?.origin, from))
}

/// Listening on a wildcard address (IPv4 `0.0.0.0` and dual-stack `[::]`), both modes
/// answer a request sent to 127.0.0.2 from 127.0.0.2, not from 127.0.0.1 that routing picks
/// for a reply to 127.0.0.1 (any 127/8 address is local on Linux's `lo`): a connected client
/// and a real chronyd take the reply.
#[test]
fn on_a_wildcard_address_replies_come_from_the_address_the_request_was_sent_to() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = free_port();
    let _chrony = chrony_upstream(upstream, dir.path());
    for mode in ["server", "relay"] {
        for wildcard in ["0.0.0.0", "[::]"] {
            let (port, health) = (free_port(), free_port());
            let _agent = Agent::start(
                &config_at(mode, &format!("{wildcard}:{port}"), health, &format!("'127.0.0.1:{upstream}'"), ""),
                Stdio::null(),
            );
            for destination in ["127.0.0.2", "127.0.0.1"] {
                let server: SocketAddr = format!("{destination}:{port}").parse().unwrap();
                let reply = query_connected("127.0.0.1:0", server, 4242);
                assert_eq!(reply, Some((NtpTimestamp(4242), server)), "{mode} on {wildcard}, sent to {destination}");
            }
            assert!(
                chrony_client_accepts_from(&[], "127.0.0.2", port),
                "{mode} on {wildcard}: chronyd takes time from 127.0.0.2"
            );
        }
    }
}

/// A network namespace joined to this one by a veth pair. This side has `<prefix>:1::1/64`
/// and a second address, `<prefix>:2::3`; the namespace has `<prefix>:1::2/64` and reaches
/// `<prefix>:2::/64` through this side. Routing answers the namespace from `<prefix>:1::1`
/// (the longest matching prefix). Needs root (CI runs as root); removed on drop.
struct Ipv6Neighbour {
    name: String,
    link: String,
}

impl Ipv6Neighbour {
    fn new(prefix: &str, tag: u32) -> Ipv6Neighbour {
        let (name, link) = (format!("nwntp{tag}"), format!("nwn{tag}"));
        let run = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().expect("iproute2 is installed");
            assert!(status.success(), "ip {args:?}");
        };
        run(&["netns", "add", &name]);
        let neighbour = Ipv6Neighbour { name: name.clone(), link: link.clone() };
        run(&["link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &name]);
        run(&["-6", "addr", "add", &format!("{prefix}:1::1/64"), "dev", &link, "nodad"]);
        run(&["-6", "addr", "add", &format!("{prefix}:2::3/128"), "dev", &link, "nodad"]);
        run(&["link", "set", &link, "up"]);
        let inside = |args: &[&str]| run(&[&["netns", "exec", &name, "ip"], args].concat());
        inside(&["-6", "addr", "add", &format!("{prefix}:1::2/64"), "dev", "eth0", "nodad"]);
        inside(&["link", "set", "eth0", "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["-6", "route", "add", &format!("{prefix}:2::/64"), "via", &format!("{prefix}:1::1")]);
        neighbour
    }

    /// A command prefix that runs a program in the namespace.
    fn exec(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.name]
    }
}

impl Drop for Ipv6Neighbour {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.link]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// IPv6 on `[::]`: a client in another network namespace asks this host's second address,
/// not the one routing answers it from; the reply comes from the address it asked
/// (Python's socket, connected, shows it) and a real chronyd there synchronises.
#[test]
fn on_a_wildcard_ipv6_address_replies_come_from_the_address_the_request_was_sent_to() {
    let dir = tempfile::tempdir().unwrap();
    let tag = std::process::id() % 200;
    let prefix = format!("fd00:6e77:{tag:x}");
    let neighbour = Ipv6Neighbour::new(&prefix, tag);
    let upstream = free_port();
    let _chrony = chrony_upstream(upstream, dir.path());
    let (client, asked) = (format!("{prefix}:1::2"), format!("{prefix}:2::3"));
    for mode in ["server", "relay"] {
        let (port, health) = (free_port(), free_port());
        let _agent = Agent::start(
            &config_at(mode, &format!("[::]:{port}"), health, &format!("'127.0.0.1:{upstream}'"), ""),
            Stdio::null(),
        );
        // A connected socket: the kernel drops a reply from any other address.
        let script = "import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.connect((sys.argv[2], int(sys.argv[3])))
s.settimeout(1)
s.send(bytes([0x23]) + bytes(47))
reply, sender = s.recvfrom(512)
print(sender[0], reply[0] & 7)";
        let mut answer = String::new();
        // The first packets may wait for neighbour discovery.
        eventually(Duration::from_secs(10), &format!("{mode}: a reply in the namespace"), || {
            let output = Command::new(neighbour.exec()[0])
                .args(&neighbour.exec()[1..])
                .args(["python3", "-c", script, &client, &asked, &port.to_string()])
                .output()
                .unwrap();
            answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            output.status.success()
        });
        assert_eq!(answer, format!("{asked} 4"), "{mode}: a server-mode reply from the address asked");
        assert!(chrony_client_accepts_from(&neighbour.exec(), &asked, port), "{mode}: chronyd takes time from {asked}");
    }
}
