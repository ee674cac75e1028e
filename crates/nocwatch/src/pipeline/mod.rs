//! The pipeline between sources and sinks: each sink has a bounded queue
//! ([`queue::bounded`]); a source hands its events to a [`SourceOutput`], which puts each
//! event in the queue of every sink that takes it (by kind and by the sink's `inputs`).
//!
//! There is no central router task: a source pushes straight into sink queues, so an event
//! is copied only when more than one sink takes it, and a slow sink with `drop_newest`
//! costs other sinks nothing.

pub mod queue;

pub use queue::{BufferConfig, QueueReceiver, QueueSender, WhenFull};

use prometheus_client::metrics::counter::Counter;

use crate::event::{Accepts, Event};
use crate::telemetry::{ComponentMetrics, DropReason};

struct Target {
    queue: QueueSender,
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

    pub fn add_target(&mut self, queue: QueueSender, accepts: Accepts) {
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
        let (logs_tx, mut logs_rx) = queue::bounded(&BufferConfig::default(), logs_sink);
        let small = BufferConfig { max_events: 2, when_full: WhenFull::DropNewest };
        let (small_tx, mut small_rx) = queue::bounded(&small, small_sink.clone());
        let mut output = SourceOutput::new(source.clone());
        output.add_target(logs_tx, Accepts::LOGS);
        output.add_target(small_tx, Accepts::ALL);

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
