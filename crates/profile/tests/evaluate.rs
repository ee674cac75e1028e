//! Evaluation of the bundled profiles over real recordings (fetched as the poller would:
//! only what the profile's plan asks for). Expected values are read here from the
//! recording's own lines, by OID text, independently of the snmprec parser and of the
//! profile code.

use std::path::{Path, PathBuf};

use nocwatch_profile::{Evaluation, Fetched, MetricType, Profile, Profiles, Sample, SampleValue};
use nocwatch_snmp::{Oid, Value, snmprec};

fn recording_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/snmprec").join(name)
}

struct Recording {
    text: String,
}

impl Recording {
    fn open(name: &str) -> Recording {
        Recording { text: std::fs::read_to_string(recording_path(name)).expect("recording") }
    }

    /// `(index after prefix, tag, value)` of every line under `prefix` (an OID text
    /// without the leading dot).
    fn column(&self, prefix: &str) -> Vec<(String, String, String)> {
        let start = format!("{prefix}.");
        self.text
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, '|');
                let oid = parts.next()?.strip_prefix(&start)?;
                Some((oid.to_owned(), parts.next()?.to_owned(), parts.next()?.to_owned()))
            })
            .collect()
    }

    fn cell(&self, oid: &str) -> Option<(String, String)> {
        self.text.lines().find_map(|line| {
            let mut parts = line.splitn(3, '|');
            (parts.next()? == oid)
                .then(|| (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned()))
        })
    }

    /// A text cell's value, hex-decoded for `4x` lines.
    fn text(&self, oid: &str) -> Option<String> {
        let (tag, value) = self.cell(oid)?;
        Some(if tag.ends_with('x') { hex_text(&value) } else { value })
    }

    fn sys_object_id(&self) -> Oid {
        self.cell("1.3.6.1.2.1.1.2.0").expect("sysObjectID").1.parse().expect("oid")
    }

    /// What a poller following `profile`'s plan would have fetched.
    fn fetch(&self, profile: &Profile) -> Fetched {
        let plan = profile.plan();
        let columns: Vec<&Oid> = plan.tables.iter().flat_map(|t| &t.columns).collect();
        snmprec::parse(&self.text)
            .expect("recording parses")
            .into_iter()
            .filter(|(oid, _)| {
                plan.scalars.iter().any(|s| s == oid)
                    || columns.iter().any(|c| oid.starts_with(c) && oid.len() > c.len())
            })
            .collect()
    }
}

fn hex_text(hex: &str) -> String {
    let bytes: Vec<u8> =
        (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")).collect();
    String::from_utf8(bytes).expect("utf-8")
}

fn tag<'s>(sample: &'s Sample, key: &str) -> Option<&'s str> {
    sample.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn samples<'e>(evaluation: &'e Evaluation, name: &str) -> Vec<&'e Sample> {
    evaluation.samples.iter().filter(|s| &*s.name == name).collect()
}

fn find<'e>(evaluation: &'e Evaluation, name: &str, key: &str, value: &str) -> &'e Sample {
    evaluation
        .samples
        .iter()
        .find(|s| &*s.name == name && tag(s, key) == Some(value))
        .unwrap_or_else(|| panic!("no {name} with {key}:{value}"))
}

fn gauge(value: &str) -> SampleValue {
    SampleValue::Gauge(value.parse().expect("number"))
}

fn bundled_for(recording: &Recording) -> std::sync::Arc<Profile> {
    Profiles::bundled().for_sys_object_id(&recording.sys_object_id()).expect("a profile")
}

