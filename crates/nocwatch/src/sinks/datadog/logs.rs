//! The Datadog Logs sink. Two transports:
//!
//! - `http` (default): `POST /api/v2/logs` on `http-intake.logs.<site>`, gzip, at most
//!   1000 entries and 5 MB uncompressed per request, an entry over 1 MB truncated and
//!   flagged. 2xx is the acknowledgement; 408/429/5xx are retried; 413 splits the batch;
//!   400/401/403 are refused for good, logged and counted.
//! - `tcp`: the seed's path — TLS to `intake.logs.<site>:10516`, each event one line
//!   `<API key> <RFC 5424 line with [metas ddsource=… ddtags=…]>`, on a connection that
//!   nocwatch keeps alive on its own terms (see `sinks::util::tcp`).
//!
//! An event becomes a Datadog log: `message`, `hostname` (the device), `service`,
//! `ddsource` (the event's source unless `source` is set), `ddtags` (config `tags` and
//! event tags), `status`, `timestamp` (ms), and every attribute at the top level.

use std::borrow::Cow;
use std::io::Write as _;

use serde::{Deserialize, Serialize};

use super::DatadogHttpConfig;
use crate::component::Running;
use crate::config::inline::inline_keys;
use crate::config::{Invalid, Secret};
use crate::event::{Event, LogEvent};
use crate::sinks::SinkContext;
use crate::sinks::encoding::to_syslog;
use crate::sinks::util::request::{self, Encoded, Encoder, Outcome, Request, Service};
use crate::sinks::util::tcp::{ConnectionConfig, Connector};
use crate::sinks::util::{http, json};

/// Documented limits of the logs intake.
const MAX_ENTRIES: usize = 1000;
const MAX_PAYLOAD_BYTES: usize = 5_000_000;
const MAX_ENTRY_BYTES: usize = 1_000_000;
const TCP_PORT: u16 = 10516;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Http,
    Tcp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct DatadogLogsConfig {
    pub api_key: Secret,
    #[serde(default = "super::default_site")]
    pub site: String,
    /// Overrides the intake: a URL for `http` (`https://host:port`), `host:port` for `tcp`.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub transport: Transport,
    /// Added to every log's `ddtags` (`env:prd`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `ddsource` for every log; default: the event's source (`syslog`, `snmp-traps`).
    #[serde(default)]
    pub source: Option<String>,
    /// `service` for logs that have none.
    #[serde(default)]
    pub service: Option<String>,
    /// Written inline: `compression`, `request_timeout`, `batch`, `request`, `retry`, `tls`.
    /// `tcp` takes only `batch`, `retry` and `tls` ([`HTTP_ONLY`]).
    #[serde(flatten, skip_deserializing)]
    pub http: DatadogHttpConfig,
    /// `tcp` transport: connection handling.
    #[serde(default)]
    pub connection: ConnectionConfig,
}

inline_keys!(DatadogLogsConfig, http: DatadogHttpConfig);

/// The HTTP keys `tcp` has no use for: it writes one ordered stream of lines on one
/// connection (no requests in flight at once, no compression; its timeouts are under
/// `connection`). Written with `tcp`, they are an error rather than silently ignored.
const HTTP_ONLY: [&str; 3] = ["request", "compression", "request_timeout"];

