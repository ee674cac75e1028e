//! Sinks: where events go. Each sink module has the same shape: a `Config` (its
//! `sinks.<id>` entry, minus the `inputs` and `buffer` every sink has), an encoder from the
//! event model to the destination's format, and a service that delivers encoded batches.
//! The HTTP sinks share their service and their HTTP keys ([`util::http`]): each says only
//! how a request is addressed (its `Destination`).
//! Queueing (the `buffer`) is the pipeline's; batching, retries and acknowledgements are
//! [`util::request`]'s, shared by every sink.

pub mod console;
pub mod datadog;
pub mod encoding;
pub mod file;
pub mod local_store;
pub mod otlp;
pub mod prometheus;
pub mod syslog;
pub mod util;

use crate::component::{Running, component_enum};
use crate::event::Accepts;
use crate::pipeline::BufferReceiver;
use crate::telemetry::ComponentMetrics;

component_enum! {
    /// Every sink type, chosen by `type:` in `sinks.<id>`.
    pub enum SinkConfig {
        Console(console::ConsoleSinkConfig) = "console",
        File(file::FileSinkConfig) = "file",
        LocalStore(local_store::LocalStoreConfig) = "local_store",
        DatadogLogs(datadog::logs::DatadogLogsConfig) = "datadog_logs",
        DatadogMetrics(datadog::metrics::DatadogMetricsConfig) = "datadog_metrics",
        Otlp(otlp::OtlpSinkConfig) = "otlp",
        Prometheus(prometheus::PrometheusSinkConfig) = "prometheus",
        Syslog(syslog::SyslogSinkConfig) = "syslog",
    }
}

/// What a sink runs with.
pub struct SinkContext {
    pub id: String,
    /// The agent's host name (for sinks that label data with it).
    pub hostname: String,
    pub input: BufferReceiver,
    pub metrics: ComponentMetrics,
    /// `agent.data_dir`: where a sink keeps files of its own (the local store).
    pub data_dir: std::path::PathBuf,
    /// Every component's counters (the local store's page shows them).
    pub telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
}

impl SinkConfig {
    pub fn accepts(&self) -> Accepts {
        match self {
            SinkConfig::Console(_) | SinkConfig::File(_) | SinkConfig::LocalStore(_) => Accepts::ALL,
            SinkConfig::Otlp(_) => Accepts::METRICS_AND_LOGS,
            SinkConfig::DatadogLogs(_) | SinkConfig::Syslog(_) => Accepts::LOGS,
            SinkConfig::DatadogMetrics(_) | SinkConfig::Prometheus(_) => Accepts::METRICS,
        }
    }

    /// Checks what the config file cannot express, so `check-config` catches all that
    /// `run` would refuse.
    pub fn validate(&self) -> Result<(), crate::config::Invalid> {
        match self {
            SinkConfig::Console(_) => Ok(()),
            SinkConfig::File(config) => Ok(config.validate()?),
            SinkConfig::LocalStore(config) => Ok(config.validate()?),
            SinkConfig::DatadogLogs(config) => config.validate(),
            SinkConfig::DatadogMetrics(config) => config.validate(),
            SinkConfig::Otlp(config) => config.validate(),
            SinkConfig::Prometheus(config) => Ok(config.validate()?),
            SinkConfig::Syslog(config) => Ok(config.validate()?),
        }
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        match self {
            SinkConfig::Console(config) => config.build(ctx).await,
            SinkConfig::File(config) => config.build(ctx).await,
            SinkConfig::LocalStore(config) => config.build(ctx).await,
            SinkConfig::DatadogLogs(config) => config.build(ctx).await,
            SinkConfig::DatadogMetrics(config) => config.build(ctx).await,
            SinkConfig::Otlp(config) => config.build(ctx).await,
            SinkConfig::Prometheus(config) => config.build(ctx).await,
            SinkConfig::Syslog(config) => config.build(ctx).await,
        }
    }
}
