//! The SNMP polling source (`type: snmp`), replacing the Datadog Agent `snmp` check.
//!
//! Owns the devices (configured, and found by subnet discovery), sharding between
//! replicas, scheduling (one task per device, first poll at a random offset within its
//! interval so devices do not poll in lockstep, a source-wide limit of polls at once),
//! and each poll: sysObjectID and sysUpTime first (profile choice, reboot detection),
//! then the profile's plan ([`fetch`]) under a deadline, then
//! the profile's evaluation turned into events ([`report`]) with the device's counter
//! state ([`counters`]).
//!
//! Profiles (schema, bundled ones, evaluation) are `nocwatch_profile`'s; requests go
//! through the shared client in [`crate::snmp`].

mod config;
pub mod counters;
pub mod discovery;
pub mod fetch;
pub mod report;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jiff::Timestamp;
use nocwatch_profile::{Profile, Profiles};
use nocwatch_snmp::{Community, Oid, Value, Version};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{
    Credentials, DeviceConfig, DiscoveryConfig, InterfaceConfig, InterfaceMatch, ShardConfig, SnmpSourceConfig,
    SnmpVersion,
};
pub(crate) use config::{check_namespace, check_tag, default_namespace, split_tag};

use self::counters::CounterTracker;
use self::discovery::{Discovered, Subnet};
use self::fetch::{Answers, FetchStats, Fetcher};
use self::report::{DeviceIdentity, Reporter};
use super::SourceContext;
use crate::component::Running;
use crate::event::{Event, Tags};
use crate::pipeline::SourceOutput;
use crate::snmp::{Client, Device, DeviceOptions, Security, SnmpError, UsmCredentials, UsmUser};
use crate::telemetry::{ComponentMetrics, RateLimit};

/// SNMPv2-MIB sysObjectID.0 and sysUpTime.0: asked first in every poll (profile choice,
/// reboot detection). sysName comes with the profile's scalars (`_base`'s `snmp_host`).
const SYS_OBJECT_ID: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 2, 0];
const SYS_UP_TIME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];

/// One warning per kind per minute at most for problems devices cause.
static NO_PROFILE_LOG: RateLimit = RateLimit::new(Duration::from_secs(60));
static UNREACHABLE_LOG: RateLimit = RateLimit::new(Duration::from_secs(60));
static UNRESOLVED_LOG: RateLimit = RateLimit::new(Duration::from_secs(60));
static POLL_ERROR_LOG: RateLimit = RateLimit::new(Duration::from_secs(60));
static OVERRUN_LOG: RateLimit = RateLimit::new(Duration::from_secs(60));

/// `poll_timeout` when not set: [`POLL_TIMEOUT_INTERVALS`] of the device's intervals, at least
/// [`MIN_POLL_TIMEOUT`]. Only a safety net against a walk that never ends (a device that
/// keeps answering ever-higher OIDs): a poll that is merely slow finishes and reports late,
/// as the Datadog Agent's check does (it has no deadline for a whole run).
const POLL_TIMEOUT_INTERVALS: u32 = 10;
const MIN_POLL_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest a poll of a device polled every `interval` may take.
fn poll_deadline(poll_timeout: Option<crate::config::Duration>, interval: Duration) -> Duration {
    poll_timeout.map_or_else(|| (interval * POLL_TIMEOUT_INTERVALS).max(MIN_POLL_TIMEOUT), |d| d.get())
}

/// The next poll's slot after a poll that was due at `due` and ended at `now`: the next
/// slot of the schedule that is still ahead, and how many slots the poll ran over (they
/// are skipped: a device is never polled twice at once, and the phase is kept).
fn next_slot(due: tokio::time::Instant, now: tokio::time::Instant, interval: Duration) -> (tokio::time::Instant, u32) {
    let next = due + interval;
    if next > now {
        return (next, 0);
    }
    let behind = now.duration_since(next).as_nanos() / interval.as_nanos().max(1) + 1;
    let behind = u32::try_from(behind).unwrap_or(u32::MAX);
    (next + interval * behind, behind)
}

