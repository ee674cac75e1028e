//! The event model: the two kinds of data that flow from sources to sinks.
//!
//! A [`Metric`] is one measurement (SNMP counters, ping RTT, self-metrics); a [`LogEvent`] is
//! one line or notification (syslog, SNMP trap, agent event); a [`DeviceMetadata`] is what a
//! poll learnt about a device and its interfaces (Datadog sends the same to its Network
//! Device Monitoring intake, not as metrics or logs). Every sink maps from these types; their
//! JSON shape (serde) is the documented one in `docs/events.md`.

mod attributes;
mod tags;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use attributes::{AttributeValue, Attributes, AttributesBuilder, MAX_DEPTH, Members, Node};
pub use tags::{TagGroups, Tags, TagsIter};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Metric(Metric),
    Log(LogEvent),
    /// Boxed: it is ten times the size of a metric, and a poll's thousand metrics would
    /// each take its size in the batch otherwise.
    Metadata(Box<DeviceMetadata>),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Metric(_) => EventKind::Metric,
            Event::Log(_) => EventKind::Log,
            Event::Metadata(_) => EventKind::Metadata,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Metric,
    Log,
    Metadata,
}

/// Which kinds a sink accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub metrics: bool,
    pub logs: bool,
    pub metadata: bool,
}

impl Accepts {
    /// Everything, device metadata included (console, file, local store).
    pub const ALL: Accepts = Accepts { metrics: true, logs: true, metadata: true };
    pub const METRICS_AND_LOGS: Accepts = Accepts { metrics: true, logs: true, metadata: false };
    pub const LOGS: Accepts = Accepts { metrics: false, logs: true, metadata: false };
    pub const METRICS: Accepts = Accepts { metrics: true, logs: false, metadata: false };

    pub fn accepts(self, kind: EventKind) -> bool {
        match kind {
            EventKind::Metric => self.metrics,
            EventKind::Log => self.logs,
            EventKind::Metadata => self.metadata,
        }
    }
}

/// How a metric's value is to be read, as in Datadog's metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// The value at `timestamp` (interface status, CPU %).
    Gauge,
    /// How many happened during `interval` (a counter's delta).
    Count,
    /// Per second, averaged over `interval` (`snmp.ifHCInOctets` as the SNMP check sends it).
    Rate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// JSON has no NaN: it is written as `null`, and `null` reads back as NaN.
    #[serde(deserialize_with = "nan_from_null")]
    pub value: f64,
    pub timestamp: Timestamp,
    /// Seconds the value covers: the poll interval for count and rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_secs: Option<u32>,
    /// The device (or agent) the metric is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

fn nan_from_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// A log event's status, named as Datadog Logs names them (and ordered from the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Emergency,
    Alert,
    Critical,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Status {
    /// The syslog severity (RFC 5424 §6.2.1) with the same meaning.
    pub fn from_syslog_severity(severity: u8) -> Status {
        match severity {
            0 => Status::Emergency,
            1 => Status::Alert,
            2 => Status::Critical,
            3 => Status::Error,
            4 => Status::Warn,
            5 => Status::Notice,
            6 => Status::Info,
            _ => Status::Debug,
        }
    }

    /// The syslog severity code with the same meaning.
    pub fn syslog_severity(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Emergency => "emergency",
            Status::Alert => "alert",
            Status::Critical => "critical",
            Status::Error => "error",
            Status::Warn => "warn",
            Status::Notice => "notice",
            Status::Info => "info",
            Status::Debug => "debug",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    pub timestamp: Timestamp,
    /// The device that sent it (parsed hostname, mapped name, or sender address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// What produced it: `syslog`, `snmp-traps`, `nocwatch` (Datadog's `ddsource`).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub status: Status,
    pub message: String,
    #[serde(default)]
    pub tags: Tags,
    /// Structured fields: parsed syslog header and vendor fields, trap varbinds. A nested
    /// JSON object in every output ([`Attributes`]).
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// What one poll learnt about a device: who it is (from the profile's `metadata` section)
/// and its interfaces. The poller sends one per poll, answered or not, so a sink that
/// starts late (or lost its state) has the full picture after one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceMetadata {
    /// When the poll started.
    pub timestamp: Timestamp,
    /// Datadog's device id, `<namespace>:<address>` (`:<port>` when not 161): the same as
    /// `device_namespace:snmp_device` in the device's metric tags.
    pub device_id: String,
    /// The host of the device's metrics, when it has its own (`use_device_id_as_hostname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The address polled.
    pub ip_address: String,
    pub reachable: bool,
    /// How long the poll took.
    pub poll_duration_secs: f64,
    /// The profile in use (none before the device first answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sys_object_id: Option<String>,
    /// The device's tags, as on its metrics (snmp_device, device_namespace, snmp_profile,
    /// device_vendor, snmp_host, the user's tags).
    #[serde(default)]
    pub tags: Tags,
    /// The profile's device metadata fields: vendor, name, description, version,
    /// serial_number, product_name, model, os_name, os_version, location, ...
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceInfo>,
}

/// One interface of a [`DeviceMetadata`]. Statuses are the names the
/// `snmp.interface.status` tags use (`up`, `down`, `testing`, `lower_layer_down`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceInfo {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oper_status: Option<String>,
    /// Bits per second (ifHighSpeed × 10⁶, or ifSpeed, or the configured speed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_bps: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_the_documented_one() {
        let ts: Timestamp = "2026-11-25T08:00:00Z".parse().unwrap();
        let metric = Event::Metric(Metric {
            name: "snmp.ifHCInOctets".into(),
            metric_type: MetricType::Rate,
            value: 1250.5,
            timestamp: ts,
            interval_secs: Some(60),
            host: Some("core-sw1".into()),
            tags: [("interface".to_owned(), "Gi1/0/1".to_owned())].into(),
        });
        let json = serde_json::to_value(&metric).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "metric", "name": "snmp.ifHCInOctets", "type": "rate", "value": 1250.5,
                "timestamp": "2026-11-25T08:00:00Z", "interval_secs": 60, "host": "core-sw1",
                "tags": {"interface": "Gi1/0/1"}})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, metric);

        let log = Event::Log(LogEvent {
            timestamp: ts,
            host: None,
            source: "syslog".into(),
            service: None,
            status: Status::from_syslog_severity(3),
            message: "link down".into(),
            tags: Tags::new(),
            attributes: Attributes::new(),
        });
        let json = serde_json::to_value(&log).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "log", "timestamp": "2026-11-25T08:00:00Z", "source": "syslog",
                "status": "error", "message": "link down", "tags": {}})
        );
    }
}
