//! Which (apiVersion, kind) pairs may arrive as protobuf, and the schema
//! message each one's bytes are.

use super::error::ProtobufError;
use super::schema::Message;
use super::{
    schema_apps, schema_authentication, schema_batch, schema_core_objects, schema_core_pod,
    schema_meta, schema_networking, schema_policy, schema_rbac, schema_scheduling,
};

/// Objects kubectl's `create` generators, drain and client-go controllers
/// send. Only v1 versions: other versions use other field numbers.
pub static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "ConfigMap", &schema_core_objects::CONFIG_MAP),
    ("v1", "Event", &schema_core_objects::EVENT),
    ("v1", "Namespace", &schema_core_objects::NAMESPACE),
    ("v1", "Pod", &schema_core_pod::POD),
    ("v1", "ResourceQuota", &schema_core_objects::RESOURCE_QUOTA),
    ("v1", "Secret", &schema_core_objects::SECRET),
    ("v1", "Service", &schema_core_objects::SERVICE),
    (
        "v1",
        "ServiceAccount",
        &schema_core_objects::SERVICE_ACCOUNT,
    ),
    ("apps/v1", "Deployment", &schema_apps::DEPLOYMENT),
    (
        "authentication.k8s.io/v1",
        "TokenRequest",
        &schema_authentication::TOKEN_REQUEST,
    ),
    ("batch/v1", "CronJob", &schema_batch::CRON_JOB),
    ("batch/v1", "Job", &schema_batch::JOB),
    (
        "networking.k8s.io/v1",
        "Ingress",
        &schema_networking::INGRESS,
    ),
    ("policy/v1", "Eviction", &schema_policy::EVICTION),
    (
        "policy/v1",
        "PodDisruptionBudget",
        &schema_policy::POD_DISRUPTION_BUDGET,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        &schema_rbac::CLUSTER_ROLE,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &schema_rbac::CLUSTER_ROLE_BINDING,
    ),
    ("rbac.authorization.k8s.io/v1", "Role", &schema_rbac::ROLE),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &schema_rbac::ROLE_BINDING,
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        &schema_scheduling::PRIORITY_CLASS,
    ),
];

/// The schema for an object of `kind` in `api_version`.
pub fn lookup(api_version: &str, kind: &str) -> Result<&'static Message, ProtobufError> {
    // DeleteOptions is registered in every group version (the body of a
    // DELETE on any resource), so any v1 apiVersion names it.
    let version = api_version.rsplit('/').next().unwrap_or_default();
    if kind == "DeleteOptions" && version == "v1" {
        return Ok(&schema_meta::DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
        .ok_or_else(|| ProtobufError::UnknownKind {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
            accepted: accepted(),
        })
}

/// "v1 ConfigMap, …, apps/v1 Deployment, …, DeleteOptions in any */v1".
fn accepted() -> String {
    let mut names: Vec<String> = KINDS.iter().map(|(v, k, _)| format!("{v} {k}")).collect();
    names.push("DeleteOptions in any v1 group version".to_owned());
    names.join(", ")
}
