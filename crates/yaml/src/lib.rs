//! nocwatch's YAML layer, shared by the config file and the SNMP device profiles: a tree of
//! nodes that remember where they came from, and a serde `Deserializer` over it.
//!
//! We own this layer (instead of a serde YAML crate) because our files promise things no
//! such crate gives together: every error carries file line, column and key path; for the
//! config ([`Context::env`] set), `${VAR}` is expanded inside scalars (quoted or not)
//! *after* parsing, so a value can never inject YAML, and any field `x` may be given as
//! `x_file: PATH` ([`Context::base_dir`] set); a scalar fills a list field as a
//! comma-separated list (the seed's `IP_ADDRESSES=a,b,c`, a profile's single
//! `sysobjectid`); and unknown keys get a "did you mean". Scalars stay text until the
//! target type asks for one, so `port: ${PORT:-161}` is a number whatever the quoting.
//! Profiles are read literally (no environment, no `_file` keys).

pub mod interpolate;

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use interpolate::{Env, interpolate};

/// Where a node starts in the source file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub location: Location,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// `quoted` scalars are always strings; plain ones may be null, bool or numbers.
    /// `from_file` marks text read through a `<key>_file` (kept out of error messages).
    Scalar {
        text: String,
        quoted: bool,
        from_file: bool,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    fn empty_mapping(location: Location) -> Node {
        Node { location, kind: NodeKind::Mapping(Vec::new()) }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false, .. } if is_null_text(text))
    }

    /// The key of a mapping entry as written (keys are never interpolated).
    pub fn key_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Removes and returns the value of `key` from a mapping node.
    pub fn take_key(&mut self, key: &str) -> Option<Node> {
        let NodeKind::Mapping(entries) = &mut self.kind else {
            return None;
        };
        let at = entries.iter().position(|(k, _)| k.key_text() == Some(key))?;
        Some(entries.remove(at).1)
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A config error before it is tied to a file: message, location and key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub location: Option<Location>,
    pub path: Option<String>,
    /// For an unknown key: the key and the keys that were expected, so a caller that
    /// knows of more valid keys at that place can suggest among them too.
    pub unknown_key: Option<Box<(String, Vec<&'static str>)>>,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error { message: message.into(), location: None, path: None, unknown_key: None }
    }

    pub fn at(message: impl Into<String>, location: Location, path: &str) -> Self {
        Error { location: Some(location), path: Some(path.to_owned()), ..Error::new(message) }
    }

    /// Re-words an unknown-key error directly in the mapping at `parent` (a key path)
    /// knowing `more` keys are valid there. An unknown key deeper down is left as it is:
    /// those keys are not valid there.
    pub fn with_more_keys(mut self, parent: &str, more: &[&'static str]) -> Self {
        let in_parent = self.path.as_deref().is_some_and(|path| match path.rsplit_once('.') {
            Some((above, _)) => above == parent,
            None => parent.is_empty(),
        });
        if !in_parent {
            return self;
        }
        if let Some(unknown) = &mut self.unknown_key {
            let (key, expected) = &mut **unknown;
            expected.extend_from_slice(more);
            expected.sort_unstable();
            self.message = format!("unknown key `{key}`{}", suggestion(key, expected));
        }
        self
    }

    /// Errors are located by the innermost node that saw them; outer nodes don't overwrite.
    fn located(mut self, location: Location, path: &str) -> Self {
        if self.location.is_none() {
            self.location = Some(location);
        }
        if self.path.is_none() {
            self.path = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }

    // Values are described by kind only: the offending text may be a secret.
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(format!("expected {exp}, found {}", describe_unexpected(&unexp)))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(format!("invalid value {}: expected {exp}", describe_unexpected(&unexp)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut error = Error::new(format!("unknown key `{field}`{}", suggestion(field, expected)));
        error.unknown_key = Some(Box::new((field.to_owned(), expected.to_vec())));
        error
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::new(format!("unknown value `{variant}`{}", suggestion(variant, expected)))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::new(format!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::new(format!("key `{field}` is given twice"))
    }
}

fn describe_unexpected(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Str(_) => "a string".to_owned(),
        other => other.to_string(),
    }
}

/// "; did you mean `x`?" when one expected name is close, then the full list of names.
pub fn suggestion(given: &str, expected: &[&str]) -> String {
    let closest = expected
        .iter()
        .map(|name| (strsim::jaro_winkler(given, name), *name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = String::new();
    if let Some((_, name)) = closest {
        out.push_str(&format!("; did you mean `{name}`?"));
    }
    if expected.is_empty() {
        out.push_str(" (no keys are allowed here)");
    } else {
        let list: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
        out.push_str(&format!(" (expected one of {})", list.join(", ")));
    }
    out
}

/// Parses a YAML document into a node tree. An empty document is an empty mapping.
pub fn parse(source: &str) -> Result<Node, Error> {
    let mut builder = TreeBuilder::default();
    for event in Parser::new_from_str(source) {
        let (event, span) = event.map_err(|e| {
            let marker = e.marker();
            Error {
                location: Some(Location { line: marker.line(), column: marker.col() + 1 }),
                ..Error::new(format!("invalid YAML: {}", e.info()))
            }
        })?;
        let location = Location { line: span.start.line(), column: span.start.col() + 1 };
        if builder.push(event, location)? {
            break;
        }
    }
    Ok(builder.root.unwrap_or_else(|| Node::empty_mapping(Location { line: 1, column: 1 })))
}

enum Open {
    Sequence(Node, usize),
    /// The mapping, its anchor, a key waiting for its value, and the keys that came from
    /// merge keys (`<<`), which an explicit key may override.
    Mapping(Node, usize, Option<Node>, Vec<String>),
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Open>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
}

impl TreeBuilder {
    /// Returns true once the first document is complete (later documents are ignored).
    fn push(&mut self, event: Event<'_>, location: Location) -> Result<bool, Error> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let verbatim = tag.as_ref().is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let quoted = verbatim || !matches!(style, ScalarStyle::Plain);
                let node =
                    Node { location, kind: NodeKind::Scalar { text: text.into_owned(), quoted, from_file: false } };
                self.complete(node, anchor, location)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Open::Sequence(Node { location, kind: NodeKind::Sequence(Vec::new()) }, anchor));
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Mapping(Node::empty_mapping(location), anchor, None, Vec::new()));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Sequence(node, anchor)) | Some(Open::Mapping(node, anchor, None, _)) => (node, anchor),
                    _ => return Err(Error::at("unbalanced YAML structure", location, "")),
                };
                self.complete(node, anchor, location)?;
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(anchor, _)| *anchor == id)
                    .map(|(_, node)| node.clone())
                    .ok_or_else(|| Error::at("alias to an unknown anchor", location, ""))?;
                self.complete(node, 0, location)?;
            }
            Event::DocumentEnd => return Ok(self.root.is_some()),
            Event::StreamEnd => return Ok(true),
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => {}
        }
        Ok(false)
    }

    /// The key path of `key` in the innermost open mapping (`sinks.d.compression`), from the
    /// keys and item indexes that lead to it.
    fn path_to(&self, key: &str) -> String {
        let mut path = String::new();
        for open in &self.stack[..self.stack.len().saturating_sub(1)] {
            match open {
                Open::Mapping(_, _, Some(pending), _) => path = join_path(&path, pending.key_text().unwrap_or("?")),
                Open::Sequence(Node { kind: NodeKind::Sequence(items), .. }, _) => {
                    path = format!("{path}[{}]", items.len());
                }
                _ => {}
            }
        }
        join_path(&path, key)
    }

    fn complete(&mut self, node: Node, anchor: usize, location: Location) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Sequence(seq, _)) => {
                if let NodeKind::Sequence(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Open::Mapping(_, _, pending @ None, _)) => *pending = Some(node),
            Some(Open::Mapping(map, _, pending @ Some(_), merged)) => {
                let key = pending.take().ok_or_else(|| Error::at("internal: missing key", location, ""))?;
                let NodeKind::Mapping(entries) = &mut map.kind else {
                    return Ok(());
                };
                if key.key_text() == Some("<<") && matches!(key.kind, NodeKind::Scalar { quoted: false, .. }) {
                    merged.extend(merge_into(entries, node));
                    return Ok(());
                }
                let text = key.key_text().unwrap_or_default().to_owned();
                if let Some(at) = entries.iter().position(|(k, _)| k.key_text() == Some(&text)) {
                    let Some(from_merge) = merged.iter().position(|m| *m == text) else {
                        let message = format!("key `{text}` is given twice");
                        return Err(Error::at(message, key.location, &self.path_to(&text)));
                    };
                    merged.remove(from_merge);
                    entries[at] = (key, node);
                    return Ok(());
                }
                entries.push((key, node));
            }
        }
        Ok(())
    }
}

