//! [`FieldSelector`]: parsing of the `fieldSelector` text syntax (terms, operators and
//! value escapes, as upstream `pkg/fields`) and matching against an object's fields.

use std::borrow::Cow;

use serde_json::Value;

use super::{SelectorError, json_text};

/// A parsed field selector: comma-separated `field=value`, `field==value` and
/// `field!=value` terms, all of which must hold. The empty selector matches everything.
///
/// As upstream, whitespace is not trimmed, and values escape `\,`, `\=` and `\\`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOperator {
    Equals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldSelector {
    /// Parses the text form, e.g. `status.phase!=Running,spec.nodeName=n1`.
    ///
    /// # Errors
    ///
    /// When a term has no operator or no field name, or a value has a bad escape.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped_commas(text) {
            if term.is_empty() {
                continue;
            }
            let not_understood = || SelectorError::InvalidFieldTerm {
                selector: text.to_owned(),
                term: term.to_owned(),
            };
            let (field, operator, escaped_value) =
                split_field_term(term).ok_or_else(not_understood)?;
            if field.is_empty() {
                return Err(not_understood());
            }
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value: unescape_field_value(escaped_value)?,
            });
        }
        Ok(Self { requirements })
    }

    /// Whether the object is selected. A dotted field path is looked up in the object;
    /// a missing field reads as the empty string, so `spec.nodeName=` selects objects
    /// without a node and `spec.unschedulable=false` does not select a Node that lacks
    /// the field. Booleans and numbers compare by their JSON text (`true`, `3`).
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|requirement| {
            let actual = field_value(object, &requirement.field);
            match requirement.operator {
                FieldOperator::Equals => actual == requirement.value,
                FieldOperator::NotEquals => actual != requirement.value,
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value required for `field` by an `=`/`==` requirement, if any (lets a server
    /// narrow a scan, e.g. metadata.name or metadata.namespace).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|requirement| {
                requirement.operator == FieldOperator::Equals && requirement.field == field
            })
            .map(|requirement| requirement.value.as_str())
    }

    /// The fields the selector tests, so a server can reject ones a resource does not
    /// support (upstream answers `field label not supported: <field>`).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.requirements
            .iter()
            .map(|requirement| requirement.field.as_str())
    }
}

/// Splits on commas not preceded by a backslash escape (upstream `splitTerms`).
fn split_unescaped_commas(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut term_start = 0;
    let mut escaped = false;
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&text[term_start..index]);
                term_start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[term_start..]);
    terms
}

/// Splits a term at its first operator (upstream `splitTerm`).
fn split_field_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        ("==", FieldOperator::Equals),
        ("=", FieldOperator::Equals),
    ];
    term.char_indices().find_map(|(index, _)| {
        OPERATORS.iter().find_map(|(symbol, operator)| {
            term[index..]
                .strip_prefix(symbol)
                .map(|value| (&term[..index], *operator, value))
        })
    })
}

/// Upstream `UnescapeValue`: `\\`, `\,` and `\=` are the only escapes, and `,` or `=`
/// must be escaped.
fn unescape_field_value(escaped: &str) -> Result<String, SelectorError> {
    let mut value = String::with_capacity(escaped.len());
    let mut characters = escaped.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => match characters.next() {
                Some(next @ ('\\' | ',' | '=')) => value.push(next),
                Some(next) => {
                    return Err(SelectorError::InvalidEscapeSequence {
                        sequence: format!("\\{next}"),
                    });
                }
                None => {
                    return Err(SelectorError::InvalidEscapeSequence {
                        sequence: "\\".to_owned(),
                    });
                }
            },
            ',' | '=' => return Err(SelectorError::UnescapedCharacter { character }),
            other => value.push(other),
        }
    }
    Ok(value)
}

/// Resolves a dotted path such as `status.phase`; missing fields read as empty.
fn field_value<'v>(object: &'v Value, field: &str) -> Cow<'v, str> {
    field
        .split('.')
        .try_fold(object, |current, segment| current.get(segment))
        .map_or(Cow::Borrowed(""), json_text)
}
