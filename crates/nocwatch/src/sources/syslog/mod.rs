//! The syslog source: receives syslog from devices and turns each message into a log
//! event. Listeners live here (`udp`); framing and parsing live in the sans-IO
//! `nocwatch-syslog` crate; `event` maps a parsed message to the event model.

mod event;
mod udp;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{Listen, SourceContext};
use crate::component::Running;
use crate::config::ByteSize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Udp,
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
    /// Kernel receive buffer asked for the UDP socket (bursts wait here).
    #[serde(default = "default_receive_buffer")]
    pub receive_buffer: ByteSize,
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

impl SyslogSourceConfig {
    pub fn listens(&self) -> Vec<Listen> {
        let mut listens = vec![Listen { address: self.address, udp: self.mode == Mode::Udp, key: "address" }];
        if let Some(address) = self.health_check {
            listens.push(Listen { address, udp: false, key: "health_check" });
        }
        listens
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        match self.mode {
            Mode::Udp => udp::build(self, ctx).await,
        }
    }
}
