//! NTP request/response load generator for `bench/ntp`.
//!
//! ```text
//! ntpload run    --target 127.0.0.1:1123 --rate 2000 --duration-ms 10000 [--sockets 8] [--warmup-ms 1000] [--wait-ms 1000] [--watch-pids "PID ..."]
//! ntpload search --target 127.0.0.1:1123 --rates "5000 10000 20000" [--duration-ms 3000] [--sockets 8] [--pause-ms 1500] [--watch-pids "PID ..."]
//! ntpload probe  --target 127.0.0.1:1123 [--timeout-ms 20000] [--synchronised 1]
//! ntpload freeport
//! ```
//!
//! Requests are 48-byte NTPv4 client (mode 3) packets, sent round robin from `--sockets`
//! sockets (each its own source port: one "device" each) at a fixed rate. Request `n`
//! carries the transmit timestamp `base + n`, where `base` is the NTP time at the start of
//! the run, so every transmit timestamp is unique and a reply's origin timestamp gives
//! back `n` directly: replies are matched by origin timestamp, and a reply is counted as
//! `misrouted` if it arrives on another socket than its request left from (a relay that
//! mixed up its clients), `duplicate` if `n` was already answered, `unmatched` if the origin
//! is not one we sent, `unsynchronised` if it is well-formed but carries leap indicator 3.
//!
//! Latency is measured per request: from the system clock read just before `send(2)` to the
//! kernel's receive timestamp of the reply (`SO_TIMESTAMPNS`, taken when the reply enters
//! our socket), so the generator's own wake-up delay is not counted. `user_p50_us`/
//! `user_p99_us` are the same from the time the receiving thread saw the reply, for
//! comparison. Percentiles are over the replies to requests sent after `--warmup-ms`; loss
//! is over every request: those without a reply `--wait-ms` after the last one was sent.
//! Where requests were lost is reported too: `generator_socket_drops` (replies our own
//! sockets dropped, from `SO_RXQ_OVFL`; our buffers are 4 MiB, so this should stay 0) and
//! `peer_socket_drops` / `upstream_socket_drops` (the receive-buffer drops, from
//! /proc/net/udp, of every UDP socket of the first of the `--watch-pids` processes — the
//! relay or server under test — and of the others — the upstream chronyd).
//!
//! Pacing: the sender keeps `sent ≈ rate × elapsed`, sending whatever is due (at most 64 at
//! once) and sleeping until the next request is due, with a 1 µs timer slack. It prints the
//! rate it achieved; `search` stops at the first rate that loses a request, or that the
//! generator could not reach (< 97 % of it), and prints the highest lossless rate.

use std::collections::HashMap;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds from 1900 (NTP era 0) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
const BURST: u64 = 64;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: ntpload run|search|probe|freeport ... (see src/main.rs)");
        return ExitCode::from(2);
    }
    let command = args.remove(0);
    let opts = match Opts::parse(args) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("ntpload: {e}");
            return ExitCode::from(2);
        }
    };
    // Sleeps wake within ~1 µs of their deadline instead of the default 50 µs slack.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0) };
    let result = match command.as_str() {
        "run" => run_command(&opts),
        "search" => search(&opts),
        "probe" => probe(&opts),
        "freeport" => freeport(),
        other => Err(format!("unknown command `{other}`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ntpload: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Opts {
    named: HashMap<String, String>,
}

impl Opts {
    fn parse(args: Vec<String>) -> Result<Opts, String> {
        let mut named = HashMap::new();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            named.insert(name.to_owned(), value);
        }
        Ok(Opts { named })
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }

    fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.str(name) {
            None => Ok(default),
            Some(v) => v.replace('_', "").parse().map_err(|_| format!("--{name}: not a number: {v}")),
        }
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        let target = self.str("target").ok_or("--target is required")?;
        target.parse().map_err(|_| format!("--target: not an IP:port: {target}"))
    }
}

