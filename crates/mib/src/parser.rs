//! The SMIv1/SMIv2 parser: tokens of one file in, [`ModuleAst`]s out. It is
//! deliberately tolerant: every construct it does not need (MACRO bodies,
//! compliance statements, ranges, DEFVALs) is skipped by bracket balance, a
//! definition that does not parse is reported with its line and dropped, and
//! parsing resumes at the next definition start.

use crate::ast::{Def, DefKind, DefValue, Import, ModuleAst, OidPart, TypeAst, TypeDef};
use crate::intern::{Interner, Sym};
use crate::lexer::{TokKind, Token, tokenize};
use crate::{BaseType, Severity};

/// A problem found in one file, before module names are linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileProblem {
    pub severity: Severity,
    pub line: u32,
    pub module: Option<Sym>,
    pub message: String,
}

/// Macros whose invocations define an OID (`name MACRO ... ::= value`).
const DEFINING_MACROS: &[&[u8]] = &[
    b"OBJECT-TYPE",
    b"MODULE-IDENTITY",
    b"OBJECT-IDENTITY",
    b"NOTIFICATION-TYPE",
    b"TRAP-TYPE",
    b"OBJECT-GROUP",
    b"NOTIFICATION-GROUP",
    b"MODULE-COMPLIANCE",
    b"AGENT-CAPABILITIES",
];

/// Clause keywords after which an identifier is a value, not a new definition.
const CLAUSE_KEYWORDS: &[&[u8]] =
    &[b"SYNTAX", b"STATUS", b"ACCESS", b"MAX-ACCESS", b"MIN-ACCESS", b"UNITS", b"ENTERPRISE", b"WRITE-SYNTAX", b"OF"];

/// Words that never name a definition (clause keywords that may precede `::=`
/// in a definition with an empty clause, e.g. `MODULE -- this module ::= {...}`).
const RESERVED: &[&[u8]] = &[
    b"MODULE",
    b"MANDATORY-GROUPS",
    b"GROUP",
    b"OBJECT",
    b"DESCRIPTION",
    b"REFERENCE",
    b"STATUS",
    b"SYNTAX",
    b"INDEX",
    b"AUGMENTS",
    b"DEFVAL",
    b"OBJECTS",
    b"NOTIFICATIONS",
    b"VARIABLES",
    b"SUPPORTS",
    b"INCLUDES",
    b"VARIATION",
    b"REVISION",
    b"UNITS",
    b"END",
    b"IMPORTS",
    b"EXPORTS",
    b"FROM",
];

/// Priorities of non-object definitions when two modules name the same OID.
pub(crate) const PRIORITY_IMPLICIT: u8 = 0;
pub(crate) const PRIORITY_GROUP: u8 = 1;
pub(crate) const PRIORITY_OID_VALUE: u8 = 2;
pub(crate) const PRIORITY_IDENTITY: u8 = 3;

pub(crate) fn parse_file(src: &[u8], file: u32, interner: &mut Interner) -> (Vec<ModuleAst>, Vec<FileProblem>) {
    let (toks, lex_problems) = tokenize(src);
    let mut parser = Parser { src, toks, pos: 0, interner, problems: Vec::new(), module: None, errors: 0 };
    for p in lex_problems {
        parser.problems.push(FileProblem {
            severity: Severity::Warning,
            line: p.line,
            module: None,
            message: p.message.to_string(),
        });
    }
    let modules = parser.parse_modules(file);
    (modules, parser.problems)
}

struct Parser<'s, 'i> {
    src: &'s [u8],
    toks: Vec<Token>,
    pos: usize,
    interner: &'i mut Interner,
    problems: Vec<FileProblem>,
    module: Option<Sym>,
    errors: u32,
}

