//! Properties: `format_rfc5424` loses nothing that RFC 5424 can carry, the
//! parser survives any bytes, and framing does not depend on how the stream
//! is cut into reads.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;

use jiff::Timestamp;
use nocwatch_syslog::{
    Facility, FrameDecoder, Message, ParseError, Protocol, SdElement, SdParam, Severity, format_rfc3164,
    format_rfc5424, format_rfc5424_with_element, frame_octet_counted, parse,
};
use proptest::prelude::*;

/// The fields RFC 5424 carries, with PRI's user.notice default applied.
#[derive(Debug, PartialEq)]
struct Carried {
    facility: Facility,
    severity: Severity,
    timestamp: Option<Timestamp>,
    hostname: Option<String>,
    app_name: Option<String>,
    proc_id: Option<String>,
    msg_id: Option<String>,
    structured_data: Vec<(String, Vec<(String, String)>)>,
    message: String,
}

fn carried(m: &Message<'_>) -> Carried {
    let own = |f: &Option<Cow<'_, str>>| f.as_deref().map(str::to_owned);
    Carried {
        facility: m.facility.unwrap_or(Facility::User),
        severity: m.severity.unwrap_or(Severity::Notice),
        timestamp: m.timestamp,
        hostname: own(&m.hostname),
        app_name: own(&m.app_name),
        proc_id: own(&m.proc_id),
        msg_id: own(&m.msg_id),
        structured_data: m
            .structured_data
            .iter()
            .map(|e| (e.id.to_string(), e.params.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect()))
            .collect(),
        message: m.message.to_string(),
    }
}

fn assert_reparses(first: &Message<'_>) -> Vec<u8> {
    let mut line = Vec::new();
    format_rfc5424(first, &mut line);
    let second = parse(&line, &common::ctx());
    assert_eq!(second.protocol, Protocol::Rfc5424, "{:?}", String::from_utf8_lossy(&line));
    assert_eq!(second.parse_error, None, "{:?}", String::from_utf8_lossy(&line));
    assert_eq!(carried(&second), carried(first), "{:?}", String::from_utf8_lossy(&line));
    line
}

/// Real lines to mutate, so the fuzzing reaches deep into the header parsers.
const SEEDS: &[&str] = &[
    "<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console by console",
    "<190>1807987: 1807982: Aug 31 08:04:12 CEST: %SEC-6-IPACCESSLOGP: list vlan10-IN denied udp",
    r#"<189>38: [syslog@9 s_id ="sw1:666"]: *Jan  2 00:14:37: %LINK-5-CHANGED: Interface Gi0/4"#,
    "<165>7433: ASR920: 007439: 2y10w: %SEC_LOGIN-5-LOGIN_SUCCESS: Login Success",
    "<190>Oct 7 07:19:44 mgmt RP/0/RP0/CPU0:Oct 7 07:19:43.630 UTC: ipv4_acl_mgr[310]: %ACL-IPV4_ACL-6-IPACC : x",
    r#"<14>1 2014-05-01T08:26:51.179Z fw01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.39 source-address="1.2.3.4" encrypted="No "]"#,
    r#"Jun 16 06:54:17 test-fw 1 2015-06-16T03:54:16.444-07:00 test-fw-1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636 a="b\]c"] session created"#,
    "Oct 22 09:55:42 testnash-vsrx RT_FLOW: RT_FLOW_SESSION_CREATE: session created 192.168.10.30/57380->8.8.8.8/53",
    "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
    "<13>1 - - - - - -",
    "<166> 2023-05-08T10:54:24.756+10:00 AB1234 - - - - AB1234 nh_fabric: x",
];

fn mutated_seed() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(SEEDS),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        proptest::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(|(seed, cut, at, insert)| {
            let mut bytes = seed.as_bytes().to_vec();
            bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, insert);
            bytes
        })
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        mutated_seed(),
        "\\PC{0,80}".prop_map(String::into_bytes),
    ]
}

fn header_field() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[!-~\u{80}-\u{10FFFF}]{1,24}".prop_filter("NILVALUE", |s| s != "-"))
}

fn sd_name() -> impl Strategy<Value = String> {
    "[!#-\\\\^-~]{1,16}".prop_filter("no = ] \" in names", |s| !s.contains(['=', ']', '"']))
}

