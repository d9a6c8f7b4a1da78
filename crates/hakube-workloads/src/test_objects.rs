//! Objects for the unit tests: pods, ReplicaSets and Deployments with just the fields the
//! decisions read, and the times they compare.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use hakube_kinds::k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, Time,
};
use jiff::Timestamp;

pub const NAMESPACE: &str = "default";

/// Seconds after a fixed origin, so tests read as "at 100 s".
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        match_expressions: None,
    }
}

pub fn template(pairs: &[(&str, &str)], image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(pairs)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

pub fn replica_set(name: &str, replicas: i32, app: &str) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            selector: selector(&[("app", app)]),
            template: Some(template(&[("app", app)], "nginx:1")),
            min_ready_seconds: None,
        },
        status: None,
    }
}

/// A running pod with `labels`, not ready, scheduled on `node` (empty: unscheduled).
pub fn pod(name: &str, pairs: &[(&str, &str)], node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(labels(pairs)),
            creation_timestamp: Some(Time(at(0))),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: (!node.is_empty()).then(|| node.to_string()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            ..PodStatus::default()
        }),
    }
}

/// Controlled by `owner` (ReplicaSet).
pub fn owned(mut pod: Pod, owner: &ReplicaSet) -> Pod {
    let reference =
        crate::controller_refs::controller_reference("apps/v1", "ReplicaSet", &owner.metadata);
    pod.metadata.owner_references = Some(vec![reference]);
    pod
}

pub fn set_phase(mut pod: Pod, phase: &str) -> Pod {
    pod.status.get_or_insert_with(PodStatus::default).phase = Some(phase.into());
    pod
}

/// Ready since `since`.
pub fn ready(mut pod: Pod, since: Timestamp) -> Pod {
    let status = pod.status.get_or_insert_with(PodStatus::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|condition| condition.type_ != "Ready");
    conditions.push(PodCondition {
        type_: "Ready".into(),
        status: "True".into(),
        last_transition_time: Some(Time(since)),
        ..PodCondition::default()
    });
    pod
}

pub fn restarted(mut pod: Pod, restarts: i32) -> Pod {
    let status = pod.status.get_or_insert_with(PodStatus::default);
    status.container_statuses = Some(vec![ContainerStatus {
        name: "main".into(),
        restart_count: restarts,
        ..ContainerStatus::default()
    }]);
    pod
}

pub fn created(mut pod: Pod, when: Timestamp) -> Pod {
    pod.metadata.creation_timestamp = Some(Time(when));
    pod
}
