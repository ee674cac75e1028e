//! Micro-benchmark: ns per line for parse (Cisco IOS, Junos RT_FLOW with
//! structured data, plain RFC 3164), plus framing and RFC 5424 formatting.
//!
//! `cargo bench -p nocwatch-syslog` prints the median of 31 timed batches.
//! A plain std::time harness: no extra dependency, and medians are what we report.
//! Under `cargo test --all-targets` it runs one tiny batch as a smoke test.

use std::hint::black_box;
use std::time::Instant;

use jiff::Timestamp;
use jiff::tz::Offset;
use nocwatch_syslog::{FrameDecoder, ParseContext, format_rfc5424, parse};

const CISCO: &str = "<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console by console";
const JUNOS: &str = r#"<14>1 2014-05-01T08:28:10.933Z fw01 RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.39 reason="unset" source-address="1.2.3.4" source-port="63456" destination-address="5.6.7.8" destination-port="902" service-name="None" nat-source-address="1.2.3.4" nat-source-port="63456" nat-destination-address="5.6.7.8" nat-destination-port="902" src-nat-rule-name="None" dst-nat-rule-name="None" protocol-id="17" policy-name="mngmt-to-vcenter" source-zone-name="mngmt" destination-zone-name="intra" session-id-32="15353" packets-from-client="1" bytes-from-client="94" packets-from-server="0" bytes-from-server="0" elapsed-time="60" application="UNKNOWN" nested-application="UNKNOWN" username="N/A" roles="N/A"]"#;
const PLAIN: &str = "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8";

/// Median ns per item of `batches` timed runs of `f` over `per_batch` items.
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

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per_batch) = if full { (31, 50_000) } else { (1, 10) };
    let now = Timestamp::from_second(1_718_452_800).unwrap_or(Timestamp::UNIX_EPOCH);
    let ctx = ParseContext::new(now, Offset::UTC);

    for (name, line) in [("cisco_ios", CISCO), ("junos_rt_flow_sd", JUNOS), ("rfc3164_plain", PLAIN)] {
        let ns = median_ns(batches, per_batch, || {
            black_box(parse(black_box(line.as_bytes()), &ctx));
        });
        println!(
            "parse/{name:<18} {ns:>8.1} ns/line  {:>4} bytes  {:>6.0} MB/s",
            line.len(),
            line.len() as f64 / ns * 1e3
        );
    }

    let junos = parse(JUNOS.as_bytes(), &ctx);
    let mut out = Vec::with_capacity(1024);
    let ns = median_ns(batches, per_batch, || {
        out.clear();
        format_rfc5424(black_box(&junos), &mut out);
        black_box(&out);
    });
    println!("format_rfc5424/junos_rt_flow_sd {ns:>8.1} ns/line");

    // 1000 mixed LF and octet-counted frames, pushed in 64 KiB reads.
    let mut stream = Vec::new();
    for i in 0..1000 {
        let line = [CISCO, JUNOS, PLAIN][i % 3];
        if i % 2 == 0 {
            stream.extend_from_slice(format!("{} {line}", line.len()).as_bytes());
        } else {
            stream.extend_from_slice(line.as_bytes());
            stream.push(b'\n');
        }
    }
    let ns = median_ns(batches, per_batch.div_ceil(1000).max(1), || {
        let mut decoder = FrameDecoder::new(64 * 1024);
        let mut frames = 0;
        for read in stream.chunks(64 * 1024) {
            decoder.push(read);
            while let Some(frame) = decoder.next_frame() {
                black_box(frame);
                frames += 1;
            }
        }
        assert_eq!(frames, 1000);
    }) / 1000.0;
    println!("framing/mixed                   {ns:>8.1} ns/frame");
}