fn unix_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// The NTP timestamp (32.32 fixed point seconds since 1900) of Unix nanoseconds `t`.
fn ntp_timestamp(t: i64) -> u64 {
    let secs = (t / 1_000_000_000) as u64 + NTP_UNIX_OFFSET;
    let frac = (((t % 1_000_000_000) as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// An NTPv4 client request (LI 0, VN 4, mode 3) with transmit timestamp `transmit`.
fn request(transmit: u64) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x23;
    p[2] = 6; // poll 64 s
    p[3] = (-20i8) as u8; // precision ~1 µs
    p[40..48].copy_from_slice(&transmit.to_be_bytes());
    p
}

/// A server reply's (leap indicator, origin timestamp), or `None` if it is not one.
fn parse_reply(p: &[u8]) -> Option<(u8, u64)> {
    if p.len() < 48 || p[0] & 7 != 4 {
        return None;
    }
    Some((p[0] >> 6, u64::from_be_bytes(p[24..32].try_into().ok()?)))
}

fn udp_sockets(target: SocketAddr, n: usize) -> Result<Vec<UdpSocket>, String> {
    let local = if target.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
    (0..n)
        .map(|_| {
            let s = UdpSocket::bind(local).map_err(|e| format!("bind: {e}"))?;
            s.connect(target).map_err(|e| format!("connect {target}: {e}"))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            // Kernel receive timestamps; the count of replies the kernel dropped because
            // this socket's buffer was full (so the generator's own drops are told apart);
            // and a buffer large enough that it does not drop (SO_RCVBUFFORCE as root).
            set_int(&s, libc::SO_TIMESTAMPNS, 1).map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
            set_int(&s, libc::SO_RXQ_OVFL, 1).map_err(|e| format!("SO_RXQ_OVFL: {e}"))?;
            if set_int(&s, libc::SO_RCVBUFFORCE, 4 << 20).is_err() {
                let _ = set_int(&s, libc::SO_RCVBUF, 4 << 20);
            }
            Ok(s)
        })
        .collect()
}

fn set_int(socket: &UdpSocket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt on an open socket with a valid int option value.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Receive-buffer drops of every UDP socket that process `pid` holds: the `drops` column
/// of /proc/net/udp and /proc/net/udp6 for the socket inodes among /proc/PID/fd.
fn udp_drops(pid: u32) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    let inodes: std::collections::HashSet<String> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
        .collect();
    let mut drops = 0;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 13 && inodes.contains(f[9]) {
                drops += f[12].parse::<u64>().unwrap_or(0);
            }
        }
    }
    drops
}

fn peer_drops(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| udp_drops(p)).sum()
}

/// What the sender and the receiver thread share for one run.
struct Book {
    base: u64,
    sockets: usize,
    sent_at: Vec<AtomicI64>,
    kernel_rx: Vec<AtomicI64>,
    user_rx: Vec<AtomicI64>,
    duplicate: AtomicU64,
    misrouted: AtomicU64,
    unmatched: AtomicU64,
    unsynchronised: AtomicU64,
    /// Per socket: replies the kernel dropped on our side (SO_RXQ_OVFL, cumulative).
    generator_drops: Vec<AtomicU64>,
}

/// Receives on every socket until `stop`: poll(2), then recvmsg(2) until EAGAIN.
fn receive(sockets: &[UdpSocket], book: &Book, stop: &AtomicBool) {
    let mut fds: Vec<libc::pollfd> =
        sockets.iter().map(|s| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let mut buf = [0u8; 512];
    let mut control = [0u64; 16]; // 128 bytes, aligned for cmsghdr
    while !stop.load(Relaxed) {
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        if n <= 0 {
            continue;
        }
        for (index, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            loop {
                let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
                // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call.
                let mut msg: libc::msghdr = unsafe { zeroed() };
                msg.msg_iov = &raw mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = size_of::<[u64; 16]>() as _;
                // SAFETY: pfd.fd is an open socket, msg points to valid buffers.
                let len = unsafe { libc::recvmsg(pfd.fd, &raw mut msg, libc::MSG_DONTWAIT) };
                if len < 0 {
                    break;
                }
                let user = unix_nanos();
                let mut kernel = 0i64;
                // SAFETY: walking the control messages the kernel wrote into `control`.
                unsafe {
                    let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
                    while !cmsg.is_null() {
                        if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                            let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                            kernel = ts.tv_sec * 1_000_000_000 + ts.tv_nsec;
                        } else if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_RXQ_OVFL {
                            let dropped: u32 = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                            book.generator_drops[index].store(u64::from(dropped), Relaxed);
                        }
                        cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
                    }
                }
                book.record(&buf[..len as usize], index, kernel, user);
            }
        }
    }
}

