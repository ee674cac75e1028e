//! The SNMPv3 requester state machine for one device and user (RFC 3414 section 3 and 4):
//! engine discovery, localized keys per engine, boots/time tracking with the 150-second
//! window, outgoing message security and incoming message verification, and every
//! report turned into an error that names the device and the user, never a key.
//!
//! Sans-IO: the caller sends the bytes [`V3Session::discovery_request`] and
//! [`V3Session::encode_request`] return, feeds received datagrams to
//! [`V3Session::decode`], and passes the current [`Instant`].
//!
//! ```text
//!   no engine ──discovery_request──▶ Report(unknownEngineIDs) ──▶ engine known
//!   engine known ──encode_request──▶ Response ──▶ done
//!                                  ▶ Report(notInTimeWindows, authenticated) ──▶ clock resynced, resend once
//!                                  ▶ Report(other) ──▶ UsmError naming device and user
//! ```

use std::fmt;
use std::time::Instant;

use crate::ber::DecodeError;
use crate::message::{HeaderData, MsgData, ScopedPdu, USM_SECURITY_MODEL, UsmParams, V3Message, flags};
use crate::oid::Oid;
use crate::pdu::{AnyPdu, Pdu, PduType};
use crate::usm::{AuthProtocol, KeyError, PrivProtocol, SecretKey, digest_eq};

/// msgSecurityLevel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityLevel {
    NoAuthNoPriv,
    AuthNoPriv,
    AuthPriv,
}

impl SecurityLevel {
    pub fn name(self) -> &'static str {
        match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        }
    }

    /// The msgFlags bits of this level (without reportable).
    pub fn flags(self) -> u8 {
        match self {
            SecurityLevel::NoAuthNoPriv => 0,
            SecurityLevel::AuthNoPriv => flags::AUTH,
            SecurityLevel::AuthPriv => flags::AUTH | flags::PRIV,
        }
    }
}

impl std::str::FromStr for SecurityLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<SecurityLevel, String> {
        match s.to_ascii_lowercase().as_str() {
            "noauthnopriv" | "noauth" | "1" => Ok(SecurityLevel::NoAuthNoPriv),
            "authnopriv" | "auth" | "2" => Ok(SecurityLevel::AuthNoPriv),
            "authpriv" | "priv" | "3" => Ok(SecurityLevel::AuthPriv),
            _ => Err(format!("unknown security level `{s}` (noAuthNoPriv|authNoPriv|authPriv)")),
        }
    }
}

/// A USM user with its master keys (Ku). Building one hashes 1 MiB per password, so
/// build it once and share it across devices; localisation per engine is cheap.
#[derive(Debug, Clone)]
pub struct UsmUser {
    pub name: Vec<u8>,
    auth: Option<(AuthProtocol, SecretKey)>,
    privacy: Option<(PrivProtocol, SecretKey)>,
}

impl UsmUser {
    /// A user at `noAuthNoPriv`.
    pub fn no_auth(name: impl Into<Vec<u8>>) -> UsmUser {
        UsmUser { name: name.into(), auth: None, privacy: None }
    }

    /// A user at `authNoPriv` (`privacy` None) or `authPriv`. The privacy key is derived
    /// with the authentication protocol's hash, as RFC 3414 and RFC 3826 require.
    pub fn new(
        name: impl Into<Vec<u8>>,
        auth: AuthProtocol,
        auth_password: &[u8],
        privacy: Option<(PrivProtocol, &[u8])>,
    ) -> Result<UsmUser, KeyError> {
        let auth_key = auth.password_to_key(auth_password)?;
        let privacy = match privacy {
            Some((proto, password)) => Some((proto, auth.password_to_key(password)?)),
            None => None,
        };
        Ok(UsmUser { name: name.into(), auth: Some((auth, auth_key)), privacy })
    }

    /// A user from already-computed master keys (Ku), e.g. from configuration.
    pub fn from_master_keys(
        name: impl Into<Vec<u8>>,
        auth: Option<(AuthProtocol, SecretKey)>,
        privacy: Option<(PrivProtocol, SecretKey)>,
    ) -> UsmUser {
        let privacy = if auth.is_some() { privacy } else { None };
        UsmUser { name: name.into(), auth, privacy }
    }

    pub fn level(&self) -> SecurityLevel {
        match (&self.auth, &self.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        }
    }

