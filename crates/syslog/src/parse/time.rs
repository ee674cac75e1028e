//! Timestamp readers: RFC 3339 (RFC 5424 and rsyslog's high-precision 3164),
//! BSD `Mmm dd [yyyy] hh:mm:ss[.frac]`, Cisco time-zone names, and the year
//! guess for year-less BSD stamps.
//!
//! Hand-rolled digit readers rather than a format-string parser: these run on
//! every line and must be cheap, total (never panic) and lenient.

use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};

use super::ParseContext;

/// A BSD timestamp's fields before a year and offset are chosen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BsdTime {
    pub year: Option<i16>,
    pub month: i8,
    pub day: i8,
    pub hour: i8,
    pub minute: i8,
    pub second: i8,
    pub microsecond: i32,
    /// True when fractional seconds were present (a Cisco `msec` hint).
    pub has_fraction: bool,
}

/// Reads exactly `n` ASCII digits at `s[at..]`.
pub(crate) fn fixed_digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = s.get(at..at.checked_add(n)?)?;
    let mut value = 0u32;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

/// Reads `.d{1,9}` at `s[at..]` as microseconds (digits past six are dropped,
/// since RFC 5424 allows at most six and we format with at most six).
/// Returns (microseconds, bytes consumed), (0, 0) when there is no fraction.
fn fraction(s: &[u8], at: usize) -> (i32, usize) {
    if s.get(at) != Some(&b'.') && s.get(at) != Some(&b',') {
        return (0, 0);
    }
    let mut micros = 0i32;
    let mut n = 0usize;
    while let Some(&b) = s.get(at + 1 + n) {
        if !b.is_ascii_digit() || n == 9 {
            break;
        }
        if n < 6 {
            micros = micros * 10 + i32::from(b - b'0');
        }
        n += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..6 {
        micros *= 10;
    }
    (micros, n + 1)
}

/// `hh:mm:ss` at `s[at..]`, range-checked; a leap second 60 is read as 59.
fn clock(s: &[u8], at: usize) -> Option<(i8, i8, i8)> {
    let hour = fixed_digits(s, at, 2)?;
    let minute = fixed_digits(s, at + 3, 2)?;
    let second = fixed_digits(s, at + 6, 2)?;
    if s.get(at + 2) != Some(&b':') || s.get(at + 5) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some((hour as i8, minute as i8, second.min(59) as i8))
}

/// Month number for a three-letter English abbreviation, any case.
pub(crate) fn month(s: &[u8]) -> Option<i8> {
    let m = s.get(..3)?;
    const NAMES: [&[u8; 3]; 12] =
        [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    let lower = [m[0].to_ascii_lowercase(), m[1].to_ascii_lowercase(), m[2].to_ascii_lowercase()];
    NAMES.iter().position(|n| **n == lower).map(|i| i as i8 + 1)
}

/// Reads `Mmm d[d] [yyyy] hh:mm:ss[.frac]` at the start of `s`.
/// Returns the fields and the number of bytes consumed.
pub(crate) fn parse_bsd(s: &[u8]) -> Option<(BsdTime, usize)> {
    let month = month(s)?;
    let mut at = 3;
    let spaces = s.get(at..)?.iter().take(3).take_while(|&&b| b == b' ').count();
    if spaces == 0 || spaces > 2 {
        return None;
    }
    at += spaces;
    let day_len = s.get(at..)?.iter().take_while(|b| b.is_ascii_digit()).count();
    if day_len == 0 || day_len > 2 {
        return None;
    }
    let day = fixed_digits(s, at, day_len)?;
    at += day_len;
    if s.get(at) != Some(&b' ') || !(1..=31).contains(&day) {
        return None;
    }
    at += 1;
    // Cisco `service timestamps ... year` puts the year before the time.
    let mut year = None;
    if let Some(y) = fixed_digits(s, at, 4)
        && s.get(at + 4) == Some(&b' ')
    {
        year = Some(y as i16);
        at += 5;
    }
    let (hour, minute, second) = clock(s, at)?;
    at += 8;
    let (microsecond, frac_len) = fraction(s, at);
    at += frac_len;
    Some((BsdTime { year, month, day: day as i8, hour, minute, second, microsecond, has_fraction: frac_len > 0 }, at))
}

/// Reads an RFC 3339 timestamp at the start of `s`:
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm|±hhmm)?`. A missing offset means the
/// context default (seen from Junos). Returns `(None, len)` when the text has
/// the shape but names an impossible instant, `None` when it has not the shape.
pub(crate) fn parse_rfc3339(s: &[u8], ctx: &ParseContext) -> Option<(Option<Timestamp>, usize)> {
    let year = fixed_digits(s, 0, 4)?;
    let month = fixed_digits(s, 5, 2)?;
    let day = fixed_digits(s, 8, 2)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(s.get(10), Some(b'T' | b't')) {
        return None;
    }
    let (hour, minute, second) = clock(s, 11)?;
    let mut at = 19;
    let (microsecond, frac_len) = fraction(s, at);
    at += frac_len;
    let offset = match s.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            Some(Offset::UTC)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = fixed_digits(s, at + 1, 2)?;
            let (mm, len) = if s.get(at + 3) == Some(&b':') {
                (fixed_digits(s, at + 4, 2)?, 6)
            } else {
                (fixed_digits(s, at + 3, 2)?, 5)
            };
            at += len;
            if hh > 23 || mm > 59 {
                return Some((None, at));
            }
            let secs = (hh * 3600 + mm * 60) as i32;
            Offset::from_seconds(if sign == b'-' { -secs } else { secs }).ok()
        }
        _ => None,
    };
    if year == 0 || month == 0 || month > 12 || day == 0 {
        return Some((None, at));
    }
    let civil = DateTime::new(year as i16, month as i8, day as i8, hour, minute, second, microsecond * 1000);
    let offset = offset.unwrap_or(ctx.default_offset);
    Some((civil.ok().and_then(|dt| to_timestamp(dt, offset)), at))
}

/// Seconds of 0001-01-01T00:00:00Z: earlier instants cannot be written back
/// as a four-digit RFC 5424 year, so they count as unreadable.
const EARLIEST_SECOND: i64 = -62_135_596_800;

fn to_timestamp(dt: DateTime, offset: Offset) -> Option<Timestamp> {
    offset.to_timestamp(dt).ok().filter(|ts| ts.as_second() >= EARLIEST_SECOND)
}

/// Turns BSD fields into an instant. Without a year: a log line tells of the past, so the
/// stamp is put in the current year unless that is more than a week ahead of `ctx.now`
/// (then it is last year's: `Dec 31` read on Jan 1), or unless it is a new year's stamp
/// from a device whose clock runs a little ahead (`Jan 1` read on Dec 31: next year's).
pub(crate) fn resolve_bsd(t: &BsdTime, offset: Offset, ctx: &ParseContext) -> Option<Timestamp> {
    let at_year = |year: i16| -> Option<Timestamp> {
        let dt = DateTime::new(year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond * 1000).ok()?;
        to_timestamp(dt, offset)
    };
    if let Some(year) = t.year {
        return if year == 0 { None } else { at_year(year) };
    }
    const SKEW: SignedDuration = SignedDuration::from_hours(7 * 24);
    let ahead = |ts: Timestamp| ctx.now.duration_until(ts);
    let year = ctx.now_year;
    let Some(this_year) = at_year(year) else {
        // Feb 29 in a year without one: the nearest earlier year that has it.
        return (1..=4).filter_map(|back| at_year(year.saturating_sub(back))).next();
    };
    if ahead(this_year) > SKEW {
        return at_year(year.saturating_sub(1)).or(Some(this_year));
    }
    if let Some(next_year) = at_year(year.saturating_add(1))
        && ahead(next_year) <= SKEW
    {
        return Some(next_year);
    }
    Some(this_year)
}

/// UTC offset for a time-zone name as Cisco prints it after the time
/// (`clock timezone NAME`): common abbreviations and `UTC±h[h][[:]mm]`.
/// `None` for names we cannot place (the caller falls back to the default).
/// Ambiguous abbreviations take their North American / European meaning
/// (CST is US Central); IST is left out because it is ambiguous.
pub(crate) fn zone_offset(name: &str) -> Option<Offset> {
    let upper = name.to_ascii_uppercase();
    let fixed = |secs: i32| Offset::from_seconds(secs).ok();
    for prefix in ["UTC", "GMT"] {
        if let Some(rest) = upper.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return numeric_offset(rest.as_bytes());
        }
    }
    const H: i32 = 3600;
    let secs = match upper.as_str() {
        "UTC" | "GMT" | "UT" | "Z" | "WET" | "ZULU" => 0,
        "WEST" | "BST" | "CET" | "MET" => H,
        "CEST" | "MEST" | "EET" | "SAST" => 2 * H,
        "EEST" | "MSK" => 3 * H,
        "EST" => -5 * H,
        "EDT" => -4 * H,
        "CST" => -6 * H,
        "CDT" => -5 * H,
        "MST" => -7 * H,
        "MDT" => -6 * H,
        "PST" => -8 * H,
        "PDT" => -7 * H,
        "AKST" => -9 * H,
        "AKDT" => -8 * H,
        "HST" => -10 * H,
        "JST" | "KST" => 9 * H,
        "HKT" | "SGT" | "AWST" | "PHT" => 8 * H,
        "ICT" | "WIB" => 7 * H,
        "ACST" => 9 * H + 1800,
        "ACDT" => 10 * H + 1800,
        "AEST" => 10 * H,
        "AEDT" => 11 * H,
        "NZST" => 12 * H,
        "NZDT" => 13 * H,
        _ => return None,
    };
    fixed(secs)
}

/// `+h`, `+hh`, `+hh:mm`, `+hhmm` (or `-`).
fn numeric_offset(s: &[u8]) -> Option<Offset> {
    let (&sign, digits) = s.split_first()?;
    if sign != b'+' && sign != b'-' {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (fixed_digits(digits, 0, digits.len())?, 0),
        4 => (fixed_digits(digits, 0, 2)?, fixed_digits(digits, 2, 2)?),
        5 if digits[2] == b':' => (fixed_digits(digits, 0, 2)?, fixed_digits(digits, 3, 2)?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let secs = (hours * 3600 + minutes * 60) as i32;
    Offset::from_seconds(if sign == b'-' { -secs } else { secs }).ok()
}
