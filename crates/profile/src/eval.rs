//! Evaluation: a compiled profile over the values one poll fetched. Never panics on what a
//! device sends: a value that can't be used is skipped, counted, and (up to a cap)
//! described in `Evaluation::warnings`.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use nocwatch_snmp::Value;

use crate::compile::{
    Compiled, FieldSource, InterfaceField, Kind, MetricSymbol, Reader, RowTagSource, ScalarTag, TableMetric, TagOutput,
};
use crate::value::{self, Number};
use crate::{Evaluation, Fetched, InterfaceMetadata, MetricType, Sample, SampleTags, SampleValue, Stored};

/// Warnings kept per evaluation; the rest are only counted.
const MAX_WARNINGS: usize = 16;

type Tags = Vec<(String, String)>;

pub(crate) fn evaluate(compiled: &Compiled, fetched: &Fetched) -> Evaluation {
    let mut ev =
        Evaluator { fetched, out: Evaluation::default(), key: Vec::with_capacity(32), row_tags: HashMap::new() };
    ev.profile_tags(compiled);
    for metric in &compiled.scalars {
        ev.scalar_metric(metric);
    }
    for table in &compiled.tables {
        ev.table_metric(table);
    }
    ev.device_metadata(compiled);
    ev.interface_metadata(compiled);
    if ev.out.unusable_values > ev.out.warnings.len() as u64 {
        let more = ev.out.unusable_values - ev.out.warnings.len() as u64;
        ev.out.warnings.push(format!("{more} more values could not be used"));
    }
    ev.out
}

/// Why a value was not used.
enum Unusable {
    Missing,
    Bad(String),
}

struct Evaluator<'f> {
    fetched: &'f Fetched,
    out: Evaluation,
    /// Reused buffer for `column ++ index` lookups.
    key: Vec<u32>,
    /// Row tags by tag group and row index (see `TableMetric::tag_group`).
    row_tags: HashMap<(usize, &'f [u32]), SampleTags>,
}

impl<'f> Evaluator<'f> {
    fn warn(&mut self, what: &str, oid: &[u32], index: &[u32], reason: &str) {
        self.out.unusable_values += 1;
        if self.out.warnings.len() < MAX_WARNINGS {
            let mut message = format!("{what} (");
            for arc in oid.iter().chain(index) {
                let _ = write!(message, ".{arc}");
            }
            let _ = write!(message, "): {reason}");
            self.out.warnings.push(message);
        }
    }

