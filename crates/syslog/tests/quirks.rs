//! Table tests: one per device quirk, asserting every field of the result.
#![allow(clippy::unwrap_used)]

mod common;

use common::{attrs, ctx, ctx_at, sd, ts};
use nocwatch_syslog::{Facility, Message, ParseContext, ParseError, Protocol, Severity, parse};

/// Every field of a parsed message, compared as a whole so a stray
/// attribute or a lost field fails the test.
#[derive(Debug, PartialEq)]
struct Fields<'a> {
    protocol: Protocol,
    facility: Option<Facility>,
    severity: Option<Severity>,
    timestamp: Option<&'a str>,
    hostname: Option<&'a str>,
    app_name: Option<&'a str>,
    proc_id: Option<&'a str>,
    msg_id: Option<&'a str>,
    message: &'a str,
    attributes: Vec<(&'static str, &'a str)>,
    parse_error: Option<ParseError>,
}

impl Default for Fields<'_> {
    fn default() -> Self {
        Fields {
            protocol: Protocol::Rfc3164,
            facility: None,
            severity: None,
            timestamp: None,
            hostname: None,
            app_name: None,
            proc_id: None,
            msg_id: None,
            message: "",
            attributes: Vec::new(),
            parse_error: None,
        }
    }
}

fn fields<'m>(m: &'m Message<'_>, ts_text: &'m Option<String>) -> Fields<'m> {
    Fields {
        protocol: m.protocol,
        facility: m.facility,
        severity: m.severity,
        timestamp: ts_text.as_deref(),
        hostname: m.hostname.as_deref(),
        app_name: m.app_name.as_deref(),
        proc_id: m.proc_id.as_deref(),
        msg_id: m.msg_id.as_deref(),
        message: &m.message,
        attributes: attrs(m),
        parse_error: m.parse_error,
    }
}

#[track_caller]
fn check_with(ctx: &ParseContext, input: &[u8], expected: Fields<'_>) -> Message<'static> {
    let m = parse(input, ctx).into_owned();
    let ts_text = m.timestamp.map(|t| t.to_string());
    let expected_ts = expected.timestamp.map(|t| ts(t).to_string());
    let expected = Fields { timestamp: expected_ts.as_deref(), ..expected };
    assert_eq!(fields(&m, &ts_text), expected, "input: {:?}", String::from_utf8_lossy(input));
    m
}

#[track_caller]
fn check(input: &str, expected: Fields<'_>) -> Message<'static> {
    check_with(&ctx(), input.as_bytes(), expected)
}

fn cisco<'a>(facility: &'a str, severity: &'a str, mnemonic: &'a str) -> [(&'static str, &'a str); 3] {
    [("cisco.facility", facility), ("cisco.severity", severity), ("cisco.mnemonic", mnemonic)]
}

fn with<'a>(head: &[(&'static str, &'a str)], tail: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
    head.iter().chain(tail).copied().collect()
}

// ---------------------------------------------------------------- Cisco IOS

