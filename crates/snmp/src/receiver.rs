//! The notification receiver (the trap/inform side of RFC 3413's notification receiver
//! application): a datagram, its sender and the current [`Instant`] in; a decoded
//! [`Notification`] or the reason it was rejected, plus the bytes to send back, out.
//!
//! - SNMPv1 Trap-PDUs are translated to the SNMPv2 form by RFC 3584 §3.1: `snmpTrapOID.0`
//!   is `snmpTraps.(generic-trap + 1)` for a generic trap and `enterprise.0.specific-trap`
//!   for an enterprise-specific one, and `snmpTrapEnterprise.0` is appended.
//! - SNMPv2c: the community must be one of the configured ones; every configured
//!   community is compared in constant time, so timing tells nothing of how close a guess
//!   was.
//! - SNMPv3 (USM, RFC 3414): for traps the *sender* is the authoritative engine, so any
//!   engine ID is accepted for a configured user; keys are localized per engine ID once and
//!   cached (bounded), and each engine's boots/time are tracked with the 150 s window
//!   (RFC 3414 3.2.7 b). For informs *we* are authoritative: discovery probes get a Report
//!   carrying our engine ID, boots and time; the window is enforced against our clock
//!   (3.2.7 a); failures the sender marked reportable get the matching `usmStats*` Report.
//! - Informs (v2c and v3) are acknowledged with a Response-PDU carrying the same
//!   request-id and varbinds (RFC 3416 4.2.7), secured like the request for v3.
//!
//! Unauthenticated messages are never accepted under the name of a user that has an
//! authentication key (that would let anyone forge that user's traps), and no message
//! is answered before its source passed the allow-list. Reports answer messages anyone
//! can forge and are larger than the probes asking for them: each source gets a limited
//! number ([`ReportLimit`]), the rest are counted ([`Receiver::reports_suppressed`]).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use nocwatch_ratelimit::{RateLimiter, Verdict};

use crate::ber::Decoder;
use crate::message::{
    Community, CommunityMessage, HeaderData, MsgData, ScopedPdu, UsmParams, V3Message, Version, flags,
};
use crate::oid::Oid;
use crate::pdu::{AnyPdu, Pdu, PduType, TrapV1};
use crate::session::{
    EngineState, LocalizedKeys, MAX_BOOTS, SecurityLevel, TIME_WINDOW_SECS, UsmUser, decrypt_scoped, secure_message,
    verify_digest,
};
use crate::value::{Value, VarBind};

/// `sysUpTime.0`
pub const SYS_UPTIME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];
/// `snmpTrapOID.0`
pub const SNMP_TRAP_OID: [u32; 11] = [1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];
/// `snmpTrapEnterprise.0`
pub const SNMP_TRAP_ENTERPRISE: [u32; 11] = [1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0];
/// `snmpTraps`: the generic traps are its children 1 (coldStart) to 6 (egpNeighborLoss).
pub const SNMP_TRAPS: [u32; 10] = [1, 3, 6, 1, 6, 3, 1, 1, 5, 0];

/// usmStats counters (RFC 3414 5), the varbind OIDs of the reports we send.
const USM_STATS: [u32; 9] = [1, 3, 6, 1, 6, 3, 15, 1, 1];

/// Why a datagram was not accepted. One self-metric label each ([`RejectReason::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not a well-formed SNMP notification (BER, version, PDU type, missing snmpTrapOID.0).
    Malformed,
    /// v1/v2c: the community is none of the configured ones.
    UnknownCommunity,
    /// v3: no configured user has this name.
    UnknownUser,
    /// v3: an inform for an engine other than ours.
    UnknownEngineId,
    /// v3: the digest does not verify with the user's key for that engine.
    WrongDigest,
    /// v3: boots/time outside the 150 s window.
    NotInTimeWindow,
    /// v3: the encrypted scoped PDU did not decrypt to a scoped PDU.
    DecryptionError,
    /// The sender is not in the allow-list.
    NotAllowedSource,
    /// v3: the message's security level is more than the user has keys for, or less than
    /// authenticated for a user that has an authentication key.
    UnsupportedSecurityLevel,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::Malformed,
        RejectReason::UnknownCommunity,
        RejectReason::UnknownUser,
        RejectReason::UnknownEngineId,
        RejectReason::WrongDigest,
        RejectReason::NotInTimeWindow,
        RejectReason::DecryptionError,
        RejectReason::NotAllowedSource,
        RejectReason::UnsupportedSecurityLevel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::UnknownCommunity => "unknown_community",
            RejectReason::UnknownUser => "unknown_user",
            RejectReason::UnknownEngineId => "unknown_engine_id",
            RejectReason::WrongDigest => "wrong_digest",
            RejectReason::NotInTimeWindow => "not_in_time_window",
            RejectReason::DecryptionError => "decryption_error",
            RejectReason::NotAllowedSource => "not_allowed_source",
            RejectReason::UnsupportedSecurityLevel => "unsupported_security_level",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejection with what an operator needs to fix it. `detail` never holds a community,
