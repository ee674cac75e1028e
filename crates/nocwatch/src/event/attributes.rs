//! A log event's structured fields ([`Attributes`]): a nested JSON object in every output,
//! stored flat and cheap to build.
//!
//! A syslog line's event carries some 10-40 fields (header fields, vendor fields, every
//! structured-data parameter). Held as a `serde_json::Map` tree that cost two `String`s per
//! field plus a `BTreeMap` per level: ~40 allocations per line and about a third of the
//! syslog path's instructions to build and drop. Here the whole set is two buffers:
//!
//! - `text`: every key segment and string value, back to back (a segment repeated in
//!   neighbouring paths, like `structured_data` and the SD-ID of each parameter, is stored
//!   once and shared);
//! - `entries`: one per leaf, its path (up to [`MAX_DEPTH`] key segments) and value, as
//!   ranges of `text`, kept sorted by path with no duplicate path and no leaf under another.
//!
//! Sorted by path segment by segment is exactly the order of nested `BTreeMap`s, so walking
//! the entries ([`Attributes::members`]) yields the same nested object, in the same key
//! order, that the former `serde_json::Map` tree serialized to: sinks write the same bytes,
//! and the serde form (`Serialize`/`Deserialize`, used by the disk buffer and the local
//! store) is that same JSON object, so records written by older versions read back as they
//! were.
//!
//! Inserting follows `Map::insert` per level: a path that exists gets the new value; a leaf
//! replaces an object at its path; a path below an existing leaf replaces that leaf. Paths
//! deeper than [`MAX_DEPTH`] keep their extra segments joined by `.` in the last one (no
//! source nests that deep); an object value at that depth is kept whole as a JSON value.

use std::cmp::Ordering;
use std::fmt;

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Key segments a path holds (`structured_data.<SD-ID>.<name>` is three).
pub const MAX_DEPTH: usize = 3;

/// A range of [`Attributes::text`]. `u32`s keep entries small; an event's attribute text
/// past 4 GiB (far beyond any message size) would be stored as empty strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug, Clone)]
enum Leaf {
    Str(Span),
    Bool(bool),
    /// Numbers, null, arrays, empty objects and objects at [`MAX_DEPTH`]: rare (SNMP trap
    /// fields), so boxed to keep entries small. Never a string, a bool or an object that
    /// could be flattened, so that equal attributes have equal entries.
    Json(Box<Value>),
}

#[derive(Debug, Clone)]
struct Entry {
    path: [Span; MAX_DEPTH],
    depth: u8,
    leaf: Leaf,
}

impl Entry {
    fn segments(&self) -> &[Span] {
        &self.path[..usize::from(self.depth)]
    }
}

/// The structured fields of a log event. See the module documentation.
#[derive(Clone, Default)]
pub struct Attributes {
    text: String,
    entries: Vec<Entry>,
}

/// A leaf value, borrowed from its [`Attributes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeValue<'a> {
    Str(&'a str),
    Bool(bool),
    /// Anything else (numbers, arrays, ...), as JSON.
    Json(&'a Value),
}

impl AttributeValue<'_> {
    pub fn to_json(self) -> Value {
        match self {
            AttributeValue::Str(s) => Value::String(s.to_owned()),
            AttributeValue::Bool(b) => Value::Bool(b),
            AttributeValue::Json(v) => v.clone(),
        }
    }
}

/// What a key holds: a value, or an object of further members.
#[derive(Debug, Clone)]
pub enum Node<'a> {
    Value(AttributeValue<'a>),
    Object(Members<'a>),
}

impl<'a> Node<'a> {
    /// The string this node holds, if it is one.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Node::Value(AttributeValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Node::Value(value) => value.to_json(),
            Node::Object(members) => Value::Object(members.clone().map(|(k, v)| (k.to_owned(), v.to_json())).collect()),
        }
    }
}

/// The members of one object level, in key order: `(key, node)`.
#[derive(Clone)]
pub struct Members<'a> {
    attributes: &'a Attributes,
    entries: &'a [Entry],
    depth: usize,
}

impl fmt::Debug for Members<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, Node<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (first, rest) = self.entries.split_first()?;
        let attributes = self.attributes;
        let depth = self.depth;
        let key_span = first.path[depth];
        let key = attributes.str(key_span);
        let same_key =
            rest.iter().take_while(|e| e.path[depth] == key_span || attributes.str(e.path[depth]) == key).count();
        let (group, rest) = self.entries.split_at(1 + same_key);
        self.entries = rest;
        let node = if same_key == 0 && usize::from(first.depth) == depth + 1 {
            Node::Value(attributes.value(&first.leaf))
        } else {
            Node::Object(Members { attributes, entries: group, depth: depth + 1 })
        };
        Some((key, node))
    }
}