/// The stable identity hash that decides which replica polls a device: FNV-1a 64 of the
/// device id (the same on every replica, every version, every platform).
pub fn shard_hash(device_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in device_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// True when this replica polls the device `device_id`.
pub fn owns(shard: Option<ShardConfig>, device_id: &str) -> bool {
    match shard {
        Some(shard) if shard.count > 1 => shard_hash(device_id) % u64::from(shard.count) == u64::from(shard.index),
        _ => true,
    }
}

/// Datadog's device id: `<namespace>:<address>`, with `:<port>` when the port is not 161
/// (so devices sharing an address on several ports stay apart).
pub fn device_id(namespace: &str, address: &str, port: u16) -> String {
    if port == 161 { format!("{namespace}:{address}") } else { format!("{namespace}:{address}:{port}") }
}

/// The `snmp_device` tag: the address, with `:<port>` when the port is not 161.
fn snmp_device_tag(address: &str, port: u16) -> String {
    if port == 161 { address.to_owned() } else { format!("{address}:{port}") }
}

/// How every metric about one device is named, whichever source emits it (this poller, the
/// ping source), so that Datadog puts them on one host and one device: the device id, the
/// host (`device:<id>` with `use_device_id_as_hostname`, else none: the sink decides) and
/// the identity tags `snmp_device` and `device_namespace`.
#[derive(Debug, Clone)]
pub struct DeviceNaming {
    pub id: String,
    pub host: Option<String>,
    pub tags: Tags,
}

impl DeviceNaming {
    pub fn new(namespace: &str, address: &str, port: u16, use_device_id_as_hostname: bool) -> DeviceNaming {
        let id = device_id(namespace, address, port);
        let mut tags = Tags::new();
        tags.insert("snmp_device".into(), snmp_device_tag(address, port));
        tags.insert("device_namespace".into(), namespace.to_owned());
        DeviceNaming { host: use_device_id_as_hostname.then(|| format!("device:{id}")), id, tags }
    }
}

impl SnmpSourceConfig {
    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        let profiles = Profiles::load(&self.profile_dirs).map_err(|e| anyhow::anyhow!("profile_dirs: {e}"))?;
        let client = Client::new().await.context("cannot open the SNMP client sockets")?;
        let defaults = &self.credentials;
        let mut owned = Vec::new();
        for device in self.all_devices() {
            let port = device.port.unwrap_or(self.port);
            if owns(self.shard, &device_id(&self.namespace, &device.address, port)) {
                let credentials = device.credentials.or(defaults);
                owned.push((device, port, credentials));
            }
        }
        let discovery = self.discovery.as_ref().map(|_| defaults);
        let users = Users::derive(owned.iter().map(|(_, _, c)| c).chain(discovery)).await?;
        let mut devices = Vec::with_capacity(owned.len());
        for (config, port, credentials) in owned {
            // A name is resolved by the device's own task (retried there): one name that
            // does not resolve now must not stop the others, nor the agent.
            let address = config.address.trim().parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port));
            devices.push(Planned { config, port, address, security: users.security(&credentials)?, subnet: None });
        }
        let discovery_security = discovery.map(|defaults| users.security(defaults)).transpose()?;
        tracing::info!(
            source = %ctx.id,
            devices = devices.len(),
            discovery = self.discovery.is_some(),
            shard = ?self.shard,
            "SNMP polling ready"
        );
        Ok(Box::pin(run(self.clone(), profiles, client, devices, discovery_security, ctx)))
    }
}

/// Longest wait for one name resolution.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait before resolving a name again; doubled at each failure up to the device's
/// interval (at most [`MAX_RESOLVE_BACKOFF`]).
const FIRST_RESOLVE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RESOLVE_BACKOFF: Duration = Duration::from_secs(300);

