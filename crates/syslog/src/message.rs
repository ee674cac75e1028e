//! The parsed syslog message and its vocabulary: facility, severity, protocol,
//! structured data, vendor attributes and the reasons a parse fell back.
//!
//! Everything here borrows from the input line where it can (`Cow`), so parsing
//! a well-formed UTF-8 line allocates only the small vectors for structured data
//! and attributes. Call [`Message::into_owned`] to keep a message past its buffer.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;

/// Which wire format the header was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), also when
    /// relayed inside an RFC 3164 header or sent without the version digit.
    Rfc5424,
    /// RFC 3164 / BSD, including Cisco IOS, IOS-XE, IOS-XR and Junos event-mode lines.
    Rfc3164,
    /// Nothing syslog-like: the whole input is the message and `parse_error` is set.
    Unknown,
}

impl Protocol {
    /// Short lowercase name, e.g. for a `syslog.protocol` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rfc5424 => "rfc5424",
            Protocol::Rfc3164 => "rfc3164",
            Protocol::Unknown => "unknown",
        }
    }
}

/// Syslog severity, the low three bits of PRI (RFC 5424 table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Severity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

impl Severity {
    const ALL: [Severity; 8] = [
        Severity::Emergency,
        Severity::Alert,
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Informational,
        Severity::Debug,
    ];

    /// The severity with numeric code `code` (0..=7).
    pub fn from_code(code: u8) -> Option<Severity> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Numeric code, 0 (emergency) to 7 (debug).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The syslog keyword, as used by syslog.conf and rsyslog (`"err"`, `"warning"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emerg",
            Severity::Alert => "alert",
            Severity::Critical => "crit",
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "info",
            Severity::Debug => "debug",
        }
    }

    /// The Datadog log status this severity maps to.
    pub fn datadog_status(self) -> &'static str {
        match self {
            Severity::Emergency => "emerg",
            Severity::Alert => "alert",
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warn",
            Severity::Notice => "notice",
            Severity::Informational => "info",
            Severity::Debug => "debug",
        }
    }
}

/// Syslog facility, the high bits of PRI (RFC 5424 table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    Authpriv = 10,
    Ftp = 11,
    Ntp = 12,
    Audit = 13,
    Alert = 14,
    Clock = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

impl Facility {
    const ALL: [Facility; 24] = [
        Facility::Kern,
        Facility::User,
        Facility::Mail,
        Facility::Daemon,
        Facility::Auth,
        Facility::Syslog,
        Facility::Lpr,
        Facility::News,
        Facility::Uucp,
        Facility::Cron,
        Facility::Authpriv,
        Facility::Ftp,
        Facility::Ntp,
        Facility::Audit,
        Facility::Alert,
        Facility::Clock,
        Facility::Local0,
        Facility::Local1,
        Facility::Local2,
        Facility::Local3,
        Facility::Local4,
        Facility::Local5,
        Facility::Local6,
        Facility::Local7,
    ];

    /// The facility with numeric code `code` (0..=23).
    pub fn from_code(code: u8) -> Option<Facility> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Numeric code, 0 (kern) to 23 (local7).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The syslog keyword (`"kern"`, `"local7"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Facility::Kern => "kern",
            Facility::User => "user",
            Facility::Mail => "mail",
            Facility::Daemon => "daemon",
            Facility::Auth => "auth",
            Facility::Syslog => "syslog",
            Facility::Lpr => "lpr",
            Facility::News => "news",
            Facility::Uucp => "uucp",
            Facility::Cron => "cron",
            Facility::Authpriv => "authpriv",
            Facility::Ftp => "ftp",
            Facility::Ntp => "ntp",
            Facility::Audit => "audit",
            Facility::Alert => "alert",
            Facility::Clock => "clock",
            Facility::Local0 => "local0",
            Facility::Local1 => "local1",
            Facility::Local2 => "local2",
            Facility::Local3 => "local3",
            Facility::Local4 => "local4",
            Facility::Local5 => "local5",
            Facility::Local6 => "local6",
            Facility::Local7 => "local7",
        }
    }
}

/// One RFC 5424 SD-ELEMENT: `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// SD-ID, e.g. `junos@2636.1.1.1.2.39` or `syslog@9`.
    pub id: Cow<'a, str>,
    /// Parameters in the order they were sent; names may repeat (RFC 5424 allows it).
    pub params: Vec<SdParam<'a>>,
}

/// One SD-PARAM. The value is unescaped (`\"`, `\\`, `\]`) and otherwise exactly
/// as sent, trailing spaces included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdParam<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

/// A vendor extra extracted from the header or message, e.g. `cisco.mnemonic`.
/// Keys are fixed strings listed in the crate docs; values borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub key: &'static str,
    pub value: Cow<'a, str>,
}