    pub fn auth_protocol(&self) -> Option<AuthProtocol> {
        self.auth.as_ref().map(|(p, _)| *p)
    }

    pub fn priv_protocol(&self) -> Option<PrivProtocol> {
        self.privacy.as_ref().map(|(p, _)| *p)
    }

    /// The keys localized to one engine.
    pub fn localize(&self, engine_id: &[u8]) -> Result<LocalizedKeys, KeyError> {
        let auth = self.auth.as_ref().map(|(p, ku)| (*p, p.localize(ku, engine_id)));
        let privacy = match (&self.auth, &self.privacy) {
            (Some((auth, _)), Some((proto, ku))) => Some((*proto, proto.localize(*auth, ku, engine_id)?)),
            _ => None,
        };
        Ok(LocalizedKeys { engine_id: engine_id.to_vec(), auth, privacy })
    }

    fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A user's keys for one engine (Kul).
#[derive(Debug, Clone)]
pub struct LocalizedKeys {
    pub engine_id: Vec<u8>,
    pub auth: Option<(AuthProtocol, SecretKey)>,
    pub privacy: Option<(PrivProtocol, SecretKey)>,
}

/// What we know of the authoritative engine (the device).
#[derive(Debug, Clone)]
pub struct EngineState {
    pub engine_id: Vec<u8>,
    pub boots: u32,
    /// snmpEngineTime at `synced_at`.
    pub time: u32,
    pub synced_at: Instant,
    /// True once boots/time came from an authenticated message (or noAuthNoPriv use).
    pub time_synced: bool,
}

impl EngineState {
    /// The device's snmpEngineTime now, by our clock.
    pub fn time_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.synced_at).as_secs();
        self.time.saturating_add(u32::try_from(elapsed).unwrap_or(u32::MAX))
    }

    /// RFC 3414 3.2.7 b, the non-authoritative receiver's time check of an authenticated
    /// message: newer boots/time (or the first authenticated ones) move our notion of the
    /// remote engine's clock forward; a message more than [`TIME_WINDOW_SECS`] older than
    /// that notion, from earlier boots, or at the last boots value is refused (false).
    pub fn accept_time(&mut self, boots: u32, time: u32, now: Instant) -> bool {
        let ours = self.time_at(now);
        if boots > self.boots || (boots == self.boots && time > ours) || !self.time_synced {
            self.boots = boots;
            self.time = time;
            self.synced_at = now;
            self.time_synced = true;
            return boots != MAX_BOOTS;
        }
        !(boots == MAX_BOOTS
            || boots < self.boots
            || (boots == self.boots && time.saturating_add(TIME_WINDOW_SECS) < ours))
    }
}

/// Secures an outgoing message (RFC 3414 3.1) at `level` with `keys`: encrypts the scoped
/// PDU when `level` is authPriv (with `salt`, the per-message privacy value), then fills in
/// the digest when it is authenticated. `usm` carries engine ID, boots, time and user name;
/// its digest and privacy parameters are set here. `header.flags` must match `level`.
pub fn secure_message(
    header: &HeaderData,
    mut usm: UsmParams,
    scoped: &ScopedPdu,
    keys: &LocalizedKeys,
    level: SecurityLevel,
    salt: u64,
) -> Result<Vec<u8>, KeyError> {
    let data = match (&keys.privacy, level) {
        (Some((proto, key)), SecurityLevel::AuthPriv) => {
            let (ciphertext, params) =
                proto.encrypt(key, usm.engine_boots, usm.engine_time, salt, &scoped.to_bytes())?;
            usm.priv_params = params.to_vec();
            MsgData::Encrypted(ciphertext)
        }
        (None, SecurityLevel::AuthPriv) => return Err(KeyError::KeyTooShort),
        _ => MsgData::Plain(scoped.clone()),
    };
    let auth = keys.auth.as_ref().filter(|_| level != SecurityLevel::NoAuthNoPriv);
    let auth_len = auth.map_or(0, |(p, _)| p.mac_len());
    if level != SecurityLevel::NoAuthNoPriv && auth.is_none() {
        return Err(KeyError::KeyTooShort);
    }
    let (mut bytes, range) = V3Message::encode_parts(header, &usm, &data, auth_len);
    if let Some((proto, key)) = auth {
        let mac = proto.mac(key, &bytes);
        bytes[range].copy_from_slice(&mac);
    }
    Ok(bytes)
}

