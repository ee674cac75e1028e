//! [`Client`] (shared sockets, request-id → waiter routing) and [`Device`] (one agent:
//! requests, retries, walks).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nocwatch_snmp::{
    AnyPdu, Community, CommunityMessage, ErrorStatus, Incoming, Oid, Pdu, PduType, ReportKind, SecurityLevel, UsmError,
    UsmUser, V3Session, Value, VarBind, Version, message,
};
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc};

type Waiters = Arc<Mutex<HashMap<i32, mpsc::Sender<(SocketAddr, Vec<u8>)>>>>;

/// Datagrams queued per outstanding request before more are dropped: a request gets one
/// answer; a flood of spoofed or duplicated replies must not grow memory.
const WAITER_QUEUE: usize = 16;

/// Largest datagram we accept (the IPv4 UDP payload limit).
const MAX_DATAGRAM: usize = 65_507;

/// The shared sockets and the table of outstanding requests. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    v4: Option<Arc<UdpSocket>>,
    v6: Option<Arc<UdpSocket>>,
    waiters: Waiters,
    next_id: AtomicU32,
    salt_seed: u64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A random-enough 64-bit value without a dependency: the OS-seeded hasher of std,
/// mixed with the clock and the process id. Used for the first request-id and the
/// privacy salt counter (RFC 3414/3826 need uniqueness, not secrecy).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

impl Client {
    /// Binds one UDP socket per address family (an unavailable family is skipped) and
    /// starts their receive tasks. Must run inside a tokio runtime.
    pub async fn new() -> io::Result<Client> {
        let v4 = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await.ok().map(Arc::new);
        let v6 = UdpSocket::bind(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))).await.ok().map(Arc::new);
        if v4.is_none() && v6.is_none() {
            return Err(io::Error::other("cannot bind a UDP socket for SNMP (neither IPv4 nor IPv6)"));
        }
        let waiters: Waiters = Arc::default();
        let mut tasks = Vec::new();
        for socket in [&v4, &v6].into_iter().flatten() {
            tasks.push(tokio::spawn(receive_loop(socket.clone(), waiters.clone())));
        }
        let seed = random_u64();
        Ok(Client {
            inner: Arc::new(Inner {
                v4,
                v6,
                waiters,
                next_id: AtomicU32::new((seed as u32) & 0x3fff_ffff),
                salt_seed: seed.rotate_left(17),
                tasks,
            }),
        })
    }

    /// A device handle for `address`. For a v3 user this is where keys get localized,
    /// after discovery, on the first request.
    pub fn device(&self, address: SocketAddr, security: Security, options: DeviceOptions) -> Device {
        let name = address.to_string();
        let v3 = match &security {
            Security::Usm { user, context_name, context_engine_id, engine_id } => {
                let seed = self.inner.salt_seed ^ (address.port() as u64) << 32;
                let mut session = V3Session::new(name.clone(), user.clone(), seed);
                session.set_context_name(context_name.clone());
                if let Some(id) = context_engine_id {
                    session.set_context_engine_id(id.clone());
                }
                let mut preset = None;
                if let Some(id) = engine_id {
                    preset = session.set_engine_id(id.clone(), Instant::now()).err();
                }
                Some((Mutex::new(session), preset))
            }
            Security::Community { .. } => None,
        };
        let (v3, preset_error) = match v3 {
            Some((session, error)) => (Some(session), error),
            None => (None, None),
        };
        Device {
            client: self.clone(),
            address,
            name,
            permits: Semaphore::new(options.max_in_flight.max(1)),
            options,
            security,
            v3,
            preset_error,
        }
    }

    /// The next request-id / msgID: positive, never 0, unique among outstanding requests.
    fn next_id(&self) -> i32 {
        loop {
            let id = (self.inner.next_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff) as i32;
            if id != 0 && !self.inner.waiters.lock().is_ok_and(|w| w.contains_key(&id)) {
                return id;
            }
        }
    }

    fn socket_for(&self, address: SocketAddr) -> Option<&Arc<UdpSocket>> {
        if address.is_ipv4() { self.inner.v4.as_ref() } else { self.inner.v6.as_ref() }
    }

    fn register(&self, id: i32) -> Registration {
        let (tx, rx) = mpsc::channel(WAITER_QUEUE);
        if let Ok(mut waiters) = self.inner.waiters.lock() {
            waiters.insert(id, tx);
        }
        Registration { waiters: self.inner.waiters.clone(), id, rx }
    }
}

