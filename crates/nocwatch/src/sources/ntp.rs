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
//! Both emit metric events: `ntp.requests` (count), and in server mode `ntp.offset`,
//! `ntp.delay` (seconds), `ntp.stratum` and `ntp.synchronized` (gauges).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use nocwatch_ntp::{Relay, Request, Sample, ServerClock, Synchronised};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{Listen, SourceContext};
use crate::component::Running;
use crate::config;
use crate::event::{Event, Metric, MetricType, Tags};
use crate::telemetry::RateLimit;

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
    /// Server mode: how often nocwatch measures its clock against the upstream.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: config::Duration,
    /// Server mode: how long without a good sample before answering "unsynchronised".
    #[serde(default = "default_max_unsynchronised")]
    pub max_unsynchronised: config::Duration,
    /// Relay mode: requests waiting for upstream replies beyond this are refused.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// How often metric events are emitted.
    #[serde(default = "default_metrics_interval")]
    pub metrics_interval: config::Duration,
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
        Ok(())
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        let mut upstreams = Vec::with_capacity(self.upstreams.len());
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
            upstreams.push(address);
        }
        let (mut sockets, _) = crate::net::bind_udp(self.address, 1 << 20, 1)
            .with_context(|| format!("cannot listen on udp://{}", self.address))?;
        let clients = sockets.pop().context("no socket")?;
        let unspecified: SocketAddr =
            if upstreams[0].is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let upstream_socket = UdpSocket::bind(unspecified).await?;
        tracing::info!(source = %ctx.id, address = %self.address, mode = ?self.mode, upstreams = ?upstreams, "NTP listening");
        let config = self.clone();
        Ok(Box::pin(async move {
            match config.mode {
                NtpMode::Relay => run_relay(config, clients, upstream_socket, upstreams, ctx).await,
                NtpMode::Server => run_server(config, clients, upstream_socket, upstreams, ctx).await,
            }
        }))
    }
}

fn now_nanos() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

fn nanos(duration: Duration) -> i128 {
    duration.as_nanos() as i128
}

fn metric(ctx: &SourceContext, name: &str, metric_type: MetricType, value: f64, interval: Duration) -> Event {
    let tags: Tags = [("ntp_source".to_owned(), ctx.id.clone())].into();
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

static BAD_PACKETS: RateLimit = RateLimit::new(Duration::from_secs(10));

async fn run_relay(
    config: NtpSourceConfig,
    clients: UdpSocket,
    upstream_socket: UdpSocket,
    upstreams: Vec<SocketAddr>,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let relay = Arc::new(Mutex::new(Relay::<SocketAddr>::new(
        upstreams.len(),
        nanos(config.timeout.get()),
        config.max_pending,
    )));
    let requests = Arc::new(AtomicU64::new(0));
    let timeouts = ctx.metrics.error_counter("upstream_timeout");
    let (clients, upstream_socket) = (Arc::new(into_blocking(clients)?), Arc::new(into_blocking(upstream_socket)?));
    let upstreams = Arc::new(upstreams);
    // Requests and replies are each relayed by a thread of their own (see `spawn_receiver`);
    // this task expires unanswered requests and reports.
    let stop = ctx.shutdown.child_token();
    let _stop_receivers = stop.clone().drop_guard();
    let forwarder = {
        let (relay, requests, upstream_socket, upstreams) =
            (relay.clone(), requests.clone(), upstream_socket.clone(), upstreams.clone());
        let (metrics, id) = (ctx.metrics.clone(), ctx.id.clone());
        let bad_requests = ctx.metrics.error_counter("bad_request");
        let overloaded = ctx.metrics.error_counter("overloaded");
        spawn_receiver(clients.clone(), stop.clone(), ctx.id.clone(), move |request, client| {
            metrics.received(1);
            let forward = lock(&relay).from_client(request, client, fastrand::u64(..), now_nanos());
            match forward {
                Ok((upstream, bytes)) => {
                    requests.fetch_add(1, Ordering::Relaxed);
                    if let Some(target) = upstreams.get(upstream) {
                        let _ = upstream_socket.send_to(&bytes, target);
                    }
                }
                Err(why) => {
                    match why {
                        nocwatch_ntp::relay::Refused::NotARequest => bad_requests.inc(),
                        nocwatch_ntp::relay::Refused::Overloaded => overloaded.inc(),
                    };
                    if let Some(suppressed) = BAD_PACKETS.allow() {
                        tracing::warn!(source = %id, %client, ?why, suppressed, "NTP request not relayed");
                    }
                }
            }
        })
    };
    let returner = {
        let (relay, clients, upstreams) = (relay.clone(), clients.clone(), upstreams.clone());
        spawn_receiver(upstream_socket.clone(), stop.clone(), ctx.id.clone(), move |reply, from| {
            let Some(index) = upstreams.iter().position(|u| *u == from) else { return };
            let back = lock(&relay).from_upstream(reply, index);
            if let Some((client, reply)) = back {
                let _ = clients.send_to(&reply, client);
            }
        })
    };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut metrics_tick = tokio::time::interval(config.metrics_interval.get());
    let _ = ctx.healthy.send(true);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {
                let expired = lock(&relay).expire(now_nanos());
                timeouts.inc_by(expired as u64);
            }
            _ = metrics_tick.tick() => {
                let relayed = requests.swap(0, Ordering::Relaxed);
                let event = metric(&ctx, "ntp.requests", MetricType::Count, relayed as f64, config.metrics_interval.get());
                ctx.output.send(vec![event]).await;
            }
        }
    }
    let _ = ctx.healthy.send(false);
    stop.cancel();
    let _ = tokio::join!(forwarder, returner);
    Ok(())
}