#[test]
fn cisco_c3560_cpu_memory_environment_and_interfaces() {
    let recording = Recording::open("cisco-c3560.snmprec");
    let profile = bundled_for(&recording);
    assert_eq!(profile.name, "cisco-catalyst");
    assert_eq!(profile.device_vendor(), Some("cisco"));
    let evaluation = profile.evaluate(&recording.fetch(&profile));

    // CPU: cpmCPUTotal1minRev per CPU index.
    let cpu = recording.column("1.3.6.1.4.1.9.9.109.1.1.1.1.7");
    assert!(!cpu.is_empty());
    assert_eq!(samples(&evaluation, "cpu.usage").len(), cpu.len());
    for (index, _, value) in &cpu {
        let sample = find(&evaluation, "cpu.usage", "cpu", index);
        assert_eq!(sample.value, gauge(value));
        assert_eq!(sample.metric_type, MetricType::Gauge);
    }

    // Memory pools, tagged with the pool name.
    let used = recording.column("1.3.6.1.4.1.9.9.48.1.1.1.5");
    assert_eq!(used.len(), 3);
    for (index, _, value) in &used {
        let sample = find(&evaluation, "memory.used", "mem", index);
        assert_eq!(sample.value, gauge(value));
        let name = recording.text(&format!("1.3.6.1.4.1.9.9.48.1.1.1.2.{index}")).expect("pool name");
        assert_eq!(tag(sample, "mem_pool_name"), Some(name.as_str()));
        let free = recording.cell(&format!("1.3.6.1.4.1.9.9.48.1.1.1.6.{index}")).expect("free").1;
        assert_eq!(find(&evaluation, "memory.free", "mem", index).value, gauge(&free));
    }

    // Environment: temperature with its state and description.
    for (index, _, value) in recording.column("1.3.6.1.4.1.9.9.13.1.3.1.3") {
        let sample = find(&evaluation, "ciscoEnvMonTemperatureStatusValue", "temp_index", &index);
        assert_eq!(sample.value, gauge(&value));
        let state = recording.cell(&format!("1.3.6.1.4.1.9.9.13.1.3.1.6.{index}")).expect("state").1;
        assert_eq!(tag(sample, "temp_state"), Some(state.as_str()));
        let descr = recording.text(&format!("1.3.6.1.4.1.9.9.13.1.3.1.2.{index}")).expect("descr");
        assert_eq!(tag(sample, "temp_descr"), Some(descr.as_str()), "trailing blanks are kept, as Datadog does");
    }
    for (index, _, value) in recording.column("1.3.6.1.4.1.9.9.13.1.4.1.3") {
        assert_eq!(find(&evaluation, "ciscoEnvMonFanState", "fan_status_index", &index).value, gauge(&value));
    }
    let supply_states = recording.column("1.3.6.1.4.1.9.9.13.1.5.1.3");
    assert_eq!(samples(&evaluation, "ciscoEnvMonSupplyStatus").len(), supply_states.len());
    for (_, _, state) in &supply_states {
        let expected = ["", "normal", "warning", "critical", "shutdown", "notPresent", "notFunctioning"]
            [state.parse::<usize>().expect("state")];
        let sample = find(&evaluation, "ciscoEnvMonSupplyStatus", "cisco_env_mon_supply_state", expected);
        assert_eq!(sample.value, SampleValue::Gauge(1.0));
    }

    // Interfaces: one ifHCInOctets per row, named by ifName, raw Counter64.
    let octets = recording.column("1.3.6.1.2.1.31.1.1.1.6");
    assert_eq!(octets.len(), 56);
    assert_eq!(samples(&evaluation, "ifHCInOctets").len(), octets.len());
    for (index, _, value) in &octets {
        let sample = find(&evaluation, "ifHCInOctets", "interface_index", index);
        assert_eq!(sample.value, SampleValue::Counter { raw: value.parse().expect("u64"), bits: 64 });
        assert_eq!(sample.metric_type, MetricType::MonotonicCountAndRate);
        let name = recording.text(&format!("1.3.6.1.2.1.31.1.1.1.1.{index}")).expect("ifName");
        assert_eq!(tag(sample, "interface"), Some(name.as_str()));
        let alias = recording.text(&format!("1.3.6.1.2.1.31.1.1.1.18.{index}")).expect("ifAlias");
        assert_eq!(tag(sample, "interface_alias"), Some(alias.as_str()));
    }
    // Counter32 error counters.
    for (index, _, value) in recording.column("1.3.6.1.2.1.2.2.1.14") {
        let sample = find(&evaluation, "ifInErrors", "interface_index", &index);
        assert_eq!(sample.value, SampleValue::Counter { raw: value.parse().expect("u32"), bits: 32 });
    }
    let gi01 = find(&evaluation, "ifHighSpeed", "interface", "Gi0/1");
    assert_eq!(gi01.value, gauge(&recording.cell("1.3.6.1.2.1.31.1.1.1.15.10101").expect("speed").1));

    // Metadata.
    let sys_name = recording.text("1.3.6.1.2.1.1.5.0").expect("sysName");
    assert_eq!(evaluation.device.get("name"), Some(&sys_name));
    assert_eq!(evaluation.device.get("vendor").map(String::as_str), Some("cisco"));
    assert_eq!(evaluation.device.get("type").map(String::as_str), Some("switch"));
    assert_eq!(evaluation.device.get("sys_object_id").map(String::as_str), Some("1.3.6.1.4.1.9.1.617"));
    let descr = recording.text("1.3.6.1.2.1.1.1.0").expect("sysDescr");
    assert_eq!(evaluation.device.get("description"), Some(&descr));
    assert_eq!(evaluation.device.get("os_version").map(String::as_str), Some("12.2(55)SE3"), "{descr}");
    assert!(evaluation.tags.contains(&("snmp_host".to_owned(), sys_name)));

    let interface = evaluation.interfaces.iter().find(|i| i.index == 10101).expect("ifIndex 10101");
    assert_eq!(interface.name.as_deref(), Some("Gi0/1"));
    let mac = recording.cell("1.3.6.1.2.1.2.2.1.6.10101").expect("mac").1;
    let mac_text: Vec<String> = (0..6).map(|i| mac[2 * i..2 * i + 2].to_owned()).collect();
    assert_eq!(interface.mac_address.as_deref(), Some(mac_text.join(":").as_str()));
    let oper: i64 = recording.cell("1.3.6.1.2.1.2.2.1.8.10101").expect("oper").1.parse().expect("int");
    assert_eq!(interface.oper_status, Some(oper));
    assert_eq!(evaluation.interfaces.len(), recording.column("1.3.6.1.2.1.2.2.1.2").len());
    assert_eq!(evaluation.unusable_values, 0, "{:?}", evaluation.warnings);
}

