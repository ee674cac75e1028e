//! Sans-IO ICMP echo (ping) for nocwatch: echo requests out, replies in, and the
//! bookkeeping that matches them — no sockets, no clock reads (the caller passes "now").
//!
//! One [`Pinger`] serves any number of targets over one socket: each request carries the
//! pinger's identifier and a sequence number unique among outstanding requests, so a
//! reply finds its request whatever the target, and a late or duplicate reply is
//! recognised and counted instead of being taken for a fresh one. A reply must also come
//! from the address the request went to: identifiers and sequence numbers are small and
//! guessable (with datagram sockets the identifier is the socket's local port), so a
//! misrouted or forged reply must not make a dead target look alive.

use std::collections::HashMap;
use std::net::IpAddr;

pub const ECHO_REQUEST_V4: u8 = 8;
pub const ECHO_REPLY_V4: u8 = 0;
pub const ECHO_REQUEST_V6: u8 = 128;
pub const ECHO_REPLY_V6: u8 = 129;

/// The Internet checksum (RFC 1071).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in bytes.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request. For IPv6 the kernel computes the checksum (it covers a pseudo-header
/// we don't know), so it is left zero there.
pub fn echo_request(ipv6: bool, identifier: u16, sequence: u16, payload_len: usize) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + payload_len);
    packet.push(if ipv6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    packet.push(0);
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend((0..payload_len).map(|i| (i % 251) as u8));
    if !ipv6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// An echo reply's identifier and sequence. `bytes` may start with an IPv4 header (raw
/// sockets deliver one); anything that is not an echo reply is `None`.
pub fn parse_echo_reply(bytes: &[u8]) -> Option<(u16, u16)> {
    let icmp = match bytes.first() {
        // IPv4 header: version 4, header length in 32-bit words.
        Some(b) if b >> 4 == 4 => bytes.get(usize::from(b & 0x0F) * 4..)?,
        _ => bytes,
    };
    if icmp.len() < 8 || !matches!(icmp[0], ECHO_REPLY_V4 | ECHO_REPLY_V6) || icmp[1] != 0 {
        return None;
    }
    Some((u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]])))
}

/// What a reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reply<T> {
    /// The answer to an outstanding request: its target and round-trip time.
    Answer { target: T, rtt_nanos: i128 },
    /// For a request already answered or given up on.
    LateOrDuplicate,
    /// Not one of ours (another process's ping, a different identifier).
    Foreign,
    /// Our identifier and an outstanding sequence, but from another address than the
    /// request's target: not taken (the request stays outstanding).
    WrongSource,
}

struct Outstanding<T> {
    target: T,
    /// Where the request went (canonical: an IPv4-mapped IPv6 address as IPv4).
    address: IpAddr,
    sent_at: i128,
}

/// Matches replies to requests for many targets over one socket.
pub struct Pinger<T> {
    identifier: u16,
    next_sequence: u16,
    outstanding: HashMap<u16, Outstanding<T>>,
    /// Sequences recently answered or expired, to tell late replies from foreign ones.
    recent: std::collections::VecDeque<u16>,
}

impl<T: Clone + Eq + std::hash::Hash> Pinger<T> {
    pub fn new(identifier: u16) -> Self {
        Pinger { identifier, next_sequence: 0, outstanding: HashMap::new(), recent: std::collections::VecDeque::new() }
    }

    pub fn identifier(&self) -> u16 {
        self.identifier
    }

