//! Compile-time string interner: every identifier, hint and label is stored once
//! and referred to by a `Sym` (u32), so the parsed form of thousands of modules
//! stays small. Only used while compiling; the runtime table has its own arena.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// An interned string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Sym(pub u32);

/// FNV-1a: identifiers are short and trusted enough (our own MIB files), and
/// SipHash costs a visible share of compile time.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

pub(crate) type FnvBuild = BuildHasherDefault<Fnv>;
pub(crate) type FnvMap<K, V> = HashMap<K, V, FnvBuild>;

#[derive(Default)]
pub(crate) struct Interner {
    map: FnvMap<Box<str>, Sym>,
    strings: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.map.get(s) {
            return sym;
        }
        let sym = Sym(self.strings.len() as u32);
        self.strings.push(s.into());
        self.map.insert(s.into(), sym);
        sym
    }

    pub fn resolve(&self, sym: Sym) -> &str {
        &self.strings[sym.0 as usize]
    }
}
