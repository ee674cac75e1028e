//! The NTP source: an NTP service for the devices, in one of two modes.
//!
//! - `relay` (what `stone` did for the seed): client requests are forwarded to the
//!   upstream servers (e.g. Amazon Time Sync, 169.254.169.123) and replies returned to
//!   the right client; decisions are `nocwatch_ntp::Relay`'s.
//! - `server`: nocwatch keeps itself synchronised to the upstreams with SNTP (never
//!   touching the system clock) and answers clients itself as stratum upstream + 1;
//!   it reports itself unhealthy, and answers "unsynchronised", once it has gone
//!   `max_unsynchronised` without a good sample.
//!
//! In both modes nocwatch polls every upstream on its own schedule (`nocwatch_ntp::Prober`),
//! so health follows upstream reachability even when no device is asking, and limits each
//! client (an IPv4 address or IPv6 /64: `nocwatch_ntp::RateLimiter`; server mode kisses
//! with `RATE`).
//!
//! This module is the I/O around those decisions: sockets (one for the clients, one per
//! address family for the upstreams), a thread per socket blocked in the kernel that answers
//! at once (on a wildcard address, from the address each request was sent to:
//! `net::udp::ReplySocket`), and a task that ticks the timers and reports. Every decision is given "now" on
//! both clocks ([`moment`]): the system clock only for packet timestamps, a monotonic clock
//! for every timer (see `nocwatch_ntp::time`). Metric events: `ntp.requests`
//! (count), per upstream `ntp.upstream.reachable`, `ntp.upstream.reach`,
//! `ntp.upstream.last_success_age`, `ntp.upstream.poll_interval` and `ntp.upstream.stopped`
//! (a Kiss-o'-Death's effects), and in server mode `ntp.offset`, `ntp.delay` (seconds),
//! `ntp.stratum` and `ntp.synchronized` (gauges).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use nocwatch_ntp::{Moment, Prober, RateLimiter, Relay, ServerClock, Synchronised, Verdict};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Listen, SourceContext};
use crate::component::Running;
use crate::config;
use crate::event::{Event, Metric, MetricType, Tags};
use crate::net::udp::{ReplyFrom, ReplySocket};
use crate::telemetry::{ComponentMetrics, RateLimit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NtpMode {
    Relay,
    Server,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtpSourceConfig {
    pub mode: NtpMode,
    /// Where devices send NTP, e.g. `0.0.0.0:123`.
    pub address: SocketAddr,
    #[serde(default)]
    pub health_check: Option<SocketAddr>,
    /// Upstream servers, `host` or `host:port`, in order of preference.
    pub upstreams: Vec<String>,
    /// How long an upstream gets to answer.
    #[serde(default = "default_timeout")]
    pub timeout: config::Duration,
    /// How often nocwatch polls every upstream (server mode: to measure its clock; both
    /// modes: to know which upstreams answer).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: config::Duration,
    /// Server mode: how long without a good sample before answering "unsynchronised".
    #[serde(default = "default_max_unsynchronised")]
    pub max_unsynchronised: config::Duration,
    /// Relay mode: requests waiting for upstream replies beyond this are refused.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Per-client-address request limit.
    #[serde(default)]
    pub rate_limit: NtpRateLimitConfig,
    /// How often metric events are emitted.
    #[serde(default = "default_metrics_interval")]
    pub metrics_interval: config::Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NtpRateLimitConfig {
    pub enabled: bool,
    /// Requests per second per client address, on average.
    pub rate: f64,
    /// Requests a client may send at once before the average applies.
    pub burst: u32,
    /// Client addresses tracked at once (memory bound).
    pub max_clients: usize,
}

impl Default for NtpRateLimitConfig {
    fn default() -> Self {
        NtpRateLimitConfig { enabled: true, rate: 1.0, burst: 16, max_clients: 65_536 }
    }
}

fn default_timeout() -> config::Duration {
    config::Duration::from_secs(1)
}
fn default_poll_interval() -> config::Duration {
    config::Duration::from_secs(16)
}
fn default_max_unsynchronised() -> config::Duration {
    config::Duration::from_secs(300)
}
fn default_max_pending() -> usize {
    10_000
}
fn default_metrics_interval() -> config::Duration {
    config::Duration::from_secs(15)
}

/// Receive buffer of the client and upstream sockets: a burst of replies waits in the
/// kernel instead of being dropped at the default ~208 KiB.
const RECEIVE_BUFFER: usize = 1 << 20;
/// How often the task expires relayed requests, ticks the prober and checks health.
const TICK: Duration = Duration::from_millis(100);
/// Longest a stopping relay waits for the replies to requests it already forwarded.
const MAX_REPLY_DRAIN: Duration = Duration::from_secs(2);

impl NtpSourceConfig {
    pub fn listens(&self) -> Vec<Listen> {
        let mut listens = vec![Listen { address: self.address, udp: true, key: "address" }];
        if let Some(address) = self.health_check {
            listens.push(Listen { address, udp: false, key: "health_check" });
        }
        listens
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.upstreams.is_empty() {
            return Err("upstreams: give at least one server".to_owned());
        }
        if self.timeout.get().is_zero() || self.poll_interval.get().is_zero() || self.metrics_interval.get().is_zero() {
            return Err("timeout, poll_interval and metrics_interval must be more than 0s".to_owned());
        }
        let limit = &self.rate_limit;
        if limit.enabled && !(limit.rate.is_finite() && limit.rate > 0.0 && limit.burst > 0 && limit.max_clients > 0) {
            return Err("rate_limit: rate, burst and max_clients must be more than 0 (or enabled: false)".to_owned());
        }
        Ok(())
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        let mut addresses = Vec::with_capacity(self.upstreams.len());
        for upstream in &self.upstreams {
            // `10.0.0.1`, `10.0.0.1:123`, `[fd00::1]:123`, `time.example:123`, `time.example`
            let target = match (upstream.parse::<SocketAddr>(), upstream.parse::<IpAddr>()) {
                (Ok(address), _) => address.to_string(),
                (_, Ok(ip)) => SocketAddr::new(ip, 123).to_string(),
                _ if upstream.contains(':') => upstream.clone(),
                _ => format!("{upstream}:123"),
            };
            let address = tokio::net::lookup_host(&target)
                .await
                .with_context(|| format!("cannot resolve upstream `{upstream}`"))?
                .next()
                .with_context(|| format!("upstream `{upstream}` has no address"))?;
            addresses.push(address);
        }
        let clients = bind_blocking(self.address)
            .and_then(ReplySocket::new)
            .with_context(|| format!("cannot listen on udp://{}", self.address))?;
        let upstreams = UpstreamSockets::bind(addresses).context("cannot open the socket to the upstreams")?;
        tracing::info!(source = %ctx.id, address = %self.address, mode = ?self.mode, upstreams = ?upstreams.addresses, replies_from_destination = clients.replies_from_destination(), "NTP listening");
        let config = self.clone();
        Ok(Box::pin(async move {
            match config.mode {
                NtpMode::Relay => run_relay(config, clients, upstreams, ctx).await,
                NtpMode::Server => run_server(config, clients, upstreams, ctx).await,
            }
        }))
    }
}

/// The sockets nocwatch talks to its upstreams from: one per address family in use, each
/// with a large receive buffer.
struct UpstreamSockets {
    addresses: Vec<SocketAddr>,
    v4: Option<Arc<std::net::UdpSocket>>,
    v6: Option<Arc<std::net::UdpSocket>>,
    send_failed: Option<Counter>,
    /// Datagrams from addresses that are not upstreams.
    unknown_sender: Option<Counter>,
}

impl UpstreamSockets {
    fn bind(addresses: Vec<SocketAddr>) -> io::Result<Self> {
        let any = |v4: bool| -> io::Result<Option<Arc<std::net::UdpSocket>>> {
            if !addresses.iter().any(|a| a.is_ipv4() == v4) {
                return Ok(None);
            }
            let unspecified: IpAddr = if v4 { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
            bind_blocking(SocketAddr::new(unspecified, 0)).map(|s| Some(Arc::new(s)))
        };
        Ok(UpstreamSockets { v4: any(true)?, v6: any(false)?, addresses, send_failed: None, unknown_sender: None })
    }

    fn send(&self, index: usize, bytes: &[u8]) {
        let Some(target) = self.addresses.get(index) else { return };
        let socket = if target.is_ipv4() { &self.v4 } else { &self.v6 };
        let sent = socket.as_ref().map(|s| s.send_to(bytes, target));
        if let Some(Err(e)) = sent {
            if let Some(counter) = &self.send_failed {
                counter.inc();
            }
            if let Some(suppressed) = BAD_PACKETS.allow() {
                tracing::warn!(upstream = %target, error = %e, suppressed, "cannot send to the NTP upstream");
            }
        }
    }

    /// Which upstream a datagram came from (address and port; an IPv6 scope is ignored);
    /// `None`, counted, for any other sender.
    fn index_of(&self, from: SocketAddr) -> Option<usize> {
        let index = self.addresses.iter().position(|a| a.ip() == from.ip() && a.port() == from.port());
        if let (None, Some(counter)) = (index, &self.unknown_sender) {
            counter.inc();
        }
        index
    }

    fn sockets(&self) -> impl Iterator<Item = &Arc<std::net::UdpSocket>> {
        self.v4.iter().chain(self.v6.iter())
    }
}

/// The counters of every way a request or reply is not served, by `reason`.
#[derive(Clone)]
struct Counters {
    bad_request: Counter,
    overloaded: Counter,
    rate_limited: Counter,
    rate_limited_kod: Counter,
    rate_limit_overflow: Counter,
    upstream_timeout: Counter,
    upstream_rejected: Counter,
    upstream_unmatched: Counter,
    upstream_kiss: Counter,
    upstream_unknown_sender: Counter,
    client_send_failed: Counter,
    receive: Counter,
    /// Datagrams the kernel dropped, a receive buffer full (clients' or upstreams' socket).
    receive_buffer_full: Counter,
}

impl Counters {
    fn new(metrics: &ComponentMetrics) -> Self {
        Counters {
            bad_request: metrics.error_counter("bad_request"),
            overloaded: metrics.error_counter("overloaded"),
            rate_limited: metrics.error_counter("rate_limited"),
            rate_limited_kod: metrics.error_counter("rate_limited_kod"),
            rate_limit_overflow: metrics.error_counter("rate_limit_overflow"),
            upstream_timeout: metrics.error_counter("upstream_timeout"),
            upstream_rejected: metrics.error_counter("upstream_rejected"),
            upstream_unmatched: metrics.error_counter("upstream_unmatched"),
            upstream_kiss: metrics.error_counter("upstream_kiss"),
            upstream_unknown_sender: metrics.error_counter("upstream_unknown_sender"),
            client_send_failed: metrics.error_counter("client_send_failed"),
            receive: metrics.error_counter("receive"),
            receive_buffer_full: metrics.error_counter("receive_buffer_full"),
        }
    }
}

/// The per-client limiter as the receiving thread uses it (owned by that thread, no lock).
struct ClientLimiter {
    limiter: Option<RateLimiter<IpAddr>>,
    overflowed_seen: u64,
    overflow: Counter,
    id: String,
}

impl ClientLimiter {
    fn new(config: &NtpRateLimitConfig, counters: &Counters, id: &str) -> Self {
        ClientLimiter {
            limiter: config.enabled.then(|| RateLimiter::new(config.rate, config.burst, config.max_clients)),
            overflowed_seen: 0,
            overflow: counters.rate_limit_overflow.clone(),
            id: id.to_owned(),
        }
    }

    fn check(&mut self, client: IpAddr, now_mono: i128) -> Verdict {
        let Some(limiter) = self.limiter.as_mut() else { return Verdict::Allow };
        let verdict = limiter.check_address(client, now_mono);
        if limiter.overflowed() != self.overflowed_seen {
            self.overflowed_seen = limiter.overflowed();
            self.overflow.inc();
            if let Some(suppressed) = BAD_PACKETS.allow() {
                tracing::warn!(source = %self.id, suppressed, "NTP rate limit table full: new clients share one limit (raise rate_limit.max_clients?)");
            }
        }
        verdict
    }
}

/// Now on both clocks: the system clock (Unix ns) and the monotonic clock (ns since the
/// first call in this process).
fn moment() -> Moment {
    static ORIGIN: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
    let mono = ORIGIN.elapsed().as_nanos() as i128;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
    Moment::new(unix, mono)
}

fn nanos(duration: Duration) -> i128 {
    duration.as_nanos() as i128
}

fn metric(ctx: &SourceContext, name: &str, metric_type: MetricType, value: f64, interval: Duration) -> Event {
    metric_tagged(ctx, name, metric_type, value, interval, None)
}

fn metric_tagged(
    ctx: &SourceContext,
    name: &str,
    metric_type: MetricType,
    value: f64,
    interval: Duration,
    upstream: Option<SocketAddr>,
) -> Event {
    let mut tags: Tags = [("ntp_source".to_owned(), ctx.id.clone())].into();
    if let Some(upstream) = upstream {
        tags.insert("upstream".to_owned(), upstream.to_string());
    }
    Event::Metric(Metric {
        name: name.to_owned(),
        metric_type,
        value,
        timestamp: jiff::Timestamp::now(),
        interval_secs: (metric_type == MetricType::Count).then(|| interval.as_secs().max(1) as u32),
        host: Some(ctx.hostname.clone()),
        tags,
    })
}

/// Per upstream: `ntp.upstream.reachable` (0/1), `ntp.upstream.reach` (chrony's register,
/// 0-255) and, once it has answered, `ntp.upstream.last_success_age` (seconds).
fn upstream_metrics(
    ctx: &SourceContext,
    prober: &Prober,
    upstreams: &UpstreamSockets,
    interval: Duration,
) -> Vec<Event> {
    let now = moment().mono;
    let mut events = Vec::new();
    for (index, address) in upstreams.addresses.iter().enumerate() {
        let Some(status) = prober.status(index) else { continue };
        let gauge = |name, value| metric_tagged(ctx, name, MetricType::Gauge, value, interval, Some(*address));
        events.push(gauge("ntp.upstream.reachable", f64::from(u8::from(status.reachable))));
        events.push(gauge("ntp.upstream.reach", f64::from(status.reach)));
        if let Some(at) = status.last_success {
            events.push(gauge("ntp.upstream.last_success_age", (now - at).max(0) as f64 / 1e9));
        }
        events.push(gauge("ntp.upstream.poll_interval", status.poll_interval_nanos as f64 / 1e9));
        events.push(gauge("ntp.upstream.stopped", f64::from(u8::from(status.stopped.is_some()))));
    }
    events
}

static BAD_PACKETS: RateLimit = RateLimit::new(Duration::from_secs(10));

/// Sends the probes that are due and counts the ones that went unanswered.
fn tick_prober(prober: &Mutex<Prober>, upstreams: &UpstreamSockets, counters: &Counters) {
    let due = lock(prober).tick(moment(), || fastrand::u64(..));
    counters.upstream_timeout.inc_by(due.timed_out as u64);
    for (index, bytes) in due.send {
        upstreams.send(index, &bytes);
    }
}

/// What the upstream-receiving threads do with a reply that is not for a relayed request:
/// a probe's answer (`Some(sample result)`), or nothing we asked for (counted).
fn probe_reply(
    prober: &Mutex<Prober>,
    index: usize,
    reply: &[u8],
    now: Moment,
    counters: &Counters,
    upstreams: &UpstreamSockets,
    id: &str,
) -> Option<nocwatch_ntp::Sample> {
    let result = lock(prober).on_reply(index, reply, now);
    match result {
        Some(Ok(sample)) => Some(sample),
        // Obeyed by the prober (RFC 5905 §7.4): RATE stretches this upstream's polls, DENY
        // and RSTR stop them.
        Some(Err(nocwatch_ntp::Rejected::KissOfDeath(code))) => {
            counters.upstream_kiss.inc();
            let upstream = upstreams.addresses[index];
            let status = lock(prober).status(index);
            match status {
                Some(status) if status.stopped.is_some() => {
                    // Once per upstream: it is never polled again.
                    tracing::warn!(source = %id, %upstream, %code, "upstream refused nocwatch (kiss-o'-death): no longer polled");
                }
                Some(status) => {
                    if let Some(suppressed) = BAD_PACKETS.allow() {
                        let every = Duration::from_nanos(status.poll_interval_nanos.max(0) as u64);
                        tracing::warn!(source = %id, %upstream, %code, poll_interval = ?every, suppressed, "upstream sent a kiss-o'-death");
                    }
                }
                None => {}
            }
            None
        }
        Some(Err(why)) => {
            counters.upstream_rejected.inc();
            if let Some(suppressed) = BAD_PACKETS.allow() {
                tracing::warn!(source = %id, upstream = %upstreams.addresses[index], %why, suppressed, "upstream reply rejected");
            }
            None
        }
        // Late (after its request timed out), duplicated or forged.
        None => {
            counters.upstream_unmatched.inc();
            None
        }
    }
}

async fn run_relay(
    config: NtpSourceConfig,
    clients: ReplySocket,
    mut upstreams: UpstreamSockets,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let upstream_count = upstreams.addresses.len();
    // A client is its address and the address its request was sent to, which the reply
    // must come from.
    let relay = Arc::new(Mutex::new(Relay::<(SocketAddr, ReplyFrom)>::new(
        upstream_count,
        nanos(config.timeout.get()),
        config.max_pending,
    )));
    let prober = Arc::new(Mutex::new(Prober::new(
        upstream_count,
        nanos(config.poll_interval.get()),
        nanos(config.timeout.get()),
        moment().mono,
    )));
    let requests = Arc::new(AtomicU64::new(0));
    let counters = Counters::new(&ctx.metrics);
    upstreams.send_failed = Some(ctx.metrics.error_counter("upstream_send_failed"));
    upstreams.unknown_sender = Some(counters.upstream_unknown_sender.clone());
    let mut kernel_drops = watch_kernel_drops(&clients, &upstreams)?;
    let (clients, upstreams) = (Arc::new(clients), Arc::new(upstreams));
    // Requests and replies are each relayed by a thread of their own (see `spawn_receiver`);
    // this task expires unanswered requests, probes the upstreams and reports. At shutdown,
    // requests stop being taken first; replies are still returned until the ones in flight
    // are answered or time out.
    let stop_requests = ctx.shutdown.child_token();
    let stop_replies = CancellationToken::new();
    let _stop_receivers = (stop_requests.clone().drop_guard(), stop_replies.clone().drop_guard());
    let forwarder = {
        let (relay, requests, upstreams, counters) =
            (relay.clone(), requests.clone(), upstreams.clone(), counters.clone());
        let (metrics, id) = (ctx.metrics.clone(), ctx.id.clone());
        let mut limiter = ClientLimiter::new(&config.rate_limit, &counters, &ctx.id);
        spawn_receiver(
            receive_requests(clients.clone()),
            stop_requests.clone(),
            ctx.id.clone(),
            counters.receive.clone(),
            move |request, client, reply_from| {
                metrics.received(1);
                let now = moment().mono;
                // A relay has no time of its own to kiss with: a limited request is dropped.
                if limiter.check(client.ip(), now) != Verdict::Allow {
                    counters.rate_limited.inc();
                    return;
                }
                let forward = lock(&relay).from_client(request, (client, reply_from), fastrand::u64(..), now);
                match forward {
                    Ok((upstream, bytes)) => {
                        requests.fetch_add(1, Ordering::Relaxed);
                        upstreams.send(upstream, &bytes);
                    }
                    Err(why) => {
                        match why {
                            nocwatch_ntp::relay::Refused::NotARequest => counters.bad_request.inc(),
                            nocwatch_ntp::relay::Refused::Overloaded => counters.overloaded.inc(),
                        };
                        if let Some(suppressed) = BAD_PACKETS.allow() {
                            tracing::warn!(source = %id, %client, ?why, suppressed, "NTP request not relayed");
                        }
                    }
                }
            },
        )
    };
    let returners: Vec<_> = upstreams
        .sockets()
        .map(|socket| {
            let (relay, prober, clients, upstreams, counters) =
                (relay.clone(), prober.clone(), clients.clone(), upstreams.clone(), counters.clone());
            let id = ctx.id.clone();
            spawn_receiver(
                receive_replies(socket.clone()),
                stop_replies.clone(),
                ctx.id.clone(),
                counters.receive.clone(),
                move |reply, from, _| {
                    let Some(index) = upstreams.index_of(from) else { return };
                    let back = lock(&relay).from_upstream(reply, index);
                    match back {
                        Some(((client, reply_from), reply)) => {
                            if clients.reply(&reply, client, reply_from).is_err() {
                                counters.client_send_failed.inc();
                            }
                        }
                        None => {
                            probe_reply(&prober, index, reply, moment(), &counters, &upstreams, &id);
                        }
                    }
                },
            )
        })
        .collect();
    let mut tick = tokio::time::interval(TICK);
    let mut metrics_tick = tokio::time::interval(config.metrics_interval.get());
    let mut drops_check = tokio::time::interval(crate::net::KERNEL_DROPS_CHECK);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            _ = drops_check.tick() => { counters.receive_buffer_full.inc_by(kernel_drops.take_new()); }
            _ = tick.tick() => {
                let expired = lock(&relay).expire(moment().mono);
                counters.upstream_timeout.inc_by(expired as u64);
                tick_prober(&prober, &upstreams, &counters);
                let (reachable, reachability) = {
                    let prober = lock(&prober);
                    (prober.any_reachable(), prober.reachability())
                };
                if lock(&relay).follow_reachability(&reachability) {
                    let current = lock(&relay).current_upstream();
                    tracing::warn!(source = %ctx.id, upstream = %upstreams.addresses[current], "relaying to another upstream: the current one stopped answering polls");
                }
                ctx.healthy.send_if_modified(|healthy| std::mem::replace(healthy, reachable) != reachable);
            }
            _ = metrics_tick.tick() => {
                let interval = config.metrics_interval.get();
                let relayed = requests.swap(0, Ordering::Relaxed);
                let mut events = vec![metric(&ctx, "ntp.requests", MetricType::Count, relayed as f64, interval)];
                events.extend(upstream_metrics(&ctx, &lock(&prober), &upstreams, interval));
                ctx.output.send(events).await;
            }
        }
    }
    let _ = ctx.healthy.send(false);
    // `stop_requests` is a child of the shutdown token: the forwarder is stopping already.
    let _ = forwarder.await;
    // Within the runtime's 5 s for a source to stop, whatever `timeout` is.
    let until = tokio::time::Instant::now() + config.timeout.get().min(MAX_REPLY_DRAIN);
    while lock(&relay).pending() > 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    counters.upstream_timeout.inc_by(lock(&relay).pending() as u64);
    stop_replies.cancel();
    for returner in returners {
        let _ = returner.await;
    }
    Ok(())
}

/// The sockets whose kernel drops the source counts: the clients' and each upstream one.
fn watch_kernel_drops(clients: &ReplySocket, upstreams: &UpstreamSockets) -> io::Result<crate::net::KernelDrops> {
    let mut drops = crate::net::KernelDrops::default();
    drops.watch(clients.socket())?;
    for socket in upstreams.sockets() {
        drops.watch(socket.as_ref())?;
    }
    Ok(drops)
}

/// A UDP socket with a large receive buffer, blocking, for a receiving thread
/// (`net::bind_udp`).
fn bind_blocking(address: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let (mut sockets, _) = crate::net::bind_udp(address, RECEIVE_BUFFER, 1)?;
    sockets.pop().ok_or_else(|| io::Error::other("no socket"))
}

/// How the clients' socket is read: each request with the address to answer it from.
fn receive_requests(
    clients: Arc<ReplySocket>,
) -> impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr, ReplyFrom)> + Send + 'static {
    let mut control = ReplySocket::control_buffer();
    move |buf| clients.receive(buf, &mut control)
}

