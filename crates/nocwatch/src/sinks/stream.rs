//! The delivery loop of sinks that write encoded events to a byte stream (stdout, files):
//! take a batch from the queue, encode it, write it in one call, count the outcome.

use std::future::Future;
use std::io;

use super::SinkContext;
use super::encoding::JsonLines;
use crate::telemetry::{DropReason, RateLimit};

/// A destination for encoded batches. A batch is written whole or reported failed.
pub trait ByteSink: Send {
    fn write_batch(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Makes everything written durable or visible (flush, fsync) before exit.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

pub async fn run<S: ByteSink>(mut ctx: SinkContext, mut sink: S) -> anyhow::Result<()> {
    static WRITE_ERRORS: RateLimit = RateLimit::new(std::time::Duration::from_secs(10));
    static ENCODE_ERRORS: RateLimit = RateLimit::new(std::time::Duration::from_secs(10));
    let encoder = JsonLines;
    let mut buf = Vec::with_capacity(64 * 1024);
    ctx.metrics.set_state(crate::telemetry::ComponentState::Running);
    while let Some(first) = ctx.input.recv().await {
        buf.clear();
        let mut count = 0u64;
        let mut batches = 0;
        let mut batch = Some(first);
        // Take what is already waiting so one write carries it all.
        while let Some(events) = batch.take() {
            batches += 1;
            for event in &events {
                match encoder.encode(event, &mut buf) {
                    Ok(()) => count += 1,
                    Err(e) => {
                        ctx.metrics.dropped(DropReason::EncodeError, 1);
                        ctx.metrics.error("encode", &e.to_string());
                        if let Some(suppressed) = ENCODE_ERRORS.allow() {
                            tracing::warn!(sink = %ctx.id, error = %e, suppressed, "cannot encode event; dropped");
                        }
                    }
                }
            }
            if buf.len() < 1 << 20 {
                batch = ctx.input.try_recv();
            }
        }
        // A write error is final for a byte stream (there is no one to retry with), so the
        // batch is acknowledged either way: delivered, or dropped and counted.
        let written = sink.write_batch(&buf).await;
        ctx.input.ack(batches);
        match written {
            Ok(()) => ctx.metrics.sent(count),
            Err(e) => {
                ctx.metrics.dropped(DropReason::WriteError, count);
                ctx.metrics.error("write", &e.to_string());
                if let Some(suppressed) = WRITE_ERRORS.allow() {
                    tracing::error!(sink = %ctx.id, error = %e, events = count, suppressed, "write failed; batch dropped");
                }
            }
        }
    }
    sink.close().await?;
    Ok(())
}
