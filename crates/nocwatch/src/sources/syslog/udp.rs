//! Syslog over UDP (RFC 5426): one datagram, one message.

use std::io;

use anyhow::Context as _;
use tokio::net::UdpSocket;

use super::SyslogSourceConfig;
use super::event::to_event;
use crate::component::Running;
use crate::event::Event;
use crate::sources::SourceContext;
use crate::sources::net::bind_udp;
use crate::telemetry::RateLimit;

/// Datagrams read per wakeup before the batch is handed on: amortises the queue operation
/// without holding events back (the loop stops early when the socket is empty).
const MAX_BATCH: usize = 256;

pub async fn build(config: &SyslogSourceConfig, ctx: SourceContext) -> anyhow::Result<Running> {
    let (socket, granted) = bind_udp(config.address, config.receive_buffer.as_usize())
        .with_context(|| format!("cannot listen on udp://{}", config.address))?;
    tracing::info!(source = %ctx.id, address = %config.address, receive_buffer = granted, "syslog listening on UDP");
    let max_message = config.max_message_size.as_usize();
    Ok(Box::pin(run(socket, max_message, ctx)))
}

async fn run(socket: UdpSocket, max_message: usize, ctx: SourceContext) -> anyhow::Result<()> {
    static RECV_ERRORS: RateLimit = RateLimit::new(std::time::Duration::from_secs(10));
    // One byte more than allowed, to see that a datagram was longer.
    let mut buf = vec![0u8; max_message + 1];
    let _ = ctx.healthy.send(true);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            ready = socket.readable() => {
                if let Err(e) = ready {
                    ctx.metrics.error("receive", &e.to_string());
                    continue;
                }
            }
        }
        let mut batch: Vec<Event> = Vec::new();
        while batch.len() < MAX_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((len, peer)) => {
                    let truncated = len > max_message;
                    let bytes = &buf[..len.min(max_message)];
                    batch.push(Event::Log(to_event(bytes, peer, truncated)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    ctx.metrics.error("receive", &e.to_string());
                    if let Some(suppressed) = RECV_ERRORS.allow() {
                        tracing::warn!(source = %ctx.id, error = %e, suppressed, "UDP receive failed");
                    }
                    break;
                }
            }
        }
        ctx.output.send(batch).await;
    }
    let _ = ctx.healthy.send(false);
    Ok(())
}