/// Checks a received message's digest (RFC 3414 6.3.2 / 7.3.2): the HMAC over the bytes as
/// received with the digest field zeroed, compared in constant time.
pub fn verify_digest(auth: AuthProtocol, key: &SecretKey, bytes: &[u8], msg: &V3Message) -> bool {
    let range = msg.auth_range.clone();
    if range.len() != auth.mac_len() || range.end > bytes.len() {
        return false;
    }
    let zeros = [0u8; 64];
    let mac = auth.mac_parts(key, &[&bytes[..range.start], &zeros[..range.len()], &bytes[range.end..]]);
    digest_eq(&mac, &msg.usm.auth_params)
}

/// Decrypts and decodes an encrypted msgData; `None` when it does not decrypt to a scoped
/// PDU (usmStatsDecryptionErrors).
pub fn decrypt_scoped(proto: PrivProtocol, key: &SecretKey, msg: &V3Message) -> Option<ScopedPdu> {
    let MsgData::Encrypted(ciphertext) = &msg.data else { return None };
    let plain = proto.decrypt(key, msg.usm.engine_boots, msg.usm.engine_time, &msg.usm.priv_params, ciphertext).ok()?;
    ScopedPdu::decode(&plain, true).ok()
}

/// RFC 3414's time window.
pub const TIME_WINDOW_SECS: u32 = 150;
/// snmpEngineBoots' last value (RFC 3414 2.2.2): an engine there must be reconfigured.
pub const MAX_BOOTS: u32 = 2_147_483_647;

/// The usmStats / snmp* counters a Report can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    UnsupportedSecLevel,
    NotInTimeWindow,
    UnknownUserName,
    UnknownEngineId,
    WrongDigest,
    DecryptionError,
    UnknownSecurityModel,
    InvalidMessage,
    UnknownPduHandler,
    UnavailableContext,
    UnknownContext,
    Other,
}

impl ReportKind {
    /// Classifies a report by its first varbind's OID.
    pub fn from_oid(oid: &Oid) -> ReportKind {
        let arcs = oid.arcs();
        match arcs {
            [1, 3, 6, 1, 6, 3, 15, 1, 1, n, ..] => match n {
                1 => ReportKind::UnsupportedSecLevel,
                2 => ReportKind::NotInTimeWindow,
                3 => ReportKind::UnknownUserName,
                4 => ReportKind::UnknownEngineId,
                5 => ReportKind::WrongDigest,
                6 => ReportKind::DecryptionError,
                _ => ReportKind::Other,
            },
            [1, 3, 6, 1, 6, 3, 11, 2, 1, n, ..] => match n {
                1 => ReportKind::UnknownSecurityModel,
                2 => ReportKind::InvalidMessage,
                3 => ReportKind::UnknownPduHandler,
                _ => ReportKind::Other,
            },
            [1, 3, 6, 1, 6, 3, 12, 1, 4, ..] => ReportKind::UnavailableContext,
            [1, 3, 6, 1, 6, 3, 12, 1, 5, ..] => ReportKind::UnknownContext,
            _ => ReportKind::Other,
        }
    }

    fn explain(self) -> &'static str {
        match self {
            ReportKind::UnsupportedSecLevel => {
                "security level not supported for this user (usmStatsUnsupportedSecLevels): check -l against the user's configuration on the device"
            }
            ReportKind::NotInTimeWindow => {
                "message outside the time window (usmStatsNotInTimeWindows) even after resynchronising engine boots/time"
            }
            ReportKind::UnknownUserName => {
                "unknown user name (usmStatsUnknownUserNames): the device has no such SNMPv3 user (check -u)"
            }
            ReportKind::UnknownEngineId => {
                "unknown engine ID (usmStatsUnknownEngineIDs): the engine ID used (-e) is not the device's"
            }
            ReportKind::WrongDigest => {
                "authentication failed (usmStatsWrongDigests): wrong authentication pass phrase (-A) or protocol (-a)"
            }
            ReportKind::DecryptionError => {
                "the device could not decrypt the request (usmStatsDecryptionErrors): wrong privacy pass phrase (-X) or protocol (-x)"
            }
            ReportKind::UnknownSecurityModel => {
                "the device does not support the user-based security model (snmpUnknownSecurityModels)"
            }
            ReportKind::InvalidMessage => "the device found the message invalid (snmpInvalidMsgs)",
            ReportKind::UnknownPduHandler => "the device has no handler for this request (snmpUnknownPDUHandlers)",
            ReportKind::UnavailableContext => "context unavailable (snmpUnavailableContexts): check -n",
            ReportKind::UnknownContext => "unknown context (snmpUnknownContexts): check -n",
            ReportKind::Other => "the device sent a report",
        }
    }
}