impl Book {
    fn record(&self, reply: &[u8], socket: usize, kernel: i64, user: i64) {
        let Some((leap, origin)) = parse_reply(reply) else {
            self.unmatched.fetch_add(1, Relaxed);
            return;
        };
        let n = origin.wrapping_sub(self.base) as usize;
        if n >= self.sent_at.len() || self.sent_at[n].load(Relaxed) == 0 {
            self.unmatched.fetch_add(1, Relaxed);
            return;
        }
        if n % self.sockets != socket {
            self.misrouted.fetch_add(1, Relaxed);
            return;
        }
        if leap == 3 {
            self.unsynchronised.fetch_add(1, Relaxed);
        }
        if self.user_rx[n].swap(user, Relaxed) != 0 {
            self.duplicate.fetch_add(1, Relaxed);
            return;
        }
        self.kernel_rx[n].store(if kernel != 0 { kernel } else { user }, Relaxed);
    }
}

struct Outcome {
    line: String,
    lost: u64,
    bad: u64,
    achieved: f64,
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// One run at a fixed rate.
fn run(
    target: SocketAddr,
    rate: u64,
    duration: Duration,
    n_sockets: usize,
    warmup: Duration,
    wait: Duration,
    watch: &[u32],
) -> Result<Outcome, String> {
    if rate == 0 {
        return Err("--rate must be more than 0".to_owned());
    }
    let total = (rate as f64 * duration.as_secs_f64()).round().max(1.0) as usize;
    let sockets = Arc::new(udp_sockets(target, n_sockets)?);
    let start_unix = unix_nanos();
    let book = Arc::new(Book {
        base: ntp_timestamp(start_unix),
        sockets: n_sockets,
        sent_at: (0..total).map(|_| AtomicI64::new(0)).collect(),
        kernel_rx: (0..total).map(|_| AtomicI64::new(0)).collect(),
        user_rx: (0..total).map(|_| AtomicI64::new(0)).collect(),
        duplicate: AtomicU64::new(0),
        misrouted: AtomicU64::new(0),
        unmatched: AtomicU64::new(0),
        unsynchronised: AtomicU64::new(0),
        generator_drops: (0..n_sockets).map(|_| AtomicU64::new(0)).collect(),
    });
    let (peer, upstream) = watch.split_at(watch.len().min(1));
    let drops_before = (peer_drops(peer), peer_drops(upstream));
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (sockets, book, stop) = (sockets.clone(), book.clone(), stop.clone());
        std::thread::spawn(move || receive(&sockets, &book, &stop))
    };

    let start = Instant::now();
    let mut sent = 0u64;
    let mut send_errors = 0u64;
    let warmup_until = (rate as f64 * warmup.as_secs_f64()) as usize;
    while (sent as usize) < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total as u64);
        if due <= sent {
            let next = Duration::from_secs_f64((sent + 1) as f64 / rate as f64);
            if let Some(wait) = next.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            continue;
        }
        for _ in 0..(due - sent).min(BURST) {
            let n = sent as usize;
            let packet = request(book.base + sent);
            book.sent_at[n].store(unix_nanos(), Relaxed);
            if sockets[n % n_sockets].send(&packet).is_err() {
                send_errors += 1;
            }
            sent += 1;
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    std::thread::sleep(wait);
    stop.store(true, Relaxed);
    receiver.join().map_err(|_| "receiver panicked")?;
    let (drops, upstream_drops) = (peer_drops(peer) - drops_before.0, peer_drops(upstream) - drops_before.1);
    let generator_drops: u64 = book.generator_drops.iter().map(|d| d.load(Relaxed)).sum();

    let mut kernel = Vec::with_capacity(total);
    let mut user = Vec::with_capacity(total);
    let mut received = 0u64;
    for n in 0..total {
        let rx = book.kernel_rx[n].load(Relaxed);
        if rx == 0 {
            continue;
        }
        received += 1;
        if n >= warmup_until {
            let tx = book.sent_at[n].load(Relaxed);
            kernel.push(rx - tx);
            user.push(book.user_rx[n].load(Relaxed) - tx);
        }
    }
    kernel.sort_unstable();
    user.sort_unstable();
    let lost = total as u64 - received;
    let achieved = total as f64 / send_secs;
    let (dup, mis, unm, unsync) = (
        book.duplicate.load(Relaxed),
        book.misrouted.load(Relaxed),
        book.unmatched.load(Relaxed),
        book.unsynchronised.load(Relaxed),
    );
    let line = format!(
        "rate={rate} achieved_rate={achieved:.0} sent={total} received={received} lost={lost} \
         p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} user_p50_us={:.1} user_p99_us={:.1} \
         samples={} duplicate={dup} misrouted={mis} unmatched={unm} unsynchronised={unsync} send_errors={send_errors} \
         peer_socket_drops={drops} upstream_socket_drops={upstream_drops} generator_socket_drops={generator_drops}",
        percentile(&kernel, 50.0),
        percentile(&kernel, 90.0),
        percentile(&kernel, 99.0),
        percentile(&kernel, 99.9),
        percentile(&kernel, 100.0),
        percentile(&user, 50.0),
        percentile(&user, 99.0),
        kernel.len(),
    );
    Ok(Outcome { line, lost, bad: mis + unm + unsync, achieved })
}

