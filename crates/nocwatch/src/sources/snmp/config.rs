//! The `type: snmp` config: devices (a list, and the seed's one comma-separated variable of
//! addresses sharing one community), discovery subnets, sharding, and the knobs of the
//! poller. Everything `run` would refuse is refused by [`SnmpSourceConfig::validate`], so
//! `nocwatch check-config` catches it.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::config::inline::{InlineKeys, inline_keys};
use crate::config::{self, Secret};
use crate::snmp::UsmCredentials;

use super::discovery::Subnet;

/// SNMP protocol version as written in the config: `1`, `2c` (or `2`) or `3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpVersion {
    V1,
    V2c,
    V3,
}

impl SnmpVersion {
    fn parse(text: &str) -> Result<SnmpVersion, String> {
        match text.trim() {
            "1" | "v1" => Ok(SnmpVersion::V1),
            "2" | "2c" | "v2c" | "v2" => Ok(SnmpVersion::V2c),
            "3" | "v3" => Ok(SnmpVersion::V3),
            other => Err(format!("invalid SNMP version `{other}`: use 1, 2c or 3")),
        }
    }
}

impl fmt::Display for SnmpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SnmpVersion::V1 => "1",
            SnmpVersion::V2c => "2c",
            SnmpVersion::V3 => "3",
        })
    }
}

impl<'de> Deserialize<'de> for SnmpVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = SnmpVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an SNMP version: 1, 2c or 3")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SnmpVersion, E> {
                SnmpVersion::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SnmpVersion, E> {
                SnmpVersion::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SnmpVersion, E> {
                SnmpVersion::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for SnmpVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// How to authenticate to a device. Every key may be set for the whole source and
/// overridden per device; the keys are written inline (beside `address`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Credentials {
    pub version: Option<SnmpVersion>,
    /// v1/v2c community.
    pub community: Option<Secret>,
    /// SNMPv3.
    #[serde(flatten)]
    pub usm: UsmCredentials,
}

impl InlineKeys for Credentials {
    fn keys() -> Vec<&'static str> {
        let mut keys = vec!["version", "community"];
        keys.extend(UsmCredentials::keys());
        keys
    }

    fn read<'de, A: de::MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "version" => self.version = map.next_value()?,
            "community" => self.community = map.next_value()?,
            _ => self.usm.read(key, map)?,
        }
        Ok(())
    }
}

impl Credentials {
    /// `self` with each unset field taken from `defaults`.
    pub fn or(&self, defaults: &Credentials) -> Credentials {
        Credentials {
            version: self.version.or(defaults.version),
            community: self.community.clone().or_else(|| defaults.community.clone()),
            usm: self.usm.or(&defaults.usm),
        }
    }

    /// The version in effect: v3 when a user is given, else 2c (Datadog's defaults).
    pub fn effective_version(&self) -> SnmpVersion {
        self.version.unwrap_or(if self.usm.user.is_some() { SnmpVersion::V3 } else { SnmpVersion::V2c })
    }

    /// Checks that the combination can be used (complete once merged with the defaults).
    pub fn check(&self) -> Result<(), String> {
        match self.effective_version() {
            SnmpVersion::V1 | SnmpVersion::V2c => match &self.community {
                None => Err("needs a `community` (here or for the whole source)".to_owned()),
                Some(c) if c.expose().is_empty() => Err("`community` is empty (an unset variable?)".to_owned()),
                Some(_) => Ok(()),
            },
            SnmpVersion::V3 => self.usm.check(),
        }
    }
}

/// A per-interface override (Datadog's `interface_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// `name` (ifName) or `index` (ifIndex).
    pub match_field: InterfaceMatch,
    pub match_value: String,
    /// Inbound bandwidth in bits/s for `snmp.ifBandwidthInUsage.rate` (instead of ifHighSpeed).
    #[serde(default)]
    pub in_speed: Option<u64>,
    /// Outbound bandwidth in bits/s for `snmp.ifBandwidthOutUsage.rate`.
    #[serde(default)]
    pub out_speed: Option<u64>,
    /// Tags added to this interface's metrics.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceMatch {
    Name,
    Index,
}

