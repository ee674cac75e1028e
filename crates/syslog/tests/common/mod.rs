//! Shared helpers for the integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use jiff::Timestamp;
use jiff::tz::Offset;
use nocwatch_syslog::{Message, ParseContext};

/// The reference "now" of most tests: late December, so year-less stamps land in 2024.
pub fn ctx() -> ParseContext {
    ctx_at("2024-12-20T12:00:00Z", 0)
}

pub fn ctx_at(now: &str, default_offset_hours: i8) -> ParseContext {
    ParseContext::new(now.parse::<Timestamp>().unwrap(), Offset::from_hours(default_offset_hours).unwrap())
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn attrs<'m>(m: &'m Message<'_>) -> Vec<(&'static str, &'m str)> {
    m.attributes.iter().map(|a| (a.key, a.value.as_ref())).collect()
}

pub fn sd<'m>(m: &'m Message<'_>) -> Vec<(&'m str, Vec<(&'m str, &'m str)>)> {
    m.structured_data
        .iter()
        .map(|e| (e.id.as_ref(), e.params.iter().map(|p| (p.name.as_ref(), p.value.as_ref())).collect()))
        .collect()
}
