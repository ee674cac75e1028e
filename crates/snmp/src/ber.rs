//! BER (X.690) as SNMP uses it: a zero-copy [`Decoder`] over received bytes and a
//! reverse-building [`Encoder`].
//!
//! Decoding is tolerant where real agents are sloppy: long-form and non-minimal lengths,
//! integers with redundant sign bytes, unsigned types sent without their leading zero
//! (`ff ff ff ff` for Counter32 4294967295 is read as the agent meant it), an empty OID.
//! It is strict where sloppiness would be ambiguous: indefinite lengths, lengths past
//! the end of the input, values that do not fit their type, high-tag-number forms are
//! errors with the byte offset. Trailing bytes after a message are reported by the
//! message layer, not ignored silently.
//!
//! Encoding is strict (DER-minimal lengths and integers). The encoder writes backwards
//! into one buffer, so a SEQUENCE's length is known when its tag is written and nothing
//! is moved; [`Encoder::finish`] reverses the buffer once.

use std::fmt;

use crate::oid::Oid;

/// Tags of the types and PDUs SNMP uses.
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OBJECT_IDENTIFIER: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIMETICKS: u8 = 0x43;
    pub const OPAQUE: u8 = 0x44;
    pub const NSAP_ADDRESS: u8 = 0x45;
    pub const COUNTER64: u8 = 0x46;
    pub const UINTEGER32: u8 = 0x47;
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    pub const END_OF_MIB_VIEW: u8 = 0x82;
    pub const GET_REQUEST: u8 = 0xa0;
    pub const GET_NEXT_REQUEST: u8 = 0xa1;
    pub const RESPONSE: u8 = 0xa2;
    pub const SET_REQUEST: u8 = 0xa3;
    pub const TRAP_V1: u8 = 0xa4;
    pub const GET_BULK_REQUEST: u8 = 0xa5;
    pub const INFORM_REQUEST: u8 = 0xa6;
    pub const TRAP_V2: u8 = 0xa7;
    pub const REPORT: u8 = 0xa8;
}

