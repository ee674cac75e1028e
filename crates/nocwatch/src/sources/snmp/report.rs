//! From a profile's evaluation of one poll to metric events, with the Datadog SNMP
//! integration's names and semantics: `snmp.<name>`; counters as rates (or monotonic
//! counts) through the device's [`CounterTracker`]; `snmp.ifBandwidthIn/OutUsage.rate`
//! from the HC octet counters and ifHighSpeed (or a configured speed);
//! `snmp.memory.usage` from used/free/total; `snmp.interface.status`; the device metrics
//! (`snmp.device.reachable`, `snmp.devices_monitored`, poll duration and requests).
//! Sans-IO: the caller passes the evaluation, the fetched values and the time.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use jiff::Timestamp;
use nocwatch_profile::{Evaluation, InterfaceMetadata, MetricType as ProfileMetricType, Profile, SampleValue};
use nocwatch_snmp::{Oid, Value};

use super::config::{InterfaceConfig, InterfaceMatch, split_tag};
use super::counters::{CounterTracker, Reading};
use super::fetch::FetchStats;
use crate::event::{DeviceMetadata, Event, InterfaceInfo, Metric, MetricType, Tags};

/// IF-MIB ifHighSpeed (Mb/s), by ifIndex.
const IF_HIGH_SPEED: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15];

/// Who a device is, for tags and host names.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    /// `<namespace>:<address>` (`:<port>` added when not 161): Datadog's device id.
    pub id: String,
    /// The host of the device's metrics (`device:<id>` with `use_device_id_as_hostname`).
    pub host: Option<String>,
    /// snmp_device, device_namespace, autodiscovery_subnet and the user's tags.
    pub tags: Tags,
    pub interfaces: Vec<InterfaceConfig>,
}

/// What the poller emits for one poll of one device.
pub struct Reporter<'a> {
    pub identity: &'a DeviceIdentity,
    pub timestamp: Timestamp,
    pub interval_secs: u32,
    /// The device tags of this poll: identity tags, snmp_profile, device_vendor, and the
    /// profile's device-level tags (`Evaluation::tags`). Shared by every event without
    /// tags of its own.
    pub device_tags: Tags,
    pub events: Vec<Event>,
}

impl<'a> Reporter<'a> {
    pub fn new(identity: &'a DeviceIdentity, timestamp: Timestamp, interval_secs: u32, device_tags: Tags) -> Self {
        Reporter { identity, timestamp, interval_secs, device_tags, events: Vec::new() }
    }

    fn push(&mut self, name: &str, metric_type: MetricType, value: f64, tags: Tags) {
        if !value.is_finite() {
            return;
        }
        let interval_secs = (metric_type != MetricType::Gauge).then_some(self.interval_secs.max(1));
        let mut full_name = String::with_capacity(5 + name.len());
        full_name.push_str("snmp.");
        full_name.push_str(name);
        self.events.push(Event::Metric(Metric {
            name: full_name,
            metric_type,
            value,
            timestamp: self.timestamp,
            interval_secs,
            host: self.identity.host.clone(),
            tags,
        }));
    }

    /// The event tags of a sample's own tags (device tags, its own, its interface's
    /// configured ones, each added beside the others as Datadog appends them) and the
    /// hash of its own tags (for counter series keys).
    fn sample_tags(&self, own: &[(String, String)]) -> (Tags, u64) {
        let mut tags = self.device_tags.clone();
        tags.extend(own.iter().cloned());
        if let Some(interface) = self.interface_config(&tags) {
            tags.extend(interface.tags.iter().map(|tag| split_tag(tag)));
        }
        let mut hasher = DefaultHasher::new();
        own.hash(&mut hasher);
        (tags, hasher.finish())
    }

