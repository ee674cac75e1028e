//! The disk buffer: a sink's queue kept in files, so events survive a restart, a crash and
//! a long outage of the destination (at-least-once delivery).
//!
//! Layout under `<data_dir>/buffers/<sink id>/`: segment files `<n>.seg` of records
//! `[len: u32 LE][crc32: u32 LE][buffered at, ms: u64 LE][JSON array of events]` (the
//! checksum covers the time and the JSON; `len` is the JSON's), and `ack` holding the position
//! (segment, offset) up to which the sink confirmed delivery. A record is one batch as a
//! source sent it.
//!
//! Durability: a writer thread appends what sources sent, then `fsync`s the segment before
//! the events count as buffered (group commit: one fsync per burst, not per event). The ack
//! file is replaced atomically (write, fsync, rename) after each delivered batch. After a
//! crash, delivery resumes from the last ack: batches delivered but not yet acked are sent
//! again (counted as `replayed`), never lost. A torn record at the end of the last segment
//! (a crash mid-write) is cut off; a record with a bad checksum ends its segment and is
//! counted as dropped (`corrupt`).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Notify, mpsc, oneshot};

use super::WhenFull;
use crate::event::Event;
use crate::telemetry::{ComponentMetrics, DropReason};

/// A segment is closed and a new one started past this size (smaller in tests).
const SEGMENT_SIZE: u64 = 32 * 1024 * 1024;
const HEADER: usize = 16;

/// A position in the buffer: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    segment: u64,
    offset: u64,
}

struct State {
    /// Bytes and events written and not yet acknowledged.
    bytes: u64,
    events: u64,
    /// Where the writer appends next (only advances after fsync).
    written: Position,
    /// Record boundaries handed to the sink and not yet acked, oldest first:
    /// (end position of the record, its size in bytes, its event count, whether it is a
    /// batch the sink saw, or a damaged region skipped).
    in_flight: VecDeque<(Position, u64, u64, bool)>,
    acked: Position,
    /// When the oldest undelivered record was buffered (ms since the epoch).
    oldest_ms: Option<u64>,
}

struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    segment_size: u64,
    state: Mutex<State>,
    /// Wakes the reader when records were written, and blocked writers when space freed.
    written: Notify,
    freed: Notify,
    metrics: ComponentMetrics,
}

impl Shared {
    fn publish(&self, state: &State) {
        self.metrics.set_queue(usize::try_from(state.events).unwrap_or(usize::MAX), 0);
        self.metrics.set_buffer_bytes(state.bytes);
        self.metrics.set_oldest_buffered(state.oldest_ms);
    }
}

struct WriteRequest {
    events: Vec<Event>,
    done: oneshot::Sender<()>,
}

/// Opens (or creates) the disk buffer of one sink.
pub fn open(
    dir: &Path,
    max_bytes: u64,
    when_full: WhenFull,
    metrics: ComponentMetrics,
) -> anyhow::Result<(DiskSender, DiskReceiver)> {
    open_with_segments(dir, max_bytes, when_full, metrics, SEGMENT_SIZE)
}