/// YAML merge keys (`<<: *defaults`): entries already present win. Returns the keys added.
fn merge_into(entries: &mut Vec<(Node, Node)>, source: Node) -> Vec<String> {
    let mut added = Vec::new();
    let sources = match source.kind {
        NodeKind::Sequence(items) => items,
        _ => vec![source],
    };
    for source in sources {
        if let NodeKind::Mapping(more) = source.kind {
            for (key, value) in more {
                if !entries.iter().any(|(k, _)| k.key_text() == key.key_text()) {
                    added.push(key.key_text().unwrap_or_default().to_owned());
                    entries.push((key, value));
                }
            }
        }
    }
    added
}

/// What the deserializer needs besides the tree.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Where `${VAR}` values come from; `None` reads scalars literally (`$` is plain text).
    pub env: Option<&'a dyn Env>,
    /// The file's folder, for relative `<key>_file` paths; `None` gives `_file` keys no
    /// special meaning.
    pub base_dir: Option<&'a Path>,
}

impl Context<'_> {
    /// Literal text, no `_file` keys: how device profiles are read.
    pub const LITERAL: Context<'static> = Context { env: None, base_dir: None };

    /// `text` with `${VAR}` expanded when this context has an environment.
    fn expand<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, String> {
        match self.env {
            Some(env) => interpolate(text, env),
            None => Ok(Cow::Borrowed(text)),
        }
    }
}

