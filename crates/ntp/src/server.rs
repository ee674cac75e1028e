//! Answers to NTP clients from nocwatch's own synchronisation state (server mode).
//!
//! nocwatch never sets the system clock: it serves system time corrected by the offset it
//! measured against its upstream, as stratum upstream + 1, with root delay and dispersion
//! carried from the upstream (dispersion growing at RFC 5905's 15 ppm since the last
//! sample). Once it has gone `max_unsynchronised` without a sample, it answers with leap
//! indicator 3 and stratum 16, so devices stop trusting a clock that may have drifted.

use crate::client::Sample;
use crate::packet::{Leap, Mode, NtpTimestamp, Packet, short_from_duration};

/// RFC 5905's frequency tolerance: dispersion grows 15 µs per second since the sample.
const PHI: f64 = 15e-6;
/// The highest stratum of a synchronised server (RFC 5905); 16 means unsynchronised.
const MAX_STRATUM: u8 = 15;
const UNSYNCHRONISED_STRATUM: u8 = 16;
/// log2 seconds of our clock's precision (~1 µs).
const PRECISION: i8 = -20;

/// The sample followed, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synchronised {
    pub sample: Sample,
    /// Unix nanoseconds (system clock) when the sample was taken: the reference time, and
    /// what the served root dispersion grows from.
    pub at: i128,
    /// When the upstream last gave a good sample (`at` or later: the sample followed may
    /// be an older one with less delay): what `max_unsynchronised` counts from.
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

    /// Whether answers now carry a usable time: a recent sample, from an upstream whose
    /// stratum leaves room for ours (an upstream at 15 would make us 16, "unsynchronised").
    pub fn is_synchronised(&self, now: i128) -> bool {
        self.synchronised
            .is_some_and(|s| now - s.last_sample_at <= self.max_unsynchronised_nanos && s.sample.stratum < MAX_STRATUM)
    }

    /// The stratum nocwatch serves at: the upstream's + 1, 16 when unsynchronised.
    pub fn stratum(&self, now: i128) -> u8 {
        match self.synchronised {
            Some(sync) if self.is_synchronised(now) => sync.sample.stratum + 1,
            _ => UNSYNCHRONISED_STRATUM,
        }
    }

    /// The offset to add to the system clock (0 before the first sample).
    pub fn offset(&self) -> i128 {
        self.synchronised.map_or(0, |s| s.sample.offset_nanos)
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

    /// The answer to `request`, received at `received` and sent at `sending` (system
    /// clock, Unix nanoseconds). `None` for packets that are not client requests.
    pub fn respond(&self, request: &[u8], received: i128, sending: i128) -> Option<[u8; 48]> {
        let request = Packet::parse(request).ok()?;
        if request.mode != Mode::Client {
            return None;
        }
        let offset = self.offset();
        let corrected = |t: i128| NtpTimestamp::from_unix_nanos(t + offset);
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
            receive: corrected(received),
            transmit: corrected(sending),
        };
        if let Some(sync) = self.synchronised.filter(|_| self.is_synchronised(received)) {
            let age = (received - sync.at).max(0) as f64 / 1e9;
            let delay = sync.sample.delay_nanos as f64 / 1e9;
            answer.leap = sync.sample.leap;
            answer.stratum = self.stratum(received);
            answer.root_delay = short_from_duration(sync.sample.root_delay + delay);
            answer.root_dispersion = short_from_duration(sync.sample.root_dispersion + delay / 2.0 + PHI * age);
            answer.reference_id = sync.reference_id;
            answer.reference = corrected(sync.at);
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
        crate::client::Request::new(transmit, 0).1
    }

    fn sample() -> Sample {
        Sample {
            offset_nanos: 3 * SEC,
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
        let answer = Packet::parse(&clock.respond(&client_request(77), now, now + 1000).unwrap()).unwrap();
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
        let answer = Packet::parse(&clock.respond(&client_request(1), now, now).unwrap()).unwrap();
        assert_eq!(answer.stratum, 3);
        // 0.020 + 0.002 + 15 ppm × 200 s: the age of the sample the offset comes from.
        assert!((short_to_seconds(answer.root_dispersion) - 0.025).abs() < 1e-4);
        assert!((answer.reference.to_unix_nanos() - (now - 197 * SEC)).abs() < 10);
    }

    #[test]
    fn unsynchronised_after_the_limit_and_before_the_first_sample() {
        let now = 1_700_000_000 * SEC;
        let mut clock = ServerClock::new(60 * SEC);
        let answer = Packet::parse(&clock.respond(&client_request(1), now, now).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::Unsynchronised, 16));
        clock.update(Synchronised {
            sample: sample(),
            at: now - 61 * SEC,
            last_sample_at: now - 61 * SEC,
            reference_id: [1, 2, 3, 4],
        });
        assert!(!clock.is_synchronised(now));
        let answer = Packet::parse(&clock.respond(&client_request(1), now, now).unwrap()).unwrap();
        assert_eq!((answer.leap, answer.stratum), (Leap::Unsynchronised, 16));
        // Not a client request: no answer (no amplification of server/control packets).
        let mut not_client = Packet::parse(&client_request(1)).unwrap();
        not_client.mode = Mode::Server;
        assert_eq!(clock.respond(&not_client.to_bytes(), now, now), None);
        assert_eq!(clock.respond(&[1, 2, 3], now, now), None);

        // An upstream at stratum 15 would make us 16: that is "unsynchronised", not 15.
        clock.update(Synchronised {
            sample: Sample { stratum: 15, ..sample() },
            at: now,
            last_sample_at: now,
            reference_id: [1, 2, 3, 4],
        });
        assert!(!clock.is_synchronised(now));
        let answer = Packet::parse(&clock.respond(&client_request(1), now, now).unwrap()).unwrap();
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
}
