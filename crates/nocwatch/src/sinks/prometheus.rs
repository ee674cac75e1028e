//! The Prometheus exposition sink: the latest value of every series, served as Prometheus
//! text on its own address (not the admin one, which is nocwatch's self-metrics), for a
//! Prometheus server to scrape.
//!
//! - names are sanitised (`snmp.ifHCInOctets` → `snmp_ifHCInOctets`), tags become labels,
//!   the device becomes the `host` label; a tag key with several values (Datadog keeps a
//!   user's `site:paris` beside a profile's `site:dc1`) is one label, its values joined
//!   with `,` in order (`site="dc1,paris"`), since Prometheus forbids repeated label names;
//! - counts are summed into counters (`_total`), gauges and rates (per second) are gauges;
//! - a series not updated for `expire_after` disappears, so a removed interface goes away;
//!   expiry runs on a timer too, so memory stays bounded when nobody scrapes, and at most
//!   `max_series` are held (points of further new series are dropped and counted);
//! - names that would collide in the exposition (two tags that sanitise to one label; a gauge
//!   `x_total` beside a counter `x`) keep the first and count the rest, never emit an
//!   invalid page.
//!
//! A pull exporter has nothing to deliver or retry: this sink's loop stores what arrives
//! and acknowledges it at once, and the HTTP handler renders the store.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::component::Running;
use crate::config;
use crate::event::{Event, Metric, MetricType};
use crate::sinks::SinkContext;
use crate::telemetry::{ComponentMetrics, ComponentState, DropReason, RateLimit};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSinkConfig {
    /// Where `/metrics` is served, e.g. `0.0.0.0:9273`.
    pub address: SocketAddr,
    /// A series not updated this long is no longer exposed.
    #[serde(default = "default_expire_after")]
    pub expire_after: config::Duration,
    /// Most series held at once; points of new series beyond it are dropped (counted).
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_expire_after() -> config::Duration {
    config::Duration::from_secs(300)
}

fn default_max_series() -> usize {
    1_000_000
}

impl PrometheusSinkConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.expire_after.get().is_zero() {
            return Err("expire_after must be more than 0s".to_owned());
        }
        if self.max_series == 0 {
            return Err("max_series must be more than 0".to_owned());
        }
        Ok(())
    }

    pub fn listens(&self) -> SocketAddr {
        self.address
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        let listener = crate::net::bind_tcp(self.address)
            .with_context(|| format!("cannot serve Prometheus metrics on {}", self.address))?;
        tracing::info!(sink = %ctx.id, address = %self.address, "Prometheus exposition listening");
        let store =
            Arc::new(Mutex::new(Exposition::new(self.expire_after.get(), self.max_series, Some(ctx.metrics.clone()))));
        let app = Router::new().route("/metrics", get(render)).with_state(store.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Box::pin(async move {
            let result = run(ctx, store).await;
            server.abort();
            result
        }))
    }
}

async fn run(mut ctx: SinkContext, store: Arc<Mutex<Exposition>>) -> anyhow::Result<()> {
    ctx.metrics.set_state(ComponentState::Running);
    let period = store.lock().map(|store| store.expire_after).unwrap_or(Duration::from_secs(60));
    let mut expiry = tokio::time::interval(period.clamp(Duration::from_secs(1), Duration::from_secs(60)));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let events = tokio::select! {
            events = ctx.input.recv() => match events {
                Some(events) => events,
                None => break,
            },
            _ = expiry.tick() => {
                if let Ok(mut store) = store.lock() {
                    store.expire();
                }
                continue;
            }
        };
        let count = events.len() as u64;
        if let Ok(mut store) = store.lock() {
            for event in &events {
                if let Event::Metric(metric) = event {
                    store.update(metric);
                }
            }
        }
        ctx.input.ack(1);
        ctx.metrics.sent(count);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    name: String,
    labels: BTreeMap<String, String>,
}

struct Sample {
    counter: bool,
    value: f64,
    updated: Instant,
}

/// The latest value of every series, and its rendering as Prometheus text.
pub struct Exposition {
    series: HashMap<SeriesKey, Sample>,
    expire_after: Duration,
    max_series: usize,
    /// Where collisions and dropped points are counted (none in unit tests).
    metrics: Option<ComponentMetrics>,
}