/// One device to poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct DeviceConfig {
    /// IP address or host name.
    pub address: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// Written inline: `version`, `community`, `user`, `auth_key`...
    #[serde(flatten, skip_deserializing)]
    pub credentials: Credentials,
    /// `key:value` tags for this device's metrics.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Use this profile instead of choosing one by sysObjectID.
    #[serde(default)]
    pub profile: Option<String>,
    /// Poll interval for this device (default: the source's).
    #[serde(default)]
    pub interval: Option<config::Duration>,
    #[serde(default)]
    pub interfaces: Vec<InterfaceConfig>,
}

inline_keys!(DeviceConfig, credentials: Credentials);

impl DeviceConfig {
    pub fn from_address(address: &str) -> DeviceConfig {
        DeviceConfig {
            address: address.to_owned(),
            port: None,
            credentials: Credentials::default(),
            tags: Vec::new(),
            profile: None,
            interval: None,
            interfaces: Vec::new(),
        }
    }
}

/// Subnets scanned for devices answering SNMP with the source's credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// CIDR blocks, e.g. `10.0.1.0/24` (at most 65,536 addresses each).
    pub subnets: Vec<String>,
    /// How often the subnets are scanned again.
    #[serde(default = "default_discovery_interval")]
    pub interval: config::Duration,
    /// Addresses probed at once.
    #[serde(default = "default_discovery_concurrency")]
    pub concurrency: usize,
    /// Addresses never probed.
    #[serde(default)]
    pub ignored_addresses: Vec<String>,
    /// Scans a discovered device may fail in a row before it is dropped.
    #[serde(default = "default_allowed_failures")]
    pub allowed_failures: u32,
    /// Tags for the discovered devices' metrics (besides `autodiscovery_subnet`).
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_discovery_interval() -> config::Duration {
    config::Duration::from_secs(3600)
}
fn default_discovery_concurrency() -> usize {
    16
}
fn default_allowed_failures() -> u32 {
    3
}

/// Which share of the devices this replica polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// This replica's number, from 0 to `count - 1`.
    pub index: u32,
    /// How many replicas share the devices.
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct SnmpSourceConfig {
    /// Devices, each with its own settings.
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    /// Device addresses sharing the source's settings (a comma-separated `${VAR}` works:
    /// the seed's `IP_ADDRESSES`).
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// The device namespace (Datadog's `namespace`): part of the device id and a tag.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Send each device's metrics under the host `device:<namespace>:<address>`.
    #[serde(default)]
    pub use_device_id_as_hostname: bool,
    /// Default poll interval.
    #[serde(default = "default_interval")]
    pub interval: config::Duration,
    /// Time to wait for each request attempt.
    #[serde(default = "default_timeout")]
    pub timeout: config::Duration,
    /// Attempts after the first.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Longest a whole poll of one device may take (default: 10 intervals, at least 5
    /// minutes; a slower poll than the interval reports late instead).
    #[serde(default)]
    pub poll_timeout: Option<config::Duration>,
    /// Devices polled at once, over all devices.
    #[serde(default = "default_max_concurrent_polls")]
    pub max_concurrent_polls: usize,
    /// OIDs per GET, and columns per GETBULK (lowered on its own for a device that
    /// answers tooBig or times out).
    #[serde(default = "default_oid_batch_size")]
    pub oid_batch_size: usize,
    /// GETBULK max-repetitions.
    #[serde(default = "default_max_repetitions")]
    pub max_repetitions: u32,
    /// Default port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The devices' defaults, written inline: `version`, `community`, `user`, `auth_key`...
    #[serde(flatten, skip_deserializing)]
    pub credentials: Credentials,
    /// `key:value` tags for every device's metrics.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Directories of the user's profiles (Datadog format); a profile here replaces a
    /// bundled one of the same name.
    #[serde(default)]
    pub profile_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub shard: Option<ShardConfig>,
}

inline_keys!(SnmpSourceConfig, credentials: Credentials);

