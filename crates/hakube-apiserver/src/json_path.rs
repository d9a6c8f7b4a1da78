//! The JSONPath that custom resource printer columns use (`.status.replicas`,
//! `.spec.ports[0].port`, `.items[*].name`, `['a.b']`, and filters such as
//! `.status.conditions[?(@.type=="Ready")].status`): parsed once per definition, evaluated
//! per object to every value it reaches, in document order.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.a.b OP literal)]`, or `[?(@.a.b)]` (the field exists) when `compare` is None.
    Filter {
        fields: Vec<String>,
        compare: Option<(Operator, Value)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

/// Why a path does not parse (one line, for a validation message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(String);

fn error(why: impl Into<String>) -> PathError {
    PathError(why.into())
}

/// A field name after a `.`: up to the next `.` or `[`.
fn field_name(text: &str) -> (&str, &str) {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// The dotted fields after `@` in a filter (`@.a.b`).
fn filter_fields(text: &str) -> Result<Vec<String>, PathError> {
    let rest = text
        .trim()
        .strip_prefix('@')
        .ok_or_else(|| error(format!("a filter must start with @: {text}")))?;
    let fields: Vec<String> = rest.split('.').skip(1).map(str::to_string).collect();
    if !rest.starts_with('.') || fields.iter().any(String::is_empty) {
        return Err(error(format!("unsupported filter field: {text}")));
    }
    Ok(fields)
}

fn literal(text: &str) -> Result<Value, PathError> {
    let text = text.trim();
    let quoted = |q: char| text.len() >= 2 && text.starts_with(q) && text.ends_with(q);
    if quoted('"') || quoted('\'') {
        return Ok(Value::String(text[1..text.len() - 1].to_string()));
    }
    serde_json::from_str(text).map_err(|_| error(format!("unsupported filter value: {text}")))
}

fn filter(inner: &str) -> Result<Step, PathError> {
    let body = inner
        .strip_prefix("?(")
        .and_then(|b| b.strip_suffix(')'))
        .ok_or_else(|| error(format!("unsupported filter: [{inner}]")))?;
    for (symbol, operator) in [("==", Operator::Equal), ("!=", Operator::NotEqual)] {
        if let Some((left, right)) = body.split_once(symbol) {
            return Ok(Step::Filter {
                fields: filter_fields(left)?,
                compare: Some((operator, literal(right)?)),
            });
        }
    }
    Ok(Step::Filter {
        fields: filter_fields(body)?,
        compare: None,
    })
}

fn bracket(inner: &str) -> Result<Step, PathError> {
    let inner = inner.trim();
    if inner == "*" {
        return Ok(Step::All);
    }
    if inner.starts_with('?') {
        return filter(inner);
    }
    let quoted = |q: char| inner.len() >= 2 && inner.starts_with(q) && inner.ends_with(q);
    if quoted('\'') || quoted('"') {
        return Ok(Step::Field(inner[1..inner.len() - 1].to_string()));
    }
    inner
        .parse()
        .map(Step::Index)
        .map_err(|_| error(format!("unsupported subscript: [{inner}]")))
}

/// The end of a bracket starting at `text[0] == '['`, skipping brackets inside quotes.
fn bracket_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (index, c) in text.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return Some(index),
            (None, _) => {}
        }
    }
    None
}

impl JsonPath {
    /// Parses `.a.b[0]`, with or without the surrounding `{…}` kubectl templates use.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let mut rest = text.trim();
        if let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            rest = inner.trim();
        }
        rest = rest.strip_prefix('$').unwrap_or(rest);
        if rest.is_empty() {
            return Err(error("an empty JSONPath"));
        }
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let (name, tail) = field_name(after);
                match name {
                    "" if tail.starts_with('[') => {}
                    "" => return Err(error(format!("a path step has no name in {text}"))),
                    "*" => steps.push(Step::All),
                    name => steps.push(Step::Field(name.to_string())),
                }
                rest = tail;
            } else if rest.starts_with('[') {
                let end =
                    bracket_end(rest).ok_or_else(|| error(format!("unterminated [ in {text}")))?;
                steps.push(bracket(&rest[1..end])?);
                rest = &rest[end + 1..];
            } else {
                return Err(error(format!(
                    "unexpected {rest:?} in {text}: steps start with . or ["
                )));
            }
        }
        Ok(JsonPath { steps })
    }

    /// Every value the path reaches in `object` (missing keys reach nothing).
    pub fn find<'a>(&self, object: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![object];
        for step in &self.steps {
            current = current.into_iter().flat_map(|v| apply(step, v)).collect();
        }
        current
    }
}

fn reach<'a>(value: &'a Value, fields: &[String]) -> Option<&'a Value> {
    fields.iter().try_fold(value, |v, field| v.get(field))
}

fn apply<'a>(step: &Step, value: &'a Value) -> Vec<&'a Value> {
    match step {
        Step::Field(name) => value.get(name).into_iter().collect(),
        Step::Index(index) => {
            let Some(items) = value.as_array() else {
                return Vec::new();
            };
            let position = if *index < 0 {
                items.len().checked_sub(index.unsigned_abs() as usize)
            } else {
                Some(*index as usize)
            };
            position.and_then(|p| items.get(p)).into_iter().collect()
        }
        Step::All => match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(map) => map.values().collect(),
            _ => Vec::new(),
        },
        Step::Filter { fields, compare } => value
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| match (reach(item, fields), compare) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(found), Some((Operator::Equal, wanted))) => found == wanted,
                (Some(found), Some((Operator::NotEqual, wanted))) => found != wanted,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, object: &Value) -> Option<Value> {
        JsonPath::parse(path)
            .expect("the test path parses")
            .find(object)
            .first()
            .map(|v| (*v).clone())
    }

    #[test]
    fn fields_indexes_and_filters() {
        let object = json!({"spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}]},
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}});
        assert_eq!(first(".spec.replicas", &object), Some(json!(3)));
        assert_eq!(first("{.spec.ports[1].port}", &object), Some(json!(443)));
        assert_eq!(first(".spec.ports[-1].port", &object), Some(json!(443)));
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &object),
            Some(json!("web"))
        );
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Synced")].status"#, &object),
            Some(json!("False"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type!='Ready')].type", &object),
            Some(json!("Synced"))
        );
        let all = JsonPath::parse(".spec.ports[*].port").expect("parses");
        assert_eq!(all.find(&object), [&json!(80), &json!(443)]);
        assert_eq!(first(".spec.missing.deeper", &object), None);
        assert_eq!(first(".spec.ports[7]", &object), None);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", ".", ".spec[", "spec", ".a[?(x==1)]", ".a[one]"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} parsed");
        }
    }
}
