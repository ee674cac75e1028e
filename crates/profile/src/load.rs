//! Loading profile sets: the bundled files, user directories overriding them by name,
//! per-file validation with located errors, `extends` flattening (recursive, cycles
//! refused, a base reached twice merged once), and compiling.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nocwatch_yaml::{Context, Location, Node, NodeKind};

use crate::compile::{self, InterfaceField};
use crate::matching::SysObjectIdPattern;
use crate::schema::{MetricTag, MetricTypeName, ProfileFile, SymbolOrName};
use crate::{Profile, ProfileError};

/// The profiles shipped in the binary (repo root `profiles/`): name and YAML text.
pub(crate) const BUNDLED: &[(&str, &str)] = &[
    ("_base", include_str!("../../../profiles/_base.yaml")),
    ("_generic-if", include_str!("../../../profiles/_generic-if.yaml")),
    ("_generic-ip", include_str!("../../../profiles/_generic-ip.yaml")),
    ("_generic-tcp", include_str!("../../../profiles/_generic-tcp.yaml")),
    ("_generic-udp", include_str!("../../../profiles/_generic-udp.yaml")),
    ("_generic-host-resources", include_str!("../../../profiles/_generic-host-resources.yaml")),
    ("_generic-ospf", include_str!("../../../profiles/_generic-ospf.yaml")),
    ("_generic-bgp4", include_str!("../../../profiles/_generic-bgp4.yaml")),
    ("_cisco-generic", include_str!("../../../profiles/_cisco-generic.yaml")),
    ("_cisco-catalyst", include_str!("../../../profiles/_cisco-catalyst.yaml")),
    ("cisco-catalyst", include_str!("../../../profiles/cisco-catalyst.yaml")),
    ("_juniper", include_str!("../../../profiles/_juniper.yaml")),
    ("_juniper-junos-generic", include_str!("../../../profiles/_juniper-junos-generic.yaml")),
    ("_juniper-scu", include_str!("../../../profiles/_juniper-scu.yaml")),
    ("_juniper-dcu", include_str!("../../../profiles/_juniper-dcu.yaml")),
    ("_juniper-userfirewall", include_str!("../../../profiles/_juniper-userfirewall.yaml")),
    ("juniper-srx", include_str!("../../../profiles/juniper-srx.yaml")),
    ("juniper-mx", include_str!("../../../profiles/juniper-mx.yaml")),
    ("generic-device", include_str!("../../../profiles/generic-device.yaml")),
];

/// The profile used for a device no sysObjectID pattern matches.
pub(crate) const FALLBACK: &str = "generic-device";

/// One parsed, validated file.
pub(crate) struct Source {
    pub file: PathBuf,
    pub bundled: bool,
    pub node: Node,
    pub def: ProfileFile,
}

