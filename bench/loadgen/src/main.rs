//! Load generator and output counter for `bench/syslog`.
//!
//! ```text
//! loadgen udp  --target 127.0.0.1:5514 --count 200000 --rate 80000 [--sockets 16] [--threads 1] [--settle FILE]
//! loadgen packets --target 127.0.0.1:9162 --file TRAP.bin --count 200000 --rate 80000 [--sockets 16] [--settle FILE]
//! loadgen tcp  --target 127.0.0.1:5514 --count 1000000 [--rate 0] [--framing lf|octet] [--settle FILE]
//! loadgen ready --proto udp|tcp --target ADDR --file FILE [--timeout-ms 20000] [--probe-file DATAGRAM]
//! loadgen count FILE --expect N
//! loadgen selftest [--count 1000000] [--sockets 16]
//! loadgen sample [--count 10]
//! loadgen freeport
//! ```
//!
//! Every generated line carries `nwseq=<n>` (0 ≤ n < count) in its message text, so the
//! output of any receiver can be counted exactly: `count` reports how many distinct
//! sequence numbers arrived. The mix (by `n % 5`): Cisco IOS `%SYS-5-CONFIG_I` (sequence
//! prefix, `*` clock, milliseconds), Cisco IOS-XE `%LINK-3-UPDOWN` (two sequence numbers,
//! time-zone name), Junos SRX `RT_FLOW_SESSION_CREATE` in RFC 5424 structured-data mode,
//! plain RFC 3164 (sshd), and Junos `RT_FLOW_SESSION_CLOSE` in BSD form.
//!
//! `packets` sends the bytes of one file (a captured datagram, e.g. an SNMP trap from
//! `../shared/testdata/traps`) `count` times: the receiver's output is then counted by
//! lines (one per trap), not by `nwseq`.
//!
//! Pacing: the sender keeps `sent ≈ rate × elapsed`, sending in bursts of at most 64 lines
//! and sleeping briefly when ahead. It prints the achieved rate; `--rate 0` sends as fast
//! as possible. With `--settle FILE` it then waits until FILE has not grown for
//! `--quiet-ms` (default 2000) and reports `drain_s`: seconds from the first line sent to
//! the last growth of FILE (the receiver's wall time to take everything in).

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod mix;

use mix::line;

const BURST: u64 = 64;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: loadgen udp|tcp|ready|count|selftest|sample ... (see src/main.rs)");
        return ExitCode::from(2);
    }
    let command = args.remove(0);
    let opts = match Opts::parse(args) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command.as_str() {
        "udp" => send_udp(&opts),
        "packets" => send_packets(&opts),
        "tcp" => send_tcp(&opts),
        "ready" => ready(&opts),
        "count" => count(&opts),
        "selftest" => selftest(&opts),
        "sample" => sample(&opts),
        "freeport" => freeport(),
        other => Err(format!("unknown command `{other}`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Opts {
    named: HashMap<String, String>,
    positional: Vec<String>,
}

impl Opts {
    fn parse(args: Vec<String>) -> Result<Opts, String> {
        let mut named = HashMap::new();
        let mut positional = Vec::new();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                named.insert(name.to_owned(), value);
            } else {
                positional.push(arg);
            }
        }
        Ok(Opts { named, positional })
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }

    fn req(&self, name: &str) -> Result<&str, String> {
        self.str(name).ok_or_else(|| format!("--{name} is required"))
    }

    fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.str(name) {
            None => Ok(default),
            Some(v) => v.replace('_', "").parse().map_err(|_| format!("--{name}: not a number: {v}")),
        }
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        let target = self.req("target")?;
        target.parse().map_err(|_| format!("--target: not an IP:port: {target}"))
    }
}

