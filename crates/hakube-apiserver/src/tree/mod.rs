//! [`Tree`]: the compact, read-only JSON tree the decoded cache keeps objects in
//! ([`crate::decoded_cache`]), and what its readers need from it: lookups like
//! `serde_json::Value`'s, typed reads through serde (`Pod::deserialize(&tree)`), encoding,
//! and a `Value` copy for the rare reader that changes an object and writes it back.
//!
//! Why not `Value`: its objects are std BTreeMaps, and every non-empty one allocates a whole
//! 11-slot leaf (~632 bytes) even for a single entry; a pod has ~17 of them, so a 2 KB pod
//! took ~16 KB decoded and 1,000 cached pods ~16 MB. Here an object is one boxed slice of
//! entries sorted by key (binary search; the same iteration order as `Value`'s map), an array
//! a boxed slice, a string a boxed `str`: a node is 24 bytes and nothing is over-allocated.
//!
//! The code is cut by concern: building from stored bytes or a `Value` in `build`, the serde
//! `Deserializer` over a borrowed tree in `de`, `Serialize` in `ser`, and the read trait
//! shared with `Value` ([`Json`], [`At`]) in `read`. This file holds the type and its
//! `Value`-like accessors.

mod build;
mod de;
mod read;
mod ser;

use std::fmt;
use std::ops::Index;

use serde_json::{Map, Number, Value};

pub use read::{At, Json};

/// A JSON value, immutable once built. Object entries are sorted by key, without duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Tree {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Box<str>),
    Array(Box<[Tree]>),
    Object(Box<[(Box<str>, Tree)]>),
}

/// What indexing returns for a missing key or index, as `Value`'s `Index` does.
static NULL: Tree = Tree::Null;

impl Tree {
    /// The member `key` of an object (None for a missing key or a non-object).
    pub fn get(&self, key: &str) -> Option<&Tree> {
        let entries = self.as_object()?;
        entries
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|found| &entries[found].1)
    }

    /// The item `index` of an array (None out of bounds or for a non-array).
    pub fn get_index(&self, index: usize) -> Option<&Tree> {
        self.as_array()?.get(index)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Tree::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Tree::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Tree::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    pub fn as_array(&self) -> Option<&[Tree]> {
        match self {
            Tree::Array(items) => Some(items),
            _ => None,
        }
    }

    /// An object's entries, sorted by key.
    pub fn as_object(&self) -> Option<&[(Box<str>, Tree)]> {
        match self {
            Tree::Object(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Tree::Null)
    }

    pub fn is_boolean(&self) -> bool {
        matches!(self, Tree::Bool(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Tree::Number(_))
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Tree::String(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Tree::Array(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Tree::Object(_))
    }

    /// Looks up a JSON Pointer (RFC 6901), as `Value::pointer`.
    pub fn pointer(&self, pointer: &str) -> Option<&Tree> {
        read::pointer(self, pointer)
    }

    /// A `Value` copy, for a reader that changes the object (to write it back): the cache's
    /// trees are shared and never change.
    pub fn to_value(&self) -> Value {
        match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Number(n) => Value::Number(n.clone()),
            Tree::String(text) => Value::String(text.to_string()),
            Tree::Array(items) => Value::Array(items.iter().map(Tree::to_value).collect()),
            Tree::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

impl Index<&str> for Tree {
    type Output = Tree;

    /// The member `key`, or null when absent (as `Value`'s `Index`, which never panics on reads).
    fn index(&self, key: &str) -> &Tree {
        self.get(key).unwrap_or(&NULL)
    }
}

impl Index<usize> for Tree {
    type Output = Tree;

    fn index(&self, index: usize) -> &Tree {
        self.get_index(index).unwrap_or(&NULL)
    }
}

impl PartialEq<Value> for Tree {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Tree::Null, Value::Null) => true,
            (Tree::Bool(a), Value::Bool(b)) => a == b,
            (Tree::Number(a), Value::Number(b)) => a == b,
            (Tree::String(a), Value::String(b)) => **a == **b,
            (Tree::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            // Both iterate in key order: equal maps pair up entry by entry.
            (Tree::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| **ka == **kb && va == vb)
            }
            _ => false,
        }
    }
}

impl PartialEq<Tree> for Value {
    fn eq(&self, other: &Tree) -> bool {
        other == self
    }
}

impl PartialEq<str> for Tree {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Tree {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Tree {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<bool> for Tree {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

/// Numbers compare as `Value`'s do with Rust numbers: by value in the type's own domain.
macro_rules! eq_numbers {
    ($($ty:ty => $as:ident as $wide:ty),* $(,)?) => {
        $(
            impl PartialEq<$ty> for Tree {
                fn eq(&self, other: &$ty) -> bool {
                    self.$as() == Some(<$wide>::from(*other))
                }
            }
        )*
    };
}

eq_numbers!(i32 => as_i64 as i64, i64 => as_i64 as i64, u32 => as_u64 as u64, u64 => as_u64 as u64, f64 => as_f64 as f64);

impl fmt::Display for Tree {
    /// Compact JSON text, as `Value`'s `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests;
