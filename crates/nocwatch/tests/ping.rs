//! End to end: ICMP echo from the real binary to loopback and to a host in a network
//! namespace the test creates (veth pair), plus an address in that subnet where nobody
//! answers. Needs root or CAP_NET_RAW/NET_ADMIN (CI runs as root).
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// A network namespace with a host at `<prefix>.2`, reachable over a veth from `<prefix>.1`.
struct Namespace {
    name: String,
    link: String,
}

impl Namespace {
    fn new(prefix: &str, tag: u32) -> Namespace {
        let (name, link) = (format!("nwping{tag}"), format!("nwp{tag}"));
        let run = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().expect("iproute2 is installed");
            assert!(status.success(), "ip {args:?}");
        };
        run(&["netns", "add", &name]);
        let namespace = Namespace { name: name.clone(), link: link.clone() };
        run(&["link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &name]);
        run(&["addr", "add", &format!("{prefix}.1/29"), "dev", &link]);
        run(&["link", "set", &link, "up"]);
        run(&["netns", "exec", &name, "ip", "addr", "add", &format!("{prefix}.2/29"), "dev", "eth0"]);
        run(&["netns", "exec", &name, "ip", "link", "set", "eth0", "up"]);
        run(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        namespace
    }
}

impl Namespace {
    /// Makes the namespace's host answer for every address of `block` (an AnyIP `local`
    /// route), routed to it over the veth.
    fn answer_for(&self, prefix: &str, block: &str) {
        let run = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().expect("iproute2 is installed");
            assert!(status.success(), "ip {args:?}");
        };
        run(&["netns", "exec", &self.name, "ip", "route", "add", "local", block, "dev", "lo"]);
        run(&["route", "add", block, "via", &format!("{prefix}.2")]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.link]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

#[test]
fn reachable_and_unreachable_targets_get_the_datadog_ping_metrics() {
    let tag = std::process::id() % 200;
    let prefix = format!("10.213.{tag}");
    let _namespace = Namespace::new(&prefix, tag);
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  ping:
    type: ping
    targets: ['127.0.0.1', '::1', '{prefix}.2', '{prefix}.3']
    interval: 1s
    count: 3
    spacing: 50ms
    timeout: 500ms
sinks:
  file: {{type: file, path: '${{DIR}}/events.jsonl'}}
"
    );
    let agent = Agent::start(&config, Stdio::null());
    let value = |target: &str, name: &str| {
        agent
            .events()
            .iter()
            .find(|e| e["name"] == format!("networkdevice.ping.{name}") && e["tags"]["ping_target"] == target)
            .map(|e| e["value"].as_f64().unwrap())
    };
    eventually(Duration::from_secs(10), "a report for every target", || {
        ["127.0.0.1".to_owned(), "::1".to_owned(), format!("{prefix}.2"), format!("{prefix}.3")]
            .iter()
            .all(|t| value(t, "packet_loss").is_some())
    });
    for reachable in ["127.0.0.1".to_owned(), "::1".to_owned(), format!("{prefix}.2")] {
        assert_eq!(value(&reachable, "reachable"), Some(1.0), "{reachable}");
        assert_eq!(value(&reachable, "unreachable"), Some(0.0), "{reachable}");
        assert_eq!(value(&reachable, "packet_loss"), Some(0.0), "{reachable}");
        let (min, avg, max) = (
            value(&reachable, "min_rtt").unwrap(),
            value(&reachable, "avg_rtt").unwrap(),
            value(&reachable, "max_rtt").unwrap(),
        );
        assert!(0.0 < min && min <= avg && avg <= max && max < 500.0, "{reachable}: {min} {avg} {max}");
    }
    let nobody = format!("{prefix}.3");
    assert_eq!(value(&nobody, "reachable"), Some(0.0));
    assert_eq!(value(&nobody, "unreachable"), Some(1.0));
    assert_eq!(value(&nobody, "packet_loss"), Some(100.0));
    assert_eq!(value(&nobody, "avg_rtt"), None, "no RTT without replies");
}

/// Datadog joins a device's ping metrics with its SNMP metrics by host and tags (its SNMP
/// check sends `networkdevice.ping.*` with the device's own tags and host). The snmp source
/// is the reference here: it polls the same address (nobody answers SNMP on loopback's port
/// 161, so it reports the device unreachable, with the device's identity), and every ping
/// metric must carry its host and each of its identity tags.
#[test]
fn ping_metrics_carry_the_host_and_tags_of_the_same_devices_snmp_metrics() {
    let config = "
admin: {address: '${ADMIN}'}
shutdown: {drain_period: 0s}
sources:
  ping:
    type: ping
    targets: ['127.0.0.1']
    interval: 1s
    count: 1
    timeout: 200ms
    namespace: lab
    use_device_id_as_hostname: true
    tags: ['site:lab1']
  snmp:
    type: snmp
    addresses: ['127.0.0.1']
    community: public
    namespace: lab
    use_device_id_as_hostname: true
    tags: ['site:lab1']
    interval: 1s
    timeout: 200ms
    retries: 0
sinks:
  file: {type: file, path: '${DIR}/events.jsonl'}
";
    let agent = Agent::start(config, Stdio::null());
    let find = |name: &str| agent.events().into_iter().find(|e| e["name"] == name);
    eventually(Duration::from_secs(15), "a ping report and an SNMP reachability report", || {
        find("networkdevice.ping.reachable").is_some() && find("snmp.device.unreachable").is_some()
    });
    let snmp = find("snmp.device.unreachable").unwrap();
    assert_eq!(snmp["host"], "device:lab:127.0.0.1", "the SNMP side names the device so");
    for name in ["reachable", "unreachable", "packet_loss", "avg_rtt"] {
        let ping = find(&format!("networkdevice.ping.{name}")).unwrap();
        assert_eq!(ping["host"], snmp["host"], "{name}");
        for tag in ["snmp_device", "device_namespace", "site"] {
            assert!(!snmp["tags"][tag].is_null(), "the SNMP metric has `{tag}`");
            assert_eq!(ping["tags"][tag], snmp["tags"][tag], "{name}: {tag}");
        }
        assert_eq!(ping["tags"]["ping_target"], "127.0.0.1");
    }
}

#[test]
fn without_use_device_id_as_hostname_ping_metrics_have_no_host_as_snmp_metrics() {
    let config = "
admin: {address: '${ADMIN}'}
shutdown: {drain_period: 0s}
sources:
  ping: {type: ping, targets: ['127.0.0.1'], interval: 1s, count: 1, timeout: 200ms}
sinks:
  file: {type: file, path: '${DIR}/events.jsonl'}
";
    let agent = Agent::start(config, Stdio::null());
    eventually(Duration::from_secs(10), "a ping report", || !agent.events().is_empty());
    let event = agent.events().into_iter().next().unwrap();
    assert!(event["host"].is_null(), "{event}");
    assert_eq!(event["tags"]["device_namespace"], "default");
    assert_eq!(event["tags"]["snmp_device"], "127.0.0.1");
}

/// 2,000 targets that all answer (one namespace host answering for a /21): every reply must
/// be read. Before, the whole round was sent before any reply was read, and the replies of
/// the targets beyond what the socket's default ~208 KiB receive buffer holds (a few
/// hundred) were dropped by the kernel and reported as packet loss. Whatever the kernel
/// still drops is counted as `reason="receive_buffer_full"`: the lost replies and that
/// count must agree.
#[test]
fn thousands_of_answering_targets_lose_no_replies_and_kernel_drops_are_counted() {
    let tag = std::process::id() % 200 + 1;
    let prefix = format!("10.212.{tag}");
    let namespace = Namespace::new(&prefix, tag);
    let block = format!("10.{}.0.0/21", 216 + tag % 32);
    namespace.answer_for(&prefix, &block);
    let targets: Vec<String> =
        (0..2000).map(|i| format!("10.{}.{}.{}", 216 + tag % 32, i / 250, i % 250 + 1)).collect();
    let run = |receive_buffer: &str| {
        let config = format!(
            "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
sources:
  ping:
    type: ping
    targets: [{}]
    interval: 30s
    count: 1
    timeout: 3s
    receive_buffer: {receive_buffer}
sinks:
  file: {{type: file, path: '${{DIR}}/events.jsonl', buffer: {{max_events: 50000}}}}
",
            targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
        );
        let agent = Agent::start(&config, Stdio::null());
        let losses = || -> Vec<f64> {
            agent
                .events()
                .iter()
                .filter(|e| e["name"] == "networkdevice.ping.packet_loss")
                .map(|e| e["value"].as_f64().unwrap())
                .collect()
        };
        eventually(Duration::from_secs(30), "a report for every target", || losses().len() >= targets.len());
        let lost_replies = losses().iter().filter(|&&loss| loss > 0.0).count() as f64;
        let dropped = agent
            .metric("nocwatch_component_errors_total", &["component_id=\"ping\"", "reason=\"receive_buffer_full\""])
            .unwrap_or(0.0);
        (lost_replies, dropped)
    };
    let (lost, dropped) = run("8MiB");
    assert_eq!((lost, dropped), (0.0, 0.0), "every one of 2,000 replies read");
    // A 4 KiB buffer holds a few replies: the kernel drops some, and each is counted.
    let (lost, dropped) = run("4KiB");
    assert!(lost > 0.0, "the tiny buffer overflows");
    assert_eq!(dropped, lost, "every reply lost is a counted kernel drop");
}
