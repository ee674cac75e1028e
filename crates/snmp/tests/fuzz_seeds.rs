//! Writes the seed corpus of the `snmp_message` fuzz target (ignored in normal runs):
//! `SNMP_FUZZ_SEEDS=fuzz/corpus/snmp_message cargo test -p nocwatch-snmp --test fuzz_seeds -- --ignored`
//!
//! Seeds: v1/v2c requests, a response with every value type, v1 and v2 traps, the v3
//! discovery probe and report, and authentic v3 authPriv requests and responses for
//! the target's fixed user (so the digest check passes and decryption runs).
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use nocwatch_snmp::message::{HeaderData, MsgData, UsmParams, flags};
use nocwatch_snmp::{
    AnyPdu, AuthProtocol, Community, CommunityMessage, Oid, OpaqueValue, Pdu, PduType, PrivProtocol, ScopedPdu, TrapV1,
    UsmUser, V3Message, V3Session, Value, VarBind, Version,
};

const ENGINE_ID: &[u8] = &[0x80, 0x00, 0x1f, 0x88, 0x80, 0x66, 0x75, 0x7a, 0x7a];

fn every_value() -> Vec<VarBind> {
    let values = [
        Value::Integer(-42),
        Value::OctetString(b"Cisco IOS Software, C2960".to_vec()),
        Value::OctetString(vec![0x00, 0x1b, 0x54, 0xaa, 0xbb, 0xcc]),
        Value::Null,
        Value::ObjectId(".1.3.6.1.4.1.9.1.1208".parse().unwrap()),
        Value::IpAddress([10, 1, 2, 3]),
        Value::Counter32(4_000_000_000),
        Value::Gauge32(1_000_000_000),
        Value::TimeTicks(123_456_789),
        Value::Counter64(u64::MAX - 1),
        Value::opaque(OpaqueValue::Float(0.25)),
        Value::opaque(OpaqueValue::Double(1e100)),
        Value::opaque(OpaqueValue::Int64(-7)),
        Value::NoSuchObject,
        Value::NoSuchInstance,
        Value::EndOfMibView,
    ];
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| VarBind::new(Oid::from([1, 3, 6, 1, 2, 1, 2, 2, 1, 10, i as u32 + 1]), v))
        .collect()
}

#[test]
#[ignore = "writes the fuzz corpus; run by hand"]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("SNMP_FUZZ_SEEDS") else { return };
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    let community = |version, pdu| CommunityMessage { version, community: Community(b"public".to_vec()), pdu };
    let sys = || [".1.3.6.1.2.1.1.1.0".parse::<Oid>().unwrap()];
    write("v1-get", &community(Version::V1, AnyPdu::Pdu(Pdu::request(PduType::Get, 1, sys()))).encode());
    write("v2c-getbulk", &community(Version::V2c, AnyPdu::Pdu(Pdu::get_bulk(2, 0, 25, sys()))).encode());
    let response =
        Pdu { kind: PduType::Response, request_id: 3, error_status: 0, error_index: 0, varbinds: every_value() };
    write("v2c-response", &community(Version::V2c, AnyPdu::Pdu(response.clone())).encode());
    write(
        "v2c-trap",
        &community(Version::V2c, AnyPdu::Pdu(Pdu { kind: PduType::TrapV2, ..response.clone() })).encode(),
    );
    let trap = TrapV1 {
        enterprise: ".1.3.6.1.4.1.2636".parse().unwrap(),
        agent_addr: [192, 0, 2, 1],
        generic_trap: 2,
        specific_trap: 0,
        time_stamp: 100,
        varbinds: every_value()[..3].to_vec(),
    };
    write("v1-trap", &community(Version::V1, AnyPdu::TrapV1(trap)).encode());

    let user = UsmUser::new(
        "fuzz",
        AuthProtocol::Sha256,
        b"fuzz-auth-pass",
        Some((PrivProtocol::Aes128, &b"fuzz-priv-pass"[..])),
    )
    .unwrap();
    let now = Instant::now();
    let mut session = V3Session::new("seed", user.clone(), 7);
    write("v3-discovery", &session.discovery_request(9));
    session.set_engine_id(ENGINE_ID.to_vec(), now).unwrap();
    let request = session.encode_request(10, &Pdu::request(PduType::Get, 10, sys()), now).unwrap();
    write("v3-authpriv-request", &request);

    // The agent's authentic answer, encrypted and signed with the same user.
    let keys = user.localize(ENGINE_ID).unwrap();
    let (auth, auth_key) = keys.auth.clone().unwrap();
    let (privacy, priv_key) = keys.privacy.clone().unwrap();
    for (name, kind) in [("v3-authpriv-response", PduType::Response), ("v3-authpriv-report", PduType::Report)] {
        let scoped = ScopedPdu {
            context_engine_id: ENGINE_ID.to_vec(),
            context_name: Vec::new(),
            pdu: AnyPdu::Pdu(Pdu { kind, request_id: 10, ..response.clone() }),
        };
        let (ciphertext, salt) = privacy.encrypt(&priv_key, 3, 1000, 5, &scoped.to_bytes()).unwrap();
        let usm = UsmParams {
            engine_id: ENGINE_ID.to_vec(),
            engine_boots: 3,
            engine_time: 1000,
            user_name: b"fuzz".to_vec(),
            auth_params: Vec::new(),
            priv_params: salt.to_vec(),
        };
        let header = HeaderData { msg_id: 10, max_size: 65507, flags: flags::AUTH | flags::PRIV, security_model: 3 };
        let (mut bytes, range) =
            V3Message::encode_parts(&header, &usm, &MsgData::Encrypted(ciphertext), auth.mac_len());
        let mac = auth.mac(&auth_key, &bytes);
        bytes[range].copy_from_slice(&mac);
        let mut check = V3Session::new("seed", user.clone(), 1);
        check.set_engine_id(ENGINE_ID.to_vec(), now).unwrap();
        assert!(check.decode(&bytes, now).is_ok(), "{name} must verify");
        write(name, &bytes);
    }
}
