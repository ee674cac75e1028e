//! SNMP values (SMIv2 types, the three v2 exceptions, and net-snmp's special Opaque
//! forms), variable bindings, and their encoding.

use crate::ber::{self, DecodeErrorKind, DecodeResult, Decoder, Encoder, tag};
use crate::oid::Oid;

/// A value in a variable binding.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// INTEGER / Integer32. Kept as i64 so an agent's out-of-range value is shown, not lost.
    Integer(i64),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    /// Gauge32 and Unsigned32 (same tag).
    Gauge32(u32),
    TimeTicks(u32),
    /// The content of an Opaque; see [`Value::opaque`] for net-snmp's typed forms.
    Opaque(Vec<u8>),
    Counter64(u64),
    /// SMIv1 UInteger32 (tag 0x47), still sent by some agents.
    UInteger32(u32),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    /// An application or context tag SNMP does not define (e.g. NsapAddress): kept raw.
    Other {
        tag: u8,
        data: Vec<u8>,
    },
}

/// The typed values net-snmp wraps in an Opaque (a nested BER item with a two-byte tag
/// `9f 7x`, from draft-perkins-opaque).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpaqueValue {
    Counter64(u64),
    Float(f32),
    Double(f64),
    Int64(i64),
    UInt64(u64),
}

const OPAQUE_TAG_PREFIX: u8 = 0x9f;
const OPAQUE_COUNTER64: u8 = 0x76;
const OPAQUE_FLOAT: u8 = 0x78;
const OPAQUE_DOUBLE: u8 = 0x79;
const OPAQUE_INT64: u8 = 0x7a;
const OPAQUE_UINT64: u8 = 0x7b;

impl OpaqueValue {
    /// Reads the content of an Opaque; `None` when it is not one of the typed forms.
    pub fn decode(content: &[u8]) -> Option<OpaqueValue> {
        let [OPAQUE_TAG_PREFIX, kind, len, rest @ ..] = content else { return None };
        if *len as usize != rest.len() {
            return None;
        }
        match *kind {
            OPAQUE_FLOAT => Some(OpaqueValue::Float(f32::from_be_bytes(rest.try_into().ok()?))),
            OPAQUE_DOUBLE => Some(OpaqueValue::Double(f64::from_be_bytes(rest.try_into().ok()?))),
            OPAQUE_COUNTER64 if !rest.is_empty() && rest.len() <= 9 => ber::unsigned(rest).map(OpaqueValue::Counter64),
            OPAQUE_UINT64 if !rest.is_empty() && rest.len() <= 9 => ber::unsigned(rest).map(OpaqueValue::UInt64),
            OPAQUE_INT64 if !rest.is_empty() && rest.len() <= 8 => ber::signed(rest).map(OpaqueValue::Int64),
            _ => None,
        }
    }

    /// The Opaque content for this value.
    pub fn encode(self) -> Vec<u8> {
        let (kind, body): (u8, Vec<u8>) = match self {
            OpaqueValue::Float(v) => (OPAQUE_FLOAT, v.to_be_bytes().to_vec()),
            OpaqueValue::Double(v) => (OPAQUE_DOUBLE, v.to_be_bytes().to_vec()),
            OpaqueValue::Counter64(v) => (OPAQUE_COUNTER64, unsigned_body(v)),
            OpaqueValue::UInt64(v) => (OPAQUE_UINT64, unsigned_body(v)),
            OpaqueValue::Int64(v) => (OPAQUE_INT64, signed_body(v)),
        };
        let mut out = vec![OPAQUE_TAG_PREFIX, kind, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }
}

fn unsigned_body(v: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.unsigned(0, v);
    e.finish().split_off(2)
}

fn signed_body(v: i64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.integer(0, v);
    e.finish().split_off(2)
}

impl Value {
    /// An Opaque holding one of net-snmp's typed forms.
    pub fn opaque(value: OpaqueValue) -> Value {
        Value::Opaque(value.encode())
    }

