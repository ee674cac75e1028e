//! End to end: the `snmp` source polls real-device recordings served by `snmpsim` (Debian
//! package `snmpsim`, started here on loopback ports), and `nocwatch import datadog-snmp`
//! output is accepted by `check-config`.
//!
//! Expected values come from the recordings' own lines (sysName, ifName, CPU and memory
//! pool columns) and from snmpsim's `numeric` variation module, which this test puts on a
//! few counters of its copy of the Cisco recording: an ifHCInOctets that grows by a known
//! number of octets per second, and an ifInErrors Counter32 that grows by 4 x 10^8 per
//! second and so wraps every 10.7 s (polls up to 5.3 s apart still tell a wrap from a reset).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nocwatch_snmp::{Oid, Value};
use serde_json::Value as Json;
use support::{Agent, Peer, free_port, testdata};

/// The octets per second the numeric variation adds to one Cisco interface.
const OCTETS_PER_SECOND: f64 = 1_250_000.0;
/// The errors per second of the wrapping Counter32.
const ERRORS_PER_SECOND: f64 = 400_000_000.0;

const IF_NAME: &str = "1.3.6.1.2.1.31.1.1.1.1";
const IF_ALIAS: &str = "1.3.6.1.2.1.31.1.1.1.18";
const IF_HC_IN_OCTETS: &str = "1.3.6.1.2.1.31.1.1.1.6";
const IF_HIGH_SPEED: &str = "1.3.6.1.2.1.31.1.1.1.15";
const IF_IN_ERRORS: &str = "1.3.6.1.2.1.2.2.1.14";
const IF_ADMIN_STATUS: &str = "1.3.6.1.2.1.2.2.1.7";
const IF_OPER_STATUS: &str = "1.3.6.1.2.1.2.2.1.8";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

/// A recording's values by OID (text without the leading dot).
struct Recording {
    text: String,
    values: HashMap<String, Value>,
}

impl Recording {
    fn read(relative: &str) -> Recording {
        let text = std::fs::read_to_string(testdata(relative)).unwrap();
        let values = nocwatch_snmp::snmprec::parse(&text)
            .unwrap()
            .into_iter()
            .map(|(oid, value)| (oid.to_string().trim_start_matches('.').to_owned(), value))
            .collect();
        Recording { text, values }
    }

