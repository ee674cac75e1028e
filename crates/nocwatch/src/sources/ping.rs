//! The ping source: ICMP echo to a list of targets, with the Datadog metric names
//! (`networkdevice.ping.avg_rtt`, `.reachable`, `.unreachable`, `.packet_loss`, plus
//! `.min_rtt` and `.max_rtt`), named like the device's SNMP metrics (the snmp source's
//! [`DeviceNaming`]: `snmp_device`, `device_namespace`, and the host `device:<id>` with
//! `use_device_id_as_hostname`), as Datadog's SNMP check tags its own ping metrics, so
//! both land on one Datadog host.
//!
//! One socket per address family serves every target (no task or thread per target);
//! matching replies to requests is `nocwatch_icmp::Pinger`'s. It uses an unprivileged ICMP
//! datagram socket where `net.ipv4.ping_group_range` allows, else a raw socket (root or
//! `CAP_NET_RAW`), and says which when neither works.
//!
//! Round-trip times are measured on the monotonic clock: each request is stamped when it
//! is sent and each reply when it is read. Requests go out in batches of [`SEND_BATCH`],
//! and replies already received are read between two batches, so a round to thousands of
//! targets neither adds its own duration to the RTTs nor piles replies up in the socket's
//! receive buffer (`receive_buffer`); what the kernel still drops there is counted.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nocwatch_icmp::{Pinger, Reply};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::SourceContext;
use super::snmp::{DeviceNaming, check_namespace, check_tag, default_namespace, split_tag};
use crate::component::Running;
use crate::config::{self, ByteSize};
use crate::event::{Event, Metric, MetricType, Tags};
use crate::telemetry::RateLimit;

/// Requests sent in one turn of the loop before the replies received meanwhile are read.
const SEND_BATCH: usize = 64;
/// Sequence numbers one pinger can have in flight (`nocwatch_icmp::Pinger`).
const MAX_IN_FLIGHT: u64 = 65_535;

static RECEIVE_ERROR_LOG: RateLimit = RateLimit::new(Duration::from_secs(60));

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingSourceConfig {
    /// Addresses or host names (a comma-separated `${VAR}` works too).
    pub targets: Vec<String>,
    /// How often each target is checked.
    #[serde(default = "default_interval")]
    pub interval: config::Duration,
    /// Echo requests per check.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Time between the requests of one check.
    #[serde(default = "default_spacing")]
    pub spacing: config::Duration,
    /// How long a reply may take.
    #[serde(default = "default_timeout")]
    pub timeout: config::Duration,
    /// Bytes of payload after the 8-byte ICMP header.
    #[serde(default = "default_payload_size")]
    pub payload_size: usize,
    /// The device namespace, as the snmp source's `namespace`: the `device_namespace` tag
    /// and part of the device id.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Send each target's metrics under the host `device:<namespace>:<target>`, as the snmp
    /// source does with the same key.
    #[serde(default)]
    pub use_device_id_as_hostname: bool,
    /// `key:value` tags for every target's metrics.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Kernel receive buffer asked for each ICMP socket (the replies of a whole round
    /// may wait there).
    #[serde(default = "default_receive_buffer")]
    pub receive_buffer: ByteSize,
}

fn default_interval() -> config::Duration {
    config::Duration::from_secs(15)
}
fn default_count() -> u32 {
    3
}
fn default_spacing() -> config::Duration {
    config::Duration::from_millis(200)
}
fn default_timeout() -> config::Duration {
    config::Duration::from_secs(1)
}
fn default_payload_size() -> usize {
    56
}
fn default_receive_buffer() -> ByteSize {
    ByteSize::mib(8)
}

