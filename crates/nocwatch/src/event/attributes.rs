//! A log event's structured fields ([`Attributes`]): a nested JSON object in every output,
//! stored flat and cheap to build, walk and drop.
//!
//! A syslog line's event carries some 10-40 fields (header fields, vendor fields, every
//! structured-data parameter). Held as a `serde_json::Map` tree that cost two `String`s per
//! field plus a `BTreeMap` per level: ~40 allocations per line and about a third of the
//! syslog path's instructions to build and drop. Here the whole object is two buffers:
//!
//! - `text`: every key and string value, back to back;
//! - `tape`: the object in key order, depth first, one token per member: its key (a range
//!   of `text`) and a string value, a bool, a boxed JSON value (numbers and arrays: SNMP
//!   trap fields) or an object whose members are the next `len` tokens.
//!
//! Keys are kept in byte order at every level, as `serde_json::Map` (a `BTreeMap`) keeps
//! them, so walking the tape ([`Attributes::members`]) yields the same nested object, in the
//! same key order, that the former map tree serialized to: sinks write the same bytes. The
//! serde form (`Serialize`/`Deserialize`, used by the disk buffer and the local store) is
//! that same JSON object, so records written by older versions read back as they were.
//!
//! Built either from a `serde_json::Map` (`From`), or by an [`AttributesBuilder`] that takes
//! fields in any order as borrowed `(path, value)` pairs and sorts them once: the syslog
//! source borrows every key and value from the parsed line, and the sort mostly meets runs
//! that are already in order (only structured-data parameters come in the device's order).

use std::cmp::Ordering;
use std::fmt;

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Key segments an [`AttributesBuilder`] path holds (`structured_data.<SD-ID>.<name>` is
/// three). A longer path keeps its further segments as nested objects in the value.
pub const MAX_DEPTH: usize = 3;

/// A range of `Attributes::text`. `u32`s keep tokens small; attribute text past 4 GiB in one
/// event (far beyond any message size) would be stored as empty strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug, Clone)]
enum Kind {
    Str(Span),
    Bool(bool),
    /// Numbers, null and arrays: rare (SNMP trap fields), so boxed to keep tokens small.
    /// Never a string, a bool or an object, so equal attributes have equal tapes.
    Json(Box<Value>),
    /// An object; its members are the next `len` tokens (nested ones included).
    Object(u32),
}

#[derive(Debug, Clone)]
struct Token {
    key: Span,
    kind: Kind,
}

/// The structured fields of a log event. See the module documentation.
#[derive(Clone, Default)]
pub struct Attributes {
    text: String,
    tape: Vec<Token>,
}

/// A leaf value, borrowed from its [`Attributes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeValue<'a> {
    Str(&'a str),
    Bool(bool),
    /// Anything else (numbers, arrays, null), as JSON.
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

/// The members of one object, in key order: `(key, node)`.
#[derive(Clone)]
pub struct Members<'a> {
    attributes: &'a Attributes,
    tokens: &'a [Token],
}

impl fmt::Debug for Members<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, Node<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (token, rest) = self.tokens.split_first()?;
        let attributes = self.attributes;
        let node = match &token.kind {
            Kind::Str(span) => Node::Value(AttributeValue::Str(attributes.str(*span))),
            Kind::Bool(b) => Node::Value(AttributeValue::Bool(*b)),
            Kind::Json(value) => Node::Value(AttributeValue::Json(value)),
            Kind::Object(len) => {
                let len = (*len as usize).min(rest.len());
                let (inner, after) = rest.split_at(len);
                self.tokens = after;
                return Some((attributes.str(token.key), Node::Object(Members { attributes, tokens: inner })));
            }
        };
        self.tokens = rest;
        Some((attributes.str(token.key), node))
    }
}

impl Attributes {
    pub fn new() -> Self {
        Attributes::default()
    }

    pub fn is_empty(&self) -> bool {
        self.tape.is_empty()
    }

