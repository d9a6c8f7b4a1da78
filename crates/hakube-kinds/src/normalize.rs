//! Strict decoding of a built-in kind: JSON → typed (k8s-openapi) → JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::unknown_fields::unknown_fields;

/// A built-in object in canonical form, and the fields of the input the type does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub object: Value,
    /// JSON paths like `spec.template.spec.containers[0].imagee`.
    pub unknown_fields: Vec<String>,
}

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum KindError {
    /// The object does not decode as its kind (a wrong type, a missing required field).
    #[error("{0}")]
    Decode(String),
}

type Normalizer = fn(&Value) -> Result<Value, KindError>;

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, KindError> {
    let typed: T = T::deserialize(object).map_err(|e| KindError::Decode(e.to_string()))?;
    serde_json::to_value(&typed).map_err(|e| KindError::Decode(e.to_string()))
}

macro_rules! normalizer_table {
    ($(($group:literal, $version:literal, $kind:literal, $type:ty),)*) => {
        /// The normaliser of `group`/`kind`, when hakube knows the kind's type.
        fn normalizer(group: &str, kind: &str) -> Option<Normalizer> {
            match (group, kind) {
                $(($group, $kind) => Some(round_trip::<$type>),)*
                _ => None,
            }
        }
    };
}

crate::kinds::for_each_kind!(normalizer_table);

/// Whether hakube decodes `group`/`kind` strictly.
pub fn is_typed(group: &str, kind: &str) -> bool {
    normalizer(group, kind).is_some()
}

/// Decodes `object` as `group`/`kind` (its `apiVersion` and `kind` must be set) and returns
/// it in canonical form. `None` when the kind is not a typed built-in (custom resources).
pub fn normalize(group: &str, kind: &str, object: &Value) -> Option<Result<Normalized, KindError>> {
    let normalizer = normalizer(group, kind)?;
    Some(normalizer(object).map(|canonical| Normalized {
        unknown_fields: unknown_fields(object, &canonical),
        object: canonical,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_keeps_its_fields_and_reports_unknown_ones() {
        let input = json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},
            "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
              "template":{"metadata":{"labels":{"app":"web"}},
                "spec":{"containers":[{"name":"nginx","image":"nginx","imagee":"x","resources":{}}]}},
              "bogus":1},
            "status":{}});
        let normalized = normalize("apps", "Deployment", &input).unwrap().unwrap();
        assert_eq!(
            normalized.unknown_fields,
            vec!["spec.bogus", "spec.template.spec.containers[0].imagee"]
        );
        assert_eq!(normalized.object["spec"]["replicas"], json!(3));
        assert!(
            normalized.object["metadata"]
                .get("creationTimestamp")
                .is_none()
        );
        assert_eq!(
            normalized.object["spec"]["template"]["spec"]["containers"][0]["resources"],
            json!({})
        );
    }

    #[test]
    fn a_wrong_type_is_an_error() {
        let input = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
            "spec":{"replicas":"three"}});
        let error = normalize("apps", "Deployment", &input)
            .unwrap()
            .unwrap_err();
        assert!(error.to_string().contains("invalid type"), "{error}");
    }

    #[test]
    fn custom_kinds_are_not_typed() {
        assert!(normalize("example.com", "Widget", &json!({})).is_none());
    }
}