/// Why a v3 exchange failed, naming the device and the user (never keys or passwords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsmError {
    pub device: String,
    pub user: String,
    pub kind: UsmErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsmErrorKind {
    /// The device answered with a Report.
    Report { kind: ReportKind, oid: Option<Oid> },
    /// The response's digest did not verify with our key.
    ResponseDigest,
    /// A response carried a different user name or engine id than ours.
    Mismatch(&'static str),
    /// The response's boots/time fall outside the window.
    ResponseNotInTimeWindow,
    /// The response is less protected than our request.
    ResponseLevel,
    /// Decryption of the response failed or did not yield a scoped PDU.
    ResponseDecrypt,
    /// A key could not be set up (pass phrase too short, ...).
    Key(KeyError),
    /// The response could not be decoded.
    Decode(DecodeError),
    /// The engine is not known yet: discovery must run first.
    NotDiscovered,
}

impl fmt::Display for UsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: SNMPv3 user \"{}\": ", self.device, self.user)?;
        match &self.kind {
            UsmErrorKind::Report { kind, oid } => {
                f.write_str(kind.explain())?;
                if let (ReportKind::Other, Some(oid)) = (kind, oid) {
                    write!(f, " ({oid})")?;
                }
                Ok(())
            }
            UsmErrorKind::ResponseDigest => f.write_str(
                "the response failed authentication with our key: wrong authentication pass phrase (-A) or protocol (-a), or a forged reply",
            ),
            UsmErrorKind::Mismatch(what) => write!(f, "the response carries a different {what} than the request"),
            UsmErrorKind::ResponseNotInTimeWindow => {
                f.write_str("the response is outside the 150 s time window (replayed, or the device rebooted)")
            }
            UsmErrorKind::ResponseLevel => f.write_str("the response is less protected than the request"),
            UsmErrorKind::ResponseDecrypt => f.write_str(
                "the response could not be decrypted: wrong privacy pass phrase (-X) or protocol (-x, e.g. AES-256 vs AES-256-C)",
            ),
            UsmErrorKind::Key(e) => write!(f, "{e}"),
            UsmErrorKind::Decode(e) => write!(f, "malformed response: {e}"),
            UsmErrorKind::NotDiscovered => f.write_str("engine not discovered yet"),
        }
    }
}

impl std::error::Error for UsmError {}

/// A decoded, verified incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A Response (or another non-report PDU) for `msg_id`.
    Pdu { msg_id: i32, scoped: ScopedPdu },
    /// A Report for `msg_id`. `resend` is true when the session learnt what it needed
    /// (engine ID, boots/time) and the request should be sent again.
    Report { msg_id: i32, kind: ReportKind, resend: bool },
}

/// The v3 state for one device and one user.
#[derive(Debug)]
pub struct V3Session {
    device: String,
    user: UsmUser,
    engine: Option<EngineState>,
    keys: Option<LocalizedKeys>,
    context_engine_id: Option<Vec<u8>>,
    context_name: Vec<u8>,
    salt: u64,
    max_size: i32,
}

impl V3Session {
    /// `device` is how errors name the device (e.g. `10.0.0.1:161`). `salt_seed` starts
    /// the privacy salt counter; give it a random value per process.
    pub fn new(device: impl Into<String>, user: UsmUser, salt_seed: u64) -> V3Session {
        V3Session {
            device: device.into(),
            user,
            engine: None,
            keys: None,
            context_engine_id: None,
            context_name: Vec::new(),
            salt: salt_seed,
            max_size: 65507,
        }
    }

    /// Uses a known engine ID (`-e`): no discovery round trip; an authenticated user
    /// still learns boots/time from the first notInTimeWindow report.
    pub fn set_engine_id(&mut self, engine_id: Vec<u8>, now: Instant) -> Result<(), UsmError> {
        self.learn_engine(engine_id, 0, 0, now, self.user.level() == SecurityLevel::NoAuthNoPriv)
    }

