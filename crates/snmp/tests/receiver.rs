//! The notification receiver against traps captured from net-snmp 5.9.3 `snmptrap`
//! (`../shared/testdata/traps/*.bin`, see SOURCES.md there), and informs from the v3
//! requester state machine of this crate playing `snmpinform`'s part. The expected
//! fields were read from the captures' bytes (and SOURCES.md for the v3 credentials),
//! not from our own output. Real `snmpinform` / `snmptrap` runs are in
//! `crates/nocwatch/tests/traps.rs`.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nocwatch_snmp::receiver::{
    Network, Notification, Outcome, Received, ReceiverConfig, RejectReason, ReportLimit, SNMP_TRAP_ENTERPRISE, Security,
};
use nocwatch_snmp::{
    AnyPdu, AuthProtocol, CommunityMessage, Incoming, Oid, Pdu, PduType, PrivProtocol, ReportKind, SecurityLevel,
    UsmUser, V3Session, Value, VarBind, Version,
};

fn capture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/traps").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn oid(text: &str) -> Oid {
    text.parse().unwrap()
}

const SENDER: &str = "192.0.2.10";
const OUR_ENGINE: &[u8] = b"\x80\x00\x1f\x88\x04nocwatch-test";

fn sender() -> IpAddr {
    SENDER.parse().unwrap()
}

fn config() -> ReceiverConfig {
    let mut config = ReceiverConfig::new(OUR_ENGINE.to_vec(), 7);
    config.communities = vec![b"private".to_vec(), b"public".to_vec()];
    config
}

fn trap_user() -> UsmUser {
    UsmUser::new("trapuser", AuthProtocol::Sha1, b"trapauthpass1", Some((PrivProtocol::Aes128, b"trapprivpass1")))
        .unwrap()
}

/// A v2 coldStart trap with only snmpTrapOID.0 (no sysUpTime.0).
fn cold_start_trap() -> Pdu {
    Pdu {
        kind: PduType::TrapV2,
        request_id: 1,
        error_status: 0,
        error_index: 0,
        varbinds: vec![VarBind::new(oid(".1.3.6.1.6.3.1.1.4.1.0"), Value::ObjectId(oid(".1.3.6.1.6.3.1.1.5.1")))],
    }
}

fn notification(received: Received) -> Notification {
    match received.outcome {
        Outcome::Notification(n) => n,
        other => panic!("expected a notification, got {other:?}"),
    }
}

fn rejection(received: &Received) -> RejectReason {
    match &received.outcome {
        Outcome::Rejected(r) => r.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// IF-MIB linkDown/linkUp varbinds as snmptrap sent them for ifIndex 2.
fn assert_if_varbinds(varbinds: &[VarBind], admin: i64, oper: i64, with_descr: bool) {
    let mut expected = vec![
        (".1.3.6.1.2.1.2.2.1.1.2", Value::Integer(2)),
        (".1.3.6.1.2.1.2.2.1.7.2", Value::Integer(admin)),
        (".1.3.6.1.2.1.2.2.1.8.2", Value::Integer(oper)),
    ];
    if with_descr {
        expected.push((".1.3.6.1.2.1.2.2.1.2.2", Value::OctetString(b"GigabitEthernet0/2".to_vec())));
    }
    assert_eq!(varbinds.len(), expected.len(), "{varbinds:?}");
    for (vb, (o, v)) in varbinds.iter().zip(expected) {
        assert_eq!(vb.oid, oid(o));
        assert_eq!(vb.value, v);
    }
}

#[test]
fn v2c_link_down_capture() {
    let now = Instant::now();
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config(), now, 1);
    let received = receiver.receive(&capture("v2c-linkDown.bin"), sender(), now);
    assert_eq!(received.response, None, "a trap is not answered");
    let n = notification(received);
    assert_eq!(n.version, Version::V2c);
    assert!(!n.inform);
    // sysUpTime.0 = 43 03 01 69 16
    assert_eq!(n.uptime, Some(0x016916));
    assert_eq!(n.trap_oid, oid(".1.3.6.1.6.3.1.1.5.3"), "linkDown");
    assert_eq!(n.v1, None);
    // "public" is the second configured community.
    assert_eq!(n.security, Security::Community { index: 1 });
    assert_if_varbinds(&n.varbinds, 1, 2, true);
}

#[test]
fn v1_enterprise_link_down_capture_is_translated_by_rfc3584() {
    let now = Instant::now();
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config(), now, 1);
    let n = notification(receiver.receive(&capture("v1-linkDown-cisco.bin"), sender(), now));
    assert_eq!(n.version, Version::V1);
    // generic-trap 2 (linkDown): snmpTraps.3
    assert_eq!(n.trap_oid, oid(".1.3.6.1.6.3.1.1.5.3"));
    let v1 = n.v1.clone().unwrap();
    assert_eq!(v1.enterprise, oid(".1.3.6.1.4.1.9.1.617"), "cisco c3560 sysObjectID");
    assert_eq!((v1.generic_trap, v1.specific_trap), (2, 0));
    assert_eq!(v1.agent_addr, [127, 0, 0, 1]);
    assert_eq!(n.uptime, Some(0x016918));
    // ifIndex, ifDescr, then snmpTrapEnterprise.0 appended (RFC 3584 3.1 (3)).
    assert_eq!(n.varbinds.len(), 3);
    assert_eq!(n.varbinds[0], VarBind::new(oid(".1.3.6.1.2.1.2.2.1.1.2"), Value::Integer(2)));
    assert_eq!(n.varbinds[1].value, Value::OctetString(b"GigabitEthernet0/2".to_vec()));
    assert_eq!(n.varbinds[2], VarBind::new(Oid::from(SNMP_TRAP_ENTERPRISE), Value::ObjectId(v1.enterprise)));
}

