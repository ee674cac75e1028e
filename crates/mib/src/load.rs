//! Loading MIB directories: find the files, parse each, pick one file per
//! module name (the first found in directory order wins, like a search path),
//! link, and report per-module outcomes. The cache (see `cache.rs`) wraps this.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::ast::ModuleAst;
use crate::intern::{FnvMap, Interner};
use crate::link::Linker;
use crate::parser::parse_file;
use crate::{Diagnostic, MibError, Mibs, Severity};

/// Files larger than this are not MIB modules (the biggest real one is ~2 MB);
/// skipping them bounds the compiler's memory.
const MAX_FILE_SIZE: u64 = 16 << 20;
/// Directory recursion limit (symlink loops).
const MAX_DEPTH: usize = 16;

/// One candidate file with the metadata the cache key is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub mtime_ns: i128,
    pub size: u64,
    /// Index of the configured directory it was found under.
    pub root: u32,
}

/// What happened to one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleStatus {
    /// Parsed and linked without an error.
    Ok,
    /// Loaded, but some definitions were dropped (syntax errors, unresolvable OIDs).
    Partial,
    /// Nothing of it could be used.
    Failed,
    /// Another file earlier in the search order defines the same module.
    Shadowed,
}

/// Per-module outcome of a compile, for `nocwatch mib check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReport {
    pub name: String,
    pub file: PathBuf,
    pub line: u32,
    pub status: ModuleStatus,
    /// Definitions that got an OID.
    pub linked: u32,
    /// Definitions dropped: did not parse, or their OID did not resolve.
    pub dropped: u32,
    pub errors: u32,
    pub warnings: u32,
}

/// The result of compiling MIB directories from source.
#[derive(Debug)]
pub struct Compiled {
    pub mibs: Mibs,
    pub diagnostics: Vec<Diagnostic>,
    pub modules: Vec<ModuleReport>,
    /// Files that contain no module at all (READMEs, licences).
    pub files_without_module: Vec<PathBuf>,
}

fn skipped_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('#') || name.ends_with('#') || name.ends_with('~')
}

/// Every candidate file under `dirs`, recursively, in search order (directories
/// in the given order, entries sorted by name).
pub(crate) fn discover(dirs: &[PathBuf]) -> Result<Vec<SourceFile>, MibError> {
    let mut files = Vec::new();
    for (root, dir) in dirs.iter().enumerate() {
        walk(dir, root as u32, 0, &mut files, true)?;
    }
    Ok(files)
}

fn walk(dir: &Path, root: u32, depth: usize, files: &mut Vec<SourceFile>, top: bool) -> Result<(), MibError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A configured directory must exist; unreadable subdirectories are skipped.
        Err(source) if top => return Err(MibError::Io { path: dir.to_path_buf(), source }),
        Err(_) => return Ok(()),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !skipped_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, root, depth + 1, files, false)?;
            }
        } else if meta.is_file() {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i128)
                .unwrap_or(0);
            files.push(SourceFile { path, mtime_ns, size: meta.len(), root });
        }
    }
    Ok(())
}

