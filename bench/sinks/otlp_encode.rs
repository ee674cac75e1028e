//! Micro-benchmark of the metric sinks (issue 9): CPU-seconds to flush 100,000 metric
//! series, through each sink's own encoder, the way its delivery loop calls it (a prefix
//! at a time, one request per call, until the batch is consumed). OTLP:
//!
//! - `protobuf`: events → `ExportMetricsServiceRequest` bytes;
//! - `protobuf+gzip`: the same, gzip-compressed (the sink's default);
//! - `protobuf+gzip+POST`: the same, then each request POSTed with the agent's HTTP client
//!   to a receiver on loopback that decodes nothing and answers 200.
//!
//! CPU time is the benchmark thread's own (`/proc/thread-self/schedstat`, nanoseconds); in the
//! POST case the client runs on a current-thread runtime on that thread, so its HTTP work is
//! counted and the receiver's (another thread) is not. Median of `RUNS` flushes (default
//! 11, at least 5). Run with
//! `CARGO_TARGET_DIR=/tmp/target-otlp cargo bench -p nocwatch --bench otlp_encode`;
//! under `cargo test --all-targets` it runs one small flush as a smoke test.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use nocwatch::event::{Event, Metric, MetricType, Tags};
use nocwatch::net::tls::TlsClientConfig;
use nocwatch::sinks::otlp::OtlpEncoder;
use nocwatch::sinks::util::http;
use nocwatch::sinks::util::request::{Encoder, Request};

/// Series shaped like the SNMP integration's: per device, interfaces × per-interface
/// metrics plus device metrics, with its usual tags.
fn series(n: usize) -> Vec<Event> {
    const INTERFACE_METRICS: [(&str, MetricType); 8] = [
        ("snmp.ifHCInOctets", MetricType::Rate),
        ("snmp.ifHCOutOctets", MetricType::Rate),
        ("snmp.ifBandwidthInUsage.rate", MetricType::Rate),
        ("snmp.ifBandwidthOutUsage.rate", MetricType::Rate),
        ("snmp.ifInErrors", MetricType::Count),
        ("snmp.ifOutDiscards", MetricType::Count),
        ("snmp.ifOperStatus", MetricType::Gauge),
        ("snmp.ifSpeed", MetricType::Gauge),
    ];
    let timestamp = jiff::Timestamp::from_second(1_795_593_600).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let per_device = 48 * INTERFACE_METRICS.len() + 2;
    (0..n)
        .map(|i| {
            let device = i / per_device;
            let k = i % per_device;
            let host = format!("core-sw{device:04}.dc1.example.net");
            let mut tags: Tags = [
                ("snmp_device".to_owned(), format!("10.{}.{}.{}", device / 65536, (device / 256) % 256, device % 256)),
                ("snmp_profile".to_owned(), "cisco-catalyst".to_owned()),
                ("device_namespace".to_owned(), "default".to_owned()),
                ("device_vendor".to_owned(), "cisco".to_owned()),
            ]
            .into();
            let (name, metric_type) = if k < 48 * INTERFACE_METRICS.len() {
                let port = k / INTERFACE_METRICS.len();
                tags.insert("interface".to_owned(), format!("GigabitEthernet1/0/{}", port + 1));
                tags.insert("interface_alias".to_owned(), format!("uplink to rack {port}"));
                INTERFACE_METRICS[k % INTERFACE_METRICS.len()]
            } else if k == per_device - 2 {
                ("snmp.cpu.usage", MetricType::Gauge)
            } else {
                ("snmp.memory.usage", MetricType::Gauge)
            };
            Event::Metric(Metric {
                name: name.to_owned(),
                metric_type,
                value: (i % 1000) as f64 * 1.5,
                timestamp,
                interval_secs: Some(60),
                host: Some(host),
                tags,
            })
        })
        .collect()
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
    {
        return Duration::from_nanos(ns);
    }
    // utime + stime in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// One flush as the sink's delivery loop does it: encode a prefix, hand the request on,
/// until every event is consumed.
fn flush(encoder: &mut impl Encoder, events: &[Event], mut send: impl FnMut(Request)) -> (usize, usize) {
    let (mut requests, mut bytes) = (0, 0);
    let mut slice = events;
    while !slice.is_empty() {
        let encoded = encoder.encode(slice);
        if let Some(request) = encoded.request {
            requests += 1;
            bytes += request.body.len();
            send(request);
        }
        slice = &slice[encoded.consumed.clamp(1, slice.len())..];
    }
    (requests, bytes)
}

struct Sample {
    cpu: Vec<f64>,
    wall: Vec<f64>,
    requests: usize,
    bytes: usize,
}

fn report(name: &str, n: usize, mut s: Sample) {
    s.cpu.sort_by(f64::total_cmp);
    s.wall.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "{name:<26} {n} series: {:.3} CPU-s per flush (median of {}, min {:.3}, max {:.3}), wall {:.3} s, {} requests, {:.1} MB, {:.0} series/CPU-s",
        median(&s.cpu),
        s.cpu.len(),
        s.cpu[0],
        s.cpu[s.cpu.len() - 1],
        median(&s.wall),
        s.requests,
        s.bytes as f64 / 1e6,
        n as f64 / median(&s.cpu),
    );
}