    /// The configured override for the interface these tags name, if any.
    fn interface_config(&self, tags: &Tags) -> Option<&'a InterfaceConfig> {
        if self.identity.interfaces.is_empty() {
            return None;
        }
        self.identity.interfaces.iter().find(|config| match config.match_field {
            InterfaceMatch::Name => tags.get("interface") == Some(&config.match_value),
            InterfaceMatch::Index => tags.get("interface_index").map(String::as_str) == Some(config.match_value.trim()),
        })
    }

    /// Every sample of the evaluation, the derived bandwidth and memory metrics, and
    /// `snmp.interface.status`. Counters go through `tracker`, whose poll must have begun;
    /// each counter reading is timed by when its answer arrived: `answered_at[n]` is when
    /// the `n`th answer of the poll did (see [`nocwatch_profile::Fetched::begin_answer`]).
    pub fn samples(
        &mut self,
        evaluation: &Evaluation,
        fetched: &nocwatch_profile::Fetched,
        answered_at: &[Instant],
        tracker: &mut CounterTracker,
    ) {
        // Room for a metric a sample, a quarter more for the `.rate` twins and bandwidth,
        // and the interface and device metrics: one allocation for the batch.
        let samples = evaluation.samples.len();
        self.events.reserve(samples + samples / 4 + evaluation.interfaces.len() + 16);
        let mut memory: Vec<(&str, f64, Tags)> = Vec::new();
        let has_memory_usage = evaluation.samples.iter().any(|s| &*s.name == "memory.usage");
        // The event tags of each distinct sample tag set, made once: the twenty columns of
        // an interface (from several of the profile's table entries) share one tag map.
        let mut merged: HashMap<&[(String, String)], (Tags, u64)> = HashMap::new();
        for sample in &evaluation.samples {
            let (tags, tags_hash) = match merged.get(&*sample.tags) {
                Some(found) => found.clone(),
                None => {
                    let found = self.sample_tags(&sample.tags);
                    merged.insert(&sample.tags, found.clone());
                    found
                }
            };
            match (sample.metric_type, sample.value) {
                (ProfileMetricType::Gauge, value) => {
                    let value = match value {
                        SampleValue::Gauge(v) => v,
                        SampleValue::Counter { raw, .. } => raw as f64 * sample.scale,
                    };
                    if !has_memory_usage && matches!(&*sample.name, "memory.used" | "memory.free" | "memory.total") {
                        memory.push((&sample.name, value, tags.clone()));
                    }
                    self.push(&sample.name, MetricType::Gauge, value, tags);
                }
                (metric_type, value) => {
                    let (raw, bits) = match value {
                        SampleValue::Counter { raw, bits } => (raw, bits),
                        // A gauge-typed value submitted as a rate or count (`metric_type:`
                        // on an INTEGER): treated as a 64-bit counter; negatives cannot be.
                        SampleValue::Gauge(v) if v >= 0.0 && v.is_finite() => (v as u64, 64),
                        SampleValue::Gauge(_) => continue,
                    };
                    let at = answered_at.get(usize::from(sample.answer)).copied();
                    let Reading::Delta { delta, seconds } =
                        tracker.update_at(series_key(&sample.name, tags_hash), raw, bits, at)
                    else {
                        continue;
                    };
                    let increase = delta as f64 * sample.scale;
                    match metric_type {
                        ProfileMetricType::Rate => {
                            self.push(&sample.name, MetricType::Rate, increase / seconds, tags.clone())
                        }
                        ProfileMetricType::MonotonicCount => {
                            self.push(&sample.name, MetricType::Count, increase, tags.clone())
                        }
                        ProfileMetricType::MonotonicCountAndRate => {
                            self.push(&sample.name, MetricType::Count, increase, tags.clone());
                            let mut rate_name = String::with_capacity(sample.name.len() + 5);
                            rate_name.push_str(&sample.name);
                            rate_name.push_str(".rate");
                            self.push(&rate_name, MetricType::Rate, increase / seconds, tags.clone());
                        }
                        ProfileMetricType::Gauge => {}
                    }
                    let direction = match &*sample.name {
                        "ifHCInOctets" => Some(Direction::In),
                        "ifHCOutOctets" => Some(Direction::Out),
                        _ => None,
                    };
                    if let Some(direction) = direction {
                        self.bandwidth(direction, delta as f64, seconds, tags, fetched);
                    }
                }
            }
        }
        if !has_memory_usage {
            self.memory_usage(&memory);
        }
        for interface in &evaluation.interfaces {
            self.interface_status(interface);
        }
    }

    /// `snmp.ifBandwidth{In,Out}Usage.rate`: percent of the interface's speed used.
    fn bandwidth(
        &mut self,
        direction: Direction,
        octets: f64,
        seconds: f64,
        tags: Tags,
        fetched: &nocwatch_profile::Fetched,
    ) {
        let configured = self.interface_config(&tags).and_then(|config| match direction {
            Direction::In => config.in_speed,
            Direction::Out => config.out_speed,
        });
        let speed_bps = match configured {
            Some(speed) => speed as f64,
            None => {
                let Some(index) = tags.get("interface_index").and_then(|i| i.parse::<u32>().ok()) else {
                    return;
                };
                let mut oid = IF_HIGH_SPEED.to_vec();
                oid.push(index);
                match fetched.get(&Oid::new(oid)).and_then(numeric) {
                    Some(mbps) if mbps > 0.0 => mbps * 1e6,
                    _ => return,
                }
            }
        };
        let name = match direction {
            Direction::In => "ifBandwidthInUsage.rate",
            Direction::Out => "ifBandwidthOutUsage.rate",
        };
        self.push(name, MetricType::Gauge, octets * 8.0 / (speed_bps * seconds) * 100.0, tags);
    }

    /// `snmp.memory.usage` (percent) from used/free, used/total or total/free with the
    /// same tags, unless the profile gives it.
    fn memory_usage(&mut self, memory: &[(&str, f64, Tags)]) {
        let find =
            |name: &str, tags: &Tags| memory.iter().find(|(n, _, t)| *n == name && t == tags).map(|(_, v, _)| *v);
        let mut done: Vec<&Tags> = Vec::new();
        for (_, _, tags) in memory {
            if done.contains(&tags) {
                continue;
            }
            done.push(tags);
            let (used, free, total) =
                (find("memory.used", tags), find("memory.free", tags), find("memory.total", tags));
            let usage = match (used, free, total) {
                (Some(used), Some(free), _) if used + free > 0.0 => used / (used + free) * 100.0,
                (Some(used), None, Some(total)) if total > 0.0 => used / total * 100.0,
                (None, Some(free), Some(total)) if total > 0.0 => (total - free) / total * 100.0,
                _ => continue,
            };
            self.push("memory.usage", MetricType::Gauge, usage, tags.clone());
        }
    }

    fn interface_status(&mut self, interface: &InterfaceMetadata) {
        let (Some(admin), Some(oper)) = (interface.admin_status, interface.oper_status) else {
            return;
        };
        let mut tags = self.device_tags.clone();
        tags.add("status".into(), interface_status(admin, oper).into());
        tags.add("admin_status".into(), admin_status_name(admin).into());
        tags.add("oper_status".into(), oper_status_name(oper).into());
        tags.add("interface_index".into(), interface.index.to_string());
        if let Some(name) = interface.name.as_ref().filter(|n| !n.is_empty()) {
            tags.add("interface".into(), name.clone());
        }
        if let Some(alias) = interface.alias.as_ref().filter(|a| !a.is_empty()) {
            tags.add("interface_alias".into(), alias.clone());
        }
        if let Some(config) = self.interface_config(&tags) {
            tags.extend(config.tags.iter().map(|tag| split_tag(tag)));
        }
        self.push("interface.status", MetricType::Gauge, 1.0, tags);
    }

    /// The device metrics of every poll, answered or not.
    pub fn device(&mut self, reachable: bool, duration_secs: f64, stats: &FetchStats) {
        let tags = self.device_tags.clone();
        self.push("device.reachable", MetricType::Gauge, f64::from(u8::from(reachable)), tags.clone());
        self.push("device.unreachable", MetricType::Gauge, f64::from(u8::from(!reachable)), tags.clone());
        self.push("devices_monitored", MetricType::Gauge, 1.0, tags.clone());
        let submitted = self.events.len() as f64 + 2.0;
        // Datadog's names for the check's own telemetry (its NDM dashboards use them).
        let telemetry = |name: &str| format!("datadog.snmp.{name}");
        let interval_secs = self.interval_secs.max(1);
        let mut own = |name: String, metric_type: MetricType, value: f64, tags: Tags| {
            self.events.push(Event::Metric(Metric {
                name,
                metric_type,
                value,
                timestamp: self.timestamp,
                interval_secs: (metric_type != MetricType::Gauge).then_some(interval_secs),
                host: self.identity.host.clone(),
                tags,
            }))
        };
        own(telemetry("check_duration"), MetricType::Gauge, duration_secs, tags.clone());
        own(telemetry("submitted_metrics"), MetricType::Gauge, submitted, tags.clone());
        for (kind, count) in
            [("get", stats.get_requests), ("getbulk", stats.getbulk_requests), ("getnext", stats.getnext_requests)]
        {
            if count > 0 {
                let mut tags = tags.clone();
                tags.insert("request_type".into(), kind.into());
                own(telemetry("requests"), MetricType::Count, f64::from(count), tags);
            }
        }
    }
}

