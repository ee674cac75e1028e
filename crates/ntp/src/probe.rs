//! Polling the upstream servers on a schedule of our own, whether or not devices are asking:
//! which upstream gets a request when, which replies count, and from that each upstream's
//! reachability (a register like chrony's `reach`) and, in server mode, the sample the
//! clock follows.
//!
//! Every round sends one SNTP request to every upstream: the first [`QUICK_ROUNDS`] + 1
//! rounds [`QUICK_INTERVAL_NANOS`] apart at start-up (like chrony's `iburst`), then one round per
//! interval. A request unanswered within the timeout is missed; an upstream is reachable
//! once it has answered and until it misses [`UNREACHABLE_AFTER`] requests in a row.
//!
//! Schedule, timeouts and sample ages are on the monotonic clock (`Moment::mono`): a step
//! of the system clock neither stops polling nor keeps a request from timing out. The
//! sample followed is at most [`MAX_SAMPLE_AGE_POLLS`] intervals old.
//!
//! A Kiss-o'-Death is obeyed (RFC 5905 §7.4): `RATE` doubles that upstream's poll interval
//! (up to [`MAX_RATE_BACKOFF`] times `interval`), `DENY` and `RSTR` stop polling it for
//! good (it is then unreachable, and a relay moves off it).

use std::collections::VecDeque;

use crate::client::{Rejected, Request, Sample};
use crate::time::Moment;

/// Rounds at the start, 2 s apart, so that a fresh process is usable within seconds.
pub const QUICK_ROUNDS: u32 = 4;
pub const QUICK_INTERVAL_NANOS: i128 = 2_000_000_000;
/// Consecutive missed requests after which an upstream counts as unreachable.
pub const UNREACHABLE_AFTER: u32 = 3;
/// Samples kept per upstream; the one with the least delay is the most accurate.
const SAMPLES: usize = 8;
/// Samples older than this many poll intervals are not followed, however small their delay:
/// after an outage, one fresh answer must not bring back an offset measured hours ago.
pub const MAX_SAMPLE_AGE_POLLS: i128 = 4;
/// The most a `RATE` kiss stretches an upstream's poll interval: 64 × 16 s ≈ 17 min.
pub const MAX_RATE_BACKOFF: u32 = 64;

/// A sample and when it was received (monotonic ns).
#[derive(Debug, Clone, Copy)]
struct Received {
    sample: Sample,
    at: i128,
}

/// The sample to follow, from [`Prober::best`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Best {
    /// The upstream it came from.
    pub upstream: usize,
    /// The offset, delay, root delay and root dispersion of the least-delay sample; the
    /// leap indicator, stratum and reference id of the newest one (the upstream's state now:
    /// a leap-second announcement or a stratum change must not wait for a better sample).
    pub sample: Sample,
    /// When the least-delay sample was received (monotonic ns): its age is what its
    /// dispersion grows with.
    pub sampled_at: i128,
    /// When the newest sample was received (monotonic ns): how long the upstream has been
    /// answering for.
    pub newest_at: i128,
}

#[derive(Debug)]
struct Upstream {
    /// One bit per request, newest lowest: 1 when answered (chrony's `reach`, in binary).
    reach: u8,
    missed_in_a_row: u32,
    answered_once: bool,
    last_success: Option<i128>,
    outstanding: Option<Request>,
    samples: VecDeque<Received>,
    /// Polled every `rate_backoff` rounds (1, doubled by each `RATE` kiss).
    rate_backoff: u32,
    /// Rounds still to skip before this upstream's next poll.
    rounds_to_skip: u32,
    /// The kiss (`DENY`, `RSTR`) that stopped its polling for good.
    stopped: Option<String>,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            reach: 0,
            missed_in_a_row: 0,
            answered_once: false,
            last_success: None,
            outstanding: None,
            samples: VecDeque::new(),
            rate_backoff: 1,
            rounds_to_skip: 0,
            stopped: None,
        }
    }
}

/// What one upstream looks like now, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// The last 8 requests, newest in the lowest bit, 1 = answered (377 octal = all).
    pub reach: u8,
    pub reachable: bool,
    /// When it last answered (monotonic ns).
    pub last_success: Option<i128>,
    /// How often it is polled now (the configured interval, stretched by `RATE` kisses).
    pub poll_interval_nanos: i128,
    /// The kiss code (`DENY`, `RSTR`) with which it refused us; no longer polled.
    pub stopped: Option<String>,
}

