//! The file sink: events as JSON lines appended to a file, rotated by size
//! (`events.jsonl` → `events.jsonl.1` → … → `events.jsonl.<max_files>`, oldest removed).
//! Lines are never split across two files; a file passes `max_size` only to hold a single
//! line longer than that.
//!
//! Appends are plain `write`s on the sink's task: a batch into the page cache takes
//! microseconds, where handing each batch to tokio's blocking pool (`tokio::fs`) cost two
//! thread wake-ups per batch, most of the sink's CPU at low rates (BENCHMARKS.md, issue 3).
//! What may take long (`fsync` at rotation and close) still runs on the blocking pool.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write as _;

use super::SinkContext;
use super::console::immediate;
use super::encoding::JsonLines;
use super::util::request::{self, Outcome, Request, Service};
use super::util::retry::RetryConfig;
use crate::component::Running;
use crate::config::ByteSize;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    /// Rotate when the file would grow past this.
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
    /// How many rotated files to keep.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_size() -> ByteSize {
    ByteSize::mib(100)
}

fn default_max_files() -> u32 {
    5
}

/// Rotation renames every kept file in turn: keep that a bounded amount of work.
const MAX_FILES_LIMIT: u32 = 1000;

impl FileSinkConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_size.get() == 0 {
            return Err("max_size must be more than 0".to_owned());
        }
        if self.max_files > MAX_FILES_LIMIT {
            return Err(format!("max_files must be at most {MAX_FILES_LIMIT}"));
        }
        Ok(())
    }

    pub async fn build(&self, ctx: SinkContext) -> anyhow::Result<Running> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = open(&self.path).with_context(|| format!("cannot open {}", self.path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let sink = RotatingFile {
            path: self.path.clone(),
            max_size: self.max_size.get(),
            max_files: self.max_files,
            file,
            size,
        };
        Ok(Box::pin(request::run(ctx, JsonLines::default(), sink, immediate(), RetryConfig::default())))
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `fsync`s a clone of `file` on the blocking pool.
async fn sync(file: &File, data_only: bool) -> std::io::Result<()> {
    let file = file.try_clone()?;
    let synced = tokio::task::spawn_blocking(move || if data_only { file.sync_data() } else { file.sync_all() });
    synced.await.map_err(std::io::Error::other)?
}

struct RotatingFile {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    file: File,
    size: u64,
}

impl RotatingFile {
    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    async fn rotate(&mut self) -> std::io::Result<()> {
        sync(&self.file, true).await?;
        if self.max_files == 0 {
            tokio::fs::remove_file(&self.path).await?;
        } else {
            let _ = tokio::fs::remove_file(self.rotated(self.max_files)).await;
            for n in (1..self.max_files).rev() {
                let from = self.rotated(n);
                if tokio::fs::try_exists(&from).await.unwrap_or(false) {
                    tokio::fs::rename(&from, self.rotated(n + 1)).await?;
                }
            }
            tokio::fs::rename(&self.path, self.rotated(1)).await?;
        }
        self.file = open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl RotatingFile {
    /// Appends whole lines, rotating before a line that would take the file past
    /// `max_size` (a single longer line gets a file of its own).
    async fn write_batch(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.max_size.saturating_sub(self.size) as usize;
            // The longest run of whole lines that fits in the room left.
            let fits = match rest.len() <= room {
                true => rest.len(),
                false => rest[..room].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1),
            };
            let take = match (fits, self.size) {
                (0, 0) => rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1),
                (0, _) => {
                    self.rotate().await?;
                    continue;
                }
                (n, _) => n,
            };
            self.file.write_all(&rest[..take])?;
            self.size += take as u64;
            rest = &rest[take..];
        }
        Ok(())
    }
}

impl Service for RotatingFile {
    async fn send(&mut self, request: &Request) -> Outcome {
        match self.write_batch(&request.body).await {
            Ok(()) => Outcome::Delivered,
            // A full or failing disk may recover; the buffer holds (and counts) meanwhile.
            Err(e) => Outcome::Retry { reason: format!("{}: {e}", self.path.display()), after: None },
        }
    }

    async fn close(&mut self) -> anyhow::Result<()> {
        Ok(sync(&self.file, false).await?)
    }
}
