//! Benchmark of the local store (issue 11), through its real write and read paths
//! (`Store::write`, `Store::maintain`, the page's `query` functions):
//!
//! 1. **ingest of metric points**: devices shaped like a Catalyst 48-port access switch
//!    polled with the full profile (48 interfaces × 14 metrics + status, CPU, memory and the
//!    device metrics: 730 points per poll), in batches of 10,000 events (the sink's default),
//!    one transaction each; points/s per poll round, median;
//! 2. **rollup** of one closed hour of those devices, and the bytes per raw point and per
//!    rollup row, hence **disk bytes per device-day**;
//! 3. **ingest of log events**: real Cisco IOS and Junos lines (shared test data), events/s;
//! 4. **device page with 30 days of data for 1,000 devices**: a store holding 1,000 such
//!    devices, each with 30 days of hourly and 8 days of 5-minute history for the series its
//!    page charts (CPU, memory, the traffic of two uplinks), the last two polls of all its
//!    730 series, and logs; then the page's API calls for random devices, timed: the device
//!    with its interface table, its logs, and the CPU, memory and one interface's traffic over
//!    30 days. History is written as hourly points through `Store::write` and rolled up by
//!    `Store::maintain`, so the tables are the ones a running store has.
//!
//! No peer runs side by side: what the store replaces for these users is Datadog's SaaS
//! backend. Run with `cargo bench -p nocwatch --bench store` (files under
//! `$STORE_BENCH_DIR`, default `/tmp/store-bench`, removed at the end); under
//! `cargo test --all-targets` it runs a few devices as a smoke test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nocwatch::event::{Event, LogEvent, Metric, MetricType, Status, Tags};
use nocwatch::sinks::local_store::query::{self, LogQuery, Reader, SeriesQuery};
use nocwatch::sinks::local_store::{Retention, Store};

const INTERFACES: u32 = 48;
const INTERFACE_METRICS: [(&str, MetricType); 14] = [
    ("snmp.ifHCInOctets", MetricType::Rate),
    ("snmp.ifHCOutOctets", MetricType::Rate),
    ("snmp.ifHCInUcastPkts", MetricType::Rate),
    ("snmp.ifHCOutUcastPkts", MetricType::Rate),
    ("snmp.ifHCInMulticastPkts", MetricType::Rate),
    ("snmp.ifHCOutMulticastPkts", MetricType::Rate),
    ("snmp.ifHCInBroadcastPkts", MetricType::Rate),
    ("snmp.ifHCOutBroadcastPkts", MetricType::Rate),
    ("snmp.ifInErrors", MetricType::Rate),
    ("snmp.ifOutErrors", MetricType::Rate),
    ("snmp.ifInDiscards", MetricType::Rate),
    ("snmp.ifOutDiscards", MetricType::Rate),
    ("snmp.ifBandwidthInUsage.rate", MetricType::Gauge),
    ("snmp.ifBandwidthOutUsage.rate", MetricType::Gauge),
];
/// A whole hour (2026-11-30T00:00:00Z).
const T0: i64 = 1_795_996_800;

