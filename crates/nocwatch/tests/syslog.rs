//! End to end: the syslog source over real sockets, fed by real clients — `logger`
//! (util-linux), `rsyslogd` forwarding with octet-counting, `openssl s_client` over TLS —
//! and by the recorded vendor samples.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::pki::Pki;
use support::*;

fn config(sources: &str) -> String {
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
{sources}
sinks:
  file: {{type: file, path: '${{DIR}}/events.jsonl'}}
"
    )
}

fn logger(args: &[&str]) {
    let status = Command::new("logger").args(args).status().expect("logger (util-linux/bsdutils) is installed");
    assert!(status.success(), "logger {args:?}");
}

fn find<'a>(events: &'a [serde_json::Value], message: &str) -> &'a serde_json::Value {
    events.iter().find(|e| e["message"] == message).unwrap_or_else(|| panic!("no event `{message}` in {events:#?}"))
}

#[test]
fn logger_over_udp_and_tcp_with_both_framings() {
    let (udp, tcp) = (free_port(), free_port());
    let agent = Agent::start(
        &config(&format!(
            "  udp: {{type: syslog, address: '127.0.0.1:{udp}'}}\n  tcp: {{type: syslog, mode: tcp, address: '127.0.0.1:{tcp}'}}"
        )),
        Stdio::null(),
    );
    let (udp, tcp) = (udp.to_string(), tcp.to_string());
    logger(&[
        "-d",
        "-n",
        "127.0.0.1",
        "-P",
        &udp,
        "--rfc5424",
        "-t",
        "app1",
        "-p",
        "local3.warning",
        "--msgid",
        "ID7",
        "--sd-id",
        "zoo@123",
        "--sd-param",
        "tiger=\"hungry\"",
        "udp 5424",
    ]);
    logger(&["-d", "-n", "127.0.0.1", "-P", &udp, "--rfc3164", "-t", "app2", "-p", "user.err", "udp 3164"]);
    logger(&["-T", "-n", "127.0.0.1", "-P", &tcp, "--octet-count", "--rfc5424", "-t", "app3", "tcp octet counted"]);
    logger(&["-T", "-n", "127.0.0.1", "-P", &tcp, "--rfc3164", "-t", "app4", "tcp newline framed"]);
    let events = agent.wait_events(4);

    let e = find(&events, "udp 5424");
    assert_eq!(e["service"], "app1");
    assert_eq!(e["status"], "warn");
    assert_eq!(e["attributes"]["syslog"]["facility"], "local3");
    assert_eq!(e["attributes"]["syslog"]["msgid"], "ID7");
    assert_eq!(e["attributes"]["syslog"]["protocol"], "rfc5424");
    assert_eq!(e["attributes"]["structured_data"]["zoo@123"]["tiger"], "hungry");
    let e = find(&events, "udp 3164");
    assert_eq!((&e["service"], &e["status"]), (&"app2".into(), &"error".into()));
    assert_eq!(e["attributes"]["syslog"]["protocol"], "rfc3164");
    assert_eq!(find(&events, "tcp octet counted")["service"], "app3");
    assert_eq!(find(&events, "tcp newline framed")["service"], "app4");
    for e in &events {
        assert_eq!(e["attributes"]["peer"]["ip"], "127.0.0.1");
        assert!(e["attributes"].get("parse_error").is_none(), "{e}");
    }
}

#[test]
fn rsyslog_forwards_over_tcp_with_octet_counting() {
    let (nocwatch_tcp, rsyslog_udp) = (free_port(), free_port());
    let agent = Agent::start(
        &config(&format!("  tcp: {{type: syslog, mode: tcp, address: '127.0.0.1:{nocwatch_tcp}'}}")),
        Stdio::null(),
    );
    let work = agent.path("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{rsyslog_udp}")
action(type="omfwd" target="127.0.0.1" port="{nocwatch_tcp}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
"#,
            work = work.display()
        ),
    )
    .unwrap();
    let _rsyslog = Peer(
        Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd is installed"),
    );
    // rsyslog needs a moment to open its input; resend until the first line arrives.
    let total = 200;
    eventually(Duration::from_secs(10), "rsyslog forwarding", || {
        send_udp(addr(rsyslog_udp), &["<13>Nov 25 08:00:00 probe probe: probe".to_owned()]);
        std::thread::sleep(Duration::from_millis(100));
        !agent.events().is_empty()
    });
    for i in 0..total {
        send_udp(addr(rsyslog_udp), &[format!("<189>Nov 25 08:00:00 core-sw1 sw: seq {i:04}")]);
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    eventually(Duration::from_secs(10), "every forwarded line", || {
        agent
            .events()
            .iter()
            .filter(|e| e["message"].as_str().is_some_and(|m| m.trim_start().starts_with("seq ")))
            .count()
            == total
    });
    let seqs: Vec<String> = agent
        .events()
        .iter()
        // rsyslog keeps the space after the 3164 tag as the first character of MSG.
        .filter_map(|e| e["message"].as_str().map(str::trim_start).filter(|m| m.starts_with("seq ")).map(str::to_owned))
        .collect();
    let expected: Vec<String> = (0..total).map(|i| format!("seq {i:04}")).collect();
    assert_eq!(seqs, expected, "in order, each once");
    let e = find(&agent.events(), " seq 0000").clone();
    assert_eq!(e["host"], "core-sw1");
    assert_eq!(e["service"], "sw");
    assert_eq!(e["attributes"]["syslog"]["protocol"], "rfc5424", "rsyslog re-framed it as RFC 5424");
}

