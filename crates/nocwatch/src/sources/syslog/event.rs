//! From a received syslog message to a log event: parse it with `nocwatch-syslog`, pick the
//! host, map severity to status, and keep every parsed field as an attribute.
//!
//! Attributes: `syslog.{facility,severity,appname,procid,msgid,hostname,protocol}`,
//! `structured_data.<SD-ID>.<name>`, vendor fields nested by prefix (`cisco.mnemonic`,
//! `iosxr.node`, ...), `peer.ip`, and `truncated` / `parse_error` when they apply.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use jiff::tz::Offset;
use nocwatch_syslog::{Message, ParseContext};

use prometheus_client::metrics::counter::Counter;

use crate::event::{Attributes, AttributesBuilder, Event, LogEvent, MAX_DEPTH, Status};
use crate::telemetry::ComponentMetrics;

/// A sender: its address in canonical form (`::ffff:10.0.0.1` is 10.0.0.1) and as text.
pub struct Peer {
    ip: IpAddr,
    ip_text: String,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        let ip = addr.ip().to_canonical();
        Peer { ip, ip_text: ip.to_string() }
    }

    /// The canonical sender address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

/// The mapper as the listeners use it: it counts every message that arrived truncated or
/// did not parse (`errors{reason="truncated"}`, `errors{reason="parse_error"}`).
pub struct CountingMapper {
    mapper: EventMapper,
    truncated: Counter,
    parse_errors: Counter,
}

impl CountingMapper {
    pub fn new(mapper: EventMapper, metrics: &ComponentMetrics) -> Self {
        CountingMapper {
            mapper,
            truncated: metrics.error_counter("truncated"),
            parse_errors: metrics.error_counter("parse_error"),
        }
    }

    /// The parse context for messages received now.
    pub fn context(&self) -> ParseContext {
        self.mapper.context()
    }

    pub fn event(&self, bytes: &[u8], peer: &Peer, truncated: bool, ctx: &ParseContext) -> Event {
        if truncated {
            self.truncated.inc();
        }
        let (event, parsed) = self.mapper.parse_and_map(bytes, peer, truncated, ctx);
        if !parsed {
            self.parse_errors.inc();
        }
        Event::Log(event)
    }
}

pub struct EventMapper {
    hosts: BTreeMap<IpAddr, String>,
    offset: Offset,
}

impl EventMapper {
    pub fn new(hosts: BTreeMap<IpAddr, String>, utc_offset: Option<&str>) -> anyhow::Result<Self> {
        let offset = match utc_offset {
            None => Offset::UTC,
            Some(text) => parse_offset(text).with_context(|| format!("utc_offset `{text}`: expected e.g. `+09:00`"))?,
        };
        // `::ffff:10.0.0.1` in the map must match a sender seen as 10.0.0.1.
        let hosts = hosts.into_iter().map(|(ip, name)| (ip.to_canonical(), name)).collect();
        Ok(EventMapper { hosts, offset })
    }

    /// The parse context for messages received now.
    pub fn context(&self) -> ParseContext {
        ParseContext::new(jiff::Timestamp::now(), self.offset)
    }

    pub fn to_event(&self, bytes: &[u8], peer: SocketAddr, truncated: bool, ctx: &ParseContext) -> LogEvent {
        self.to_event_from(bytes, &Peer::new(peer), truncated, ctx)
    }

    /// As [`EventMapper::to_event`], with the sender's address already formatted (once per
    /// TCP connection, once per run of datagrams from one UDP sender).
    pub fn to_event_from(&self, bytes: &[u8], peer: &Peer, truncated: bool, ctx: &ParseContext) -> LogEvent {
        self.parse_and_map(bytes, peer, truncated, ctx).0
    }

    /// The event, and whether the message parsed.
    fn parse_and_map(&self, bytes: &[u8], peer: &Peer, truncated: bool, ctx: &ParseContext) -> (LogEvent, bool) {
        let message = nocwatch_syslog::parse(trim_line_end(bytes), ctx);
        let parsed = message.parse_error.is_none();
        (self.map(message, peer, truncated), parsed)
    }

    fn map(&self, message: Message<'_>, peer: &Peer, truncated: bool) -> LogEvent {
        let parsed_host = message.hostname.as_deref().filter(|h| !h.is_empty() && *h != "-");
        let host = self
            .hosts
            .get(&peer.ip)
            .cloned()
            .or_else(|| parsed_host.map(str::to_owned))
            .unwrap_or_else(|| peer.ip_text.clone());

        let attributes = attributes(&message, parsed_host, peer, truncated);
        LogEvent {
            timestamp: message.timestamp.unwrap_or_else(jiff::Timestamp::now),
            host: Some(host),
            source: "syslog".to_owned(),
            service: message.app_name.as_deref().filter(|a| *a != "-").map(str::to_owned),
            status: message.severity.map_or(Status::Info, |s| Status::from_syslog_severity(s.code())),
            message: message.message.into_owned(),
            tags: Default::default(),
            attributes,
        }
    }
}