fn message_strategy() -> impl Strategy<Value = Message<'static>> {
    (
        (0u8..24, 0u8..8),
        proptest::option::of(0i64..253_402_300_799_000_000),
        (header_field(), header_field(), header_field(), header_field()),
        proptest::collection::vec((sd_name(), proptest::collection::vec((sd_name(), "\\PC{0,12}"), 0..4)), 0..3),
        "\\PC{0,60}",
    )
        .prop_map(|((fac, sev), micros, (host, app, pid, msgid), sd, text)| {
            let mut m = Message::new(Cow::Owned(text));
            m.protocol = Protocol::Rfc5424;
            m.facility = Facility::from_code(fac);
            m.severity = Severity::from_code(sev);
            m.timestamp = micros.map(|us| Timestamp::from_microsecond(us).unwrap());
            m.hostname = host.map(Cow::Owned);
            m.app_name = app.map(Cow::Owned);
            m.proc_id = pid.map(Cow::Owned);
            m.msg_id = msgid.map(Cow::Owned);
            m.structured_data = sd
                .into_iter()
                .map(|(id, params)| SdElement {
                    id: Cow::Owned(id),
                    params: params
                        .into_iter()
                        .map(|(name, value)| SdParam { name: Cow::Owned(name), value: Cow::Owned(value) })
                        .collect(),
                })
                .collect();
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// format_rfc5424(parse(x)) parses back to the same fields, for any x.
    #[test]
    fn parsed_anything_reformats_losslessly(input in any_input()) {
        let first = parse(&input, &common::ctx());
        assert_reparses(&first);
        if first.parse_error.is_none() {
            prop_assert_ne!(first.protocol, Protocol::Unknown);
        } else if first.protocol == Protocol::Unknown {
            // The fallback keeps the whole line (less its line ending).
            let end = input.iter().rposition(|b| !matches!(b, b'\n' | b'\r' | 0)).map_or(0, |i| i + 1);
            prop_assert_eq!(first.message.as_ref(), String::from_utf8_lossy(&input[..end]));
        }
    }

    /// An element given to format_rfc5424_with_element comes back from the parser as
    /// the first SD element, escaped like any other, the message's own after it.
    #[test]
    fn a_borrowed_first_element_parses_back_first(
        m in message_strategy(),
        name in sd_name(),
        value in "[ -~]{0,20}",
    ) {
        let mut line = Vec::new();
        format_rfc5424_with_element(&m, Some(("metas", &[("ddsource", "syslog"), (name.as_str(), value.as_str())])), &mut line);
        let mut expected = carried(&m);
        expected.structured_data.insert(0, ("metas".to_owned(), vec![
            ("ddsource".to_owned(), "syslog".to_owned()),
            (name.clone(), value.clone()),
        ]));
        let parsed = parse(&line, &common::ctx());
        prop_assert_eq!(parsed.parse_error, None);
        prop_assert_eq!(carried(&parsed), expected);
    }

    /// A message built field by field survives format_rfc5424 -> parse,
    /// including SD values with quotes, backslashes and brackets.
    #[test]
    fn built_messages_round_trip(m in message_strategy()) {
        assert_reparses(&m);
    }

    /// However the stream is cut into reads, the frames are the same.
    #[test]
    fn framing_ignores_read_boundaries(
        payloads in proptest::collection::vec(("<[0-9]{1,3}>[ -~]{0,40}", any::<bool>()), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut stream = Vec::new();
        for (payload, counted) in &payloads {
            if *counted {
                frame_octet_counted(payload.as_bytes(), &mut stream);
            } else {
                stream.extend_from_slice(payload.as_bytes());
                stream.push(b'\n');
            }
        }
        let mut cut_points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cut_points.push(0);
        cut_points.push(stream.len());
        cut_points.sort_unstable();
        let mut decoder = FrameDecoder::new(1024);
        let mut got = Vec::new();
        for pair in cut_points.windows(2) {
            decoder.push(&stream[pair[0]..pair[1]]);
            while let Some(f) = decoder.next_frame() {
                got.push(String::from_utf8(f.data.to_vec()).unwrap());
            }
        }
        while let Some(f) = decoder.finish() {
            got.push(String::from_utf8(f.data.to_vec()).unwrap());
        }
        let want: Vec<String> = payloads
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| !p.trim_end_matches('\r').is_empty())
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn format_rfc5424_escapes_and_nils() {
    let m = parse(br#"<14>1 2024-01-02T03:04:05.120Z host app - ID [x@1 a="q\"b\\c\]d" e=""] text"#, &common::ctx());
    let mut out = Vec::new();
    format_rfc5424(&m, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"<14>1 2024-01-02T03:04:05.12Z host app - ID [x@1 a="q\"b\\c\]d" e=""] text"#
    );
    let mut out = Vec::new();
    format_rfc5424(&Message::new("only text".into()), &mut out);
    assert_eq!(out, b"<13>1 - - - - - - only text");
}

#[test]
fn format_rfc3164_puts_vendor_tags_back() {
    let ctx = common::ctx();
    let mut out = Vec::new();
    let cisco = parse(b"<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured", &ctx);
    format_rfc3164(&cisco, jiff::tz::Offset::UTC, &mut out);
    assert_eq!(out, b"<189>Apr 29 13:58:40 foo %SYS-5-CONFIG_I: Configured");
    let again = parse(&out, &ctx);
    assert_eq!(again.attribute("cisco.mnemonic"), Some("CONFIG_I"));
    assert_eq!(again.hostname.as_deref(), Some("foo"));

    out.clear();
    let junos = parse(b"<14>Oct  2 09:55:42 fw RT_FLOW: RT_FLOW_SESSION_CREATE: session created", &ctx);
    format_rfc3164(&junos, jiff::tz::Offset::from_hours(2).unwrap(), &mut out);
    assert_eq!(out, b"<14>Oct  2 11:55:42 fw RT_FLOW: RT_FLOW_SESSION_CREATE: session created");
    let again = parse(&out, &ctx);
    assert_eq!(again.msg_id.as_deref(), Some("RT_FLOW_SESSION_CREATE"));
    assert_eq!(again.app_name.as_deref(), Some("RT_FLOW"));
    assert_eq!(again.parse_error, None::<ParseError>);
}

#[test]
fn octet_counted_frame() {
    let mut out = b"x".to_vec();
    frame_octet_counted("<13>héllo".as_bytes(), &mut out);
    assert_eq!(out, "x10 <13>héllo".as_bytes());
}
