//! Strict decoding of a built-in kind: JSON → typed (k8s-openapi) → JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    events::v1 as events, networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
    scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

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

/// The normaliser of `group`/`kind`, when hakube knows the kind's type.
fn normalizer(group: &str, kind: &str) -> Option<Normalizer> {
    let found: Normalizer = match (group, kind) {
        ("", "Namespace") => round_trip::<core::Namespace>,
        ("", "Node") => round_trip::<core::Node>,
        ("", "Pod") => round_trip::<core::Pod>,
        ("", "PodTemplate") => round_trip::<core::PodTemplate>,
        ("", "Service") => round_trip::<core::Service>,
        ("", "Endpoints") => round_trip::<core::Endpoints>,
        ("", "ConfigMap") => round_trip::<core::ConfigMap>,
        ("", "Secret") => round_trip::<core::Secret>,
        ("", "ServiceAccount") => round_trip::<core::ServiceAccount>,
        ("", "Event") => round_trip::<core::Event>,
        ("", "ResourceQuota") => round_trip::<core::ResourceQuota>,
        ("", "LimitRange") => round_trip::<core::LimitRange>,
        ("", "PersistentVolume") => round_trip::<core::PersistentVolume>,
        ("", "PersistentVolumeClaim") => round_trip::<core::PersistentVolumeClaim>,
        ("", "ReplicationController") => round_trip::<core::ReplicationController>,
        ("apps", "Deployment") => round_trip::<apps::Deployment>,
        ("apps", "ReplicaSet") => round_trip::<apps::ReplicaSet>,
        ("apps", "DaemonSet") => round_trip::<apps::DaemonSet>,
        ("apps", "StatefulSet") => round_trip::<apps::StatefulSet>,
        ("apps", "ControllerRevision") => round_trip::<apps::ControllerRevision>,
        ("batch", "Job") => round_trip::<batch::Job>,
        ("batch", "CronJob") => round_trip::<batch::CronJob>,
        ("autoscaling", "HorizontalPodAutoscaler") => {
            round_trip::<autoscaling::HorizontalPodAutoscaler>
        }
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::Lease>,
        ("discovery.k8s.io", "EndpointSlice") => round_trip::<discovery::EndpointSlice>,
        ("events.k8s.io", "Event") => round_trip::<events::Event>,
        ("networking.k8s.io", "Ingress") => round_trip::<networking::Ingress>,
        ("networking.k8s.io", "IngressClass") => round_trip::<networking::IngressClass>,
        ("networking.k8s.io", "NetworkPolicy") => round_trip::<networking::NetworkPolicy>,
        ("policy", "PodDisruptionBudget") => round_trip::<policy::PodDisruptionBudget>,
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::Role>,
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::RoleBinding>,
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::ClusterRole>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::ClusterRoleBinding>
        }
        ("scheduling.k8s.io", "PriorityClass") => round_trip::<scheduling::PriorityClass>,
        ("storage.k8s.io", "StorageClass") => round_trip::<storage::StorageClass>,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            round_trip::<apiextensions::CustomResourceDefinition>
        }
        _ => return None,
    };
    Some(found)
}

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