/// Datagrams and frames often end with a newline (or NUL) that is not part of the message.
fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0')).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// The event's attributes: vendor fields (dotted names nest: `cisco.mnemonic`), `peer.ip`,
/// structured data (`structured_data.<SD-ID>.<name>`), the `syslog` header fields,
/// `truncated`, `parse_error`. Borrowed from the parsed message until `build` copies them.
///
/// Fields go to the builder in key order (it then only checks the order instead of
/// sorting): vendor fields sorted and merged between the fixed ones, structured-data
/// elements by SD-ID and their parameters by name. A vendor field at the path of a fixed
/// one wins (none does: `nocwatch_syslog::attr`).
fn attributes(message: &Message<'_>, parsed_host: Option<&str>, peer: &Peer, truncated: bool) -> Attributes {
    let params: usize = message.structured_data.iter().map(|e| e.params.len()).sum();
    let mut builder = AttributesBuilder::with_capacity(12 + message.attributes.len() + params, 192 + params * 40);
    // (first segment, the rest, value), in path order; stable, so of two at one path the
    // later found stays last and wins.
    let mut vendor: Vec<(&str, &str, &str)> = message
        .attributes
        .iter()
        .map(|a| {
            let (head, rest) = a.key.split_once('.').unwrap_or((a.key, ""));
            (head, rest, a.value.as_ref())
        })
        .collect();
    vendor.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut vendor = vendor.into_iter().peekable();

    vendor_up_to(&mut builder, &mut vendor, "parse_error", false);
    if let Some(error) = message.parse_error {
        builder.str(&["parse_error"], error.as_str());
    }
    vendor_up_to(&mut builder, &mut vendor, "parse_error", true);
    vendor_up_to(&mut builder, &mut vendor, "peer", false);
    builder.str(&["peer", "ip"], &peer.ip_text);
    vendor_up_to(&mut builder, &mut vendor, "peer", true);
    vendor_up_to(&mut builder, &mut vendor, "structured_data", false);
    // One binding, so every parameter's path shares the same `&str` (cheap to compare).
    let structured_data = "structured_data";
    let mut elements: Vec<_> = message
        .structured_data
        .iter()
        .enumerate()
        // A repeated SD-ID: the last element replaces the earlier ones whole (RFC 5424
        // forbids repeats).
        .filter(|(i, e)| !message.structured_data[i + 1..].iter().any(|later| later.id == e.id))
        .map(|(_, e)| e)
        .collect();
    elements.sort_by(|a, b| a.id.cmp(&b.id));
    for element in elements {
        let id: &str = &element.id;
        if element.params.is_empty() {
            builder.json(&[structured_data, id], serde_json::Value::Object(Default::default()));
        }
        let mut params: Vec<_> = element.params.iter().collect();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        for param in params {
            builder.str(&[structured_data, id, &param.name], &param.value);
        }
    }
    vendor_up_to(&mut builder, &mut vendor, "structured_data", true);
    vendor_up_to(&mut builder, &mut vendor, "syslog", false);
    let syslog = "syslog";
    for (key, value) in [
        ("appname", message.app_name.as_deref()),
        ("facility", message.facility.map(|f| f.as_str())),
        ("hostname", parsed_host),
        ("msgid", message.msg_id.as_deref()),
        ("procid", message.proc_id.as_deref()),
        ("protocol", Some(message.protocol.as_str())),
        ("severity", message.severity.map(|s| s.as_str())),
    ] {
        // Vendor `syslog.*` fields (`syslog.raw_timestamp`) in their place among these.
        while let Some(field) = vendor.next_if(|(h, r, _)| *h == syslog && *r < key) {
            push_vendor(&mut builder, field);
        }
        if let Some(value) = value {
            builder.str(&[syslog, key], value);
        }
    }
    vendor_up_to(&mut builder, &mut vendor, "syslog", true);
    vendor_up_to(&mut builder, &mut vendor, "truncated", false);
    if truncated {
        builder.bool(&["truncated"], true);
    }
    vendor.for_each(|field| push_vendor(&mut builder, field));
    builder.build()
}

