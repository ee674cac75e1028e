//! End to end: the local store and its web page in headless Chromium. nocwatch polls
//! snmpsim replaying real device recordings (a Cisco Catalyst 3560 and a Juniper MX960),
//! receives a trap from net-snmp's `snmptrap` and syslog from `logger`; the test opens every
//! page, asserts what it shows, and saves screenshots under
//! `<target>/tmp/web-screenshots/`. Expected values come from the recordings and from
//! net-snmp (`snmptranslate`), not from nocwatch.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use nocwatch_snmp::{Value as SnmpValue, snmprec};
use serde_json::{Value, json};
use support::browser::{Browser, Snmpsim};
use support::*;

/// What the recording says about a device: its sysName, and one interface whose
/// ifOperStatus is down while ifAdminStatus is up (its ifName).
struct Recorded {
    sys_name: String,
    /// Dotted, without the leading dot.
    sys_object_id: String,
    down_interface: Option<String>,
    interface_names: Vec<String>,
}

fn recorded(path: &PathBuf) -> Recorded {
    let varbinds = snmprec::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let get = |oid: &str| varbinds.iter().find(|(o, _)| o.to_string() == oid).map(|(_, v)| v.clone());
    let text = |value: SnmpValue| match value {
        SnmpValue::OctetString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        other => panic!("not a string: {other:?}"),
    };
    let int = |value: Option<SnmpValue>| match value {
        Some(SnmpValue::Integer(i)) => Some(i),
        _ => None,
    };
    let if_name_prefix = ".1.3.6.1.2.1.31.1.1.1.1.";
    let mut interface_names = Vec::new();
    let mut down_interface = None;
    for (oid, value) in &varbinds {
        let oid = oid.to_string();
        let Some(index) = oid.strip_prefix(if_name_prefix) else { continue };
        let name = text(value.clone());
        let admin = int(get(&format!(".1.3.6.1.2.1.2.2.1.7.{index}")));
        let oper = int(get(&format!(".1.3.6.1.2.1.2.2.1.8.{index}")));
        if down_interface.is_none() && admin == Some(1) && oper == Some(2) {
            down_interface = Some(name.clone());
        }
        interface_names.push(name);
    }
    let sys_object_id = match get(".1.3.6.1.2.1.1.2.0") {
        Some(SnmpValue::ObjectId(oid)) => oid.to_string().trim_start_matches('.').to_owned(),
        other => panic!("sysObjectID: {other:?}"),
    };
    Recorded { sys_name: text(get(".1.3.6.1.2.1.1.5.0").unwrap()), sys_object_id, down_interface, interface_names }
}

