//! RFC 3164 ("BSD") lines and the Cisco and Junos dialects built on them.
//!
//! A BSD header is a loose sequence of optional parts, each recognised by its
//! own shape, in the orders real devices and relays produce:
//!
//! ```text
//! [seq:] [Mmm dd hh:mm:ss host] [origin:] [seq:] [node:] [*|.]stamp [zone]: [TAG[PID]:] [%FAC-SEV-MNEM:|EVENT_NAME:] text
//! ```
//!
//! where `stamp` is a BSD or RFC 3339 date, or a Cisco uptime (`2y10w`). A BSD
//! date followed by a space and a host is a relay/RFC 3164 header; one followed
//! by `:` (or a zone name and `:`) is the device's own Cisco stamp. A header
//! followed by `1 <RFC 3339 date>` is an RFC 5424 message wrapped by a relay.
//! The scan is a bounded number of steps, each linear in what it consumes.

use jiff::Timestamp;

use super::{ParseContext, lossy, nil_or_text, rfc5424, time, vendor};
use crate::attr;
use crate::message::{Message, ParseError, Protocol};

/// A device (Cisco) timestamp found in the body.
struct DeviceStamp<'a> {
    time: Option<Timestamp>,
    raw: &'a [u8],
}

#[derive(Default)]
struct Header<'a> {
    /// Sequence-number slots used (`<190>: ` uses one with no number).
    seq_slots: u8,
    /// Any Cisco-only part seen: makes an unknown word after the time a zone name.
    cisco_hint: bool,
    /// The RFC 3164 / relay header date: `Some(None)` when it named no real
    /// instant (Feb 30), so it is reported rather than dropped.
    header_time: Option<Option<Timestamp>>,
    header_raw: &'a [u8],
    /// The word after the header date.
    header_host: Option<&'a [u8]>,
    /// The Cisco origin hostname (`logging origin-id`), which wins over `header_host`.
    origin: Option<&'a [u8]>,
    device: Option<DeviceStamp<'a>>,
    /// A Cisco uptime stamp stood in for the date.
    uptime: bool,
}

/// Upper bound on header parts, so hostile input cannot make the scan loop long.
const MAX_HEADER_PARTS: usize = 12;

/// Parses `s` (the input after any PRI) as a BSD-family line into `msg`.
/// Returns false when nothing syslog-like was found (the caller falls back).
pub(crate) fn parse<'a>(msg: &mut Message<'a>, s: &'a [u8], has_pri: bool, ctx: &ParseContext) -> bool {
    let mut h = Header::default();
    let mut rest = s;
    for _ in 0..MAX_HEADER_PARTS {
        if h.header_host.is_some()
            && h.device.is_none()
            && h.origin.is_none()
            && let Some(inner) = relayed_5424(rest)
        {
            return parse_relayed_5424(msg, &h, inner, ctx);
        }
        match step(msg, &mut h, rest, ctx) {
            Step::Continue(next) => rest = next,
            Step::Done(next) => {
                rest = next;
                break;
            }
            Step::NoMatch => break,
        }
    }

    // ASA with `logging device-id hostname`: `fw01 : %ASA-6-302013: ...`.
    if let Some(after) = rest.strip_prefix(b": ")
        && vendor::cisco_tag(after).is_some()
    {
        rest = after;
    }
    if let Some(after) = vendor::apply_cisco_tag(msg, rest) {
        rest = after;
    } else if let Some(tag) = vendor::bsd_tag(rest) {
        msg.app_name = nil_or_text(tag.app);
        msg.proc_id = tag.pid.and_then(nil_or_text);
        rest = tag.rest;
        // IOS-XR: `proc[pid]: %FAC-SEV-MNEM: ...`; Junos: `RT_FLOW: RT_FLOW_SESSION_CREATE: ...`.
        if let Some(after) = vendor::apply_cisco_tag(msg, rest) {
            rest = after;
        } else if let Some((event, after)) = vendor::junos_event(rest) {
            msg.msg_id = Some(lossy(event));
            rest = after;
        }
    }

    let recognised = has_pri || h.header_time.is_some() || h.device.is_some() || h.uptime;
    if !recognised {
        return false;
    }
    msg.protocol = Protocol::Rfc3164;
    msg.message = lossy(rest);
    finish_header(msg, h);
    true
}

/// Host and time: the innermost (device) values win; the outer header's are
/// kept as `relay.*` attributes.
fn finish_header<'a>(msg: &mut Message<'a>, h: Header<'a>) {
    msg.hostname = h.origin.or(h.header_host).and_then(nil_or_text);
    if h.origin.is_some()
        && let Some(host) = h.header_host
    {
        msg.push_attr(attr::RELAY_HOSTNAME, lossy(host));
    }
    match h.device {
        Some(device) => {
            msg.timestamp = device.time;
            if device.time.is_none() {
                msg.parse_error.get_or_insert(ParseError::InvalidTimestamp);
                msg.push_attr(attr::RAW_TIMESTAMP, lossy(device.raw));
                msg.timestamp = h.header_time.flatten();
            }
            if h.header_time.is_some() {
                msg.push_attr(attr::RELAY_TIMESTAMP, lossy(h.header_raw));
            }
        }
        None => {
            if let Some(t) = h.header_time {
                msg.timestamp = t;
                if t.is_none() {
                    msg.parse_error.get_or_insert(ParseError::InvalidTimestamp);
                    msg.push_attr(attr::RAW_TIMESTAMP, lossy(h.header_raw));
                }
            }
        }
    }
}

