//! End to end: the `snmp_traps` source over real sockets, fed by net-snmp's `snmptrap` and
//! `snmpinform` (Debian package `snmp`): v1 generic and enterprise-specific traps, v2c
//! IF-MIB / Cisco / Juniper notifications, v3 at every security level with several
//! protocols, informs that must be acknowledged, and rejections counted in `/metrics`.
//!
//! Expected values are what the test told `snmptrap` to send; MIB names are checked against
//! net-snmp's `snmptranslate` over the same MIB directories (see `NAMES_FROM_MIBS`).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;
use support::netsnmp::V3User;
use support::*;

/// Name assertions (checked against snmptranslate) need the MIB compiler (crates/mib); set
/// to false to test the numeric shape alone while the compiler is broken.
const NAMES_FROM_MIBS: bool = true;

const V3_ENGINE: &str = "0x8000000001020304";

/// A directory of links to the MIB modules the tests need: net-snmp's set (IF-MIB,
/// SNMPv2-MIB, ...) plus the Cisco and Juniper modules of the traps sent here and what
/// they import. Linked, not copied, from the shared test data.
fn mib_dirs() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "cisco/CISCO-SMI.my",
        "cisco/CISCO-TC.my",
        "cisco/CISCO-CONFIG-MAN-MIB.my",
        "juniper/mib-jnx-smi.txt",
        "juniper/mib-jnx-chassis.txt",
    ] {
        let target = testdata("mibs").join(file);
        std::os::unix::fs::symlink(&target, dir.path().join(Path::new(file).file_name().unwrap())).unwrap();
    }
    let dirs = vec![testdata("mibs/net-snmp"), dir.path().to_owned()];
    (dir, dirs)
}

const NOAUTH: V3User<'static> = V3User { name: "noauthuser", auth: None, privacy: None };
const SHA_ONLY: V3User<'static> = V3User { name: "shaonly", auth: Some(("SHA", "authpass-sha")), privacy: None };
const MD5_DES: V3User<'static> =
    V3User { name: "md5des", auth: Some(("MD5", "authpass-md5")), privacy: Some(("DES", "privpass-des")) };
/// The user of the captures in the shared test data (SOURCES.md there).
const TRAPUSER: V3User<'static> =
    V3User { name: "trapuser", auth: Some(("SHA", "trapauthpass1")), privacy: Some(("AES", "trapprivpass1")) };