#[test]
fn cisco_seq_origin_host_star_clock_and_millis() {
    check(
        "<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console by console",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Notice),
            timestamp: Some("2024-04-29T13:58:40.411Z"),
            hostname: Some("foo"),
            msg_id: Some("SYS-5-CONFIG_I"),
            message: "Configured from console by console",
            attributes: with(
                &[("cisco.seq", "29"), ("cisco.clock_status", "not_authoritative")],
                &cisco("SYS", "5", "CONFIG_I"),
            ),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_two_counters_and_known_zone_name() {
    check(
        "<190>1807987: 1807982: Aug 31 08:04:12 CEST: %SEC-6-IPACCESSLOGP: list vlan10-IN denied udp 169.254.95.183(5353) -> 224.0.0.251(5353), 1 packet",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Informational),
            timestamp: Some("2024-08-31T06:04:12Z"),
            msg_id: Some("SEC-6-IPACCESSLOGP"),
            message: "list vlan10-IN denied udp 169.254.95.183(5353) -> 224.0.0.251(5353), 1 packet",
            attributes: with(
                &[("cisco.seq", "1807987"), ("cisco.service_seq", "1807982"), ("cisco.timezone", "CEST")],
                &cisco("SEC", "6", "IPACCESSLOGP"),
            ),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_dot_prefix_means_ntp_lost() {
    check(
        "<187>45: .Jun 14 10:00:00.123 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Error),
            timestamp: Some("2024-06-14T10:00:00.123Z"),
            msg_id: Some("LINK-3-UPDOWN"),
            message: "Interface Gi0/1, changed state to down",
            attributes: with(
                &[("cisco.seq", "45"), ("cisco.clock_status", "ntp_unsynchronized"), ("cisco.timezone", "UTC")],
                &cisco("LINK", "3", "UPDOWN"),
            ),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_year_in_stamp_and_jst_offset() {
    check(
        "<189>12: Mar  1 2024 00:00:31.035 JST: %SYS-5-RESTART: System restarted",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Notice),
            // JST is UTC+9, and 2024 is a leap year.
            timestamp: Some("2024-02-29T15:00:31.035Z"),
            msg_id: Some("SYS-5-RESTART"),
            message: "System restarted",
            attributes: with(&[("cisco.seq", "12"), ("cisco.timezone", "JST")], &cisco("SYS", "5", "RESTART")),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_unknown_zone_name_is_kept_and_default_offset_applies() {
    check_with(
        &ctx_at("2024-06-15T12:00:00Z", -5),
        b"<188>179767: fakhost: Nov 23 22:23:27.833 NewYork: %SW_MATM-4-MACFLAP_NOTIF: Host bd60.04432.0344 in vlan 50 is flapping",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Warning),
            // Nov 23 read in June is last November's: a log line tells of the past.
            timestamp: Some("2023-11-24T03:23:27.833Z"),
            hostname: Some("fakhost"),
            msg_id: Some("SW_MATM-4-MACFLAP_NOTIF"),
            message: "Host bd60.04432.0344 in vlan 50 is flapping",
            attributes: with(
                &[("cisco.seq", "179767"), ("cisco.timezone", "NewYork")],
                &cisco("SW_MATM", "4", "MACFLAP_NOTIF"),
            ),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_numeric_zone_names() {
    let m = check(
        "<189>387448: host-01: May 6 16:13:09.123 UTC+07:30: %DOT1X-5-FAIL: Authentication failed",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Notice),
            timestamp: Some("2024-05-06T08:43:09.123Z"),
            hostname: Some("host-01"),
            msg_id: Some("DOT1X-5-FAIL"),
            message: "Authentication failed",
            attributes: with(&[("cisco.seq", "387448"), ("cisco.timezone", "UTC+07:30")], &cisco("DOT1X", "5", "FAIL")),
            ..Fields::default()
        },
    );
    assert_eq!(m.severity.unwrap().datadog_status(), "notice");
    let m = parse(b"<189>1: Aug 12 2023 12:14:24.412 mdt: %X-6-Y: z", &ctx());
    assert_eq!(m.timestamp, Some(ts("2023-08-12T18:14:24.412Z")), "mdt is UTC-6, any case");
}

#[test]
fn cisco_uptime_stamps() {
    check(
        "<165>7433: ASR920: 007439: 2y10w: %SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: username] [Source: 192.168.0.1]",
        Fields {
            facility: Some(Facility::Local4),
            severity: Some(Severity::Notice),
            hostname: Some("ASR920"),
            msg_id: Some("SEC_LOGIN-5-LOGIN_SUCCESS"),
            message: "Login Success [user: username] [Source: 192.168.0.1]",
            attributes: with(
                &[("cisco.seq", "7433"), ("cisco.service_seq", "007439"), ("cisco.uptime", "2y10w")],
                &cisco("SEC_LOGIN", "5", "LOGIN_SUCCESS"),
            ),
            ..Fields::default()
        },
    );
    for (line, uptime) in [
        ("<189>3: 1d02h: %SYS-5-CONFIG_I: x", "1d02h"),
        ("<189>3: 00:01:23: %SYS-5-CONFIG_I: x", "00:01:23"),
        ("<189>3: 00:01:23.456: %SYS-5-CONFIG_I: x", "00:01:23.456"),
    ] {
        let m = parse(line.as_bytes(), &ctx());
        assert_eq!(m.attribute("cisco.uptime"), Some(uptime), "{line}");
        assert_eq!((m.timestamp, m.parse_error), (None, None), "{line}");
        assert_eq!(m.message, "x");
    }
}

#[test]
fn cisco_subfacility_tag() {
    let m = check(
        "<190>9: Mar 24 17:37:39 UTC: %PIM-SW1-6-INVALID_RP_JOIN: Received (*, 10.36.2.78) Join",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Informational),
            timestamp: Some("2024-03-24T17:37:39Z"),
            msg_id: Some("PIM-SW1-6-INVALID_RP_JOIN"),
            message: "Received (*, 10.36.2.78) Join",
            attributes: vec![
                ("cisco.seq", "9"),
                ("cisco.timezone", "UTC"),
                ("cisco.facility", "PIM"),
                ("cisco.subfacility", "SW1"),
                ("cisco.severity", "6"),
                ("cisco.mnemonic", "INVALID_RP_JOIN"),
            ],
            ..Fields::default()
        },
    );
    assert!(m.structured_data.is_empty());
}

#[test]
fn cisco_session_id_structured_data() {
    let m = check(
        r#"<189>38: [syslog@9 s_id ="sw1:666"]: *Jan  2 00:14:37: %LINK-5-CHANGED: Interface GigabitEthernet0/4, changed state to administratively down"#,
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Notice),
            timestamp: Some("2024-01-02T00:14:37Z"),
            msg_id: Some("LINK-5-CHANGED"),
            message: "Interface GigabitEthernet0/4, changed state to administratively down",
            attributes: with(
                &[("cisco.seq", "38"), ("cisco.clock_status", "not_authoritative")],
                &cisco("LINK", "5", "CHANGED"),
            ),
            ..Fields::default()
        },
    );
    assert_eq!(sd(&m), vec![("syslog@9", vec![("s_id", "sw1:666")])]);
}

