//! The SNMP trap source: receives SNMPv1/v2c/v3 traps and informs over UDP (default
//! `0.0.0.0:9162`, as the Datadog Agent's traps listener) and turns each accepted one
//! into a log event ([`event`]). Decisions (communities, USM, engine discovery, inform
//! responses, rejection reasons) are the sans-IO `nocwatch_snmp::receiver`'s; this module
//! owns the sockets, the threads and the counters.
//!
//! Each socket (`SO_REUSEPORT`, one per CPU by default) is read by a thread of its own
//! blocked in recv_from, with its own receiver state: an inform is answered right after
//! it is read, and the decoding and USM cryptography of a burst spread over the cores
//! without an event-loop turn per datagram. Events go to the pipeline in batches.

pub mod event;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nocwatch_snmp::display::parse_hex;
use nocwatch_snmp::receiver::{Network, Outcome, Receiver, ReceiverConfig, RejectReason, ReportLimit};
use nocwatch_snmp::session::MAX_BOOTS;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Listen, SourceContext};
use crate::component::Running;
use crate::config::{ByteSize, Secret};
use crate::event::Event;
use crate::snmp::UsmCredentials;
use crate::telemetry::{ComponentMetrics, DropReason, RateLimit};
use event::TrapFormatter;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpTrapsConfig {
    /// Where devices send traps and informs.
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// A TCP address that accepts connections while this source is healthy.
    #[serde(default)]
    pub health_check: Option<SocketAddr>,
    /// SNMPv1/v2c communities accepted. None: v1/v2c notifications are refused.
    #[serde(default)]
    pub communities: Vec<Secret>,
    /// SNMPv3 users (`context_name` does not apply: a notification's context is not checked).
    #[serde(default)]
    pub users: Vec<UsmCredentials>,
    /// Networks allowed to send (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`). Empty: any.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// The `device_namespace` tag.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Our SNMPv3 engine ID (hex, 5 to 32 bytes), authoritative for informs. Default:
    /// derived from the agent's host name.
    #[serde(default)]
    pub engine_id: Option<String>,
    /// Kernel receive buffer asked for each socket (bursts wait here).
    #[serde(default = "default_receive_buffer")]
    pub receive_buffer: ByteSize,
    /// Sockets sharing the port, each read by its own thread. Default: one per CPU.
    #[serde(default)]
    pub receivers: Option<usize>,
    /// SNMPv3 Reports (engine discovery, usmStats) per sender.
    #[serde(default)]
    pub report_rate_limit: ReportRateLimitConfig,
}

/// Reports answer messages whose source anyone can forge, and are larger than the probe
/// asking for one: each sender (IPv4 address, IPv6 /64) gets `burst`, then `rate` a second.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportRateLimitConfig {
    pub rate: f64,
    pub burst: u32,
    /// Senders tracked at once; beyond, new ones share one limit.
    pub max_clients: usize,
}

impl Default for ReportRateLimitConfig {
    fn default() -> Self {
        let limit = ReportLimit::default();
        ReportRateLimitConfig { rate: limit.per_second, burst: limit.burst, max_clients: limit.max_sources }
    }
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9162))
}

fn default_namespace() -> String {
    "default".to_owned()
}

fn default_receive_buffer() -> ByteSize {
    ByteSize::mib(8)
}

/// Datagrams read per wakeup before the events are handed on.
const MAX_BATCH: usize = 256;
/// Batches waiting between the receiving threads and the pipeline.
const QUEUE_BATCHES: usize = 64;
/// Largest datagram accepted (the IPv4 UDP payload limit).
const MAX_DATAGRAM: usize = 65_507;

static REJECTED: RateLimit = RateLimit::new(Duration::from_secs(10));
static RECV_ERRORS: RateLimit = RateLimit::new(Duration::from_secs(10));

/// The default engine ID (RFC 3411 SnmpEngineID, text format): the net-snmp enterprise
/// prefix `80001f88`, format 4, then `nocwatch@<host>` cut to the 32-byte maximum. Stable
/// across restarts, so devices that cached it keep using it.
fn default_engine_id(hostname: &str) -> Vec<u8> {
    let mut id = vec![0x80, 0x00, 0x1f, 0x88, 0x04];
    id.extend(format!("nocwatch@{hostname}").bytes().take(27));
    id
}

