//! SNMPv3 USM credentials as configured: one type for the `snmp` source and its devices,
//! each `snmp_traps` user and the `nocwatch snmp` flags, with one check (what
//! `check-config` refuses), one set of defaults and one derivation of the user's keys.
//!
//! In a config file the keys are written inline (beside a device's `address`, or as one
//! entry of the trap source's `users`); see [`crate::config::inline`].

use nocwatch_snmp::{AuthProtocol, PrivProtocol, UsmUser};
use serde::Serialize;
use serde::de::{self, MapAccess};

use crate::config::Secret;
use crate::config::inline::{InlineKeys, deserialize_alone};

/// The protocol of an `auth_key` given without `auth_protocol` (net-snmp's and Datadog's).
pub const DEFAULT_AUTH_PROTOCOL: AuthProtocol = AuthProtocol::Md5;
/// The protocol of a `priv_key` given without `priv_protocol`.
pub const DEFAULT_PRIV_PROTOCOL: PrivProtocol = PrivProtocol::Des;

/// A USM user as configured. Pass phrases are [`Secret`]s: `Debug`, `Serialize` and every
/// error here leave them out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct UsmCredentials {
    /// Security name.
    pub user: Option<String>,
    /// MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512 (default [`DEFAULT_AUTH_PROTOCOL`]).
    pub auth_protocol: Option<String>,
    /// Authentication pass phrase: authNoPriv.
    pub auth_key: Option<Secret>,
    /// DES, AES, AES-192, AES-256, AES-192-C, AES-256-C (default [`DEFAULT_PRIV_PROTOCOL`]).
    pub priv_protocol: Option<String>,
    /// Privacy pass phrase (needs `auth_key`): authPriv.
    pub priv_key: Option<Secret>,
    /// Context name of requests (empty by default).
    pub context_name: Option<String>,
}

/// The keys as written in the config.
const KEYS: &[&str] = &["user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "context_name"];

/// RFC 3414 11.2: pass phrases of at least 8 characters.
const MIN_PASS_PHRASE: usize = 8;

impl UsmCredentials {
    /// `self` with each unset key taken from `defaults` (a device over its source).
    pub fn or(&self, defaults: &UsmCredentials) -> UsmCredentials {
        UsmCredentials {
            user: self.user.clone().or_else(|| defaults.user.clone()),
            auth_protocol: self.auth_protocol.clone().or_else(|| defaults.auth_protocol.clone()),
            auth_key: self.auth_key.clone().or_else(|| defaults.auth_key.clone()),
            priv_protocol: self.priv_protocol.clone().or_else(|| defaults.priv_protocol.clone()),
            priv_key: self.priv_key.clone().or_else(|| defaults.priv_key.clone()),
            context_name: self.context_name.clone().or_else(|| defaults.context_name.clone()),
        }
    }

    /// Checks that a user can be built from these (complete once merged with defaults):
    /// everything [`UsmCredentials::usm_user`] would refuse, without its key hashing.
    pub fn check(&self) -> Result<(), String> {
        if self.user.as_deref().is_none_or(str::is_empty) {
            return Err("SNMPv3 needs a `user`".to_owned());
        }
        self.auth()?;
        self.privacy()?;
        if self.priv_key.is_some() && self.auth_key.is_none() {
            return Err("`priv_key` needs `auth_key` too (there is no privacy without authentication)".to_owned());
        }
        for (key, secret) in [("auth_key", &self.auth_key), ("priv_key", &self.priv_key)] {
            if secret.as_ref().is_some_and(|s| s.expose().len() < MIN_PASS_PHRASE) {
                return Err(format!(
                    "`{key}` is shorter than {MIN_PASS_PHRASE} characters (RFC 3414 requires at least {MIN_PASS_PHRASE})"
                ));
            }
        }
        if self.auth_protocol.is_some() && self.auth_key.is_none() {
            return Err("`auth_protocol` is set but `auth_key` is not".to_owned());
        }
        if self.priv_protocol.is_some() && self.priv_key.is_none() {
            return Err("`priv_protocol` is set but `priv_key` is not".to_owned());
        }
        Ok(())
    }

    /// The authentication protocol in effect (None: noAuthNoPriv).
    fn auth(&self) -> Result<Option<AuthProtocol>, String> {
        let protocol = match &self.auth_protocol {
            Some(name) => name.parse::<AuthProtocol>().map_err(|e| format!("auth_protocol: {e}"))?,
            None => DEFAULT_AUTH_PROTOCOL,
        };
        Ok(self.auth_key.is_some().then_some(protocol))
    }

    /// The privacy protocol in effect (None: no privacy).
    fn privacy(&self) -> Result<Option<PrivProtocol>, String> {
        let protocol = match &self.priv_protocol {
            Some(name) => name.parse::<PrivProtocol>().map_err(|e| format!("priv_protocol: {e}"))?,
            None => DEFAULT_PRIV_PROTOCOL,
        };
        Ok(self.priv_key.is_some().then_some(protocol))
    }

    /// The user with its master keys. Hashes 1 MiB per pass phrase (tens of milliseconds):
    /// call it off the async runtime (`spawn_blocking`) and share the result.
    pub fn usm_user(&self) -> Result<UsmUser, String> {
        self.check()?;
        let name = self.user.clone().unwrap_or_default();
        let (Some(auth), Some(auth_key)) = (self.auth()?, &self.auth_key) else {
            return Ok(UsmUser::no_auth(name.into_bytes()));
        };
        let privacy = match (self.privacy()?, &self.priv_key) {
            (Some(protocol), Some(key)) => Some((protocol, key.expose().as_bytes())),
            _ => None,
        };
        // The key error names no key material (too short is all it can say).
        UsmUser::new(name.clone().into_bytes(), auth, auth_key.expose().as_bytes(), privacy)
            .map_err(|e| format!("SNMPv3 user `{}`: {e}", name.escape_debug()))
    }

    /// The context name of requests.
    pub fn context(&self) -> Vec<u8> {
        self.context_name.clone().unwrap_or_default().into_bytes()
    }
}

impl InlineKeys for UsmCredentials {
    fn keys() -> Vec<&'static str> {
        KEYS.to_vec()
    }

    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "user" => self.user = map.next_value()?,
            "auth_protocol" => self.auth_protocol = map.next_value()?,
            "auth_key" => self.auth_key = map.next_value()?,
            "priv_protocol" => self.priv_protocol = map.next_value()?,
            "priv_key" => self.priv_key = map.next_value()?,
            "context_name" => self.context_name = map.next_value()?,
            other => return Err(de::Error::unknown_field(other, KEYS)),
        }
        Ok(())
    }
}