/// `1 <date>` after a relay's BSD header: the rest is an RFC 5424 message.
fn relayed_5424(s: &[u8]) -> Option<&[u8]> {
    let inner = s.strip_prefix(b"1 ")?;
    time::fixed_digits(inner, 0, 4)?;
    (inner.get(4) == Some(&b'-')).then_some(inner)
}

fn parse_relayed_5424<'a>(msg: &mut Message<'a>, h: &Header<'a>, inner: &'a [u8], ctx: &ParseContext) -> bool {
    msg.protocol = Protocol::Rfc5424;
    rfc5424::parse_header(msg, inner, ctx);
    if let Some(host) = h.header_host {
        msg.push_attr(attr::RELAY_HOSTNAME, lossy(host));
    }
    msg.push_attr(attr::RELAY_TIMESTAMP, lossy(h.header_raw));
    true
}

enum Step<'a> {
    /// A part was consumed; keep scanning from here.
    Continue(&'a [u8]),
    /// The device stamp was consumed: the header is over.
    Done(&'a [u8]),
    /// Nothing header-like here.
    NoMatch,
}

fn step<'a>(msg: &mut Message<'a>, h: &mut Header<'a>, s: &'a [u8], ctx: &ParseContext) -> Step<'a> {
    let Some(&first) = s.first() else {
        return Step::NoMatch;
    };

    // `<190>: sw01: ...`: an empty sequence-number slot.
    if first == b':'
        && h.seq_slots == 0
        && h.header_time.is_none()
        && let Some(rest) = vendor::colon_terminated(s, 0)
    {
        h.seq_slots = 1;
        h.cisco_hint = true;
        return Step::Continue(rest);
    }

    // Clock status prefix: `*` clock not authoritative, `.` NTP sync lost.
    let (clock_status, body) = match first {
        b'*' => (Some("not_authoritative"), &s[1..]),
        b'.' => (Some("ntp_unsynchronized"), &s[1..]),
        _ => (None, s),
    };

    if let Some((t, len)) = time::parse_bsd(body) {
        return bsd_stamp(msg, h, body, t, len, clock_status, ctx);
    }
    if let Some((t, len)) = time::parse_rfc3339(body, ctx) {
        let raw = &body[..len];
        let after = &body[len..];
        if let Some(rest) = vendor::colon_terminated(after, 0) {
            set_clock_status(msg, clock_status);
            h.device = Some(DeviceStamp { time: t, raw });
            return Step::Done(rest);
        }
        if after.is_empty() || after[0] == b' ' {
            return header_stamp(h, t, raw, after);
        }
        return Step::NoMatch;
    }
    if clock_status.is_some() {
        return Step::NoMatch;
    }

    if let Some(len) = vendor::uptime(s)
        && let Some(rest) = vendor::colon_terminated(s, len)
    {
        h.uptime = true;
        msg.push_attr(attr::CISCO_UPTIME, lossy(&s[..len]));
        return Step::Done(rest);
    }

    if let Some((digits, rest)) = vendor::sequence_number(s) {
        let key = match h.seq_slots {
            0 => attr::CISCO_SEQ,
            1 => attr::CISCO_SERVICE_SEQ,
            _ => return Step::NoMatch,
        };
        h.seq_slots += 1;
        h.cisco_hint = true;
        msg.push_attr(key, lossy(digits));
        return Step::Continue(rest);
    }

    if let Some((node, rest)) = vendor::iosxr_node(s) {
        msg.push_attr(attr::IOSXR_NODE, lossy(node));
        h.cisco_hint = true;
        return Step::Continue(rest);
    }

    // `<189>38: [syslog@9 s_id="sw1:666"]: *Jan ...` (IOS-XE with session ids).
    if first == b'[' && h.seq_slots > 0 {
        let sd = rfc5424::parse_sd(s);
        if sd.complete
            && let Some(rest) = vendor::colon_terminated(s, sd.consumed)
        {
            msg.structured_data.extend(sd.elements);
            return Step::Continue(rest);
        }
        return Step::NoMatch;
    }

    origin_host(h, s)
}