/// Every recorded Cisco IOS and Juniper line, sent over UDP, arrives with its vendor
/// fields; lines are matched back by a unique token in the message text.
#[test]
fn vendor_samples_arrive_with_their_fields() {
    let udp = free_port();
    let agent = Agent::start(&config(&format!("  udp: {{type: syslog, address: '127.0.0.1:{udp}'}}")), Stdio::null());
    let mut lines = Vec::new();
    for file in ["collected/cisco_ios.txt", "collected/juniper_junos.txt"] {
        let text = std::fs::read_to_string(testdata(&format!("syslog/{file}"))).unwrap();
        lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
    }
    for dir in ["elastic-integrations/cisco_ios", "elastic-integrations/juniper_srx"] {
        for entry in std::fs::read_dir(testdata(&format!("syslog/{dir}"))).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
        }
    }
    assert!(lines.len() > 50, "samples found: {}", lines.len());
    // One socket, like one device: the kernel keeps one flow on one receiver, in order.
    let device = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for chunk in lines.chunks(20) {
        for line in chunk {
            device.send_to(line.as_bytes(), addr(udp)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let events = agent.wait_events(lines.len());
    assert_eq!(events.len(), lines.len());

    let mut cisco = 0;
    let mut junos_sd = 0;
    for (line, event) in lines.iter().zip(&events) {
        let attributes = &event["attributes"];
        if let Some(tag) =
            line.split('%').nth(1).filter(|t| t.split(':').next().is_some_and(|t| t.matches('-').count() >= 2))
        {
            let tag = tag.split(':').next().unwrap();
            let mnemonic = tag.rsplit('-').next().unwrap().trim();
            assert_eq!(attributes["cisco"]["mnemonic"], mnemonic, "line: {line}\nevent: {event}");
            cisco += 1;
        }
        if line.contains("[junos@2636") {
            let sd = attributes["structured_data"].as_object().unwrap_or_else(|| panic!("no SD: {line}\n{event}"));
            let params = sd.values().next().unwrap().as_object().unwrap();
            let expected = line.matches("=\"").count();
            assert!(params.len() >= expected.min(1), "line: {line}\nevent: {event}");
            junos_sd += 1;
        }
        let has_text = event["message"].as_str().is_some_and(|m| !m.is_empty());
        assert!(has_text || attributes.get("structured_data").is_some(), "nothing kept of: {line}\n{event}");
    }
    assert!(cisco >= 20, "cisco lines with a %FAC-SEV-MNEMONIC tag: {cisco}");
    assert!(junos_sd >= 5, "junos structured lines: {junos_sd}");
}

#[test]
fn oversized_frames_are_truncated_flagged_and_the_stream_resyncs() {
    let tcp = free_port();
    let agent = Agent::start(
        &config(&format!("  tcp: {{type: syslog, mode: tcp, address: '127.0.0.1:{tcp}', max_message_size: 1KiB}}")),
        Stdio::null(),
    );
    let mut stream = TcpStream::connect(addr(tcp)).unwrap();
    let big = format!("<14>Nov 25 08:00:00 host app: {}\n", "y".repeat(5000));
    stream.write_all(big.as_bytes()).unwrap();
    stream.write_all(b"<14>Nov 25 08:00:01 host app: after the big one\n").unwrap();
    let counted = "<14>Nov 25 08:00:02 host app: octet counted";
    stream.write_all(format!("{} {counted}", counted.len()).as_bytes()).unwrap();
    drop(stream);
    let events = agent.wait_events(3);
    assert_eq!(events[0]["attributes"]["truncated"], true);
    assert!(events[0]["message"].as_str().unwrap().len() < 1024);
    assert_eq!(events[1]["message"], "after the big one");
    assert!(events[1]["attributes"].get("truncated").is_none());
    assert_eq!(events[2]["message"], "octet counted");
    assert_eq!(agent.metric("nocwatch_component_errors_total", &["reason=\"truncated\""]), Some(1.0));
}

#[test]
fn connections_over_the_limit_are_closed_and_counted() {
    let tcp = free_port();
    let agent = Agent::start(
        &config(&format!("  tcp: {{type: syslog, mode: tcp, address: '127.0.0.1:{tcp}', max_connections: 2}}")),
        Stdio::null(),
    );
    let _a = TcpStream::connect(addr(tcp)).unwrap();
    let _b = TcpStream::connect(addr(tcp)).unwrap();
    eventually(Duration::from_secs(5), "third connection refused", || {
        let mut c = TcpStream::connect(addr(tcp)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut byte = [0u8; 1];
        matches!(c.read(&mut byte), Ok(0))
    });
    assert!(agent.metric("nocwatch_component_errors_total", &["reason=\"connection_limit\""]).unwrap() >= 1.0);
}

#[test]
fn tls_with_client_certificate_verification() {
    let pki = Pki::new();
    let port = free_port();
    let agent = Agent::start(
        &config(&format!(
            "  tls:
    type: syslog
    mode: tls
    address: '127.0.0.1:{port}'
    tls:
      cert_file: {}
      key_file: {}
      client_ca_file: {}",
            pki.path("server.pem"),
            pki.path("server.key"),
            pki.path("ca.pem")
        )),
        Stdio::null(),
    );
    let sent =
        pki.send(port, "client", "<165>1 2026-11-25T08:00:00.000Z fw01 RT_FLOW - RT_FLOW_SESSION_CREATE - over tls\n");
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let events = agent.wait_events(1);
    assert_eq!(events[0]["message"], "over tls");
    assert_eq!(events[0]["host"], "fw01");

    // A certificate the server does not trust: the handshake fails and nothing is received.
    pki.send(port, "rogue", "<165>1 2026-11-25T08:00:01.000Z fw01 RT_FLOW - - - from a rogue\n");
    eventually(Duration::from_secs(5), "the rogue handshake counted", || {
        agent.metric("nocwatch_component_errors_total", &["reason=\"tls_handshake\""]) == Some(1.0)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(agent.events().len(), 1, "nothing from the rogue client");
}

/// An agent with one UDP syslog source `burst` (one receiver, `receive_buffer` as given)
/// and a file sink that never drops, sent 20,000 lines `burst line <n>` at once.
fn burst_into(receive_buffer: &str) -> (Agent, u32) {
    let udp = free_port();
    let agent = Agent::start(
        &format!(
            "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  burst: {{type: syslog, address: '127.0.0.1:{udp}', receive_buffer: {receive_buffer}, receivers: 1}}
sinks:
  file:
    type: file
    path: '${{DIR}}/events.jsonl'
    buffer: {{max_events: 100000, when_full: block}}
"
        ),
        Stdio::null(),
    );
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 20_000u32;
    for n in 0..sent {
        sender.send_to(format!("<14>Nov 25 08:00:00 host app: burst line {n}").as_bytes(), addr(udp)).unwrap();
    }
    (agent, sent)
}

/// Datagrams the kernel dropped for the source `burst`, as it counts them.
fn kernel_drops(agent: &Agent) -> Option<f64> {
    agent.metric("nocwatch_component_errors_total", &["component_id=\"burst\"", "reason=\"receive_buffer_full\""])
}

/// A burst into a tiny receive buffer: what the kernel drops before a receiver reads it is
/// counted, so every line sent is either an event or a counted drop.
#[test]
fn lines_the_kernel_drops_are_counted() {
    let (agent, sent) = burst_into("4KiB");
    let drops = || kernel_drops(&agent);
    eventually(Duration::from_secs(30), "every line an event or a counted drop", || {
        agent.events().len() as f64 + drops().unwrap_or(0.0) == f64::from(sent)
    });
    assert!(drops().is_some_and(|d| d > 0.0), "a 4 KiB buffer cannot take {sent} lines at once");
}

/// UDP datagrams longer than `max_message_size` are cut there, flagged and counted, and
/// the ones after them arrive whole; one that is not syslog at all is delivered whole,
/// flagged and counted as a parse error.
#[test]
fn oversized_datagrams_are_truncated_and_flagged() {
    let udp = free_port();
    let agent = Agent::start(
        &config(&format!("  udp: {{type: syslog, address: '127.0.0.1:{udp}', max_message_size: 1KiB, receivers: 1}}")),
        Stdio::null(),
    );
    let big = format!("<14>Nov 25 08:00:00 host app: {}", "y".repeat(5000));
    send_udp(
        addr(udp),
        &[big, "<14>Nov 25 08:00:01 host app: after the big one".to_owned(), "not syslog at all".to_owned()],
    );
    let events = agent.wait_events(3);
    assert_eq!(events[0]["attributes"]["truncated"], true);
    assert_eq!(events[0]["message"].as_str().unwrap().len(), 1024 - "<14>Nov 25 08:00:00 host app: ".len());
    assert_eq!(events[1]["message"], "after the big one");
    assert!(events[1]["attributes"].get("truncated").is_none());
    assert!(events[1]["attributes"].get("parse_error").is_none());
    assert_eq!(events[2]["message"], "not syslog at all");
    assert_eq!(events[2]["attributes"]["parse_error"], "no_header");
    assert_eq!(agent.metric("nocwatch_component_errors_total", &["reason=\"truncated\""]), Some(1.0));
    assert_eq!(agent.metric("nocwatch_component_errors_total", &["reason=\"parse_error\""]), Some(1.0));
}

/// A burst sent just before SIGTERM: what was read but not yet parsed, and what the socket
/// still held, is delivered before the agent exits.
#[test]
fn a_stop_delivers_every_datagram_received_before_it() {
    let (mut agent, sent) = burst_into("64MiB");
    agent.signal("TERM");
    assert!(agent.wait_exit(Duration::from_secs(30)).success());
    let events = agent.events();
    let mut seen: Vec<u32> =
        events.iter().filter_map(|e| e["message"].as_str()?.strip_prefix("burst line ")?.parse().ok()).collect();
    seen.sort_unstable();
    seen.dedup();
    if agent.stderr().contains("UDP receive buffer smaller than configured") {
        // Without CAP_NET_ADMIN (CI runs as root) the 64 MiB buffer is not granted and a
        // reader descheduled for a moment loses part of the unpaced burst in the kernel.
        assert!(seen.len() as u32 >= sent / 2, "{} lines delivered of {sent}", seen.len());
    } else {
        assert_eq!(seen.len() as u32, sent, "lines delivered of {sent} sent before the stop");
    }
}

/// A sink that stops taking events (a TCP server that never reads) backs up into the UDP
/// receive queue, which stops at its bound, shows its fill as `buffer_bytes`, and leaves
/// the rest to the kernel, which drops it, counted.
#[test]
fn a_stalled_sink_fills_the_receive_queue_to_its_bound() {
    let udp = free_port();
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut agent = Agent::start(
        &format!(
            "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s, flush_timeout: 1s}}
sources:
  burst: {{type: syslog, address: '127.0.0.1:{udp}', receive_buffer: 1MiB, receive_queue: 1MiB, receivers: 1}}
sinks:
  stalled:
    type: syslog
    address: '{}'
    buffer: {{max_events: 100, when_full: block}}
",
            stalled.local_addr().unwrap()
        ),
        Stdio::null(),
    );
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let line = format!("<14>Nov 25 08:00:00 host app: {}", "z".repeat(200));
    let queued = || agent.metric("nocwatch_buffer_bytes", &["component_id=\"burst\""]).unwrap_or(0.0);
    // The TCP buffers between the sink and the server take several MiB first.
    for _ in 0..200 {
        for _ in 0..1000 {
            sender.send_to(line.as_bytes(), addr(udp)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eventually(Duration::from_secs(30), "the receive queue full", || queued() >= 1024.0 * 1024.0);
    // At most one batch in hand past the bound.
    assert!(queued() <= (1024 + 256 + 64) as f64 * 1024.0, "queued {}", queued());
    eventually(Duration::from_secs(10), "kernel drops counted", || kernel_drops(&agent).is_some_and(|d| d > 0.0));
    // A stop cannot wait for the stalled sink: what the queue held is counted as lost.
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(30));
    let stderr = agent.stderr();
    let lost: u64 = stderr
        .lines()
        .find(|line| line.contains("did not finish in time") && line.contains("id=burst"))
        .and_then(|line| line.split("lost_events=").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no lost_events for the source in {stderr}"));
    assert!(lost > 1000, "the queue held thousands of datagrams, {lost} counted lost");
}
