//! Building a [`Tree`]: straight from JSON bytes through serde (no `Value` in between, so a
//! decode allocates only the tree it keeps), the decoded cache's form of a stored object
//! ([`Tree::from_stored`]), and from a `Value` (tests, and objects that do not come from the
//! store).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::{Number, Value};

use super::Tree;

impl Tree {
    /// The cached form of a stored object: decoded from its JSON `bytes`, without
    /// `metadata.managedFields` (no cache reader looks at them, and they are a third of a
    /// pod), with `metadata.resourceVersion` set to `revision` as every read sets it.
    ///
    /// # Errors
    ///
    /// When `bytes` are not one JSON value.
    pub fn from_stored(bytes: &[u8], revision: u64) -> Result<Tree, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let tree = Level::Root(revision).deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(tree)
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tree, D::Error> {
        Level::Any.deserialize(deserializer)
    }
}

impl From<&Value> for Tree {
    fn from(value: &Value) -> Tree {
        match value {
            Value::Null => Tree::Null,
            Value::Bool(b) => Tree::Bool(*b),
            Value::Number(n) => Tree::Number(n.clone()),
            Value::String(text) => Tree::String(text.as_str().into()),
            Value::Array(items) => Tree::Array(items.iter().map(Tree::from).collect()),
            // A map iterates in key order without duplicates: already a tree's order.
            Value::Object(map) => Tree::Object(
                map.iter()
                    .map(|(k, v)| (k.as_str().into(), Tree::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<Value> for Tree {
    fn from(value: Value) -> Tree {
        match value {
            Value::Array(items) => Tree::Array(items.into_iter().map(Tree::from).collect()),
            Value::Object(map) => Tree::Object(
                map.into_iter()
                    .map(|(k, v)| (k.into_boxed_str(), Tree::from(v)))
                    .collect(),
            ),
            Value::String(text) => Tree::String(text.into_boxed_str()),
            other => Tree::from(&other),
        }
    }
}

/// Where in a stored object a value sits, for what the cache leaves out or sets: the object
/// itself, its `metadata`, or anywhere else.
#[derive(Clone, Copy)]
enum Level {
    Any,
    /// The top-level object, whose `metadata` gets the revision.
    Root(u64),
    /// `metadata`: without `managedFields`, with `resourceVersion` set to the revision.
    Metadata(u64),
}

impl Level {
    /// The level of the member `key` of an object at this level.
    fn member(self, key: &str) -> Level {
        match self {
            Level::Root(revision) if key == "metadata" => Level::Metadata(revision),
            _ => Level::Any,
        }
    }

    /// Whether the member `key` is left out at this level.
    fn skips(self, key: &str) -> bool {
        matches!(self, Level::Metadata(_)) && matches!(key, "managedFields" | "resourceVersion")
    }
}

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Tree;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tree, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Tree, E> {
        Ok(Tree::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Tree, E> {
        Ok(Tree::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Tree, E> {
        // As `Value`'s visitor: a non-finite float (never from JSON text) becomes null.
        Ok(Number::from_f64(n).map_or(Tree::Null, Tree::Number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Tree, E> {
        Ok(Tree::String(text.into()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Tree, E> {
        Ok(Tree::String(text.into_boxed_str()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Level::Any)? {
            items.push(item);
        }
        Ok(Tree::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries: Vec<(Box<str>, Tree)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Box<str>>()? {
            if self.skips(&key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(self.member(&key))?;
            entries.push((key, value));
        }
        if let Level::Metadata(revision) = self {
            entries.push((
                "resourceVersion".into(),
                Tree::String(revision.to_string().into()),
            ));
        }
        Ok(Tree::Object(sorted(entries)))
    }
}

/// Entries sorted by key, the last of duplicate keys kept (as `Value`'s map keeps the last
/// insert). Stored objects were written from `Value`s, so they come sorted already.
fn sorted(mut entries: Vec<(Box<str>, Tree)>) -> Box<[(Box<str>, Tree)]> {
    if !entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
        // Stable: duplicates stay in input order, and each run keeps its last value.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| {
            let duplicate = later.0 == kept.0;
            if duplicate {
                std::mem::swap(later, kept);
            }
            duplicate
        });
    }
    entries.into_boxed_slice()
}
