//! `nocwatch mib translate|check`, and where every command gets its MIBs from
//! ([`MibSource`]: `--mib-dir`/`-M`, or the `mibs:` section of the config).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Subcommand};
use nocwatch_mib::{Mibs, ModuleStatus, Node, NodeKind, Severity};

use crate::config::{self, ProcessEnv};
use crate::mibs::MibsConfig;

#[derive(Debug, Subcommand)]
pub enum MibCommand {
    /// Name -> OID and OID -> MODULE::name.index, like snmptranslate
    Translate(TranslateArgs),
    /// Compile MIB directories and report which modules fail and why
    Check(CheckArgs),
}

/// Where the MIBs come from: `--mib-dir` (or net-snmp's `-M DIR[:DIR...]`), else the
/// `mibs:` section of the config file.
#[derive(Debug, Args, Default)]
pub struct MibSource {
    /// MIB directory, searched recursively (repeatable; `-M a:b` as in net-snmp).
    /// Default: `mibs.dirs` of the config
    #[arg(long = "mib-dir", short = 'M', value_name = "DIR")]
    mib_dirs: Vec<String>,
    /// Config file whose `mibs:` section (dirs, cache_dir) to use
    #[arg(long = "config", value_name = "FILE", env = "NOCWATCH_CONFIG")]
    config: Option<PathBuf>,
}

impl MibSource {
    /// The directories and the cache directory to use (no directories: no MIBs).
    pub fn resolve(&self) -> Result<(Vec<PathBuf>, Option<PathBuf>), String> {
        let config = match &self.config {
            Some(path) => Some(config::load_file(path, &ProcessEnv).map_err(|e| e.to_string())?),
            None => None,
        };
        let dirs: Vec<PathBuf> =
            self.mib_dirs.iter().flat_map(|d| d.split(':')).filter(|d| !d.is_empty()).map(PathBuf::from).collect();
        match config {
            Some(config) => {
                let global = &config.global;
                let cache_dir = Some(global.mibs.cache_dir(&global.agent.data_dir));
                if dirs.is_empty() { Ok((global.mibs.dirs.clone(), cache_dir)) } else { Ok((dirs, cache_dir)) }
            }
            None => Ok((dirs, user_cache_dir())),
        }
    }

    /// Loads the MIBs (an empty table when none are configured), the way the agent does.
    pub fn load(&self) -> Result<Arc<Mibs>, String> {
        let (dirs, cache_dir) = self.resolve()?;
        // Without any cache location the table is compiled in memory each time.
        let Some(cache_dir) = cache_dir else {
            return Mibs::load(&dirs, None).map(|(mibs, _)| Arc::new(mibs)).map_err(|e| format!("MIBs: {e}"));
        };
        let config = MibsConfig { dirs, cache_dir: Some(cache_dir.clone()) };
        crate::mibs::load(&config, &cache_dir).map_err(|e| format!("MIBs: {e:#}"))
    }
}

/// Without a config, the CLI caches compiled MIBs per user (`$XDG_CACHE_HOME` or
/// `~/.cache`), so repeated commands do not recompile.
fn user_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("nocwatch").join("mib-cache"))
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    #[command(flatten)]
    source: MibSource,
    /// Output options: n (numeric OIDs, also for OID input: checks it exists)
    #[arg(short = 'O', value_name = "OPTS")]
    output_options: Vec<String>,
    /// Describe each object (like snmptranslate -Td): OID, kind, syntax, enums, hint, objects
    #[arg(short = 'T', value_name = "d")]
    tree_options: Vec<String>,
    /// Names (ifDescr, IF-MIB::ifDescr, ifDescr.3) or OIDs (.1.3.6.1.2.1.2.2.1.2.3)
    #[arg(required = true)]
    objects: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    source: MibSource,
    /// Also list warnings (tolerated problems), not only errors
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Load the way the agent does (through the cache) and print time and memory
    #[arg(long)]
    stats: bool,
    /// Directories to check (default: --mib-dir, then the config's `mibs.dirs`)
    dirs: Vec<PathBuf>,
}

pub fn run(command: MibCommand) -> ExitCode {
    match command {
        MibCommand::Translate(args) => translate(&args),
        MibCommand::Check(args) => check(&args),
    }
}

