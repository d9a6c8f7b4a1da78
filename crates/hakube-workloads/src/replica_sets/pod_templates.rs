//! Pods made from a ReplicaSet's template, as upstream's GetPodFromTemplate makes them: the
//! template's labels, annotations, finalizers and spec, a generated name prefixed by the
//! ReplicaSet's name, and the ReplicaSet as controller.

use hakube_kinds::k8s_openapi::api::apps::v1::ReplicaSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::controller_refs;

/// `count` new pods for `replica_set`, none when it has no template.
pub fn pods_to_create(replica_set: &ReplicaSet, count: usize) -> Vec<Pod> {
    let template = replica_set.spec.template.as_ref();
    let Some(template) = template else {
        return Vec::new();
    };
    let template_metadata = template.metadata.clone().unwrap_or_default();
    let name = replica_set.metadata.name.as_deref().unwrap_or_default();
    let owner =
        controller_refs::controller_reference("apps/v1", "ReplicaSet", &replica_set.metadata);
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: replica_set.metadata.namespace.clone(),
            labels: template_metadata.labels,
            annotations: template_metadata.annotations,
            finalizers: template_metadata.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    vec![pod; count]
}
