//! From a received notification to a log event shaped like the Datadog traps listener's
//! (`comp/snmptraps/formatter` of the Datadog Agent): `snmpTrapOID`, `snmpTrapName`,
//! `snmpTrapMIB`, `uptime`, v1's `enterpriseOID` / `genericTrap` / `specificTrap`, one
//! attribute per varbind named by the MIBs (enums as labels, BITS as the list of set
//! labels, OCTET STRINGs by DISPLAY-HINT), and the raw `variables` list (oid, type,
//! value) always. Tags `snmp_version`, `device_namespace`, `snmp_device`.
//!
//! OIDs are written without the leading dot, as the Datadog listener writes them, and
//! stay numeric when no MIB names them.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use nocwatch_mib::{BaseType, Mibs, Syntax, format_octets};
use nocwatch_snmp::receiver::Notification;
use nocwatch_snmp::{Oid, OpaqueValue, Value, Version};
use serde_json::{Map, Value as Json};

use crate::event::{LogEvent, Status, Tags};

/// `ddsource` of trap events, as the Datadog listener sets it.
pub const SOURCE: &str = "snmp-traps";

pub struct TrapFormatter {
    mibs: Arc<Mibs>,
    namespace: String,
}

impl TrapFormatter {
    pub fn new(mibs: Arc<Mibs>, namespace: String) -> TrapFormatter {
        TrapFormatter { mibs, namespace }
    }

    pub fn to_event(&self, notification: &Notification, sender: IpAddr, timestamp: jiff::Timestamp) -> LogEvent {
        let device = sender.to_canonical().to_string();
        let mut attributes = Map::new();
        let trap_oid = dotless(&notification.trap_oid);
        let trap_node = self.mibs.node(notification.trap_oid.arcs());
        let trap_name = trap_node.map(|node| node.name().to_owned());
        attributes.insert("snmpTrapOID".into(), Json::String(trap_oid.clone()));
        if let Some(node) = trap_node {
            attributes.insert("snmpTrapName".into(), Json::String(node.name().to_owned()));
            attributes.insert("snmpTrapMIB".into(), Json::String(node.module().to_owned()));
        }
        if let Some(uptime) = notification.uptime {
            attributes.insert("uptime".into(), Json::from(uptime));
        }
        if let Some(v1) = &notification.v1 {
            attributes.insert("enterpriseOID".into(), Json::String(dotless(&v1.enterprise)));
            attributes.insert("genericTrap".into(), Json::from(v1.generic_trap));
            attributes.insert("specificTrap".into(), Json::from(v1.specific_trap));
            let [a, b, c, d] = v1.agent_addr;
            attributes.insert("agentAddress".into(), Json::String(format!("{a}.{b}.{c}.{d}")));
        }

        let mut message = trap_name.unwrap_or_else(|| trap_oid.clone());
        let mut variables = Vec::with_capacity(notification.varbinds.len());
        for vb in &notification.varbinds {
            let resolved = self.mibs.resolve(vb.oid.arcs());
            let syntax = resolved.and_then(|(node, _)| node.syntax());
            let bits = syntax.filter(|s| s.base() == BaseType::Bits);
            let mut raw = Map::new();
            raw.insert("oid".into(), Json::String(dotless(&vb.oid)));
            raw.insert("type".into(), Json::String(type_name(&vb.value).to_owned()));
            raw.insert(
                "value".into(),
                match (&vb.value, bits) {
                    (Value::OctetString(octets), Some(_)) => Json::String(hex(octets)),
                    (value, _) => raw_value(value),
                },
            );
            variables.push(Json::Object(raw));
            if let Some((node, _)) = resolved {
                let value = named_value(&vb.value, syntax);
                let _ = write!(message, " {}={}", node.name(), plain(&value));
                attributes.insert(node.name().to_owned(), value);
            } else {
                let _ = write!(message, " {}={}", dotless(&vb.oid), plain(&raw_value(&vb.value)));
            }
        }
        attributes.insert("variables".into(), Json::Array(variables));

        let mut tags = Tags::new();
        tags.insert("snmp_version".into(), version_tag(notification.version).to_owned());
        tags.insert("device_namespace".into(), self.namespace.clone());
        tags.insert("snmp_device".into(), device.clone());
        LogEvent {
            timestamp,
            host: Some(device),
            source: SOURCE.to_owned(),
            service: None,
            status: Status::Info,
            message,
            tags,
            attributes: attributes.into(),
        }
    }
}

/// The Datadog listener's `snmp_version` tag values.
fn version_tag(version: Version) -> &'static str {
    match version {
        Version::V1 => "1",
        Version::V2c => "2",
        Version::V3 => "3",
    }
}

/// `1.3.6.1...` (no leading dot).
fn dotless(oid: &Oid) -> String {
    let mut out = String::with_capacity(oid.len() * 3);
    for (i, arc) in oid.arcs().iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let _ = write!(out, "{arc}");
    }
    out
}

