//! Messages: SNMPv1/v2c community messages (RFC 1157, RFC 1901) and the SNMPv3 message
//! with its USM security parameters (RFC 3412, RFC 3414), plus [`peek`] to route a
//! received datagram to its waiter without decoding it fully.
//!
//! A v3 message is decoded in two steps: [`V3Message::decode`] reads the header and
//! security parameters and keeps the position of the digest in the received bytes
//! (the USM verifies the HMAC over the bytes as received, never over a re-encoding);
//! [`crate::usm`] then authenticates and decrypts the scoped PDU.

use std::fmt;
use std::ops::Range;

use crate::ber::{DecodeErrorKind, DecodeResult, Decoder, Encoder, tag};
use crate::pdu::AnyPdu;

/// The message version field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2c,
    V3,
}

impl Version {
    pub fn number(self) -> i64 {
        match self {
            Version::V1 => 0,
            Version::V2c => 1,
            Version::V3 => 3,
        }
    }

    pub fn from_number(n: i64) -> Option<Version> {
        match n {
            0 => Some(Version::V1),
            1 => Some(Version::V2c),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "1",
            Version::V2c => "2c",
            Version::V3 => "3",
        })
    }
}

/// A community string. Never printed: `Debug` shows its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Community(pub Vec<u8>);

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Community(<{} bytes redacted>)", self.0.len())
    }
}

/// An SNMPv1 or SNMPv2c message.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityMessage {
    pub version: Version,
    pub community: Community,
    pub pdu: AnyPdu,
}

impl CommunityMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        let m = e.mark();
        self.pdu.encode(&mut e);
        e.bytes(tag::OCTET_STRING, &self.community.0);
        e.integer(tag::INTEGER, self.version.number());
        e.close(m, tag::SEQUENCE);
        e.finish()
    }

    /// Decodes a v1/v2c message; bytes after the message are an error
    /// ([`DecodeErrorKind::TrailingBytes`]), reported rather than ignored.
    pub fn decode(bytes: &[u8]) -> DecodeResult<CommunityMessage> {
        let mut outer = Decoder::new(bytes);
        let mut d = outer.sequence()?;
        let at = d.offset();
        let version = Version::from_number(d.integer()?)
            .filter(|v| *v != Version::V3)
            .ok_or(crate::ber::DecodeError { offset: at, kind: DecodeErrorKind::Invalid("version") })?;
        let community = Community(d.octet_string()?.to_vec());
        let pdu = AnyPdu::decode(&mut d)?;
        d.finish()?;
        outer.finish()?;
        Ok(CommunityMessage { version, community, pdu })
    }
}

/// msgFlags bits.
pub mod flags {
    pub const AUTH: u8 = 0x01;
    pub const PRIV: u8 = 0x02;
    pub const REPORTABLE: u8 = 0x04;
}

/// The USM security model number.
pub const USM_SECURITY_MODEL: i64 = 3;

/// msgGlobalData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderData {
    pub msg_id: i32,
    pub max_size: i32,
    pub flags: u8,
    pub security_model: i64,
}

/// UsmSecurityParameters. The user name is not secret; the digest and salt are not
/// either (they are on the wire), but keys never appear here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsmParams {
    pub engine_id: Vec<u8>,
    pub engine_boots: u32,
    pub engine_time: u32,
    pub user_name: Vec<u8>,
    pub auth_params: Vec<u8>,
    pub priv_params: Vec<u8>,
}

/// contextEngineID, contextName and the PDU.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedPdu {
    pub context_engine_id: Vec<u8>,
    pub context_name: Vec<u8>,
    pub pdu: AnyPdu,
}

impl ScopedPdu {
    pub fn encode(&self, e: &mut Encoder) {
        let m = e.mark();
        self.pdu.encode(e);
        e.bytes(tag::OCTET_STRING, &self.context_name);
        e.bytes(tag::OCTET_STRING, &self.context_engine_id);
        e.close(m, tag::SEQUENCE);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode(&mut e);
        e.finish()
    }

    /// Decodes a plaintext scoped PDU. After decryption, padding may follow the
    /// SEQUENCE (DES pads to 8 bytes): it is ignored there by passing `allow_trailing`.
    pub fn decode(bytes: &[u8], allow_trailing: bool) -> DecodeResult<ScopedPdu> {
        let mut outer = Decoder::new(bytes);
        let scoped = ScopedPdu::decode_from(&mut outer)?;
        if !allow_trailing {
            outer.finish()?;
        }
        Ok(scoped)
    }

    fn decode_from(outer: &mut Decoder<'_>) -> DecodeResult<ScopedPdu> {
        let mut d = outer.sequence()?;
        let context_engine_id = d.octet_string()?.to_vec();
        let context_name = d.octet_string()?.to_vec();
        let pdu = AnyPdu::decode(&mut d)?;
        d.finish()?;
        Ok(ScopedPdu { context_engine_id, context_name, pdu })
    }
}

/// msgData: plaintext or encrypted.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgData {
    Plain(ScopedPdu),
    Encrypted(Vec<u8>),
}

/// An SNMPv3 message as received: header, USM parameters and data, plus where the
/// digest sits in the received bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct V3Message {
    pub header: HeaderData,
    pub usm: UsmParams,
    pub data: MsgData,
    /// Byte range of msgAuthenticationParameters' content in the decoded input.
    pub auth_range: Range<usize>,
}

