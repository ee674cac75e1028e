//! Per-source rate limiting for answers to UDP requests whose source address anyone can
//! forge: a token bucket per client, so a device in a tight loop (or a spoofed flood)
//! cannot make nocwatch an amplifier or starve other devices. Used by the NTP service
//! (`nocwatch_ntp`) and by the SNMP trap receiver's Reports (`nocwatch_snmp::receiver`).
//! A client is an IPv4 address or an IPv6 /64 ([`client_key`]): one IPv6 host owns a whole
//! /64 and can pick a fresh source address per request.
//!
//! Bounded memory, and fail-safe when the bound is reached: at most `max_clients` buckets.
//! A client the full table cannot take is not given a bucket of its own but shares one
//! *overflow* bucket (the limit of one client) with every other such client, so a flood
//! of spoofed sources is limited as a whole, and a tracked client keeps its bucket (and its
//! debt) whatever the flood does. Buckets leave the table only once they have refilled
//! (their client loses nothing); looking for them is one pass over the table, done at most
//! once per [`SWEEP_INTERVAL_NANOS`], so its cost does not grow with the packet rate.
//!
//! A limited request may be answered with a small "slow down" notice (NTP's Kiss-o'-Death
//! `RATE`, hence [`Verdict::Limited`]'s `kiss`); the limiter says when, at most once per
//! client per [`KISS_INTERVAL_NANOS`] (and once per interval for all overflow clients
//! together), so a flood spoofing one victim's address reflects at most one small packet
//! per second to it. A protocol without such a notice drops every limited request.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};

/// At most one Kiss-o'-Death per client in this many nanoseconds (1 s).
pub const KISS_INTERVAL_NANOS: i128 = 1_000_000_000;
/// At most one pass over a full table, looking for refilled buckets to forget, in this
/// many nanoseconds (1 s: a one-request client refills within `1 / rate` s, 1 s by default).
pub const SWEEP_INTERVAL_NANOS: i128 = 1_000_000_000;

/// The rate-limit key of a client address: an IPv4 address as it is (an IPv4-mapped IPv6
/// address, as a dual-stack socket reports IPv4 clients, as that IPv4 address), an IPv6
/// address as its /64, the smallest prefix a site gets, within which a host can use any
/// number of addresses.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !(u128::MAX >> 64))),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the request.
    Allow,
    /// Over the limit: do not serve it. `kiss`: answer with a Kiss-o'-Death `RATE` (where
    /// the mode has one); otherwise drop it without a reply.
    Limited { kiss: bool },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: i128,
    last_kiss: Option<i128>,
}

impl Bucket {
    fn full(burst: f64, now: i128) -> Self {
        Bucket { tokens: burst, last: now, last_kiss: None }
    }

    /// The tokens at `now` (never more than `burst`).
    fn tokens_at(&self, now: i128, per_second: f64, burst: f64) -> f64 {
        (self.tokens + (now - self.last).max(0) as f64 / 1e9 * per_second).min(burst)
    }

    fn take(&mut self, now: i128, per_second: f64, burst: f64) -> Verdict {
        self.tokens = self.tokens_at(now, per_second, burst);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        let kiss = self.last_kiss.is_none_or(|at| now - at >= KISS_INTERVAL_NANOS || now < at);
        if kiss {
            self.last_kiss = Some(now);
        }
        Verdict::Limited { kiss }
    }
}

pub struct RateLimiter<K> {
    buckets: HashMap<K, Bucket>,
    /// Shared by the clients the full table could not take (from the first one on).
    overflow: Option<Bucket>,
    per_second: f64,
    burst: f64,
    max_clients: usize,
    last_sweep: Option<i128>,
    sweeps: u64,
    evicted: u64,
    overflowed: u64,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// `burst` requests at once, then `per_second` on average; buckets for at most
    /// `max_clients` clients.
    pub fn new(per_second: f64, burst: u32, max_clients: usize) -> Self {
        RateLimiter {
            buckets: HashMap::new(),
            overflow: None,
            per_second: per_second.max(0.0),
            burst: f64::from(burst.max(1)),
            max_clients: max_clients.max(1),
            last_sweep: None,
            sweeps: 0,
            evicted: 0,
            overflowed: 0,
        }
    }