    /// The typed form inside an Opaque, if it is one.
    pub fn opaque_value(&self) -> Option<OpaqueValue> {
        match self {
            Value::Opaque(content) => OpaqueValue::decode(content),
            _ => None,
        }
    }

    /// True for noSuchObject, noSuchInstance and endOfMibView.
    pub fn is_exception(&self) -> bool {
        matches!(self, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView)
    }

    pub fn tag(&self) -> u8 {
        match self {
            Value::Integer(_) => tag::INTEGER,
            Value::OctetString(_) => tag::OCTET_STRING,
            Value::Null => tag::NULL,
            Value::ObjectId(_) => tag::OBJECT_IDENTIFIER,
            Value::IpAddress(_) => tag::IP_ADDRESS,
            Value::Counter32(_) => tag::COUNTER32,
            Value::Gauge32(_) => tag::GAUGE32,
            Value::TimeTicks(_) => tag::TIMETICKS,
            Value::Opaque(_) => tag::OPAQUE,
            Value::Counter64(_) => tag::COUNTER64,
            Value::UInteger32(_) => tag::UINTEGER32,
            Value::NoSuchObject => tag::NO_SUCH_OBJECT,
            Value::NoSuchInstance => tag::NO_SUCH_INSTANCE,
            Value::EndOfMibView => tag::END_OF_MIB_VIEW,
            Value::Other { tag, .. } => *tag,
        }
    }

    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Value::Integer(v) => e.integer(tag::INTEGER, *v),
            Value::OctetString(v) => e.bytes(tag::OCTET_STRING, v),
            Value::Null => e.null(tag::NULL),
            Value::ObjectId(oid) => e.oid(oid),
            Value::IpAddress(a) => e.bytes(tag::IP_ADDRESS, a),
            Value::Counter32(v) => e.unsigned(tag::COUNTER32, *v as u64),
            Value::Gauge32(v) => e.unsigned(tag::GAUGE32, *v as u64),
            Value::TimeTicks(v) => e.unsigned(tag::TIMETICKS, *v as u64),
            Value::Opaque(v) => e.bytes(tag::OPAQUE, v),
            Value::Counter64(v) => e.unsigned(tag::COUNTER64, *v),
            Value::UInteger32(v) => e.unsigned(tag::UINTEGER32, *v as u64),
            Value::NoSuchObject => e.null(tag::NO_SUCH_OBJECT),
            Value::NoSuchInstance => e.null(tag::NO_SUCH_INSTANCE),
            Value::EndOfMibView => e.null(tag::END_OF_MIB_VIEW),
            Value::Other { tag, data } => e.bytes(*tag, data),
        }
    }

    pub fn decode(d: &mut Decoder<'_>) -> DecodeResult<Value> {
        let tlv = d.read()?;
        let bad = |kind| ber::DecodeError { offset: tlv.offset, kind };
        let u32_of = |content: &[u8]| -> DecodeResult<u32> {
            ber::unsigned(content).and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad(DecodeErrorKind::BadInteger))
        };
        Ok(match tlv.tag {
            tag::INTEGER => Value::Integer(ber::signed(tlv.content).ok_or_else(|| bad(DecodeErrorKind::BadInteger))?),
            tag::OCTET_STRING => Value::OctetString(tlv.content.to_vec()),
            tag::NULL => Value::Null,
            tag::OBJECT_IDENTIFIER => {
                Value::ObjectId(ber::decode_oid(tlv.content).ok_or_else(|| bad(DecodeErrorKind::BadOid))?)
            }
            tag::IP_ADDRESS => Value::IpAddress(tlv.content.try_into().map_err(|_| bad(DecodeErrorKind::BadValue))?),
            tag::COUNTER32 => Value::Counter32(u32_of(tlv.content)?),
            tag::GAUGE32 => Value::Gauge32(u32_of(tlv.content)?),
            tag::TIMETICKS => Value::TimeTicks(u32_of(tlv.content)?),
            tag::UINTEGER32 => Value::UInteger32(u32_of(tlv.content)?),
            tag::OPAQUE => Value::Opaque(tlv.content.to_vec()),
            tag::COUNTER64 => {
                Value::Counter64(ber::unsigned(tlv.content).ok_or_else(|| bad(DecodeErrorKind::BadInteger))?)
            }
            tag::NO_SUCH_OBJECT => Value::NoSuchObject,
            tag::NO_SUCH_INSTANCE => Value::NoSuchInstance,
            tag::END_OF_MIB_VIEW => Value::EndOfMibView,
            other if other & 0xc0 != 0 && other & 0x20 == 0 => Value::Other { tag: other, data: tlv.content.to_vec() },
            other => return Err(bad(DecodeErrorKind::UnknownTag(other))),
        })
    }
}