#[test]
fn iosxr_node_prefix_process_tag_and_spaced_colon() {
    check(
        "<190>Oct 7 07:19:44 internet-primary-mgmt RP/0/RP0/CPU0:Oct 7 07:19:43.630 UTC: ipv4_acl_mgr[310]: %ACL-IPV4_ACL-6-IPACCESSLOGP : access-list outgoing deny tcp",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Informational),
            timestamp: Some("2024-10-07T07:19:43.630Z"),
            hostname: Some("internet-primary-mgmt"),
            app_name: Some("ipv4_acl_mgr"),
            proc_id: Some("310"),
            msg_id: Some("ACL-IPV4_ACL-6-IPACCESSLOGP"),
            message: "access-list outgoing deny tcp",
            attributes: vec![
                ("iosxr.node", "RP/0/RP0/CPU0"),
                ("cisco.timezone", "UTC"),
                ("cisco.facility", "ACL"),
                ("cisco.subfacility", "IPV4_ACL"),
                ("cisco.severity", "6"),
                ("cisco.mnemonic", "IPACCESSLOGP"),
                ("relay.timestamp", "Oct 7 07:19:44"),
            ],
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_behind_relay_header_without_pri() {
    check(
        "Feb  8 04:00:48 192.168.100.2 585917: Feb  8 04:00:47.272: %SEC-6-IPACCESSLOGRP: list 177 denied igmp 192.168.100.197 -> 224.0.0.22, 1 packet",
        Fields {
            // No PRI: the severity comes from the Cisco tag.
            severity: Some(Severity::Informational),
            timestamp: Some("2024-02-08T04:00:47.272Z"),
            hostname: Some("192.168.100.2"),
            msg_id: Some("SEC-6-IPACCESSLOGRP"),
            message: "list 177 denied igmp 192.168.100.197 -> 224.0.0.22, 1 packet",
            attributes: with(
                &[("cisco.seq", "585917")],
                &with(&cisco("SEC", "6", "IPACCESSLOGRP"), &[("relay.timestamp", "Feb  8 04:00:48")]),
            ),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_origin_inside_relay_header_wins() {
    check(
        "<190>3132517: Jul 13 08:23:43 192.168.100.2 sw01: 3132779: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: Test header format",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Informational),
            timestamp: Some("2023-07-14T08:23:43.398Z"),
            hostname: Some("sw01"),
            msg_id: Some("FOO-6-BAR"),
            message: "Test header format",
            attributes: with(
                &[("cisco.seq", "3132517"), ("cisco.service_seq", "3132779"), ("cisco.timezone", "UTC")],
                &with(
                    &cisco("FOO", "6", "BAR"),
                    &[("relay.hostname", "192.168.100.2"), ("relay.timestamp", "Jul 13 08:23:43")],
                ),
            ),
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_origin_host_shapes() {
    for (line, host) in [
        ("<190>3132783: 2a02:cf40::: 3132779: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: t", Some("2a02:cf40::")),
        ("<190>3132517: 192.168.100.2 3132513: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: t", Some("192.168.100.2")),
        ("<190>sw01: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: t", Some("sw01")),
        ("<190>: sw01: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: t", Some("sw01")),
        ("<190>: Jul 14 2023 08:23:43.398 UTC: %FOO-6-BAR: t", None),
        ("<191>Aug  1 14:01:20 abc-asa1: %ASA-6-302013: t", Some("abc-asa1")),
        ("<189>Jun 12 18:10:50 10.53.35.85 %FOO-6-BAR: t", Some("10.53.35.85")),
    ] {
        let m = parse(line.as_bytes(), &ctx());
        assert_eq!(m.hostname.as_deref(), host, "{line}");
        assert_eq!(m.message, "t", "{line}");
        assert_eq!(m.parse_error, None, "{line}");
        assert!(m.attribute("cisco.mnemonic").is_some(), "{line}");
        assert!(m.timestamp.is_some(), "{line}");
    }
}

#[test]
fn cisco_line_without_mnemonic() {
    check(
        "<191>2637085: rt401-rk30409: Aug 18 07:15:04.461 CEST: NTP Core (NOTICE): Clock synchronization lost.",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Debug),
            timestamp: Some("2024-08-18T05:15:04.461Z"),
            hostname: Some("rt401-rk30409"),
            message: "NTP Core (NOTICE): Clock synchronization lost.",
            attributes: vec![("cisco.seq", "2637085"), ("cisco.timezone", "CEST")],
            ..Fields::default()
        },
    );
}

#[test]
fn cisco_asa_year_stamp_and_spaced_device_id() {
    check(
        "<166>Jun 01 2024 10:00:00 asa01 : %ASA-6-302013: Built outbound TCP connection 1",
        Fields {
            facility: Some(Facility::Local4),
            severity: Some(Severity::Informational),
            timestamp: Some("2024-06-01T10:00:00Z"),
            hostname: Some("asa01"),
            msg_id: Some("ASA-6-302013"),
            message: "Built outbound TCP connection 1",
            attributes: cisco("ASA", "6", "302013").to_vec(),
            ..Fields::default()
        },
    );
    let m = parse(b"<166>Jun 01 2024 10:00:00: %ASA-6-302013: Built", &ctx());
    assert_eq!((m.hostname, m.msg_id.as_deref()), (None, Some("ASA-6-302013")));
    assert_eq!(m.timestamp, Some(ts("2024-06-01T10:00:00Z")));
}

// ---------------------------------------------------------------- Junos

#[test]
fn junos_structured_data_mode() {
    let m = check(
        r#"<165>1 2007-02-15T09:17:15.719Z router1 mgd 3046 UI_DBASE_LOGOUT_EVENT [junos@2636.1.1.1.2.18 username="user"] User 'user' exiting configuration mode"#,
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::Local4),
            severity: Some(Severity::Notice),
            timestamp: Some("2007-02-15T09:17:15.719Z"),
            hostname: Some("router1"),
            app_name: Some("mgd"),
            proc_id: Some("3046"),
            msg_id: Some("UI_DBASE_LOGOUT_EVENT"),
            message: "User 'user' exiting configuration mode",
            ..Fields::default()
        },
    );
    assert_eq!(sd(&m), vec![("junos@2636.1.1.1.2.18", vec![("username", "user")])]);
}

#[test]
fn junos_rt_flow_structured_keeps_trailing_spaces() {
    let m = check(
        r#"<14>1 2014-05-01T08:26:51.179Z fw01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.39 source-address="1.2.3.4" source-port="56639" policy-name="log-all-else" encrypted="No "]"#,
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::User),
            severity: Some(Severity::Informational),
            timestamp: Some("2014-05-01T08:26:51.179Z"),
            hostname: Some("fw01"),
            app_name: Some("RT_FLOW"),
            msg_id: Some("RT_FLOW_SESSION_DENY"),
            ..Fields::default()
        },
    );
    assert_eq!(
        sd(&m),
        vec![(
            "junos@2636.1.1.1.2.39",
            vec![
                ("source-address", "1.2.3.4"),
                ("source-port", "56639"),
                ("policy-name", "log-all-else"),
                ("encrypted", "No "),
            ]
        )]
    );
    assert_eq!(m.sd_param("encrypted"), Some("No "));
}