fn device_tags(device: u32) -> Tags {
    let address = format!("10.{}.{}.{}", device / 65536, (device / 256) % 256, device % 256);
    [
        ("snmp_device", address.as_str()),
        ("device_namespace", "default"),
        ("snmp_profile", "cisco-catalyst"),
        ("device_vendor", "cisco"),
        ("snmp_host", &format!("access-sw{device:04}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn metric(name: &str, metric_type: MetricType, ts: i64, value: f64, tags: Tags) -> Event {
    Event::Metric(Metric {
        name: name.to_owned(),
        metric_type,
        value,
        timestamp: jiff::Timestamp::from_second(ts).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        interval_secs: (metric_type != MetricType::Gauge).then_some(60),
        host: None,
        tags,
    })
}

/// One full poll of one device at `ts`: 730 points.
fn poll(device: u32, ts: i64, only_charted: bool) -> Vec<Event> {
    let base = device_tags(device);
    let mut events = Vec::with_capacity(730);
    let wave = ((ts / 60) % 1440) as f64;
    for index in 1..=INTERFACES {
        if only_charted && index > 2 {
            break;
        }
        let mut tags = base.clone();
        tags.insert("interface".into(), format!("Gi1/0/{index}"));
        tags.insert("interface_index".into(), index.to_string());
        tags.insert("interface_alias".into(), format!("port {index}"));
        for (i, (name, metric_type)) in INTERFACE_METRICS.iter().enumerate() {
            if only_charted && i > 1 {
                break;
            }
            let value = 1e5 * f64::from(index) + 1e3 * (wave / 60.0).sin().abs() + i as f64;
            events.push(metric(name, *metric_type, ts, value, tags.clone()));
        }
        if !only_charted {
            let mut status = tags.clone();
            for (k, v) in [("status", "up"), ("admin_status", "up"), ("oper_status", "up")] {
                status.insert(k.into(), v.into());
            }
            events.push(metric("snmp.interface.status", MetricType::Gauge, ts, 1.0, status));
        }
    }
    let mut cpu = base.clone();
    cpu.insert("cpu".into(), "1".into());
    events.push(metric("snmp.cpu.usage", MetricType::Gauge, ts, 20.0 + (wave / 90.0).sin() * 10.0, cpu));
    events.push(metric("snmp.memory.usage", MetricType::Gauge, ts, 40.0 + (wave / 200.0).cos() * 5.0, base.clone()));
    if !only_charted {
        for (name, value) in [
            ("snmp.device.reachable", 1.0),
            ("snmp.device.unreachable", 0.0),
            ("snmp.devices_monitored", 1.0),
            ("datadog.snmp.check_duration", 0.8),
            ("datadog.snmp.submitted_metrics", 730.0),
            ("snmp.sysUpTimeInstance", 1e7),
            ("snmp.memory.used", 4e8),
            ("snmp.memory.free", 6e8),
        ] {
            events.push(metric(name, MetricType::Gauge, ts, value, base.clone()));
        }
    }
    events
}

fn retention(raw: Duration) -> Retention {
    Retention {
        raw,
        rollup_5m: Duration::from_secs(8 * 86_400).max(raw),
        rollup_1h: Duration::from_secs(90 * 86_400),
        logs: Duration::from_secs(30 * 86_400),
        max_size: 1 << 40,
    }
}

/// Runs maintenance steps until no work is left; returns the total and the longest step
/// (how long the writer's lock was held at most), in seconds.
fn maintain_all(store: &mut Store, now: i64) -> (f64, f64) {
    let (mut total, mut longest) = (0.0, 0.0f64);
    loop {
        let started = Instant::now();
        let done = store.maintain(now).expect("maintain");
        let secs = started.elapsed().as_secs_f64();
        total += secs;
        longest = longest.max(secs);
        if !done.more {
            return (total, longest);
        }
    }
}

/// Writes `events` in batches of `batch`, returns the seconds it took.
fn write_all(store: &mut Store, events: &[Event], batch: usize, now: i64) -> f64 {
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        store.write(chunk, now).expect("write");
    }
    started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
    path
}

fn syslog_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/syslog/collected");
    let mut lines = Vec::new();
    for file in ["cisco_ios.txt", "juniper_junos.txt"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            lines.extend(text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(str::to_owned));
        }
    }
    if lines.is_empty() {
        lines.push("<189>29: *Apr 29 13:58:40.411: %LINK-3-UPDOWN: Interface Gi1/0/1, changed state to down".into());
    }
    lines
}

