//! End to end: reliable log delivery. Forwarding to a real rsyslog; the seed's Datadog
//! TCP/TLS line format; and the faults of issue 4, each counted by unique sequence
//! numbers: (a) a server that cuts idle connections, (b) a server down for 30 s during a
//! steady flow, (c) `kill -9` of nocwatch while the destination is down, (d) a full disk
//! buffer, dropping exactly or blocking with bounded memory.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::intake::{API_KEY, Intake};
use support::pki::Pki;
use support::receiver::LineReceiver;
use support::*;

fn seq_lines(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("<14>Nov 25 08:00:00 edge-fw app: seq {i:06}")).collect()
}

/// Sequence numbers found in `lines`, in arrival order.
fn seqs<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    lines.into_iter().filter_map(|l| l.rsplit("seq ").next()?.get(..6)?.parse().ok()).collect()
}

fn syslog_forward(udp: u16, receiver: u16, extra: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s, flush_timeout: 5s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  forward:
    type: syslog
    mode: tcp
    framing: newline
    address: 127.0.0.1:{receiver}
    batch: {{timeout: 50ms}}
    retry: {{initial_backoff: 100ms, max_backoff: 1s}}
{extra}
"
    )
}

#[test]
fn forwards_to_a_real_rsyslog_over_tcp_and_udp() {
    let (rs_tcp, rs_udp, udp) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.log");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{rs_tcp}")
input(type="imudp" address="127.0.0.1" port="{rs_udp}")
template(name="fields" type="string" string="%inputname%|%hostname%|%app-name%|%syslogseverity-text%|%msg%\n")
action(type="omfile" file="{out}" template="fields")
"#,
            work = dir.path().display(),
            out = out.display()
        ),
    )
    .unwrap();
    let _rsyslog = Peer(
        Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  tcp: {{type: syslog, address: '127.0.0.1:{rs_tcp}', batch: {{timeout: 50ms}}, retry: {{initial_backoff: 100ms}}}}
  udp: {{type: syslog, mode: udp, format: rfc3164, address: '127.0.0.1:{rs_udp}', batch: {{timeout: 50ms}}}}
"
    );
    let agent = Agent::start(&config, Stdio::null());
    // rsyslog opens its inputs asynchronously; the TCP sink retries until it can connect.
    eventually(Duration::from_secs(10), "rsyslog listening", || tcp_accepts(addr(rs_tcp)));
    std::thread::sleep(Duration::from_millis(300));
    send_udp(addr(udp), &seq_lines(0..50));
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    eventually(Duration::from_secs(10), "50 lines over each transport", || read().lines().count() == 100);
    let text = read();
    for input in ["imtcp", "imudp"] {
        let got: Vec<&str> = text.lines().filter(|l| l.starts_with(input)).collect();
        assert_eq!(seqs(got.iter().copied()), (0..50).collect::<Vec<_>>(), "{input}: {text}");
        assert!(got.iter().all(|l| l.contains("|edge-fw|app|info|")), "{input}: {text}");
    }
    drop(agent);
}

/// A TLS server that records lines, standing in for Datadog's TCP intake.
fn tls_line_server(pki: &Pki) -> (u16, Arc<Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    let certs =
        rustls::pki_types::CertificateDer::pem_file_iter(pki.path("server.pem")).unwrap().map(|c| c.unwrap()).collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let recorded = lines.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            use tokio::io::AsyncBufReadExt;
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let Ok(tls) = acceptor.accept(tcp).await else { continue };
                let mut reader = tokio::io::BufReader::new(tls).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    recorded.lock().unwrap().push(line);
                }
            }
        });
    });
    (port, lines)
}