/// The Datadog listener's type names (gosnmp's, as its formatter prints them).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::UInteger32(_) => "integer",
        Value::OctetString(_) => "string",
        Value::Null => "null",
        Value::ObjectId(_) => "oid",
        Value::IpAddress(_) => "ip-address",
        Value::Counter32(_) => "counter32",
        Value::Gauge32(_) => "gauge32",
        Value::TimeTicks(_) => "time-ticks",
        Value::Opaque(_) => "opaque",
        Value::Counter64(_) => "counter64",
        Value::NoSuchObject => "no-such-object",
        Value::NoSuchInstance => "no-such-instance",
        Value::EndOfMibView => "end-of-mib-view",
        Value::Other { tag: 0x45, .. } => "nsap-address",
        Value::Other { .. } => "other",
    }
}

fn hex(octets: &[u8]) -> String {
    let mut out = String::with_capacity(2 + octets.len() * 2);
    out.push_str("0x");
    for b in octets {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// An OCTET STRING without a MIB: text when it is printable UTF-8, else `0x` + hex.
fn octets_text(octets: &[u8]) -> String {
    match std::str::from_utf8(octets) {
        Ok(text) if !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n')) => text.to_owned(),
        _ => hex(octets),
    }
}

/// The value as the `variables` list carries it (no MIB involved).
fn raw_value(value: &Value) -> Json {
    match value {
        Value::Integer(v) => Json::from(*v),
        Value::OctetString(octets) => Json::String(octets_text(octets)),
        Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => Json::Null,
        Value::ObjectId(oid) => Json::String(dotless(oid)),
        Value::IpAddress([a, b, c, d]) => Json::String(format!("{a}.{b}.{c}.{d}")),
        Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) | Value::UInteger32(v) => Json::from(*v),
        Value::Counter64(v) => Json::from(*v),
        Value::Opaque(content) => match value.opaque_value() {
            Some(OpaqueValue::Float(f)) => Json::from(f64::from(f)),
            Some(OpaqueValue::Double(f)) => Json::from(f),
            Some(OpaqueValue::Int64(v)) => Json::from(v),
            Some(OpaqueValue::UInt64(v) | OpaqueValue::Counter64(v)) => Json::from(v),
            None => Json::String(hex(content)),
        },
        Value::Other { data, .. } => Json::String(hex(data)),
    }
}

/// The value of the attribute named after the varbind: enums as labels, BITS as the
/// list of set labels, OCTET STRINGs by the DISPLAY-HINT of their syntax.
fn named_value(value: &Value, syntax: Option<Syntax<'_>>) -> Json {
    let Some(syntax) = syntax else { return raw_value(value) };
    match value {
        Value::Integer(v) => match syntax.enum_label(*v) {
            Some(label) => Json::String(label.to_owned()),
            None => Json::from(*v),
        },
        Value::OctetString(octets) if syntax.base() == BaseType::Bits => {
            Json::Array(syntax.bits_labels(octets).into_iter().map(|l| Json::String(l.to_owned())).collect())
        }
        Value::OctetString(octets) => match syntax.display_hint().and_then(|hint| format_octets(hint, octets)) {
            Some(text) => Json::String(text),
            None => raw_value(value),
        },
        _ => raw_value(value),
    }
}

/// A JSON value as the message text shows it.
fn plain(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nocwatch_snmp::VarBind;
    use nocwatch_snmp::receiver::{Security, V1Fields};

    fn oid(text: &str) -> Oid {
        text.parse().unwrap()
    }

    #[test]
    fn without_mibs_everything_stays_numeric() {
        let notification = Notification {
            version: Version::V1,
            inform: false,
            uptime: Some(92440),
            trap_oid: oid(".1.3.6.1.6.3.1.1.5.3"),
            v1: Some(V1Fields {
                enterprise: oid(".1.3.6.1.4.1.9.1.617"),
                agent_addr: [10, 0, 0, 1],
                generic_trap: 2,
                specific_trap: 0,
            }),
            varbinds: vec![
                VarBind::new(oid(".1.3.6.1.2.1.2.2.1.1.2"), Value::Integer(2)),
                VarBind::new(oid(".1.3.6.1.2.1.2.2.1.6.2"), Value::OctetString(vec![0, 0x1b, 0x54, 0xc2, 0x20, 0x01])),
                VarBind::new(oid(".1.3.6.1.2.1.2.2.1.2.2"), Value::OctetString(b"Gi0/2".to_vec())),
            ],
            security: Security::Community { index: 0 },
        };
        let formatter = TrapFormatter::new(Arc::new(Mibs::empty()), "default".into());
        let event = formatter.to_event(&notification, "::ffff:10.0.0.1".parse().unwrap(), jiff::Timestamp::UNIX_EPOCH);
        let a = &event.attributes.to_json();
        assert_eq!(a["snmpTrapOID"], "1.3.6.1.6.3.1.1.5.3");
        assert!(a.get("snmpTrapName").is_none());
        assert_eq!(a["enterpriseOID"], "1.3.6.1.4.1.9.1.617");
        assert_eq!(a["genericTrap"], 2);
        assert_eq!(a["uptime"], 92440);
        assert_eq!(a["variables"][1]["value"], "0x001B54C22001");
        assert_eq!(
            a["variables"][2],
            serde_json::json!({"oid": "1.3.6.1.2.1.2.2.1.2.2", "type": "string", "value": "Gi0/2"})
        );
        assert_eq!(event.tags["snmp_device"], "10.0.0.1");
        assert_eq!(event.tags["snmp_version"], "1");
        assert_eq!(event.source, "snmp-traps");
        assert!(event.message.starts_with("1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.2=2"), "{}", event.message);
    }
}