fn open_with_segments(
    dir: &Path,
    max_bytes: u64,
    when_full: WhenFull,
    metrics: ComponentMetrics,
    segment_size: u64,
) -> anyhow::Result<(DiskSender, DiskReceiver)> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create the buffer directory {}", dir.display()))?;
    let lock = File::create(dir.join("lock"))?;
    if lock.try_lock().is_err() {
        anyhow::bail!(
            "{} is in use by another nocwatch process (two processes must not share agent.data_dir)",
            dir.display()
        );
    }
    let acked = read_ack(dir).unwrap_or_else(|e| {
        // Sending again is better than losing: start from the oldest segment on disk.
        tracing::error!(error = %e, dir = %dir.display(), "disk buffer: unreadable ack file; delivering everything still on disk again");
        Position { segment: list_segments(dir).ok().and_then(|s| s.first().copied()).unwrap_or(0), offset: 0 }
    });
    let mut segments = list_segments(dir)?;
    if segments.is_empty() {
        segments.push(acked.segment);
        File::create(segment_path(dir, acked.segment))?;
    }
    // Delete what an earlier run fully delivered.
    for &segment in segments.iter().filter(|&&s| s < acked.segment) {
        let _ = fs::remove_file(segment_path(dir, segment));
    }
    segments.retain(|&s| s >= acked.segment);
    let last = *segments.last().unwrap_or(&acked.segment);

    // Count what is waiting, and cut a torn tail off the last segment.
    let (mut bytes, mut events, mut written) = (0u64, 0u64, Position { segment: last, offset: 0 });
    let corrupt = metrics.drop_counter(DropReason::Corrupt);
    for &segment in &segments {
        let start = if segment == acked.segment { acked.offset } else { 0 };
        let scan = scan_segment(dir, segment, start)?;
        bytes += scan.end - start;
        events += scan.events;
        if scan.bad_records > 0 {
            corrupt.inc_by(scan.bad_records);
            tracing::error!(segment, "disk buffer: a damaged record ends this segment; the rest of it is lost");
        }
        if segment == last {
            let file = OpenOptions::new().write(true).open(segment_path(dir, segment))?;
            file.set_len(scan.end)?;
            file.sync_all()?;
            written = Position { segment, offset: scan.end };
        }
    }
    let oldest_ms = if events > 0 {
        tracing::info!(dir = %dir.display(), events, bytes, "disk buffer: resuming delivery of events from an earlier run");
        metrics.replayed(events);
        buffered_at(dir, acked).ok()
    } else {
        None
    };

    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        max_bytes,
        segment_size,
        state: Mutex::new(State { bytes, events, written, in_flight: VecDeque::new(), acked, oldest_ms }),
        written: Notify::new(),
        freed: Notify::new(),
        metrics: metrics.clone(),
    });
    if let Ok(state) = shared.state.lock() {
        shared.publish(&state);
    }
    let (tx, rx) = mpsc::channel::<WriteRequest>(64);
    let writer_shared = shared.clone();
    std::thread::Builder::new()
        .name(format!("buffer-{}", metrics.id()))
        .spawn(move || writer_loop(writer_shared, rx))
        .context("cannot start the disk buffer writer")?;

    let alive = Arc::new(());
    let senders = Arc::downgrade(&alive);
    let dropped_full = metrics.drop_counter(DropReason::QueueFull);
    let sender = DiskSender { tx, shared: shared.clone(), when_full, dropped_full, _alive: alive };
    let reader = SegmentReader::open(dir, acked)?;
    Ok((sender, DiskReceiver { shared, reader, senders, _lock: lock }))
}

#[derive(Clone)]
pub struct DiskSender {
    tx: mpsc::Sender<WriteRequest>,
    shared: Arc<Shared>,
    when_full: WhenFull,
    dropped_full: Counter,
    /// The receiver sees every sender gone when no clone of this is left.
    _alive: Arc<()>,
}

impl DiskSender {
    pub fn id(&self) -> &str {
        self.shared.metrics.id()
    }

    /// Writes `events` to the buffer; returns once they are on disk (or dropped: the count).
    pub async fn send(&self, events: Vec<Event>) -> usize {
        let count = events.len();
        if count == 0 {
            return 0;
        }
        loop {
            let full = self.shared.state.lock().map(|s| s.bytes >= self.shared.max_bytes).unwrap_or(true);
            if !full {
                break;
            }
            match self.when_full {
                WhenFull::DropNewest => {
                    self.dropped_full.inc_by(count as u64);
                    return count;
                }
                WhenFull::Block => {
                    let freed = self.shared.freed.notified();
                    let still_full = self.shared.state.lock().map(|s| s.bytes >= self.shared.max_bytes).unwrap_or(true);
                    if still_full {
                        freed.await;
                    }
                }
            }
        }
        let (done, written) = oneshot::channel();
        if self.tx.send(WriteRequest { events, done }).await.is_err() || written.await.is_err() {
            // The writer failed (disk error, logged there): these could not be kept.
            self.shared.metrics.dropped(DropReason::WriteError, count as u64);
            return count;
        }
        self.shared.metrics.received(count as u64);
        0
    }
}

