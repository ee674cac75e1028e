//! What sources and sinks have in common: how their config enums are declared, and the
//! future a built component runs as.

use std::future::Future;
use std::pin::Pin;

/// A built component: runs until its input ends (sinks) or it is told to stop (sources).
pub type Running = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>;

/// Declares the config enum of a component family: one variant per `type:` value, read
/// from `{type: name, ...}` mappings and printed back in the same shape.
macro_rules! component_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident($config:ty) = $type_name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        // Configs are read once at start-up; boxing variants would buy nothing.
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            $(#[serde(rename = $type_name)] $variant($config)),*
        }

        impl $name {
            /// Every `type:` value this family accepts.
            pub const TYPES: &[&str] = &[$($type_name),*];

            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $type_name),*
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut value = match self {
                    $(Self::$variant(config) => serde_json::to_value(config).map_err(serde::ser::Error::custom)?),*
                };
                if let serde_json::Value::Object(map) = &mut value {
                    map.insert("type".to_owned(), self.type_name().into());
                }
                value.serialize(serializer)
            }
        }
    };
}

pub(crate) use component_enum;
