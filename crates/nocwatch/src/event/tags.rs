//! [`Tags`]: the tags of an event, in Datadog's sense: `key:value` pairs, where one key may
//! have several values.
//!
//! The Datadog Agent keeps an event's tags as a list of strings and merges the lists of
//! its sources by appending (the SNMP check: `DeviceCheck.Run` in
//! `pkg/collector/corechecks/snmp/internal/devicecheck/devicecheck.go` appends the
//! profile's tags to the static and user tags; `reportColumnMetrics` in
//! `internal/report/report_metrics.go` appends a row's tags to those); only identical
//! strings collapse (the aggregator's tag set). So a user tag `site:paris` and a profile
//! tag `site:dc1` both reach Datadog. [`Tags`] keeps that: a set of (key, value) pairs,
//! sorted, identical pairs once. [`Tags::add`] merges as Datadog does (the other values of
//! the key stay); [`Tags::insert`] sets a key to one value (for tags nocwatch itself
//! defines, such as `request_type`).
//!
//! Shared, copy on write: a clone is a reference count, so the thousand metrics of one
//! SNMP poll (or one interface's twenty counters) carry one tag set between them instead
//! of a thousand copies of the same strings. The first change to a shared set copies it.
//! Empty tags allocate nothing.
//!
//! JSON form (serde, the JSON-lines writer, the disk buffer): an object of keys to values,
//! keys in order; a key with several values has them as an array, in order
//! (`{"site": ["dc1", "paris"]}`). Both forms read back.

use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tags as (key, value) pairs, sorted by key then value, each pair once; a bare tag has an
/// empty value. Ordered so that output is deterministic and series identity is stable.
/// See the [module docs](self) for how sets merge.
#[derive(Clone, Default)]
pub struct Tags(Option<Arc<Vec<(String, String)>>>);

impl Tags {
    pub const fn new() -> Tags {
        Tags(None)
    }

    /// The address of the shared set (`None` when empty): equal for clones of one set
    /// while one of them lives, so a writer can serialize the set once per batch.
    pub fn shared_address(&self) -> Option<usize> {
        self.0.as_ref().map(|pairs| Arc::as_ptr(pairs) as usize)
    }

    /// True when both are the same shared set (not merely equal).
    pub fn shares(&self, other: &Tags) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    fn pairs(&self) -> &[(String, String)] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    fn pairs_mut(&mut self) -> &mut Vec<(String, String)> {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }

    /// Where `key`'s pairs are.
    fn key_range(&self, key: &str) -> std::ops::Range<usize> {
        let pairs = self.pairs();
        let start = pairs.partition_point(|(k, _)| k.as_str() < key);
        let end = start + pairs[start..].partition_point(|(k, _)| k == key);
        start..end
    }

    /// How many pairs (a key with two values counts twice).
    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// Every pair, by key then value.
    pub fn iter(&self) -> TagsIter<'_> {
        TagsIter(self.pairs().iter())
    }

    /// Each key once, with its pairs (one or more), by key.
    pub fn groups(&self) -> TagGroups<'_> {
        TagGroups(self.pairs())
    }

    /// The value of `key`; the first in order when it has several ([`Tags::values`]).
    pub fn get(&self, key: &str) -> Option<&String> {
        let range = self.key_range(key);
        self.pairs()[range].first().map(|(_, value)| value)
    }

    /// Every value of `key`, in order.
    pub fn values<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        let range = self.key_range(key);
        self.pairs()[range].iter().map(|(_, value)| value.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        !self.key_range(key).is_empty()
    }

    /// Sets `key` to `value` alone: its other values go.
    pub fn insert(&mut self, key: String, value: String) {
        let range = self.key_range(&key);
        let pairs = self.pairs();
        if range.len() == 1 && pairs[range.start].1 == value {
            return;
        }
        self.pairs_mut().splice(range, [(key, value)]);
    }

    /// Adds the pair, keeping the key's other values (as Datadog appends tag lists); a pair
    /// already there is not repeated.
    pub fn add(&mut self, key: String, value: String) {
        let pairs = self.pairs();
        let at = match pairs.binary_search_by(|(k, v)| (k.as_str(), v.as_str()).cmp(&(key.as_str(), value.as_str()))) {
            Ok(_) => return,
            Err(at) => at,
        };
        self.pairs_mut().insert(at, (key, value));
    }

    /// Removes every value of `key`; returns the first.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let range = self.key_range(key);
        if range.is_empty() {
            return None;
        }
        let removed = self.pairs_mut().drain(range).next().map(|(_, value)| value);
        if self.is_empty() {
            self.0 = None;
        }
        removed
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }

    fn from_pairs(mut pairs: Vec<(String, String)>) -> Tags {
        if pairs.is_empty() {
            return Tags(None);
        }
        pairs.sort_unstable();
        pairs.dedup();
        Tags(Some(Arc::new(pairs)))
    }
}

/// The pairs of a [`Tags`], as `(&key, &value)`.
pub struct TagsIter<'a>(std::slice::Iter<'a, (String, String)>);

impl<'a> Iterator for TagsIter<'a> {
    type Item = (&'a String, &'a String);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(key, value)| (key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for TagsIter<'_> {}

/// The keys of a [`Tags`], each with its pairs (`pairs[..].1` are the values, in order).
pub struct TagGroups<'a>(&'a [(String, String)]);

impl<'a> Iterator for TagGroups<'a> {
    type Item = (&'a str, &'a [(String, String)]);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, _) = self.0.first()?;
        let len = self.0.iter().take_while(|(k, _)| k == key).count();
        let (group, rest) = self.0.split_at(len);
        self.0 = rest;
        Some((key.as_str(), group))
    }
}

