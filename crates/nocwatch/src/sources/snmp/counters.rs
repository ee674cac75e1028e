//! Counter state of one device: raw Counter32/Counter64 readings in, deltas out, with
//! wrap handling and reset detection so that a device reboot or a `clear counters` never
//! produces a spike or a negative rate. Sans-IO: callers pass the poll time.
//!
//! Rules, per series (a metric name with its tags, hashed to a `u64` key):
//! - the first reading only records a baseline (no sample);
//! - a reading not below the previous one gives `current - previous`;
//! - a lower reading is a wrap when the wrapped distance (`current + 2^bits - previous`)
//!   is under half the counter's range, else a reset (no sample, new baseline). At any
//!   realistic rate a 64-bit counter never wraps, so a 64-bit decrease is a reset unless
//!   the previous value was within 2^63 of the top;
//! - when sysUpTime went back since the previous poll (the device rebooted, except for
//!   sysUpTime's own 497-day wrap), every counter of that poll is a reset;
//! - series not seen for [`STALE_POLLS`] polls are forgotten (interfaces come and go).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Polls without a reading before a series' state is dropped.
pub const STALE_POLLS: u32 = 6;

/// What one counter reading gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// The first reading (or the first after a reset): a baseline, no sample.
    Baseline,
    /// The counter advanced by `delta` over `seconds`.
    Delta { delta: u64, seconds: f64 },
    /// The counter went back (reboot or reset): no sample, the reading is the new baseline.
    Reset,
}

/// SNMP TimeTicks wrap at 2^32 hundredths of a second (about 497 days).
const TICKS_RANGE: u64 = 1 << 32;

/// The low 16 bits of an entry's tag hold the poll number of its last reading; the high
/// 48 bits are the low 48 bits of the series key (48 bits: two of a device's thousand series collide with
/// a chance of about 10^-9).
const POLL_BITS: u32 = 16;
const POLL_MASK: u64 = (1 << POLL_BITS) - 1;

/// One series: 20 bytes (in `u32` halves, so that no padding rounds it up to 24). A
/// thousand devices of a thousand counters each keep 20 MB of state, not the 35 MB a hash
/// map of (key, value, time) took.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Key (high 48 bits) and poll number (low 16 bits), high half first.
    tag: [u32; 2],
    /// The reading, high half first.
    raw: [u32; 2],
    /// When the answer with the reading arrived: milliseconds since the tracker's epoch,
    /// wrapping (every 49 days; a series is forgotten long before).
    at_ms: u32,
}

impl Entry {
    fn new(key: u64, poll: u16, raw: u64, at_ms: u32) -> Entry {
        let tag = key << POLL_BITS | u64::from(poll);
        Entry { tag: [(tag >> 32) as u32, tag as u32], raw: [(raw >> 32) as u32, raw as u32], at_ms }
    }

    fn tag(&self) -> u64 {
        u64::from(self.tag[0]) << 32 | u64::from(self.tag[1])
    }

    fn key(&self) -> u64 {
        self.tag() >> POLL_BITS
    }

    fn poll(&self) -> u16 {
        (self.tag() & POLL_MASK) as u16
    }

    fn raw(&self) -> u64 {
        u64::from(self.raw[0]) << 32 | u64::from(self.raw[1])
    }
}

/// The counter state of one device: entries sorted by key (binary search), series first
/// seen in a poll merged in at its end, and the times of the last polls (which tell how
/// old an entry is; each entry keeps the time of its own reading).
#[derive(Debug)]
pub struct CounterTracker {
    epoch: Instant,
    series: Vec<Entry>,
    added: Vec<Entry>,
    /// (poll number, ms since the epoch) of the last `STALE_POLLS` polls, oldest first.
    polls: VecDeque<(u16, u64)>,
    poll: u16,
    now_ms: u64,
    last_uptime: Option<(u32, u64)>,
    rebooted: bool,
}