fn error(file: &Path, location: Option<Location>, field: &str, message: impl Into<String>) -> ProfileError {
    let location = location.unwrap_or_default();
    ProfileError {
        file: file.to_owned(),
        line: location.line,
        column: location.column,
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Parses and validates one profile file.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Source, ProfileError> {
    let to_error = |e: nocwatch_yaml::Error| error(file, e.location, e.path.as_deref().unwrap_or(""), e.message);
    let node = nocwatch_yaml::parse(text).map_err(to_error)?;
    if !matches!(node.kind, NodeKind::Mapping(_)) && !node.is_null() {
        return Err(error(file, Some(node.location), "", "a profile must be a mapping"));
    }
    let def: ProfileFile = nocwatch_yaml::from_node(&node, "", &Context::LITERAL).map_err(to_error)?;
    let source = Source { file: file.to_owned(), bundled: false, node, def };
    validate(&source)?;
    Ok(source)
}

/// Where `path` (`metrics[3].symbols[0]`) is in the file; the nearest existing parent if
/// the key itself is absent.
fn locate(root: &Node, path: &str) -> Location {
    let mut node = root;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indexes) = match segment.find('[') {
            Some(at) => (&segment[..at], &segment[at..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            let NodeKind::Mapping(entries) = &node.kind else {
                break;
            };
            match entries.iter().find(|(k, _)| k.key_text() == Some(key)) {
                Some((_, value)) => node = value,
                None => break,
            }
        }
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let (NodeKind::Sequence(items), Ok(index)) = (&node.kind, index.parse::<usize>()) else {
                break;
            };
            match items.get(index) {
                Some(item) => node = item,
                None => break,
            }
        }
    }
    node.location
}

/// Rules that span fields, checked per file so errors point into the file that has them.
fn validate(source: &Source) -> Result<(), ProfileError> {
    let fail = |path: &str, message: String| Err(error(&source.file, Some(locate(&source.node, path)), path, message));
    let def = &source.def;

    for (i, pattern) in def.sysobjectid.iter().enumerate() {
        if let Err(message) = SysObjectIdPattern::parse(pattern) {
            return fail(&format!("sysobjectid[{i}]"), message);
        }
    }
    for (i, name) in def.extends.iter().enumerate() {
        if profile_name(name).is_empty() {
            return fail(&format!("extends[{i}]"), "empty profile name".to_owned());
        }
    }
    for (i, tag) in def.static_tags.iter().enumerate() {
        if tag.trim().is_empty() {
            return fail(&format!("static_tags[{i}]"), "empty tag".to_owned());
        }
    }
    for (i, tag) in def.metric_tags.iter().enumerate() {
        let path = format!("metric_tags[{i}]");
        check_tag(tag, false).or_else(|message| fail(&path, message))?;
    }
    for (i, metric) in def.metrics.iter().enumerate() {
        let path = format!("metrics[{i}]");
        let scalar = metric.symbol.is_some() || metric.oid.is_some() || metric.name.is_some();
        let table = !metric.symbols.is_empty();
        if scalar == table {
            let message = if scalar {
                "give either `symbol` (a scalar) or `table` and `symbols`, not both"
            } else {
                "a metric needs `symbol` (a scalar) or `table` and `symbols`"
            };
            return fail(&path, message.to_owned());
        }
        let forced = metric.metric_type.or(metric.forced_type);
        if forced == Some(MetricTypeName::FlagStream) {
            let options = metric.options.clone().unwrap_or_default();
            if options.placement.is_none_or(|p| p == 0) || options.metric_suffix.as_deref().is_none_or(str::is_empty) {
                return fail(
                    &format!("{path}.options"),
                    "flag_stream needs `options: {placement: N (1-based), metric_suffix: NAME}`".to_owned(),
                );
            }
        }
        if scalar {
            let (oid, name, symbol_path) = match &metric.symbol {
                Some(symbol) => (symbol.oid.is_some(), symbol.name.is_some(), format!("{path}.symbol")),
                None => (metric.oid.is_some(), metric.name.is_some(), path.clone()),
            };
            if !oid {
                return fail(&symbol_path, "missing `OID`".to_owned());
            }
            if !name {
                return fail(&symbol_path, "missing `name`".to_owned());
            }
            if metric.symbol.as_ref().is_some_and(|s| s.constant_value_one) {
                return fail(&symbol_path, "`constant_value_one` is only for table symbols".to_owned());
            }
            for (j, tag) in metric.metric_tags.iter().enumerate() {
                check_tag(tag, false).or_else(|message| fail(&format!("{path}.metric_tags[{j}]"), message))?;
            }
        } else {
            for (j, symbol) in metric.symbols.iter().enumerate() {
                let symbol_path = format!("{path}.symbols[{j}]");
                if symbol.name.as_deref().is_none_or(str::is_empty) {
                    return fail(&symbol_path, "missing `name`".to_owned());
                }
                if symbol.oid.is_none() && !symbol.constant_value_one {
                    return fail(&symbol_path, "missing `OID` (or `constant_value_one: true`)".to_owned());
                }
            }
            for (j, tag) in metric.metric_tags.iter().enumerate() {
                check_tag(tag, true).or_else(|message| fail(&format!("{path}.metric_tags[{j}]"), message))?;
            }
        }
    }
    for (resource, config) in &def.metadata {
        let path = format!("metadata.{resource}");
        let known_fields: Option<&[&str]> = match resource.as_str() {
            "device" => None,
            "interface" => Some(InterfaceField::NAMES),
            _ => {
                return fail(
                    &path,
                    format!("unknown metadata resource `{resource}` (expected `device` or `interface`)"),
                );
            }
        };
        for (name, field) in &config.fields {
            let field_path = format!("{path}.fields.{name}");
            if let Some(known) = known_fields
                && !known.contains(&name.as_str())
            {
                return fail(&field_path, format!("unknown interface field `{name}` (expected one of {known:?})"));
            }
            let symbols = field.symbol.iter().chain(&field.symbols);
            if field.value.is_none() && field.symbol.is_none() && field.symbols.is_empty() {
                return fail(&field_path, "a metadata field needs `value`, `symbol` or `symbols`".to_owned());
            }
            for symbol in symbols {
                if symbol.oid.is_none() {
                    return fail(&field_path, "missing `OID`".to_owned());
                }
            }
        }
        for (j, tag) in config.id_tags.iter().enumerate() {
            check_tag(tag, true).or_else(|message| fail(&format!("{path}.id_tags[{j}]"), message))?;
        }
    }
    Ok(())
}

/// A metric tag's own rules; `in_table` allows `index` and columns.
fn check_tag(tag: &MetricTag, in_table: bool) -> Result<(), String> {
    let named = tag.tag.as_deref().is_some_and(|t| !t.is_empty());
    if !named && tag.match_.is_none() {
        return Err("a metric tag needs `tag` (or `match` and `tags`)".to_owned());
    }
    if tag.match_.is_some() && !named && tag.tags.is_empty() {
        return Err("`match` needs `tags`".to_owned());
    }
    if tag.column.is_some() && tag.symbol.is_some() {
        return Err("give either `column` or `symbol`, not both".to_owned());
    }
    if let (Some(_), Some(SymbolOrName::Symbol(symbol))) = (&tag.oid, &tag.symbol)
        && symbol.oid.is_some()
    {
        return Err("give either `OID` or `symbol.OID`, not both".to_owned());
    }
    // A symbol without OID reads the row index itself (netdata: `index_transform` +
    // `format`), so it is an index tag.
    let symbol = compile::tag_symbol(tag).filter(|s| s.oid.is_some());
    let index_only = symbol.is_none() && (tag.index.is_some() || !tag.index_transform.is_empty());
    if index_only && !in_table {
        return Err("index tags are for table metrics".to_owned());
    }
    match (tag.index.or(index_only.then_some(1)), &symbol, in_table) {
        (Some(0), _, _) => return Err("`index` is 1-based".to_owned()),
        (Some(_), _, false) => return Err("`index` tags are for table metrics".to_owned()),
        (None, None, _) => return Err("a metric tag needs `index`, `column`, `symbol` or `OID`".to_owned()),
        _ => {}
    }
    for rule in &tag.index_transform {
        if rule.end.is_some_and(|end| end < rule.start) {
            return Err(format!("index_transform: end {} is before start {}", rule.end.unwrap_or(0), rule.start));
        }
    }
    Ok(())
}

/// `_base.yaml` -> `_base`.
pub(crate) fn profile_name(reference: &str) -> &str {
    let trimmed = reference.trim();
    trimmed.strip_suffix(".yaml").or_else(|| trimmed.strip_suffix(".yml")).unwrap_or(trimmed)
}

/// Merges `name`'s bases into `into`, depth first in `extends` order.
fn flatten(
    name: &str,
    sources: &BTreeMap<String, Source>,
    path: &mut Vec<String>,
    merged: &mut HashSet<String>,
    into: &mut ProfileFile,
) -> Result<(), ProfileError> {
    let Some(source) = sources.get(name) else {
        return Ok(());
    };
    for (i, reference) in source.def.extends.iter().enumerate() {
        let base = profile_name(reference);
        let field = format!("extends[{i}]");
        let at = Some(locate(&source.node, &field));
        if path.iter().any(|p| p == base) {
            let cycle = path.iter().map(String::as_str).chain([base]).collect::<Vec<_>>().join(" -> ");
            return Err(error(&source.file, at, &field, format!("`extends` cycle: {cycle}")));
        }
        let Some(base_source) = sources.get(base) else {
            return Err(error(
                &source.file,
                at,
                &field,
                format!("no profile named `{base}` (user directories or bundled)"),
            ));
        };
        if !merged.insert(base.to_owned()) {
            continue;
        }
        merge(into, &base_source.def);
        path.push(base.to_owned());
        flatten(base, sources, path, merged, into)?;
        path.pop();
    }
    Ok(())
}

/// Adds a base's definitions after the profile's own (Datadog's merge: lists appended,
/// metadata fields the profile lacks taken from the base). `sysobjectid` is not inherited.
fn merge(into: &mut ProfileFile, base: &ProfileFile) {
    into.metrics.extend(base.metrics.iter().cloned());
    into.metric_tags.extend(base.metric_tags.iter().cloned());
    into.static_tags.extend(base.static_tags.iter().cloned());
    if into.device.as_ref().and_then(|d| d.vendor.as_ref()).is_none()
        && let Some(vendor) = base.device.as_ref().and_then(|d| d.vendor.clone())
    {
        into.device.get_or_insert_with(Default::default).vendor = Some(vendor);
    }
    for (resource, config) in &base.metadata {
        let target = into.metadata.entry(resource.clone()).or_default();
        for (field, value) in &config.fields {
            target.fields.entry(field.clone()).or_insert_with(|| value.clone());
        }
        if target.id_tags.is_empty() {
            target.id_tags = config.id_tags.clone();
        }
    }
}

/// Flattens and compiles every source.
pub(crate) fn build(sources: &BTreeMap<String, Source>) -> Result<BTreeMap<String, Arc<Profile>>, ProfileError> {
    let mut profiles = BTreeMap::new();
    for (name, source) in sources {
        let mut flat = source.def.clone();
        let mut path = vec![name.clone()];
        let mut merged = HashSet::from([name.clone()]);
        flatten(name, sources, &mut path, &mut merged, &mut flat)?;
        let patterns = source.def.sysobjectid.iter().filter_map(|p| SysObjectIdPattern::parse(p).ok()).collect();
        let device_vendor =
            flat.device.as_ref().and_then(|d| d.vendor.clone()).or_else(|| {
                flat.metadata.get("device").and_then(|d| d.fields.get("vendor")).and_then(|f| f.value.clone())
            });
        let (compiled, plan) = compile::compile(&flat);
        profiles.insert(
            name.clone(),
            Arc::new(Profile {
                name: name.clone(),
                source: source.file.clone(),
                bundled: source.bundled,
                sys_object_ids: patterns,
                // Like `sysobjectid`, not inherited.
                selectors: source.def.selector.clone(),
                device_vendor,
                plan,
                compiled,
            }),
        );
    }
    Ok(profiles)
}

/// Bundled sources, then each user directory's `*.yaml` / `*.yml` (later ones win).
pub(crate) fn sources(user_dirs: &[PathBuf]) -> Result<BTreeMap<String, Source>, ProfileError> {
    let mut sources = BTreeMap::new();
    for (name, text) in BUNDLED {
        let file = PathBuf::from(format!("<bundled>/{name}.yaml"));
        let mut source = parse(&file, text)?;
        source.bundled = true;
        sources.insert((*name).to_owned(), source);
    }
    for dir in user_dirs {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| error(dir, None, "", format!("cannot read the profile directory: {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml") && path.is_file())
            .collect();
        files.sort();
        for file in files {
            let Some(name) = file.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let text =
                std::fs::read_to_string(&file).map_err(|e| error(&file, None, "", format!("cannot read: {e}")))?;
            sources.insert(name, parse(&file, &text)?);
        }
    }
    Ok(sources)
}
