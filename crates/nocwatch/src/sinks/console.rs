//! The console sink: every event as a JSON line on standard output. Nocwatch's own logs go
//! to standard error, so stdout carries events only.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, Stdout};

use super::SinkContext;
use super::encoding::JsonLines;
use super::util::request::{self, BatchConfig, Outcome, Request, Service};
use super::util::retry::RetryConfig;
use crate::component::Running;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {}

impl ConsoleSinkConfig {
    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        Ok(Box::pin(request::run(
            ctx,
            JsonLines::default(),
            Console(tokio::io::stdout()),
            immediate(),
            RetryConfig::default(),
        )))
    }
}

/// Local writers take what is waiting and write it at once.
pub(super) fn immediate() -> BatchConfig {
    BatchConfig { max_events: 10_000, timeout: crate::config::Duration::from_millis(0) }
}

struct Console(Stdout);

impl Service for Console {
    async fn send(&mut self, request: &Request) -> Outcome {
        let written = async {
            self.0.write_all(&request.body).await?;
            self.0.flush().await
        };
        match written.await {
            Ok(()) => Outcome::Delivered,
            // A closed stdout does not come back.
            Err(e) => Outcome::Reject { reason: format!("stdout: {e}") },
        }
    }

    async fn close(&mut self) -> anyhow::Result<()> {
        Ok(self.0.flush().await?)
    }
}