fn is_numeric(text: &str) -> bool {
    let text = text.trim_start_matches('.');
    !text.is_empty() && text.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn dotted(oid: &[u32]) -> String {
    let mut out = String::with_capacity(oid.len() * 4);
    for arc in oid {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    out
}

/// `MODULE::name.suffix` for an OID, as snmptranslate prints it; numeric when unknown.
pub fn symbolic(mibs: &Mibs, oid: &[u32]) -> String {
    match mibs.resolve(oid) {
        Some((node, suffix)) => {
            let mut out = format!("{}::{}", node.module(), node.name());
            for arc in suffix {
                out.push('.');
                out.push_str(&arc.to_string());
            }
            out
        }
        None => dotted(oid),
    }
}

fn translate(args: &TranslateArgs) -> ExitCode {
    let numeric_output = args.output_options.iter().any(|o| o.contains('n'));
    let describe = args.tree_options.iter().any(|o| o.contains('d'));
    if let Some(bad) = args.output_options.iter().flat_map(|o| o.chars()).find(|c| *c != 'n') {
        eprintln!("nocwatch mib translate: unsupported -O option `{bad}` (supported: n)");
        return ExitCode::FAILURE;
    }
    let mibs = match args.source.load() {
        Ok(mibs) => mibs,
        Err(e) => {
            eprintln!("nocwatch mib translate: {e}");
            return ExitCode::FAILURE;
        }
    };
    if mibs.is_empty() {
        eprintln!("nocwatch mib translate: no MIBs: give --mib-dir DIR or a config with `mibs: {{dirs: [...]}}`");
        return ExitCode::FAILURE;
    }
    let mut code = ExitCode::SUCCESS;
    for object in &args.objects {
        let Some(oid) = mibs.lookup(object) else {
            eprintln!("Unknown object identifier: {object}");
            code = ExitCode::FAILURE;
            continue;
        };
        if is_numeric(object) && mibs.resolve(&oid).is_none() {
            eprintln!("Unknown object identifier: {object}");
            code = ExitCode::FAILURE;
            continue;
        }
        if describe {
            print!("{}", description(&mibs, &oid));
        } else if numeric_output || !is_numeric(object) {
            println!("{}", dotted(&oid));
        } else {
            println!("{}", symbolic(&mibs, &oid));
        }
    }
    code
}

fn kind_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Scalar => "scalar",
        NodeKind::Table => "table",
        NodeKind::Row => "row",
        NodeKind::Column => "column",
        NodeKind::Notification => "notification",
        NodeKind::Node => "node",
    }
}

fn description(mibs: &Mibs, oid: &[u32]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let Some((node, suffix)) = mibs.resolve(oid) else { return out };
    let _ = writeln!(out, "{}", symbolic(mibs, oid));
    let _ = writeln!(out, "  oid:          {}", dotted(&node.oid()));
    if !suffix.is_empty() {
        let _ = writeln!(out, "  instance:     {}", dotted(suffix));
    }
    let _ = writeln!(out, "  kind:         {}", kind_name(node.kind()));
    if let Some(syntax) = node.syntax() {
        let _ = write!(out, "  syntax:       {:?}", syntax.base());
        let labels: Vec<String> = syntax.named_numbers().map(|(v, l)| format!("{l}({v})")).collect();
        if !labels.is_empty() {
            let _ = write!(out, " {{{}}}", labels.join(", "));
        }
        out.push('\n');
        if let Some(tc) = syntax.textual_convention() {
            let _ = writeln!(out, "  convention:   {tc}");
        }
        if let Some(hint) = syntax.display_hint() {
            let _ = writeln!(out, "  display-hint: \"{hint}\"");
        }
        if let Some(units) = syntax.units() {
            let _ = writeln!(out, "  units:        \"{units}\"");
        }
    }
    let objects: Vec<String> =
        node.objects().iter().map(|o: &Node<'_>| format!("{}::{}", o.module(), o.name())).collect();
    if !objects.is_empty() {
        let _ = writeln!(out, "  objects:      {}", objects.join(", "));
    }
    let others: Vec<String> = mibs
        .definitions(node.name())
        .filter(|(module, other)| *other == node && *module != node.module())
        .map(|(module, _)| module.to_string())
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "  also in:      {}", others.join(", "));
    }
    out
}

