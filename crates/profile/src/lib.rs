//! SNMP device profiles in the Datadog schema, sans-IO: which OIDs to fetch from a device
//! ([`FetchPlan`]) and what the fetched values mean ([`Profile::evaluate`] turns a
//! [`Fetched`] into samples with tags, device metadata and interface metadata).
//!
//! - [`Profiles`]: the bundled profiles (repo root `profiles/`, compiled in) overridden by
//!   name by user directories; `extends` flattened; sysObjectID matching (`*` patterns,
//!   most specific wins, a generic fallback).
//! - Loading errors name file, line, column and field ([`ProfileError`]); profiles are
//!   read literally (no `${VAR}`).
//! - Everything evaluation needs is precomputed at load (OIDs, regexes, types, tag
//!   sources), so a poll only looks values up. See docs/profiles.md for the format.

mod compile;
mod eval;
mod load;
mod matching;
mod schema;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

use nocwatch_snmp::{Oid, Value};

use crate::matching::SysObjectIdPattern;

/// A set of profiles: the bundled ones, overridden by name by user directories.
#[derive(Debug, Default)]
pub struct Profiles {
    profiles: BTreeMap<String, Arc<Profile>>,
}

impl Profiles {
    /// The profiles compiled into the binary (repo root `profiles/`).
    pub fn bundled() -> Profiles {
        // The bundled files are tested to load (tests/profiles.rs); failing here would be a
        // build defect, so fall back to an empty set rather than abort the agent.
        Profiles::load(&[]).unwrap_or_default()
    }

    /// Bundled profiles plus every `*.yaml` / `*.yml` in `user_dirs` (a user profile
    /// overrides a bundled one of the same name, also where other profiles `extends` it;
    /// a later directory overrides an earlier one).
    pub fn load(user_dirs: &[PathBuf]) -> Result<Profiles, ProfileError> {
        let sources = load::sources(user_dirs)?;
        Ok(Profiles { profiles: load::build(&sources)? })
    }

    /// The profile whose `sysobjectid` pattern matches most specifically, else the
    /// `generic-device` fallback. Ties between profiles go to a user profile over a bundled
    /// one, then to the first name in alphabetical order. Same as
    /// [`Profiles::for_device`] without a sysDescr.
    pub fn for_sys_object_id(&self, sys_object_id: &Oid) -> Option<Arc<Profile>> {
        self.for_device(sys_object_id, None)
    }

    /// As [`Profiles::for_sys_object_id`], also applying the sysDescr conditions of
    /// netdata-style `selector` entries (an entry with a sysDescr condition never matches
    /// without a sysDescr).
    pub fn for_device(&self, sys_object_id: &Oid, sys_descr: Option<&str>) -> Option<Arc<Profile>> {
        let dotted = matching::dotted(sys_object_id);
        let mut best: Option<(&SysObjectIdPattern, &Arc<Profile>)> = None;
        for profile in self.profiles.values() {
            for pattern in profile.matching_patterns(&dotted, sys_descr) {
                let better = best.is_none_or(|(current, current_profile)| {
                    pattern.specificity_cmp(current).then_with(|| current_profile.bundled.cmp(&profile.bundled)).is_gt()
                });
                if better {
                    best = Some((pattern, profile));
                }
            }
        }
        best.map(|(_, profile)| profile.clone()).or_else(|| self.get(load::FALLBACK))
    }

    /// A profile by name (a device's `profile:` override).
    pub fn get(&self, name: &str) -> Option<Arc<Profile>> {
        self.profiles.get(name).cloned()
    }

    /// Every profile name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

/// A profile with `extends` flattened and everything the evaluation needs precomputed.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    /// The file it came from (`<bundled>/NAME.yaml` for bundled profiles).
    pub source: PathBuf,
    bundled: bool,
    sys_object_ids: Vec<SysObjectIdPattern>,
    selectors: Vec<schema::Selector>,
    device_vendor: Option<String>,
    plan: FetchPlan,
    compiled: compile::Compiled,
}

impl Profile {
    /// What to fetch from a device using this profile.
    pub fn plan(&self) -> &FetchPlan {
        &self.plan
    }

    /// Samples, tags, metadata and warnings from what was fetched. Never panics on device
    /// values.
    pub fn evaluate(&self, fetched: &Fetched) -> Evaluation {
        eval::evaluate(&self.compiled, fetched)
    }