    /// The top-level members, in key order.
    pub fn members(&self) -> Members<'_> {
        Members { attributes: self, tokens: &self.tape }
    }

    /// What `path` holds (a value or an object), if anything.
    pub fn get(&self, path: &[&str]) -> Option<Node<'_>> {
        let (last, parents) = path.split_last()?;
        let mut members = self.members();
        for segment in parents {
            members = match members.find(|(key, _)| key == segment)?.1 {
                Node::Object(inner) => inner,
                Node::Value(_) => return None,
            };
        }
        members.find(|(key, _)| key == last).map(|(_, node)| node)
    }

    /// The string at `path`, if it holds one.
    pub fn get_str(&self, path: &[&str]) -> Option<&str> {
        self.get(path)?.as_str()
    }

    /// The attributes as a JSON object (what they serialize to).
    pub fn to_json(&self) -> Value {
        Node::Object(self.members()).to_json()
    }

    fn str(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text.get(start..start + span.len as usize).unwrap_or_default()
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

    /// Appends `value` under `key` (canonical: strings and bools as such, objects as
    /// tokens, anything else boxed).
    fn push_value(&mut self, key: Span, value: Value) {
        let kind = match value {
            Value::String(s) => Kind::Str(self.intern(&s)),
            Value::Bool(b) => Kind::Bool(b),
            Value::Object(map) => return self.push_object(key, map),
            other => Kind::Json(Box::new(other)),
        };
        self.tape.push(Token { key, kind });
    }

    fn push_object(&mut self, key: Span, map: Map<String, Value>) {
        let at = self.open(key);
        for (k, v) in map {
            let k = self.intern(&k);
            self.push_value(k, v);
        }
        self.close(at);
    }

    /// Starts an object token; its length is set by [`Attributes::close`].
    fn open(&mut self, key: Span) -> usize {
        self.tape.push(Token { key, kind: Kind::Object(0) });
        self.tape.len() - 1
    }

    fn close(&mut self, at: usize) {
        let len = u32::try_from(self.tape.len() - at - 1).unwrap_or(u32::MAX);
        if let Some(token) = self.tape.get_mut(at) {
            token.kind = Kind::Object(len);
        }
    }
}

/// Collects fields in any order, borrowed, and sorts them once into [`Attributes`].
///
/// A path set twice keeps the later value; a value at a path replaces an object there
/// and the other way round, whichever was set later (as `serde_json::Map::insert` would).
pub struct AttributesBuilder<'a> {
    fields: Vec<Field<'a>>,
    text: usize,
}

#[derive(Clone)]
struct Field<'a> {
    path: [&'a str; MAX_DEPTH],
    depth: u8,
    /// When it was set: the later of two fields at one path wins.
    order: u32,
    value: FieldValue<'a>,
}

#[derive(Clone)]
enum FieldValue<'a> {
    Str(&'a str),
    Bool(bool),
    Json(Box<Value>),
}

