//! The stable identity of a StatefulSet's pods: the name "<set>-<ordinal>" (the ordinal read
//! back from it), the hostname and subdomain that give it a DNS name under the governing
//! Service, and the labels naming the pod, its index and its revision.

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::volume_claims;
use crate::controller_refs;

/// Each pod's own name, so a Service can select exactly one member.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Each pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The revision a pod was made from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

pub fn set_name(stateful_set: &StatefulSet) -> &str {
    stateful_set.metadata.name.as_deref().unwrap_or_default()
}

pub fn pod_name(stateful_set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(stateful_set))
}

/// The ordinal of a member of the set: the pod's name is the set's name, a dash and digits.
/// Any other pod is not a member (upstream's isMemberOf), even if the selector matches it.
pub fn member_ordinal(stateful_set: &StatefulSet, pod: &Pod) -> Option<i32> {
    let name = pod.metadata.name.as_deref()?;
    let (parent, digits) = name.rsplit_once('-')?;
    if parent != set_name(stateful_set) || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The pod for `ordinal` at `revision`, with its claims' volumes in place of the template's
/// volumes of the same name.
pub fn new_pod(stateful_set: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    let template = &stateful_set.spec.template;
    let template_metadata = template.metadata.clone().unwrap_or_default();
    let name = pod_name(stateful_set, ordinal);
    let mut labels = template_metadata.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.to_string(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
    labels.insert(REVISION_HASH_LABEL.to_string(), revision.to_string());
    let owner =
        controller_refs::controller_reference("apps/v1", "StatefulSet", &stateful_set.metadata);
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    let service_name = stateful_set
        .spec
        .service_name
        .as_deref()
        .unwrap_or_default();
    if !service_name.is_empty() {
        spec.subdomain = Some(service_name.to_string());
    }
    volume_claims::mount_claims(stateful_set, ordinal, &mut spec);
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: stateful_set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_metadata.annotations,
            finalizers: template_metadata.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}
