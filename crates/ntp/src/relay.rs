//! Relaying NTP (what `stone` did for the seed): client requests go to an upstream server
//! and replies go back to the right client.
//!
//! Each forwarded request gets a fresh random transmit timestamp (its token); the
//! upstream echoes it as the reply's origin, which finds the waiting client, and the
//! client's own transmit timestamp is put back before the reply goes out. So concurrent
//! clients never get each other's replies, even with equal timestamps, and a forged or
//! late reply matches nothing. Only the 48-byte header is relayed: a MAC or NTS field
//! could not survive the rewrite.
//!
//! Upstreams fail over: after `FAILOVER_AFTER` unanswered requests in a row, requests go
//! to the next upstream in the list. Unanswered requests are found by [`Relay::expire`],
//! which the caller runs on a timer (a few times a second), not per request: it scans the
//! whole pending table. Times are monotonic (`Moment::mono`): a step of the system clock
//! must not stop requests from expiring (the table would fill and refuse everyone).

use std::collections::HashMap;

use crate::packet::{Mode, NtpTimestamp, Packet};

const FAILOVER_AFTER: u32 = 3;

#[derive(Debug)]
struct Pending<A> {
    client: A,
    client_transmit: NtpTimestamp,
    upstream: usize,
    sent_at: i128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an NTP client request.
    NotARequest,
    /// Too many requests waiting for upstream replies.
    Overloaded,
}

pub struct Relay<A> {
    upstreams: usize,
    current: usize,
    unanswered: Vec<u32>,
    pending: HashMap<u64, Pending<A>>,
    max_pending: usize,
    timeout_nanos: i128,
}

impl<A: Clone> Relay<A> {
    pub fn new(upstreams: usize, timeout_nanos: i128, max_pending: usize) -> Self {
        Relay {
            upstreams: upstreams.max(1),
            current: 0,
            unanswered: vec![0; upstreams.max(1)],
            pending: HashMap::new(),
            max_pending,
            timeout_nanos,
        }
    }

    /// The upstream requests go to now.
    pub fn current_upstream(&self) -> usize {
        self.current
    }

