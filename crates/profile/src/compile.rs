//! From a profile file (with `extends` already merged) to what evaluation runs: OIDs
//! parsed, regexes compiled, metric types resolved, tag sources and lookups laid out, and
//! the fetch plan, all once at load so a poll does no parsing or compiling.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nocwatch_snmp::Oid;
use regex::Regex;

use crate::schema::{
    Format, IndexTransform, MetadataField, MetadataResource, Metric, MetricTag, MetricTypeName, ProfileFile, Symbol,
    SymbolMapping, SymbolOrName,
};
use crate::{FetchPlan, MetricType, TablePlan};

/// Everything a profile evaluates.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub scalars: Vec<ScalarMetric>,
    pub tables: Vec<TableMetric>,
    /// Profile-level `metric_tags` (from scalar OIDs).
    pub profile_tags: Vec<ScalarTag>,
    /// Profile-level `static_tags`.
    pub static_tags: Vec<(String, String)>,
    pub device_fields: Vec<DeviceField>,
    pub interface_fields: Vec<(InterfaceField, Reader)>,
    /// Metric names in profile order (flattened), each once.
    pub metric_names: Vec<String>,
}

/// How one value is read and post-processed (`extract_value`, `match_pattern`, `format`,
/// `mapping`).
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    /// Instance OID for scalars, column OID for tables; empty for `constant_value_one`.
    pub oid: Oid,
    pub extract: Option<Regex>,
    /// Pattern and its `match_value` template (`\1` already normalised to `${1}`).
    pub matcher: Option<(Regex, String)>,
    pub format: Option<Format>,
    /// Value text to text (metadata fields).
    pub mapping: Option<HashMap<String, String>>,
}

#[derive(Debug)]
pub(crate) struct MetricSymbol {
    pub reader: Reader,
    /// Shared with every sample it gives (a poll has a thousand).
    pub name: Arc<str>,
    pub kind: Kind,
    pub scale: f64,
    pub constant_one: bool,
    /// netdata's `mapping` on a metric symbol, reversed: a device's text value to its number.
    pub number_mapping: Option<HashMap<String, f64>>,
}

/// What a value becomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// Counter32/64 are rates, the rest gauges.
    Auto,
    Forced(MetricType),
    /// Character `placement - 1` of the text: 1.0 if `'1'`, else 0.0.
    FlagStream {
        position: usize,
    },
}

#[derive(Debug)]
pub(crate) struct ScalarMetric {
    pub symbol: MetricSymbol,
    pub static_tags: Vec<(String, String)>,
    pub tags: Vec<ScalarTag>,
}

#[derive(Debug)]
pub(crate) struct TableMetric {
    pub symbols: Vec<MetricSymbol>,
    pub static_tags: Vec<(String, String)>,
    pub row_tags: Vec<RowTag>,
    /// Table metrics with the same tag definitions (static and per row) share a number:
    /// a row's tags are made once for all of them (the IF-MIB columns come in several
    /// `metrics:` entries with the same `metric_tags`).
    pub tag_group: usize,
}

#[derive(Debug)]
pub(crate) struct RowTag {
    pub source: RowTagSource,
    pub output: TagOutput,
}

#[derive(Debug)]
pub(crate) enum RowTagSource {
    /// 0-based position in the row index.
    Index(usize),
    Column {
        reader: Reader,
        transform: Vec<IndexTransform>,
    },
    /// The sub-identifiers `transform` keeps, dotted, or as octets through `format`
    /// (an IPv4 address in the index).
    IndexParts {
        transform: Vec<IndexTransform>,
        format: Option<Format>,
    },
}

#[derive(Debug)]
pub(crate) struct ScalarTag {
    pub reader: Reader,
    pub output: TagOutput,
}

#[derive(Debug)]
pub(crate) enum TagOutput {
    Tag {
        name: String,
        mapping: Option<HashMap<String, String>>,
    },
    /// `match` + `tags`: each tag's value is its template expanded with the groups.
    Match {
        pattern: Regex,
        tags: Vec<(String, String)>,
    },
}

#[derive(Debug)]
pub(crate) struct DeviceField {
    pub name: String,
    pub source: FieldSource,
}

