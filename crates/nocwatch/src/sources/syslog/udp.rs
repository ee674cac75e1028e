//! Syslog over UDP (RFC 5426): one datagram, one message. Several sockets share the port
//! (`SO_REUSEPORT`), one per CPU by default; one device always lands on the same socket,
//! so its messages keep their order.
//!
//! Reading and parsing are split, as in rsyslog's imudp and its queue: each socket has a
//! thread that only reads (a batch of datagrams per `recvmmsg`, `net::udp`) and hands the
//! raw batches to a parsing task through a bounded queue (`receive_queue`). A burst faster
//! than parsing then waits in that queue, packed, instead of overflowing the socket buffer,
//! and the reader never waits on the event loop. When the queue is full the reader waits,
//! the socket buffer fills, and what the kernel drops is counted
//! (`errors{reason="receive_buffer_full"}`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SyslogSourceConfig;
use super::event::{CountingMapper, EventMapper, Peer};
use crate::component::Running;
use crate::net::bind_udp;
use crate::net::udp::{BatchReader, Datagrams, Wait};
use crate::sources::SourceContext;
use crate::telemetry::{ComponentMetrics, DropReason, RateLimit};

/// A batch is handed on once it holds this many datagrams or [`MAX_BATCH_BYTES`].
const MAX_BATCH: usize = 256;
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// A read that found fewer datagrams than this is followed by a pause of [`COALESCE`] and
/// a second look, so that at low rates one hand-over (and one parser wake-up) carries
/// several datagrams instead of one. The datagrams wait in the socket buffer meanwhile (a
/// millisecond of even 100 MB/s is 100 KB, the buffer is megabytes); under load batches
/// fill at once and the reader never pauses.
const FEW: usize = MAX_BATCH / 8;
const COALESCE: Duration = Duration::from_millis(1);

/// Batches a receiver may have queued, whatever their size, and emptied ones kept for reuse.
const QUEUE_BATCHES: usize = 1024;
const RECYCLED_BATCHES: usize = 16;

/// How long a stopping reader keeps taking what its socket holds.
const FINAL_DRAIN: Duration = Duration::from_secs(1);

pub async fn build(config: &SyslogSourceConfig, mapper: EventMapper, ctx: SourceContext) -> anyhow::Result<Running> {
    let receivers =
        config.receivers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let (sockets, granted) = bind_udp(config.address, config.receive_buffer.as_usize(), receivers)
        .with_context(|| format!("cannot listen on udp://{}", config.address))?;
    tracing::info!(
        source = %ctx.id,
        address = %config.address,
        receivers,
        receive_buffer = granted,
        receive_queue = %config.receive_queue,
        "syslog listening on UDP"
    );
    // Linux reports twice the size set (the other half is bookkeeping).
    if granted / 2 < config.receive_buffer.as_usize() {
        tracing::warn!(
            source = %ctx.id,
            asked = config.receive_buffer.as_usize(),
            granted = granted / 2,
            "UDP receive buffer smaller than configured: bursts may be dropped by the kernel; \
             raise net.core.rmem_max or run with CAP_NET_ADMIN"
        );
    }
    let max_message = config.max_message_size.as_usize();
    let mut kernel_drops = crate::net::KernelDrops::default();
    for socket in &sockets {
        kernel_drops.watch(socket)?;
    }
    let receive_buffer_full = ctx.metrics.error_counter("receive_buffer_full");
    let receive_errors = ctx.metrics.error_counter("receive");
    let queue = Arc::new(ReceiveQueue::new(config.receive_queue.as_usize() as u64, ctx.metrics.clone()));
    Ok(Box::pin(async move {
        let parser = Arc::new(Parser { mapper: CountingMapper::new(mapper, &ctx.metrics) });
        let stop = ctx.shutdown.child_token();
        let _stop_readers = stop.clone().drop_guard();
        let mut readers = Vec::with_capacity(sockets.len());
        let mut parsers = tokio::task::JoinSet::new();
        let output = Arc::new(ctx.output);
        for (index, socket) in sockets.into_iter().enumerate() {
            // The queue is bounded in bytes (ReceiveQueue); in batches as well, for small
            // batches at low rates.
            let (batches, queued) = mpsc::channel::<Datagrams>(QUEUE_BATCHES);
            // Emptied batches go back to the reader, so their buffers are reused.
            let (recycle, recycled) = mpsc::channel::<Datagrams>(RECYCLED_BATCHES);
            let reader = ReadLoop {
                batches,
                recycled,
                stop: stop.clone(),
                errors: receive_errors.clone(),
                queue: queue.clone(),
            };
            readers.push(
                std::thread::Builder::new()
                    .name(format!("syslog-udp-{index}"))
                    .spawn(move || reader.run(BatchReader::new(socket, max_message)))
                    .context("cannot start a receiving thread")?,
            );
            parsers.spawn(parser.clone().run(queued, recycle, output.clone(), queue.clone()));
        }
        let _ = ctx.healthy.send(true);
        let mut drops_check = tokio::time::interval(crate::net::KERNEL_DROPS_CHECK);
        loop {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                joined = parsers.join_next() => match joined {
                    None => break,
                    // Its reader then stops too (its queue is closed): the source has failed.
                    Some(Err(e)) => anyhow::bail!("a syslog parsing task failed: {e}"),
                    Some(Ok(())) => {}
                },
                _ = drops_check.tick() => {
                    receive_buffer_full.inc_by(kernel_drops.take_new());
                    ctx.metrics.set_buffer_bytes(queue.bytes.load(Ordering::Relaxed));
                }
            }
        }
        let _ = ctx.healthy.send(false);
        // The readers stop within net::RECEIVER_WAKE; what they had queued is still parsed
        // and sent before the parsers end.
        stop.cancel();
        while parsers.join_next().await.is_some() {}
        for reader in readers {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
        receive_buffer_full.inc_by(kernel_drops.take_new());
        Ok(())
    }))
}

