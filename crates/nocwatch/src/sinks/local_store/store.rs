//! The write side of the local store: one SQLite file (WAL) holding metric points, their
//! rollups, device and interface metadata, and log events with a full-text index.
//!
//! Layout (see `docs/api.md` for what reads it):
//! - `series`: one row per metric series (name, host, tags), with the device and interface
//!   it belongs to, so a device's series are found by index;
//! - points in time-partitioned tables, so retention drops whole tables instead of deleting
//!   row by row: `raw_<hour>` (every point, kept `raw_retention`), `r5m_<day>` (5-minute
//!   min/max/sum/count, kept `rollup_5m_retention`), `r1h_<week>` (hourly, kept
//!   `rollup_1h_retention`). A raw hour is rolled up once it is closed, in SQL; an hour
//!   that receives points after its rollup (a disk buffer replaying) is rolled up again;
//! - `devices` and `interfaces`: the last metadata of each device (from the poller's
//!   metadata events, and from `snmp.device.reachable` / `snmp.interface.status` tags);
//! - `logs` with `logs_fts` (FTS5, external content) over message and attributes.
//!
//! Writes come in batches, one transaction each. Maintenance (rollups, retention by age
//! and by size) runs between batches on the same connection.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::event::{DeviceMetadata, Event, LogEvent, Metric, Tags};

/// How long after an hour ends its raw points are rolled up (late points of a poll that
/// started before the hour ended still land in time).
const ROLLUP_GRACE_SECS: i64 = 120;

/// Series rolled up per transaction. A maintenance step stops after about this many, so
/// the writer's lock is held for seconds, not for a whole hour of 1,000 devices (the
/// benchmark measured about a minute): writes go on between steps.
pub(super) const ROLLUP_SERIES_PER_STEP: i64 = 20_000;

/// A partitioned table family: points (or rollups) split into one table per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Raw,
    Rollup5m,
    Rollup1h,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Raw, Family::Rollup5m, Family::Rollup1h];

    pub fn prefix(self) -> &'static str {
        match self {
            Family::Raw => "raw",
            Family::Rollup5m => "r5m",
            Family::Rollup1h => "r1h",
        }
    }

    /// Seconds one table covers.
    pub fn period(self) -> i64 {
        match self {
            Family::Raw => 3600,
            Family::Rollup5m => 86_400,
            Family::Rollup1h => 7 * 86_400,
        }
    }

    /// Seconds one stored value covers (0: a raw point).
    pub fn resolution(self) -> i64 {
        match self {
            Family::Raw => 0,
            Family::Rollup5m => 300,
            Family::Rollup1h => 3600,
        }
    }

    pub fn from_prefix(prefix: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.prefix() == prefix)
    }

    pub fn start_of(self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.period())
    }

    pub fn table(self, start: i64) -> String {
        format!("{}_{start}", self.prefix())
    }
}

/// How long each kind of data is kept, and the size cap of the file.
#[derive(Debug, Clone)]
pub struct Retention {
    pub raw: Duration,
    pub rollup_5m: Duration,
    pub rollup_1h: Duration,
    pub logs: Duration,
    /// Bytes in use (pages not free) above which the oldest data goes first.
    pub max_size: u64,
}

/// Why the store failed, classified for the delivery loop.
#[derive(Debug)]
pub enum StoreError {
    /// The file is not a database or is damaged: retrying cannot help.
    Corrupt(String),
    /// No space left (the disk or SQLite's limits): may succeed once space is freed.
    Full(String),
    /// Anything else (I/O, locks): retried.
    Other(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Corrupt(m) | StoreError::Full(m) | StoreError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    pub fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
        let code = error.sqlite_error_code();
        match code {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(format!(
                "local store {} is damaged or not a nocwatch store ({error}); nocwatch leaves it untouched: \
                 move it aside to start a new store",
                path.display()
            )),
            Some(ErrorCode::DiskFull) => StoreError::Full(format!(
                "local store {}: no space left ({error}); lower max_size or the retention, or free disk space",
                path.display()
            )),
            _ => StoreError::Other(format!("local store {}: {error}", path.display())),
        }
    }
}