    /// Whether a request from `client` at `now` (ns) may be served.
    pub fn check(&mut self, client: K, now: i128) -> Verdict {
        let (per_second, burst) = (self.per_second, self.burst);
        if let Some(bucket) = self.buckets.get_mut(&client) {
            return bucket.take(now, per_second, burst);
        }
        if self.buckets.len() >= self.max_clients {
            self.sweep(now);
        }
        if self.buckets.len() < self.max_clients {
            return self.buckets.entry(client).or_insert(Bucket::full(burst, now)).take(now, per_second, burst);
        }
        self.overflowed += 1;
        self.overflow.get_or_insert(Bucket::full(burst, now)).take(now, per_second, burst)
    }

    /// Forgets the clients whose bucket has refilled: they lose nothing, since a new bucket
    /// starts full. A client still in debt keeps its bucket, so no flood can buy it a fresh
    /// burst. One pass, at most once per [`SWEEP_INTERVAL_NANOS`] (or when the clock went
    /// back), however many new clients meet the full table meanwhile.
    fn sweep(&mut self, now: i128) {
        if self.last_sweep.is_some_and(|at| now >= at && now - at < SWEEP_INTERVAL_NANOS) {
            return;
        }
        self.last_sweep = Some(now);
        self.sweeps += 1;
        let (per_second, burst) = (self.per_second, self.burst);
        let before = self.buckets.len();
        self.buckets.retain(|_, bucket| bucket.tokens_at(now, per_second, burst) < burst);
        self.evicted += (before - self.buckets.len()) as u64;
    }

    /// Clients with a bucket of their own.
    pub fn clients(&self) -> usize {
        self.buckets.len()
    }

    /// Requests from clients the full table could not take, checked against the shared
    /// overflow bucket.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Refilled buckets forgotten to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Passes over the full table looking for refilled buckets.
    pub fn sweeps(&self) -> u64 {
        self.sweeps
    }
}