/// Written on its own: one entry of the trap source's `users`.
impl<'de> serde::Deserialize<'de> for UsmCredentials {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_alone(deserializer, "UsmCredentials", KEYS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(auth: Option<&str>, priv_: Option<&str>) -> UsmCredentials {
        UsmCredentials {
            user: Some("ops".to_owned()),
            auth_key: auth.map(Secret::new),
            priv_key: priv_.map(Secret::new),
            ..UsmCredentials::default()
        }
    }

    #[test]
    fn a_protocol_without_its_key_is_refused() {
        let mut c = credentials(None, None);
        c.auth_protocol = Some("SHA".to_owned());
        assert_eq!(c.check().unwrap_err(), "`auth_protocol` is set but `auth_key` is not");
        assert!(c.usm_user().is_err(), "the same check guards the key derivation");
        let mut c = credentials(Some("authpass1"), None);
        c.priv_protocol = Some("AES".to_owned());
        assert_eq!(c.check().unwrap_err(), "`priv_protocol` is set but `priv_key` is not");
    }

    #[test]
    fn privacy_needs_authentication_and_keys_need_8_characters() {
        assert!(credentials(None, Some("privpass1")).check().unwrap_err().contains("needs `auth_key`"));
        assert!(credentials(Some("short"), None).check().unwrap_err().contains("shorter than 8"));
        assert!(credentials(Some("authpass1"), Some("short")).check().unwrap_err().contains("`priv_key`"));
        assert!(UsmCredentials::default().check().unwrap_err().contains("`user`"));
        let mut c = credentials(Some("authpass1"), None);
        c.auth_protocol = Some("SHA-3".to_owned());
        assert!(c.check().unwrap_err().starts_with("auth_protocol: "));
    }

    #[test]
    fn defaults_are_md5_and_des_as_net_snmp() {
        use nocwatch_snmp::SecurityLevel;
        let user = credentials(Some("authpass1"), Some("privpass1")).usm_user().unwrap();
        assert_eq!(user.level(), SecurityLevel::AuthPriv);
        assert_eq!(user.auth_protocol(), Some(AuthProtocol::Md5));
        assert_eq!(user.priv_protocol(), Some(PrivProtocol::Des));
        assert_eq!(credentials(None, None).usm_user().unwrap().level(), SecurityLevel::NoAuthNoPriv);
    }

    #[test]
    fn pass_phrases_never_print() {
        let c = credentials(Some("authpass-secret"), Some("privpass-secret"));
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("authpass-secret") && !shown.contains("privpass-secret"), "{shown}");
        let short = credentials(Some("sekrit7"), None);
        assert!(!short.usm_user().unwrap_err().contains("sekrit7"));
    }
}
