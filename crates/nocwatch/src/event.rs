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

/// Serialized as one JSON object whose first member is `kind` (`"metric"`, `"log"`,
/// `"metadata"`); read back by the `Deserialize` below.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// Reads an event without buffering it when `kind` comes first, as nocwatch writes it (the
/// disk buffer reads back every event it holds): serde's derived reading of an internally
/// tagged enum first copies each object into an intermediate tree, the larger part of the
/// disk buffer's read cost. An object with `kind` elsewhere still reads, through a tree.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindTag {
    Metric,
    Log,
    Metadata,
}

/// An object's first key: `kind`, or another one (kept for the slow path).
enum FirstKey {
    Kind,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = FirstKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<FirstKey, E> {
                Ok(if key == "kind" { FirstKey::Kind } else { FirstKey::Other(key.to_owned()) })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct EventVisitor;

impl<'de> serde::de::Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event: an object with a `kind` member")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        use serde::de::Error as _;
        use serde::de::value::MapAccessDeserializer;
        let first = map.next_key::<FirstKey>()?.ok_or_else(|| A::Error::missing_field("kind"))?;
        let other = match first {
            FirstKey::Kind => {
                let kind: KindTag = map.next_value()?;
                return event_of_kind(kind, MapAccessDeserializer::new(map));
            }
            FirstKey::Other(key) => key,
        };
        let mut object = serde_json::Map::new();
        object.insert(other, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        let kind = object.remove("kind").ok_or_else(|| A::Error::missing_field("kind"))?;
        let kind = KindTag::deserialize(kind).map_err(A::Error::custom)?;
        event_of_kind(kind, serde_json::Value::Object(object)).map_err(A::Error::custom)
    }
}

/// The rest of an event object (without `kind`) read as the event `kind` says.
fn event_of_kind<'de, D: serde::Deserializer<'de>>(kind: KindTag, rest: D) -> Result<Event, D::Error> {
    Ok(match kind {
        KindTag::Metric => Event::Metric(Metric::deserialize(rest)?),
        KindTag::Log => Event::Log(LogEvent::deserialize(rest)?),
        KindTag::Metadata => Event::Metadata(Box::new(DeviceMetadata::deserialize(rest)?)),
    })
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

    /// Written text (`kind` first) and a tree (`kind` anywhere) read back to the same events;
    /// an object without a known `kind` is refused.
    #[test]
    fn events_read_back_whatever_the_place_of_kind() {
        let ts: Timestamp = "2026-11-25T08:00:00Z".parse().unwrap();
        let mut attributes = AttributesBuilder::with_capacity(2, 16);
        attributes.str(&["cisco", "mnemonic"], "UPDOWN");
        attributes.bool(&["truncated"], true);
        let events = vec![
            Event::Log(LogEvent {
                timestamp: ts,
                host: Some("core-sw1".into()),
                source: "syslog".into(),
                service: Some("LINK".into()),
                status: Status::from_syslog_severity(3),
                message: "link down".into(),
                tags: [("site".to_owned(), "dc1".to_owned())].into(),
                attributes: attributes.build(),
            }),
            Event::Metric(Metric {
                name: "snmp.ifHCInOctets".into(),
                metric_type: MetricType::Rate,
                value: f64::NAN,
                timestamp: ts,
                interval_secs: None,
                host: None,
                tags: Tags::new(),
            }),
        ];
        let text = serde_json::to_string(&events).unwrap();
        assert!(text.starts_with(r#"[{"kind":"log""#), "{text}");
        let from_text: Vec<Event> = serde_json::from_str(&text).unwrap();
        let from_tree: Vec<Event> = serde_json::from_value(serde_json::from_str(&text).unwrap()).unwrap();
        for back in [from_text, from_tree] {
            assert_eq!(back[0], events[0]);
            // NaN is written as null and read back as NaN, which is not equal to itself.
            let Event::Metric(metric) = &back[1] else { panic!("not a metric: {:?}", back[1]) };
            assert!(metric.value.is_nan());
            assert_eq!(metric.name, "snmp.ifHCInOctets");
        }
        let reordered =
            r#"{"message":"m","timestamp":"2026-11-25T08:00:00Z","source":"s","status":"info","kind":"log"}"#;
        assert!(matches!(serde_json::from_str::<Event>(reordered).unwrap(), Event::Log(log) if log.message == "m"));
        for bad in [r#"{"message":"m"}"#, r#"{"kind":"trace","message":"m"}"#, r#"{}"#, "[]"] {
            assert!(serde_json::from_str::<Event>(bad).is_err(), "{bad}");
        }
    }
}