/// Keeps `sent ≈ rate × elapsed`: returns how many lines may go now (at most BURST),
/// sleeping first if the sender is ahead of schedule. `rate == 0`: no pacing.
struct Pacer {
    rate: u64,
    start: Instant,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer { rate, start: Instant::now() }
    }

    fn allowance(&self, sent: u64, total: u64) -> u64 {
        let left = total - sent;
        if self.rate == 0 {
            return left.min(BURST);
        }
        loop {
            let due = (self.start.elapsed().as_secs_f64() * self.rate as f64) as u64;
            if due > sent {
                return (due - sent).min(BURST).min(left);
            }
            // Ahead of schedule: sleep until the next line is due (at least ~50 µs).
            let next = (sent + 1) as f64 / self.rate as f64;
            let wait = next - self.start.elapsed().as_secs_f64();
            if wait > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(wait.max(50e-6)));
            }
        }
    }
}

fn report_send(proto: &str, count: u64, target_rate: u64, elapsed: Duration, errors: u64) {
    let secs = elapsed.as_secs_f64();
    println!(
        "proto={proto} sent={count} target_rate={target_rate} achieved_rate={:.0} send_s={secs:.3} send_errors={errors}",
        count as f64 / secs
    );
}

/// `--threads T` (default 1) splits the sockets over T sending threads, each paced at its
/// share of the rate: one thread tops out at what one core can send.
fn send_udp(opts: &Opts) -> Result<(), String> {
    let target = opts.addr()?;
    let count = opts.num("count", 200_000)?;
    let rate = opts.num("rate", 0)?;
    let n_sockets = opts.num("sockets", 16)?.max(1) as usize;
    let threads = (opts.num("threads", 1)?.max(1) as usize).min(n_sockets);
    let first = opts.num("start", 0)?;
    let sockets = udp_sockets(target, n_sockets)?;
    let start = Instant::now();
    let errors: u64 = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..threads)
            .map(|t| {
                let sockets = &sockets;
                scope.spawn(move || {
                    // Line n goes out of socket n % sockets (each socket one "device", its
                    // own source port); this thread owns the sockets s with s % threads == t.
                    let mine = |n: u64| ((n as usize) % n_sockets) % threads == t;
                    let total = (first..first + count).filter(|&n| mine(n)).count() as u64;
                    let pacer = Pacer::new(rate * total / count.max(1));
                    let mut lines = (first..first + count).filter(|&n| mine(n));
                    let mut buf = String::with_capacity(2048);
                    let (mut sent, mut errors) = (0u64, 0u64);
                    while sent < total {
                        for n in lines.by_ref().take(pacer.allowance(sent, total) as usize) {
                            buf.clear();
                            line(n, &mut buf);
                            if sockets[(n as usize) % n_sockets].send(buf.as_bytes()).is_err() {
                                errors += 1;
                            }
                            sent += 1;
                        }
                    }
                    errors
                })
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap_or(0)).sum()
    });
    report_send("udp", count, rate, start.elapsed(), errors);
    settle_if_asked(opts, start)
}

/// The same datagram (a file's bytes) `count` times at `rate`, round robin over `sockets`
/// source ports.
fn send_packets(opts: &Opts) -> Result<(), String> {
    let target = opts.addr()?;
    let file = opts.req("file")?;
    let datagram = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let count = opts.num("count", 200_000)?;
    let rate = opts.num("rate", 0)?;
    let n_sockets = opts.num("sockets", 16)?.max(1) as usize;
    let sockets = udp_sockets(target, n_sockets)?;
    let mut errors = 0u64;
    let pacer = Pacer::new(rate);
    let mut sent = 0u64;
    while sent < count {
        let allowed = pacer.allowance(sent, count);
        for _ in 0..allowed {
            if sockets[(sent as usize) % n_sockets].send(&datagram).is_err() {
                errors += 1;
            }
            sent += 1;
        }
    }
    let elapsed = pacer.start.elapsed();
    report_send("udp", count, rate, elapsed, errors);
    settle_if_asked(opts, pacer.start)
}

