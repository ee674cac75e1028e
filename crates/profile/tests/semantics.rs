//! The schema's features one by one, on a profile written here and values chosen here,
//! with expectations worked out by hand from Datadog's documented semantics.

use std::path::PathBuf;
use std::sync::Arc;

use nocwatch_profile::{Evaluation, Fetched, MetricType, Profile, Profiles, Sample, SampleValue};
use nocwatch_snmp::{Oid, Value};

fn profile(yaml: &str) -> Arc<Profile> {
    let dir =
        std::env::temp_dir().join(format!("nocwatch-profile-semantics-{}-{}", std::process::id(), fastish_id(yaml)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("p.yaml"), yaml).expect("write");
    let profiles = Profiles::load(&[PathBuf::from(&dir)]).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    profiles.get("p").expect("p")
}

fn fastish_id(text: &str) -> u64 {
    text.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211))
}

fn oid(text: &str) -> Oid {
    text.parse().expect("oid")
}

fn fetched(values: &[(&str, Value)]) -> Fetched {
    values.iter().map(|(o, v)| (oid(o), v.clone())).collect()
}

fn tags(sample: &Sample) -> Vec<(&str, &str)> {
    sample.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn only<'e>(evaluation: &'e Evaluation, name: &str) -> &'e Sample {
    let found: Vec<&Sample> = evaluation.samples.iter().filter(|s| &*s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {:?}", evaluation.samples);
    found[0]
}

fn text(s: &str) -> Value {
    Value::OctetString(s.as_bytes().to_vec())
}

#[test]
fn metric_types_scale_and_defaults() {
    let p = profile(
        r#"
metrics:
  - symbol: {OID: 1.3.6.1.4.1.99.1.0, name: counterDefault}
  - symbol: {OID: 1.3.6.1.4.1.99.2.0, name: gaugeDefault, scale_factor: 0.5}
  - metric_type: gauge
    symbol: {OID: 1.3.6.1.4.1.99.3.0, name: counterAsGauge, scale_factor: 2}
  - forced_type: percent
    symbol: {OID: 1.3.6.1.4.1.99.4.0, name: legacyPercent}
  - metric_type: monotonic_count
    symbol: {OID: 1.3.6.1.4.1.99.5.0, name: mono, scale_factor: 8}
  - OID: 1.3.6.1.4.1.99.6.0
    name: legacyForm
  - metric_type: gauge
    symbol: {OID: 1.3.6.1.4.1.99.7.0, name: symbolWins, metric_type: rate}
  - forced_type: counter
    symbol: {OID: 1.3.6.1.4.1.99.8.0, name: legacyCounter, scale_factor: 10}
"#,
    );
    let evaluation = p.evaluate(&fetched(&[
        ("1.3.6.1.4.1.99.1.0", Value::Counter32(7)),
        ("1.3.6.1.4.1.99.2.0", Value::Gauge32(9)),
        ("1.3.6.1.4.1.99.3.0", Value::Counter64(21)),
        ("1.3.6.1.4.1.99.4.0", Value::Counter32(3)),
        ("1.3.6.1.4.1.99.5.0", Value::Counter64(100)),
        ("1.3.6.1.4.1.99.6.0", Value::Integer(-4)),
        ("1.3.6.1.4.1.99.7.0", Value::Counter32(1)),
        ("1.3.6.1.4.1.99.8.0", Value::Gauge32(5)),
    ]));
    let s = only(&evaluation, "counterDefault");
    assert_eq!((s.value, s.metric_type, s.scale), (SampleValue::Counter { raw: 7, bits: 32 }, MetricType::Rate, 1.0));
    let s = only(&evaluation, "gaugeDefault");
    assert_eq!((s.value, s.metric_type), (SampleValue::Gauge(4.5), MetricType::Gauge));
    let s = only(&evaluation, "counterAsGauge");
    assert_eq!((s.value, s.metric_type), (SampleValue::Gauge(42.0), MetricType::Gauge));
    let s = only(&evaluation, "legacyPercent");
    assert_eq!((s.value, s.metric_type, s.scale), (SampleValue::Counter { raw: 3, bits: 32 }, MetricType::Rate, 100.0));
    let s = only(&evaluation, "mono");
    assert_eq!(
        (s.value, s.metric_type, s.scale),
        (SampleValue::Counter { raw: 100, bits: 64 }, MetricType::MonotonicCount, 8.0)
    );
    assert_eq!(only(&evaluation, "legacyForm").value, SampleValue::Gauge(-4.0));
    assert_eq!(only(&evaluation, "symbolWins").metric_type, MetricType::Rate);
    // A plain number forced to a rate: raw value, the rate is to be scaled.
    let s = only(&evaluation, "legacyCounter");
    assert_eq!((s.value, s.metric_type, s.scale), (SampleValue::Gauge(5.0), MetricType::Rate, 10.0));
}

