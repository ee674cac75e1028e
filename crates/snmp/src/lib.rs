//! Sans-IO SNMP for nocwatch: bytes in, values out. No sockets, no clocks of its own
//! (callers pass [`std::time::Instant`]s).
//!
//! - [`ber`]: the BER codec (zero-copy decoder, reverse-building encoder).
//! - [`Oid`], [`Value`] (every SMIv2 type, the v2 exceptions, net-snmp's Opaque
//!   float/double/int64/uint64/counter64 forms), [`VarBind`].
//! - [`pdu`]: Get, GetNext, GetBulk, Response, Set, SNMPv1-Trap, SNMPv2-Trap,
//!   InformRequest, Report.
//! - [`message`]: v1/v2c community messages, the v3 message, and [`message::peek`]
//!   to route a datagram by request-id / msgID.
//! - [`usm`]: RFC 3414/7860/3826 cryptography: password-to-key, localisation,
//!   HMAC-MD5-96, HMAC-SHA-96, HMAC-SHA-224/256/384/512, DES, AES-128/192/256 with
//!   both key extensions.
//! - [`session`]: the v3 requester state machine (discovery, time window, reports as
//!   errors naming device and user).
//! - [`snmprec`]: snmpsim recordings (`OID|TAG|VALUE` lines) read into OIDs and values.
//! - [`receiver`]: the notification receiver: v1/v2c/v3 traps and informs in, decoded
//!   notifications, rejection reasons and inform responses / reports out.
//! - [`display`]: values printed the way net-snmp's `snmpwalk -On` prints them.
//!
//! ```
//! use nocwatch_snmp::{CommunityMessage, Community, Version, Pdu, PduType, AnyPdu, Oid};
//!
//! let oid: Oid = ".1.3.6.1.2.1.1.1.0".parse().unwrap();
//! let request = CommunityMessage {
//!     version: Version::V2c,
//!     community: Community(b"public".to_vec()),
//!     pdu: AnyPdu::Pdu(Pdu::request(PduType::Get, 42, [oid])),
//! };
//! let bytes = request.encode();
//! assert_eq!(nocwatch_snmp::message::peek(&bytes).unwrap().id, Some(42));
//! assert_eq!(CommunityMessage::decode(&bytes).unwrap(), request);
//! ```

pub mod ber;
pub mod display;
pub mod message;
mod oid;
pub mod pdu;
pub mod receiver;
pub mod session;
pub mod snmprec;
pub mod usm;
mod value;

pub use ber::{DecodeError, DecodeErrorKind};
pub use message::{Community, CommunityMessage, ScopedPdu, V3Message, Version};
pub use oid::{Oid, ParseOidError};
pub use pdu::{AnyPdu, ErrorStatus, Pdu, PduType, TrapV1};
pub use session::{Incoming, ReportKind, SecurityLevel, UsmError, UsmErrorKind, UsmUser, V3Session};
pub use usm::{AuthProtocol, KeyError, PrivProtocol, SecretKey};
pub use value::{OpaqueValue, Value, VarBind};