/// key or password; v3 user names are not secret and are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    fn new(reason: RejectReason, detail: impl Into<String>) -> Rejection {
        Rejection { reason, detail: detail.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// SNMPv1 Trap-PDU fields that do not survive the RFC 3584 translation as such.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Fields {
    pub enterprise: Oid,
    pub agent_addr: [u8; 4],
    pub generic_trap: i32,
    pub specific_trap: i32,
}

/// How the notification was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// v1/v2c: the index of the matching community in the configured list.
    Community { index: usize },
    /// v3: the user, the authoritative engine and the level the message had.
    Usm { user: Vec<u8>, engine_id: Vec<u8>, level: SecurityLevel, context_name: Vec<u8> },
}

/// An accepted trap or inform, in the SNMPv2 form.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub version: Version,
    /// True for an InformRequest (answered with the response bytes).
    pub inform: bool,
    /// sysUpTime.0 (v2c/v3) or the Trap-PDU's time-stamp (v1), in hundredths of a second.
    pub uptime: Option<u32>,
    /// snmpTrapOID.0 (v2c/v3) or the RFC 3584 translation (v1).
    pub trap_oid: Oid,
    /// The v1 Trap-PDU's own fields.
    pub v1: Option<V1Fields>,
    /// The varbinds after sysUpTime.0 and snmpTrapOID.0; for v1 the Trap-PDU's varbinds
    /// followed by snmpTrapEnterprise.0.
    pub varbinds: Vec<VarBind>,
    pub security: Security,
}

/// What became of a datagram.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Notification(Notification),
    /// An SNMPv3 engine-discovery probe (answered with our engine ID, boots and time).
    Discovery,
    Rejected(Rejection),
}

/// The outcome and the datagram to send back to the sender, if any (inform Response,
/// discovery or usmStats Report).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub outcome: Outcome,
    pub response: Option<Vec<u8>>,
}

impl Received {
    fn rejected(reason: RejectReason, detail: impl Into<String>) -> Received {
        Received { outcome: Outcome::Rejected(Rejection::new(reason, detail)), response: None }
    }
}

/// An IPv4 or IPv6 network, `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn new(address: IpAddr, prefix: u8) -> Option<Network> {
        // `::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8: convert the address and
        // its prefix together (a mapped prefix under 96 is not an IPv4 network).
        let (address, prefix) = match (address, address.to_canonical()) {
            (IpAddr::V6(_), canonical @ IpAddr::V4(_)) => (canonical, prefix.checked_sub(96)?),
            (_, canonical) => (canonical, prefix),
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network { address, prefix })
    }

    /// True when `ip` (canonical form: `::ffff:10.0.0.1` is 10.0.0.1) lies in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let invalid = || format!("invalid network `{text}`: use e.g. `10.0.0.0/8`, `192.0.2.7` or `2001:db8::/32`");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| invalid())?,
            None if address.is_ipv4() => 32,
            None => 128,
        };
        Network::new(address, prefix).ok_or_else(invalid)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// What the receiver accepts. Its `Debug` shows how many communities and users there
/// are, never the communities themselves.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// v1/v2c communities. Empty: v1/v2c notifications are all refused.
    pub communities: Vec<Vec<u8>>,
    /// v3 users (master keys; building a [`UsmUser`] hashes 1 MiB per password, so build
    /// them once and clone the config for more receivers).
    pub users: Vec<UsmUser>,
    /// Our snmpEngineID, authoritative for informs (RFC 3411 SnmpEngineID, 5 to 32 bytes).
    pub engine_id: Vec<u8>,
    /// Our snmpEngineBoots: must grow at every restart (the caller persists or derives it).
    pub engine_boots: u32,
    /// Sources allowed to send; empty: any.
    pub allowed_sources: Vec<Network>,
    /// Remote engines (per-sender engine IDs) whose keys and clock are kept. Only engines
    /// whose messages authenticated enter; beyond this, one is forgotten to make room.
    pub max_engines: usize,
    /// Reports (engine discovery, usmStats) per source: they answer messages anyone can
    /// forge, and are larger than the probe that asks for one (an amplifier otherwise).
    pub report_limit: ReportLimit,
}