    /// A scalar instance, or (for a profile that names the object, not the instance) the
    /// same OID with `.0` appended.
    fn scalar(&mut self, oid: &[u32]) -> Option<&'f Value> {
        self.stored_scalar(oid).map(|stored| &stored.value)
    }

    fn stored_scalar(&mut self, oid: &[u32]) -> Option<&'f Stored> {
        if let Some(stored) = self.fetched.values.get(oid) {
            return Some(stored);
        }
        if oid.last() == Some(&0) {
            return None;
        }
        self.key.clear();
        self.key.extend_from_slice(oid);
        self.key.push(0);
        self.fetched.values.get(self.key.as_slice())
    }

    fn cell(&mut self, column: &[u32], index: &[u32]) -> Option<&'f Value> {
        self.key.clear();
        self.key.extend_from_slice(column);
        self.key.extend_from_slice(index);
        self.fetched.values.get(self.key.as_slice()).map(|stored| &stored.value)
    }

    fn profile_tags(&mut self, compiled: &Compiled) {
        let mut tags = compiled.static_tags.clone();
        for tag in &compiled.profile_tags {
            if let Some(value) = self.scalar(tag.reader.oid.arcs())
                && let Ok(text) = read_text(&tag.reader, value)
            {
                emit(&tag.output, &text, &mut tags);
            }
        }
        tags.sort();
        tags.dedup();
        self.out.tags = tags;
    }

    fn scalar_metric(&mut self, metric: &crate::compile::ScalarMetric) {
        let symbol = &metric.symbol;
        let Some(Stored { value, answer }) = self.stored_scalar(symbol.reader.oid.arcs()) else {
            return;
        };
        let (number, metric_type, scale) = match sample_value(symbol, value) {
            Ok(sample) => sample,
            Err(Unusable::Missing) => return,
            Err(Unusable::Bad(reason)) => return self.warn(&symbol.name, symbol.reader.oid.arcs(), &[], &reason),
        };
        let mut tags = metric.static_tags.clone();
        for tag in &metric.tags {
            self.scalar_tag(tag, &mut tags);
        }
        tags.sort();
        self.out.samples.push(Sample {
            name: symbol.name.clone(),
            value: number,
            metric_type,
            scale,
            tags: tags.into(),
            answer: *answer,
        });
    }

    fn scalar_tag(&mut self, tag: &ScalarTag, tags: &mut Tags) {
        if let Some(value) = self.scalar(tag.reader.oid.arcs())
            && let Ok(text) = read_text(&tag.reader, value)
        {
            emit(&tag.output, &text, tags);
        }
    }

    fn table_metric(&mut self, table: &TableMetric) {
        let mut row_tags = std::mem::take(&mut self.row_tags);
        for symbol in &table.symbols {
            if symbol.constant_one {
                for index in self.constant_rows(table) {
                    let tags = self.row_tags(table, index, &mut row_tags).clone();
                    self.out.samples.push(Sample {
                        name: symbol.name.clone(),
                        value: SampleValue::Gauge(1.0),
                        metric_type: MetricType::Gauge,
                        scale: 1.0,
                        tags,
                        answer: 0,
                    });
                }
                continue;
            }
            for (index, Stored { value, answer }) in self.fetched.stored_column(symbol.reader.oid.arcs()) {
                let (number, metric_type, scale) = match sample_value(symbol, value) {
                    Ok(sample) => sample,
                    Err(Unusable::Missing) => continue,
                    Err(Unusable::Bad(reason)) => {
                        self.warn(&symbol.name, symbol.reader.oid.arcs(), index, &reason);
                        continue;
                    }
                };
                let tags = self.row_tags(table, index, &mut row_tags).clone();
                self.out.samples.push(Sample {
                    name: symbol.name.clone(),
                    value: number,
                    metric_type,
                    scale,
                    tags,
                    answer: *answer,
                });
            }
        }
        self.row_tags = row_tags;
    }

    /// `constant_value_one` rows: the indexes of the metric's tag columns (Datadog's rule;
    /// columns reached through an index transform belong to another table and don't count).
    fn constant_rows(&self, table: &TableMetric) -> Vec<&'f [u32]> {
        let mut rows: Vec<&'f [u32]> = Vec::new();
        for tag in &table.row_tags {
            if let RowTagSource::Column { reader, transform } = &tag.source
                && transform.is_empty()
            {
                rows.extend(self.fetched.column(reader.oid.arcs()).map(|(index, _)| index));
            }
        }
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    fn row_tags<'c>(
        &mut self,
        table: &TableMetric,
        index: &'f [u32],
        cache: &'c mut HashMap<(usize, &'f [u32]), SampleTags>,
    ) -> &'c SampleTags {
        let key = (table.tag_group, index);
        if let Entry::Vacant(slot) = cache.entry(key) {
            let mut tags = table.static_tags.clone();
            for tag in &table.row_tags {
                match &tag.source {
                    RowTagSource::Index(position) => {
                        if let Some(arc) = index.get(*position) {
                            emit(&tag.output, &arc.to_string(), &mut tags);
                        }
                    }
                    RowTagSource::IndexParts { transform, format } => {
                        if let Some(text) = transformed(index, transform).and_then(|parts| index_text(&parts, *format))
                        {
                            emit(&tag.output, &text, &mut tags);
                        }
                    }
                    RowTagSource::Column { reader, transform } => {
                        let Some(cell_index) = transformed(index, transform) else {
                            continue;
                        };
                        let Some(value) = self.cell(reader.oid.arcs(), &cell_index) else {
                            continue;
                        };
                        if let Ok(text) = read_text(reader, value) {
                            emit(&tag.output, &text, &mut tags);
                        }
                    }
                }
            }
            tags.sort();
            tags.dedup();
            slot.insert(Arc::from(tags));
        }
        // Inserted above when absent.
        cache.entry(key).or_default()
    }

    fn device_metadata(&mut self, compiled: &Compiled) {
        for field in &compiled.device_fields {
            match &field.source {
                FieldSource::Constant(text) => {
                    self.out.device.insert(field.name.clone(), text.clone());
                }
                FieldSource::Symbols(readers) => {
                    for reader in readers {
                        let Some(value) = self.scalar(reader.oid.arcs()) else {
                            continue;
                        };
                        if let Ok(text) = read_text(reader, value)
                            && !text.is_empty()
                        {
                            self.out.device.insert(field.name.clone(), text.into_owned());
                            break;
                        }
                    }
                }
            }
        }
    }

    fn interface_metadata(&mut self, compiled: &Compiled) {
        let mut interfaces: BTreeMap<u32, InterfaceMetadata> = BTreeMap::new();
        for (field, reader) in &compiled.interface_fields {
            for (index, value) in self.fetched.column(reader.oid.arcs()) {
                let [if_index] = index else {
                    continue;
                };
                let entry = interfaces
                    .entry(*if_index)
                    .or_insert_with(|| InterfaceMetadata { index: *if_index, ..Default::default() });
                match field {
                    InterfaceField::AdminStatus | InterfaceField::OperStatus => {
                        let status = value::number(value).map(Number::as_f64).map(|v| v as i64);
                        if *field == InterfaceField::AdminStatus {
                            entry.admin_status = status;
                        } else {
                            entry.oper_status = status;
                        }
                    }
                    _ => {
                        let Ok(text) = read_text(reader, value) else {
                            continue;
                        };
                        let text = Some(text.into_owned());
                        match field {
                            InterfaceField::Name => entry.name = text,
                            InterfaceField::Alias => entry.alias = text,
                            InterfaceField::Description => entry.description = text,
                            _ => entry.mac_address = text,
                        }
                    }
                }
            }
        }
        self.out.interfaces = interfaces.into_values().collect();
    }
}