/// The device tags of an answered poll, on every metric of the device as in Datadog's
/// check (its `metricTags`: static tags, then the profile's dynamic ones): `base` (the
/// identity's: snmp_device, device_namespace, the user's), the profile's name and vendor
/// (`snmp_profile`, `device_vendor`), and the profile's device-level tags
/// ([`Evaluation::tags`]: `static_tags` and top-level `metric_tags`, e.g. `snmp_host`
/// from sysName). A profile tag with the key of a base tag (a user's `site:paris` and a
/// profile's `site:dc1`) is added beside it: both are kept, as the Agent appends the
/// profile's tags to the others (`DeviceCheck.Run` and `getValuesAndTags` in
/// `pkg/collector/corechecks/snmp/internal/devicecheck/devicecheck.go`).
pub fn poll_device_tags(base: &Tags, profile: Option<&Profile>, evaluation: Option<&Evaluation>) -> Tags {
    let mut tags = base.clone();
    if let Some(profile) = profile {
        tags.add("snmp_profile".into(), profile.name.clone());
        if let Some(vendor) = profile.device_vendor() {
            tags.add("device_vendor".into(), vendor.to_owned());
        }
    }
    if let Some(evaluation) = evaluation {
        tags.extend(evaluation.tags.iter().cloned());
    }
    tags
}