/// How many Reports one source (an IPv4 address, an IPv6 /64) gets: `burst` at once, then
/// `per_second`; sources are tracked up to `max_sources`, beyond which they share one
/// limit (`nocwatch_ratelimit`). A well-behaved sender needs one Report per engine
/// discovery (net-snmp's `snmpinform`: one per run) and one more to resynchronise its clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportLimit {
    pub per_second: f64,
    pub burst: u32,
    pub max_sources: usize,
}

impl Default for ReportLimit {
    fn default() -> Self {
        ReportLimit { per_second: 10.0, burst: 20, max_sources: 10_000 }
    }
}

impl fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("communities", &self.communities.len())
            .field("users", &self.users.len())
            .field("engine_boots", &self.engine_boots)
            .field("allowed_sources", &self.allowed_sources)
            .field("max_engines", &self.max_engines)
            .field("report_limit", &self.report_limit)
            .finish_non_exhaustive()
    }
}

impl ReceiverConfig {
    pub fn new(engine_id: Vec<u8>, engine_boots: u32) -> ReceiverConfig {
        ReceiverConfig {
            communities: Vec::new(),
            users: Vec::new(),
            engine_id,
            engine_boots,
            allowed_sources: Vec::new(),
            max_engines: 10_000,
            report_limit: ReportLimit::default(),
        }
    }
}

/// A remote (trap-sending) engine: its clock and the users' keys localized to it.
struct RemoteEngine {
    clock: EngineState,
    keys: HashMap<Vec<u8>, Arc<LocalizedKeys>>,
}

/// The usmStats counters of our engine (RFC 3414 5), reported in the Reports we send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsmStats {
    pub unsupported_sec_levels: u32,
    pub not_in_time_windows: u32,
    pub unknown_user_names: u32,
    pub unknown_engine_ids: u32,
    pub wrong_digests: u32,
    pub decryption_errors: u32,
}

/// The sans-IO notification receiver. One per receiving thread: it keeps the per-engine
/// key cache and clocks, and its own usmStats counters.
pub struct Receiver {
    communities: Vec<Vec<u8>>,
    users: HashMap<Vec<u8>, UsmUser>,
    /// Users' keys localized to our own engine (informs), computed once.
    local_keys: HashMap<Vec<u8>, Arc<LocalizedKeys>>,
    engine_id: Vec<u8>,
    engine_boots: u32,
    started: Instant,
    allowed: Vec<Network>,
    remotes: HashMap<Vec<u8>, RemoteEngine>,
    max_engines: usize,
    salt: u64,
    stats: UsmStats,
    report_limiter: RateLimiter<IpAddr>,
    reports_suppressed: u64,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("communities", &self.communities.len())
            .field("users", &self.users.len())
            .field("remote_engines", &self.remotes.len())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// `now` starts our snmpEngineTime; `salt_seed` starts the privacy salt of encrypted
    /// inform responses (give each receiver a random one).
    pub fn new(config: ReceiverConfig, now: Instant, salt_seed: u64) -> Receiver {
        let mut local_keys = HashMap::new();
        let mut users = HashMap::new();
        for user in config.users {
            // A key that cannot be localized (too short for the cipher) leaves the user
            // without local keys: its informs fail as decryption errors, its traps too.
            if let Ok(keys) = user.localize(&config.engine_id) {
                local_keys.insert(user.name.clone(), Arc::new(keys));
            }
            users.insert(user.name.clone(), user);
        }
        Receiver {
            communities: config.communities,
            users,
            local_keys,
            engine_id: config.engine_id,
            engine_boots: config.engine_boots.min(MAX_BOOTS),
            started: now,
            allowed: config.allowed_sources,
            remotes: HashMap::new(),
            max_engines: config.max_engines.max(1),
            salt: salt_seed,
            stats: UsmStats::default(),
            report_limiter: RateLimiter::new(
                config.report_limit.per_second,
                config.report_limit.burst,
                config.report_limit.max_sources,
            ),
            reports_suppressed: 0,
        }
    }

    pub fn engine_id(&self) -> &[u8] {
        &self.engine_id
    }