impl RateLimiter<IpAddr> {
    /// [`check`](Self::check) for the client at `address`, keyed by [`client_key`].
    pub fn check_address(&mut self, address: IpAddr, now: i128) -> Verdict {
        self.check(client_key(address), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const SEC: i128 = 1_000_000_000;

    fn allowed<K: Hash + Eq + Copy>(limiter: &mut RateLimiter<K>, client: K, now: i128, requests: usize) -> usize {
        (0..requests).filter(|_| limiter.check(client, now) == Verdict::Allow).count()
    }

    #[test]
    fn burst_then_rate_per_client_and_bounded_memory() {
        let mut limiter = RateLimiter::new(1.0, 4, 3);
        assert_eq!(allowed(&mut limiter, 1u32, 0, 10), 4, "the burst");
        assert_eq!(limiter.check(2u32, 0), Verdict::Allow, "another client has its own bucket");
        assert!(matches!(limiter.check(1u32, SEC / 2), Verdict::Limited { .. }));
        assert_eq!(limiter.check(1u32, 2 * SEC), Verdict::Allow, "refilled at 1/s");
        for client in 10..1000u32 {
            limiter.check(client, 3 * SEC);
        }
        assert!(limiter.clients() <= 3);
    }

    #[test]
    fn kisses_at_most_once_a_second_per_client() {
        let mut limiter = RateLimiter::new(0.01, 1, 10);
        assert_eq!(limiter.check(1u8, 0), Verdict::Allow);
        assert_eq!(limiter.check(1u8, 1), Verdict::Limited { kiss: true });
        assert_eq!(limiter.check(1u8, SEC / 2), Verdict::Limited { kiss: false });
        assert_eq!(limiter.check(2u8, SEC / 2), Verdict::Allow);
        assert_eq!(limiter.check(2u8, SEC / 2), Verdict::Limited { kiss: true }, "kisses are per client");
        assert_eq!(limiter.check(1u8, SEC + 1), Verdict::Limited { kiss: true });
    }

    /// The old limiter emptied a table full of limited clients, so a flood of spoofed
    /// sources gave every abusive client a fresh burst.
    #[test]
    fn a_flood_of_new_sources_gives_a_tracked_abusive_client_no_fresh_burst() {
        let (abuser, burst) = (u32::MAX, 16);
        let mut limiter = RateLimiter::new(1.0, burst, 1000);
        assert_eq!(allowed(&mut limiter, abuser, 0, 100), 16, "its burst, then limited");
        // Spoofed sources, one request each, many more than the table holds, over 10 s;
        // the abuser keeps sending 10 a second throughout.
        let mut abuser_allowed = 0;
        let mut flood_allowed = 0;
        for (i, source) in (0..100_000u32).enumerate() {
            let now = i as i128 * (10 * SEC / 100_000);
            flood_allowed += allowed(&mut limiter, source, now, 1);
            if i % 1000 == 0 {
                abuser_allowed += allowed(&mut limiter, abuser, now, 1);
            }
        }
        assert!(abuser_allowed <= 11, "at most its rate over 10 s, no fresh burst: {abuser_allowed}");
        assert!(limiter.clients() <= 1000, "bounded");
        assert!(limiter.overflowed() > 0 && limiter.evicted() > 0);
        // Every second, the table frees what has refilled (1000 one-request sources) and the
        // overflow bucket passes its burst + rate: nowhere near the 100 000 sent.
        assert!(flood_allowed <= 10 * 1000 + 1000 + 16 + 10, "{flood_allowed}");
    }

    #[test]
    fn a_full_table_of_limited_clients_shares_one_overflow_bucket() {
        let mut limiter = RateLimiter::new(0.0, 2, 2);
        for client in 0..2u8 {
            assert_eq!(allowed(&mut limiter, client, 0, 5), 2);
        }
        // New clients share one bucket (burst 2, no refill at rate 0), and its kisses.
        assert_eq!(limiter.check(10u8, SEC), Verdict::Allow);
        assert_eq!(limiter.check(11u8, SEC), Verdict::Allow);
        assert_eq!(limiter.check(12u8, SEC), Verdict::Limited { kiss: true });
        assert_eq!(limiter.check(13u8, SEC), Verdict::Limited { kiss: false });
        assert_eq!((limiter.clients(), limiter.overflowed(), limiter.evicted()), (2, 4, 0));
        // The tracked clients are still limited.
        assert!(matches!(limiter.check(0u8, 2 * SEC), Verdict::Limited { .. }));
    }

    #[test]
    fn the_full_table_is_scanned_at_most_once_a_second() {
        let mut limiter = RateLimiter::new(0.001, 1, 100);
        for client in 0..100u32 {
            limiter.check(client, 0);
        }
        for client in 100..10_100u32 {
            limiter.check(client, SEC / 2);
        }
        assert_eq!(limiter.sweeps(), 1, "not one per new client");
        limiter.check(20_000, SEC / 2 + SEC);
        assert_eq!(limiter.sweeps(), 2);
    }

    #[test]
    fn refilled_clients_make_room_and_lose_nothing() {
        let mut limiter = RateLimiter::new(1.0, 2, 2);
        limiter.check(1u8, 0);
        limiter.check(2u8, 0);
        // Client 1 has refilled by 1 s; client 2 is back in debt.
        assert_eq!(allowed(&mut limiter, 2u8, SEC, 2), 2);
        assert_eq!(limiter.check(3u8, SEC), Verdict::Allow, "takes client 1's place");
        assert_eq!((limiter.clients(), limiter.evicted(), limiter.overflowed()), (2, 1, 0));
        assert!(matches!(limiter.check(2u8, SEC), Verdict::Limited { .. }), "client 2 kept its debt");
        assert_eq!(allowed(&mut limiter, 1u8, 3 * SEC, 1), 1);
    }

    #[test]
    fn ipv6_clients_share_a_limit_per_64_and_mapped_ipv4_is_ipv4() {
        let mut limiter = RateLimiter::new(1.0, 4, 1000);
        let in_64 = |host: u64| IpAddr::V6(Ipv6Addr::from((0x2001_0db8_0000_0001_u128 << 64) | u128::from(host)));
        let served = (0..100u64).filter(|&host| limiter.check_address(in_64(host), 0) == Verdict::Allow).count();
        assert_eq!(served, 4, "100 addresses of one /64: one burst");
        assert_eq!(limiter.clients(), 1);
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert_eq!(limiter.check_address(other_64, 0), Verdict::Allow, "another /64");

        // IPv4 clients, also as a dual-stack socket reports them, are one address each.
        let v4 = |last| IpAddr::V4(Ipv4Addr::new(192, 0, 2, last));
        let mapped = |last| IpAddr::V6(Ipv4Addr::new(192, 0, 2, last).to_ipv6_mapped());
        assert_eq!(client_key(mapped(7)), v4(7));
        assert_eq!(allowed(&mut limiter, client_key(mapped(7)), 0, 10), 4);
        assert_eq!(limiter.check_address(mapped(8), 0), Verdict::Allow, "not one bucket for all of IPv4");
        assert!(matches!(limiter.check_address(v4(7), 0), Verdict::Limited { .. }));
    }
}
