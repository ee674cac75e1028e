//! `parse`: one syslog line in, the best [`Message`] we can make of it out.
//!
//! Never fails and never panics: whatever is not recognised stays in the
//! message text, and [`Message::parse_error`] says why. The work is linear in
//! the input (a bounded number of header parts, each scanned once).

mod bsd;
mod rfc5424;
mod time;
mod vendor;

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::Offset;

use crate::message::{Facility, Message, ParseError, Protocol, Severity};

/// What the parser needs to know about the world.
#[derive(Debug, Clone)]
pub struct ParseContext {
    now: Timestamp,
    default_offset: Offset,
    /// The year of `now` at `default_offset`, for year-less RFC 3164 stamps.
    now_year: i16,
}

impl ParseContext {
    /// `now` picks the year of year-less RFC 3164 timestamps: the current one unless
    /// that puts the stamp more than a week in the future (then last year's, so Dec 31
    /// read on Jan 1 is last year's; Jan 1 read on Dec 31 is next year's).
    /// `default_offset` applies to timestamps without a zone, or with a zone
    /// name we cannot place (the name is still kept in `cisco.timezone`).
    pub fn new(now: Timestamp, default_offset: Offset) -> Self {
        ParseContext { now, default_offset, now_year: default_offset.to_datetime(now).year() }
    }

    /// The reference time given to [`ParseContext::new`].
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The offset for timestamps that carry none.
    pub fn default_offset(&self) -> Offset {
        self.default_offset
    }
}

impl Default for ParseContext {
    /// The current time, and UTC for zone-less timestamps.
    fn default() -> Self {
        ParseContext::new(Timestamp::now(), Offset::UTC)
    }
}

/// Parses one syslog message (one frame or datagram, without its framing).
///
/// Recognises RFC 5424, RFC 3164 and the Cisco IOS / IOS-XE / IOS-XR and
/// Juniper Junos dialects (see the crate docs). Trailing CR, LF and NUL bytes
/// are ignored. When nothing syslog-like is found, the whole input (lossy
/// UTF-8) is the message, `protocol` is `Unknown` and `parse_error` is set.
pub fn parse<'a>(input: &'a [u8], ctx: &ParseContext) -> Message<'a> {
    let input = trim_end(input);
    let (pri, rest) = pri(input);
    let mut msg = Message::new(Cow::Borrowed(""));
    if let Pri::Valid(code) = pri {
        msg.facility = Facility::from_code(code >> 3);
        msg.severity = Severity::from_code(code & 7);
    }

    if let Some(header) = rfc5424_start(rest, pri != Pri::Absent) {
        msg.protocol = Protocol::Rfc5424;
        rfc5424::parse_header(&mut msg, header, ctx);
    } else if !bsd::parse(&mut msg, rest, matches!(pri, Pri::Valid(_)), ctx) {
        // Nothing recognised: keep the whole line, plus a Cisco tag if it starts one.
        let mut fallback = Message::new(lossy(input));
        let _ = vendor::apply_cisco_tag(&mut fallback, input);
        fallback.parse_error = Some(if pri == Pri::Invalid { ParseError::InvalidPri } else { ParseError::NoHeader });
        return fallback;
    }
    if pri == Pri::Invalid {
        msg.parse_error.get_or_insert(ParseError::InvalidPri);
    }
    msg
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pri {
    Absent,
    /// `<N>` with N in 0..=191.
    Valid(u8),
    /// `<N>` with N > 191: skipped, reported.
    Invalid,
}

/// `<N>` with one to three digits.
fn pri(input: &[u8]) -> (Pri, &[u8]) {
    if input.first() != Some(&b'<') {
        return (Pri::Absent, input);
    }
    let digits = input[1..].iter().take(4).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 3 || input.get(1 + digits) != Some(&b'>') {
        return (Pri::Absent, input);
    }
    let value = input[1..1 + digits].iter().fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
    let rest = &input[2 + digits..];
    match u8::try_from(value) {
        Ok(code) if code <= 191 => (Pri::Valid(code), rest),
        _ => (Pri::Invalid, rest),
    }
}

/// Where an RFC 5424 header starts after PRI: `1 <date>` (also `1 -` after a
/// PRI), or ` <date>` with the version digit missing (seen from Junos).
fn rfc5424_start(rest: &[u8], has_pri: bool) -> Option<&[u8]> {
    let starts_date = |s: &[u8]| time::fixed_digits(s, 0, 4).is_some() && s.get(4) == Some(&b'-');
    if let Some(header) = rest.strip_prefix(b"1 ") {
        let nil_time = has_pri && header.first() == Some(&b'-');
        return (nil_time || starts_date(header)).then_some(header);
    }
    let header = rest.strip_prefix(b" ")?;
    (has_pri && starts_date(header)).then_some(header)
}

fn trim_end(mut input: &[u8]) -> &[u8] {
    while let [head @ .., b'\n' | b'\r' | b'\0'] = input {
        input = head;
    }
    input
}

/// Bytes to text, borrowing when they are valid UTF-8.
pub(crate) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` is much faster than `from_utf8_lossy` on the valid (usual) case.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A header field, with NILVALUE `-` and empty as absent.
pub(crate) fn nil_or_text(bytes: &[u8]) -> Option<Cow<'_, str>> {
    (!bytes.is_empty() && bytes != b"-").then(|| lossy(bytes))
}
