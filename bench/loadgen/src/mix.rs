//! The syslog line mix of the benchmarks, in one place: `loadgen` sends it, the
//! `syslog_pipeline` micro-benchmark and nocwatch's encoding tests feed it to the code
//! directly (both include this file by `#[path]`; it depends on `std` only).
//!
//! By `n % 5`: Cisco IOS `%SYS-5-CONFIG_I` (sequence prefix, `*` clock, milliseconds),
//! Cisco IOS-XE `%LINK-3-UPDOWN` (two sequence numbers, time-zone name), Junos SRX
//! `RT_FLOW_SESSION_CREATE` in RFC 5424 structured-data mode (30 SD-PARAMs), plain RFC
//! 3164 (sshd), and Junos `RT_FLOW_SESSION_CLOSE` in BSD form. Every line carries
//! `nwseq=<n>` so a receiver's output can be counted exactly.

use std::fmt::Write as _;

/// Appends line `n` (without line end) to `out`.
pub fn line(n: u64, out: &mut String) {
    let dev = n % 16;
    let a = (n / 7) % 250 + 1;
    let b = (n / 3) % 250 + 1;
    let port = 1024 + (n * 7919) % 64000;
    let nat_port = 1024 + (n * 104_729) % 64000;
    let session = 100_000 + n;
    let _ = match n % 5 {
        0 => write!(
            out,
            "<189>{c}: core-sw{dev}: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.{a}.{b}) nwseq={n}",
            c = n % 1_000_000,
        ),
        1 => write!(
            out,
            "<187>{c}: {c2}: Apr 29 13:58:41.002 JST: %LINK-3-UPDOWN: Interface GigabitEthernet1/0/{p}, changed state to down nwseq={n}",
            c = 1_800_000 + n % 1_000_000,
            c2 = 1_799_995 + n % 1_000_000,
            p = n % 48 + 1,
        ),
        2 => write!(
            out,
            "<14>1 2024-04-29T13:58:40.411+09:00 edge-fw{dev} RT_FLOW - RT_FLOW_SESSION_CREATE \
             [junos@2636.1.1.1.2.129 source-address=\"10.1.{a}.{b}\" source-port=\"{port}\" \
             destination-address=\"192.0.2.10\" destination-port=\"443\" connection-tag=\"0\" \
             service-name=\"junos-https\" nat-source-address=\"203.0.113.5\" nat-source-port=\"{nat_port}\" \
             nat-destination-address=\"192.0.2.10\" nat-destination-port=\"443\" nat-connection-tag=\"0\" \
             src-nat-rule-type=\"source rule\" src-nat-rule-name=\"snat-out\" dst-nat-rule-type=\"N/A\" \
             dst-nat-rule-name=\"N/A\" protocol-id=\"6\" policy-name=\"trust-to-untrust\" \
             source-zone-name=\"trust\" destination-zone-name=\"untrust\" session-id-32=\"{session}\" \
             username=\"N/A\" roles=\"N/A\" packet-incoming-interface=\"ge-0/0/1.0\" application=\"UNKNOWN\" \
             nested-application=\"UNKNOWN\" encrypted=\"No \" application-category=\"N/A\" \
             application-sub-category=\"N/A\" application-risk=\"-1\" application-characteristics=\"N/A\"] \
             session created 10.1.{a}.{b}/{port}->192.0.2.10/443 0x0 junos-https \
             203.0.113.5/{nat_port}->192.0.2.10/443 0x0 source rule snat-out N/A N/A 6 trust-to-untrust \
             trust untrust {session} N/A(N/A) ge-0/0/1.0 UNKNOWN UNKNOWN UNKNOWN No nwseq={n}"
        ),
        3 => write!(
            out,
            "<38>Apr 29 13:58:40 bastion{dev} sshd[{pid}]: Accepted publickey for netops from 10.0.{a}.{b} port {port} ssh2: ED25519 SHA256:3bq9Xy4wY1mO0h3pXJ2Zr8kD5e6fGhIjKlMnOpQrStU nwseq={n}",
            pid = 2000 + n % 30000,
        ),
        _ => write!(
            out,
            "<14>Apr 29 13:58:40 edge-fw{dev} RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: \
             10.1.{a}.{b}/{port}->192.0.2.10/443 0x0 junos-https 203.0.113.5/{nat_port}->192.0.2.10/443 0x0 \
             source rule snat-out N/A N/A 6 trust-to-untrust trust untrust {session} 12(3456) 10(7890) 3 \
             UNKNOWN UNKNOWN N/A(N/A) ge-0/0/1.0 UNKNOWN nwseq={n}"
        ),
    };
}