/// Deserializes `T` from `node`, whose key path is `path`.
pub fn from_node<T: de::DeserializeOwned>(node: &Node, path: &str, ctx: &Context<'_>) -> Result<T, Error> {
    T::deserialize(NodeDeserializer { node, path: Cow::Borrowed(path), ctx })
}

pub struct NodeDeserializer<'n, 'c> {
    node: &'n Node,
    path: Cow<'n, str>,
    ctx: &'n Context<'c>,
}

impl<'n, 'c> NodeDeserializer<'n, 'c> {
    fn fail(&self, message: impl Into<String>) -> Error {
        Error::at(message, self.node.location, &self.path)
    }

    /// The scalar's text with `${VAR}` expanded; `None` for a null.
    fn text(&self) -> Result<Option<Cow<'n, str>>, Error> {
        match &self.node.kind {
            NodeKind::Scalar { text, quoted, .. } => {
                if !quoted && is_null_text(text) {
                    return Ok(None);
                }
                self.ctx.expand(text).map(Some).map_err(|msg| self.fail(msg))
            }
            NodeKind::Sequence(_) => Err(self.fail("expected a single value, found a list")),
            NodeKind::Mapping(_) => Err(self.fail("expected a single value, found a mapping")),
        }
    }

    /// The value for an error message: literal text is shown; a value that came from the
    /// environment is not (it may be a secret put in the wrong place).
    fn shown(&self, value: &str) -> String {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } if self.ctx.env.is_none() || !text.contains("${") => {
                format!("`{}`", value.trim())
            }
            _ => "the value from the environment".to_owned(),
        }
    }

    fn required_text(&self, what: &str) -> Result<Cow<'n, str>, Error> {
        self.text()?.ok_or_else(|| self.fail(format!("expected {what}, found nothing (null)")))
    }

    fn parse_number<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
        let text = self.required_text(what)?;
        let trimmed = text.trim();
        let parsed = if let Some(hex) = trimmed.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok().and_then(|v| v.to_string().parse().ok())
        } else {
            trimmed.parse().ok()
        };
        parsed.ok_or_else(|| self.fail(format!("expected {what}, found {}", self.shown(trimmed))))
    }

    fn child(&self, node: &'n Node, path: String) -> NodeDeserializer<'n, 'c> {
        NodeDeserializer { node, path: Cow::Owned(path), ctx: self.ctx }
    }

    fn relocate<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|e| self.redact(e).located(self.node.location, &self.path))
    }

    /// A value from the environment or a file may be a secret given in the wrong place:
    /// it is never repeated in an error (a type's own parse error may quote its input).
    fn redact(&self, mut error: Error) -> Error {
        if let (true, NodeKind::Scalar { text, .. }) = (self.is_sensitive(), &self.node.kind)
            && let Ok(value) = self.ctx.expand(text)
        {
            let value = value.trim();
            if value.len() >= 3 && error.message.contains(value) {
                error.message = error.message.replace(value, "<the value from the environment or file>");
            }
        }
        error
    }

    /// `text` as a scalar that expands to itself.
    fn literal(&self, text: &str) -> String {
        if self.ctx.env.is_some() { text.replace('$', "$$") } else { text.to_owned() }
    }

    fn is_sensitive(&self) -> bool {
        matches!(&self.node.kind, NodeKind::Scalar { text, from_file, .. }
            if *from_file || (self.ctx.env.is_some() && text.contains("${")))
    }

    fn visit_comma_list<'de, V: Visitor<'de>>(&self, text: &str, visitor: V) -> Result<V::Value, Error> {
        let items: Vec<Node> = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Node {
                location: self.node.location,
                // Already expanded: escape `$` so the item is not expanded twice.
                kind: NodeKind::Scalar { text: self.literal(item), quoted: true, from_file: self.is_sensitive() },
            })
            .collect();
        let access = SeqAccess { items: items.iter(), index: 0, parent: self };
        self.relocate(visitor.visit_seq(access))
    }
}