/// What is wrong with received bytes, and where (offset from the start of the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ends inside a tag, length or value.
    Truncated,
    /// Indefinite length, or a length field longer than 4 bytes.
    BadLength,
    /// A different tag than the structure requires here.
    UnexpectedTag { expected: u8, found: u8 },
    /// A tag SNMP does not use in this position.
    UnknownTag(u8),
    /// An integer too large for its type, or empty.
    BadInteger,
    /// An OID with a truncated or oversized arc.
    BadOid,
    /// A value of the wrong size for its type (IpAddress not 4 bytes, NULL not empty).
    BadValue,
    /// Bytes left over after a complete structure.
    TrailingBytes(usize),
    /// A field with a value outside what SNMP allows (version, security model, ...).
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match &self.kind {
            DecodeErrorKind::Truncated => write!(f, "truncated at byte {at}"),
            DecodeErrorKind::BadLength => write!(f, "unsupported length encoding at byte {at}"),
            DecodeErrorKind::UnexpectedTag { expected, found } => {
                write!(f, "expected tag 0x{expected:02x}, found 0x{found:02x} at byte {at}")
            }
            DecodeErrorKind::UnknownTag(found) => write!(f, "unexpected tag 0x{found:02x} at byte {at}"),
            DecodeErrorKind::BadInteger => write!(f, "integer out of range at byte {at}"),
            DecodeErrorKind::BadOid => write!(f, "malformed object identifier at byte {at}"),
            DecodeErrorKind::BadValue => write!(f, "value of the wrong size for its type at byte {at}"),
            DecodeErrorKind::TrailingBytes(n) => write!(f, "{n} trailing bytes at byte {at}"),
            DecodeErrorKind::Invalid(what) => write!(f, "invalid {what} at byte {at}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// One tag-length-value read from the input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// Offset of the first content byte from the start of the message.
    pub offset: usize,
}

/// A cursor over BER bytes. Sub-decoders for constructed values keep absolute offsets,
/// so errors and the USM's digest position refer to the whole message.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder { data, pos: 0, base: 0 }
    }

    pub(crate) fn sub(content: &'a [u8], offset: usize) -> Decoder<'a> {
        Decoder { data: content, pos: 0, base: offset }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset: self.offset(), kind }
    }

    fn error_at(&self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Fails unless everything was consumed.
    pub fn finish(&self) -> DecodeResult<()> {
        if self.is_empty() { Ok(()) } else { Err(self.error(DecodeErrorKind::TrailingBytes(self.remaining()))) }
    }

    /// Reads one TLV (single-byte tags only: SNMP uses no others at this level).
    pub fn read(&mut self) -> DecodeResult<Tlv<'a>> {
        let start = self.pos;
        let Some(&tag) = self.data.get(self.pos) else {
            return Err(self.error(DecodeErrorKind::Truncated));
        };
        if tag & 0x1f == 0x1f {
            return Err(self.error(DecodeErrorKind::UnknownTag(tag)));
        }
        self.pos += 1;
        let Some(&first) = self.data.get(self.pos) else {
            return Err(self.error(DecodeErrorKind::Truncated));
        };
        self.pos += 1;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err(self.error_at(self.base + self.pos - 1, DecodeErrorKind::BadLength));
            }
            let Some(bytes) = self.data.get(self.pos..self.pos + n) else {
                return Err(self.error(DecodeErrorKind::Truncated));
            };
            self.pos += n;
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize)
        };
        let content_start = self.pos;
        let Some(content) = content_start.checked_add(len).and_then(|end| self.data.get(content_start..end)) else {
            self.pos = start;
            return Err(self.error_at(self.base + content_start, DecodeErrorKind::Truncated));
        };
        self.pos = content_start + len;
        Ok(Tlv { tag, content, offset: self.base + content_start })
    }

    /// Reads a TLV that must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> DecodeResult<Tlv<'a>> {
        let at = self.offset();
        let tlv = self.read()?;
        if tlv.tag != tag {
            return Err(self.error_at(at, DecodeErrorKind::UnexpectedTag { expected: tag, found: tlv.tag }));
        }
        Ok(tlv)
    }

    /// Enters a constructed value with `tag`.
    pub fn constructed(&mut self, tag: u8) -> DecodeResult<Decoder<'a>> {
        let tlv = self.expect(tag)?;
        Ok(Decoder::sub(tlv.content, tlv.offset))
    }

    pub fn sequence(&mut self) -> DecodeResult<Decoder<'a>> {
        self.constructed(tag::SEQUENCE)
    }

    /// An INTEGER (tag 0x02) as i64.
    pub fn integer(&mut self) -> DecodeResult<i64> {
        let tlv = self.expect(tag::INTEGER)?;
        signed(tlv.content).ok_or_else(|| self.error_at(tlv.offset, DecodeErrorKind::BadInteger))
    }

    /// An INTEGER that must fit in i32 (request-id, error-status, msgID, ...).
    pub fn integer32(&mut self) -> DecodeResult<i32> {
        let at = self.offset();
        let value = self.integer()?;
        i32::try_from(value).map_err(|_| self.error_at(at, DecodeErrorKind::BadInteger))
    }

    pub fn octet_string(&mut self) -> DecodeResult<&'a [u8]> {
        Ok(self.expect(tag::OCTET_STRING)?.content)
    }

    pub fn null(&mut self) -> DecodeResult<()> {
        let tlv = self.expect(tag::NULL)?;
        if tlv.content.is_empty() { Ok(()) } else { Err(self.error_at(tlv.offset, DecodeErrorKind::BadValue)) }
    }

    pub fn oid(&mut self) -> DecodeResult<Oid> {
        let tlv = self.expect(tag::OBJECT_IDENTIFIER)?;
        decode_oid(tlv.content).ok_or_else(|| self.error_at(tlv.offset, DecodeErrorKind::BadOid))
    }

    /// The raw bytes of the next TLV (tag and length included), unparsed.
    pub fn raw(&mut self) -> DecodeResult<&'a [u8]> {
        let start = self.pos;
        self.read()?;
        Ok(&self.data[start..self.pos])
    }
}

/// Two's complement big-endian, at most 8 significant bytes after redundant sign bytes.
pub(crate) fn signed(content: &[u8]) -> Option<i64> {
    let (&first, _) = content.split_first()?;
    let mut bytes = content;
    while bytes.len() > 1 && ((bytes[0] == 0 && bytes[1] & 0x80 == 0) || (bytes[0] == 0xff && bytes[1] & 0x80 != 0)) {
        bytes = &bytes[1..];
    }
    if bytes.len() > 8 {
        return None;
    }
    let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    Some(bytes.iter().fold(init, |acc, &b| (acc << 8) | b as i64))
}

