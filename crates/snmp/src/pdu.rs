//! PDUs: the request/response form shared by Get, GetNext, GetBulk, Response, Set,
//! SNMPv2-Trap, InformRequest and Report, and the SNMPv1 Trap.

use std::fmt;

use crate::ber::{DecodeErrorKind, DecodeResult, Decoder, Encoder, tag};
use crate::oid::Oid;
use crate::value::{VarBind, decode_varbinds, encode_varbinds};

/// The PDU types that share the request-id / error-status / error-index form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduType {
    Get,
    GetNext,
    Response,
    Set,
    GetBulk,
    Inform,
    TrapV2,
    Report,
}

impl PduType {
    pub fn tag(self) -> u8 {
        match self {
            PduType::Get => tag::GET_REQUEST,
            PduType::GetNext => tag::GET_NEXT_REQUEST,
            PduType::Response => tag::RESPONSE,
            PduType::Set => tag::SET_REQUEST,
            PduType::GetBulk => tag::GET_BULK_REQUEST,
            PduType::Inform => tag::INFORM_REQUEST,
            PduType::TrapV2 => tag::TRAP_V2,
            PduType::Report => tag::REPORT,
        }
    }

    pub fn from_tag(t: u8) -> Option<PduType> {
        Some(match t {
            tag::GET_REQUEST => PduType::Get,
            tag::GET_NEXT_REQUEST => PduType::GetNext,
            tag::RESPONSE => PduType::Response,
            tag::SET_REQUEST => PduType::Set,
            tag::GET_BULK_REQUEST => PduType::GetBulk,
            tag::INFORM_REQUEST => PduType::Inform,
            tag::TRAP_V2 => PduType::TrapV2,
            tag::REPORT => PduType::Report,
            _ => return None,
        })
    }
}

/// error-status values (RFC 3416 and RFC 1157).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorStatus(pub i32);

impl ErrorStatus {
    pub const NO_ERROR: ErrorStatus = ErrorStatus(0);
    pub const TOO_BIG: ErrorStatus = ErrorStatus(1);
    pub const NO_SUCH_NAME: ErrorStatus = ErrorStatus(2);
    pub const GEN_ERR: ErrorStatus = ErrorStatus(5);

    pub fn name(self) -> &'static str {
        const NAMES: [&str; 19] = [
            "noError",
            "tooBig",
            "noSuchName",
            "badValue",
            "readOnly",
            "genErr",
            "noAccess",
            "wrongType",
            "wrongLength",
            "wrongEncoding",
            "wrongValue",
            "noCreation",
            "inconsistentValue",
            "resourceUnavailable",
            "commitFailed",
            "undoFailed",
            "authorizationError",
            "notWritable",
            "inconsistentName",
        ];
        usize::try_from(self.0).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("unknown error")
    }
}

impl fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A PDU of the common form. For GetBulk, `error_status` is non-repeaters and
/// `error_index` is max-repetitions (see the accessors).
#[derive(Debug, Clone, PartialEq)]
pub struct Pdu {
    pub kind: PduType,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
    pub varbinds: Vec<VarBind>,
}

impl Pdu {
    /// A request of `kind` for `oids` (NULL values).
    pub fn request(kind: PduType, request_id: i32, oids: impl IntoIterator<Item = Oid>) -> Pdu {
        Pdu {
            kind,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds: oids.into_iter().map(VarBind::null).collect(),
        }
    }

    pub fn get_bulk(
        request_id: i32,
        non_repeaters: i32,
        max_repetitions: i32,
        oids: impl IntoIterator<Item = Oid>,
    ) -> Pdu {
        Pdu {
            kind: PduType::GetBulk,
            request_id,
            error_status: non_repeaters,
            error_index: max_repetitions,
            varbinds: oids.into_iter().map(VarBind::null).collect(),
        }
    }

    pub fn non_repeaters(&self) -> i32 {
        self.error_status
    }

    pub fn max_repetitions(&self) -> i32 {
        self.error_index
    }

    pub fn status(&self) -> ErrorStatus {
        ErrorStatus(self.error_status)
    }

    pub fn encode(&self, e: &mut Encoder) {
        let m = e.mark();
        encode_varbinds(e, &self.varbinds);
        e.integer(tag::INTEGER, self.error_index as i64);
        e.integer(tag::INTEGER, self.error_status as i64);
        e.integer(tag::INTEGER, self.request_id as i64);
        e.close(m, self.kind.tag());
    }
}

/// The SNMPv1 Trap-PDU (RFC 1157).
#[derive(Debug, Clone, PartialEq)]
pub struct TrapV1 {
    pub enterprise: Oid,
    pub agent_addr: [u8; 4],
    pub generic_trap: i32,
    pub specific_trap: i32,
    pub time_stamp: u32,
    pub varbinds: Vec<VarBind>,
}

impl TrapV1 {
    pub fn encode(&self, e: &mut Encoder) {
        let m = e.mark();
        encode_varbinds(e, &self.varbinds);
        e.unsigned(tag::TIMETICKS, self.time_stamp as u64);
        e.integer(tag::INTEGER, self.specific_trap as i64);
        e.integer(tag::INTEGER, self.generic_trap as i64);
        e.bytes(tag::IP_ADDRESS, &self.agent_addr);
        e.oid(&self.enterprise);
        e.close(m, tag::TRAP_V1);
    }
}

/// Any PDU a message can carry.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyPdu {
    Pdu(Pdu),
    TrapV1(TrapV1),
}

impl AnyPdu {
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            AnyPdu::Pdu(pdu) => pdu.encode(e),
            AnyPdu::TrapV1(trap) => trap.encode(e),
        }
    }

    pub fn decode(d: &mut Decoder<'_>) -> DecodeResult<AnyPdu> {
        let at = d.offset();
        let found = d.peek_tag().ok_or_else(|| d.error(DecodeErrorKind::Truncated))?;
        if found == tag::TRAP_V1 {
            let mut t = d.constructed(tag::TRAP_V1)?;
            let enterprise = t.oid()?;
            let addr = t.expect(tag::IP_ADDRESS)?;
            let agent_addr = addr
                .content
                .try_into()
                .map_err(|_| crate::ber::DecodeError { offset: addr.offset, kind: DecodeErrorKind::BadValue })?;
            let generic_trap = t.integer32()?;
            let specific_trap = t.integer32()?;
            let ticks = t.expect(tag::TIMETICKS)?;
            let time_stamp = crate::ber::unsigned(ticks.content)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or(crate::ber::DecodeError { offset: ticks.offset, kind: DecodeErrorKind::BadInteger })?;
            let varbinds = decode_varbinds(&mut t)?;
            t.finish()?;
            return Ok(AnyPdu::TrapV1(TrapV1 {
                enterprise,
                agent_addr,
                generic_trap,
                specific_trap,
                time_stamp,
                varbinds,
            }));
        }
        let kind = PduType::from_tag(found)
            .ok_or(crate::ber::DecodeError { offset: at, kind: DecodeErrorKind::UnknownTag(found) })?;
        let mut p = d.constructed(found)?;
        let request_id = p.integer32()?;
        let error_status = p.integer32()?;
        let error_index = p.integer32()?;
        let varbinds = decode_varbinds(&mut p)?;
        p.finish()?;
        Ok(AnyPdu::Pdu(Pdu { kind, request_id, error_status, error_index, varbinds }))
    }

    /// The request-id, if this is not a v1 trap.
    pub fn request_id(&self) -> Option<i32> {
        match self {
            AnyPdu::Pdu(pdu) => Some(pdu.request_id),
            AnyPdu::TrapV1(_) => None,
        }
    }
}