#[test]
fn datadog_tcp_transport_writes_the_seeds_line_format_over_tls() {
    let pki = Pki::new();
    let (port, lines) = tls_line_server(&pki);
    let udp = free_port();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  datadog:
    type: datadog_logs
    transport: tcp
    api_key: ${{DD_API_KEY}}
    endpoint: 127.0.0.1:{port}
    tags: [env:prd]
    tls: {{ca_file: {ca}}}
    batch: {{timeout: 50ms}}
",
        ca = pki.path("ca.pem")
    );
    let _agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    send_udp(addr(udp), &["<189>29: core-sw1: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured".to_owned()]);
    eventually(Duration::from_secs(10), "a line at the TLS intake", || !lines.lock().unwrap().is_empty());
    let line = lines.lock().unwrap()[0].clone();
    let (key, rest) = line.split_once(' ').unwrap();
    assert_eq!(key, API_KEY);
    // <%pri%>1 %timestamp% %HOSTNAME% %app-name% - - [metas ddsource ddtags] %msg%
    let parts: Vec<&str> = rest.splitn(7, ' ').collect();
    assert_eq!(parts[0], "<189>1");
    assert!(parts[1].parse::<jiff::Timestamp>().is_ok(), "{line}");
    assert_eq!(parts[2], "core-sw1");
    assert!(rest.contains(r#"[metas ddsource="syslog" ddtags="env:prd"]"#), "{line}");
    assert!(rest.ends_with("Configured"), "{line}");
}

#[test]
fn a_server_that_cuts_idle_connections_loses_nothing() {
    let (udp, port) = (free_port(), free_port());
    let receiver = LineReceiver::start(addr(port), Some(Duration::from_secs(2)));
    let agent = Agent::start(&syslog_forward(udp, port, ""), Stdio::null());
    // Trickle: every line arrives after the server cut the previous connection.
    for i in 0..4 {
        send_udp(addr(udp), &seq_lines(i..i + 1));
        std::thread::sleep(Duration::from_secs(3));
    }
    send_udp(addr(udp), &seq_lines(4..504));
    eventually(Duration::from_secs(15), "all 504 lines", || receiver.lines().len() >= 504);
    let got: BTreeSet<usize> = seqs(receiver.lines().iter().map(String::as_str)).into_iter().collect();
    assert_eq!(got, (0..504).collect::<BTreeSet<_>>());
    assert_eq!(agent.metric("nocwatch_component_sent_events_total", &["component_id=\"forward\""]), Some(504.0));
}

#[test]
fn a_server_down_for_30_seconds_loses_nothing_and_keeps_order() {
    let (udp, port) = (free_port(), free_port());
    let mut receiver = LineReceiver::start(addr(port), None);
    let _agent = Agent::start(&syslog_forward(udp, port, ""), Stdio::null());
    let (total, per_second) = (1000, 25);
    let started = Instant::now();
    let mut down_at = None;
    for i in 0..total {
        send_udp(addr(udp), &seq_lines(i..i + 1));
        std::thread::sleep(Duration::from_millis(1000 / per_second));
        if i == 100 {
            receiver.stop();
            down_at = Some(Instant::now());
        }
        if down_at.is_some_and(|at| at.elapsed() >= Duration::from_secs(30)) {
            receiver.resume();
            down_at = None;
        }
    }
    assert!(started.elapsed() >= Duration::from_secs(35));
    eventually(Duration::from_secs(30), "every line after the outage", || {
        seqs(receiver.lines().iter().map(String::as_str)).into_iter().collect::<BTreeSet<_>>().len() == total
    });
    let got = seqs(receiver.lines().iter().map(String::as_str));
    let mut deduplicated = got.clone();
    deduplicated.dedup();
    assert_eq!(deduplicated, (0..total).collect::<Vec<_>>(), "in order, none missing");
}

fn disk_config(udp: u16, intake: &Intake, data_dir: &str, buffer: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
agent: {{data_dir: '{data_dir}'}}
shutdown: {{drain_period: 0s, flush_timeout: 2s}}
sources:
  syslog: {{type: syslog, address: '127.0.0.1:{udp}'}}
sinks:
  datadog:
    type: datadog_logs
    api_key: ${{DD_API_KEY}}
    endpoint: {}
    buffer: {buffer}
    batch: {{max_events: 200, timeout: 50ms}}
    retry: {{initial_backoff: 50ms, max_backoff: 200ms}}
",
        intake.url()
    )
}

