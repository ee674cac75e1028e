//! Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
//! Jitter"): many agents retrying against one intake don't retry in lockstep.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait after a failure.
    pub initial_backoff: config::Duration,
    /// Longest wait between two attempts.
    pub max_backoff: config::Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: config::Duration::from_millis(500),
            max_backoff: config::Duration::from_secs(60),
        }
    }
}

pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: &RetryConfig) -> Self {
        Backoff {
            initial: config.initial_backoff.get(),
            max: config.max_backoff.get().max(config.initial_backoff.get()),
            attempt: 0,
        }
    }

    /// The wait before the next attempt: random in [0, min(max, initial × 2^attempt)].
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.initial.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(fastrand::f64())
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter() {
        let config = RetryConfig {
            initial_backoff: config::Duration::from_millis(100),
            max_backoff: config::Duration::from_secs(1),
        };
        let mut backoff = Backoff::new(&config);
        for attempt in 0..10 {
            let ceiling = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_secs(1));
            assert!(backoff.next_delay() <= ceiling);
        }
        let late: Vec<Duration> = (0..50).map(|_| backoff.next_delay()).collect();
        assert!(late.iter().any(|d| *d > Duration::from_millis(500)), "reaches the cap region");
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
