//! Per-client rate limiting for the NTP service: a token bucket per client address, so a
//! device in a tight loop (or a spoofed flood) cannot make nocwatch an amplifier or starve
//! other devices. Bounded memory: at most `max_clients` buckets.
//!
//! A limited request may be answered with a Kiss-o'-Death (`RATE`) so a well-behaved client
//! slows down; the limiter says when, at most once per client per [`KISS_INTERVAL_NANOS`],
//! so a flood spoofing one victim's address reflects at most one small packet per second
//! to it.

use std::collections::HashMap;
use std::hash::Hash;

/// At most one Kiss-o'-Death per client in this many nanoseconds (1 s).
pub const KISS_INTERVAL_NANOS: i128 = 1_000_000_000;

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

pub struct RateLimiter<K> {
    buckets: HashMap<K, Bucket>,
    per_second: f64,
    burst: f64,
    max_clients: usize,
    table_resets: u64,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// `burst` requests at once, then `per_second` on average; buckets for at most
    /// `max_clients` clients.
    pub fn new(per_second: f64, burst: u32, max_clients: usize) -> Self {
        RateLimiter {
            buckets: HashMap::new(),
            per_second: per_second.max(0.0),
            burst: f64::from(burst.max(1)),
            max_clients: max_clients.max(1),
            table_resets: 0,
        }
    }

    /// Whether a request from `client` at `now` (ns) may be served.
    pub fn check(&mut self, client: K, now: i128) -> Verdict {
        if !self.buckets.contains_key(&client) && self.buckets.len() >= self.max_clients {
            self.evict(now);
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let bucket = self.buckets.entry(client).or_insert(Bucket { tokens: burst, last: now, last_kiss: None });
        let elapsed = (now - bucket.last).max(0) as f64 / 1e9;
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Verdict::Allow;
        }
        let kiss = bucket.last_kiss.is_none_or(|at| now - at >= KISS_INTERVAL_NANOS);
        if kiss {
            bucket.last_kiss = Some(now);
        }
        Verdict::Limited { kiss }
    }

    /// Forgets clients whose bucket has refilled (they lose nothing); if every client is
    /// still limited, forgets them all rather than growing (fails open, stays bounded,
    /// counted in [`table_resets`](Self::table_resets)). A full scan, but only when a new
    /// client meets a full table, and it empties at least the refilled part of it.
    fn evict(&mut self, now: i128) {
        let (per_second, burst) = (self.per_second, self.burst);
        self.buckets.retain(|_, b| b.tokens + (now - b.last).max(0) as f64 / 1e9 * per_second < burst);
        if self.buckets.len() >= self.max_clients {
            self.buckets.clear();
            self.table_resets += 1;
        }
    }

    pub fn clients(&self) -> usize {
        self.buckets.len()
    }

    /// How many times the table was full of limited clients and was emptied.
    pub fn table_resets(&self) -> u64 {
        self.table_resets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i128 = 1_000_000_000;

    #[test]
    fn burst_then_rate_per_client_and_bounded_memory() {
        let mut limiter = RateLimiter::new(1.0, 4, 3);
        let allowed = (0..10).filter(|_| limiter.check(1u32, 0) == Verdict::Allow).count();
        assert_eq!(allowed, 4, "the burst");
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

    #[test]
    fn a_table_full_of_limited_clients_is_emptied_not_grown() {
        let mut limiter = RateLimiter::new(0.0, 1, 2);
        for client in 0..2u8 {
            limiter.check(client, 0);
        }
        assert_eq!(limiter.check(9u8, 0), Verdict::Allow, "fails open for a new client");
        assert_eq!((limiter.clients(), limiter.table_resets()), (1, 1));
    }
}
