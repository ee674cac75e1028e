//! Sans-IO NTP for nocwatch: bytes and times in, bytes and decisions out; no sockets, no
//! clock reads (the caller passes "now" on both clocks: [`Moment`]).
//!
//! - [`time`]: the two clocks, system (for packet timestamps only) and monotonic (timers);
//! - [`packet`]: the NTPv4 packet (RFC 5905 §7.3) and its timestamp formats;
//! - [`client`]: SNTP requests and the validation of replies into clock samples;
//! - [`server`]: answers for clients, from the state of nocwatch's own synchronisation;
//! - [`ratelimit`]: a token bucket per client, and when to answer with a Kiss-o'-Death
//!   (the shared `nocwatch_ratelimit`, which the SNMP trap receiver's Reports use too);
//! - [`probe`]: polling the upstreams on a schedule, their reachability, and the sample
//!   server mode follows;
//! - [`relay`]: forwarding client requests to upstream servers and replies back, so that
//!   concurrent clients never receive each other's replies.

pub mod client;
pub mod packet;
pub mod probe;
pub use nocwatch_ratelimit as ratelimit;
pub mod relay;
pub mod server;
pub mod time;

pub use client::{Rejected, Request, Sample};
pub use packet::{Leap, Mode, NtpTimestamp, Packet, ParseError};
pub use probe::{Best, Prober, UpstreamStatus};
pub use ratelimit::{RateLimiter, Verdict, client_key};
pub use relay::Relay;
pub use server::{ServerClock, Synchronised, reference_id};
pub use time::Moment;