/// The row index a tag column is read at: the metric's index, or the parts the
/// `index_transform` keeps. `None` when the index is too short for the transform.
fn transformed<'i>(index: &'i [u32], transform: &[crate::schema::IndexTransform]) -> Option<Cow<'i, [u32]>> {
    if transform.is_empty() {
        return Some(Cow::Borrowed(index));
    }
    let mut out = Vec::with_capacity(index.len());
    for rule in transform {
        let start = rule.start as usize;
        let end = match (rule.end, rule.drop_right) {
            (Some(end), _) => end as usize + 1,
            (None, Some(drop)) => index.len().checked_sub(drop as usize)?,
            (None, None) => index.len(),
        };
        out.extend_from_slice(index.get(start..end)?);
    }
    Some(Cow::Owned(out))
}

/// Index sub-identifiers as a tag value: dotted, or as octets through `format`.
fn index_text(parts: &[u32], format: Option<crate::schema::Format>) -> Option<String> {
    match format {
        None => {
            let mut out = String::new();
            for (at, part) in parts.iter().enumerate() {
                if at > 0 {
                    out.push('.');
                }
                let _ = write!(out, "{part}");
            }
            Some(out)
        }
        Some(format) => {
            let octets: Vec<u8> = parts.iter().map(|p| u8::try_from(*p).ok()).collect::<Option<_>>()?;
            value::formatted(&Value::OctetString(octets), format)
        }
    }
}

/// Adds the tags one tag definition makes of a value.
fn emit(output: &TagOutput, text: &str, tags: &mut Tags) {
    match output {
        TagOutput::Tag { name, mapping: None } => tags.push((name.clone(), text.to_owned())),
        TagOutput::Tag { name, mapping: Some(mapping) } => {
            if let Some(mapped) = mapping.get(text) {
                tags.push((name.clone(), mapped.clone()));
            }
        }
        TagOutput::Match { pattern, tags: templates } => {
            if let Some(captures) = pattern.captures(text) {
                for (key, template) in templates {
                    let mut expanded = String::new();
                    captures.expand(template, &mut expanded);
                    if !expanded.is_empty() {
                        tags.push((key.clone(), expanded));
                    }
                }
            }
        }
    }
}

/// A value after `extract_value` / `match_pattern`: still the device's value, or text.
enum Processed<'v> {
    Raw(&'v Value),
    Text(String),
}

