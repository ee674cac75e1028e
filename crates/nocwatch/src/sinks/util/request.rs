//! The delivery loop of every sink (console, file, Datadog, OTLP, syslog forwarding, ...):
//!
//! 1. gather events from the buffer until `batch.max_events` or `batch.timeout` (a
//!    *flush*, made of one or more buffer batches);
//! 2. let the sink's encoder cut the flush into requests within the destination's limits;
//! 3. send each request, retrying what may succeed later with backoff (each request its
//!    own backoff), splitting what the destination found too large, and counting what it
//!    refused for good;
//! 4. acknowledge the buffer batches of a flush once every request of it is done **and
//!    every earlier flush is acknowledged**, so a disk buffer only moves past a contiguous
//!    delivered prefix and a crash replays exactly the unacknowledged suffix.
//!
//! Up to `request.concurrency` requests are in flight at once ([`run_concurrent`], the
//! HTTP sinks: an intake's round trip no longer caps the rate at one batch per round
//! trip). A stream sink (TCP, TLS, a file, stdout) has one ordered stream and sends one
//! request at a time ([`run`]). Both are the same loop: a pool of service instances, one
//! per request in flight. Gathering stops while `concurrency` flushes are unacknowledged,
//! so a request that keeps failing holds back at most that many flushes in memory.
//!
//! A sink is an [`Encoder`] and a [`Service`]; nothing else is sink-specific. A request's
//! body is bytes for the sinks that send over a network or into a file; a sink that
//! writes into a database in-process (the local store) uses its own body type instead.

use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use super::retry::{Backoff, RetryConfig};
use crate::config;
use crate::event::Event;
use crate::sinks::SinkContext;
use crate::telemetry::{ComponentMetrics, ComponentState, DropReason, RateLimit};

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

/// How an HTTP sink sends requests (`request:` in its config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestConfig {
    /// Requests in flight at once. The buffer is still acknowledged in order, so a crash
    /// replays at most this many unacknowledged requests' events (duplicates, never loss).
    pub concurrency: NonZeroUsize,
}

/// The Datadog Agent's logs sender scales to 10 concurrent sends per pipeline (and uses
/// 10 for its high-volume DBM pipeline): enough to hide an intake's round trip at
/// hundreds of thousands of events per second, few enough to stay polite to the intake.
pub const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(9);

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig { concurrency: DEFAULT_CONCURRENCY }
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

/// Delivers with one request at a time, in order: for sinks that write one stream (TCP,
/// TLS, UDP, a file, stdout, the local store).
pub async fn run<B: Send + Sync + 'static, E: Encoder<B>, S: Service<B>>(
    ctx: SinkContext,
    encoder: E,
    service: S,
    batch: BatchConfig,
    retry: RetryConfig,
) -> anyhow::Result<()> {
    drive(ctx, encoder, vec![service], batch, retry).await
}

/// Delivers with up to `request.concurrency` requests in flight, each on its own clone of
/// `service` (an HTTP client's clones share one connection pool).
pub async fn run_concurrent<B: Send + Sync + 'static, E: Encoder<B>, S: Service<B> + Clone>(
    ctx: SinkContext,
    encoder: E,
    service: S,
    request: RequestConfig,
    batch: BatchConfig,
    retry: RetryConfig,
) -> anyhow::Result<()> {
    let services = vec![service; request.concurrency.get()];
    drive(ctx, encoder, services, batch, retry).await
}

/// Events taken from the buffer together, and what is left to do for them.
struct Flush {
    events: Vec<Event>,
    /// Buffer batches these events came in: what to acknowledge once they are delivered.
    batches: usize,
    /// Ranges of `events` still to encode; the next one last (a 413 pushes halves back).
    todo: Vec<Range<usize>>,
    /// Requests of this flush sent and not answered yet.
    in_flight: usize,
}

impl Flush {
    fn done(&self) -> bool {
        self.todo.is_empty() && self.in_flight == 0
    }
}

/// A flush being gathered.
struct Gathering {
    events: Vec<Event>,
    batches: usize,
    deadline: tokio::time::Instant,
}