    /// contextEngineID (`-E`); defaults to the device's engine ID.
    pub fn set_context_engine_id(&mut self, id: Vec<u8>) {
        self.context_engine_id = Some(id);
    }

    /// contextName (`-n`).
    pub fn set_context_name(&mut self, name: Vec<u8>) {
        self.context_name = name;
    }

    pub fn user(&self) -> &UsmUser {
        &self.user
    }

    pub fn engine(&self) -> Option<&EngineState> {
        self.engine.as_ref()
    }

    /// True when requests can be sent without discovery first.
    pub fn is_ready(&self) -> bool {
        self.engine.is_some()
    }

    fn error(&self, kind: UsmErrorKind) -> UsmError {
        UsmError { device: self.device.clone(), user: self.user.display_name(), kind }
    }

    fn learn_engine(
        &mut self,
        engine_id: Vec<u8>,
        boots: u32,
        time: u32,
        now: Instant,
        time_synced: bool,
    ) -> Result<(), UsmError> {
        let same = self.keys.as_ref().is_some_and(|k| k.engine_id == engine_id);
        if !same {
            let keys = self.user.localize(&engine_id).map_err(|e| self.error(UsmErrorKind::Key(e)))?;
            self.keys = Some(keys);
        }
        self.engine = Some(EngineState { engine_id, boots, time, synced_at: now, time_synced });
        Ok(())
    }

    /// The discovery probe (RFC 3414 4): noAuthNoPriv, reportable, empty engine ID and
    /// user, a Get with no varbinds.
    pub fn discovery_request(&self, msg_id: i32) -> Vec<u8> {
        let header = HeaderData {
            msg_id,
            max_size: self.max_size,
            flags: flags::REPORTABLE,
            security_model: USM_SECURITY_MODEL,
        };
        let scoped = ScopedPdu {
            context_engine_id: Vec::new(),
            context_name: Vec::new(),
            pdu: AnyPdu::Pdu(Pdu::request(PduType::Get, msg_id, [])),
        };
        V3Message::encode_parts(&header, &UsmParams::default(), &MsgData::Plain(scoped), 0).0
    }

    /// Secures `pdu` for the device. The PDU's request-id is kept; msgID is `msg_id`.
    pub fn encode_request(&mut self, msg_id: i32, pdu: &Pdu, now: Instant) -> Result<Vec<u8>, UsmError> {
        let Some(engine) = &self.engine else { return Err(self.error(UsmErrorKind::NotDiscovered)) };
        let level = self.user.level();
        let boots = engine.boots;
        let time = engine.time_at(now);
        let engine_id = engine.engine_id.clone();
        let scoped = ScopedPdu {
            context_engine_id: self.context_engine_id.clone().unwrap_or_else(|| engine_id.clone()),
            context_name: self.context_name.clone(),
            pdu: AnyPdu::Pdu(pdu.clone()),
        };
        let usm = UsmParams {
            engine_id,
            engine_boots: boots,
            engine_time: time,
            user_name: self.user.name.clone(),
            auth_params: Vec::new(),
            priv_params: Vec::new(),
        };
        let keys = self.keys.as_ref().ok_or_else(|| self.error(UsmErrorKind::NotDiscovered))?;
        if level == SecurityLevel::AuthPriv {
            self.salt = self.salt.wrapping_add(1);
        }
        let header = HeaderData {
            msg_id,
            max_size: self.max_size,
            flags: level.flags() | flags::REPORTABLE,
            security_model: USM_SECURITY_MODEL,
        };
        secure_message(&header, usm, &scoped, keys, level, self.salt).map_err(|e| self.error(UsmErrorKind::Key(e)))
    }

