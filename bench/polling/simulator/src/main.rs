//! A fast SNMP v1/v2c device simulator for the polling benchmark: serves one `.snmprec`
//! recording as N devices, one UDP port each, using nocwatch-snmp's codec.
//!
//! Counters move: every Counter32/Counter64 advances at its own steady rate (derived from
//! its OID) from the recorded value, so pollers compute real, non-zero rates, and Counter32
//! values wrap as real ones do. Everything else is served as recorded.
//!
//! Answers GET, GETNEXT and GETBULK like an agent with a `--max-size` message limit: a
//! GETBULK answer is cut to fit (RFC 3416 §4.2.3), a GET/GETNEXT that does not fit gets
//! tooBig. Every `--stats` seconds (and at exit) it prints `requests=N varbinds=M`: the
//! varbinds it served, the benchmark's count of work done.
//!
//! Usage: snmp-simulator RECORDING --ports 20000-20999 [--bind 127.0.0.1] [--community public]
//!                       [--max-size 1472] [--stats 10]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nocwatch_snmp::{AnyPdu, Community, CommunityMessage, Oid, Pdu, PduType, Value, VarBind};
use tokio::net::UdpSocket;

struct Device {
    records: Vec<(Oid, Value)>,
    /// Per record: units per second a counter advances (0 for non-counters).
    rates: Vec<u64>,
    community: Vec<u8>,
    max_size: usize,
    started: Instant,
    requests: AtomicU64,
    varbinds: AtomicU64,
}

impl Device {
    fn value(&self, index: usize) -> Value {
        let (_, value) = &self.records[index];
        let elapsed = self.started.elapsed().as_secs_f64();
        let advance = (self.rates[index] as f64 * elapsed) as u64;
        match value {
            Value::Counter32(v) => Value::Counter32((u64::from(*v).wrapping_add(advance) & 0xffff_ffff) as u32),
            Value::Counter64(v) => Value::Counter64(v.wrapping_add(advance)),
            other => other.clone(),
        }
    }

    fn exact(&self, oid: &Oid) -> Option<usize> {
        self.records.binary_search_by(|(o, _)| o.cmp(oid)).ok()
    }

    /// Index of the first record after `oid`.
    fn next(&self, oid: &Oid) -> Option<usize> {
        let at = self.records.partition_point(|(o, _)| o <= oid);
        (at < self.records.len()).then_some(at)
    }

    fn next_binding(&self, oid: &Oid) -> VarBind {
        match self.next(oid) {
            Some(i) => VarBind::new(self.records[i].0.clone(), self.value(i)),
            None => VarBind::new(oid.clone(), Value::EndOfMibView),
        }
    }

    fn answer(&self, request: &Pdu) -> Pdu {
        let mut response =
            Pdu { kind: PduType::Response, request_id: request.request_id, error_status: 0, error_index: 0, varbinds: vec![] };
        match request.kind {
            PduType::Get => {
                response.varbinds = request
                    .varbinds
                    .iter()
                    .map(|vb| match self.exact(&vb.oid) {
                        Some(i) => VarBind::new(vb.oid.clone(), self.value(i)),
                        None => VarBind::new(vb.oid.clone(), Value::NoSuchInstance),
                    })
                    .collect();
            }
            PduType::GetNext => {
                response.varbinds = request.varbinds.iter().map(|vb| self.next_binding(&vb.oid)).collect();
            }
            PduType::GetBulk => {
                let non_repeaters = (request.non_repeaters().max(0) as usize).min(request.varbinds.len());
                let repetitions = request.max_repetitions().clamp(0, 1000) as usize;
                let (fixed, repeating) = request.varbinds.split_at(non_repeaters);
                response.varbinds.extend(fixed.iter().map(|vb| self.next_binding(&vb.oid)));
                let mut cursors: Vec<Oid> = repeating.iter().map(|vb| vb.oid.clone()).collect();
                // Enough rows to fill the message, not more: the rest would be cut anyway.
                let budget = self.max_size / 12;
                'rows: for _ in 0..repetitions {
                    let mut all_ended = true;
                    for cursor in cursors.iter_mut() {
                        let vb = self.next_binding(cursor);
                        if !matches!(vb.value, Value::EndOfMibView) {
                            all_ended = false;
                        }
                        *cursor = vb.oid.clone();
                        response.varbinds.push(vb);
                        if response.varbinds.len() >= budget {
                            break 'rows;
                        }
                    }
                    if all_ended {
                        break;
                    }
                }
            }
            _ => response.error_status = 5, // genErr: not a read request
        }
        response
    }
}

fn encode(community: &[u8], version: nocwatch_snmp::Version, pdu: Pdu) -> Vec<u8> {
    CommunityMessage { version, community: Community(community.to_vec()), pdu: AnyPdu::Pdu(pdu) }.encode()
}