fn writer_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<WriteRequest>) {
    let mut position = shared.state.lock().map(|s| s.written).unwrap_or_default();
    let mut file = match OpenOptions::new().append(true).open(segment_path(&shared.dir, position.segment)) {
        Ok(file) => file,
        Err(e) => {
            tracing::error!(error = %e, "disk buffer: cannot open the current segment");
            return;
        }
    };
    let mut record = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.blocking_recv() {
        let mut requests = vec![first];
        while let Ok(more) = rx.try_recv() {
            requests.push(more);
        }
        let mut wrote = (0u64, 0u64);
        let mut failed = false;
        let now_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
        for request in &requests {
            record.clear();
            record.extend_from_slice(&[0; HEADER]);
            record[8..16].copy_from_slice(&now_ms.to_le_bytes());
            if serde_json::to_writer(&mut record, &request.events).is_err() {
                failed = true;
                continue;
            }
            let len = u32::try_from(record.len() - HEADER).unwrap_or(u32::MAX);
            let crc = crc32fast::hash(&record[8..]);
            record[..4].copy_from_slice(&len.to_le_bytes());
            record[4..8].copy_from_slice(&crc.to_le_bytes());
            if position.offset > 0 && position.offset + record.len() as u64 > shared.segment_size {
                match next_segment(&shared.dir, &file, position.segment + 1) {
                    Ok(next) => {
                        file = next;
                        position = Position { segment: position.segment + 1, offset: 0 };
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "disk buffer: cannot start a new segment");
                        failed = true;
                        break;
                    }
                }
            }
            if let Err(e) = file.write_all(&record) {
                tracing::error!(error = %e, "disk buffer: write failed");
                failed = true;
                break;
            }
            position.offset += record.len() as u64;
            wrote.0 += record.len() as u64;
            wrote.1 += request.events.len() as u64;
        }
        if let Err(e) = file.sync_data() {
            tracing::error!(error = %e, "disk buffer: fsync failed");
            failed = true;
        }
        if let Ok(mut state) = shared.state.lock() {
            if state.events == 0 && wrote.1 > 0 {
                state.oldest_ms = Some(now_ms);
            }
            state.bytes += wrote.0;
            state.events += wrote.1;
            state.written = position;
            shared.publish(&state);
        }
        shared.written.notify_waiters();
        if failed {
            // Senders see their request fail and count the events as dropped.
            return;
        }
        for request in requests {
            let _ = request.done.send(());
        }
    }
}

fn next_segment(dir: &Path, current: &File, number: u64) -> io::Result<File> {
    current.sync_all()?;
    let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, number))?;
    // The new file's directory entry must survive a crash too.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

pub struct DiskReceiver {
    shared: Arc<Shared>,
    reader: SegmentReader,
    senders: std::sync::Weak<()>,
    /// Keeps other processes out of this buffer while it is open.
    _lock: File,
}