#[test]
fn scalar_named_without_instance_is_found_with_dot_zero() {
    let p = profile("metrics:\n  - symbol: {OID: 1.3.6.1.4.1.99.1, name: noInstance}\n");
    assert!(p.plan().scalars.contains(&oid("1.3.6.1.4.1.99.1")));
    let evaluation = p.evaluate(&fetched(&[("1.3.6.1.4.1.99.1.0", Value::Integer(3))]));
    assert_eq!(only(&evaluation, "noInstance").value, SampleValue::Gauge(3.0));
}

#[test]
fn flag_stream_expands_to_gauges() {
    let p = profile(
        r#"
metrics:
  - metric_type: flag_stream
    options: {placement: 1, metric_suffix: first}
    symbol: {OID: 1.3.6.1.4.1.99.1.0, name: flags}
  - metric_type: flag_stream
    options: {placement: 3, metric_suffix: third}
    symbol: {OID: 1.3.6.1.4.1.99.1.0, name: flags}
  - metric_type: flag_stream
    options: {placement: 9, metric_suffix: beyond}
    symbol: {OID: 1.3.6.1.4.1.99.1.0, name: flags}
"#,
    );
    let evaluation = p.evaluate(&fetched(&[("1.3.6.1.4.1.99.1.0", text("101"))]));
    assert_eq!(only(&evaluation, "flags.first").value, SampleValue::Gauge(1.0));
    assert_eq!(only(&evaluation, "flags.third").value, SampleValue::Gauge(1.0));
    assert!(evaluation.samples.iter().all(|s| &*s.name != "flags.beyond"));
    assert_eq!(evaluation.unusable_values, 1);
    let evaluation = p.evaluate(&fetched(&[("1.3.6.1.4.1.99.1.0", text("010"))]));
    assert_eq!(only(&evaluation, "flags.first").value, SampleValue::Gauge(0.0));
    assert_eq!(only(&evaluation, "flags.first").metric_type, MetricType::Gauge);
}

#[test]
fn extract_value_and_text_numbers() {
    let p = profile(
        r#"
metrics:
  - symbol: {OID: 1.3.6.1.4.1.99.1.0, name: temperature, extract_value: '(\d+)C'}
  - symbol: {OID: 1.3.6.1.4.1.99.2.0, name: textNumber}
  - symbol: {OID: 1.3.6.1.4.1.99.3.0, name: state, mapping: {1: up, 2: down}}
"#,
    );
    let evaluation = p.evaluate(&fetched(&[
        ("1.3.6.1.4.1.99.1.0", text("43C")),
        ("1.3.6.1.4.1.99.2.0", text(" 12.5 ")),
        ("1.3.6.1.4.1.99.3.0", text("down")),
    ]));
    assert_eq!(only(&evaluation, "temperature").value, SampleValue::Gauge(43.0));
    assert_eq!(only(&evaluation, "textNumber").value, SampleValue::Gauge(12.5));
    assert_eq!(only(&evaluation, "state").value, SampleValue::Gauge(2.0));
    let evaluation = p.evaluate(&fetched(&[("1.3.6.1.4.1.99.1.0", text("hot"))]));
    assert!(evaluation.samples.is_empty());
    assert_eq!(evaluation.unusable_values, 1);
    assert!(evaluation.warnings[0].contains("extract_value"), "{:?}", evaluation.warnings);
}