/// What the readers and parsers of one source share: how much is queued against
/// `receive_queue`, and a wake-up for readers waiting for room.
struct ReceiveQueue {
    /// Memory held by queued batches: payload plus an entry per datagram, so that empty
    /// datagrams count too. Shown as `buffer_bytes`.
    bytes: AtomicU64,
    limit: u64,
    /// Datagrams read and not yet taken by the sinks (queued, or being parsed and sent):
    /// reported as in flight, so that a stop which cannot wait for them counts them lost.
    datagrams: AtomicU64,
    room: std::sync::Mutex<()>,
    freed: std::sync::Condvar,
    metrics: ComponentMetrics,
    /// Datagrams a reader held when the stop came and the queue had no room for them.
    lost_at_stop: Counter,
}

impl ReceiveQueue {
    fn new(limit: u64, metrics: ComponentMetrics) -> Self {
        ReceiveQueue {
            bytes: AtomicU64::new(0),
            limit,
            datagrams: AtomicU64::new(0),
            room: std::sync::Mutex::new(()),
            freed: std::sync::Condvar::new(),
            lost_at_stop: metrics.drop_counter(DropReason::Shutdown),
            metrics,
        }
    }

    fn is_full(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) >= self.limit
    }

    /// Waits while the queue is full, up to `timeout`.
    fn wait_for_room(&self, timeout: Duration) {
        let Ok(guard) = self.room.lock() else { return };
        if self.is_full() {
            let _ = self.freed.wait_timeout(guard, timeout);
        }
    }

    fn add(&self, batch: &Datagrams) {
        self.bytes.fetch_add(batch.memory_bytes() as u64, Ordering::Relaxed);
        self.datagrams.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.publish();
    }

    /// Takes back an [`ReceiveQueue::add`] whose batch was not queued after all.
    fn undo(&self, batch: &Datagrams) {
        self.bytes.fetch_sub(batch.memory_bytes() as u64, Ordering::Relaxed);
        self.datagrams.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        self.publish();
    }

    /// A batch left the queue (its memory is free) for parsing.
    fn taken(&self, batch: &Datagrams) {
        self.bytes.fetch_sub(batch.memory_bytes() as u64, Ordering::Relaxed);
        // Under the lock, so that a reader between its check and its wait sees it.
        let _guard = self.room.lock();
        self.freed.notify_all();
    }

    /// `datagrams` were parsed and taken by the sinks.
    fn sent(&self, datagrams: usize) {
        self.datagrams.fetch_sub(datagrams as u64, Ordering::Relaxed);
        self.publish();
    }

    fn publish(&self) {
        self.metrics.set_in_flight(self.datagrams.load(Ordering::Relaxed) as usize);
    }
}

/// The reading thread of one socket.
struct ReadLoop {
    batches: mpsc::Sender<Datagrams>,
    recycled: mpsc::Receiver<Datagrams>,
    stop: CancellationToken,
    errors: Counter,
    queue: Arc<ReceiveQueue>,
}