impl DatadogLogsConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        super::check_account(&self.site, &self.api_key)?;
        match self.transport {
            Transport::Http => {
                self.intake()?;
                Ok(self.http.validate()?)
            }
            Transport::Tcp => {
                if let Some(key) = HTTP_ONLY.iter().find(|key| self.http.written(key)) {
                    return Err(Invalid::at(
                        *key,
                        format!(
                            "is for transport http only: transport tcp writes one ordered stream on one \
                             connection (its timeouts are under `connection`); remove `{key}`"
                        ),
                    ));
                }
                let (host, _) = self.tcp_target()?;
                Ok(self.http.tls.validate(&host)?)
            }
        }
    }

    /// The `http` transport's intake.
    pub(super) fn intake(&self) -> Result<super::Intake, Invalid> {
        let host = format!("http-intake.logs.{}", self.site);
        super::Intake::new(self.endpoint.as_deref(), &host, "/api/v2/logs", &self.api_key)
    }

    /// The `tcp` transport's host and port. The errors never repeat the endpoint (it could
    /// hold a credential).
    fn tcp_target(&self) -> Result<(String, u16), Invalid> {
        match &self.endpoint {
            // Datadog documents a TCP intake for these sites only.
            None => match self.site.as_str() {
                "datadoghq.com" => Ok(("intake.logs.datadoghq.com".to_owned(), TCP_PORT)),
                "datadoghq.eu" => Ok(("tcp-intake.logs.datadoghq.eu".to_owned(), 443)),
                site => Err(Invalid::at(
                    "site",
                    format!("no known TCP intake for site `{site}`: use transport http, or set endpoint"),
                )),
            },
            Some(endpoint) => {
                let bad =
                    || Invalid::at("endpoint", "for transport tcp is `host:port` (no scheme, credentials or path)");
                let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
                let host = host.trim_matches(['[', ']']);
                if host.is_empty() || host.contains(['@', '/', '?', '#', ' ']) {
                    return Err(bad());
                }
                Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
            }
        }
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        match self.transport {
            Transport::Http => {
                self.http.deliver(ctx, JsonEncoder::new(self), self.intake().map_err(anyhow::Error::msg)?)
            }
            Transport::Tcp => {
                let (host, port) = self.tcp_target().map_err(anyhow::Error::msg)?;
                let connector = Connector::new(&host, port, Some(&self.http.tls), self.connection.clone())?;
                let encoder = LineEncoder { config: self.clone(), tags: self.tags.join(","), spare: Vec::new() };
                let (batch, retry) = (self.http.batch.clone(), self.http.retry.clone());
                Ok(Box::pin(request::run(ctx, encoder, TcpService(connector), batch, retry)))
            }
        }
    }
}

/// Keys the entry sets itself; an attribute of the same name is left out.
const RESERVED: [&str; 8] =
    ["message", "ddsource", "ddtags", "hostname", "service", "status", "timestamp", "truncated"];

/// A log event as a Datadog log entry (the `HTTPLogItem` schema plus attributes at the top
/// level), written straight from the event: no copy of the attribute tree.
struct Entry<'a> {
    log: &'a LogEvent,
    message: &'a str,
    source: &'a str,
    tags: Cow<'a, str>,
    service: Option<&'a str>,
    truncated: bool,
}

impl<'a> Entry<'a> {
    fn new(config: &'a DatadogLogsConfig, tags: &'a str, log: &'a LogEvent) -> Self {
        Entry {
            log,
            message: &log.message,
            source: config.source.as_deref().unwrap_or(&log.source),
            tags: ddtags(tags, log),
            service: log.service.as_deref().or(config.service.as_deref()),
            truncated: false,
        }
    }

    /// The entry as a JSON object: attributes first (in the attribute map's order), then
    /// the entry's own keys.
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if json::members(out, self.log.attributes.members(), |key| !RESERVED.contains(&key)) {
            out.push(b',');
        }
        out.extend_from_slice(b"\"message\":");
        json::string(out, self.message);
        out.extend_from_slice(b",\"ddsource\":");
        json::string(out, self.source);
        if !self.tags.is_empty() {
            out.extend_from_slice(b",\"ddtags\":");
            json::string(out, &self.tags);
        }
        if let Some(host) = &self.log.host {
            out.extend_from_slice(b",\"hostname\":");
            json::string(out, host);
        }
        if let Some(service) = self.service {
            out.extend_from_slice(b",\"service\":");
            json::string(out, service);
        }
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(self.log.status.as_str().as_bytes());
        out.extend_from_slice(b"\",\"timestamp\":");
        let _ = write!(out, "{}", self.log.timestamp.as_millisecond());
        if self.truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.push(b'}');
    }
}

/// The config's tags, and the event's own after them (borrowed when the event has none).
fn ddtags<'a>(config_tags: &'a str, log: &LogEvent) -> Cow<'a, str> {
    if log.tags.is_empty() {
        return Cow::Borrowed(config_tags);
    }
    let mut tags = config_tags.to_owned();
    for (key, value) in &log.tags {
        if !tags.is_empty() {
            tags.push(',');
        }
        tags.push_str(key);
        if !value.is_empty() {
            tags.push(':');
            tags.push_str(value);
        }
    }
    Cow::Owned(tags)
}

/// The `http` transport's encoder: JSON arrays of entries within the intake's limits.
pub struct JsonEncoder {
    config: DatadogLogsConfig,
    tags: String,
    gzip: bool,
    /// The uncompressed body of the last request (or the last body, without gzip).
    plain: Vec<u8>,
    /// The last compressed body.
    compressed: Vec<u8>,
}

