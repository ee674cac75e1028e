//! SNTP client (RFC 4330 style): a request carries a random transmit timestamp (so
//! off-path replies can't be forged and nothing about our clock leaks), and a reply is a
//! [`Sample`] only if it answers that request and comes from a synchronised server.

use std::fmt;

use crate::packet::{Leap, Mode, NtpTimestamp, Packet, short_to_seconds};
use crate::time::Moment;

/// The largest root distance (half the root delay, plus the root dispersion, plus half our
/// delay to the server) of a server we follow: ntpd's `MAXDIST`, 1.5 s. A server further
/// from its reference is not trusted to give time, however synchronised it says it is.
pub const MAX_ROOT_DISTANCE_SECONDS: f64 = 1.5;

/// One outstanding request: what to send and what to match the reply against.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// The random transmit timestamp sent; the reply's origin must equal it.
    token: NtpTimestamp,
    /// When it was sent (`t1`), on both clocks.
    sent_at: Moment,
}

impl Request {
    /// A client request; `nonce` must be random (it becomes the transmit timestamp).
    pub fn new(nonce: u64, now: Moment) -> (Request, [u8; 48]) {
        let packet = Packet {
            leap: Leap::Unsynchronised,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: 0,
            root_dispersion: 0,
            reference_id: [0; 4],
            reference: NtpTimestamp::ZERO,
            origin: NtpTimestamp::ZERO,
            receive: NtpTimestamp::ZERO,
            transmit: NtpTimestamp(nonce),
        };
        (Request { token: NtpTimestamp(nonce), sent_at: now }, packet.to_bytes())
    }

    pub fn token(&self) -> NtpTimestamp {
        self.token
    }

    /// When it was sent, on the monotonic clock (what its timeout counts from).
    pub fn sent_at(&self) -> i128 {
        self.sent_at.mono
    }

    /// Validates a reply received at `now` (`t4`) and measures the clock against it. The
    /// round trip is timed on the monotonic clock, so a step of the system clock between
    /// the request and the reply changes neither the delay nor the offset.
    pub fn process(&self, reply: &[u8], now: Moment) -> Result<Sample, Rejected> {
        let packet = Packet::parse(reply).map_err(|e| Rejected::Malformed(e.to_string()))?;
        if packet.mode != Mode::Server {
            return Err(Rejected::NotAServerReply);
        }
        if packet.origin != self.token {
            return Err(Rejected::NotOurs);
        }
        if let Some(code) = packet.kiss_code() {
            return Err(Rejected::KissOfDeath(code));
        }
        if packet.leap == Leap::Unsynchronised || packet.stratum >= 16 {
            return Err(Rejected::Unsynchronised);
        }
        if packet.transmit == NtpTimestamp::ZERO {
            return Err(Rejected::Malformed("zero transmit timestamp".to_owned()));
        }
        if packet.receive == NtpTimestamp::ZERO {
            return Err(Rejected::Malformed("zero receive timestamp".to_owned()));
        }
        let round_trip = now.mono - self.sent_at.mono;
        let t1 = self.sent_at.unix;
        let t2 = packet.receive.to_unix_nanos();
        let t3 = packet.transmit.to_unix_nanos();
        // t4 on the system clock as it ran at t1 (whatever it did since).
        let t4 = t1 + round_trip;
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        let delay = round_trip - (t3 - t2);
        // The server claims it held the request longer than the whole round trip took: its
        // timestamps are wrong (or its clock stepped), and such a sample would win every
        // least-delay choice. Dropped, never clamped.
        if delay < 0 {
            return Err(Rejected::NegativeDelay);
        }
        let root_delay = short_to_seconds(packet.root_delay);
        let root_dispersion = short_to_seconds(packet.root_dispersion);
        if (root_delay + delay as f64 / 1e9) / 2.0 + root_dispersion > MAX_ROOT_DISTANCE_SECONDS {
            return Err(Rejected::TooFarFromItsReference);
        }
        Ok(Sample {
            offset_nanos: offset,
            delay_nanos: delay,
            wall_minus_mono: self.sent_at.wall_minus_mono(),
            stratum: packet.stratum,
            leap: packet.leap,
            root_delay,
            root_dispersion,
            reference_id: packet.reference_id,
        })
    }
}

/// A measurement of our clock against a server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Add this to our system clock, as it ran when the sample was taken, to get the
    /// server's ([`offset_at`](Self::offset_at) for another moment).
    pub offset_nanos: i128,
    /// Our system clock minus our monotonic clock when the sample was taken: the server's
    /// time is `mono + wall_minus_mono + offset_nanos` for as long as our clocks run, steps
    /// of the system clock included.
    pub wall_minus_mono: i128,
    /// Round-trip network delay.
    pub delay_nanos: i128,
    pub stratum: u8,
    pub leap: Leap,
    /// The server's root delay and dispersion, in seconds.
    pub root_delay: f64,
    pub root_dispersion: f64,
    pub reference_id: [u8; 4],
}

impl Sample {
    /// The server's time at `now`, from our monotonic clock (a step of the system clock
    /// since the sample does not move it).
    pub fn server_time(&self, now_mono: i128) -> i128 {
        now_mono + self.wall_minus_mono + self.offset_nanos
    }

