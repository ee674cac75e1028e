//! The one config file: loading, environment interpolation, validation and the effective
//! (redacted) view printed by `nocwatch check-config`.
//!
//! Layout of the file: global sections (`agent`, `log`, `admin`, `shutdown`), then
//! `sources:` and `sinks:`, each a mapping from a component id to its settings, with `type:`
//! choosing the component. Every key is documented in `docs/config.md`.

pub mod inline;
pub mod types;
/// The YAML layer (shared with the SNMP profiles, hence its own crate).
pub use nocwatch_yaml as yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use types::{ByteSize, Duration, Secret};
pub use yaml::interpolate::{Env, ProcessEnv};

use crate::pipeline::BufferConfig;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use yaml::{Context, Location, Node, NodeKind, from_node, join_path};

/// The config nocwatch runs when given none: receive syslog on an unprivileged port and
/// print events, with no SaaS account needed.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yaml");

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    #[serde(flatten)]
    pub global: GlobalConfig,
    pub sources: BTreeMap<String, SourceConfig>,
    pub sinks: BTreeMap<String, SinkComponent>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub agent: AgentConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub shutdown: ShutdownConfig,
    /// MIB files for names (traps, `nocwatch snmp`).
    pub mibs: crate::mibs::MibsConfig,
}