#[test]
fn v1_enterprise_specific_mapping() {
    use nocwatch_snmp::TrapV1;
    let trap = TrapV1 {
        enterprise: oid(".1.3.6.1.4.1.2636.4.1"),
        agent_addr: [10, 0, 0, 1],
        generic_trap: 6,
        specific_trap: 1,
        time_stamp: 5,
        varbinds: vec![],
    };
    let bytes = CommunityMessage {
        version: Version::V1,
        community: nocwatch_snmp::Community(b"public".to_vec()),
        pdu: AnyPdu::TrapV1(trap),
    }
    .encode();
    let now = Instant::now();
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config(), now, 1);
    let n = notification(receiver.receive(&bytes, sender(), now));
    // enterprise.0.specific: JUNIPER-MIB jnxPowerSupplyFailure
    assert_eq!(n.trap_oid, oid(".1.3.6.1.4.1.2636.4.1.0.1"));
}

#[test]
fn unknown_community_and_source_filter() {
    let now = Instant::now();
    let mut config = config();
    config.communities = vec![b"publi".to_vec(), b"publicc".to_vec(), b"secret".to_vec()];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config.clone(), now, 1);
    let received = receiver.receive(&capture("v2c-linkDown.bin"), sender(), now);
    assert_eq!(rejection(&received), RejectReason::UnknownCommunity);
    if let Outcome::Rejected(r) = &received.outcome {
        assert!(!r.detail.contains("public"), "{}", r.detail);
    }
    assert_eq!(received.response, None);

    config.communities = vec![b"public".to_vec()];
    config.allowed_sources = vec!["10.0.0.0/8".parse::<Network>().unwrap(), "192.0.2.10".parse().unwrap()];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, now, 1);
    notification(receiver.receive(&capture("v2c-linkDown.bin"), sender(), now));
    notification(receiver.receive(&capture("v2c-linkDown.bin"), "10.9.8.7".parse().unwrap(), now));
    let received = receiver.receive(&capture("v2c-linkDown.bin"), "192.0.2.11".parse().unwrap(), now);
    assert_eq!(rejection(&received), RejectReason::NotAllowedSource);
}