/// snmpEngineBoots from the wall clock (seconds since 1970): where the count starts, and
/// the fallback when it cannot be kept.
fn engine_boots_from_clock() -> u32 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX).clamp(1, MAX_BOOTS)
}

/// Where the snmpEngineBoots of `engine_id` is kept: `<data_dir>/snmp_engine/<hex id>`.
fn engine_boots_path(data_dir: &Path, engine_id: &[u8]) -> PathBuf {
    let name: String = engine_id.iter().map(|b| format!("{b:02x}")).collect();
    data_dir.join("snmp_engine").join(name)
}

/// snmpEngineBoots for this start: one more than the stored count, written back before
/// anything is answered. RFC 3414 2.2: it must grow at every restart (an inform captured
/// before a restart must never fit the time window again), whatever the clock does. The
/// first start (no file) takes the wall clock in seconds, which nocwatch used before it
/// kept a count, so an upgrade never goes back. Reaches [`MAX_BOOTS`] and stays there (the
/// RFC's latch: the users' keys must then change).
fn next_engine_boots(path: &Path) -> io::Result<u32> {
    let stored = match std::fs::read_to_string(path) {
        Ok(text) => Some(text.trim().parse::<u32>().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{} does not hold a number", path.display()))
        })?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let boots = stored.map_or_else(engine_boots_from_clock, |n| n.saturating_add(1)).clamp(1, MAX_BOOTS);
    write_atomically(path, format!("{boots}\n").as_bytes())?;
    Ok(boots)
}

/// Replaces `path`'s content so that a crash leaves the old or the new one, never a mix:
/// write and sync a temporary file beside it, rename it over, sync the directory.
fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(content)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

impl SnmpTrapsConfig {
    pub fn listens(&self) -> Vec<Listen> {
        let mut listens = vec![Listen { address: self.address, udp: true, key: "address" }];
        if let Some(address) = self.health_check {
            listens.push(Listen { address, udp: false, key: "health_check" });
        }
        listens
    }

    fn networks(&self) -> Result<Vec<Network>, String> {
        self.allowed_sources
            .iter()
            .map(|text| text.parse::<Network>().map_err(|e| format!("allowed_sources: {e}")))
            .collect()
    }