pub(crate) fn default_namespace() -> String {
    "default".to_owned()
}
fn default_interval() -> config::Duration {
    config::Duration::from_secs(60)
}
fn default_timeout() -> config::Duration {
    config::Duration::from_secs(2)
}
fn default_retries() -> u32 {
    2
}
fn default_max_concurrent_polls() -> usize {
    64
}
fn default_oid_batch_size() -> usize {
    32
}
fn default_max_repetitions() -> u32 {
    10
}
fn default_port() -> u16 {
    161
}

/// A tag written `key:value` (or a bare `key`).
pub fn split_tag(tag: &str) -> (String, String) {
    match tag.split_once(':') {
        Some((key, value)) => (key.trim().to_owned(), value.trim().to_owned()),
        None => (tag.trim().to_owned(), String::new()),
    }
}

impl SnmpSourceConfig {
    /// Every configured device: `devices`, then one per entry of `addresses`.
    pub fn all_devices(&self) -> Vec<DeviceConfig> {
        let mut out = self.devices.clone();
        out.extend(self.addresses.iter().map(|address| DeviceConfig::from_address(address)));
        out
    }

    pub fn validate(&self) -> Result<(), String> {
        let discovery_subnets = self.discovery.as_ref().map_or(0, |d| d.subnets.len());
        if self.devices.is_empty() && self.addresses.is_empty() && discovery_subnets == 0 {
            return Err("give `devices`, `addresses` or `discovery.subnets` (nothing to poll)".to_owned());
        }
        check_namespace(&self.namespace)?;
        for (name, duration) in [("interval", self.interval), ("timeout", self.timeout)] {
            if duration.get().is_zero() {
                return Err(format!("{name}: must be more than 0"));
            }
        }
        if self.poll_timeout.is_some_and(|d| d.get().is_zero()) {
            return Err("poll_timeout: must be more than 0".to_owned());
        }
        if self.max_concurrent_polls == 0 {
            return Err("max_concurrent_polls: must be at least 1".to_owned());
        }
        if !(1..=256).contains(&self.oid_batch_size) {
            return Err("oid_batch_size: must be from 1 to 256".to_owned());
        }
        if !(1..=1000).contains(&self.max_repetitions) {
            return Err("max_repetitions: must be from 1 to 1000".to_owned());
        }
        for tag in &self.tags {
            check_tag(tag).map_err(|e| format!("tags: {e}"))?;
        }
        if let Some(shard) = self.shard {
            if shard.count == 0 {
                return Err("shard.count: must be at least 1".to_owned());
            }
            if shard.index >= shard.count {
                return Err(format!(
                    "shard.index: {} is not below shard.count ({}); replicas are numbered from 0",
                    shard.index, shard.count
                ));
            }
        }
        let defaults = &self.credentials;
        let mut seen = HashSet::new();
        for (i, device) in self.devices.iter().enumerate() {
            let at = format!("devices[{i}] ({})", device.address);
            check_device(device, defaults).map_err(|e| format!("{at}: {e}"))?;
            if !seen.insert((device.address.clone(), device.port.unwrap_or(self.port))) {
                return Err(format!("{at}: listed twice"));
            }
        }
        for (i, address) in self.addresses.iter().enumerate() {
            let device = DeviceConfig::from_address(address);
            check_device(&device, defaults).map_err(|e| format!("addresses[{i}] ({address}): {e}"))?;
            if !seen.insert((device.address.clone(), self.port)) {
                return Err(format!("addresses[{i}] ({address}): listed twice"));
            }
        }
        if let Some(discovery) = &self.discovery {
            if discovery.subnets.is_empty() {
                return Err("discovery.subnets: give at least one subnet, or remove `discovery`".to_owned());
            }
            for subnet in &discovery.subnets {
                subnet.parse::<Subnet>().map_err(|e| format!("discovery.subnets: {e}"))?;
            }
            for address in &discovery.ignored_addresses {
                address
                    .trim()
                    .parse::<IpAddr>()
                    .map_err(|_| format!("discovery.ignored_addresses: `{address}` is not an IP address"))?;
            }
            if discovery.concurrency == 0 {
                return Err("discovery.concurrency: must be at least 1".to_owned());
            }
            if discovery.interval.get().is_zero() {
                return Err("discovery.interval: must be more than 0".to_owned());
            }
            for tag in &discovery.tags {
                check_tag(tag).map_err(|e| format!("discovery.tags: {e}"))?;
            }
            defaults.check().map_err(|e| format!("discovery uses the source's credentials, which {e}"))?;
        }
        let profiles =
            nocwatch_profile::Profiles::load(&self.profile_dirs).map_err(|e| format!("profile_dirs: {e}"))?;
        for (i, device) in self.devices.iter().enumerate() {
            if let Some(name) = &device.profile
                && profiles.get(name).is_none()
            {
                return Err(format!("devices[{i}] ({}): profile: no profile named `{name}`", device.address));
            }
        }
        Ok(())
    }
}

