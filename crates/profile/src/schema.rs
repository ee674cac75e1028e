//! The profile file format as written (Datadog's SNMP profile schema), read with our YAML
//! layer so every error names line, column and key path. Values that can be checked on
//! their own (OIDs, regexes, metric types, formats) are checked while reading; rules that
//! span fields are in `validate.rs`.
//!
//! Keys that netdata's restructured profiles add (`selector`, `chart_meta`,
//! `virtual_metrics`, `bgp`, `licensing`, `topology`, `transform`, ...) are accepted and
//! ignored so those files load; every other unknown key is an error with a "did you mean".

#![allow(dead_code)] // Keys like `MIB`, `table` names and netdata extensions are read only to be accepted.

use std::collections::BTreeMap;
use std::fmt;

use nocwatch_snmp::Oid;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};

/// One profile file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(default)]
    pub extends: Vec<String>,
    /// A single pattern or a list; `*` matches any run of characters.
    #[serde(default)]
    pub sysobjectid: Vec<String>,
    #[serde(default)]
    pub device: Option<DeviceSection>,
    #[serde(default)]
    pub metadata: BTreeMap<String, MetadataResource>,
    /// Profile-level tags read from scalar OIDs, on every metric of the device.
    #[serde(default)]
    pub metric_tags: Vec<MetricTag>,
    /// `key:value` tags on every metric of the device.
    #[serde(default)]
    pub static_tags: Vec<String>,
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<IgnoredAny>,
    /// netdata's form of `sysobjectid`: entries of include/exclude patterns (plain, `*`
    /// globs or regexes) and optional sysDescr regexes; a profile matches through any entry.
    #[serde(default)]
    pub selector: Vec<Selector>,
    // netdata extensions, accepted and ignored.
    #[serde(default)]
    pub sysobjectid_metadata: Option<IgnoredAny>,
    #[serde(default)]
    pub virtual_metrics: Option<IgnoredAny>,
    #[serde(default)]
    pub bgp: Option<IgnoredAny>,
    #[serde(default)]
    pub licensing: Option<IgnoredAny>,
    #[serde(default)]
    pub topology: Option<IgnoredAny>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub sysobjectid: Option<OidSelection>,
    #[serde(default)]
    pub sysdescr: Option<DescrSelection>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidSelection {
    #[serde(default)]
    pub include: Vec<OidMatcher>,
    #[serde(default)]
    pub exclude: Vec<OidMatcher>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescrSelection {
    #[serde(default)]
    pub include: Vec<Pattern>,
    #[serde(default)]
    pub exclude: Vec<Pattern>,
}

/// A sysObjectID pattern in a selector: digits, dots and `*` are a Datadog-style pattern;
/// anything else is a regular expression (netdata writes `'^1\.3\.6\.1\.4\.1\.9\..+$'`).
#[derive(Debug, Clone)]
pub enum OidMatcher {
    Glob(crate::matching::SysObjectIdPattern),
    /// The regex, and the pattern its literal OID prefix stands for (for specificity).
    Regex(regex::Regex, crate::matching::SysObjectIdPattern),
}

impl<'de> Deserialize<'de> for OidMatcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().chars().all(|c| c.is_ascii_digit() || c == '.' || c == '*') {
            return crate::matching::SysObjectIdPattern::parse(&text).map(OidMatcher::Glob).map_err(de::Error::custom);
        }
        let regex = regex::Regex::new(&text)
            .map_err(|e| de::Error::custom(format!("invalid regular expression `{text}`: {e}")))?;
        Ok(OidMatcher::Regex(regex, crate::matching::SysObjectIdPattern::regex_prefix(&text)))
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    #[serde(default)]
    pub vendor: Option<String>,
}

/// `metadata.device` / `metadata.interface`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataResource {
    #[serde(default)]
    pub fields: BTreeMap<String, MetadataField>,
    #[serde(default)]
    pub id_tags: Vec<MetricTag>,
}

/// A metadata field: a constant `value`, one `symbol`, or `symbols` tried in order.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataField {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub symbol: Option<Symbol>,
    #[serde(default)]
    pub symbols: Vec<Symbol>,
    /// netdata extension, ignored.
    #[serde(default)]
    pub consumers: Option<IgnoredAny>,
}

/// One `metrics` entry: a scalar (`symbol`, or the legacy `OID` + `name`) or a table
/// (`table` + `symbols` + `metric_tags`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    #[serde(default, rename = "MIB")]
    pub mib: Option<String>,
    #[serde(default)]
    pub table: Option<TableRef>,
    #[serde(default)]
    pub symbol: Option<Symbol>,
    #[serde(default)]
    pub symbols: Vec<Symbol>,
    /// Legacy scalar form.
    #[serde(default, rename = "OID")]
    pub oid: Option<OidText>,
    /// Legacy scalar form.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub static_tags: Vec<String>,
    #[serde(default)]
    pub metric_tags: Vec<MetricTag>,
    #[serde(default)]
    pub metric_type: Option<MetricTypeName>,
    /// Legacy name of `metric_type`.
    #[serde(default)]
    pub forced_type: Option<MetricTypeName>,
    #[serde(default)]
    pub options: Option<MetricOptions>,
}

