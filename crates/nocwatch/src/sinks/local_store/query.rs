//! The read side of the local store: what the web page's JSON API answers, on read-only
//! connections of their own (WAL: readers never wait for the writer).
//!
//! Charts read rollups for long ranges (hourly for more than 3 days, 5-minute for more than
//! 3 hours) and raw points for short ones; hours not rolled up yet are aggregated from their
//! raw points on the fly, so the newest hour shows in every range.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use serde::Serialize;
use serde_json::Value;

use super::store::{Family, StoreError, configure};
use crate::event::Tags;

/// Metric names the pages show (Datadog's SNMP names).
pub mod names {
    pub const CPU: &str = "snmp.cpu.usage";
    pub const MEMORY: &str = "snmp.memory.usage";
    pub const IN_OCTETS: [&str; 2] = ["snmp.ifHCInOctets", "snmp.ifInOctets"];
    pub const OUT_OCTETS: [&str; 2] = ["snmp.ifHCOutOctets", "snmp.ifOutOctets"];
    pub const IN_ERRORS: &str = "snmp.ifInErrors";
    pub const OUT_ERRORS: &str = "snmp.ifOutErrors";
    pub const IN_DISCARDS: &str = "snmp.ifInDiscards";
    pub const OUT_DISCARDS: &str = "snmp.ifOutDiscards";
    pub const HIGH_SPEED: &str = "snmp.ifHighSpeed";
    pub const SPEED: &str = "snmp.ifSpeed";
}

/// A small pool of read-only connections.
pub struct Reader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Reader {
    pub fn new(path: &Path) -> Reader {
        Reader { path: path.to_owned(), pool: Mutex::new(Vec::new()) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled connection (blocking: call from a blocking thread).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn =
                    Connection::open_with_flags(&self.path, flags).map_err(|e| StoreError::classify(&self.path, e))?;
                configure(&conn).map_err(|e| StoreError::classify(&self.path, e))?;
                conn
            }
        };
        let result = f(&conn).map_err(|e| StoreError::classify(&self.path, e));
        if result.is_ok()
            && let Ok(mut pool) = self.pool.lock()
            && pool.len() < 4
        {
            pool.push(conn);
        }
        result
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub name: Option<String>,
    pub ip_address: Option<String>,
    pub host: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub os: Option<String>,
    pub profile: Option<String>,
    pub sys_object_id: Option<String>,
    pub reachable: Option<bool>,
    /// Unix seconds.
    pub last_poll: Option<i64>,
    pub poll_duration_secs: Option<f64>,
    /// Percent, the average over the device's CPUs.
    pub cpu: Option<f64>,
    /// Percent used.
    pub memory: Option<f64>,
    pub tags: Tags,
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterfaceRow {
    pub index: i64,
    pub name: Option<String>,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub mac_address: Option<String>,
    pub admin_status: Option<String>,
    pub oper_status: Option<String>,
    pub speed_bps: Option<f64>,
    pub in_bps: Option<f64>,
    pub out_bps: Option<f64>,
    /// Per second.
    pub in_errors: Option<f64>,
    pub out_errors: Option<f64>,
    pub in_discards: Option<f64>,
    pub out_discards: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoints {
    pub id: i64,
    pub name: String,
    pub interface: Option<String>,
    pub interface_index: Option<i64>,
    pub tags: Tags,
    /// `[ts, avg, min, max]`, ts in Unix seconds (the bucket start for rollups).
    pub points: Vec<[f64; 4]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Seconds per point: 0 for raw points, 300 or 3600 for rollups.
    pub resolution: i64,
    pub from: i64,
    pub to: i64,
    pub series: Vec<SeriesPoints>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    pub id: i64,
    pub timestamp: String,
    pub host: Option<String>,
    pub peer: Option<String>,
    pub device: Option<String>,
    pub source: String,
    pub service: Option<String>,
    pub status: &'static str,
    pub message: String,
    pub tags: Value,
    pub attributes: Value,
}

#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub device: Option<String>,
    pub host: Option<String>,
    pub source: Option<String>,
    /// Only events at least this severe (syslog severity: 0 emergency ... 7 debug).
    pub max_severity: Option<u8>,
    pub text: Option<String>,
    /// Unix milliseconds, inclusive.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Older than this id (paging back).
    pub before_id: Option<i64>,
    /// Newer than this id (live tail), oldest first.
    pub after_id: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    pub path: String,
    pub file_bytes: u64,
    pub used_bytes: u64,
    pub series: i64,
    pub devices: i64,
    pub logs: i64,
    pub partitions: BTreeMap<String, usize>,
    /// Unix seconds of the oldest raw hour, 5-minute day and hourly week kept.
    pub oldest: BTreeMap<String, i64>,
}

fn partitions(conn: &Connection, family: Family) -> rusqlite::Result<Vec<(i64, bool)>> {
    let mut stmt = conn.prepare_cached("SELECT start, dirty FROM partitions WHERE family = ?1 ORDER BY start")?;
    stmt.query_map([family.prefix()], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

/// The newest raw point of each series (looked up in the two newest raw hours).
fn latest(conn: &Connection, series: &[i64]) -> rusqlite::Result<HashMap<i64, (i64, f64)>> {
    let raw = partitions(conn, Family::Raw)?;
    let mut found = HashMap::new();
    for (start, _) in raw.iter().rev().take(2) {
        let sql =
            format!("SELECT ts, value FROM {} WHERE series = ?1 ORDER BY ts DESC LIMIT 1", Family::Raw.table(*start));
        let mut stmt = conn.prepare_cached(&sql)?;
        for id in series {
            if found.contains_key(id) {
                continue;
            }
            if let Some(point) = stmt.query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))).optional()? {
                found.insert(*id, point);
            }
        }
    }
    Ok(found)
}