impl DiskReceiver {
    /// The next batch. `None` when every sender is gone and everything written was read.
    pub async fn recv(&mut self) -> Option<Vec<Event>> {
        let shared = self.shared.clone();
        loop {
            let notified = shared.written.notified();
            // Senders finish their writes before they go, so once none is left, what is
            // on disk is all there will be.
            let senders_gone = self.senders.strong_count() == 0;
            if let Some(events) = self.try_recv() {
                return Some(events);
            }
            if senders_gone {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                // Senders may go away without writing; look again now and then.
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
        }
    }

    pub fn try_recv(&mut self) -> Option<Vec<Event>> {
        let written = self.shared.state.lock().ok()?.written;
        loop {
            match self.reader.next(written) {
                Ok(Some((events, end, size))) => {
                    if let Ok(mut state) = self.shared.state.lock() {
                        state.in_flight.push_back((end, size, events.len() as u64, true));
                    }
                    return Some(events);
                }
                Ok(None) => return None,
                Err(e) => {
                    // A damaged record: the rest of this segment is unreadable. The bytes
                    // skipped go through the acknowledgement queue like a record, so the
                    // ack position and the buffered size move past them.
                    tracing::error!(error = %e, "disk buffer: damaged record; skipping to the next segment");
                    self.shared.metrics.dropped(DropReason::Corrupt, 1);
                    let Ok(skipped) = self.reader.skip_segment(written) else { return None };
                    if let Ok(mut state) = self.shared.state.lock() {
                        state.in_flight.push_back((self.reader.position, skipped, 0, false));
                    }
                }
            }
        }
    }

    /// Confirms delivery of the `n` oldest batches handed out: they will not be sent again.
    /// Damaged regions skipped between them go with them (they hold no batch to confirm).
    pub fn ack(&mut self, n: usize) {
        let Ok(mut state) = self.shared.state.lock() else { return };
        let previous = state.acked;
        let mut end = previous;
        let mut batches = n;
        while let Some(&(at, size, events, is_batch)) = state.in_flight.front() {
            if is_batch {
                if batches == 0 {
                    break;
                }
                batches -= 1;
            }
            state.in_flight.pop_front();
            end = at;
            state.bytes = state.bytes.saturating_sub(size);
            state.events = state.events.saturating_sub(events);
        }
        if end == previous {
            return;
        }
        state.acked = end;
        state.oldest_ms = if state.events == 0 { None } else { buffered_at(&self.shared.dir, end).ok() };
        self.shared.publish(&state);
        drop(state);
        if let Err(e) = write_ack(&self.shared.dir, end) {
            tracing::error!(error = %e, "disk buffer: cannot record delivery; events may be sent twice after a restart");
        }
        for segment in previous.segment..end.segment {
            let _ = fs::remove_file(segment_path(&self.shared.dir, segment));
        }
        self.shared.freed.notify_waiters();
    }

    pub fn depth(&self) -> usize {
        self.shared.state.lock().map(|s| usize::try_from(s.events).unwrap_or(usize::MAX)).unwrap_or(0)
    }
}

/// Reads records in order across segments.
struct SegmentReader {
    dir: PathBuf,
    position: Position,
    file: BufReader<File>,
}

impl SegmentReader {
    fn open(dir: &Path, at: Position) -> io::Result<Self> {
        let mut file = File::open(segment_path(dir, at.segment))?;
        file.seek(SeekFrom::Start(at.offset))?;
        Ok(SegmentReader { dir: dir.to_path_buf(), position: at, file: BufReader::new(file) })
    }

    /// The next record before `limit` (the writer's fsynced end): events, the position
    /// after it, and its size.
    fn next(&mut self, limit: Position) -> io::Result<Option<(Vec<Event>, Position, u64)>> {
        loop {
            if self.position >= limit {
                return Ok(None);
            }
            if self.position.segment < limit.segment && self.at_segment_end()? {
                self.move_to(self.position.segment + 1)?;
                continue;
            }
            let mut header = [0u8; HEADER];
            self.file.read_exact(&mut header)?;
            let (len, crc) = split_header(&header);
            let mut payload = vec![0u8; len];
            self.file.read_exact(&mut payload)?;
            if record_crc(&header, &payload) != crc {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "checksum mismatch"));
            }
            let events: Vec<Event> =
                serde_json::from_slice(&payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let size = (HEADER + len) as u64;
            self.position.offset += size;
            return Ok(Some((events, self.position, size)));
        }
    }

    fn at_segment_end(&mut self) -> io::Result<bool> {
        let len = self.file.get_ref().metadata()?.len();
        Ok(self.position.offset >= len)
    }

    fn move_to(&mut self, segment: u64) -> io::Result<()> {
        *self = SegmentReader::open(&self.dir, Position { segment, offset: 0 })?;
        Ok(())
    }

    /// Moves past the rest of the current segment (or up to `limit` in the last one);
    /// returns how many bytes were skipped.
    fn skip_segment(&mut self, limit: Position) -> io::Result<u64> {
        let from = self.position;
        if from.segment < limit.segment {
            let len = self.file.get_ref().metadata()?.len();
            self.move_to(from.segment + 1)?;
            Ok(len.saturating_sub(from.offset))
        } else {
            *self = SegmentReader::open(&self.dir, limit)?;
            Ok(limit.offset.saturating_sub(from.offset))
        }
    }
}

struct Scan {
    end: u64,
    events: u64,
    bad_records: u64,
}

