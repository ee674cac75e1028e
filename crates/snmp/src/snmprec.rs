//! Reading snmpsim `.snmprec` recordings: one `OID|TAG|VALUE` line per variable, sorted by
//! OID, as snmpsim's `snmprec` record format defines it.
//!
//! The tag is the BER type number (2 Integer, 4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER,
//! 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 68 Opaque, 70 Counter64, and the
//! SMIv1 UInteger32 tag 71). A tag ending in `x` means the value is hex-encoded bytes
//! (`4x|80` is the one-octet string 0x80, `64x|0a016401` is 10.1.100.1). Tags with a
//! `:variation` suffix (snmpsim's variation modules) compute values at run time and are
//! refused: a recording with them cannot be read as plain data. Empty lines and `#`
//! comments are skipped.
//!
//! Used by tests and benchmarks (simulated devices, profile evaluation over real walks).

use std::fmt;

use crate::{Oid, Value};

/// A line that is not a plain snmprec record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmprecError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SnmprecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SnmprecError {}

/// Parses a whole recording, in file order.
pub fn parse(text: &str) -> Result<Vec<(Oid, Value)>, SnmprecError> {
    let mut records = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => {}
            Err(message) => return Err(SnmprecError { line: number + 1, message }),
        }
    }
    Ok(records)
}

/// Parses one line; `Ok(None)` for a blank line or a comment.
pub fn parse_line(line: &str) -> Result<Option<(Oid, Value)>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = line.splitn(3, '|');
    let (Some(oid), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected `OID|TAG|VALUE`".to_owned());
    };
    let oid: Oid = oid.parse().map_err(|e: crate::ParseOidError| e.to_string())?;
    if tag.contains(':') {
        return Err(format!("tag `{tag}` uses a snmpsim variation module; only plain values are supported"));
    }
    let (number, hex) = match tag.strip_suffix('x') {
        Some(number) => (number, true),
        None => (tag, false),
    };
    let number: u8 = number.parse().map_err(|_| format!("unknown tag `{tag}`"))?;
    let bytes = || -> Result<Vec<u8>, String> { if hex { decode_hex(value) } else { Ok(value.as_bytes().to_vec()) } };
    let text = || -> Result<String, String> {
        if hex {
            String::from_utf8(decode_hex(value)?).map_err(|_| "not UTF-8 text".to_owned())
        } else {
            Ok(value.to_owned())
        }
    };
    let number_of = |what: &str| -> Result<String, String> {
        let text = text()?;
        if text.trim().is_empty() { Err(format!("empty {what}")) } else { Ok(text.trim().to_owned()) }
    };
    let value = match number {
        2 => Value::Integer(parse_num(&number_of("integer")?)?),
        4 => Value::OctetString(bytes()?),
        5 => Value::Null,
        6 => Value::ObjectId(text()?.parse().map_err(|e: crate::ParseOidError| e.to_string())?),
        64 => Value::IpAddress(ip_address(hex, value)?),
        65 => Value::Counter32(parse_num(&number_of("Counter32")?)?),
        66 => Value::Gauge32(parse_num(&number_of("Gauge32")?)?),
        67 => Value::TimeTicks(parse_num(&number_of("TimeTicks")?)?),
        68 => Value::Opaque(bytes()?),
        70 => Value::Counter64(parse_num(&number_of("Counter64")?)?),
        71 => Value::UInteger32(parse_num(&number_of("UInteger32")?)?),
        other => return Err(format!("unknown tag `{other}`")),
    };
    Ok(Some((oid, value)))
}

fn parse_num<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("`{text}` is out of range for its type"))
}

/// `10.1.100.1`, hex `0a016401`, or (older snmpsim recordings) the four raw octets as
/// Latin-1 characters.
fn ip_address(hex: bool, value: &str) -> Result<[u8; 4], String> {
    let octets: Vec<u8> = if hex {
        decode_hex(value)?
    } else if let Ok(address) = value.parse::<std::net::Ipv4Addr>() {
        address.octets().to_vec()
    } else {
        value.chars().map(|c| u8::try_from(u32::from(c)).map_err(|_| ())).collect::<Result<_, _>>().unwrap_or_default()
    };
    octets.try_into().map_err(|_| format!("`{value}` is not an IPv4 address"))
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_owned());
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("`{text}` is not hex"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> (Oid, Value) {
        parse_line(line).unwrap().unwrap()
    }

    #[test]
    fn every_tag() {
        assert_eq!(one("1.3.6.1.2.1.1.3.0|67|12345").1, Value::TimeTicks(12345));
        assert_eq!(one("1.3.6.1.2.1.1.1.0|4|Cisco IOS | x").1, Value::OctetString(b"Cisco IOS | x".to_vec()));
        assert_eq!(one("1.3.6.1.2.1.1.1.0|4x|80ff").1, Value::OctetString(vec![0x80, 0xff]));
        assert_eq!(one("1.3.6.1.2.1.1.1.0|4|").1, Value::OctetString(vec![]));
        assert_eq!(
            one("1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.617").1,
            Value::ObjectId(Oid::from([1, 3, 6, 1, 4, 1, 9, 1, 617]))
        );
        assert_eq!(one("1.3|64x|0a016401").1, Value::IpAddress([10, 1, 100, 1]));
        assert_eq!(one("1.3|64|10.1.100.2").1, Value::IpAddress([10, 1, 100, 2]));
        assert_eq!(one("1.3|64|J}M}").1, Value::IpAddress([74, 125, 77, 125]));
        assert_eq!(one("1.3|65|4294967295").1, Value::Counter32(u32::MAX));
        assert_eq!(one("1.3|66|7").1, Value::Gauge32(7));
        assert_eq!(one("1.3|70|18446744073709551615").1, Value::Counter64(u64::MAX));
        assert_eq!(one("1.3|2|-5").1, Value::Integer(-5));
        assert_eq!(one("1.3|5|").1, Value::Null);
        assert_eq!(one("1.3|68x|9f78043eeb851f").1, Value::Opaque(vec![0x9f, 0x78, 0x04, 0x3e, 0xeb, 0x85, 0x1f]));
        assert_eq!(parse_line("# comment").unwrap(), None);
        assert_eq!(parse_line("").unwrap(), None);
    }

    #[test]
    fn refusals() {
        assert!(parse_line("1.3|65|-1").is_err());
        assert!(parse_line("1.3|65|4294967296").is_err());
        assert!(parse_line("1.3|4x|abc").is_err());
        assert!(parse_line("1.3|4x|zz").is_err());
        assert!(parse_line("1.3|2:numeric|x").is_err());
        assert!(parse_line("1.3|99|1").is_err());
        assert!(parse_line("1.3|2").is_err());
        assert!(parse_line("1.x|2|1").is_err());
        assert!(parse_line("1.3|64|1.2.3").is_err());
        let error = parse("1.3|2|1\n1.4|2|x\n").unwrap_err();
        assert_eq!(error.line, 2);
    }
}