/// How often a receiving thread, blocked in recv_from, looks whether it should stop.
const RECEIVER_WAKE: Duration = Duration::from_millis(100);

/// A socket from the runtime made blocking, with `RECEIVER_WAKE` as its read timeout.
fn into_blocking(socket: UdpSocket) -> io::Result<std::net::UdpSocket> {
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(RECEIVER_WAKE))?;
    Ok(socket)
}

/// Calls `handle` with every datagram received on `socket`, from a thread of its own blocked
/// in recv_from, until `stop`. The answer path of both modes runs this way: a reply goes
/// out right after its request (or upstream reply) arrives, without an event loop turn in
/// between, which is what keeps nocwatch's latency at or below chronyd's and stone's
/// (bench/ntp). Other threads may send on the same socket.
fn spawn_receiver(
    socket: Arc<std::net::UdpSocket>,
    stop: CancellationToken,
    id: String,
    mut handle: impl FnMut(&[u8], SocketAddr) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 1024];
        while !stop.is_cancelled() {
            match socket.recv_from(&mut buf) {
                Ok((len, from)) => handle(&buf[..len], from),
                // The read timeout (or a signal): look at `stop` again.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
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

/// The reference id announced for an upstream: its IPv4 address (RFC 5905), or the first
/// four bytes of an IPv6 one.
fn reference_id(address: SocketAddr) -> [u8; 4] {
    match address.ip() {
        IpAddr::V4(ip) => ip.octets(),
        IpAddr::V6(ip) => {
            let o = ip.octets();
            [o[0], o[1], o[2], o[3]]
        }
    }
}

async fn run_server(
    config: NtpSourceConfig,
    clients: UdpSocket,
    upstream_socket: UdpSocket,
    upstreams: Vec<SocketAddr>,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let clock = Arc::new(Mutex::new(ServerClock::new(nanos(config.max_unsynchronised.get()))));
    let requests = Arc::new(AtomicU64::new(0));
    // Clients are answered by a thread of their own (see `spawn_receiver`); this task polls
    // the upstreams, keeps the clock the thread answers from, and reports.
    let stop = ctx.shutdown.child_token();
    // The thread also stops if this task is dropped without a shutdown.
    let _stop_receiver = stop.clone().drop_guard();
    let answerer = {
        let clients = Arc::new(into_blocking(clients)?);
        let (clock, requests, metrics, id) = (clock.clone(), requests.clone(), ctx.metrics.clone(), ctx.id.clone());
        let bad_request = ctx.metrics.error_counter("bad_request");
        spawn_receiver(clients.clone(), stop.clone(), ctx.id.clone(), move |request, client| {
            let received_at = now_nanos();
            let answer = lock(&clock).respond(request, received_at, now_nanos());
            match answer {
                Some(answer) => {
                    let _ = clients.send_to(&answer, client);
                    requests.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    bad_request.inc();
                    if let Some(suppressed) = BAD_PACKETS.allow() {
                        tracing::warn!(source = %id, %client, suppressed, "not an NTP client request; ignored");
                    }
                }
            }
            metrics.received(1);
        })
    };
    let rejected = ctx.metrics.error_counter("upstream_rejected");
    let timeouts = ctx.metrics.error_counter("upstream_timeout");
    // The samples of the last polls; the one with the least delay is the most accurate.
    let mut samples: VecDeque<(Sample, i128, [u8; 4])> = VecDeque::with_capacity(8);
    let mut current = 0usize;
    let mut outstanding: Option<(Request, usize, tokio::time::Instant)> = None;
    // Four quick polls at start (like chrony's iburst), then every poll_interval.
    let mut quick_polls = 4;
    let mut next_poll = tokio::time::Instant::now();
    let mut metrics_tick = tokio::time::interval(config.metrics_interval.get());
    let mut health_tick = tokio::time::interval(Duration::from_millis(500));
    let mut reply_buf = [0u8; 1024];
    loop {
        let deadline = match &outstanding {
            Some((_, _, sent)) => *sent + config.timeout.get(),
            None => next_poll,
        };
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            received = upstream_socket.recv_from(&mut reply_buf) => {
                let now = now_nanos();
                let Ok((len, from)) = received else { continue };
                let Some((request, index, _)) = outstanding.as_ref() else { continue };
                if upstreams.get(*index) != Some(&from) {
                    continue;
                }
                match request.process(&reply_buf[..len], now) {
                    Ok(sample) => {
                        if samples.len() == 8 {
                            samples.pop_front();
                        }
                        samples.push_back((sample, now, reference_id(from)));
                        if let Some(best) = samples.iter().min_by_key(|(s, _, _)| s.delay_nanos) {
                            lock(&clock).update(Synchronised { sample: best.0, at: now, reference_id: best.2 });
                        }
                        outstanding = None;
                    }
                    // Not an answer to our request: keep waiting for the real one.
                    Err(nocwatch_ntp::Rejected::NotOurs) => {}
                    Err(why) => {
                        rejected.inc();
                        tracing::warn!(source = %ctx.id, upstream = %from, %why, "upstream reply rejected");
                        outstanding = None;
                        current = (current + 1) % upstreams.len();
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if let Some((_, index, _)) = outstanding.take() {
                    timeouts.inc();
                    tracing::debug!(source = %ctx.id, upstream = %upstreams[index], "upstream did not answer");
                    current = (current + 1) % upstreams.len();
                    continue;
                }
                let (request, bytes) = Request::new(fastrand::u64(..), now_nanos());
                let _ = upstream_socket.send_to(&bytes, upstreams[current]).await;
                outstanding = Some((request, current, tokio::time::Instant::now()));
                next_poll = tokio::time::Instant::now()
                    + if quick_polls > 0 { quick_polls -= 1; Duration::from_secs(2) } else { config.poll_interval.get() };
            }
            _ = health_tick.tick() => {
                let synchronised = lock(&clock).is_synchronised(now_nanos());
                ctx.healthy.send_if_modified(|healthy| std::mem::replace(healthy, synchronised) != synchronised);
            }
            _ = metrics_tick.tick() => {
                let interval = config.metrics_interval.get();
                let answered = requests.swap(0, Ordering::Relaxed);
                let mut events = vec![metric(&ctx, "ntp.requests", MetricType::Count, answered as f64, interval)];
                let (synchronised, sync) = {
                    let clock = lock(&clock);
                    (clock.is_synchronised(now_nanos()), clock.synchronised)
                };
                events.push(metric(&ctx, "ntp.synchronized", MetricType::Gauge, f64::from(u8::from(synchronised)), interval));
                if let Some(sync) = sync {
                    events.push(metric(&ctx, "ntp.offset", MetricType::Gauge, sync.sample.offset_nanos as f64 / 1e9, interval));
                    events.push(metric(&ctx, "ntp.delay", MetricType::Gauge, sync.sample.delay_nanos as f64 / 1e9, interval));
                    events.push(metric(&ctx, "ntp.stratum", MetricType::Gauge, f64::from(sync.sample.stratum + 1), interval));
                }
                ctx.output.send(events).await;
            }
        }
    }
    let _ = ctx.healthy.send(false);
    stop.cancel();
    let _ = answerer.await;
    Ok(())
}