impl Attributes {
    pub fn new() -> Self {
        Attributes::default()
    }

    /// Room for `leaves` fields and `text` bytes of keys and values before reallocating.
    pub fn with_capacity(leaves: usize, text: usize) -> Self {
        Attributes { text: String::with_capacity(text), entries: Vec::with_capacity(leaves) }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The top-level members, in key order.
    pub fn members(&self) -> Members<'_> {
        Members { attributes: self, entries: &self.entries, depth: 0 }
    }

    /// What `path` holds (a value or an object), if anything.
    pub fn get(&self, path: &[&str]) -> Option<Node<'_>> {
        if path.is_empty() || path.len() > MAX_DEPTH {
            return None;
        }
        let from = self.entries.partition_point(|e| self.cmp_path(e, path) == Ordering::Less);
        let first = self.entries.get(from)?;
        if !self.starts_with(first, path) {
            return None;
        }
        if usize::from(first.depth) == path.len() {
            return Some(Node::Value(self.value(&first.leaf)));
        }
        let under = self.entries[from..].iter().take_while(|e| self.starts_with(e, path)).count();
        Some(Node::Object(Members { attributes: self, entries: &self.entries[from..from + under], depth: path.len() }))
    }

    /// The string at `path`, if it holds one.
    pub fn get_str(&self, path: &[&str]) -> Option<&str> {
        self.get(path)?.as_str()
    }

    /// Sets `path` to a string.
    pub fn insert_str(&mut self, path: &[&str], value: &str) {
        let span = self.intern(value);
        self.insert_leaf(path, Leaf::Str(span));
    }

    pub fn insert_bool(&mut self, path: &[&str], value: bool) {
        self.insert_leaf(path, Leaf::Bool(value));
    }

    /// Sets `path` to a JSON value; a non-empty object becomes one member per key (as if
    /// each were inserted below `path`, after removing what `path` held).
    pub fn insert_json(&mut self, path: &[&str], value: Value) {
        match value {
            Value::String(s) => self.insert_str(path, &s),
            Value::Bool(b) => self.insert_bool(path, b),
            Value::Object(map) if !map.is_empty() && path.len() < MAX_DEPTH => {
                self.remove(path);
                for (key, value) in map {
                    let mut inner = path.to_vec();
                    inner.push(&key);
                    self.insert_json(&inner, value);
                }
            }
            other => self.insert_leaf(path, Leaf::Json(Box::new(other))),
        }
    }

    /// Removes `path`: its value, or the whole object there.
    pub fn remove(&mut self, path: &[&str]) {
        if path.is_empty() || path.len() > MAX_DEPTH {
            return;
        }
        let from = self.entries.partition_point(|e| self.cmp_path(e, path) == Ordering::Less);
        let under = self.entries[from..].iter().take_while(|e| self.starts_with(e, path)).count();
        self.entries.drain(from..from + under);
    }

    /// The attributes as a JSON object (what they serialize to).
    pub fn to_json(&self) -> Value {
        Node::Object(self.members()).to_json()
    }

    fn str(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text.get(start..start + span.len as usize).unwrap_or_default()
    }

    fn value<'a>(&'a self, leaf: &'a Leaf) -> AttributeValue<'a> {
        match leaf {
            Leaf::Str(span) => AttributeValue::Str(self.str(*span)),
            Leaf::Bool(b) => AttributeValue::Bool(*b),
            Leaf::Json(value) => AttributeValue::Json(value),
        }
    }

    fn intern(&mut self, s: &str) -> Span {
        match (u32::try_from(self.text.len()), u32::try_from(s.len())) {
            (Ok(start), Ok(len)) if start.checked_add(len).is_some() => {
                self.text.push_str(s);
                Span { start, len }
            }
            _ => Span::default(),
        }
    }

    /// `entry`'s path against `path`, segment by segment (the nested `BTreeMap` order).
    fn cmp_path(&self, entry: &Entry, path: &[&str]) -> Ordering {
        for (span, segment) in entry.segments().iter().zip(path) {
            match self.str(*span).cmp(segment) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        usize::from(entry.depth).cmp(&path.len())
    }

    /// Whether `entry` is at `path` or below it.
    fn starts_with(&self, entry: &Entry, path: &[&str]) -> bool {
        usize::from(entry.depth) >= path.len() && entry.segments().iter().zip(path).all(|(s, p)| self.str(*s) == *p)
    }

    fn insert_leaf(&mut self, path: &[&str], leaf: Leaf) {
        let joined: String;
        let deep: [&str; MAX_DEPTH];
        let path = if path.is_empty() {
            &[""][..]
        } else if path.len() > MAX_DEPTH {
            joined = path[MAX_DEPTH - 1..].join(".");
            deep = [path[0], path[1], joined.as_str()];
            &deep[..]
        } else {
            path
        };
        // Sources mostly insert in key order: check the end before searching.
        let search = match self.entries.last() {
            None => Err(0),
            Some(last) if self.cmp_path(last, path) == Ordering::Less => Err(self.entries.len()),
            Some(_) => self.entries.binary_search_by(|e| self.cmp_path(e, path)),
        };
        let mut at = match search {
            Ok(at) => {
                self.entries[at].leaf = leaf;
                return;
            }
            Err(at) => at,
        };
        // An object at `path` is replaced (its entries sort right after `path`)...
        let under = self.entries[at..].iter().take_while(|e| self.starts_with(e, path)).count();
        self.entries.drain(at..at + under);
        // ...and so is a leaf above it (it would sort right before).
        if at > 0 && usize::from(self.entries[at - 1].depth) < path.len() && self.starts_with_entry(at - 1, path) {
            self.entries.remove(at - 1);
            at -= 1;
        }
        let mut spans = [Span::default(); MAX_DEPTH];
        for (level, segment) in path.iter().enumerate() {
            spans[level] = self.shared_span(at, level, segment).unwrap_or_else(|| self.intern(segment));
        }
        let depth = path.len() as u8; // at most MAX_DEPTH
        self.entries.insert(at, Entry { path: spans, depth, leaf });
    }

    /// Whether the path of entry `index` is a prefix of `path`.
    fn starts_with_entry(&self, index: usize, path: &[&str]) -> bool {
        let entry = &self.entries[index];
        entry.segments().iter().zip(path).all(|(s, p)| self.str(*s) == *p)
    }

    /// The span of a neighbour of position `at` that has `segment` at `level`, if any: the
    /// prefixes shared by neighbouring paths are stored once.
    fn shared_span(&self, at: usize, level: usize, segment: &str) -> Option<Span> {
        let before = at.checked_sub(1).and_then(|i| self.entries.get(i));
        [before, self.entries.get(at)]
            .into_iter()
            .flatten()
            .filter(|e| usize::from(e.depth) > level)
            .map(|e| e.path[level])
            .find(|span| self.str(*span) == segment)
    }
}