#[test]
fn v3_auth_priv_trap_capture_with_the_senders_engine() {
    let now = Instant::now();
    let mut config = config();
    config.users = vec![UsmUser::no_auth("someone"), trap_user()];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, now, 1);
    let bytes = capture("v3-authPriv-linkUp-engine8000000001020304.bin");
    let received = receiver.receive(&bytes, sender(), now);
    assert_eq!(received.response, None);
    let n = notification(received);
    assert_eq!(n.version, Version::V3);
    assert_eq!(n.trap_oid, oid(".1.3.6.1.6.3.1.1.5.4"), "linkUp");
    // The v3 capture carries no ifDescr.
    assert_if_varbinds(&n.varbinds, 1, 1, false);
    match &n.security {
        Security::Usm { user, engine_id, level, .. } => {
            assert_eq!(user, b"trapuser");
            assert_eq!(engine_id, &[0x80, 0, 0, 0, 1, 2, 3, 4]);
            assert_eq!(*level, SecurityLevel::AuthPriv);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.remote_engines(), 1);
    // The same message again, a little later: inside the window of that engine's clock.
    notification(receiver.receive(&bytes, sender(), now + Duration::from_secs(100)));
    // Replayed ten minutes later: the engine's clock has moved on (RFC 3414 3.2.7 b).
    let late = receiver.receive(&bytes, sender(), now + Duration::from_secs(600));
    assert_eq!(rejection(&late), RejectReason::NotInTimeWindow);
    assert_eq!(late.response, None, "a trap sender is never sent a report");
}

#[test]
fn v3_trap_capture_rejections() {
    let bytes = capture("v3-authPriv-linkUp-engine8000000001020304.bin");
    let now = Instant::now();
    let cases = [
        (
            UsmUser::new(
                "trapuser",
                AuthProtocol::Sha1,
                b"wrongauthpass",
                Some((PrivProtocol::Aes128, b"trapprivpass1")),
            )
            .unwrap(),
            RejectReason::WrongDigest,
        ),
        (
            UsmUser::new(
                "trapuser",
                AuthProtocol::Md5,
                b"trapauthpass1",
                Some((PrivProtocol::Aes128, b"trapprivpass1")),
            )
            .unwrap(),
            RejectReason::WrongDigest,
        ),
        (
            UsmUser::new(
                "trapuser",
                AuthProtocol::Sha1,
                b"trapauthpass1",
                Some((PrivProtocol::Aes128, b"wrongprivpass")),
            )
            .unwrap(),
            RejectReason::DecryptionError,
        ),
        (
            UsmUser::new("trapuser", AuthProtocol::Sha1, b"trapauthpass1", Some((PrivProtocol::Des, b"trapprivpass1")))
                .unwrap(),
            RejectReason::DecryptionError,
        ),
        (
            UsmUser::new("trapuser", AuthProtocol::Sha1, b"trapauthpass1", None).unwrap(),
            RejectReason::UnsupportedSecurityLevel,
        ),
        (
            UsmUser::new(
                "otheruser",
                AuthProtocol::Sha1,
                b"trapauthpass1",
                Some((PrivProtocol::Aes128, b"trapprivpass1")),
            )
            .unwrap(),
            RejectReason::UnknownUser,
        ),
    ];
    for (user, expected) in cases {
        let mut config = config();
        config.users = vec![user];
        let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, now, 1);
        let received = receiver.receive(&bytes, sender(), now);
        assert_eq!(rejection(&received), expected);
        assert_eq!(received.response, None);
        if let Outcome::Rejected(r) = &received.outcome {
            for secret in ["trapauthpass1", "trapprivpass1", "wrongauthpass", "wrongprivpass"] {
                assert!(!r.detail.contains(secret), "{}", r.detail);
            }
        }
    }
}

#[test]
fn every_truncation_and_bit_flip_of_the_captures_is_rejected_without_panic() {
    let now = Instant::now();
    let mut config = config();
    config.users = vec![trap_user()];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, now, 1);
    for name in ["v2c-linkDown.bin", "v1-linkDown-cisco.bin", "v3-authPriv-linkUp-engine8000000001020304.bin"] {
        let bytes = capture(name);
        for len in 0..bytes.len() {
            let received = receiver.receive(&bytes[..len], sender(), now);
            assert!(matches!(received.outcome, Outcome::Rejected(_)), "{name} cut at {len}");
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x55;
            let _ = receiver.receive(&flipped, sender(), now);
        }
    }
}

