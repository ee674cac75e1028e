//! The console sink: every event as a JSON line on standard output. Nocwatch's own logs go
//! to standard error, so stdout carries events only.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, Stdout};

use super::SinkContext;
use super::stream::{self, ByteSink};
use crate::component::Running;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {}

impl ConsoleSinkConfig {
    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        Ok(Box::pin(stream::run(ctx, Console(tokio::io::stdout()))))
    }
}

struct Console(Stdout);

impl ByteSink for Console {
    async fn write_batch(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes).await?;
        self.0.flush().await
    }

    async fn close(&mut self) -> std::io::Result<()> {
        self.0.flush().await
    }
}
