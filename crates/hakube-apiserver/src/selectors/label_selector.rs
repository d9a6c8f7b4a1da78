//! [`LabelSelector`]: its requirements and operators, how they match a label map, and
//! how one is built from a `metav1.LabelSelector` object (`matchLabels` and
//! `matchExpressions`). The text form is parsed in `label_parser`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::objects::At as _;
use crate::tree::Json;

use super::label_parser::{LabelParser, tokenize};
use super::validation::{
    aggregate, go_string_list, invalid_value, label_key_problem, label_value_problems,
};
use super::{SelectorError, json_text};

/// A parsed label selector: every requirement must hold (comma means AND). The empty
/// selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses the text form, e.g. `app=web,tier in (front,back),!canary`.
    ///
    /// # Errors
    ///
    /// When the text breaks the grammar or a key or value is not a valid label key or
    /// value.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let parser = LabelParser {
            tokens: tokenize(text),
            position: 0,
        };
        Ok(Self {
            requirements: parser.parse()?,
        })
    }

    /// Converts a `metav1.LabelSelector` (`matchLabels` and `matchExpressions`). An
    /// absent (`null`) or empty selector matches everything.
    ///
    /// # Errors
    ///
    /// When the object is malformed, an operator is unknown, or a key or value is
    /// invalid.
    pub fn from_label_selector_object<J: Json>(selector: &J) -> Result<Self, SelectorError> {
        if selector.is_null() {
            return Ok(Self::default());
        }
        if !selector.is_object() {
            return Err(invalid_selector_object(
                "a label selector must be a JSON object",
            ));
        }
        let mut requirements = requirements_from_match_labels(selector.get("matchLabels"))?;
        requirements.extend(requirements_from_match_expressions(
            selector.get("matchExpressions"),
        )?);
        Ok(Self { requirements })
    }

    /// Whether an object with these labels is selected. Pass an empty map for an object
    /// without labels.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| requirement.matches(labels.get(&requirement.key)))
    }

    /// Whether `object` (its `metadata.labels`) is selected, read in place.
    pub fn matches_object<J: Json>(&self, object: &J) -> bool {
        let labels = object.at("/metadata/labels");
        self.requirements.iter().all(|requirement| {
            requirement.matches(labels.and_then(|labels| labels.get(&requirement.key)))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Strings every selected object has among its labels (keys that must exist, values that
    /// must be equal): lets a server skip stored objects that lack one without decoding them.
    pub fn required_strings(&self) -> Vec<&str> {
        let mut strings = Vec::new();
        for requirement in &self.requirements {
            match (requirement.operator, requirement.values.as_slice()) {
                (LabelOperator::Equals | LabelOperator::In, [value]) => {
                    strings.push(requirement.key.as_str());
                    strings.push(value.as_str());
                }
                (
                    LabelOperator::Exists
                    | LabelOperator::In
                    | LabelOperator::GreaterThan
                    | LabelOperator::LessThan,
                    _,
                ) => strings.push(requirement.key.as_str()),
                _ => {}
            }
        }
        strings.retain(|s| !s.is_empty());
        strings
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LabelOperator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LabelRequirement {
    key: String,
    operator: LabelOperator,
    values: Vec<String>,
}

impl LabelRequirement {
    /// Validates like upstream `labels.NewRequirement`; the error is its message.
    pub(super) fn new(
        key: String,
        operator: LabelOperator,
        values: Vec<String>,
    ) -> Result<Self, String> {
        let mut problems: Vec<String> = label_key_problem(&key, "key").into_iter().collect();
        problems.extend(value_count_problem(operator, &values));
        if matches!(
            operator,
            LabelOperator::GreaterThan | LabelOperator::LessThan
        ) {
            problems.extend(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, value)| value.parse::<i64>().is_err())
                    .map(|(index, value)| {
                        invalid_value(
                            &format!("values[{index}]"),
                            &format!("{value:?}"),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        )
                    }),
            );
        }
        for (index, value) in values.iter().enumerate() {
            let value_problems = label_value_problems(value);
            if !value_problems.is_empty() {
                problems.push(invalid_value(
                    &format!("values[{index}][{key}]"),
                    &format!("{value:?}"),
                    &value_problems.join("; "),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Self {
                key,
                operator,
                values,
            })
        } else {
            Err(aggregate(&problems))
        }
    }

    /// Upstream `Requirement.Matches` of the object's `label` under this key: `!=` and
    /// `notin` also match a missing label.
    fn matches<J: Json>(&self, label: Option<&J>) -> bool {
        let label = label.map(json_text);
        let has_listed_value =
            |label: &Cow<'_, str>| self.values.iter().any(|value| value == label);
        match self.operator {
            LabelOperator::Equals | LabelOperator::In => {
                label.is_some_and(|label| has_listed_value(&label))
            }
            LabelOperator::NotEquals | LabelOperator::NotIn => {
                label.is_none_or(|label| !has_listed_value(&label))
            }
            LabelOperator::Exists => label.is_some(),
            LabelOperator::DoesNotExist => label.is_none(),
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                label.is_some_and(|label| self.compares(&label))
            }
        }
    }

    /// `gt`/`lt` compare integers; a label that is not an integer never matches.
    fn compares(&self, label: &str) -> bool {
        let (Ok(label), [bound]) = (label.parse::<i64>(), self.values.as_slice()) else {
            return false;
        };
        match (self.operator, bound.parse::<i64>()) {
            (LabelOperator::GreaterThan, Ok(bound)) => label > bound,
            (LabelOperator::LessThan, Ok(bound)) => label < bound,
            _ => false,
        }
    }
}

fn value_count_problem(operator: LabelOperator, values: &[String]) -> Option<String> {
    let detail = match operator {
        LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
            "for 'in', 'notin' operators, values set can't be empty"
        }
        LabelOperator::Equals | LabelOperator::NotEquals if values.len() != 1 => {
            "exact-match compatibility requires one single value"
        }
        LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
            "values set must be empty for exists and does not exist"
        }
        LabelOperator::GreaterThan | LabelOperator::LessThan if values.len() != 1 => {
            "for 'Gt', 'Lt' operators, exactly one value is required"
        }
        _ => return None,
    };
    Some(invalid_value("values", &go_string_list(values), detail))
}

fn requirements_from_match_labels<J: Json>(
    match_labels: Option<&J>,
) -> Result<Vec<LabelRequirement>, SelectorError> {
    let Some(labels) = match_labels.filter(|labels| !labels.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(labels) = labels.members() else {
        return Err(invalid_selector_object("matchLabels must be an object"));
    };
    labels
        .map(|(key, value)| {
            let value = value.as_str().ok_or_else(|| {
                invalid_selector_object(&format!("matchLabels value for {key:?} must be a string"))
            })?;
            LabelRequirement::new(
                key.to_owned(),
                LabelOperator::Equals,
                vec![value.to_owned()],
            )
            .map_err(SelectorError::InvalidLabelSelector)
        })
        .collect()
}

fn requirements_from_match_expressions<J: Json>(
    match_expressions: Option<&J>,
) -> Result<Vec<LabelRequirement>, SelectorError> {
    let Some(expressions) = match_expressions.filter(|list| !list.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(expressions) = expressions.as_array() else {
        return Err(invalid_selector_object("matchExpressions must be a list"));
    };
    expressions
        .iter()
        .map(requirement_from_expression)
        .collect()
}

/// One `{key, operator, values}` entry of `matchExpressions`.
fn requirement_from_expression<J: Json>(expression: &J) -> Result<LabelRequirement, SelectorError> {
    if !expression.is_object() {
        return Err(invalid_selector_object(
            "each matchExpressions entry must be an object",
        ));
    }
    let fields = expression;
    let key = fields.get("key").and_then(J::as_str).unwrap_or_default();
    let operator_name = fields
        .get("operator")
        .and_then(J::as_str)
        .unwrap_or_default();
    let operator = match operator_name {
        "In" => LabelOperator::In,
        "NotIn" => LabelOperator::NotIn,
        "Exists" => LabelOperator::Exists,
        "DoesNotExist" => LabelOperator::DoesNotExist,
        other => {
            return Err(invalid_selector_object(&format!(
                "{other:?} is not a valid label selector operator"
            )));
        }
    };
    let values = match fields.get("values").filter(|values| !values.is_null()) {
        None => Vec::new(),
        Some(values) => values
            .as_array()
            .ok_or_else(|| invalid_selector_object("matchExpressions values must be a list"))?
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid_selector_object("matchExpressions values must be strings"))?,
    };
    LabelRequirement::new(key.to_owned(), operator, values)
        .map_err(SelectorError::InvalidLabelSelector)
}

fn invalid_selector_object(message: &str) -> SelectorError {
    SelectorError::InvalidLabelSelector(message.to_owned())
}