    /// Our snmpEngineTime at `now`.
    pub fn engine_time(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.started).as_secs()).unwrap_or(u32::MAX).min(MAX_BOOTS)
    }

    pub fn usm_stats(&self) -> UsmStats {
        self.stats
    }

    /// Reports not sent because their destination had had its share ([`ReportLimit`]).
    pub fn reports_suppressed(&self) -> u64 {
        self.reports_suppressed
    }

    /// Remote engines currently cached.
    pub fn remote_engines(&self) -> usize {
        self.remotes.len()
    }

    /// Handles one datagram from `from`.
    pub fn receive(&mut self, bytes: &[u8], from: IpAddr, now: Instant) -> Received {
        if !self.allowed.is_empty() && !self.allowed.iter().any(|net| net.contains(from)) {
            return Received::rejected(RejectReason::NotAllowedSource, "sender not in allowed_sources");
        }
        let version = match Decoder::new(bytes).sequence().and_then(|mut d| d.integer()) {
            Ok(v) => v,
            Err(e) => return Received::rejected(RejectReason::Malformed, e.to_string()),
        };
        match Version::from_number(version) {
            Some(Version::V3) => self.receive_v3(bytes, from, now),
            Some(_) => self.receive_community(bytes),
            None => Received::rejected(RejectReason::Malformed, format!("unknown SNMP version {version}")),
        }
    }

    fn community_index(&self, community: &Community) -> Option<usize> {
        // Every configured community is compared, each in constant time for its length.
        let mut found = None;
        for (index, candidate) in self.communities.iter().enumerate() {
            if crate::usm::digest_eq(candidate, &community.0) && found.is_none() {
                found = Some(index);
            }
        }
        found
    }

    fn receive_community(&mut self, bytes: &[u8]) -> Received {
        let message = match CommunityMessage::decode(bytes) {
            Ok(m) => m,
            Err(e) => return Received::rejected(RejectReason::Malformed, e.to_string()),
        };
        let Some(index) = self.community_index(&message.community) else {
            return Received::rejected(RejectReason::UnknownCommunity, "community not configured");
        };
        let security = Security::Community { index };
        match (message.version, message.pdu) {
            (Version::V1, AnyPdu::TrapV1(trap)) => {
                Received { outcome: Outcome::Notification(from_v1(trap, security)), response: None }
            }
            (Version::V2c, AnyPdu::Pdu(pdu)) if matches!(pdu.kind, PduType::TrapV2 | PduType::Inform) => {
                let response = (pdu.kind == PduType::Inform).then(|| {
                    CommunityMessage {
                        version: message.version,
                        community: message.community,
                        pdu: AnyPdu::Pdu(response_to(&pdu)),
                    }
                    .encode()
                });
                match from_v2(pdu, Version::V2c, security) {
                    Ok(notification) => Received { outcome: Outcome::Notification(notification), response },
                    Err(rejection) => Received { outcome: Outcome::Rejected(rejection), response },
                }
            }
            (version, pdu) => Received::rejected(
                RejectReason::Malformed,
                format!("{} is not a notification for SNMP version {version}", pdu_name(&pdu)),
            ),
        }
    }

    fn receive_v3(&mut self, bytes: &[u8], from: IpAddr, now: Instant) -> Received {
        let msg = match V3Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => return Received::rejected(RejectReason::Malformed, e.to_string()),
        };
        let reportable = msg.header.flags & flags::REPORTABLE != 0;
        let level = match (msg.header.flags & flags::AUTH != 0, msg.header.flags & flags::PRIV != 0) {
            (false, _) => SecurityLevel::NoAuthNoPriv,
            (true, false) => SecurityLevel::AuthNoPriv,
            (true, true) => SecurityLevel::AuthPriv,
        };
        let authoritative = msg.usm.engine_id == self.engine_id;
        let plain_request_id = match &msg.data {
            MsgData::Plain(scoped) => scoped.pdu.request_id().unwrap_or(0),
            MsgData::Encrypted(_) => 0,
        };

        // Discovery (RFC 3414 4): an unknown (typically empty) engine ID on a confirmed-class
        // message. A trap carries its sender's engine ID and is never reportable.
        if msg.usm.engine_id.is_empty() || (!authoritative && reportable && level == SecurityLevel::NoAuthNoPriv) {
            if !reportable {
                return Received::rejected(RejectReason::Malformed, "empty authoritative engine ID on a trap");
            }
            self.stats.unknown_engine_ids = self.stats.unknown_engine_ids.wrapping_add(1);
            let response = self.report(
                from,
                &msg,
                plain_request_id,
                ReportCounter::UnknownEngineIds,
                SecurityLevel::NoAuthNoPriv,
                now,
            );
            return Received { outcome: Outcome::Discovery, response };
        }

        let user_label = String::from_utf8_lossy(&msg.usm.user_name).into_owned();
        let Some(user) = self.users.get(&msg.usm.user_name) else {
            self.stats.unknown_user_names = self.stats.unknown_user_names.wrapping_add(1);
            let response = (authoritative && reportable)
                .then(|| {
                    self.report(
                        from,
                        &msg,
                        plain_request_id,
                        ReportCounter::UnknownUserNames,
                        SecurityLevel::NoAuthNoPriv,
                        now,
                    )
                })
                .flatten();
            return Received {
                outcome: Outcome::Rejected(Rejection::new(
                    RejectReason::UnknownUser,
                    format!("no SNMPv3 user \"{user_label}\""),
                )),
                response,
            };
        };
        let user_level = user.level();
        if level > user_level || (level == SecurityLevel::NoAuthNoPriv && user_level != SecurityLevel::NoAuthNoPriv) {
            self.stats.unsupported_sec_levels = self.stats.unsupported_sec_levels.wrapping_add(1);
            let response = (authoritative && reportable)
                .then(|| {
                    self.report(
                        from,
                        &msg,
                        plain_request_id,
                        ReportCounter::UnsupportedSecLevels,
                        SecurityLevel::NoAuthNoPriv,
                        now,
                    )
                })
                .flatten();
            return Received {
                outcome: Outcome::Rejected(Rejection::new(
                    RejectReason::UnsupportedSecurityLevel,
                    format!(
                        "SNMPv3 user \"{user_label}\" sent {} but is configured for {}",
                        level.name(),
                        user_level.name()
                    ),
                )),
                response,
            };
        }

        // The keys for the authoritative engine: ours (informs), or the sender's (traps).
        let keys = if authoritative {
            match self.local_keys.get(&msg.usm.user_name) {
                Some(keys) => keys.clone(),
                None => return Received::rejected(RejectReason::DecryptionError, "privacy key cannot be localized"),
            }
        } else {
            // RFC 3411: an engine ID is 5 to 32 octets. Longer ones would let a sender make
            // every cache entry as large as a datagram.
            if !(5..=32).contains(&msg.usm.engine_id.len()) {
                return Received::rejected(RejectReason::Malformed, "SNMPv3 engine ID is not 5 to 32 octets");
            }
            match self.remote_keys(&msg) {
                Some(keys) => keys,
                None => return Received::rejected(RejectReason::DecryptionError, "privacy key cannot be localized"),
            }
        };

        if level != SecurityLevel::NoAuthNoPriv {
            let verified = keys.auth.as_ref().is_some_and(|(proto, key)| verify_digest(*proto, key, bytes, &msg));
            if !verified {
                self.stats.wrong_digests = self.stats.wrong_digests.wrapping_add(1);
                let response = (authoritative && reportable)
                    .then(|| {
                        self.report(
                            from,
                            &msg,
                            plain_request_id,
                            ReportCounter::WrongDigests,
                            SecurityLevel::NoAuthNoPriv,
                            now,
                        )
                    })
                    .flatten();
                return Received {
                    outcome: Outcome::Rejected(Rejection::new(
                        RejectReason::WrongDigest,
                        format!("SNMPv3 user \"{user_label}\": wrong authentication key or protocol"),
                    )),
                    response,
                };
            }
            if !authoritative {
                // Only now, authenticated, may the sender's engine take a place in the cache.
                self.remember_remote(&msg, keys.clone(), now);
            }
            let (boots, time) = (msg.usm.engine_boots, msg.usm.engine_time);
            let in_window = if authoritative {
                let ours = self.engine_time(now);
                boots == self.engine_boots && self.engine_boots != MAX_BOOTS && time.abs_diff(ours) <= TIME_WINDOW_SECS
            } else {
                self.remotes
                    .get_mut(&msg.usm.engine_id)
                    .is_some_and(|remote| remote.clock.accept_time(boots, time, now))
            };
            if !in_window {
                self.stats.not_in_time_windows = self.stats.not_in_time_windows.wrapping_add(1);
                // RFC 3414 3.2.7 a: this report is authenticated, so the sender can trust the
                // boots/time it carries and resynchronise.
                let response = (authoritative && reportable)
                    .then(|| {
                        self.report(
                            from,
                            &msg,
                            plain_request_id,
                            ReportCounter::NotInTimeWindows,
                            SecurityLevel::AuthNoPriv,
                            now,
                        )
                    })
                    .flatten();
                return Received {
                    outcome: Outcome::Rejected(Rejection::new(
                        RejectReason::NotInTimeWindow,
                        format!(
                            "SNMPv3 user \"{user_label}\": engine boots {boots} time {time} outside the 150 s window"
                        ),
                    )),
                    response,
                };
            }
        }

        let scoped = match (&msg.data, level) {
            (MsgData::Encrypted(_), SecurityLevel::AuthPriv) => {
                let decrypted = keys.privacy.as_ref().and_then(|(proto, key)| decrypt_scoped(*proto, key, &msg));
                match decrypted {
                    Some(scoped) => scoped,
                    None => {
                        self.stats.decryption_errors = self.stats.decryption_errors.wrapping_add(1);
                        let response = (authoritative && reportable)
                            .then(|| {
                                self.report(
                                    from,
                                    &msg,
                                    0,
                                    ReportCounter::DecryptionErrors,
                                    SecurityLevel::NoAuthNoPriv,
                                    now,
                                )
                            })
                            .flatten();
                        return Received {
                            outcome: Outcome::Rejected(Rejection::new(
                                RejectReason::DecryptionError,
                                format!("SNMPv3 user \"{user_label}\": wrong privacy key or protocol"),
                            )),
                            response,
                        };
                    }
                }
            }
            (MsgData::Plain(scoped), SecurityLevel::NoAuthNoPriv | SecurityLevel::AuthNoPriv) => scoped.clone(),
            _ => return Received::rejected(RejectReason::Malformed, "msgData does not match msgFlags"),
        };

        let security = Security::Usm {
            user: msg.usm.user_name.clone(),
            engine_id: msg.usm.engine_id.clone(),
            level,
            context_name: scoped.context_name.clone(),
        };
        let AnyPdu::Pdu(pdu) = scoped.pdu else {
            return Received::rejected(RejectReason::Malformed, "SNMPv1 Trap-PDU in an SNMPv3 message");
        };
        match pdu.kind {
            PduType::TrapV2 => match from_v2(pdu, Version::V3, security) {
                Ok(n) => Received { outcome: Outcome::Notification(n), response: None },
                Err(rejection) => Received { outcome: Outcome::Rejected(rejection), response: None },
            },
            PduType::Inform if authoritative => {
                let response_scoped = ScopedPdu {
                    context_engine_id: scoped.context_engine_id.clone(),
                    context_name: scoped.context_name.clone(),
                    pdu: AnyPdu::Pdu(response_to(&pdu)),
                };
                let response = self.secure(&msg, &response_scoped, &keys, level, now);
                // An authentic inform is acknowledged even when its varbinds are unusable:
                // the sender would only retry what will never be accepted.
                match from_v2(pdu, Version::V3, security) {
                    Ok(n) => Received { outcome: Outcome::Notification(n), response },
                    Err(rejection) => Received { outcome: Outcome::Rejected(rejection), response },
                }
            }
            PduType::Inform => {
                self.stats.unknown_engine_ids = self.stats.unknown_engine_ids.wrapping_add(1);
                let response = reportable
                    .then(|| {
                        self.report(
                            from,
                            &msg,
                            pdu.request_id,
                            ReportCounter::UnknownEngineIds,
                            SecurityLevel::NoAuthNoPriv,
                            now,
                        )
                    })
                    .flatten();
                Received {
                    outcome: Outcome::Rejected(Rejection::new(
                        RejectReason::UnknownEngineId,
                        "an inform must be sent to our engine ID (discovery first)",
                    )),
                    response,
                }
            }
            other => Received::rejected(RejectReason::Malformed, format!("{other:?} PDU is not a notification")),
        }
    }

    /// The user's keys for the sender's engine: cached ones, or freshly localized ones that
    /// are cached only once a message authenticated with them ([`Self::remember_remote`]),
    /// so unauthenticated datagrams can neither fill the cache nor evict real engines.
    fn remote_keys(&mut self, msg: &V3Message) -> Option<Arc<LocalizedKeys>> {
        let user = self.users.get(&msg.usm.user_name)?;
        if let Some(keys) = self.remotes.get(&msg.usm.engine_id).and_then(|r| r.keys.get(&msg.usm.user_name)) {
            return Some(keys.clone());
        }
        Some(Arc::new(user.localize(&msg.usm.engine_id).ok()?))
    }

    /// Caches an authenticated sender's engine (its clock starts unsynchronised: the time
    /// check that follows sets it) and the user's keys for it. When full, one other engine
    /// is forgotten, not all of them: the others keep their clocks (replay protection).
    fn remember_remote(&mut self, msg: &V3Message, keys: Arc<LocalizedKeys>, now: Instant) {
        if !self.remotes.contains_key(&msg.usm.engine_id)
            && self.remotes.len() >= self.max_engines
            && let Some(victim) = self.remotes.keys().next().cloned()
        {
            self.remotes.remove(&victim);
        }
        let remote = self.remotes.entry(msg.usm.engine_id.clone()).or_insert_with(|| RemoteEngine {
            clock: EngineState {
                engine_id: msg.usm.engine_id.clone(),
                boots: 0,
                time: 0,
                synced_at: now,
                time_synced: false,
            },
            keys: HashMap::new(),
        });
        remote.keys.entry(msg.usm.user_name.clone()).or_insert(keys);
    }

    /// Our USM parameters for an outgoing message to the sender of `msg`.
    fn our_usm(&self, msg: &V3Message, now: Instant) -> UsmParams {
        UsmParams {
            engine_id: self.engine_id.clone(),
            engine_boots: self.engine_boots,
            engine_time: self.engine_time(now),
            user_name: msg.usm.user_name.clone(),
            auth_params: Vec::new(),
            priv_params: Vec::new(),
        }
    }

    fn secure(
        &mut self,
        msg: &V3Message,
        scoped: &ScopedPdu,
        keys: &LocalizedKeys,
        level: SecurityLevel,
        now: Instant,
    ) -> Option<Vec<u8>> {
        let header = HeaderData {
            msg_id: msg.header.msg_id,
            max_size: 65507,
            flags: level.flags(),
            security_model: msg.header.security_model,
        };
        if level == SecurityLevel::AuthPriv {
            self.salt = self.salt.wrapping_add(1);
        }
        secure_message(&header, self.our_usm(msg, now), scoped, keys, level, self.salt).ok()
    }

    /// A Report (RFC 3412 7.1.3 c, RFC 3414 3.2) carrying one usmStats counter, our engine
    /// ID, boots and time; authenticated only for notInTimeWindows.
    /// A Report for `msg`, unless `from` has had its share of Reports: a Report answers
    /// unauthenticated (spoofable) messages and is larger than the probe that asks for it.
    fn report(
        &mut self,
        from: IpAddr,
        msg: &V3Message,
        request_id: i32,
        counter: ReportCounter,
        level: SecurityLevel,
        now: Instant,
    ) -> Option<Vec<u8>> {
        let since_start = i128::try_from(now.saturating_duration_since(self.started).as_nanos()).unwrap_or(i128::MAX);
        if self.report_limiter.check_address(from, since_start) != Verdict::Allow {
            self.reports_suppressed = self.reports_suppressed.wrapping_add(1);
            return None;
        }
        let (arc, value) = match counter {
            ReportCounter::UnsupportedSecLevels => (1, self.stats.unsupported_sec_levels),
            ReportCounter::NotInTimeWindows => (2, self.stats.not_in_time_windows),
            ReportCounter::UnknownUserNames => (3, self.stats.unknown_user_names),
            ReportCounter::UnknownEngineIds => (4, self.stats.unknown_engine_ids),
            ReportCounter::WrongDigests => (5, self.stats.wrong_digests),
            ReportCounter::DecryptionErrors => (6, self.stats.decryption_errors),
        };
        let pdu = Pdu {
            kind: PduType::Report,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::new(Oid::from(USM_STATS).child(&[arc, 0]), Value::Counter32(value))],
        };
        let context_name = match &msg.data {
            MsgData::Plain(scoped) => scoped.context_name.clone(),
            MsgData::Encrypted(_) => Vec::new(),
        };
        let scoped = ScopedPdu { context_engine_id: self.engine_id.clone(), context_name, pdu: AnyPdu::Pdu(pdu) };
        if level == SecurityLevel::NoAuthNoPriv {
            let header = HeaderData {
                msg_id: msg.header.msg_id,
                max_size: 65507,
                flags: 0,
                security_model: msg.header.security_model,
            };
            let usm = self.our_usm(msg, now);
            return Some(V3Message::encode_parts(&header, &usm, &MsgData::Plain(scoped), 0).0);
        }
        let keys = self.local_keys.get(&msg.usm.user_name)?.clone();
        self.secure(msg, &scoped, &keys, level, now)
    }
}