#[derive(Debug)]
pub(crate) enum FieldSource {
    Constant(String),
    /// Tried in order; the first non-empty value wins.
    Symbols(Vec<Reader>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InterfaceField {
    Name,
    Alias,
    Description,
    MacAddress,
    AdminStatus,
    OperStatus,
}

impl InterfaceField {
    pub(crate) const NAMES: &'static [&'static str] =
        &["name", "alias", "description", "mac_address", "admin_status", "oper_status"];

    pub(crate) fn from_name(name: &str) -> Option<InterfaceField> {
        Some(match name {
            "name" => InterfaceField::Name,
            "alias" => InterfaceField::Alias,
            "description" => InterfaceField::Description,
            "mac_address" => InterfaceField::MacAddress,
            "admin_status" => InterfaceField::AdminStatus,
            "oper_status" => InterfaceField::OperStatus,
            _ => return None,
        })
    }
}

/// `key:value` (a tag without `:` has an empty value).
pub(crate) fn split_tag(tag: &str) -> (String, String) {
    match tag.split_once(':') {
        Some((key, value)) => (key.to_owned(), value.to_owned()),
        None => (tag.to_owned(), String::new()),
    }
}

fn sorted_tags(tags: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = tags.iter().map(|t| split_tag(t)).collect();
    out.sort();
    out
}

/// Python-style `\1` group references become `${1}` (the form the regex crate expands).
fn normalize_template(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 4);
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("${");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
            out.push('}');
        } else {
            out.push(c);
        }
    }
    out
}

fn reader(symbol: &Symbol) -> Reader {
    Reader {
        oid: symbol.oid.as_ref().map(|o| o.0.clone()).unwrap_or_default(),
        extract: symbol.extract_value.as_ref().map(|p| p.0.clone()),
        matcher: symbol
            .match_pattern
            .as_ref()
            .map(|p| (p.0.clone(), normalize_template(symbol.match_value.as_deref().unwrap_or("")))),
        format: symbol.format,
        mapping: match &symbol.mapping {
            Some(SymbolMapping::Flat(map)) => Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            _ => None,
        },
    }
}

fn metric_type(name: MetricTypeName) -> (MetricType, f64) {
    match name {
        MetricTypeName::Gauge => (MetricType::Gauge, 1.0),
        MetricTypeName::Rate | MetricTypeName::Counter => (MetricType::Rate, 1.0),
        MetricTypeName::Percent => (MetricType::Rate, 100.0),
        MetricTypeName::MonotonicCount => (MetricType::MonotonicCount, 1.0),
        MetricTypeName::MonotonicCountAndRate => (MetricType::MonotonicCountAndRate, 1.0),
        // Handled by the caller; a gauge per flag.
        MetricTypeName::FlagStream => (MetricType::Gauge, 1.0),
    }
}

fn metric_symbol(metric: &Metric, symbol: &Symbol) -> MetricSymbol {
    let mut name = symbol.name.clone().unwrap_or_default();
    let mut scale = symbol.scale_factor.filter(|f| *f != 0.0).unwrap_or(1.0);
    let forced = symbol.metric_type.or(metric.metric_type).or(metric.forced_type);
    let kind = match forced {
        None => Kind::Auto,
        Some(MetricTypeName::FlagStream) => {
            let options = metric.options.clone().unwrap_or_default();
            if let Some(suffix) = options.metric_suffix.as_deref().filter(|s| !s.is_empty()) {
                name.push('.');
                name.push_str(suffix);
            }
            Kind::FlagStream { position: options.placement.unwrap_or(1).saturating_sub(1) as usize }
        }
        Some(other) => {
            let (metric_type, factor) = metric_type(other);
            scale *= factor;
            Kind::Forced(metric_type)
        }
    };
    let number_mapping = match &symbol.mapping {
        Some(SymbolMapping::Flat(map)) => {
            let reversed: HashMap<String, f64> = map
                .iter()
                .filter_map(|(number, text)| Some((text.clone(), number.trim().parse::<f64>().ok()?)))
                .collect();
            (!reversed.is_empty()).then_some(reversed)
        }
        _ => None,
    };
    MetricSymbol {
        reader: reader(symbol),
        name: name.into(),
        kind,
        scale,
        constant_one: symbol.constant_value_one,
        number_mapping,
    }
}

/// The symbol a metric tag reads: `column`, `symbol` (full), or legacy `OID` (+ `symbol: name`).
pub(crate) fn tag_symbol(tag: &MetricTag) -> Option<Symbol> {
    if let Some(column) = &tag.column {
        return Some(column.clone());
    }
    match &tag.symbol {
        Some(SymbolOrName::Symbol(symbol)) => {
            let mut symbol = (**symbol).clone();
            if symbol.oid.is_none() {
                symbol.oid = tag.oid.clone();
            }
            Some(symbol)
        }
        Some(SymbolOrName::Name(name)) => {
            tag.oid.as_ref().map(|oid| Symbol { oid: Some(oid.clone()), name: Some(name.clone()), ..Symbol::default() })
        }
        None => tag.oid.as_ref().map(|oid| Symbol { oid: Some(oid.clone()), ..Symbol::default() }),
    }
}