#[test]
fn juniper_mx960_routing_engine_cpu_memory_temperature() {
    let recording = Recording::open("juniper-mx960-12-3r6-6.snmprec");
    let profile = bundled_for(&recording);
    assert_eq!(profile.name, "juniper-mx");
    let evaluation = profile.evaluate(&recording.fetch(&profile));

    let cpu = recording.column("1.3.6.1.4.1.2636.3.1.13.1.8");
    assert_eq!(samples(&evaluation, "cpu.usage").len(), cpu.len());
    for (index, _, value) in &cpu {
        let sample = find(&evaluation, "cpu.usage", "jnx_operating_index", index);
        assert_eq!(sample.value, gauge(value));
        let descr = recording.text(&format!("1.3.6.1.4.1.2636.3.1.13.1.5.{index}")).expect("descr");
        assert_eq!(tag(sample, "jnx_operating_descr"), Some(descr.as_str()));
        let contents = index.split('.').next().expect("contents index");
        assert_eq!(tag(sample, "jnx_contents_index"), Some(contents));
    }
    // Routing engine 0, read by eye from the recording: "Routing Engine 0", CPU 29 %, buffer 8 %.
    let re0 = find(&evaluation, "cpu.usage", "jnx_operating_descr", "Routing Engine 0");
    assert_eq!(re0.value, SampleValue::Gauge(29.0));
    assert_eq!(
        find(&evaluation, "memory.usage", "jnx_operating_descr", "Routing Engine 0").value,
        SampleValue::Gauge(8.0)
    );
    for (index, _, value) in recording.column("1.3.6.1.4.1.2636.3.1.13.1.7") {
        assert_eq!(find(&evaluation, "jnxOperatingTemp", "jnx_operating_index", &index).value, gauge(&value));
    }
    assert_eq!(evaluation.device.get("serial_number"), recording.text("1.3.6.1.4.1.2636.3.1.3.0").as_ref());
    assert_eq!(evaluation.device.get("vendor").map(String::as_str), Some("juniper-networks"));
    assert_eq!(evaluation.device.get("os_version").map(String::as_str), Some("12.3R6.6"));
    assert_eq!(evaluation.device.get("model").map(String::as_str), Some("mx960"));
    assert!(!samples(&evaluation, "ifHCInOctets").is_empty());
}