fn check(args: &CheckArgs) -> ExitCode {
    let (mut dirs, cache_dir) = match args.source.resolve() {
        Ok(found) => found,
        Err(e) => {
            eprintln!("nocwatch mib check: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !args.dirs.is_empty() {
        dirs = args.dirs.clone();
    }
    if dirs.is_empty() {
        eprintln!(
            "nocwatch mib check: no MIB directories: give DIR..., --mib-dir DIR or a config with `mibs: {{dirs: [...]}}`"
        );
        return ExitCode::FAILURE;
    }
    if args.stats {
        return stats(&dirs, cache_dir.as_deref());
    }
    let started = Instant::now();
    let compiled = match Mibs::compile(&dirs) {
        Ok(compiled) => compiled,
        Err(e) => {
            eprintln!("nocwatch mib check: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    for d in compiled.diagnostics.iter().filter(|d| args.verbose || d.severity == Severity::Error) {
        println!("{d}");
    }
    let count = |status: ModuleStatus| compiled.modules.iter().filter(|m| m.status == status).count();
    let problem_modules: Vec<_> =
        compiled.modules.iter().filter(|m| matches!(m.status, ModuleStatus::Failed | ModuleStatus::Partial)).collect();
    if !problem_modules.is_empty() {
        println!();
        for m in problem_modules {
            let status = if m.status == ModuleStatus::Failed { "FAILED " } else { "partial" };
            println!(
                "{status} {} ({}): {} definitions loaded, {} dropped, {} errors",
                m.name,
                m.file.display(),
                m.linked,
                m.dropped,
                m.errors
            );
        }
    }
    let failed = count(ModuleStatus::Failed);
    let considered = compiled.modules.len() - count(ModuleStatus::Shadowed);
    println!();
    println!(
        "{} modules: {} ok, {} partial, {failed} failed ({:.2}% without error); {} shadowed (same module name in an earlier file); {} files without a module; {} names; {} ms",
        considered,
        count(ModuleStatus::Ok),
        count(ModuleStatus::Partial),
        if considered == 0 { 100.0 } else { count(ModuleStatus::Ok) as f64 * 100.0 / considered as f64 },
        count(ModuleStatus::Shadowed),
        compiled.files_without_module.len(),
        compiled.mibs.len(),
        elapsed.as_millis(),
    );
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Resident set size of this process, from /proc (Linux); 0 elsewhere.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn stats(dirs: &[PathBuf], cache_dir: Option<&Path>) -> ExitCode {
    let rss_before = rss_bytes();
    let started = Instant::now();
    let loaded = match Mibs::load_detailed(dirs, cache_dir) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("nocwatch mib check: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    let diagnostics_bytes: usize =
        loaded.diagnostics.iter().map(|d| d.message.len() + d.file.as_os_str().len() + 64).sum();
    drop(loaded.diagnostics);
    let rss_after = rss_bytes();
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!("files:            {}", loaded.files);
    println!("modules:          {}", loaded.mibs.modules().count());
    println!("names:            {}", loaded.mibs.len());
    println!(
        "loaded from:      {}",
        match (&loaded.cache_file, loaded.from_cache) {
            (Some(path), true) => format!("cache {}", path.display()),
            (Some(path), false) => format!("sources (cache written to {})", path.display()),
            (None, _) => "sources (no cache directory)".to_string(),
        }
    );
    println!("load time:        {:.1} ms", elapsed.as_secs_f64() * 1000.0);
    println!("table size:       {:.1} MiB", mib(loaded.mibs.heap_bytes() as u64));
    println!("diagnostics:      {:.1} MiB (freed)", mib(diagnostics_bytes as u64));
    println!("RSS before:       {:.1} MiB", mib(rss_before));
    println!("RSS after:        {:.1} MiB", mib(rss_after));
    println!("RSS growth:       {:.1} MiB", mib(rss_after.saturating_sub(rss_before)));
    ExitCode::SUCCESS
}
