//! The pipeline between sources and sinks: each sink has a bounded buffer, in memory
//! ([`queue`]) or on disk ([`disk`]); a source hands its events to a [`SourceOutput`],
//! which puts each event in the buffer of every sink that takes it (by kind and by the
//! sink's `inputs`). Sinks read batches from their [`BufferReceiver`] and acknowledge
//! them once delivered, which is what lets a disk buffer deliver at least once.
//!
//! There is no central router task: a source pushes straight into sink queues, so an event
//! is copied only when more than one sink takes it, and a slow sink with `drop_newest`
//! costs other sinks nothing.

pub mod disk;
pub mod queue;

use std::path::Path;

use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

use crate::config::ByteSize;

use crate::event::{Accepts, Event};
use crate::telemetry::{ComponentMetrics, DropReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// The source waits for room. Use when loss is worse than delay; a stuck sink then
    /// holds back every sink fed by the same sources (and UDP senders lose datagrams in
    /// the kernel instead, uncounted by nocwatch).
    Block,
    /// New events are dropped and counted; the source and other sinks go on.
    DropNewest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferType {
    /// Fast; lost on restart or crash.
    Memory,
    /// Survives restarts and crashes; delivery is at least once.
    Disk,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    #[serde(rename = "type")]
    pub buffer_type: BufferType,
    /// Memory buffer: how many events it holds.
    pub max_events: usize,
    /// Disk buffer: how many bytes of undelivered events it holds.
    pub max_size: ByteSize,
    pub when_full: WhenFull,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            buffer_type: BufferType::Memory,
            max_events: 10_000,
            max_size: ByteSize::mib(1024),
            when_full: WhenFull::DropNewest,
        }
    }
}

/// Creates the buffer of sink `id`; a disk buffer lives in `<data_dir>/buffers/<id>`.
pub fn buffer(
    config: &BufferConfig,
    id: &str,
    data_dir: &Path,
    metrics: ComponentMetrics,
) -> anyhow::Result<(BufferSender, BufferReceiver)> {
    Ok(match config.buffer_type {
        BufferType::Memory => {
            let (tx, rx) = queue::bounded(config.max_events, config.when_full, metrics);
            (BufferSender::Memory(tx), BufferReceiver::Memory(rx))
        }
        BufferType::Disk => {
            let dir = data_dir.join("buffers").join(id);
            let (tx, rx) = disk::open(&dir, config.max_size.get(), config.when_full, metrics)?;
            (BufferSender::Disk(tx), BufferReceiver::Disk(rx))
        }
    })
}

#[derive(Clone)]
pub enum BufferSender {
    Memory(queue::QueueSender),
    Disk(disk::DiskSender),
}

impl BufferSender {
    pub fn id(&self) -> &str {
        match self {
            BufferSender::Memory(tx) => tx.id(),
            BufferSender::Disk(tx) => tx.id(),
        }
    }

    /// Buffers `events` by the sink's policy; returns how many were dropped.
    pub async fn send(&self, events: Vec<Event>) -> usize {
        match self {
            BufferSender::Memory(tx) => tx.send(events).await,
            BufferSender::Disk(tx) => tx.send(events).await,
        }
    }
}

pub enum BufferReceiver {
    Memory(queue::QueueReceiver),
    Disk(disk::DiskReceiver),
}

impl BufferReceiver {
    /// The next batch; `None` once every source is gone and the buffer is empty.
    pub async fn recv(&mut self) -> Option<Vec<Event>> {
        match self {
            BufferReceiver::Memory(rx) => rx.recv().await,
            BufferReceiver::Disk(rx) => rx.recv().await,
        }
    }

    /// The next batch if one is waiting.
    pub fn try_recv(&mut self) -> Option<Vec<Event>> {
        match self {
            BufferReceiver::Memory(rx) => rx.try_recv(),
            BufferReceiver::Disk(rx) => rx.try_recv(),
        }
    }