impl V3Message {
    pub fn decode(bytes: &[u8]) -> DecodeResult<V3Message> {
        let mut outer = Decoder::new(bytes);
        let mut d = outer.sequence()?;
        let at = d.offset();
        if d.integer()? != 3 {
            return Err(crate::ber::DecodeError { offset: at, kind: DecodeErrorKind::Invalid("version") });
        }
        let mut h = d.sequence()?;
        let msg_id = h.integer32()?;
        let max_size = h.integer32()?;
        let flags_at = h.offset();
        let flags = match h.octet_string()? {
            [f] => *f,
            _ => return Err(crate::ber::DecodeError { offset: flags_at, kind: DecodeErrorKind::Invalid("msgFlags") }),
        };
        let model_at = h.offset();
        let security_model = h.integer()?;
        h.finish()?;
        if security_model != USM_SECURITY_MODEL {
            return Err(crate::ber::DecodeError { offset: model_at, kind: DecodeErrorKind::Invalid("security model") });
        }
        if flags & flags::PRIV != 0 && flags & flags::AUTH == 0 {
            return Err(crate::ber::DecodeError { offset: flags_at, kind: DecodeErrorKind::Invalid("msgFlags") });
        }
        let sp = d.expect(tag::OCTET_STRING)?;
        let mut sp_outer = Decoder::sub(sp.content, sp.offset);
        let mut s = sp_outer.sequence()?;
        sp_outer.finish()?;
        let engine_id = s.octet_string()?.to_vec();
        let engine_boots = s.integer()?;
        let engine_time = s.integer()?;
        let at = s.offset();
        let (Ok(engine_boots), Ok(engine_time)) = (u32::try_from(engine_boots), u32::try_from(engine_time)) else {
            return Err(crate::ber::DecodeError { offset: at, kind: DecodeErrorKind::Invalid("engine boots/time") });
        };
        let user_name = s.octet_string()?.to_vec();
        let auth = s.expect(tag::OCTET_STRING)?;
        let priv_params = s.octet_string()?.to_vec();
        s.finish()?;
        let data = match d.peek_tag() {
            Some(tag::OCTET_STRING) => MsgData::Encrypted(d.octet_string()?.to_vec()),
            _ => MsgData::Plain(ScopedPdu::decode_from(&mut d)?),
        };
        d.finish()?;
        outer.finish()?;
        Ok(V3Message {
            header: HeaderData { msg_id, max_size, flags, security_model },
            usm: UsmParams {
                engine_id,
                engine_boots,
                engine_time,
                user_name,
                auth_params: auth.content.to_vec(),
                priv_params,
            },
            data,
            auth_range: auth.offset..auth.offset + auth.content.len(),
        })
    }

    /// Encodes the message; when `auth_len` > 0 the digest field is that many zero bytes
    /// and its range in the output is returned, for the USM to fill in.
    pub fn encode_parts(
        header: &HeaderData,
        usm: &UsmParams,
        data: &MsgData,
        auth_len: usize,
    ) -> (Vec<u8>, Range<usize>) {
        let mut e = Encoder::with_capacity(256);
        let m = e.mark();
        match data {
            MsgData::Plain(scoped) => scoped.encode(&mut e),
            MsgData::Encrypted(bytes) => e.bytes(tag::OCTET_STRING, bytes),
        }
        let sp = e.mark();
        let s = e.mark();
        e.bytes(tag::OCTET_STRING, &usm.priv_params);
        // Position of the digest content, counted from the end of the output.
        let auth_end_from_end = e.len();
        if auth_len > 0 {
            e.bytes(tag::OCTET_STRING, &vec![0; auth_len]);
        } else {
            e.bytes(tag::OCTET_STRING, &usm.auth_params);
        }
        let auth_start_from_end = e.len() - 2; // tag and one length byte (auth_len < 128)
        e.bytes(tag::OCTET_STRING, &usm.user_name);
        e.integer(tag::INTEGER, usm.engine_time as i64);
        e.integer(tag::INTEGER, usm.engine_boots as i64);
        e.bytes(tag::OCTET_STRING, &usm.engine_id);
        e.close(s, tag::SEQUENCE);
        e.close(sp, tag::OCTET_STRING);
        let h = e.mark();
        e.integer(tag::INTEGER, header.security_model);
        e.bytes(tag::OCTET_STRING, &[header.flags]);
        e.integer(tag::INTEGER, header.max_size as i64);
        e.integer(tag::INTEGER, header.msg_id as i64);
        e.close(h, tag::SEQUENCE);
        e.integer(tag::INTEGER, 3);
        e.close(m, tag::SEQUENCE);
        let out = e.finish();
        let total = out.len();
        let range = if auth_len > 0 { total - auth_start_from_end..total - auth_end_from_end } else { 0..0 };
        (out, range)
    }
}

/// What [`peek`] learns from a datagram without decoding the PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    pub version: Version,
    /// request-id for v1/v2c, msgID for v3 (None for a v1 trap).
    pub id: Option<i32>,
}

/// The version and the id that routes a datagram to its waiter. Cheap: stops at the id.
pub fn peek(bytes: &[u8]) -> DecodeResult<Peek> {
    let mut outer = Decoder::new(bytes);
    let mut d = outer.sequence()?;
    let at = d.offset();
    let version = Version::from_number(d.integer()?)
        .ok_or(crate::ber::DecodeError { offset: at, kind: DecodeErrorKind::Invalid("version") })?;
    match version {
        Version::V3 => {
            let mut h = d.sequence()?;
            Ok(Peek { version, id: Some(h.integer32()?) })
        }
        _ => {
            d.octet_string()?;
            let pdu = d.read()?;
            if pdu.tag == tag::TRAP_V1 {
                return Ok(Peek { version, id: None });
            }
            let mut p = Decoder::new(pdu.content);
            Ok(Peek { version, id: Some(p.integer32()?) })
        }
    }
}