/// A word before the device stamp: the Cisco origin hostname (`sw01: `,
/// `2a02:cf40::: `) or, after a sequence number, a bare host (`10.0.0.1 123:`).
fn origin_host<'a>(h: &mut Header<'a>, s: &'a [u8]) -> Step<'a> {
    if h.origin.is_some() {
        return Step::NoMatch;
    }
    let word_len = memchr::memchr(b' ', s).unwrap_or(s.len());
    let word = &s[..word_len];
    let next = s.get(word_len + 1..).unwrap_or_default();
    if word.len() > 1 && word.ends_with(b":") && starts_cisco_part(next) {
        h.origin = Some(&word[..word.len() - 1]);
        h.cisco_hint = true;
        return Step::Continue(next);
    }
    if h.seq_slots > 0 && !word.is_empty() && !word.contains(&b':') && vendor::sequence_number(next).is_some() {
        h.origin = Some(word);
        return Step::Continue(next);
    }
    Step::NoMatch
}

/// Does `s` start with something that only follows a Cisco origin hostname?
fn starts_cisco_part(s: &[u8]) -> bool {
    let unprefixed = match s.first() {
        Some(b'*' | b'.') => &s[1..],
        _ => s,
    };
    vendor::sequence_number(s).is_some()
        || time::parse_bsd(unprefixed).is_some()
        || vendor::cisco_tag(s).is_some()
        || vendor::uptime(s).is_some_and(|len| vendor::colon_terminated(s, len).is_some())
        || time::fixed_digits(s, 0, 4).is_some() && s.get(4) == Some(&b'-')
}

fn set_clock_status(msg: &mut Message<'_>, status: Option<&'static str>) {
    if let Some(status) = status {
        msg.push_attr(attr::CISCO_CLOCK_STATUS, status.into());
    }
}

/// A relay/RFC 3164 header stamp, followed by the header hostname.
fn header_stamp<'a>(h: &mut Header<'a>, time: Option<Timestamp>, raw: &'a [u8], after: &'a [u8]) -> Step<'a> {
    if h.header_time.is_some() || h.device.is_some() {
        return Step::NoMatch;
    }
    h.header_time = Some(time);
    h.header_raw = raw;
    let rest = after.strip_prefix(b" ").unwrap_or(after);
    // The hostname: a word that is not a tag (`su:`, `su[1]:`) nor a Cisco tag.
    let word_len = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let word = &rest[..word_len];
    if word.is_empty() || word.ends_with(b":") || word.contains(&b'[') || word[0] == b'%' {
        return Step::Continue(rest);
    }
    h.header_host = Some(word);
    Step::Continue(rest.get(word_len + 1..).unwrap_or_default())
}

/// A BSD date at `body`: either the device's Cisco stamp (followed by `:` or
/// a zone name and `:`) or an RFC 3164 header stamp (followed by a host).
fn bsd_stamp<'a>(
    msg: &mut Message<'a>,
    h: &mut Header<'a>,
    body: &'a [u8],
    t: time::BsdTime,
    len: usize,
    clock_status: Option<&'static str>,
    ctx: &ParseContext,
) -> Step<'a> {
    let raw = &body[..len];
    let after = &body[len..];
    let cisco = h.cisco_hint || clock_status.is_some() || t.has_fraction || t.year.is_some();

    if let Some(rest) = vendor::colon_terminated(after, 0) {
        set_clock_status(msg, clock_status);
        let time = time::resolve_bsd(&t, ctx.default_offset, ctx);
        h.device = Some(DeviceStamp { time, raw });
        return Step::Done(rest);
    }
    if let Some(word_rest) = after.strip_prefix(b" ") {
        let word_len = memchr::memchr(b' ', word_rest).unwrap_or(word_rest.len());
        if word_len > 1
            && let Some(rest) = vendor::colon_terminated(word_rest, word_len - 1)
        {
            let zone = &word_rest[..word_len - 1];
            if let Some(offset) = zone_for(zone, cisco, rest) {
                set_clock_status(msg, clock_status);
                msg.push_attr(attr::CISCO_TIMEZONE, lossy(zone));
                let time = time::resolve_bsd(&t, offset.unwrap_or(ctx.default_offset), ctx);
                let raw = &body[..len + 1 + zone.len()];
                h.device = Some(DeviceStamp { time, raw });
                return Step::Done(rest);
            }
        }
    }
    if !after.is_empty() && after[0] != b' ' {
        return Step::NoMatch;
    }
    let time = time::resolve_bsd(&t, ctx.default_offset, ctx);
    header_stamp(h, time, raw, after)
}

/// Is `zone` a time-zone name after a Cisco time? Returns its offset
/// (`Some(None)`: a name we keep but cannot place, so the default applies).
fn zone_for(zone: &[u8], cisco: bool, after: &[u8]) -> Option<Option<jiff::tz::Offset>> {
    if !zone.first().is_some_and(u8::is_ascii_alphabetic)
        || zone.len() > 32
        || !zone.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b':' | b'_' | b'/'))
    {
        return None;
    }
    let name = std::str::from_utf8(zone).ok()?;
    if let Some(offset) = time::zone_offset(name) {
        return Some(Some(offset));
    }
    let plain_name = zone.iter().all(u8::is_ascii_alphabetic);
    (plain_name && (cisco || after.first() == Some(&b'%'))).then_some(None)
}