/// Unsigned big-endian: leading zero bytes ignored; at most 8 significant bytes. Agents
/// that send `ff ff ff ff` for a Counter32 meant 4294967295: read as unsigned.
pub(crate) fn unsigned(content: &[u8]) -> Option<u64> {
    if content.is_empty() {
        return None;
    }
    let mut bytes = content;
    while bytes.len() > 1 && bytes[0] == 0 {
        bytes = &bytes[1..];
    }
    if bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

pub(crate) fn decode_oid(content: &[u8]) -> Option<Oid> {
    // net-snmp reads a zero-length OID as .0.0; so do we.
    if content.is_empty() {
        return Some(Oid::from_vec(vec![0, 0]));
    }
    let mut arcs = Vec::with_capacity(content.len() + 1);
    let mut value: u64 = 0;
    let mut first = true;
    for &b in content {
        value = (value << 7) | (b & 0x7f) as u64;
        if value > u32::MAX as u64 + 80 {
            return None;
        }
        if b & 0x80 == 0 {
            if first {
                let (a, b) = match value {
                    0..40 => (0, value),
                    40..80 => (1, value - 40),
                    _ => (2, value - 80),
                };
                arcs.push(a as u32);
                arcs.push(u32::try_from(b).ok()?);
                first = false;
            } else {
                arcs.push(u32::try_from(value).ok()?);
            }
            value = 0;
        }
    }
    if content.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(Oid::from_vec(arcs))
}

/// Builds BER backwards: write the last element first; a constructed value is opened with
/// [`Encoder::mark`] before its content and closed with [`Encoder::close`] after.
#[derive(Debug, Default)]
pub struct Encoder {
    rev: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder { rev: Vec::with_capacity(512) }
    }

    pub fn with_capacity(capacity: usize) -> Encoder {
        Encoder { rev: Vec::with_capacity(capacity) }
    }

    /// Bytes written so far (a position measured from the end of the final output).
    pub fn len(&self) -> usize {
        self.rev.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rev.is_empty()
    }

    /// Starts a constructed value: everything written until `close` is its content.
    pub fn mark(&self) -> usize {
        self.rev.len()
    }

    pub fn close(&mut self, mark: usize, tag: u8) {
        let len = self.rev.len() - mark;
        self.length(len);
        self.rev.push(tag);
    }

    fn length(&mut self, len: usize) {
        if len < 0x80 {
            self.rev.push(len as u8);
        } else {
            let mut n = 0u8;
            let mut rest = len;
            while rest > 0 {
                self.rev.push(rest as u8);
                rest >>= 8;
                n += 1;
            }
            self.rev.push(0x80 | n);
        }
    }

    /// A primitive value with `tag` and content `data`.
    pub fn bytes(&mut self, tag: u8, data: &[u8]) {
        self.rev.extend(data.iter().rev());
        self.length(data.len());
        self.rev.push(tag);
    }

    /// Already-encoded TLVs, copied as they are.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.rev.extend(encoded.iter().rev());
    }

    pub fn integer(&mut self, tag: u8, value: i64) {
        let start = self.rev.len();
        let mut v = value;
        loop {
            self.rev.push(v as u8);
            // In -128..128 the byte just written carries the right sign bit.
            if (-128..128).contains(&v) {
                break;
            }
            v >>= 8;
        }
        let len = self.rev.len() - start;
        self.length(len);
        self.rev.push(tag);
    }

    pub fn unsigned(&mut self, tag: u8, value: u64) {
        let start = self.rev.len();
        let mut v = value;
        loop {
            self.rev.push(v as u8);
            v >>= 8;
            if v == 0 {
                break;
            }
        }
        if self.rev.last().is_some_and(|b| b & 0x80 != 0) {
            self.rev.push(0);
        }
        let len = self.rev.len() - start;
        self.length(len);
        self.rev.push(tag);
    }

    pub fn null(&mut self, tag: u8) {
        self.rev.push(0);
        self.rev.push(tag);
    }

    /// An OID; OIDs of fewer than two arcs are written as their first arc followed by 0
    /// (`.` as `0.0`), the only encodable reading.
    pub fn oid(&mut self, oid: &Oid) {
        let start = self.rev.len();
        let arcs = oid.arcs();
        let (first, rest) = match arcs {
            [] => (0u64, &[][..]),
            [a] => (*a as u64 * 40, &[][..]),
            [a, b, rest @ ..] => (*a as u64 * 40 + *b as u64, rest),
        };
        for &arc in rest.iter().rev() {
            self.base128(arc as u64);
        }
        self.base128(first);
        let len = self.rev.len() - start;
        self.length(len);
        self.rev.push(tag::OBJECT_IDENTIFIER);
    }

    fn base128(&mut self, mut v: u64) {
        self.rev.push((v & 0x7f) as u8);
        v >>= 7;
        while v > 0 {
            self.rev.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
    }

    /// The encoded bytes, in order.
    pub fn finish(mut self) -> Vec<u8> {
        self.rev.reverse();
        self.rev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_minimal_and_tolerant() {
        for (value, bytes) in [
            (0i64, &[0x02, 1, 0][..]),
            (127, &[0x02, 1, 0x7f]),
            (128, &[0x02, 2, 0, 0x80]),
            (-1, &[0x02, 1, 0xff]),
            (-128, &[0x02, 1, 0x80]),
            (-129, &[0x02, 2, 0xff, 0x7f]),
            (i64::MAX, &[0x02, 8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            (i64::MIN, &[0x02, 8, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ] {
            let mut e = Encoder::new();
            e.integer(tag::INTEGER, value);
            assert_eq!(e.finish(), bytes, "{value}");
            assert_eq!(Decoder::new(bytes).integer().unwrap(), value);
        }
        // redundant sign bytes are accepted
        assert_eq!(Decoder::new(&[0x02, 3, 0, 0, 5]).integer().unwrap(), 5);
        assert_eq!(Decoder::new(&[0x02, 3, 0xff, 0xff, 0xfe]).integer().unwrap(), -2);
        assert!(Decoder::new(&[0x02, 0]).integer().is_err());
        assert_eq!(unsigned(&[0xff, 0xff, 0xff, 0xff]), Some(u32::MAX as u64));
        assert_eq!(unsigned(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Some(u64::MAX));
        assert_eq!(unsigned(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn unsigned_minimal() {
        for (value, bytes) in [(0u64, &[0x41, 1, 0][..]), (255, &[0x41, 2, 0, 0xff]), (256, &[0x41, 2, 1, 0])] {
            let mut e = Encoder::new();
            e.unsigned(tag::COUNTER32, value);
            assert_eq!(e.finish(), bytes);
        }
    }

    #[test]
    fn lengths_long_form_and_errors() {
        let mut e = Encoder::new();
        e.bytes(tag::OCTET_STRING, &[7; 300]);
        let out = e.finish();
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(Decoder::new(&out).octet_string().unwrap().len(), 300);
        // non-minimal long form accepted
        assert_eq!(Decoder::new(&[0x04, 0x81, 0x02, 1, 2]).octet_string().unwrap(), &[1, 2]);
        // indefinite refused, truncation refused
        assert_eq!(Decoder::new(&[0x30, 0x80, 0, 0]).read().unwrap_err().kind, DecodeErrorKind::BadLength);
        assert_eq!(Decoder::new(&[0x04, 0x05, 1]).read().unwrap_err().kind, DecodeErrorKind::Truncated);
        assert_eq!(
            Decoder::new(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).read().unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
    }

    #[test]
    fn oids() {
        let oid: Oid = ".1.3.6.1.4.1.2636.4294967295".parse().unwrap();
        let mut e = Encoder::new();
        e.oid(&oid);
        let out = e.finish();
        assert_eq!(&out[..4], &[0x06, 12, 0x2b, 6]);
        assert_eq!(Decoder::new(&out).oid().unwrap(), oid);
        assert_eq!(decode_oid(&[0x88, 0x37, 1]).unwrap().to_string(), ".2.999.1");
        assert!(decode_oid(&[0x2b, 0x86]).is_none(), "truncated arc");
        assert!(decode_oid(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]).is_none(), "arc over u32");
        assert_eq!(decode_oid(&[]).unwrap().to_string(), ".0.0");
    }
}