impl PartialEq for Tags {
    fn eq(&self, other: &Tags) -> bool {
        self.shares(other) || self.pairs() == other.pairs()
    }
}

impl Eq for Tags {}

impl PartialOrd for Tags {
    fn partial_cmp(&self, other: &Tags) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tags {
    fn cmp(&self, other: &Tags) -> std::cmp::Ordering {
        self.pairs().cmp(other.pairs())
    }
}

impl std::hash::Hash for Tags {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.pairs().hash(state);
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `tags["key"]`: the (first) value of a key that must be there.
impl std::ops::Index<&str> for Tags {
    type Output = String;

    fn index(&self, key: &str) -> &String {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no tag `{key}`"),
        }
    }
}

impl From<std::collections::BTreeMap<String, String>> for Tags {
    fn from(map: std::collections::BTreeMap<String, String>) -> Tags {
        // Already sorted, keys once.
        if map.is_empty() { Tags(None) } else { Tags(Some(Arc::new(map.into_iter().collect()))) }
    }
}

impl<const N: usize> From<[(String, String); N]> for Tags {
    fn from(pairs: [(String, String); N]) -> Tags {
        Tags::from_pairs(Vec::from(pairs))
    }
}

/// Every pair (a key given twice keeps both values, as [`Tags::add`]).
impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Tags {
        Tags::from_pairs(iter.into_iter().collect())
    }
}

/// Adds every pair, as [`Tags::add`].
impl Extend<(String, String)> for Tags {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        let mut iter = iter.into_iter().peekable();
        if iter.peek().is_none() {
            return;
        }
        let pairs = self.pairs_mut();
        pairs.extend(iter);
        pairs.sort_unstable();
        pairs.dedup();
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = (&'a String, &'a String);
    type IntoIter = TagsIter<'a>;

    fn into_iter(self) -> TagsIter<'a> {
        self.iter()
    }
}

impl IntoIterator for Tags {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.map(Arc::unwrap_or_clone).unwrap_or_default().into_iter()
    }
}

impl PartialEq<std::collections::BTreeMap<String, String>> for Tags {
    fn eq(&self, other: &std::collections::BTreeMap<String, String>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// A key's values, as an array.
        struct Values<'a>(&'a [(String, String)]);

        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|(_, value)| value))
            }
        }

        let mut map = serializer.serialize_map(None)?;
        for (key, group) in self.groups() {
            match group {
                [(_, value)] => map.serialize_entry(key, value)?,
                several => map.serialize_entry(key, &Values(several))?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tags, D::Error> {
        /// A key's value or array of values.
        struct Values(Vec<String>);

        impl<'de> Deserialize<'de> for Values {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Values, D::Error> {
                struct ValuesVisitor;

                impl<'de> Visitor<'de> for ValuesVisitor {
                    type Value = Values;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a tag value or an array of tag values")
                    }

                    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Values, E> {
                        Ok(Values(vec![value.to_owned()]))
                    }

                    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Values, E> {
                        Ok(Values(vec![value]))
                    }

                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                        let mut values = Vec::new();
                        while let Some(value) = seq.next_element::<String>()? {
                            values.push(value);
                        }
                        Ok(Values(values))
                    }
                }

                deserializer.deserialize_any(ValuesVisitor)
            }
        }

        struct TagsVisitor;

        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of tag keys to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, Values(values))) = map.next_entry::<String, Values>()? {
                    pairs.extend(values.into_iter().map(|value| (key.clone(), value)));
                }
                Ok(Tags::from_pairs(pairs))
            }
        }

        deserializer.deserialize_map(TagsVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn add_keeps_every_value_of_a_key_and_insert_sets_one() {
        let mut t = tags(&[("site", "paris"), ("snmp_device", "10.0.0.1")]);
        t.add("site".into(), "dc1".into());
        t.add("site".into(), "paris".into());
        assert_eq!(t.values("site").collect::<Vec<_>>(), ["dc1", "paris"]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get("site").unwrap(), "dc1");
        let pairs: Vec<(&str, &str)> = t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("site", "dc1"), ("site", "paris"), ("snmp_device", "10.0.0.1")]);
        t.insert("site".into(), "lyon".into());
        assert_eq!(t.values("site").collect::<Vec<_>>(), ["lyon"]);
        assert_eq!(t.remove("site").unwrap(), "lyon");
        assert!(!t.contains_key("site"));
        t.remove("snmp_device");
        assert!(t.is_empty() && t.shared_address().is_none(), "empty again allocates nothing");
    }

    #[test]
    fn copy_on_write_leaves_clones_alone() {
        let a = tags(&[("k", "1")]);
        let mut b = a.clone();
        assert!(a.shares(&b));
        b.insert("k".into(), "1".into());
        assert!(a.shares(&b), "setting the value it has copies nothing");
        b.add("k".into(), "2".into());
        assert!(!a.shares(&b));
        assert_eq!(a.values("k").count(), 1);
        assert_eq!(b.values("k").count(), 2);
    }

    #[test]
    fn json_has_an_array_only_for_a_key_with_several_values_and_reads_both_forms() {
        let t = tags(&[("site", "paris"), ("site", "dc1"), ("bare", "")]);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"bare":"","site":["dc1","paris"]}"#);
        let back: Tags = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        let single: Tags = serde_json::from_str(r#"{"a":"1","b":"2"}"#).unwrap();
        assert_eq!(single, tags(&[("a", "1"), ("b", "2")]));
        assert!(serde_json::from_str::<Tags>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn groups_give_each_key_once() {
        let t = tags(&[("b", "2"), ("a", "1"), ("b", "1"), ("c", "")]);
        let groups: Vec<(&str, usize)> = t.groups().map(|(k, g)| (k, g.len())).collect();
        assert_eq!(groups, [("a", 1), ("b", 2), ("c", 1)]);
    }
}
