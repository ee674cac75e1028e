//! Running a config: builds sinks, then sources (so nothing is received before it has
//! somewhere to go), serves the admin API, and on SIGTERM/SIGINT drains:
//!
//! 1. readiness turns 503 and TCP health ports close at once;
//! 2. sources keep receiving for `shutdown.drain_period` while the load balancer
//!    deregisters this target;
//! 3. sources stop; sinks deliver what they hold within `shutdown.flush_timeout`;
//! 4. exit 0. A second signal exits at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState, Lifecycle, health_port};
use crate::config::Config;
use crate::pipeline::{BufferType, SourceOutput};
use crate::sinks::SinkContext;
use crate::sources::SourceContext;
use crate::telemetry::{ComponentKind, ComponentMetrics, ComponentState, DropReason, Telemetry};

/// How long sources get to return once told to stop.
const SOURCE_STOP_TIMEOUT: Duration = Duration::from_secs(5);

struct Task {
    id: String,
    metrics: ComponentMetrics,
    /// Its queue survives a restart (disk buffer): what is left is not lost.
    durable: bool,
    handle: JoinHandle<anyhow::Result<()>>,
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let telemetry = Arc::new(Telemetry::new());
    let lifecycle = Arc::new(Lifecycle::new());

    let stop_admin = CancellationToken::new();
    let admin_task = if config.global.admin.enabled {
        let address = config.global.admin.address;
        let listener =
            crate::net::bind_tcp(address).with_context(|| format!("cannot serve the admin API on {address}"))?;
        tracing::info!(%address, "admin API listening");
        let state = Arc::new(AdminState {
            telemetry: telemetry.clone(),
            lifecycle: lifecycle.clone(),
            auth_token: config.global.admin.auth_token.clone(),
        });
        Some(tokio::spawn(admin::serve(listener, state, stop_admin.clone())))
    } else {
        None
    };

    let hostname = config.global.agent.hostname.clone().unwrap_or_else(system_hostname);
    let mut sink_inputs = BTreeMap::new();
    let mut sinks = Vec::new();
    for (id, sink) in &config.sinks {
        let metrics = telemetry.component(ComponentKind::Sink, id, sink.config.type_name());
        let (sender, input) = crate::pipeline::buffer(&sink.buffer, id, &config.global.agent.data_dir, metrics.clone())
            .with_context(|| format!("sink `{id}`: buffer"))?;
        let ctx = SinkContext {
            id: id.clone(),
            hostname: hostname.clone(),
            input,
            metrics: metrics.clone(),
            data_dir: config.global.agent.data_dir.clone(),
            telemetry: telemetry.clone(),
        };
        let running = sink.config.build(ctx).await.with_context(|| format!("sink `{id}`"))?;
        sink_inputs.insert(id.clone(), (sender, sink.config.accepts(), sink.inputs.clone()));
        let durable = sink.buffer.buffer_type == BufferType::Disk;
        sinks.push(Task { id: id.clone(), metrics, durable, handle: tokio::spawn(running) });
    }

