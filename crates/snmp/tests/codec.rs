//! Codec properties: every message round-trips, every prefix and every single-byte
//! corruption of a valid message decodes to a value or an error (never a panic), and
//! the tolerant cases real agents produce are accepted.
#![allow(clippy::unwrap_used)]

use nocwatch_snmp::message::peek;
use nocwatch_snmp::{
    AnyPdu, Community, CommunityMessage, DecodeErrorKind, Oid, OpaqueValue, Pdu, PduType, TrapV1, V3Message, Value,
    VarBind, Version,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|v| Value::Integer(v as i64)),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::OctetString),
        Just(Value::Null),
        oid().prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        any::<u64>().prop_map(Value::Counter64),
        any::<f32>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(|f| Value::opaque(OpaqueValue::Float(f))),
        any::<i64>().prop_map(|v| Value::opaque(OpaqueValue::Int64(v))),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

fn oid() -> impl Strategy<Value = Oid> {
    (0u32..3, 0u32..40, proptest::collection::vec(any::<u32>(), 0..20)).prop_map(|(a, b, rest)| {
        let mut arcs = vec![a, b];
        arcs.extend(rest);
        Oid::new(arcs)
    })
}

fn message() -> impl Strategy<Value = CommunityMessage> {
    let kinds = prop_oneof![
        Just(PduType::Get),
        Just(PduType::GetNext),
        Just(PduType::Response),
        Just(PduType::GetBulk),
        Just(PduType::TrapV2),
        Just(PduType::Inform),
        Just(PduType::Report),
        Just(PduType::Set),
    ];
    (
        prop_oneof![Just(Version::V1), Just(Version::V2c)],
        proptest::collection::vec(any::<u8>(), 0..20),
        kinds,
        any::<i32>(),
        0i32..20,
        0i32..20,
        proptest::collection::vec((oid(), value()).prop_map(|(o, v)| VarBind::new(o, v)), 0..30),
    )
        .prop_map(|(version, community, kind, request_id, error_status, error_index, varbinds)| CommunityMessage {
            version,
            community: Community(community),
            pdu: AnyPdu::Pdu(Pdu { kind, request_id, error_status, error_index, varbinds }),
        })
}

proptest! {
    #[test]
    fn community_messages_round_trip(msg in message()) {
        let bytes = msg.encode();
        prop_assert_eq!(CommunityMessage::decode(&bytes).unwrap(), msg.clone());
        prop_assert_eq!(peek(&bytes).unwrap().id, msg.pdu.request_id());
    }

    #[test]
    fn prefixes_and_corruptions_never_panic(msg in message(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let bytes = msg.encode();
        for end in 0..bytes.len() {
            prop_assert!(CommunityMessage::decode(&bytes[..end]).is_err());
        }
        let mut corrupt = bytes.clone();
        let i = at.index(corrupt.len());
        corrupt[i] = byte;
        let _ = CommunityMessage::decode(&corrupt);
        let _ = V3Message::decode(&corrupt);
        let _ = peek(&corrupt);
    }
}

#[test]
fn v1_trap_round_trip() {
    let msg = CommunityMessage {
        version: Version::V1,
        community: Community(b"public".to_vec()),
        pdu: AnyPdu::TrapV1(TrapV1 {
            enterprise: ".1.3.6.1.4.1.9".parse().unwrap(),
            agent_addr: [192, 0, 2, 9],
            generic_trap: 6,
            specific_trap: 1,
            time_stamp: 12345,
            varbinds: vec![VarBind::new(".1.3.6.1.2.1.2.2.1.1.3".parse().unwrap(), Value::Integer(3))],
        }),
    };
    let bytes = msg.encode();
    assert_eq!(CommunityMessage::decode(&bytes).unwrap(), msg);
    assert_eq!(peek(&bytes).unwrap().id, None);
}

#[test]
fn tolerant_where_agents_are_sloppy_strict_where_ambiguous() {
    // get-response, long-form lengths everywhere, request-id with a redundant 00,
    // Counter32 ff ff ff ff without its leading zero.
    let sloppy = [
        0x30, 0x81, 0x2c, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', // message
        0xa2, 0x81, 0x1e, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, // response
        0x30, 0x81, 0x11, 0x30, 0x81, 0x0e, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x0b, // varbind
        0x41, 0x04, 0xff, 0xff, 0xff, 0xff,
    ];
    let msg = CommunityMessage::decode(&sloppy).unwrap();
    let AnyPdu::Pdu(pdu) = msg.pdu else { panic!() };
    assert_eq!(pdu.request_id, 5);
    assert_eq!(pdu.varbinds[0].value, Value::Counter32(u32::MAX));

    // Trailing bytes after the message are reported with their offset.
    let mut trailing = CommunityMessage {
        version: Version::V2c,
        community: Community(b"c".to_vec()),
        pdu: AnyPdu::Pdu(Pdu::request(PduType::Get, 1, [])),
    }
    .encode();
    let len = trailing.len();
    trailing.extend_from_slice(&[0, 0, 0]);
    let error = CommunityMessage::decode(&trailing).unwrap_err();
    assert_eq!((error.offset, error.kind), (len, DecodeErrorKind::TrailingBytes(3)));
    // Unknown version.
    assert!(CommunityMessage::decode(&[0x30, 0x03, 0x02, 0x01, 0x07]).is_err());
}
