//! The delivery loop of every sink (console, file, Datadog, syslog forwarding, ...):
//!
//! 1. gather events from the buffer until `batch.max_events` or `batch.timeout`;
//! 2. let the sink's encoder cut them into requests within the destination's limits;
//! 3. send each request, retrying what may succeed later with backoff, splitting what the
//!    destination found too large, and counting what it refused for good;
//! 4. acknowledge the gathered buffer batches, so a disk buffer does not send them again.
//!
//! A sink is an [`Encoder`] and a [`Service`]; nothing else is sink-specific. A request's
//! body is bytes for the sinks that send over a network or into a file; a sink that
//! writes into a database in-process (the local store) uses its own body type instead.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::retry::{Backoff, RetryConfig};
use crate::config;
use crate::event::Event;
use crate::sinks::SinkContext;
use crate::telemetry::{ComponentState, DropReason, RateLimit};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Events gathered before a flush (the encoder may cut them into several requests).
    pub max_events: usize,
    /// How long the first event of a batch may wait for more.
    pub timeout: config::Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_events: 1000, timeout: config::Duration::from_secs(1) }
    }
}

/// One request body and how many events it carries.
pub struct Request<B = Vec<u8>> {
    pub body: B,
    pub events: usize,
}

/// Turns events into requests within the destination's limits.
pub trait Encoder<B = Vec<u8>>: Send + 'static {
    /// Encodes a prefix of `events` into one request. Returns the request (None if no
    /// event could be encoded), how many events it consumed, and how many of those could
    /// not be encoded (dropped, counted by the caller).
    fn encode(&mut self, events: &[Event]) -> Encoded<B>;

    /// Takes back the body of a request that is done with, to encode a later one into: a
    /// buffer that already has its size saves growing (and page-faulting) a new one for
    /// every request.
    fn recycle(&mut self, _body: B) {}
}

pub struct Encoded<B = Vec<u8>> {
    pub request: Option<Request<B>>,
    pub consumed: usize,
    pub failed: usize,
}

/// What the destination made of a request.
#[derive(Debug)]
pub enum Outcome {
    Delivered,
    /// May succeed later (network error, 408, 429, 5xx); `after` is a server hint.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Will never succeed (400, 401, 403): dropped and counted.
    Reject {
        reason: String,
    },
    /// Too large (413): sent again in halves.
    TooLarge,
    /// Accepted except `rejected` of its events, which the destination refused for good
    /// (an OTLP partial success): those are dropped and counted, the rest are sent.
    Partial {
        rejected: usize,
        reason: String,
    },
}

pub trait Service<B = Vec<u8>>: Send + 'static {
    fn send(&mut self, request: &Request<B>) -> impl Future<Output = Outcome> + Send;

    /// Called once the input has ended: make what was sent durable or visible.
    fn close(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send {
        async { Ok(()) }
    }
}

pub async fn run<B: Sync, E: Encoder<B>, S: Service<B>>(
    mut ctx: SinkContext,
    mut encoder: E,
    mut service: S,
    batch: BatchConfig,
    retry: RetryConfig,
) -> anyhow::Result<()> {
    ctx.metrics.set_state(ComponentState::Running);
    let mut backoff = Backoff::new(&retry);
    let mut events: Vec<Event> = Vec::with_capacity(batch.max_events);
    loop {
        let Some(first) = ctx.input.recv().await else { break };
        let mut batches = 1;
        events.extend(first);
        let deadline = tokio::time::Instant::now() + batch.timeout.get();
        while events.len() < batch.max_events {
            match tokio::time::timeout_at(deadline, ctx.input.recv()).await {
                Ok(Some(more)) => {
                    batches += 1;
                    events.extend(more);
                }
                Ok(None) | Err(_) => break,
            }
        }
        ctx.metrics.set_in_flight(events.len());
        deliver(&ctx, &mut encoder, &mut service, &mut backoff, &events).await;
        ctx.metrics.set_in_flight(0);
        ctx.input.ack(batches);
        events.clear();
    }
    service.close().await
}

async fn deliver<B: Sync, E: Encoder<B>, S: Service<B>>(
    ctx: &SinkContext,
    encoder: &mut E,
    service: &mut S,
    backoff: &mut Backoff,
    events: &[Event],
) {
    static REJECTED: RateLimit = RateLimit::new(Duration::from_secs(60));
    static RETRYING: RateLimit = RateLimit::new(Duration::from_secs(10));
    // Work list of slices still to send; a 413 pushes the two halves back.
    let mut pending: Vec<&[Event]> = vec![events];
    while let Some(mut slice) = pending.pop() {
        while !slice.is_empty() {
            let encoded = encoder.encode(slice);
            let consumed = encoded.consumed.clamp(1, slice.len());
            if encoded.failed > 0 {
                ctx.metrics.dropped(DropReason::EncodeError, encoded.failed as u64);
            }
            let Some(request) = encoded.request else {
                slice = &slice[consumed..];
                continue;
            };
            let outcome = loop {
                match service.send(&request).await {
                    Outcome::Retry { reason, after } => {
                        ctx.metrics.retried();
                        ctx.metrics.error("retry", &reason);
                        let delay = after.unwrap_or_else(|| backoff.next_delay());
                        if let Some(suppressed) = RETRYING.allow() {
                            tracing::warn!(sink = %ctx.id, %reason, retry_in = ?delay, suppressed, "delivery failed; retrying");
                        }
                        tokio::time::sleep(delay).await;
                    }
                    other => break other,
                }
            };
            backoff.reset();
            let events = request.events;
            encoder.recycle(request.body);
            match outcome {
                Outcome::Delivered => ctx.metrics.sent(events as u64),
                Outcome::Reject { reason } => {
                    ctx.metrics.dropped(DropReason::WriteError, events as u64);
                    ctx.metrics.error("rejected", &reason);
                    if let Some(suppressed) = REJECTED.allow() {
                        tracing::error!(sink = %ctx.id, %reason, events, suppressed, "destination refused the request; events dropped");
                    }
                }
                Outcome::Partial { rejected, reason } => {
                    let rejected = rejected.min(events);
                    ctx.metrics.sent((events - rejected) as u64);
                    ctx.metrics.dropped(DropReason::WriteError, rejected as u64);
                    ctx.metrics.error("partially_rejected", &reason);
                    if let Some(suppressed) = REJECTED.allow() {
                        tracing::error!(sink = %ctx.id, %reason, events, rejected, suppressed, "destination refused part of the request; those events dropped");
                    }
                }
                Outcome::TooLarge if consumed > 1 => {
                    let (head, tail) = slice[..consumed].split_at(consumed / 2);
                    pending.push(&slice[consumed..]);
                    pending.push(tail);
                    pending.push(head);
                    break;
                }
                Outcome::TooLarge => {
                    ctx.metrics.dropped(DropReason::WriteError, 1);
                    ctx.metrics.error("too_large", "a single event is larger than the destination accepts");
                }
                Outcome::Retry { .. } => {}
            }
            slice = &slice[consumed..];
        }
    }
}