#[derive(Debug, Clone, Copy)]
enum ReportCounter {
    UnsupportedSecLevels,
    NotInTimeWindows,
    UnknownUserNames,
    UnknownEngineIds,
    WrongDigests,
    DecryptionErrors,
}

/// The Response-PDU acknowledging an InformRequest: same request-id and varbinds.
fn response_to(inform: &Pdu) -> Pdu {
    Pdu {
        kind: PduType::Response,
        request_id: inform.request_id,
        error_status: 0,
        error_index: 0,
        varbinds: inform.varbinds.clone(),
    }
}

fn pdu_name(pdu: &AnyPdu) -> String {
    match pdu {
        AnyPdu::TrapV1(_) => "an SNMPv1 Trap-PDU".to_owned(),
        AnyPdu::Pdu(pdu) => format!("a {:?} PDU", pdu.kind),
    }
}

/// RFC 3584 §3.1: the SNMPv2 form of an SNMPv1 trap.
pub fn from_v1(trap: TrapV1, security: Security) -> Notification {
    let trap_oid = match u32::try_from(trap.generic_trap) {
        Ok(generic @ 0..=5) => Oid::from(&SNMP_TRAPS[..9]).child(&[generic + 1]),
        _ => {
            // enterpriseSpecific(6), and (leniently) any out-of-range generic-trap value.
            let specific = u32::try_from(trap.specific_trap).unwrap_or(0);
            trap.enterprise.child(&[0, specific])
        }
    };
    let mut varbinds = trap.varbinds;
    varbinds.push(VarBind::new(Oid::from(SNMP_TRAP_ENTERPRISE), Value::ObjectId(trap.enterprise.clone())));
    Notification {
        version: Version::V1,
        inform: false,
        uptime: Some(trap.time_stamp),
        trap_oid,
        v1: Some(V1Fields {
            enterprise: trap.enterprise,
            agent_addr: trap.agent_addr,
            generic_trap: trap.generic_trap,
            specific_trap: trap.specific_trap,
        }),
        varbinds,
        security,
    }
}