impl PingSourceConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.targets.is_empty() {
            return Err("targets: give at least one".to_owned());
        }
        if self.count == 0 || self.interval.get().is_zero() || self.timeout.get().is_zero() {
            return Err("count, interval and timeout must be more than 0".to_owned());
        }
        if self.payload_size > 65_000 {
            return Err("payload_size is at most 65000".to_owned());
        }
        // Every request of a check stays in flight until the check is reported.
        if self.targets.len() as u64 * u64::from(self.count) > MAX_IN_FLIGHT {
            return Err(format!(
                "targets × count is {} × {}: at most {MAX_IN_FLIGHT} echo requests can be in flight in one check \
                 (split the targets over several ping sources)",
                self.targets.len(),
                self.count
            ));
        }
        check_namespace(&self.namespace)?;
        for tag in &self.tags {
            check_tag(tag).map_err(|e| format!("tags: {e}"))?;
        }
        Ok(())
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        let mut targets = Vec::with_capacity(self.targets.len());
        for name in &self.targets {
            let ip = match name.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .with_context(|| format!("cannot resolve ping target `{name}`"))?
                    .next()
                    .with_context(|| format!("ping target `{name}` has no address"))?
                    .ip(),
            };
            // Named as the snmp source names a device polled at this address on port 161.
            let naming = DeviceNaming::new(&self.namespace, name, 161, self.use_device_id_as_hostname);
            let mut tags: Tags = self.tags.iter().map(|tag| split_tag(tag)).collect();
            tags.extend(naming.tags);
            tags.insert("ping_target".to_owned(), name.clone());
            targets.push(Target { ip, host: naming.host, tags });
        }
        let buffer = self.receive_buffer.as_usize();
        let v4 = targets.iter().any(|t| t.ip.is_ipv4()).then(|| open_socket(false, buffer)).transpose()?;
        let v6 = targets.iter().any(|t| t.ip.is_ipv6()).then(|| open_socket(true, buffer)).transpose()?;
        let granted = v4.iter().chain(&v6).map(|s| s.receive_buffer).min().unwrap_or(0);
        tracing::info!(source = %ctx.id, targets = targets.len(), receive_buffer = granted, "ping ready");
        Ok(Box::pin(run(self.clone(), targets, v4, v6, ctx)))
    }
}

struct Target {
    ip: IpAddr,
    /// The Datadog host of its metrics (the device's, or none).
    host: Option<String>,
    tags: Tags,
}

/// An ICMP socket and whether it is raw (replies then carry the IPv4 header and every
/// process's ICMP, so the identifier must be checked).
struct IcmpSocket {
    socket: UdpSocket,
    raw: bool,
    /// The receive buffer the kernel granted.
    receive_buffer: usize,
}

fn open_socket(ipv6: bool, receive_buffer: usize) -> anyhow::Result<IcmpSocket> {
    let (domain, protocol) = if ipv6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(socket) => (socket, false),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(socket) => (socket, true),
            Err(_) => anyhow::bail!(
                "cannot open an ICMP socket ({dgram}): run as root or with CAP_NET_RAW, or let this user's group \
                 use ICMP datagram sockets with `sysctl net.ipv4.ping_group_range=\"0 2147483647\"`"
            ),
        },
    };
    // As for the UDP sources: SO_RCVBUFFORCE where allowed, else capped at `net.core.rmem_max`.
    let receive_buffer = crate::net::set_receive_buffer(&socket, receive_buffer);
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
    Ok(IcmpSocket { socket, raw, receive_buffer })
}

#[derive(Default, Clone)]
struct Check {
    sent: u32,
    rtts_ms: Vec<f64>,
}

/// Nanoseconds on the monotonic clock since `epoch`: what the pinger's times are in.
fn monotonic_nanos(epoch: Instant) -> i128 {
    epoch.elapsed().as_nanos() as i128
}

