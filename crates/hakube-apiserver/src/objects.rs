//! Object metadata the server owns: names (validation, generateName), uid, creation time,
//! generation, and small accessors over the JSON model (a `Value` or a cached `Tree`).

use rand::RngExt;
use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::tree::Json;

pub use crate::tree::At;

pub fn metadata(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    match object.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(metadata) => metadata,
        // Just made an object above.
        None => unreachable!("metadata is an object"),
    }
}

pub fn field<'a, J: Json>(object: &'a J, path: &[&str]) -> Option<&'a J> {
    path.iter().try_fold(object, |value, key| value.get(key))
}

pub fn text<'a, J: Json>(object: &'a J, path: &[&str]) -> Option<&'a str> {
    field(object, path).and_then(J::as_str)
}

pub fn name<J: Json>(object: &J) -> Option<&str> {
    text(object, &["metadata", "name"]).filter(|name| !name.is_empty())
}

pub fn namespace<J: Json>(object: &J) -> Option<&str> {
    text(object, &["metadata", "namespace"]).filter(|ns| !ns.is_empty())
}

pub fn resource_version<J: Json>(object: &J) -> Option<&str> {
    text(object, &["metadata", "resourceVersion"]).filter(|rv| !rv.is_empty())
}

pub fn labels(object: &Value) -> Map<String, Value> {
    field(object, &["metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

pub fn now_unix_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `generateName` plus five random characters from upstream's alphabet (no vowels, so no
/// words; no confusable digits).
pub fn generated_name(base: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // Upstream cuts the base so the whole name stays within 63 characters.
    let base: String = base.chars().take(58).collect();
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

/// Which naming rule a kind follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: lower-case alphanumerics, '-' and '.', ≤ 253 (most kinds).
    Subdomain,
    /// RFC 1123 label: lower-case alphanumerics and '-', ≤ 63 (namespaces, services).
    Label,
    /// RFC 1035 label: like Label but starting with a letter (services).
    Rfc1035Label,
    /// Path segment: anything but '/', '%', "." and ".." (RBAC kinds, events).
    PathSegment,
}

pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Rfc1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Upstream's messages for names that break `rule`.
pub fn check_name(name: &str, rule: NameRule, field: &str) -> Vec<Cause> {
    let problems = match rule {
        NameRule::Subdomain => subdomain_problems(name),
        NameRule::Label => label_problems(name, false),
        NameRule::Rfc1035Label => label_problems(name, true),
        NameRule::PathSegment => path_segment_problems(name),
    };
    problems
        .into_iter()
        .map(|why| Cause::invalid(field, format!("\"{name}\""), &why))
        .collect()
}

fn is_alphanumeric_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn subdomain_problems(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > 253 {
        problems.push("must be no more than 253 characters".into());
    }
    let valid = name.split('.').all(|part| {
        !part.is_empty()
            && part.starts_with(is_alphanumeric_lower)
            && part.ends_with(is_alphanumeric_lower)
            && part.chars().all(|c| is_alphanumeric_lower(c) || c == '-')
    });
    if !valid {
        problems.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
    }
    problems
}

fn label_problems(name: &str, rfc1035: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > 63 {
        problems.push("must be no more than 63 characters".into());
    }
    let first_ok = if rfc1035 {
        name.starts_with(|c: char| c.is_ascii_lowercase())
    } else {
        name.starts_with(is_alphanumeric_lower)
    };
    let valid = first_ok
        && name.ends_with(is_alphanumeric_lower)
        && name.chars().all(|c| is_alphanumeric_lower(c) || c == '-');
    if !valid && rfc1035 {
        problems.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into());
    } else if !valid {
        problems.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into());
    }
    problems
}

fn path_segment_problems(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ['/', '%']
        .iter()
        .filter(|c| name.contains(**c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// The strings of a JSON array (its other items and a missing or non-array value give none).
pub fn strings<J: Json>(value: Option<&J>) -> Vec<&str> {
    value
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .filter_map(J::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_rules() {
        assert!(check_name("web-1.example", NameRule::Subdomain, "metadata.name").is_empty());
        assert_eq!(
            check_name("Web", NameRule::Subdomain, "metadata.name").len(),
            1
        );
        assert_eq!(check_name("a.b", NameRule::Label, "metadata.name").len(), 1);
        assert_eq!(
            check_name("1abc", NameRule::Rfc1035Label, "metadata.name").len(),
            1
        );
        assert!(check_name("system:admin", NameRule::PathSegment, "metadata.name").is_empty());
        assert_eq!(
            check_name("a/b", NameRule::PathSegment, "metadata.name").len(),
            1
        );
        let cause = &check_name("Web", NameRule::Subdomain, "metadata.name")[0];
        assert!(
            cause
                .message
                .starts_with("Invalid value: \"Web\": a lowercase RFC 1123 subdomain")
        );
    }

    #[test]
    fn generated_names_have_five_random_characters() {
        let name = generated_name("web-");
        assert_eq!(name.len(), 9);
        assert!(name.starts_with("web-"));
        assert!(check_name(&name, NameRule::Subdomain, "").is_empty());
    }
}
