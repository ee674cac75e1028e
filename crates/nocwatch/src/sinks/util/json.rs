//! JSON written straight into a byte buffer, for the sinks' hot paths (JSON lines, Datadog
//! log entries): the same bytes `serde_json` writes for the same values, without its
//! byte-at-a-time string escaping (skips eight clean bytes per step) and without going
//! through `Serialize` for every attribute.
//!
//! Writing into a `Vec<u8>` cannot fail, so nothing here returns an error.

use std::io::Write as _;

use serde_json::{Map, Value};

use crate::event::{AttributeValue, Attributes, LogEvent, Members, Metric, MetricType, Node, Tags};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether one of the eight bytes of `word` must be escaped: a control byte (< 0x20), `"`
/// or `\`. Exact (no false positives) because each test only borrows from a byte that is
/// itself a hit.
#[inline]
fn needs_escape(word: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash) & HIGH_BITS != 0
}

/// Writes the escape serde_json writes for `byte` (a control byte, `"` or `\`): its short
/// form where JSON has one, else `\u00XX`.
fn write_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        b'\t' => b't',
        b'\n' => b'n',
        0x0C => b'f',
        b'\r' => b'r',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

fn is_escaped(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The index of the first byte of `bytes[from..]` that must be escaped.
#[inline]
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(Ok(chunk)) = bytes.get(at..at + 8).map(<[u8; 8]>::try_from) {
        if needs_escape(u64::from_le_bytes(chunk)) {
            break;
        }
        at += 8;
    }
    // The word with the hit, or the last few bytes.
    bytes[at..].iter().position(|&b| is_escaped(b)).map(|i| at + i)
}

/// `s` as a JSON string, quotes included.
pub fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    while let Some(at) = next_escape(bytes, clean_from) {
        out.extend_from_slice(&bytes[clean_from..at]);
        write_escape(out, bytes[at]);
        clean_from = at + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

pub fn value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Rare in events; serde_json's own number formatting, so the output stays identical.
        Value::Number(number) => {
            let _ = serde_json::to_writer(&mut *out, number);
        }
        Value::String(s) => string(out, s),
        Value::Array(values) => {
            out.push(b'[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(out, v);
            }
            out.push(b']');
        }
        Value::Object(map) => object(out, map),
    }
}

pub fn object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    out.push(b'{');
    entries(out, map.iter().map(|(k, v)| (k.as_str(), v)), value);
    out.push(b'}');
}

pub fn attributes(out: &mut Vec<u8>, attributes: &Attributes) {
    out.push(b'{');
    entries(out, attributes.members(), attribute);
    out.push(b'}');
}

/// The members for which `keep(key)`, each preceded by a comma but the first:
/// `"k":v,"k2":v2`. Returns whether any was written.
pub fn members(out: &mut Vec<u8>, list: Members<'_>, keep: impl Fn(&str) -> bool) -> bool {
    let mut any = false;
    entries(out, list.filter(|(key, _)| keep(key)).inspect(|_| any = true), attribute);
    any
}

/// `"k":v,"k2":v2`, each value written by `write_value`.
fn entries<'a, V>(out: &mut Vec<u8>, list: impl Iterator<Item = (&'a str, V)>, write_value: fn(&mut Vec<u8>, V)) {
    for (i, (key, v)) in list.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, key);
        out.push(b':');
        write_value(out, v);
    }
}

fn attribute(out: &mut Vec<u8>, node: Node<'_>) {
    match node {
        Node::Value(AttributeValue::Str(s)) => string(out, s),
        Node::Value(AttributeValue::Bool(true)) => out.extend_from_slice(b"true"),
        Node::Value(AttributeValue::Bool(false)) => out.extend_from_slice(b"false"),
        Node::Value(AttributeValue::Json(v)) => value(out, v),
        Node::Object(inner) => {
            out.push(b'{');
            entries(out, inner, attribute);
            out.push(b'}');
        }
    }
}

/// Tags as their `Serialize` writes them: a key with several values has an array.
pub fn tags(out: &mut Vec<u8>, tags: &Tags) {
    out.push(b'{');
    entries(out, tags.groups(), tag_values);
    out.push(b'}');
}

fn tag_values(out: &mut Vec<u8>, group: &[(String, String)]) {
    match group {
        [(_, value)] => string(out, value),
        several => {
            out.push(b'[');
            for (i, (_, value)) in several.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, value);
            }
            out.push(b']');
        }
    }
}

/// A quoted RFC 3339 timestamp, as its `Serialize` (its `Display`) writes it: nothing in
/// it needs escaping.
pub fn timestamp(out: &mut Vec<u8>, timestamp: jiff::Timestamp) {
    out.push(b'"');
    let _ = write!(out, "{timestamp}");
    out.push(b'"');
}

/// `Event::Metric(metric)` as its derived `Serialize` writes it (`docs/events.md`).
pub fn metric_event(out: &mut Vec<u8>, metric: &Metric) {
    metric_event_head(out, metric);
    tags(out, &metric.tags);
    out.push(b'}');
}

