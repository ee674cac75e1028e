//! Micro-benchmark: ns per PDU to encode and decode a 50-varbind SNMPv2c Response of
//! the kind a poller receives (ifTable/ifXTable columns: Counter64 octets, Counter32
//! errors, Gauge32 speed, INTEGER status, OCTET STRING names), and the same Response
//! as an SNMPv3 authPriv message (HMAC-SHA-256 verify + AES-128 decrypt + decode).
//!
//! `cargo bench -p nocwatch-snmp` prints the median of 31 timed batches (plain
//! std::time harness, as the syslog crate's bench). Under `cargo test --all-targets`
//! it runs one tiny batch as a smoke test.

use std::hint::black_box;
use std::time::Instant;

use nocwatch_snmp::message::{HeaderData, MsgData, UsmParams, flags};
use nocwatch_snmp::{
    AnyPdu, AuthProtocol, Community, CommunityMessage, Oid, Pdu, PduType, PrivProtocol, ScopedPdu, UsmUser, V3Message,
    V3Session, Value, VarBind, Version,
};

fn median_ns(batches: usize, per_batch: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// 50 varbinds: 10 interfaces × (ifHCInOctets, ifHCOutOctets, ifInErrors, ifHighSpeed, ifName).
fn response() -> Pdu {
    let mut varbinds = Vec::with_capacity(50);
    for i in 1..=10u32 {
        let base = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
        let col = |c: u32| Oid::from(base).child(&[c, 10100 + i]);
        varbinds.push(VarBind::new(col(6), Value::Counter64(98_765_432_100 + i as u64 * 7919)));
        varbinds.push(VarBind::new(col(10), Value::Counter64(12_345_678_900 + i as u64 * 104_729)));
        varbinds.push(VarBind::new(Oid::from([1, 3, 6, 1, 2, 1, 2, 2, 1, 14, 10100 + i]), Value::Counter32(i * 3)));
        varbinds.push(VarBind::new(col(15), Value::Gauge32(1000)));
        varbinds.push(VarBind::new(col(1), Value::OctetString(format!("GigabitEthernet1/0/{i}").into_bytes())));
    }
    Pdu { kind: PduType::Response, request_id: 1_234_567, error_status: 0, error_index: 0, varbinds }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per_batch) = if full { (31, 20_000) } else { (1, 10) };

    let msg = CommunityMessage {
        version: Version::V2c,
        community: Community(b"public".to_vec()),
        pdu: AnyPdu::Pdu(response()),
    };
    let bytes = msg.encode();
    let encode = median_ns(batches, per_batch, || {
        black_box(black_box(&msg).encode());
    });
    let decode = median_ns(batches, per_batch, || {
        black_box(CommunityMessage::decode(black_box(&bytes)).ok());
    });
    let both = median_ns(batches, per_batch, || {
        let encoded = black_box(&msg).encode();
        black_box(CommunityMessage::decode(&encoded).ok());
    });
    println!("v2c Response, 50 varbinds, {} bytes:", bytes.len());
    println!("  encode            {encode:>8.0} ns/PDU  {:>6.1} ns/varbind", encode / 50.0);
    println!("  decode            {decode:>8.0} ns/PDU  {:>6.1} ns/varbind", decode / 50.0);
    println!("  encode+decode     {both:>8.0} ns/PDU  {:>6.1} ns/varbind", both / 50.0);

    // SNMPv3 authPriv: what the client does per received response.
    let engine_id = vec![0x80, 0x00, 0x1f, 0x88, 0x80, 1, 2, 3, 4];
    let user = UsmUser::new(
        "bench",
        AuthProtocol::Sha256,
        b"bench-auth-pass",
        Some((PrivProtocol::Aes128, &b"bench-priv-pass"[..])),
    )
    .expect("pass phrases are long enough");
    let keys = user.localize(&engine_id).expect("keys");
    let (Some((auth, auth_key)), Some((privacy, priv_key))) = (keys.auth.clone(), keys.privacy.clone()) else {
        return;
    };
    let scoped =
        ScopedPdu { context_engine_id: engine_id.clone(), context_name: Vec::new(), pdu: AnyPdu::Pdu(response()) };
    let Ok((ciphertext, salt)) = privacy.encrypt(&priv_key, 1, 100, 9, &scoped.to_bytes()) else { return };
    let usm = UsmParams {
        engine_id: engine_id.clone(),
        engine_boots: 1,
        engine_time: 100,
        user_name: b"bench".to_vec(),
        auth_params: Vec::new(),
        priv_params: salt.to_vec(),
    };
    let header = HeaderData { msg_id: 5, max_size: 65507, flags: flags::AUTH | flags::PRIV, security_model: 3 };
    let (mut v3, range) = V3Message::encode_parts(&header, &usm, &MsgData::Encrypted(ciphertext), auth.mac_len());
    let mac = auth.mac(&auth_key, &v3);
    v3[range].copy_from_slice(&mac);
    let now = Instant::now();
    let mut session = V3Session::new("bench", user, 1);
    if session.set_engine_id(engine_id, now).is_err() {
        return;
    }
    let v3_decode = median_ns(batches, per_batch, || {
        black_box(session.decode(black_box(&v3), now).ok());
    });
    println!("v3 authPriv (HMAC-SHA-256 + AES-128) Response, 50 varbinds, {} bytes:", v3.len());
    println!("  verify+decrypt+decode {v3_decode:>8.0} ns/PDU  {:>6.1} ns/varbind", v3_decode / 50.0);
}
