//! The bounded queue in front of each sink, counted in events (not batches), with the
//! sink's policy for when it is full: wait (`block`) or drop the new events and count them
//! (`drop_newest`). Memory is bounded either way.
//!
//! Batches travel as `Vec<Event>` so a burst costs one channel operation; a semaphore with
//! one permit per queued event enforces the bound.

use std::collections::VecDeque;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Semaphore, mpsc};

use super::WhenFull;
use crate::event::Event;
use crate::telemetry::{ComponentMetrics, DropReason};

struct Shared {
    permits: Semaphore,
    capacity: usize,
    metrics: ComponentMetrics,
}

impl Shared {
    fn publish_depth(&self) {
        let depth = self.capacity.saturating_sub(self.permits.available_permits());
        self.metrics.set_queue(depth, self.capacity);
    }
}

/// Creates a sink's in-memory queue; `metrics` are the sink's.
pub fn bounded(max_events: usize, when_full: WhenFull, metrics: ComponentMetrics) -> (QueueSender, QueueReceiver) {
    let capacity = max_events.max(1);
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { permits: Semaphore::new(capacity), capacity, metrics: metrics.clone() });
    shared.publish_depth();
    let sender = QueueSender {
        tx,
        shared: shared.clone(),
        when_full,
        dropped_full: metrics.drop_counter(DropReason::QueueFull),
    };
    (sender, QueueReceiver { rx, shared, taken: VecDeque::new() })
}

#[derive(Clone)]
pub struct QueueSender {
    tx: mpsc::UnboundedSender<(Vec<Event>, u64)>,
    shared: Arc<Shared>,
    when_full: WhenFull,
    dropped_full: Counter,
}

impl QueueSender {
    pub fn id(&self) -> &str {
        self.shared.metrics.id()
    }

    /// Queues `events` by the sink's policy; returns how many were dropped.
    pub async fn send(&self, mut events: Vec<Event>) -> usize {
        let total = events.len();
        if total == 0 {
            return 0;
        }
        let dropped = match self.when_full {
            WhenFull::DropNewest => {
                let room = self.reserve_available(total);
                events.truncate(room);
                let dropped = total - room;
                if room > 0 {
                    self.push(events, room);
                }
                dropped
            }
            WhenFull::Block => {
                let mut dropped = 0;
                while !events.is_empty() {
                    let take = events.len().min(self.shared.capacity);
                    let rest = events.split_off(take);
                    match self.shared.permits.acquire_many(take as u32).await {
                        Ok(permit) => {
                            permit.forget();
                            self.push(events, take);
                        }
                        // The sink is gone: nothing can take these any more.
                        Err(_) => dropped += take,
                    }
                    events = rest;
                }
                dropped
            }
        };
        if dropped > 0 {
            self.dropped_full.inc_by(dropped as u64);
        }
        dropped
    }

    /// Takes up to `wanted` permits without waiting; returns how many it got.
    fn reserve_available(&self, wanted: usize) -> usize {
        loop {
            let take = wanted.min(self.shared.permits.available_permits());
            if take == 0 {
                return 0;
            }
            match self.shared.permits.try_acquire_many(take as u32) {
                Ok(permit) => {
                    permit.forget();
                    return take;
                }
                // The sink is gone: nothing will ever make room (without this, a spin).
                Err(tokio::sync::TryAcquireError::Closed) => return 0,
                // Another sender took the room first: look again.
                Err(tokio::sync::TryAcquireError::NoPermits) => {}
            }
        }
    }

    fn push(&self, events: Vec<Event>, permits: usize) {
        let count = events.len() as u64;
        let now_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
        if self.tx.send((events, now_ms)).is_err() {
            self.shared.permits.add_permits(permits);
            self.dropped_full.inc_by(count);
            return;
        }
        self.shared.metrics.received(count);
        self.shared.publish_depth();
    }
}

pub struct QueueReceiver {
    rx: mpsc::UnboundedReceiver<(Vec<Event>, u64)>,
    shared: Arc<Shared>,
    /// When each batch taken and not yet acknowledged was queued (ms), oldest first.
    taken: VecDeque<u64>,
}