/// Removes the waiter when the request ends, however it ends.
struct Registration {
    waiters: Waiters,
    id: i32,
    rx: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.remove(&self.id);
        }
    }
}

async fn receive_loop(socket: Arc<UdpSocket>, waiters: Waiters) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // Transient (ICMP errors surface here on some systems): the request times
            // out on its own. Pause briefly so a persistent error cannot spin a core.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let datagram = &buf[..len];
        let Ok(peek) = message::peek(datagram) else {
            tracing::debug!(%from, len, "SNMP: undecodable datagram dropped");
            continue;
        };
        let Some(id) = peek.id else { continue };
        let sender = waiters.lock().ok().and_then(|w| w.get(&id).cloned());
        match sender {
            Some(sender) => {
                // Full queue: the waiter already has more candidates than it needs.
                let _ = sender.try_send((from, datagram.to_vec()));
            }
            None => tracing::debug!(%from, id, "SNMP: reply for no outstanding request (late or unknown) dropped"),
        }
    }
}

/// How to talk to a device.
#[derive(Clone)]
pub enum Security {
    /// SNMPv1 or SNMPv2c.
    Community { version: Version, community: Community },
    /// SNMPv3 with the user-based security model.
    Usm {
        user: UsmUser,
        context_name: Vec<u8>,
        context_engine_id: Option<Vec<u8>>,
        /// The device's engine ID, when known (skips discovery).
        engine_id: Option<Vec<u8>>,
    },
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Community { version, .. } => {
                write!(f, "Community {{ version: {version}, community: <redacted> }}")
            }
            Security::Usm { user, .. } => write!(
                f,
                "Usm {{ user: {:?}, level: {}, keys: <redacted> }}",
                String::from_utf8_lossy(&user.name),
                user.level().name()
            ),
        }
    }
}

impl Security {
    pub fn version(&self) -> Version {
        match self {
            Security::Community { version, .. } => *version,
            Security::Usm { .. } => Version::V3,
        }
    }
}

/// Per-device knobs.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Time to wait for each attempt.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// Requests outstanding at once to this device.
    pub max_in_flight: usize,
    /// OIDs per GET request (larger lists are split).
    pub max_oids_per_request: usize,
    /// Accept replies from any source address (multi-homed devices that answer from
    /// another interface); off by default, as a reply's source is part of its identity.
    pub accept_any_source: bool,
    /// Allow walks to continue when an agent returns a non-increasing OID (`-Cc`).
    pub allow_non_increasing: bool,
}

impl Default for DeviceOptions {
    fn default() -> DeviceOptions {
        DeviceOptions {
            timeout: Duration::from_secs(1),
            retries: 2,
            max_in_flight: 4,
            max_oids_per_request: 32,
            accept_any_source: false,
            allow_non_increasing: false,
        }
    }
}

/// Why a request or walk failed.
#[derive(Debug)]
pub enum SnmpError {
    /// No (acceptable) reply within timeout × attempts.
    Timeout {
        device: String,
        attempts: u32,
        hint: &'static str,
    },
    /// SNMPv3 security failure: a report, or a reply that did not verify.
    Usm(UsmError),
    /// The agent answered with an error-status.
    Status {
        device: String,
        status: ErrorStatus,
        index: i32,
        oid: Option<Oid>,
    },
    /// An agent returned an OID not after the previous one during a walk.
    NotIncreasing {
        device: String,
        previous: Oid,
        next: Oid,
    },
    /// The request cannot be expressed for this device (e.g. GETBULK over SNMPv1).
    Unsupported {
        device: String,
        what: &'static str,
    },
    Io {
        device: String,
        error: io::Error,
    },
}

