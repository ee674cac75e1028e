//! RFC 5424 header and structured data.
//!
//! Lenient where devices are: runs of spaces between header fields, a missing
//! offset in the timestamp, a missing version digit, spaces around `=` in
//! SD-PARAMs (seen from IOS-XE), no space between SD and MSG. A header cut short
//! keeps every field read so far and reports [`ParseError::TruncatedHeader`].

use std::borrow::Cow;

use memchr::memchr2;

use super::{ParseContext, lossy, nil_or_text, time, vendor};
use crate::attr;
use crate::message::{Message, ParseError, SdElement, SdParam};

/// Parses the header from the TIMESTAMP field on (the PRI and VERSION are
/// already consumed) and fills `msg`.
pub(crate) fn parse_header<'a>(msg: &mut Message<'a>, s: &'a [u8], ctx: &ParseContext) {
    let mut rest = s;
    let Some(ts) = next_field(&mut rest) else {
        return truncated(msg);
    };
    if ts != b"-" {
        match time::parse_rfc3339(ts, ctx) {
            Some((Some(t), len)) if len == ts.len() => msg.timestamp = Some(t),
            _ => {
                msg.parse_error.get_or_insert(ParseError::InvalidTimestamp);
                msg.push_attr(attr::RAW_TIMESTAMP, lossy(ts));
            }
        }
    }
    let mut fields = [None, None, None, None];
    for field in &mut fields {
        match next_field(&mut rest) {
            Some(f) => *field = nil_or_text(f),
            None => {
                let [hostname, app_name, proc_id, msg_id] = fields;
                msg.hostname = hostname;
                msg.app_name = app_name;
                msg.proc_id = proc_id;
                msg.msg_id = msg_id;
                return truncated(msg);
            }
        }
    }
    let [hostname, app_name, proc_id, msg_id] = fields;
    msg.hostname = hostname;
    msg.app_name = app_name;
    msg.proc_id = proc_id;
    msg.msg_id = msg_id;

    rest = trim_start_spaces(rest);
    match rest.first() {
        None => return truncated(msg),
        Some(b'-') if matches!(rest.get(1), None | Some(b' ')) => rest = &rest[1..],
        Some(b'[') => {
            let parsed = parse_sd(rest);
            msg.structured_data = parsed.elements;
            rest = &rest[parsed.consumed..];
            if !parsed.complete {
                // Keep the unparsed rest, from the bad element on, as the message.
                msg.parse_error.get_or_insert(ParseError::InvalidStructuredData);
                msg.message = lossy(rest);
                return;
            }
        }
        // Not SD at all: lenient, the text is the message.
        Some(_) => {
            set_message(msg, rest);
            return;
        }
    }
    set_message(msg, rest.strip_prefix(b" ").unwrap_or(rest));
}

fn truncated(msg: &mut Message<'_>) {
    msg.parse_error.get_or_insert(ParseError::TruncatedHeader);
}

/// MSG: drops a leading BOM, and takes a Cisco `%FAC-SEV-MNEMONIC:` tag into
/// attributes when the header had no MSGID.
fn set_message<'a>(msg: &mut Message<'a>, text: &'a [u8]) {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let text = match msg.msg_id {
        None => vendor::apply_cisco_tag(msg, text).unwrap_or(text),
        Some(_) => text,
    };
    msg.message = lossy(text);
}

fn trim_start_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

/// The next space-delimited header field, skipping leading spaces.
fn next_field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let s = trim_start_spaces(rest);
    if s.is_empty() {
        *rest = s;
        return None;
    }
    let end = memchr::memchr(b' ', s).unwrap_or(s.len());
    *rest = &s[end..];
    Some(&s[..end])
}

pub(crate) struct ParsedSd<'a> {
    pub elements: Vec<SdElement<'a>>,
    /// Bytes of the complete elements (the failed one, if any, is not counted).
    pub consumed: usize,
    /// False when an element was malformed or cut short.
    pub complete: bool,
}

