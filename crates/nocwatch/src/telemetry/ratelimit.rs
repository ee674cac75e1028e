//! Rate limiting for log lines caused by network input, so a flood of bad packets costs a
//! counter increment each and one log line per period, never a log storm.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows one log line per `period`; counts what it suppressed in between.
pub struct RateLimit {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimit {
    pub const fn new(period: Duration) -> Self {
        RateLimit { period, state: Mutex::new((None, 0)) }
    }

    /// `Some(suppressed)` when a line may be logged now (with how many were held back since
    /// the last one), `None` when this one should be suppressed.
    pub fn allow(&self) -> Option<u64> {
        let Ok(mut state) = self.state.lock() else {
            return None;
        };
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.period => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_suppressed_count() {
        let limit = RateLimit::new(Duration::from_millis(50));
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
        assert_eq!(limit.allow(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(limit.allow(), Some(2));
    }
}
