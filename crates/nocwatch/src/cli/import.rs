//! `nocwatch import datadog-snmp conf.yaml`: turns a Datadog Agent `snmp.d/conf.yaml`
//! (`init_config` + `instances`) into an `snmp` source of nocwatch's config, printed as
//! YAML on stdout (what could not be carried over is listed on stderr and in comments).
//!
//! The seed renders its file from an entrykit (Go template) form; that form is read
//! too: `{{ var "NAME" }}` becomes `${NAME}`, and an instance inside
//! `{{ range $_, $ip := var "IP_ADDRESSES" | split "," }} ... {{ end }}` becomes
//! `addresses: ${IP_ADDRESSES}` (nocwatch splits comma lists from a variable itself).
//!
//! Devices whose settings are all shared become one `addresses` list with the shared
//! settings on the source; the others become `devices` entries. Instances with
//! `network_address` (Datadog autodiscovery) become a source with `discovery` each.
//! Datadog's defaults that differ from nocwatch's (15 s interval, 5 s timeout, 3
//! retries) are written out so that behaviour is unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::yaml::{self, Node, NodeKind};

/// The placeholder an instance's `ip_address` gets inside a `range` over a variable.
const RANGE_MARK: &str = "\u{1}range:";

/// Datadog's defaults (snmp check, core loader).
const DD_INTERVAL_SECS: u64 = 15;
const DD_TIMEOUT_SECS: u64 = 5;
const DD_RETRIES: u64 = 3;

pub fn datadog_snmp(path: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match convert(&text) {
        Ok(import) => {
            print!("{}", import.yaml);
            for note in &import.notes {
                eprintln!("note: {note}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The result of an import: the config text, and what was not carried over.
#[derive(Debug)]
pub struct Import {
    pub yaml: String,
    pub notes: Vec<String>,
}

/// Rewrites the entrykit template constructs the seed uses into plain YAML.
fn untemplate(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut ranges: Vec<(String, String)> = Vec::new();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            return Err("a `{{` without its `}}`".to_owned());
        };
        let inner = rest[start + 2..start + len].trim().trim_start_matches('-').trim_end_matches('-').trim();
        rest = &rest[start + len + 2..];
        let words: Vec<&str> = inner.split_whitespace().collect();
        match words.as_slice() {
            ["end"] => {
                ranges.pop();
            }
            ["range", vars @ .., ":=", "var", name, "|", "split", sep] if !vars.is_empty() => {
                if sep.trim_matches('"') != "," {
                    return Err(format!("`{{{{ {inner} }}}}`: only comma-separated lists can be imported"));
                }
                let var = vars.last().map(|v| v.trim_end_matches(',')).unwrap_or_default().to_owned();
                ranges.push((var, name.trim_matches('"').to_owned()));
            }
            ["var", name] => {
                write!(out, "${{{}}}", name.trim_matches('"')).ok();
            }
            ["var", name, "|", "default", value] => {
                write!(out, "${{{}:-{}}}", name.trim_matches('"'), value.trim_matches('"')).ok();
            }
            [var] if var.starts_with('$') => match ranges.iter().rev().find(|(v, _)| v == var) {
                Some((_, name)) => {
                    write!(out, "{RANGE_MARK}{name}").ok();
                }
                None => return Err(format!("`{{{{ {inner} }}}}`: `{var}` is not a range variable")),
            },
            _ => {
                return Err(format!(
                    "template construct `{{{{ {inner} }}}}` cannot be imported; render the file first"
                ));
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn scalar(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.as_str()),
        _ => None,
    }
}

fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.kind {
        NodeKind::Mapping(entries) => entries,
        _ => &[],
    }
}

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    entries(node).iter().find(|(k, _)| k.key_text() == Some(key)).map(|(_, v)| v)
}

fn get_str<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    get(node, key).and_then(scalar)
}

fn list(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Sequence(items)) => items.iter().filter_map(scalar).map(str::to_owned).collect(),
        Some(NodeKind::Scalar { .. }) => node.and_then(scalar).map(|s| vec![s.to_owned()]).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A number of seconds as a duration (`15s`); Datadog writes seconds, maybe fractional.
fn seconds(text: &str) -> Result<String, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("`{text}` is not a positive number of seconds"));
    }
    Ok(if value.fract() == 0.0 {
        format!("{}s", value as u64)
    } else {
        format!("{}ms", (value * 1000.0).round() as u64)
    })
}

