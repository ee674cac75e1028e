//! Encoders for forwarding: RFC 5424 and RFC 3164 lines, and RFC 6587
//! octet-counted frames. They append to a caller's `Vec<u8>` so a sink can
//! reuse one buffer per batch.
//!
//! `format_rfc5424` is the lossless one: parsing its output gives back the
//! same facility, severity, timestamp (to the microsecond), hostname,
//! app name, proc id, msg id, structured data and message text. Vendor
//! attributes are not written; a sink that wants them can add an SD element.

use std::io::Write as _;

use jiff::Timestamp;
use jiff::tz::Offset;

use crate::attr;
use crate::message::{Facility, Message, SdElement, Severity};

const BOM: &str = "\u{FEFF}";

/// `<PRI>` with RFC 3164's defaults (user.notice) for missing parts.
fn write_pri(msg: &Message<'_>, out: &mut Vec<u8>) {
    let facility = msg.facility.unwrap_or(Facility::User).code();
    let severity = msg.severity.unwrap_or(Severity::Notice).code();
    let _ = write!(out, "<{}>", u16::from(facility) * 8 + u16::from(severity));
}

/// A header field: NILVALUE when absent or empty; a space, which would
/// split the field, becomes `_`. (Parsed fields never contain one.)
fn write_field(field: Option<&str>, out: &mut Vec<u8>) {
    match field {
        Some(text) if !text.is_empty() => out.extend(text.bytes().map(|b| if b == b' ' { b'_' } else { b })),
        _ => out.push(b'-'),
    }
}

fn write_sd_name(name: &str, out: &mut Vec<u8>) {
    if name.is_empty() {
        out.push(b'_');
        return;
    }
    out.extend(name.bytes().map(|b| if b <= b' ' || b == 0x7F || matches!(b, b'=' | b']' | b'"') { b'_' } else { b }));
}

fn write_sd(elements: &[SdElement<'_>], out: &mut Vec<u8>) {
    for element in elements {
        out.push(b'[');
        write_sd_name(&element.id, out);
        for param in &element.params {
            write_sd_param(&param.name, &param.value, out);
        }
        out.push(b']');
    }
}

/// ` name="value"`, the value escaped.
fn write_sd_param(name: &str, value: &str, out: &mut Vec<u8>) {
    out.push(b' ');
    write_sd_name(name, out);
    out.extend_from_slice(b"=\"");
    // RFC 5424 6.3.3: escape '"', '\' and ']'.
    let mut value = value.as_bytes();
    while let Some(i) = memchr::memchr3(b'"', b'\\', b']', value) {
        out.extend_from_slice(&value[..i]);
        out.extend_from_slice(&[b'\\', value[i]]);
        value = &value[i + 1..];
    }
    out.extend_from_slice(value);
    out.push(b'"');
}

/// Appends `value` as exactly `width` decimal digits (values are in range).
fn push_digits(out: &mut Vec<u8>, value: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
    }
}

/// RFC 3339 in UTC with up to six fractional digits, trailing zeros dropped.
/// Written by hand: `write!` costs more than the rest of the line.
fn write_rfc3339(ts: Timestamp, out: &mut Vec<u8>) {
    let dt = Offset::UTC.to_datetime(ts);
    // The parser only yields years 1..=9999; clamp anything else a caller made.
    let fields = [
        (dt.year().clamp(0, 9999) as u32, 4, b'-'),
        (dt.month() as u32, 2, b'-'),
        (dt.day() as u32, 2, b'T'),
        (dt.hour() as u32, 2, b':'),
        (dt.minute() as u32, 2, b':'),
    ];
    for (value, width, separator) in fields {
        push_digits(out, value, width);
        out.push(separator);
    }
    push_digits(out, dt.second() as u32, 2);
    let mut micros = (dt.subsec_nanosecond() / 1000) as u32;
    if micros > 0 {
        let mut digits = 6;
        while micros.is_multiple_of(10) {
            micros /= 10;
            digits -= 1;
        }
        out.push(b'.');
        push_digits(out, micros, digits);
    }
    out.push(b'Z');
}