impl CounterTracker {
    pub fn new(epoch: Instant) -> CounterTracker {
        CounterTracker {
            epoch,
            series: Vec::new(),
            added: Vec::new(),
            polls: VecDeque::new(),
            poll: 0,
            now_ms: 0,
            last_uptime: None,
            rebooted: false,
        }
    }

    /// Starts a poll made at `now`, with the device's sysUpTime (hundredths of a second)
    /// when it answered. Returns true when the device rebooted since the last poll.
    pub fn begin_poll(&mut self, now: Instant, uptime_ticks: Option<u32>) -> bool {
        self.merge_added();
        self.poll = self.poll.wrapping_add(1);
        self.now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.polls.push_back((self.poll, self.now_ms));
        while self.polls.len() > STALE_POLLS as usize {
            self.polls.pop_front();
        }
        self.rebooted = false;
        if let Some(ticks) = uptime_ticks {
            if let Some((previous, previous_ms)) = self.last_uptime
                && ticks < previous
            {
                // A TimeTicks wrap looks like going back too; it is one only when the
                // wrapped distance matches the wall-clock time that passed (±50%).
                let wrapped = u64::from(ticks) + TICKS_RANGE - u64::from(previous);
                let wall_ticks = self.now_ms.saturating_sub(previous_ms) / 10;
                let plausible_wrap = wrapped <= wall_ticks.saturating_mul(3) / 2 + 100;
                self.rebooted = !plausible_wrap;
            }
            self.last_uptime = Some((ticks, self.now_ms));
        }
        self.rebooted
    }

    /// When poll `poll` was made, if it is one of the remembered ones.
    fn poll_time(&self, poll: u16) -> Option<u64> {
        self.polls.iter().find(|(p, _)| *p == poll).map(|(_, at)| *at)
    }

    /// Records the reading `raw` of a `bits`-wide counter (32 or 64) for series `key`,
    /// read at the poll's time.
    pub fn update(&mut self, key: u64, raw: u64, bits: u8) -> Reading {
        self.update_at(key, raw, bits, None)
    }

    /// Records the reading `raw` of a `bits`-wide counter (32 or 64) for series `key`,
    /// made when its answer arrived (`at`; the poll's time when `None`): the rate of a
    /// counter is over the time between its two answers, not between the two polls'
    /// starts (a poll that waited on a timeout would otherwise shift every later rate).
    pub fn update_at(&mut self, key: u64, raw: u64, bits: u8, at: Option<Instant>) -> Reading {
        let key = key & (u64::MAX >> POLL_BITS);
        let now_ms = at.map_or(self.now_ms, |at| at.saturating_duration_since(self.epoch).as_millis() as u64);
        let now = Entry::new(key, self.poll, raw, now_ms as u32);
        let Ok(at) = self.series.binary_search_by_key(&key, Entry::key) else {
            // A series read twice in one poll keeps its first reading (dedup at merge).
            self.added.push(now);
            return Reading::Baseline;
        };
        let previous = self.series[at];
        if previous.poll() == self.poll {
            return Reading::Baseline;
        }
        self.series[at] = now;
        if self.poll_time(previous.poll()).is_none() {
            // Not read for longer than the remembered polls: start again.
            return Reading::Baseline;
        }
        if self.rebooted {
            return Reading::Reset;
        }
        let Some(delta) = counter_delta(previous.raw(), raw, bits) else {
            return Reading::Reset;
        };
        let elapsed_ms = now.at_ms.wrapping_sub(previous.at_ms);
        if elapsed_ms == 0 || elapsed_ms > u32::MAX / 2 {
            // No time passed, or the clock went back: no rate can be told.
            return Reading::Baseline;
        }
        Reading::Delta { delta, seconds: f64::from(elapsed_ms) / 1000.0 }
    }

