//! The parsed form of one module: only what the runtime table needs (no
//! descriptions, no ranges, no compliance statements). Names are interned `Sym`s.

use crate::BaseType;
use crate::intern::Sym;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleAst {
    pub name: Sym,
    /// Index of the file in the compiler's file list.
    pub file: u32,
    pub line: u32,
    pub imports: Vec<Import>,
    pub defs: Vec<Def>,
    pub types: Vec<TypeDef>,
    /// Definitions or clauses dropped because they did not parse.
    pub syntax_errors: u32,
    /// Has a MODULE-IDENTITY (SMIv2): preferred over an SMIv1 module defining the
    /// same name for the same OID (SNMPv2-MIB's sysObjectID over RFC1213-MIB's).
    pub smiv2: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Import {
    pub symbol: Sym,
    pub from: Sym,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Def {
    pub name: Sym,
    pub line: u32,
    pub value: DefValue,
    pub kind: DefKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DefValue {
    /// `{ parent 1 2 }`, `{ iso org(3) dod(6) 1 }`.
    Oid(Vec<OidPart>),
    /// SMIv1 TRAP-TYPE: `ENTERPRISE e ... ::= n` is e.0.n (RFC 3584).
    Trap { enterprise: Sym, number: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OidPart {
    Name(Sym),
    /// `MODULE.name`
    Qualified(Sym, Sym),
    Number(u32),
    /// `name(3)`: defines `name` at that arc as a side effect.
    Named(Sym, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DefKind {
    /// OBJECT-TYPE; `row` when it has INDEX or AUGMENTS.
    ObjectType { syntax: Option<TypeAst>, row: bool, units: Option<Sym> },
    /// NOTIFICATION-TYPE OBJECTS or TRAP-TYPE VARIABLES.
    Notification { objects: Vec<Sym> },
    /// OBJECT IDENTIFIER values, identities, groups, compliance, capabilities.
    Other { priority: u8 },
}

/// A type assignment: `Name ::= TEXTUAL-CONVENTION ... SYNTAX t` or `Name ::= t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeDef {
    pub name: Sym,
    pub line: u32,
    pub ty: TypeAst,
    pub hint: Option<Sym>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeAst {
    Base {
        base: BaseType,
        labels: Vec<(i64, Sym)>,
    },
    Ref {
        module: Option<Sym>,
        name: Sym,
        labels: Vec<(i64, Sym)>,
    },
    SequenceOf,
    /// SEQUENCE { ... } (a row type) or CHOICE / NULL: no value syntax.
    Structured,
}
