//! Answers to NTP clients from nocwatch's own synchronisation state (server mode).
//!
//! nocwatch never sets the system clock: it serves system time corrected by the offset it
//! measured against its upstream, as stratum upstream + 1, with root delay and dispersion
//! carried from the upstream (dispersion growing at RFC 5905's 15 ppm since the last
//! sample). Once it has gone `max_unsynchronised` without a sample, it answers with leap
//! indicator 3 and stratum 16, so devices stop trusting a clock that may have drifted.
//!
//! Served time is the monotonic clock plus the sample's correction
//! ([`Sample::server_time`]), and freshness and dispersion count on the monotonic clock:
//! a step of the host's system clock changes neither the time served nor how synchronised
//! nocwatch says it is.

use std::net::IpAddr;

use md5::Digest as _;

use crate::client::Sample;
use crate::packet::{Leap, Mode, NtpTimestamp, Packet, short_from_duration};
use crate::time::Moment;

/// RFC 5905's frequency tolerance: dispersion grows 15 µs per second since the sample.
const PHI: f64 = 15e-6;
/// The highest stratum of a synchronised server (RFC 5905); 16 means unsynchronised.
const MAX_STRATUM: u8 = 15;
const UNSYNCHRONISED_STRATUM: u8 = 16;
/// log2 seconds of our clock's precision (~1 µs).
const PRECISION: i8 = -20;

/// The reference id a server announces for the upstream it follows (RFC 5905 §7.3): an
/// IPv4 upstream's address; for IPv6, the first four bytes of the MD5 digest of the
/// address, so upstreams sharing a /32 prefix still get different ids and clients' loop
/// detection works. An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn reference_id(upstream: IpAddr) -> [u8; 4] {
    match upstream.to_canonical() {
        IpAddr::V4(ip) => ip.octets(),
        IpAddr::V6(ip) => {
            let digest = md5::Md5::digest(ip.octets());
            [digest[0], digest[1], digest[2], digest[3]]
        }
    }
}

/// The sample followed, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synchronised {
    pub sample: Sample,
    /// When the sample was taken (monotonic ns): the reference time, and what the served
    /// root dispersion grows from.
    pub at: i128,
    /// When the upstream last gave a good sample (monotonic ns; `at` or later: the sample
    /// followed may be an older one with less delay): what `max_unsynchronised` counts from.
    pub last_sample_at: i128,
    /// The upstream's reference id as we announce it (its IPv4 address).
    pub reference_id: [u8; 4],
}

#[derive(Debug, Clone)]
pub struct ServerClock {
    pub synchronised: Option<Synchronised>,
    /// How long without a sample before answering "unsynchronised".
    pub max_unsynchronised_nanos: i128,
}

impl ServerClock {
    pub fn new(max_unsynchronised_nanos: i128) -> Self {
        ServerClock { synchronised: None, max_unsynchronised_nanos }
    }

    pub fn update(&mut self, sync: Synchronised) {
        self.synchronised = Some(sync);
    }

    /// Whether answers now (`now_mono`) carry a usable time: a recent sample, from an
    /// upstream whose stratum leaves room for ours (an upstream at 15 would make us 16,
    /// "unsynchronised").
    pub fn is_synchronised(&self, now_mono: i128) -> bool {
        self.synchronised.is_some_and(|s| {
            now_mono - s.last_sample_at <= self.max_unsynchronised_nanos && s.sample.stratum < MAX_STRATUM
        })
    }

    /// The stratum nocwatch serves at: the upstream's + 1, 16 when unsynchronised.
    pub fn stratum(&self, now_mono: i128) -> u8 {
        match self.synchronised {
            Some(sync) if self.is_synchronised(now_mono) => sync.sample.stratum + 1,
            _ => UNSYNCHRONISED_STRATUM,
        }
    }

    /// The offset to add to the system clock at `now` (0 before the first sample).
    pub fn offset(&self, now: Moment) -> i128 {
        self.synchronised.map_or(0, |s| s.sample.offset_at(now))
    }

    /// The time served for the moment `mono` (monotonic ns) that was `unix` on the system
    /// clock: the upstream's time from the sample followed, the system clock before any.
    fn served_time(&self, unix: i128, mono: i128) -> NtpTimestamp {
        NtpTimestamp::from_unix_nanos(self.synchronised.map_or(unix, |s| s.sample.server_time(mono)))
    }

    /// A Kiss-o'-Death answer (RFC 5905 §7.4) with `code` (`RATE`: slow down). It carries
    /// no usable time, so a client that ignores the kiss still learns nothing from it.
    pub fn kiss(&self, request: &[u8], code: [u8; 4]) -> Option<[u8; 48]> {
        let request = Packet::parse(request).ok()?;
        if request.mode != Mode::Client {
            return None;
        }
        Some(
            Packet {
                leap: Leap::Unsynchronised,
                version: request.version,
                mode: Mode::Server,
                stratum: 0,
                poll: request.poll,
                precision: PRECISION,
                root_delay: 0,
                root_dispersion: 0,
                reference_id: code,
                reference: NtpTimestamp::ZERO,
                origin: request.transmit,
                receive: request.transmit,
                transmit: request.transmit,
            }
            .to_bytes(),
        )
    }