    /// `device.vendor`, else the constant `metadata.device.fields.vendor.value` (the
    /// `device_vendor` tag).
    pub fn device_vendor(&self) -> Option<&str> {
        self.device_vendor.as_deref()
    }

    /// The patterns of this profile (its own `sysobjectid`, then its `selector` entries
    /// whose conditions hold) that match a dotted sysObjectID.
    fn matching_patterns(&self, dotted: &str, sys_descr: Option<&str>) -> Vec<&SysObjectIdPattern> {
        let mut out: Vec<&SysObjectIdPattern> = self.sys_object_ids.iter().filter(|p| p.matches(dotted)).collect();
        for selector in &self.selectors {
            let Some(oids) = &selector.sysobjectid else {
                continue;
            };
            let matcher_matches = |m: &schema::OidMatcher| match m {
                schema::OidMatcher::Glob(pattern) => pattern.matches(dotted),
                schema::OidMatcher::Regex(regex, _) => regex.is_match(dotted),
            };
            if oids.exclude.iter().any(matcher_matches) {
                continue;
            }
            if let Some(descr) = &selector.sysdescr {
                let included = descr.include.is_empty()
                    || sys_descr.is_some_and(|d| descr.include.iter().any(|p| p.0.is_match(d)));
                let excluded = sys_descr.is_some_and(|d| descr.exclude.iter().any(|p| p.0.is_match(d)));
                if !included || excluded {
                    continue;
                }
            }
            out.extend(oids.include.iter().filter(|m| matcher_matches(m)).map(|m| match m {
                schema::OidMatcher::Glob(pattern) | schema::OidMatcher::Regex(_, pattern) => pattern,
            }));
        }
        out
    }

    /// The profile's own `sysobjectid` patterns (not inherited through `extends`).
    pub fn sys_object_ids(&self) -> impl Iterator<Item = &str> {
        self.sys_object_ids.iter().map(SysObjectIdPattern::as_str)
    }

    /// Every metric name this profile's `metrics` define (flattened, in order, each once;
    /// `flag_stream` suffixes not applied): for tests, docs and diagnostics.
    pub fn metric_names(&self) -> Vec<&str> {
        self.compiled.metric_names.iter().map(String::as_str).collect()
    }
}

/// The OIDs a profile needs: scalar instances to GET and table columns to walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPlan {
    /// Scalar OIDs as the profiles write them, normally instances (`.1.3.6.1.2.1.1.5.0`);
    /// one written without its `.0` may answer noSuchObject/noSuchInstance, and then
    /// `OID.0` is worth a try. Sorted, without duplicates.
    pub scalars: Vec<Oid>,
    pub tables: Vec<TablePlan>,
}

/// One table's columns to walk (sorted, without duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablePlan {
    pub table: Oid,
    pub columns: Vec<Oid>,
}

/// The values a poll got: any mix of scalar instances and column cells, by full OID (no
/// routing needed: evaluation looks scalars up exactly, and columns by prefix). A scalar
/// the profile names without its `.0` instance may be stored with or without it.
///
/// Each value remembers which answer of the poll brought it ([`Fetched::begin_answer`]),
/// so that the caller can time each counter reading by when its answer arrived
/// ([`Sample::answer`]) rather than by when the poll started.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub(crate) values: BTreeMap<Oid, Stored>,
    /// Answers begun so far; values inserted now belong to answer `answers - 1` (or 0).
    answers: u16,
}

/// A fetched value and the number of the answer it came in.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub value: Value,
    pub answer: u16,
}

impl Fetched {
    pub fn new() -> Self {
        Fetched::default()
    }

    /// A new answer of the device: the values inserted from now on came in it. Returns
    /// its number (0 for the first; saturates at `u16::MAX`).
    pub fn begin_answer(&mut self) -> u16 {
        let number = self.answers;
        self.answers = self.answers.saturating_add(1);
        number
    }

    /// Records a varbind (a scalar instance or a column cell). Exceptions (noSuchObject,
    /// noSuchInstance, endOfMibView) are ignored: they mean "no value".
    pub fn insert(&mut self, oid: Oid, value: Value) {
        if !matches!(value, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView) {
            let answer = self.answers.saturating_sub(1);
            self.values.insert(oid, Stored { value, answer });
        }
    }

