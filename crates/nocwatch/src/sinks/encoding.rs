//! Encoders shared by sinks: JSON lines, and log events as syslog messages.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use nocwatch_syslog::{Facility, Message, SdElement, SdParam, Severity};

use crate::event::{AttributeValue, Event, LogEvent, Node, Tags};
use crate::sinks::util::json;
use crate::sinks::util::request::{Encoded, Encoder, Request};

/// One event per line, as the JSON shape documented in `docs/events.md`.
#[derive(Debug, Default)]
pub struct JsonLines {
    /// The last request's body, to encode the next one into.
    spare: Vec<u8>,
}

/// Bytes of JSON lines per write.
const MAX_WRITE: usize = 1 << 20;

impl Encoder for JsonLines {
    fn encode(&mut self, events: &[Event]) -> Encoded {
        let mut body = std::mem::take(&mut self.spare);
        body.clear();
        // Where in `body` each shared tag map was written: the metrics of one poll share a
        // few maps (an interface's twenty metrics, one), written once, then copied. The
        // clones keep the maps, and so their addresses, alive for the batch.
        let mut written_tags: HashMap<usize, Range<usize>> = HashMap::new();
        let mut keep_alive: Vec<Tags> = Vec::new();
        let (mut consumed, mut count, mut failed) = (0, 0, 0);
        for event in events {
            if body.len() >= MAX_WRITE {
                break;
            }
            consumed += 1;
            if let Event::Metric(metric) = event
                && let Some(address) = metric.tags.shared_address()
            {
                json::metric_event_head(&mut body, metric);
                match written_tags.get(&address) {
                    Some(range) => body.extend_from_within(range.clone()),
                    None => {
                        let start = body.len();
                        json::tags(&mut body, &metric.tags);
                        written_tags.insert(address, start..body.len());
                        keep_alive.push(metric.tags.clone());
                    }
                }
                body.extend_from_slice(b"}\n");
                count += 1;
                continue;
            }
            match self.encode_line(event, &mut body) {
                Ok(()) => count += 1,
                Err(_) => failed += 1,
            }
        }
        let request = (count > 0).then_some(Request { body, events: count });
        Encoded { request, consumed, failed }
    }

    fn recycle(&mut self, body: Vec<u8>) {
        self.spare = body;
    }
}

impl JsonLines {
    /// Appends the event and a newline to `out`; on error `out` is left as it was.
    pub fn encode_line(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        match event {
            // The hot path: written directly, the same bytes as `Serialize` gives.
            Event::Log(log) => json::log_event(out, log),
            Event::Metric(metric) => json::metric_event(out, metric),
            _ => {
                let start = out.len();
                if let Err(e) = serde_json::to_writer(&mut *out, event) {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

/// A log event as a syslog message, for the sinks that speak syslog (syslog forwarding,
/// Datadog's TCP intake). What the syslog source parsed comes back: facility, app name,
/// proc id, msg id and structured data from the attributes; severity from the status.
pub fn to_syslog(log: &LogEvent) -> Message<'_> {
    let mut message = Message::new(Cow::Borrowed(log.message.as_str()));
    message.severity = Severity::from_code(log.status.syslog_severity());
    message.timestamp = Some(log.timestamp);
    message.hostname = log.host.as_deref().map(Cow::Borrowed);
    let (mut facility, mut app_name) = (None, None);
    // One walk over the attributes, in key order: a lookup per field searched them five
    // times per line, the sink's largest cost after the line itself.
    for (key, node) in log.attributes.members() {
        match (key, node) {
            ("syslog", Node::Object(fields)) => {
                for (name, value) in fields {
                    let Some(text) = value.as_str() else { continue };
                    match name {
                        "appname" => app_name = Some(text),
                        "facility" => facility = facility_by_name(text),
                        "msgid" => message.msg_id = Some(Cow::Borrowed(text)),
                        "procid" => message.proc_id = Some(Cow::Borrowed(text)),
                        _ => {}
                    }
                }
            }
            ("structured_data", Node::Object(elements)) => {
                for (id, params) in elements {
                    let params = match params {
                        Node::Object(params) => params
                            .map(|(name, value)| SdParam {
                                name: Cow::Borrowed(name),
                                value: match value {
                                    Node::Value(AttributeValue::Str(s)) => Cow::Borrowed(s),
                                    other => Cow::Owned(other.to_json().to_string()),
                                },
                            })
                            .collect(),
                        Node::Value(_) => Vec::new(),
                    };
                    message.structured_data.push(SdElement { id: Cow::Borrowed(id), params });
                }
            }
            _ => {}
        }
    }
    message.facility = facility.or(Some(Facility::User));
    message.app_name = log.service.as_deref().or(app_name).map(Cow::Borrowed);
    message
}

fn facility_by_name(name: &str) -> Option<Facility> {
    (0..24).filter_map(Facility::from_code).find(|f| f.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Metric, MetricType};
    use crate::sources::syslog::event::EventMapper;

    #[test]
    fn json_lines_of_metrics_sharing_tags_are_serde_json_lines() {
        let shared: Tags =
            [("snmp_device".to_owned(), "10.0.0.1".to_owned()), ("if".to_owned(), "Gi\"1".to_owned())].into();
        let other: Tags = [("cpu".to_owned(), "0".to_owned())].into();
        let metric = |name: &str, tags: &Tags| {
            Event::Metric(Metric {
                name: name.into(),
                metric_type: MetricType::Gauge,
                value: 1.5,
                timestamp: jiff::Timestamp::UNIX_EPOCH,
                interval_secs: None,
                host: None,
                tags: tags.clone(),
            })
        };
        let events = [
            metric("a", &shared),
            metric("b", &other),
            metric("c", &shared),
            metric("d", &Tags::new()),
            metric("e", &other),
        ];
        let encoded = JsonLines::default().encode(&events);
        let body = String::from_utf8(encoded.request.expect("a request").body).expect("UTF-8");
        let expected: String = events.iter().map(|e| serde_json::to_string(e).expect("serializable") + "\n").collect();
        assert_eq!(body, expected);
        assert_eq!((encoded.consumed, encoded.failed), (5, 0));
    }

    /// What the syslog source made of a line comes back as the same line: header fields
    /// from the attributes, structured data escaped, severity from the status.
    #[test]
    fn a_received_rfc5424_line_is_forwarded_as_it_came() {
        // SD-IDs and names in key order: the event keeps attributes sorted.
        let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [a@32473 eventID="1011" iut="3"][b@32473 class="hi\"gh\]"] An application event"#;
        let mapper = EventMapper::new(Default::default(), None).unwrap();
        let event = mapper.to_event(line.as_bytes(), "10.0.0.1:514".parse().unwrap(), false, &mapper.context());
        let mut out = Vec::new();
        nocwatch_syslog::format_rfc5424(&to_syslog(&event), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), line);
    }
}