/// Path order segment by segment (nested `BTreeMap` order), then the order set. Paths
/// built from the same segments (a structured-data element's parameters share two)
/// compare by address first.
fn cmp_fields(a: &Field<'_>, b: &Field<'_>) -> Ordering {
    for (x, y) in a.path.iter().zip(&b.path).take(usize::from(a.depth.min(b.depth))) {
        if std::ptr::eq(*x, *y) {
            continue;
        }
        match x.cmp(y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    a.depth.cmp(&b.depth).then(a.order.cmp(&b.order))
}

impl<'a> AttributesBuilder<'a> {
    /// Room for `fields` fields and `text` bytes of keys and values.
    pub fn with_capacity(fields: usize, text: usize) -> Self {
        AttributesBuilder { fields: Vec::with_capacity(fields), text }
    }

    pub fn str(&mut self, path: &[&'a str], value: &'a str) {
        self.push(path, FieldValue::Str(value));
    }

    pub fn bool(&mut self, path: &[&'a str], value: bool) {
        self.push(path, FieldValue::Bool(value));
    }

    /// Any JSON value; an object's members become attributes below `path`.
    pub fn json(&mut self, path: &[&'a str], value: Value) {
        self.push(path, FieldValue::Json(Box::new(value)));
    }

    fn push(&mut self, path: &[&'a str], value: FieldValue<'a>) {
        let (path, value) = match path.len() {
            0 => (&[""][..], value),
            n if n > MAX_DEPTH => {
                // The segments past MAX_DEPTH become nested objects in the value.
                let mut nested = match value {
                    FieldValue::Str(s) => Value::String(s.to_owned()),
                    FieldValue::Bool(b) => Value::Bool(b),
                    FieldValue::Json(v) => *v,
                };
                for segment in path[MAX_DEPTH..].iter().rev() {
                    nested = Value::Object([(segment.to_string(), nested)].into_iter().collect());
                }
                (&path[..MAX_DEPTH], FieldValue::Json(Box::new(nested)))
            }
            _ => (path, value),
        };
        let mut segments = [""; MAX_DEPTH];
        segments[..path.len()].copy_from_slice(path);
        let order = u32::try_from(self.fields.len()).unwrap_or(u32::MAX);
        self.fields.push(Field { path: segments, depth: path.len() as u8, order, value });
    }

    pub fn build(mut self) -> Attributes {
        // Callers that set fields in key order pay one comparison per field. Otherwise:
        // `order` breaks ties, so the unstable (in-place, allocation-free) sort is stable.
        if !self.fields.is_sorted_by(|a, b| cmp_fields(a, b) == Ordering::Less) {
            self.fields.sort_unstable_by(cmp_fields);
        }
        let mut attributes =
            Attributes { text: String::with_capacity(self.text), tape: Vec::with_capacity(self.fields.len() + 8) };
        emit(&mut attributes, &self.fields, 0);
        attributes
    }
}

/// Writes `fields` (sorted, all sharing their first `level` segments) as the members of one
/// object.
fn emit(attributes: &mut Attributes, fields: &[Field<'_>], level: usize) {
    let mut rest = fields;
    while let Some(first) = rest.first() {
        let key = first.path[level];
        let same = rest[1..]
            .iter()
            .take_while(|f| {
                let other = f.path[level];
                std::ptr::eq(other, key) || other == key
            })
            .count();
        let (group, after) = rest.split_at(1 + same);
        emit_member(attributes, key, group, level);
        rest = after;
    }
}

/// One member: a value, or an object of the fields below it.
fn emit_member(attributes: &mut Attributes, key: &str, group: &[Field<'_>], level: usize) {
    // Values set at this path sort first (the last set, last). It wins over deeper fields
    // set before it (Map::insert replaces), and loses to deeper ones set after it.
    let values = group.iter().take_while(|f| usize::from(f.depth) == level + 1).count();
    let key = attributes.intern(key);
    if let Some(last) = values.checked_sub(1).map(|i| &group[i]) {
        let deeper = &group[values..];
        if deeper.iter().all(|f| f.order < last.order) {
            let kind = match &last.value {
                FieldValue::Str(s) => Kind::Str(attributes.intern(s)),
                FieldValue::Bool(b) => Kind::Bool(*b),
                FieldValue::Json(value) => return attributes.push_value(key, (**value).clone()),
            };
            attributes.tape.push(Token { key, kind });
        } else {
            // Rare (no source does it): keep the deeper fields set after the value.
            let later: Vec<Field<'_>> = deeper.iter().filter(|f| f.order > last.order).cloned().collect();
            let at = attributes.open(key);
            emit(attributes, &later, level + 1);
            attributes.close(at);
        }
        return;
    }
    let at = attributes.open(key);
    emit(attributes, group, level + 1);
    attributes.close(at);
}

impl From<Map<String, Value>> for Attributes {
    fn from(map: Map<String, Value>) -> Self {
        let mut attributes = Attributes::new();
        for (key, value) in map {
            let key = attributes.intern(&key);
            attributes.push_value(key, value);
        }
        attributes
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.tape.len() == other.tape.len()
            && self.tape.iter().zip(&other.tape).all(|(a, b)| {
                self.str(a.key) == other.str(b.key)
                    && match (&a.kind, &b.kind) {
                        (Kind::Str(x), Kind::Str(y)) => self.str(*x) == other.str(*y),
                        (Kind::Bool(x), Kind::Bool(y)) => x == y,
                        (Kind::Json(x), Kind::Json(y)) => x == y,
                        (Kind::Object(x), Kind::Object(y)) => x == y,
                        _ => false,
                    }
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

/// Reads the JSON object straight onto the tape (the disk buffer reads back every event it
/// holds; going through a `serde_json::Map` cost a tree per event). Objects nocwatch wrote
/// have their keys in order already; one that does not (written by hand, or a key twice)
/// is put in order afterwards, through a `Map`, as before.
impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut attributes = Attributes::new();
        let mut in_order = true;
        deserializer.deserialize_map(ObjectVisitor { into: &mut attributes, in_order: &mut in_order })?;
        if in_order {
            return Ok(attributes);
        }
        match attributes.to_json() {
            Value::Object(map) => Ok(Attributes::from(map)),
            _ => Ok(Attributes::new()),
        }
    }
}

/// Appends an object's members to the tape; `in_order` turns false at a key that is not
/// after the one before it in the same object.
struct ObjectVisitor<'a> {
    into: &'a mut Attributes,
    in_order: &'a mut bool,
}

impl<'de> serde::de::Visitor<'de> for ObjectVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut previous: Option<Span> = None;
        while let Some(key) = map.next_key_seed(KeySeed { into: self.into })? {
            if previous.is_some_and(|previous| self.into.str(previous) >= self.into.str(key)) {
                *self.in_order = false;
            }
            previous = Some(key);
            map.next_value_seed(ValueSeed { into: self.into, in_order: self.in_order, key })?;
        }
        Ok(())
    }
}

/// A key, interned in the text without a `String` of its own.
struct KeySeed<'a> {
    into: &'a mut Attributes,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Span;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Span, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeySeed<'_> {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Span, E> {
        Ok(self.into.intern(key))
    }
}

/// A member's value under `key`: strings, bools and objects as tokens, anything else boxed
/// (the canonical form `push_value` gives).
struct ValueSeed<'a> {
    into: &'a mut Attributes,
    in_order: &'a mut bool,
    key: Span,
}

impl<'de> serde::de::DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn boxed(self, value: Value) {
        self.into.tape.push(Token { key: self.key, kind: Kind::Json(Box::new(value)) });
    }
}

impl<'de> serde::de::Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<(), E> {
        let value = self.into.intern(value);
        self.into.tape.push(Token { key: self.key, kind: Kind::Str(value) });
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<(), E> {
        self.into.tape.push(Token { key: self.key, kind: Kind::Bool(value) });
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let at = self.into.open(self.key);
        ObjectVisitor { into: &mut *self.into, in_order: &mut *self.in_order }.visit_map(map)?;
        self.into.close(at);
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let value = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        self.boxed(value);
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<(), E> {
        self.boxed(value.into());
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<(), E> {
        self.boxed(value.into());
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<(), E> {
        self.boxed(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.boxed(Value::Null);
        Ok(())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.boxed(Value::Null);
        Ok(())
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

    /// The JSON the former `serde_json::Map` representation gives for the same fields.
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
        // Set in an order unlike the key order, field by field.
        let mut builder = AttributesBuilder::with_capacity(0, 0);
        builder.str(&["syslog", "severity"], "notice");
        builder.str(&["syslog", "facility"], "local7");
        builder.str(&["structured_data", "junos@2636.1.1.1.2.39", "source-address"], "1.2.3.4");
        builder.str(&["structured_data", "junos@2636.1.1.1.2.39", "encrypted"], "No ");
        builder.str(&["structured_data", "junos@2636.1.1.1.2.39", "a.b"], "dotted");
        builder.json(&["structured_data", "meta"], json!({}));
        builder.str(&["structured_data", "origin", "ip"], "10.0.0.1");
        builder.str(&["syslog", "appname"], "RT_FLOW");
        builder.str(&["cisco", "mnemonic"], "CONFIG_I");
        builder.str(&["cisco", "seq"], "29");
        builder.str(&["syslog", "raw_timestamp"], "x");
        builder.json(&["n"], expected["n"].clone());
        builder.json(&["num"], expected["num"].clone());
        builder.json(&["deep", "a", "b", "c", "d"], json!(1));
        builder.str(&["peer", "ip"], "10.0.0.1");
        builder.bool(&["truncated"], true);
        builder.json(&[""], json!({}));
        builder.str(&["é"], "x");
        builder.str(&["Z"], "upper first");
        let attributes = builder.build();

        assert_eq!(serde_json::to_string(&attributes).unwrap(), serde_json::to_string(&expected).unwrap());
        assert_eq!(attributes.to_json(), expected);
        let from_map = Attributes::from(object(expected.clone()));
        assert_eq!(from_map, attributes);
        let back: Attributes = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(back, attributes);
        assert_eq!(serde_json::to_value(&back).unwrap(), expected);

        assert_eq!(attributes.get_str(&["cisco", "mnemonic"]), Some("CONFIG_I"));
        assert_eq!(attributes.get_str(&["structured_data", "junos@2636.1.1.1.2.39", "encrypted"]), Some("No "));
        assert_eq!(attributes.get(&["deep", "a", "b", "c", "d"]).map(|n| n.to_json()), Some(json!(1)));
        assert!(attributes.get(&["cisco", "nope"]).is_none());
        assert!(attributes.get(&["cis"]).is_none());
        assert!(attributes.get(&["truncated", "x"]).is_none());
        let Some(Node::Object(sd)) = attributes.get(&["structured_data"]) else { panic!() };
        assert_eq!(sd.map(|(k, _)| k).collect::<Vec<_>>(), ["junos@2636.1.1.1.2.39", "meta", "origin"]);
        assert_eq!(attributes.get(&["truncated"]).map(|n| n.to_json()), Some(json!(true)));
    }

    /// What `Map::insert` per level would leave after the same sequence of inserts.
    #[test]
    fn later_fields_replace_earlier_ones() {
        let build = |fields: &[(&[&'static str], &'static str)]| {
            let mut builder = AttributesBuilder::with_capacity(0, 0);
            for (path, value) in fields {
                builder.str(path, value);
            }
            builder.build().to_json()
        };
        assert_eq!(
            build(&[(&["a", "b"], "1"), (&["a", "c"], "2"), (&["a", "b"], "3")]),
            json!({"a": {"b": "3", "c": "2"}})
        );
        // A value replaces the object at its path...
        assert_eq!(build(&[(&["a", "b"], "1"), (&["a"], "leaf")]), json!({"a": "leaf"}));
        // ...and a field below a value replaces the value, keeping what came after it.
        assert_eq!(build(&[(&["a", "x"], "0"), (&["a"], "leaf"), (&["a", "y"], "4")]), json!({"a": {"y": "4"}}));
        assert_eq!(build(&[]), json!({}));
    }

    /// Reading JSON text gives what the `Map` it parses to gives, in order or not, with a
    /// key twice (the later wins), with numbers, nulls and arrays.
    #[test]
    fn reads_json_text_as_from_its_map() {
        for text in [
            r#"{"a":"1","b":{"c":true,"d":{"e":"f"}},"n":[1,"x",{"y":null}],"z":-2.5}"#,
            r#"{"z":1,"a":"1","b":{"d":{"e":"f"},"c":true}}"#,
            r#"{"a":"first","b":{},"a":"second"}"#,
            r#"{"b":{"x":"1","x":"2"},"c":18446744073709551615,"d":null}"#,
            r#"{}"#,
        ] {
            let read: Attributes = serde_json::from_str(text).unwrap();
            let expected = Attributes::from(serde_json::from_str::<Map<String, Value>>(text).unwrap());
            assert_eq!(read, expected, "{text}");
            assert_eq!(serde_json::to_string(&read).unwrap(), serde_json::to_string(&expected).unwrap(), "{text}");
        }
        assert!(serde_json::from_str::<Attributes>(r#"["not an object"]"#).is_err());
        assert!(serde_json::from_str::<Attributes>(r#"{"a":}"#).is_err());
    }
}
