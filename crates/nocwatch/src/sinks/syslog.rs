//! The syslog forwarding sink: log events as RFC 5424 (or RFC 3164) lines to another
//! syslog server over UDP, TCP (RFC 6587 octet counting, or newline framing) or TLS
//! (RFC 5425), for users who keep a central rsyslog or syslog-ng.
//!
//! TCP and TLS use the shared connector (idle close on our terms, server-close check
//! before each write, reconnect and retry); see `sinks::util::tcp` for the guarantee.

use std::net::SocketAddr;

use anyhow::Context as _;
use jiff::tz::Offset;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;

use crate::component::Running;
use crate::event::{Event, LogEvent};
use crate::net::tls::TlsClientConfig;
use crate::sinks::SinkContext;
use crate::sinks::encoding::to_syslog;
use crate::sinks::util::request::{self, BatchConfig, Encoded, Encoder, Outcome, Request, Service};
use crate::sinks::util::retry::RetryConfig;
use crate::sinks::util::tcp::{ConnectionConfig, Connector};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Udp,
    #[default]
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Rfc5424,
    Rfc3164,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// `<length> <message>` (RFC 6587 §3.4.1): any byte may appear in a message.
    #[default]
    OctetCounting,
    /// `<message>\n`: what older receivers expect; newlines inside are replaced.
    Newline,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// `host:port` of the receiving server.
    pub address: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub format: Format,
    /// TCP/TLS only.
    #[serde(default)]
    pub framing: Framing,
    #[serde(default)]
    pub tls: TlsClientConfig,
    #[serde(default)]
    pub connection: ConnectionConfig,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub retry: RetryConfig,
}

impl SyslogSinkConfig {
    pub fn validate(&self) -> Result<(), String> {
        let (host, _) = self.target().map_err(|e| format!("{e:#}"))?;
        if self.mode == Mode::Tls {
            self.tls.validate(&host)?;
        }
        Ok(())
    }

    fn target(&self) -> anyhow::Result<(String, u16)> {
        let (host, port) = self.address.rsplit_once(':').context("address must be `host:port`")?;
        Ok((host.trim_matches(['[', ']']).to_owned(), port.parse().context("address port")?))
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        let (host, port) = self.target()?;
        let encoder = LineEncoder::new(self);
        let (batch, retry) = (self.batch.clone(), self.retry.clone());
        match self.mode {
            Mode::Udp => {
                let target = tokio::net::lookup_host((host.as_str(), port))
                    .await?
                    .next()
                    .with_context(|| format!("{host} has no address"))?;
                let bind: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
                let socket = UdpSocket::bind(bind).await?;
                socket.connect(target).await?;
                Ok(Box::pin(request::run(ctx, encoder, UdpService(socket), batch, retry)))
            }
            Mode::Tcp | Mode::Tls => {
                let tls = (self.mode == Mode::Tls).then_some(&self.tls);
                let connector = Connector::new(&host, port, tls, self.connection.clone())?;
                Ok(Box::pin(request::run(ctx, encoder, TcpService(connector), batch, retry)))
            }
        }
    }
}

/// Log events as framed syslog lines (one per datagram for UDP), formatted straight into
/// the request body (newline framing, UDP) or through one reused line buffer (octet
/// counting, whose length prefix comes first): no allocation per line.
pub struct LineEncoder {
    format: Format,
    /// `None` for UDP: one message per datagram, no framing.
    framing: Option<Framing>,
    /// The last request's body, to encode the next one into.
    spare: Vec<u8>,
    line: Vec<u8>,
}

/// Bytes of lines per TCP/TLS write.
const MAX_WRITE: usize = 256 * 1024;

impl LineEncoder {
    pub fn new(config: &SyslogSinkConfig) -> Self {
        LineEncoder {
            format: config.format,
            framing: (config.mode != Mode::Udp).then_some(config.framing),
            spare: Vec::new(),
            line: Vec::with_capacity(1024),
        }
    }

    fn format(&self, log: &LogEvent, out: &mut Vec<u8>) {
        let message = to_syslog(log);
        match self.format {
            Format::Rfc5424 => nocwatch_syslog::format_rfc5424(&message, out),
            Format::Rfc3164 => nocwatch_syslog::format_rfc3164(&message, Offset::UTC, out),
        }
    }
}

/// One line per event: a newline inside would start a bogus message at the receiver.
fn newlines_to_spaces(line: &mut [u8]) {
    // A plain loop over the bytes, which the compiler vectorizes.
    for byte in line {
        if *byte == b'\n' {
            *byte = b' ';
        }
    }
}

impl Encoder for LineEncoder {
    fn encode(&mut self, events: &[Event]) -> Encoded {
        let mut body = std::mem::take(&mut self.spare);
        body.clear();
        let (mut consumed, mut count) = (0, 0);
        let mut line = std::mem::take(&mut self.line);
        for event in events {
            consumed += 1;
            let Event::Log(log) = event else { continue };
            count += 1;
            match self.framing {
                // One datagram per request.
                None => {
                    self.format(log, &mut body);
                    break;
                }
                Some(Framing::OctetCounting) => {
                    line.clear();
                    self.format(log, &mut line);
                    nocwatch_syslog::frame_octet_counted(&line, &mut body);
                }
                Some(Framing::Newline) => {
                    let start = body.len();
                    self.format(log, &mut body);
                    newlines_to_spaces(&mut body[start..]);
                    body.push(b'\n');
                }
            }
            if body.len() >= MAX_WRITE {
                break;
            }
        }
        self.line = line;
        let request = (count > 0).then_some(Request { body, events: count });
        Encoded { request, consumed, failed: 0 }
    }

    fn recycle(&mut self, body: Vec<u8>) {
        self.spare = body;
    }
}

/// Linux `EMSGSIZE`: the datagram is larger than the socket can send.
const EMSGSIZE: i32 = 90;

struct UdpService(UdpSocket);

impl Service for UdpService {
    async fn send(&mut self, request: &Request) -> Outcome {
        match self.0.send(&request.body).await {
            Ok(_) => Outcome::Delivered,
            // Larger than a datagram can be: it will never fit (RFC 5426 says truncate;
            // the syslog source's max_message_size keeps such events rare).
            Err(e) if e.raw_os_error() == Some(EMSGSIZE) => {
                Outcome::Reject { reason: format!("message of {} bytes is too large for UDP", request.body.len()) }
            }
            // Connection refused from an earlier datagram (ICMP) and the like: try again.
            Err(e) => Outcome::Retry { reason: format!("UDP send failed: {e}"), after: None },
        }
    }
}

struct TcpService(Connector);

impl Service for TcpService {
    async fn send(&mut self, request: &Request) -> Outcome {
        self.0.send(request).await
    }
}