/// The device's address from its name (the first the system resolver gives).
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.trim(), port))).await {
        Err(_) => Err(format!("no answer within {RESOLVE_TIMEOUT:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(mut addresses)) => addresses.next().ok_or_else(|| "the name has no address".to_owned()),
    }
}

/// The wait before the next resolution after `failures` failed ones in a row.
fn resolve_backoff(failures: u32, interval: Duration) -> Duration {
    let cap = interval.clamp(FIRST_RESOLVE_BACKOFF, MAX_RESOLVE_BACKOFF);
    FIRST_RESOLVE_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(cap)
}

/// SNMPv3 users by credentials (without the context name, which is not in the keys):
/// derived once per distinct user, off the async runtime (a password-to-key is a megabyte
/// of hashing; a thousand devices usually share one user).
struct Users(HashMap<UsmCredentials, UsmUser>);

impl Users {
    async fn derive<'a>(credentials: impl Iterator<Item = &'a Credentials>) -> anyhow::Result<Users> {
        let mut distinct: Vec<UsmCredentials> = credentials
            .filter(|c| c.effective_version() == SnmpVersion::V3)
            .map(|c| UsmCredentials { context_name: None, ..c.usm.clone() })
            .collect();
        distinct.sort_by(|a, b| a.user.cmp(&b.user));
        distinct.dedup();
        let users = tokio::task::spawn_blocking(move || {
            distinct
                .into_iter()
                .map(|credentials| credentials.usm_user().map(|user| (credentials, user)))
                .collect::<Result<HashMap<_, _>, String>>()
        })
        .await?
        .map_err(anyhow::Error::msg)?;
        Ok(Users(users))
    }

    fn security(&self, credentials: &Credentials) -> anyhow::Result<Security> {
        match credentials.effective_version() {
            version @ (SnmpVersion::V1 | SnmpVersion::V2c) => {
                let version = if version == SnmpVersion::V1 { Version::V1 } else { Version::V2c };
                let community = credentials.community.as_ref().context("SNMP device without a community")?;
                Ok(Security::Community { version, community: Community(community.expose().as_bytes().to_vec()) })
            }
            SnmpVersion::V3 => {
                let usm = &credentials.usm;
                let user = self
                    .0
                    .get(&UsmCredentials { context_name: None, ..usm.clone() })
                    .context("SNMPv3 user not derived")?
                    .clone();
                Ok(Security::Usm { user, context_name: usm.context(), context_engine_id: None, engine_id: None })
            }
        }
    }
}

/// A device known at start or found by discovery, before its task starts.
struct Planned {
    config: DeviceConfig,
    port: u16,
    /// None: `config.address` is a name, resolved by the device's task.
    address: Option<SocketAddr>,
    security: Security,
    subnet: Option<String>,
}

/// What every device task shares.
struct Shared {
    config: SnmpSourceConfig,
    profiles: Profiles,
    client: Client,
    permits: Semaphore,
    output: SourceOutput,
    epoch: Instant,
    stats: SourceStats,
}

/// The source's self-metrics (`/metrics`): requests by type, errors by kind.
struct SourceStats {
    get: Counter,
    getbulk: Counter,
    getnext: Counter,
    timeouts: Counter,
    too_big: Counter,
    request_errors: Counter,
    poll_timeouts: Counter,
    /// Scheduled polls not made because the device's previous poll was still running.
    skipped_polls: Counter,
    unreachable: Counter,
    /// Failed resolutions of a device's name.
    unresolved: Counter,
    no_profile: Counter,
    bulk_fallbacks: Counter,
    metrics: ComponentMetrics,
}

impl SourceStats {
    fn new(metrics: &ComponentMetrics) -> SourceStats {
        SourceStats {
            get: metrics.request_counter("get"),
            getbulk: metrics.request_counter("getbulk"),
            getnext: metrics.request_counter("getnext"),
            timeouts: metrics.error_counter("timeout"),
            too_big: metrics.error_counter("too_big"),
            request_errors: metrics.error_counter("request_error"),
            poll_timeouts: metrics.error_counter("poll_timeout"),
            skipped_polls: metrics.error_counter("poll_overrun"),
            unreachable: metrics.error_counter("unreachable"),
            unresolved: metrics.error_counter("unresolved"),
            no_profile: metrics.error_counter("no_profile"),
            bulk_fallbacks: metrics.error_counter("getbulk_fallback"),
            metrics: metrics.clone(),
        }
    }

    fn count(&self, stats: &FetchStats) {
        self.get.inc_by(u64::from(stats.get_requests));
        self.getbulk.inc_by(u64::from(stats.getbulk_requests));
        self.getnext.inc_by(u64::from(stats.getnext_requests));
        self.timeouts.inc_by(u64::from(stats.timeouts));
        self.too_big.inc_by(u64::from(stats.too_big));
        self.request_errors.inc_by(u64::from(stats.errors));
        if stats.fell_back_to_getnext {
            self.bulk_fallbacks.inc();
        }
    }
}

