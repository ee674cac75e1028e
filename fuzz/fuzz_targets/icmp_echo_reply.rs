//! Arbitrary bytes through the ping source's decoder of what its ICMP socket reads: an
//! echo reply with or without the IPv4 header a raw socket adds, matched against the
//! requests in flight.
//!
//! Checks, beyond "no panic": a reply is an answer only for a sequence in flight, from the
//! address the request went to, and only once; a parsed reply has the identifier and
//! sequence of its own bytes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use nocwatch_icmp::{Pinger, Reply, parse_echo_reply};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_echo_reply(data);
    if let Some((identifier, sequence)) = parsed {
        // RFC 792: identifier and sequence are the ICMP message's bytes 4..8, after the
        // IPv4 header (IHL words) when there is one.
        let start = match data[0] >> 4 {
            4 => usize::from(data[0] & 0x0f) * 4,
            _ => 0,
        };
        let fields = &data[start + 4..start + 8];
        assert_eq!(fields, [identifier.to_be_bytes(), sequence.to_be_bytes()].concat());
    }
    // Requests 0..3 in flight for targets 100..103 at one address, as the ping source keeps them.
    let target_address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let mut pinger = Pinger::new(0x4e57);
    for target in 100u32..103 {
        assert!(pinger.request(target, target_address, 56, 0).is_some());
    }
    let elsewhere = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    let spoofed = pinger.reply(data, elsewhere, false, 500);
    assert!(!matches!(spoofed, Reply::Answer { .. }), "an answer from another address: {spoofed:?}");
    for check_identifier in [true, false] {
        match pinger.reply(data, target_address, check_identifier, 1_000) {
            Reply::Answer { target, rtt_nanos } => {
                let (identifier, sequence) = parsed.expect("an answer is a parsed reply");
                assert!(!check_identifier || identifier == 0x4e57);
                assert_eq!(u32::from(sequence) + 100, target);
                assert_eq!(rtt_nanos, 1_000);
                let again = pinger.reply(data, target_address, check_identifier, 2_000);
                assert!(!matches!(again, Reply::Answer { .. }), "answered twice: {again:?}");
            }
            Reply::LateOrDuplicate | Reply::Foreign | Reply::WrongSource => {}
        }
    }
    let _ = pinger.expire(10_000, 1_000);
});
