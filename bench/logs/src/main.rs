//! bench/logs: 1M syslog lines in over TCP, delivered by nocwatch to (1) a local HTTP
//! intake (answering at once, and after 20 ms like a remote intake; with
//! `request.concurrency` 10, the default, and 1, one request at a time) and (2) a TCP
//! line sink, and by rsyslog (imtcp → omfwd) to the same TCP line
//! sink. "Delivery alone" rows time the sink draining a buffer that already holds every
//! line (the destination comes up once the input is taken in). Reports lines/s until the last line is delivered and CPU-seconds per million
//! lines of the relaying process (utime + stime from /proc), medians over runs, and the
//! nocwatch / rsyslog ratio.
//!
//! Usage: logs-bench <nocwatch binary> <work dir> [lines] [runs]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REMOTE_DELAY: Duration = Duration::from_millis(20);

/// The sink's buffer: room for every line (a full buffer blocks the source, loses nothing),
/// and retries soon after a destination that was down comes up.
const DISK_QUEUE: &str = "buffer: {type: disk, max_size: 8GiB, when_full: block}, retry: {initial_backoff: 10ms, max_backoff: 50ms}";
const QUEUE: &str = "buffer: {max_events: 1100000, when_full: block}, retry: {initial_backoff: 10ms, max_backoff: 50ms}";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Counts newline-terminated lines arriving on any connection to `port`.
fn tcp_counter(port: u16, count: Arc<AtomicU64>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::with_capacity(1 << 20, stream);
                let mut buf = Vec::new();
                while reader.read_until(b'\n', &mut buf).map(|n| n > 0).unwrap_or(false) {
                    count.fetch_add(1, Ordering::Relaxed);
                    buf.clear();
                }
            });
        }
    });
}

/// A minimal HTTP/1.1 intake: counts the entries of each gzip JSON array POSTed, answers 202.
/// One thread per connection, so a sender's requests in flight are served in parallel.
/// `delay`: how long each answer waits, standing in for the round trip to a remote intake.
fn http_counter(port: u16, count: Arc<AtomicU64>, delay: Duration) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || serve_http(stream, count, delay));
        }
    });
}

fn serve_http(stream: TcpStream, count: Arc<AtomicU64>, delay: Duration) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    loop {
        let mut length = 0usize;
        let mut gzip = false;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("content-encoding:") && lower.contains("gzip") {
                gzip = true;
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let plain = if gzip {
            let mut out = Vec::new();
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out);
            out
        } else {
            body
        };
        // Checks the JSON and counts the entries without building them: building a
        // `serde_json::Value` per entry cost the intake more CPU than nocwatch's encoding
        // on the shared cores, which made the intake the bottleneck.
        let entries = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&plain).map(|a| a.len());
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        count.fetch_add(entries.unwrap_or(0) as u64, Ordering::Relaxed);
        if writer.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}").is_err() {
            return;
        }
    }
}

fn lines(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 110);
    for i in 0..n {
        let line = match i % 3 {
            0 => format!("<189>{i}: core-sw1: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console by vty0 seq {i}\n"),
            1 => format!("<14>1 2026-11-25T08:26:51.179Z fw01 RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.39 reason=\"TCP FIN\" source-address=\"10.0.0.1\" source-port=\"{i}\"] session closed\n"),
            _ => format!("<34>Nov 25 08:14:15 host{} su: 'su root' failed for operator seq {i}\n", i % 50),
        };
        out.extend_from_slice(line.as_bytes());
    }
    out
}

struct Run {
    lines_per_second: f64,
    cpu_per_million: f64,
}