/// Why a parse was only partial. The message is still returned; nothing is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// No PRI, timestamp or other syslog header: the whole input is the message.
    NoHeader,
    /// `<N>` with N > 191; the PRI was skipped and the rest parsed.
    InvalidPri,
    /// A timestamp field that could not be read; its text is in `syslog.raw_timestamp`.
    InvalidTimestamp,
    /// An RFC 5424 header that ends before the structured-data field.
    TruncatedHeader,
    /// Malformed RFC 5424 structured data; the unparsed rest is in the message.
    InvalidStructuredData,
}

impl ParseError {
    /// Stable snake_case reason, meant for a `parse_error` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseError::NoHeader => "no_header",
            ParseError::InvalidPri => "invalid_pri",
            ParseError::InvalidTimestamp => "invalid_timestamp",
            ParseError::TruncatedHeader => "truncated_header",
            ParseError::InvalidStructuredData => "invalid_structured_data",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ParseError {}

/// The best structured view of one syslog line. See [`crate::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// From PRI; `None` when the line had no (valid) PRI.
    pub facility: Option<Facility>,
    /// From PRI; when PRI is missing, from a Cisco `%FAC-SEV-MNEMONIC` tag.
    pub severity: Option<Severity>,
    /// The header format recognised.
    pub protocol: Protocol,
    /// When the device says the event happened (the innermost device timestamp
    /// when a relay added its own header; that one is in `relay.timestamp`).
    /// Microsecond precision; `None` when absent, NILVALUE or unreadable.
    pub timestamp: Option<Timestamp>,
    /// The originating device: RFC 5424 HOSTNAME, Cisco origin hostname, or the
    /// RFC 3164 header hostname. `None` for NILVALUE or when absent.
    pub hostname: Option<Cow<'a, str>>,
    /// RFC 5424 APP-NAME or the RFC 3164 TAG (`su` in `su[123]:`).
    pub app_name: Option<Cow<'a, str>>,
    /// RFC 5424 PROCID or the RFC 3164 pid (`123` in `su[123]:`).
    pub proc_id: Option<Cow<'a, str>>,
    /// RFC 5424 MSGID; for RFC 3164 lines the Cisco tag without `%`
    /// (`SYS-5-CONFIG_I`) or the Junos event name (`RT_FLOW_SESSION_CREATE`).
    pub msg_id: Option<Cow<'a, str>>,
    /// RFC 5424 structured data, in order (also Cisco's `[syslog@9 ...]` prefix).
    pub structured_data: Vec<SdElement<'a>>,
    /// The free text after the header (and after a Cisco tag or Junos event
    /// name, which went to `msg_id`). The whole input when `protocol` is `Unknown`.
    /// A leading UTF-8 BOM is removed; invalid UTF-8 is replaced (lossy).
    pub message: Cow<'a, str>,
    /// Vendor extras in the order found (`cisco.seq`, `cisco.mnemonic`, ...).
    pub attributes: Vec<Attribute<'a>>,
    /// Set when the parse was partial or failed; see [`ParseError`].
    pub parse_error: Option<ParseError>,
}

impl<'a> Message<'a> {
    /// An empty message with only the text set, as for unrecognised input.
    pub fn new(message: Cow<'a, str>) -> Self {
        Message {
            facility: None,
            severity: None,
            protocol: Protocol::Unknown,
            timestamp: None,
            hostname: None,
            app_name: None,
            proc_id: None,
            msg_id: None,
            structured_data: Vec::new(),
            message,
            attributes: Vec::new(),
            parse_error: None,
        }
    }

    /// The first attribute with this key.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.key == key).map(|a| a.value.as_ref())
    }

    /// The first structured-data parameter with this name, in any element.
    pub fn sd_param(&self, name: &str) -> Option<&str> {
        self.structured_data.iter().flat_map(|e| e.params.iter()).find(|p| p.name == name).map(|p| p.value.as_ref())
    }

    /// The Datadog status for this message's severity (`None` without one).
    pub fn datadog_status(&self) -> Option<&'static str> {
        self.severity.map(Severity::datadog_status)
    }

    /// Copies every borrowed part so the message outlives its input buffer.
    pub fn into_owned(self) -> Message<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        Message {
            facility: self.facility,
            severity: self.severity,
            protocol: self.protocol,
            timestamp: self.timestamp,
            hostname: self.hostname.map(own),
            app_name: self.app_name.map(own),
            proc_id: self.proc_id.map(own),
            msg_id: self.msg_id.map(own),
            structured_data: self
                .structured_data
                .into_iter()
                .map(|e| SdElement {
                    id: own(e.id),
                    params: e.params.into_iter().map(|p| SdParam { name: own(p.name), value: own(p.value) }).collect(),
                })
                .collect(),
            message: own(self.message),
            attributes: self.attributes.into_iter().map(|a| Attribute { key: a.key, value: own(a.value) }).collect(),
            parse_error: self.parse_error,
        }
    }

    pub(crate) fn push_attr(&mut self, key: &'static str, value: Cow<'a, str>) {
        self.attributes.push(Attribute { key, value });
    }
}