/// How an upstream socket is read: nocwatch is the client there, and answers nothing.
fn receive_replies(
    socket: Arc<std::net::UdpSocket>,
) -> impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr, ReplyFrom)> + Send + 'static {
    move |buf| socket.recv_from(buf).map(|(len, from)| (len, from, ReplyFrom::ROUTED))
}

/// Calls `handle` with every datagram `receive` takes from its socket, from a thread of its
/// own blocked in the kernel, until `stop` (seen within `net::RECEIVER_WAKE`; what the
/// kernel still holds then is left unread). The answer path of both modes runs this way: a
/// reply goes out right after its request (or upstream reply) arrives, without an event
/// loop turn in between, which is what keeps nocwatch's latency at or below chronyd's and
/// stone's (bench/ntp). Other threads may send on the same socket.
fn spawn_receiver(
    mut receive: impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr, ReplyFrom)> + Send + 'static,
    stop: CancellationToken,
    id: String,
    errors: Counter,
    mut handle: impl FnMut(&[u8], SocketAddr, ReplyFrom) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 1024];
        while !stop.is_cancelled() {
            match receive(&mut buf) {
                Ok((len, from, reply_from)) => handle(&buf[..len], from, reply_from),
                // The read timeout (or a signal): look at `stop` again.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    errors.inc();
                    if let Some(suppressed) = BAD_PACKETS.allow() {
                        tracing::warn!(source = %id, error = %e, suppressed, "NTP receive error");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn run_server(
    config: NtpSourceConfig,
    clients: ReplySocket,
    mut upstreams: UpstreamSockets,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let clock = Arc::new(Mutex::new(ServerClock::new(nanos(config.max_unsynchronised.get()))));
    let prober = Arc::new(Mutex::new(Prober::new(
        upstreams.addresses.len(),
        nanos(config.poll_interval.get()),
        nanos(config.timeout.get()),
        moment().mono,
    )));
    let requests = Arc::new(AtomicU64::new(0));
    let counters = Counters::new(&ctx.metrics);
    upstreams.send_failed = Some(ctx.metrics.error_counter("upstream_send_failed"));
    upstreams.unknown_sender = Some(counters.upstream_unknown_sender.clone());
    let mut kernel_drops = watch_kernel_drops(&clients, &upstreams)?;
    let upstreams = Arc::new(upstreams);
    // Clients are answered by a thread of their own, and upstream replies taken by one per
    // socket (see `spawn_receiver`); this task sends the polls, checks health and reports.
    let stop = ctx.shutdown.child_token();
    // The threads also stop if this task is dropped without a shutdown.
    let _stop_receivers = stop.clone().drop_guard();
    let answerer = {
        let clients = Arc::new(clients);
        let (clock, requests, metrics, id, counters) =
            (clock.clone(), requests.clone(), ctx.metrics.clone(), ctx.id.clone(), counters.clone());
        let mut limiter = ClientLimiter::new(&config.rate_limit, &counters, &ctx.id);
        spawn_receiver(
            receive_requests(clients.clone()),
            stop.clone(),
            ctx.id.clone(),
            counters.receive.clone(),
            move |request, client, reply_from| {
                let received_at = moment();
                metrics.received(1);
                let answer = match limiter.check(client.ip(), received_at.mono) {
                    Verdict::Allow => lock(&clock).respond(request, received_at, moment()),
                    Verdict::Limited { kiss: false } => {
                        counters.rate_limited.inc();
                        return;
                    }
                    Verdict::Limited { kiss: true } => match lock(&clock).kiss(request, *b"RATE") {
                        Some(kiss) => {
                            counters.rate_limited_kod.inc();
                            if clients.reply(&kiss, client, reply_from).is_err() {
                                counters.client_send_failed.inc();
                            }
                            return;
                        }
                        None => None,
                    },
                };
                match answer {
                    Some(answer) => {
                        if clients.reply(&answer, client, reply_from).is_err() {
                            counters.client_send_failed.inc();
                        }
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        counters.bad_request.inc();
                        if let Some(suppressed) = BAD_PACKETS.allow() {
                            tracing::warn!(source = %id, %client, suppressed, "not an NTP client request; ignored");
                        }
                    }
                }
            },
        )
    };
    let pollers: Vec<_> = upstreams
        .sockets()
        .map(|socket| {
            let (prober, clock, upstreams, counters, id) =
                (prober.clone(), clock.clone(), upstreams.clone(), counters.clone(), ctx.id.clone());
            spawn_receiver(
                receive_replies(socket.clone()),
                stop.clone(),
                ctx.id.clone(),
                counters.receive.clone(),
                move |reply, from, _| {
                    let Some(index) = upstreams.index_of(from) else { return };
                    let now = moment();
                    if probe_reply(&prober, index, reply, now, &counters, &upstreams, &id).is_none() {
                        return;
                    }
                    let best = lock(&prober).best(now.mono);
                    if let Some(best) = best {
                        lock(&clock).update(Synchronised {
                            sample: best.sample,
                            at: best.sampled_at,
                            last_sample_at: best.newest_at,
                            reference_id: nocwatch_ntp::reference_id(upstreams.addresses[best.upstream].ip()),
                        });
                    }
                },
            )
        })
        .collect();
    let mut tick = tokio::time::interval(TICK);
    let mut metrics_tick = tokio::time::interval(config.metrics_interval.get());
    let mut drops_check = tokio::time::interval(crate::net::KERNEL_DROPS_CHECK);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            _ = drops_check.tick() => { counters.receive_buffer_full.inc_by(kernel_drops.take_new()); }
            _ = tick.tick() => {
                tick_prober(&prober, &upstreams, &counters);
                let synchronised = lock(&clock).is_synchronised(moment().mono);
                ctx.healthy.send_if_modified(|healthy| std::mem::replace(healthy, synchronised) != synchronised);
            }
            _ = metrics_tick.tick() => {
                let interval = config.metrics_interval.get();
                let answered = requests.swap(0, Ordering::Relaxed);
                let mut events = vec![metric(&ctx, "ntp.requests", MetricType::Count, answered as f64, interval)];
                let now = moment();
                let (synchronised, sync, stratum, offset) = {
                    let clock = lock(&clock);
                    (clock.is_synchronised(now.mono), clock.synchronised, clock.stratum(now.mono), clock.offset(now))
                };
                events.push(metric(&ctx, "ntp.synchronized", MetricType::Gauge, f64::from(u8::from(synchronised)), interval));
                if let Some(sync) = sync {
                    events.push(metric(&ctx, "ntp.offset", MetricType::Gauge, offset as f64 / 1e9, interval));
                    events.push(metric(&ctx, "ntp.delay", MetricType::Gauge, sync.sample.delay_nanos as f64 / 1e9, interval));
                    events.push(metric(&ctx, "ntp.stratum", MetricType::Gauge, f64::from(stratum), interval));
                }
                events.extend(upstream_metrics(&ctx, &lock(&prober), &upstreams, interval));
                ctx.output.send(events).await;
            }
        }
    }
    let _ = ctx.healthy.send(false);
    stop.cancel();
    let _ = answerer.await;
    for poller in pollers {
        let _ = poller.await;
    }
    Ok(())
}