/// Parses consecutive SD-ELEMENTs at the start of `s` (which starts with `[`).
pub(crate) fn parse_sd(s: &[u8]) -> ParsedSd<'_> {
    let mut elements = Vec::new();
    let mut at = 0;
    while s.get(at) == Some(&b'[') {
        match parse_element(s, at) {
            Some((element, end)) => {
                elements.push(element);
                at = end;
            }
            None => {
                return ParsedSd { elements, consumed: at, complete: false };
            }
        }
    }
    ParsedSd { elements, consumed: at, complete: true }
}

/// Bytes allowed in SD-ID and PARAM-NAME: anything printable but `= ] "` and space.
fn is_sd_name_byte(b: u8) -> bool {
    b > b' ' && b != 0x7F && !matches!(b, b'=' | b']' | b'"')
}

fn sd_name(s: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = s.get(at..)?.iter().take_while(|&&b| is_sd_name_byte(b)).count();
    (len > 0).then(|| (&s[at..at + len], at + len))
}

fn skip_spaces(s: &[u8], mut at: usize) -> usize {
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// One `[id k="v" ...]` starting at `s[at] == '['`; returns it and the index after `]`.
fn parse_element(s: &[u8], at: usize) -> Option<(SdElement<'_>, usize)> {
    let (id, mut at) = sd_name(s, at + 1)?;
    // Junos flow records carry 20-40 params: start big enough for most.
    let mut params = Vec::with_capacity(16);
    loop {
        at = skip_spaces(s, at);
        match s.get(at)? {
            b']' => {
                return Some((SdElement { id: lossy(id), params }, at + 1));
            }
            _ => {
                let (name, next) = sd_name(s, at)?;
                at = skip_spaces(s, next);
                if s.get(at) != Some(&b'=') {
                    return None;
                }
                at = skip_spaces(s, at + 1);
                let (value, next) = match s.get(at)? {
                    b'"' => sd_value(s, at + 1)?,
                    _ => curly_quoted_value(s, at)?,
                };
                params.push(SdParam { name: lossy(name), value });
                at = next;
            }
        }
    }
}

/// Typographic quotes, as in values copied from vendor documentation
/// (`name=”st0.0”`): U+201C and U+201D in UTF-8.
const CURLY_QUOTES: [&[u8]; 2] = ["\u{201C}".as_bytes(), "\u{201D}".as_bytes()];

/// A value between typographic quotes starting at `s[at]`; no escapes inside.
fn curly_quoted_value(s: &[u8], at: usize) -> Option<(Cow<'_, str>, usize)> {
    let rest = s.get(at..)?;
    let open = CURLY_QUOTES.iter().find(|q| rest.starts_with(q))?;
    let start = at + open.len();
    let body = &s[start..];
    let end = memchr::memmem::find_iter(body, &CURLY_QUOTES[1][..2])
        .find(|&i| CURLY_QUOTES.iter().any(|q| body[i..].starts_with(q)))?;
    Some((lossy(&body[..end]), start + end + 3))
}

/// A PARAM-VALUE starting after its opening quote; returns the unescaped value
/// and the index after the closing quote. Only `\"`, `\\` and `\]` are escapes
/// (RFC 5424 6.3.3); any other backslash is kept as sent.
fn sd_value(s: &[u8], start: usize) -> Option<(Cow<'_, str>, usize)> {
    let mut at = start;
    let mut owned: Option<Vec<u8>> = None;
    let mut copied_to = start;
    loop {
        let i = at + memchr2(b'"', b'\\', s.get(at..)?)?;
        if s[i] == b'"' {
            let value = match owned {
                None => lossy(&s[start..i]),
                Some(mut buf) => {
                    buf.extend_from_slice(&s[copied_to..i]);
                    Cow::Owned(String::from_utf8_lossy(&buf).into_owned())
                }
            };
            return Some((value, i + 1));
        }
        match s.get(i + 1) {
            Some(&c @ (b'"' | b'\\' | b']')) => {
                let buf = owned.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&s[copied_to..i]);
                buf.push(c);
                copied_to = i + 2;
                at = i + 2;
            }
            Some(_) => at = i + 1,
            None => return None,
        }
    }
}