    let mibs = {
        let (config, data_dir) = (config.global.mibs.clone(), config.global.agent.data_dir.clone());
        tokio::task::spawn_blocking(move || crate::mibs::load(&config, &data_dir)).await??
    };
    let stop_sources = CancellationToken::new();
    let mut sources = Vec::new();
    for (id, source) in &config.sources {
        let metrics = telemetry.component(ComponentKind::Source, id, source.type_name());
        let mut output = SourceOutput::new(metrics.clone());
        for (sender, accepts, inputs) in sink_inputs.values() {
            if inputs.as_ref().is_none_or(|inputs| inputs.contains(id)) {
                output.add_target(sender.clone(), *accepts);
            }
        }
        if output.sink_ids().next().is_none() {
            tracing::warn!(source = %id, "no sink takes this source's events; they are discarded");
        }
        let (healthy_tx, healthy_rx) = watch::channel(false);
        lifecycle.watch_source(id, healthy_rx.clone());
        if let Some(address) = source.health_check() {
            let listener = crate::net::bind_tcp(address)
                .with_context(|| format!("source `{id}`: cannot open health-check port {address}"))?;
            tracing::info!(source = %id, %address, "TCP health-check port open");
            tokio::spawn(health_port::serve(listener, address, healthy_rx, lifecycle.draining(), metrics.clone()));
        }
        let ctx = SourceContext {
            id: id.clone(),
            output,
            shutdown: stop_sources.clone(),
            healthy: healthy_tx,
            metrics: metrics.clone(),
            telemetry: telemetry.clone(),
            hostname: hostname.clone(),
            mibs: mibs.clone(),
            data_dir: config.global.agent.data_dir.clone(),
        };
        let running = source.build(ctx).await.with_context(|| format!("source `{id}`"))?;
        metrics.set_state(ComponentState::Running);
        sources.push(Task { id: id.clone(), metrics, durable: false, handle: tokio::spawn(running) });
    }
    // Only sources may hold queue senders now: a queue closes when its sources are done.
    drop(sink_inputs);
    lifecycle.set_started();
    tracing::info!(sources = sources.len(), sinks = sinks.len(), "nocwatch started");
    // Every source has bound its sockets by now (in `build`): devices can send.
    admin::systemd::notify_or_log("READY=1");

    let signal = signals.next().await;
    let drain = config.global.shutdown.drain_period.get();
    tracing::info!(signal, drain_period = ?drain, "draining: readiness is 503, health ports closed, still receiving");
    lifecycle.set_draining();
    telemetry.set_draining();
    admin::systemd::notify_or_log("STOPPING=1");
    for task in &sources {
        task.metrics.set_state(ComponentState::Draining);
    }
    tokio::select! {
        _ = tokio::time::sleep(drain) => {}
        signal = signals.next() => exit_now(signal),
    }
    tokio::spawn(async move { exit_now(signals.next().await) });

    tracing::info!("drain period over: stopping sources");
    stop_sources.cancel();
    join_all(sources, SOURCE_STOP_TIMEOUT, "source").await;

    let flush = config.global.shutdown.flush_timeout.get();
    tracing::info!(flush_timeout = ?flush, "flushing sinks");
    join_all(sinks, flush, "sink").await;

    stop_admin.cancel();
    if let Some(task) = admin_task {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for every task until `deadline`; those still running are stopped, and whatever
/// their queues held is counted as dropped.
async fn join_all(tasks: Vec<Task>, deadline: Duration, kind: &str) {
    let until = tokio::time::Instant::now() + deadline;
    for task in tasks {
        let abort = task.handle.abort_handle();
        match tokio::time::timeout_at(until, task.handle).await {
            Ok(Ok(Ok(()))) => task.metrics.set_state(ComponentState::Stopped),
            Ok(Ok(Err(e))) => {
                task.metrics.set_state(ComponentState::Failed);
                task.metrics.error("run", &format!("{e:#}"));
                tracing::error!(id = %task.id, error = format!("{e:#}"), "{kind} failed");
            }
            Ok(Err(e)) => {
                task.metrics.set_state(ComponentState::Failed);
                tracing::error!(id = %task.id, error = %e, "{kind} panicked");
            }
            Err(_) => {
                abort.abort();
                task.metrics.set_state(ComponentState::Failed);
                let left = task.metrics.status().queue_events.max(0) as u64 + task.metrics.in_flight();
                if task.durable {
                    tracing::warn!(id = %task.id, buffered_events = left, "{kind} did not finish in time; the rest stays in its disk buffer");
                } else {
                    task.metrics.dropped(DropReason::Shutdown, left);
                    tracing::error!(id = %task.id, lost_events = left, "{kind} did not finish in time");
                }
            }
        }
    }
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn exit_now(signal: &'static str) -> ! {
    tracing::warn!(signal, "second signal: exiting now, without draining");
    std::process::exit(130)
}

struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