/// `flag_stream` options: which character of the value (1-based) and the name suffix.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricOptions {
    #[serde(default)]
    pub placement: Option<u32>,
    #[serde(default)]
    pub metric_suffix: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRef {
    #[serde(default, rename = "OID")]
    pub oid: Option<OidText>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A value to read: an OID and a name, with optional post-processing.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symbol {
    #[serde(default, rename = "OID")]
    pub oid: Option<OidText>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "MIB")]
    pub mib: Option<String>,
    /// Regex whose first group is the number (e.g. `(\d+)C` on "43C").
    #[serde(default)]
    pub extract_value: Option<Pattern>,
    /// With `match_value`: the value becomes `match_value` expanded with the groups.
    #[serde(default)]
    pub match_pattern: Option<Pattern>,
    #[serde(default)]
    pub match_value: Option<String>,
    #[serde(default)]
    pub scale_factor: Option<f64>,
    #[serde(default)]
    pub format: Option<Format>,
    #[serde(default)]
    pub constant_value_one: bool,
    #[serde(default)]
    pub metric_type: Option<MetricTypeName>,
    /// Value to text (metadata) or text to number (metrics: a device that answers "up"
    /// where `mapping: {1: up}`). netdata's structured mappings are ignored.
    #[serde(default)]
    pub mapping: Option<SymbolMapping>,
    // netdata extensions, ignored.
    #[serde(default)]
    pub chart_meta: Option<IgnoredAny>,
    #[serde(default)]
    pub transform: Option<IgnoredAny>,
    #[serde(default)]
    pub description: Option<IgnoredAny>,
    #[serde(default)]
    pub family: Option<IgnoredAny>,
    #[serde(default)]
    pub unit: Option<IgnoredAny>,
    #[serde(default)]
    pub tag: Option<IgnoredAny>,
    #[serde(default)]
    pub symbol: Option<IgnoredAny>,
}

/// A flat `value: text` mapping, or something else we don't interpret.
#[derive(Debug, Clone)]
pub enum SymbolMapping {
    Flat(BTreeMap<String, String>),
    Other,
}

impl<'de> Deserialize<'de> for SymbolMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Flat(BTreeMap<String, String>),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(deserializer)? {
            Either::Flat(map) => SymbolMapping::Flat(map),
            Either::Other(_) => SymbolMapping::Other,
        })
    }
}

/// A metric tag: from the row `index`, a `column`/`symbol` (a column of this or another
/// table, or a scalar for profile-level tags), or the legacy `OID` + `symbol: name`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTag {
    #[serde(default)]
    pub tag: Option<String>,
    /// 1-based position in the row index.
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub column: Option<Symbol>,
    #[serde(default)]
    pub symbol: Option<SymbolOrName>,
    #[serde(default, rename = "OID")]
    pub oid: Option<OidText>,
    /// Name of the table the column is in (documentation; the column OID is what counts).
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default, rename = "MIB")]
    pub mib: Option<String>,
    #[serde(default)]
    pub index_transform: Vec<IndexTransform>,
    #[serde(default)]
    pub mapping: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "match")]
    pub match_: Option<Pattern>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    // netdata extensions, ignored.
    #[serde(default)]
    pub description: Option<IgnoredAny>,
    #[serde(default)]
    pub mapping_ref: Option<IgnoredAny>,
}

/// `symbol:` in a metric tag: a full symbol, or (legacy) just its name next to `OID`.
#[derive(Debug, Clone)]
pub enum SymbolOrName {
    Symbol(Box<Symbol>),
    Name(String),
}

impl<'de> Deserialize<'de> for SymbolOrName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = SymbolOrName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a symbol name or a mapping with `OID` and `name`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SymbolOrName, E> {
                Ok(SymbolOrName::Name(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SymbolOrName, E> {
                Ok(SymbolOrName::Name(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SymbolOrName, E> {
                Ok(SymbolOrName::Name(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<SymbolOrName, E> {
                Ok(SymbolOrName::Name(String::new()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<SymbolOrName, A::Error> {
                Symbol::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|symbol| SymbolOrName::Symbol(Box::new(symbol)))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// Keeps sub-identifiers `start..=end` of the row index (or `start..len-drop_right`, a
/// netdata extension); several transforms are concatenated.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexTransform {
    pub start: u32,
    #[serde(default)]
    pub end: Option<u32>,
    #[serde(default)]
    pub drop_right: Option<u32>,
}

/// `metric_type` / `forced_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricTypeName {
    Gauge,
    Rate,
    /// Deprecated name of `rate`.
    Counter,
    MonotonicCount,
    MonotonicCountAndRate,
    /// A rate of the value times 100 (deprecated in favour of `scale_factor`).
    Percent,
    FlagStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    MacAddress,
    IpAddress,
    /// Lowercase hex digits, no separators (netdata extension).
    Hex,
}

/// A numeric OID as profiles write it (`1.3.6.1.2.1.1.5.0`, leading dot optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidText(pub Oid);

impl<'de> Deserialize<'de> for OidText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let oid: Oid = text.parse().map_err(|_| de::Error::custom(format!("`{text}` is not a numeric OID")))?;
        if oid.is_empty() {
            return Err(de::Error::custom("empty OID"));
        }
        Ok(OidText(oid))
    }
}

/// A regular expression compiled when the profile is read (RE2 syntax, as Datadog's).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        regex::Regex::new(&text)
            .map(Pattern)
            .map_err(|e| de::Error::custom(format!("invalid regular expression `{text}`: {e}")))
    }
}