#[test]
fn junos_nil_hostname() {
    let m = parse(
        br#"<14>1 2019-04-12T14:29:06.576Z - RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.129 reason="TCP FIN"]"#,
        &ctx(),
    );
    assert_eq!(m.hostname, None);
    assert_eq!(m.msg_id.as_deref(), Some("RT_FLOW_SESSION_CLOSE"));
    assert_eq!(m.sd_param("reason"), Some("TCP FIN"));
    assert_eq!(m.parse_error, None);
}

#[test]
fn junos_5424_relayed_inside_3164_header() {
    let m = check(
        r#"Jun 16 06:54:17 test-fw 1 2015-06-16T03:54:16.444-07:00 test-fw-1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.39 source-address="10.10.30.6" session-id-32="14036"] session created 10.10.30.6/51295->10.32.128.191/443"#,
        Fields {
            protocol: Protocol::Rfc5424,
            timestamp: Some("2015-06-16T10:54:16.444Z"),
            hostname: Some("test-fw-1"),
            app_name: Some("RT_FLOW"),
            msg_id: Some("RT_FLOW_SESSION_CREATE"),
            message: "session created 10.10.30.6/51295->10.32.128.191/443",
            attributes: vec![("relay.hostname", "test-fw"), ("relay.timestamp", "Jun 16 06:54:17")],
            ..Fields::default()
        },
    );
    assert_eq!(m.sd_param("session-id-32"), Some("14036"));
}