    fn engine_id(&self, hostname: &str) -> Result<Vec<u8>, String> {
        match &self.engine_id {
            None => Ok(default_engine_id(hostname)),
            Some(text) => match parse_hex(text) {
                Some(id) if (5..=32).contains(&id.len()) => Ok(id),
                _ => Err(format!("engine_id `{text}`: give 5 to 32 bytes in hex, e.g. 80001f88046e6f63")),
            },
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.networks()?;
        self.engine_id("localhost")?;
        if self.receivers == Some(0) {
            return Err("receivers must be at least 1".to_owned());
        }
        let limit = &self.report_rate_limit;
        if !(limit.rate.is_finite() && limit.rate > 0.0 && limit.burst > 0 && limit.max_clients > 0) {
            return Err("report_rate_limit: rate, burst and max_clients must be more than 0".to_owned());
        }
        if self.communities.is_empty() && self.users.is_empty() {
            return Err("give `communities` (v1/v2c) or `users` (v3): without either every trap is refused".to_owned());
        }
        for (i, user) in self.users.iter().enumerate() {
            let name = user.user.as_deref().unwrap_or_default().escape_debug().to_string();
            let at = format!("users[{i}] (`{name}`)");
            // Everything the key derivation at start-up would refuse.
            user.check().map_err(|e| format!("{at}: {e}"))?;
            if user.context_name.is_some() {
                return Err(format!("{at}: `context_name` does not apply to received notifications"));
            }
        }
        Ok(())
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        self.validate().map_err(anyhow::Error::msg)?;
        let engine_id = self.engine_id(&ctx.hostname).map_err(anyhow::Error::msg)?;
        let boots_path = engine_boots_path(&ctx.data_dir, &engine_id);
        let boots = {
            let path = boots_path.clone();
            tokio::task::spawn_blocking(move || next_engine_boots(&path)).await?
        };
        let boots = boots.unwrap_or_else(|e| {
            // Still growing across restarts while the clock does; informs work either way.
            tracing::warn!(source = %ctx.id, path = %boots_path.display(), error = %e, "cannot keep snmpEngineBoots; using the wall clock instead");
            engine_boots_from_clock()
        });
        let mut receiver_config = ReceiverConfig::new(engine_id, boots);
        receiver_config.communities = self.communities.iter().map(|c| c.expose().as_bytes().to_vec()).collect();
        receiver_config.allowed_sources = self.networks().map_err(anyhow::Error::msg)?;
        let limit = self.report_rate_limit;
        receiver_config.report_limit =
            ReportLimit { per_second: limit.rate, burst: limit.burst, max_sources: limit.max_clients };
        // Password-to-key hashes 1 MiB per key: once here, shared by every receiving thread.
        let users = self.users.clone();
        receiver_config.users = tokio::task::spawn_blocking(move || {
            users.iter().map(UsmCredentials::usm_user).collect::<Result<Vec<_>, String>>()
        })
        .await?
        .map_err(anyhow::Error::msg)?;

        let receivers =
            self.receivers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
        let (sockets, granted) = crate::net::bind_udp(self.address, self.receive_buffer.as_usize(), receivers)
            .with_context(|| format!("cannot listen on udp://{}", self.address))?;
        tracing::info!(
            source = %ctx.id,
            address = %self.address,
            receivers,
            receive_buffer = granted,
            communities = self.communities.len(),
            users = self.users.len(),
            engine_boots = boots,
            mib_nodes = ctx.mibs.len(),
            "SNMP traps listening"
        );
        let formatter = Arc::new(TrapFormatter::new(ctx.mibs.clone(), self.namespace.clone()));
        let counters = Arc::new(Counters::new(&ctx.metrics));
        let started = Instant::now();
        let mut kernel_drops = crate::net::KernelDrops::default();
        for socket in &sockets {
            kernel_drops.watch(socket)?;
        }
        Ok(Box::pin(async move {
            let (tx, mut rx) = mpsc::channel::<Vec<Event>>(QUEUE_BATCHES);
            let stop = ctx.shutdown.child_token();
            let _stop_threads = stop.clone().drop_guard();
            let mut threads = Vec::new();
            for (index, socket) in sockets.into_iter().enumerate() {
                let receiver = Receiver::new(receiver_config.clone(), started, fastrand::u64(..));
                let thread = ReceiveThread {
                    socket,
                    receiver,
                    formatter: formatter.clone(),
                    counters: counters.clone(),
                    tx: tx.clone(),
                    stop: stop.clone(),
                    id: ctx.id.clone(),
                };
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("traps-{index}"))
                        .spawn(move || thread.run())
                        .context("cannot start a receiving thread")?,
                );
            }
            drop(tx);
            let _ = ctx.healthy.send(true);
            let mut drops_check = tokio::time::interval(crate::net::KERNEL_DROPS_CHECK);
            loop {
                tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => break,
                    batch = rx.recv() => match batch {
                        Some(batch) => ctx.output.send(batch).await,
                        None => break,
                    },
                    _ = drops_check.tick() => {
                        counters.kernel_drops.inc_by(kernel_drops.take_new());
                    }
                }
            }
            let _ = ctx.healthy.send(false);
            stop.cancel();
            // What the threads read before they stopped still goes out.
            while let Some(batch) = rx.recv().await {
                ctx.output.send(batch).await;
            }
            for thread in threads {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            counters.kernel_drops.inc_by(kernel_drops.take_new());
            Ok(())
        }))
    }
}

