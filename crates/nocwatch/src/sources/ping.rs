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

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use nocwatch_icmp::{Pinger, Reply};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::SourceContext;
use super::snmp::{DeviceNaming, check_namespace, check_tag, default_namespace, split_tag};
use crate::component::Running;
use crate::config;
use crate::event::{Event, Metric, MetricType, Tags};

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
        let v4 = targets.iter().any(|t| t.ip.is_ipv4()).then(|| open_socket(false)).transpose()?;
        let v6 = targets.iter().any(|t| t.ip.is_ipv6()).then(|| open_socket(true)).transpose()?;
        tracing::info!(source = %ctx.id, targets = targets.len(), "ping ready");
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
}

fn open_socket(ipv6: bool) -> anyhow::Result<IcmpSocket> {
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
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
    Ok(IcmpSocket { socket, raw })
}

#[derive(Default, Clone)]
struct Check {
    sent: u32,
    rtts_ms: Vec<f64>,
}

fn now_nanos() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

async fn run(
    config: PingSourceConfig,
    targets: Vec<Target>,
    v4: Option<IcmpSocket>,
    v6: Option<IcmpSocket>,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let mut pinger: Pinger<usize> = Pinger::new(fastrand::u16(..));
    let late = ctx.metrics.error_counter("late_or_duplicate_reply");
    let send_errors = ctx.metrics.error_counter("send");
    let mut checks = vec![Check::default(); targets.len()];
    let timeout = config.timeout.get();
    let mut round = tokio::time::interval(config.interval.get());
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probes_left = 0u32;
    let mut next_probe = tokio::time::Instant::now();
    let mut report_at: Option<tokio::time::Instant> = None;
    let (mut buf4, mut buf6) = ([0u8; 2048], [0u8; 2048]);
    let _ = ctx.healthy.send(true);
    loop {
        let probe_due = async {
            if probes_left > 0 { tokio::time::sleep_until(next_probe).await } else { std::future::pending().await }
        };
        let report_due = async {
            match report_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            received = recv(v4.as_ref(), &mut buf4) => {
                if let Some(len) = received {
                    handle_reply(&mut pinger, &buf4[..len], v4.as_ref().is_some_and(|s| s.raw), &mut checks, &late);
                }
            }
            received = recv(v6.as_ref(), &mut buf6) => {
                if let Some(len) = received {
                    handle_reply(&mut pinger, &buf6[..len], v6.as_ref().is_some_and(|s| s.raw), &mut checks, &late);
                }
            }
            _ = round.tick(), if probes_left == 0 && report_at.is_none() => {
                probes_left = config.count;
                next_probe = tokio::time::Instant::now();
            }
            _ = probe_due => {
                let now = now_nanos();
                for (index, target) in targets.iter().enumerate() {
                    let socket = if target.ip.is_ipv4() { v4.as_ref() } else { v6.as_ref() };
                    let Some(socket) = socket else { continue };
                    let Some(packet) = pinger.request(index, target.ip.is_ipv6(), config.payload_size, now) else { continue };
                    checks[index].sent += 1;
                    if socket.socket.send_to(&packet, SocketAddr::new(target.ip, 0)).await.is_err() {
                        send_errors.inc();
                    }
                }
                probes_left -= 1;
                next_probe += config.spacing.get();
                if probes_left == 0 {
                    report_at = Some(tokio::time::Instant::now() + timeout);
                }
            }
            _ = report_due => {
                report_at = None;
                for _ in pinger.expire(now_nanos(), timeout.as_nanos() as i128) {}
                let events = report(&targets, &mut checks);
                ctx.output.send(events).await;
            }
        }
    }
    let _ = ctx.healthy.send(false);
    Ok(())
}

async fn recv(socket: Option<&IcmpSocket>, buf: &mut [u8]) -> Option<usize> {
    match socket {
        Some(socket) => socket.socket.recv_from(buf).await.ok().map(|(len, _)| len),
        None => std::future::pending().await,
    }
}

fn handle_reply(
    pinger: &mut Pinger<usize>,
    bytes: &[u8],
    raw: bool,
    checks: &mut [Check],
    late: &prometheus_client::metrics::counter::Counter,
) {
    match pinger.reply(bytes, raw, now_nanos()) {
        Reply::Answer { target, rtt_nanos } => {
            if let Some(check) = checks.get_mut(target) {
                check.rtts_ms.push(rtt_nanos as f64 / 1e6);
            }
        }
        Reply::LateOrDuplicate => {
            late.inc();
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