    /// The answer to `request`, received at `received` and sent at `sending`. `None` for
    /// packets that are not client requests.
    pub fn respond(&self, request: &[u8], received: Moment, sending: Moment) -> Option<[u8; 48]> {
        let request = Packet::parse(request).ok()?;
        if request.mode != Mode::Client {
            return None;
        }
        let mut answer = Packet {
            leap: Leap::Unsynchronised,
            version: request.version,
            mode: Mode::Server,
            stratum: UNSYNCHRONISED_STRATUM,
            poll: request.poll,
            precision: PRECISION,
            root_delay: 0,
            root_dispersion: 0,
            reference_id: *b"INIT",
            reference: NtpTimestamp::ZERO,
            origin: request.transmit,
            receive: self.served_time(received.unix, received.mono),
            transmit: self.served_time(sending.unix, sending.mono),
        };
        if let Some(sync) = self.synchronised.filter(|_| self.is_synchronised(received.mono)) {
            let age = (received.mono - sync.at).max(0) as f64 / 1e9;
            let delay = sync.sample.delay_nanos as f64 / 1e9;
            answer.leap = sync.sample.leap;
            answer.stratum = self.stratum(received.mono);
            answer.root_delay = short_from_duration(sync.sample.root_delay + delay);
            answer.root_dispersion = short_from_duration(sync.sample.root_dispersion + delay / 2.0 + PHI * age);
            answer.reference_id = sync.reference_id;
            answer.reference = NtpTimestamp::from_unix_nanos(sync.sample.server_time(sync.at));
        }
        Some(answer.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::short_to_seconds;

    const SEC: i128 = 1_000_000_000;

    fn client_request(transmit: u64) -> [u8; 48] {
        crate::client::Request::new(transmit, Moment::default()).1
    }

    /// `nanos` on both clocks (no step).
    fn m(nanos: i128) -> Moment {
        Moment::new(nanos, nanos)
    }

    fn sample() -> Sample {
        Sample {
            offset_nanos: 3 * SEC,
            wall_minus_mono: 0,
            delay_nanos: 4_000_000,
            stratum: 2,
            leap: Leap::NoWarning,
            root_delay: 0.010,
            root_dispersion: 0.020,
            reference_id: [0; 4],
        }
    }

    #[test]
    fn synchronised_answers_carry_stratum_delay_dispersion_and_corrected_time() {
        let now = 1_700_000_000 * SEC;
        let mut clock = ServerClock::new(300 * SEC);
        clock.update(Synchronised {
            sample: sample(),
            at: now - 100 * SEC,
            last_sample_at: now - 100 * SEC,
            reference_id: [169, 254, 169, 123],
        });
        let answer = Packet::parse(&clock.respond(&client_request(77), m(now), m(now + 1000)).unwrap()).unwrap();
        assert_eq!(answer.mode, Mode::Server);
        assert_eq!(answer.leap, Leap::NoWarning);
        assert_eq!(answer.stratum, 3);
        assert_eq!(answer.origin, NtpTimestamp(77));
        assert_eq!(answer.reference_id, [169, 254, 169, 123]);
        assert!((short_to_seconds(answer.root_delay) - 0.014).abs() < 1e-4);
        // 0.020 + 0.002 + 15 ppm × 100 s
        assert!((short_to_seconds(answer.root_dispersion) - 0.0235).abs() < 1e-4);
        assert!((answer.receive.to_unix_nanos() - (now + 3 * SEC)).abs() < 10);
        assert!((answer.reference.to_unix_nanos() - (now - 97 * SEC)).abs() < 10);
    }

    #[test]
    fn dispersion_grows_from_the_followed_sample_and_freshness_from_the_newest() {
        let now = 1_700_000_000 * SEC;
        let mut clock = ServerClock::new(60 * SEC);
        let sync =
            Synchronised { sample: sample(), at: now - 200 * SEC, last_sample_at: now - SEC, reference_id: [1; 4] };
        clock.update(sync);
        assert!(clock.is_synchronised(now), "the upstream answered 1 s ago");
        let answer = Packet::parse(&clock.respond(&client_request(1), m(now), m(now)).unwrap()).unwrap();
        assert_eq!(answer.stratum, 3);
        // 0.020 + 0.002 + 15 ppm × 200 s: the age of the sample the offset comes from.
        assert!((short_to_seconds(answer.root_dispersion) - 0.025).abs() < 1e-4);
        assert!((answer.reference.to_unix_nanos() - (now - 197 * SEC)).abs() < 10);
    }

    #[test]
    fn unsynchronised_after_the_limit_and_before_the_first_sample() {
        let now = 1_700_000_000 * SEC;
        let mut clock = ServerClock::new(60 * SEC);
        let answer = Packet::parse(&clock.respond(&client_request(1), m(now), m(now)).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::Unsynchronised, 16));
        clock.update(Synchronised {
            sample: sample(),
            at: now - 61 * SEC,
            last_sample_at: now - 61 * SEC,
            reference_id: [1, 2, 3, 4],
        });
        assert!(!clock.is_synchronised(now));
        let answer = Packet::parse(&clock.respond(&client_request(1), m(now), m(now)).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::Unsynchronised, 16));
        // Not a client request: no answer (no amplification of server/control packets).
        let mut not_client = Packet::parse(&client_request(1)).unwrap();
        not_client.mode = Mode::Server;
        assert_eq!(clock.respond(&not_client.to_bytes(), m(now), m(now)), None);
        assert_eq!(clock.respond(&[1, 2, 3], m(now), m(now)), None);

        // An upstream at stratum 15 would make us 16: that is "unsynchronised", not 15.
        clock.update(Synchronised {
            sample: Sample { stratum: 15, ..sample() },
            at: now,
            last_sample_at: now,
            reference_id: [1, 2, 3, 4],
        });
        assert!(!clock.is_synchronised(now));
        let answer = Packet::parse(&clock.respond(&client_request(1), m(now), m(now)).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::Unsynchronised, 16));
        clock.update(Synchronised {
            sample: Sample { stratum: 14, ..sample() },
            at: now,
            last_sample_at: now,
            reference_id: [1, 2, 3, 4],
        });
        assert_eq!(clock.stratum(now), 15);