/// `MODULE::name` of an OID, by net-snmp over the MIBs nocwatch loads.
fn snmptranslate(oid: &str) -> String {
    let out = Command::new("snmptranslate")
        .args(["-M", testdata("mibs/net-snmp").to_str().unwrap(), "-m", "ALL", "-OS", oid])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn api(address: std::net::SocketAddr, path: &str) -> Value {
    let (status, body) = http_get(address, path).unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn every_page_shows_devices_interfaces_traps_and_syslog() {
    let c3560 = testdata("snmprec/cisco-c3560.snmprec");
    let mx960 = testdata("snmprec/juniper-mx960-12-3r6-6.snmprec");
    let cisco = recorded(&c3560);
    let juniper = recorded(&mx960);
    let down = cisco.down_interface.clone().expect("the C3560 recording has an interface up/down");
    let sim = Snmpsim::start(&[("c3560", c3560.clone()), ("mx960", mx960.clone())], 2);

    let (syslog, traps, web) = (free_port(), free_port(), addr(free_port()));
    let config = format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
mibs: {{dirs: ['{mibs}'], cache_dir: '${{DIR}}/mib-cache'}}
sources:
  syslog: {{type: syslog, mode: udp, address: '127.0.0.1:{syslog}'}}
  traps: {{type: snmp_traps, address: '127.0.0.1:{traps}', communities: [public]}}
  snmp:
    type: snmp
    interval: 5s
    devices:
      - {{address: 127.0.0.1, port: {p1}, community: c3560}}
      - {{address: 127.0.0.1, port: {p2}, community: mx960}}
sinks:
  store: {{type: local_store, path: '${{DIR}}/store.sqlite', batch: {{timeout: 100ms}}, web: {{address: '{web}'}}}}
",
        mibs = testdata("mibs/net-snmp").display(),
        p1 = sim.ports[0],
        p2 = sim.ports[1],
    );
    let agent = Agent::start(&config, Stdio::null());

    // Both devices polled, and polled again (rates need two polls).
    eventually(Duration::from_secs(60), "two devices polled", || {
        let devices = api(web, "/api/devices");
        devices["devices"].as_array().is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["reachable"] == true))
    });
    let cisco_id = format!("default:127.0.0.1:{}", sim.ports[0]);
    eventually(Duration::from_secs(60), "interface rates", || {
        let device = api(web, &format!("/api/device?id={cisco_id}"));
        device["interfaces"].as_array().is_some_and(|i| i.iter().any(|i| !i["in_bps"].is_null()))
    });

    let marker = format!("nocwatch-web-test-{}", std::process::id());
    let logger = |message: &str| {
        let status = Command::new("logger")
            .args(["-d", "-n", "127.0.0.1", "-P", &syslog.to_string(), "-t", "webtest", "-p", "local7.err", message])
            .status()
            .unwrap();
        assert!(status.success());
    };
    logger(&format!("%LINK-3-UPDOWN: Interface {down}, changed state to down {marker}"));
    logger("an unrelated line that the search must not show");
    let trap = Command::new("snmptrap")
        .args(["-v2c", "-c", "public", &format!("127.0.0.1:{traps}"), "4242", ".1.3.6.1.6.3.1.1.5.3"])
        .args([".1.3.6.1.2.1.2.2.1.1.7", "i", "7", ".1.3.6.1.2.1.2.2.1.8.7", "i", "2"])
        .env("MIBS", "")
        .status()
        .unwrap();
    assert!(trap.success());
    eventually(Duration::from_secs(20), "the syslog line and the trap stored", || {
        api(web, "/api/logs?limit=10")["logs"].as_array().is_some_and(|l| l.len() >= 3)
    });

    let browser = Browser::start();
    let base = format!("http://{web}/");

    // Devices: both names from the recordings, sortable, filterable.
    browser.goto(&format!("{base}#/devices"));
    browser.wait_for("the devices table", "return document.querySelector('#devices-table tbody tr')");
    let table = browser.text("#devices-table");
    assert!(table.contains(&cisco.sys_name) && table.contains(&juniper.sys_name), "{table}");
    assert!(table.contains("cisco-catalyst"), "the profile chosen by sysObjectID: {table}");
    let first_name = "return document.querySelector('#devices-table tbody tr td').innerText";
    let ascending = browser.script(first_name, json!([]));
    browser.click("#devices-table th[data-key=name]");
    let descending = browser.script(first_name, json!([]));
    assert_ne!(ascending, descending, "clicking Name sorts the other way");
    browser.type_into("#device-filter", &juniper.sys_name);
    browser.wait_for("the filter", "return document.querySelectorAll('#devices-table tbody tr').length === 1");
    assert!(browser.text("#devices-table").contains(&juniper.sys_name));
    browser.type_into("#device-filter", "");
    browser.wait_for("the filter cleared", "return document.querySelectorAll('#devices-table tbody tr').length === 2");
    browser.screenshot("devices");

    // One device: its interfaces with their status, charts, its recent logs.
    browser.click(&format!("#devices-table a[href$='{}']", urlencode(&cisco_id)));
    browser.wait_for(
        "the device page",
        "return document.body.dataset.ready && document.body.dataset.ready.startsWith('/device/')",
    );
    // From the poller's metadata event.
    browser.wait_for("the device facts", "return document.querySelector('.facts')");
    let facts = browser.text(".facts");
    assert!(facts.contains(&cisco.sys_object_id), "sysObjectID {}:\n{facts}", cisco.sys_object_id);
    let interfaces = browser.text("#interfaces-table");
    for name in cisco.interface_names.iter().take(3) {
        assert!(interfaces.contains(name.as_str()), "interface {name} missing:\n{interfaces}");
    }
    let oper = browser.script(
        "for (const tr of document.querySelectorAll('#interfaces-table tbody tr')) {
           const cells = [...tr.children].map(td => td.innerText);
           if (cells[1] === arguments[0]) return [cells[3], cells[4]];
         } return null",
        json!([down]),
    );
    assert_eq!(oper, json!(["up", "down"]), "admin/oper status of {down}");
    browser.wait_for("three charts", "return document.querySelectorAll('#charts .chart').length === 3");
    browser.wait_for("a CPU line", "return document.querySelector('#charts .chart[data-title=\"CPU %\"] polyline')");
    browser.select("#range", "30d");
    browser.wait_for(
        "the 30-day charts",
        "return document.querySelector('#charts .chart[data-title=\"CPU %\"] polyline')",
    );
    assert!(browser.text("#device-logs").contains(&marker), "the device's syslog line is on its page");
    browser.screenshot("device");

    // Logs: search, a trap with its resolved names, the live tail.
    browser.goto(&format!("{base}#/logs"));
    browser.wait_for("the logs view", "return document.body.dataset.ready === '/logs'");
    browser.type_into("#log-q", &marker);
    browser.click("#log-search");
    browser.wait_for(
        "the searched line",
        "const t = document.querySelector('#logs-table'); return t && t.querySelectorAll('tbody tr').length === 1",
    );
    let found = browser.text("#logs-table");
    assert!(found.contains(&marker) && found.contains(&down), "{found}");
    assert!(!found.contains("unrelated"), "{found}");
    browser.screenshot("logs-search");

    browser.type_into("#log-q", "");
    browser.select("#log-source", "snmp-traps");
    let trap_name = snmptranslate(".1.3.6.1.6.3.1.1.5.3");
    let oper_status = snmptranslate(".1.3.6.1.2.1.2.2.1.8");
    let (_, oper_status) = oper_status.split_once("::").unwrap();
    browser.wait_for(
        "the trap",
        "const t = document.querySelector('#logs-table'); return t && t.innerText.includes('snmp-traps')",
    );
    let traps_text = browser.text("#logs-table");
    assert!(traps_text.contains(&trap_name), "trap name {trap_name}:\n{traps_text}");
    // ifOperStatus 2 is down(2) in IF-MIB.
    assert!(traps_text.contains(&format!("{oper_status}=down")), "{traps_text}");
    assert!(!traps_text.contains(&marker), "source filter: {traps_text}");
    browser.screenshot("logs-traps");

    browser.select("#log-source", "");
    browser.wait_for(
        "all sources",
        &format!("const t = document.querySelector('#logs-table'); return t && t.innerText.includes('{marker}')"),
    );
    let tail_marker = format!("tail-{marker}");
    logger(&tail_marker);
    browser.wait_for(
        "the live tail",
        &format!("return document.querySelector('#logs-table tbody tr').innerText.includes('{tail_marker}')"),
    );
    browser.screenshot("logs-tail");

    // nocwatch itself: every component with its counters.
    browser.goto(&format!("{base}#/nocwatch"));
    browser.wait_for("the components table", "return document.querySelector('#components-table tbody tr')");
    let components = browser.text("#components-table");
    for expected in ["syslog", "snmp_traps", "snmp", "local_store"] {
        assert!(components.contains(expected), "{expected} missing:\n{components}");
    }
    assert!(browser.text("#store-facts").contains("store.sqlite"));
    browser.screenshot("nocwatch");
    drop(browser);
    drop(agent);
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A")
}