/// What a batch wrote, for the sink's counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub points: usize,
    pub logs: usize,
    pub metadata: usize,
    /// Points older than the raw retention when they arrived: not stored.
    pub too_old: usize,
    /// Points whose value is NaN or infinite (a device's Opaque float can be): not stored.
    pub not_finite: usize,
}

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintained {
    /// Raw hours whose rollup finished in this step.
    pub rolled_up: usize,
    /// Rollup work is left: call again (after letting writes in).
    pub more: bool,
    pub dropped_tables: Vec<String>,
    pub deleted_logs: usize,
    /// Tables or logs removed only because the file was over `max_size`.
    pub over_size: bool,
}

pub struct Store {
    path: PathBuf,
    conn: Connection,
    retention: Retention,
    /// Series key → id, filled as series are seen (and from the table at start-up).
    series: HashMap<String, i64>,
    /// Partitions known to exist.
    partitions: HashSet<(Family, i64)>,
    /// Raw hours already marked as needing a rollup.
    dirty: HashSet<i64>,
    /// The hour being rolled up step by step, and the first series id not done yet.
    rollup_cursor: Option<(i64, i64)>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    host TEXT,
    device TEXT,
    interface TEXT,
    interface_index INTEGER,
    tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS series_by_device ON series (device, name);
CREATE INDEX IF NOT EXISTS series_by_name ON series (name);
CREATE TABLE IF NOT EXISTS partitions (
    family TEXT NOT NULL,
    start INTEGER NOT NULL,
    dirty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (family, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    host TEXT,
    ip_address TEXT,
    name TEXT,
    profile TEXT,
    vendor TEXT,
    sys_object_id TEXT,
    reachable INTEGER,
    last_poll INTEGER,
    poll_duration REAL,
    tags TEXT NOT NULL DEFAULT '{}',
    fields TEXT NOT NULL DEFAULT '{}',
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS interfaces (
    device TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT,
    alias TEXT,
    description TEXT,
    mac_address TEXT,
    admin_status TEXT,
    oper_status TEXT,
    speed_bps INTEGER,
    updated INTEGER NOT NULL,
    PRIMARY KEY (device, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    host TEXT,
    peer TEXT,
    device TEXT,
    source TEXT NOT NULL,
    service TEXT,
    status INTEGER NOT NULL,
    message TEXT NOT NULL,
    tags TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_ts ON logs (ts);
CREATE INDEX IF NOT EXISTS logs_by_host ON logs (host, ts);
CREATE INDEX IF NOT EXISTS logs_by_peer ON logs (peer, ts);
CREATE INDEX IF NOT EXISTS logs_by_device ON logs (device, ts);
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5 (
    message, attributes, content = 'logs', content_rowid = 'id'
);
";

/// The version of the layout above, kept in `store_info`.
const SCHEMA_VERSION: &str = "1";

/// Sets the pragmas every connection (writer and readers) needs.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl Store {
    /// Opens (or creates) the store at `path`, checking that it is one.
    pub fn open(path: &Path, retention: Retention) -> Result<Store, StoreError> {
        let classify = |e| StoreError::classify(path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(classify)?;
        // Incremental vacuum lets retention give space back to the file system; it must be
        // set before the first table exists (a no-op on an existing file).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(classify)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!("local store {}: cannot use WAL mode ({mode})", path.display())));
        }
        configure(&conn).map_err(classify)?;
        conn.execute_batch(SCHEMA).map_err(classify)?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM store_info WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(classify)?;
        match version.as_deref() {
            None => {
                conn.execute("INSERT INTO store_info (key, value) VALUES ('schema_version', ?1)", [SCHEMA_VERSION])
                    .map_err(classify)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "local store {} has layout version {other}; this nocwatch reads version {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        }
        let mut store = Store {
            path: path.to_owned(),
            conn,
            retention,
            series: HashMap::new(),
            partitions: HashSet::new(),
            dirty: HashSet::new(),
            rollup_cursor: None,
        };
        store.load_state().map_err(classify)?;
        Ok(store)
    }

    fn load_state(&mut self) -> rusqlite::Result<()> {
        let mut stmt = self.conn.prepare("SELECT key, id FROM series")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (key, id) = row?;
            self.series.insert(key, id);
        }
        drop(stmt);
        let mut stmt = self.conn.prepare("SELECT family, start, dirty FROM partitions")?;
        let rows: Vec<(String, i64, bool)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
        drop(stmt);
        for (family, start, dirty) in rows {
            if let Some(family) = Family::from_prefix(&family) {
                self.partitions.insert((family, start));
                if family == Family::Raw && dirty {
                    self.dirty.insert(start);
                }
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Writes a batch in one transaction. `now` (Unix seconds) decides what is too old.
    pub fn write(&mut self, events: &[Event], now: i64) -> Result<Written, StoreError> {
        let path = self.path.clone();
        self.write_inner(events, now).map_err(|e| {
            // The transaction rolled back: forget what it added to the caches.
            self.series.clear();
            self.partitions.clear();
            self.dirty.clear();
            self.rollup_cursor = None;
            let _ = self.load_state();
            StoreError::classify(&path, e)
        })
    }

    fn write_inner(&mut self, events: &[Event], now: i64) -> rusqlite::Result<Written> {
        let mut written = Written::default();
        let raw_cutoff = now - self.retention.raw.as_secs() as i64;
        let tx = self.conn.transaction()?;
        {
            let mut new_partitions = Vec::new();
            let mut new_dirty = Vec::new();
            for event in events {
                match event {
                    Event::Metric(metric) => {
                        let ts = metric.timestamp.as_second();
                        if ts < raw_cutoff || !metric.value.is_finite() {
                            written.too_old += usize::from(metric.value.is_finite());
                            written.not_finite += usize::from(!metric.value.is_finite());
                            continue;
                        }
                        let start = Family::Raw.start_of(ts);
                        // Late points into the hour being rolled up: start that hour over.
                        if self.rollup_cursor.is_some_and(|(hour, _)| hour == start) {
                            self.rollup_cursor = None;
                        }
                        if !self.partitions.contains(&(Family::Raw, start)) {
                            create_partition(&tx, Family::Raw, start)?;
                            self.partitions.insert((Family::Raw, start));
                            new_partitions.push(start);
                        }
                        // A closed hour receiving points needs its rollup (again).
                        if start + Family::Raw.period() + ROLLUP_GRACE_SECS <= now && self.dirty.insert(start) {
                            new_dirty.push(start);
                        }
                        let series = series_id(&tx, &mut self.series, metric)?;
                        let sql = format!(
                            "INSERT OR REPLACE INTO {} (series, ts, value) VALUES (?1, ?2, ?3)",
                            Family::Raw.table(start)
                        );
                        tx.prepare_cached(&sql)?.execute(params![series, ts, metric.value])?;
                        written.points += 1;
                        derive_metadata(&tx, metric, ts)?;
                    }
                    Event::Log(log) => {
                        insert_log(&tx, log)?;
                        written.logs += 1;
                    }
                    Event::Metadata(metadata) => {
                        upsert_metadata(&tx, metadata)?;
                        written.metadata += 1;
                    }
                }
            }
            // The current hour is rolled up when it closes: dirty from the start.
            for start in new_partitions.iter().chain(&new_dirty) {
                tx.execute(
                    "INSERT INTO partitions (family, start, dirty) VALUES ('raw', ?1, 1)
                     ON CONFLICT (family, start) DO UPDATE SET dirty = 1",
                    [start],
                )?;
                self.dirty.insert(*start);
            }
        }
        tx.commit()?;
        Ok(written)
    }

    /// One maintenance step: rolls up closed hours (at most about
    /// [`ROLLUP_SERIES_PER_STEP`] series; `more` says whether work is left), applies
    /// retention by age and size. `now` in Unix seconds.
    pub fn maintain(&mut self, now: i64) -> Result<Maintained, StoreError> {
        let path = self.path.clone();
        self.maintain_inner(now).map_err(|e| StoreError::classify(&path, e))
    }

    fn maintain_inner(&mut self, now: i64) -> rusqlite::Result<Maintained> {
        let mut done = Maintained::default();
        // Roll up every closed raw hour still dirty.
        let mut closed: Vec<i64> = self
            .dirty
            .iter()
            .copied()
            .filter(|start| start + Family::Raw.period() + ROLLUP_GRACE_SECS <= now)
            .collect();
        closed.sort_unstable();
        let mut budget = ROLLUP_SERIES_PER_STEP;
        for start in closed {
            if budget <= 0 {
                done.more = true;
                break;
            }
            let from = match self.rollup_cursor {
                Some((hour, next)) if hour == start => next,
                _ => 0,
            };
            let (next, finished, covered) = self.roll_up_series(start, from, ROLLUP_SERIES_PER_STEP)?;
            budget -= covered;
            if finished {
                self.rollup_cursor = None;
                done.rolled_up += 1;
            } else {
                self.rollup_cursor = Some((start, next));
                done.more = true;
                break;
            }
        }
        // Retention by age.
        for family in Family::ALL {
            let keep = match family {
                Family::Raw => self.retention.raw,
                Family::Rollup5m => self.retention.rollup_5m,
                Family::Rollup1h => self.retention.rollup_1h,
            };
            let cutoff = now - keep.as_secs() as i64;
            let mut expired: Vec<i64> = self
                .partitions
                .iter()
                .filter(|(f, start)| *f == family && start + family.period() <= cutoff)
                .map(|(_, start)| *start)
                .collect();
            expired.sort_unstable();
            for start in expired {
                done.dropped_tables.push(self.drop_partition(family, start)?);
            }
        }
        let log_cutoff_ms = (now - self.retention.logs.as_secs() as i64).saturating_mul(1000);
        done.deleted_logs += self.delete_logs_before(log_cutoff_ms)?;
        let oldest_kept = now - self.retention.rollup_1h.max(self.retention.rollup_5m).as_secs() as i64;
        self.conn.execute("DELETE FROM interfaces WHERE updated < ?1", [oldest_kept])?;
        self.conn.execute("DELETE FROM devices WHERE updated < ?1", [oldest_kept])?;
        // Retention by size: the oldest data goes first, raw points before logs before rollups.
        while self.used_bytes()? > self.retention.max_size {
            let Some(removed) = self.shed_oldest(now)? else { break };
            done.dropped_tables.push(removed);
            done.over_size = true;
        }
        if !done.dropped_tables.is_empty() || done.deleted_logs > 0 {
            self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        Ok(done)
    }

    /// Drops (or deletes) the oldest piece of data, to get under `max_size`: says what went
    /// (a table, or `logs`). None when nothing is left that may go (the current hour and the
    /// newest rollups stay).
    fn shed_oldest(&mut self, now: i64) -> rusqlite::Result<Option<String>> {
        let current_hour = Family::Raw.start_of(now);
        let oldest = |family: Family, keep_after: i64| {
            self.partitions.iter().filter(|(f, s)| *f == family && *s < keep_after).map(|(_, s)| *s).min()
        };
        let removed = if let Some(start) = oldest(Family::Raw, current_hour) {
            self.drop_partition(Family::Raw, start)?
        } else if let Some(cut) = self.log_cut_for_a_tenth()? {
            self.delete_logs_before(cut)?;
            "logs".to_owned()
        } else if let Some(start) = oldest(Family::Rollup5m, Family::Rollup5m.start_of(now)) {
            self.drop_partition(Family::Rollup5m, start)?
        } else if let Some(start) = oldest(Family::Rollup1h, Family::Rollup1h.start_of(now)) {
            self.drop_partition(Family::Rollup1h, start)?
        } else {
            return Ok(None);
        };
        self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        Ok(Some(removed))
    }

    /// The timestamp before which the oldest tenth of the logs lie (None: under 100 logs).
    fn log_cut_for_a_tenth(&self) -> rusqlite::Result<Option<i64>> {
        let count: i64 = self.conn.query_row("SELECT count(*) FROM logs", [], |r| r.get(0))?;
        if count < 100 {
            return Ok(None);
        }
        self.conn.query_row("SELECT ts FROM logs ORDER BY ts LIMIT 1 OFFSET ?1", [count / 10], |r| r.get(0)).optional()
    }

    /// Bytes of the file in use (free pages are reused or given back by the vacuum).
    pub fn used_bytes(&self) -> rusqlite::Result<u64> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages - free).max(0) * size) as u64)
    }

    /// Rolls up a whole raw hour (before it is dropped).
    fn roll_up(&mut self, start: i64) -> rusqlite::Result<()> {
        let mut from = 0;
        loop {
            let (next, finished, _) = self.roll_up_series(start, from, ROLLUP_SERIES_PER_STEP)?;
            if finished {
                if self.rollup_cursor.is_some_and(|(hour, _)| hour == start) {
                    self.rollup_cursor = None;
                }
                return Ok(());
            }
            from = next;
        }
    }

    /// Rolls up the series with ids in `[from, from + count)` of a raw hour, in one
    /// transaction. Returns where the next step starts, whether the hour is done (then it is
    /// no longer dirty), and how many series ids the step covered.
    fn roll_up_series(&mut self, start: i64, from: i64, count: i64) -> rusqlite::Result<(i64, bool, i64)> {
        let raw = Family::Raw.table(start);
        let until = from.saturating_add(count);
        let last_series: i64 = self.conn.query_row("SELECT coalesce(max(id), 0) FROM series", [], |r| r.get(0))?;
        let finished = until > last_series;
        let covered = until.min(last_series + 1) - from;
        let tx = self.conn.transaction()?;
        for family in [Family::Rollup5m, Family::Rollup1h] {
            let target = family.start_of(start);
            if !self.partitions.contains(&(family, target)) {
                create_partition(&tx, family, target)?;
                tx.execute(
                    "INSERT OR IGNORE INTO partitions (family, start, dirty) VALUES (?1, ?2, 0)",
                    params![family.prefix(), target],
                )?;
                self.partitions.insert((family, target));
            }
            let step = family.resolution();
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO {} (series, bucket, min, max, sum, count)
                     SELECT series, ts - ts % {step}, min(value), max(value), sum(value), count(*)
                     FROM {raw} WHERE series >= ?1 AND series < ?2 GROUP BY series, ts - ts % {step}",
                    family.table(target)
                ),
                params![from, until],
            )?;
        }
        if finished {
            tx.execute("UPDATE partitions SET dirty = 0 WHERE family = 'raw' AND start = ?1", [start])?;
        }
        tx.commit()?;
        if finished {
            self.dirty.remove(&start);
        }
        Ok((until, finished, covered.max(1)))
    }

    fn drop_partition(&mut self, family: Family, start: i64) -> rusqlite::Result<String> {
        if family == Family::Raw && self.dirty.contains(&start) {
            self.roll_up(start)?;
        }
        let table = family.table(start);
        let tx = self.conn.transaction()?;
        tx.execute(&format!("DROP TABLE IF EXISTS {table}"), [])?;
        tx.execute("DELETE FROM partitions WHERE family = ?1 AND start = ?2", params![family.prefix(), start])?;
        tx.commit()?;
        self.partitions.remove(&(family, start));
        self.dirty.remove(&start);
        Ok(table)
    }

    fn delete_logs_before(&mut self, cutoff_ms: i64) -> rusqlite::Result<usize> {
        let last: Option<i64> =
            self.conn.query_row("SELECT max(id) FROM logs WHERE ts < ?1", [cutoff_ms], |r| r.get(0))?;
        let Some(last) = last else { return Ok(0) };
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO logs_fts (logs_fts, rowid, message, attributes)
             SELECT 'delete', id, message, attributes FROM logs WHERE id <= ?1",
            [last],
        )?;
        let deleted = tx.execute("DELETE FROM logs WHERE id <= ?1", [last])?;
        tx.commit()?;
        Ok(deleted)
    }
}

fn create_partition(conn: &Connection, family: Family, start: i64) -> rusqlite::Result<()> {
    let table = family.table(start);
    let columns = match family {
        Family::Raw => "series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series, ts)",
        Family::Rollup5m | Family::Rollup1h => {
            "series INTEGER NOT NULL, bucket INTEGER NOT NULL, min REAL NOT NULL, max REAL NOT NULL, \
             sum REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (series, bucket)"
        }
    };
    conn.execute(&format!("CREATE TABLE IF NOT EXISTS {table} ({columns}) WITHOUT ROWID"), [])?;
    Ok(())
}

/// The device a metric or log is about: Datadog's device id (`<namespace>:<snmp_device>`)
/// when it has the SNMP tags, else its host.
pub fn device_of(host: Option<&str>, tags: &Tags) -> Option<String> {
    match tags.get("snmp_device") {
        Some(address) => {
            let namespace = tags.get("device_namespace").map_or("default", String::as_str);
            Some(format!("{namespace}:{address}"))
        }
        None => host.map(str::to_owned),
    }
}

/// The address part of an `snmp_device` tag (`10.0.0.1:1161`, `[2001:db8::1]:1161` or a
/// bare address).
fn address_of(snmp_device: &str) -> &str {
    if let Some(rest) = snmp_device.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match snmp_device.split_once(':') {
        Some((address, port)) if !port.contains(':') => address,
        _ => snmp_device,
    }
}

fn series_key(metric: &Metric) -> String {
    let mut key = String::with_capacity(64 + metric.tags.len() * 24);
    key.push_str(&metric.name);
    key.push('\u{1f}');
    key.push_str(metric.host.as_deref().unwrap_or(""));
    for (name, value) in &metric.tags {
        key.push('\u{1f}');
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    key
}

fn series_id(tx: &Connection, cache: &mut HashMap<String, i64>, metric: &Metric) -> rusqlite::Result<i64> {
    let key = series_key(metric);
    if let Some(id) = cache.get(&key) {
        return Ok(*id);
    }
    let metric_type = match metric.metric_type {
        crate::event::MetricType::Gauge => "gauge",
        crate::event::MetricType::Count => "count",
        crate::event::MetricType::Rate => "rate",
    };
    let interface_index: Option<i64> = metric.tags.get("interface_index").and_then(|i| i.parse().ok());
    let tags = serde_json::to_string(&metric.tags).unwrap_or_else(|_| "{}".into());
    tx.prepare_cached(
        "INSERT INTO series (key, name, type, host, device, interface, interface_index, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (key) DO UPDATE SET type = excluded.type",
    )?
    .execute(params![
        key,
        metric.name,
        metric_type,
        metric.host,
        device_of(metric.host.as_deref(), &metric.tags),
        metric.tags.get("interface"),
        interface_index,
        tags
    ])?;
    let id: i64 = tx.query_row("SELECT id FROM series WHERE key = ?1", [&key], |r| r.get(0))?;
    cache.insert(key, id);
    Ok(id)
}

/// What the poller's own metrics say about a device and its interfaces (so devices show
/// even without metadata events).
fn derive_metadata(tx: &Connection, metric: &Metric, ts: i64) -> rusqlite::Result<()> {
    match metric.name.as_str() {
        "snmp.device.reachable" => {
            let Some(device) = device_of(metric.host.as_deref(), &metric.tags) else { return Ok(()) };
            let tags = serde_json::to_string(&metric.tags).unwrap_or_else(|_| "{}".into());
            tx.prepare_cached(
                "INSERT INTO devices (id, host, ip_address, name, profile, vendor, reachable, last_poll, tags, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8)
                 ON CONFLICT (id) DO UPDATE SET
                   host = coalesce(excluded.host, host), ip_address = coalesce(ip_address, excluded.ip_address),
                   name = coalesce(excluded.name, name), profile = coalesce(excluded.profile, profile),
                   vendor = coalesce(excluded.vendor, vendor), reachable = excluded.reachable,
                   last_poll = max(coalesce(last_poll, 0), excluded.last_poll), tags = excluded.tags,
                   updated = max(updated, excluded.updated)",
            )?
            .execute(params![
                device,
                metric.host,
                metric.tags.get("snmp_device").map(|a| address_of(a)),
                metric.tags.get("snmp_host"),
                metric.tags.get("snmp_profile"),
                metric.tags.get("device_vendor"),
                metric.value > 0.5,
                ts,
                tags,
            ])?;
        }
        "datadog.snmp.check_duration" => {
            let Some(device) = device_of(metric.host.as_deref(), &metric.tags) else { return Ok(()) };
            tx.prepare_cached("UPDATE devices SET poll_duration = ?2 WHERE id = ?1 AND last_poll <= ?3")?
                .execute(params![device, metric.value, ts])?;
        }
        "snmp.interface.status" => {
            let Some(device) = device_of(metric.host.as_deref(), &metric.tags) else { return Ok(()) };
            let Some(index) = metric.tags.get("interface_index").and_then(|i| i.parse::<i64>().ok()) else {
                return Ok(());
            };
            tx.prepare_cached(
                "INSERT INTO interfaces (device, idx, name, alias, admin_status, oper_status, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (device, idx) DO UPDATE SET
                   name = coalesce(excluded.name, name), alias = coalesce(excluded.alias, alias),
                   admin_status = excluded.admin_status, oper_status = excluded.oper_status,
                   updated = max(updated, excluded.updated)",
            )?
            .execute(params![
                device,
                index,
                metric.tags.get("interface"),
                metric.tags.get("interface_alias"),
                metric.tags.get("admin_status"),
                metric.tags.get("oper_status"),
                ts
            ])?;
        }
        _ => {}
    }
    Ok(())
}

fn upsert_metadata(tx: &Connection, m: &DeviceMetadata) -> rusqlite::Result<()> {
    let ts = m.timestamp.as_second();
    let tags = serde_json::to_string(&m.tags).unwrap_or_else(|_| "{}".into());
    let fields = serde_json::to_string(&m.fields).unwrap_or_else(|_| "{}".into());
    let name = m.fields.get("name").or_else(|| m.tags.get("snmp_host"));
    let vendor = m.fields.get("vendor").or_else(|| m.tags.get("device_vendor"));
    tx.prepare_cached(
        "INSERT INTO devices (id, host, ip_address, name, profile, vendor, sys_object_id, reachable, last_poll,
                              poll_duration, tags, fields, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?9)
         ON CONFLICT (id) DO UPDATE SET
           host = excluded.host, ip_address = excluded.ip_address, name = coalesce(excluded.name, name),
           profile = coalesce(excluded.profile, profile), vendor = coalesce(excluded.vendor, vendor),
           sys_object_id = coalesce(excluded.sys_object_id, sys_object_id), reachable = excluded.reachable,
           last_poll = excluded.last_poll, poll_duration = excluded.poll_duration,
           tags = excluded.tags, fields = CASE WHEN excluded.fields = '{}' THEN fields ELSE excluded.fields END,
           updated = excluded.updated
         WHERE excluded.last_poll >= coalesce(devices.last_poll, 0)",
    )?
    .execute(params![
        m.device_id,
        m.host,
        m.ip_address,
        name,
        m.profile,
        vendor,
        m.sys_object_id,
        m.reachable,
        ts,
        m.poll_duration_secs,
        tags,
        fields
    ])?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO interfaces
           (device, idx, name, alias, description, mac_address, admin_status, oper_status, speed_bps, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for i in &m.interfaces {
        stmt.execute(params![
            m.device_id,
            i.index,
            i.name,
            i.alias,
            i.description,
            i.mac_address,
            i.admin_status,
            i.oper_status,
            i.speed_bps.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            ts
        ])?;
    }
    Ok(())
}

/// The sender's address of a log event (`peer.ip` of syslog, `peer.ip` or
/// `snmp.peer` of traps), to find a device's logs by address.
fn peer_of(log: &LogEvent) -> Option<&str> {
    log.attributes.get_str(&["peer", "ip"]).or_else(|| log.attributes.get_str(&["peer"]))
}

fn insert_log(tx: &Connection, log: &LogEvent) -> rusqlite::Result<()> {
    let tags = serde_json::to_string(&log.tags).unwrap_or_else(|_| "{}".into());
    let attributes = serde_json::to_string(&log.attributes).unwrap_or_else(|_| "{}".into());
    tx.prepare_cached(
        "INSERT INTO logs (ts, host, peer, device, source, service, status, message, tags, attributes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        log.timestamp.as_millisecond(),
        log.host,
        peer_of(log),
        device_of(log.host.as_deref(), &log.tags),
        log.source,
        log.service,
        log.status.syslog_severity(),
        log.message,
        tags,
        attributes
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO logs_fts (rowid, message, attributes) VALUES (?1, ?2, ?3)")?.execute(params![
        id,
        log.message,
        attributes
    ])?;
    Ok(())
}
