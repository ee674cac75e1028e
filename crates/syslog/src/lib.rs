//! Sans-IO syslog for nocwatch: bytes in, structured values out. No sockets.
//!
//! - [`framing`]: RFC 6587 TCP framing (octet counting and LF/CRLF/NUL
//!   terminated, detected per frame), bounded by a maximum frame length.
//! - [`parse()`]: RFC 5424 and RFC 3164 with the Cisco IOS / IOS-XE / IOS-XR
//!   and Juniper Junos quirks; never fails, see [`Message::parse_error`].
//! - [`format`]: RFC 5424 and RFC 3164 lines and octet-counted frames for
//!   forwarding.
//!
//! Dialects recognised by [`parse()`] (fields go to [`Message`], vendor extras
//! to [`Message::attributes`] under the keys in [`attr`]):
//!
//! - RFC 5424, also without the version digit, without a timestamp offset
//!   (the context default applies), or wrapped in a relay's RFC 3164 header.
//! - RFC 3164, with or without PRI, hostname, `TAG[PID]:`; an RFC 3339 stamp
//!   in the date slot (rsyslog high precision).
//! - Cisco IOS / IOS-XE / ASA: `seq:`, `service_seq:`, origin hostname,
//!   `*`/`.` clock status, optional year and msec, zone names, uptime stamps,
//!   `%FAC-[SUBFAC-]SEV-MNEMONIC:` (into `msg_id` and `cisco.*`),
//!   `[syslog@9 s_id="..."]:`; IOS-XR `RP/0/RSP0/CPU0:` node prefixes.
//! - Junos event form `RT_FLOW: RT_FLOW_SESSION_CREATE: ...` (event into `msg_id`).
//!
//! ```
//! use nocwatch_syslog::{FrameDecoder, ParseContext, parse};
//!
//! let ctx = ParseContext::default();
//! let mut decoder = FrameDecoder::new(64 * 1024);
//! decoder.push(b"<189>29: foo: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured\n");
//! while let Some(frame) = decoder.next_frame() {
//!     let msg = parse(frame.data, &ctx);
//!     assert_eq!(msg.attribute("cisco.mnemonic"), Some("CONFIG_I"));
//!     assert_eq!(msg.hostname.as_deref(), Some("foo"));
//! }
//! ```

pub mod format;
pub mod framing;
mod message;
mod parse;

pub use format::{BorrowedSdElement, format_rfc3164, format_rfc5424, format_rfc5424_with_element, frame_octet_counted};
pub use framing::{Frame, FrameDecoder, Framing};
pub use message::{Attribute, Facility, Message, ParseError, Protocol, SdElement, SdParam, Severity};
pub use parse::{ParseContext, parse};

/// Keys of [`Message::attributes`]. Values are text as found in the line.
pub mod attr {
    /// Cisco message counter before the header (`29` in `<189>29: ...`).
    pub const CISCO_SEQ: &str = "cisco.seq";
    /// The second counter, from `service sequence-numbers` (`1807982` in
    /// `<190>1807987: 1807982: ...`, `007439` in `7433: ASR920: 007439:`).
    pub const CISCO_SERVICE_SEQ: &str = "cisco.service_seq";
    /// `not_authoritative` (stamp prefixed `*`) or `ntp_unsynchronized` (`.`).
    pub const CISCO_CLOCK_STATUS: &str = "cisco.clock_status";
    /// Zone name printed after the time (`UTC`, `CEST`, `NewYork`, `UTC+1`).
    pub const CISCO_TIMEZONE: &str = "cisco.timezone";
    /// Uptime stamp used instead of a date (`2y10w`, `1d02h`, `00:01:23`).
    pub const CISCO_UPTIME: &str = "cisco.uptime";
    /// `SYS` in `%SYS-5-CONFIG_I`.
    pub const CISCO_FACILITY: &str = "cisco.facility";
    /// `IPV4_ACL` in `%ACL-IPV4_ACL-6-IPACC`.
    pub const CISCO_SUBFACILITY: &str = "cisco.subfacility";
    /// The numeric severity in the tag, `5` in `%SYS-5-CONFIG_I`.
    pub const CISCO_SEVERITY: &str = "cisco.severity";
    /// `CONFIG_I` in `%SYS-5-CONFIG_I`.
    pub const CISCO_MNEMONIC: &str = "cisco.mnemonic";
    /// IOS-XR node, `RP/0/RSP0/CPU0`.
    pub const IOSXR_NODE: &str = "iosxr.node";
    /// The outer header's hostname when a relay (or the device's own BSD
    /// header) wrapped a message that names its origin itself.
    pub const RELAY_HOSTNAME: &str = "relay.hostname";
    /// The outer header's timestamp text in the same situation.
    pub const RELAY_TIMESTAMP: &str = "relay.timestamp";
    /// The text of a timestamp that could not be read (with `InvalidTimestamp`).
    pub const RAW_TIMESTAMP: &str = "syslog.raw_timestamp";
}
