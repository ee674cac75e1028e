//! SNTP client (RFC 4330 style): a request carries a random transmit timestamp (so
//! off-path replies can't be forged and nothing about our clock leaks), and a reply is a
//! [`Sample`] only if it answers that request and comes from a synchronised server.

use std::fmt;

use crate::packet::{Leap, Mode, NtpTimestamp, Packet, short_to_seconds};

/// One outstanding request: what to send and what to match the reply against.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// The random transmit timestamp sent; the reply's origin must equal it.
    token: NtpTimestamp,
    /// When it was sent, in Unix nanoseconds (`t1`).
    sent_at: i128,
}

impl Request {
    /// A client request; `nonce` must be random (it becomes the transmit timestamp).
    pub fn new(nonce: u64, now_unix_nanos: i128) -> (Request, [u8; 48]) {
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
        (Request { token: NtpTimestamp(nonce), sent_at: now_unix_nanos }, packet.to_bytes())
    }

    pub fn token(&self) -> NtpTimestamp {
        self.token
    }

    /// Validates a reply received at `now` (`t4`) and measures the clock against it.
    pub fn process(&self, reply: &[u8], now_unix_nanos: i128) -> Result<Sample, Rejected> {
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
        let t1 = self.sent_at;
        let t2 = packet.receive.to_unix_nanos();
        let t3 = packet.transmit.to_unix_nanos();
        let t4 = now_unix_nanos;
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        // The server's own processing time is not network delay; never below zero.
        let delay = ((t4 - t1) - (t3 - t2)).max(0);
        Ok(Sample {
            offset_nanos: offset,
            delay_nanos: delay,
            stratum: packet.stratum,
            leap: packet.leap,
            root_delay: short_to_seconds(packet.root_delay),
            root_dispersion: short_to_seconds(packet.root_dispersion),
            reference_id: packet.reference_id,
        })
    }
}

/// A measurement of our clock against a server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Add this to our clock to get the server's.
    pub offset_nanos: i128,
    /// Round-trip network delay.
    pub delay_nanos: i128,
    pub stratum: u8,
    pub leap: Leap,
    /// The server's root delay and dispersion, in seconds.
    pub root_delay: f64,
    pub root_dispersion: f64,
    pub reference_id: [u8; 4],
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
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Malformed(why) => write!(f, "malformed reply: {why}"),
            Rejected::NotAServerReply => f.write_str("not a server reply"),
            Rejected::NotOurs => f.write_str("reply does not answer our request"),
            Rejected::KissOfDeath(code) => write!(f, "kiss-o'-death {code}"),
            Rejected::Unsynchronised => f.write_str("server is not synchronised"),
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
        let (request, bytes) = Request::new(0xDEAD_BEEF_0000_0001, t1);
        assert_eq!(Packet::parse(&bytes).unwrap().mode, Mode::Client);
        // Server clock 2 s ahead; 10 ms each way; 1 ms inside the server.
        let t2 = t1 + 2 * SEC + 10_000_000;
        let t3 = t2 + 1_000_000;
        let t4 = t1 + 21_000_000;
        let sample = request.process(&reply(&request, t2, t3, |_| {}), t4).unwrap();
        assert!((sample.offset_nanos - 2 * SEC).abs() < 1000, "{sample:?}");
        assert!((sample.delay_nanos - 20_000_000).abs() < 1000, "{sample:?}");
        assert_eq!(sample.stratum, 3);
    }

    #[test]
    fn replies_that_do_not_answer_us_are_rejected() {
        let t1 = 1_700_000_000 * SEC;
        let (request, _) = Request::new(42, t1);
        let ok = |p: &mut Packet| p.leap = Leap::NoWarning;
        assert!(request.process(&reply(&request, t1, t1, ok), t1).is_ok());
        type Case = (Rejected, fn(&mut Packet));
        let cases: [Case; 5] = [
            (Rejected::NotOurs, |p| p.origin = NtpTimestamp(43)),
            (Rejected::NotAServerReply, |p| p.mode = Mode::Client),
            (Rejected::KissOfDeath("RATE".into()), |p| {
                p.stratum = 0;
                p.reference_id = *b"RATE";
            }),
            (Rejected::Unsynchronised, |p| p.leap = Leap::Unsynchronised),
            (Rejected::Malformed("zero transmit timestamp".into()), |p| p.transmit = NtpTimestamp::ZERO),
        ];
        for (expected, tweak) in cases {
            assert_eq!(request.process(&reply(&request, t1, t1, tweak), t1), Err(expected.clone()), "{expected}");
        }
        assert!(matches!(request.process(&[0; 10], t1), Err(Rejected::Malformed(_))));
    }
}