/// Starts `peer`, sends `payload` over TCP to `input`, waits until `count` reaches `n`.
///
/// With `late_destination`, delivery alone is measured: the destination is not listening
/// while the peer takes in the whole payload (its sink retries, the buffer fills); once the
/// peer's CPU use settles, `late_destination` starts it, and the time and CPU are counted
/// from then to the last line: the sink draining its buffer, with nothing else to do.
fn run(
    mut peer: Child,
    input: u16,
    payload: &[u8],
    n: u64,
    count: &AtomicU64,
    late_destination: Option<Box<dyn FnOnce()>>,
) -> Option<Run> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", input)) {
            break stream;
        }
        if Instant::now() > deadline {
            let _ = peer.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    count.store(0, Ordering::SeqCst);
    let cpu_before = cpu_seconds(peer.id());
    let started = Instant::now();
    stream.write_all(payload).unwrap();
    drop(stream);
    let (started, cpu_before) = match late_destination {
        None => (started, cpu_before),
        Some(start_destination) => {
            // Taken in: the CPU use of the last half second is the sink's retrying alone.
            // Twice in a row, so a peer starved of CPU by other load is not taken as done.
            let (mut last, mut settled) = (cpu_seconds(peer.id()), 0);
            while settled < 2 {
                std::thread::sleep(Duration::from_millis(500));
                let now = cpu_seconds(peer.id());
                settled = if now - last < 0.05 { settled + 1 } else { 0 };
                last = now;
            }
            count.store(0, Ordering::SeqCst);
            let cpu_before = cpu_seconds(peer.id());
            let started = Instant::now();
            start_destination();
            (started, cpu_before)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while count.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(peer.id()) - cpu_before;
    let delivered = count.load(Ordering::Relaxed);
    let _ = peer.kill();
    let _ = peer.wait();
    if delivered < n {
        eprintln!("  only {delivered} of {n} delivered");
        return None;
    }
    Some(Run { lines_per_second: n as f64 / elapsed, cpu_per_million: cpu / (n as f64 / 1e6) })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nocwatch = args.get(1).expect("usage: logs-bench <nocwatch> <work dir> [lines] [runs]").clone();
    let work = std::path::PathBuf::from(args.get(2).expect("work dir"));
    let n: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(3);
    std::fs::create_dir_all(&work).unwrap();
    let payload = lines(n);
    let (tcp_sink, http_sink) = (free_port(), free_port());
    let (tcp_count, http_count) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    tcp_counter(tcp_sink, tcp_count.clone());
    http_counter(http_sink, http_count.clone(), Duration::ZERO);
    // Datadog's intake is tens of ms away: the same intake answering after 20 ms.
    let remote_sink = free_port();
    http_counter(remote_sink, http_count.clone(), REMOTE_DELAY);

    let mut results: Vec<(&str, Vec<Run>)> = Vec::new();
    let paths = [
        ("nocwatch → HTTP intake", &http_count),
        ("nocwatch → HTTP intake +20 ms", &http_count),
        // One request at a time: what the HTTP sink did before requests in flight.
        ("nocwatch → HTTP intake +20 ms, request.concurrency 1", &http_count),
        // Delivery alone: the buffer holds every line before the destination comes up.
        ("nocwatch → HTTP intake +20 ms, delivery alone", &http_count),
        // The same with a disk buffer: every batch written and fsynced, every delivery
        // recorded in the ack file.
        ("nocwatch → HTTP intake +20 ms, disk buffer", &http_count),
        ("nocwatch → TCP sink", &tcp_count),
        ("nocwatch → TCP sink, delivery alone", &tcp_count),
        ("nocwatch → TCP sink, disk buffer", &tcp_count),
        ("rsyslog → TCP sink", &tcp_count),
    ];
    // BENCH_ONLY=text: only the paths whose name contains it.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (name, count) in paths.into_iter().filter(|(name, _)| name.contains(&only)) {
        let mut done = Vec::new();
        for attempt in 0..runs {
            let input = free_port();
            let alone = name.contains("delivery alone");
            // A destination of its own, not listening until the buffer is full.
            let late_port = free_port();
            let peer = if name.starts_with("rsyslog") {
                let conf = work.join("rsyslog.conf");
                std::fs::write(&conf, format!(
                    "global(workDirectory=\"{w}\" maxMessageSize=\"64k\")\nmain_queue(queue.size=\"100000\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{input}\")\naction(type=\"omfwd\" target=\"127.0.0.1\" port=\"{tcp_sink}\" protocol=\"tcp\" template=\"RSYSLOG_SyslogProtocol23Format\" queue.type=\"LinkedList\" queue.size=\"100000\")\n",
                    w = work.display())).unwrap();
                Command::new("rsyslogd").args(["-n", "-f"]).arg(&conf).arg("-i").arg(work.join("rsyslog.pid"))
                    .stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
            } else {
                let queue = if name.contains("disk buffer") { DISK_QUEUE } else { QUEUE };
                let sink = if name.contains("HTTP") {
                    let concurrency = if name.contains("concurrency 1") { 1 } else { 10 };
                    let port = if alone { late_port } else if name.contains("+20 ms") { remote_sink } else { http_sink };
                    format!("  out: {{type: datadog_logs, api_key: bench, endpoint: 'http://127.0.0.1:{port}', request: {{concurrency: {concurrency}}}, {queue}}}")
                } else {
                    let port = if alone { late_port } else { tcp_sink };
                    format!("  out: {{type: syslog, mode: tcp, framing: newline, address: '127.0.0.1:{port}', {queue}}}")
                };
                let conf = work.join("nocwatch.yaml");
                let data_dir = work.join(format!("data-{attempt}-{}", free_port()));
                std::fs::write(&conf, format!(
                    "agent: {{data_dir: '{}'}}\nadmin: {{enabled: false}}\nshutdown: {{drain_period: 0s}}\nsources:\n  tcp: {{type: syslog, mode: tcp, address: '127.0.0.1:{input}'}}\nsinks:\n{sink}\n", data_dir.display())).unwrap();
                Command::new(&nocwatch).args(["run", "--config"]).arg(&conf).env("RUST_LOG", "warn")
                    .stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
            };
            let late: Option<Box<dyn FnOnce()>> = match (alone, name.contains("HTTP")) {
                (false, _) => None,
                (true, true) => {
                    let count = http_count.clone();
                    Some(Box::new(move || http_counter(late_port, count, REMOTE_DELAY)))
                }
                (true, false) => {
                    let count = tcp_count.clone();
                    Some(Box::new(move || tcp_counter(late_port, count)))
                }
            };
            match run(peer, input, &payload, n as u64, count, late) {
                Some(result) => {
                    eprintln!("{name}, run {}: {:.0} lines/s, {:.2} CPU-s per million", attempt + 1, result.lines_per_second, result.cpu_per_million);
                    done.push(result);
                }
                None => eprintln!("{name}, run {}: failed", attempt + 1),
            }
        }
        results.push((name, done));
    }
    println!("| path | lines/s (median) | CPU-s per 1M lines (median) | runs |");
    println!("|---|---:|---:|---:|");
    let mut medians = Vec::new();
    for (name, done) in &results {
        let rate = median(done.iter().map(|r| r.lines_per_second).collect());
        let cpu = median(done.iter().map(|r| r.cpu_per_million).collect());
        println!("| {name} | {rate:.0} | {cpu:.2} | {} |", done.len());
        medians.push((rate, cpu));
    }
    let by_name = |wanted: &str| results.iter().position(|(name, _)| *name == wanted).and_then(|i| medians.get(i));
    if let (Some(ours), Some(theirs)) = (by_name("nocwatch → TCP sink"), by_name("rsyslog → TCP sink")) {
        println!("\nTCP sink, nocwatch / rsyslog: throughput {:.2}x, CPU per line {:.2}x", ours.0 / theirs.0, ours.1 / theirs.1);
    }
}