impl<'s> Parser<'s, '_> {
    // ----- token helpers -------------------------------------------------

    fn kind(&self, i: usize) -> Option<TokKind> {
        self.toks.get(i).map(|t| t.kind)
    }

    fn text(&self, i: usize) -> &'s [u8] {
        match self.toks.get(i) {
            Some(t) => &self.src[t.start as usize..t.end as usize],
            None => b"",
        }
    }

    fn is_word(&self, i: usize, word: &[u8]) -> bool {
        self.kind(i) == Some(TokKind::Ident) && self.text(i) == word
    }

    fn line(&self, i: usize) -> u32 {
        match self.toks.get(i).or(self.toks.last()) {
            Some(t) => t.line,
            None => 0,
        }
    }

    fn sym(&mut self, i: usize) -> Sym {
        let text = String::from_utf8_lossy(self.text(i));
        self.interner.intern(&text)
    }

    fn describe(&self, i: usize) -> String {
        if i >= self.toks.len() {
            return "end of file".to_string();
        }
        let text = String::from_utf8_lossy(self.text(i));
        let mut shown: String = text.chars().take(40).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        format!("'{shown}'")
    }

    fn problem(&mut self, severity: Severity, line: u32, message: String) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        self.problems.push(FileProblem { severity, line, module: self.module, message });
    }

    fn number(&self, i: usize) -> Option<u64> {
        let text = self.text(i);
        match self.kind(i)? {
            TokKind::Number => std::str::from_utf8(text).ok()?.parse().ok(),
            TokKind::BinOrHex => {
                let body = &text[1..text.len() - 2];
                let radix = if text[text.len() - 1].eq_ignore_ascii_case(&b'h') { 16 } else { 2 };
                if body.is_empty() {
                    return Some(0);
                }
                u64::from_str_radix(std::str::from_utf8(body).ok()?, radix).ok()
            }
            _ => None,
        }
    }

    /// Index after the balanced group opening at `i` (`{`, `(` or `[`).
    fn skip_group(&self, i: usize) -> usize {
        let (open, close) = match self.kind(i) {
            Some(TokKind::LBrace) => (TokKind::LBrace, TokKind::RBrace),
            Some(TokKind::LParen) => (TokKind::LParen, TokKind::RParen),
            Some(TokKind::LBracket) => (TokKind::LBracket, TokKind::RBracket),
            _ => return i,
        };
        let mut depth = 0usize;
        let mut j = i;
        while j < self.toks.len() {
            let k = self.toks[j].kind;
            if k == open {
                depth += 1;
            } else if k == close {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            } else if self.is_definition_start(j) || self.is_word(j, b"END") {
                // An unbalanced group: stop before the next definition.
                return j;
            }
            j += 1;
        }
        j
    }

    /// Whether a new definition (or module) starts at token `i`.
    fn is_definition_start(&self, i: usize) -> bool {
        if self.kind(i) != Some(TokKind::Ident) || RESERVED.contains(&self.text(i)) {
            return false;
        }
        match self.kind(i + 1) {
            Some(TokKind::Ident) => {
                let next = self.text(i + 1);
                DEFINING_MACROS.contains(&next)
                    || next == b"MACRO"
                    || next == b"DEFINITIONS"
                    || (next == b"OBJECT"
                        && self.is_word(i + 2, b"IDENTIFIER")
                        && self.kind(i + 3) == Some(TokKind::Assign))
            }
            Some(TokKind::Assign) => {
                let starts_upper = self.text(i).first().is_some_and(u8::is_ascii_uppercase);
                let after_clause = i > 0 && CLAUSE_KEYWORDS.contains(&self.text(i - 1));
                starts_upper && !after_clause
            }
            _ => false,
        }
    }

    /// First index at or after `i` where a definition starts (or END / EOF).
    fn recovery_point(&self, mut i: usize) -> usize {
        while i < self.toks.len() && !self.is_definition_start(i) && !self.is_word(i, b"END") {
            i += 1;
        }
        i
    }

    // ----- modules -------------------------------------------------------

    fn parse_modules(&mut self, file: u32) -> Vec<ModuleAst> {
        let mut modules = Vec::new();
        while self.pos < self.toks.len() {
            // `Name [{ oid }] DEFINITIONS ... ::= BEGIN`
            let i = self.pos;
            let header_end = if self.kind(i) == Some(TokKind::Ident) && self.is_word(i + 1, b"DEFINITIONS") {
                Some(i + 2)
            } else if self.kind(i) == Some(TokKind::Ident) && self.kind(i + 1) == Some(TokKind::LBrace) {
                let after = self.skip_group(i + 1);
                self.is_word(after, b"DEFINITIONS").then_some(after + 1)
            } else {
                None
            };
            let Some(mut j) = header_end else {
                self.pos += 1;
                continue;
            };
            let name = self.sym(i);
            let line = self.line(i);
            self.module = Some(name);
            self.errors = 0;
            while j < self.toks.len() && !self.is_word(j, b"BEGIN") {
                j += 1;
            }
            self.pos = j + 1;
            let mut module = ModuleAst {
                name,
                file,
                line,
                imports: Vec::new(),
                defs: Vec::new(),
                types: Vec::new(),
                syntax_errors: 0,
                smiv2: false,
            };
            self.parse_body(&mut module);
            module.syntax_errors = self.errors;
            modules.push(module);
            self.module = None;
        }
        modules
    }

    fn parse_body(&mut self, module: &mut ModuleAst) {
        loop {
            let i = self.pos;
            if i >= self.toks.len() {
                self.problem(Severity::Warning, self.line(i), "module has no END".to_string());
                return;
            }
            if self.is_word(i, b"END") {
                self.pos += 1;
                return;
            }
            if self.kind(i) == Some(TokKind::Ident) && self.is_word(i + 1, b"DEFINITIONS") {
                self.problem(Severity::Warning, self.line(i), "module has no END before the next module".to_string());
                return;
            }
            if self.is_word(i, b"IMPORTS") {
                self.pos += 1;
                self.parse_imports(module);
                continue;
            }
            if self.is_word(i, b"EXPORTS") {
                while self.pos < self.toks.len() && self.kind(self.pos) != Some(TokKind::Semi) {
                    self.pos += 1;
                }
                self.pos += 1;
                continue;
            }
            if self.kind(i) == Some(TokKind::Ident) {
                self.parse_assignment(module);
                continue;
            }
            let message = format!("unexpected {}", self.describe(i));
            self.problem(Severity::Error, self.line(i), message);
            self.pos = self.recovery_point(i + 1);
        }
    }

    fn parse_imports(&mut self, module: &mut ModuleAst) {
        let mut pending: Vec<(Sym, u32)> = Vec::new();
        loop {
            let i = self.pos;
            match self.kind(i) {
                None => return,
                Some(TokKind::Semi) => {
                    self.pos += 1;
                    break;
                }
                Some(TokKind::Comma) => self.pos += 1,
                Some(TokKind::Ident) if self.text(i) == b"FROM" => {
                    if self.kind(i + 1) != Some(TokKind::Ident) {
                        let message =
                            format!("IMPORTS: expected a module name after FROM, found {}", self.describe(i + 1));
                        self.problem(Severity::Error, self.line(i), message);
                        self.pos = self.recovery_point(i + 1);
                        return;
                    }
                    let from = self.sym(i + 1);
                    for (symbol, line) in pending.drain(..) {
                        module.imports.push(Import { symbol, from, line });
                    }
                    self.pos = i + 2;
                    // ASN.1 allows an OID value after the module name.
                    if self.kind(self.pos) == Some(TokKind::LBrace) {
                        self.pos = self.skip_group(self.pos);
                    }
                }
                Some(TokKind::Ident) => {
                    let followed_by_definition = matches!(self.kind(i + 1), Some(TokKind::Assign))
                        || (self.kind(i + 1) == Some(TokKind::Ident)
                            && self.text(i + 1) != b"FROM"
                            && self.is_definition_start(i));
                    if followed_by_definition {
                        self.problem(Severity::Warning, self.line(i), "IMPORTS not terminated by ';'".to_string());
                        break;
                    }
                    pending.push((self.sym(i), self.line(i)));
                    self.pos += 1;
                    // Some vendor files write `Foo{}` or `Foo()` for macro names.
                    if matches!(self.kind(self.pos), Some(TokKind::LBrace | TokKind::LParen)) {
                        self.pos = self.skip_group(self.pos);
                    }
                }
                Some(_) => {
                    let message = format!("IMPORTS: unexpected {}", self.describe(i));
                    self.problem(Severity::Warning, self.line(i), message);
                    self.pos += 1;
                }
            }
        }
        if !pending.is_empty() {
            let line = pending[0].1;
            self.problem(Severity::Warning, line, format!("IMPORTS: {} symbols without FROM", pending.len()));
        }
    }

    fn parse_assignment(&mut self, module: &mut ModuleAst) {
        let i = self.pos;
        let name_line = self.line(i);
        let next = self.kind(i + 1);
        let next_text = self.text(i + 1);
        if next == Some(TokKind::Ident) && next_text == b"MACRO" {
            // `OBJECT-TYPE MACRO ::= BEGIN ... END`: skip the body.
            let mut j = i + 2;
            while j < self.toks.len() && !self.is_word(j, b"END") {
                j += 1;
            }
            self.pos = j + 1;
            return;
        }
        if next == Some(TokKind::Assign) {
            self.pos = i + 2;
            self.parse_type_assignment(module, i);
            return;
        }
        if next == Some(TokKind::Ident) && next_text == b"OBJECT" && self.is_word(i + 2, b"IDENTIFIER") {
            if self.kind(i + 3) != Some(TokKind::Assign) {
                let message = format!("expected '::=' after OBJECT IDENTIFIER, found {}", self.describe(i + 3));
                self.problem(Severity::Error, name_line, message);
                self.pos = self.recovery_point(i + 3);
                return;
            }
            let name = self.sym(i);
            self.pos = i + 4;
            if let Some(parts) = self.parse_oid_value() {
                module.defs.push(Def {
                    name,
                    line: name_line,
                    value: DefValue::Oid(parts),
                    kind: DefKind::Other { priority: PRIORITY_OID_VALUE },
                });
            }
            return;
        }
        if next == Some(TokKind::Ident) && DEFINING_MACROS.contains(&next_text) {
            self.pos = i + 2;
            self.parse_macro_invocation(module, i);
            return;
        }
        // `name Type ::= value` (e.g. an INTEGER value): legal ASN.1 that we do not need.
        let mut j = i + 1;
        while j < self.toks.len() && self.kind(j) != Some(TokKind::Assign) && !self.is_definition_start(j) {
            if self.is_word(j, b"END") {
                break;
            }
            j += 1;
        }
        if self.kind(j) == Some(TokKind::Assign) && j > i + 1 {
            self.pos = j + 1;
            if self.kind(self.pos) == Some(TokKind::LBrace) {
                self.pos = self.skip_group(self.pos);
            } else {
                self.pos += 1;
            }
            return;
        }
        let message =
            format!("cannot parse the definition of {}: unexpected {}", self.describe(i), self.describe(i + 1));
        self.problem(Severity::Error, name_line, message);
        self.pos = self.recovery_point(i + 1);
    }

    /// `Name ::= TEXTUAL-CONVENTION ... SYNTAX type`, `Name ::= type`, or the
    /// value form `name ::= { oid }`.
    fn parse_type_assignment(&mut self, module: &mut ModuleAst, name_index: usize) {
        let name = self.sym(name_index);
        let line = self.line(name_index);
        if self.kind(self.pos) == Some(TokKind::LBrace) {
            if let Some(parts) = self.parse_oid_value() {
                module.defs.push(Def {
                    name,
                    line,
                    value: DefValue::Oid(parts),
                    kind: DefKind::Other { priority: PRIORITY_OID_VALUE },
                });
            }
            return;
        }
        let mut hint = None;
        if self.is_word(self.pos, b"TEXTUAL-CONVENTION") {
            let mut j = self.pos + 1;
            loop {
                if j >= self.toks.len() || (self.is_definition_start(j) && j > self.pos + 1) || self.is_word(j, b"END")
                {
                    let message = format!("TEXTUAL-CONVENTION {} has no SYNTAX", self.describe(name_index));
                    self.problem(Severity::Error, line, message);
                    self.pos = j;
                    return;
                }
                if self.is_word(j, b"DISPLAY-HINT") && self.kind(j + 1) == Some(TokKind::Str) {
                    hint = self.string_sym(j + 1);
                }
                if self.is_word(j, b"SYNTAX") {
                    break;
                }
                j += 1;
            }
            self.pos = j + 1;
        }
        match self.parse_type() {
            Some(ty) => module.types.push(TypeDef { name, line, ty, hint }),
            None => {
                let message = format!(
                    "cannot parse the type of {}: unexpected {}",
                    self.describe(name_index),
                    self.describe(self.pos)
                );
                self.problem(Severity::Error, line, message);
                self.pos = self.recovery_point(self.pos);
            }
        }
    }

    fn string_sym(&mut self, i: usize) -> Option<Sym> {
        let text = self.text(i);
        let inner = text.strip_prefix(b"\"")?;
        let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
        let s = String::from_utf8_lossy(inner);
        let s = s.trim();
        (!s.is_empty()).then(|| self.interner.intern(s))
    }

    fn parse_macro_invocation(&mut self, module: &mut ModuleAst, name_index: usize) {
        let name = self.sym(name_index);
        let line = self.line(name_index);
        let macro_name = self.text(name_index + 1);
        let clauses_start = self.pos;
        // Clauses end at `::=`; a definition start before it means this one is broken.
        let mut j = clauses_start;
        while j < self.toks.len() && self.kind(j) != Some(TokKind::Assign) {
            if self.is_definition_start(j) || self.is_word(j, b"END") {
                break;
            }
            j += 1;
        }
        if self.kind(j) != Some(TokKind::Assign) {
            let message = format!(
                "{} {}: no '::=' before {}",
                String::from_utf8_lossy(macro_name),
                self.describe(name_index),
                self.describe(j)
            );
            self.problem(Severity::Error, line, message);
            self.pos = j;
            return;
        }
        let clauses_end = j;
        self.pos = j + 1;

        let kind = match macro_name {
            b"OBJECT-TYPE" => {
                let mut syntax = None;
                let mut row = false;
                let mut units = None;
                let mut k = clauses_start;
                while k < clauses_end {
                    if self.is_word(k, b"SYNTAX") && syntax.is_none() {
                        let saved = self.pos;
                        self.pos = k + 1;
                        syntax = self.parse_type();
                        if syntax.is_none() {
                            let message = format!(
                                "OBJECT-TYPE {}: cannot parse SYNTAX at {}",
                                self.describe(name_index),
                                self.describe(self.pos)
                            );
                            self.problem(Severity::Warning, self.line(k), message);
                        }
                        k = self.pos.max(k + 1);
                        self.pos = saved;
                        continue;
                    }
                    if self.is_word(k, b"INDEX") || self.is_word(k, b"AUGMENTS") {
                        row = true;
                    }
                    if self.is_word(k, b"UNITS") && self.kind(k + 1) == Some(TokKind::Str) {
                        units = self.string_sym(k + 1);
                    }
                    k = match self.kind(k) {
                        Some(TokKind::LBrace | TokKind::LParen) => self.skip_group(k),
                        _ => k + 1,
                    };
                }
                DefKind::ObjectType { syntax, row, units }
            }
            b"NOTIFICATION-TYPE" | b"TRAP-TYPE" => {
                let list = if macro_name == b"TRAP-TYPE" { b"VARIABLES" as &[u8] } else { b"OBJECTS" };
                let objects = self
                    .find_clause(clauses_start, clauses_end, list)
                    .map(|k| self.name_list(k + 1))
                    .unwrap_or_default();
                DefKind::Notification { objects }
            }
            b"MODULE-IDENTITY" => {
                module.smiv2 = true;
                DefKind::Other { priority: PRIORITY_IDENTITY }
            }
            b"OBJECT-IDENTITY" => DefKind::Other { priority: PRIORITY_IDENTITY },
            _ => DefKind::Other { priority: PRIORITY_GROUP },
        };

        if macro_name == b"TRAP-TYPE" {
            let enterprise = self.find_clause(clauses_start, clauses_end, b"ENTERPRISE").and_then(|k| {
                let k = if self.kind(k + 1) == Some(TokKind::LBrace) { k + 2 } else { k + 1 };
                (self.kind(k) == Some(TokKind::Ident)).then(|| self.sym(k))
            });
            let number = self.number(self.pos).and_then(|n| u32::try_from(n).ok());
            match (enterprise, number) {
                (Some(enterprise), Some(number)) => {
                    self.pos += 1;
                    module.defs.push(Def { name, line, value: DefValue::Trap { enterprise, number }, kind });
                }
                (None, _) => {
                    let message = format!("TRAP-TYPE {} has no ENTERPRISE", self.describe(name_index));
                    self.problem(Severity::Error, line, message);
                    self.pos = self.recovery_point(self.pos);
                }
                (_, None) => {
                    let message = format!(
                        "TRAP-TYPE {}: expected a number, found {}",
                        self.describe(name_index),
                        self.describe(self.pos)
                    );
                    self.problem(Severity::Error, line, message);
                    self.pos = self.recovery_point(self.pos);
                }
            }
            return;
        }
        if let Some(parts) = self.parse_oid_value() {
            module.defs.push(Def { name, line, value: DefValue::Oid(parts), kind });
        }
    }

    /// Index of clause keyword `word` at bracket depth 0 within `start..end`.
    fn find_clause(&self, start: usize, end: usize, word: &[u8]) -> Option<usize> {
        let mut k = start;
        while k < end {
            if self.is_word(k, word) {
                return Some(k);
            }
            k = match self.kind(k) {
                Some(TokKind::LBrace | TokKind::LParen) => self.skip_group(k),
                _ => k + 1,
            };
        }
        None
    }

    /// `{ a, b, c }` at `k` -> names (unknown tokens skipped).
    fn name_list(&mut self, k: usize) -> Vec<Sym> {
        let mut names = Vec::new();
        if self.kind(k) != Some(TokKind::LBrace) {
            return names;
        }
        let end = self.skip_group(k);
        for i in k + 1..end {
            if self.kind(i) == Some(TokKind::Ident) {
                names.push(self.sym(i));
            }
        }
        names
    }

    /// `{ parent 1 name(2) }` at `self.pos`.
    fn parse_oid_value(&mut self) -> Option<Vec<OidPart>> {
        let start = self.pos;
        let line = self.line(start);
        if self.kind(start) != Some(TokKind::LBrace) {
            let message = format!("expected an OID value '{{ ... }}', found {}", self.describe(start));
            self.problem(Severity::Error, line, message);
            self.pos = self.recovery_point(start);
            return None;
        }
        let mut parts = Vec::new();
        let mut i = start + 1;
        loop {
            match self.kind(i) {
                Some(TokKind::RBrace) => {
                    self.pos = i + 1;
                    break;
                }
                Some(TokKind::Ident) if !self.is_definition_start(i) => {
                    let name = self.sym(i);
                    if self.kind(i + 1) == Some(TokKind::LParen)
                        && self.kind(i + 3) == Some(TokKind::RParen)
                        && let Some(n) = self.number(i + 2).and_then(|n| u32::try_from(n).ok())
                    {
                        parts.push(OidPart::Named(name, n));
                        i += 4;
                    } else if self.kind(i + 1) == Some(TokKind::Dot) && self.kind(i + 2) == Some(TokKind::Ident) {
                        let label = self.sym(i + 2);
                        parts.push(OidPart::Qualified(name, label));
                        i += 3;
                    } else {
                        parts.push(OidPart::Name(name));
                        i += 1;
                    }
                }
                Some(TokKind::Number) => match self.number(i).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => {
                        parts.push(OidPart::Number(n));
                        i += 1;
                    }
                    None => {
                        let message = format!("OID sub-identifier {} out of range", self.describe(i));
                        self.problem(Severity::Error, line, message);
                        self.pos = self.recovery_point(i);
                        return None;
                    }
                },
                // Stray commas / dots between components are a common typo.
                Some(TokKind::Comma | TokKind::Dot) => {
                    self.problem(Severity::Warning, self.line(i), "stray punctuation in OID value".to_string());
                    i += 1;
                }
                _ => {
                    let message = format!("bad OID value: unexpected {}", self.describe(i));
                    self.problem(Severity::Error, self.line(i), message);
                    self.pos = self.recovery_point(i);
                    return None;
                }
            }
        }
        if parts.is_empty() {
            self.problem(Severity::Error, line, "empty OID value".to_string());
            return None;
        }
        Some(parts)
    }

    // ----- types ---------------------------------------------------------

    /// A type at `self.pos`; on success `self.pos` is after it (constraints included).
    fn parse_type(&mut self) -> Option<TypeAst> {
        // Tags: `[APPLICATION 4] IMPLICIT ...`: the SMI's application types.
        let mut application = None;
        if self.kind(self.pos) == Some(TokKind::LBracket) {
            if self.is_word(self.pos + 1, b"APPLICATION") {
                application = self.number(self.pos + 2).and_then(application_type);
            }
            self.pos = self.skip_group(self.pos);
            if self.is_word(self.pos, b"IMPLICIT") || self.is_word(self.pos, b"EXPLICIT") {
                self.pos += 1;
            }
        }
        let ty = self.parse_untagged_type()?;
        Some(match (application, ty) {
            (Some(base), TypeAst::Base { labels, .. }) => TypeAst::Base { base, labels },
            (_, ty) => ty,
        })
    }

    fn parse_untagged_type(&mut self) -> Option<TypeAst> {
        let i = self.pos;
        if self.kind(i) != Some(TokKind::Ident) {
            return None;
        }
        let word = self.text(i);
        let ty = match word {
            b"OCTET" => {
                if !self.is_word(i + 1, b"STRING") {
                    return None;
                }
                self.pos = i + 2;
                TypeAst::Base { base: BaseType::OctetString, labels: Vec::new() }
            }
            b"OBJECT" => {
                if !self.is_word(i + 1, b"IDENTIFIER") {
                    return None;
                }
                self.pos = i + 2;
                TypeAst::Base { base: BaseType::ObjectIdentifier, labels: Vec::new() }
            }
            b"SEQUENCE" if self.is_word(i + 1, b"OF") => {
                self.pos = i + 2;
                if self.kind(self.pos) == Some(TokKind::Ident) {
                    self.pos += 1;
                }
                return Some(TypeAst::SequenceOf);
            }
            b"SEQUENCE" | b"CHOICE" | b"SET" => {
                self.pos = self.skip_group(i + 1);
                return Some(TypeAst::Structured);
            }
            b"NULL" => {
                self.pos = i + 1;
                return Some(TypeAst::Structured);
            }
            _ => {
                self.pos = i + 1;
                if let Some(base) = base_type_named(word) {
                    let labels = self.named_numbers();
                    TypeAst::Base { base, labels }
                } else if self.kind(i + 1) == Some(TokKind::Dot) && self.kind(i + 2) == Some(TokKind::Ident) {
                    let module = Some(self.sym(i));
                    let name = self.sym(i + 2);
                    self.pos = i + 3;
                    let labels = self.named_numbers();
                    TypeAst::Ref { module, name, labels }
                } else {
                    let name = self.sym(i);
                    let labels = self.named_numbers();
                    TypeAst::Ref { module: None, name, labels }
                }
            }
        };
        // Constraints: `(SIZE (0..255))`, `(0..65535)`; possibly more than one.
        while self.kind(self.pos) == Some(TokKind::LParen) {
            self.pos = self.skip_group(self.pos);
        }
        Some(ty)
    }

    /// `{ up(1), down(2) }` at `self.pos` (if present) -> sorted (value, label).
    fn named_numbers(&mut self) -> Vec<(i64, Sym)> {
        let mut labels = Vec::new();
        if self.kind(self.pos) != Some(TokKind::LBrace) {
            return labels;
        }
        let end = self.skip_group(self.pos);
        let mut i = self.pos + 1;
        while i < end {
            if self.kind(i) == Some(TokKind::Ident) && self.kind(i + 1) == Some(TokKind::LParen) {
                let negative = self.kind(i + 2) == Some(TokKind::Minus);
                let n_index = if negative { i + 3 } else { i + 2 };
                if let Some(n) = self.number(n_index).and_then(|n| i64::try_from(n).ok()) {
                    let label = self.sym(i);
                    labels.push((if negative { -n } else { n }, label));
                    i = n_index + 1;
                    continue;
                }
                let message = format!("bad named number at {}", self.describe(i));
                self.problem(Severity::Warning, self.line(i), message);
            }
            i += 1;
        }
        self.pos = end;
        labels.sort_by_key(|(value, _)| *value);
        labels.dedup_by_key(|(value, _)| *value);
        labels
    }
}

