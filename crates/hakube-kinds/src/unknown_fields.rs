//! Finding the fields of an input object that its typed form dropped: those are the fields the
//! kind does not have (`fieldValidation=Strict` refuses them, `Warn` reports them).

use serde_json::Value;

/// Paths (`spec.template.spec.containers[0].imagee`) present in `input` but not in `canonical`.
/// A `null` input field is not unknown (it reads as absent).
pub fn unknown_fields(input: &Value, canonical: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(input, canonical, String::new(), &mut found);
    found
}

fn walk(input: &Value, canonical: &Value, path: String, found: &mut Vec<String>) {
    match (input, canonical) {
        (Value::Object(input), Value::Object(canonical)) => {
            for (key, value) in input {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match canonical.get(key) {
                    Some(kept) => walk(value, kept, child, found),
                    None if value.is_null() => {}
                    None => found.push(child),
                }
            }
        }
        (Value::Array(input), Value::Array(canonical)) => {
            for (index, (value, kept)) in input.iter().zip(canonical).enumerate() {
                walk(value, kept, format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}