impl ReadLoop {
    fn run(mut self, mut socket: BatchReader) {
        let mut batch = Datagrams::default();
        while !self.stop.is_cancelled() {
            match socket.read(&mut batch, Wait::UntilOne) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(e) => {
                    self.count_error(&e);
                    // Errors that repeat at once (none known for UDP) must not spin.
                    std::thread::sleep(COALESCE);
                    continue;
                }
            }
            self.fill(&mut socket, &mut batch);
            if batch.len() < FEW {
                std::thread::sleep(COALESCE);
                self.fill(&mut socket, &mut batch);
            }
            let next = self.recycled.try_recv().unwrap_or_default();
            if !self.hand_on(std::mem::replace(&mut batch, next)) {
                return;
            }
        }
        // Stopping: what the socket already holds goes on too, so a stop loses nothing that
        // arrived before it (the drain period has moved senders away by now; the deadline
        // bounds it for those still sending).
        let deadline = std::time::Instant::now() + FINAL_DRAIN;
        loop {
            self.fill(&mut socket, &mut batch);
            if batch.is_empty() || !self.hand_on(std::mem::take(&mut batch)) {
                return;
            }
            if std::time::Instant::now() > deadline {
                return;
            }
        }
    }

    /// Queues `batch` for the parser; false once it cannot be (the parser is gone, or the
    /// source is stopping and the queue stayed full for [`FINAL_DRAIN`]: the batch is then
    /// counted as dropped). While the queue is full the reader waits and does not read:
    /// the socket buffer takes what comes, and what the kernel drops is counted.
    fn hand_on(&self, mut batch: Datagrams) -> bool {
        let mut stopping_since = None;
        loop {
            if !self.queue.is_full() {
                self.queue.add(&batch);
                match self.batches.try_send(batch) {
                    Ok(()) => return true,
                    Err(mpsc::error::TrySendError::Full(back)) => {
                        self.queue.undo(&back);
                        batch = back;
                        // A thousand small batches queued: the parser is far behind.
                        std::thread::sleep(COALESCE);
                    }
                    Err(mpsc::error::TrySendError::Closed(back)) => {
                        self.queue.undo(&back);
                        self.queue.lost_at_stop.inc_by(back.len() as u64);
                        return false;
                    }
                }
            } else {
                self.queue.wait_for_room(crate::net::RECEIVER_WAKE);
            }
            if self.stop.is_cancelled() {
                let since = *stopping_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= FINAL_DRAIN || self.batches.is_closed() {
                    self.queue.lost_at_stop.inc_by(batch.len() as u64);
                    return false;
                }
            }
        }
    }

    /// Adds what the socket holds now, up to a full batch.
    fn fill(&self, socket: &mut BatchReader, batch: &mut Datagrams) {
        while batch.len() < MAX_BATCH && batch.payload_bytes() < MAX_BATCH_BYTES {
            match socket.read(batch, Wait::No) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => return self.count_error(&e),
            }
        }
    }

    fn count_error(&self, error: &std::io::Error) {
        static RECV_ERRORS: RateLimit = RateLimit::new(Duration::from_secs(10));
        self.errors.inc();
        if let Some(suppressed) = RECV_ERRORS.allow() {
            tracing::warn!(%error, suppressed, "UDP receive failed");
        }
    }
}

/// Turns the raw batches of one reader into events.
struct Parser {
    mapper: CountingMapper,
}

impl Parser {
    async fn run(
        self: Arc<Self>,
        mut queued: mpsc::Receiver<Datagrams>,
        recycle: mpsc::Sender<Datagrams>,
        output: Arc<crate::pipeline::SourceOutput>,
        queue: Arc<ReceiveQueue>,
    ) {
        // The last sender, formatted once: a busy device sends runs of datagrams.
        let mut last_peer: Option<Peer> = None;
        // Ends when the reader has stopped and everything it queued is sent.
        while let Some(mut datagrams) = queued.recv().await {
            queue.taken(&datagrams);
            let ctx = self.mapper.context();
            let mut events = Vec::with_capacity(datagrams.len());
            for datagram in datagrams.iter() {
                let peer = match last_peer.take() {
                    Some(last) if last.ip() == datagram.peer.ip().to_canonical() => last,
                    _ => Peer::new(datagram.peer),
                };
                events.push(self.mapper.event(datagram.payload, &peer, datagram.truncated, &ctx));
                last_peer = Some(peer);
            }
            datagrams.clear();
            let _ = recycle.try_send(datagrams);
            let count = events.len();
            output.send(events).await;
            queue.sent(count);
        }
    }
}