#[test]
fn juniper_srx_fixture_class_usage_and_user_firewall() {
    let recording = Recording::open("datadog-fixtures/juniper-srx.snmprec");
    let profile = bundled_for(&recording);
    assert_eq!(profile.name, "juniper-srx");
    let evaluation = profile.evaluate(&recording.fetch(&profile));

    // jnxScuStatsBytes, indexed ifIndex.family.name: `interface` is ifName of the first part.
    let bytes = recording.column("1.3.6.1.4.1.2636.3.16.1.1.1.5");
    assert_eq!(samples(&evaluation, "jnxScuStatsBytes").len(), bytes.len());
    for (index, tag_type, value) in &bytes {
        let if_index = index.split('.').next().expect("ifIndex");
        let if_name = recording.text(&format!("1.3.6.1.2.1.31.1.1.1.1.{if_index}")).expect("ifName");
        let sample = find(&evaluation, "jnxScuStatsBytes", "interface", &if_name);
        let expected = match tag_type.as_str() {
            "70" => SampleValue::Counter { raw: value.parse().expect("u64"), bits: 64 },
            "65" => SampleValue::Counter { raw: value.parse().expect("u32"), bits: 32 },
            _ => gauge(value),
        };
        assert_eq!(sample.value, expected);
    }
    for (index, _, value) in recording.column("1.3.6.1.4.1.2636.3.89.1.1.3.1.3") {
        let domain = recording.text(&format!("1.3.6.1.4.1.2636.3.89.1.1.3.1.1.{index}")).expect("domain");
        let sample = find(&evaluation, "jnxUserFwLDAPTotalQuery", "ldap_domain_name", &domain);
        assert_eq!(
            sample.value.clone(),
            gauge_or_counter(&recording, "1.3.6.1.4.1.2636.3.89.1.1.3.1.3", &index, &value)
        );
    }
    // sysDescr "Juniper Networks, Inc. srx3400 internet router, kernel JUNOS 10.4R3.4 #0: ..."
    assert_eq!(evaluation.device.get("os_version").map(String::as_str), Some("10.4R3.4"));
    assert_eq!(evaluation.device.get("model").map(String::as_str), Some("srx3400"));
    assert_eq!(evaluation.device.get("type").map(String::as_str), Some("firewall"));
}

fn gauge_or_counter(recording: &Recording, column: &str, index: &str, value: &str) -> SampleValue {
    match recording.cell(&format!("{column}.{index}")).expect("cell").0.as_str() {
        "65" => SampleValue::Counter { raw: value.parse().expect("u32"), bits: 32 },
        "70" => SampleValue::Counter { raw: value.parse().expect("u64"), bits: 64 },
        _ => gauge(value),
    }
}

#[test]
fn catalyst_fixture_sensors() {
    let recording = Recording::open("datadog-fixtures/cisco-catalyst.snmprec");
    let profile = bundled_for(&recording);
    assert_eq!(profile.name, "cisco-catalyst");
    let evaluation = profile.evaluate(&recording.fetch(&profile));
    let values = recording.column("1.3.6.1.4.1.9.9.91.1.1.1.1.4");
    assert!(!values.is_empty());
    for (index, _, value) in values {
        let sample = find(&evaluation, "entSensorValue", "sensor_id", &index);
        assert_eq!(sample.value, gauge(&value));
        let sensor_type = recording.cell(&format!("1.3.6.1.4.1.9.9.91.1.1.1.1.1.{index}")).expect("type").1;
        assert_eq!(tag(sample, "sensor_type"), Some(sensor_type.as_str()));
    }
}

#[test]
fn unknown_device_gets_the_generic_profile() {
    let recording = Recording::open("datadog-fixtures/_generic-if.snmprec");
    let profile = bundled_for(&recording);
    assert_eq!(profile.name, "generic-device");
    let evaluation = profile.evaluate(&recording.fetch(&profile));
    let octets = recording.column("1.3.6.1.2.1.31.1.1.1.6");
    assert!(!octets.is_empty());
    assert_eq!(samples(&evaluation, "ifHCInOctets").len(), octets.len());
}

#[test]
fn a_missing_column_drops_only_its_tag() {
    let recording = Recording::open("cisco-c3560.snmprec");
    let profile = bundled_for(&recording);
    let mut fetched = recording.fetch(&profile);
    let complete = profile.evaluate(&fetched).samples.len();
    let if_name: Oid = "1.3.6.1.2.1.31.1.1.1.1".parse().expect("oid");
    let all: Vec<(Oid, Value)> =
        recording_records(&recording).into_iter().filter(|(o, _)| !o.starts_with(&if_name)).collect();
    fetched.clear();
    for (oid, value) in all {
        if profile.plan().scalars.contains(&oid)
            || profile.plan().tables.iter().flat_map(|t| &t.columns).any(|c| oid.starts_with(c))
        {
            fetched.insert(oid, value);
        }
    }
    let evaluation = profile.evaluate(&fetched);
    assert_eq!(evaluation.samples.len(), complete, "every sample is still there");
    let octets = samples(&evaluation, "ifHCInOctets");
    assert_eq!(octets.len(), 56);
    assert!(octets.iter().all(|s| tag(s, "interface").is_none() && tag(s, "interface_index").is_some()));
    assert!(evaluation.interfaces.iter().all(|i| i.name.is_none()));
}

