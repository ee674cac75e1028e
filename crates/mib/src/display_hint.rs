//! RFC 2579 DISPLAY-HINT formatting (and net-snmp's rendering of it, for diffable CLI output): octet-string hints ("1x:", "255a",
//! "2d-1d-1d,1d:1d:1d.1d,1a1d:1d") and integer hints ("d-2", "x", "o", "b").
//! Pure functions; a hint that does not parse gives `None` so callers fall back
//! to their default rendering.

use std::fmt::Write;

/// One octet-string format specification (RFC 2579 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OctetSpec {
    /// `*`: the first octet of each application is a repeat count.
    repeat: bool,
    /// Octets consumed per application (for `a`/`t`: at most this many).
    length: usize,
    format: u8,
    separator: Option<char>,
    terminator: Option<char>,
}

fn parse_octet_hint(hint: &str) -> Option<Vec<OctetSpec>> {
    let chars: Vec<char> = hint.chars().collect();
    let mut specs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let repeat = chars[i] == '*';
        if repeat {
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let length: usize = chars[start..i].iter().collect::<String>().parse().ok()?;
        let format = match chars.get(i) {
            Some(c @ ('x' | 'd' | 'o' | 'a' | 't')) => *c as u8,
            _ => return None,
        };
        i += 1;
        let mut separator = None;
        let mut terminator = None;
        if let Some(&c) = chars.get(i)
            && !c.is_ascii_digit()
            && c != '*'
        {
            separator = Some(c);
            i += 1;
            if repeat
                && let Some(&t) = chars.get(i)
                && !t.is_ascii_digit()
                && t != '*'
            {
                terminator = Some(t);
                i += 1;
            }
        }
        if length == 0 && !repeat {
            // A zero-length spec would never consume data: reject instead of looping.
            return None;
        }
        specs.push(OctetSpec { repeat, length, format, separator, terminator });
    }
    if specs.is_empty() { None } else { Some(specs) }
}

/// Formats `octets` with an RFC 2579 OCTET STRING display hint. Hex is lower case
/// and zero-padded to two digits per octet ("00:1c:42"), decimal and octal are
/// unpadded, `a` is ASCII (non-printable octets as '.'), `t` is UTF-8 (lossy).
/// The last specification is repeated until the data is exhausted.
pub fn format_octets(hint: &str, octets: &[u8]) -> Option<String> {
    format_octets_styled(hint, octets, Style::Rfc)
}

/// [`format_octets`] the way net-snmp's tools print it, for output meant to be
/// diffed with theirs: hex digits unpadded when a separator follows ("0:1c:42"),
/// `a`/`t` octets copied as they are (lossy UTF-8), a repeat terminator after the
/// separator of the last repetition.
pub fn format_octets_net_snmp(hint: &str, octets: &[u8]) -> Option<String> {
    format_octets_styled(hint, octets, Style::NetSnmp)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Rfc,
    NetSnmp,
}