fn udp_sockets(target: SocketAddr, n: usize) -> Result<Vec<UdpSocket>, String> {
    let local = if target.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
    (0..n)
        .map(|_| {
            let s = UdpSocket::bind(local).map_err(|e| format!("bind: {e}"))?;
            s.connect(target).map_err(|e| format!("connect {target}: {e}"))?;
            Ok(s)
        })
        .collect()
}

fn send_tcp(opts: &Opts) -> Result<(), String> {
    let target = opts.addr()?;
    let count = opts.num("count", 1_000_000)?;
    let rate = opts.num("rate", 0)?;
    let octet = match opts.str("framing").unwrap_or("lf") {
        "lf" => false,
        "octet" => true,
        other => return Err(format!("--framing: `lf` or `octet`, not `{other}`")),
    };
    let stream = TcpStream::connect(target).map_err(|e| format!("connect {target}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut out = BufWriter::with_capacity(256 * 1024, stream);
    let mut buf = String::with_capacity(2048);
    let pacer = Pacer::new(rate);
    let mut sent = 0u64;
    while sent < count {
        let allowed = pacer.allowance(sent, count);
        for _ in 0..allowed {
            buf.clear();
            line(sent, &mut buf);
            let r = if octet {
                write!(out, "{} ", buf.len()).and_then(|()| out.write_all(buf.as_bytes()))
            } else {
                out.write_all(buf.as_bytes()).and_then(|()| out.write_all(b"\n"))
            };
            r.map_err(|e| format!("write: {e}"))?;
            sent += 1;
        }
        if rate != 0 {
            out.flush().map_err(|e| format!("flush: {e}"))?;
        }
    }
    let stream = out.into_inner().map_err(|e| format!("flush: {}", e.error()))?;
    let elapsed = pacer.start.elapsed();
    report_send(if octet { "tcp-octet" } else { "tcp-lf" }, count, rate, elapsed, 0);
    let r = settle_if_asked(opts, pacer.start);
    drop(stream);
    r
}

/// With `--settle FILE`: waits until FILE stops growing and prints `drain_s`.
fn settle_if_asked(opts: &Opts, start: Instant) -> Result<(), String> {
    let Some(file) = opts.str("settle") else {
        return Ok(());
    };
    let quiet = Duration::from_millis(opts.num("quiet-ms", 2000)?);
    let timeout = Duration::from_millis(opts.num("timeout-ms", 300_000)?);
    let mut last_size = size(file);
    let mut last_growth = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let now = Instant::now();
        let s = size(file);
        if s != last_size {
            last_size = s;
            last_growth = now;
        } else if now - last_growth >= quiet {
            break;
        }
        if now - start > timeout {
            return Err(format!("{file} still growing after {timeout:?}"));
        }
    }
    println!("drain_s={:.3} output_bytes={last_size}", (last_growth - start).as_secs_f64());
    Ok(())
}

fn size(file: &str) -> u64 {
    std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)
}

/// Sends a probe line every 200 ms until FILE is non-empty (the receiver is up and writing).
fn ready(opts: &Opts) -> Result<(), String> {
    let target = opts.addr()?;
    let file = opts.req("file")?;
    let timeout = Duration::from_millis(opts.num("timeout-ms", 20_000)?);
    let default_probe = b"<14>Apr 29 13:58:40 bench probe: nwprobe (not counted)\n".to_vec();
    let probe = match opts.str("probe-file") {
        Some(path) => std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
        None => default_probe,
    };
    let probe = probe.as_slice();
    let start = Instant::now();
    let tcp = opts.req("proto")? == "tcp";
    while start.elapsed() < timeout {
        if tcp {
            if let Ok(mut s) = TcpStream::connect(target) {
                let _ = s.write_all(probe);
            }
        } else if let Ok(s) = UdpSocket::bind("127.0.0.1:0") {
            let _ = s.send_to(probe, target);
        }
        std::thread::sleep(Duration::from_millis(200));
        if size(file) > 0 {
            return Ok(());
        }
    }
    Err(format!("{target}: nothing in {file} after {timeout:?}"))
}