    /// Ends a poll: merges the series first seen in it, forgets series not read for
    /// [`STALE_POLLS`] polls.
    pub fn end_poll(&mut self) {
        let remembered: Vec<u16> = self.polls.iter().map(|(p, _)| *p).collect();
        self.series.retain(|entry| remembered.contains(&entry.poll()));
        self.merge_added();
        if self.series.capacity() > self.series.len() + self.series.len() / 4 + 16 {
            self.series.shrink_to_fit();
        }
        if self.added.capacity() > 64 {
            self.added = Vec::new();
        }
    }

    fn merge_added(&mut self) {
        if !self.added.is_empty() {
            self.series.append(&mut self.added);
            self.series.sort_unstable_by_key(Entry::key);
            self.series.dedup_by_key(|e| e.key());
        }
    }

    /// Forgets everything (the device now answers with another profile).
    pub fn clear(&mut self) {
        self.series = Vec::new();
        self.added = Vec::new();
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Time since the tracker's epoch at the current poll.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms)
    }
}

/// The increase from `previous` to `current` of a `bits`-wide counter, or `None` when the
/// counter was reset (see the module docs for the wrap rule).
pub fn counter_delta(previous: u64, current: u64, bits: u8) -> Option<u64> {
    if current >= previous {
        return Some(current - previous);
    }
    let range: u128 = if bits >= 64 { 1u128 << 64 } else { 1u128 << bits };
    if u128::from(previous) >= range {
        // A value larger than the counter can hold: not a wrap we can reason about.
        return None;
    }
    let wrapped = u128::from(current) + range - u128::from(previous);
    (wrapped < range / 2).then_some(wrapped as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX32: u64 = u32::MAX as u64;

    #[test]
    fn counter32_wraps_once_without_a_spike() {
        // 100 before the top, 50 after it: 151 in all (the step through 2^32 counts once).
        assert_eq!(counter_delta(MAX32 - 100, 50, 32), Some(151));
        assert_eq!(counter_delta(MAX32, 0, 32), Some(1));
        assert_eq!(counter_delta(10, 10, 32), Some(0));
        assert_eq!(counter_delta(10, 25, 32), Some(15));
    }

    #[test]
    fn counter32_large_drop_is_a_reset_not_a_wrap() {
        // From 1e9 back to 10: wrapping would mean 3.3e9 in one interval, more than half
        // the range: it was cleared.
        assert_eq!(counter_delta(1_000_000_000, 10, 32), None);
    }

    #[test]
    fn counter64_wraps_only_near_the_top() {
        assert_eq!(counter_delta(u64::MAX - 9, 5, 64), Some(15));
        assert_eq!(counter_delta(1_000_000_000_000, 5, 64), None);
        assert_eq!(counter_delta(5, 1_000_000_000_000, 64), Some(999_999_999_995));
    }

    #[test]
    fn a_value_beyond_the_counter_width_going_down_is_a_reset() {
        assert_eq!(counter_delta(MAX32 + 10, 5, 32), None);
    }

    fn at(epoch: Instant, secs: u64) -> Instant {
        epoch + Duration::from_secs(secs)
    }

    #[test]
    fn tracker_gives_deltas_over_the_elapsed_time() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        assert!(!tracker.begin_poll(at(epoch, 0), Some(1000)));
        assert_eq!(tracker.update(1, 100, 64), Reading::Baseline);
        tracker.end_poll();
        assert!(!tracker.begin_poll(at(epoch, 60), Some(7000)));
        assert_eq!(tracker.update(1, 700, 64), Reading::Delta { delta: 600, seconds: 60.0 });
        tracker.end_poll();
        assert!(!tracker.begin_poll(at(epoch, 120), Some(13000)));
        assert_eq!(
            tracker.update(1, u64::from(u32::MAX) + 5, 64),
            Reading::Delta { delta: 4_294_966_600, seconds: 60.0 }
        );
    }

    #[test]
    fn counter32_wrap_between_polls() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), Some(100));
        tracker.update(7, MAX32 - 999, 32);
        tracker.begin_poll(at(epoch, 10), Some(1100));
        assert_eq!(tracker.update(7, 1000, 32), Reading::Delta { delta: 2000, seconds: 10.0 });
    }

    #[test]
    fn reboot_gives_no_sample_then_resumes_from_the_new_baseline() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), Some(50_000_000));
        tracker.update(1, 5_000_000, 64);
        tracker.update(2, 300, 32);
        // Rebooted: uptime back to 30 s. Counter 1 restarted low (a decrease), counter 2
        // already passed its old value (an increase): neither may give a sample.
        assert!(tracker.begin_poll(at(epoch, 60), Some(3000)));
        assert_eq!(tracker.update(1, 1000, 64), Reading::Reset);
        assert_eq!(tracker.update(2, 900, 32), Reading::Reset);
        tracker.end_poll();
        assert!(!tracker.begin_poll(at(epoch, 120), Some(9000)));
        assert_eq!(tracker.update(1, 1600, 64), Reading::Delta { delta: 600, seconds: 60.0 });
        assert_eq!(tracker.update(2, 960, 32), Reading::Delta { delta: 60, seconds: 60.0 });
    }

    #[test]
    fn counter_reset_without_reboot_gives_no_sample() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), Some(100));
        tracker.update(1, 9_000_000_000, 64);
        tracker.begin_poll(at(epoch, 60), Some(6100));
        assert_eq!(tracker.update(1, 12, 64), Reading::Reset);
        tracker.begin_poll(at(epoch, 120), Some(12100));
        assert_eq!(tracker.update(1, 72, 64), Reading::Delta { delta: 60, seconds: 60.0 });
    }

    #[test]
    fn uptime_wrap_after_497_days_is_not_a_reboot() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), Some(u32::MAX - 3000));
        tracker.update(1, 10, 64);
        // 60 s later: 6000 ticks on, through the top.
        assert!(!tracker.begin_poll(at(epoch, 60), Some(2999)));
        assert_eq!(tracker.update(1, 70, 64), Reading::Delta { delta: 60, seconds: 60.0 });
    }

    #[test]
    fn unanswered_uptime_does_not_count_as_a_reboot() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), Some(5000));
        tracker.update(1, 10, 32);
        assert!(!tracker.begin_poll(at(epoch, 60), None));
        assert_eq!(tracker.update(1, 20, 32), Reading::Delta { delta: 10, seconds: 60.0 });
    }

    #[test]
    fn missing_series_are_forgotten_after_stale_polls() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), None);
        tracker.update(1, 10, 32);
        tracker.update(2, 10, 32);
        tracker.end_poll();
        for poll in 1..=STALE_POLLS as u64 {
            tracker.begin_poll(at(epoch, poll * 60), None);
            tracker.update(1, 10 + poll, 32);
            tracker.end_poll();
        }
        assert_eq!(tracker.len(), 1, "series 2 was not read for {STALE_POLLS} polls");
    }

    #[test]
    fn readings_are_timed_by_when_their_answer_arrived() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), None);
        // The first poll's answer came 2 s after it started, the next one's 12 s after
        // (a timeout and retry before it): 600 over 70 s, not over the 60 s between starts.
        assert_eq!(tracker.update_at(1, 0, 64, Some(at(epoch, 2))), Reading::Baseline);
        tracker.end_poll();
        tracker.begin_poll(at(epoch, 60), None);
        assert_eq!(tracker.update_at(1, 700, 64, Some(at(epoch, 72))), Reading::Delta { delta: 700, seconds: 70.0 });
        assert_eq!(std::mem::size_of::<Entry>(), 20);
    }

    #[test]
    fn a_series_missing_for_one_poll_spans_both_intervals() {
        let epoch = Instant::now();
        let mut tracker = CounterTracker::new(epoch);
        tracker.begin_poll(at(epoch, 0), None);
        tracker.update(1, 10, 32);
        tracker.end_poll();
        tracker.begin_poll(at(epoch, 60), None);
        tracker.end_poll();
        tracker.begin_poll(at(epoch, 120), None);
        assert_eq!(tracker.update(1, 250, 32), Reading::Delta { delta: 240, seconds: 120.0 });
    }
}
