//! Micro-benchmark of nocwatch's per-line work on the syslog path, without any I/O: CPU
//! nanoseconds per line for each stage a received line goes through.
//!
//! - `map`: bytes → parsed message → `LogEvent` (the syslog source's `EventMapper`);
//! - `file`: the events as JSON lines (the file and console sinks' encoder);
//! - `datadog_http`: the events as Datadog Logs JSON arrays, gzip-compressed (the
//!   `datadog_logs` sink's default encoder), and `datadog_http_plain` without gzip;
//! - `syslog_lf`: the events as RFC 5424 lines (the `syslog` forwarding sink, newline framing);
//! - `drop`: freeing the events.
//!
//! Input: the mix of `bench/loadgen` (`bench/syslog/run.sh`): Cisco IOS, IOS-XE, Junos
//! RT_FLOW in RFC 5424 with 30 SD-PARAMs, plain RFC 3164, Junos BSD form. Elapsed time of
//! each stage on one thread (the kernel's per-thread CPU time here has only tick
//! resolution); the median of `RUNS` passes over 20,000 lines (default 11) leaves out the
//! passes another process interrupted. The binary uses the same global allocator as `nocwatch`.
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench -p nocwatch --bench syslog_pipeline`;
//! under `cargo test --all-targets` it runs one small pass as a smoke test.

use std::hint::black_box;
use std::time::Instant;

use nocwatch::event::Event;
use nocwatch::sinks::datadog::logs::{DatadogLogsConfig, JsonEncoder};
use nocwatch::sinks::encoding::JsonLines;
use nocwatch::sinks::syslog::{LineEncoder, SyslogSinkConfig};
use nocwatch::sinks::util::request::Encoder;
use nocwatch::sources::syslog::event::{EventMapper, Peer};

#[path = "../loadgen/src/mix.rs"]
mod mix;

use mix::line;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nanoseconds per line of `f` over `lines` lines.
fn per_line<T>(lines: usize, f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_nanos() as f64 / lines as f64, out)
}

/// Runs the encoder over all events the way the delivery loop does (a prefix per call).
fn encode_all(encoder: &mut dyn Encoder, events: &[Event]) -> usize {
    let mut rest = events;
    let mut bytes = 0;
    while !rest.is_empty() {
        let encoded = encoder.encode(rest);
        if let Some(request) = encoded.request {
            bytes += request.body.len();
            encoder.recycle(request.body);
        }
        rest = &rest[encoded.consumed.clamp(1, rest.len())..];
    }
    bytes
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (runs, count) = if full {
        (std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(11_usize).max(1), 20_000)
    } else {
        (1, 50)
    };
    let input: Vec<String> = (0..count as u64)
        .map(|n| {
            let mut s = String::new();
            line(n, &mut s);
            s
        })
        .collect();
    let mapper = EventMapper::new(Default::default(), None).expect("mapper");
    let peer = Peer::new(([10, 0, 0, 1], 514).into());
    let datadog: DatadogLogsConfig =
        serde_json::from_value(serde_json::json!({"api_key": "bench", "tags": ["env:bench"]})).expect("config");
    let syslog: SyslogSinkConfig =
        serde_json::from_value(serde_json::json!({"address": "127.0.0.1:514", "framing": "newline"})).expect("config");
    let plain: DatadogLogsConfig =
        serde_json::from_value(serde_json::json!({"api_key": "bench", "tags": ["env:bench"], "compression": "none"}))
            .expect("config");
    let mut json = JsonLines::default();
    let (mut dd_gzip, mut dd_plain, mut lines) =
        (JsonEncoder::new(&datadog), JsonEncoder::new(&plain), LineEncoder::new(&syslog));

    let stages = ["map", "file", "datadog_http", "datadog_http_plain", "syslog_lf", "drop"];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); stages.len()];
    let mut sizes = [0usize; 6];
    for _ in 0..runs {
        let ctx = mapper.context();
        let (ns, events) = per_line(count, || {
            input.iter().map(|l| Event::Log(mapper.to_event_from(l.as_bytes(), &peer, false, &ctx))).collect::<Vec<_>>()
        });
        samples[0].push(ns);
        let encoders: [&mut dyn Encoder; 4] = [&mut json, &mut dd_gzip, &mut dd_plain, &mut lines];
        for (i, encoder) in encoders.into_iter().enumerate() {
            let (ns, bytes) = per_line(count, || encode_all(encoder, black_box(&events)));
            samples[i + 1].push(ns);
            sizes[i + 1] = bytes;
        }
        let (ns, ()) = per_line(count, || drop(black_box(events)));
        samples[5].push(ns);
    }
    println!("syslog pipeline, {count} lines of the loadgen mix, median of {runs} passes (ns per line):");
    let mut total = 0.0;
    for (i, stage) in stages.iter().enumerate() {
        let ns = median(std::mem::take(&mut samples[i]));
        if matches!(*stage, "map" | "file" | "drop") {
            total += ns;
        }
        let size =
            if sizes[i] > 0 { format!("  {:>6.0} bytes/line", sizes[i] as f64 / count as f64) } else { String::new() };
        println!("  {stage:<20} {ns:>9.0} ns{size}");
    }
    println!("  map+file+drop        {total:>9.0} ns");
}