fn measure(runs: usize, mut run: impl FnMut() -> (usize, usize)) -> Sample {
    let mut sample = Sample { cpu: Vec::new(), wall: Vec::new(), requests: 0, bytes: 0 };
    run(); // warm-up: allocator, page faults, connection set-up
    for _ in 0..runs {
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let (requests, bytes) = run();
        sample.cpu.push((thread_cpu() - cpu).as_secs_f64());
        sample.wall.push(wall.elapsed().as_secs_f64());
        (sample.requests, sample.bytes) = (requests, bytes);
    }
    sample
}

/// A receiver that reads every body and answers 200 with an empty export response.
fn start_receiver() -> std::net::SocketAddr {
    use axum::routing::post;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new().route(
                "/v1/metrics",
                post(|body: axum::body::Bytes| async move {
                    black_box(body.len());
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                }),
            );
            let _ = axum::serve(listener, app).await;
        });
    });
    address
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 100_000 } else { 1_000 };
    let runs = if full { std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(11).max(5) } else { 1 };
    let events = series(n);
    let attributes: BTreeMap<String, String> = [("deployment.environment.name".to_owned(), "prd".to_owned())].into();

    let mut plain = OtlpEncoder::new(&attributes, false);
    report("otlp/protobuf", n, measure(runs, || flush(&mut plain, &events, |r| drop(black_box(r)))));

    let mut gzip = OtlpEncoder::new(&attributes, true);
    report("otlp/protobuf+gzip", n, measure(runs, || flush(&mut gzip, &events, |r| drop(black_box(r)))));

    let mut datadog = nocwatch::sinks::datadog::metrics::series_encoder(true);
    report("datadog/series+gzip", n, measure(runs, || flush(&mut datadog, &events, |r| drop(black_box(r)))));

    let sample = measure(runs, || {
        let mut store = nocwatch::sinks::prometheus::Exposition::new(Duration::from_secs(300), usize::MAX, None);
        for event in &events {
            if let Event::Metric(metric) = event {
                store.update(metric);
            }
        }
        let text = store.render();
        (1, black_box(text).len())
    });
    report("prometheus/update+render", n, sample);

    let address = start_receiver();
    let url = format!("http://{address}/v1/metrics");
    let client = http::client(&TlsClientConfig::default(), Duration::from_secs(30)).expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let sample = measure(runs, || {
        let mut bodies = Vec::new();
        let counts = flush(&mut gzip, &events, |r| bodies.push(r));
        runtime.block_on(async {
            for request in &bodies {
                // As the sink sends it: the signal byte stripped, the rest as the body.
                let response = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "gzip")
                    .body(request.body[1..].to_vec())
                    .send()
                    .await
                    .expect("loopback POST");
                assert!(response.status().is_success());
                black_box(response.bytes().await.expect("answer"));
            }
        });
        counts
    });
    report("otlp/protobuf+gzip+POST", n, sample);
}