const TABLE: &str = r#"
metric_tags:
  - OID: 1.3.6.1.2.1.1.5.0
    symbol: sysName
    tag: host
  - symbol: {OID: 1.3.6.1.2.1.1.1.0, name: sysDescr}
    match: 'Version (\d+)\.(\d+)'
    tags:
      major: '\1'
      version: '$1.$2'
static_tags:
  - site:paris
  - lab
metrics:
  - table: {OID: 1.3.6.1.4.1.99.10, name: t}
    static_tags: [kind:port]
    symbols:
      - {OID: 1.3.6.1.4.1.99.10.1.2, name: portBytes}
      - {name: portPresent, constant_value_one: true}
    metric_tags:
      - index: 1
        tag: slot
      - index: 2
        tag: port_kind
        mapping: {1: copper, 2: fiber}
      - tag: port_name
        column: {OID: 1.3.6.1.4.1.99.10.1.1, name: portName}
      - tag: peer_ip
        column: {OID: 1.3.6.1.4.1.99.10.1.3, name: peerAddr, format: ip_address}
      - tag: peer_mac
        symbol: {OID: 1.3.6.1.4.1.99.10.1.4, name: peerMac, format: mac_address}
      - tag: slot_name
        table: slotTable
        column: {OID: 1.3.6.1.4.1.99.11.1.1, name: slotName}
        index_transform:
          - {start: 0, end: 0}
      - match: '^(\w+)-(\d+)$'
        tags:
          vendor_prefix: '$1'
          vendor_number: '\2'
        column: {OID: 1.3.6.1.4.1.99.10.1.5, name: vendorCode}
"#;

