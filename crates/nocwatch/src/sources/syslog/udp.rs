//! Syslog over UDP (RFC 5426): one datagram, one message. Several sockets share the port
//! (`SO_REUSEPORT`), each read by its own task, so a 2-core machine reads in parallel; one
//! device always lands on the same socket, so its messages keep their order.

use std::io;
use std::sync::Arc;

use anyhow::Context as _;
use prometheus_client::metrics::counter::Counter;
use tokio::net::UdpSocket;

use super::SyslogSourceConfig;
use super::event::{EventMapper, Peer};
use crate::component::Running;
use crate::event::Event;
use crate::net::bind_udp;
use crate::pipeline::SourceOutput;
use crate::sources::SourceContext;
use crate::telemetry::{ComponentMetrics, RateLimit};

/// Datagrams read per wakeup before the batch is handed on: amortises the queue operation
/// without holding events back (the loop stops early when the socket is empty).
const MAX_BATCH: usize = 256;

/// A wake-up that found fewer datagrams than this is followed by a pause of [`COALESCE`]
/// before the socket is looked at again, so that at low rates one wake-up (and one
/// hand-over to the sinks) carries several datagrams instead of one: at 10,000 lines/s,
/// waking up per datagram cost three times the CPU per line of a bulk load (thread
/// switches, BENCHMARKS.md issue 3). The datagrams wait in the socket buffer meanwhile
/// (a millisecond of even 100 MB/s is 100 KB, the buffer is megabytes); under load the
/// batches fill and the receiver never pauses.
const FEW: usize = MAX_BATCH / 8;
const COALESCE: std::time::Duration = std::time::Duration::from_millis(1);

pub async fn build(config: &SyslogSourceConfig, mapper: EventMapper, ctx: SourceContext) -> anyhow::Result<Running> {
    let receivers =
        config.receivers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let (sockets, granted) = bind_udp(config.address, config.receive_buffer.as_usize(), receivers)
        .with_context(|| format!("cannot listen on udp://{}", config.address))?;
    tracing::info!(source = %ctx.id, address = %config.address, receivers, receive_buffer = granted, "syslog listening on UDP");
    // Linux reports twice the size set (the other half is bookkeeping).
    if granted / 2 < config.receive_buffer.as_usize() {
        tracing::warn!(
            source = %ctx.id,
            asked = config.receive_buffer.as_usize(),
            granted = granted / 2,
            "UDP receive buffer smaller than configured: bursts may be dropped by the kernel; \
             raise net.core.rmem_max or run with CAP_NET_ADMIN"
        );
    }
    let max_message = config.max_message_size.as_usize();
    let mut kernel_drops = crate::net::KernelDrops::default();
    for socket in &sockets {
        kernel_drops.watch(socket)?;
    }
    let receive_buffer_full = ctx.metrics.error_counter("receive_buffer_full");
    Ok(Box::pin(async move {
        let shared = Arc::new(Shared {
            mapper,
            output: ctx.output,
            parse_errors: ctx.metrics.error_counter("parse_error"),
            truncated: ctx.metrics.error_counter("truncated"),
            metrics: ctx.metrics,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for socket in sockets {
            tasks.spawn(receive(socket, max_message, shared.clone(), ctx.shutdown.clone()));
        }
        let _ = ctx.healthy.send(true);
        let mut drops_check = tokio::time::interval(crate::net::KERNEL_DROPS_CHECK);
        loop {
            tokio::select! {
                joined = tasks.join_next() => if joined.is_none() { break },
                _ = drops_check.tick() => { receive_buffer_full.inc_by(kernel_drops.take_new()); }
            }
        }
        receive_buffer_full.inc_by(kernel_drops.take_new());
        let _ = ctx.healthy.send(false);
        Ok(())
    }))
}

struct Shared {
    mapper: EventMapper,
    output: SourceOutput,
    metrics: ComponentMetrics,
    parse_errors: Counter,
    truncated: Counter,
}

async fn receive(
    socket: UdpSocket,
    max_message: usize,
    shared: Arc<Shared>,
    stop: tokio_util::sync::CancellationToken,
) {
    static RECV_ERRORS: RateLimit = RateLimit::new(std::time::Duration::from_secs(10));
    // One byte more than allowed, to see that a datagram was longer.
    let mut buf = vec![0u8; max_message + 1];
    // The last sender, formatted once: a busy device sends runs of datagrams.
    let mut last_peer: Option<Peer> = None;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            ready = socket.readable() => {
                if let Err(e) = ready {
                    shared.metrics.error("receive", &e.to_string());
                    continue;
                }
            }
        }
        let ctx = shared.mapper.context();
        let mut batch: Vec<Event> = Vec::new();
        while batch.len() < MAX_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((len, peer)) => {
                    let truncated = len > max_message;
                    if truncated {
                        shared.truncated.inc();
                    }
                    let peer = match last_peer.take() {
                        Some(last) if last.ip() == peer.ip().to_canonical() => last,
                        _ => Peer::new(peer),
                    };
                    let event = shared.mapper.to_event_from(&buf[..len.min(max_message)], &peer, truncated, &ctx);
                    last_peer = Some(peer);
                    if event.attributes.get(&["parse_error"]).is_some() {
                        shared.parse_errors.inc();
                    }
                    batch.push(Event::Log(event));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    shared.metrics.error_counter("receive").inc();
                    if let Some(suppressed) = RECV_ERRORS.allow() {
                        tracing::warn!(error = %e, suppressed, "UDP receive failed");
                    }
                    break;
                }
            }
        }
        let few = batch.len() < FEW;
        shared.output.send(batch).await;
        if few {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(COALESCE) => {}
            }
        }
    }
}
