//! nocwatch's MIB support: a tolerant SMIv1/SMIv2 compiler and the compact,
//! immutable OID table it produces ([`Mibs`]).
//!
//! - [`Mibs::load`] compiles every module under some directories (IMPORTS resolved
//!   by module name across files), or reads the cache file written by a previous
//!   load when no file changed. Problems in single modules are [`Diagnostic`]s
//!   (file:line), never a failed load.
//! - [`Mibs::resolve`], [`Mibs::lookup`], [`Mibs::node`]: OID ↔ name.
//! - [`Node`] / [`Syntax`]: kind, base type, textual convention, DISPLAY-HINT, enum
//!   and BITS labels, notification objects.
//! - [`format_octets`] / [`format_integer`]: RFC 2579 DISPLAY-HINT rendering.
//!
//! The runtime table holds no descriptions and no parse trees: one string arena
//! plus flat arrays indexed by u32, so a big vendor set costs tens of MiB at most.

mod ast;
mod cache;
mod display_hint;
mod intern;
mod lexer;
mod link;
mod load;
mod parser;
mod table;

use std::fmt;
use std::path::{Path, PathBuf};

pub use display_hint::{format_integer, format_octets, format_octets_net_snmp};
pub use load::{Compiled, ModuleReport, ModuleStatus};
pub use table::{Mibs, Node, Syntax};

/// What an OID-tree node is, from the macro that defined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// OBJECT-TYPE that is neither a table, a row nor a column.
    Scalar,
    /// OBJECT-TYPE with SYNTAX SEQUENCE OF.
    Table,
    /// OBJECT-TYPE with INDEX or AUGMENTS (the conceptual row).
    Row,
    /// OBJECT-TYPE under a row.
    Column,
    /// NOTIFICATION-TYPE, or the SNMPv2 OID of an SMIv1 TRAP-TYPE.
    Notification,
    /// Anything else with a name: OBJECT IDENTIFIER values, MODULE-IDENTITY,
    /// OBJECT-IDENTITY, groups, compliance statements, capabilities.
    Node,
}

/// The SMI base type under a syntax (after following textual conventions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseType {
    Integer32,
    OctetString,
    ObjectIdentifier,
    Bits,
    IpAddress,
    Counter32,
    Gauge32,
    TimeTicks,
    Opaque,
    Counter64,
    Unsigned32,
    /// Anything the table cannot map (e.g. NULL, an unresolved type name).
    Other,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something was tolerated or guessed (the module still loaded).
    Warning,
    /// Something was dropped: a definition, an import, or the whole module.
    Error,
}

/// One problem found while compiling, pointing at file:line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the whole file.
    pub line: u32,
    /// The module the problem belongs to, when known.
    pub module: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}:{}: {severity}: ", self.file.display(), self.line)?;
        if let Some(module) = &self.module {
            write!(f, "{module}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The result of [`Mibs::load_detailed`].
#[derive(Debug)]
pub struct Loaded {
    pub mibs: Mibs,
    pub diagnostics: Vec<Diagnostic>,
    /// Read from the cache file (no file changed since it was written).
    pub from_cache: bool,
    /// Candidate files found under the directories.
    pub files: usize,
    pub cache_file: Option<PathBuf>,
}

/// A failure of the whole load (not of one module).
#[derive(Debug)]
pub enum MibError {
    /// A configured directory cannot be read.
    Io { path: PathBuf, source: std::io::Error },
}

impl fmt::Display for MibError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MibError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for MibError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MibError::Io { source, .. } => Some(source),
        }
    }
}

impl Mibs {
    /// Loads every module under `dirs` (recursively), using/refreshing a cache in
    /// `cache_dir` keyed by file paths+mtimes+sizes. Problems in single modules are
    /// diagnostics, not errors.
    pub fn load(dirs: &[PathBuf], cache_dir: Option<&Path>) -> Result<(Mibs, Vec<Diagnostic>), MibError> {
        let loaded = Mibs::load_detailed(dirs, cache_dir)?;
        Ok((loaded.mibs, loaded.diagnostics))
    }

    /// [`Mibs::load`], also saying whether the cache was used (for `--stats`).
    pub fn load_detailed(dirs: &[PathBuf], cache_dir: Option<&Path>) -> Result<Loaded, MibError> {
        let files = load::discover(dirs)?;
        let key = cache::key(&files);
        let cache_file = cache_dir.map(|dir| cache::path(dir, dirs));
        if let Some(path) = &cache_file
            && let Some(bytes) = cache::read(path)
            && let Some((mibs, diagnostics)) = cache::decode(&bytes, key)
        {
            return Ok(Loaded { mibs, diagnostics, from_cache: true, files: files.len(), cache_file });
        }
        // Compiling allocates ~100 MiB of short-lived parse trees in many small pieces;
        // done on the caller's thread, the allocator keeps that heap for the life of
        // the process. So the compile runs on its own thread (its own malloc arena, given
        // back when everything in it is freed) and hands over the table in its cache
        // encoding, which this thread decodes into fresh, compact allocations.
        let encoded = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let compiled = load::compile(&files);
                    cache::encode(&compiled.mibs, &compiled.diagnostics, key)
                })
                .join()
        });
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let (mibs, mut diagnostics) = cache::decode(&encoded, key).unwrap_or_else(|| {
            let problem = Diagnostic {
                severity: Severity::Error,
                file: PathBuf::new(),
                line: 0,
                module: None,
                message: "internal error: the compiled table failed validation; no MIBs loaded".to_string(),
            };
            (Mibs::empty(), vec![problem])
        });
        if let Some(path) = &cache_file
            && let Err(e) = cache::write(path, &encoded)
        {
            // Not fatal: the next start compiles again.
            diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                file: path.clone(),
                line: 0,
                module: None,
                message: format!("cannot write the MIB cache: {e}"),
            });
        }
        Ok(Loaded { mibs, diagnostics, from_cache: false, files: files.len(), cache_file })
    }

    /// Compiles every module under `dirs` from source (no cache), with a
    /// per-module report: what `nocwatch mib check` prints.
    pub fn compile(dirs: &[PathBuf]) -> Result<Compiled, MibError> {
        let files = load::discover(dirs)?;
        Ok(load::compile(&files))
    }
}