fn json_map(text: Option<String>) -> BTreeMap<String, String> {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// Tags as stored (their serde form: a key with several values has an array).
fn json_tags(text: Option<String>) -> Tags {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

fn average(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

const DEVICE_COLUMNS: &str =
    "id, name, ip_address, host, vendor, profile, sys_object_id, reachable, last_poll, poll_duration, tags, fields";

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    let tags = json_tags(r.get(10)?);
    let fields = json_map(r.get(11)?);
    let model = fields.get("model").or_else(|| fields.get("product_name")).cloned();
    let os = match (fields.get("os_name"), fields.get("os_version")) {
        (Some(name), Some(version)) => Some(format!("{name} {version}")),
        (Some(name), None) => Some(name.clone()),
        (None, Some(version)) => Some(version.clone()),
        (None, None) => None,
    };
    Ok(DeviceRow {
        id: r.get(0)?,
        name: r.get(1)?,
        ip_address: r.get(2)?,
        host: r.get(3)?,
        vendor: r.get(4)?,
        model,
        os,
        profile: r.get(5)?,
        sys_object_id: r.get(6)?,
        reachable: r.get(7)?,
        last_poll: r.get(8)?,
        poll_duration_secs: r.get(9)?,
        cpu: None,
        memory: None,
        tags,
        fields,
    })
}

/// Every device with its newest CPU and memory usage.
pub fn devices(conn: &Connection) -> rusqlite::Result<Vec<DeviceRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY coalesce(name, id)"))?;
    let mut devices: Vec<DeviceRow> = stmt.query_map([], device_row)?.collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached("SELECT id, device, name FROM series WHERE name IN (?1, ?2)")?;
    let series: Vec<(i64, Option<String>, String)> = stmt
        .query_map([names::CPU, names::MEMORY], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let ids: Vec<i64> = series.iter().map(|s| s.0).collect();
    let latest = latest(conn, &ids)?;
    let mut usage: HashMap<(String, bool), Vec<f64>> = HashMap::new();
    for (id, device, name) in series {
        if let (Some(device), Some((_, value))) = (device, latest.get(&id)) {
            usage.entry((device, name == names::CPU)).or_default().push(*value);
        }
    }
    for device in &mut devices {
        device.cpu = usage.get(&(device.id.clone(), true)).and_then(|v| average(v));
        device.memory = usage.get(&(device.id.clone(), false)).and_then(|v| average(v));
    }
    Ok(devices)
}

pub fn device(conn: &Connection, id: &str) -> rusqlite::Result<Option<(DeviceRow, Vec<InterfaceRow>)>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"))?;
    let Some(mut device) = stmt.query_row([id], device_row).optional()? else { return Ok(None) };
    let mut interfaces: BTreeMap<i64, InterfaceRow> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT idx, name, alias, description, mac_address, admin_status, oper_status, speed_bps
         FROM interfaces WHERE device = ?1",
    )?;
    for row in stmt.query_map([id], |r| {
        Ok(InterfaceRow {
            index: r.get(0)?,
            name: r.get(1)?,
            alias: r.get(2)?,
            description: r.get(3)?,
            mac_address: r.get(4)?,
            admin_status: r.get(5)?,
            oper_status: r.get(6)?,
            speed_bps: r.get::<_, Option<i64>>(7)?.map(|s| s as f64),
            in_bps: None,
            out_bps: None,
            in_errors: None,
            out_errors: None,
            in_discards: None,
            out_discards: None,
        })
    })? {
        let row = row?;
        interfaces.insert(row.index, row);
    }
    let mut stmt = conn.prepare_cached("SELECT id, name, interface, interface_index FROM series WHERE device = ?1")?;
    let series: Vec<(i64, String, Option<String>, Option<i64>)> =
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
    let wanted = |name: &str| {
        names::IN_OCTETS.contains(&name)
            || names::OUT_OCTETS.contains(&name)
            || [
                names::IN_ERRORS,
                names::OUT_ERRORS,
                names::IN_DISCARDS,
                names::OUT_DISCARDS,
                names::HIGH_SPEED,
                names::SPEED,
                names::CPU,
                names::MEMORY,
            ]
            .contains(&name)
    };
    let ids: Vec<i64> = series.iter().filter(|s| wanted(&s.1)).map(|s| s.0).collect();
    let latest = latest(conn, &ids)?;
    let (mut cpu, mut memory) = (Vec::new(), Vec::new());
    for (series_id, name, interface, index) in &series {
        let Some((_, value)) = latest.get(series_id) else { continue };
        match name.as_str() {
            names::CPU => cpu.push(*value),
            names::MEMORY => memory.push(*value),
            _ => {}
        }
        let Some(index) = index else { continue };
        let row = interfaces.entry(*index).or_insert_with(|| InterfaceRow {
            index: *index,
            name: interface.clone(),
            alias: None,
            description: None,
            mac_address: None,
            admin_status: None,
            oper_status: None,
            speed_bps: None,
            in_bps: None,
            out_bps: None,
            in_errors: None,
            out_errors: None,
            in_discards: None,
            out_discards: None,
        });
        let value = *value;
        // The 64-bit counters win over the 32-bit ones when a device has both.
        match name.as_str() {
            "snmp.ifHCInOctets" => row.in_bps = Some(value * 8.0),
            "snmp.ifInOctets" => row.in_bps = row.in_bps.or(Some(value * 8.0)),
            "snmp.ifHCOutOctets" => row.out_bps = Some(value * 8.0),
            "snmp.ifOutOctets" => row.out_bps = row.out_bps.or(Some(value * 8.0)),
            names::IN_ERRORS => row.in_errors = Some(value),
            names::OUT_ERRORS => row.out_errors = Some(value),
            names::IN_DISCARDS => row.in_discards = Some(value),
            names::OUT_DISCARDS => row.out_discards = Some(value),
            names::HIGH_SPEED if row.speed_bps.is_none() => row.speed_bps = Some(value * 1e6),
            names::SPEED if row.speed_bps.is_none() => row.speed_bps = Some(value),
            _ => {}
        }
    }
    device.cpu = average(&cpu);
    device.memory = average(&memory);
    Ok(Some((device, interfaces.into_values().collect())))
}