/// Self-metrics: rejections by reason (`nocwatch_component_errors{reason=...}`), responses
/// that could not be sent, and events lost when the pipeline was gone.
struct Counters {
    rejected: Vec<(RejectReason, Counter)>,
    send_errors: Counter,
    receive_errors: Counter,
    /// Reports not sent: their sender had had its share (`report_rate_limit`).
    reports_suppressed: Counter,
    /// Events of a batch the pipeline no longer took (the source stopped under it).
    dropped_at_shutdown: Counter,
    /// Datagrams the kernel dropped, its receive buffer full.
    kernel_drops: Counter,
}

impl Counters {
    fn new(metrics: &ComponentMetrics) -> Counters {
        Counters {
            rejected: RejectReason::ALL.iter().map(|r| (*r, metrics.error_counter(r.as_str()))).collect(),
            send_errors: metrics.error_counter("send"),
            receive_errors: metrics.error_counter("receive"),
            reports_suppressed: metrics.error_counter("report_rate_limited"),
            dropped_at_shutdown: metrics.drop_counter(DropReason::Shutdown),
            kernel_drops: metrics.error_counter("receive_buffer_full"),
        }
    }

    fn rejected(&self, reason: RejectReason) {
        if let Some((_, counter)) = self.rejected.iter().find(|(r, _)| *r == reason) {
            counter.inc();
        }
    }
}

struct ReceiveThread {
    socket: std::net::UdpSocket,
    receiver: Receiver,
    formatter: Arc<TrapFormatter>,
    counters: Arc<Counters>,
    tx: mpsc::Sender<Vec<Event>>,
    stop: CancellationToken,
    id: String,
}

