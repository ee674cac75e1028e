//! Arbitrary bytes through every SNMP decoder an agent-facing socket feeds:
//! `peek` (routing), v1/v2c `CommunityMessage`, v3 `V3Message`, and a
//! `V3Session` for a fixed USM user (SHA-256 / AES-128, engine known) so the
//! digest check, the time window and report handling run. Digests of mutated
//! input never verify, so the privacy path (DES-CBC, AES-CFB with both AES-256
//! key extensions) and the scoped-PDU parser behind it are also driven
//! directly with the fixed user's localized keys.
//!
//! Checks, beyond "no panic": a decoded community message re-encodes to a
//! message that decodes to the same value; every decoded value can be printed
//! the net-snmp way.
#![no_main]

use std::sync::LazyLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use nocwatch_snmp::display::varbind_line;
use nocwatch_snmp::message::{MsgData, peek};
use nocwatch_snmp::session::LocalizedKeys;
use nocwatch_snmp::{AnyPdu, AuthProtocol, CommunityMessage, PrivProtocol, ScopedPdu, UsmUser, V3Message, V3Session};

/// Must match `crates/snmp/tests/fuzz_seeds.rs`, which writes authentic seeds.
const ENGINE_ID: &[u8] = &[0x80, 0x00, 0x1f, 0x88, 0x80, 0x66, 0x75, 0x7a, 0x7a];

static USER: LazyLock<UsmUser> = LazyLock::new(|| {
    UsmUser::new("fuzz", AuthProtocol::Sha256, b"fuzz-auth-pass", Some((PrivProtocol::Aes128, &b"fuzz-priv-pass"[..])))
        .expect("fixed pass phrases are long enough")
});

/// The same pass phrases localized for each privacy protocol the target drives.
static KEYS: LazyLock<Vec<(PrivProtocol, LocalizedKeys)>> = LazyLock::new(|| {
    [PrivProtocol::Des, PrivProtocol::Aes128, PrivProtocol::Aes256, PrivProtocol::Aes256C]
        .into_iter()
        .map(|p| {
            let user = UsmUser::new("fuzz", AuthProtocol::Sha256, b"fuzz-auth-pass", Some((p, &b"fuzz-priv-pass"[..])))
                .expect("fixed pass phrases are long enough");
            (p, user.localize(ENGINE_ID).expect("key set-up"))
        })
        .collect()
});

fn print_pdu(pdu: &AnyPdu) {
    let varbinds = match pdu {
        AnyPdu::Pdu(p) => &p.varbinds,
        AnyPdu::TrapV1(t) => &t.varbinds,
    };
    for vb in varbinds {
        std::hint::black_box(varbind_line(vb));
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = peek(data);
    if let Ok(msg) = CommunityMessage::decode(data) {
        print_pdu(&msg.pdu);
        let again = CommunityMessage::decode(&msg.encode()).expect("re-encoded message decodes");
        assert_eq!(again, msg);
    }
    if let Ok(msg) = V3Message::decode(data) {
        let now = Instant::now();
        let mut session = V3Session::new("192.0.2.1:161", USER.clone(), 1);
        if session.set_engine_id(ENGINE_ID.to_vec(), now).is_ok() {
            if let Ok(nocwatch_snmp::Incoming::Pdu { scoped, .. }) = session.decode(data, now) {
                print_pdu(&scoped.pdu);
            }
        }
        if let MsgData::Encrypted(ciphertext) = &msg.data {
            for (proto, keys) in KEYS.iter() {
                let Some((_, key)) = &keys.privacy else { continue };
                if let Ok(plain) =
                    proto.decrypt(key, msg.usm.engine_boots, msg.usm.engine_time, &msg.usm.priv_params, ciphertext)
                {
                    if let Ok(scoped) = ScopedPdu::decode(&plain, true) {
                        print_pdu(&scoped.pdu);
                    }
                }
            }
        }
    }
    if let Ok(scoped) = ScopedPdu::decode(data, true) {
        print_pdu(&scoped.pdu);
    }
});