/// What [`Prober::tick`] decided.
#[derive(Debug, Default)]
pub struct Due {
    /// Requests to send now: (upstream index, packet).
    pub send: Vec<(usize, [u8; 48])>,
    /// Requests that went unanswered past the timeout, since the last tick.
    pub timed_out: usize,
}

pub struct Prober {
    upstreams: Vec<Upstream>,
    interval: i128,
    timeout: i128,
    quick_rounds_left: u32,
    next_round: i128,
}

impl Prober {
    /// `upstreams` servers, polled every `interval_nanos` after the quick start; a request
    /// gets `timeout_nanos` to be answered. The first round is due at `now_mono`.
    pub fn new(upstreams: usize, interval_nanos: i128, timeout_nanos: i128, now_mono: i128) -> Self {
        Prober {
            upstreams: (0..upstreams).map(|_| Upstream::default()).collect(),
            interval: interval_nanos.max(1),
            timeout: timeout_nanos,
            quick_rounds_left: QUICK_ROUNDS,
            next_round: now_mono,
        }
    }

    /// Call often (every few hundred ms): expires requests past their timeout and, when a
    /// round is due, the requests to send. `nonce` gives a random number per request.
    pub fn tick(&mut self, now: Moment, mut nonce: impl FnMut() -> u64) -> Due {
        let mut due = Due::default();
        for upstream in &mut self.upstreams {
            if upstream.outstanding.is_some_and(|request| now.mono - request.sent_at() > self.timeout) {
                upstream.outstanding = None;
                upstream.missed_in_a_row += 1;
                due.timed_out += 1;
            }
        }
        if now.mono < self.next_round {
            return due;
        }
        for (index, upstream) in self.upstreams.iter_mut().enumerate() {
            if upstream.stopped.is_some() {
                continue;
            }
            if upstream.rounds_to_skip > 0 {
                upstream.rounds_to_skip -= 1;
                continue;
            }
            upstream.rounds_to_skip = upstream.rate_backoff - 1;
            if upstream.outstanding.take().is_some() {
                // Still unanswered at the next round (a timeout longer than the interval).
                upstream.missed_in_a_row += 1;
                due.timed_out += 1;
            }
            let (request, bytes) = Request::new(nonce(), now);
            upstream.reach <<= 1;
            upstream.outstanding = Some(request);
            due.send.push((index, bytes));
        }
        let wait = if self.quick_rounds_left > 0 {
            self.quick_rounds_left -= 1;
            QUICK_INTERVAL_NANOS.min(self.interval)
        } else {
            self.interval
        };
        self.next_round = now.mono + wait;
        due
    }

    /// When [`tick`](Self::tick) next has something to do (monotonic ns).
    pub fn next_deadline(&self) -> i128 {
        let timeouts = self.upstreams.iter().filter_map(|u| u.outstanding.map(|r| r.sent_at() + self.timeout + 1));
        timeouts.fold(self.next_round, i128::min)
    }

    /// A datagram from upstream `index`, received at `now`. `None` if it answers none of our
    /// requests (so the caller can look elsewhere, e.g. the relay's pending table);
    /// otherwise the sample it gave or why it was rejected.
    pub fn on_reply(&mut self, index: usize, reply: &[u8], now: Moment) -> Option<Result<Sample, Rejected>> {
        let upstream = self.upstreams.get_mut(index)?;
        let request = upstream.outstanding?;
        let result = request.process(reply, now);
        match &result {
            Err(Rejected::NotOurs) | Err(Rejected::Malformed(_)) | Err(Rejected::NotAServerReply) => return None,
            Ok(sample) => {
                upstream.reach |= 1;
                upstream.missed_in_a_row = 0;
                upstream.answered_once = true;
                upstream.last_success = Some(now.mono);
                if upstream.samples.len() == SAMPLES {
                    upstream.samples.pop_front();
                }
                upstream.samples.push_back(Received { sample: *sample, at: now.mono });
            }
            // Asked to poll less often: every other round from now on (again for each kiss).
            Err(Rejected::KissOfDeath(code)) if code == "RATE" => {
                upstream.missed_in_a_row += 1;
                upstream.rate_backoff = (upstream.rate_backoff * 2).min(MAX_RATE_BACKOFF);
                upstream.rounds_to_skip = upstream.rate_backoff - 1;
            }
            // Refused: never asked again.
            Err(Rejected::KissOfDeath(code)) if code == "DENY" || code == "RSTR" => {
                upstream.stopped = Some(code.clone());
            }
            // It answered, but with nothing to use (another kiss, or unsynchronised): a miss
            // for our purpose, and no second chance for this request.
            Err(_) => upstream.missed_in_a_row += 1,
        }
        upstream.outstanding = None;
        Some(result)
    }