fn format_octets_styled(hint: &str, octets: &[u8], style: Style) -> Option<String> {
    let specs = parse_octet_hint(hint)?;
    let mut out = String::with_capacity(octets.len() * 3);
    let mut pos = 0;
    let mut spec_index = 0;
    while pos < octets.len() {
        let spec = specs[spec_index.min(specs.len() - 1)];
        spec_index += 1;
        let repeat = if spec.repeat {
            let count = octets[pos] as usize;
            pos += 1;
            count
        } else {
            1
        };
        for round in 0..repeat {
            if pos >= octets.len() || spec.length == 0 {
                break;
            }
            let take = spec.length.min(octets.len() - pos);
            let chunk = &octets[pos..pos + take];
            pos += take;
            let last_spec = spec_index >= specs.len();
            match spec.format {
                b'a' if style == Style::Rfc => {
                    out.extend(chunk.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' }))
                }
                b'a' | b't' => out.push_str(&String::from_utf8_lossy(chunk)),
                format => {
                    // Numbers wider than 8 octets do not fit a u64: print their octets in hex.
                    if take > 8 {
                        for b in chunk {
                            let _ = write!(out, "{b:02x}");
                        }
                    } else {
                        let value = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                        let _ = match format {
                            b'x' if style == Style::NetSnmp => {
                                // net-snmp pads only single octets printed back to back.
                                if take == 1 && value < 16 && spec.separator.is_none() && last_spec {
                                    write!(out, "0{value:x}")
                                } else {
                                    write!(out, "{value:x}")
                                }
                            }
                            b'x' => write!(out, "{value:0width$x}", width = take * 2),
                            b'o' => write!(out, "{value:o}"),
                            _ => write!(out, "{value}"),
                        };
                    }
                }
            }
            let last_round = round + 1 == repeat;
            if pos < octets.len() {
                match (spec.terminator, last_round, style) {
                    (Some(t), true, Style::Rfc) => out.push(t),
                    _ => {
                        if let Some(s) = spec.separator {
                            out.push(s);
                        }
                    }
                }
            }
        }
        if style == Style::NetSnmp
            && let Some(t) = spec.terminator
            && pos < octets.len()
        {
            out.push(t);
        }
    }
    Some(out)
}

/// Formats an INTEGER with an RFC 2579 integer display hint: `d`, `d-N` (implied
/// decimal point N digits from the right), `x` (lower-case hex), `o`, `b`.
pub fn format_integer(hint: &str, value: i64) -> Option<String> {
    let hint = hint.trim();
    let (format, rest) = hint.split_at_checked(1)?;
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    match (format, rest) {
        ("d", "") => Some(value.to_string()),
        ("d", rest) => {
            let places: usize = rest.strip_prefix('-')?.parse().ok()?;
            if places == 0 {
                return Some(value.to_string());
            }
            if places > 40 {
                return None;
            }
            let digits = format!("{magnitude:0width$}", width = places + 1);
            let (int_part, frac_part) = digits.split_at(digits.len() - places);
            Some(format!("{sign}{int_part}.{frac_part}"))
        }
        ("x", "") => Some(format!("{sign}{magnitude:x}")),
        ("o", "") => Some(format!("{sign}{magnitude:o}")),
        ("b", "") => Some(format!("{sign}{magnitude:b}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_address() {
        assert_eq!(format_octets("1x:", &[0, 0x1c, 0x42, 0xa3, 0x0b, 0xff]).as_deref(), Some("00:1c:42:a3:0b:ff"));
    }

    #[test]
    fn date_and_time_with_and_without_zone() {
        let hint = "2d-1d-1d,1d:1d:1d.1d,1a1d:1d";
        let with_zone = [0x07, 0xe8, 1, 15, 13, 30, 15, 0, b'+', 5, 30];
        assert_eq!(format_octets(hint, &with_zone).as_deref(), Some("2024-1-15,13:30:15.0,+5:30"));
        assert_eq!(format_octets(hint, &with_zone[..8]).as_deref(), Some("2024-1-15,13:30:15.0"));
    }

    #[test]
    fn display_string_and_ip() {
        assert_eq!(format_octets("255a", b"eth0\x01").as_deref(), Some("eth0."));
        assert_eq!(format_octets("1d.1d.1d.1d", &[192, 0, 2, 1]).as_deref(), Some("192.0.2.1"));
        // InetAddressIPv6
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            format_octets("2x:2x:2x:2x:2x:2x:2x:2x", &v6).as_deref(),
            Some("2001:0db8:0000:0000:0000:0000:0000:0001")
        );
    }

    #[test]
    fn repeat_count_and_terminator() {
        // RFC 2579's example: "*1d./1d" on 3,1,2,3,4 -> "1.2.3/4"
        assert_eq!(format_octets("*1d./1d", &[3, 1, 2, 3, 4]).as_deref(), Some("1.2.3/4"));
    }

    #[test]
    fn net_snmp_style() {
        // What snmpwalk prints for IF-MIB::ifPhysAddress (PhysAddress, "1x:").
        assert_eq!(
            format_octets_net_snmp("1x:", &[0, 0x0c, 0x29, 0xab, 0x0b, 0xff]).as_deref(),
            Some("0:c:29:ab:b:ff")
        );
        assert_eq!(format_octets_net_snmp("1x", &[0, 0x0c]).as_deref(), Some("000c"));
        assert_eq!(format_octets_net_snmp("255a", "é\u{1}".as_bytes()).as_deref(), Some("é\u{1}"));
        let hint = "2d-1d-1d,1d:1d:1d.1d,1a1d:1d";
        let with_zone = [0x07, 0xe8, 1, 15, 13, 30, 15, 0, b'+', 5, 30];
        assert_eq!(format_octets_net_snmp(hint, &with_zone).as_deref(), Some("2024-1-15,13:30:15.0,+5:30"));
    }

    #[test]
    fn bad_hints() {
        assert_eq!(format_octets("", b"x"), None);
        assert_eq!(format_octets("1q", b"x"), None);
        assert_eq!(format_octets("x", b"x"), None);
        assert_eq!(format_octets("0x", b"x"), None);
        assert_eq!(format_integer("q", 1), None);
        assert_eq!(format_integer("d-x", 1), None);
    }

    #[test]
    fn integers() {
        assert_eq!(format_integer("d-2", 1234).as_deref(), Some("12.34"));
        assert_eq!(format_integer("d-2", 5).as_deref(), Some("0.05"));
        assert_eq!(format_integer("d-2", -5).as_deref(), Some("-0.05"));
        assert_eq!(format_integer("d", -5).as_deref(), Some("-5"));
        assert_eq!(format_integer("x", 255).as_deref(), Some("ff"));
        assert_eq!(format_integer("o", 8).as_deref(), Some("10"));
        assert_eq!(format_integer("b", 5).as_deref(), Some("101"));
        assert_eq!(format_integer("d-0", 7).as_deref(), Some("7"));
    }
}