    /// A request to `target` at `address`, sent at `now`; `None` when all 65536 sequences
    /// are in flight.
    pub fn request(&mut self, target: T, address: IpAddr, payload_len: usize, now: i128) -> Option<Vec<u8>> {
        if self.outstanding.len() >= usize::from(u16::MAX) {
            return None;
        }
        while self.outstanding.contains_key(&self.next_sequence) {
            self.next_sequence = self.next_sequence.wrapping_add(1);
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let address = address.to_canonical();
        self.outstanding.insert(sequence, Outstanding { target, address, sent_at: now });
        Some(echo_request(address.is_ipv6(), self.identifier, sequence, payload_len))
    }

    /// A reply from `from`, received at `now`. With datagram ICMP sockets the kernel
    /// rewrites the identifier to the socket's, so `check_identifier` is false there.
    pub fn reply(&mut self, bytes: &[u8], from: IpAddr, check_identifier: bool, now: i128) -> Reply<T> {
        let Some((identifier, sequence)) = parse_echo_reply(bytes) else { return Reply::Foreign };
        if check_identifier && identifier != self.identifier {
            return Reply::Foreign;
        }
        if self.outstanding.get(&sequence).is_some_and(|o| o.address != from.to_canonical()) {
            return Reply::WrongSource;
        }
        match self.outstanding.remove(&sequence) {
            Some(request) => {
                self.remember(sequence);
                Reply::Answer { target: request.target, rtt_nanos: now - request.sent_at }
            }
            None if self.recent.contains(&sequence) => Reply::LateOrDuplicate,
            None => Reply::Foreign,
        }
    }

    /// Gives up on requests older than `timeout`; returns their targets (one per request).
    pub fn expire(&mut self, now: i128, timeout_nanos: i128) -> Vec<T> {
        let expired: Vec<u16> =
            self.outstanding.iter().filter(|(_, o)| now - o.sent_at > timeout_nanos).map(|(s, _)| *s).collect();
        let mut targets = Vec::with_capacity(expired.len());
        for sequence in expired {
            if let Some(request) = self.outstanding.remove(&sequence) {
                targets.push(request.target);
                self.remember(sequence);
            }
        }
        targets
    }

    fn remember(&mut self, sequence: u16) {
        if self.recent.len() >= 4096 {
            self.recent.pop_front();
        }
        self.recent.push_back(sequence);
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }
}

/// Whether an address needs ICMPv6.
pub fn is_ipv6(address: IpAddr) -> bool {
    address.is_ipv6()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_and_request_layout() {
        // RFC 1071 example: 0x0001 0xf203 0xf4f5 0xf6f7 sums to 0xddf2, checksum 0x220d.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
        let request = echo_request(false, 0xBEEF, 7, 56);
        assert_eq!(request.len(), 64);
        assert_eq!(checksum(&request), 0, "a packet with its checksum sums to zero");
        assert_eq!(&request[4..8], &[0xBE, 0xEF, 0, 7]);
    }

    fn reply_to(request: &[u8], with_ip_header: bool) -> Vec<u8> {
        let mut reply = request.to_vec();
        reply[0] = ECHO_REPLY_V4;
        if with_ip_header {
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
            ip.extend_from_slice(&reply);
            return ip;
        }
        reply
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn replies_match_requests_and_late_duplicates_are_told_apart() {
        let mut pinger: Pinger<&str> = Pinger::new(0x1234);
        let a = pinger.request("a", A, 8, 1_000).unwrap();
        let b = pinger.request("b", B, 8, 2_000).unwrap();
        assert_eq!(pinger.reply(&reply_to(&b, true), B, true, 5_000), Reply::Answer { target: "b", rtt_nanos: 3_000 });
        assert_eq!(pinger.reply(&reply_to(&b, true), B, true, 6_000), Reply::LateOrDuplicate);
        assert_eq!(pinger.expire(1_000_000, 10_000), vec!["a"]);
        assert_eq!(pinger.reply(&reply_to(&a, false), A, true, 2_000_000), Reply::LateOrDuplicate, "late");
        let foreign = echo_request(false, 0x9999, 0, 8);
        assert_eq!(pinger.reply(&reply_to(&foreign, false), A, true, 0), Reply::Foreign);
        assert_eq!(pinger.reply(&a, A, true, 0), Reply::Foreign, "a request is not a reply");
        assert_eq!(pinger.reply(&[0x45, 0, 0], A, true, 0), Reply::Foreign, "truncated");
        assert_eq!(pinger.outstanding(), 0);
    }

    /// Before, only identifier and sequence were matched: a reply from anywhere with an
    /// in-flight sequence answered the request, so a dead target looked alive.
    #[test]
    fn a_reply_from_another_address_is_not_an_answer() {
        let mut pinger: Pinger<&str> = Pinger::new(0x1234);
        let request = pinger.request("a", A, 8, 1_000).unwrap();
        assert_eq!(pinger.reply(&reply_to(&request, false), B, true, 2_000), Reply::WrongSource);
        assert_eq!(pinger.outstanding(), 1, "still waiting for the target");
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(
            pinger.reply(&reply_to(&request, false), mapped, true, 3_000),
            Reply::Answer { target: "a", rtt_nanos: 2_000 },
            "the same IPv4 address, IPv4-mapped"
        );
    }
}