fn tag_output(tag: &MetricTag) -> TagOutput {
    match (&tag.tag, &tag.match_) {
        (Some(name), _) if !name.is_empty() => TagOutput::Tag {
            name: name.clone(),
            mapping: tag.mapping.as_ref().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        },
        (_, Some(pattern)) => TagOutput::Match {
            pattern: pattern.0.clone(),
            tags: tag.tags.iter().map(|(k, v)| (k.clone(), normalize_template(v))).collect(),
        },
        // Rejected by validation.
        _ => TagOutput::Tag { name: String::new(), mapping: None },
    }
}

fn scalar_tag(tag: &MetricTag) -> Option<ScalarTag> {
    let symbol = tag_symbol(tag)?;
    Some(ScalarTag { reader: reader(&symbol), output: tag_output(tag) })
}

fn row_tag(tag: &MetricTag) -> Option<RowTag> {
    let symbol = tag_symbol(tag);
    let source = match (tag.index, symbol) {
        (_, Some(symbol)) if symbol.oid.is_some() => {
            RowTagSource::Column { reader: reader(&symbol), transform: tag.index_transform.clone() }
        }
        (_, symbol) if !tag.index_transform.is_empty() => {
            RowTagSource::IndexParts { transform: tag.index_transform.clone(), format: symbol.and_then(|s| s.format) }
        }
        (Some(index), _) => RowTagSource::Index(index.saturating_sub(1) as usize),
        (None, _) => return None,
    };
    Some(RowTag { source, output: tag_output(tag) })
}