#[test]
fn junos_rt_flow_event_form_without_pri() {
    check(
        "Oct 22 09:55:42 testnash-vsrx RT_FLOW: RT_FLOW_SESSION_CREATE: session created 192.168.10.30/57380->8.8.8.8/53 0x0 junos-dns-udp",
        Fields {
            timestamp: Some("2024-10-22T09:55:42Z"),
            hostname: Some("testnash-vsrx"),
            app_name: Some("RT_FLOW"),
            msg_id: Some("RT_FLOW_SESSION_CREATE"),
            message: "session created 192.168.10.30/57380->8.8.8.8/53 0x0 junos-dns-udp",
            ..Fields::default()
        },
    );
    // No hostname at all (the collector dropped it with the PRI).
    check(
        "Dec 17 08:05:30 RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: 10.10.10.2/53836->10.10.10.1/22",
        Fields {
            timestamp: Some("2024-12-17T08:05:30Z"),
            app_name: Some("RT_FLOW"),
            msg_id: Some("RT_FLOW_SESSION_CLOSE"),
            message: "session closed TCP FIN: 10.10.10.2/53836->10.10.10.1/22",
            ..Fields::default()
        },
    );
    check(
        "<14>Sep 29 23:49:20 SRX-1 RT_FLOW: RT_FLOW_SESSION_DENY: session denied 10.0.0.1/54924->192.168.1.1/53",
        Fields {
            facility: Some(Facility::User),
            severity: Some(Severity::Informational),
            timestamp: Some("2024-09-29T23:49:20Z"),
            hostname: Some("SRX-1"),
            app_name: Some("RT_FLOW"),
            msg_id: Some("RT_FLOW_SESSION_DENY"),
            message: "session denied 10.0.0.1/54924->192.168.1.1/53",
            ..Fields::default()
        },
    );
}

#[test]
fn junos_sd_escapes_and_odd_quoting() {
    let m = parse(
        br#"<30>1 2023-05-04T15:27:26.461+10:00 fw kmd 13862 KMD_PM_SA_ESTABLISHED [junos@1111.1.1.1.1.111 local-initiator="ipv4_subnet(any:0,[0..7\]=89.160.20.112/29)" q="say \"hi\"" bs="a\\b" other="\n" empty=""] text"#,
        &ctx(),
    );
    assert_eq!(m.parse_error, None);
    assert_eq!(
        sd(&m)[0].1,
        vec![
            ("local-initiator", "ipv4_subnet(any:0,[0..7]=89.160.20.112/29)"),
            ("q", "say \"hi\""),
            ("bs", "a\\b"),
            ("other", "\\n"),
            ("empty", ""),
        ]
    );
    assert_eq!(m.message, "text");
    assert_eq!(m.timestamp, Some(ts("2023-05-04T05:27:26.461Z")));

    // Typographic quotes, as in values copied from Juniper's documentation.
    let m = parse(
        "<14>1 2013-01-19T15:18:18.040Z SRX100HM RT_FLOW - APPTRACK_SESSION_VOL_UPDATE [junos@2636 encrypted=\"No\" destination-interface-name=\u{201D}st0.0\u{201D} apbr-rule-type=\u{201D}default\u{201D}]".as_bytes(),
        &ctx(),
    );
    assert_eq!(m.parse_error, None);
    assert_eq!(
        sd(&m)[0].1,
        vec![("encrypted", "No"), ("destination-interface-name", "st0.0"), ("apbr-rule-type", "default"),]
    );
}

