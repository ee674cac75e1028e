//! Arbitrary datagrams through the trap path as the `snmp_traps` source runs it: the
//! sans-IO notification receiver (`nocwatch_snmp::receiver`, with communities and a v3
//! user that match the captured traps in `../shared/testdata/traps`, so mutations of
//! authentic messages get past the community check and the digest) and, for accepted
//! notifications, the event formatter with net-snmp's MIBs loaded (enum, BITS and
//! DISPLAY-HINT rendering of whatever values the input carries).
//!
//! Checks, beyond "no panic": every response the receiver produces (inform Response,
//! discovery or usmStats Report) decodes as an SNMP message; the event serializes.
#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use nocwatch::sources::snmp_traps::event::TrapFormatter;
use nocwatch_mib::Mibs;
use nocwatch_snmp::receiver::{Outcome, Receiver, ReceiverConfig};
use nocwatch_snmp::{AuthProtocol, CommunityMessage, PrivProtocol, UsmUser, V3Message};

static CONFIG: LazyLock<ReceiverConfig> = LazyLock::new(|| {
    let mut config = ReceiverConfig::new(b"\x80\x00\x1f\x88\x04fuzz".to_vec(), 3);
    config.communities = vec![b"public".to_vec()];
    config.users = vec![
        UsmUser::new("trapuser", AuthProtocol::Sha1, b"trapauthpass1", Some((PrivProtocol::Aes128, &b"trapprivpass1"[..])))
            .expect("fixed pass phrases are long enough"),
        UsmUser::no_auth("noauth"),
    ];
    config.max_engines = 4;
    config
});

static FORMATTER: LazyLock<TrapFormatter> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/mibs/net-snmp");
    let mibs = Mibs::load(&[dir], None).map(|(mibs, _)| mibs).unwrap_or_else(|_| Mibs::empty());
    TrapFormatter::new(Arc::new(mibs), "fuzz".to_owned())
});

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut receiver = Receiver::new(CONFIG.clone(), now, 7);
    let sender = [192, 0, 2, 1].into();
    let received = receiver.receive(data, sender, now);
    if let Some(response) = &received.response {
        assert!(
            CommunityMessage::decode(response).is_ok() || V3Message::decode(response).is_ok(),
            "a response that does not decode: {response:02x?}"
        );
    }
    if let Outcome::Notification(notification) = &received.outcome {
        let event = FORMATTER.to_event(notification, sender, jiff::Timestamp::UNIX_EPOCH);
        std::hint::black_box(serde_json::to_vec(&event).expect("events serialize"));
    }
    // The same datagram again: the remote engine's clock and key cache are now warm.
    std::hint::black_box(receiver.receive(data, sender, now));
});