/// [`metric_event`] up to its tags: the caller writes them (or copies them from an
/// event with the same shared tags) and the closing brace.
pub fn metric_event_head(out: &mut Vec<u8>, metric: &Metric) {
    out.extend_from_slice(b"{\"kind\":\"metric\",\"name\":");
    string(out, &metric.name);
    out.extend_from_slice(match metric.metric_type {
        MetricType::Gauge => b",\"type\":\"gauge\",\"value\":",
        MetricType::Count => b",\"type\":\"count\",\"value\":",
        MetricType::Rate => b",\"type\":\"rate\",\"value\":",
    });
    // serde_json's own float formatting (NaN and infinities as null), so the bytes match.
    let _ = serde_json::to_writer(&mut *out, &metric.value);
    out.extend_from_slice(b",\"timestamp\":");
    timestamp(out, metric.timestamp);
    if let Some(interval) = metric.interval_secs {
        let _ = write!(out, ",\"interval_secs\":{interval}");
    }
    if let Some(host) = &metric.host {
        out.extend_from_slice(b",\"host\":");
        string(out, host);
    }
    out.extend_from_slice(b",\"tags\":");
}

/// `Event::Log(log)` as its derived `Serialize` writes it (`docs/events.md`).
pub fn log_event(out: &mut Vec<u8>, log: &LogEvent) {
    out.extend_from_slice(b"{\"kind\":\"log\",\"timestamp\":");
    timestamp(out, log.timestamp);
    if let Some(host) = &log.host {
        out.extend_from_slice(b",\"host\":");
        string(out, host);
    }
    out.extend_from_slice(b",\"source\":");
    string(out, &log.source);
    if let Some(service) = &log.service {
        out.extend_from_slice(b",\"service\":");
        string(out, service);
    }
    out.extend_from_slice(b",\"status\":\"");
    out.extend_from_slice(log.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    string(out, &log.message);
    out.extend_from_slice(b",\"tags\":");
    tags(out, &log.tags);
    if !log.attributes.is_empty() {
        out.extend_from_slice(b",\"attributes\":");
        attributes(out, &log.attributes);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Status};

    fn serde(value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).expect("serializable")
    }

    fn ours(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).expect("valid UTF-8")
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        // Every ASCII byte alone and at every position of a run longer than a word, plus
        // multi-byte characters (never escaped) around them.
        let mut cases: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        for b in 0u8..0x80 {
            for at in 0..18 {
                let mut s: String = "abcdefghijklmnopq".chars().take(17).collect();
                s.insert(at, char::from(b));
                cases.push(s);
            }
        }
        cases.extend(
            ["", "é", "日本語\u{2028}\u{7f}\u{0}x", "trailing space ", "\"\\\"\\\\", "a\u{1f}ü\u{1b}[0m"]
                .map(String::from),
        );
        cases.push("x".repeat(1000) + "\n" + &"y".repeat(7));
        for case in cases {
            assert_eq!(ours(|out| string(out, &case)), serde(&case), "{case:?}");
        }
    }

    #[test]
    fn values_and_log_events_match_serde_json() {
        let tree = serde_json::json!({
            "syslog": {"facility": "local7", "severity": "notice", "appname": "RT_FLOW"},
            "structured_data": {"junos@2636.1.1.1.2.39": {"source-address": "1.2.3.4", "encrypted": "No "}},
            "n": [1, -2, 3.5, 1e300, null, true, false, "s\"q"],
            "peer": {"ip": "10.0.0.1"}, "truncated": true, "": {}
        });
        let serde_json::Value::Object(map) = tree else { unreachable!() };
        let mut log = LogEvent {
            timestamp: "2026-11-25T08:00:00.123456Z".parse().expect("timestamp"),
            host: Some("core-sw1".into()),
            source: "syslog".into(),
            service: Some("sshd".into()),
            status: Status::Notice,
            message: "Configured from \"console\"\n\tby vty0 \u{1}".into(),
            tags: [("env".to_owned(), "prd".to_owned()), ("bare".to_owned(), String::new())].into(),
            attributes: map.clone().into(),
        };
        let event = Event::Log(log.clone());
        assert_eq!(ours(|out| log_event(out, &log)), serde(&event));
        // The bytes serde_json writes for the same attributes as a `Map` (their former type).
        assert_eq!(ours(|out| attributes(out, &log.attributes)), serde(&map));
        assert_eq!(ours(|out| object(out, &map)), serde(&map));
        assert_eq!(serde(&log.attributes), serde(&map));

        let mut metric = Metric {
            name: "snmp.ifHCInOctets\"x".into(),
            metric_type: MetricType::Rate,
            value: 1250.5,
            timestamp: "2026-11-25T08:00:00.5Z".parse().expect("timestamp"),
            interval_secs: Some(60),
            host: Some("device:default:10.0.0.1".into()),
            tags: [
                ("interface".to_owned(), "Gi1/0/1 \"up\"\n".to_owned()),
                ("bare".to_owned(), String::new()),
                ("site".to_owned(), "paris".to_owned()),
                ("site".to_owned(), "dc\"1".to_owned()),
            ]
            .into(),
        };
        for (metric_type, value) in [
            (MetricType::Gauge, f64::NAN),
            (MetricType::Count, 3.0),
            (MetricType::Rate, 1e-7),
            (MetricType::Gauge, -0.0),
        ] {
            metric.metric_type = metric_type;
            metric.value = value;
            assert_eq!(ours(|out| metric_event(out, &metric)), serde(&Event::Metric(metric.clone())));
            metric.interval_secs = None;
            metric.host = None;
            metric.tags = Tags::new();
        }

        log.host = None;
        log.service = None;
        log.tags.clear();
        log.attributes = Attributes::new();
        log.timestamp = "1970-01-01T00:00:00Z".parse().expect("timestamp");
        assert_eq!(ours(|out| log_event(out, &log)), serde(&Event::Log(log.clone())));
    }
}