/// Keys of a Datadog instance that this importer understands.
const INSTANCE_KEYS: &[&str] = &[
    "ip_address",
    "port",
    "community_string",
    "snmp_version",
    "user",
    "authProtocol",
    "authKey",
    "privProtocol",
    "privKey",
    "context_name",
    "tags",
    "profile",
    "min_collection_interval",
    "timeout",
    "retries",
    "namespace",
    "use_device_id_as_hostname",
    "network_address",
    "ignored_ip_addresses",
    "discovery_interval",
    "discovery_allowed_failures",
    "workers",
    "interface_configs",
    "oid_batch_size",
    "bulk_max_repetitions",
    "loader",
];

/// One instance's credentials and per-device settings, as nocwatch keys.
#[derive(Debug, Clone, Default, PartialEq)]
struct Settings {
    /// `(key, rendered value)` in output order; credentials shared by every device of a
    /// source are moved up to the source.
    credentials: Vec<(&'static str, String)>,
    device: Vec<(&'static str, String)>,
}

fn instance_settings(instance: &Node) -> Result<Settings, String> {
    let mut settings = Settings::default();
    if let Some(version) = get_str(instance, "snmp_version") {
        let version = match version.trim() {
            "1" => "1",
            "2" | "2c" => "2c",
            "3" => "3",
            other => return Err(format!("snmp_version `{other}`: expected 1, 2 or 3")),
        };
        settings.credentials.push(("version", q(version)));
    }
    for (dd, ours) in [
        ("community_string", "community"),
        ("user", "user"),
        ("authProtocol", "auth_protocol"),
        ("authKey", "auth_key"),
        ("privProtocol", "priv_protocol"),
        ("privKey", "priv_key"),
        ("context_name", "context_name"),
    ] {
        if let Some(value) = get_str(instance, dd) {
            settings.credentials.push((ours, q(value)));
        }
    }
    if let Some(port) = get_str(instance, "port") {
        settings.device.push(("port", port.trim().to_owned()));
    }
    if let Some(profile) = get_str(instance, "profile") {
        settings.device.push(("profile", q(profile)));
    }
    if let Some(interval) = get_str(instance, "min_collection_interval") {
        settings.device.push(("interval", q(&seconds(interval)?)));
    }
    let tags = list(get(instance, "tags"));
    if !tags.is_empty() {
        let tags: Vec<String> = tags.iter().map(|t| q(t)).collect();
        settings.device.push(("tags", format!("[{}]", tags.join(", "))));
    }
    if let Some(Node { kind: NodeKind::Sequence(configs), .. }) = get(instance, "interface_configs") {
        let mut text = String::new();
        for config in configs {
            text.push_str("\n  -");
            for key in ["match_field", "match_value", "in_speed", "out_speed"] {
                if let Some(value) = get_str(config, key) {
                    let value = if key.ends_with("speed") { value.to_owned() } else { q(value) };
                    write!(text, "\n    {key}: {value}").ok();
                }
            }
            let tags = list(get(config, "tags"));
            if !tags.is_empty() {
                let tags: Vec<String> = tags.iter().map(|t| q(t)).collect();
                write!(text, "\n    tags: [{}]", tags.join(", ")).ok();
            }
        }
        settings.device.push(("interfaces", text));
    }
    Ok(settings)
}

/// One nocwatch source being assembled.
#[derive(Default)]
struct SourceOut {
    namespace: Option<String>,
    use_device_id_as_hostname: bool,
    timeout: Option<String>,
    retries: Option<String>,
    oid_batch_size: Option<String>,
    max_repetitions: Option<String>,
    /// Devices: address (or `${VAR}` list) and settings.
    devices: Vec<(String, bool, Settings)>,
    discovery: Option<String>,
    discovery_credentials: Vec<(&'static str, String)>,
}

pub fn convert(text: &str) -> Result<Import, String> {
    let text = untemplate(text)?;
    let root = yaml::parse(&text).map_err(|e| match e.location {
        Some(at) => format!("{}:{}: {}", at.line, at.column, e.message),
        None => e.message,
    })?;
    let mut notes = Vec::new();
    let init =
        get(&root, "init_config").cloned().unwrap_or(Node { location: root.location, kind: NodeKind::Mapping(vec![]) });
    let Some(Node { kind: NodeKind::Sequence(instances), .. }) = get(&root, "instances") else {
        return Err("no `instances:` list".to_owned());
    };
    let init_hostname = get_str(&init, "use_device_id_as_hostname").is_some_and(|v| v == "true");
    let init_interval = get_str(&init, "min_collection_interval").map(seconds).transpose()?;
    let init_namespace = get_str(&init, "namespace").map(str::to_owned);
    for (key, _) in entries(&init) {
        match key.key_text().unwrap_or_default() {
            "use_device_id_as_hostname"
            | "min_collection_interval"
            | "namespace"
            | "oid_batch_size"
            | "bulk_max_repetitions" => {}
            "loader" => {}
            "profiles" => notes.push(
                "init_config.profiles: copy the profile files into a directory and list it in `profile_dirs` \
                 (nocwatch reads Datadog profile files unchanged)"
                    .to_owned(),
            ),
            other => notes.push(format!("init_config.{other} is not imported")),
        }
    }
    let mut sources: BTreeMap<String, SourceOut> = BTreeMap::new();
    for (i, instance) in instances.iter().enumerate() {
        for (key, _) in entries(instance) {
            let key = key.key_text().unwrap_or_default();
            if !INSTANCE_KEYS.contains(&key) {
                notes.push(format!("instances[{i}].{key} is not imported"));
            }
        }
        let settings = instance_settings(instance).map_err(|e| format!("instances[{i}]: {e}"))?;
        let namespace = get_str(instance, "namespace").map(str::to_owned).or_else(|| init_namespace.clone());
        let discovery = get_str(instance, "network_address");
        let id = match (&namespace, discovery) {
            (_, Some(_)) => {
                format!("snmp_discovery_{}", sources.keys().filter(|k| k.starts_with("snmp_discovery")).count() + 1)
            }
            (Some(ns), None) if ns != "default" => {
                format!("snmp_{}", ns.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
            }
            _ => "snmp".to_owned(),
        };
        let source = sources.entry(id).or_default();
        source.namespace = namespace.filter(|ns| ns != "default");
        source.use_device_id_as_hostname |=
            init_hostname || get_str(instance, "use_device_id_as_hostname").is_some_and(|v| v == "true");
        for (key, ours, slot) in [
            ("timeout", "timeout", &mut source.timeout),
            ("retries", "retries", &mut source.retries),
            ("oid_batch_size", "oid_batch_size", &mut source.oid_batch_size),
            ("bulk_max_repetitions", "max_repetitions", &mut source.max_repetitions),
        ] {
            let value = get_str(instance, key).or_else(|| get_str(&init, key));
            if let Some(value) = value {
                let value = if key == "timeout" { q(&seconds(value)?) } else { value.trim().to_owned() };
                if slot.as_ref().is_some_and(|v| *v != value) {
                    notes.push(format!("instances[{i}].{key}: differs between instances; nocwatch has one `{ours}` per source, the first one is used"));
                } else {
                    *slot = Some(value);
                }
            }
        }
        if let Some(subnet) = discovery {
            let mut text = format!("\n      subnets: [{}]", q(subnet));
            if let Some(interval) = get_str(instance, "discovery_interval") {
                write!(text, "\n      interval: {}", q(&seconds(interval)?)).ok();
            }
            if let Some(failures) = get_str(instance, "discovery_allowed_failures") {
                write!(text, "\n      allowed_failures: {}", failures.trim()).ok();
            }
            if let Some(workers) = get_str(instance, "workers") {
                write!(text, "\n      concurrency: {}", workers.trim()).ok();
            }
            let ignored = list(get(instance, "ignored_ip_addresses"));
            if !ignored.is_empty() {
                let ignored: Vec<String> = ignored.iter().map(|a| q(a)).collect();
                write!(text, "\n      ignored_addresses: [{}]", ignored.join(", ")).ok();
            }
            let tags: Vec<String> = list(get(instance, "tags")).iter().map(|t| q(t)).collect();
            if !tags.is_empty() {
                write!(text, "\n      tags: [{}]", tags.join(", ")).ok();
            }
            source.discovery = Some(text);
            source.discovery_credentials = settings.credentials.clone();
            let mut device = settings.clone();
            device.credentials.clear();
            if let Some((_, port)) = device.device.iter().find(|(k, _)| *k == "port") {
                source.discovery_credentials.push(("port", port.clone()));
            }
            let interval = device.device.iter().find(|(k, _)| *k == "interval").map(|(_, v)| v.clone());
            if let Some(interval) = interval.or_else(|| init_interval.as_deref().map(q)) {
                source.discovery_credentials.push(("interval", interval));
            }
            continue;
        }
        let Some(address) = get_str(instance, "ip_address") else {
            return Err(format!("instances[{i}]: neither `ip_address` nor `network_address`"));
        };
        let (address, is_list) = match address.strip_prefix(RANGE_MARK) {
            Some(var) => (format!("${{{var}}}"), true),
            None => (address.to_owned(), false),
        };
        let mut settings = settings;
        if !settings.device.iter().any(|(k, _)| *k == "interval")
            && let Some(interval) = &init_interval
        {
            settings.device.push(("interval", q(interval)));
        }
        source.devices.push((address, is_list, settings));
    }
    let mut out = String::from(
        "# Imported from a Datadog Agent snmp.d/conf.yaml by `nocwatch import datadog-snmp`.\n\
         # Metric names and tags are the Datadog SNMP integration's; add a sink (e.g. datadog_metrics) to send them.\n\
         sources:\n",
    );
    for (id, source) in &sources {
        render_source(&mut out, id, source);
    }
    for note in &notes {
        writeln!(out, "# not imported: {note}").ok();
    }
    Ok(Import { yaml: out, notes })
}

fn render_source(out: &mut String, id: &str, source: &SourceOut) {
    writeln!(out, "  {id}:\n    type: snmp").ok();
    if let Some(namespace) = &source.namespace {
        writeln!(out, "    namespace: {}", q(namespace)).ok();
    }
    if source.use_device_id_as_hostname {
        writeln!(out, "    use_device_id_as_hostname: true").ok();
    }
    writeln!(out, "    timeout: {}", source.timeout.clone().unwrap_or_else(|| q(&format!("{DD_TIMEOUT_SECS}s")))).ok();
    writeln!(out, "    retries: {}", source.retries.clone().unwrap_or_else(|| DD_RETRIES.to_string())).ok();
    if let Some(size) = &source.oid_batch_size {
        writeln!(out, "    oid_batch_size: {size}").ok();
    }
    if let Some(reps) = &source.max_repetitions {
        writeln!(out, "    max_repetitions: {reps}").ok();
    }
    if let Some(discovery) = &source.discovery {
        let mut interval_written = false;
        for (key, value) in &source.discovery_credentials {
            interval_written |= *key == "interval";
            writeln!(out, "    {key}: {value}").ok();
        }
        if !interval_written {
            writeln!(out, "    interval: {}", q(&format!("{DD_INTERVAL_SECS}s"))).ok();
        }
        writeln!(out, "    discovery:{discovery}").ok();
        return;
    }
    // The credentials most devices share move up to the source; devices with other
    // credentials give theirs in full, with an explicit version so that nothing they
    // inherit from the source changes how they are polled. Devices with no other setting
    // then become a plain `addresses` list.
    let first = source.devices.first().map(|d| d.2.clone()).unwrap_or_default();
    let shared: Vec<(&'static str, String)> = source
        .devices
        .iter()
        .map(|d| &d.2.credentials)
        .max_by_key(|set| source.devices.iter().filter(|d| d.2.credentials == **set).count())
        .cloned()
        .unwrap_or_default();
    let shared_device: Vec<(&'static str, String)> = first
        .device
        .iter()
        .filter(|(key, _)| *key == "interval" || *key == "port")
        .filter(|pair| source.devices.iter().all(|d| d.2.device.contains(pair)))
        .cloned()
        .collect();
    for (key, value) in shared.iter().chain(&shared_device) {
        writeln!(out, "    {key}: {value}").ok();
    }
    if !shared_device.iter().any(|(k, _)| *k == "interval") {
        // Datadog polls every 15 s unless told otherwise; nocwatch's default is 60 s.
        writeln!(out, "    interval: {}", q(&format!("{DD_INTERVAL_SECS}s"))).ok();
    }
    let mut addresses = Vec::new();
    let mut devices = String::new();
    for (address, is_list, settings) in &source.devices {
        let mut credentials: Vec<(&'static str, String)> = Vec::new();
        if settings.credentials != shared {
            if !settings.credentials.iter().any(|(k, _)| *k == "version") {
                credentials.push(("version", q("2c")));
            }
            credentials.extend(settings.credentials.iter().cloned());
        }
        let device: Vec<_> = settings.device.iter().filter(|p| !shared_device.contains(p)).collect();
        if credentials.is_empty() && device.is_empty() {
            addresses.push((address.clone(), *is_list));
            continue;
        }
        writeln!(devices, "      - address: {}", q(address)).ok();
        for (key, value) in credentials.iter().chain(device) {
            let value = value.replace("\n  ", "\n          ");
            writeln!(devices, "        {key}: {value}").ok();
        }
    }
    match addresses.as_slice() {
        [] => {}
        [(address, _)] => {
            writeln!(out, "    addresses: {}", q(address)).ok();
        }
        many => {
            writeln!(out, "    addresses:").ok();
            for (address, _) in many {
                writeln!(out, "      - {}", q(address)).ok();
            }
        }
    }
    if !devices.is_empty() {
        writeln!(out, "    devices:\n{}", devices.trim_end()).ok();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SEED: &str = r#"# cf. https://docs.datadoghq.com/ja/network_performance_monitoring/devices/setup/?tab=snmpv2
init_config:
  loader: core
  use_device_id_as_hostname: true
instances:
{{ range $_, $ip_address := var "IP_ADDRESSES" | split "," }}
- ip_address: "{{ $ip_address }}"
  community_string: "{{ var "COMMUNITY_STRING" }}"
{{ end }}
"#;

    #[test]
    fn the_seed_template_becomes_addresses_from_the_same_variables() {
        let import = convert(SEED).unwrap();
        assert!(import.notes.is_empty(), "{:?}", import.notes);
        let yaml = &import.yaml;
        assert!(yaml.contains("    use_device_id_as_hostname: true\n"), "{yaml}");
        assert!(yaml.contains("    community: \"${COMMUNITY_STRING}\"\n"), "{yaml}");
        assert!(yaml.contains("    addresses: \"${IP_ADDRESSES}\"\n"), "{yaml}");
        assert!(yaml.contains("    interval: \"15s\"\n"), "{yaml}");
    }

    #[test]
    fn rendered_instances_with_their_own_settings_become_devices() {
        let import = convert(
            r#"
init_config:
  min_collection_interval: 30
instances:
  - ip_address: 10.0.0.1
    community_string: public
  - ip_address: 10.0.0.2
    community_string: public
  - ip_address: 10.0.0.3
    snmp_version: 3
    user: monitor
    authProtocol: sha
    authKey: authpass1
    privProtocol: aes
    privKey: privpass1
    tags: ["role:core"]
    profile: cisco-catalyst
    interface_configs:
      - match_field: name
        match_value: Gi0/1
        in_speed: 1000000
  - network_address: 10.0.1.0/24
    community_string: public
    discovery_allowed_failures: 5
    ignored_ip_addresses: [10.0.1.7]
    frobnicate: true
"#,
        )
        .unwrap();
        let yaml = &import.yaml;
        assert!(yaml.contains("    addresses:\n      - \"10.0.0.1\"\n      - \"10.0.0.2\"\n"), "{yaml}");
        assert!(yaml.contains("      - address: \"10.0.0.3\"\n        version: \"3\"\n"), "{yaml}");
        assert!(yaml.contains("        profile: \"cisco-catalyst\"\n"), "{yaml}");
        assert!(yaml.contains("  snmp_discovery_1:\n    type: snmp\n"), "{yaml}");
        assert!(
            yaml.contains("    discovery:\n      subnets: [\"10.0.1.0/24\"]\n      allowed_failures: 5\n"),
            "{yaml}"
        );
        assert_eq!(import.notes, ["instances[3].frobnicate is not imported"]);
    }

    #[test]
    fn unsupported_template_constructs_are_refused() {
        assert!(convert("instances:\n{{ if .x }}\n").unwrap_err().contains("render the file first"));
    }
}
