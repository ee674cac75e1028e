//! The shared snmpsim recordings all parse, record for record, with values checked
//! against lines picked from the files.

use std::path::{Path, PathBuf};

use nocwatch_snmp::{Oid, Value, snmprec};

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/snmprec")
}

fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![recordings()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("testdata/snmprec is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "snmprec") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn every_recording_parses_completely() {
    let files = files();
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let records = snmprec::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        assert_eq!(records.len(), lines, "{}", file.display());
    }
}

#[test]
fn values_match_the_recorded_lines() {
    let text = std::fs::read_to_string(recordings().join("cisco-c3560.snmprec")).expect("read");
    let records = snmprec::parse(&text).expect("parse");
    let get = |oid: &str| {
        let oid: Oid = oid.parse().expect("oid");
        records.iter().find(|(o, _)| *o == oid).map(|(_, v)| v.clone()).expect("recorded")
    };
    assert_eq!(get("1.3.6.1.2.1.1.2.0"), Value::ObjectId("1.3.6.1.4.1.9.1.617".parse().expect("oid")));
    // The raw lines, read independently of the parser.
    for line in text.lines().filter(|l| l.starts_with("1.3.6.1.2.1.31.1.1.1.6.")).take(5) {
        let mut parts = line.split('|');
        let oid = parts.next().expect("oid");
        assert_eq!(parts.next(), Some("70"));
        let value: u64 = parts.next().expect("value").parse().expect("number");
        assert_eq!(get(oid), Value::Counter64(value));
    }
}
