//! Keys one struct shares with the mapping of another: the SNMPv3 credentials written
//! beside a device's `address`, or beside the `snmp` source's `interval`.
//!
//! serde's `flatten` cannot do this here: it accepts any key (it cannot deny unknown ones)
//! and hands the outer struct buffered values, which loses what our YAML layer does per
//! target type (locations in errors, `<key>_file`, comma-separated lists, numbers from
//! `${VAR}`). Instead, the outer struct derives its own fields with `#[serde(remote =
//! "Self")]` and marks the shared part `#[serde(flatten, skip_deserializing)]` (flattened
//! when printed, not read by the derive); [`inline_keys!`] then writes its `Deserialize`:
//! every key of the mapping goes either to the shared part ([`InlineKeys::read`]) or to
//! the derived fields, and a key neither knows is an error listing both.
//! (`config::load_str` does the same for the keys every sink shares, at the node level.)

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// A struct whose keys are written inline in another struct's mapping.
pub trait InlineKeys: Default {
    /// Its keys, as written.
    fn keys() -> Vec<&'static str>;
    /// Reads the value of `key` (one of [`InlineKeys::keys`]) from `map` into `self`.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// A struct that has an [`InlineKeys`] part (see the module docs).
pub trait WithInline: Sized {
    type Inline: InlineKeys;
    const NAME: &'static str;
    /// The derived `Deserialize` of the struct's own fields (`#[serde(remote = "Self")]`).
    fn deserialize_own<'de, D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
    fn set_inline(&mut self, inline: Self::Inline);
    /// Own keys then inline keys, computed once ([`all_keys`]).
    fn all_keys() -> &'static [&'static str];
}

/// The keys of `T`: the derived ones (asked of the derive itself, so they cannot drift)
/// then the inline ones. Leaked once per type, as serde wants `'static` key lists.
pub fn all_keys<T: WithInline>() -> &'static [&'static str] {
    let mut keys = own_keys::<T>();
    keys.extend(T::Inline::keys());
    keys.leak()
}

/// The field names `T`'s derived `Deserialize` asks a deserializer for.
fn own_keys<T: WithInline>() -> Vec<&'static str> {
    let mut probe = Vec::new();
    let _ = T::deserialize_own(FieldsProbe { fields: &mut probe });
    probe
}

/// Deserializes `T`, its own keys and its inline keys from one mapping.
pub fn deserialize<'de, T: WithInline, D: de::Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_struct(T::NAME, T::all_keys(), SplitVisitor::<T>(PhantomData))
}

/// Deserializes an [`InlineKeys`] struct written on its own (a mapping of only its keys).
pub fn deserialize_alone<'de, I: InlineKeys, D: de::Deserializer<'de>>(
    deserializer: D,
    name: &'static str,
    keys: &'static [&'static str],
) -> Result<I, D::Error> {
    struct Alone<I>(&'static [&'static str], PhantomData<I>);
    impl<'de, I: InlineKeys> Visitor<'de> for Alone<I> {
        type Value = I;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<I, A::Error> {
            let mut inline = I::default();
            while let Some(key) = map.next_key_seed(KnownKey { keys: self.0 })? {
                inline.read(key, &mut map)?;
            }
            Ok(inline)
        }
    }
    deserializer.deserialize_struct(name, keys, Alone(keys, PhantomData))
}

struct SplitVisitor<T>(PhantomData<T>);

impl<'de, T: WithInline> Visitor<'de> for SplitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let mut split =
            Split { map, inline: T::Inline::default(), inline_keys: T::Inline::keys(), all_keys: T::all_keys() };
        let mut value = T::deserialize_own(de::value::MapAccessDeserializer::new(&mut split))?;
        value.set_inline(split.inline);
        Ok(value)
    }
}

/// The mapping as the derived part sees it: inline keys are read aside, unknown keys fail
/// here (so the error lists every key, and is located at the key).
struct Split<A, I> {
    map: A,
    inline: I,
    inline_keys: Vec<&'static str>,
    all_keys: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>, I: InlineKeys> MapAccess<'de> for &mut Split<A, I> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key_seed(KnownKey { keys: self.all_keys })? else {
                return Ok(None);
            };
            if self.inline_keys.contains(&key) {
                self.inline.read(key, &mut self.map)?;
                continue;
            }
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Implements [`WithInline`], `Deserialize` and `Serialize` for a struct declared with
/// `#[serde(remote = "Self")]` whose `$field: $inline` is `#[serde(flatten, skip_deserializing)]`.
macro_rules! inline_keys {
    ($ty:ident, $field:ident: $inline:ty) => {
        impl $crate::config::inline::WithInline for $ty {
            type Inline = $inline;
            const NAME: &'static str = stringify!($ty);
            fn deserialize_own<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // The derived (remote = "Self") inherent function, not the trait's.
                $ty::deserialize(deserializer)
            }
            fn set_inline(&mut self, inline: $inline) {
                self.$field = inline;
            }
            fn all_keys() -> &'static [&'static str] {
                static KEYS: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
                KEYS.get_or_init($crate::config::inline::all_keys::<$ty>)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::config::inline::deserialize(deserializer)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, serializer)
            }
        }
    };
}
pub(crate) use inline_keys;

/// A key that must be one of `keys` (else the unknown-key error, at the key).
struct KnownKey {
    keys: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for KnownKey {
    type Value = &'static str;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<&'static str, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KnownKey {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        self.keys.iter().find(|k| **k == key).copied().ok_or_else(|| E::unknown_field(key, self.keys))
    }
}

/// A deserializer that only records the field names a derived struct asks for.
struct FieldsProbe<'a> {
    fields: &'a mut Vec<&'static str>,
}

#[derive(Debug)]
struct Probed;

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fields probed")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probed
    }
}

impl<'de> de::Deserializer<'de> for FieldsProbe<'_> {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probed> {
        self.fields.extend_from_slice(fields);
        Err(Probed)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}