fn application_type(tag: u64) -> Option<BaseType> {
    Some(match tag {
        0 => BaseType::IpAddress,
        1 => BaseType::Counter32,
        2 => BaseType::Gauge32,
        3 => BaseType::TimeTicks,
        4 => BaseType::Opaque,
        5 => BaseType::OctetString,
        6 => BaseType::Counter64,
        7 => BaseType::Unsigned32,
        _ => return None,
    })
}

fn base_type_named(word: &[u8]) -> Option<BaseType> {
    Some(match word {
        b"INTEGER" | b"Integer32" => BaseType::Integer32,
        b"Unsigned32" | b"UInteger32" => BaseType::Unsigned32,
        b"Counter" | b"Counter32" => BaseType::Counter32,
        b"Gauge" | b"Gauge32" => BaseType::Gauge32,
        b"Counter64" => BaseType::Counter64,
        b"TimeTicks" => BaseType::TimeTicks,
        b"IpAddress" | b"NetworkAddress" => BaseType::IpAddress,
        b"Opaque" => BaseType::Opaque,
        b"BITS" => BaseType::Bits,
        b"NsapAddress" => BaseType::OctetString,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> (Vec<ModuleAst>, Vec<FileProblem>, Interner) {
        let mut interner = Interner::default();
        let (modules, problems) = parse_file(src.as_bytes(), 0, &mut interner);
        (modules, problems, interner)
    }

    const SMIV2: &str = r#"
TEST-MIB DEFINITIONS ::= BEGIN
IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, NOTIFICATION-TYPE, Integer32, enterprises
        FROM SNMPv2-SMI
    DisplayString, TEXTUAL-CONVENTION FROM SNMPv2-TC;

testMIB MODULE-IDENTITY
    LAST-UPDATED "202401010000Z"
    ORGANIZATION "x"
    CONTACT-INFO "y -- not a comment"
    DESCRIPTION "OBJECT-TYPE inside a string ::= { nothing }"
    REVISION "202401010000Z" DESCRIPTION "r"
    ::= { enterprises 99999 }

Color ::= TEXTUAL-CONVENTION
    DISPLAY-HINT "d"
    STATUS current
    DESCRIPTION "c"
    SYNTAX INTEGER { red(1), green(2), -- comment
                     blue(-3) }

testTable OBJECT-TYPE
    SYNTAX SEQUENCE OF TestEntry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "t"
    ::= { testMIB 1 }

testEntry OBJECT-TYPE
    SYNTAX TestEntry
    MAX-ACCESS not-accessible
    STATUS current
    DESCRIPTION "e"
    INDEX { IMPLIED testName }
    ::= { testTable 1 }

TestEntry ::= SEQUENCE { testName DisplayString, testColor Color }

testColor OBJECT-TYPE
    SYNTAX Color
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "c"
    DEFVAL { red }
    ::= { testEntry 2 }

testFlags OBJECT-TYPE
    SYNTAX BITS { a(0), b(1), c(9) }
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "f"
    ::= { testMIB 2 }

testEvent NOTIFICATION-TYPE
    OBJECTS { testColor, testFlags }
    STATUS current
    DESCRIPTION "n"
    ::= { testMIB 0 1 }

END
"#;

    #[test]
    fn smiv2_module() {
        let (modules, problems, interner) = parse(SMIV2);
        assert_eq!(problems, []);
        assert_eq!(modules.len(), 1);
        let m = &modules[0];
        assert_eq!(interner.resolve(m.name), "TEST-MIB");
        assert_eq!(m.imports.len(), 7);
        assert_eq!(interner.resolve(m.imports[6].from), "SNMPv2-TC");
        let names: Vec<_> = m.defs.iter().map(|d| interner.resolve(d.name)).collect();
        assert_eq!(names, ["testMIB", "testTable", "testEntry", "testColor", "testFlags", "testEvent"]);
        assert!(matches!(m.defs[1].kind, DefKind::ObjectType { syntax: Some(TypeAst::SequenceOf), row: false, .. }));
        assert!(matches!(m.defs[2].kind, DefKind::ObjectType { row: true, .. }));
        let DefKind::ObjectType { syntax: Some(TypeAst::Base { base: BaseType::Bits, labels }), .. } = &m.defs[4].kind
        else {
            panic!("BITS expected: {:?}", m.defs[4].kind);
        };
        assert_eq!(labels.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [0, 1, 9]);
        let DefKind::Notification { objects } = &m.defs[5].kind else { panic!() };
        assert_eq!(objects.len(), 2);
        assert_eq!(m.types.len(), 2);
        let color = &m.types[0];
        assert_eq!(color.hint.map(|h| interner.resolve(h)), Some("d"));
        let TypeAst::Base { base: BaseType::Integer32, labels } = &color.ty else { panic!() };
        assert_eq!(labels.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [-3, 1, 2]);
        assert_eq!(m.types[1].ty, TypeAst::Structured);
        assert_eq!(m.syntax_errors, 0);
    }

    #[test]
    fn smiv1_trap_and_implicit_nodes() {
        let src = r#"
OLD-MIB DEFINITIONS ::= BEGIN
IMPORTS enterprises FROM RFC1155-SMI TRAP-TYPE FROM RFC-1215;
internet OBJECT IDENTIFIER ::= { iso org(3) dod(6) 1 }
acme OBJECT IDENTIFIER ::= { enterprises 4242 }
acmeDown TRAP-TYPE
    ENTERPRISE acme
    VARIABLES { ifIndex }
    DESCRIPTION "d"
    ::= 3
END
"#;
        let (modules, problems, _) = parse(src);
        assert_eq!(problems, []);
        let m = &modules[0];
        assert_eq!(m.imports.len(), 2);
        assert!(
            matches!(&m.defs[0].value, DefValue::Oid(parts) if parts.len() == 4 && matches!(parts[1], OidPart::Named(_, 3)))
        );
        assert!(matches!(m.defs[2].value, DefValue::Trap { number: 3, .. }));
    }

    #[test]
    fn broken_definition_is_dropped_and_parsing_resumes() {
        let src = r#"
BAD-MIB DEFINITIONS ::= BEGIN
a OBJECT IDENTIFIER ::= { b 1 }
broken OBJECT-TYPE
    SYNTAX INTEGER
    ACCESS read-only
    STATUS mandatory
good OBJECT-TYPE
    SYNTAX INTEGER
    ACCESS read-only
    STATUS mandatory
    ::= { a 2 }
worse OBJECT IDENTIFIER ::= { a ? 3 }
last OBJECT IDENTIFIER ::= { a 4 }
END
NEXT-MIB DEFINITIONS ::= BEGIN
x OBJECT IDENTIFIER ::= { a 9 }
END
"#;
        let (modules, problems, interner) = parse(src);
        assert_eq!(modules.len(), 2);
        let names: Vec<_> = modules[0].defs.iter().map(|d| interner.resolve(d.name)).collect();
        assert_eq!(names, ["a", "good", "last"]);
        assert_eq!(modules[0].syntax_errors, 2);
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [4, 13]);
        assert_eq!(modules[1].defs.len(), 1);
    }

    #[test]
    fn macros_and_compliance_are_skipped() {
        let src = r#"
SNMPv2-SMI DEFINITIONS ::= BEGIN
OBJECT-TYPE MACRO ::=
BEGIN
    TYPE NOTATION ::= "SYNTAX" Syntax UnitsPart
    VALUE NOTATION ::= value(VALUE ObjectName)
END
Counter32 ::= [APPLICATION 1] IMPLICIT INTEGER (0..4294967295)
testCompliance MODULE-COMPLIANCE
    STATUS current
    DESCRIPTION "c"
    MODULE -- this module
        MANDATORY-GROUPS { g1 }
        OBJECT x SYNTAX INTEGER { a(1) } MIN-ACCESS read-only DESCRIPTION "d"
    ::= { foo 1 }
END
"#;
        let (modules, problems, _) = parse(src);
        assert_eq!(problems, []);
        assert_eq!(modules[0].defs.len(), 1);
        assert_eq!(modules[0].types.len(), 1);
        assert!(matches!(modules[0].types[0].ty, TypeAst::Base { base: BaseType::Counter32, .. }));
    }
}