impl JsonEncoder {
    pub fn new(config: &DatadogLogsConfig) -> Self {
        JsonEncoder {
            config: config.clone(),
            tags: config.tags.join(","),
            gzip: config.http.gzip(),
            plain: Vec::new(),
            compressed: Vec::new(),
        }
    }
}

impl Encoder for JsonEncoder {
    fn encode(&mut self, events: &[Event]) -> Encoded {
        let mut body = std::mem::take(&mut self.plain);
        body.clear();
        body.push(b'[');
        let (mut consumed, mut entries) = (0, 0);
        for event in events {
            let Event::Log(log) = event else {
                consumed += 1;
                continue;
            };
            if entries == MAX_ENTRIES {
                break;
            }
            let start = body.len();
            if entries > 0 {
                body.push(b',');
            }
            let item_start = body.len();
            let mut entry = Entry::new(&self.config, &self.tags, log);
            entry.write(&mut body);
            let item_len = body.len() - item_start;
            if item_len > MAX_ENTRY_BYTES {
                truncate_message(&mut entry, item_len - MAX_ENTRY_BYTES);
                body.truncate(item_start);
                entry.write(&mut body);
            }
            // The closing `]` counts too.
            if entries > 0 && body.len() + 1 > MAX_PAYLOAD_BYTES {
                body.truncate(start);
                break;
            }
            entries += 1;
            consumed += 1;
        }
        body.push(b']');
        if entries == 0 {
            self.plain = body;
            return Encoded { request: None, consumed, failed: 0 };
        }
        let body = if self.gzip {
            let compressed = http::gzip_into(&body, std::mem::take(&mut self.compressed));
            self.plain = body;
            compressed
        } else {
            body
        };
        Encoded { request: Some(Request { body, events: entries }), consumed, failed: 0 }
    }

    fn recycle(&mut self, body: Vec<u8>) {
        match self.gzip {
            true => self.compressed = body,
            false => self.plain = body,
        }
    }
}

/// Cuts the message so the entry shrinks by at least `excess` bytes, and flags it.
fn truncate_message(entry: &mut Entry<'_>, excess: usize) {
    let mut keep = entry.message.len().saturating_sub(excess + 64);
    while !entry.message.is_char_boundary(keep) {
        keep -= 1;
    }
    entry.message = &entry.message[..keep];
    entry.truncated = true;
}

/// The seed's rsyslog `DatadogFormat` template, one line per event.
struct LineEncoder {
    config: DatadogLogsConfig,
    tags: String,
    /// The last request's body, to encode the next one into.
    spare: Vec<u8>,
}

impl Encoder for LineEncoder {
    fn encode(&mut self, events: &[Event]) -> Encoded {
        let mut body = std::mem::take(&mut self.spare);
        body.clear();
        let (mut consumed, mut count) = (0, 0);
        for event in events {
            consumed += 1;
            let Event::Log(log) = event else { continue };
            let mut message = to_syslog(log);
            if message.app_name.is_none() {
                message.app_name = self.config.service.as_deref().map(Into::into);
            }
            let source = self.config.source.as_deref().unwrap_or(&log.source);
            let tags = ddtags(&self.tags, log);
            let metas = [("ddsource", source), ("ddtags", tags.as_ref())];
            let metas = if tags.is_empty() { &metas[..1] } else { &metas[..] };
            body.extend_from_slice(self.config.api_key.expose().as_bytes());
            body.push(b' ');
            // Straight into the body, the `metas` element first, with no copy of the
            // message or its structured data.
            let start = body.len();
            nocwatch_syslog::format_rfc5424_with_element(&message, Some(("metas", metas)), &mut body);
            // One event, one line: a newline inside the text would start a bogus log.
            for byte in &mut body[start..] {
                if *byte == b'\n' || *byte == b'\r' {
                    *byte = b' ';
                }
            }
            body.push(b'\n');
            count += 1;
            if body.len() >= 1 << 20 {
                break;
            }
        }
        let request = (count > 0).then_some(Request { body, events: count });
        Encoded { request, consumed, failed: 0 }
    }

    fn recycle(&mut self, body: Vec<u8>) {
        self.spare = body;
    }
}

struct TcpService(Connector);

impl Service for TcpService {
    async fn send(&mut self, request: &Request) -> Outcome {
        self.0.send(request).await
    }
}