/// Counts the distinct `nwseq=<n>` values (first one of each line) in FILE.
fn count(opts: &Opts) -> Result<(), String> {
    let file = opts.positional.first().ok_or("count: FILE is required")?;
    let expect = opts.num("expect", 0)?;
    let mut seen = vec![0u64; (expect as usize).div_ceil(64).max(1)];
    let (mut lines, mut unique, mut dups, mut outside, mut without) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut f = std::fs::File::open(Path::new(file)).map_err(|e| format!("{file}: {e}"))?;
    let mut chunk = vec![0u8; 4 << 20];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = f.read(&mut chunk).map_err(|e| format!("{file}: {e}"))?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(pos) = carry[start..].iter().position(|&b| b == b'\n') {
            let l = &carry[start..start + pos];
            start += pos + 1;
            lines += 1;
            match seq_of(l) {
                None => without += 1,
                Some(s) if s >= expect => outside += 1,
                Some(s) => {
                    let (w, bit) = ((s / 64) as usize, 1u64 << (s % 64));
                    if seen[w] & bit != 0 {
                        dups += 1;
                    } else {
                        seen[w] |= bit;
                        unique += 1;
                    }
                }
            }
        }
        carry.drain(..start);
    }
    let lost = expect - unique;
    println!("lines={lines} unique={unique} expected={expect} lost={lost} duplicates={dups} out_of_range={outside} without_seq={without}");
    Ok(())
}

fn seq_of(l: &[u8]) -> Option<u64> {
    const TAG: &[u8] = b"nwseq=";
    let at = l.windows(TAG.len()).position(|w| w == TAG)?;
    let digits = &l[at + TAG.len()..];
    let end = digits.iter().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// How fast can this generator send, unpaced? UDP into a socket nobody reads (the kernel
/// does the same delivery work and then drops), TCP into a thread that discards.
fn selftest(opts: &Opts) -> Result<(), String> {
    let count = opts.num("count", 1_000_000)?;
    let n_sockets = opts.num("sockets", 16)?.max(1) as usize;
    let sink = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let target = sink.local_addr().map_err(|e| e.to_string())?;
    let sockets = udp_sockets(target, n_sockets)?;
    let mut buf = String::with_capacity(2048);
    let start = Instant::now();
    for n in 0..count {
        buf.clear();
        line(n, &mut buf);
        let _ = sockets[(n as usize) % n_sockets].send(buf.as_bytes());
    }
    report_send("udp-selftest", count, 0, start.elapsed(), 0);

    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let target = listener.local_addr().map_err(|e| e.to_string())?;
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut b = vec![0u8; 256 * 1024];
        while s.read(&mut b).map(|n| n > 0).unwrap_or(false) {}
    });
    let stream = TcpStream::connect(target).map_err(|e| e.to_string())?;
    let mut out = BufWriter::with_capacity(256 * 1024, stream);
    let start = Instant::now();
    for n in 0..count {
        buf.clear();
        line(n, &mut buf);
        out.write_all(buf.as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(|e| e.to_string())?;
    }
    drop(out.into_inner().map_err(|e| e.to_string())?);
    reader.join().map_err(|_| "reader panicked")?;
    report_send("tcp-selftest", count, 0, start.elapsed(), 0);
    Ok(())
}

/// Prints the first lines of the mix.
fn sample(opts: &Opts) -> Result<(), String> {
    let mut buf = String::new();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for n in 0..opts.num("count", 10)? {
        buf.clear();
        line(n, &mut buf);
        writeln!(out, "{buf}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Prints a loopback port that is free for both TCP and UDP right now.
fn freeport() -> Result<(), String> {
    for _ in 0..100 {
        let tcp = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = tcp.local_addr().map_err(|e| e.to_string())?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            println!("{port}");
            return Ok(());
        }
    }
    Err("no free port found".to_owned())
}
