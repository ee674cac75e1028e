//! Subnet autodiscovery: which addresses a `discovery.subnets` entry covers, and the
//! bookkeeping of a scan (which devices answered, which failed too often and are dropped).
//! The probing itself (a GET of sysObjectID with the source's credentials, bounded
//! concurrency) is driven from the source's run loop.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The largest subnet accepted: 65,536 addresses (an IPv4 /16, an IPv6 /112).
const MAX_HOST_BITS: u8 = 16;

/// A CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Subnet {
    type Err = String;

    fn from_str(text: &str) -> Result<Subnet, String> {
        let text = text.trim();
        let (address, prefix) =
            text.split_once('/').ok_or_else(|| format!("`{text}` is not a subnet: write e.g. `10.0.1.0/24`"))?;
        let address: IpAddr = address.parse().map_err(|_| format!("`{text}`: `{address}` is not an IP address"))?;
        let bits: u8 = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| format!("`{text}`: the prefix length must be from 0 to {bits}"))?;
        if bits - prefix > MAX_HOST_BITS {
            return Err(format!(
                "`{text}` has {} addresses; the largest subnet scanned is /{} (65,536 addresses): split it",
                1u128 << (bits - prefix),
                bits - MAX_HOST_BITS
            ));
        }
        let network = match address {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Ok(Subnet { network, prefix })
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    /// The addresses to probe: every address of the block, except an IPv4 block's
    /// network and broadcast addresses when it has them (prefix up to /30).
    pub fn hosts(&self) -> Vec<IpAddr> {
        match self.network {
            IpAddr::V4(network) => {
                let first = u32::from(network);
                let count = 1u64 << (32 - u32::from(self.prefix));
                let (skip_start, skip_end) = if self.prefix <= 30 { (1, 1) } else { (0, 0) };
                (skip_start..count - skip_end).map(|i| IpAddr::V4(Ipv4Addr::from(first + i as u32))).collect()
            }
            IpAddr::V6(network) => {
                let first = u128::from(network);
                let count = 1u128 << (128 - u32::from(self.prefix));
                (0..count).map(|i| IpAddr::V6(Ipv6Addr::from(first + i))).collect()
            }
        }
    }
}

/// What the discovery remembers between scans.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Discovered devices (address → subnet it was found in) and their failures in a row.
    devices: HashMap<IpAddr, (String, u32)>,
}

/// What a scan changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScanChanges {
    /// Newly found: address and subnet.
    pub added: Vec<(IpAddr, String)>,
    /// Failed more than `allowed_failures` scans in a row: stop polling.
    pub removed: Vec<IpAddr>,
}

impl Discovered {
    /// Takes one probe result per scanned address (`true`: it answered).
    pub fn apply_scan(&mut self, results: &[(IpAddr, String, bool)], allowed_failures: u32) -> ScanChanges {
        let mut changes = ScanChanges::default();
        for (address, subnet, answered) in results {
            match (self.devices.get_mut(address), answered) {
                (Some(entry), true) => entry.1 = 0,
                (Some(entry), false) => {
                    entry.1 += 1;
                    if entry.1 > allowed_failures {
                        changes.removed.push(*address);
                    }
                }
                (None, true) => {
                    self.devices.insert(*address, (subnet.clone(), 0));
                    changes.added.push((*address, subnet.clone()));
                }
                (None, false) => {}
            }
        }
        for address in &changes.removed {
            self.devices.remove(address);
        }
        changes
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn subnets_parse_mask_and_list_their_hosts() {
        let subnet: Subnet = "192.0.2.77/29".parse().unwrap();
        assert_eq!(subnet.to_string(), "192.0.2.72/29");
        let hosts = subnet.hosts();
        assert_eq!(hosts.len(), 6);
        assert_eq!(hosts[0], "192.0.2.73".parse::<IpAddr>().unwrap());
        assert_eq!(hosts[5], "192.0.2.78".parse::<IpAddr>().unwrap());
        assert_eq!("127.0.0.1/32".parse::<Subnet>().unwrap().hosts().len(), 1);
        assert_eq!("10.0.0.0/31".parse::<Subnet>().unwrap().hosts().len(), 2);
        assert_eq!("2001:db8::/126".parse::<Subnet>().unwrap().hosts().len(), 4);
        assert!("10.0.0.0/8".parse::<Subnet>().unwrap_err().contains("split it"));
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
    }

    #[test]
    fn a_device_is_dropped_after_more_than_allowed_failures() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mut discovered = Discovered::default();
        let subnet = "10.0.0.0/24".to_owned();
        let changes = discovered.apply_scan(&[(a, subnet.clone(), true)], 2);
        assert_eq!(changes.added, [(a, subnet.clone())]);
        for _ in 0..2 {
            assert_eq!(discovered.apply_scan(&[(a, subnet.clone(), false)], 2), ScanChanges::default());
        }
        assert_eq!(discovered.apply_scan(&[(a, subnet.clone(), false)], 2).removed, [a]);
        assert!(discovered.is_empty());
    }
}