#[test]
fn junos_missing_version_and_missing_offset() {
    let m = check(
        "<166> 2023-05-08T10:54:24.756+10:00 AB1234 - - - - AB1234 nh_fabric_fill_jnhinfo: ABCDE: Test",
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::Local4),
            severity: Some(Severity::Informational),
            timestamp: Some("2023-05-08T00:54:24.756Z"),
            hostname: Some("AB1234"),
            message: "AB1234 nh_fabric_fill_jnhinfo: ABCDE: Test",
            ..Fields::default()
        },
    );
    assert!(m.structured_data.is_empty());
    // No offset in the stamp: the context's default offset applies.
    let m = parse(
        br#"<14>1 2013-01-19T15:18:17.040 SRX100HM RT_FLOW - APPTRACK_SESSION_CREATE [junos@2636 a="b"]"#,
        &ctx_at("2024-06-15T12:00:00Z", 2),
    );
    assert_eq!(m.timestamp, Some(ts("2013-01-19T13:18:17.040Z")));
    assert_eq!(m.parse_error, None);
}

// ---------------------------------------------------------------- plain RFCs

#[test]
fn rfc3164_plain() {
    check(
        "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
        Fields {
            facility: Some(Facility::Auth),
            severity: Some(Severity::Critical),
            timestamp: Some("2024-10-11T22:14:15Z"),
            hostname: Some("mymachine"),
            app_name: Some("su"),
            proc_id: Some("123"),
            message: "'su root' failed for lonvick on /dev/pts/8",
            ..Fields::default()
        },
    );
    check(
        "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        Fields {
            facility: Some(Facility::User),
            severity: Some(Severity::Notice),
            timestamp: Some("2024-02-05T17:32:18Z"),
            hostname: Some("10.0.0.99"),
            message: "Use the BFG!",
            ..Fields::default()
        },
    );
    // rsyslog's high-precision template: an RFC 3339 stamp in the 3164 slot.
    check(
        "<189>2024-10-11T10:15:31.208321-05:00 TestDevice %LINEPROTO-5-UPDOWN: Line protocol on Interface Te1/0/1, changed state to up",
        Fields {
            facility: Some(Facility::Local7),
            severity: Some(Severity::Notice),
            timestamp: Some("2024-10-11T15:15:31.208321Z"),
            hostname: Some("TestDevice"),
            msg_id: Some("LINEPROTO-5-UPDOWN"),
            message: "Line protocol on Interface Te1/0/1, changed state to up",
            attributes: cisco("LINEPROTO", "5", "UPDOWN").to_vec(),
            ..Fields::default()
        },
    );
}

#[test]
fn rfc3164_year_rollover_keeps_stamps_in_the_past() {
    let new_year = ctx_at("2025-01-01T00:05:00Z", 0);
    let m = parse(b"<13>Dec 31 23:59:00 host app: late", &new_year);
    assert_eq!(m.timestamp, Some(ts("2024-12-31T23:59:00Z")));
    let new_years_eve = ctx_at("2024-12-31T23:59:00Z", 0);
    let m = parse(b"<13>Jan  1 00:01:00 host app: early", &new_years_eve);
    assert_eq!(m.timestamp, Some(ts("2025-01-01T00:01:00Z")));
    // Feb 29 exists only in 2024 among 2023..=2025.
    let m = parse(b"<13>Feb 29 12:00:00 host app: leap", &ctx_at("2025-01-10T00:00:00Z", 0));
    assert_eq!(m.timestamp, Some(ts("2024-02-29T12:00:00Z")));
    // A stamp seven months old is this year's, not one five months in the future.
    let november = ctx_at("2026-11-25T09:00:00Z", 0);
    let m = parse(b"<13>Apr 29 13:58:40 host app: spring", &november);
    assert_eq!(m.timestamp, Some(ts("2026-04-29T13:58:40Z")));
    // A device clock a few days ahead stays in this year; far ahead means last year.
    let m = parse(b"<13>Nov 28 09:00:00 host app: skewed", &november);
    assert_eq!(m.timestamp, Some(ts("2026-11-28T09:00:00Z")));
    let m = parse(b"<13>Dec 20 09:00:00 host app: old", &november);
    assert_eq!(m.timestamp, Some(ts("2025-12-20T09:00:00Z")));
}