impl From<Map<String, Value>> for Attributes {
    fn from(map: Map<String, Value>) -> Self {
        let mut attributes = Attributes::new();
        for (key, value) in map {
            attributes.insert_json(&[&key], value);
        }
        attributes
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self.entries.iter().zip(&other.entries).all(|(a, b)| {
                a.depth == b.depth
                    && a.segments().iter().zip(b.segments()).all(|(x, y)| self.str(*x) == other.str(*y))
                    && self.value(&a.leaf) == other.value(&b.leaf)
            })
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.members(), f)
    }
}

impl Serialize for AttributeValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttributeValue::Str(s) => serializer.serialize_str(s),
            AttributeValue::Bool(b) => serializer.serialize_bool(*b),
            AttributeValue::Json(v) => v.serialize(serializer),
        }
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Value(value) => value.serialize(serializer),
            Node::Object(members) => members.serialize(serializer),
        }
    }
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, node) in self.clone() {
            map.serialize_entry(key, &node)?;
        }
        map.end()
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.members().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(Attributes::from)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    /// The JSON the former `serde_json::Map` representation gives for the same inserts.
    #[test]
    fn serializes_as_the_nested_map_would() {
        let expected = json!({
            "syslog": {"facility": "local7", "severity": "notice", "appname": "RT_FLOW", "raw_timestamp": "x"},
            "structured_data": {
                "junos@2636.1.1.1.2.39": {"source-address": "1.2.3.4", "encrypted": "No ", "a.b": "dotted"},
                "meta": {},
                "origin": {"ip": "10.0.0.1"}
            },
            "cisco": {"seq": "29", "mnemonic": "CONFIG_I"},
            "n": [1, -2, 3.5, 1e300, null, true, false, "s\"q"],
            "num": 18446744073709551615u64,
            "deep": {"a": {"b": {"c": {"d": 1}}}},
            "peer": {"ip": "10.0.0.1"}, "truncated": true, "": {}, "é": "x", "Z": "upper first"
        });
        // Inserted in an order unlike the key order, field by field.
        let mut attributes = Attributes::new();
        attributes.insert_str(&["syslog", "severity"], "notice");
        attributes.insert_str(&["syslog", "facility"], "local7");
        attributes.insert_str(&["structured_data", "junos@2636.1.1.1.2.39", "source-address"], "1.2.3.4");
        attributes.insert_str(&["structured_data", "junos@2636.1.1.1.2.39", "encrypted"], "No ");
        attributes.insert_str(&["structured_data", "junos@2636.1.1.1.2.39", "a.b"], "dotted");
        attributes.insert_json(&["structured_data", "meta"], json!({}));
        attributes.insert_str(&["structured_data", "origin", "ip"], "10.0.0.1");
        attributes.insert_str(&["syslog", "appname"], "RT_FLOW");
        attributes.insert_str(&["cisco", "mnemonic"], "CONFIG_I");
        attributes.insert_str(&["cisco", "seq"], "29");
        attributes.insert_str(&["syslog", "raw_timestamp"], "x");
        attributes.insert_json(&["n"], expected["n"].clone());
        attributes.insert_json(&["num"], expected["num"].clone());
        attributes.insert_json(&["deep"], expected["deep"].clone());
        attributes.insert_str(&["peer", "ip"], "10.0.0.1");
        attributes.insert_bool(&["truncated"], true);
        attributes.insert_json(&[""], json!({}));
        attributes.insert_str(&["é"], "x");
        attributes.insert_str(&["Z"], "upper first");

        assert_eq!(serde_json::to_string(&attributes).unwrap(), serde_json::to_string(&expected).unwrap());
        assert_eq!(attributes.to_json(), expected);
        let from_map = Attributes::from(object(expected.clone()));
        assert_eq!(from_map, attributes);
        let back: Attributes = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(back, attributes);
        assert_eq!(serde_json::to_value(&back).unwrap(), expected);

        assert_eq!(attributes.get_str(&["cisco", "mnemonic"]), Some("CONFIG_I"));
        assert_eq!(attributes.get_str(&["structured_data", "junos@2636.1.1.1.2.39", "encrypted"]), Some("No "));
        assert!(attributes.get(&["cisco", "nope"]).is_none());
        assert!(attributes.get(&["cis"]).is_none());
        let Some(Node::Object(sd)) = attributes.get(&["structured_data"]) else { panic!() };
        assert_eq!(sd.map(|(k, _)| k).collect::<Vec<_>>(), ["junos@2636.1.1.1.2.39", "meta", "origin"]);
        assert_eq!(attributes.get(&["truncated"]).map(|n| n.to_json()), Some(json!(true)));
    }

    #[test]
    fn inserting_replaces_like_map_insert() {
        let mut attributes = Attributes::new();
        attributes.insert_str(&["a", "b"], "1");
        attributes.insert_str(&["a", "c"], "2");
        attributes.insert_str(&["a", "b"], "3");
        assert_eq!(attributes.to_json(), json!({"a": {"b": "3", "c": "2"}}));
        // A leaf replaces the object at its path...
        attributes.insert_str(&["a"], "leaf");
        assert_eq!(attributes.to_json(), json!({"a": "leaf"}));
        // ...and a path below a leaf replaces the leaf.
        attributes.insert_str(&["a", "x"], "4");
        assert_eq!(attributes.to_json(), json!({"a": {"x": "4"}}));
        // An object value replaces what was there whole.
        attributes.insert_json(&["a"], json!({"y": "5"}));
        assert_eq!(attributes.to_json(), json!({"a": {"y": "5"}}));
        attributes.remove(&["a", "y"]);
        assert!(attributes.is_empty());
        // Deeper than MAX_DEPTH: the rest is one dotted segment.
        attributes.insert_str(&["a", "b", "c", "d"], "deep");
        assert_eq!(attributes.to_json(), json!({"a": {"b": {"c.d": "deep"}}}));
    }

    #[test]
    fn shared_prefixes_are_stored_once() {
        let mut attributes = Attributes::new();
        for name in ["z", "y", "x", "w"] {
            attributes.insert_str(&["structured_data", "junos@2636.1.1.1.2.39", name], "v");
        }
        let once = "structured_data".len() + "junos@2636.1.1.1.2.39".len();
        assert_eq!(attributes.text.len(), once + 4 * 2);
        assert_eq!(
            attributes.to_json(),
            json!({"structured_data": {"junos@2636.1.1.1.2.39": {"w": "v", "x": "v", "y": "v", "z": "v"}}})
        );
    }
}