/// An snmpinform-like sender: discovery, then the inform secured for our engine.
fn inform_round_trip(user: UsmUser, receiver_user: UsmUser) -> (Received, Option<Incoming>) {
    let now = Instant::now();
    let mut config = config();
    config.users = vec![receiver_user];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, now, 42);
    let mut session = V3Session::new("nocwatch", user, 99);

    let probe = session.discovery_request(1);
    let discovery = receiver.receive(&probe, sender(), now);
    assert_eq!(discovery.outcome, Outcome::Discovery);
    let report = session.decode(&discovery.response.unwrap(), now).unwrap();
    assert!(matches!(report, Incoming::Report { kind: ReportKind::UnknownEngineId, resend: true, .. }), "{report:?}");
    assert_eq!(session.engine().unwrap().engine_id, OUR_ENGINE);
    assert_eq!(session.engine().unwrap().boots, 7);

    let inform = Pdu {
        kind: PduType::Inform,
        request_id: 4242,
        error_status: 0,
        error_index: 0,
        varbinds: vec![
            VarBind::new(oid(".1.3.6.1.2.1.1.3.0"), Value::TimeTicks(1234)),
            VarBind::new(oid(".1.3.6.1.6.3.1.1.4.1.0"), Value::ObjectId(oid(".1.3.6.1.6.3.1.1.5.3"))),
            VarBind::new(oid(".1.3.6.1.2.1.2.2.1.1.3"), Value::Integer(3)),
        ],
    };
    let bytes = session.encode_request(2, &inform, now).unwrap();
    let received = receiver.receive(&bytes, sender(), now + Duration::from_secs(1));
    let answer = received.response.as_ref().map(|r| session.decode(r, now + Duration::from_secs(1)).unwrap());
    (received, answer)
}

#[test]
fn v3_informs_are_acknowledged_at_every_level() {
    let users = [
        UsmUser::no_auth("informer"),
        UsmUser::new("informer", AuthProtocol::Md5, b"authpass123", None).unwrap(),
        UsmUser::new("informer", AuthProtocol::Sha512, b"authpass123", Some((PrivProtocol::Des, b"privpass123")))
            .unwrap(),
        UsmUser::new("informer", AuthProtocol::Sha256, b"authpass123", Some((PrivProtocol::Aes256C, b"privpass123")))
            .unwrap(),
    ];
    for user in users {
        let level = user.level();
        let (received, answer) = inform_round_trip(user.clone(), user);
        let Some(Incoming::Pdu { msg_id, scoped }) = answer else { panic!("{level:?}: {answer:?}") };
        assert_eq!(msg_id, 2);
        let AnyPdu::Pdu(response) = scoped.pdu else { panic!() };
        assert_eq!(response.kind, PduType::Response);
        assert_eq!(response.request_id, 4242);
        assert_eq!(response.varbinds.len(), 3);
        let n = notification(received);
        assert!(n.inform);
        assert_eq!(n.uptime, Some(1234));
        assert_eq!(n.trap_oid, oid(".1.3.6.1.6.3.1.1.5.3"));
        assert_eq!(n.varbinds, vec![VarBind::new(oid(".1.3.6.1.2.1.2.2.1.1.3"), Value::Integer(3))]);
    }
}

#[test]
fn v3_inform_failures_get_usm_stats_reports() {
    let good =
        UsmUser::new("informer", AuthProtocol::Sha1, b"authpass123", Some((PrivProtocol::Aes128, b"privpass123")))
            .unwrap();
    let cases = [
        (
            UsmUser::new("informer", AuthProtocol::Sha1, b"wrongpass123", Some((PrivProtocol::Aes128, b"privpass123")))
                .unwrap(),
            RejectReason::WrongDigest,
            ReportKind::WrongDigest,
        ),
        (
            UsmUser::new("informer", AuthProtocol::Sha1, b"authpass123", Some((PrivProtocol::Aes128, b"wrongpass123")))
                .unwrap(),
            RejectReason::DecryptionError,
            ReportKind::DecryptionError,
        ),
        (
            UsmUser::new("stranger", AuthProtocol::Sha1, b"authpass123", None).unwrap(),
            RejectReason::UnknownUser,
            ReportKind::UnknownUserName,
        ),
        (UsmUser::no_auth("informer"), RejectReason::UnsupportedSecurityLevel, ReportKind::UnsupportedSecLevel),
    ];
    for (sender_user, reason, report) in cases {
        let (received, answer) = inform_round_trip(sender_user, good.clone());
        assert_eq!(rejection(&received), reason);
        match answer {
            Some(Incoming::Report { kind, .. }) => assert_eq!(kind, report, "{reason:?}"),
            other => panic!("{reason:?}: expected a report, got {other:?}"),
        }
    }
}

