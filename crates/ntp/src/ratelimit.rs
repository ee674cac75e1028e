//! Per-client rate limiting for the NTP service: a token bucket per client address, so a
//! device in a tight loop (or a spoofed flood) cannot make nocwatch an amplifier or starve
//! other devices. Bounded memory: at most `max_clients` buckets.

use std::collections::HashMap;
use std::hash::Hash;

pub struct RateLimiter<K> {
    buckets: HashMap<K, (f64, i128)>,
    per_second: f64,
    burst: f64,
    max_clients: usize,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// `burst` requests at once, then `per_second` on average.
    pub fn new(per_second: f64, burst: u32, max_clients: usize) -> Self {
        RateLimiter {
            buckets: HashMap::new(),
            per_second,
            burst: f64::from(burst.max(1)),
            max_clients: max_clients.max(1),
        }
    }

    /// Whether a request from `client` at `now` (ns) may be served.
    pub fn allow(&mut self, client: K, now: i128) -> bool {
        if !self.buckets.contains_key(&client) && self.buckets.len() >= self.max_clients {
            self.evict(now);
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let (tokens, last) = self.buckets.entry(client).or_insert((burst, now));
        let elapsed = (now - *last).max(0) as f64 / 1e9;
        *tokens = (*tokens + elapsed * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets clients whose bucket has refilled (they lose nothing); if every client is
    /// still limited, forgets them all rather than growing (fails open, stays bounded).
    fn evict(&mut self, now: i128) {
        let (per_second, burst) = (self.per_second, self.burst);
        self.buckets.retain(|_, (tokens, last)| *tokens + (now - *last).max(0) as f64 / 1e9 * per_second < burst);
        if self.buckets.len() >= self.max_clients {
            self.buckets.clear();
        }
    }

    pub fn clients(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i128 = 1_000_000_000;

    #[test]
    fn burst_then_rate_per_client_and_bounded_memory() {
        let mut limiter = RateLimiter::new(1.0, 4, 3);
        let allowed = (0..10).filter(|_| limiter.allow(1u32, 0)).count();
        assert_eq!(allowed, 4, "the burst");
        assert!(limiter.allow(2u32, 0), "another client has its own bucket");
        assert!(!limiter.allow(1u32, SEC / 2));
        assert!(limiter.allow(1u32, 2 * SEC), "refilled at 1/s");
        for client in 10..1000u32 {
            limiter.allow(client, 3 * SEC);
        }
        assert!(limiter.clients() <= 3);
    }
}