/// The poll's device metadata event (Datadog NDM's device and interface metadata): one
/// per poll, answered or not.
#[allow(clippy::too_many_arguments)]
pub fn device_metadata(
    identity: &DeviceIdentity,
    timestamp: Timestamp,
    address: &str,
    reachable: bool,
    poll_duration_secs: f64,
    profile: Option<(&str, Option<&Oid>)>,
    tags: Tags,
    evaluation: Option<&Evaluation>,
    fetched: &nocwatch_profile::Fetched,
) -> DeviceMetadata {
    let interfaces = evaluation
        .map(|evaluation| {
            evaluation
                .interfaces
                .iter()
                .map(|interface| {
                    let mut oid = IF_HIGH_SPEED.to_vec();
                    oid.push(interface.index);
                    let configured = identity.interfaces.iter().find(|config| match config.match_field {
                        InterfaceMatch::Name => interface.name.as_deref() == Some(config.match_value.as_str()),
                        InterfaceMatch::Index => config.match_value.trim() == interface.index.to_string(),
                    });
                    let speed_bps = configured.and_then(|c| c.in_speed.or(c.out_speed)).or_else(|| {
                        fetched
                            .get(&Oid::new(oid))
                            .and_then(numeric)
                            .filter(|s| *s > 0.0)
                            .map(|mbps| (mbps * 1e6) as u64)
                    });
                    InterfaceInfo {
                        index: interface.index,
                        name: interface.name.clone(),
                        alias: interface.alias.clone(),
                        description: interface.description.clone(),
                        mac_address: interface.mac_address.clone(),
                        admin_status: interface.admin_status.map(|s| admin_status_name(s).to_owned()),
                        oper_status: interface.oper_status.map(|s| oper_status_name(s).to_owned()),
                        speed_bps,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    DeviceMetadata {
        timestamp,
        device_id: identity.id.clone(),
        host: identity.host.clone(),
        ip_address: address.to_owned(),
        reachable,
        poll_duration_secs,
        profile: profile.map(|(name, _)| name.to_owned()),
        sys_object_id: profile.and_then(|(_, oid)| oid).map(|oid| oid.to_string().trim_start_matches('.').to_owned()),
        tags,
        fields: evaluation.map(|e| e.device.clone()).unwrap_or_default(),
        interfaces,
    }
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    In,
    Out,
}

/// The counter series of a sample: its name and the hash of its profile tags (the
/// device's own tags are the same for all its series).
fn series_key(name: &str, tags_hash: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    tags_hash.hash(&mut hasher);
    hasher.finish()
}

fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(v) => Some(*v as f64),
        Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) | Value::UInteger32(v) => Some(f64::from(*v)),
        Value::Counter64(v) => Some(*v as f64),
        _ => None,
    }
}

/// Datadog's summary of ifAdminStatus × ifOperStatus.
pub fn interface_status(admin: i64, oper: i64) -> &'static str {
    const UP: i64 = 1;
    const DOWN: i64 = 2;
    const TESTING: i64 = 3;
    match (admin, oper) {
        (UP, UP) => "up",
        (UP, DOWN) => "down",
        (UP, _) => "warning",
        (DOWN, UP) => "down",
        (DOWN, DOWN) => "off",
        (DOWN, _) => "warning",
        (TESTING, o) if o != DOWN => "warning",
        _ => "down",
    }
}

fn admin_status_name(value: i64) -> &'static str {
    match value {
        1 => "up",
        2 => "down",
        3 => "testing",
        _ => "unknown",
    }
}