/// The resolution a chart of `span` seconds reads: raw up to 3 h, 5-minute rollups up to
/// 3 days, hourly beyond.
pub fn resolution_for(span: i64) -> Family {
    if span <= 3 * 3600 {
        Family::Raw
    } else if span <= 3 * 86_400 {
        Family::Rollup5m
    } else {
        Family::Rollup1h
    }
}

#[derive(Debug, Clone, Default)]
pub struct SeriesQuery {
    pub device: Option<String>,
    pub names: Vec<String>,
    pub interface_index: Option<i64>,
    pub from: i64,
    pub to: i64,
}

/// Points of the matching series over `[from, to]`, at the resolution the span calls for.
pub fn series(conn: &Connection, query: &SeriesQuery) -> rusqlite::Result<Chart> {
    let mut sql = String::from("SELECT id, name, interface, interface_index, tags FROM series WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(device) = &query.device {
        args.push(device.clone().into());
        sql.push_str(&format!(" AND device = ?{}", args.len()));
    }
    if !query.names.is_empty() {
        let mut slots = Vec::new();
        for name in &query.names {
            args.push(name.clone().into());
            slots.push(format!("?{}", args.len()));
        }
        sql.push_str(&format!(" AND name IN ({})", slots.join(", ")));
    }
    if let Some(index) = query.interface_index {
        args.push(index.into());
        sql.push_str(&format!(" AND interface_index = ?{}", args.len()));
    }
    sql.push_str(" ORDER BY name, interface_index, id LIMIT 200");
    let mut stmt = conn.prepare(&sql)?;
    let mut found: Vec<SeriesPoints> = stmt
        .query_map(params_from_iter(args), |r| {
            Ok(SeriesPoints {
                id: r.get(0)?,
                name: r.get(1)?,
                interface: r.get(2)?,
                interface_index: r.get(3)?,
                tags: json_tags(r.get(4)?),
                points: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let (from, to) = (query.from.min(query.to), query.to.max(query.from));
    let family = resolution_for(to - from);
    let raw = partitions(conn, Family::Raw)?;
    let raw_in_range: Vec<(i64, bool)> =
        raw.into_iter().filter(|(start, _)| *start + Family::Raw.period() > from && *start <= to).collect();
    for series in &mut found {
        if family == Family::Raw {
            for (start, _) in &raw_in_range {
                let sql = format!(
                    "SELECT ts, value FROM {} WHERE series = ?1 AND ts BETWEEN ?2 AND ?3 ORDER BY ts",
                    Family::Raw.table(*start)
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params![series.id, from, to], |r| {
                    let (ts, v): (i64, f64) = (r.get(0)?, r.get(1)?);
                    Ok([ts as f64, v, v, v])
                })?;
                for row in rows {
                    series.points.push(row?);
                }
            }
            continue;
        }
        let step = family.resolution();
        let mut buckets: BTreeMap<i64, [f64; 4]> = BTreeMap::new();
        for (start, _) in partitions(conn, family)? {
            if start + family.period() <= from || start > to {
                continue;
            }
            let sql = format!(
                "SELECT bucket, sum / count, min, max FROM {} WHERE series = ?1 AND bucket BETWEEN ?2 AND ?3",
                family.table(start)
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params![series.id, from - step, to], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?, r.get::<_, f64>(2)?, r.get::<_, f64>(3)?))
            })?;
            for row in rows {
                let (bucket, avg, min, max) = row?;
                buckets.insert(bucket, [bucket as f64, avg, min, max]);
            }
        }
        // Hours not rolled up yet (the current one, late points): from their raw points.
        for (start, _) in raw_in_range.iter().filter(|(_, dirty)| *dirty) {
            let sql = format!(
                "SELECT ts - ts % {step}, sum(value) / count(*), min(value), max(value) FROM {}
                 WHERE series = ?1 GROUP BY ts - ts % {step}",
                Family::Raw.table(*start)
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([series.id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?, r.get::<_, f64>(2)?, r.get::<_, f64>(3)?))
            })?;
            for row in rows {
                let (bucket, avg, min, max) = row?;
                buckets.insert(bucket, [bucket as f64, avg, min, max]);
            }
        }
        series.points = buckets.into_values().filter(|p| p[0] as i64 + step > from && p[0] as i64 <= to).collect();
    }
    Ok(Chart { resolution: family.resolution(), from, to, series: found })
}

