//! Object identifiers: a sequence of unsigned 32-bit arcs, ordered as SNMP orders them
//! (lexicographically, a prefix before its extensions), written `.1.3.6.1.2.1.1.1.0`.

use std::fmt;
use std::str::FromStr;

/// An OBJECT IDENTIFIER. Ordering is SNMP's lexicographic order, so walks can check that
/// each OID an agent returns is greater than the previous one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(Vec<u32>);

impl Oid {
    /// An OID from its arcs.
    pub fn new(arcs: impl Into<Vec<u32>>) -> Oid {
        Oid(arcs.into())
    }

    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `self` is `prefix` or lies below it in the tree.
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// This OID with `arcs` appended.
    pub fn child(&self, arcs: &[u32]) -> Oid {
        let mut all = Vec::with_capacity(self.0.len() + arcs.len());
        all.extend_from_slice(&self.0);
        all.extend_from_slice(arcs);
        Oid(all)
    }

    pub(crate) fn from_vec(arcs: Vec<u32>) -> Oid {
        Oid(arcs)
    }
}

/// Lets maps keyed by `Oid` be searched with a borrowed `&[u32]` (a column OID followed by
/// a row index built in a reused buffer) without allocating an `Oid` per lookup. Sound
/// because `Oid`'s `Eq`, `Ord` and `Hash` are those of its arcs.
impl std::borrow::Borrow<[u32]> for Oid {
    fn borrow(&self) -> &[u32] {
        &self.0
    }
}

impl From<&[u32]> for Oid {
    fn from(arcs: &[u32]) -> Oid {
        Oid(arcs.to_vec())
    }
}

impl<const N: usize> From<[u32; N]> for Oid {
    fn from(arcs: [u32; N]) -> Oid {
        Oid(arcs.to_vec())
    }
}

/// Numeric form with a leading dot, as `snmpwalk -On` prints it.
impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for arc in &self.0 {
            write!(f, ".{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// Why a text OID was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOidError(pub String);

impl fmt::Display for ParseOidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid OID `{}`: use the numeric form, e.g. .1.3.6.1.2.1.1", self.0)
    }
}

impl std::error::Error for ParseOidError {}

/// Accepts `.1.3.6.1`, `1.3.6.1` and `.` (the empty OID, the root of the tree).
impl FromStr for Oid {
    type Err = ParseOidError;

    fn from_str(text: &str) -> Result<Oid, ParseOidError> {
        let trimmed = text.trim();
        let body = trimmed.strip_prefix('.').unwrap_or(trimmed);
        if body.is_empty() {
            return if trimmed == "." { Ok(Oid(Vec::new())) } else { Err(ParseOidError(text.to_owned())) };
        }
        body.split('.')
            .map(|arc| arc.parse::<u32>().map_err(|_| ParseOidError(text.to_owned())))
            .collect::<Result<Vec<_>, _>>()
            .map(Oid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_order() {
        let a: Oid = ".1.3.6.1.2.1.1.1.0".parse().unwrap();
        assert_eq!(a.to_string(), ".1.3.6.1.2.1.1.1.0");
        assert_eq!("1.3.6".parse::<Oid>().unwrap(), Oid::from([1, 3, 6]));
        assert!("1..3".parse::<Oid>().is_err());
        assert!("1.x".parse::<Oid>().is_err());
        assert!("".parse::<Oid>().is_err());
        assert_eq!(".".parse::<Oid>().unwrap().len(), 0);
        let b: Oid = ".1.3.6.1.2.1.1.2".parse().unwrap();
        assert!(a < b);
        assert!(Oid::from([1, 3]) < Oid::from([1, 3, 0]));
        assert!(a.starts_with(&Oid::from([1, 3, 6])));
        assert!(!Oid::from([1, 3]).starts_with(&Oid::from([1, 3, 6])));
    }
}