async fn run(
    config: SnmpSourceConfig,
    profiles: Profiles,
    client: Client,
    devices: Vec<Planned>,
    discovery_security: Option<Security>,
    ctx: SourceContext,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        permits: Semaphore::new(config.max_concurrent_polls.max(1)),
        stats: SourceStats::new(&ctx.metrics),
        config,
        profiles,
        client,
        output: ctx.output,
        epoch: Instant::now(),
    });
    let mut tasks = JoinSet::new();
    let configured: Vec<IpAddr> = devices.iter().filter_map(|d| d.address.map(|a| a.ip())).collect();
    for planned in devices {
        let token = ctx.shutdown.child_token();
        tasks.spawn(device_loop(shared.clone(), planned, token));
    }
    let _ = ctx.healthy.send(true);
    if let (Some(discovery), Some(security)) = (shared.config.discovery.clone(), discovery_security) {
        discover(&shared, &discovery, security, &configured, &mut tasks, &ctx.shutdown).await;
    } else {
        ctx.shutdown.cancelled().await;
    }
    while tasks.join_next().await.is_some() {}
    let _ = ctx.healthy.send(false);
    Ok(())
}

/// Scans the subnets every `discovery.interval` until shutdown, starting and stopping
/// device tasks as devices appear and fail.
async fn discover(
    shared: &Arc<Shared>,
    discovery: &DiscoveryConfig,
    security: Security,
    configured: &[IpAddr],
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    let subnets: Vec<Subnet> = discovery.subnets.iter().filter_map(|s| s.parse().ok()).collect();
    let ignored: Vec<IpAddr> = discovery.ignored_addresses.iter().filter_map(|a| a.trim().parse().ok()).collect();
    let port = shared.config.port;
    let mut discovered = Discovered::default();
    let mut running: HashMap<IpAddr, CancellationToken> = HashMap::new();
    let mut scan = tokio::time::interval(discovery.interval.get());
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = scan.tick() => {}
        }
        let mut candidates: Vec<(IpAddr, String)> = Vec::new();
        for subnet in &subnets {
            let name = subnet.to_string();
            for ip in subnet.hosts() {
                let id = device_id(&shared.config.namespace, &ip.to_string(), port);
                if !ignored.contains(&ip) && !configured.contains(&ip) && owns(shared.config.shard, &id) {
                    candidates.push((ip, name.clone()));
                }
            }
        }
        let started = Instant::now();
        let results = tokio::select! {
            _ = shutdown.cancelled() => return,
            results = probe_all(shared, &security, candidates, discovery.concurrency) => results,
        };
        let changes = discovered.apply_scan(&results, discovery.allowed_failures);
        tracing::info!(
            scanned = results.len(),
            answered = results.iter().filter(|r| r.2).count(),
            added = changes.added.len(),
            removed = changes.removed.len(),
            seconds = started.elapsed().as_secs_f64(),
            "SNMP discovery scan done"
        );
        for address in changes.removed {
            if let Some(token) = running.remove(&address) {
                token.cancel();
            }
        }
        for (ip, subnet) in changes.added {
            let mut config = DeviceConfig::from_address(&ip.to_string());
            config.tags = discovery.tags.clone();
            let token = shutdown.child_token();
            running.insert(ip, token.clone());
            let planned = Planned {
                config,
                port,
                address: Some(SocketAddr::new(ip, port)),
                security: security.clone(),
                subnet: Some(subnet),
            };
            tasks.spawn(device_loop(shared.clone(), planned, token));
        }
        // Reap finished tasks so the set does not grow with removed devices.
        while tasks.try_join_next().is_some() {}
    }
}