        let kiss = Packet::parse(&clock.kiss(&client_request(9), *b"RATE").unwrap()).unwrap();
        assert_eq!((kiss.stratum, kiss.kiss_code().as_deref(), kiss.origin), (0, Some("RATE"), NtpTimestamp(9)));
        assert_eq!(clock.kiss(&not_client.to_bytes(), *b"RATE"), None);
    }

    /// Before, served time was the system clock plus the offset, and freshness was counted
    /// on the system clock: stepped back an hour, nocwatch served time an hour off, still
    /// "synchronised" (a negative age is fresh), for an hour.
    #[test]
    fn a_step_of_the_system_clock_changes_neither_the_time_served_nor_freshness() {
        let unix = 1_700_000_000 * SEC;
        let mut clock = ServerClock::new(60 * SEC);
        // Sampled at monotonic 1000 s, when the system clock read `unix`: server 3 s ahead.
        let mono = 1000 * SEC;
        let sample = Sample { wall_minus_mono: unix - mono, ..sample() };
        clock.update(Synchronised { sample, at: mono, last_sample_at: mono, reference_id: [1; 4] });
        // 10 s later the system clock is stepped back an hour.
        let stepped = Moment::new(unix + 10 * SEC - 3600 * SEC, mono + 10 * SEC);
        assert!(clock.is_synchronised(stepped.mono));
        let answer = Packet::parse(&clock.respond(&client_request(1), stepped, stepped).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::NoWarning, 3));
        let served = answer.receive.to_unix_nanos();
        assert!((served - (unix + 13 * SEC)).abs() < 10, "the upstream's time, not the stepped clock's: {served}");
        assert_eq!(clock.offset(stepped), 3603 * SEC, "against the stepped system clock");
        // Stepped forward an hour instead: 61 s after the sample is stale, whatever the system clock says.
        let later = Moment::new(unix + 3600 * SEC, mono + 61 * SEC);
        assert!(!clock.is_synchronised(later.mono));
        let answer = Packet::parse(&clock.respond(&client_request(1), later, later).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::Unsynchronised, 16));
    }

    /// Before, an IPv6 upstream's id was its first four address bytes: every upstream of
    /// one provider (`2001:db8::/32`) got the same. Expected values: Python's
    /// `hashlib.md5(ipaddress.IPv6Address(a).packed).hexdigest()[:8]`.
    #[test]
    fn reference_ids_are_the_ipv4_address_or_the_md5_of_the_ipv6_one() {
        let id = |a: &str| reference_id(a.parse().unwrap());
        assert_eq!(id("169.254.169.123"), [169, 254, 169, 123]);
        assert_eq!(id("::ffff:169.254.169.123"), [169, 254, 169, 123]);
        assert_eq!(id("::1"), [0xcf, 0x40, 0x4d, 0xc8]);
        assert_eq!(id("2001:db8::1"), [0x39, 0xab, 0x9b, 0x37]);
        assert_eq!(id("2001:db8::2"), [0x2d, 0x47, 0xfd, 0x05]);
    }
}