fn process<'v>(reader: &Reader, value: &'v Value) -> Result<Processed<'v>, Unusable> {
    let mut current = Processed::Raw(value);
    if let Some(extract) = &reader.extract {
        // Datadog extracts from strings only; numbers pass through.
        if let Value::OctetString(bytes) = value {
            let text = String::from_utf8_lossy(bytes);
            let captured = extract.captures(&text).and_then(|c| c.get(1)).ok_or_else(|| {
                Unusable::Bad(format!("`{}` does not match extract_value `{extract}`", shorten(&text)))
            })?;
            current = Processed::Text(captured.as_str().to_owned());
        }
    }
    if let Some((pattern, template)) = &reader.matcher {
        let text = match &current {
            Processed::Raw(value) => value::text(value).ok_or(Unusable::Missing)?,
            Processed::Text(text) => Cow::Borrowed(text.as_str()),
        };
        let captures = pattern
            .captures(&text)
            .ok_or_else(|| Unusable::Bad(format!("`{}` does not match match_pattern `{pattern}`", shorten(&text))))?;
        let mut expanded = String::new();
        captures.expand(template, &mut expanded);
        if expanded.is_empty() {
            return Err(Unusable::Bad(format!("match_value `{template}` gives nothing for `{}`", shorten(&text))));
        }
        current = Processed::Text(expanded);
    }
    Ok(current)
}

/// A tag or metadata value as text.
fn read_text<'v>(reader: &Reader, value: &'v Value) -> Result<Cow<'v, str>, Unusable> {
    let text: Cow<'v, str> = match process(reader, value)? {
        Processed::Raw(value) => match reader.format {
            Some(format) => Cow::Owned(
                value::formatted(value, format).ok_or_else(|| Unusable::Bad("cannot be formatted".to_owned()))?,
            ),
            None => value::text(value).ok_or(Unusable::Missing)?,
        },
        Processed::Text(text) => Cow::Owned(text),
    };
    match &reader.mapping {
        Some(mapping) => match mapping.get(text.as_ref()) {
            Some(mapped) => Ok(Cow::Owned(mapped.clone())),
            None => Ok(text),
        },
        None => Ok(text),
    }
}

/// The sample value, type and scale of a metric symbol's value.
fn sample_value(symbol: &MetricSymbol, value: &Value) -> Result<(SampleValue, MetricType, f64), Unusable> {
    if value.is_exception() || matches!(value, Value::Null) {
        return Err(Unusable::Missing);
    }
    if let Kind::FlagStream { position } = symbol.kind {
        let text = match process(&symbol.reader, value)? {
            Processed::Raw(value) => value::text(value).ok_or(Unusable::Missing)?.into_owned(),
            Processed::Text(text) => text,
        };
        let flag = text
            .as_bytes()
            .get(position)
            .ok_or_else(|| Unusable::Bad(format!("flag {} not in `{}`", position + 1, shorten(&text))))?;
        return Ok((SampleValue::Gauge(if *flag == b'1' { 1.0 } else { 0.0 }), MetricType::Gauge, 1.0));
    }
    let number = match process(&symbol.reader, value)? {
        Processed::Raw(raw) => match value::number(raw) {
            Some(number) => number,
            None => mapped_number(symbol, raw)?,
        },
        Processed::Text(text) => match value::parse_number(&text) {
            Some(number) => Number::Plain(number),
            None => symbol
                .number_mapping
                .as_ref()
                .and_then(|m| m.get(text.as_str()).copied())
                .map(Number::Plain)
                .ok_or_else(|| Unusable::Bad(format!("`{}` is not a number", shorten(&text))))?,
        },
    };
    let scale = symbol.scale;
    let metric_type = match symbol.kind {
        Kind::Forced(metric_type) => metric_type,
        _ => match number {
            Number::Counter { .. } => MetricType::Rate,
            Number::Plain(_) => MetricType::Gauge,
        },
    };
    // Gauges are reported scaled; anything turned into a rate or count is reported raw and
    // its rate or delta is scaled.
    let sample = match (number, metric_type) {
        (number, MetricType::Gauge) => SampleValue::Gauge(number.as_f64() * scale),
        (Number::Counter { raw, bits }, _) => SampleValue::Counter { raw, bits },
        (Number::Plain(value), _) => SampleValue::Gauge(value),
    };
    Ok((sample, metric_type, scale))
}

fn mapped_number(symbol: &MetricSymbol, value: &Value) -> Result<Number, Unusable> {
    let text = value::text(value);
    if let (Some(mapping), Some(text)) = (&symbol.number_mapping, &text)
        && let Some(number) = mapping.get(text.as_ref())
    {
        return Ok(Number::Plain(*number));
    }
    Err(Unusable::Bad(match text {
        Some(text) => format!("`{}` is not a number", shorten(&text)),
        None => "not a number".to_owned(),
    }))
}

/// At most 64 characters of a device's value in a message.
fn shorten(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