    pub fn get(&self, oid: &Oid) -> Option<&Value> {
        self.values.get(oid).map(|stored| &stored.value)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.answers = 0;
    }

    /// The cells under `column`, in index order: (row index, value).
    pub fn column<'a>(&'a self, column: &[u32]) -> impl Iterator<Item = (&'a [u32], &'a Value)> {
        self.stored_column(column).map(|(index, stored)| (index, &stored.value))
    }

    pub(crate) fn stored_column<'a>(&'a self, column: &[u32]) -> impl Iterator<Item = (&'a [u32], &'a Stored)> {
        let start = column.len();
        self.values
            .range::<[u32], _>((Bound::Excluded(column), Bound::Unbounded))
            .take_while(move |(oid, _)| oid.arcs().starts_with(column))
            .map(move |(oid, stored)| (&oid.arcs()[start..], stored))
    }
}

impl FromIterator<(Oid, Value)> for Fetched {
    fn from_iter<I: IntoIterator<Item = (Oid, Value)>>(iter: I) -> Self {
        let mut fetched = Fetched::new();
        for (oid, value) in iter {
            fetched.insert(oid, value);
        }
        fetched
    }
}

/// What a profile made of one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    pub samples: Vec<Sample>,
    /// Device metadata fields: vendor, name, description, version, serial_number,
    /// product_name, model, os_name, os_version, location, ...
    pub device: BTreeMap<String, String>,
    pub interfaces: Vec<InterfaceMetadata>,
    /// Profile-level tags for every metric of the device, including those the poller
    /// derives: `static_tags` and `metric_tags` of the profile (e.g. `snmp_host` from
    /// sysName in `_base`), sorted. Not in each sample's `tags`.
    pub tags: Vec<(String, String)>,
    /// Values that could not be used (not a number, a regex that did not match...), the
    /// first few described; the rest summarised in a last line.
    pub warnings: Vec<String>,
    /// How many values could not be used (for a self-metric).
    pub unusable_values: u64,
}

/// Interface metadata (Datadog's `metadata.interface.fields`), by ifIndex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceMetadata {
    pub index: u32,
    pub name: Option<String>,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub mac_address: Option<String>,
    pub admin_status: Option<i64>,
    pub oper_status: Option<i64>,
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// E.g. `ifHCInOctets`, `cpu.usage`: the poller adds `snmp.` (or its namespace).
    /// Shared with the profile (no copy per sample).
    pub name: Arc<str>,
    pub value: SampleValue,
    /// `forced_type` / `metric_type` resolved; Counter32/Counter64 values default to Rate.
    pub metric_type: MetricType,
    /// `scale_factor` (1.0 by default; `percent` multiplies it by 100). A
    /// [`MetricType::Gauge`] sample's value is already scaled; for every other type the
    /// value is the device's (a [`SampleValue::Counter`], or a plain number a profile
    /// forced to a rate or count) and the computed rate or delta is to be scaled.
    pub scale: f64,
    /// The metric's own tags (its `metric_tags` and `static_tags`), sorted, `key:value`
    /// split at the first `:` (a tag without `:` has an empty value). Profile-level tags
    /// are in [`Evaluation::tags`]. Shared by the samples of one row of one table metric
    /// (every column of an interface in a `metrics:` entry has the same tags).
    pub tags: SampleTags,
    /// The answer of the poll its value came in ([`Fetched::begin_answer`]).
    pub answer: u16,
}

/// A sample's tags, shared between the samples that have the same.
pub type SampleTags = Arc<[(String, String)]>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleValue {
    Gauge(f64),
    /// A raw counter (Counter32/Counter64 not forced to `gauge`); `bits` (32 or 64) is
    /// where it wraps.
    Counter {
        raw: u64,
        bits: u8,
    },
}

/// How the poller submits a sample. `flag_stream` is expanded into gauges here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Gauge,
    Rate,
    MonotonicCount,
    /// A monotonic count named `name` and a rate named `name.rate`.
    MonotonicCountAndRate,
}

/// A profile that failed to load: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is not at one place in the file (e.g. a cycle).
    pub line: usize,
    pub column: usize,
    /// Key path of the field, e.g. `metrics[3].symbols[0].OID`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ProfileError {}
