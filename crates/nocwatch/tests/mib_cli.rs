//! `nocwatch mib translate` and `nocwatch mib check` on the MIB collections of
//! `../shared/testdata/mibs`, compared with net-snmp's `snmptranslate` over the same
//! directories (given in reverse order: net-snmp lets the last directory win for a
//! module defined twice, nocwatch the first).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::BIN;

fn sets() -> Vec<PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mibs");
    ["net-snmp", "rfc", "cisco", "juniper"].iter().map(|s| root.join(s)).collect()
}

fn nocwatch(args: &[&str], cache: &std::path::Path) -> Output {
    let mut command = Command::new(BIN);
    command.args(["mib"]).args(&args[..1]);
    for set in sets() {
        command.arg("-M").arg(set);
    }
    command.args(&args[1..]).env("XDG_CACHE_HOME", cache).env_remove("NOCWATCH_CONFIG").output().unwrap()
}

fn snmptranslate(args: &[&str]) -> String {
    let reversed: Vec<String> = sets().iter().rev().map(|d| d.display().to_string()).collect();
    // -IR looks bare names up anywhere in the tree (nocwatch always does); it also
    // makes snmptranslate refuse numeric OIDs, so only for names.
    let names = !args.iter().any(|a| a.starts_with('.'));
    let out = Command::new("snmptranslate")
        .args(["-M", &reversed.join(":"), "-m", "ALL"])
        .args(if names { &["-IR"][..] } else { &[][..] })
        .args(args)
        .output()
        .expect("net-snmp's snmptranslate (Debian package snmp, installed by scripts/test)");
    // With several objects, snmptranslate puts an empty line between them.
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect()
}

#[test]
fn translate_agrees_with_snmptranslate_both_ways() {
    let cache = tempfile::tempdir().unwrap();
    let names = [
        "sysDescr.0",
        "IF-MIB::ifOperStatus.3",
        "ifHCInOctets",
        "linkDown",
        "CISCO-CONFIG-MAN-MIB::ciscoConfigManEvent",
        "ccmHistoryEventCommandSource",
        "jnxAlarms",
        "jnxYellowAlarmState",
        "JUNIPER-MIB::jnxOperatingCPU.9.1.0.0",
        "ciscoEnvMonTemperatureStatusValue",
        "hrStorageAllocationUnits",
    ];
    // name -> OID, as `snmptranslate -On NAME`
    let ours = nocwatch(&[&["translate"][..], &names[..]].concat(), cache.path());
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let ours = String::from_utf8(ours.stdout).unwrap();
    let theirs = snmptranslate(&[&["-On"][..], &names[..]].concat());
    assert_eq!(ours, theirs);
    assert_eq!(ours.lines().count(), names.len());

    // OID -> MODULE::name.index, as `snmptranslate OID`
    let oids: Vec<&str> = theirs.lines().collect();
    let ours = nocwatch(&[&["translate"][..], &oids[..]].concat(), cache.path());
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let ours = String::from_utf8(ours.stdout).unwrap();
    assert_eq!(ours, snmptranslate(&oids));
    assert!(ours.contains("IF-MIB::ifOperStatus.3\n"), "{ours}");

    // Unknown names are errors; the known ones are still printed.
    let out = nocwatch(&["translate", "ifDescr", "noSuchThing"], cache.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), ".1.3.6.1.2.1.2.2.1.2\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unknown object identifier: noSuchThing"));

    // -Td: the syntax as snmptranslate -Td describes it.
    let out = nocwatch(&["translate", "-Td", "IF-MIB::ifPhysAddress"], cache.path());
    let described = String::from_utf8_lossy(&out.stdout);
    let theirs = snmptranslate(&["-Td", "IF-MIB::ifPhysAddress"]);
    assert!(theirs.contains("TEXTUAL CONVENTION PhysAddress") && theirs.contains("DISPLAY-HINT\t\"1x:\""), "{theirs}");
    assert!(
        described.contains("convention:   PhysAddress") && described.contains("display-hint: \"1x:\""),
        "{described}"
    );
}

#[test]
fn check_reports_failing_modules_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("BROKEN-MIB.txt"),
        "BROKEN-MIB DEFINITIONS ::= BEGIN\nIMPORTS enterprises FROM SNMPv2-SMI;\n\
         good OBJECT IDENTIFIER ::= { enterprises 42 }\n\
         bad OBJECT IDENTIFIER ::= { good ? 1 }\nEND\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ORPHAN-MIB.txt"),
        "ORPHAN-MIB DEFINITIONS ::= BEGIN\nlost OBJECT IDENTIFIER ::= { nowhere 1 }\nEND\n",
    )
    .unwrap();
    let net_snmp = sets()[0].clone();
    let out = Command::new(BIN)
        .args(["mib", "check"])
        .arg(dir.path())
        .arg(&net_snmp)
        .env_remove("NOCWATCH_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let broken = dir.path().join("BROKEN-MIB.txt");
    assert!(stdout.contains(&format!("{}:4: error: BROKEN-MIB: ", broken.display())), "{stdout}");
    assert!(stdout.contains("partial BROKEN-MIB"), "{stdout}");
    assert!(stdout.contains("FAILED  ORPHAN-MIB"), "{stdout}");
    assert!(stdout.contains("undefined name nowhere"), "{stdout}");
    let summary = stdout.lines().last().unwrap();
    let modules = 2 + std::fs::read_dir(&net_snmp).unwrap().count();
    assert!(summary.starts_with(&format!("{modules} modules: {} ok, 1 partial, 1 failed", modules - 2)), "{summary}");

    // The net-snmp set alone is clean: exit 0.
    let out = Command::new(BIN).args(["mib", "check"]).arg(&net_snmp).env_remove("NOCWATCH_CONFIG").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // --stats loads through the cache: the second run reads it.
    let cache = tempfile::tempdir().unwrap();
    let stats = || {
        let out = Command::new(BIN)
            .args(["mib", "check", "--stats"])
            .arg(&net_snmp)
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("NOCWATCH_CONFIG")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(stats().contains("loaded from:      sources (cache written to"));
    assert!(stats().contains("loaded from:      cache "));
}