async fn run(
    config: PingSourceConfig,
    targets: Vec<Target>,
    v4: Option<IcmpSocket>,
    v6: Option<IcmpSocket>,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let mut pinger: Pinger<usize> = Pinger::new(fastrand::u16(..));
    let epoch = Instant::now();
    let counters = Counters {
        late: ctx.metrics.error_counter("late_or_duplicate_reply"),
        receive: ctx.metrics.error_counter("receive"),
        wrong_source: ctx.metrics.error_counter("wrong_source"),
    };
    let send_errors = ctx.metrics.error_counter("send");
    let no_sequence = ctx.metrics.error_counter("no_sequence");
    let kernel_drops = ctx.metrics.error_counter("receive_buffer_full");
    let mut kernel_drops_of = crate::net::KernelDrops::default();
    for socket in v4.iter().chain(v6.iter()) {
        kernel_drops_of.watch(&socket.socket)?;
    }
    let mut checks = vec![Check::default(); targets.len()];
    let timeout = config.timeout.get();
    let mut round = tokio::time::interval(config.interval.get());
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probes_left = 0u32;
    let mut next_probe = tokio::time::Instant::now();
    // The next target of the probe being sent; `targets.len()` when none is.
    let mut next_target = targets.len();
    let mut report_at: Option<tokio::time::Instant> = None;
    let (mut buf4, mut buf6) = ([0u8; 2048], [0u8; 2048]);
    let _ = ctx.healthy.send(true);
    loop {
        let sending = next_target < targets.len();
        let probe_due = async {
            if probes_left > 0 && !sending {
                tokio::time::sleep_until(next_probe).await
            } else {
                std::future::pending().await
            }
        };
        let report_due = async {
            match report_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Replies first (`biased`): they are read, and stamped, as soon as they are there.
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            received = recv(v4.as_ref(), &mut buf4) => {
                let at = monotonic_nanos(epoch);
                let raw = v4.as_ref().is_some_and(|s| s.raw);
                handle_reply(&mut pinger, received.map(|(len, from)| (&buf4[..len], from)), raw, at, &mut checks, &counters);
            }
            received = recv(v6.as_ref(), &mut buf6) => {
                let at = monotonic_nanos(epoch);
                let raw = v6.as_ref().is_some_and(|s| s.raw);
                handle_reply(&mut pinger, received.map(|(len, from)| (&buf6[..len], from)), raw, at, &mut checks, &counters);
            }
            _ = round.tick(), if probes_left == 0 && report_at.is_none() => {
                probes_left = config.count;
                next_probe = tokio::time::Instant::now();
            }
            _ = probe_due => next_target = 0,
            _ = std::future::ready(()), if sending => {
                let batch_end = (next_target + SEND_BATCH).min(targets.len());
                for (index, target) in targets.iter().enumerate().take(batch_end).skip(next_target) {
                    let socket = if target.ip.is_ipv4() { v4.as_ref() } else { v6.as_ref() };
                    let Some(socket) = socket else { continue };
                    // Each request's own send time, so a long round does not add to the RTTs.
                    let now = monotonic_nanos(epoch);
                    let Some(packet) = pinger.request(index, target.ip, config.payload_size, now) else {
                        // All sequence numbers in flight (validate() keeps targets × count below that).
                        no_sequence.inc();
                        continue;
                    };
                    checks[index].sent += 1;
                    if socket.socket.send_to(&packet, SocketAddr::new(target.ip, 0)).await.is_err() {
                        send_errors.inc();
                    }
                    // Replies already there are read, and stamped, now rather than after the batch.
                    read_ready(v4.as_ref(), &mut buf4, epoch, &mut pinger, &mut checks, &counters);
                    read_ready(v6.as_ref(), &mut buf6, epoch, &mut pinger, &mut checks, &counters);
                }
                next_target = batch_end;
                if next_target == targets.len() {
                    probes_left -= 1;
                    next_probe += config.spacing.get();
                    if probes_left == 0 {
                        report_at = Some(tokio::time::Instant::now() + timeout);
                    }
                }
            }
            _ = report_due => {
                report_at = None;
                for _ in pinger.expire(monotonic_nanos(epoch), timeout.as_nanos() as i128) {}
                kernel_drops.inc_by(kernel_drops_of.take_new());
                let events = report(&targets, &mut checks);
                ctx.output.send(events).await;
            }
        }
    }
    let _ = ctx.healthy.send(false);
    Ok(())
}

/// The error counters replies can land in.
struct Counters {
    late: Counter,
    receive: Counter,
    wrong_source: Counter,
}

