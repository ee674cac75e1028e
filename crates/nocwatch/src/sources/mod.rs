//! Sources: where events come from. Each source module has the same shape: a `Config`
//! (deserialized from its `sources.<id>` entry), a `build` that binds what it listens on
//! (so a busy port fails start-up, not later), and the running loop that decodes input
//! with a protocol crate and hands events to its [`SourceOutput`].

pub mod internal_metrics;
pub mod ntp;
pub mod ping;
pub mod snmp;
pub mod snmp_traps;
pub mod syslog;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::component::{Running, component_enum};
use crate::pipeline::SourceOutput;
use crate::telemetry::{ComponentMetrics, Telemetry};

component_enum! {
    /// Every source type, chosen by `type:` in `sources.<id>`.
    pub enum SourceConfig {
        Syslog(syslog::SyslogSourceConfig) = "syslog",
        InternalMetrics(internal_metrics::InternalMetricsConfig) = "internal_metrics",
        Ntp(ntp::NtpSourceConfig) = "ntp",
        Ping(ping::PingSourceConfig) = "ping",
        Snmp(snmp::SnmpSourceConfig) = "snmp",
        SnmpTraps(snmp_traps::SnmpTrapsConfig) = "snmp_traps",
    }
}

/// What a source runs with.
pub struct SourceContext {
    pub id: String,
    pub output: SourceOutput,
    /// Cancelled when the drain period is over: stop receiving and return.
    pub shutdown: CancellationToken,
    /// Set to `true` once listening, `false` when the source can no longer receive. Drives
    /// readiness and the source's TCP health-check port.
    pub healthy: watch::Sender<bool>,
    pub metrics: ComponentMetrics,
    pub telemetry: Arc<Telemetry>,
    /// The agent's host name, for events about nocwatch itself.
    pub hostname: String,
    /// The MIBs of the `mibs` section (empty when none are configured).
    pub mibs: Arc<nocwatch_mib::Mibs>,
    /// `agent.data_dir`: where a source keeps state across restarts (the trap receiver's
    /// snmpEngineBoots).
    pub data_dir: std::path::PathBuf,
}

/// One socket a source listens on, for conflict checks.
pub struct Listen {
    pub address: SocketAddr,
    pub udp: bool,
    /// The config key that sets it.
    pub key: &'static str,
}

impl SourceConfig {
    pub fn listens(&self) -> Vec<Listen> {
        match self {
            SourceConfig::Syslog(config) => config.listens(),
            SourceConfig::InternalMetrics(_) => Vec::new(),
            SourceConfig::Ntp(config) => config.listens(),
            SourceConfig::Ping(_) => Vec::new(),
            SourceConfig::Snmp(_) => Vec::new(),
            SourceConfig::SnmpTraps(config) => config.listens(),
        }
    }

    /// The TCP port that answers for this (UDP) source's health, if configured.
    pub fn health_check(&self) -> Option<SocketAddr> {
        match self {
            SourceConfig::Syslog(config) => config.health_check,
            SourceConfig::InternalMetrics(_) => None,
            SourceConfig::Ntp(config) => config.health_check,
            SourceConfig::Ping(_) => None,
            SourceConfig::Snmp(_) => None,
            SourceConfig::SnmpTraps(config) => config.health_check,
        }
    }

    /// Checks what the config file cannot express (combinations, PEM contents), so that
    /// `check-config` catches all that `run` would refuse.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            SourceConfig::Syslog(config) => config.validate(),
            SourceConfig::InternalMetrics(config) => config.validate(),
            SourceConfig::Ntp(config) => config.validate(),
            SourceConfig::Ping(config) => config.validate(),
            SourceConfig::Snmp(config) => config.validate(),
            SourceConfig::SnmpTraps(config) => config.validate(),
        }
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        match self {
            SourceConfig::Syslog(config) => config.build(ctx).await,
            SourceConfig::InternalMetrics(config) => config.build(ctx).await,
            SourceConfig::Ntp(config) => config.build(ctx).await,
            SourceConfig::Ping(config) => config.build(ctx).await,
            SourceConfig::Snmp(config) => config.build(ctx).await,
            SourceConfig::SnmpTraps(config) => config.build(ctx).await,
        }
    }
}
