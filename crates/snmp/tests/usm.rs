//! USM known answers and the v3 session against a simulated agent.
//!
//! Vectors: RFC 3414 A.3 (password-to-key and localisation, MD5 and SHA-1, verbatim);
//! SHA-2 localisation and the Blumenthal / Reeder key extensions computed independently
//! with Python's hashlib following RFC 7860 and the two drafts; AES-128-CFB from NIST
//! SP 800-38A F.3.13; DES-CBC from FIPS 81 (the "Now is the time for all " example).
//! Every auth × priv combination is also exercised against net-snmp's snmpd in
//! `crates/nocwatch/tests/snmp.rs`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nocwatch_snmp::message::{HeaderData, MsgData, USM_SECURITY_MODEL, UsmParams, flags};
use nocwatch_snmp::{
    AnyPdu, AuthProtocol, Incoming, Oid, Pdu, PduType, PrivProtocol, ReportKind, ScopedPdu, SecretKey, UsmErrorKind,
    UsmUser, V3Message, V3Session, Value, VarBind,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const ENGINE: &str = "000000000000000000000002";

#[test]
fn rfc3414_and_rfc7860_password_to_key_and_localisation() {
    let cases = [
        (AuthProtocol::Md5, "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),
        (AuthProtocol::Sha1, "9fb5cc0381497b3793528939ff788d5d79145211", "6695febc9288e36282235fc7151f128497b38f3f"),
        (
            AuthProtocol::Sha224,
            "282a5867ee9aac639ad59df9572c7d3ac0fbc13a905b6df07dbbf00b",
            "0bd8827c6e29f8065e08e09237f177e410f69b90e1782be682075674",
        ),
        (
            AuthProtocol::Sha256,
            "ab51014d1e077f6017df2b12bee5f5aa72993177e9bb569c4dff5a4ca0b4afac",
            "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b",
        ),
        (
            AuthProtocol::Sha384,
            "e06eccdf2c68a06ed034723c9c26e0db3b669e1e2efed49150b55377a2e98f383c86fb836857444654b287c93f51ff64",
            "3b298f16164a11184279d5432bf169e2d2a48307de02b3d3f7e2b4f36eb6f0455a53689a3937eea07319a633d2ccba78",
        ),
        (
            AuthProtocol::Sha512,
            "7e4396de5aadc77be853819b98c9406265b3a9c37cc3176569847a4e4f6fba63dd3a73d04924d31a63f95a601f9385af6be4ed1b37f87d040f7c6ed6f8d38a91",
            "22a5a36cedfcc085807a128d7bc6c2382167ad6c0dbc5fdff856740f3d84c099ad1ea87a8db096714d9788bd544047c9021e4229ce27e4c0a69250adfcffbb0b",
        ),
    ];
    for (proto, ku, kul) in cases {
        let key = proto.password_to_key(b"maplesyrup").unwrap();
        assert_eq!(key.as_bytes(), hex(ku), "{proto} Ku");
        assert_eq!(proto.localize(&key, &hex(ENGINE)).as_bytes(), hex(kul), "{proto} Kul");
    }
    assert!(AuthProtocol::Md5.password_to_key(b"short").is_err());
}

#[test]
fn aes_192_256_key_extensions_blumenthal_and_reeder() {
    let cases = [
        (AuthProtocol::Md5, PrivProtocol::Aes256, "526f5eed9fcce26f8964c2930787d82bfa24a92467426c2f4b09192be10dfaec"),
        (AuthProtocol::Md5, PrivProtocol::Aes256C, "526f5eed9fcce26f8964c2930787d82b79eff44a90650ee0a3a40abfac5acc12"),
        (AuthProtocol::Md5, PrivProtocol::Aes192C, "526f5eed9fcce26f8964c2930787d82b79eff44a90650ee0"),
        (AuthProtocol::Sha1, PrivProtocol::Aes256, "6695febc9288e36282235fc7151f128497b38f3f505e07eb9af25568fa1f5dbe"),
        (AuthProtocol::Sha1, PrivProtocol::Aes256C, "6695febc9288e36282235fc7151f128497b38f3f9b8b6d78936ba6e7d19dfd9c"),
        (AuthProtocol::Sha1, PrivProtocol::Aes192C, "6695febc9288e36282235fc7151f128497b38f3f9b8b6d78"),
        // Long enough already: plain truncation, no extension.
        (
            AuthProtocol::Sha256,
            PrivProtocol::Aes256,
            "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b",
        ),
        (
            AuthProtocol::Sha256,
            PrivProtocol::Aes256C,
            "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b",
        ),
        (AuthProtocol::Sha1, PrivProtocol::Aes128, "6695febc9288e36282235fc7151f1284"),
    ];
    for (auth, privacy, expected) in cases {
        let ku = auth.password_to_key(b"maplesyrup").unwrap();
        let key = privacy.localize(auth, &ku, &hex(ENGINE)).unwrap();
        assert_eq!(key.as_bytes(), hex(expected), "{auth} {privacy}");
    }
}

#[test]
fn aes_cfb128_known_answer_nist_sp800_38a() {
    // IV 000102030405060708090a0b0c0d0e0f = boots || time || salt.
    let key = SecretKey::new(hex("2b7e151628aed2a6abf7158809cf4f3c"));
    let plain = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    let (cipher, params) =
        PrivProtocol::Aes128.encrypt(&key, 0x0001_0203, 0x0405_0607, 0x0809_0a0b_0c0d_0e0f, &plain).unwrap();
    assert_eq!(cipher, hex("3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b"));
    assert_eq!(params, [8, 9, 10, 11, 12, 13, 14, 15]);
    let back = PrivProtocol::Aes128.decrypt(&key, 0x0001_0203, 0x0405_0607, &params, &cipher).unwrap();
    assert_eq!(back, plain);
    // Not a multiple of the block: CFB needs no padding.
    let (short, _) =
        PrivProtocol::Aes128.encrypt(&key, 0x0001_0203, 0x0405_0607, 0x0809_0a0b_0c0d_0e0f, &plain[..5]).unwrap();
    assert_eq!(short, hex("3b3fd92eb7"));
}

#[test]
fn des_cbc_known_answer_fips_81() {
    // Key 0123456789abcdef; pre-IV zero so IV = salt = boots || counter = 1234567890abcdef.
    let key = SecretKey::new(hex("0123456789abcdef0000000000000000"));
    let plain = b"Now is the time for all ";
    let (cipher, params) = PrivProtocol::Des.encrypt(&key, 0x1234_5678, 0, 0x90ab_cdef, plain).unwrap();
    assert_eq!(cipher, hex("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6"));
    assert_eq!(params.to_vec(), hex("1234567890abcdef"));
    assert_eq!(PrivProtocol::Des.decrypt(&key, 0, 0, &params, &cipher).unwrap(), plain);
    assert!(PrivProtocol::Des.decrypt(&key, 0, 0, &params, &cipher[..7]).is_err());
    assert!(PrivProtocol::Des.decrypt(&key, 0, 0, &params[..4], &cipher).is_err());
}

#[test]
fn mac_truncations_rfc7860() {
    let key = SecretKey::new(vec![7; 64]);
    for (proto, len) in AuthProtocol::ALL.iter().zip([12, 12, 16, 24, 32, 48]) {
        assert_eq!(proto.mac(&key, b"message").len(), len, "{proto}");
        assert_eq!(proto.mac_len(), len);
    }
}

#[test]
fn keys_and_users_never_print_secrets() {
    let user =
        UsmUser::new("alice", AuthProtocol::Sha256, b"supersecret1", Some((PrivProtocol::Aes256, b"supersecret2")))
            .unwrap();
    let debug = format!("{user:?}");
    assert!(debug.contains("redacted") && !debug.contains("supersecret"), "{debug}");
    let key = AuthProtocol::Md5.password_to_key(b"maplesyrup").unwrap();
    assert_eq!(format!("{key:?}"), "SecretKey(<16 bytes redacted>)");
}

/// The agent side, just enough to answer a session: same keys, its own clock.
struct Agent {
    engine_id: Vec<u8>,
    boots: u32,
    time: u32,
    user: UsmUser,
}

impl Agent {
    fn discovery_report(&self, msg_id: i32) -> Vec<u8> {
        let pdu = Pdu {
            kind: PduType::Report,
            request_id: msg_id,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::new(Oid::from([1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0]), Value::Counter32(1))],
        };
        let usm = UsmParams {
            engine_id: self.engine_id.clone(),
            engine_boots: self.boots,
            engine_time: self.time,
            ..UsmParams::default()
        };
        let header = HeaderData { msg_id, max_size: 65507, flags: 0, security_model: USM_SECURITY_MODEL };
        let scoped =
            ScopedPdu { context_engine_id: self.engine_id.clone(), context_name: vec![], pdu: AnyPdu::Pdu(pdu) };
        V3Message::encode_parts(&header, &usm, &MsgData::Plain(scoped), 0).0
    }

    /// Verifies and opens a request, answers it with `kind` (Response or Report) and the
    /// given varbinds, secured at the request's level.
    fn answer(&self, request: &[u8], kind: PduType, varbinds: Vec<VarBind>, time: u32) -> Vec<u8> {
        let msg = V3Message::decode(request).unwrap();
        let keys = self.user.localize(&self.engine_id).unwrap();
        let (auth, auth_key) = keys.auth.as_ref().unwrap();
        let mut zeroed = request.to_vec();
        zeroed[msg.auth_range.clone()].fill(0);
        assert_eq!(auth.mac(auth_key, &zeroed), msg.usm.auth_params, "request digest");
        let scoped = match &msg.data {
            MsgData::Plain(s) => s.clone(),
            MsgData::Encrypted(c) => {
                let (p, k) = keys.privacy.as_ref().unwrap();
                let plain = p.decrypt(k, msg.usm.engine_boots, msg.usm.engine_time, &msg.usm.priv_params, c).unwrap();
                ScopedPdu::decode(&plain, true).unwrap()
            }
        };
        let AnyPdu::Pdu(request_pdu) = &scoped.pdu else { panic!() };
        let pdu = Pdu { kind, request_id: request_pdu.request_id, error_status: 0, error_index: 0, varbinds };
        let reply =
            ScopedPdu { context_engine_id: self.engine_id.clone(), context_name: vec![], pdu: AnyPdu::Pdu(pdu) };
        let mut usm = UsmParams {
            engine_id: self.engine_id.clone(),
            engine_boots: self.boots,
            engine_time: time,
            user_name: self.user.name.clone(),
            ..UsmParams::default()
        };
        let data = match &keys.privacy {
            Some((p, k)) => {
                let (c, params) = p.encrypt(k, self.boots, time, 99, &reply.to_bytes()).unwrap();
                usm.priv_params = params.to_vec();
                MsgData::Encrypted(c)
            }
            None => MsgData::Plain(reply),
        };
        let header = HeaderData {
            msg_id: msg.header.msg_id,
            max_size: 65507,
            flags: msg.header.flags & !flags::REPORTABLE,
            security_model: 3,
        };
        let (mut bytes, range) = V3Message::encode_parts(&header, &usm, &data, auth.mac_len());
        let mac = auth.mac(auth_key, &bytes);
        bytes[range].copy_from_slice(&mac);
        bytes
    }
}

fn sys_name() -> Oid {
    ".1.3.6.1.2.1.1.5.0".parse().unwrap()
}

#[test]
fn session_round_trip_for_every_auth_and_priv() {
    let now = Instant::now();
    for auth in AuthProtocol::ALL {
        for privacy in std::iter::once(None).chain(PrivProtocol::ALL.map(Some)) {
            let user = UsmUser::new("bob", auth, b"authpassword", privacy.map(|p| (p, &b"privpassword"[..]))).unwrap();
            let agent = Agent { engine_id: hex("80001f8880aabbccdd"), boots: 3, time: 1000, user: user.clone() };
            let mut session = V3Session::new("192.0.2.1:161", user, 42);
            assert!(!session.is_ready());
            let probe = session.discovery_request(7);
            let probe_msg = V3Message::decode(&probe).unwrap();
            assert_eq!(probe_msg.header.flags, flags::REPORTABLE);
            assert!(probe_msg.usm.engine_id.is_empty() && probe_msg.usm.user_name.is_empty());
            let learned = session.decode(&agent.discovery_report(7), now).unwrap();
            assert_eq!(learned, Incoming::Report { msg_id: 7, kind: ReportKind::UnknownEngineId, resend: true });
            assert!(session.is_ready());

            let request = session.encode_request(8, &Pdu::request(PduType::Get, 8, [sys_name()]), now).unwrap();
            let value = vec![VarBind::new(sys_name(), Value::OctetString(b"router-1".to_vec()))];
            let response = agent.answer(&request, PduType::Response, value.clone(), 1000);
            let Incoming::Pdu { msg_id: 8, scoped } = session.decode(&response, now).unwrap() else {
                panic!("{auth} {privacy:?}")
            };
            let AnyPdu::Pdu(pdu) = scoped.pdu else { panic!() };
            assert_eq!(pdu.varbinds, value, "{auth} {privacy:?}");

            // A flipped byte anywhere in the response fails authentication.
            let mut forged = response.clone();
            let last = forged.len() - 1;
            forged[last] ^= 1;
            let error = session.decode(&forged, now).unwrap_err();
            assert!(matches!(error.kind, UsmErrorKind::ResponseDigest | UsmErrorKind::Decode(_)), "{error}");
        }
    }
}

#[test]
fn time_window_resync_and_replay() {
    let user =
        UsmUser::new("carol", AuthProtocol::Sha1, b"authpassword", Some((PrivProtocol::Aes128, &b"privpassword"[..])))
            .unwrap();
    let agent = Agent { engine_id: hex("80001f8880010203"), boots: 5, time: 5000, user: user.clone() };
    let now = Instant::now();
    let mut session = V3Session::new("192.0.2.2:161", user, 1);
    session.set_engine_id(agent.engine_id.clone(), now).unwrap();
    // Known engine ID but no time: the agent reports notInTimeWindow, authenticated,
    // with its boots/time, and the session resynchronises.
    let request = session.encode_request(1, &Pdu::request(PduType::Get, 1, [sys_name()]), now).unwrap();
    assert_eq!(V3Message::decode(&request).unwrap().usm.engine_boots, 0);
    let report = agent.answer(
        &request,
        PduType::Report,
        vec![VarBind::new(".1.3.6.1.6.3.15.1.1.2.0".parse().unwrap(), Value::Counter32(1))],
        5000,
    );
    assert_eq!(
        session.decode(&report, now).unwrap(),
        Incoming::Report { msg_id: 1, kind: ReportKind::NotInTimeWindow, resend: true }
    );
    let later = now + Duration::from_secs(10);
    let request = session.encode_request(2, &Pdu::request(PduType::Get, 2, [sys_name()]), later).unwrap();
    let usm = V3Message::decode(&request).unwrap().usm;
    assert_eq!((usm.engine_boots, usm.engine_time), (5, 5010));
    // A reply claiming a time far behind ours is outside the window (a replay).
    let stale = agent.answer(&request, PduType::Response, vec![], 4000);
    assert_eq!(session.decode(&stale, later).unwrap_err().kind, UsmErrorKind::ResponseNotInTimeWindow);
    let fresh = agent.answer(&request, PduType::Response, vec![], 5010);
    assert!(matches!(session.decode(&fresh, later).unwrap(), Incoming::Pdu { msg_id: 2, .. }));
    // The device reboots: boots 6, time 3. Our next request is stale; its report resets
    // the clock and asks for a resend.
    let rebooted = Agent { boots: 6, time: 3, ..agent };
    let request = session.encode_request(3, &Pdu::request(PduType::Get, 3, [sys_name()]), later).unwrap();
    let report = rebooted.answer(
        &request,
        PduType::Report,
        vec![VarBind::new(".1.3.6.1.6.3.15.1.1.2.0".parse().unwrap(), Value::Counter32(2))],
        3,
    );
    assert_eq!(
        session.decode(&report, later).unwrap(),
        Incoming::Report { msg_id: 3, kind: ReportKind::NotInTimeWindow, resend: true }
    );
    let request = session.encode_request(4, &Pdu::request(PduType::Get, 4, [sys_name()]), later).unwrap();
    let usm = V3Message::decode(&request).unwrap().usm;
    assert_eq!((usm.engine_boots, usm.engine_time), (6, 3));
}

#[test]
fn report_errors_name_device_and_user_only() {
    let user = UsmUser::new("dave", AuthProtocol::Md5, b"authpassword", None).unwrap();
    let session = V3Session::new("10.0.0.1:161", user, 1);
    for (kind, needle) in [
        (ReportKind::WrongDigest, "usmStatsWrongDigests"),
        (ReportKind::UnknownUserName, "usmStatsUnknownUserNames"),
        (ReportKind::UnsupportedSecLevel, "usmStatsUnsupportedSecLevels"),
        (ReportKind::DecryptionError, "usmStatsDecryptionErrors"),
        (ReportKind::UnknownEngineId, "usmStatsUnknownEngineIDs"),
        (ReportKind::NotInTimeWindow, "usmStatsNotInTimeWindows"),
    ] {
        let text = session.report_error(kind, None).to_string();
        assert!(text.starts_with("10.0.0.1:161: SNMPv3 user \"dave\": "), "{text}");
        assert!(text.contains(needle) && !text.contains("authpassword"), "{text}");
    }
}