impl QueueReceiver {
    /// The next batch; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Vec<Event>> {
        let (batch, queued_at) = self.rx.recv().await?;
        self.release(batch.len(), queued_at);
        Some(batch)
    }

    /// The next batch if one is waiting.
    pub fn try_recv(&mut self) -> Option<Vec<Event>> {
        let (batch, queued_at) = self.rx.try_recv().ok()?;
        self.release(batch.len(), queued_at);
        Some(batch)
    }

    /// Delivery of the `n` oldest batches taken is done.
    pub fn ack(&mut self, n: usize) {
        self.taken.drain(..n.min(self.taken.len()));
        match self.taken.front() {
            Some(&oldest) => self.shared.metrics.set_oldest_buffered(Some(oldest)),
            None if self.rx.is_empty() => self.shared.metrics.set_oldest_buffered(None),
            None => {}
        }
    }

    /// Events still waiting (counted as dropped if the sink is stopped before taking them).
    pub fn depth(&self) -> usize {
        self.shared.capacity.saturating_sub(self.shared.permits.available_permits())
    }

    fn release(&mut self, n: usize, queued_at: u64) {
        self.shared.permits.add_permits(n);
        self.shared.publish_depth();
        // Taken but not delivered yet: the oldest undelivered is the first one taken.
        self.taken.push_back(queued_at);
        let oldest = self.taken.front().copied().unwrap_or(queued_at);
        self.shared.metrics.set_oldest_buffered(Some(oldest));
    }
}

impl Drop for QueueReceiver {
    fn drop(&mut self) {
        // Wake senders blocked on a sink that stopped.
        self.shared.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LogEvent, Status};
    use crate::telemetry::{ComponentKind, Telemetry};

    fn events(n: usize) -> Vec<Event> {
        let log = LogEvent {
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            host: None,
            source: "test".into(),
            service: None,
            status: Status::Info,
            message: "x".into(),
            tags: Default::default(),
            attributes: Default::default(),
        };
        vec![Event::Log(log); n]
    }

    #[tokio::test]
    async fn drop_newest_keeps_the_bound_and_counts() {
        let telemetry = Telemetry::new();
        let metrics = telemetry.component(ComponentKind::Sink, "s", "test");
        let (tx, mut rx) = bounded(10, WhenFull::DropNewest, metrics.clone());
        assert_eq!(tx.send(events(7)).await, 0);
        assert_eq!(tx.send(events(7)).await, 4);
        assert_eq!(tx.send(events(1)).await, 1);
        assert_eq!(rx.depth(), 10);
        assert_eq!(metrics.status().dropped_events, 5);
        assert_eq!(metrics.status().received_events, 10);
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(7));
        assert_eq!(tx.send(events(2)).await, 0);
        assert_eq!(rx.depth(), 5);
    }

    #[tokio::test]
    async fn block_waits_for_room_and_splits_big_batches() {
        let telemetry = Telemetry::new();
        let metrics = telemetry.component(ComponentKind::Sink, "s", "test");
        let (tx, mut rx) = bounded(4, WhenFull::Block, metrics.clone());
        let sender = tokio::spawn(async move { tx.send(events(10)).await });
        let mut received = 0;
        while let Some(batch) = rx.recv().await {
            assert!(batch.len() <= 4);
            received += batch.len();
            if received == 10 {
                break;
            }
        }
        assert_eq!(sender.await.unwrap(), 0);
        assert_eq!(metrics.status().dropped_events, 0);
    }

    #[tokio::test]
    async fn a_stopped_sink_makes_drop_newest_drop_instead_of_spinning() {
        let telemetry = Telemetry::new();
        let metrics = telemetry.component(ComponentKind::Sink, "s", "test");
        let (tx, rx) = bounded(10, WhenFull::DropNewest, metrics.clone());
        drop(rx);
        let sent = tokio::time::timeout(std::time::Duration::from_secs(1), tx.send(events(3))).await;
        assert_eq!(sent.ok(), Some(3), "dropped and counted, at once");
    }

    #[tokio::test]
    async fn a_stopped_sink_releases_blocked_senders() {
        let telemetry = Telemetry::new();
        let metrics = telemetry.component(ComponentKind::Sink, "s", "test");
        let (tx, rx) = bounded(2, WhenFull::Block, metrics.clone());
        assert_eq!(tx.send(events(2)).await, 0);
        let sender = tokio::spawn(async move { tx.send(events(3)).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(sender.await.unwrap(), 3);
    }
}