/// Walks a segment's records from `start`: where valid data ends and how many events.
fn scan_segment(dir: &Path, segment: u64, start: u64) -> io::Result<Scan> {
    let mut reader = BufReader::new(File::open(segment_path(dir, segment))?);
    reader.seek(SeekFrom::Start(start))?;
    let mut scan = Scan { end: start, events: 0, bad_records: 0 };
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; HEADER];
        if reader.read_exact(&mut header).is_err() {
            return Ok(scan);
        }
        let (len, crc) = split_header(&header);
        payload.resize(len, 0);
        if reader.read_exact(&mut payload).is_err() {
            // Torn write at the end: the batch was never confirmed to its source.
            return Ok(scan);
        }
        let events = (record_crc(&header, &payload) == crc)
            .then(|| serde_json::from_slice::<Vec<serde_json::Value>>(&payload).ok())
            .flatten();
        match events {
            Some(events) => {
                scan.events += events.len() as u64;
                scan.end += (HEADER + len) as u64;
            }
            None => {
                scan.bad_records += 1;
                return Ok(scan);
            }
        }
    }
}

/// Payload length and checksum from a record header.
fn split_header(header: &[u8; HEADER]) -> (usize, u32) {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (len, crc)
}

/// The checksum of a record: its buffered-at time and its payload.
fn record_crc(header: &[u8; HEADER], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..16]);
    hasher.update(payload);
    hasher.finalize()
}

/// When the record at `at` was buffered (ms since the epoch).
fn buffered_at(dir: &Path, at: Position) -> io::Result<u64> {
    let mut file = File::open(segment_path(dir, at.segment))?;
    if at.offset >= file.metadata()?.len() {
        // The next record is at the start of the next segment.
        file = File::open(segment_path(dir, at.segment + 1))?;
    } else {
        file.seek(SeekFrom::Start(at.offset))?;
    }
    let mut header = [0u8; HEADER];
    file.read_exact(&mut header)?;
    Ok(u64::from_le_bytes(header[8..16].try_into().unwrap_or_default()))
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:010}.seg"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
        .collect();
    segments.sort_unstable();
    Ok(segments)
}

fn read_ack(dir: &Path) -> io::Result<Position> {
    match fs::read(dir.join("ack")) {
        Ok(bytes) if bytes.len() == 20 => {
            let segment = u64::from_le_bytes(bytes[0..8].try_into().unwrap_or_default());
            let offset = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
            let crc = u32::from_le_bytes(bytes[16..20].try_into().unwrap_or_default());
            if crc32fast::hash(&bytes[..16]) != crc {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "ack file checksum mismatch"));
            }
            Ok(Position { segment, offset })
        }
        Ok(_) => Err(io::Error::new(io::ErrorKind::InvalidData, "ack file has the wrong size")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let first = list_segments(dir)?.first().copied().unwrap_or(0);
            Ok(Position { segment: first, offset: 0 })
        }
        Err(e) => Err(e),
    }
}