/// The next datagram's length and sender, or the receive error (counted by the caller).
async fn recv(socket: Option<&IcmpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// Handles every datagram `socket` holds now, without waiting.
fn read_ready(
    socket: Option<&IcmpSocket>,
    buf: &mut [u8],
    epoch: Instant,
    pinger: &mut Pinger<usize>,
    checks: &mut [Check],
    counters: &Counters,
) {
    let Some(socket) = socket else { return };
    loop {
        match socket.socket.try_recv_from(buf) {
            Ok((len, from)) => {
                handle_reply(pinger, Ok((&buf[..len], from)), socket.raw, monotonic_nanos(epoch), checks, counters)
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(error) => {
                handle_reply(pinger, Err(error), socket.raw, monotonic_nanos(epoch), checks, counters);
                return;
            }
        }
    }
}

fn handle_reply(
    pinger: &mut Pinger<usize>,
    received: std::io::Result<(&[u8], SocketAddr)>,
    raw: bool,
    now: i128,
    checks: &mut [Check],
    counters: &Counters,
) {
    let (bytes, from) = match received {
        Ok(received) => received,
        Err(error) => {
            counters.receive.inc();
            if let Some(suppressed) = RECEIVE_ERROR_LOG.allow() {
                tracing::warn!(%error, suppressed, "ping: cannot receive from the ICMP socket");
            }
            return;
        }
    };
    match pinger.reply(bytes, from.ip(), raw, now) {
        Reply::Answer { target, rtt_nanos } => {
            if let Some(check) = checks.get_mut(target) {
                check.rtts_ms.push(rtt_nanos as f64 / 1e6);
            }
        }
        Reply::LateOrDuplicate => {
            counters.late.inc();
        }
        Reply::WrongSource => {
            counters.wrong_source.inc();
        }
        Reply::Foreign => {}
    }
}

fn report(targets: &[Target], checks: &mut [Check]) -> Vec<Event> {
    let timestamp = jiff::Timestamp::now();
    let mut events = Vec::with_capacity(targets.len() * 6);
    for (target, check) in targets.iter().zip(checks.iter_mut()) {
        let check = std::mem::take(check);
        if check.sent == 0 {
            continue;
        }
        let mut gauge = |name: &str, value: f64| {
            events.push(Event::Metric(Metric {
                name: format!("networkdevice.ping.{name}"),
                metric_type: MetricType::Gauge,
                value,
                timestamp,
                interval_secs: None,
                host: target.host.clone(),
                tags: target.tags.clone(),
            }));
        };
        let received = check.rtts_ms.len() as f64;
        let reachable = received > 0.0;
        gauge("reachable", f64::from(u8::from(reachable)));
        gauge("unreachable", f64::from(u8::from(!reachable)));
        gauge("packet_loss", 100.0 * (1.0 - received.min(f64::from(check.sent)) / f64::from(check.sent)));
        if reachable {
            gauge("avg_rtt", check.rtts_ms.iter().sum::<f64>() / received);
            gauge("min_rtt", check.rtts_ms.iter().copied().fold(f64::INFINITY, f64::min));
            gauge("max_rtt", check.rtts_ms.iter().copied().fold(0.0, f64::max));
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(targets: usize, count: u32) -> PingSourceConfig {
        PingSourceConfig {
            targets: (0..targets).map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)).collect(),
            interval: default_interval(),
            count,
            spacing: default_spacing(),
            timeout: default_timeout(),
            payload_size: default_payload_size(),
            namespace: default_namespace(),
            use_device_id_as_hostname: false,
            tags: Vec::new(),
            receive_buffer: default_receive_buffer(),
        }
    }

    /// Before, a check with more requests than sequence numbers was accepted, and the
    /// targets beyond them silently got no request and no metrics.
    #[test]
    fn more_requests_in_flight_than_sequence_numbers_is_a_config_error() {
        assert!(config(21_845, 3).validate().is_ok(), "65,535 requests");
        let error = config(21_846, 3).validate().unwrap_err();
        assert!(error.contains("at most 65535 echo requests"), "{error}");
    }
}