#[test]
fn table_tags_index_mapping_columns_transforms_and_match() {
    let p = profile(TABLE);
    let plan = p.plan();
    // The profile-level tags' OIDs, and sysObjectID from the default device metadata.
    assert_eq!(plan.scalars, ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0"].map(oid));
    let table = plan.tables.iter().find(|t| t.table == oid("1.3.6.1.4.1.99.10")).expect("table planned");
    assert_eq!(
        table.columns,
        [
            "1.3.6.1.4.1.99.10.1.1",
            "1.3.6.1.4.1.99.10.1.2",
            "1.3.6.1.4.1.99.10.1.3",
            "1.3.6.1.4.1.99.10.1.4",
            "1.3.6.1.4.1.99.10.1.5"
        ]
        .map(oid)
    );
    assert!(
        plan.tables.iter().any(|t| t.table == oid("1.3.6.1.4.1.99.11") && t.columns == [oid("1.3.6.1.4.1.99.11.1.1")])
    );

    let evaluation = p.evaluate(&fetched(&[
        ("1.3.6.1.2.1.1.5.0", text("edge-1")),
        ("1.3.6.1.2.1.1.1.0", text("OS Version 15.2 (x)")),
        ("1.3.6.1.4.1.99.10.1.1.3.2", text("Te3/2")),
        ("1.3.6.1.4.1.99.10.1.2.3.2", Value::Counter64(1000)),
        ("1.3.6.1.4.1.99.10.1.3.3.2", Value::OctetString(vec![192, 0, 2, 7])),
        ("1.3.6.1.4.1.99.10.1.4.3.2", Value::OctetString(vec![0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc])),
        ("1.3.6.1.4.1.99.10.1.5.3.2", text("acme-42")),
        ("1.3.6.1.4.1.99.11.1.1.3", text("slot three")),
        // A second row with only a name and a counter; index 9.9 maps to no port_kind.
        ("1.3.6.1.4.1.99.10.1.1.9.9", text("x")),
        ("1.3.6.1.4.1.99.10.1.2.9.9", Value::Counter64(5)),
    ]));
    assert_eq!(
        evaluation.tags,
        [("host", "edge-1"), ("lab", ""), ("major", "15"), ("site", "paris"), ("version", "15.2")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let bytes: Vec<&Sample> = evaluation.samples.iter().filter(|s| &*s.name == "portBytes").collect();
    assert_eq!(bytes.len(), 2);
    assert_eq!(
        tags(bytes[0]),
        [
            ("kind", "port"),
            ("peer_ip", "192.0.2.7"),
            ("peer_mac", "00:1b:21:aa:bb:cc"),
            ("port_kind", "fiber"),
            ("port_name", "Te3/2"),
            ("slot", "3"),
            ("slot_name", "slot three"),
            ("vendor_number", "42"),
            ("vendor_prefix", "acme"),
        ]
    );
    assert_eq!(tags(bytes[1]), [("kind", "port"), ("port_name", "x"), ("slot", "9")]);
    // constant_value_one: one 1.0 per row of the (non-transformed) tag columns.
    let present: Vec<&Sample> = evaluation.samples.iter().filter(|s| &*s.name == "portPresent").collect();
    assert_eq!(present.len(), 2);
    assert!(present.iter().all(|s| s.value == SampleValue::Gauge(1.0)));
}

#[test]
fn metadata_fields_values_symbols_and_match() {
    let p = profile(
        r#"
metadata:
  device:
    fields:
      vendor:
        value: acme
      os_version:
        symbols:
          - {OID: 1.3.6.1.4.1.99.1.0, name: first, extract_value: 'v(\d+)'}
          - {OID: 1.3.6.1.4.1.99.2.0, name: second}
      os_name:
        symbol:
          OID: 1.3.6.1.2.1.1.1.0
          name: sysDescr
          match_pattern: 'Acme(OS|Edge)'
          match_value: 'acme-$1'
      type:
        symbol: {OID: 1.3.6.1.4.1.99.3.0, name: kind, mapping: {1: router, 2: switch}}
"#,
    );
    assert_eq!(p.device_vendor(), Some("acme"));
    let evaluation = p.evaluate(&fetched(&[
        ("1.3.6.1.4.1.99.1.0", text("no version here")),
        ("1.3.6.1.4.1.99.2.0", text("7.1")),
        ("1.3.6.1.2.1.1.1.0", text("AcmeEdge 7.1")),
        ("1.3.6.1.4.1.99.3.0", Value::Integer(2)),
        ("1.3.6.1.2.1.1.5.0", text("edge-1")),
    ]));
    let get = |k: &str| evaluation.device.get(k).map(String::as_str);
    assert_eq!(get("vendor"), Some("acme"));
    assert_eq!(get("os_version"), Some("7.1"), "first symbol does not match: the second is used");
    assert_eq!(get("os_name"), Some("acme-Edge"));
    assert_eq!(get("type"), Some("switch"));
    // The profile defines metadata.device, so Datadog's defaults (sysName...) are not added.
    assert_eq!(get("name"), None);
}

#[test]
fn index_tags_from_index_parts_with_format() {
    let p = profile(
        r#"
metrics:
  - table: {OID: 1.3.6.1.4.1.99.20, name: peers}
    symbols: [{OID: 1.3.6.1.4.1.99.20.1.1, name: peerState}]
    metric_tags:
      - tag: peer
        symbol: {name: peerAddrFromIndex, format: ip_address}
        index_transform: [{start: 1, end: 4}]
      - tag: rest
        index_transform: [{start: 1, drop_right: 1}]
"#,
    );
    let evaluation = p.evaluate(&fetched(&[("1.3.6.1.4.1.99.20.1.1.1.10.0.0.9.77", Value::Integer(6))]));
    let s = only(&evaluation, "peerState");
    assert_eq!(tags(s), [("peer", "10.0.0.9"), ("rest", "10.0.0.9")]);
}