macro_rules! deserialize_number {
    ($($method:ident => $visit:ident: $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value: $ty = self.parse_number($what)?;
            self.relocate(visitor.$visit(value))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Sequence(_) => self.deserialize_seq(visitor),
            NodeKind::Mapping(_) => self.deserialize_map(visitor),
            NodeKind::Scalar { quoted: true, .. } => self.deserialize_string(visitor),
            NodeKind::Scalar { quoted: false, .. } => {
                let Some(text) = self.text()? else {
                    return self.relocate(visitor.visit_unit());
                };
                let result = match text.as_ref() {
                    "true" | "True" | "TRUE" => visitor.visit_bool(true),
                    "false" | "False" | "FALSE" => visitor.visit_bool(false),
                    t => {
                        if let Ok(v) = t.parse::<i64>() {
                            visitor.visit_i64(v)
                        } else if let Ok(v) = t.parse::<f64>() {
                            visitor.visit_f64(v)
                        } else {
                            visitor.visit_string(text.into_owned())
                        }
                    }
                };
                self.relocate(result)
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = self.required_text("true or false")?;
        let value = match text.trim() {
            "true" | "True" | "TRUE" | "yes" | "on" => true,
            "false" | "False" | "FALSE" | "no" | "off" => false,
            other => {
                return Err(self.fail(format!("expected true or false, found {}", self.shown(other))));
            }
        };
        self.relocate(visitor.visit_bool(value))
    }

    deserialize_number! {
        deserialize_i8 => visit_i8: i8, "an integer (-128..127)";
        deserialize_i16 => visit_i16: i16, "an integer (-32768..32767)";
        deserialize_i32 => visit_i32: i32, "an integer";
        deserialize_i64 => visit_i64: i64, "an integer";
        deserialize_u8 => visit_u8: u8, "an integer (0..255)";
        deserialize_u16 => visit_u16: u16, "an integer (0..65535)";
        deserialize_u32 => visit_u32: u32, "a non-negative integer";
        deserialize_u64 => visit_u64: u64, "a non-negative integer";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = match &self.node.kind {
            // A quoted or non-null scalar; a plain null given where text is wanted is "".
            NodeKind::Scalar { .. } => self.text()?.unwrap_or_default(),
            _ => self.required_text("a string")?,
        };
        self.relocate(visitor.visit_string(text.into_owned()))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // `${VAR:-}` that expands to nothing means "not set", like a null.
        // An empty file, though, is a mistake to report (an unmounted secret), not "unset".
        let absent = match &self.node.kind {
            NodeKind::Scalar { from_file: false, .. } => self.text()?.is_none_or(|t| t.is_empty()),
            _ => false,
        };
        if absent { self.relocate(visitor.visit_none()) } else { visitor.visit_some(self) }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            self.relocate(visitor.visit_unit())
        } else {
            Err(self.fail("expected nothing (null)"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        let location = self.node.location;
        let path = self.path.to_string();
        visitor.visit_newtype_struct(self).map_err(|e| e.located(location, &path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Sequence(items) => {
                let access = SeqAccess { items: items.iter(), index: 0, parent: &self };
                self.relocate(visitor.visit_seq(access))
            }
            NodeKind::Scalar { .. } => {
                let text = self.text()?.unwrap_or_default();
                self.visit_comma_list(&text, visitor)
            }
            NodeKind::Mapping(_) => Err(self.fail("expected a list, found a mapping")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_struct("", &[], visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let entries: &[(Node, Node)] = match &self.node.kind {
            NodeKind::Mapping(entries) => entries,
            _ if self.node.is_null() => &[],
            NodeKind::Sequence(_) => return Err(self.fail("expected a mapping, found a list")),
            NodeKind::Scalar { .. } => {
                return Err(self.fail("expected a mapping, found a single value"));
            }
        };
        let entries = resolve_file_keys(entries, fields, &self)?;
        let access = MapAccess { entries: entries.iter(), value: None, parent: &self };
        self.relocate(visitor.visit_map(access))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Scalar { .. } => {
                let variant = self.required_text("a value")?.trim().to_owned();
                self.relocate(visitor.visit_enum(variant.into_deserializer()))
            }
            // `{type: syslog, address: ...}`: the variant is named by `type`, the rest of the
            // mapping is its content (serde's own internally tagged enums lose locations).
            NodeKind::Mapping(entries) if entries.iter().any(|(k, _)| k.key_text() == Some("type")) => {
                let mut content = self.node.clone();
                let type_node = content.take_key("type").ok_or_else(|| self.fail("missing `type`"))?;
                let type_path = join_path(&self.path, "type");
                let name = self.child(&type_node, type_path.clone()).required_text("a type name")?.trim().to_owned();
                let access = EnumAccess {
                    name,
                    name_location: type_node.location,
                    name_path: type_path,
                    value: &content,
                    value_path: self.path.to_string(),
                    ctx: self.ctx,
                };
                self.relocate(visitor.visit_enum(access))
            }
            NodeKind::Mapping(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let name = key.key_text().unwrap_or_default().to_owned();
                let value_path = join_path(&self.path, &name);
                let access = EnumAccess {
                    name,
                    name_location: key.location,
                    name_path: self.path.to_string(),
                    value,
                    value_path,
                    ctx: self.ctx,
                };
                self.relocate(visitor.visit_enum(access))
            }
            _ => Err(self.fail("expected a value, or a mapping with a `type` key")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// Rewrites `x_file: PATH` into `x: <contents of PATH>` for every field `x` of the target
/// struct, so any secret (or any other value) can come from a mounted file.
fn resolve_file_keys<'n>(
    entries: &'n [(Node, Node)],
    fields: &'static [&'static str],
    parent: &NodeDeserializer<'n, '_>,
) -> Result<Cow<'n, [(Node, Node)]>, Error> {
    let Some(base_dir) = parent.ctx.base_dir else {
        return Ok(Cow::Borrowed(entries));
    };
    let is_file_key =
        |key: &str| key.strip_suffix("_file").is_some_and(|field| fields.contains(&field) && !fields.contains(&key));
    if !entries.iter().any(|(k, _)| k.key_text().is_some_and(is_file_key)) {
        return Ok(Cow::Borrowed(entries));
    }
    let mut resolved = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Some(field) = key.key_text().filter(|k| is_file_key(k)).and_then(|k| k.strip_suffix("_file")) else {
            resolved.push((key.clone(), value.clone()));
            continue;
        };
        let key_path = join_path(&parent.path, key.key_text().unwrap_or_default());
        if entries.iter().any(|(k, _)| k.key_text() == Some(field)) {
            return Err(Error::at(
                format!("give either `{field}` or `{field}_file`, not both"),
                key.location,
                &key_path,
            ));
        }
        let file = parent.child(value, key_path.clone()).required_text("a file path")?;
        let file_path = base_dir.join(file.as_ref());
        let contents = std::fs::read_to_string(&file_path)
            .map_err(|e| Error::at(format!("cannot read `{}`: {e}", file_path.display()), value.location, &key_path))?;
        let contents = contents.strip_suffix('\n').unwrap_or(&contents);
        let contents = contents.strip_suffix('\r').unwrap_or(contents);
        let field_key = Node {
            location: key.location,
            kind: NodeKind::Scalar { text: field.to_owned(), quoted: true, from_file: false },
        };
        // File contents are literal: `$` must not be expanded.
        let text = parent.literal(contents);
        resolved.push((
            field_key,
            Node { location: value.location, kind: NodeKind::Scalar { text, quoted: true, from_file: true } },
        ));
    }
    Ok(Cow::Owned(resolved))
}

pub fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

struct SeqAccess<'a, 'n, 'c> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    parent: &'a NodeDeserializer<'n, 'c>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.parent.path, self.index);
        self.index += 1;
        let de = NodeDeserializer { node: item, path: Cow::Owned(path.clone()), ctx: self.parent.ctx };
        // A type's own check (e.g. a parsed OID) fails after the node was read: locate it here.
        seed.deserialize(de).map(Some).map_err(|e| e.located(item.location, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a, 'n, 'c> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<(&'a Node, String)>,
    parent: &'a NodeDeserializer<'n, 'c>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let key_text = key.key_text().unwrap_or_default();
        let path = join_path(&self.parent.path, key_text);
        self.value = Some((value, path.clone()));
        // Keys are literal: a `$` in a key is not an expansion.
        let key_de = KeyDeserializer { text: key_text, location: key.location, path };
        seed.deserialize(key_de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (node, path) = self.value.take().ok_or_else(|| Error::new("internal: value before key"))?;
        let location = node.location;
        // A type's own check (e.g. a parsed OID) fails after the node was read: locate it here.
        seed.deserialize(NodeDeserializer { node, path: Cow::Owned(path.clone()), ctx: self.parent.ctx })
            .map_err(|e| e.located(location, &path))
    }
}

struct KeyDeserializer<'a> {
    text: &'a str,
    location: Location,
    path: String,
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.text).map_err(|e: Error| e.located(self.location, &self.path))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct EnumAccess<'a, 'c> {
    name: String,
    name_location: Location,
    name_path: String,
    value: &'a Node,
    value_path: String,
    ctx: &'a Context<'c>,
}

impl<'de, 'a, 'c> de::EnumAccess<'de> for EnumAccess<'a, 'c> {
    type Error = Error;
    type Variant = NodeDeserializer<'a, 'c>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), Error> {
        let name: de::value::StringDeserializer<Error> = self.name.into_deserializer();
        let variant = seed.deserialize(name).map_err(|e| e.located(self.name_location, &self.name_path))?;
        Ok((variant, NodeDeserializer { node: self.value, path: Cow::Owned(self.value_path), ctx: self.ctx }))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDeserializer<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