static COLLISIONS: RateLimit = RateLimit::new(Duration::from_secs(60));

impl Exposition {
    pub fn new(expire_after: Duration, max_series: usize, metrics: Option<ComponentMetrics>) -> Self {
        Exposition { series: HashMap::new(), expire_after, max_series, metrics }
    }

    pub fn update(&mut self, metric: &Metric) {
        let mut labels = BTreeMap::new();
        for (key, group) in metric.tags.groups() {
            let label = sanitize(key);
            if labels.contains_key(&label) {
                self.collision("label", &label);
                continue;
            }
            labels.insert(label, label_value(group));
        }
        if let Some(host) = &metric.host {
            labels.entry("host".to_owned()).or_insert_with(|| host.clone());
        }
        let counter = metric.metric_type == MetricType::Count;
        let key = SeriesKey { name: sanitize(&metric.name), labels };
        let now = Instant::now();
        if !self.series.contains_key(&key) && self.series.len() >= self.max_series {
            self.expire();
            if self.series.len() >= self.max_series {
                if let Some(metrics) = &self.metrics {
                    metrics.dropped(DropReason::SeriesLimit, 1);
                }
                if let Some(suppressed) = COLLISIONS.allow() {
                    tracing::warn!(
                        max_series = self.max_series,
                        suppressed,
                        "prometheus: max_series reached; points of new series are dropped"
                    );
                }
                return;
            }
        }
        let sample = self.series.entry(key).or_insert(Sample { counter, value: 0.0, updated: now });
        if counter && sample.counter {
            sample.value += metric.value;
        } else {
            *sample = Sample { counter, value: metric.value, updated: now };
        }
        sample.updated = now;
    }

    /// Forgets the series not updated for `expire_after`.
    pub fn expire(&mut self) {
        let expire_after = self.expire_after;
        self.series.retain(|_, sample| sample.updated.elapsed() < expire_after);
    }

    fn collision(&self, what: &'static str, name: &str) {
        if let Some(metrics) = &self.metrics {
            metrics.error_counter("name_collision").inc();
        }
        if let Some(suppressed) = COLLISIONS.allow() {
            tracing::warn!(what, name, suppressed, "prometheus: two names sanitise to one; the first is kept");
        }
    }

    pub fn render(&mut self) -> String {
        self.expire();
        // Group by metric family, so each gets one TYPE line.
        let mut families: BTreeMap<(&str, bool), Vec<(&SeriesKey, &Sample)>> = BTreeMap::new();
        for (key, sample) in &self.series {
            families.entry((&key.name, sample.counter)).or_default().push((key, sample));
        }
        // A gauge `x_total` would repeat the exposed name of a counter `x`.
        let counters: std::collections::HashSet<String> =
            families.keys().filter(|(_, counter)| *counter).map(|(name, _)| format!("{name}_total")).collect();
        let mut out = String::new();
        for ((name, counter), mut series) in families {
            if !counter && counters.contains(name) {
                self.collision("metric", name);
                continue;
            }
            series.sort_by(|a, b| a.0.labels.cmp(&b.0.labels));
            let (kind, suffix) = if counter { ("counter", "_total") } else { ("gauge", "") };
            let _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
            for (key, sample) in series {
                out.push_str(name);
                out.push_str(suffix);
                if !key.labels.is_empty() {
                    out.push('{');
                    for (i, (label, value)) in key.labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(label);
                        out.push_str("=\"");
                        push_escaped(&mut out, value);
                        out.push('"');
                    }
                    out.push('}');
                }
                out.push(' ');
                push_value(&mut out, sample.value);
                out.push('\n');
            }
        }
        out
    }
}

