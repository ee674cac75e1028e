//! Encoders shared by sinks: JSON lines, and log events as syslog messages.

use std::borrow::Cow;

use nocwatch_syslog::{Facility, Message, SdElement, SdParam, Severity};

use crate::event::{AttributeValue, Event, LogEvent, Node};
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
        let (mut consumed, mut count, mut failed) = (0, 0, 0);
        for event in events {
            if body.len() >= MAX_WRITE {
                break;
            }
            consumed += 1;
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
    let field = |key: &str| log.attributes.get_str(&["syslog", key]);
    let mut message = Message::new(Cow::Borrowed(log.message.as_str()));
    message.facility = field("facility").and_then(facility_by_name).or(Some(Facility::User));
    message.severity = Severity::from_code(log.status.syslog_severity());
    message.timestamp = Some(log.timestamp);
    message.hostname = log.host.as_deref().map(Cow::Borrowed);
    message.app_name = log.service.as_deref().or(field("appname")).map(Cow::Borrowed);
    message.proc_id = field("procid").map(Cow::Borrowed);
    message.msg_id = field("msgid").map(Cow::Borrowed);
    if let Some(Node::Object(elements)) = log.attributes.get(&["structured_data"]) {
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
    message
}

fn facility_by_name(name: &str) -> Option<Facility> {
    (0..24).filter_map(Facility::from_code).find(|f| f.as_str() == name)
}