#[test]
fn rfc5424_examples_from_the_rfc() {
    check_with(
        &ctx(),
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::Auth),
            severity: Some(Severity::Critical),
            timestamp: Some("2003-10-11T22:14:15.003Z"),
            hostname: Some("mymachine.example.com"),
            app_name: Some("su"),
            msg_id: Some("ID47"),
            message: "'su root' failed for lonvick on /dev/pts/8",
            ..Fields::default()
        },
    );
    check(
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::Local4),
            severity: Some(Severity::Notice),
            timestamp: Some("2003-08-24T12:14:15.000003Z"),
            hostname: Some("192.0.2.1"),
            app_name: Some("myproc"),
            proc_id: Some("8710"),
            message: "%% It's time to make the do-nuts.",
            ..Fields::default()
        },
    );
    let m = check(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::Local4),
            severity: Some(Severity::Notice),
            timestamp: Some("2003-10-11T22:14:15.003Z"),
            hostname: Some("mymachine.example.com"),
            app_name: Some("evntslog"),
            msg_id: Some("ID47"),
            ..Fields::default()
        },
    );
    assert_eq!(
        sd(&m),
        vec![
            ("exampleSDID@32473", vec![("iut", "3"), ("eventSource", "Application"), ("eventID", "1011")]),
            ("examplePriority@32473", vec![("class", "high")]),
        ]
    );
}

#[test]
fn rfc5424_all_nil_and_fractions() {
    check(
        "<13>1 - - - - - -",
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::User),
            severity: Some(Severity::Notice),
            ..Fields::default()
        },
    );
    for (stamp, expected) in [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.1Z", "2024-01-02T03:04:05.1Z"),
        ("2024-01-02T03:04:05.123456+01:00", "2024-01-02T02:04:05.123456Z"),
        ("2024-01-02T03:04:05.123456789-02:30", "2024-01-02T05:34:05.123456Z"),
        ("2024-01-02t03:04:05z", "2024-01-02T03:04:05Z"),
    ] {
        let line = format!("<13>1 {stamp} h a - - - m");
        let m = parse(line.as_bytes(), &ctx());
        assert_eq!(m.timestamp, Some(ts(expected)), "{line}");
        assert_eq!(m.parse_error, None);
    }
}

// ---------------------------------------------------------------- robustness

#[test]
fn truncated_5424_timestamp_that_crashed_syslog_rfc5424() {
    check(
        "<165>1 2003-03-11T22:14:15.003003-1",
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::Local4),
            severity: Some(Severity::Notice),
            attributes: vec![("syslog.raw_timestamp", "2003-03-11T22:14:15.003003-1")],
            parse_error: Some(ParseError::InvalidTimestamp),
            ..Fields::default()
        },
    );
}