impl fmt::Display for SnmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnmpError::Timeout { device, attempts, hint } => {
                write!(f, "Timeout: No Response from {device} ({attempts} attempts){hint}")
            }
            SnmpError::Usm(e) => write!(f, "{e}"),
            SnmpError::Status { device, status, index, oid } => {
                write!(f, "{device}: error in response: {status}")?;
                if *index > 0 {
                    write!(f, " at index {index}")?;
                }
                if let Some(oid) = oid {
                    write!(f, " (failed object: {oid})")?;
                }
                Ok(())
            }
            SnmpError::NotIncreasing { device, previous, next } => {
                write!(f, "{device}: OID not increasing: {previous} >= {next}")
            }
            SnmpError::Unsupported { device, what } => write!(f, "{device}: {what}"),
            SnmpError::Io { device, error } => write!(f, "{device}: {error}"),
        }
    }
}

impl std::error::Error for SnmpError {}

/// How a walk ended (when it did not fail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkEnd {
    /// The next OID left the subtree.
    EndOfSubtree,
    /// The agent returned endOfMibView (v2c/v3) or another exception value.
    Exception,
    /// SNMPv1: noSuchName, the v1 way of saying "end of MIB".
    EndOfMib,
}

/// One agent. Requests beyond `max_in_flight` wait for a slot.
pub struct Device {
    client: Client,
    address: SocketAddr,
    name: String,
    options: DeviceOptions,
    security: Security,
    v3: Option<Mutex<V3Session>>,
    preset_error: Option<UsmError>,
    permits: Semaphore,
}

enum Reply {
    Pdu(Pdu),
    Report(ReportKind, bool),
}

impl Device {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> Version {
        self.security.version()
    }

    /// The error of a request that got no answer after `attempts`.
    pub fn timeout_error(&self, attempts: u32) -> SnmpError {
        let hint = match &self.security {
            Security::Community { .. } => {
                " (agents silently drop requests with a wrong community; check -c and the agent's access list)"
            }
            Security::Usm { user, .. } if user.level() == SecurityLevel::AuthPriv => {
                " (with authPriv, a wrong privacy pass phrase or protocol looks like this too: the agent drops what it cannot decrypt)"
            }
            Security::Usm { .. } => "",
        };
        SnmpError::Timeout { device: self.name.clone(), attempts, hint }
    }

