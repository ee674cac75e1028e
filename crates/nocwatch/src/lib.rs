//! nocwatch: one agent for network devices.
//!
//! - [`sources`]: where events come from (syslog, …); protocol decoding lives in the
//!   sans-IO crates under `crates/`.
//! - [`pipeline`]: bounded queues from sources to sinks, with counted drops.
//! - [`sinks`]: where events go (console, file, …).
//! - [`event`]: the two kinds of events that flow between them.
//! - [`config`], [`runtime`], [`admin`], [`telemetry`], [`cli`]: configuring, running and
//!   operating it.

pub mod admin;
pub mod cli;
pub mod component;
pub mod config;
pub mod event;
pub mod mibs;
pub mod net;
pub mod pipeline;
pub mod runtime;
pub mod sinks;
pub mod snmp;
pub mod sources;
pub mod telemetry;