/// Datadog's defaults for a profile that defines no `metadata.device` / `.interface`.
fn default_metadata(metadata: &mut BTreeMap<String, MetadataResource>) {
    fn field(oid: &str, name: &str, format: Option<Format>) -> MetadataField {
        let oid = oid.parse().map(crate::schema::OidText).ok();
        MetadataField {
            symbol: Some(Symbol { oid, name: Some(name.to_owned()), format, ..Symbol::default() }),
            ..MetadataField::default()
        }
    }
    metadata.entry("device".to_owned()).or_insert_with(|| MetadataResource {
        fields: [
            ("description", field("1.3.6.1.2.1.1.1.0", "sysDescr", None)),
            ("name", field("1.3.6.1.2.1.1.5.0", "sysName", None)),
            ("sys_object_id", field("1.3.6.1.2.1.1.2.0", "sysObjectID", None)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        id_tags: Vec::new(),
    });
    metadata.entry("interface".to_owned()).or_insert_with(|| MetadataResource {
        fields: [
            ("name", field("1.3.6.1.2.1.31.1.1.1.1", "ifName", None)),
            ("description", field("1.3.6.1.2.1.2.2.1.2", "ifDescr", None)),
            ("admin_status", field("1.3.6.1.2.1.2.2.1.7", "ifAdminStatus", None)),
            ("oper_status", field("1.3.6.1.2.1.2.2.1.8", "ifOperStatus", None)),
            ("alias", field("1.3.6.1.2.1.31.1.1.1.18", "ifAlias", None)),
            ("mac_address", field("1.3.6.1.2.1.2.2.1.6", "ifPhysAddress", Some(Format::MacAddress))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        id_tags: Vec::new(),
    });
}

/// Compiles a merged, validated profile.
pub(crate) fn compile(file: &ProfileFile) -> (Compiled, FetchPlan) {
    let mut compiled = Compiled { static_tags: sorted_tags(&file.static_tags), ..Compiled::default() };
    let mut plan = PlanBuilder::default();
    let mut tag_groups: HashMap<String, usize> = HashMap::new();

    compiled.profile_tags = file.metric_tags.iter().filter_map(scalar_tag).collect();
    for tag in &compiled.profile_tags {
        plan.scalar(&tag.reader.oid);
    }

    for metric in &file.metrics {
        let static_tags = sorted_tags(&metric.static_tags);
        if metric.symbols.is_empty() {
            let symbol = match (&metric.symbol, &metric.oid) {
                (Some(symbol), _) => symbol.clone(),
                (None, Some(oid)) => Symbol { oid: Some(oid.clone()), name: metric.name.clone(), ..Symbol::default() },
                (None, None) => continue,
            };
            let symbol = metric_symbol(metric, &symbol);
            plan.scalar(&symbol.reader.oid);
            let tags: Vec<ScalarTag> = metric.metric_tags.iter().filter_map(scalar_tag).collect();
            for tag in &tags {
                plan.scalar(&tag.reader.oid);
            }
            compiled.scalars.push(ScalarMetric { symbol, static_tags, tags });
        } else {
            let table = metric.table.as_ref().and_then(|t| t.oid.as_ref()).map(|o| o.0.clone());
            let symbols: Vec<MetricSymbol> = metric.symbols.iter().map(|s| metric_symbol(metric, s)).collect();
            for symbol in symbols.iter().filter(|s| !s.reader.oid.is_empty()) {
                plan.column(table.as_ref(), &symbol.reader.oid);
            }
            let row_tags: Vec<RowTag> = metric.metric_tags.iter().filter_map(row_tag).collect();
            for tag in &row_tags {
                if let RowTagSource::Column { reader, .. } = &tag.source {
                    plan.column(None, &reader.oid);
                }
            }
            // Same definitions print the same (a mapping's order may differ: then the
            // groups only stay apart, which is correct, just not shared).
            let definition = format!("{static_tags:?}{row_tags:?}");
            let next_group = tag_groups.len();
            let tag_group = *tag_groups.entry(definition).or_insert(next_group);
            compiled.tables.push(TableMetric { symbols, static_tags, row_tags, tag_group });
        }
    }

    for metric in &file.metrics {
        let names: Vec<&str> = if metric.symbols.is_empty() {
            metric.symbol.as_ref().and_then(|s| s.name.as_deref()).or(metric.name.as_deref()).into_iter().collect()
        } else {
            metric.symbols.iter().filter_map(|s| s.name.as_deref()).collect()
        };
        for name in names {
            if !compiled.metric_names.iter().any(|n| n == name) {
                compiled.metric_names.push(name.to_owned());
            }
        }
    }

    let mut metadata = file.metadata.clone();
    default_metadata(&mut metadata);
    if let Some(device) = metadata.get("device") {
        for (name, field) in &device.fields {
            let source = match &field.value {
                Some(value) => FieldSource::Constant(value.clone()),
                None => FieldSource::Symbols(
                    field.symbol.iter().chain(&field.symbols).filter(|s| s.oid.is_some()).map(reader).collect(),
                ),
            };
            if let FieldSource::Symbols(readers) = &source {
                for reader in readers {
                    plan.scalar(&reader.oid);
                }
            }
            compiled.device_fields.push(DeviceField { name: name.clone(), source });
        }
    }
    if let Some(interface) = metadata.get("interface") {
        for (name, field) in &interface.fields {
            let (Some(field_name), Some(symbol)) = (InterfaceField::from_name(name), field.symbol.as_ref()) else {
                continue;
            };
            if symbol.oid.is_some() {
                let reader = reader(symbol);
                plan.column(None, &reader.oid);
                compiled.interface_fields.push((field_name, reader));
            }
        }
    }
    (compiled, plan.build())
}

#[derive(Default)]
struct PlanBuilder {
    scalars: Vec<Oid>,
    /// Column OID -> table OID.
    columns: BTreeMap<Oid, Oid>,
}

impl PlanBuilder {
    fn scalar(&mut self, oid: &Oid) {
        if !oid.is_empty() {
            self.scalars.push(oid.clone());
        }
    }

    /// A column in `table`, or (unknown table) in the table two arcs up: column OIDs are
    /// `table.1.column` (the entry is arc 1 of the table).
    fn column(&mut self, table: Option<&Oid>, column: &Oid) {
        if column.is_empty() {
            return;
        }
        match table {
            Some(table) if column.starts_with(table) && column.len() > table.len() => {
                self.columns.insert(column.clone(), table.clone());
            }
            _ => {
                let inferred = Oid::from(&column.arcs()[..column.len().saturating_sub(2).max(1)]);
                self.columns.entry(column.clone()).or_insert(inferred);
            }
        }
    }

    fn build(mut self) -> FetchPlan {
        self.scalars.sort();
        self.scalars.dedup();
        let mut tables: BTreeMap<Oid, Vec<Oid>> = BTreeMap::new();
        for (column, table) in self.columns {
            tables.entry(table).or_default().push(column);
        }
        FetchPlan {
            scalars: self.scalars,
            tables: tables.into_iter().map(|(table, columns)| TablePlan { table, columns }).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(normalize_template(r"\1-\2"), "${1}-${2}");
        assert_eq!(normalize_template("$1 and ${2}"), "$1 and ${2}");
        assert_eq!(normalize_template(r"a\x"), r"a\x");
    }
}