fn recording_records(recording: &Recording) -> Vec<(Oid, Value)> {
    snmprec::parse(&recording.text).expect("parse")
}

#[test]
fn weird_values_are_counted_never_fatal() {
    let profile = Profiles::bundled().get("generic-device").expect("generic");
    let oid = |text: &str| -> Oid { text.parse().expect("oid") };
    let mut fetched = Fetched::new();
    // ifHCInOctets: text, a number in text, a counter, an exception, an absurd index.
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.6.1"), Value::OctetString(b"garbage".to_vec()));
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.6.2"), Value::OctetString(b"12\0".to_vec()));
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.6.3"), Value::Counter64(u64::MAX));
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.6.4"), Value::NoSuchInstance);
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.6.4294967295.7.7"), Value::Counter64(1));
    // Tags: binary ifName, an ifName that is a number, an OID as alias.
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.1.1"), Value::OctetString(vec![0xff, 0x00, 0x41]));
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.1.2"), Value::Integer(-5));
    fetched.insert(oid("1.3.6.1.2.1.31.1.1.1.18.3"), Value::ObjectId(oid("1.3.6")));
    // Scalars: a NULL uptime, an IpAddress where a number belongs.
    fetched.insert(oid("1.3.6.1.2.1.1.3.0"), Value::Null);
    fetched.insert(oid("1.3.6.1.2.1.2.1.0"), Value::IpAddress([1, 2, 3, 4]));
    // Interface metadata with a status that is text and a MAC that is too short.
    fetched.insert(oid("1.3.6.1.2.1.2.2.1.8.1"), Value::OctetString(b"up".to_vec()));
    fetched.insert(oid("1.3.6.1.2.1.2.2.1.6.1"), Value::OctetString(vec![1, 2]));

    let evaluation = profile.evaluate(&fetched);
    let octets = samples(&evaluation, "ifHCInOctets");
    assert_eq!(octets.len(), 3, "{octets:?}");
    let two = find(&evaluation, "ifHCInOctets", "interface_index", "2");
    assert_eq!(two.value, SampleValue::Gauge(12.0));
    assert_eq!(tag(two, "interface"), Some("-5"));
    let one_missing =
        evaluation.samples.iter().all(|s| !(&*s.name == "ifHCInOctets" && tag(s, "interface_index") == Some("1")));
    assert!(one_missing);
    let three = find(&evaluation, "ifHCInOctets", "interface_index", "3");
    assert_eq!(three.value, SampleValue::Counter { raw: u64::MAX, bits: 64 });
    assert_eq!(tag(three, "interface_alias"), Some("1.3.6"));
    let odd = find(&evaluation, "ifHCInOctets", "interface_index", "4294967295");
    assert_eq!(tag(odd, "interface"), None);
    // "garbage", the IpAddress ifNumber and the "up" ifOperStatus; NULL is "no value",
    // not a bad one.
    assert_eq!(evaluation.unusable_values, 3, "{:?}", evaluation.warnings);
    assert!(
        evaluation
            .warnings
            .iter()
            .any(|w| w.contains("ifHCInOctets (.1.3.6.1.2.1.31.1.1.1.6.1)") && w.contains("garbage"))
    );
    assert!(samples(&evaluation, "sysUpTimeInstance").is_empty());
    let interface = evaluation.interfaces.iter().find(|i| i.index == 1).expect("if 1");
    assert_eq!(interface.oper_status, None);
    assert_eq!(interface.mac_address.as_deref(), Some("01:02"));
}

#[test]
fn warnings_are_capped_but_counted() {
    let profile = Profiles::bundled().get("generic-device").expect("generic");
    let mut fetched = Fetched::new();
    for index in 1..=500u32 {
        fetched.insert(Oid::from([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, index]), Value::OctetString(b"x".to_vec()));
    }
    let evaluation = profile.evaluate(&fetched);
    assert_eq!(evaluation.unusable_values, 500);
    assert!(evaluation.warnings.len() <= 17, "{}", evaluation.warnings.len());
    assert!(evaluation.warnings.last().is_some_and(|w| w.contains("more values could not be used")));
}