/// Appends `msg` as an RFC 5424 line (no trailing newline): timestamp in
/// UTC, NILVALUE for missing fields, SD-PARAM values escaped. A message that
/// itself starts with a BOM gets one more, since parsing drops one.
pub fn format_rfc5424(msg: &Message<'_>, out: &mut Vec<u8>) {
    format_rfc5424_with_element(msg, None, out);
}

/// One SD element given as borrowed parts: `(id, [(name, value), ...])`.
pub type BorrowedSdElement<'a> = (&'a str, &'a [(&'a str, &'a str)]);

/// As [`format_rfc5424`], with `first` written before the message's own structured
/// data: a forwarder's own element (Datadog's `[metas ddsource=... ddtags=...]`)
/// without building an [`SdElement`] for every message.
pub fn format_rfc5424_with_element(msg: &Message<'_>, first: Option<BorrowedSdElement<'_>>, out: &mut Vec<u8>) {
    write_pri(msg, out);
    out.extend_from_slice(b"1 ");
    match msg.timestamp {
        Some(ts) => write_rfc3339(ts, out),
        None => out.push(b'-'),
    }
    for field in [msg.hostname.as_deref(), msg.app_name.as_deref(), msg.proc_id.as_deref(), msg.msg_id.as_deref()] {
        out.push(b' ');
        write_field(field, out);
    }
    out.push(b' ');
    if let Some((id, params)) = first {
        out.push(b'[');
        write_sd_name(id, out);
        for (name, value) in params {
            write_sd_param(name, value, out);
        }
        out.push(b']');
    }
    if !msg.structured_data.is_empty() {
        write_sd(&msg.structured_data, out);
    } else if first.is_none() {
        out.push(b'-');
    }
    if !msg.message.is_empty() {
        out.push(b' ');
        if msg.message.starts_with(BOM) {
            out.extend_from_slice(BOM.as_bytes());
        }
        out.extend_from_slice(msg.message.as_bytes());
    }
}

/// Appends `msg` as an RFC 3164 line, `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`,
/// with the time shown at `offset`. The msg id is written back where it came
/// from: `%SYS-5-CONFIG_I: ` for a Cisco tag, `EVENT_NAME: ` otherwise;
/// structured data, if any, is written as text before the message.
/// A message without a timestamp gets none (set one, e.g. the receive time).
pub fn format_rfc3164(msg: &Message<'_>, offset: Offset, out: &mut Vec<u8>) {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    write_pri(msg, out);
    if let Some(ts) = msg.timestamp {
        let dt = offset.to_datetime(ts);
        let month = MONTHS[usize::try_from(dt.month() - 1).unwrap_or(0) % 12];
        let _ = write!(out, "{month} {:>2} {:02}:{:02}:{:02} ", dt.day(), dt.hour(), dt.minute(), dt.second());
    }
    write_field(msg.hostname.as_deref(), out);
    out.push(b' ');
    if let Some(app) = msg.app_name.as_deref().filter(|a| !a.is_empty()) {
        write_field(Some(app), out);
        if let Some(pid) = msg.proc_id.as_deref().filter(|p| !p.is_empty()) {
            out.push(b'[');
            write_field(Some(pid), out);
            out.push(b']');
        }
        out.extend_from_slice(b": ");
    }
    if let Some(msg_id) = msg.msg_id.as_deref().filter(|m| !m.is_empty()) {
        if msg.attribute(attr::CISCO_MNEMONIC).is_some() {
            out.push(b'%');
        }
        write_field(Some(msg_id), out);
        out.extend_from_slice(b": ");
    }
    if !msg.structured_data.is_empty() {
        write_sd(&msg.structured_data, out);
        out.push(b' ');
    }
    out.extend_from_slice(msg.message.as_bytes());
}

/// Appends an RFC 6587 octet-counted frame: `"{len} {payload}"`.
pub fn frame_octet_counted(payload: &[u8], out: &mut Vec<u8>) {
    let _ = write!(out, "{} ", payload.len());
    out.extend_from_slice(payload);
}
