//! Recognisers for vendor tokens: the Cisco `%FAC-[SUBFAC-]SEV-MNEMONIC:` tag,
//! Cisco uptime stamps, IOS-XR node prefixes, Junos event names and the
//! RFC 3164 `TAG[PID]:`. Each takes the bytes at the current position and
//! either recognises a token or returns `None` without side effects.

use super::lossy;
use crate::attr;
use crate::message::{Message, Severity};

/// A Cisco message tag, `%SYS-5-CONFIG_I:` or `%ACL-IPV4_ACL-6-IPACC:`.
pub(crate) struct CiscoTag<'a> {
    /// Without `%` and `:`, e.g. `SYS-5-CONFIG_I`.
    pub tag: &'a [u8],
    pub facility: &'a [u8],
    pub subfacility: Option<&'a [u8]>,
    pub severity: u8,
    pub mnemonic: &'a [u8],
    /// What follows the tag, after `:` and any spaces.
    pub rest: &'a [u8],
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

pub(crate) fn cisco_tag(s: &[u8]) -> Option<CiscoTag<'_>> {
    if s.first() != Some(&b'%') {
        return None;
    }
    let len = s[1..].iter().take(129).take_while(|&&b| is_tag_byte(b)).count();
    if len == 0 || len > 128 {
        return None;
    }
    let tag = &s[1..1 + len];
    let after = &s[1 + len..];
    // IOS-XR puts a space before the colon: `%ACL-IPV4_ACL-6-IPACC : text`.
    let rest = match after {
        [] => after,
        [b':', rest @ ..] | [b' ', b':', rest @ ..] => rest,
        _ => return None,
    };
    let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    // The severity is the last one-digit part before the mnemonic.
    let mnemonic_dash = memchr::memrchr(b'-', tag)?;
    let mnemonic = &tag[mnemonic_dash + 1..];
    let head = &tag[..mnemonic_dash];
    let severity_dash = memchr::memrchr(b'-', head)?;
    let severity = match &head[severity_dash + 1..] {
        &[d @ b'0'..=b'7'] => d - b'0',
        _ => return None,
    };
    let fac_sub = &head[..severity_dash];
    let (facility, subfacility) = match memchr::memchr(b'-', fac_sub) {
        Some(i) => (&fac_sub[..i], Some(&fac_sub[i + 1..])),
        None => (fac_sub, None),
    };
    if facility.is_empty() || mnemonic.is_empty() || subfacility.is_some_and(<[u8]>::is_empty) {
        return None;
    }
    Some(CiscoTag { tag, facility, subfacility, severity, mnemonic, rest })
}

/// If `text` starts with a Cisco tag, records it (msg_id, attributes, and the
/// severity when PRI gave none) and returns the text after it.
pub(crate) fn apply_cisco_tag<'a>(msg: &mut Message<'a>, text: &'a [u8]) -> Option<&'a [u8]> {
    let tag = cisco_tag(text)?;
    msg.msg_id = Some(lossy(tag.tag));
    msg.push_attr(attr::CISCO_FACILITY, lossy(tag.facility));
    if let Some(sub) = tag.subfacility {
        msg.push_attr(attr::CISCO_SUBFACILITY, lossy(sub));
    }
    const DIGITS: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "7"];
    msg.push_attr(attr::CISCO_SEVERITY, DIGITS[usize::from(tag.severity)].into());
    msg.push_attr(attr::CISCO_MNEMONIC, lossy(tag.mnemonic));
    if msg.severity.is_none() {
        msg.severity = Severity::from_code(tag.severity);
    }
    Some(tag.rest)
}

/// `digits:` followed by a space or the end: a Cisco sequence number.
/// Returns the digits and the rest after `: `.
pub(crate) fn sequence_number(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = s.iter().take(21).take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 20 {
        return None;
    }
    colon_terminated(s, n).map(|rest| (&s[..n], rest))
}

/// After a token of length `n`: requires `:` then a space or the end, and
/// returns what follows.
pub(crate) fn colon_terminated(s: &[u8], n: usize) -> Option<&[u8]> {
    if s.get(n) != Some(&b':') {
        return None;
    }
    match s.get(n + 1) {
        None => Some(&s[n + 1..]),
        Some(b' ') => Some(&s[n + 2..]),
        Some(_) => None,
    }
}

/// A Cisco uptime stamp used when the clock is not set: `00:01:23[.mmm]`
/// (under a day), or two unit pairs like `1d02h`, `2w3d`, `2y10w`.
/// Returns its length; the caller checks the `:` after it.
pub(crate) fn uptime(s: &[u8]) -> Option<usize> {
    if s.len() >= 8
        && s[..8].iter().enumerate().all(|(i, &b)| if i == 2 || i == 5 { b == b':' } else { b.is_ascii_digit() })
    {
        let frac = if s.get(8) == Some(&b'.') {
            let n = s[9..].iter().take(9).take_while(|b| b.is_ascii_digit()).count();
            if n > 0 { n + 1 } else { 0 }
        } else {
            0
        };
        return Some(8 + frac);
    }
    let mut at = 0;
    for _ in 0..2 {
        let n = s[at..].iter().take(5).take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 4 || !matches!(s.get(at + n), Some(b'y' | b'w' | b'd' | b'h' | b'm')) {
            return None;
        }
        at += n + 1;
    }
    Some(at)
}

/// An IOS-XR node prefix, `RP/0/RSP0/CPU0:` (space after it optional).
/// Returns the node and the rest.
pub(crate) fn iosxr_node(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = s.iter().take(48).take_while(|&&b| b.is_ascii_alphanumeric() || b == b'/').count();
    let node = &s[..n];
    if s.get(n) != Some(&b':') || node.iter().filter(|&&b| b == b'/').count() < 2 {
        return None;
    }
    if !node.first().is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let rest = &s[n + 1..];
    Some((node, rest.strip_prefix(b" ").unwrap_or(rest)))
}

/// A Junos event name at the start of the message text, `RT_FLOW_SESSION_CREATE: `:
/// upper-case letters, digits and `_`, with at least one `_`.
pub(crate) fn junos_event(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if !s.first().is_some_and(u8::is_ascii_uppercase) {
        return None;
    }
    let n = s.iter().take(65).take_while(|&&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_').count();
    if !(3..=64).contains(&n) || !s[..n].contains(&b'_') {
        return None;
    }
    colon_terminated(s, n).map(|rest| (&s[..n], rest))
}

/// An RFC 3164 TAG: `app[pid]:`.
pub(crate) struct BsdTag<'a> {
    pub app: &'a [u8],
    pub pid: Option<&'a [u8]>,
    /// What follows the `: `.
    pub rest: &'a [u8],
}

/// The RFC 3164 TAG: `app:` or `app[pid]:`, then a space or the end.
pub(crate) fn bsd_tag(s: &[u8]) -> Option<BsdTag<'_>> {
    let n = s.iter().take(64).take_while(|&&b| b > b' ' && b != 0x7F && b != b'[' && b != b':').count();
    if n == 0 {
        return None;
    }
    let app = &s[..n];
    if s.get(n) == Some(&b'[') {
        let pid_len = s[n + 1..].iter().take(32).take_while(|&&b| b > b' ' && b != 0x7F && b != b']').count();
        let close = n + 1 + pid_len;
        if pid_len == 0 || s.get(close) != Some(&b']') {
            return None;
        }
        let rest = colon_terminated(s, close + 1)?;
        return Some(BsdTag { app, pid: Some(&s[n + 1..close]), rest });
    }
    colon_terminated(s, n).map(|rest| BsdTag { app, pid: None, rest })
}