    /// Verifies and opens a received message, updating engine state from discovery and
    /// time-window reports.
    pub fn decode(&mut self, bytes: &[u8], now: Instant) -> Result<Incoming, UsmError> {
        let msg = V3Message::decode(bytes).map_err(|e| self.error(UsmErrorKind::Decode(e)))?;
        let msg_id = msg.header.msg_id;
        let authenticated = msg.header.flags & flags::AUTH != 0;
        let encrypted = msg.header.flags & flags::PRIV != 0;

        if !authenticated {
            // Unauthenticated: only reports are acceptable from a device we talk to with
            // auth, and they may teach us the engine ID (discovery) but never the time.
            let scoped = match &msg.data {
                MsgData::Plain(scoped) => scoped,
                MsgData::Encrypted(_) => return Err(self.error(UsmErrorKind::ResponseLevel)),
            };
            let AnyPdu::Pdu(pdu) = &scoped.pdu else { return Err(self.error(UsmErrorKind::ResponseLevel)) };
            if pdu.kind == PduType::Report {
                let oid = pdu.varbinds.first().map(|vb| vb.oid.clone());
                let kind = oid.as_ref().map_or(ReportKind::Other, ReportKind::from_oid);
                if kind == ReportKind::UnknownEngineId && !msg.usm.engine_id.is_empty() {
                    let was_known = self.engine.as_ref().is_some_and(|e| e.engine_id == msg.usm.engine_id);
                    let no_auth = self.user.level() == SecurityLevel::NoAuthNoPriv;
                    self.learn_engine(
                        msg.usm.engine_id.clone(),
                        msg.usm.engine_boots,
                        msg.usm.engine_time,
                        now,
                        no_auth,
                    )?;
                    return Ok(Incoming::Report { msg_id, kind, resend: !was_known });
                }
                return Ok(Incoming::Report { msg_id, kind, resend: false });
            }
            if self.user.level() != SecurityLevel::NoAuthNoPriv {
                return Err(self.error(UsmErrorKind::ResponseLevel));
            }
            return Ok(Incoming::Pdu { msg_id, scoped: scoped.clone() });
        }

        let keys = self.keys.as_ref().ok_or_else(|| self.error(UsmErrorKind::NotDiscovered))?;
        if msg.usm.engine_id != keys.engine_id {
            return Err(self.error(UsmErrorKind::Mismatch("engine ID")));
        }
        if msg.usm.user_name != self.user.name {
            return Err(self.error(UsmErrorKind::Mismatch("user name")));
        }
        let Some((auth, key)) = &keys.auth else { return Err(self.error(UsmErrorKind::ResponseLevel)) };
        if !verify_digest(*auth, key, bytes, &msg) {
            return Err(self.error(UsmErrorKind::ResponseDigest));
        }

        let scoped = match (&msg.data, encrypted) {
            (MsgData::Plain(scoped), false) => scoped.clone(),
            (MsgData::Encrypted(_), true) => {
                let Some((proto, key)) = &keys.privacy else { return Err(self.error(UsmErrorKind::ResponseLevel)) };
                decrypt_scoped(*proto, key, &msg).ok_or_else(|| self.error(UsmErrorKind::ResponseDecrypt))?
            }
            _ => {
                return Err(self.error(UsmErrorKind::Decode(DecodeError {
                    offset: 0,
                    kind: crate::ber::DecodeErrorKind::Invalid("msgData for msgFlags"),
                })));
            }
        };

        let report = match &scoped.pdu {
            AnyPdu::Pdu(pdu) if pdu.kind == PduType::Report => {
                let oid = pdu.varbinds.first().map(|vb| vb.oid.clone());
                Some(oid.as_ref().map_or(ReportKind::Other, ReportKind::from_oid))
            }
            _ => None,
        };
        let (boots, time) = (msg.usm.engine_boots, msg.usm.engine_time);
        if report == Some(ReportKind::NotInTimeWindow) {
            // RFC 3414 3.2.7 a: an authenticated notInTimeWindow report sets our clock
            // (first contact, or the device rebooted). The caller bounds the resends.
            let id = msg.usm.engine_id.clone();
            self.learn_engine(id, boots, time, now, true)?;
            return Ok(Incoming::Report { msg_id, kind: ReportKind::NotInTimeWindow, resend: true });
        }
        self.check_time(boots, time, now)?;
        match report {
            Some(kind) => Ok(Incoming::Report { msg_id, kind, resend: false }),
            None => Ok(Incoming::Pdu { msg_id, scoped }),
        }
    }

    /// RFC 3414 3.2.7 b for a non-authoritative receiver.
    fn check_time(&mut self, boots: u32, time: u32, now: Instant) -> Result<(), UsmError> {
        let Some(engine) = &mut self.engine else { return Ok(()) };
        if engine.accept_time(boots, time, now) {
            Ok(())
        } else {
            Err(self.error(UsmErrorKind::ResponseNotInTimeWindow))
        }
    }

    /// The error for a report the caller does not resolve by resending.
    pub fn report_error(&self, kind: ReportKind, oid: Option<Oid>) -> UsmError {
        self.error(UsmErrorKind::Report { kind, oid })
    }
}