/// What a request in flight comes back with: its service (back to the pool), the request
/// (its body back to the encoder), which events it carried, and the final outcome.
struct Answer<S, B> {
    service: S,
    request: Request<B>,
    flush: u64,
    range: Range<usize>,
    outcome: Outcome,
}

type InFlight<S, B> = FuturesUnordered<Pin<Box<dyn Future<Output = Answer<S, B>> + Send>>>;

/// The one delivery loop; `services` is the pool, its size the concurrency.
async fn drive<B: Send + Sync + 'static, E: Encoder<B>, S: Service<B>>(
    mut ctx: SinkContext,
    mut encoder: E,
    mut services: Vec<S>,
    batch: BatchConfig,
    retry: RetryConfig,
) -> anyhow::Result<()> {
    ctx.metrics.set_state(ComponentState::Running);
    let concurrency = services.len().max(1);
    let id: Arc<str> = ctx.id.as_str().into();
    // Unacknowledged flushes, oldest first; the front one has number `first`.
    let mut flushes: VecDeque<Flush> = VecDeque::with_capacity(concurrency);
    let mut first: u64 = 0;
    let mut in_flight: InFlight<S, B> = FuturesUnordered::new();
    let mut gathering: Option<Gathering> = None;
    let mut spare_vecs: Vec<Vec<Event>> = Vec::new();
    let mut input_done = false;
    loop {
        // Start what the pool has room for, oldest flush first.
        while !services.is_empty() {
            let Some((index, range)) =
                flushes.iter_mut().enumerate().find_map(|(i, f)| f.todo.pop().map(|range| (i, range)))
            else {
                break;
            };
            let flush = &mut flushes[index];
            let encoded = encoder.encode(&flush.events[range.clone()]);
            let consumed = encoded.consumed.clamp(1, range.len());
            if consumed < range.len() {
                flush.todo.push(range.start + consumed..range.end);
            }
            if encoded.failed > 0 {
                ctx.metrics.dropped(DropReason::EncodeError, encoded.failed as u64);
            }
            let Some(request) = encoded.request else { continue };
            let Some(service) = services.pop() else { break };
            flush.in_flight += 1;
            let number = first + index as u64;
            let range = range.start..range.start + consumed;
            in_flight.push(Box::pin(attempt(
                service,
                request,
                number,
                range,
                ctx.metrics.clone(),
                id.clone(),
                retry.clone(),
            )));
        }
        // Acknowledge the delivered prefix, in order.
        while flushes.front().is_some_and(Flush::done) {
            let Some(mut flush) = flushes.pop_front() else { break };
            first += 1;
            ctx.input.ack(flush.batches);
            if spare_vecs.len() < concurrency {
                flush.events.clear();
                spare_vecs.push(flush.events);
            }
        }
        // Taken from the buffer and not confirmed: what a memory buffer loses if the sink
        // is stopped now (counted at shutdown), including a flush still being gathered.
        let gathered = gathering.as_ref().map_or(0, |g| g.events.len());
        ctx.metrics.set_in_flight(gathered + flushes.iter().map(|f| f.events.len()).sum::<usize>());
        if input_done && gathering.is_none() && flushes.is_empty() {
            break;
        }

        let can_gather = !input_done && flushes.len() < concurrency;
        let deadline = gathering.as_ref().map(|g| g.deadline);
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            biased;
            Some(answer) = in_flight.next(), if !in_flight.is_empty() => {
                let Answer { service, request, flush: number, range, outcome } = answer;
                services.push(service);
                let events = request.events;
                encoder.recycle(request.body);
                let index = usize::try_from(number - first).unwrap_or(usize::MAX);
                if let Some(flush) = flushes.get_mut(index) {
                    flush.in_flight -= 1;
                    if let Some(halves) = account(&ctx.metrics, &id, outcome, events, range) {
                        flush.todo.extend(halves);
                    }
                }
            }
            batch_in = ctx.input.recv(), if can_gather => match batch_in {
                Some(events) => {
                    let gathered = gathering.get_or_insert_with(|| Gathering {
                        events: spare_vecs.pop().unwrap_or_default(),
                        batches: 0,
                        deadline: tokio::time::Instant::now() + batch.timeout.get(),
                    });
                    // The first batch is taken as it is unless a reused vector has room.
                    if gathered.events.capacity() == 0 {
                        gathered.events = events;
                    } else {
                        gathered.events.extend(events);
                    }
                    gathered.batches += 1;
                    if gathered.events.len() >= batch.max_events {
                        seal(&mut gathering, &mut flushes);
                    }
                }
                None => {
                    input_done = true;
                    seal(&mut gathering, &mut flushes);
                }
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                seal(&mut gathering, &mut flushes);
            }
            // Unreachable: with nothing in flight and no room to gather, every flush is
            // done and acknowledged above. Kept so a broken invariant waits, not panics.
            else => {
                tracing::error!(sink = %id, "delivery loop has nothing to wait for");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let mut result = Ok(());
    for mut service in services {
        if let Err(e) = service.close().await {
            result = result.and(Err(e));
        }
    }
    result
}

/// Ends the flush being gathered: it is ready to be encoded and sent.
fn seal(gathering: &mut Option<Gathering>, flushes: &mut VecDeque<Flush>) {
    if let Some(Gathering { events, batches, .. }) = gathering.take() {
        let mut todo = Vec::with_capacity(4);
        if !events.is_empty() {
            todo.push(0..events.len());
        }
        flushes.push_back(Flush { events, batches, todo, in_flight: 0 });
    }
}

/// Sends `request` until it gets a final answer, waiting with backoff between attempts.
async fn attempt<B: Send + Sync + 'static, S: Service<B>>(
    mut service: S,
    request: Request<B>,
    flush: u64,
    range: Range<usize>,
    metrics: ComponentMetrics,
    id: Arc<str>,
    retry: RetryConfig,
) -> Answer<S, B> {
    static RETRYING: RateLimit = RateLimit::new(Duration::from_secs(10));
    let mut backoff = Backoff::new(&retry);
    loop {
        match service.send(&request).await {
            Outcome::Retry { reason, after } => {
                metrics.retried();
                metrics.error("retry", &reason);
                let delay = after.unwrap_or_else(|| backoff.next_delay());
                if let Some(suppressed) = RETRYING.allow() {
                    tracing::warn!(sink = %id, %reason, retry_in = ?delay, suppressed, "delivery failed; retrying");
                }
                tokio::time::sleep(delay).await;
            }
            outcome => return Answer { service, request, flush, range, outcome },
        }
    }
}

/// Counts a request's final outcome; for a 413, returns the halves of its events to
/// encode again (the first half last, so it goes first).
fn account(
    metrics: &ComponentMetrics,
    id: &str,
    outcome: Outcome,
    events: usize,
    range: Range<usize>,
) -> Option<[Range<usize>; 2]> {
    static REJECTED: RateLimit = RateLimit::new(Duration::from_secs(60));
    match outcome {
        Outcome::Delivered => metrics.sent(events as u64),
        Outcome::Reject { reason } => {
            metrics.dropped(DropReason::WriteError, events as u64);
            metrics.error("rejected", &reason);
            if let Some(suppressed) = REJECTED.allow() {
                tracing::error!(sink = %id, %reason, events, suppressed, "destination refused the request; events dropped");
            }
        }
        Outcome::Partial { rejected, reason } => {
            let rejected = rejected.min(events);
            metrics.sent((events - rejected) as u64);
            metrics.dropped(DropReason::WriteError, rejected as u64);
            metrics.error("partially_rejected", &reason);
            if let Some(suppressed) = REJECTED.allow() {
                tracing::error!(sink = %id, %reason, events, rejected, suppressed, "destination refused part of the request; those events dropped");
            }
        }
        Outcome::TooLarge if range.len() > 1 => {
            let middle = range.start + range.len() / 2;
            return Some([middle..range.end, range.start..middle]);
        }
        Outcome::TooLarge => {
            metrics.dropped(DropReason::WriteError, 1);
            metrics.error("too_large", "a single event is larger than the destination accepts");
        }
        // `attempt` only returns final outcomes.
        Outcome::Retry { .. } => {}
    }
    None
}
