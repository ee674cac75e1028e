//! SNMP device profiles in the Datadog schema, sans-IO: which OIDs to fetch from a device
//! ([`FetchPlan`]) and what the fetched values mean ([`Profile::evaluate`] turns a
//! [`Fetched`] into samples with tags and device/interface metadata).
//!
//! SKELETON: the API is the agreed contract (CONTRACTS.md section B); loading and
//! evaluation are being filled in.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use nocwatch_snmp::{Oid, Value};

/// A set of profiles: the bundled ones, overridden by name by user directories.
#[derive(Debug, Default)]
pub struct Profiles {
    profiles: BTreeMap<String, Arc<Profile>>,
}

impl Profiles {
    /// The profiles compiled into the binary (repo root `profiles/`).
    pub fn bundled() -> Profiles {
        Profiles::default()
    }

    /// Bundled profiles plus every `*.yaml` / `*.yml` in `user_dirs` (a user profile
    /// overrides a bundled one of the same name).
    pub fn load(_user_dirs: &[PathBuf]) -> Result<Profiles, ProfileError> {
        Ok(Profiles::bundled())
    }

    /// The profile whose `sysobjectid` pattern matches most specifically, else the generic
    /// fallback profile.
    pub fn for_sys_object_id(&self, _sys_object_id: &Oid) -> Option<Arc<Profile>> {
        None
    }

    /// A profile by name (a device's `profile:` override).
    pub fn get(&self, name: &str) -> Option<Arc<Profile>> {
        self.profiles.get(name).cloned()
    }
}

/// A profile with `extends` flattened and everything the evaluation needs precomputed.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    plan: FetchPlan,
    device_vendor: Option<String>,
}

impl Profile {
    /// What to fetch from a device using this profile.
    pub fn plan(&self) -> &FetchPlan {
        &self.plan
    }

    /// Samples, metadata and warnings from what was fetched. Never panics on device values.
    pub fn evaluate(&self, _fetched: &Fetched) -> Evaluation {
        Evaluation::default()
    }

    /// `metadata.device.fields.vendor.value`, or `device.vendor` (the `device_vendor` tag).
    pub fn device_vendor(&self) -> Option<&str> {
        self.device_vendor.as_deref()
    }
}

/// The OIDs a profile needs: scalar instances to GET and table columns to walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPlan {
    /// Instance OIDs (e.g. `.1.3.6.1.2.1.1.5.0`), sorted, without duplicates.
    pub scalars: Vec<Oid>,
    pub tables: Vec<TablePlan>,
}

/// One table's columns to walk (sorted, without duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablePlan {
    pub table: Oid,
    pub columns: Vec<Oid>,
}

/// The values a poll got: any mix of scalar instances and column rows, by full OID.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    values: BTreeMap<Oid, Value>,
}

impl Fetched {
    pub fn new() -> Self {
        Fetched::default()
    }

    /// Records a varbind (a scalar instance or a column cell). Exceptions (noSuchObject,
    /// noSuchInstance, endOfMibView) are ignored: they mean "no value".
    pub fn insert(&mut self, oid: Oid, value: Value) {
        if !matches!(value, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView) {
            self.values.insert(oid, value);
        }
    }

    pub fn get(&self, oid: &Oid) -> Option<&Value> {
        self.values.get(oid)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn clear(&mut self) {
        self.values.clear();
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
    /// Values that could not be used (not a number, a regex that did not match...).
    pub warnings: Vec<String>,
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
    pub name: String,
    pub value: SampleValue,
    /// `forced_type` / `metric_type` resolved; Counter32/Counter64 values default to Rate.
    pub metric_type: MetricType,
    /// `scale_factor` (1.0 by default). Gauges are already scaled; counters are to be
    /// scaled after the rate or delta is computed.
    pub scale: f64,
    /// Tags from `metric_tags` and `static_tags`, sorted; not the device's own tags.
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleValue {
    Gauge(f64),
    /// A raw counter; `bits` (32 or 64) is where it wraps.
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