    /// Fails over on what the caller's own polls found (`reachable[i]`: upstream `i`
    /// answers, does not, or is not known yet), so the relay leaves a dead upstream before
    /// devices' requests are lost to it, even with no device traffic: if the current
    /// upstream is known unreachable and another is reachable, requests go to the first
    /// reachable one. A current upstream that answers, or is not known yet (start-up), is
    /// kept: no flapping back to a preferred one, no race at start. Returns whether it moved.
    pub fn follow_reachability(&mut self, reachable: &[Option<bool>]) -> bool {
        if reachable.get(self.current).copied().flatten() != Some(false) {
            return false;
        }
        let Some(next) = reachable.iter().position(|&r| r == Some(true)) else { return false };
        if next >= self.upstreams {
            return false;
        }
        self.current = next;
        self.unanswered[next] = 0;
        true
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A request from `client` at `now_mono`: which upstream to send what to. `token` must
    /// be random.
    pub fn from_client(
        &mut self,
        request: &[u8],
        client: A,
        token: u64,
        now_mono: i128,
    ) -> Result<(usize, [u8; 48]), Refused> {
        let mut packet = Packet::parse(request).map_err(|_| Refused::NotARequest)?;
        if packet.mode != Mode::Client {
            return Err(Refused::NotARequest);
        }
        if self.pending.len() >= self.max_pending || self.pending.contains_key(&token) {
            return Err(Refused::Overloaded);
        }
        let client_transmit = packet.transmit;
        packet.transmit = NtpTimestamp(token);
        let upstream = self.current;
        self.pending.insert(token, Pending { client, client_transmit, upstream, sent_at: now_mono });
        Ok((upstream, packet.to_bytes()))
    }

    /// A reply from upstream `from`: the client it is for, and the reply to send it.
    pub fn from_upstream(&mut self, reply: &[u8], from: usize) -> Option<(A, [u8; 48])> {
        let mut packet = Packet::parse(reply).ok()?;
        if packet.mode != Mode::Server {
            return None;
        }
        let token = packet.origin.0;
        if self.pending.get(&token).is_none_or(|p| p.upstream != from) {
            return None;
        }
        let pending = self.pending.remove(&token)?;
        packet.origin = pending.client_transmit;
        let client = pending.client;
        if let Some(count) = self.unanswered.get_mut(from) {
            *count = 0;
        }
        Some((client, packet.to_bytes()))
    }

    /// Forgets requests unanswered for longer than the timeout, and fails over when the
    /// current upstream stops answering. Returns how many expired. Scans every pending
    /// request: call it on a timer, not per request.
    pub fn expire(&mut self, now_mono: i128) -> usize {
        let timeout = self.timeout_nanos;
        let mut expired = Vec::new();
        self.pending.retain(|_, p| {
            let keep = now_mono - p.sent_at <= timeout;
            if !keep {
                expired.push(p.upstream);
            }
            keep
        });
        for upstream in &expired {
            if let Some(count) = self.unanswered.get_mut(*upstream) {
                *count += 1;
            }
        }
        if self.unanswered.get(self.current).is_some_and(|&n| n >= FAILOVER_AFTER) {
            self.unanswered[self.current] = 0;
            self.current = (self.current + 1) % self.upstreams;
        }
        expired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Leap;

    fn request(transmit: u64) -> [u8; 48] {
        crate::client::Request::new(transmit, crate::Moment::default()).1
    }

    fn upstream_reply(to: &[u8; 48]) -> [u8; 48] {
        let mut packet = Packet::parse(to).unwrap();
        packet.mode = Mode::Server;
        packet.leap = Leap::NoWarning;
        packet.stratum = 2;
        packet.origin = packet.transmit;
        packet.transmit = NtpTimestamp(999);
        packet.to_bytes()
    }

    #[test]
    fn concurrent_clients_with_equal_timestamps_get_their_own_replies() {
        let mut relay: Relay<&str> = Relay::new(1, 1_000_000_000, 100);
        let (_, to_a) = relay.from_client(&request(5), "a", 1001, 0).unwrap();
        let (_, to_b) = relay.from_client(&request(5), "b", 1002, 0).unwrap();
        assert_ne!(to_a, to_b, "each forwarded request carries its own token");
        let (client, reply) = relay.from_upstream(&upstream_reply(&to_b), 0).unwrap();
        assert_eq!(client, "b");
        assert_eq!(Packet::parse(&reply).unwrap().origin, NtpTimestamp(5), "the client's timestamp is restored");
        assert_eq!(relay.from_upstream(&upstream_reply(&to_a), 0).unwrap().0, "a");
        // A duplicate or forged reply matches nothing.
        assert_eq!(relay.from_upstream(&upstream_reply(&to_a), 0), None);
        assert_eq!(relay.pending(), 0);
    }

    #[test]
    fn follows_the_polls_away_from_an_unreachable_upstream_only() {
        let (yes, no, unknown) = (Some(true), Some(false), None);
        let mut relay: Relay<u8> = Relay::new(3, 1_000, 10);
        assert!(!relay.follow_reachability(&[yes, no, yes]), "the current one answers: stay");
        assert!(!relay.follow_reachability(&[unknown, yes, yes]), "not known yet (start-up): stay");
        assert!(!relay.follow_reachability(&[no, no, unknown]), "nowhere better to go");
        assert_eq!(relay.current_upstream(), 0);
        assert!(relay.follow_reachability(&[no, unknown, yes]));
        assert_eq!(relay.current_upstream(), 2);
        assert!(!relay.follow_reachability(&[yes, yes, yes]), "no flapping back to the first");
        let (upstream, _) = relay.from_client(&request(1), 1, 7, 0).unwrap();
        assert_eq!(upstream, 2);
    }

    #[test]
    fn refuses_non_requests_and_overload_and_fails_over() {
        let mut relay: Relay<u8> = Relay::new(2, 1_000, 2);
        assert_eq!(relay.from_client(&[0; 48], 1, 1, 0), Err(Refused::NotARequest));
        relay.from_client(&request(1), 1, 11, 0).unwrap();
        relay.from_client(&request(1), 2, 12, 0).unwrap();
        assert_eq!(relay.from_client(&request(1), 3, 13, 0), Err(Refused::Overloaded));
        // Upstream 0 stops answering: after three timeouts, requests go to upstream 1.
        let mut now = 0;
        let mut token = 100;
        while relay.current_upstream() == 0 {
            now += 2_000;
            token += 1;
            assert!(now < 100_000, "no failover");
            let _ = relay.from_client(&request(1), 9, token, now);
            relay.expire(now + 1_001);
        }
        let (upstream, to) = relay.from_client(&request(1), 7, 555, now).unwrap();
        assert_eq!(upstream, 1);
        assert_eq!(relay.from_upstream(&upstream_reply(&to), 0), None, "a reply must come from the upstream asked");
        assert_eq!(relay.from_upstream(&upstream_reply(&to), 1).unwrap().0, 7);
    }
}