/// Sends lines `0..total` in bursts and waits until the `datadog` sink's disk buffer holds
/// them all ("accepted" = on disk: the sink counts an event received once its batch is
/// fsynced).
fn send_until_on_disk(agent: &Agent, udp: u16, total: usize) {
    for chunk in (0..total).step_by(100) {
        send_udp(addr(udp), &seq_lines(chunk..chunk + 100));
        std::thread::sleep(Duration::from_millis(5));
    }
    eventually(Duration::from_secs(10), "every line on disk", || {
        agent.metric("nocwatch_component_received_events_total", &["component_id=\"datadog\""]) == Some(total as f64)
    });
}

#[test]
fn kill_9_while_the_destination_is_down_loses_nothing() {
    let intake = Intake::start();
    intake.with(|s| s.down = Some(503));
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let udp = free_port();
    let config = disk_config(udp, &intake, data_dir, "{type: disk, max_size: 64MiB}");
    let mut agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    let total = 2000;
    send_until_on_disk(&agent, udp, total);
    agent.signal("KILL");
    agent.wait_exit(Duration::from_secs(5));

    intake.with(|s| s.down = None);
    let agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    eventually(Duration::from_secs(20), "every line delivered after the restart", || {
        seqs(intake.logs().iter().filter_map(|l| l["message"].as_str())).into_iter().collect::<BTreeSet<_>>().len()
            == total
    });
    let delivered = intake.logs().len();
    let replayed = agent.metric("nocwatch_component_replayed_events_total", &["component_id=\"datadog\""]).unwrap();
    assert_eq!(replayed, total as f64, "the restart found every undelivered event on disk");
    assert!(delivered >= total, "duplicates are allowed, losses are not");
    assert_eq!(intake.violations(), Vec::<String>::new());
}