/// An SNMPv2-Trap or InformRequest: `sysUpTime.0` first (RFC 3416 4.2.6; tolerated when
/// missing), then `snmpTrapOID.0`, which is required.
fn from_v2(pdu: Pdu, version: Version, security: Security) -> Result<Notification, Rejection> {
    let inform = pdu.kind == PduType::Inform;
    let mut varbinds = pdu.varbinds.into_iter().peekable();
    let mut uptime = None;
    if let Some(first) = varbinds.peek()
        && first.oid.arcs() == SYS_UPTIME
    {
        uptime = match varbinds.next().map(|vb| vb.value) {
            Some(Value::TimeTicks(t)) => Some(t),
            _ => return Err(Rejection::new(RejectReason::Malformed, "sysUpTime.0 is not TimeTicks")),
        };
    }
    let trap_oid = match varbinds.next() {
        Some(VarBind { oid, value: Value::ObjectId(trap_oid) }) if oid.arcs() == SNMP_TRAP_OID => trap_oid,
        _ => {
            return Err(Rejection::new(
                RejectReason::Malformed,
                "the varbinds do not start with sysUpTime.0 and snmpTrapOID.0 (an OBJECT IDENTIFIER)",
            ));
        }
    };
    Ok(Notification { version, inform, uptime, trap_oid, v1: None, varbinds: varbinds.collect(), security })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let net: Network = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: Network = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("ten".parse::<Network>().is_err());
    }

    #[test]
    fn ipv4_mapped_networks_are_the_ipv4_networks_they_map() {
        // Review finding: the prefix was kept as given (104) for the IPv4 network, so
        // `32 - 104` underflowed: every IPv4 sender allowed in release, a panic in debug.
        let mapped: Network = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(mapped.contains("10.9.8.7".parse().unwrap()));
        assert!(!mapped.contains("192.0.2.1".parse().unwrap()));
        let one: Network = "::ffff:192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        assert!("::ffff:10.0.0.0/95".parse::<Network>().is_err());
    }

    #[test]
    fn debug_never_shows_a_community() {
        let mut config = ReceiverConfig::new(vec![0x80, 0, 0, 0, 1], 1);
        config.communities = vec![b"s3cr3t-community".to_vec()];
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("115, 51, 99"), "{shown}"); // the bytes as numbers
    }
}
