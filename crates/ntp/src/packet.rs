//! The NTPv4 packet header (48 bytes, RFC 5905 §7.3). Extension fields and MACs after the
//! header are ignored on input and never written.

use std::fmt;
use std::time::Duration;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const UNIX_OFFSET: u64 = 2_208_988_800;
pub const HEADER_LEN: usize = 48;

/// A 64-bit NTP timestamp: seconds since 1900 (era 0) and a binary fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// From nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> Self {
        let secs = nanos.div_euclid(1_000_000_000);
        let sub = nanos.rem_euclid(1_000_000_000) as u64;
        let ntp_secs = (secs + i128::from(UNIX_OFFSET)) as u64 & 0xFFFF_FFFF;
        let fraction = (sub << 32) / 1_000_000_000;
        NtpTimestamp((ntp_secs << 32) | fraction)
    }

    /// Nanoseconds since the Unix epoch, reading era-0 seconds (until 2036) and, for
    /// stamps that would fall before 1968, era 1 (after February 2036).
    pub fn to_unix_nanos(self) -> i128 {
        let secs = i128::from(self.0 >> 32);
        let fraction = i128::from(self.0 & 0xFFFF_FFFF);
        let mut unix_secs = secs - i128::from(UNIX_OFFSET);
        if secs < 0x8000_0000 {
            unix_secs += 1 << 32;
        }
        unix_secs * 1_000_000_000 + ((fraction * 1_000_000_000) >> 32)
    }
}

/// A 32-bit NTP short format value (16.16 seconds): root delay and dispersion.
pub fn short_from_duration(seconds: f64) -> u32 {
    (seconds.clamp(0.0, 65535.0) * 65536.0) as u32
}

pub fn short_to_seconds(value: u32) -> f64 {
    f64::from(value) / 65536.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leap {
    NoWarning,
    LastMinute61,
    LastMinute59,
    /// The clock is not synchronised.
    Unsynchronised,
}

impl Leap {
    fn from_bits(bits: u8) -> Leap {
        match bits & 3 {
            0 => Leap::NoWarning,
            1 => Leap::LastMinute61,
            2 => Leap::LastMinute59,
            _ => Leap::Unsynchronised,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::LastMinute61 => 1,
            Leap::LastMinute59 => 2,
            Leap::Unsynchronised => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    /// Control messages (mode 6), private (mode 7) and reserved.
    Other(u8),
}

impl Mode {
    fn from_bits(bits: u8) -> Mode {
        match bits & 7 {
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            other => Mode::Other(other),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Other(bits) => bits & 7,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub leap: Leap,
    pub version: u8,
    pub mode: Mode,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    /// 16.16 seconds.
    pub root_delay: u32,
    /// 16.16 seconds.
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference: NtpTimestamp,
    pub origin: NtpTimestamp,
    pub receive: NtpTimestamp,
    pub transmit: NtpTimestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 48-byte header.
    TooShort(usize),
    /// Version outside 1..=4.
    Version(u8),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooShort(len) => write!(f, "{len} bytes is shorter than an NTP header (48)"),
            ParseError::Version(v) => write!(f, "NTP version {v} is not supported"),
        }
    }
}

impl std::error::Error for ParseError {}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    (u64::from(u32_at(bytes, at)) << 32) | u64::from(u32_at(bytes, at + 4))
}

impl Packet {
    pub fn parse(bytes: &[u8]) -> Result<Packet, ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::TooShort(bytes.len()));
        }
        let version = (bytes[0] >> 3) & 7;
        if !(1..=4).contains(&version) {
            return Err(ParseError::Version(version));
        }
        Ok(Packet {
            leap: Leap::from_bits(bytes[0] >> 6),
            version,
            mode: Mode::from_bits(bytes[0]),
            stratum: bytes[1],
            poll: bytes[2] as i8,
            precision: bytes[3] as i8,
            root_delay: u32_at(bytes, 4),
            root_dispersion: u32_at(bytes, 8),
            reference_id: [bytes[12], bytes[13], bytes[14], bytes[15]],
            reference: NtpTimestamp(u64_at(bytes, 16)),
            origin: NtpTimestamp(u64_at(bytes, 24)),
            receive: NtpTimestamp(u64_at(bytes, 32)),
            transmit: NtpTimestamp(u64_at(bytes, 40)),
        })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = (self.leap.bits() << 6) | ((self.version & 7) << 3) | self.mode.bits();
        out[1] = self.stratum;
        out[2] = self.poll as u8;
        out[3] = self.precision as u8;
        out[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        out[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        out[12..16].copy_from_slice(&self.reference_id);
        out[16..24].copy_from_slice(&self.reference.0.to_be_bytes());
        out[24..32].copy_from_slice(&self.origin.0.to_be_bytes());
        out[32..40].copy_from_slice(&self.receive.0.to_be_bytes());
        out[40..48].copy_from_slice(&self.transmit.0.to_be_bytes());
        out
    }

    /// The kiss code of a Kiss-o'-Death packet (stratum 0), e.g. `RATE`, `DENY`.
    pub fn kiss_code(&self) -> Option<String> {
        (self.stratum == 0).then(|| String::from_utf8_lossy(&self.reference_id).into_owned())
    }
}

/// Nanoseconds in a `Duration`, as the signed type the arithmetic uses.
pub fn nanos(duration: Duration) -> i128 {
    duration.as_nanos() as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_across_eras() {
        for unix in [0i128, 1_700_000_000_123_456_789, 2_085_978_496_000_000_000 + 5_000_000_000] {
            let ts = NtpTimestamp::from_unix_nanos(unix);
            assert!((ts.to_unix_nanos() - unix).abs() < 2, "{unix}");
        }
        // RFC 5905 figure: 1 Jan 1970 is 2208988800 seconds after the NTP epoch.
        assert_eq!(NtpTimestamp::from_unix_nanos(0).0 >> 32, 2_208_988_800);
    }

    #[test]
    fn packets_round_trip_and_bad_input_is_an_error() {
        let packet = Packet {
            leap: Leap::Unsynchronised,
            version: 4,
            mode: Mode::Server,
            stratum: 3,
            poll: 6,
            precision: -20,
            root_delay: short_from_duration(0.0125),
            root_dispersion: short_from_duration(0.5),
            reference_id: [169, 254, 169, 123],
            reference: NtpTimestamp(1),
            origin: NtpTimestamp(2),
            receive: NtpTimestamp(3),
            transmit: NtpTimestamp(u64::MAX),
        };
        assert_eq!(Packet::parse(&packet.to_bytes()), Ok(packet));
        assert_eq!(Packet::parse(&[0x23; 47]), Err(ParseError::TooShort(47)));
        assert_eq!(Packet::parse(&[0x03; 48]), Err(ParseError::Version(0)));
        // Extension fields after the header are ignored.
        let mut long = packet.to_bytes().to_vec();
        long.extend_from_slice(&[0xAA; 20]);
        assert_eq!(Packet::parse(&long), Ok(packet));
        assert!((short_to_seconds(short_from_duration(0.0125)) - 0.0125).abs() < 1e-4);
    }
}
