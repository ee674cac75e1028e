//! Values printed exactly as net-snmp's tools print them without MIBs (`snmpwalk -On`):
//! `STRING: "..."` (with `\"` and `\\` escaped, non-printables as `.`), `Hex-STRING:`
//! (16 bytes per line) when a byte is neither printable nor space, `""` for an empty
//! string, `Timeticks: (123) 0:00:01.23`, `Opaque: Float: 1.500000`, and so on. Used by
//! the CLI and, later, by anything that must show a value to an operator.

use std::fmt::{self, Write};

use crate::value::{OpaqueValue, Value, VarBind};

/// `Display` adapter: `format!("{}", NetSnmp(&value))`.
pub struct NetSnmp<'a>(pub &'a Value);

impl fmt::Display for NetSnmp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self.0)
    }
}

/// One `snmpwalk -On` line (without the newline): `.1.3.6... = TYPE: value`.
pub fn varbind_line(vb: &VarBind) -> String {
    let mut out = String::with_capacity(64);
    let _ = write!(out, "{} = ", vb.oid);
    let _ = write_value(&mut out, &vb.value);
    out
}

/// C's `isprint(c) || isspace(c)` in the C locale.
fn printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Octets from hex digits as operators write engine IDs (`0x80001F8804`, `80001f8804`):
/// an optional `0x`, then pairs of digits. `None` for an odd count or a non-hex digit.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_start_matches("0x").trim_start_matches("0X");
    // from_str_radix alone would take "+f" as a digit pair.
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

pub fn write_hex(out: &mut impl Write, bytes: &[u8]) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 16 == 0 {
            out.write_char('\n')?;
        }
        write!(out, "{b:02X} ")?;
    }
    Ok(())
}

fn write_c_float(out: &mut impl Write, v: f64) -> fmt::Result {
    if v.is_nan() {
        out.write_str(if v.is_sign_negative() { "-nan" } else { "nan" })
    } else if v.is_infinite() {
        out.write_str(if v < 0.0 { "-inf" } else { "inf" })
    } else {
        write!(out, "{v:.6}")
    }
}

fn uptime(out: &mut impl Write, ticks: u32) -> fmt::Result {
    let centis = ticks % 100;
    let mut secs = ticks / 100;
    let days = secs / 86_400;
    secs %= 86_400;
    let (hours, minutes, seconds) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match days {
        0 => write!(out, "{hours}:{minutes:02}:{seconds:02}.{centis:02}"),
        1 => write!(out, "1 day, {hours}:{minutes:02}:{seconds:02}.{centis:02}"),
        _ => write!(out, "{days} days, {hours}:{minutes:02}:{seconds:02}.{centis:02}"),
    }
}

pub fn write_value(out: &mut impl Write, value: &Value) -> fmt::Result {
    match value {
        Value::Integer(v) => write!(out, "INTEGER: {v}"),
        Value::OctetString(bytes) => {
            if bytes.is_empty() {
                out.write_str("\"\"")
            } else if bytes.iter().all(|&b| printable(b)) {
                out.write_str("STRING: \"")?;
                for &b in bytes {
                    if b == b'"' || b == b'\\' {
                        out.write_char('\\')?;
                    }
                    out.write_char(b as char)?;
                }
                out.write_char('"')
            } else {
                out.write_str("Hex-STRING: ")?;
                write_hex(out, bytes)
            }
        }
        Value::Null => out.write_str("NULL"),
        Value::ObjectId(oid) => write!(out, "OID: {oid}"),
        Value::IpAddress([a, b, c, d]) => write!(out, "IpAddress: {a}.{b}.{c}.{d}"),
        Value::Counter32(v) => write!(out, "Counter32: {v}"),
        Value::Gauge32(v) => write!(out, "Gauge32: {v}"),
        Value::TimeTicks(v) => {
            write!(out, "Timeticks: ({v}) ")?;
            uptime(out, *v)
        }
        Value::Opaque(content) => match OpaqueValue::decode(content) {
            // net-snmp labels doubles "Float" too.
            Some(OpaqueValue::Float(v)) => {
                out.write_str("Opaque: Float: ")?;
                write_c_float(out, v as f64)
            }
            Some(OpaqueValue::Double(v)) => {
                out.write_str("Opaque: Float: ")?;
                write_c_float(out, v)
            }
            Some(OpaqueValue::Counter64(v)) => write!(out, "Opaque: Counter64: {v}"),
            Some(OpaqueValue::UInt64(v)) => write!(out, "Opaque: UInt64: {v}"),
            Some(OpaqueValue::Int64(v)) => write!(out, "Opaque: Int64: {v}"),
            None => {
                out.write_str("OPAQUE: ")?;
                write_hex(out, content)
            }
        },
        Value::Counter64(v) => write!(out, "Counter64: {v}"),
        Value::UInteger32(v) => write!(out, "UInteger32: {v}"),
        Value::NoSuchObject => out.write_str("No Such Object available on this agent at this OID"),
        Value::NoSuchInstance => out.write_str("No Such Instance currently exists at this OID"),
        Value::EndOfMibView => {
            out.write_str("No more variables left in this MIB View (It is past the end of the MIB tree)")
        }
        Value::Other { tag, data } => {
            write!(out, "Wrong Type (0x{tag:02X}): ")?;
            write_hex(out, data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(value: Value) -> String {
        NetSnmp(&value).to_string()
    }

    #[test]
    fn like_net_snmp() {
        assert_eq!(show(Value::OctetString(b"a \"b\" \\c".to_vec())), r#"STRING: "a \"b\" \\c""#);
        assert_eq!(show(Value::OctetString(vec![])), "\"\"");
        assert_eq!(show(Value::OctetString(vec![0x92, 0xbe, 0, 1])), "Hex-STRING: 92 BE 00 01 ");
        let long: Vec<u8> = (0..17).map(|i| if i == 0 { 0x80 } else { 0 }).collect();
        assert_eq!(show(Value::OctetString(long)), "Hex-STRING: 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \n00 ");
        assert_eq!(show(Value::TimeTicks(99)), "Timeticks: (99) 0:00:00.99");
        assert_eq!(show(Value::TimeTicks(8_640_000)), "Timeticks: (8640000) 1 day, 0:00:00.00");
        assert_eq!(show(Value::TimeTicks(u32::MAX)), "Timeticks: (4294967295) 497 days, 2:27:52.95");
        assert_eq!(show(Value::opaque(OpaqueValue::Float(2.063477))), "Opaque: Float: 2.063477");
        assert_eq!(show(Value::opaque(OpaqueValue::Int64(-3))), "Opaque: Int64: -3");
        assert_eq!(show(Value::IpAddress([192, 0, 2, 1])), "IpAddress: 192.0.2.1");
        assert_eq!(show(Value::ObjectId(".1.3.6.1".parse().unwrap())), "OID: .1.3.6.1");
    }
}