/// Turns what a user typed into an FTS5 query: every word must appear (quoted, so
/// punctuation and FTS operators in the text are taken literally).
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text.split_whitespace().map(|word| format!("\"{}\"", word.replace('"', "\"\""))).collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Names a device's logs may carry as host or sender address.
fn device_names(conn: &Connection, id: &str) -> rusqlite::Result<BTreeSet<String>> {
    let mut names = BTreeSet::from([id.to_owned()]);
    let row = conn
        .query_row("SELECT host, ip_address, name, tags FROM devices WHERE id = ?1", [id], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    if let Some((host, ip, name, tags)) = row {
        names.extend([host, ip, name].into_iter().flatten());
        names.extend(json_tags(tags).values("snmp_host").map(str::to_owned));
    }
    Ok(names)
}

pub fn logs(conn: &Connection, query: &LogQuery) -> rusqlite::Result<Vec<LogRow>> {
    let mut sql = String::from(
        "SELECT l.id, l.ts, l.host, l.peer, l.device, l.source, l.service, l.status, l.message, l.tags, l.attributes
         FROM logs l",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let push = |args: &mut Vec<rusqlite::types::Value>, value: rusqlite::types::Value| {
        args.push(value);
        format!("?{}", args.len())
    };
    // With a text search the full-text index drives the query and gives its rows in rowid
    // (= id) order itself, so the newest matches come first without sorting all of them.
    let mut order_by = "l.id";
    if let Some(text) = query.text.as_deref().and_then(fts_query) {
        sql = sql.replace("FROM logs l", "FROM logs_fts f JOIN logs l ON l.id = f.rowid");
        order_by = "f.rowid";
        let slot = push(&mut args, text.into());
        conditions.push(format!("logs_fts MATCH {slot}"));
    }
    if let Some(device) = &query.device {
        let names = device_names(conn, device)?;
        let mut slots = Vec::new();
        for name in names {
            slots.push(push(&mut args, name.into()));
        }
        let slots = slots.join(", ");
        let id = push(&mut args, device.clone().into());
        conditions.push(format!("(l.device = {id} OR l.host IN ({slots}) OR l.peer IN ({slots}))"));
    }
    if let Some(host) = &query.host {
        let slot = push(&mut args, host.clone().into());
        conditions.push(format!("l.host = {slot}"));
    }
    if let Some(source) = &query.source {
        let slot = push(&mut args, source.clone().into());
        conditions.push(format!("l.source = {slot}"));
    }
    if let Some(severity) = query.max_severity {
        let slot = push(&mut args, i64::from(severity).into());
        conditions.push(format!("l.status <= {slot}"));
    }
    if let Some(from) = query.from_ms {
        let slot = push(&mut args, from.into());
        conditions.push(format!("l.ts >= {slot}"));
    }
    if let Some(to) = query.to_ms {
        let slot = push(&mut args, to.into());
        conditions.push(format!("l.ts <= {slot}"));
    }
    if let Some(before) = query.before_id {
        let slot = push(&mut args, before.into());
        conditions.push(format!("{order_by} < {slot}"));
    }
    if let Some(after) = query.after_id {
        let slot = push(&mut args, after.into());
        conditions.push(format!("{order_by} > {slot}"));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    // A tail reads forward from where it was; everything else shows the newest first.
    let order = if query.after_id.is_some() { "ASC" } else { "DESC" };
    sql.push_str(&format!(" ORDER BY {order_by} {order} LIMIT {}", query.limit.clamp(1, 1000)));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        let ts: i64 = r.get(1)?;
        let status: u8 = r.get(7)?;
        Ok(LogRow {
            id: r.get(0)?,
            timestamp: jiff::Timestamp::from_millisecond(ts).map(|t| t.to_string()).unwrap_or_default(),
            host: r.get(2)?,
            peer: r.get(3)?,
            device: r.get(4)?,
            source: r.get(5)?,
            service: r.get(6)?,
            status: crate::event::Status::from_syslog_severity(status).as_str(),
            message: r.get(8)?,
            tags: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or(Value::Null),
            attributes: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or(Value::Null),
        })
    })?;
    rows.collect()
}

pub fn stats(conn: &Connection, path: &Path) -> rusqlite::Result<StoreStats> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    let page_size = count("PRAGMA page_size")?;
    let used = (count("PRAGMA page_count")? - count("PRAGMA freelist_count")?).max(0) * page_size;
    let file_bytes = ["", "-wal"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).map(|m| m.len()).unwrap_or(0)
        })
        .sum();
    let mut partition_counts = BTreeMap::new();
    let mut oldest = BTreeMap::new();
    for family in Family::ALL {
        let list = partitions(conn, family)?;
        partition_counts.insert(family.prefix().to_owned(), list.len());
        if let Some((start, _)) = list.first() {
            oldest.insert(family.prefix().to_owned(), *start);
        }
    }
    Ok(StoreStats {
        path: path.display().to_string(),
        file_bytes,
        used_bytes: used as u64,
        series: count("SELECT count(*) FROM series")?,
        devices: count("SELECT count(*) FROM devices")?,
        logs: count("SELECT count(*) FROM logs")?,
        partitions: partition_counts,
        oldest,
    })
}