fn log_event(i: usize, lines: &[String], ts_ms: i64, devices: u32) -> Event {
    let device = i as u32 % devices.max(1);
    let mut attributes = serde_json::Map::new();
    attributes
        .insert("peer".into(), serde_json::json!({"ip": format!("10.0.{}.{}", (device / 256) % 256, device % 256)}));
    attributes.insert("syslog".into(), serde_json::json!({"facility": "local7", "severity": "notice"}));
    Event::Log(LogEvent {
        timestamp: jiff::Timestamp::from_millisecond(ts_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        host: Some(format!("access-sw{device:04}")),
        source: "syslog".into(),
        service: None,
        status: Status::from_syslog_severity((i % 8) as u8),
        message: lines[i % lines.len()].clone(),
        tags: Tags::new(),
        attributes: attributes.into(),
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = PathBuf::from(std::env::var("STORE_BENCH_DIR").unwrap_or_else(|_| "/tmp/store-bench".into()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let (ingest_devices, rounds, page_devices, log_events) =
        if full { (200, 30, 1000, 200_000) } else { (3, 3, 5, 1000) };

    // 1 + 2: ingest one hour of polls, then roll it up.
    let path = fresh(&dir, "ingest.sqlite");
    let mut store = Store::open(&path, retention(Duration::from_secs(6 * 3600))).expect("open");
    let mut round_rates = Vec::new();
    let mut points = 0usize;
    let mut after_first_round = 0u64;
    for round in 0..rounds {
        let ts = T0 + round as i64 * 60;
        let events: Vec<Event> = (0..ingest_devices).flat_map(|d| poll(d, ts, false)).collect();
        points += events.len();
        let secs = write_all(&mut store, &events, 10_000, ts + 30);
        // The first round also creates every series.
        if round > 0 || rounds == 1 {
            round_rates.push(events.len() as f64 / secs);
        }
        if round == 0 {
            after_first_round = store.used_bytes().expect("size");
        }
    }
    let points_per_poll = poll(0, T0, false).len();
    let raw_bytes = store.used_bytes().expect("size");
    let (rollup_secs, longest_step) = maintain_all(&mut store, T0 + 3600 + 180);
    let with_rollups = store.used_bytes().expect("size");
    // Drop the raw hour: what stays is the rollups (and series, devices).
    maintain_all(&mut store, T0 + 3600 + 7 * 3600);
    let rollup_bytes = store.used_bytes().expect("size");
    let series = (ingest_devices as usize * points_per_poll) as f64;
    let rows_5m = series * (rounds as f64 / 5.0).ceil();
    let rows_1h = series;
    // Rounds 2.. only: the first round also wrote every series' own row (a one-time cost).
    let round_points = (points as f64) * (rounds as f64 - 1.0).max(1.0) / rounds as f64;
    let bytes_per_point = raw_bytes.saturating_sub(after_first_round) as f64 / round_points;
    let bytes_per_series = after_first_round as f64 / series - bytes_per_point;
    let bytes_per_rollup_row = (with_rollups.saturating_sub(raw_bytes)) as f64 / (rows_5m + rows_1h);
    drop(store);

    let ingest_rate = median(&mut round_rates);
    let needed = 1000.0 * points_per_poll as f64 / 60.0;
    let per_device_day_raw = points_per_poll as f64 * 1440.0 * bytes_per_point;
    let per_device_day_5m = points_per_poll as f64 * 288.0 * bytes_per_rollup_row;
    let per_device_day_1h = points_per_poll as f64 * 24.0 * bytes_per_rollup_row;
    // Steady state with the defaults: 6 h raw, 8 d of 5-minute, 90 d of hourly rollups.
    let steady = per_device_day_raw / 4.0 + per_device_day_5m * 8.0 + per_device_day_1h * 90.0;
    println!("== ingest: {ingest_devices} devices x {points_per_poll} points/poll, {rounds} polls, batches of 10,000");
    println!("points/s (median of rounds 2..): {ingest_rate:.0}");
    println!("1,000 devices every 60 s need {needed:.0} points/s: {:.1} % of one core", needed / ingest_rate * 100.0);
    println!(
        "rollup of one hour ({} raw points of {ingest_devices} devices): {rollup_secs:.2} s in steps of at most {longest_step:.2} s (the writer waits that long at most); for 1,000 devices x 60 polls: ~{:.0} s per hour",
        points,
        rollup_secs * (1000.0 / f64::from(ingest_devices)) * (60.0 / rounds as f64)
    );
    println!(
        "bytes per raw point: {bytes_per_point:.1}; per series (one-time: key, tags, indexes): {bytes_per_series:.0}; per rollup row: {bytes_per_rollup_row:.1} (after raw dropped: {rollup_bytes} bytes in use)"
    );
    println!(
        "disk per device-day: raw {:.1} MB (kept 6 h: {:.1} MB), 5-min rollups {:.2} MB, hourly {:.3} MB",
        per_device_day_raw / 1e6,
        per_device_day_raw / 4e6,
        per_device_day_5m / 1e6,
        per_device_day_1h / 1e6
    );
    println!(
        "steady state per device with the default retention (6 h raw, 8 d 5-min, 90 d hourly): {:.0} MB",
        steady / 1e6
    );

    // 3: log events.
    let path = fresh(&dir, "logs.sqlite");
    let mut store = Store::open(&path, retention(Duration::from_secs(6 * 3600))).expect("open");
    let lines = syslog_lines();
    let events: Vec<Event> = (0..log_events).map(|i| log_event(i, &lines, T0 * 1000 + i as i64, 1000)).collect();
    let mut log_rates = Vec::new();
    for chunk in events.chunks(events.len() / 4) {
        let secs = write_all(&mut store, chunk, 10_000, T0 + 60);
        log_rates.push(chunk.len() as f64 / secs);
    }
    let log_bytes = store.used_bytes().expect("size") as f64 / log_events as f64;
    let reader = Reader::new(&path);
    let mut search_ms = Vec::new();
    for word in ["UPDOWN", "changed state", "RT_FLOW_SESSION_CREATE", "configured from console"] {
        let started = Instant::now();
        let found = reader
            .with(|c| query::logs(c, &LogQuery { text: Some(word.into()), limit: 200, ..Default::default() }))
            .expect("search");
        search_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(found);
    }
    drop(store);
    println!("== logs: {log_events} events ({} distinct real lines)", lines.len());
    println!(
        "events/s (median of 4 quarters): {:.0}; bytes per event (with the full-text index): {log_bytes:.0}",
        median(&mut log_rates)
    );
    println!("full-text search, newest 200 of {log_events}: median {:.1} ms", median(&mut search_ms));

    // 4: the device page with 30 days of data for 1,000 devices.
    let path = fresh(&dir, "page.sqlite");
    let now = T0 + 30 * 86_400;
    let mut store = Store::open(&path, retention(Duration::from_secs(31 * 86_400))).expect("open");
    let started = Instant::now();
    for hour in 0..30 * 24 {
        let ts = T0 + hour * 3600;
        let events: Vec<Event> = (0..page_devices).flat_map(|d| poll(d, ts, true)).collect();
        write_all(&mut store, &events, 10_000, now);
    }
    maintain_all(&mut store, now);
    drop(store);
    // Reopened with the defaults: the raw history past 6 h is dropped, rollups stay.
    let mut store = Store::open(&path, retention(Duration::from_secs(6 * 3600))).expect("open");
    for minutes_ago in [2, 1] {
        let ts = now - minutes_ago * 60;
        let events: Vec<Event> = (0..page_devices).flat_map(|d| poll(d, ts, false)).collect();
        write_all(&mut store, &events, 10_000, now);
    }
    let logs: Vec<Event> = (0..20 * page_devices as usize)
        .map(|i| log_event(i, &lines, (now - 3600) * 1000 + i as i64, page_devices))
        .collect();
    write_all(&mut store, &logs, 10_000, now);
    maintain_all(&mut store, now);
    let build_secs = started.elapsed().as_secs_f64();
    let page_bytes = store.used_bytes().expect("size");
    drop(store);
    let reader = Reader::new(&path);
    let mut page_ms = Vec::new();
    let mut chart_ms = Vec::new();
    let samples = if full { 101 } else { 5 };
    for sample in 0..samples {
        let device = (sample as u32 * 7919) % page_devices;
        let id = format!("default:{}", device_tags(device)["snmp_device"]);
        let started = Instant::now();
        let (_, interfaces) = reader.with(|c| query::device(c, &id)).expect("device").expect("found");
        assert_eq!(interfaces.len(), INTERFACES as usize);
        let logs = reader
            .with(|c| query::logs(c, &LogQuery { device: Some(id.clone()), limit: 50, ..Default::default() }))
            .expect("logs");
        std::hint::black_box(logs);
        let chart = |names: &[&str], interface: Option<i64>| {
            reader
                .with(|c| {
                    query::series(
                        c,
                        &SeriesQuery {
                            device: Some(id.clone()),
                            names: names.iter().map(|n| n.to_string()).collect(),
                            interface_index: interface,
                            from: now - 30 * 86_400,
                            to: now,
                        },
                    )
                })
                .expect("series")
        };
        let charts_started = Instant::now();
        let traffic = chart(&["snmp.ifHCInOctets", "snmp.ifHCOutOctets"], Some(1));
        chart_ms.push(charts_started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(traffic.resolution, 3600);
        assert!(traffic.series.len() == 2 && traffic.series[0].points.len() >= 700, "30 days of hourly points");
        std::hint::black_box(chart(&["snmp.cpu.usage"], None));
        std::hint::black_box(chart(&["snmp.memory.usage"], None));
        page_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "== device page, {page_devices} devices with 30 days of history ({build_secs:.0} s to build, {:.0} MB in use)",
        page_bytes as f64 / 1e6
    );
    println!(
        "whole page (device + 48 interfaces with latest values, 50 logs, CPU/memory/traffic over 30 d): median {:.1} ms, p95 {:.1} ms ({samples} devices)",
        median(&mut page_ms),
        percentile(&mut page_ms, 0.95)
    );
    println!("one interface's traffic over 30 days (2 x 720 hourly points): median {:.1} ms", median(&mut chart_ms));
    let _ = std::fs::remove_dir_all(&dir);
}