fn oper_status_name(value: i64) -> &'static str {
    match value {
        1 => "up",
        2 => "down",
        3 => "testing",
        4 => "unknown",
        5 => "dormant",
        6 => "not_present",
        7 => "lower_layer_down",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use nocwatch_profile::{Fetched, Sample};

    use super::*;

    fn identity() -> DeviceIdentity {
        DeviceIdentity {
            id: "default:192.0.2.1".into(),
            host: Some("device:default:192.0.2.1".into()),
            tags: [("snmp_device".to_owned(), "192.0.2.1".to_owned())].into(),
            interfaces: vec![InterfaceConfig {
                match_field: InterfaceMatch::Name,
                match_value: "Gi0/2".into(),
                in_speed: Some(10_000_000),
                out_speed: None,
                tags: vec!["role:uplink".into()],
            }],
        }
    }

    fn counter(name: &str, raw: u64, bits: u8, interface: (&str, u32)) -> Sample {
        Sample {
            name: name.into(),
            value: SampleValue::Counter { raw, bits },
            metric_type: ProfileMetricType::Rate,
            scale: 1.0,
            tags: vec![("interface".into(), interface.0.into()), ("interface_index".into(), interface.1.to_string())]
                .into(),
            answer: 0,
        }
    }

    fn metrics(events: &[Event]) -> Vec<(&str, f64, &Tags)> {
        events
            .iter()
            .map(|e| match e {
                Event::Metric(m) => (m.name.as_str(), m.value, &m.tags),
                other => panic!("not a metric: {other:?}"),
            })
            .collect()
    }

    fn poll(
        tracker: &mut CounterTracker,
        epoch: Instant,
        secs: u64,
        uptime: u32,
        samples: Vec<Sample>,
        fetched: &Fetched,
    ) -> Vec<Event> {
        let identity = identity();
        tracker.begin_poll(epoch + Duration::from_secs(secs), Some(uptime));
        let mut reporter = Reporter::new(&identity, Timestamp::UNIX_EPOCH, 60, identity.tags.clone());
        let evaluation = Evaluation { samples, ..Evaluation::default() };
        reporter.samples(&evaluation, fetched, &[], tracker);
        tracker.end_poll();
        reporter.events
    }

    #[test]
    fn octet_counters_give_rates_and_bandwidth_usage_from_if_high_speed_or_the_override() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        // Gi0/1 is 100 Mb/s by ifHighSpeed; Gi0/2 has a configured 10 Mb/s inbound.
        let fetched: Fetched = [
            (Oid::new([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15, 1]), Value::Gauge32(100)),
            (Oid::new([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15, 2]), Value::Gauge32(1000)),
        ]
        .into_iter()
        .collect();
        let first = poll(
            &mut tracker,
            epoch,
            0,
            100,
            vec![counter("ifHCInOctets", 1_000, 64, ("Gi0/1", 1)), counter("ifHCInOctets", 0, 64, ("Gi0/2", 2))],
            &fetched,
        );
        assert!(first.is_empty(), "a first reading is only a baseline");
        // 60 s later: Gi0/1 got 75,000,000 octets (10 Mb/s: 10% of 100 Mb/s); Gi0/2
        // 37,500,000 octets (5 Mb/s: 50% of its configured 10 Mb/s).
        let second = poll(
            &mut tracker,
            epoch,
            60,
            6100,
            vec![
                counter("ifHCInOctets", 75_001_000, 64, ("Gi0/1", 1)),
                counter("ifHCInOctets", 37_500_000, 64, ("Gi0/2", 2)),
            ],
            &fetched,
        );
        let got = metrics(&second);
        assert_eq!(got.len(), 4);
        assert_eq!((got[0].0, got[0].1), ("snmp.ifHCInOctets", 1_250_000.0));
        assert_eq!((got[1].0, got[1].1), ("snmp.ifBandwidthInUsage.rate", 10.0));
        assert_eq!(got[1].2.get("interface").unwrap(), "Gi0/1");
        assert_eq!(got[1].2.get("snmp_device").unwrap(), "192.0.2.1");
        assert_eq!((got[3].0, got[3].1), ("snmp.ifBandwidthInUsage.rate", 50.0));
        assert_eq!(got[3].2.get("role").unwrap(), "uplink");
    }

    #[test]
    fn reboot_and_counter32_wrap_never_give_a_negative_or_a_spike() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        let fetched = Fetched::new();
        let sample = |raw| vec![counter("ifInErrors", raw, 32, ("Gi0/1", 1))];
        poll(&mut tracker, epoch, 0, 1_000_000, sample(u64::from(u32::MAX) - 59), &fetched);
        let wrapped = poll(&mut tracker, epoch, 60, 1_006_000, sample(60), &fetched);
        assert_eq!(metrics(&wrapped)[0].1, 2.0, "120 errors over 60 s through the wrap");
        let rebooted = poll(&mut tracker, epoch, 120, 500, sample(3), &fetched);
        assert!(rebooted.is_empty(), "no sample across a reboot: {:?}", metrics(&rebooted));
        let after = poll(&mut tracker, epoch, 180, 6500, sample(63), &fetched);
        assert_eq!(metrics(&after)[0].1, 1.0);
    }

    #[test]
    fn missing_column_gives_no_bandwidth_and_other_metrics_still_flow() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        // No ifHighSpeed fetched (the device has no ifXTable speed column).
        let fetched = Fetched::new();
        let gauge = Sample {
            name: "cpu.usage".into(),
            value: SampleValue::Gauge(17.0),
            metric_type: ProfileMetricType::Gauge,
            scale: 1.0,
            tags: vec![("cpu".into(), "1".into())].into(),
            answer: 0,
        };
        poll(&mut tracker, epoch, 0, 100, vec![counter("ifHCInOctets", 0, 64, ("Gi0/1", 1)), gauge.clone()], &fetched);
        let second =
            poll(&mut tracker, epoch, 60, 6100, vec![counter("ifHCInOctets", 600, 64, ("Gi0/1", 1)), gauge], &fetched);
        let names: Vec<&str> = metrics(&second).iter().map(|m| m.0).collect();
        assert_eq!(names, ["snmp.ifHCInOctets", "snmp.cpu.usage"]);
    }

    #[test]
    fn monotonic_count_and_rate_and_scale() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        let fetched = Fetched::new();
        let sample = |raw| Sample {
            name: "ifInDiscards".into(),
            value: SampleValue::Counter { raw, bits: 32 },
            metric_type: ProfileMetricType::MonotonicCountAndRate,
            scale: 2.0,
            tags: vec![].into(),
            answer: 0,
        };
        poll(&mut tracker, epoch, 0, 100, vec![sample(10)], &fetched);
        let second = poll(&mut tracker, epoch, 30, 3100, vec![sample(40)], &fetched);
        let got = metrics(&second);
        assert_eq!((got[0].0, got[0].1), ("snmp.ifInDiscards", 60.0));
        assert_eq!((got[1].0, got[1].1), ("snmp.ifInDiscards.rate", 2.0));
        let Event::Metric(count) = &second[0] else { unreachable!() };
        assert_eq!((count.metric_type, count.interval_secs), (MetricType::Count, Some(60)));
    }

    #[test]
    fn memory_usage_from_used_and_free() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        let gauge = |name: &str, v: f64| Sample {
            name: name.into(),
            value: SampleValue::Gauge(v),
            metric_type: ProfileMetricType::Gauge,
            scale: 1.0,
            tags: vec![("mem".into(), "1".into())].into(),
            answer: 0,
        };
        let events = poll(
            &mut tracker,
            epoch,
            0,
            1,
            vec![gauge("memory.used", 300.0), gauge("memory.free", 100.0)],
            &Fetched::new(),
        );
        let got = metrics(&events);
        assert_eq!((got[2].0, got[2].1), ("snmp.memory.usage", 75.0));
        assert_eq!(got[2].2.get("mem").unwrap(), "1");
    }

    #[test]
    fn profile_level_tags_are_on_every_metric_including_derived_ones() {
        // Datadog's check puts the profile's static_tags and top-level metric_tags (here
        // snmp_host from sysName and a static site tag) on all of the device's metrics:
        // the profile's, the derived ones (bandwidth, memory.usage, interface.status) and
        // the device metrics (reachable, devices_monitored, telemetry).
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        let identity = identity();
        let evaluation = |octets: u64| Evaluation {
            samples: vec![
                counter("ifHCInOctets", octets, 64, ("Gi0/1", 1)),
                Sample {
                    name: "memory.used".into(),
                    value: SampleValue::Gauge(1.0),
                    metric_type: ProfileMetricType::Gauge,
                    scale: 1.0,
                    tags: vec![("mem".into(), "1".into())].into(),
                    answer: 0,
                },
                Sample {
                    name: "memory.free".into(),
                    value: SampleValue::Gauge(3.0),
                    metric_type: ProfileMetricType::Gauge,
                    scale: 1.0,
                    tags: vec![("mem".into(), "1".into())].into(),
                    answer: 0,
                },
            ],
            interfaces: vec![InterfaceMetadata {
                index: 1,
                name: Some("Gi0/1".into()),
                admin_status: Some(1),
                oper_status: Some(1),
                ..InterfaceMetadata::default()
            }],
            tags: vec![("site".into(), "paris".into()), ("snmp_host".into(), "sw1".into())],
            ..Evaluation::default()
        };
        let fetched: Fetched =
            [(Oid::new([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15, 1]), Value::Gauge32(100))].into_iter().collect();
        let mut events = Vec::new();
        for (secs, octets) in [(0, 0), (60, 6_000_000)] {
            let evaluation = evaluation(octets);
            let device_tags = poll_device_tags(&identity.tags, None, Some(&evaluation));
            let mut reporter = Reporter::new(&identity, Timestamp::UNIX_EPOCH, 60, device_tags);
            tracker.begin_poll(epoch + Duration::from_secs(secs), Some(100 + secs as u32 * 100));
            reporter.samples(&evaluation, &fetched, &[], &mut tracker);
            tracker.end_poll();
            reporter.device(true, 0.1, &FetchStats { get_requests: 1, ..FetchStats::default() });
            events = reporter.events;
        }
        let got = metrics(&events);
        let names: Vec<&str> = got.iter().map(|m| m.0).collect();
        for derived in [
            "snmp.ifBandwidthInUsage.rate",
            "snmp.memory.usage",
            "snmp.interface.status",
            "snmp.device.reachable",
            "snmp.devices_monitored",
            "datadog.snmp.requests",
        ] {
            assert!(names.contains(&derived), "{derived} not in {names:?}");
        }
        for (name, _, tags) in &got {
            assert_eq!(tags.get("snmp_host").map(String::as_str), Some("sw1"), "{name}: {tags:?}");
            assert_eq!(tags.get("site").map(String::as_str), Some("paris"), "{name}: {tags:?}");
            assert_eq!(tags.get("snmp_device").map(String::as_str), Some("192.0.2.1"), "{name}: {tags:?}");
        }
    }

    #[test]
    fn profile_tags_are_added_beside_user_tags_of_the_same_key() {
        // As the Agent appends the profile's tags to the user's: both values stay, and a
        // pair given by both is there once.
        let base: Tags = [("site".to_owned(), "paris".to_owned()), ("snmp_host".to_owned(), "sw1".to_owned())].into();
        let evaluation = Evaluation {
            tags: vec![("site".into(), "dc1".into()), ("snmp_host".into(), "sw1".into())],
            ..Evaluation::default()
        };
        let tags = poll_device_tags(&base, None, Some(&evaluation));
        assert_eq!(tags.values("site").collect::<Vec<_>>(), ["dc1", "paris"]);
        assert_eq!(tags.values("snmp_host").collect::<Vec<_>>(), ["sw1"]);
        // A sample's own tags and an interface override's are added the same way.
        let identity = DeviceIdentity { tags: tags.clone(), ..identity() };
        let reporter = Reporter::new(&identity, Timestamp::UNIX_EPOCH, 60, tags);
        let own = [("interface".to_owned(), "Gi0/2".to_owned()), ("site".to_owned(), "rack4".to_owned())];
        let (sample_tags, _) = reporter.sample_tags(&own);
        assert_eq!(sample_tags.values("site").collect::<Vec<_>>(), ["dc1", "paris", "rack4"]);
        assert_eq!(sample_tags.values("role").collect::<Vec<_>>(), ["uplink"], "the override of Gi0/2");
    }

    #[test]
    fn interface_status_summary() {
        assert_eq!(interface_status(1, 1), "up");
        assert_eq!(interface_status(1, 2), "down");
        assert_eq!(interface_status(1, 7), "warning");
        assert_eq!(interface_status(2, 2), "off");
        assert_eq!(interface_status(2, 1), "down");
        assert_eq!(interface_status(3, 1), "warning");
        assert_eq!(interface_status(3, 2), "down");
    }
}
