//! The syslog source: receives syslog from devices over UDP (RFC 5426), TCP (RFC 6587)
//! or TLS (RFC 5425) and turns each message into a log event. The listeners live here;
//! framing and parsing live in the sans-IO `nocwatch-syslog` crate; [`event`] maps a
//! parsed message to the event model.

pub mod event;
mod tcp;
mod udp;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::{Listen, SourceContext};
use crate::component::Running;
use crate::config::{ByteSize, Duration};
use crate::net::tls::TlsServerConfig;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSourceConfig {
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Where to listen, e.g. `0.0.0.0:514`.
    pub address: SocketAddr,
    /// A TCP address that accepts connections while this source is healthy, for load
    /// balancers that can only health-check UDP services over TCP.
    #[serde(default)]
    pub health_check: Option<SocketAddr>,
    /// Longer messages are truncated to this and flagged `truncated`, never dropped.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// UDP: kernel receive buffer asked for each socket (bursts wait here).
    #[serde(default = "default_receive_buffer")]
    pub receive_buffer: ByteSize,
    /// UDP: sockets sharing the port (`SO_REUSEPORT`), each read by its own thread.
    /// Default: one per CPU.
    #[serde(default)]
    pub receivers: Option<usize>,
    /// UDP: datagrams read but not yet parsed, at most this many bytes (shared by the
    /// receivers): where a burst faster than parsing waits.
    #[serde(default = "default_receive_queue")]
    pub receive_queue: ByteSize,
    /// TCP/TLS: connections beyond this are closed at once and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// TCP/TLS: close a connection silent this long. Default: never (keepalive still
    /// detects vanished peers).
    #[serde(default)]
    pub idle_timeout: Option<Duration>,
    /// TLS: certificate, key and optional client CA.
    #[serde(default)]
    pub tls: Option<TlsServerConfig>,
    /// Device names by sender address; a name here wins over the message's hostname.
    #[serde(default)]
    pub hosts: BTreeMap<IpAddr, String>,
    /// UTC offset of timestamps that carry no zone (`+09:00`). Default: UTC.
    #[serde(default)]
    pub utc_offset: Option<String>,
}

fn default_mode() -> Mode {
    Mode::Udp
}

fn default_max_message_size() -> ByteSize {
    ByteSize::kib(64)
}

fn default_receive_buffer() -> ByteSize {
    ByteSize::mib(8)
}

fn default_receive_queue() -> ByteSize {
    ByteSize::mib(32)
}

fn default_max_connections() -> usize {
    1024
}

impl SyslogSourceConfig {
    pub fn listens(&self) -> Vec<Listen> {
        let mut listens = vec![Listen { address: self.address, udp: self.mode == Mode::Udp, key: "address" }];
        if let Some(address) = self.health_check {
            listens.push(Listen { address, udp: false, key: "health_check" });
        }
        listens
    }

    pub fn validate(&self) -> Result<(), String> {
        event::EventMapper::new(self.hosts.clone(), self.utc_offset.as_deref()).map_err(|e| format!("{e:#}"))?;
        if self.max_connections == 0 || self.receivers == Some(0) || self.receive_queue.as_usize() == 0 {
            return Err("max_connections, receivers and receive_queue must be at least 1".to_owned());
        }
        self.tls_acceptor().map(drop).map_err(|e| format!("{e:#}"))
    }

    fn tls_acceptor(&self) -> anyhow::Result<Option<TlsAcceptor>> {
        match (self.mode, &self.tls) {
            (Mode::Tls, Some(tls)) => Ok(Some(tls.acceptor()?)),
            (Mode::Tls, None) => bail!("mode `tls` needs a `tls` section (cert, key)"),
            (_, Some(_)) => bail!("`tls` is only for mode `tls`"),
            (_, None) => Ok(None),
        }
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        let mapper = event::EventMapper::new(self.hosts.clone(), self.utc_offset.as_deref())?;
        let tls = self.tls_acceptor()?;
        match self.mode {
            Mode::Udp => udp::build(self, mapper, ctx).await,
            Mode::Tcp | Mode::Tls => tcp::build(self, tls, mapper, ctx).await,
        }
    }
}