    pub fn status(&self, index: usize) -> Option<UpstreamStatus> {
        self.upstreams.get(index).map(|u| UpstreamStatus {
            reach: u.reach,
            reachable: Self::reachable(u),
            last_success: u.last_success,
            poll_interval_nanos: self.interval * i128::from(u.rate_backoff),
            stopped: u.stopped.clone(),
        })
    }

    fn reachable(upstream: &Upstream) -> bool {
        upstream.stopped.is_none()
            && upstream.answered_once
            && upstream.reach != 0
            && upstream.missed_in_a_row < UNREACHABLE_AFTER
    }

    /// Per upstream: reachable (`Some(true)`), unreachable (`Some(false)`: it missed
    /// [`UNREACHABLE_AFTER`] polls in a row, or stopped answering), or not known yet
    /// (`None`: it has not answered, but has not missed enough polls either). For
    /// `Relay::follow_reachability`.
    pub fn reachability(&self) -> Vec<Option<bool>> {
        self.upstreams
            .iter()
            .map(|u| {
                if Self::reachable(u) {
                    Some(true)
                } else if u.answered_once || u.missed_in_a_row >= UNREACHABLE_AFTER || u.stopped.is_some() {
                    Some(false)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Whether some upstream answers: the relay's health.
    pub fn any_reachable(&self) -> bool {
        self.upstreams.iter().any(Self::reachable)
    }

    /// The sample to follow at `now_mono`: the least-delay one of the last samples, at most
    /// [`MAX_SAMPLE_AGE_POLLS`] intervals old, of the first reachable upstream in order of
    /// preference (the newest of equals), with that upstream's current leap indicator and
    /// stratum (see [`Best`]). With three or more upstreams, the first one whose offset
    /// agrees (within the two root distances) with a majority of them.
    pub fn best(&self, now_mono: i128) -> Option<Best> {
        let candidates: Vec<Best> = self
            .upstreams
            .iter()
            .enumerate()
            .filter(|(_, u)| Self::reachable(u))
            .filter_map(|(index, upstream)| self.best_of(index, upstream, now_mono))
            .collect();
        // With three or more, an upstream whose time agrees with no majority is a falseticker
        // (a misconfigured local-clock stratum 1, say) and is passed over; with fewer, a
        // majority cannot be told, and the preferred one is followed.
        if candidates.len() >= 3 {
            let agrees =
                |a: &Best, b: &Best| (a.sample.offset_nanos - b.sample.offset_nanos).abs() <= a.reach() + b.reach();
            let majority = candidates.len() / 2 + 1;
            if let Some(truechimer) =
                candidates.iter().find(|a| candidates.iter().filter(|b| agrees(a, b)).count() >= majority)
            {
                return Some(*truechimer);
            }
        }
        candidates.first().copied()
    }

    fn best_of(&self, index: usize, upstream: &Upstream, now_mono: i128) -> Option<Best> {
        let newest = upstream.samples.back()?;
        let max_age = MAX_SAMPLE_AGE_POLLS * self.interval;
        let fresh = upstream.samples.iter().rev().filter(|r| now_mono - r.at <= max_age);
        let chosen = fresh.min_by_key(|r| r.sample.delay_nanos)?;
        Some(Best {
            upstream: index,
            sample: Sample {
                leap: newest.sample.leap,
                stratum: newest.sample.stratum,
                reference_id: newest.sample.reference_id,
                ..chosen.sample
            },
            sampled_at: chosen.at,
            newest_at: newest.at,
        })
    }
}

impl Best {
    /// How far the true time may be from the sample's (ns): its root distance (half the
    /// root delay and our delay, plus the root dispersion), the half-width of the interval
    /// two upstreams must share to agree.
    fn reach(&self) -> i128 {
        let seconds =
            (self.sample.root_delay + self.sample.delay_nanos as f64 / 1e9) / 2.0 + self.sample.root_dispersion;
        (seconds * 1e9) as i128
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Leap, Mode, NtpTimestamp, Packet};

    /// `nanos` on both clocks (no step).
    fn at(nanos: i128) -> Moment {
        Moment::new(nanos, nanos)
    }

    const SEC: i128 = 1_000_000_000;

    /// A synchronised server's reply to `request`, sent at `at`.
    fn answer(request: &[u8; 48], at: i128, stratum: u8) -> [u8; 48] {
        answer_with_leap(request, at, stratum, Leap::NoWarning)
    }

    fn answer_with_leap(request: &[u8; 48], at: i128, stratum: u8, leap: Leap) -> [u8; 48] {
        let mut packet = Packet::parse(request).unwrap();
        packet.mode = Mode::Server;
        packet.leap = leap;
        packet.stratum = stratum;
        packet.origin = packet.transmit;
        packet.receive = NtpTimestamp::from_unix_nanos(at);
        packet.transmit = NtpTimestamp::from_unix_nanos(at);
        packet.to_bytes()
    }

    fn nonces() -> impl FnMut() -> u64 {
        let mut n = 0;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn probes_every_upstream_quickly_then_per_interval_and_tracks_reachability() {
        let mut nonce = nonces();
        let mut prober = Prober::new(2, 16 * SEC, SEC, 0);
        assert!(!prober.any_reachable(), "nothing is known before an answer");
        let due = prober.tick(at(0), &mut nonce);
        assert_eq!(due.send.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1]);
        assert!(prober.tick(at(SEC / 2), &mut nonce).send.is_empty(), "not yet");
        // Upstream 1 answers; upstream 0 does not.
        assert!(prober.on_reply(1, &answer(&due.send[1].1, SEC / 2, 2), at(SEC / 2)).unwrap().is_ok());
        assert!(prober.on_reply(1, &answer(&due.send[1].1, SEC / 2, 2), at(SEC / 2)).is_none(), "a duplicate");
        assert!(prober.on_reply(0, &answer(&due.send[1].1, SEC / 2, 2), at(SEC / 2)).is_none(), "the wrong upstream");
        assert_eq!(prober.tick(at(SEC + SEC / 2), &mut nonce).timed_out, 1);
        assert!(prober.any_reachable());
        assert_eq!(prober.reachability(), [None, Some(true)], "one miss: not known to be down yet");
        assert_eq!(prober.status(1).unwrap().reach, 1);
        assert_eq!(prober.best(SEC + SEC / 2).unwrap().upstream, 1, "the first reachable upstream");

        // Quick rounds at 2, 4, 6, 8 s (five with the first), then one every 16 s.
        let mut rounds = Vec::new();
        let mut now = SEC + SEC / 2;
        while now <= 40 * SEC {
            let due = prober.tick(at(now), &mut nonce);
            if !due.send.is_empty() {
                rounds.push(now / SEC);
            }
            now += SEC / 4;
        }
        assert_eq!(rounds, [2, 4, 6, 8, 24, 40]);
        // Upstream 1 stopped answering too: three misses in a row make it unreachable.
        assert!(!prober.any_reachable());
        assert_eq!(prober.reachability(), [Some(false), Some(false)]);
        assert_eq!(prober.status(1).unwrap().reach & 0b1111, 0);
        assert!(prober.best(40 * SEC).is_none());
        assert_eq!(prober.status(1).unwrap().last_success, Some(SEC / 2));
    }

    #[test]
    fn a_kiss_or_an_unsynchronised_answer_is_not_reachability() {
        let mut prober = Prober::new(1, 16 * SEC, SEC, 0);
        let due = prober.tick(at(0), nonces());
        let result = prober.on_reply(0, &answer(&due.send[0].1, 0, 16), at(1)).unwrap();
        assert_eq!(result, Err(Rejected::Unsynchronised));
        assert!(!prober.any_reachable());
        assert_eq!(prober.status(0).unwrap().reach, 0);
    }

    #[test]
    fn the_sample_with_the_least_delay_wins() {
        let mut nonce = nonces();
        let mut prober = Prober::new(1, SEC, SEC / 2, 0);
        for (round, delay) in [(0, 30_000_000), (1, 10_000_000), (2, 20_000_000)] {
            let now = round * SEC;
            let due = prober.tick(at(now), &mut nonce);
            prober.on_reply(0, &answer(&due.send[0].1, now, 3), at(now + delay)).unwrap().unwrap();
        }
        let best = prober.best(2 * SEC + 20_000_000).unwrap();
        assert_eq!(best.sample.delay_nanos, 10_000_000);
        assert_eq!(best.sampled_at, SEC + 10_000_000, "when that sample was received, not the last reply");
        assert_eq!(best.newest_at, 2 * SEC + 20_000_000);
    }

    /// The old best() paired the least-delay sample with the last reply's time (so served
    /// dispersion understated its age) and with its own, stale leap indicator and stratum.
    #[test]
    fn an_older_better_sample_keeps_its_age_but_the_newest_leap_and_stratum_win() {
        let mut nonce = nonces();
        let mut prober = Prober::new(1, SEC, SEC / 2, 0);
        let rounds = [(0, 5_000_000, 2, Leap::NoWarning), (1, 40_000_000, 3, Leap::LastMinute61)];
        for (round, delay, stratum, leap) in rounds {
            let now = round * SEC;
            let due = prober.tick(at(now), &mut nonce);
            prober
                .on_reply(0, &answer_with_leap(&due.send[0].1, now, stratum, leap), at(now + delay))
                .unwrap()
                .unwrap();
        }
        let best = prober.best(SEC + 40_000_000).unwrap();
        assert_eq!(best.sample.delay_nanos, 5_000_000, "the older sample has the least delay");
        assert_eq!(best.sampled_at, 5_000_000, "and its own receive time");
        assert_eq!(best.newest_at, SEC + 40_000_000);
        assert_eq!((best.sample.leap, best.sample.stratum), (Leap::LastMinute61, 3), "from the newest reply");
    }

    /// Before, the schedule and the timeouts ran on the system clock: stepped back an hour,
    /// it sent no poll for an hour and never timed the outstanding ones out.
    #[test]
    fn a_backward_step_of_the_system_clock_neither_stops_polls_nor_timeouts() {
        let mut nonce = nonces();
        let unix = 1_700_000_000 * SEC;
        let mut prober = Prober::new(1, 16 * SEC, SEC, 0);
        assert_eq!(prober.tick(Moment::new(unix, 0), &mut nonce).send.len(), 1);
        // The system clock goes back an hour; the monotonic one runs on.
        let stepped = |mono: i128| Moment::new(unix - 3600 * SEC + mono, mono);
        let due = prober.tick(stepped(SEC + SEC / 2), &mut nonce);
        assert_eq!(due.timed_out, 1, "the unanswered request still times out");
        assert_eq!(prober.tick(stepped(2 * SEC), &mut nonce).send.len(), 1, "the next quick round is on time");
    }

    /// After an outage, a fresh answer makes the upstream reachable again; its samples from
    /// before the outage, with less delay, must not be followed.
    #[test]
    fn samples_older_than_four_intervals_are_not_followed() {
        let mut nonce = nonces();
        let mut prober = Prober::new(1, SEC, SEC / 2, 0);
        let due = prober.tick(at(0), &mut nonce);
        prober.on_reply(0, &answer(&due.send[0].1, 0, 3), at(1_000_000)).unwrap().unwrap();
        // An hour later (missed polls in between are not needed for this), one answer with more delay.
        let later = 3600 * SEC;
        let due = prober.tick(at(later), &mut nonce);
        prober.on_reply(0, &answer(&due.send[0].1, later, 3), at(later + 50_000_000)).unwrap().unwrap();
        let best = prober.best(later + 50_000_000).unwrap();
        assert_eq!(best.sample.delay_nanos, 50_000_000, "the fresh sample, not the hour-old better one");
        assert_eq!(best.sampled_at, later + 50_000_000);
    }

    /// A kiss-o'-death reply to `request` with `code` (RFC 5905 §7.4 layout).
    fn kiss(request: &[u8; 48], code: &[u8; 4]) -> [u8; 48] {
        let mut packet = Packet::parse(request).unwrap();
        packet.mode = Mode::Server;
        packet.leap = Leap::Unsynchronised;
        packet.stratum = 0;
        packet.reference_id = *code;
        packet.origin = packet.transmit;
        packet.receive = packet.transmit;
        packet.to_bytes()
    }

    /// Polling rounds in which upstream `index` was asked, over `seconds` seconds ticked every 1/4 s.
    fn polled_rounds(prober: &mut Prober, index: usize, from: i128, seconds: i128) -> Vec<i128> {
        let mut nonce = nonces();
        let mut rounds = Vec::new();
        let mut now = from;
        while now < from + seconds * SEC {
            if prober.tick(at(now), &mut nonce).send.iter().any(|(i, _)| *i == index) {
                rounds.push(now / SEC);
            }
            now += SEC / 4;
        }
        rounds
    }

    /// Before, a kiss was a missed poll like any other: a rate-limiting upstream kept being
    /// polled at the same rate, and a refusing one forever.
    #[test]
    fn a_rate_kiss_halves_that_upstreams_poll_rate_and_deny_stops_it() {
        let mut nonce = nonces();
        let mut prober = Prober::new(2, 16 * SEC, SEC, 0);
        for _ in 0..=QUICK_ROUNDS {
            // Past the quick start.
            let now = prober.next_deadline().max(0);
            let due = prober.tick(at(now), &mut nonce);
            for (index, request) in &due.send {
                prober.on_reply(*index, &answer(request, now, 2), at(now)).unwrap().unwrap();
            }
        }
        let start = prober.next_deadline();
        let due = prober.tick(at(start), &mut nonce);
        let result = prober.on_reply(0, &kiss(&due.send[0].1, b"RATE"), at(start)).unwrap();
        assert_eq!(result, Err(Rejected::KissOfDeath("RATE".into())));
        prober.on_reply(1, &answer(&due.send[1].1, start, 2), at(start)).unwrap().unwrap();
        assert_eq!(prober.status(0).unwrap().poll_interval_nanos, 32 * SEC);
        let rounds = polled_rounds(&mut prober, 0, start + SEC, 64);
        assert_eq!(rounds.len(), 2, "every other 16 s round: {rounds:?}");
        assert_eq!(rounds[1] - rounds[0], 32);

        // DENY: upstream 1 is never polled again, and is unreachable at once.
        let (now, due) = loop {
            let now = prober.next_deadline();
            let due = prober.tick(at(now), &mut nonce);
            if !due.send.is_empty() {
                break (now, due);
            }
        };
        let to_1 = due.send.iter().find(|(i, _)| *i == 1).unwrap().1;
        prober.on_reply(1, &kiss(&to_1, b"DENY"), at(now)).unwrap().unwrap_err();
        assert_eq!(prober.status(1).unwrap().stopped.as_deref(), Some("DENY"));
        assert_eq!(prober.reachability()[1], Some(false));
        assert!(polled_rounds(&mut prober, 1, now + SEC, 200).is_empty());
    }

    /// Before, the first reachable upstream was followed whatever the others said.
    #[test]
    fn with_three_upstreams_one_that_disagrees_with_the_majority_is_passed_over() {
        let mut nonce = nonces();
        let mut prober = Prober::new(3, 16 * SEC, SEC, 0);
        let due = prober.tick(at(0), &mut nonce);
        // Upstream 0 (preferred) is 10 s ahead; 1 and 2 agree within a few ms.
        for ((index, request), ahead) in due.send.iter().zip([10 * SEC, 2_000_000, 3_000_000]) {
            prober.on_reply(*index, &answer(request, ahead, 2), at(1_000_000)).unwrap().unwrap();
        }
        assert_eq!(prober.best(1_000_000).unwrap().upstream, 1);

        // Two upstreams that disagree: no majority to tell; the preferred one is followed.
        let mut prober = Prober::new(2, 16 * SEC, SEC, 0);
        let due = prober.tick(at(0), &mut nonce);
        for ((index, request), ahead) in due.send.iter().zip([10 * SEC, 2_000_000]) {
            prober.on_reply(*index, &answer(request, ahead, 2), at(1_000_000)).unwrap().unwrap();
        }
        assert_eq!(prober.best(1_000_000).unwrap().upstream, 0);
    }
}
