//! [`Tree`] encodes as the JSON it was decoded from (objects in key order, as `Value`'s).

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::Tree;

impl Serialize for Tree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Tree::Null => serializer.serialize_unit(),
            Tree::Bool(b) => serializer.serialize_bool(*b),
            Tree::Number(n) => n.serialize(serializer),
            Tree::String(text) => serializer.serialize_str(text),
            Tree::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Tree::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(&**key, value)?;
                }
                map.end()
            }
        }
    }
}
