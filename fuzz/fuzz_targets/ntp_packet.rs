//! Arbitrary bytes through every NTP decoder a socket feeds: the packet parser, the
//! server's answer and kiss to a client request, the SNTP client's check of an upstream
//! reply (and, when one passes, the server answering from that sample), and the relay's
//! both directions. Time arithmetic runs on timestamps from the input (debug assertions
//! catch overflows).
//!
//! Checks, beyond "no panic": a parsed packet re-encodes to a packet that parses to the
//! same value; every answer the server or relay builds parses, with the mode it should
//! have; the relay hands a reply only to the client whose request it forwarded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nocwatch_ntp::{Mode, Moment, Packet, Relay, Request, ServerClock, Synchronised};

/// The client request's nonce and the relay's token: fixed so the fuzzer can find replies
/// that match them (seeds carry them).
const NONCE: u64 = 0x0102_0304_0506_0708;
/// 2026-11-25T00:00:00Z, Unix nanoseconds.
const NOW: i128 = 1_795_564_800_000_000_000;
/// The monotonic clock at NOW (an hour after boot).
const MONO: i128 = 3_600_000_000_000;

fn at(offset_nanos: i128) -> Moment {
    Moment::new(NOW + offset_nanos, MONO + offset_nanos)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::parse(data) {
        assert_eq!(Packet::parse(&packet.to_bytes()), Ok(packet), "re-encoded packet parses the same");
    }

    // Server mode, unsynchronised, then following a sample taken from the input.
    let mut clock = ServerClock::new(60_000_000_000);
    let answered = |clock: &ServerClock| {
        if let Some(answer) = clock.respond(data, at(0), at(1_000)) {
            assert_eq!(Packet::parse(&answer).map(|p| p.mode), Ok(Mode::Server));
        }
        if let Some(kiss) = clock.kiss(data, *b"RATE") {
            assert_eq!(Packet::parse(&kiss).map(|p| (p.mode, p.stratum)), Ok((Mode::Server, 0)));
        }
    };
    answered(&clock);
    let (request, _) = Request::new(NONCE, at(-5_000_000));
    if let Ok(sample) = request.process(data, at(0)) {
        clock.update(Synchronised { sample, at: MONO, last_sample_at: MONO, reference_id: [192, 0, 2, 1] });
        answered(&clock);
    }

    // The relay: the input as a client request, and as the upstream's reply to a request
    // it forwarded with token NONCE.
    let mut relay = Relay::new(2, 1_000_000_000, 16);
    if let Ok((upstream, forwarded)) = relay.from_client(data, 7u32, 1, MONO) {
        assert!(upstream < 2);
        assert_eq!(Packet::parse(&forwarded).map(|p| p.mode), Ok(Mode::Client));
    }
    let (_, client_request) = Request::new(0x1111, at(0));
    if relay.from_client(&client_request, 9u32, NONCE, MONO).is_ok()
        && let Some((client, reply)) = relay.from_upstream(data, 0)
    {
        assert_eq!(client, 9, "only the client whose request was forwarded");
        assert_eq!(Packet::parse(&reply).map(|p| p.mode), Ok(Mode::Server));
    }
    relay.expire(MONO + 2_000_000_000);
});