    /// Confirms that the `n` oldest batches received are delivered (or given up on and
    /// counted): a disk buffer will not send them again after a restart.
    pub fn ack(&mut self, n: usize) {
        match self {
            BufferReceiver::Memory(rx) => rx.ack(n),
            BufferReceiver::Disk(rx) => rx.ack(n),
        }
    }

    /// Events waiting.
    pub fn depth(&self) -> usize {
        match self {
            BufferReceiver::Memory(rx) => rx.depth(),
            BufferReceiver::Disk(rx) => rx.depth(),
        }
    }
}

struct Target {
    queue: BufferSender,
    accepts: Accepts,
}

/// Where a source sends its events.
pub struct SourceOutput {
    targets: Vec<Target>,
    metrics: ComponentMetrics,
    dropped: Counter,
}

impl SourceOutput {
    pub fn new(metrics: ComponentMetrics) -> Self {
        let dropped = metrics.drop_counter(DropReason::QueueFull);
        SourceOutput { targets: Vec::new(), metrics, dropped }
    }

    pub fn add_target(&mut self, queue: BufferSender, accepts: Accepts) {
        self.targets.push(Target { queue, accepts });
    }

    pub fn sink_ids(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| t.queue.id())
    }

    /// Sends a batch to every sink that takes it. Events no sink takes are not counted as
    /// dropped: nothing was configured to want them.
    pub async fn send(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.metrics.received(events.len() as u64);
        let mut remaining = Some(events);
        for (index, target) in self.targets.iter().enumerate() {
            let Some(events) = remaining.as_ref() else {
                break;
            };
            let wants_all = events.iter().all(|e| target.accepts.accepts(e.kind()));
            let is_last = index + 1 == self.targets.len();
            let batch = if wants_all && is_last {
                remaining.take().unwrap_or_default()
            } else if wants_all {
                events.clone()
            } else {
                events.iter().filter(|e| target.accepts.accepts(e.kind())).cloned().collect()
            };
            let dropped = target.queue.send(batch).await;
            if dropped > 0 {
                self.dropped.inc_by(dropped as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LogEvent, Metric, MetricType, Status};
    use crate::telemetry::{ComponentKind, Telemetry};

    fn log() -> Event {
        Event::Log(LogEvent {
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            host: None,
            source: "t".into(),
            service: None,
            status: Status::Info,
            message: "m".into(),
            tags: Default::default(),
            attributes: Default::default(),
        })
    }

    fn metric() -> Event {
        Event::Metric(Metric {
            name: "m".into(),
            metric_type: MetricType::Gauge,
            value: 1.0,
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            interval_secs: None,
            host: None,
            tags: Default::default(),
        })
    }

    #[tokio::test]
    async fn each_sink_gets_the_kinds_it_takes_and_drops_count_on_both_sides() {
        let telemetry = Telemetry::new();
        let source = telemetry.component(ComponentKind::Source, "src", "test");
        let logs_sink = telemetry.component(ComponentKind::Sink, "logs", "test");
        let small_sink = telemetry.component(ComponentKind::Sink, "small", "test");
        let (logs_tx, mut logs_rx) = queue::bounded(10, WhenFull::DropNewest, logs_sink);
        let (small_tx, mut small_rx) = queue::bounded(2, WhenFull::DropNewest, small_sink.clone());
        let mut output = SourceOutput::new(source.clone());
        output.add_target(BufferSender::Memory(logs_tx), Accepts::LOGS);
        output.add_target(BufferSender::Memory(small_tx), Accepts::ALL);

        output.send(vec![log(), metric(), log(), metric()]).await;

        let logs: Vec<Event> = logs_rx.recv().await.unwrap();
        assert_eq!(logs.len(), 2);
        assert!(logs.iter().all(|e| matches!(e, Event::Log(_))));
        assert_eq!(small_rx.recv().await.unwrap().len(), 2);
        assert_eq!(small_sink.status().dropped_events, 2);
        assert_eq!(source.status().dropped_events, 2);
        assert_eq!(source.status().received_events, 4);
    }
}
