//! Reading JSON whether it is a `Value` (a request's object, a fresh read) or a cached
//! [`Tree`]: [`Json`] is what the helpers both kinds of readers share need (metadata
//! accessors, selectors, quota counts, disruption budgets), and [`At`] the allocation-free
//! pointer lookup every reader uses.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Number, Value};

use super::Tree;

/// Read access to a JSON document, implemented by `Value` and [`Tree`], so a helper written
/// once serves the API's write path (Values) and the cache's readers (Trees) without a copy.
/// The methods mean what `Value`'s of the same names mean (on a `Value`, its own inherent
/// methods are found first; in generic code, these).
pub trait Json: Sized + PartialEq<Value> + Serialize {
    /// The member `key` of an object.
    fn get(&self, key: &str) -> Option<&Self>;
    /// The item `index` of an array.
    fn get_index(&self, index: usize) -> Option<&Self>;
    fn as_str(&self) -> Option<&str>;
    fn as_bool(&self) -> Option<bool>;
    fn as_number(&self) -> Option<&Number>;
    fn as_array(&self) -> Option<&[Self]>;
    /// An object's members in key order.
    fn members(&self) -> Option<impl Iterator<Item = (&str, &Self)>>;
    fn is_null(&self) -> bool;
    fn is_object(&self) -> bool;
    /// A `Value` copy (for a reader that changes what it read).
    fn to_value(&self) -> Value;

    fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }
}

impl Json for Value {
    fn get(&self, key: &str) -> Option<&Value> {
        Value::get(self, key)
    }

    fn get_index(&self, index: usize) -> Option<&Value> {
        Value::get(self, index)
    }

    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }

    fn as_number(&self) -> Option<&Number> {
        Value::as_number(self)
    }

    fn as_array(&self) -> Option<&[Value]> {
        Value::as_array(self).map(Vec::as_slice)
    }

    fn members(&self) -> Option<impl Iterator<Item = (&str, &Value)>> {
        Some(self.as_object()?.iter().map(|(k, v)| (k.as_str(), v)))
    }

    fn is_null(&self) -> bool {
        Value::is_null(self)
    }

    fn is_object(&self) -> bool {
        Value::is_object(self)
    }

    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl Json for Tree {
    fn get(&self, key: &str) -> Option<&Tree> {
        Tree::get(self, key)
    }

    fn get_index(&self, index: usize) -> Option<&Tree> {
        Tree::get_index(self, index)
    }

    fn as_str(&self) -> Option<&str> {
        Tree::as_str(self)
    }

    fn as_bool(&self) -> Option<bool> {
        Tree::as_bool(self)
    }

    fn as_number(&self) -> Option<&Number> {
        Tree::as_number(self)
    }

    fn as_array(&self) -> Option<&[Tree]> {
        Tree::as_array(self)
    }

    fn members(&self) -> Option<impl Iterator<Item = (&str, &Tree)>> {
        Some(self.as_object()?.iter().map(|(k, v)| (&**k, v)))
    }

    fn is_null(&self) -> bool {
        Tree::is_null(self)
    }

    fn is_object(&self) -> bool {
        Tree::is_object(self)
    }

    fn to_value(&self) -> Value {
        Tree::to_value(self)
    }
}

/// `Value::pointer` without its allocations (it makes two `String`s per token to undo `~`
/// escapes): the scheduler and the controllers look fields up in every object every round,
/// and those lookups were most of the scheduler's CPU. Pointers with escapes take the
/// general path.
pub trait At {
    fn at(&self, pointer: &str) -> Option<&Self>;
}

impl<J: Json> At for J {
    fn at(&self, pointer: &str) -> Option<&Self> {
        self::pointer(self, pointer)
    }
}

/// A JSON Pointer (RFC 6901) lookup, as `Value::pointer`: tokens without `~` are not copied.
pub(super) fn pointer<'a, J: Json>(target: &'a J, pointer: &str) -> Option<&'a J> {
    if pointer.is_empty() {
        return Some(target);
    }
    pointer
        .strip_prefix('/')?
        .split('/')
        .try_fold(target, |target, token| {
            let token = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            target
                .get(&token)
                .or_else(|| array_index(&token).and_then(|index| target.get_index(index)))
        })
}

/// An array index as JSON Pointer spells it: digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}