#[test]
fn truncated_5424_header_keeps_what_it_read() {
    check(
        "<14>1 2020-01-01T00:00:00Z host app",
        Fields {
            protocol: Protocol::Rfc5424,
            facility: Some(Facility::User),
            severity: Some(Severity::Informational),
            timestamp: Some("2020-01-01T00:00:00Z"),
            hostname: Some("host"),
            app_name: Some("app"),
            parse_error: Some(ParseError::TruncatedHeader),
            ..Fields::default()
        },
    );
    let m = parse(br#"<14>1 - host app - - [ok a="1"][bad a="unterminated"#, &ctx());
    assert_eq!(m.parse_error, Some(ParseError::InvalidStructuredData));
    assert_eq!(sd(&m), vec![("ok", vec![("a", "1")])]);
    assert_eq!(m.message, r#"[bad a="unterminated"#);
}

#[test]
fn impossible_bsd_date_is_reported_not_dropped() {
    check(
        "<13>Feb 30 12:00:00 host app: text",
        Fields {
            facility: Some(Facility::User),
            severity: Some(Severity::Notice),
            hostname: Some("host"),
            app_name: Some("app"),
            message: "text",
            attributes: vec![("syslog.raw_timestamp", "Feb 30 12:00:00")],
            parse_error: Some(ParseError::InvalidTimestamp),
            ..Fields::default()
        },
    );
}

#[test]
fn pri_out_of_range() {
    check(
        "<192>Oct 11 22:14:15 host app: text",
        Fields {
            timestamp: Some("2024-10-11T22:14:15Z"),
            hostname: Some("host"),
            app_name: Some("app"),
            message: "text",
            parse_error: Some(ParseError::InvalidPri),
            ..Fields::default()
        },
    );
    check(
        "<999>hello",
        Fields {
            protocol: Protocol::Unknown,
            message: "<999>hello",
            parse_error: Some(ParseError::InvalidPri),
            ..Fields::default()
        },
    );
}

#[test]
fn not_syslog_falls_back_to_whole_line() {
    for line in ["hello world", "", "302020: Built inbound ICMP connection", "<>x", "<1234>x"] {
        check(
            line,
            Fields {
                protocol: Protocol::Unknown,
                message: line,
                parse_error: Some(ParseError::NoHeader),
                ..Fields::default()
            },
        );
    }
    // A Cisco tag alone is still worth extracting, but the line stays whole.
    check(
        "%ASA-4-402117: IPSEC: Received a non-IPSec packet",
        Fields {
            protocol: Protocol::Unknown,
            severity: Some(Severity::Warning),
            msg_id: Some("ASA-4-402117"),
            message: "%ASA-4-402117: IPSEC: Received a non-IPSec packet",
            attributes: cisco("ASA", "4", "402117").to_vec(),
            parse_error: Some(ParseError::NoHeader),
            ..Fields::default()
        },
    );
}

#[test]
fn invalid_utf8_is_replaced_and_line_endings_dropped() {
    check_with(
        &ctx(),
        b"<13>Oct 11 22:14:15 h\xFFst app: caf\xE9\r\n",
        Fields {
            facility: Some(Facility::User),
            severity: Some(Severity::Notice),
            timestamp: Some("2024-10-11T22:14:15Z"),
            hostname: Some("h\u{FFFD}st"),
            app_name: Some("app"),
            message: "caf\u{FFFD}",
            ..Fields::default()
        },
    );
    check_with(
        &ctx(),
        b"\xFF\xFE\x00",
        Fields {
            protocol: Protocol::Unknown,
            message: "\u{FFFD}\u{FFFD}",
            parse_error: Some(ParseError::NoHeader),
            ..Fields::default()
        },
    );
}

#[test]
fn pri_only_is_syslog() {
    check(
        "<13>just text",
        Fields {
            facility: Some(Facility::User),
            severity: Some(Severity::Notice),
            message: "just text",
            ..Fields::default()
        },
    );
}

#[test]
fn every_prefix_of_real_lines_parses() {
    let lines = [
        "<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console by console",
        "<190>Oct 7 07:19:44 internet-primary-mgmt RP/0/RP0/CPU0:Oct 7 07:19:43.630 UTC: ipv4_acl_mgr[310]: %ACL-IPV4_ACL-6-IPACC : x",
        r#"<189>38: [syslog@9 s_id ="sw1:666"]: *Jan  2 00:14:37: %LINK-5-CHANGED: Interface"#,
        r#"Jun 16 06:54:17 test-fw 1 2015-06-16T03:54:16.444-07:00 test-fw-1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.39 a="b\]" c=""] session"#,
        "<165>7433: ASR920: 007439: 2y10w: %SEC_LOGIN-5-LOGIN_SUCCESS: Login Success",
    ];
    for line in lines {
        for end in 0..=line.len() {
            let m = parse(&line.as_bytes()[..end], &ctx());
            // Nothing is lost: the message text is a suffix of the input.
            let prefix = String::from_utf8_lossy(&line.as_bytes()[..end]);
            assert!(prefix.ends_with(m.message.as_ref()), "{prefix:?} -> {:?}", m.message);
        }
    }
}

#[test]
fn hostile_input_is_linear() {
    let started = std::time::Instant::now();
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for unit in [&b"1: "[..], b"[a ", b"Jan  1 00:00:00 ", b"%A-", b"a: ", b"[a b=\"", b"<1>", b"\xE2\x80\x9D"] {
        inputs.push(unit.repeat(200_000));
        let mut with_pri = b"<13>1 - - - - - ".to_vec();
        with_pri.extend(unit.repeat(200_000));
        inputs.push(with_pri);
    }
    for input in &inputs {
        let _ = parse(input, &ctx());
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn severity_and_facility_names() {
    let names: Vec<_> = (0..8)
        .map(|c| {
            let s = Severity::from_code(c).unwrap();
            (s.as_str(), s.datadog_status())
        })
        .collect();
    assert_eq!(
        names,
        [
            ("emerg", "emerg"),
            ("alert", "alert"),
            ("crit", "critical"),
            ("err", "error"),
            ("warning", "warn"),
            ("notice", "notice"),
            ("info", "info"),
            ("debug", "debug"),
        ]
    );
    assert_eq!(Severity::from_code(8), None);
    assert_eq!(Facility::from_code(23).map(Facility::as_str), Some("local7"));
    assert_eq!(Facility::from_code(24), None);
    assert_eq!(Facility::Local7.code() * 8 + Severity::Notice.code(), 189);
}