struct Common {
    target: SocketAddr,
    sockets: usize,
    wait: Duration,
    /// `--watch-pids "PEER UPSTREAM..."`: processes whose UDP sockets' drops are reported.
    watch: Vec<u32>,
}

fn common(opts: &Opts) -> Result<Common, String> {
    let watch = opts
        .str("watch-pids")
        .unwrap_or("")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("--watch-pids: not a pid: {s}")))
        .collect::<Result<_, _>>()?;
    Ok(Common {
        target: opts.addr()?,
        sockets: opts.num("sockets", 8)?.max(1) as usize,
        wait: Duration::from_millis(opts.num("wait-ms", 1000)?),
        watch,
    })
}

fn run_command(opts: &Opts) -> Result<(), String> {
    let c = common(opts)?;
    let rate = opts.num("rate", 2000)?;
    let duration = Duration::from_millis(opts.num("duration-ms", 10_000)?);
    let warmup = Duration::from_millis(opts.num("warmup-ms", 1000)?);
    let outcome = run(c.target, rate, duration, c.sockets, warmup, c.wait, &c.watch)?;
    println!("{}", outcome.line);
    Ok(())
}

/// Steps through `--rates` until a run loses a request (or gets a wrong reply), or the
/// generator falls short of the rate; prints every step, then `max_rate`.
fn search(opts: &Opts) -> Result<(), String> {
    let c = common(opts)?;
    let duration = Duration::from_millis(opts.num("duration-ms", 3000)?);
    let pause = Duration::from_millis(opts.num("pause-ms", 1500)?);
    let rates: Vec<u64> = opts
        .str("rates")
        .ok_or("--rates is required")?
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("--rates: not a number: {s}")))
        .collect::<Result<_, _>>()?;
    let (mut best, mut limit) = (0u64, "top of the rate list".to_owned());
    for (i, &rate) in rates.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        let outcome = run(c.target, rate, duration, c.sockets, Duration::ZERO, c.wait, &c.watch)?;
        println!("step {}", outcome.line);
        let short = outcome.achieved < rate as f64 * 0.97;
        if outcome.lost > 0 || outcome.bad > 0 {
            limit = format!("loss at {rate}{}", if short { " (generator short too)" } else { "" });
            break;
        }
        if short {
            best = outcome.achieved as u64;
            limit = format!("generator short at {rate} ({:.0}/s, no loss): a lower bound", outcome.achieved);
            break;
        }
        best = rate;
    }
    println!("max_rate={best} limited_by={}", limit.replace(' ', "_"));
    Ok(())
}

/// Sends a request every 200 ms until one is answered (with `--synchronised 1`: answered
/// with a leap indicator other than 3).
fn probe(opts: &Opts) -> Result<(), String> {
    let target = opts.addr()?;
    let timeout = Duration::from_millis(opts.num("timeout-ms", 20_000)?);
    let synchronised = opts.num("synchronised", 0)? == 1;
    let socket =
        UdpSocket::bind(if target.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut buf = [0u8; 512];
    while start.elapsed() < timeout {
        let transmit = ntp_timestamp(unix_nanos());
        let _ = socket.send_to(&request(transmit), target);
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            let Ok((len, _)) = socket.recv_from(&mut buf) else { break };
            if let Some((leap, origin)) = parse_reply(&buf[..len])
                && origin == transmit
            {
                if synchronised && leap == 3 {
                    break;
                }
                println!("answered: leap={leap} stratum={} after_ms={}", buf[1], start.elapsed().as_millis());
                return Ok(());
            }
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
    Err(format!("{target}: no {}answer after {timeout:?}", if synchronised { "synchronised " } else { "" }))
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
