//! The SNMP client: the I/O half over the sans-IO `nocwatch-snmp` crate.
//!
//! It lives here, not under `sources/`, because it is not a source: the SNMP poller
//! source, the `nocwatch snmp` CLI and (later) profile discovery all drive devices
//! through it. Nothing outside this module needs `nocwatch_snmp`'s wire types except
//! [`Oid`], [`Value`] and [`VarBind`], re-exported here.
//!
//! - [`Client`]: one UDP socket per address family, shared by every device; a receive
//!   task routes each datagram by request-id (v1/v2c) or msgID (v3) to its waiter.
//! - [`Device`]: one agent with its security (community or USM user), timeout, retries
//!   and in-flight limit; `get` (batched, tooBig → smaller batches, v1 noSuchName
//!   handled), `get_next`, `get_bulk`, `walk` / `bulk_walk` (stop at the end of the
//!   subtree or at endOfMibView, refuse non-increasing OIDs, v1 falls back to GETNEXT).
//! - [`SnmpError`]: what went wrong, naming the device (and the v3 user), never a
//!   community, pass phrase or key.
//! - [`UsmCredentials`]: SNMPv3 credentials as configured (config keys, CLI flags): their
//!   check and the derivation of the user's keys.

mod client;
mod credentials;

pub use client::{Client, Device, DeviceOptions, Security, SnmpError, WalkEnd};
pub use credentials::UsmCredentials;
pub use nocwatch_snmp::{AuthProtocol, Oid, PrivProtocol, SecurityLevel, UsmUser, Value, VarBind, Version};