async fn serve(socket: UdpSocket, device: Arc<Device>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else { continue };
        let Ok(message) = CommunityMessage::decode(&buf[..len]) else { continue };
        if message.community.0 != device.community {
            continue; // as agents do: silence for a wrong community
        }
        let AnyPdu::Pdu(request) = &message.pdu else { continue };
        let bulk = request.kind == PduType::GetBulk;
        let mut response = device.answer(request);
        let mut bytes = encode(&device.community, message.version, response.clone());
        if bytes.len() > device.max_size {
            if bulk {
                // Cut whole varbinds from the end until it fits.
                let (mut low, mut high) = (0usize, response.varbinds.len());
                while low + 1 < high {
                    let mid = (low + high) / 2;
                    let candidate = Pdu { varbinds: response.varbinds[..mid].to_vec(), ..response.clone() };
                    if encode(&device.community, message.version, candidate).len() <= device.max_size {
                        low = mid;
                    } else {
                        high = mid;
                    }
                }
                response.varbinds.truncate(low.max(1));
            } else {
                response = Pdu { error_status: 1, error_index: 0, varbinds: vec![], ..response };
            }
            bytes = encode(&device.community, message.version, response.clone());
        }
        device.requests.fetch_add(1, Ordering::Relaxed);
        device.varbinds.fetch_add(response.varbinds.len() as u64, Ordering::Relaxed);
        let _ = socket.send_to(&bytes, from).await;
    }
}

fn counter_rate(oid: &Oid) -> u64 {
    // FNV-1a of the arcs: a stable, spread-out rate per counter, 100 to 1,000,000 units/s.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for arc in oid.arcs() {
        hash ^= u64::from(*arc);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    100 + hash % 999_900
}

fn usage() -> ! {
    eprintln!(
        "usage: snmp-simulator RECORDING --ports FIRST-LAST [--bind 127.0.0.1] [--community public] [--max-size 1472] [--stats 10]"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut recording = None;
    let (mut first, mut last) = (0u16, 0u16);
    let mut bind = "127.0.0.1".to_owned();
    let mut community = "public".to_owned();
    let mut max_size = 1472usize;
    let mut stats = 10u64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ports" => {
                let value = args.next().unwrap_or_else(|| usage());
                let (a, b) = value.split_once('-').unwrap_or((&value, &value));
                first = a.parse().unwrap_or_else(|_| usage());
                last = b.parse().unwrap_or_else(|_| usage());
            }
            "--bind" => bind = args.next().unwrap_or_else(|| usage()),
            "--community" => community = args.next().unwrap_or_else(|| usage()),
            "--max-size" => max_size = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--stats" => stats = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            _ if recording.is_none() && !arg.starts_with("--") => recording = Some(arg),
            _ => usage(),
        }
    }
    let (Some(recording), true) = (recording, first > 0 && last >= first) else { usage() };
    let text = std::fs::read_to_string(&recording).unwrap_or_else(|e| {
        eprintln!("cannot read {recording}: {e}");
        std::process::exit(1)
    });
    let mut records = nocwatch_snmp::snmprec::parse(&text).unwrap_or_else(|e| {
        eprintln!("{recording}: {e}");
        std::process::exit(1)
    });
    records.sort_by(|a, b| a.0.cmp(&b.0));
    records.dedup_by(|a, b| a.0 == b.0);
    let rates = records
        .iter()
        .map(|(oid, value)| if matches!(value, Value::Counter32(_) | Value::Counter64(_)) { counter_rate(oid) } else { 0 })
        .collect();
    let device = Arc::new(Device {
        records,
        rates,
        community: community.into_bytes(),
        max_size,
        started: Instant::now(),
        requests: AtomicU64::new(0),
        varbinds: AtomicU64::new(0),
    });
    for port in first..=last {
        let address: SocketAddr = format!("{bind}:{port}").parse().unwrap_or_else(|_| usage());
        let socket = UdpSocket::bind(address).await.unwrap_or_else(|e| {
            eprintln!("cannot bind {address}: {e}");
            std::process::exit(1)
        });
        tokio::spawn(serve(socket, device.clone()));
    }
    eprintln!("serving {} records on {bind}:{first}-{last}", device.records.len());
    let report = |device: &Device| {
        println!(
            "requests={} varbinds={}",
            device.requests.load(Ordering::Relaxed),
            device.varbinds.load(Ordering::Relaxed)
        )
    };
    let mut tick = tokio::time::interval(Duration::from_secs(stats.max(1)));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        tokio::select! {
            _ = tick.tick() => report(&device),
            _ = tokio::signal::ctrl_c() => break,
            _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break,
        }
    }
    report(&device);
}