    /// Sends `pdu` (its request-id is replaced) and returns the Response PDU.
    async fn exchange(&self, mut pdu: Pdu) -> Result<Pdu, SnmpError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SnmpError::Unsupported { device: self.name.clone(), what: "device closed" })?;
        let socket = self.client.socket_for(self.address).ok_or_else(|| SnmpError::Unsupported {
            device: self.name.clone(),
            what: "no socket for this address family",
        })?;
        let id = self.client.next_id();
        pdu.request_id = id;
        let mut registration = self.client.register(id);
        match &self.security {
            Security::Community { version, community } => {
                let bytes = CommunityMessage { version: *version, community: community.clone(), pdu: AnyPdu::Pdu(pdu) }
                    .encode();
                let attempts = self.options.retries + 1;
                for _ in 0..attempts {
                    self.send(socket, &bytes).await?;
                    let deadline = tokio::time::Instant::now() + self.options.timeout;
                    while let Ok(Some((from, datagram))) =
                        tokio::time::timeout_at(deadline, registration.rx.recv()).await
                    {
                        if !self.source_ok(from) {
                            continue;
                        }
                        match CommunityMessage::decode(&datagram) {
                            Ok(msg)
                                if msg.version == *version
                                    && msg.community == *community
                                    && matches!(&msg.pdu, AnyPdu::Pdu(p) if p.kind == PduType::Response && p.request_id == id) =>
                            {
                                if let AnyPdu::Pdu(p) = msg.pdu {
                                    return Ok(p);
                                }
                            }
                            Ok(_) => {
                                tracing::debug!(device = %self.name, "SNMP: reply that does not match the request ignored")
                            }
                            Err(e) => tracing::debug!(device = %self.name, error = %e, "SNMP: malformed reply ignored"),
                        }
                    }
                }
                Err(self.timeout_error(attempts))
            }
            Security::Usm { .. } => self.exchange_v3(socket, &mut registration, pdu).await,
        }
    }

    fn source_ok(&self, from: SocketAddr) -> bool {
        self.options.accept_any_source || from == self.address || canonical(from) == canonical(self.address)
    }

    async fn send(&self, socket: &UdpSocket, bytes: &[u8]) -> Result<(), SnmpError> {
        socket
            .send_to(bytes, self.address)
            .await
            .map(|_| ())
            .map_err(|error| SnmpError::Io { device: self.name.clone(), error })
    }

    fn session(&self) -> std::sync::MutexGuard<'_, V3Session> {
        match self.v3.as_ref().map(|m| m.lock()) {
            Some(Ok(guard)) => guard,
            Some(Err(poisoned)) => poisoned.into_inner(),
            // exchange_v3 is only called for Security::Usm, which always has a session.
            None => unreachable!("v3 exchange without a v3 session"),
        }
    }

    async fn exchange_v3(
        &self,
        socket: &UdpSocket,
        registration: &mut Registration,
        pdu: Pdu,
    ) -> Result<Pdu, SnmpError> {
        if let Some(e) = &self.preset_error {
            return Err(SnmpError::Usm(e.clone()));
        }
        let id = registration.id;
        let attempts = self.options.retries + 1;
        // Reports that taught us something (engine ID, boots/time) allow a resend; bound
        // them so a confused agent cannot keep us looping.
        let mut resends = 0;
        let mut sent = 0;
        while sent < attempts {
            let ready = self.session().is_ready();
            let bytes = if ready {
                self.session().encode_request(id, &pdu, Instant::now()).map_err(SnmpError::Usm)?
            } else {
                self.session().discovery_request(id)
            };
            self.send(socket, &bytes).await?;
            sent += 1;
            let mut last_error = None;
            let deadline = tokio::time::Instant::now() + self.options.timeout;
            let reply = loop {
                match tokio::time::timeout_at(deadline, registration.rx.recv()).await {
                    Ok(Some((from, datagram))) => {
                        if !self.source_ok(from) {
                            continue;
                        }
                        let decoded = self.session().decode(&datagram, Instant::now());
                        match decoded {
                            Ok(Incoming::Pdu { msg_id, scoped }) if msg_id == id => match scoped.pdu {
                                AnyPdu::Pdu(p) if p.kind == PduType::Response && p.request_id == id && ready => {
                                    break Some(Reply::Pdu(p));
                                }
                                _ => continue,
                            },
                            Ok(Incoming::Report { msg_id, kind, resend }) if msg_id == id => {
                                break Some(Reply::Report(kind, resend));
                            }
                            Ok(_) => continue,
                            Err(e) => {
                                tracing::debug!(error = %e, "SNMPv3: reply rejected");
                                last_error = Some(e);
                                continue;
                            }
                        }
                    }
                    _ => break None,
                }
            };
            match reply {
                Some(Reply::Pdu(p)) => return Ok(p),
                Some(Reply::Report(kind, resend)) => {
                    if (resend || !ready) && kind == ReportKind::UnknownEngineId && resends < 3 {
                        // Discovery answered: send the real request now (does not use up
                        // an attempt).
                        resends += 1;
                        sent -= 1;
                        continue;
                    }
                    if resend && resends < 3 {
                        resends += 1;
                        sent -= 1;
                        continue;
                    }
                    return Err(SnmpError::Usm(self.session().report_error(kind, None)));
                }
                None => {
                    if let Some(e) = last_error {
                        return Err(SnmpError::Usm(e));
                    }
                }
            }
        }
        Err(self.timeout_error(attempts))
    }

    fn status_error(&self, response: &Pdu, oids: &[Oid]) -> SnmpError {
        let index = response.error_index;
        let oid = usize::try_from(index).ok().and_then(|i| i.checked_sub(1)).and_then(|i| oids.get(i)).cloned();
        SnmpError::Status { device: self.name.clone(), status: response.status(), index, oid }
    }

    /// GET of any number of OIDs: split into requests of `max_oids_per_request`, halved
    /// on tooBig. SNMPv1 noSuchName marks that OID `NoSuchObject` and asks again for the
    /// rest, so callers see v2 semantics whatever the version.
    pub async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        let mut out = Vec::with_capacity(oids.len());
        let mut batch = self.options.max_oids_per_request.max(1);
        let mut start = 0;
        while start < oids.len() {
            let end = (start + batch).min(oids.len());
            let chunk = &oids[start..end];
            match self.get_chunk(chunk).await {
                Ok(mut varbinds) => {
                    out.append(&mut varbinds);
                    start = end;
                }
                Err(SnmpError::Status { status, .. }) if status == ErrorStatus::TOO_BIG && batch > 1 => {
                    batch = (chunk.len() / 2).max(1);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn get_chunk(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        let mut missing: Vec<bool> = vec![false; oids.len()];
        loop {
            let ask: Vec<Oid> = oids.iter().zip(&missing).filter(|(_, m)| !**m).map(|(o, _)| o.clone()).collect();
            if ask.is_empty() {
                break Ok(oids.iter().map(|o| VarBind::new(o.clone(), Value::NoSuchObject)).collect());
            }
            let response = self.exchange(Pdu::request(PduType::Get, 0, ask.iter().cloned())).await?;
            if response.error_status == 0 {
                if response.varbinds.len() != ask.len() {
                    return Err(SnmpError::Unsupported {
                        device: self.name.clone(),
                        what: "the agent answered a GET with a different number of varbinds",
                    });
                }
                let mut answers = response.varbinds.into_iter();
                return Ok(oids
                    .iter()
                    .zip(&missing)
                    .map(|(oid, m)| match m {
                        false => answers.next().unwrap_or_else(|| VarBind::new(oid.clone(), Value::NoSuchObject)),
                        true => VarBind::new(oid.clone(), Value::NoSuchObject),
                    })
                    .collect());
            }
            let v1_no_such_name = self.version() == Version::V1 && response.status() == ErrorStatus::NO_SUCH_NAME;
            let Some(failed) = usize::try_from(response.error_index).ok().and_then(|i| i.checked_sub(1)) else {
                return Err(self.status_error(&response, &ask));
            };
            if !v1_no_such_name || failed >= ask.len() {
                return Err(self.status_error(&response, &ask));
            }
            // Mark the failed OID (the `failed`-th of those still asked) and retry.
            if let Some(position) = missing.iter().enumerate().filter(|(_, m)| !**m).map(|(i, _)| i).nth(failed) {
                missing[position] = true;
            }
        }
    }

    /// One GETNEXT for `oids`.
    pub async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        let response = self.exchange(Pdu::request(PduType::GetNext, 0, oids.iter().cloned())).await?;
        if response.error_status != 0 {
            return Err(self.status_error(&response, oids));
        }
        Ok(response.varbinds)
    }

    /// One GETBULK (SNMPv2c/v3 only).
    pub async fn get_bulk(
        &self,
        non_repeaters: i32,
        max_repetitions: i32,
        oids: &[Oid],
    ) -> Result<Vec<VarBind>, SnmpError> {
        if self.version() == Version::V1 {
            return Err(SnmpError::Unsupported { device: self.name.clone(), what: "GETBULK needs SNMPv2c or SNMPv3" });
        }
        let response = self.exchange(Pdu::get_bulk(0, non_repeaters, max_repetitions, oids.iter().cloned())).await?;
        if response.error_status != 0 {
            return Err(self.status_error(&response, oids));
        }
        Ok(response.varbinds)
    }

    /// Walks `root` with GETNEXT, calling `each` for every binding inside the subtree
    /// (an exception value inside it, such as endOfMibView, is passed and ends the walk).
    pub async fn walk(&self, root: &Oid, each: impl FnMut(&VarBind)) -> Result<WalkEnd, SnmpError> {
        self.walk_with(root, None, each).await
    }

    /// Walks `root` with GETBULK of `max_repetitions`; SNMPv1 falls back to GETNEXT.
    /// tooBig halves max-repetitions and asks again.
    pub async fn bulk_walk(
        &self,
        root: &Oid,
        max_repetitions: u32,
        each: impl FnMut(&VarBind),
    ) -> Result<WalkEnd, SnmpError> {
        let bulk = (self.version() != Version::V1).then_some(max_repetitions.max(1));
        self.walk_with(root, bulk, each).await
    }

    async fn walk_with(
        &self,
        root: &Oid,
        mut bulk: Option<u32>,
        mut each: impl FnMut(&VarBind),
    ) -> Result<WalkEnd, SnmpError> {
        let mut cursor = root.clone();
        let mut previous: Option<Oid> = None;
        loop {
            let oids = std::slice::from_ref(&cursor);
            let response = match bulk {
                Some(reps) => {
                    let r = self.exchange(Pdu::get_bulk(0, 0, reps.min(i32::MAX as u32) as i32, [cursor.clone()]));
                    r.await?
                }
                None => self.exchange(Pdu::request(PduType::GetNext, 0, [cursor.clone()])).await?,
            };
            if response.error_status != 0 {
                let status = response.status();
                if status == ErrorStatus::TOO_BIG
                    && let Some(reps) = bulk.filter(|r| *r > 1)
                {
                    bulk = Some(reps / 2);
                    continue;
                }
                if self.version() == Version::V1 && status == ErrorStatus::NO_SUCH_NAME {
                    return Ok(WalkEnd::EndOfMib);
                }
                return Err(self.status_error(&response, oids));
            }
            if response.varbinds.is_empty() {
                return Ok(WalkEnd::Exception);
            }
            for vb in &response.varbinds {
                if !vb.oid.starts_with(root) || (vb.oid == *root && !vb.value.is_exception() && !root.is_empty()) {
                    // GETNEXT never returns the root itself; an agent that does is
                    // looping: treat it as not increasing below.
                    if vb.oid.starts_with(root) {
                        return Err(SnmpError::NotIncreasing {
                            device: self.name.clone(),
                            previous: root.clone(),
                            next: vb.oid.clone(),
                        });
                    }
                    return Ok(WalkEnd::EndOfSubtree);
                }
                if vb.value.is_exception() {
                    each(vb);
                    return Ok(WalkEnd::Exception);
                }
                if let Some(prev) = &previous
                    && vb.oid <= *prev
                    && !self.options.allow_non_increasing
                {
                    return Err(SnmpError::NotIncreasing {
                        device: self.name.clone(),
                        previous: prev.clone(),
                        next: vb.oid.clone(),
                    });
                }
                each(vb);
                previous = Some(vb.oid.clone());
            }
            match &previous {
                Some(last) if *last != cursor => cursor = last.clone(),
                // No progress (only possible with allow_non_increasing and a looping
                // agent): stop rather than spin.
                _ => {
                    return Err(SnmpError::NotIncreasing {
                        device: self.name.clone(),
                        previous: cursor.clone(),
                        next: cursor.clone(),
                    });
                }
            }
        }
    }
}

/// An IPv4-mapped IPv6 source compares equal to its IPv4 form.
fn canonical(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => address,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    //! The client against scripted agents: behaviour real agents rarely show on demand
    //! (non-increasing OIDs, tooBig, replies from another address).
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Answers each v2c request with `reply(request) -> varbinds / error-status`.
    async fn fake_agent(
        mut reply: impl FnMut(&Pdu) -> (i32, Vec<VarBind>) + Send + 'static,
        reply_from: Option<std::net::UdpSocket>,
    ) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        let other = reply_from.map(|s| {
            s.set_nonblocking(true).unwrap();
            UdpSocket::from_std(s).unwrap()
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(msg) = CommunityMessage::decode(&buf[..len]) else { continue };
                let AnyPdu::Pdu(request) = &msg.pdu else { continue };
                let (status, varbinds) = reply(request);
                let response = Pdu {
                    kind: PduType::Response,
                    request_id: request.request_id,
                    error_status: status,
                    error_index: if status == 0 { 0 } else { 1 },
                    varbinds,
                };
                let bytes = CommunityMessage { pdu: AnyPdu::Pdu(response), ..msg }.encode();
                let out = other.as_ref().unwrap_or(&socket);
                let _ = out.send_to(&bytes, from).await;
            }
        });
        (address, seen)
    }

    fn v2c() -> Security {
        Security::Community { version: Version::V2c, community: Community(b"public".to_vec()) }
    }

    fn fast() -> DeviceOptions {
        DeviceOptions { timeout: Duration::from_millis(200), retries: 1, ..DeviceOptions::default() }
    }

    fn oid(text: &str) -> Oid {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn walk_refuses_a_non_increasing_oid() {
        let (address, _) = fake_agent(
            |request| {
                let next = if request.varbinds[0].oid == oid(".1.3.6.1.2.1.1") {
                    ".1.3.6.1.2.1.1.5.0"
                } else {
                    ".1.3.6.1.2.1.1.2.0"
                };
                (0, vec![VarBind::new(oid(next), Value::Integer(1))])
            },
            None,
        )
        .await;
        let client = Client::new().await.unwrap();
        let device = client.device(address, v2c(), fast());
        let mut seen = Vec::new();
        let error = device.walk(&oid(".1.3.6.1.2.1.1"), |vb| seen.push(vb.oid.clone())).await.unwrap_err();
        assert!(matches!(error, SnmpError::NotIncreasing { .. }), "{error}");
        assert_eq!(
            error.to_string(),
            format!("{address}: OID not increasing: .1.3.6.1.2.1.1.5.0 >= .1.3.6.1.2.1.1.2.0")
        );
        assert_eq!(seen, [oid(".1.3.6.1.2.1.1.5.0")]);
    }

    #[tokio::test]
    async fn bulk_walk_halves_max_repetitions_on_too_big_and_stops_at_the_subtree_end() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let (address, _) = fake_agent(
            move |request| {
                let reps = request.max_repetitions();
                log.lock().unwrap().push(reps);
                if reps > 4 {
                    return (1, vec![]); // tooBig
                }
                let start = request.varbinds[0].oid.arcs().last().copied().unwrap_or(0);
                let start = if request.varbinds[0].oid.len() == 2 { 0 } else { start };
                let varbinds = (1..=reps as u32)
                    .map(|i| {
                        let n = start + i;
                        let name = if n <= 6 { oid(&format!(".1.3.{n}")) } else { oid(&format!(".1.4.{n}")) };
                        VarBind::new(name, Value::Counter32(n))
                    })
                    .collect();
                (0, varbinds)
            },
            None,
        )
        .await;
        let client = Client::new().await.unwrap();
        let device = client.device(address, v2c(), fast());
        let mut seen = Vec::new();
        let end = device.bulk_walk(&oid(".1.3"), 20, |vb| seen.push(vb.value.clone())).await.unwrap();
        assert_eq!(end, WalkEnd::EndOfSubtree);
        assert_eq!(seen, (1..=6).map(Value::Counter32).collect::<Vec<_>>());
        assert_eq!(asked.lock().unwrap()[..3], [20, 10, 5]);
        assert!(asked.lock().unwrap()[3..].iter().all(|r| *r == 2), "{:?}", asked.lock().unwrap());
    }

    #[tokio::test]
    async fn get_splits_large_requests_and_retries_smaller_batches_on_too_big() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let log = sizes.clone();
        let (address, _) = fake_agent(
            move |request| {
                log.lock().unwrap().push(request.varbinds.len());
                if request.varbinds.len() > 3 {
                    return (1, vec![]);
                }
                (
                    0,
                    request
                        .varbinds
                        .iter()
                        .map(|vb| VarBind::new(vb.oid.clone(), Value::Gauge32(vb.oid.len() as u32)))
                        .collect(),
                )
            },
            None,
        )
        .await;
        let client = Client::new().await.unwrap();
        let options = DeviceOptions { max_oids_per_request: 8, ..fast() };
        let device = client.device(address, v2c(), options);
        let oids: Vec<Oid> = (0..10).map(|i| oid(&format!(".1.3.6.{i}"))).collect();
        let got = device.get(&oids).await.unwrap();
        assert_eq!(got.iter().map(|vb| vb.oid.clone()).collect::<Vec<_>>(), oids);
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes[..3], [8, 4, 2], "{sizes:?}");
        assert_eq!(sizes.iter().filter(|s| **s <= 3).sum::<usize>(), 10, "{sizes:?}");
    }

    #[tokio::test]
    async fn replies_from_another_address_need_the_multi_homed_option() {
        let other =
            std::net::UdpSocket::bind("127.0.0.2:0").or_else(|_| std::net::UdpSocket::bind("127.0.0.1:0")).unwrap();
        let (address, seen) =
            fake_agent(|request| (0, vec![VarBind::new(request.varbinds[0].oid.clone(), Value::Null)]), Some(other))
                .await;
        let client = Client::new().await.unwrap();
        let strict = client.device(address, v2c(), fast());
        let error = strict.get(&[oid(".1.3.6.1.2.1.1.5.0")]).await.unwrap_err();
        assert!(matches!(error, SnmpError::Timeout { attempts: 2, .. }), "{error}");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        let lenient = client.device(address, v2c(), DeviceOptions { accept_any_source: true, ..fast() });
        assert_eq!(lenient.get(&[oid(".1.3.6.1.2.1.1.5.0")]).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn many_concurrent_requests_share_one_socket_and_each_gets_its_reply() {
        let (address, seen) =
            fake_agent(|request| (0, vec![VarBind::new(request.varbinds[0].oid.clone(), Value::Integer(7))]), None)
                .await;
        let client = Client::new().await.unwrap();
        let device = Arc::new(client.device(address, v2c(), DeviceOptions { max_in_flight: 2, ..fast() }));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let device = device.clone();
                tokio::spawn(async move { device.get(&[oid(&format!(".1.3.6.1.{i}"))]).await })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let got = task.await.unwrap().unwrap();
            assert_eq!(got[0].oid, oid(&format!(".1.3.6.1.{i}")));
        }
        assert_eq!(seen.load(Ordering::SeqCst), 50);
        assert!(client.inner.waiters.lock().unwrap().is_empty(), "waiters are removed");
    }

    #[test]
    fn security_debug_hides_secrets() {
        let text =
            format!("{:?}", Security::Community { version: Version::V2c, community: Community(b"s3cret".to_vec()) });
        assert!(!text.contains("s3cret"), "{text}");
    }
}