const SHA512_AES256: V3User<'static> = V3User {
    name: "sha512aes256",
    auth: Some(("SHA-512", "authpass-512")),
    privacy: Some(("AES-256", "privpass-256")),
};
/// Every user the agent of [`config`] accepts.
const USERS: [V3User<'static>; 5] = [NOAUTH, MD5_DES, SHA_ONLY, TRAPUSER, SHA512_AES256];

fn config(port: u16, dirs: &[PathBuf], extra: &str) -> String {
    let dirs: Vec<String> = dirs.iter().map(|d| format!("'{}'", d.display())).collect();
    let users: String = USERS.iter().map(|u| format!("      - {}\n", u.yaml())).collect();
    format!(
        "
admin: {{address: '${{ADMIN}}'}}
shutdown: {{drain_period: 0s}}
mibs: {{dirs: [{}], cache_dir: '${{DIR}}/mib-cache'}}
sources:
  traps:
    type: snmp_traps
    address: '127.0.0.1:{port}'
    namespace: lab
    communities: [public, s3cond]
    users:
{users}{extra}
sinks:
  file: {{type: file, path: '${{DIR}}/events.jsonl'}}
",
        dirs.join(", ")
    )
}

/// A running agent of [`config`] on a free port, the `host:port` devices send to, and the
/// MIB directories it names things with.
struct Traps {
    agent: Agent,
    target: String,
    dirs: Vec<PathBuf>,
    _links: tempfile::TempDir,
}

fn start(extra: &str) -> Traps {
    let port = free_port();
    let (links, dirs) = mib_dirs();
    let agent = Agent::start(&config(port, &dirs, extra), Stdio::null());
    Traps { agent, target: format!("127.0.0.1:{port}"), dirs, _links: links }
}

fn run(tool: &str, args: &[&str]) -> Output {
    // net-snmp tools keep state (engine boots, engine IDs) in their persistent directory;
    // tests running in parallel must not share it.
    thread_local! {
        static STATE: tempfile::TempDir = tempfile::tempdir().unwrap();
    }
    let state = STATE.with(|dir| dir.path().to_owned());
    Command::new(tool)
        .args(args)
        .env("MIBS", "")
        .env("MIBDIRS", "/nonexistent")
        .env("SNMP_PERSISTENT_DIR", &state)
        .env("SNMPCONFPATH", &state)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (Debian package `snmp`; scripts/test installs it)"))
}

fn snmptrap(args: &[&str]) {
    let out = run("snmptrap", args);
    assert!(out.status.success(), "snmptrap {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The event whose `snmpTrapOID` is `oid` and whose variables contain `marker`.
fn wait_trap(agent: &Agent, oid: &str, marker: &str) -> Json {
    let mut found = None;
    eventually(std::time::Duration::from_secs(10), &format!("a trap {oid} with {marker}"), || {
        found = agent.events().into_iter().find(|e| {
            e["attributes"]["snmpTrapOID"] == oid && e["attributes"]["variables"].to_string().contains(marker)
        });
        found.is_some()
    });
    found.unwrap()
}

/// The raw variable with `oid` (no leading dot).
fn variable<'a>(event: &'a Json, oid: &str) -> &'a Json {
    event["attributes"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["oid"] == oid)
        .unwrap_or_else(|| panic!("no variable {oid} in {event:#}"))
}

/// `MODULE::name` of an OID by net-snmp over the same MIB directories.
fn snmptranslate(dirs: &[PathBuf], oid: &str) -> (String, String) {
    let path = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":");
    let out = run("snmptranslate", &["-M", &path, "-m", "ALL", "-OS", oid]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (module, name) = text.split_once("::").unwrap_or_else(|| panic!("snmptranslate {oid}: {text}"));
    (module.to_owned(), name.split('.').next().unwrap().to_owned())
}

/// The trap name and MIB, and the named varbind attributes, against snmptranslate.
fn assert_names(event: &Json, dirs: &[PathBuf]) {
    if !NAMES_FROM_MIBS {
        return;
    }
    let a = &event["attributes"];
    let trap_oid = a["snmpTrapOID"].as_str().unwrap();
    let (module, name) = snmptranslate(dirs, &format!(".{trap_oid}"));
    assert_eq!(a["snmpTrapName"], name.as_str(), "{event:#}");
    assert_eq!(a["snmpTrapMIB"], module.as_str(), "{event:#}");
    for v in a["variables"].as_array().unwrap() {
        let (_, name) = snmptranslate(dirs, &format!(".{}", v["oid"].as_str().unwrap()));
        assert!(a.get(&name).is_some(), "no attribute {name} in {event:#}");
    }
}

#[test]
fn v1_generic_and_enterprise_specific_traps() {
    let Traps { agent, target, dirs, _links } = start("");
    // Generic linkDown (2) from a Cisco C3560 (enterprise = its sysObjectID), uptime 12345.
    snmptrap(&[
        "-v1",
        "-c",
        "public",
        &target,
        ".1.3.6.1.4.1.9.1.617",
        "192.0.2.1",
        "2",
        "0",
        "12345",
        ".1.3.6.1.2.1.2.2.1.1.5",
        "i",
        "5",
        ".1.3.6.1.2.1.2.2.1.2.5",
        "s",
        "GigabitEthernet0/5",
    ]);
    let event = wait_trap(&agent, "1.3.6.1.6.3.1.1.5.3", "GigabitEthernet0/5");
    let a = &event["attributes"];
    assert_eq!(a["enterpriseOID"], "1.3.6.1.4.1.9.1.617");
    assert_eq!(a["genericTrap"], 2);
    assert_eq!(a["specificTrap"], 0);
    assert_eq!(a["agentAddress"], "192.0.2.1");
    assert_eq!(a["uptime"], 12345);
    assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.1.5")["value"], 5);
    assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.1.5")["type"], "integer");
    // RFC 3584: snmpTrapEnterprise.0 is appended.
    assert_eq!(variable(&event, "1.3.6.1.6.3.1.1.4.3.0")["value"], "1.3.6.1.4.1.9.1.617");
    assert_eq!(event["tags"]["snmp_version"], "1");
    assert_eq!(event["tags"]["device_namespace"], "lab");
    assert_eq!(event["tags"]["snmp_device"], "127.0.0.1");
    assert_eq!(event["source"], "snmp-traps");
    assert_names(&event, &dirs);

    // Enterprise-specific 3 of the net-snmp example enterprise: enterprise.0.3.
    snmptrap(&[
        "-v1",
        "-c",
        "s3cond",
        &target,
        ".1.3.6.1.4.1.8072.2.3",
        "192.0.2.2",
        "6",
        "3",
        "",
        ".1.3.6.1.4.1.8072.2.3.2.1",
        "i",
        "77",
    ]);
    let event = wait_trap(&agent, "1.3.6.1.4.1.8072.2.3.0.3", "8072.2.3.2.1");
    assert_eq!(event["attributes"]["genericTrap"], 6);
    assert_eq!(event["attributes"]["specificTrap"], 3);
    assert_eq!(variable(&event, "1.3.6.1.4.1.8072.2.3.2.1")["value"], 77);
}

#[test]
fn v2c_if_mib_cisco_and_juniper_notifications() {
    let Traps { agent, target, dirs, _links } = start("");
    for (trap, admin, oper, descr) in
        [(".1.3.6.1.6.3.1.1.5.3", 1, 2, "Gi1/0/7 down"), (".1.3.6.1.6.3.1.1.5.4", 1, 1, "Gi1/0/7 up")]
    {
        snmptrap(&[
            "-v2c",
            "-c",
            "public",
            &target,
            "4242",
            trap,
            ".1.3.6.1.2.1.2.2.1.1.7",
            "i",
            "7",
            ".1.3.6.1.2.1.2.2.1.7.7",
            "i",
            &admin.to_string(),
            ".1.3.6.1.2.1.2.2.1.8.7",
            "i",
            &oper.to_string(),
            ".1.3.6.1.2.1.2.2.1.2.7",
            "s",
            descr,
        ]);
        let event = wait_trap(&agent, &trap[1..], descr);
        let a = &event["attributes"];
        assert_eq!(a["uptime"], 4242);
        assert!(a.get("genericTrap").is_none(), "v1 fields only for v1");
        assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.1.7")["value"], 7);
        assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.7.7")["value"], admin);
        assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.8.7")["value"], oper);
        assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.2.7")["value"], descr);
        assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.2.7")["type"], "string");
        assert_eq!(event["tags"]["snmp_version"], "2");
        assert_names(&event, &dirs);
        if NAMES_FROM_MIBS {
            let up_down = |v: i64| if v == 1 { "up" } else { "down" };
            assert_eq!(a["ifAdminStatus"], up_down(admin));
            assert_eq!(a["ifOperStatus"], up_down(oper));
            assert_eq!(a["ifIndex"], 7);
            assert_eq!(a["ifDescr"], descr);
        }
    }

    // CISCO-CONFIG-MAN-MIB ciscoConfigManEvent: command source commandLine(1), config
    // source running(3) to destination startup(4).
    snmptrap(&[
        "-v2c",
        "-c",
        "public",
        &target,
        "",
        ".1.3.6.1.4.1.9.9.43.2.0.1",
        ".1.3.6.1.4.1.9.9.43.1.1.6.1.3.12",
        "i",
        "1",
        ".1.3.6.1.4.1.9.9.43.1.1.6.1.4.12",
        "i",
        "3",
        ".1.3.6.1.4.1.9.9.43.1.1.6.1.5.12",
        "i",
        "4",
        ".1.3.6.1.4.1.9.9.43.1.1.6.1.6.12",
        "i",
        "1",
    ]);
    let event = wait_trap(&agent, "1.3.6.1.4.1.9.9.43.2.0.1", "9.9.43.1.1.6.1.3.12");
    assert_eq!(variable(&event, "1.3.6.1.4.1.9.9.43.1.1.6.1.4.12")["value"], 3);
    assert_names(&event, &dirs);
    if NAMES_FROM_MIBS {
        assert_eq!(event["attributes"]["ccmHistoryEventCommandSource"], "commandLine");
        assert_eq!(event["attributes"]["ccmHistoryEventConfigSource"], "running");
        assert_eq!(event["attributes"]["ccmHistoryEventConfigDestination"], "startup");
    }

    // JUNIPER-MIB jnxPowerSupplyFailure for PEM 1: container 2, L1-L3 index, description, state.
    snmptrap(&[
        "-v2c",
        "-c",
        "public",
        &target,
        "",
        ".1.3.6.1.4.1.2636.4.1.1",
        ".1.3.6.1.4.1.2636.3.1.8.1.1.2.1.0.0",
        "i",
        "2",
        ".1.3.6.1.4.1.2636.3.1.8.1.6.2.1.0.0",
        "s",
        "PEM 1",
        ".1.3.6.1.4.1.2636.3.1.13.1.6.2.1.0.0",
        "i",
        "6",
    ]);
    let event = wait_trap(&agent, "1.3.6.1.4.1.2636.4.1.1", "PEM 1");
    assert_eq!(variable(&event, "1.3.6.1.4.1.2636.3.1.13.1.6.2.1.0.0")["value"], 6);
    assert_names(&event, &dirs);
    if NAMES_FROM_MIBS {
        assert_eq!(event["attributes"]["jnxOperatingState"], "down");
        assert_eq!(event["attributes"]["jnxContentsDescr"], "PEM 1");
    }
}

/// OCTET STRINGs by DISPLAY-HINT and BITS by label. The expected texts follow RFC 2579's
/// hints as net-snmp's MIBs give them (`snmptranslate -Td`): MacAddress "1x:", DateAndTime
/// "2d-1d-1d,1d:1d:1d.1d,1a1d:1d"; BITS {existence(0), boolean(1), threshold(2)}.
#[test]
fn display_hints_and_bits() {
    let Traps { agent, target, dirs, _links } = start("");
    snmptrap(&[
        "-v2c",
        "-c",
        "public",
        &target,
        "",
        ".1.3.6.1.6.3.1.1.5.4",
        ".1.3.6.1.2.1.2.2.1.6.7",
        "x",
        "001B54C22001",
        ".1.3.6.1.2.1.25.1.2.0",
        "x",
        "07EA0B1908391F002B0900",
        ".1.3.6.1.2.1.88.1.2.2.1.4.1.97.1.98",
        "x",
        "A0",
    ]);
    let event = wait_trap(&agent, "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.6.7");
    // Raw: not printable text, so hex; BITS always hex.
    assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.6.7")["value"], "0x001B54C22001");
    assert_eq!(variable(&event, "1.3.6.1.2.1.88.1.2.2.1.4.1.97.1.98")["value"], "0xA0");
    assert_names(&event, &dirs);
    if NAMES_FROM_MIBS {
        let a = &event["attributes"];
        // nocwatch_mib::format_octets pads hex octets to two digits (net-snmp prints
        // "0:1b:54:c2:20:1"; the hint does not say, and the padded form is the usual MAC).
        assert_eq!(a["ifPhysAddress"], "00:1b:54:c2:20:01");
        // 0x07EA = 2026, 11, 25, 8:57:31.0, '+' 9:00
        assert_eq!(a["hrSystemDate"], "2026-11-25,8:57:31.0,+9:0");
        // 0xA0: bits 0 and 2
        assert_eq!(a["mteTriggerTest"], serde_json::json!(["existence", "threshold"]));
    }
}

#[test]
fn v3_traps_at_every_level_with_several_protocols() {
    let Traps { agent, target, dirs: _, _links } = start("");
    for (i, user) in USERS.iter().enumerate() {
        let marker = format!("v3 trap from {}", user.name);
        let mut args = vec!["-e", V3_ENGINE];
        args.extend(user.flags());
        args.extend_from_slice(&[&target, "", ".1.3.6.1.6.3.1.1.5.4", ".1.3.6.1.2.1.2.2.1.2.3", "s", &marker]);
        let index = i.to_string();
        args.extend_from_slice(&[".1.3.6.1.2.1.2.2.1.1.3", "i", &index]);
        snmptrap(&args);
        let event = wait_trap(&agent, "1.3.6.1.6.3.1.1.5.4", &marker);
        assert_eq!(event["tags"]["snmp_version"], "3");
        assert_eq!(variable(&event, "1.3.6.1.2.1.2.2.1.1.3")["value"], i);
    }
    assert_eq!(agent.metric("nocwatch_component_received_events_total", &["component_id=\"traps\""]), Some(5.0));
}

#[test]
fn informs_are_acknowledged_in_v2c_and_v3() {
    let Traps { agent, target, dirs: _, _links } = start("");
    let cases: Vec<Vec<&str>> =
        vec![vec!["-v2c", "-c", "public"], NOAUTH.flags(), SHA_ONLY.flags(), SHA512_AES256.flags()];
    for (i, case) in cases.iter().enumerate() {
        let marker = format!("inform {i}");
        let mut args = vec!["-t", "2", "-r", "1"];
        args.extend_from_slice(case);
        args.extend_from_slice(&[&target, "", ".1.3.6.1.6.3.1.1.5.3", ".1.3.6.1.2.1.2.2.1.2.9", "s", &marker]);
        let out = run("snmpinform", &args);
        // snmpinform exits 0 only once our Response arrived.
        assert!(out.status.success(), "snmpinform {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        wait_trap(&agent, "1.3.6.1.6.3.1.1.5.3", &marker);
    }

    // A wrong community or key gets no answer: snmpinform times out.
    let out = run("snmpinform", &["-t", "1", "-r", "0", "-v2c", "-c", "nope", &target, "", ".1.3.6.1.6.3.1.1.5.3"]);
    assert!(!out.status.success());
}

#[test]
fn wrong_community_wrong_key_and_unknown_user_are_rejected_and_counted() {
    let Traps { agent, target, dirs: _, _links } = start("    allowed_sources: ['127.0.0.0/8']");
    snmptrap(&["-v2c", "-c", "wrong-community", &target, "", ".1.3.6.1.6.3.1.1.5.1"]);
    snmptrap(&["-v1", "-c", "wrong-community", &target, ".1.3.6.1.4.1.9", "", "0", "0", ""]);
    let v3_trap = |user: V3User| {
        let mut args = vec!["-e", V3_ENGINE];
        args.extend(user.flags());
        args.extend([target.as_str(), "", ".1.3.6.1.6.3.1.1.5.1"]);
        snmptrap(&args);
    };
    v3_trap(TRAPUSER.with_keys("not-the-key", "trapprivpass1"));
    v3_trap(TRAPUSER.with_keys("trapauthpass1", "not-the-key"));
    v3_trap(V3User { name: "nobody", ..SHA_ONLY });
    // An authenticated user's name without authentication is refused too.
    v3_trap(V3User { auth: None, ..SHA_ONLY });
    // A good one last: once it is in, the bad ones before it were all handled.
    snmptrap(&["-v2c", "-c", "public", &target, "", ".1.3.6.1.6.3.1.1.5.1", ".1.3.6.1.2.1.1.5.0", "s", "last"]);
    wait_trap(&agent, "1.3.6.1.6.3.1.1.5.1", "last");
    let errors = |reason: &str| {
        agent.metric("nocwatch_component_errors_total", &["component_id=\"traps\"", &format!("reason=\"{reason}\"")])
    };
    assert_eq!(errors("unknown_community"), Some(2.0));
    assert_eq!(errors("wrong_digest"), Some(1.0));
    assert_eq!(errors("decryption_error"), Some(1.0));
    assert_eq!(errors("unknown_user"), Some(1.0));
    assert_eq!(errors("unsupported_security_level"), Some(1.0));
    assert_eq!(errors("not_allowed_source"), Some(0.0));
    assert_eq!(agent.events().len(), 1);
    let log = agent.stderr();
    assert!(log.contains("SNMP notification rejected"), "{log}");
    for secret in ["wrong-community", "not-the-key", "trapprivpass1", "trapauthpass1", "authpass-sha"] {
        assert!(!log.contains(secret), "secret {secret} in the log:\n{log}");
    }
}

#[test]
fn sources_outside_the_allow_list_are_rejected() {
    let Traps { agent, target, dirs: _, _links } = start("    allowed_sources: ['192.0.2.0/24']");
    snmptrap(&["-v2c", "-c", "public", &target, "", ".1.3.6.1.6.3.1.1.5.1"]);
    eventually(std::time::Duration::from_secs(10), "a not_allowed_source rejection", || {
        agent.metric("nocwatch_component_errors_total", &["component_id=\"traps\"", "reason=\"not_allowed_source\""])
            == Some(1.0)
    });
    assert!(agent.events().is_empty());
}

/// snmpEngineBoots, as `snmpinform` learns it from our discovery Report (net-snmp's own
/// debug output): one more at every restart, from the count kept under agent.data_dir,
/// even when the wall clock is behind it (RFC 3414 2.2: it must never go back, or an
/// inform captured before a restart could fit the time window again).
#[test]
fn engine_boots_grow_at_every_restart_as_snmpinform_sees_them() {
    const ENGINE: &str = "80001f88046e6f63776174636821";
    let port = free_port();
    let (_links, dirs) = mib_dirs();
    let data = tempfile::tempdir().unwrap();
    // The count a previous run left, ahead of the clock (as after the clock went back).
    std::fs::create_dir_all(data.path().join("snmp_engine")).unwrap();
    std::fs::write(data.path().join("snmp_engine").join(ENGINE), "2100000000\n").unwrap();
    let extra = format!("    engine_id: '{ENGINE}'\nagent: {{data_dir: '{}'}}", data.path().display());
    let config = config(port, &dirs, &extra);
    let target = format!("127.0.0.1:{port}");
    let inform_boots = |agent: &Agent, marker: &str| -> u32 {
        let mut args = vec!["-Dlcd_set_enginetime", "-t", "2", "-r", "1"];
        args.extend(SHA_ONLY.flags());
        args.extend([target.as_str(), "", ".1.3.6.1.6.3.1.1.5.3", ".1.3.6.1.2.1.2.2.1.2.9", "s", marker]);
        let out = run("snmpinform", &args);
        assert!(out.status.success(), "snmpinform: {}", String::from_utf8_lossy(&out.stderr));
        wait_trap(agent, "1.3.6.1.6.3.1.1.5.3", marker);
        // "lcd_set_enginetime: engineID 80 00 1F ... (16 bytes a line) : boots=N, time=M"
        let output: String =
            [out.stdout, out.stderr].concat().iter().map(|b| char::from(*b)).filter(|c| !c.is_whitespace()).collect();
        output
            .split("lcd_set_enginetime:engineID")
            .filter_map(|entry| {
                let (id, rest) = entry.split_once(":boots=")?;
                let boots = rest.split(',').next()?.parse::<u32>().ok()?;
                id.eq_ignore_ascii_case(ENGINE).then_some(boots)
            })
            .max()
            .unwrap_or_else(|| panic!("no boots for our engine in: {output}"))
    };
    let first = Agent::start(&config, Stdio::null());
    assert_eq!(inform_boots(&first, "first run"), 2_100_000_001);
    drop(first);
    let second = Agent::start(&config, Stdio::null());
    assert_eq!(inform_boots(&second, "second run"), 2_100_000_002);
    let kept = std::fs::read_to_string(data.path().join("snmp_engine").join(ENGINE)).unwrap();
    assert_eq!(kept.trim(), "2100000002");
}

/// A burst larger than the socket's receive buffer: what the kernel drops before nocwatch
/// reads it is counted (`receive_buffer_full`, the socket's drops in /proc), so every trap
/// sent is either an event or a counted drop.
#[test]
fn traps_the_kernel_drops_are_counted() {
    let Traps { agent, target, dirs: _, _links } = start("    receive_buffer: 4KiB\n    receivers: 1");
    // net-snmp's v2c linkDown (community `public`), as captured.
    let trap = std::fs::read(testdata("traps/v2c-linkDown.bin")).unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 5000;
    for _ in 0..sent {
        sender.send_to(&trap, &target).unwrap();
    }
    let drops = || {
        agent.metric("nocwatch_component_errors_total", &["component_id=\"traps\"", "reason=\"receive_buffer_full\""])
    };
    eventually(std::time::Duration::from_secs(30), "every trap an event or a counted drop", || {
        agent.events().len() as f64 + drops().unwrap_or(0.0) == f64::from(sent)
    });
    assert!(drops().is_some_and(|d| d > 0.0), "a 4 KiB buffer cannot take {sent} traps at once");
}
