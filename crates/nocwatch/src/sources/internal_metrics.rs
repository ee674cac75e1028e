//! The internal_metrics source: nocwatch's own counters as metric events, so they can be
//! shipped like device metrics (to Datadog, Prometheus, a file) and alerted on.
//!
//! Every `interval` it emits, per component, `nocwatch.component.{received,sent,dropped}_events`
//! (counts since the last emission) and `nocwatch.queue.events` (gauge).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::SourceContext;
use crate::component::Running;
use crate::config::Duration;
use crate::event::{Event, Metric, MetricType, Tags};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalMetricsConfig {
    #[serde(default = "default_interval")]
    pub interval: Duration,
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

impl InternalMetricsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.get().is_zero() {
            return Err("interval must be more than 0s".to_owned());
        }
        Ok(())
    }

    pub async fn build(&self, ctx: SourceContext) -> anyhow::Result<Running> {
        Ok(Box::pin(run(self.interval.get(), ctx)))
    }
}

async fn run(interval: std::time::Duration, ctx: SourceContext) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let interval_secs = u32::try_from(interval.as_secs().max(1)).unwrap_or(u32::MAX);
    let mut last: HashMap<String, [u64; 3]> = HashMap::new();
    let _ = ctx.healthy.send(true);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let timestamp = jiff::Timestamp::now();
        let mut events = Vec::new();
        for status in ctx.telemetry.components() {
            let status = status.status();
            let key = format!("{}/{}", status.kind.as_str(), status.id);
            let now = [status.received_events, status.sent_events, status.dropped_events];
            let before = last.insert(key, now).unwrap_or([0; 3]);
            let tags: Tags = [
                ("component_kind".to_owned(), status.kind.as_str().to_owned()),
                ("component_id".to_owned(), status.id.clone()),
                ("component_type".to_owned(), status.component_type.clone()),
            ]
            .into();
            let metric = |name: &str, metric_type, value: f64| {
                Event::Metric(Metric {
                    name: name.to_owned(),
                    metric_type,
                    value,
                    timestamp,
                    interval_secs: (metric_type == MetricType::Count).then_some(interval_secs),
                    host: Some(ctx.hostname.clone()),
                    tags: tags.clone(),
                })
            };
            for (i, name) in ["received", "sent", "dropped"].iter().enumerate() {
                let delta = now[i].saturating_sub(before[i]) as f64;
                events.push(metric(&format!("nocwatch.component.{name}_events"), MetricType::Count, delta));
            }
            events.push(metric("nocwatch.queue.events", MetricType::Gauge, status.queue_events as f64));
        }
        ctx.output.send(events).await;
    }
    Ok(())
}