/// Vendor fields as (first segment, the rest, value), in path order.
type Vendor<'a> = std::iter::Peekable<std::vec::IntoIter<(&'a str, &'a str, &'a str)>>;

/// Pushes the vendor fields whose first segment sorts before `bound` (or is `bound`).
fn vendor_up_to<'a>(builder: &mut AttributesBuilder<'a>, vendor: &mut Vendor<'a>, bound: &str, inclusive: bool) {
    while let Some(field) = vendor.next_if(|(h, _, _)| *h < bound || (inclusive && *h == bound)) {
        push_vendor(builder, field);
    }
}

/// A vendor field at its dotted path (`cisco.mnemonic` → `cisco` / `mnemonic`).
fn push_vendor<'a>(builder: &mut AttributesBuilder<'a>, (head, rest, value): (&'a str, &'a str, &'a str)) {
    let mut rest_segments = rest.splitn(MAX_DEPTH - 1, '.');
    let path: [&str; MAX_DEPTH] =
        std::array::from_fn(|i| if i == 0 { head } else { rest_segments.next().unwrap_or_default() });
    let depth = if rest.is_empty() { 1 } else { 2 + rest.matches('.').count().min(MAX_DEPTH - 2) };
    builder.str(&path[..depth], value);
}

fn parse_offset(text: &str) -> anyhow::Result<Offset> {
    let text = text.trim();
    if matches!(text, "Z" | "UTC" | "utc") {
        return Ok(Offset::UTC);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => anyhow::bail!("missing sign"),
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
    let seconds = hours.parse::<i32>()? * 3600 + minutes.parse::<i32>()? * 60;
    Ok(Offset::from_seconds(sign * seconds)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper() -> EventMapper {
        let hosts = [("10.0.0.9".parse().unwrap(), "edge-fw".to_owned())].into();
        EventMapper::new(hosts, None).unwrap()
    }

    fn event(line: &str, peer: &str) -> LogEvent {
        let mapper = mapper();
        mapper.to_event(line.as_bytes(), peer.parse().unwrap(), false, &mapper.context())
    }

    #[test]
    fn cisco_ios_line_becomes_a_structured_event() {
        let e = event(
            "<189>29: core-sw1: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console\n",
            "10.0.0.1:514",
        );
        assert_eq!(e.host.as_deref(), Some("core-sw1"));
        assert_eq!(e.status, Status::Notice);
        assert_eq!(e.attributes.to_json()["cisco"]["mnemonic"], "CONFIG_I");
        assert_eq!(e.attributes.to_json()["cisco"]["facility"], "SYS");
        assert_eq!(e.attributes.to_json()["syslog"]["facility"], "local7");
        assert_eq!(e.attributes.to_json()["peer"]["ip"], "10.0.0.1");
        assert!(e.attributes.get(&["parse_error"]).is_none());
    }

    #[test]
    fn junos_structured_data_is_kept_whole() {
        let line = r#"<14>1 2014-05-01T08:26:51.179Z - RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.39 source-address="1.2.3.4" encrypted="No "]"#;
        let e = event(line, "10.0.0.2:514");
        assert_eq!(e.host.as_deref(), Some("10.0.0.2"), "`-` hostname falls back to the sender");
        assert_eq!(e.service.as_deref(), Some("RT_FLOW"));
        let attributes = e.attributes.to_json();
        let sd = &attributes["structured_data"]["junos@2636.1.1.1.2.39"];
        assert_eq!(sd["source-address"], "1.2.3.4");
        assert_eq!(sd["encrypted"], "No ", "trailing space kept as sent");
        assert_eq!(e.timestamp.to_string(), "2014-05-01T08:26:51.179Z");
    }

    #[test]
    fn static_map_wins_and_garbage_is_delivered_whole() {
        let e = event("<14>Oct 11 22:14:15 fw01 app: hi", "10.0.0.9:514");
        assert_eq!(e.host.as_deref(), Some("edge-fw"));
        let e = event("\u{1}\u{2} not syslog at all", "[::ffff:10.0.0.3]:514");
        assert_eq!(e.message, "\u{1}\u{2} not syslog at all");
        assert_eq!(e.host.as_deref(), Some("10.0.0.3"));
        assert!(e.attributes.to_json()["parse_error"].is_string());
        assert_eq!(e.status, Status::Info);
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+09:00").unwrap(), Offset::from_seconds(9 * 3600).unwrap());
        assert_eq!(parse_offset("-05:30").unwrap(), Offset::from_seconds(-(5 * 3600 + 1800)).unwrap());
        assert_eq!(parse_offset("UTC").unwrap(), Offset::UTC);
        assert!(parse_offset("9").is_err());
    }
}