#[test]
fn v3_inform_outside_our_time_window_gets_an_authenticated_report() {
    let user = UsmUser::new("informer", AuthProtocol::Sha256, b"authpass123", None).unwrap();
    let now = Instant::now();
    let mut config = config();
    config.users = vec![user.clone()];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, now, 1);
    let mut session = V3Session::new("nocwatch", user, 5);
    // The sender believes our clock is at 0 while it is at 1000 s.
    session.set_engine_id(OUR_ENGINE.to_vec(), now).unwrap();
    let inform = Pdu::request(PduType::Inform, 9, [oid(".1.3.6.1.2.1.1.3.0")]);
    let bytes = session.encode_request(3, &inform, now).unwrap();
    let later = now + Duration::from_secs(1000);
    let received = receiver.receive(&bytes, sender(), later);
    assert_eq!(rejection(&received), RejectReason::NotInTimeWindow);
    let report = session.decode(&received.response.unwrap(), now).unwrap();
    assert!(matches!(report, Incoming::Report { kind: ReportKind::NotInTimeWindow, resend: true, .. }), "{report:?}");
    // Resynchronised from the authenticated report, the resend is accepted.
    let bytes = session.encode_request(4, &inform, now).unwrap();
    let received = receiver.receive(&bytes, sender(), later);
    assert!(received.response.is_some());
    assert_eq!(rejection(&received), RejectReason::Malformed, "no snmpTrapOID.0 in this inform");
    assert_eq!(receiver.usm_stats().not_in_time_windows, 1);
}

#[test]
fn v2c_inform_is_answered_with_same_request_id_and_varbinds() {
    let pdu = Pdu {
        kind: PduType::Inform,
        request_id: -17,
        error_status: 0,
        error_index: 0,
        varbinds: vec![
            VarBind::new(oid(".1.3.6.1.2.1.1.3.0"), Value::TimeTicks(77)),
            VarBind::new(oid(".1.3.6.1.6.3.1.1.4.1.0"), Value::ObjectId(oid(".1.3.6.1.4.1.9.9.43.2.0.1"))),
            VarBind::new(oid(".1.3.6.1.4.1.9.9.43.1.1.6.1.3.5"), Value::Integer(1)),
        ],
    };
    let message = CommunityMessage {
        version: Version::V2c,
        community: nocwatch_snmp::Community(b"private".to_vec()),
        pdu: AnyPdu::Pdu(pdu.clone()),
    };
    let now = Instant::now();
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config(), now, 1);
    let received = receiver.receive(&message.encode(), sender(), now);
    let response = CommunityMessage::decode(received.response.as_ref().unwrap()).unwrap();
    assert_eq!(response.community, message.community);
    let AnyPdu::Pdu(answer) = response.pdu else { panic!() };
    assert_eq!(answer.kind, PduType::Response);
    assert_eq!(answer.request_id, -17);
    assert_eq!(answer.varbinds, pdu.varbinds);
    let n = notification(received);
    assert!(n.inform);
    assert_eq!(n.trap_oid, oid(".1.3.6.1.4.1.9.9.43.2.0.1"));

    // A Get is not a notification.
    let get = CommunityMessage {
        version: Version::V2c,
        community: nocwatch_snmp::Community(b"private".to_vec()),
        pdu: AnyPdu::Pdu(Pdu::request(PduType::Get, 1, [oid(".1.3.6.1.2.1.1.1.0")])),
    };
    let received = receiver.receive(&get.encode(), sender(), now);
    assert_eq!(rejection(&received), RejectReason::Malformed);
    assert_eq!(received.response, None);
}

#[test]
fn remote_engine_cache_is_bounded() {
    let now = Instant::now();
    let mut config = config();
    config.users = vec![UsmUser::new("u", AuthProtocol::Sha1, b"authpass123", None).unwrap()];
    config.max_engines = 3;
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config.clone(), now, 1);
    for i in 0..10u8 {
        let mut session = V3Session::new("x", config.users[0].clone(), 1);
        session.set_engine_id(vec![0x80, 0, 0, 0, i, 1, 2, 3], now).unwrap();
        let pdu = cold_start_trap();
        let bytes = session.encode_request(1, &pdu, now).unwrap();
        let n = notification(receiver.receive(&bytes, sender(), now));
        assert_eq!(n.uptime, None, "sysUpTime.0 missing is tolerated");
        assert!(receiver.remote_engines() <= 3);
    }
}