/// One variable binding: an OID and its value (`Null` in requests).
#[derive(Debug, Clone, PartialEq)]
pub struct VarBind {
    pub oid: Oid,
    pub value: Value,
}

impl VarBind {
    pub fn new(oid: Oid, value: Value) -> VarBind {
        VarBind { oid, value }
    }

    /// A binding for a request: the OID with a NULL value.
    pub fn null(oid: Oid) -> VarBind {
        VarBind { oid, value: Value::Null }
    }
}

pub(crate) fn encode_varbinds(e: &mut Encoder, varbinds: &[VarBind]) {
    let list = e.mark();
    for vb in varbinds.iter().rev() {
        let seq = e.mark();
        vb.value.encode(e);
        e.oid(&vb.oid);
        e.close(seq, tag::SEQUENCE);
    }
    e.close(list, tag::SEQUENCE);
}

pub(crate) fn decode_varbinds(d: &mut Decoder<'_>) -> DecodeResult<Vec<VarBind>> {
    let mut list = d.sequence()?;
    // A varbind is at least 6 bytes: a cheap upper bound for the allocation.
    let mut out = Vec::with_capacity((list.remaining() / 12).max(1));
    while !list.is_empty() {
        let mut vb = list.sequence()?;
        let oid = vb.oid()?;
        let value = Value::decode(&mut vb)?;
        vb.finish()?;
        out.push(VarBind { oid, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(value: Value) {
        let mut e = Encoder::new();
        value.encode(&mut e);
        let bytes = e.finish();
        let mut d = Decoder::new(&bytes);
        assert_eq!(Value::decode(&mut d).unwrap(), value);
        d.finish().unwrap();
    }

    #[test]
    fn every_type_roundtrips() {
        for value in [
            Value::Integer(-5),
            Value::Integer(i32::MAX as i64),
            Value::OctetString(b"abc".to_vec()),
            Value::OctetString(Vec::new()),
            Value::Null,
            Value::ObjectId(".1.3.6.1.4.1.8072.3.2.10".parse().unwrap()),
            Value::IpAddress([10, 0, 0, 1]),
            Value::Counter32(u32::MAX),
            Value::Gauge32(0),
            Value::TimeTicks(123456),
            Value::Counter64(u64::MAX),
            Value::UInteger32(7),
            Value::opaque(OpaqueValue::Float(1.5)),
            Value::opaque(OpaqueValue::Double(-2.25)),
            Value::opaque(OpaqueValue::Int64(-1)),
            Value::opaque(OpaqueValue::UInt64(u64::MAX)),
            Value::opaque(OpaqueValue::Counter64(1 << 40)),
            Value::NoSuchObject,
            Value::NoSuchInstance,
            Value::EndOfMibView,
        ] {
            roundtrip(value);
        }
    }

    #[test]
    fn net_snmp_opaque_float_bytes() {
        // laLoadFloat as net-snmp 5.9 sends it: Opaque { 9f 78 04 <f32> }
        let bytes = [0x44, 0x07, 0x9f, 0x78, 0x04, 0x40, 0x04, 0x0f, 0x5c];
        let value = Value::decode(&mut Decoder::new(&bytes)).unwrap();
        let Some(OpaqueValue::Float(f)) = value.opaque_value() else { panic!("{value:?}") };
        assert!((f - 2.063).abs() < 1e-3, "{f}");
        assert_eq!(OpaqueValue::decode(&[0x9f, 0x78, 0x03, 0, 0, 0]), None);
    }
}