    /// The offset to add to the system clock at `now` (differs from `offset_nanos` by any
    /// step of the system clock since the sample).
    pub fn offset_at(&self, now: Moment) -> i128 {
        self.server_time(now.mono) - now.unix
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    Malformed(String),
    NotAServerReply,
    /// Its origin timestamp is not our request's: a late, duplicate or forged reply.
    NotOurs,
    /// The server asks us to go away or slow down (`RATE`, `DENY`, `RSTR`).
    KissOfDeath(String),
    /// The server says its own clock is not synchronised.
    Unsynchronised,
    /// Its timestamps give a negative round-trip delay.
    NegativeDelay,
    /// Its root distance is above [`MAX_ROOT_DISTANCE_SECONDS`].
    TooFarFromItsReference,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Malformed(why) => write!(f, "malformed reply: {why}"),
            Rejected::NotAServerReply => f.write_str("not a server reply"),
            Rejected::NotOurs => f.write_str("reply does not answer our request"),
            Rejected::KissOfDeath(code) => write!(f, "kiss-o'-death {code}"),
            Rejected::Unsynchronised => f.write_str("server is not synchronised"),
            Rejected::NegativeDelay => f.write_str("its timestamps give a negative round-trip delay"),
            Rejected::TooFarFromItsReference => write!(f, "root distance above {MAX_ROOT_DISTANCE_SECONDS} s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i128 = 1_000_000_000;

    fn reply(request: &Request, receive: i128, transmit: i128, tweak: impl Fn(&mut Packet)) -> [u8; 48] {
        let mut packet = Packet {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 3,
            poll: 4,
            precision: -20,
            root_delay: 655,
            root_dispersion: 1310,
            reference_id: [10, 0, 0, 1],
            reference: NtpTimestamp::from_unix_nanos(receive - SEC),
            origin: request.token(),
            receive: NtpTimestamp::from_unix_nanos(receive),
            transmit: NtpTimestamp::from_unix_nanos(transmit),
        };
        tweak(&mut packet);
        packet.to_bytes()
    }

    #[test]
    fn offset_and_delay_from_the_four_timestamps() {
        let t1 = 1_700_000_000 * SEC;
        let (request, bytes) = Request::new(0xDEAD_BEEF_0000_0001, Moment::new(t1, 0));
        assert_eq!(Packet::parse(&bytes).unwrap().mode, Mode::Client);
        // Server clock 2 s ahead; 10 ms each way; 1 ms inside the server.
        let t2 = t1 + 2 * SEC + 10_000_000;
        let t3 = t2 + 1_000_000;
        let t4 = t1 + 21_000_000;
        let sample = request.process(&reply(&request, t2, t3, |_| {}), Moment::new(t4, t4 - t1)).unwrap();
        assert!((sample.offset_nanos - 2 * SEC).abs() < 1000, "{sample:?}");
        assert!((sample.delay_nanos - 20_000_000).abs() < 1000, "{sample:?}");
        assert_eq!(sample.stratum, 3);
    }

    /// Before, t1 and t4 were both read from the system clock: a step between them went
    /// into the delay (clamped to 0 when negative, so the sample won every least-delay
    /// choice) and half of it into the offset.
    #[test]
    fn a_step_of_our_clock_between_request_and_reply_changes_neither_offset_nor_delay() {
        let t1 = 1_700_000_000 * SEC;
        let (request, _) = Request::new(7, Moment::new(t1, 0));
        let t2 = t1 + 2 * SEC + 10_000_000;
        let t3 = t2 + 1_000_000;
        // 21 ms later on the monotonic clock, but the system clock was stepped back 10 s.
        let received = Moment::new(t1 + 21_000_000 - 10 * SEC, 21_000_000);
        let sample = request.process(&reply(&request, t2, t3, |_| {}), received).unwrap();
        assert!((sample.offset_nanos - 2 * SEC).abs() < 1000, "{sample:?}");
        assert!((sample.delay_nanos - 20_000_000).abs() < 1000, "{sample:?}");
        // Against the stepped system clock, the server is now 12 s ahead.
        assert!((sample.offset_at(received) - 12 * SEC).abs() < 1000, "{sample:?}");
    }

    #[test]
    fn a_negative_delay_is_rejected_not_clamped() {
        let t1 = 1_700_000_000 * SEC;
        let (request, _) = Request::new(7, Moment::new(t1, 0));
        // The server says it held the request 50 ms; the whole round trip took 20 ms.
        let reply = reply(&request, t1, t1 + 50_000_000, |_| {});
        assert_eq!(request.process(&reply, Moment::new(t1 + 20_000_000, 20_000_000)), Err(Rejected::NegativeDelay));
    }

    #[test]
    fn replies_that_do_not_answer_us_are_rejected() {
        let t1 = 1_700_000_000 * SEC;
        let (request, _) = Request::new(42, Moment::new(t1, 0));
        let now = Moment::new(t1, 0);
        let ok = |p: &mut Packet| p.leap = Leap::NoWarning;
        assert!(request.process(&reply(&request, t1, t1, ok), now).is_ok());
        type Case = (Rejected, fn(&mut Packet));
        let cases: [Case; 7] = [
            (Rejected::NotOurs, |p| p.origin = NtpTimestamp(43)),
            (Rejected::NotAServerReply, |p| p.mode = Mode::Client),
            (Rejected::KissOfDeath("RATE".into()), |p| {
                p.stratum = 0;
                p.reference_id = *b"RATE";
            }),
            (Rejected::Unsynchronised, |p| p.leap = Leap::Unsynchronised),
            (Rejected::Malformed("zero transmit timestamp".into()), |p| p.transmit = NtpTimestamp::ZERO),
            (Rejected::Malformed("zero receive timestamp".into()), |p| p.receive = NtpTimestamp::ZERO),
            // Root dispersion 1.6 s (short format: 16.16 fixed point): past ntpd's MAXDIST.
            (Rejected::TooFarFromItsReference, |p| p.root_dispersion = (16 << 16) / 10),
        ];
        for (expected, tweak) in cases {
            assert_eq!(request.process(&reply(&request, t1, t1, tweak), now), Err(expected.clone()), "{expected}");
        }
        assert!(matches!(request.process(&[0; 10], now), Err(Rejected::Malformed(_))));
    }
}
