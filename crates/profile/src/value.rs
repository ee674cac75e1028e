//! What a device's value means to a profile: a number (and whether it is a counter), or
//! text, converted the way Datadog's SNMP check converts them so tags and metadata read
//! the same (integers as decimal text, non-printable octet strings as `0x…` hex, OIDs
//! without the leading dot).

use std::borrow::Cow;
use std::fmt::Write as _;

use nocwatch_snmp::{OpaqueValue, Value};

use crate::schema::Format;

/// A value as a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Plain(f64),
    Counter { raw: u64, bits: u8 },
}

impl Number {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Plain(value) => value,
            Number::Counter { raw, .. } => raw as f64,
        }
    }
}

/// The number in `value`: integers, gauges, time ticks, counters, net-snmp's Opaque
/// floats, and octet strings holding a decimal number (some agents send "12.5").
pub(crate) fn number(value: &Value) -> Option<Number> {
    Some(match value {
        Value::Integer(v) => Number::Plain(*v as f64),
        Value::Gauge32(v) | Value::TimeTicks(v) | Value::UInteger32(v) => Number::Plain(f64::from(*v)),
        Value::Counter32(v) => Number::Counter { raw: u64::from(*v), bits: 32 },
        Value::Counter64(v) => Number::Counter { raw: *v, bits: 64 },
        Value::OctetString(bytes) => Number::Plain(parse_number(&String::from_utf8_lossy(bytes))?),
        Value::Opaque(_) => match value.opaque_value()? {
            OpaqueValue::Float(v) => Number::Plain(f64::from(v)),
            OpaqueValue::Double(v) => Number::Plain(v),
            OpaqueValue::Int64(v) => Number::Plain(v as f64),
            OpaqueValue::UInt64(v) => Number::Plain(v as f64),
            OpaqueValue::Counter64(v) => Number::Counter { raw: v, bits: 64 },
        },
        _ => return None,
    })
}

/// A decimal number in text, ignoring surrounding blanks and NULs. NaN and infinities are
/// refused: they would poison aggregates downstream.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    trimmed.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The value as text, as Datadog renders it for tags and metadata. `None` for NULL and
/// the exceptions.
pub(crate) fn text(value: &Value) -> Option<Cow<'_, str>> {
    Some(match value {
        Value::OctetString(bytes) => octets_text(bytes),
        Value::Integer(v) => Cow::Owned(v.to_string()),
        Value::Gauge32(v) | Value::TimeTicks(v) | Value::UInteger32(v) | Value::Counter32(v) => {
            Cow::Owned(v.to_string())
        }
        Value::Counter64(v) => Cow::Owned(v.to_string()),
        Value::IpAddress(octets) => Cow::Owned(std::net::Ipv4Addr::from(*octets).to_string()),
        Value::ObjectId(oid) => {
            let dotted = oid.to_string();
            Cow::Owned(dotted.strip_prefix('.').map(str::to_owned).unwrap_or(dotted))
        }
        Value::Opaque(_) => match number(value)? {
            Number::Plain(v) if v.fract() == 0.0 && v.abs() < 1e18 => Cow::Owned((v as i64).to_string()),
            Number::Plain(v) => Cow::Owned(v.to_string()),
            Number::Counter { raw, .. } => Cow::Owned(raw.to_string()),
        },
        _ => return None,
    })
}

/// Printable text (and tab/CR/LF) as is, trailing NULs dropped (C strings some agents
/// send); anything else as `0x` + hex, like Datadog (so such tags stay valid). Unlike
/// Datadog, printable UTF-8 (`Büro 2`) is kept as text rather than hexified.
fn octets_text(bytes: &[u8]) -> Cow<'_, str> {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |at| at + 1);
    if let Ok(text) = std::str::from_utf8(&bytes[..end])
        && !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Cow::Owned(out)
}

/// `format: mac_address` (`00:1a:2b:...`) or `format: ip_address` (IPv4 / IPv6 text)
/// applied to an octet string (or an IpAddress). `None` when the value can't be formatted.
pub(crate) fn formatted(value: &Value, format: Format) -> Option<String> {
    let bytes: &[u8] = match value {
        Value::OctetString(bytes) => bytes,
        Value::IpAddress(octets) => octets,
        _ => return None,
    };
    match format {
        Format::MacAddress => {
            let mut out = String::with_capacity(bytes.len() * 3);
            for (at, b) in bytes.iter().enumerate() {
                if at > 0 {
                    out.push(':');
                }
                let _ = write!(out, "{b:02x}");
            }
            Some(out)
        }
        Format::Hex => {
            let mut out = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            Some(out)
        }
        Format::IpAddress => match bytes.len() {
            0 => Some(String::new()),
            4 => {
                let octets: [u8; 4] = bytes.try_into().ok()?;
                Some(std::net::Ipv4Addr::from(octets).to_string())
            }
            16 => {
                let octets: [u8; 16] = bytes.try_into().ok()?;
                Some(std::net::Ipv6Addr::from(octets).to_string())
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_like_datadog() {
        assert_eq!(text(&Value::OctetString(b"Gi0/1".to_vec())).unwrap(), "Gi0/1");
        assert_eq!(text(&Value::OctetString(b"Gi0/1\0\0".to_vec())).unwrap(), "Gi0/1");
        assert_eq!(text(&Value::OctetString(vec![0x00, 0x1a, 0xff])).unwrap(), "0x001aff");
        assert_eq!(text(&Value::OctetString("Büro 2".as_bytes().to_vec())).unwrap(), "Büro 2");
        assert_eq!(text(&Value::OctetString(b"a\x07b".to_vec())).unwrap(), "0x610762");
        assert_eq!(text(&Value::Integer(-3)).unwrap(), "-3");
        assert_eq!(text(&Value::ObjectId([1, 3, 6].into())).unwrap(), "1.3.6");
        assert_eq!(text(&Value::IpAddress([10, 0, 0, 1])).unwrap(), "10.0.0.1");
        assert_eq!(text(&Value::Null), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(number(&Value::Counter32(5)), Some(Number::Counter { raw: 5, bits: 32 }));
        assert_eq!(number(&Value::OctetString(b" 12.5\0".to_vec())), Some(Number::Plain(12.5)));
        assert_eq!(number(&Value::OctetString(b"NaN".to_vec())), None);
        assert_eq!(number(&Value::OctetString(b"abc".to_vec())), None);
        assert_eq!(number(&Value::opaque(OpaqueValue::Float(0.5))), Some(Number::Plain(0.5)));
        assert_eq!(number(&Value::IpAddress([1, 2, 3, 4])), None);
    }

    #[test]
    fn formats() {
        let mac = Value::OctetString(vec![0, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]);
        assert_eq!(formatted(&mac, Format::MacAddress).unwrap(), "00:1b:2c:3d:4e:5f");
        assert_eq!(formatted(&Value::OctetString(vec![10, 1, 2, 3]), Format::IpAddress).unwrap(), "10.1.2.3");
        assert_eq!(formatted(&Value::OctetString(vec![1, 2, 3]), Format::IpAddress), None);
        assert_eq!(formatted(&Value::Integer(1), Format::MacAddress), None);
    }
}