/// The `namespace` key's rule, for every source that names devices.
pub(crate) fn check_namespace(namespace: &str) -> Result<(), String> {
    if namespace.trim().is_empty() {
        return Err("namespace: must not be empty".to_owned());
    }
    Ok(())
}

pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.trim().is_empty() || tag.trim().starts_with(':') {
        return Err(format!("`{tag}` is not a tag: write `key:value`"));
    }
    Ok(())
}

/// An IP address, or a name that could resolve (RFC 1123 labels; `_` is tolerated, as
/// resolvers do). Resolution itself happens when polling (a name that does not resolve
/// yet is retried, not a config error).
fn check_address(address: &str) -> Result<(), String> {
    let address = address.trim();
    if address.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if address.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if address.parse::<std::net::SocketAddr>().is_ok() {
        return Err(format!("`{address}`: give the port as `port`, not in the address"));
    }
    let name = address.strip_suffix('.').unwrap_or(address);
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!("`{address}` is neither an IP address nor a host name"));
    }
    if name.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("`{address}` is not a valid IPv4 address"));
    }
    Ok(())
}

fn check_device(device: &DeviceConfig, defaults: &Credentials) -> Result<(), String> {
    check_address(&device.address).map_err(|e| format!("address: {e}"))?;
    if device.port == Some(0) {
        return Err("port: must not be 0".to_owned());
    }
    if device.interval.is_some_and(|d| d.get().is_zero()) {
        return Err("interval: must be more than 0".to_owned());
    }
    for tag in &device.tags {
        check_tag(tag).map_err(|e| format!("tags: {e}"))?;
    }
    for (i, interface) in device.interfaces.iter().enumerate() {
        if interface.match_field == InterfaceMatch::Index && interface.match_value.trim().parse::<u32>().is_err() {
            return Err(format!("interfaces[{i}].match_value: `{}` is not an ifIndex", interface.match_value));
        }
        if interface.in_speed == Some(0) || interface.out_speed == Some(0) {
            return Err(format!("interfaces[{i}]: a speed must be more than 0 bits/s"));
        }
        for tag in &interface.tags {
            check_tag(tag).map_err(|e| format!("interfaces[{i}].tags: {e}"))?;
        }
    }
    device.credentials.or(defaults).check()
}

#[cfg(test)]
mod tests {
    use super::check_address;

    #[test]
    fn addresses_must_be_ip_addresses_or_host_names() {
        for good in ["192.0.2.1", "2001:db8::1", "switch-1.example.com", "core_sw.lab.", "localhost", " 10.0.0.1 "] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        for (bad, expected) in [
            ("", "must not be empty"),
            ("192.0.2.1:1161", "give the port as `port`"),
            ("[2001:db8::1]:161", "give the port as `port`"),
            ("10.0.0.300", "not a valid IPv4 address"),
            ("switch 1", "neither an IP address nor a host name"),
            ("-bad.example.com", "neither"),
            ("a..b", "neither"),
            ("[2001:db8::1]", "neither"),
            ("http://switch", "neither"),
        ] {
            let error = check_address(bad).unwrap_err();
            assert!(error.contains(expected), "{bad}: {error}");
        }
    }
}