/// Probes every candidate (GET sysObjectID.0) with at most `concurrency` at once.
async fn probe_all(
    shared: &Arc<Shared>,
    security: &Security,
    candidates: Vec<(IpAddr, String)>,
    concurrency: usize,
) -> Vec<(IpAddr, String, bool)> {
    let queue = Arc::new(Mutex::new(candidates.into_iter()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (queue, results, shared, security) = (queue.clone(), results.clone(), shared.clone(), security.clone());
        workers.spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some((ip, subnet)) = next else { break };
                let device = shared.client.device(
                    SocketAddr::new(ip, shared.config.port),
                    security.clone(),
                    device_options(&shared.config),
                );
                shared.stats.get.inc();
                let answered = device
                    .get(&[Oid::from(SYS_OBJECT_ID)])
                    .await
                    .is_ok_and(|vbs| vbs.first().is_some_and(|vb| matches!(vb.value, Value::ObjectId(_))));
                if let Ok(mut results) = results.lock() {
                    results.push((ip, subnet, answered));
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut results = results.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
    results.sort_by_key(|r| r.0);
    results
}

fn device_options(config: &SnmpSourceConfig) -> DeviceOptions {
    DeviceOptions {
        timeout: config.timeout.get(),
        retries: config.retries,
        max_in_flight: 1,
        // Batching is the fetcher's (adaptive); the client only splits what it is given
        // when the agent says tooBig.
        max_oids_per_request: 256,
        accept_any_source: false,
        allow_non_increasing: false,
    }
}

/// One device's state between polls.
struct Polled {
    identity: DeviceIdentity,
    /// None until the device's name resolves ([`Unresolved`]).
    device: Option<Device>,
    unresolved: Option<Unresolved>,
    interval: Duration,
    profile_override: Option<String>,
    fetcher: Fetcher,
    tracker: CounterTracker,
    /// The profile in use and the sysObjectID it was chosen for.
    profile: Option<(Option<Oid>, Arc<Profile>)>,
    /// Device tags of the last answered, complete poll (for the metrics of unanswered and
    /// incomplete polls).
    last_tags: Tags,
}

/// A device whose name has not resolved yet: reported unreachable at each poll, its name
/// tried again with a growing wait.
struct Unresolved {
    host: String,
    port: u16,
    security: Security,
    failures: u32,
    next_attempt: tokio::time::Instant,
}

impl Polled {
    /// Resolves the device's name if it is time to; true when the device then has an address.
    async fn resolve(&mut self, shared: &Shared) -> bool {
        let Some(unresolved) = &mut self.unresolved else {
            return true;
        };
        let now = tokio::time::Instant::now();
        if now < unresolved.next_attempt {
            return false;
        }
        match resolve(&unresolved.host, unresolved.port).await {
            Ok(address) => {
                tracing::info!(device = %self.identity.id, %address, "SNMP device name resolved");
                self.device =
                    Some(shared.client.device(address, unresolved.security.clone(), device_options(&shared.config)));
                self.unresolved = None;
                true
            }
            Err(error) => {
                shared.stats.unresolved.inc();
                unresolved.failures += 1;
                let wait = resolve_backoff(unresolved.failures, self.interval);
                unresolved.next_attempt = now + wait;
                if let Some(suppressed) = UNRESOLVED_LOG.allow() {
                    tracing::warn!(device = %self.identity.id, error = %error, retry_in = ?wait, suppressed, "cannot resolve SNMP device name; reported unreachable until it resolves");
                }
                false
            }
        }
    }
}

async fn device_loop(shared: Arc<Shared>, planned: Planned, cancel: CancellationToken) {
    let config = &shared.config;
    let port = planned.port;
    let naming = DeviceNaming::new(&config.namespace, &planned.config.address, port, config.use_device_id_as_hostname);
    // The user's tags (the source's and the device's) and the identity tags, each kept
    // beside the others: Datadog appends tag lists, a key may have several values.
    let mut tags: Tags = config.tags.iter().chain(&planned.config.tags).map(|tag| config::split_tag(tag)).collect();
    tags.extend(naming.tags);
    if let Some(subnet) = &planned.subnet {
        tags.add("autodiscovery_subnet".into(), subnet.clone());
    }
    let identity = DeviceIdentity {
        host: naming.host,
        id: naming.id,
        tags: tags.clone(),
        interfaces: planned.config.interfaces.clone(),
    };
    let interval = planned.config.interval.unwrap_or(config.interval).get();
    // A random phase within the interval: a thousand devices configured together must
    // not all poll in the same second.
    let mut next = tokio::time::Instant::now() + interval.mul_f64(fastrand::f64());
    let (device, unresolved) = match planned.address {
        Some(address) => (Some(shared.client.device(address, planned.security, device_options(config))), None),
        None => {
            let unresolved = Unresolved {
                host: planned.config.address.clone(),
                port,
                security: planned.security,
                failures: 0,
                // Resolved right before the first poll (so names resolve spread out too).
                next_attempt: next,
            };
            (None, Some(unresolved))
        }
    };
    let mut polled = Polled {
        device,
        unresolved,
        identity,
        interval,
        profile_override: planned.config.profile.clone(),
        fetcher: Fetcher::new(config.oid_batch_size, config.max_repetitions),
        tracker: CounterTracker::new(shared.epoch),
        profile: None,
        last_tags: tags,
    };
    loop {
        // Between polls, only to try an unresolved name again.
        let wake = polled.unresolved.as_ref().map_or(next, |u| u.next_attempt.min(next));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = polled.resolve(&shared) => {}
        }
        if tokio::time::Instant::now() < next {
            continue;
        }
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            permit = shared.permits.acquire() => permit,
        };
        let events = tokio::select! {
            _ = cancel.cancelled() => return,
            events = poll(&shared, &mut polled) => events,
        };
        drop(permit);
        shared.output.send(events).await;
        let skipped;
        (next, skipped) = next_slot(next, tokio::time::Instant::now(), interval);
        if skipped > 0 {
            // The poll (and its delivery) took longer than the interval: it reported late,
            // and the slots it covered are not polled.
            shared.stats.skipped_polls.inc_by(u64::from(skipped));
            if let Some(suppressed) = OVERRUN_LOG.allow() {
                tracing::warn!(device = %polled.identity.id, interval = ?interval, skipped, suppressed, "SNMP poll took longer than the interval; its metrics are sent late and the polls it overran are skipped (raise the device's interval)");
            }
        }
    }
}

/// Why a poll's fetching stopped early.
enum FetchEnd {
    Complete,
    Unreachable(SnmpError),
    /// The device's name does not resolve (yet).
    Unresolved,
    NoProfile(Option<Oid>),
    /// A request failed for good after the device had answered the first GET (it
    /// stopped answering part-way, or refused a request).
    Failed(SnmpError),
    /// `poll_timeout` (by default many intervals: [`poll_deadline`]) passed after the
    /// device had answered the first GET.
    TimedOut,
}

impl FetchEnd {
    /// The device answered, but not everything the profile asks for: its values are not
    /// evaluated. A tag comes from a value the poll may not have got (sysName's
    /// `snmp_host`, an interface's name), so metrics made from part of the answers could
    /// carry wrong or missing tags and start series that do not exist. As the Datadog
    /// Agent (`DeviceCheck.Run` reports nothing from the profile when `fetch.Fetch`
    /// fails), such a poll sends only the device metrics, with the device tags of the
    /// last complete poll; its counters are read again at the next complete poll, whose
    /// rates then cover the whole gap.
    fn incomplete(&self) -> bool {
        matches!(self, FetchEnd::Failed(_) | FetchEnd::TimedOut)
    }
}

/// One poll: returns the events to send.
async fn poll(shared: &Shared, polled: &mut Polled) -> Vec<Event> {
    let started = Instant::now();
    let timestamp = Timestamp::now();
    let deadline = poll_deadline(shared.config.poll_timeout, polled.interval);
    let mut stats = FetchStats::default();
    let mut answers = Answers::default();
    let mut uptime = None;
    let mut answered = false;
    let fetching = fetch_all(shared, polled, &mut stats, &mut answers, &mut uptime, &mut answered);
    let end = tokio::time::timeout(deadline, fetching).await.map_err(|_| answered);
    let end = match end {
        Ok(end) => end,
        // The deadline passed before the device answered at all: unreachable.
        Err(false) => {
            polled.device.as_ref().map_or(FetchEnd::Unresolved, |d| FetchEnd::Unreachable(d.timeout_error(1)))
        }
        Err(true) => {
            shared.stats.poll_timeouts.inc();
            if let Some(suppressed) = POLL_ERROR_LOG.allow() {
                tracing::warn!(device = %polled.identity.id, deadline = ?deadline, suppressed, "SNMP poll did not finish in time; only the device metrics are sent");
            }
            FetchEnd::TimedOut
        }
    };
    shared.stats.count(&stats);
    let reachable = !matches!(end, FetchEnd::Unreachable(_) | FetchEnd::Unresolved);
    match &end {
        // Counted and logged where the name failed to resolve.
        FetchEnd::Unresolved => {}
        FetchEnd::Unreachable(error) => {
            shared.stats.unreachable.inc();
            if let Some(suppressed) = UNREACHABLE_LOG.allow() {
                tracing::warn!(device = %polled.identity.id, error = %error, suppressed, "SNMP device unreachable");
            }
        }
        FetchEnd::NoProfile(sys_object_id) => {
            shared.stats.no_profile.inc();
            if let Some(suppressed) = NO_PROFILE_LOG.allow() {
                let sys_object_id = sys_object_id.as_ref().map_or("none".to_owned(), Oid::to_string);
                tracing::warn!(device = %polled.identity.id, %sys_object_id, suppressed, "no SNMP profile matches this device");
            }
        }
        FetchEnd::Failed(error) => {
            if let Some(suppressed) = POLL_ERROR_LOG.allow() {
                tracing::warn!(device = %polled.identity.id, error = %error, suppressed, "SNMP poll failed part-way; only the device metrics are sent");
            }
            shared.stats.metrics.error("poll_failed", &format!("{}: {error}", polled.identity.id));
        }
        FetchEnd::TimedOut => {}
        FetchEnd::Complete => polled.fetcher.poll_succeeded(),
    }
    let profile = polled.profile.as_ref().filter(|_| reachable).map(|(oid, profile)| (oid.clone(), profile.clone()));
    let evaluation = match &profile {
        Some((_, profile)) if !end.incomplete() => Some(profile.evaluate(&answers.fetched)),
        _ => None,
    };
    // Every metric of the device carries the same device tags, as in Datadog's check: the
    // identity's, the profile's name and vendor, and the profile's own device-level tags
    // (static_tags and top-level metric_tags, e.g. snmp_host from sysName). An unanswered
    // or incomplete poll repeats those of the last answered, complete one.
    let device_tags = if reachable && !end.incomplete() {
        let device_tags =
            report::poll_device_tags(&polled.identity.tags, profile.as_ref().map(|(_, p)| &**p), evaluation.as_ref());
        polled.last_tags = device_tags.clone();
        device_tags
    } else {
        polled.last_tags.clone()
    };
    let interval_secs = u32::try_from(polled.interval.as_secs()).unwrap_or(u32::MAX).max(1);
    let mut reporter = Reporter::new(&polled.identity, timestamp, interval_secs, device_tags.clone());
    if let Some(evaluation) = &evaluation {
        polled.tracker.begin_poll(started, uptime);
        reporter.samples(evaluation, &answers.fetched, &answers.arrived, &mut polled.tracker);
        polled.tracker.end_poll();
    }
    let duration = started.elapsed().as_secs_f64();
    reporter.device(reachable, duration, &stats);
    let mut events = reporter.events;
    let ip = match &polled.device {
        Some(device) => {
            device.name().parse::<SocketAddr>().map_or_else(|_| device.name().to_owned(), |a| a.ip().to_string())
        }
        None => polled.unresolved.as_ref().map(|u| u.host.clone()).unwrap_or_default(),
    };
    events.push(Event::Metadata(Box::new(report::device_metadata(
        &polled.identity,
        timestamp,
        &ip,
        reachable,
        duration,
        profile.as_ref().map(|(oid, profile)| (profile.name.as_str(), oid.as_ref())),
        device_tags,
        evaluation.as_ref(),
        &answers.fetched,
    ))));
    events
}

async fn fetch_all(
    shared: &Shared,
    polled: &mut Polled,
    stats: &mut FetchStats,
    answers: &mut Answers,
    uptime: &mut Option<u32>,
    answered: &mut bool,
) -> FetchEnd {
    let first = [Oid::from(SYS_OBJECT_ID), Oid::from(SYS_UP_TIME)];
    let mut sys_object_id = None;
    let Some(device) = &polled.device else {
        return FetchEnd::Unresolved;
    };
    // Not through the adaptive batching: no answer here means an unreachable device, not
    // a request too large.
    stats.get_requests += 1;
    let answer = device.get(&first).await.map(|varbinds| {
        *answered = true;
        answers.begin(Instant::now());
        for vb in varbinds {
            if vb.value.is_exception() {
                continue;
            }
            stats.varbinds += 1;
            match &vb.value {
                Value::ObjectId(oid) if vb.oid.arcs() == SYS_OBJECT_ID => sys_object_id = Some(oid.clone()),
                Value::TimeTicks(_) if vb.oid.arcs() == SYS_UP_TIME => *uptime = fetch::time_ticks(&vb.value),
                _ => {}
            }
            answers.insert(vb);
        }
    });
    if let Err(error) = answer {
        if matches!(error, SnmpError::Timeout { .. }) {
            stats.timeouts += 1;
        } else {
            stats.errors += 1;
        }
        return FetchEnd::Unreachable(error);
    }
    let profile = choose_profile(shared, polled, sys_object_id.as_ref());
    let Some(profile) = profile else {
        return FetchEnd::NoProfile(sys_object_id);
    };
    let Some(device) = &polled.device else {
        return FetchEnd::Unresolved;
    };
    let plan = profile.plan();
    let scalars: Vec<Oid> = plan.scalars.iter().filter(|oid| !first.contains(oid)).cloned().collect();
    if let Err(error) = polled.fetcher.get(device, &scalars, stats, answers).await {
        return FetchEnd::Failed(error);
    }
    let columns: Vec<Oid> = plan.tables.iter().flat_map(|t| t.columns.iter().cloned()).collect();
    if let Err(error) = polled.fetcher.walk_columns(device, columns, stats, answers).await {
        return FetchEnd::Failed(error);
    }
    FetchEnd::Complete
}

/// The device's profile: its `profile:` override, else the most specific match of its
/// sysObjectID (kept while the sysObjectID stays the same). A change of profile forgets
/// the counter state (the series are not the same).
fn choose_profile(shared: &Shared, polled: &mut Polled, sys_object_id: Option<&Oid>) -> Option<Arc<Profile>> {
    if let Some((for_oid, profile)) = &polled.profile
        && (polled.profile_override.is_some() || for_oid.as_ref() == sys_object_id)
    {
        return Some(profile.clone());
    }
    let profile = match &polled.profile_override {
        Some(name) => shared.profiles.get(name),
        None => sys_object_id.and_then(|oid| shared.profiles.for_sys_object_id(oid)),
    };
    if polled.profile.as_ref().map(|(_, p)| &p.name) != profile.as_ref().map(|p| &p.name) {
        polled.tracker.clear();
    }
    polled.profile = profile.clone().map(|p| (sys_object_id.cloned(), p));
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharding_is_stable_and_splits_devices() {
        // FNV-1a 64 reference value for "a" (from the FNV specification's test vectors).
        assert_eq!(shard_hash("a"), 0xaf63dc4c8601ec8c);
        let ids: Vec<String> =
            (0..1000).map(|i| device_id("default", &format!("10.0.{}.{}", i / 250, i % 250), 161)).collect();
        let shards: Vec<usize> = (0..4)
            .map(|index| ids.iter().filter(|id| owns(Some(ShardConfig { index, count: 4 }), id)).count())
            .collect();
        assert_eq!(shards.iter().sum::<usize>(), 1000, "every device has exactly one owner");
        assert!(shards.iter().all(|n| (200..300).contains(n)), "{shards:?}");
        assert!(owns(None, "x") && owns(Some(ShardConfig { index: 0, count: 1 }), "x"));
    }

    #[test]
    fn name_resolution_is_retried_sooner_first_then_at_most_once_an_interval() {
        let secs = |failures| resolve_backoff(failures, Duration::from_secs(60)).as_secs();
        assert_eq!([secs(1), secs(2), secs(3), secs(6), secs(7), secs(1000)], [1, 2, 4, 32, 60, 60]);
        assert_eq!(resolve_backoff(10, Duration::from_secs(3600)), MAX_RESOLVE_BACKOFF);
        assert_eq!(resolve_backoff(1, Duration::from_millis(10)), FIRST_RESOLVE_BACKOFF);
    }

    #[test]
    fn device_ids_and_tags_name_the_port_only_when_it_is_not_161() {
        assert_eq!(device_id("default", "10.0.0.1", 161), "default:10.0.0.1");
        assert_eq!(device_id("dc1", "10.0.0.1", 1161), "dc1:10.0.0.1:1161");
        assert_eq!(snmp_device_tag("10.0.0.1", 161), "10.0.0.1");
    }

    /// A poll that overruns keeps the phase and skips (and counts) the slots it covered; a
    /// slow poll is not cut at one interval by default.
    #[test]
    fn an_overrunning_poll_skips_the_slots_it_covered() {
        let due = tokio::time::Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(next_slot(due, due + second / 2, second), (due + second, 0));
        assert_eq!(next_slot(due, due + second * 3 / 2, second), (due + second * 2, 1));
        assert_eq!(next_slot(due, due + second * 2, second), (due + second * 3, 2), "a slot reached exactly is gone");
        assert_eq!(poll_deadline(None, Duration::from_secs(60)), Duration::from_secs(600));
        assert_eq!(poll_deadline(None, second), MIN_POLL_TIMEOUT);
        let explicit = Some(crate::config::Duration::from_secs(5));
        assert_eq!(poll_deadline(explicit, Duration::from_secs(60)), Duration::from_secs(5));
    }
}