fn write_ack(dir: &Path, at: Position) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(&at.segment.to_le_bytes());
    bytes.extend_from_slice(&at.offset.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    let tmp = dir.join("ack.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_data()?;
    fs::rename(&tmp, dir.join("ack"))?;
    // The rename itself must survive a crash.
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LogEvent, Status};
    use crate::telemetry::{ComponentKind, Telemetry};

    fn events(from: usize, n: usize) -> Vec<Event> {
        (from..from + n)
            .map(|i| {
                Event::Log(LogEvent {
                    timestamp: jiff::Timestamp::UNIX_EPOCH,
                    host: None,
                    source: "test".into(),
                    service: None,
                    status: Status::Info,
                    message: format!("event {i}"),
                    tags: Default::default(),
                    attributes: Default::default(),
                })
            })
            .collect()
    }

    fn messages(batch: &[Event]) -> Vec<String> {
        batch
            .iter()
            .map(|e| match e {
                Event::Log(log) => log.message.clone(),
                Event::Metric(m) => m.name.clone(),
                Event::Metadata(m) => m.device_id.clone(),
            })
            .collect()
    }

    struct Buffer {
        telemetry: Telemetry,
        dir: tempfile::TempDir,
    }

    impl Buffer {
        fn new() -> Self {
            Buffer { telemetry: Telemetry::new(), dir: tempfile::tempdir().unwrap() }
        }

        fn open(&self, max_bytes: u64, when_full: WhenFull) -> (DiskSender, DiskReceiver, ComponentMetrics) {
            let metrics = self.telemetry.component(ComponentKind::Sink, "s", "test");
            let (tx, rx) = open_with_segments(self.dir.path(), max_bytes, when_full, metrics.clone(), 4096).unwrap();
            (tx, rx, metrics)
        }
    }

    #[tokio::test]
    async fn delivered_batches_are_not_replayed_and_segments_are_removed() {
        let buffer = Buffer::new();
        let (tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        for i in 0..20 {
            assert_eq!(tx.send(events(i * 10, 10)).await, 0);
        }
        let mut seen = Vec::new();
        for _ in 0..20 {
            seen.extend(messages(&rx.recv().await.unwrap()));
            rx.ack(1);
        }
        assert_eq!(seen.len(), 200);
        assert_eq!(seen[199], "event 199");
        assert!(list_segments(buffer.dir.path()).unwrap().len() <= 2, "delivered segments are deleted");
        drop((tx, rx));

        let (tx, mut rx, metrics) = buffer.open(1 << 20, WhenFull::Block);
        assert_eq!(rx.try_recv(), None);
        assert_eq!(metrics.status().queue_events, 0);
        tx.send(events(1000, 1)).await;
        assert_eq!(messages(&rx.recv().await.unwrap()), ["event 1000"]);
    }

    #[tokio::test]
    async fn unacknowledged_batches_come_back_after_a_crash() {
        let buffer = Buffer::new();
        let (tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        for i in 0..5 {
            tx.send(events(i * 3, 3)).await;
        }
        rx.recv().await.unwrap();
        rx.ack(1);
        rx.recv().await.unwrap(); // read, not acknowledged: lost in flight by a crash
        drop((tx, rx));

        let (_tx, mut rx, metrics) = buffer.open(1 << 20, WhenFull::Block);
        let mut replayed = Vec::new();
        while let Some(batch) = rx.try_recv() {
            replayed.extend(messages(&batch));
        }
        let expected: Vec<String> = (3..15).map(|i| format!("event {i}")).collect();
        assert_eq!(replayed, expected);
        assert_eq!(metrics.status().queue_events, 12);
        let oldest = metrics.status().oldest_buffered_timestamp;
        let now = jiff::Timestamp::now().as_second() as f64;
        assert!(oldest > now - 60.0 && oldest <= now + 1.0, "oldest buffered at {oldest}, now {now}");
        rx.ack(4);
        assert_eq!(metrics.status().oldest_buffered_timestamp, 0.0, "nothing waits any more");
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_and_a_damaged_record_is_counted() {
        let buffer = Buffer::new();
        let (tx, rx, _) = buffer.open(1 << 20, WhenFull::Block);
        tx.send(events(0, 2)).await;
        tx.send(events(2, 2)).await;
        drop((tx, rx));
        let segment = segment_path(buffer.dir.path(), list_segments(buffer.dir.path()).unwrap()[0]);
        // A crash in the middle of a write leaves half a record.
        let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'[']).unwrap();
        drop(file);

        let (tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        tx.send(events(4, 1)).await;
        let mut all = Vec::new();
        while let Some(batch) = rx.try_recv() {
            all.extend(messages(&batch));
        }
        assert_eq!(all, ["event 0", "event 1", "event 2", "event 3", "event 4"]);
        drop((tx, rx));

        // Flip a byte inside the first record's payload: its checksum fails.
        let mut bytes = fs::read(&segment).unwrap();
        bytes[HEADER + 3] ^= 0xff;
        fs::write(&segment, bytes).unwrap();
        let (_tx, mut rx, metrics) = buffer.open(1 << 20, WhenFull::Block);
        assert_eq!(rx.try_recv(), None, "the damaged record ends its segment");
        assert_eq!(metrics.drop_counter(DropReason::Corrupt).get(), 1);
    }

    /// Several batches out, a damaged record skipped after them: confirming the first batch
    /// must not confirm the second (the skipped region goes with the batch before it).
    #[tokio::test]
    async fn a_skipped_damaged_record_never_confirms_a_batch_still_out() {
        let buffer = Buffer::new();
        let (tx, rx, _) = buffer.open(1 << 20, WhenFull::Block);
        for i in 0..3 {
            tx.send(events(i, 1)).await;
        }
        // Too large for what is left of the 4 KiB segment: starts the next one.
        tx.send(events(3, 60)).await;
        drop((tx, rx));
        let segments = list_segments(buffer.dir.path()).unwrap();
        assert_eq!(segments.len(), 2, "three small records, then the large one in a segment of its own");
        // Damage the third record of the first segment.
        let first = segment_path(buffer.dir.path(), segments[0]);
        let mut bytes = fs::read(&first).unwrap();
        let mut offset = 0;
        for _ in 0..2 {
            let header: [u8; HEADER] = bytes[offset..offset + HEADER].try_into().unwrap();
            offset += HEADER + split_header(&header).0;
        }
        bytes[offset + HEADER + 2] ^= 0xff;
        fs::write(&first, bytes).unwrap();

        let (tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        let mut out = Vec::new();
        while let Some(batch) = rx.try_recv() {
            out.push(messages(&batch));
        }
        assert_eq!(out.len(), 3, "event 0, event 1, then the next segment: {out:?}");
        rx.ack(1);
        drop((tx, rx));

        let (_tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        let first_replayed = rx.try_recv().map(|b| messages(&b));
        assert_eq!(first_replayed, Some(vec!["event 1".to_owned()]), "the unconfirmed batch comes back");
    }

    #[tokio::test]
    async fn full_buffer_drops_exactly_or_blocks_until_delivery() {
        let buffer = Buffer::new();
        let (tx, mut rx, metrics) = buffer.open(600, WhenFull::DropNewest);
        let mut dropped = 0;
        for i in 0..20 {
            dropped += tx.send(events(i, 1)).await;
        }
        let mut kept = 0;
        while let Some(batch) = rx.try_recv() {
            kept += batch.len();
        }
        assert!(dropped > 0 && kept > 0);
        assert_eq!(kept + dropped, 20, "every event is kept or counted");
        assert_eq!(metrics.drop_counter(DropReason::QueueFull).get(), dropped as u64);
        drop((tx, rx));

        let buffer = Buffer::new();
        let (tx, mut rx, _) = buffer.open(300, WhenFull::Block);
        tx.send(events(0, 3)).await;
        let blocked = tokio::spawn(async move { tx.send(events(3, 3)).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!blocked.is_finished(), "the writer must wait for room");
        rx.recv().await.unwrap();
        rx.ack(1);
        assert_eq!(blocked.await.unwrap(), 0);
        assert_eq!(messages(&rx.recv().await.unwrap()), ["event 3", "event 4", "event 5"]);
    }

    #[tokio::test]
    async fn one_process_per_buffer_a_bad_ack_file_replays_and_nan_survives() {
        let buffer = Buffer::new();
        let (tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        let metrics = buffer.telemetry.component(ComponentKind::Sink, "other", "test");
        let second = open_with_segments(buffer.dir.path(), 1 << 20, WhenFull::Block, metrics, 4096);
        assert!(second.is_err_and(|e| e.to_string().contains("in use by another nocwatch")));

        let nan = Event::Metric(crate::event::Metric {
            name: "m".into(),
            metric_type: crate::event::MetricType::Gauge,
            value: f64::NAN,
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            interval_secs: None,
            host: None,
            tags: Default::default(),
        });
        tx.send(vec![nan]).await;
        tx.send(events(0, 1)).await;
        match rx.recv().await.unwrap().first() {
            Some(Event::Metric(m)) => assert!(m.value.is_nan()),
            other => panic!("{other:?}"),
        }
        rx.ack(1);
        drop((tx, rx));

        // A damaged ack file: everything still on disk is delivered again, nothing lost.
        fs::write(buffer.dir.path().join("ack"), b"garbage").unwrap();
        let (_tx, mut rx, _) = buffer.open(1 << 20, WhenFull::Block);
        let mut all = 0;
        while let Some(batch) = rx.try_recv() {
            all += batch.len();
        }
        assert_eq!(all, 2);
    }
}
