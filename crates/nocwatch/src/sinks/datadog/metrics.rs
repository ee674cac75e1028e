//! The Datadog metrics sink: `POST /api/v2/series` on `api.<site>`, the documented
//! `MetricPayload` (metric, type, points, resources, tags, interval), gzip, requests
//! within the documented limits (512000 bytes as sent, 5 MiB decompressed).
//!
//! Types map one to one (gauge 3, count 1 with `interval`, rate 2 with `interval`), so the
//! names and tags of the Datadog SNMP integration arrive as Datadog itself would send them.
//! The series' host is the device (the seed's `use_device_id_as_hostname`) or, with
//! `host: agent`, nocwatch's own host name.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::DatadogHttpConfig;
use crate::component::Running;
use crate::config::inline::inline_keys;
use crate::config::{Invalid, Secret};
use crate::event::{Event, Metric, MetricType};
use crate::sinks::SinkContext;
use crate::sinks::util::http;
use crate::sinks::util::request::{Encoded, Encoder, Request};

/// Documented limits of `/api/v2/series`.
const MAX_SENT_BYTES: usize = 512_000;
const MAX_DECOMPRESSED_BYTES: usize = 5_242_880;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostChoice {
    /// The device the metric is about (as with `use_device_id_as_hostname`).
    #[default]
    Device,
    /// nocwatch's own host name.
    Agent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct DatadogMetricsConfig {
    pub api_key: Secret,
    #[serde(default = "super::default_site")]
    pub site: String,
    /// Overrides the API base URL (`https://host:port`).
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub host: HostChoice,
    /// Added to every series (`env:prd`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Written inline: `compression`, `request_timeout`, `batch`, `request`, `retry`, `tls`.
    #[serde(flatten, skip_deserializing)]
    pub http: DatadogHttpConfig,
}

inline_keys!(DatadogMetricsConfig, http: DatadogHttpConfig);

impl DatadogMetricsConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        super::check_account(&self.site, &self.api_key)?;
        self.intake()?;
        Ok(self.http.validate()?)
    }

    pub(super) fn intake(&self) -> Result<super::Intake, Invalid> {
        let host = format!("api.{}", self.site);
        super::Intake::new(self.endpoint.as_deref(), &host, "/api/v2/series", &self.api_key)
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        let agent_host = (self.host == HostChoice::Agent).then(|| ctx.hostname.clone());
        let encoder = SeriesEncoder { tags: self.tags.clone(), agent_host, gzip: self.http.gzip() };
        self.http.deliver(ctx, encoder, self.intake().map_err(anyhow::Error::msg)?)
    }
}

/// The sink's encoder with no extra tags (for tests and benchmarks).
pub fn series_encoder(gzip: bool) -> impl Encoder {
    SeriesEncoder { tags: Vec::new(), agent_host: None, gzip }
}

struct SeriesEncoder {
    tags: Vec<String>,
    agent_host: Option<String>,
    gzip: bool,
}

impl SeriesEncoder {
    fn series(&self, metric: &Metric) -> Value {
        let (kind, interval) = match metric.metric_type {
            MetricType::Gauge => (3, None),
            MetricType::Count => (1, metric.interval_secs),
            MetricType::Rate => (2, metric.interval_secs),
        };
        let mut tags: Vec<String> = self.tags.clone();
        tags.extend(metric.tags.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}:{v}") }));
        let mut series = json!({
            "metric": metric.name,
            "type": kind,
            "points": [{"timestamp": metric.timestamp.as_second(), "value": metric.value}],
            "tags": tags,
        });
        if let Some(host) = self.agent_host.as_ref().or(metric.host.as_ref()) {
            series["resources"] = json!([{"name": host, "type": "host"}]);
        }
        if let Some(interval) = interval {
            series["interval"] = json!(interval);
        }
        series
    }

    /// The payload for the first `n` metrics of `metrics`, with how many it holds.
    fn payload(&self, metrics: &[&Metric], max_plain: usize) -> (Vec<u8>, usize) {
        let mut body = Vec::with_capacity(64 * 1024);
        body.extend_from_slice(b"{\"series\":[");
        let mut count = 0;
        let mut item = Vec::with_capacity(512);
        for metric in metrics {
            item.clear();
            // A `Value` built from a metric always serializes.
            let _ = serde_json::to_writer(&mut item, &self.series(metric));
            if count > 0 && body.len() + item.len() + 3 > max_plain {
                break;
            }
            if count > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&item);
            count += 1;
        }
        body.extend_from_slice(b"]}");
        (body, count)
    }
}

impl Encoder for SeriesEncoder {
    fn encode(&mut self, events: &[Event]) -> Encoded {
        // Consume up to the next non-metric event; logs are not this sink's (filtered
        // upstream, skipped here for safety).
        let run = events.iter().take_while(|e| matches!(e, Event::Metric(_))).count().max(1);
        // JSON has no NaN or infinity, and the API refuses a whole request over one `null`.
        let metrics: Vec<&Metric> = events[..run]
            .iter()
            .filter_map(|e| match e {
                Event::Metric(m) if m.value.is_finite() => Some(m),
                _ => None,
            })
            .collect();
        if metrics.is_empty() {
            let failed = events[..run].iter().filter(|e| matches!(e, Event::Metric(_))).count();
            return Encoded { request: None, consumed: run, failed };
        }
        // Without compression the sent size is the plain size; with it, metrics JSON
        // compresses about 10:1, so start at the decompressed limit and halve until the
        // compressed body fits.
        let mut max_plain = if self.gzip { MAX_DECOMPRESSED_BYTES - 1024 } else { MAX_SENT_BYTES - 1024 };
        loop {
            let (plain, count) = self.payload(&metrics, max_plain);
            let body = if self.gzip { http::gzip(&plain) } else { plain };
            if body.len() <= MAX_SENT_BYTES || count == 1 {
                // Consumed: every event up to the last one included, skipped ones too.
                let consumed = if count == metrics.len() { run } else { position_of(&events[..run], metrics[count]) };
                let failed =
                    events[..consumed].iter().filter(|e| matches!(e, Event::Metric(m) if !m.value.is_finite())).count();
                return Encoded { request: Some(Request { body, events: count }), consumed, failed };
            }
            max_plain /= 2;
        }
    }
}

/// The index of `metric` (by identity) in `events`.
fn position_of(events: &[Event], metric: &Metric) -> usize {
    events.iter().position(|e| matches!(e, Event::Metric(m) if std::ptr::eq(m, metric))).unwrap_or(events.len())
}