impl ReceiveThread {
    fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut batch: Vec<Event> = Vec::new();
        while !self.stop.is_cancelled() {
            // Wait for the first datagram, then take what else is queued without waiting.
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => self.handle(&buf[..len], from, &mut batch),
                Err(e) if is_timeout(&e) => continue,
                Err(e) => {
                    self.receive_error(&e);
                    continue;
                }
            }
            if self.socket.set_nonblocking(true).is_ok() {
                while batch.len() < MAX_BATCH {
                    match self.socket.recv_from(&mut buf) {
                        Ok((len, from)) => self.handle(&buf[..len], from, &mut batch),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.receive_error(&e);
                            break;
                        }
                    }
                }
                let _ = self.socket.set_nonblocking(false);
            }
            if !batch.is_empty() {
                // Back-pressure: a full pipeline stops reading; the kernel buffer absorbs it.
                // It fails only once the source stopped: what was read is lost, and counted.
                if let Err(mpsc::error::SendError(lost)) = self.tx.blocking_send(std::mem::take(&mut batch)) {
                    self.counters.dropped_at_shutdown.inc_by(lost.len() as u64);
                    return;
                }
            }
        }
    }

    fn handle(&mut self, datagram: &[u8], from: SocketAddr, batch: &mut Vec<Event>) {
        let sender: IpAddr = from.ip().to_canonical();
        let suppressed_before = self.receiver.reports_suppressed();
        let received = self.receiver.receive(datagram, sender, Instant::now());
        self.counters.reports_suppressed.inc_by(self.receiver.reports_suppressed().wrapping_sub(suppressed_before));
        if let Some(response) = &received.response
            && self.socket.send_to(response, from).is_err()
        {
            self.counters.send_errors.inc();
        }
        match received.outcome {
            Outcome::Notification(notification) => {
                batch.push(Event::Log(self.formatter.to_event(&notification, sender, jiff::Timestamp::now())));
            }
            // Answered above; a normal first step of every v3 inform sender.
            Outcome::Discovery => {}
            Outcome::Rejected(rejection) => {
                self.counters.rejected(rejection.reason);
                if let Some(suppressed) = REJECTED.allow() {
                    tracing::warn!(
                        source = %self.id,
                        sender = %from,
                        reason = %rejection.reason,
                        // Debug-escaped: the detail can quote a user name from the
                        // datagram, whose control characters must not forge log lines.
                        detail = ?rejection.detail,
                        suppressed,
                        "SNMP notification rejected"
                    );
                }
            }
        }
    }

    fn receive_error(&self, e: &io::Error) {
        self.counters.receive_errors.inc();
        if let Some(suppressed) = RECV_ERRORS.allow() {
            tracing::warn!(source = %self.id, error = %e, suppressed, "UDP receive failed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch read after the pipeline is gone (the source stopped under the receiving
    /// thread) is lost: it must show in the source's dropped events, not vanish.
    #[test]
    fn a_batch_the_pipeline_no_longer_takes_is_counted_as_dropped() {
        let telemetry = crate::telemetry::Telemetry::new();
        let metrics = telemetry.component(crate::telemetry::ComponentKind::Source, "traps", "snmp_traps");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(crate::net::RECEIVER_WAKE)).unwrap();
        let address = socket.local_addr().unwrap();
        let mut config = ReceiverConfig::new(default_engine_id("test"), 1);
        config.communities = vec![b"public".to_vec()];
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let thread = ReceiveThread {
            socket,
            receiver: Receiver::new(config, Instant::now(), 1),
            formatter: Arc::new(TrapFormatter::new(Arc::new(nocwatch_mib::Mibs::empty()), "default".to_owned())),
            counters: Arc::new(Counters::new(&metrics)),
            tx,
            stop: CancellationToken::new(),
            id: "traps".to_owned(),
        };
        // Two v2c traps (community `public`, snmpTrapOID.0 = coldStart), read as one batch.
        let trap = nocwatch_snmp::CommunityMessage {
            version: nocwatch_snmp::Version::V2c,
            community: nocwatch_snmp::Community(b"public".to_vec()),
            pdu: nocwatch_snmp::AnyPdu::Pdu(nocwatch_snmp::Pdu {
                kind: nocwatch_snmp::PduType::TrapV2,
                request_id: 1,
                error_status: 0,
                error_index: 0,
                varbinds: vec![nocwatch_snmp::VarBind::new(
                    nocwatch_snmp::Oid::from(nocwatch_snmp::receiver::SNMP_TRAP_OID),
                    nocwatch_snmp::Value::ObjectId(nocwatch_snmp::Oid::from([1, 3, 6, 1, 6, 3, 1, 1, 5, 1])),
                )],
            }),
        }
        .encode();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(&trap, address).unwrap();
        sender.send_to(&trap, address).unwrap();
        // Returns as soon as its first batch cannot be handed on.
        thread.run();
        assert_eq!(metrics.drop_counter(DropReason::Shutdown).get(), 2);
        assert_eq!(metrics.status().dropped_events, 2, "in /status too");
    }

    #[test]
    fn engine_boots_grow_by_one_from_the_stored_count_and_latch_at_the_maximum() {
        let dir = tempfile::tempdir().unwrap();
        let path = engine_boots_path(dir.path(), &[0x80, 0x00, 0x1f, 0x88, 0x04, 0xab]);
        assert!(path.ends_with("snmp_engine/80001f8804ab"));
        let first = next_engine_boots(&path).unwrap();
        assert!(first >= engine_boots_from_clock().saturating_sub(5), "starts from the clock: {first}");
        assert_eq!(next_engine_boots(&path).unwrap(), first + 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", first + 1));
        // Ahead of the clock (the clock went back since): still one more, never the clock.
        std::fs::write(&path, "2100000000\n").unwrap();
        assert_eq!(next_engine_boots(&path).unwrap(), 2_100_000_001);
        std::fs::write(&path, format!("{MAX_BOOTS}")).unwrap();
        assert_eq!(next_engine_boots(&path).unwrap(), MAX_BOOTS);
        std::fs::write(&path, "garbage").unwrap();
        assert!(next_engine_boots(&path).is_err(), "a damaged count is not silently restarted");
    }

    #[test]
    fn engine_id_default_and_hex() {
        let id = default_engine_id("a-rather-long-host-name.example.com");
        assert_eq!(&id[..5], &[0x80, 0x00, 0x1f, 0x88, 0x04]);
        assert_eq!(id.len(), 32);
        assert_eq!(parse_hex("0x80001F8804"), Some(vec![0x80, 0, 0x1f, 0x88, 4]));
        assert_eq!(parse_hex("8000f"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
