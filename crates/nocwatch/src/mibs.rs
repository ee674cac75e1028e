//! The MIB table of the process: the `mibs` config section (directories of MIB files and
//! where the compiled cache lives) and loading it once at start-up. Sources that print
//! names (the trap receiver) get the same immutable [`Mibs`] through an `Arc`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nocwatch_mib::{Mibs, Severity};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MibsConfig {
    /// Directories of MIB modules (SMIv1/SMIv2 files), read recursively. None: OIDs stay
    /// numeric.
    pub dirs: Vec<PathBuf>,
    /// Where the compiled table is cached (keyed by file paths, sizes and mtimes).
    /// Default: `<agent.data_dir>/mib-cache`.
    pub cache_dir: Option<PathBuf>,
}

impl MibsConfig {
    pub fn cache_dir(&self, data_dir: &Path) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| data_dir.join("mib-cache"))
    }
}

/// Loads the configured MIBs (an empty table when no directory is configured). Problems
/// in single modules are logged (a summary at info, each at debug), never fatal; an
/// unreadable directory is.
pub fn load(config: &MibsConfig, data_dir: &Path) -> anyhow::Result<Arc<Mibs>> {
    if config.dirs.is_empty() {
        return Ok(Arc::new(Mibs::empty()));
    }
    let cache_dir = config.cache_dir(data_dir);
    // A cache that cannot be written only costs a slower start next time.
    let cache = std::fs::create_dir_all(&cache_dir).is_ok().then_some(cache_dir.as_path());
    let started = std::time::Instant::now();
    let (mibs, diagnostics) = Mibs::load(&config.dirs, cache).context("mibs.dirs")?;
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    for diagnostic in &diagnostics {
        tracing::debug!("{diagnostic}");
    }
    tracing::info!(
        dirs = ?config.dirs,
        modules = mibs.modules().count(),
        nodes = mibs.len(),
        errors,
        warnings = diagnostics.len() - errors,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "MIBs loaded (`nocwatch mib check DIR` lists the problems)"
    );
    Ok(Arc::new(mibs))
}