/// Parses and links `files`.
pub(crate) fn compile(files: &[SourceFile]) -> Compiled {
    let mut interner = Interner::default();
    let mut all_modules: Vec<ModuleAst> = Vec::new();
    // (file, severity, line, module name, message) before modules are numbered.
    let mut diagnostics = Vec::new();
    let mut files_without_module = Vec::new();
    for (index, file) in files.iter().enumerate() {
        if file.size > MAX_FILE_SIZE {
            diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                file: file.path.clone(),
                line: 0,
                module: None,
                message: format!("skipped: {} bytes is too big for a MIB module", file.size),
            });
            continue;
        }
        let src = match std::fs::read(&file.path) {
            Ok(src) => src,
            Err(e) => {
                diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    file: file.path.clone(),
                    line: 0,
                    module: None,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let (modules, problems) = parse_file(&src, index as u32, &mut interner);
        if modules.is_empty() {
            files_without_module.push(file.path.clone());
            continue;
        }
        for problem in problems {
            diagnostics.push(Diagnostic {
                severity: problem.severity,
                file: file.path.clone(),
                line: problem.line,
                module: problem.module.map(|m| interner.resolve(m).to_string()),
                message: problem.message,
            });
        }
        all_modules.extend(modules);
    }

    // One module per name: the first configured directory wins; within one
    // directory, a file named after the module (IF-MIB.txt, IF-MIB.my) beats an
    // old copy under another name, then the first path in sorted order.
    let preference = |module: &ModuleAst| {
        let file = &files[module.file as usize];
        let stem = file.path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
        (file.root, stem != interner.resolve(module.name), module.file)
    };
    let mut winners: FnvMap<crate::intern::Sym, usize> = FnvMap::default();
    for (index, module) in all_modules.iter().enumerate() {
        let better = match winners.get(&module.name) {
            Some(&current) => preference(module) < preference(&all_modules[current]),
            None => true,
        };
        if better {
            winners.insert(module.name, index);
        }
    }
    let winner_files: FnvMap<crate::intern::Sym, usize> =
        winners.iter().map(|(name, &index)| (*name, all_modules[index].file as usize)).collect();
    let mut selected = Vec::with_capacity(all_modules.len());
    let mut reports = Vec::with_capacity(all_modules.len());
    for (index, module) in all_modules.into_iter().enumerate() {
        let name = interner.resolve(module.name).to_string();
        let path = files[module.file as usize].path.clone();
        if winners.get(&module.name) != Some(&index) {
            let winner = winner_files[&module.name];
            diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                file: path.clone(),
                line: module.line,
                module: Some(name.clone()),
                message: format!("module also defined in {}, which is used", files[winner].path.display()),
            });
            reports.push(ModuleReport {
                name,
                file: path,
                line: module.line,
                status: ModuleStatus::Shadowed,
                linked: 0,
                dropped: 0,
                errors: 0,
                warnings: 1,
            });
            continue;
        }
        selected.push(module);
    }

    let mut linker = Linker::new(&interner, &selected);
    linker.link_all();
    let counts = linker.counts.clone();
    let problems = std::mem::take(&mut linker.problems);
    let mibs = linker.freeze();
    for problem in problems {
        let module = &selected[problem.module as usize];
        diagnostics.push(Diagnostic {
            severity: problem.severity,
            file: files[module.file as usize].path.clone(),
            line: problem.line,
            module: Some(interner.resolve(module.name).to_string()),
            message: problem.message,
        });
    }

    // Count diagnostics per (file, module name) for the reports.
    let mut per_module: FnvMap<(PathBuf, String), (u32, u32)> = FnvMap::default();
    for d in &diagnostics {
        if let Some(module) = &d.module {
            let entry = per_module.entry((d.file.clone(), module.clone())).or_default();
            match d.severity {
                Severity::Error => entry.0 += 1,
                Severity::Warning => entry.1 += 1,
            }
        }
    }
    for (module, count) in selected.iter().zip(&counts) {
        let name = interner.resolve(module.name).to_string();
        let file = files[module.file as usize].path.clone();
        let (errors, warnings) = per_module.get(&(file.clone(), name.clone())).copied().unwrap_or_default();
        let dropped = module.syntax_errors + count.unresolved;
        // A module of only MACROs (SNMPv2-CONF, RFC-1215) defines nothing and is fine.
        let status = if count.linked == 0 && errors > 0 {
            ModuleStatus::Failed
        } else if errors > 0 || dropped > 0 {
            ModuleStatus::Partial
        } else {
            ModuleStatus::Ok
        };
        reports.push(ModuleReport {
            name,
            file,
            line: module.line,
            status,
            linked: count.linked,
            dropped,
            errors,
            warnings,
        });
    }
    reports.sort_by(|a, b| a.name.cmp(&b.name).then(a.file.cmp(&b.file)));
    diagnostics.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
    Compiled { mibs, diagnostics, modules: reports, files_without_module }
}