    fn string(&self, oid: &str) -> Option<String> {
        match self.values.get(oid)? {
            Value::OctetString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    fn number(&self, oid: &str) -> Option<f64> {
        match self.values.get(oid)? {
            Value::Integer(v) => Some(*v as f64),
            Value::Gauge32(v) | Value::Counter32(v) | Value::TimeTicks(v) => Some(f64::from(*v)),
            Value::Counter64(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The row indexes of a column, in the recording's order.
    fn rows(&self, column: &str) -> Vec<String> {
        let prefix = format!("{column}.");
        let mut rows: Vec<(Oid, String)> = self
            .values
            .keys()
            .filter_map(|oid| oid.strip_prefix(&prefix).map(|row| (oid.parse::<Oid>().unwrap(), row.to_owned())))
            .collect();
        rows.sort();
        rows.into_iter().map(|(_, row)| row).collect()
    }

    /// The text with the line of `oid` replaced by `tag|value`.
    fn with_line(mut self, oid: &str, tag_and_value: &str) -> Recording {
        let start = self.text.find(&format!("\n{oid}|")).expect("the OID is in the recording") + 1;
        let end = self.text[start..].find('\n').map_or(self.text.len(), |e| start + e);
        self.text.replace_range(start..end, &format!("{oid}|{tag_and_value}"));
        self
    }
}

/// snmpsim serving recordings (one community = one file), each device on its own port.
struct Snmpsim {
    ports: HashMap<String, u16>,
    _dir: tempfile::TempDir,
    _peer: Peer,
}

impl Snmpsim {
    fn start(recordings: &[(&str, &str)]) -> Snmpsim {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        let mut ports = HashMap::new();
        let mut command = Command::new("snmpsimd");
        for (community, text) in recordings {
            // Copies, not symlinks: snmpsim names a community after the link's target.
            std::fs::write(data.join(format!("{community}.snmprec")), text).unwrap();
            let port = free_port();
            ports.insert((*community).to_owned(), port);
            command.arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"));
        }
        // As root, snmpsim drops privileges: the files must be readable by that user.
        for path in [dir.path(), &data, &cache] {
            allow_all(path);
        }
        for entry in std::fs::read_dir(&data).unwrap() {
            allow_all(&entry.unwrap().path());
        }
        command
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("--logging-method=null")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("snmpsim.log")).unwrap());
        if is_root() {
            command.args(["--process-user=nobody", "--process-group=nogroup"]);
        }
        let child =
            command.spawn().expect("snmpsimd (Debian package snmpsim) must be installed: scripts/test installs it");
        let sim = Snmpsim { ports, _dir: dir, _peer: Peer(child) };
        // snmpsim indexes each recording before it answers (tens of seconds for large ones).
        let deadline = Instant::now() + Duration::from_secs(180);
        for (community, port) in &sim.ports {
            loop {
                let answered = Command::new("snmpget")
                    .args([
                        "-v2c",
                        "-c",
                        community,
                        "-t",
                        "1",
                        "-r",
                        "0",
                        "-On",
                        &format!("127.0.0.1:{port}"),
                        ".1.3.6.1.2.1.1.2.0",
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if answered {
                    break;
                }
                assert!(Instant::now() < deadline, "snmpsim did not answer for {community}: {}", sim.log());
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        sim
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("snmpsim.log")).unwrap_or_default()
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn allow_all(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o777 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The metric events named `name` for device `device` (its `snmp_device` tag).
fn metrics<'a>(events: &'a [Json], name: &str, device: &str) -> Vec<&'a Json> {
    events.iter().filter(|e| e["name"] == name && e["tags"]["snmp_device"] == device).collect()
}

fn tag<'a>(event: &'a Json, key: &str) -> &'a str {
    event["tags"][key].as_str().unwrap_or_default()
}

fn value(event: &Json) -> f64 {
    event["value"].as_f64().unwrap()
}

fn seconds_between(first: &Json, last: &Json) -> f64 {
    let at = |e: &Json| e["timestamp"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    at(last).duration_since(at(first)).as_secs_f64()
}

/// Total increase over total time, from a counter's rate and count samples of the same
/// polls (a count is the increase, count / rate the seconds it took).
fn aggregate_rate(rates: &[&Json], counts: &[&Json]) -> f64 {
    let (mut increase, mut seconds) = (0.0, 0.0);
    for rate in rates {
        let count = counts.iter().find(|c| c["timestamp"] == rate["timestamp"]).expect("a count for each rate");
        if value(rate) > 0.0 {
            increase += value(count);
            seconds += value(count) / value(rate);
        }
    }
    increase / seconds
}

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * tolerance
}

#[test]
fn polls_real_recordings_served_by_snmpsim() {
    let cisco = Recording::read("snmprec/cisco-c3560.snmprec");
    // An interface with a name, a speed and an HC octet counter gets a known input rate;
    // another one gets a fast-wrapping Counter32 of input errors.
    let interfaces: Vec<String> = cisco
        .rows(IF_HC_IN_OCTETS)
        .into_iter()
        .filter(|row| cisco.number(&format!("{IF_HIGH_SPEED}.{row}")).is_some_and(|s| s > 0.0))
        .filter(|row| cisco.string(&format!("{IF_NAME}.{row}")).is_some_and(|n| !n.is_empty()))
        .filter(|row| cisco.values.contains_key(&format!("{IF_IN_ERRORS}.{row}")))
        .collect();
    let (fast, wrapping) = (interfaces[0].clone(), interfaces[1].clone());
    let fast_name = cisco.string(&format!("{IF_NAME}.{fast}")).unwrap();
    let fast_speed_mbps = cisco.number(&format!("{IF_HIGH_SPEED}.{fast}")).unwrap();
    let wrapping_name = cisco.string(&format!("{IF_NAME}.{wrapping}")).unwrap();
    let octets = cisco.number(&format!("{IF_HC_IN_OCTETS}.{fast}")).unwrap();
    let cisco_text = cisco
        .with_line(
            &format!("{IF_HC_IN_OCTETS}.{fast}"),
            &format!("70:numeric|initial={octets},rate={OCTETS_PER_SECOND}"),
        )
        .with_line(
            &format!("{IF_IN_ERRORS}.{wrapping}"),
            &format!("65:numeric|initial=4000000000,rate={ERRORS_PER_SECOND},max=4294967295,wrap=1"),
        )
        .text;
    let cisco = Recording::read("snmprec/cisco-c3560.snmprec");
    let juniper = Recording::read("snmprec/juniper-mx960-12-3r6-6.snmprec");
    let srx = Recording::read("snmprec/datadog-fixtures/juniper-srx.snmprec");
    // One snmpsim per device: snmpsim answers one request at a time, and a device waiting
    // behind another one's walk would skew the timing of its counters.
    let sims: Vec<Snmpsim> = std::thread::scope(|scope| {
        let started: Vec<_> = [("cisco", &cisco_text), ("juniper", &juniper.text), ("srx", &srx.text)]
            .into_iter()
            .map(|(name, text)| scope.spawn(move || Snmpsim::start(&[(name, text)])))
            .collect();
        started.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let port = |name: &str| sims.iter().find_map(|s| s.ports.get(name)).copied().unwrap();
    let silent = free_port();
    let device = |name: &str| format!("127.0.0.1:{}", port(name));
    let config = format!(
        r#"
admin: {{address: "${{ADMIN}}"}}
sources:
  snmp:
    type: snmp
    interval: 1s
    # A whole poll of the big MX960 recording takes snmpsim longer than the interval:
    # it finishes (the default poll_timeout is many intervals) and the next poll waits for
    # the next free slot.
    timeout: 500ms
    retries: 1
    use_device_id_as_hostname: true
    tags: ["env:test"]
    devices:
      - {{address: 127.0.0.1, port: {cisco}, community: cisco, tags: ["role:access"]}}
      - {{address: 127.0.0.1, port: {juniper}, community: juniper}}
      - {{address: 127.0.0.1, port: {srx}, community: srx}}
      - {{address: 127.0.0.1, port: {silent}, community: nobody}}
sinks:
  file:
    type: file
    path: "${{DIR}}/events.jsonl"
"#,
        cisco = port("cisco"),
        juniper = port("juniper"),
        srx = port("srx"),
    );
    let agent = Agent::start(&config, Stdio::null());
    // Enough polls for several rates on every device, and Cisco polls over more than one
    // period of the wrapping Counter32 (so it wraps at least once between two of them).
    let wrap_period = 4_294_967_296.0 / ERRORS_PER_SECOND;
    let enough = |events: &[Json]| {
        let cisco: Vec<&Json> = metrics(events, "snmp.device.reachable", &device("cisco"));
        let span = match (cisco.first(), cisco.last()) {
            (Some(first), Some(last)) => seconds_between(first, last),
            _ => 0.0,
        };
        span > wrap_period + 1.0
            && ["cisco", "juniper", "srx"]
                .iter()
                .all(|d| metrics(events, "snmp.device.reachable", &device(d)).len() >= 6)
    };
    support::eventually(Duration::from_secs(120), "six polls of every device", || enough(&agent.events()));
    let events = agent.events();

    // Reachability, host, device tags; the silent port is unreachable.
    for (name, recording) in [("cisco", &cisco), ("juniper", &juniper)] {
        let reachable = metrics(&events, "snmp.device.reachable", &device(name));
        assert!(reachable.iter().all(|e| value(e) == 1.0), "{name}: {reachable:?}");
        let last = reachable.last().unwrap();
        assert_eq!(last["host"], format!("device:default:{}", device(name)));
        assert_eq!(tag(last, "snmp_host"), recording.string(SYS_NAME).unwrap());
        assert_eq!(tag(last, "device_namespace"), "default");
        assert_eq!(tag(last, "env"), "test");
    }
    let silent_device = format!("127.0.0.1:{silent}");
    let unreachable = metrics(&events, "snmp.device.unreachable", &silent_device);
    assert!(!unreachable.is_empty() && unreachable.iter().all(|e| value(e) == 1.0), "{unreachable:?}");

    // Each device gets the profile its sysObjectID selects.
    let profile = |name: &str| {
        tag(metrics(&events, "snmp.devices_monitored", &device(name)).last().unwrap(), "snmp_profile").to_owned()
    };
    assert_eq!(profile("cisco"), "cisco-catalyst");
    assert_eq!(
        tag(metrics(&events, "snmp.devices_monitored", &device("cisco")).last().unwrap(), "device_vendor"),
        "cisco"
    );
    assert_eq!(profile("srx"), "juniper-srx");
    assert!(profile("juniper").starts_with("juniper"), "MX960: {}", profile("juniper"));

    // The interface with the known rate: its ifHCInOctets rate (the profile submits the
    // octets as monotonic_count_and_rate, as Datadog's does), and its bandwidth usage
    // against the ifHighSpeed the recording gives it.
    let rates: Vec<&Json> = metrics(&events, "snmp.ifHCInOctets.rate", &device("cisco"))
        .into_iter()
        .filter(|e| tag(e, "interface") == fast_name)
        .collect();
    assert!(rates.len() >= 3, "{rates:?}");
    for rate in &rates {
        assert_eq!(rate["type"], "rate");
        assert_eq!(tag(rate, "interface_index"), fast);
        assert_eq!(tag(rate, "role"), "access");
    }
    let counts: Vec<&Json> = metrics(&events, "snmp.ifHCInOctets", &device("cisco"))
        .into_iter()
        .filter(|e| tag(e, "interface") == fast_name)
        .collect();
    assert!(counts.iter().all(|e| e["type"] == "count"), "{counts:?}");
    // Each poll reads the counter at a slightly different moment after it starts (the
    // machine is shared): single rates wander, their aggregate does not.
    let measured = aggregate_rate(&rates, &counts);
    assert!(close(measured, OCTETS_PER_SECOND, 0.2), "{measured} vs {OCTETS_PER_SECOND}: {rates:?}");
    assert!(rates.iter().all(|e| (0.3..3.0).contains(&(value(e) / OCTETS_PER_SECOND))), "{rates:?}");
    // Bandwidth usage: the same delta over the same time, against ifHighSpeed from the
    // recording.
    let usage: Vec<&Json> = metrics(&events, "snmp.ifBandwidthInUsage.rate", &device("cisco"))
        .into_iter()
        .filter(|e| tag(e, "interface") == fast_name)
        .collect();
    assert_eq!(usage.len(), rates.len());
    for (usage, rate) in usage.iter().zip(&rates) {
        let expected = value(rate) * 8.0 / (fast_speed_mbps * 1e6) * 100.0;
        assert!(close(value(usage), expected, 1e-9), "{usage} vs {expected}");
    }
    // Other interfaces' counters do not move in the recording: a rate of 0, not nothing.
    let others = metrics(&events, "snmp.ifHCInOctets.rate", &device("cisco"))
        .into_iter()
        .filter(|e| tag(e, "interface") != fast_name);
    assert!(others.clone().count() > 10 && others.into_iter().all(|e| value(e) == 0.0));

    // The wrapping Counter32: every rate sample is the steady rate, never a negative or
    // a spike, across its wraps.
    let errors: Vec<&Json> = metrics(&events, "snmp.ifInErrors.rate", &device("cisco"))
        .into_iter()
        .filter(|e| tag(e, "interface") == wrapping_name)
        .collect();
    let error_counts: Vec<&Json> = metrics(&events, "snmp.ifInErrors", &device("cisco"))
        .into_iter()
        .filter(|e| tag(e, "interface") == wrapping_name)
        .collect();
    // One sample per poll after the first: none lost at a wrap (as a reset would be).
    let polls = metrics(&events, "snmp.device.reachable", &device("cisco")).len();
    assert!(errors.len() + 1 >= polls && errors.len() >= 5, "{} polls, {errors:?}", polls);
    assert!(errors.iter().all(|e| (0.3..3.0).contains(&(value(e) / ERRORS_PER_SECOND))), "{errors:?}");
    let measured = aggregate_rate(&errors, &error_counts);
    assert!(close(measured, ERRORS_PER_SECOND, 0.2), "{measured}: {errors:?}");

    // Interface status, from the recording's admin and oper status columns.
    let statuses = metrics(&events, "snmp.interface.status", &device("cisco"));
    let row = &fast;
    let status = statuses.iter().find(|e| tag(e, "interface_index") == row).expect("interface.status of the interface");
    let admin = cisco.number(&format!("{IF_ADMIN_STATUS}.{row}")).unwrap();
    let oper = cisco.number(&format!("{IF_OPER_STATUS}.{row}")).unwrap();
    let name_of = |v: f64| match v as i64 {
        1 => "up",
        2 => "down",
        3 => "testing",
        _ => "other",
    };
    assert_eq!(tag(status, "admin_status"), name_of(admin));
    assert_eq!(tag(status, "oper_status"), name_of(oper));
    assert_eq!(tag(status, "interface"), fast_name);
    // The profile's device-level tags (here `_base`'s snmp_host from sysName) are on the
    // metrics nocwatch derives too, as in Datadog's check.
    let sys_name = cisco.string(SYS_NAME).unwrap();
    assert_eq!(tag(status, "snmp_host"), sys_name);
    assert!(usage.iter().all(|e| tag(e, "snmp_host") == sys_name), "{usage:?}");
    let memory_usage = metrics(&events, "snmp.memory.usage", &device("cisco"));
    assert!(!memory_usage.is_empty() && memory_usage.iter().all(|e| tag(e, "snmp_host") == sys_name));
    assert!(
        metrics(&events, "snmp.devices_monitored", &device("cisco")).iter().all(|e| tag(e, "snmp_host") == sys_name)
    );
    if let Some(alias) = cisco.string(&format!("{IF_ALIAS}.{row}")).filter(|a| !a.is_empty()) {
        assert_eq!(tag(status, "interface_alias"), alias);
    }

    // Cisco CPU (cpmCPUTotal1minRev) and memory (ciscoMemoryPoolUsed / Free, per pool).
    let cpu = metrics(&events, "snmp.cpu.usage", &device("cisco"));
    assert_eq!(value(cpu.last().unwrap()), cisco.number("1.3.6.1.4.1.9.9.109.1.1.1.1.7.1").unwrap());
    let memory = metrics(&events, "snmp.memory.usage", &device("cisco"));
    for pool in cisco.rows("1.3.6.1.4.1.9.9.48.1.1.1.5") {
        let used = cisco.number(&format!("1.3.6.1.4.1.9.9.48.1.1.1.5.{pool}")).unwrap();
        let free = cisco.number(&format!("1.3.6.1.4.1.9.9.48.1.1.1.6.{pool}")).unwrap();
        let expected = used / (used + free) * 100.0;
        assert!(
            memory.iter().any(|e| close(value(e), expected, 1e-9)),
            "memory pool {pool}: {expected}% not in {memory:?}"
        );
    }

    // Juniper routing engine CPU and memory: jnxOperatingCPU / jnxOperatingBuffer rows.
    let cpu = metrics(&events, "snmp.cpu.usage", &device("juniper"));
    let expected: Vec<f64> = juniper
        .rows("1.3.6.1.4.1.2636.3.1.13.1.8")
        .iter()
        .map(|row| juniper.number(&format!("1.3.6.1.4.1.2636.3.1.13.1.8.{row}")).unwrap())
        .filter(|v| *v > 0.0)
        .collect();
    assert!(!expected.is_empty());
    for v in &expected {
        assert!(cpu.iter().any(|e| value(e) == *v), "jnxOperatingCPU {v} not in {cpu:?}");
    }
    let memory = metrics(&events, "snmp.memory.usage", &device("juniper"));
    for row in juniper.rows("1.3.6.1.4.1.2636.3.1.13.1.11") {
        let v = juniper.number(&format!("1.3.6.1.4.1.2636.3.1.13.1.11.{row}")).unwrap();
        if v > 0.0 {
            assert!(memory.iter().any(|e| value(e) == v), "jnxOperatingBuffer {v} not in {memory:?}");
        }
    }

    // One device metadata event per poll: the profile, the interfaces with their names.
    let metadata: Vec<&Json> = events
        .iter()
        .filter(|e| e["kind"] == "metadata" && e["device_id"] == format!("default:{}", device("cisco")))
        .collect();
    let last = metadata.last().expect("metadata events");
    assert_eq!((last["reachable"].as_bool(), last["profile"].as_str()), (Some(true), Some("cisco-catalyst")));
    assert_eq!(last["sys_object_id"], "1.3.6.1.4.1.9.1.617");
    assert_eq!(last["ip_address"], "127.0.0.1");
    let interface =
        last["interfaces"].as_array().unwrap().iter().find(|i| i["index"] == fast.parse::<u32>().unwrap()).unwrap();
    assert_eq!(interface["name"], fast_name.as_str());
    assert_eq!(interface["speed_bps"].as_f64(), Some(fast_speed_mbps * 1e6));
    let silent_metadata =
        events.iter().filter(|e| e["kind"] == "metadata" && e["device_id"] == format!("default:{silent_device}"));
    assert!(silent_metadata.clone().count() > 0 && silent_metadata.into_iter().all(|e| e["reachable"] == false));

    // Self-metrics: requests by type, and the unreachable device's polls.
    assert!(
        agent
            .metric("nocwatch_component_requests_total", &["component_id=\"snmp\"", "request_type=\"getbulk\""])
            .unwrap()
            > 0.0
    );
    assert!(
        agent.metric("nocwatch_component_errors_total", &["component_id=\"snmp\"", "reason=\"unreachable\""]).unwrap()
            > 0.0
    );
}

/// The seed's `snmp.d/conf.yaml.tmpl`, as the seed article prints it.
fn seed_template() -> String {
    let seed = std::fs::read_to_string(testdata("../seed/000_2159a40e118dc432.txt")).unwrap();
    let start = seed.find("init_config:").unwrap();
    let end = seed[start..].find("{{ end }}").unwrap() + start + "{{ end }}".len();
    seed[start..end].to_owned()
}

#[test]
fn import_of_the_seed_template_is_a_valid_config_for_the_same_variables() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("conf.yaml.tmpl");
    std::fs::write(&template, seed_template()).unwrap();
    let output = Command::new(support::BIN).args(["import", "datadog-snmp"]).arg(&template).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let imported = String::from_utf8(output.stdout).unwrap();
    let config = dir.path().join("nocwatch.yaml");
    std::fs::write(&config, format!("{imported}sinks:\n  out: {{type: console}}\n")).unwrap();
    let check = Command::new(support::BIN)
        .args(["check-config", "-c"])
        .arg(&config)
        .env("IP_ADDRESSES", "10.20.0.1,10.20.0.2,10.20.0.3")
        .env("COMMUNITY_STRING", "s3cr3t-community")
        .output()
        .unwrap();
    let effective = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{}\n{imported}", String::from_utf8_lossy(&check.stderr));
    // The three devices of the variable, one community, Datadog's host names and interval.
    assert!(
        effective.contains("addresses:\n      - \"10.20.0.1\"\n      - \"10.20.0.2\"\n      - \"10.20.0.3\"\n"),
        "{effective}"
    );
    assert!(effective.contains("use_device_id_as_hostname: true"), "{effective}");
    assert!(effective.contains("interval: \"15s\""), "{effective}");
    assert!(effective.contains("community: \"<redacted>\"") && !effective.contains("s3cr3t"), "{effective}");
    // Without the community variable, check-config refuses it (as run would).
    let check = Command::new(support::BIN)
        .args(["check-config", "-c"])
        .arg(&config)
        .env("IP_ADDRESSES", "10.20.0.1")
        .env_remove("COMMUNITY_STRING")
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("COMMUNITY_STRING"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// A device name that does not resolve stops neither the agent nor the other devices: that
/// device is reported unreachable at each poll, and each failed resolution is counted.
#[test]
fn a_name_that_does_not_resolve_is_reported_unreachable_not_fatal() {
    // sysObjectID (net-snmp's Linux agent), sysUpTime and sysName: enough for a poll.
    let recording =
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n1.3.6.1.2.1.1.3.0|67|4242\n1.3.6.1.2.1.1.5.0|4|tiny\n";
    let sim = Snmpsim::start(&[("tiny", recording)]);
    let port = sim.ports["tiny"];
    // `.invalid` never resolves (RFC 6761).
    let config = format!(
        r#"
admin: {{address: "${{ADMIN}}"}}
sources:
  snmp:
    type: snmp
    interval: 1s
    timeout: 500ms
    retries: 0
    devices:
      - {{address: 127.0.0.1, port: {port}, community: tiny}}
      - {{address: nowhere.invalid, community: tiny}}
sinks:
  file:
    type: file
    path: "${{DIR}}/events.jsonl"
"#
    );
    let agent = Agent::start(&config, Stdio::null());
    let good = format!("127.0.0.1:{port}");
    support::eventually(Duration::from_secs(30), "three polls of each device", || {
        let events = agent.events();
        metrics(&events, "snmp.device.reachable", &good).len() >= 3
            && metrics(&events, "snmp.device.unreachable", "nowhere.invalid").len() >= 3
    });
    let events = agent.events();
    let reachable = metrics(&events, "snmp.device.reachable", &good);
    assert!(reachable.iter().all(|e| value(e) == 1.0), "{reachable:?}");
    assert_eq!(tag(reachable.last().unwrap(), "snmp_host"), "tiny");
    let unresolved = metrics(&events, "snmp.device.unreachable", "nowhere.invalid");
    assert!(unresolved.iter().all(|e| value(e) == 1.0), "{unresolved:?}");
    // The name is tried right before the first poll, then at most once an interval (when
    // that falls between two polls is timing): one failure is what is certain by now.
    let failures = agent.metric("nocwatch_component_errors_total", &["component_id=\"snmp\"", "reason=\"unresolved\""]);
    assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
    assert!(agent.stderr().contains("cannot resolve SNMP device name"), "{}", agent.stderr());
}

/// net-snmp's snmpd on the given loopback addresses (same port on each), with community
/// `public`, sysName `sys_name`, and one SNMPv3 user `pollv3` (SHA / AES, authPriv).
struct Snmpd {
    port: u16,
    dir: tempfile::TempDir,
    _peer: Peer,
}

const V3_AUTH_KEY: &str = "poll-auth-pass-1234";
const V3_PRIV_KEY: &str = "poll-priv-pass-5678";

impl Snmpd {
    fn start(addresses: &[&str], sys_name: &str) -> Snmpd {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let endpoints: Vec<String> = addresses.iter().map(|a| format!("udp:{a}:{port}")).collect();
        let conf = format!(
            "agentAddress {}\nrocommunity public 127.0.0.0/8\nsysName {sys_name}\n\
             createUser pollv3 SHA {V3_AUTH_KEY} AES {V3_PRIV_KEY}\nrouser pollv3 priv\n",
            endpoints.join(",")
        );
        let peer = support::spawn_snmpd(dir.path(), &conf);
        let snmpd = Snmpd { port, dir, _peer: peer };
        let deadline = Instant::now() + Duration::from_secs(10);
        while snmpd.get(addresses[0], &["-v2c", "-c", "public"], SYS_NAME).is_none() {
            let log = std::fs::read_to_string(snmpd.dir.path().join("snmpd.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "snmpd did not start: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
        snmpd
    }

    /// nocwatch polling every second with `settings` (indented keys of the snmp source),
    /// its events in a file.
    fn poller(&self, settings: &str) -> Agent {
        let config = format!(
            "admin: {{address: \"${{ADMIN}}\"}}\nsources:\n  snmp:\n    type: snmp\n    interval: 1s\n    timeout: 300ms\n    \
             retries: 0\n{settings}sinks:\n  file:\n    type: file\n    path: \"${{DIR}}/events.jsonl\"\n"
        );
        Agent::start(&config, Stdio::null())
    }

    /// net-snmp's `snmpget -Oqv` of one OID, as text.
    fn get(&self, address: &str, security: &[&str], oid: &str) -> Option<String> {
        let output = Command::new("snmpget")
            .args(security)
            .args(["-t", "0.5", "-r", "0", "-Oqv", &format!("{address}:{}", self.port), oid])
            .env("MIBS", "")
            .output()
            .ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().trim_matches('"').to_owned())
    }
}

#[test]
fn discovers_agents_on_a_loopback_subnet_and_polls_them() {
    // 127.0.0.0/29: snmpd answers on .2, .3 and .5; .3 is ignored; the others are silent.
    let snmpd = Snmpd::start(&["127.0.0.2", "127.0.0.3", "127.0.0.5"], "discovered-agent");
    let agent = snmpd.poller(&format!(
        r#"    community: public
    port: {port}
    discovery:
      subnets: ["127.0.0.0/29"]
      interval: 2s
      concurrency: 4
      ignored_addresses: ["127.0.0.3"]
      tags: ["found:yes"]
"#,
        port = snmpd.port
    ));
    let device = |host: &str| format!("{host}:{}", snmpd.port);
    support::eventually(Duration::from_secs(60), "two polls of each discovered agent", || {
        let events = agent.events();
        ["127.0.0.2", "127.0.0.5"].iter().all(|h| metrics(&events, "snmp.device.reachable", &device(h)).len() >= 2)
    });
    let events = agent.events();
    for host in ["127.0.0.2", "127.0.0.5"] {
        let reachable = metrics(&events, "snmp.device.reachable", &device(host));
        assert!(reachable.iter().all(|e| value(e) == 1.0), "{host}: {reachable:?}");
        let last = reachable.last().unwrap();
        assert_eq!(tag(last, "autodiscovery_subnet"), "127.0.0.0/29");
        assert_eq!(tag(last, "found"), "yes");
        // sysName as net-snmp reads it from the same agent.
        let sys_name = snmpd.get(host, &["-v2c", "-c", "public"], SYS_NAME).unwrap();
        assert_eq!((tag(last, "snmp_host"), sys_name.as_str()), ("discovered-agent", "discovered-agent"));
        assert!(!tag(last, "snmp_profile").is_empty());
    }
    // Only the answering, not ignored addresses became devices.
    let polled: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|e| e["name"] == "snmp.device.reachable")
        .filter_map(|e| e["tags"]["snmp_device"].as_str())
        .collect();
    assert_eq!(polled, [device("127.0.0.2"), device("127.0.0.5")].iter().map(String::as_str).collect());
}

#[test]
fn polls_an_snmpv3_agent_with_auth_and_privacy() {
    // The same agent on two addresses: one device with the right keys, one with a wrong
    // privacy key.
    let snmpd = Snmpd::start(&["127.0.0.1", "127.0.0.4"], "v3-agent");
    let wrong_key = "not-the-priv-key-0000";
    let agent = snmpd.poller(&format!(
        r#"    devices:
      - {{address: 127.0.0.1, port: {port}, version: "3", user: pollv3, auth_protocol: SHA, auth_key: "{V3_AUTH_KEY}", priv_protocol: AES, priv_key: "{V3_PRIV_KEY}", tags: ["v3:right"]}}
      - {{address: 127.0.0.4, port: {port}, version: "3", user: pollv3, auth_protocol: SHA, auth_key: "{V3_AUTH_KEY}", priv_protocol: AES, priv_key: "{wrong_key}", tags: ["v3:wrong"]}}
"#,
        port = snmpd.port
    ));
    let right = format!("127.0.0.1:{}", snmpd.port);
    let wrong = format!("127.0.0.4:{}", snmpd.port);
    let v3 = ["-v3", "-l", "authPriv", "-u", "pollv3", "-a", "SHA", "-A", V3_AUTH_KEY, "-x", "AES", "-X", V3_PRIV_KEY];
    // The first interface's name and oper status, as net-snmp reads them over SNMPv3.
    let if_name = snmpd.get("127.0.0.1", &v3, &format!("{IF_NAME}.1")).unwrap();
    let oper = match snmpd.get("127.0.0.1", &v3, &format!("{IF_OPER_STATUS}.1")).unwrap().as_str() {
        "1" => "up",
        "2" => "down",
        other => panic!("ifOperStatus.1 = {other}"),
    };
    support::eventually(Duration::from_secs(60), "three polls of the SNMPv3 agent", || {
        let events = agent.events();
        metrics(&events, "snmp.device.reachable", &right).len() >= 3
            && !metrics(&events, "snmp.device.unreachable", &wrong).is_empty()
    });
    let events = agent.events();
    let reachable = metrics(&events, "snmp.device.reachable", &right);
    assert!(reachable.iter().all(|e| value(e) == 1.0), "{reachable:?}");
    assert_eq!(tag(reachable.last().unwrap(), "snmp_host"), "v3-agent");
    assert_eq!(tag(reachable.last().unwrap(), "v3"), "right");
    let status = metrics(&events, "snmp.interface.status", &right);
    let first = status.iter().find(|e| tag(e, "interface_index") == "1").expect("interface.status of ifIndex 1");
    assert_eq!((tag(first, "interface"), tag(first, "oper_status")), (if_name.as_str(), oper));
    // Counters over SNMPv3 give rates (from the second poll on).
    assert!(
        events.iter().any(|e| e["type"] == "rate"
            && e["tags"]["snmp_device"] == right.as_str()
            && e["name"].as_str().is_some_and(|n| n.starts_with("snmp.if"))),
        "no interface rate"
    );
    // The wrong key: unreachable every time, and no key is in the logs.
    let unreachable = metrics(&events, "snmp.device.unreachable", &wrong);
    assert!(unreachable.iter().all(|e| value(e) == 1.0), "{unreachable:?}");
    let stderr = agent.stderr();
    assert!(!stderr.contains(wrong_key) && !stderr.contains(V3_PRIV_KEY) && !stderr.contains(V3_AUTH_KEY));
}

/// A directory of user profiles (`profile_dirs`), one `<name>.yaml` each.
fn profile_dir(profiles: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in profiles {
        std::fs::write(dir.path().join(format!("{name}.yaml")), yaml).unwrap();
    }
    dir
}

/// A profile's first lines: the device's sysName as the `snmp_host` tag, and sysServices;
/// more metrics may follow.
const SYS_NAME_TAG_AND_SERVICES: &str = r#"metric_tags:
  - OID: 1.3.6.1.2.1.1.5.0
    symbol: sysName
    tag: snmp_host
metrics:
  - MIB: SNMPv2-MIB
    symbol: {OID: 1.3.6.1.2.1.1.7.0, name: sysServices}
"#;

/// One `snmp` source polling every second with the user profiles in `profiles` (its other
/// keys in `source`, indented under it), a file sink, and `more_sinks` (indented).
fn profile_poll_config(profiles: &Path, source: &str, more_sinks: &str) -> String {
    format!(
        r#"
admin: {{address: "${{ADMIN}}"}}
sources:
  snmp:
    type: snmp
    interval: 1s
    profile_dirs: ["{profiles}"]
{source}
sinks:
  file:
    type: file
    path: "${{DIR}}/events.jsonl"
{more_sinks}
"#,
        profiles = profiles.display(),
    )
}

/// `nocwatch_component_errors_total` of the `snmp` source for `reason`, if exported.
fn snmp_errors(agent: &Agent, reason: &str) -> Option<f64> {
    agent.metric("nocwatch_component_errors_total", &["component_id=\"snmp\"", &format!("reason=\"{reason}\"")])
}

/// The last device metadata event of `device` (`address:port`, default namespace).
fn last_metadata<'a>(events: &'a [Json], device: &str) -> &'a Json {
    events
        .iter()
        .rfind(|e| e["kind"] == "metadata" && e["device_id"] == format!("default:{device}"))
        .unwrap_or_else(|| panic!("no metadata of {device}"))
}

/// A tag's values on an event: one string, or the array a key with several values has.
fn tag_values(event: &Json, key: &str) -> Vec<String> {
    match &event["tags"][key] {
        Json::String(value) => vec![value.clone()],
        Json::Array(values) => values.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        _ => Vec::new(),
    }
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

/// A profile's tag (static_tags, a scalar metric_tag, a column metric_tag) with the key of a
/// user tag is kept beside it, as the Datadog Agent appends the profile's tags to the
/// user's: both values in the JSON events (an array), both `key:value` tags in the series
/// sent to Datadog, and one Prometheus label with the values joined by `,`.
#[test]
fn profile_tags_are_kept_beside_user_tags_with_the_same_key() {
    let recording = "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n1.3.6.1.2.1.1.3.0|67|4242\n\
                     1.3.6.1.2.1.1.5.0|4|tagged-agent\n1.3.6.1.2.1.1.7.0|2|72\n\
                     1.3.6.1.2.1.2.2.1.2.1|4|uplink\n1.3.6.1.2.1.2.2.1.4.1|2|1500\n";
    let values = |oid: &str| -> String {
        let line = recording.lines().find(|l| l.starts_with(&format!("{oid}|"))).unwrap();
        line.rsplit('|').next().unwrap().to_owned()
    };
    let (sys_name, if_descr, if_mtu) =
        (values(SYS_NAME), values("1.3.6.1.2.1.2.2.1.2.1"), values("1.3.6.1.2.1.2.2.1.4.1"));
    let profiles = profile_dir(&[(
        "tagtest",
        &format!(
            r#"
static_tags:
  - "site:dc1"
{SYS_NAME_TAG_AND_SERVICES}  - MIB: IF-MIB
    table: {{OID: 1.3.6.1.2.1.2.2, name: ifTable}}
    symbols:
      - {{OID: 1.3.6.1.2.1.2.2.1.4, name: ifMtu}}
    metric_tags:
      - column: {{OID: 1.3.6.1.2.1.2.2.1.2, name: ifDescr}}
        tag: role
"#
        ),
    )]);
    let sim = Snmpsim::start(&[("tagged", recording)]);
    let intake = support::intake::Intake::start();
    let exposition = free_port();
    let config = profile_poll_config(
        profiles.path(),
        &format!(
            r#"    timeout: 500ms
    retries: 1
    tags: ["site:paris"]
    devices:
      - {{address: 127.0.0.1, port: {port}, community: tagged, profile: tagtest, tags: ["role:core", "snmp_host:configured", "site:paris"]}}"#,
            port = sim.ports["tagged"],
        ),
        &format!(
            r#"  prom: {{type: prometheus, address: "127.0.0.1:{exposition}"}}
  datadog:
    type: datadog_metrics
    api_key: ${{DD_API_KEY}}
    endpoint: {endpoint}
    batch: {{timeout: 100ms}}"#,
            endpoint = intake.url(),
        ),
    );
    let agent = Agent::start_with_env(&config, Stdio::null(), &[("DD_API_KEY", support::intake::API_KEY)]);
    let device = format!("127.0.0.1:{}", sim.ports["tagged"]);
    support::eventually(Duration::from_secs(30), "the profile's metrics in the file and at the intake", || {
        !metrics(&agent.events(), "snmp.ifMtu", &device).is_empty()
            && intake.series().iter().any(|s| s["metric"] == "snmp.ifMtu")
    });

    // JSON events: a key given by the user and by the profile has both values, sorted;
    // the user's `site:paris`, given twice (source and device), is there once.
    let events = agent.events();
    let mtu = metrics(&events, "snmp.ifMtu", &device);
    let mtu = mtu.last().unwrap();
    assert_eq!(value(mtu).to_string(), if_mtu);
    assert_eq!(tag_values(mtu, "site"), sorted(vec!["dc1".to_owned(), "paris".to_owned()]), "{mtu}");
    assert_eq!(tag_values(mtu, "snmp_host"), sorted(vec!["configured".to_owned(), sys_name.clone()]), "{mtu}");
    assert_eq!(tag_values(mtu, "role"), sorted(vec!["core".to_owned(), if_descr.clone()]), "{mtu}");
    // Device-level tags are on every metric, the device's own ones included; the row tag
    // only on the row's metrics.
    for name in ["snmp.sysServices", "snmp.device.reachable", "snmp.devices_monitored"] {
        let event = *metrics(&events, name, &device).last().unwrap_or_else(|| panic!("{name}"));
        assert_eq!(tag_values(event, "site"), ["dc1", "paris"], "{event}");
        assert_eq!(tag_values(event, "snmp_host"), sorted(vec!["configured".to_owned(), sys_name.clone()]));
        assert_eq!(tag_values(event, "role"), ["core"], "{event}");
    }

    // Datadog: each value is its own `key:value` tag, as the Agent sends them.
    let series = intake.series();
    let sent = series.iter().rfind(|s| s["metric"] == "snmp.ifMtu").unwrap();
    let tags: Vec<&str> = sent["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    for expected in [
        "site:dc1",
        "site:paris",
        "snmp_host:configured",
        &format!("snmp_host:{sys_name}"),
        "role:core",
        &format!("role:{if_descr}"),
    ] {
        assert!(tags.contains(&expected), "{expected} not in {tags:?}");
    }
    assert_eq!(tags.iter().filter(|t| **t == "site:paris").count(), 1, "{tags:?}");
    assert_eq!(intake.violations(), Vec::<String>::new());

    // Prometheus: one label per key, the values joined in order.
    let (status, page) = support::http_get(support::addr(exposition), "/metrics").unwrap();
    assert_eq!(status, 200);
    let line = page.lines().find(|l| l.starts_with("snmp_ifMtu{")).unwrap_or_else(|| panic!("{page}"));
    let roles = sorted(vec!["core".to_owned(), if_descr.clone()]).join(",");
    assert!(line.contains(&format!("role=\"{roles}\"")), "{line}");
    assert!(line.contains("site=\"dc1,paris\""), "{line}");
    assert_eq!(line.matches("site=").count(), 1, "{line}");
}

/// A device that answers the first GET and then stops answering part of what the profile
/// asks for (snmpsim's `delay` variation drops every answer that includes one OID): its
/// polls report no profile metric and no tag made from the answers they did get (the
/// Datadog Agent reports nothing from the profile when its fetch fails), only the device
/// metrics, with the device tags of the last complete poll (none yet here). A device
/// that answers everything, polled with the same profile, reports the profile's metrics.
#[test]
fn a_poll_that_fails_part_way_reports_no_profile_metrics_or_tags_from_its_answers() {
    let base = "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n1.3.6.1.2.1.1.3.0|67|4242\n1.3.6.1.2.1.1.7.0|2|72\n";
    let whole = format!("{base}1.3.6.1.2.1.1.5.0|4|whole-agent\n1.3.6.1.2.1.1.8.0|67|5\n");
    // 100000 ms and more: snmpsim drops the answer instead of waiting.
    let half = format!("{base}1.3.6.1.2.1.1.5.0|4|half-agent\n1.3.6.1.2.1.1.8.0|67:delay|value=5,wait=100000\n");
    let profiles = profile_dir(&[(
        "halftest",
        &format!(
            r#"
{SYS_NAME_TAG_AND_SERVICES}  - MIB: SNMPv2-MIB
    symbol: {{OID: 1.3.6.1.2.1.1.8.0, name: sysORLastChange}}
metadata:
  device:
    fields:
      name:
        symbol: {{OID: 1.3.6.1.2.1.1.5.0, name: sysName}}
"#
        ),
    )]);
    let sims: Vec<Snmpsim> = std::thread::scope(|scope| {
        let started: Vec<_> = [("whole", &whole), ("half", &half)]
            .into_iter()
            .map(|(name, text)| scope.spawn(move || Snmpsim::start(&[(name, text.as_str())])))
            .collect();
        started.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let port = |name: &str| sims.iter().find_map(|s| s.ports.get(name)).copied().unwrap();
    let config = profile_poll_config(
        profiles.path(),
        &format!(
            r#"    timeout: 200ms
    retries: 0
    devices:
      - {{address: 127.0.0.1, port: {whole}, community: whole, profile: halftest}}
      - {{address: 127.0.0.1, port: {half}, community: half, profile: halftest}}"#,
            whole = port("whole"),
            half = port("half"),
        ),
        "",
    );
    let agent = Agent::start(&config, Stdio::null());
    let (whole, half) = (format!("127.0.0.1:{}", port("whole")), format!("127.0.0.1:{}", port("half")));
    support::eventually(Duration::from_secs(30), "three polls of each device", || {
        let events = agent.events();
        metrics(&events, "snmp.device.reachable", &whole).len() >= 3
            && metrics(&events, "snmp.device.reachable", &half).len() >= 3
    });
    let events = agent.events();
    // The control: the same profile on a device that answers everything.
    let services = metrics(&events, "snmp.sysServices", &whole);
    assert!(!services.is_empty() && services.iter().all(|e| value(e) == 72.0), "{services:?}");
    assert_eq!(tag(services[0], "snmp_host"), "whole-agent");
    assert!(!metrics(&events, "snmp.sysORLastChange", &whole).is_empty());
    let whole_metadata = last_metadata(&events, &whole);
    assert_eq!(whole_metadata["fields"]["name"], "whole-agent");

    // The device that stops answering part-way: it answered, so it is reachable; nothing
    // from the profile, and no snmp_host from the sysName it did send.
    let of_half: Vec<&Json> = events.iter().filter(|e| e["tags"]["snmp_device"] == half.as_str()).collect();
    let names: std::collections::BTreeSet<&str> = of_half.iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(!names.contains("snmp.sysServices") && !names.contains("snmp.sysORLastChange"), "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with("snmp.") || n.starts_with("snmp.device") || *n == "snmp.devices_monitored"),
        "{names:?}"
    );
    assert!(of_half.iter().all(|e| e["tags"].get("snmp_host").is_none()), "{of_half:?}");
    let reachable = metrics(&events, "snmp.device.reachable", &half);
    assert!(reachable.iter().all(|e| value(e) == 1.0), "{reachable:?}");
    // Counted as a request that failed for good (not as the poll's deadline, which is many
    // intervals by default) and logged.
    let counted = |reason: &str| snmp_errors(&agent, reason);
    assert!(counted("poll_failed").unwrap_or(0.0) >= 1.0, "{:?}", counted("poll_failed"));
    assert_eq!(counted("poll_timeout").unwrap_or(0.0), 0.0);
    assert!(agent.stderr().contains("only the device metrics are sent"), "{}", agent.stderr());
    // Its metadata names the profile but has no fields from the partial answers.
    let metadata = last_metadata(&events, &half);
    assert_eq!((metadata["reachable"].as_bool(), metadata["profile"].as_str()), (Some(true), Some("halftest")));
    assert!(metadata["fields"].as_object().is_none_or(|f| f.is_empty()), "{metadata}");
}

/// A device whose poll always takes longer than the interval (snmpsim's `delay` variation
/// holds the answer to the profile's scalars 1.5 s, the interval is 1 s): as with the
/// Datadog Agent, whose check has no deadline for a whole run, each poll finishes and
/// reports the profile's metrics late; the slots it overran are skipped, counted
/// (`poll_overrun`) and logged.
#[test]
fn a_poll_longer_than_the_interval_reports_late_and_skips_the_slots_it_covered() {
    let slow = "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n1.3.6.1.2.1.1.3.0|67|4242\n\
                1.3.6.1.2.1.1.5.0|4|slow-agent\n1.3.6.1.2.1.1.7.0|2|72\n1.3.6.1.2.1.1.8.0|67:delay|value=5,wait=1500\n";
    let profiles = profile_dir(&[(
        "slowtest",
        &format!(
            r#"
{SYS_NAME_TAG_AND_SERVICES}  - MIB: SNMPv2-MIB
    symbol: {{OID: 1.3.6.1.2.1.1.8.0, name: sysORLastChange}}
"#
        ),
    )]);
    let sim = Snmpsim::start(&[("slow", slow)]);
    let port = sim.ports["slow"];
    let config = profile_poll_config(
        profiles.path(),
        &format!(
            r#"    timeout: 5s
    retries: 0
    devices:
      - {{address: 127.0.0.1, port: {port}, community: slow, profile: slowtest}}"#
        ),
        "",
    );
    let agent = Agent::start(&config, Stdio::null());
    let device = format!("127.0.0.1:{port}");
    support::eventually(Duration::from_secs(30), "two polls' profile metrics", || {
        metrics(&agent.events(), "snmp.sysORLastChange", &device).len() >= 2
    });
    let events = agent.events();
    // The values and tag of the recording, from every poll.
    let services = metrics(&events, "snmp.sysServices", &device);
    assert!(services.len() >= 2 && services.iter().all(|e| value(e) == 72.0), "{services:?}");
    assert!(services.iter().all(|e| tag(e, "snmp_host") == "slow-agent"), "{services:?}");
    let counted = |reason: &str| snmp_errors(&agent, reason);
    assert!(counted("poll_overrun").unwrap_or(0.0) >= 1.0, "{:?}", counted("poll_overrun"));
    assert_eq!(counted("poll_timeout").unwrap_or(0.0), 0.0);
    assert!(agent.stderr().contains("SNMP poll took longer than the interval"), "{}", agent.stderr());
}