async fn render(State(store): State<Arc<Mutex<Exposition>>>) -> impl IntoResponse {
    // Rendering a large store takes a while: off the async workers.
    let body = tokio::task::spawn_blocking(move || store.lock().map(|mut store| store.render()).unwrap_or_default())
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

/// A label's value from a tag key's values: the one value, or all of them joined with `,`
/// in order (Prometheus allows a label name once per series).
fn label_value(group: &[(String, String)]) -> String {
    match group {
        [(_, value)] => value.clone(),
        several => {
            let mut joined = String::with_capacity(several.iter().map(|(_, v)| v.len() + 1).sum());
            for (i, (_, value)) in several.iter().enumerate() {
                if i > 0 {
                    joined.push(',');
                }
                joined.push_str(value);
            }
            joined
        }
    }
}

/// A valid Prometheus metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (labels without `:`).
fn sanitize(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Appends a label value with `\\`, `"` and newlines escaped (most values need none).
fn push_escaped(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Tags;

    fn metric(name: &str, metric_type: MetricType, value: f64, tags: &[(&str, &str)]) -> Metric {
        Metric {
            name: name.into(),
            metric_type,
            value,
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            interval_secs: Some(60),
            host: Some("core-sw1".into()),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Tags>(),
        }
    }

    #[test]
    fn names_labels_counters_and_expiry() {
        let mut store = Exposition::new(Duration::from_millis(50), 100, None);
        store.update(&metric("snmp.ifHCInOctets", MetricType::Rate, 125.5, &[("interface", "Gi1/0/1")]));
        store.update(&metric("snmp.ifInErrors", MetricType::Count, 2.0, &[("interface", "Gi1/0/1")]));
        store.update(&metric("snmp.ifInErrors", MetricType::Count, 3.0, &[("interface", "Gi1/0/1")]));
        store.update(&metric("snmp.device.reachable", MetricType::Gauge, 1.0, &[("snmp-profile", "cisco \"c\"")]));
        let text = store.render();
        assert!(
            text.contains(
                "# TYPE snmp_ifHCInOctets gauge\nsnmp_ifHCInOctets{host=\"core-sw1\",interface=\"Gi1/0/1\"} 125.5\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE snmp_ifInErrors_total counter\nsnmp_ifInErrors_total{host=\"core-sw1\",interface=\"Gi1/0/1\"} 5\n"), "{text}");
        assert!(
            text.contains("snmp_device_reachable{host=\"core-sw1\",snmp_profile=\"cisco \\\"c\\\"\"} 1\n"),
            "{text}"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(store.render(), "", "stale series expire");
        assert_eq!(sanitize("1abc.def-x"), "_1abc_def_x");
    }

    #[test]
    fn colliding_names_keep_the_first_and_the_page_stays_valid() {
        let mut store = Exposition::new(Duration::from_secs(60), 100, None);
        store.update(&metric("x", MetricType::Count, 1.0, &[("a.b", "dotted"), ("a_b", "underscored")]));
        store.update(&metric("x_total", MetricType::Gauge, 7.0, &[]));
        let text = store.render();
        assert_eq!(text.matches("# TYPE x_total").count(), 1, "{text}");
        assert!(text.contains("x_total{a_b=\"dotted\",host=\"core-sw1\"} 1\n"), "{text}");
        assert!(!text.contains(" 7\n"), "the gauge that collides is not exposed: {text}");
    }

    #[test]
    fn a_tag_key_with_several_values_is_one_label_with_the_values_joined() {
        let mut store = Exposition::new(Duration::from_secs(60), 100, None);
        store.update(&metric("snmp.cpu.usage", MetricType::Gauge, 5.0, &[("site", "paris"), ("site", "dc1")]));
        let text = store.render();
        assert!(text.contains("snmp_cpu_usage{host=\"core-sw1\",site=\"dc1,paris\"} 5\n"), "{text}");
        assert_eq!(text.matches("site=").count(), 1, "{text}");
    }

    #[test]
    fn series_are_bounded_and_expire_without_a_scrape() {
        let mut store = Exposition::new(Duration::from_millis(50), 2, None);
        for interface in ["Gi1", "Gi2", "Gi3"] {
            store.update(&metric("snmp.ifInErrors", MetricType::Gauge, 1.0, &[("interface", interface)]));
        }
        assert_eq!(store.series.len(), 2, "the third series is over max_series");
        std::thread::sleep(Duration::from_millis(60));
        store.expire();
        assert!(store.series.is_empty(), "expired without rendering");
        store.update(&metric("snmp.ifInErrors", MetricType::Gauge, 1.0, &[("interface", "Gi3")]));
        assert_eq!(store.series.len(), 1, "room again once old series expired");
    }
}
