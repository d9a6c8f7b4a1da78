//! Kubernetes label selectors and field selectors, as used by the `labelSelector` and
//! `fieldSelector` list/watch query parameters and by `metav1.LabelSelector` objects.
//!
//! This module owns parsing, validation and matching. The grammar, the validation rules
//! and the error wording follow k8s.io/apimachinery (`pkg/labels`, `pkg/fields`,
//! `pkg/util/validation`) so clients see familiar messages. Which fields a resource
//! supports in a field selector is the caller's decision: [`FieldSelector::fields`]
//! lists the ones a selector uses.
//!
//! The code is cut by concern: [`LabelSelector`] and its requirements in
//! `label_selector`, the text syntax of label selectors in `label_parser`, the label key
//! and value rules with their upstream-worded messages in `validation`, and
//! [`FieldSelector`] in `field_selector`. This file holds what they share: the error
//! type and how a JSON value reads as label or field text.

mod field_selector;
mod label_parser;
mod label_selector;
#[cfg(test)]
mod tests;
mod validation;

use std::borrow::Cow;

use crate::tree::Json;

pub use field_selector::FieldSelector;
pub use label_selector::LabelSelector;

/// Why a selector could not be parsed. Messages are worded like upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector requirement is malformed or has an invalid key or value.
    #[error("unable to parse requirement: {0}")]
    InvalidRequirement(String),
    /// The label selector text breaks the grammar between requirements.
    #[error("{0}")]
    LabelSyntax(String),
    /// A `metav1.LabelSelector` object is malformed or has invalid keys or values.
    #[error("{0}")]
    InvalidLabelSelector(String),
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm { selector: String, term: String },
    #[error("invalid field selector: invalid escape sequence: {sequence}")]
    InvalidEscapeSequence { sequence: String },
    #[error("invalid field selector: unescaped character in value: {character:?}")]
    UnescapedCharacter { character: char },
}

/// The text a label or field value compares as: strings as themselves, other JSON
/// values (booleans, numbers) as their JSON text, `null` as empty.
fn json_text<J: Json>(value: &J) -> Cow<'_, str> {
    if let Some(text) = value.as_str() {
        return Cow::Borrowed(text);
    }
    if value.is_null() {
        return Cow::Borrowed("");
    }
    // Encoding a JSON value to text cannot fail.
    Cow::Owned(serde_json::to_string(value).unwrap_or_default())
}