#[test]
fn unauthenticated_engines_never_enter_the_cache() {
    // Review finding: entries were created before the digest check, so forged datagrams
    // (a known user name, any digest) filled the cache and evicted real engines' clocks.
    let now = Instant::now();
    let mut config = config();
    config.users = vec![UsmUser::new("u", AuthProtocol::Sha1, b"authpass123", None).unwrap()];
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config.clone(), now, 1);
    let forger = UsmUser::new("u", AuthProtocol::Sha1, b"not-the-key", None).unwrap();
    let pdu = cold_start_trap();
    for i in 0..20u8 {
        let mut session = V3Session::new("x", forger.clone(), 1);
        session.set_engine_id(vec![0x80, 0, 0, 0, i, 1, 2, 3], now).unwrap();
        let bytes = session.encode_request(1, &pdu, now).unwrap();
        assert_eq!(rejection(&receiver.receive(&bytes, sender(), now)), RejectReason::WrongDigest);
    }
    assert_eq!(receiver.remote_engines(), 0);

    // An engine ID longer than RFC 3411's 32 octets is malformed, whatever the digest.
    let mut session = V3Session::new("x", config.users[0].clone(), 1);
    session.set_engine_id(vec![0x80; 64], now).unwrap();
    let bytes = session.encode_request(1, &pdu, now).unwrap();
    assert_eq!(rejection(&receiver.receive(&bytes, sender(), now)), RejectReason::Malformed);

    // A real sender still gets in.
    let mut session = V3Session::new("x", config.users[0].clone(), 1);
    session.set_engine_id(vec![0x80, 0, 0, 0, 99, 1, 2, 3], now).unwrap();
    let bytes = session.encode_request(1, &pdu, now).unwrap();
    notification(receiver.receive(&bytes, sender(), now));
    assert_eq!(receiver.remote_engines(), 1);
}

/// A discovery probe (60 bytes from anyone, source address forgeable) gets a larger
/// Report: each source gets a burst of them, then the limit's rate, so the receiver cannot
/// be used to flood a victim. The rest are counted, not sent.
#[test]
fn reports_to_one_source_are_limited_and_counted() {
    let start = Instant::now();
    let mut config = config();
    config.report_limit = ReportLimit { per_second: 2.0, burst: 5, max_sources: 100 };
    let mut receiver = nocwatch_snmp::receiver::Receiver::new(config, start, 42);
    let probe = V3Session::new("nocwatch", UsmUser::no_auth("anyone"), 99).discovery_request(1);
    let victim = sender();
    let answered = |receiver: &mut nocwatch_snmp::receiver::Receiver, from: IpAddr, at: Instant| {
        let received = receiver.receive(&probe, from, at);
        assert_eq!(received.outcome, Outcome::Discovery, "still a discovery, answered or not");
        received.response.is_some_and(|report| report.len() > probe.len())
    };
    let flood = (0..1000).filter(|_| answered(&mut receiver, victim, start)).count();
    assert_eq!(flood, 5, "the burst, then nothing more at once");
    assert_eq!(receiver.reports_suppressed(), 995);
    // Another source is not held back by the flood; the flooded one gets the rate back.
    assert!(answered(&mut receiver, "192.0.2.99".parse().unwrap(), start));
    let later = start + Duration::from_secs(1);
    let refilled = (0..10).filter(|_| answered(&mut receiver, victim, later)).count();
    assert_eq!(refilled, 2, "two per second");
    // Any Report counts, not only discovery: an unknown user's reportable message too.
    let mut session = V3Session::new("nocwatch", UsmUser::no_auth("nobody"), 7);
    session.set_engine_id(OUR_ENGINE.to_vec(), start).unwrap();
    let get = Pdu { kind: PduType::Get, request_id: 1, error_status: 0, error_index: 0, varbinds: vec![] };
    let unknown_user = session.encode_request(3, &get, start).unwrap();
    let received = receiver.receive(&unknown_user, victim, later);
    assert_eq!(rejection(&received), RejectReason::UnknownUser);
    assert!(received.response.is_none(), "the victim's share is spent");
    assert_eq!(receiver.reports_suppressed(), 995 + 8 + 1);
}