/// Top-level keys read apart from [`GlobalConfig`].
const COMPONENT_SECTIONS: [&str; 2] = ["sources", "sinks"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The agent's own host name, for events about nocwatch itself. Default: the system's.
    pub hostname: Option<String>,
    /// Where nocwatch keeps state: disk buffers (`<data_dir>/buffers/<sink>`), later the
    /// local store.
    pub data_dir: PathBuf,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig { hostname: None, data_dir: PathBuf::from("/var/lib/nocwatch") }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `nocwatch=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".to_owned(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where `/health/live`, `/health/ready`, `/metrics` and `/status` are served.
    pub address: SocketAddr,
    pub enabled: bool,
    /// When set, `/metrics` and `/status` need `Authorization: Bearer <token>`; the health
    /// endpoints stay open for load balancers and orchestrators.
    pub auth_token: Option<Secret>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { address: SocketAddr::from(([127, 0, 0, 1], 8686)), enabled: true, auth_token: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM: readiness is 503 and health ports are closed, but sources keep
    /// receiving this long so the load balancer can deregister the target.
    pub drain_period: Duration,
    /// Then sinks get this long to deliver what they hold.
    pub flush_timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { drain_period: Duration::from_secs(10), flush_timeout: Duration::from_secs(10) }
    }
}

/// A sink with the settings every sink has.
#[derive(Debug, Clone, Serialize)]
pub struct SinkComponent {
    /// Source ids this sink takes events from. Default: every source.
    pub inputs: Option<Vec<String>>,
    pub buffer: BufferConfig,
    #[serde(flatten)]
    pub config: SinkConfig,
}

/// The settings every sink has, read before the sink's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkCommon {
    inputs: Option<Vec<String>>,
    #[serde(default)]
    buffer: BufferConfig,
}
const SINK_COMMON_KEYS: [&str; 2] = ["inputs", "buffer"];

/// A component's settings refused by its `validate`: the reason, and the key it is about
/// when there is one (a path below the component: `endpoint`, `retry.max_backoff`), so the
/// error points at that key rather than at the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: Option<String>,
    pub message: String,
}

impl Invalid {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid { key: Some(key.into()), message: message.into() }
    }
}

impl From<String> for Invalid {
    fn from(message: String) -> Invalid {
        Invalid { key: None, message }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{key}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A config that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub error: yaml::Error,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(Location { line, column }) = self.error.location {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": ")?;
        if let Some(path) = self.error.path.as_deref().filter(|p| !p.is_empty()) {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.error.message)
    }
}

impl std::error::Error for ConfigError {}

/// Loads and validates the file at `path`.
pub fn load_file(path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: name.clone(),
        error: yaml::Error::new(format!("cannot read the config file: {e}")),
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    load_str(&source, &name, &base_dir, env)
}

/// Loads and validates a config given as text; `name` is used in errors.
pub fn load_str(source: &str, name: &str, base_dir: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
    let located = |error| ConfigError { file: name.to_owned(), error };
    let mut root = yaml::parse(source).map_err(located)?;
    if !matches!(root.kind, NodeKind::Mapping(_)) && !root.is_null() {
        return Err(located(yaml::Error::at("the config must be a mapping of sections", root.location, "")));
    }
    // `x-` sections hold YAML anchors for reuse (as in compose files); they are not config.
    if let NodeKind::Mapping(entries) = &mut root.kind {
        entries.retain(|(key, _)| !key.key_text().is_some_and(|k| k.starts_with("x-")));
    }
    let ctx = Context { env: Some(env), base_dir: Some(base_dir) };
    // Kept whole for locating cross-field errors after the sections are taken apart.
    let document = root.clone();
    let source_nodes = components(root.take_key("sources"), "sources", SourceConfig::TYPES).map_err(located)?;
    let sink_nodes = components(root.take_key("sinks"), "sinks", SinkConfig::TYPES).map_err(located)?;
    let global: GlobalConfig =
        from_node(&root, "", &ctx).map_err(|e| located(e.with_more_keys("", &COMPONENT_SECTIONS)))?;

    let mut sources = BTreeMap::new();
    for (id, node) in source_nodes {
        let config: SourceConfig = from_node(&node, &join_path("sources", &id), &ctx).map_err(located)?;
        sources.insert(id, config);
    }

    let mut sinks = BTreeMap::new();
    for (id, mut node) in sink_nodes {
        let path = join_path("sinks", &id);
        let mut common = Node { location: node.location, kind: NodeKind::Mapping(Vec::new()) };
        for key in SINK_COMMON_KEYS {
            if let (Some(value), NodeKind::Mapping(entries)) = (node.take_key(key), &mut common.kind) {
                let key_node = Node {
                    location: value.location,
                    kind: NodeKind::Scalar { text: key.to_owned(), quoted: true, from_file: false },
                };
                entries.push((key_node, value));
            }
        }
        let common: SinkCommon = from_node(&common, &path, &ctx).map_err(located)?;
        let config: SinkConfig =
            from_node(&node, &path, &ctx).map_err(|e| located(e.with_more_keys(&path, &SINK_COMMON_KEYS)))?;
        sinks.insert(id, SinkComponent { inputs: common.inputs, buffer: common.buffer, config });
    }

    let config = Config { global, sources, sinks };
    validate(&config, &document).map_err(located)?;
    Ok(config)
}

/// The `id: {type: ..., ...}` entries of `sources:` or `sinks:`, with ids checked.
fn components(section: Option<Node>, name: &str, types: &[&str]) -> Result<Vec<(String, Node)>, yaml::Error> {
    let Some(section) = section else {
        return Ok(Vec::new());
    };
    if section.is_null() {
        return Ok(Vec::new());
    }
    let NodeKind::Mapping(entries) = section.kind else {
        return Err(yaml::Error::at(
            format!("`{name}` must be a mapping from an id to its settings"),
            section.location,
            name,
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let id = key.key_text().unwrap_or_default().to_owned();
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(yaml::Error::at(
                format!("`{id}` is not a valid id: use letters, digits, `_` and `-`"),
                key.location,
                name,
            ));
        }
        let has_type = match &value.kind {
            NodeKind::Mapping(entries) => entries.iter().any(|(k, _)| k.key_text() == Some("type")),
            _ => false,
        };
        if !has_type {
            let list: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
            return Err(yaml::Error::at(
                format!("missing required key `type` (one of {})", list.join(", ")),
                value.location,
                &join_path(name, &id),
            ));
        }
        out.push((id, value));
    }
    Ok(out)
}

/// Cross-field checks: references resolve, addresses don't collide.
fn validate(config: &Config, root: &Node) -> Result<(), yaml::Error> {
    let global = &config.global;
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&global.log.level) {
        return Err(yaml::Error::at(
            format!("not a valid log filter: {e}"),
            locate(root, &["log", "level"]),
            "log.level",
        ));
    }
    if global.admin.auth_token.as_ref().is_some_and(|token| token.expose().trim().is_empty()) {
        // An empty secret (unset variable, empty mounted file) must not silently open the API.
        return Err(yaml::Error::at(
            "is empty: give a token, or remove the key to serve without one",
            locate(root, &["admin"]),
            "admin.auth_token",
        ));
    }
    for (id, sink) in &config.sinks {
        sink.config.validate().map_err(|e| {
            let mut path = vec!["sinks", id.as_str()];
            path.extend(e.key.iter().flat_map(|key| key.split('.')));
            yaml::Error::at(e.message, locate(root, &path), &path.join("."))
        })?;
    }
    for (id, source) in &config.sources {
        source.validate().map_err(|e| yaml::Error::at(e, locate(root, &["sources", id]), &format!("sources.{id}")))?;
    }
    let source_ids: Vec<&str> = config.sources.keys().map(String::as_str).collect();
    for (id, sink) in &config.sinks {
        for input in sink.inputs.iter().flatten() {
            if !config.sources.contains_key(input) {
                let location = locate(root, &["sinks", id, "inputs"]);
                let hint = yaml::suggestion(input, &source_ids);
                return Err(yaml::Error::at(
                    format!("`{input}` is not a source id{hint}"),
                    location,
                    &format!("sinks.{id}.inputs"),
                ));
            }
        }
    }

    let mut bound: Vec<(SocketAddr, bool, String)> = Vec::new();
    if config.global.admin.enabled {
        bound.push((config.global.admin.address, false, "admin.address".to_owned()));
    }
    for (id, sink) in &config.sinks {
        if let SinkConfig::Prometheus(prometheus) = &sink.config {
            bound.push((prometheus.listens(), false, format!("sinks.{id}.address")));
        }
        if let SinkConfig::LocalStore(store) = &sink.config
            && let Some(address) = store.web_address()
        {
            bound.push((address, false, format!("sinks.{id}.web.address")));
        }
    }
    for (id, source) in &config.sources {
        for listen in source.listens() {
            bound.push((listen.address, listen.udp, format!("sources.{id}.{}", listen.key)));
        }
    }
    for (i, (addr, udp, path)) in bound.iter().enumerate() {
        if let Some((_, _, other)) = bound[..i].iter().find(|(a, u, _)| a == addr && u == udp) {
            let segments: Vec<&str> = path.split('.').collect();
            return Err(yaml::Error::at(
                format!("{} address {addr} is already used by `{other}`", if *udp { "UDP" } else { "TCP" }),
                locate(root, &segments),
                path,
            ));
        }
    }
    Ok(())
}

/// The location of the node at `path` (or of its nearest existing ancestor).
fn locate(root: &Node, path: &[&str]) -> Location {
    let mut node = root;
    for key in path {
        let NodeKind::Mapping(entries) = &node.kind else {
            break;
        };
        match entries.iter().find(|(k, _)| k.key_text() == Some(key)) {
            Some((_, value)) => node = value,
            None => break,
        }
    }
    node.location
}

impl Config {
    /// The effective config as YAML, with every secret redacted.
    pub fn to_redacted_yaml(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let mut out = String::new();
        yaml_emit(&value, 0, &mut out);
        out
    }
}

/// Emits JSON values as block YAML; strings are double-quoted (JSON escapes are valid YAML).
fn yaml_emit(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::Object(inner) if !inner.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml_emit(value, indent + 1, out);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml_emit(value, indent + 1, out);
                    }
                    scalar => out.push_str(&format!("{pad}{key}: {}\n", yaml_scalar(scalar))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        out.push_str(&format!("{pad}-\n"));
                        yaml_emit(item, indent + 1, out);
                    }
                    scalar => out.push_str(&format!("{pad}- {}\n", yaml_scalar(scalar))),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", yaml_scalar(scalar))),
    }
}

fn yaml_scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Object(_) => "{}".to_owned(),
        serde_json::Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