/// Several requests in flight, one of them never answered: the disk buffer must not move
/// past it, even though later requests were accepted. After `kill -9` and a restart,
/// exactly the suffix from the held request on is sent again (the later, accepted
/// requests' events as counted duplicates), and every line arrives.
#[test]
fn acknowledgement_is_ordered_so_a_crash_replays_exactly_the_unacknowledged_suffix() {
    let intake = Intake::start();
    intake.with(|s| s.hold_containing = Some("seq 000500".to_owned()));
    let data = tempfile::tempdir().unwrap();
    let udp = free_port();
    let mut config = disk_config(udp, &intake, data.path().to_str().unwrap(), "{type: disk, max_size: 64MiB}");
    config.push_str("    request: {concurrency: 4}\n");
    let mut agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    let total = 2000;
    send_until_on_disk(&agent, udp, total);
    // Wait until the sink is stuck behind the held request with its other requests answered.
    let sent = || agent.metric("nocwatch_component_sent_events_total", &["component_id=\"datadog\""]);
    eventually(Duration::from_secs(10), "the held request and the others answered", || {
        intake.with(|s| s.held.len() == 1 && s.active == 1) && sent() == Some(intake.logs().len() as f64)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sent(), Some(intake.logs().len() as f64), "nothing moves while the request is held");
    let held: Vec<usize> = intake.with(|s| seqs(s.held[0].iter().filter_map(|l| l["message"].as_str())));
    let first_held = *held.iter().min().unwrap();
    let before_kill: Vec<usize> = seqs(intake.logs().iter().filter_map(|l| l["message"].as_str()));
    assert_eq!(
        before_kill.iter().filter(|&&n| n < first_held).count(),
        first_held,
        "everything before the held request was delivered"
    );
    let overtaking = before_kill.iter().filter(|&&n| n > first_held).count();
    assert!(overtaking > 0, "requests after the held one were in flight and accepted");
    agent.signal("KILL");
    agent.wait_exit(Duration::from_secs(5));

    intake.with(|s| s.hold_containing = None);
    let agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    let replayed = agent.metric("nocwatch_component_replayed_events_total", &["component_id=\"datadog\""]).unwrap();
    assert_eq!(replayed, (total - first_held) as f64, "replayed: exactly the suffix from the held request on");
    eventually(Duration::from_secs(20), "every line delivered after the restart", || {
        seqs(intake.logs().iter().filter_map(|l| l["message"].as_str())).into_iter().collect::<BTreeSet<_>>().len()
            == total
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(intake.logs().len(), total + overtaking, "the accepted requests after the held one, sent twice");
    assert_eq!(intake.violations(), Vec::<String>::new());
}

#[test]
fn a_full_disk_buffer_drops_exactly_or_blocks_with_bounded_memory() {
    let intake = Intake::start();
    intake.with(|s| s.down = Some(503));
    let data = tempfile::tempdir().unwrap();
    let udp = free_port();
    let config = disk_config(
        udp,
        &intake,
        data.path().to_str().unwrap(),
        "{type: disk, max_size: 256KiB, when_full: drop_newest}",
    );
    let agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    let total = 3000;
    for chunk in (0..total).step_by(50) {
        send_udp(addr(udp), &seq_lines(chunk..chunk + 50));
        std::thread::sleep(Duration::from_millis(3));
    }
    let counted = || {
        let kept =
            agent.metric("nocwatch_component_received_events_total", &["component_id=\"datadog\""]).unwrap_or(0.0);
        let dropped = agent
            .metric("nocwatch_component_dropped_events_total", &["component_id=\"datadog\"", "reason=\"queue_full\""])
            .unwrap_or(0.0);
        (kept, dropped)
    };
    eventually(Duration::from_secs(10), "every event kept or counted", || {
        let (kept, dropped) = counted();
        kept + dropped == total as f64
    });
    let (kept, dropped) = counted();
    assert!(dropped > 0.0 && kept > 0.0, "kept {kept}, dropped {dropped}");
    // The intake comes back: exactly the kept events arrive.
    intake.with(|s| s.down = None);
    eventually(Duration::from_secs(20), "the kept events delivered", || intake.logs().len() as f64 >= kept);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(intake.logs().len() as f64, kept);
    drop(agent);

    // With `block`, a flood against a dead destination holds memory, not grows it.
    let data = tempfile::tempdir().unwrap();
    let udp = free_port();
    intake.with(|s| s.down = Some(503));
    let config =
        disk_config(udp, &intake, data.path().to_str().unwrap(), "{type: disk, max_size: 256KiB, when_full: block}");
    let agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", API_KEY)]);
    let rss = |agent: &Agent| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", agent.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    let mut peak = 0;
    for round in 0..10 {
        for chunk in (0..5000).step_by(100) {
            send_udp(addr(udp), &seq_lines(round * 5000 + chunk..round * 5000 + chunk + 100));
        }
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss(&agent));
    }
    assert!(peak < 64 * 1024 * 1024, "RSS peaked at {peak} bytes while blocked");
    let dropped =
        agent.metric("nocwatch_component_dropped_events_total", &["component_id=\"datadog\"", "reason=\"queue_full\""]);
    assert_eq!(dropped.unwrap_or(0.0), 0.0, "block never drops in the sink");
    let buffered = agent.metric("nocwatch_buffer_bytes", &["component_id=\"datadog\""]).unwrap();
    assert!(buffered <= (256 * 1024 + 64 * 1024) as f64, "the buffer stays near its bound: {buffered}");
}

#[test]
fn a_message_too_large_for_udp_is_refused_not_retried_forever() {
    let (tcp, receiver) = (free_port(), std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    receiver.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  syslog: {{type: syslog, mode: tcp, address: '127.0.0.1:{tcp}', max_message_size: 128KiB}}
sinks:
  forward: {{type: syslog, mode: udp, address: '{}', batch: {{timeout: 10ms}}}}
",
        receiver.local_addr().unwrap()
    );
    let agent = Agent::start(&config, Stdio::null());
    let mut stream = std::net::TcpStream::connect(addr(tcp)).unwrap();
    use std::io::Write;
    stream.write_all(format!("<14>Nov 25 08:00:00 fw app: {}\n", "x".repeat(70_000)).as_bytes()).unwrap();
    stream.write_all(b"<14>Nov 25 08:00:01 fw app: small one\n").unwrap();
    let mut buf = vec![0u8; 65_536];
    let (len, _) = receiver.recv_from(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..len]).ends_with("small one"), "the sink moved on");
    eventually(Duration::from_secs(5), "the oversized message counted", || {
        agent.metric("nocwatch_component_dropped_events_total", &["component_id=\"forward\"", "reason=\"write_error\""])
            == Some(1.0)
    });
}
