//! The workload controllers' I/O: reads the Deployments, ReplicaSets and pods of each
//! namespace, lets [`hakube_workloads`] decide (pure functions over typed objects), and acts:
//! pods and ReplicaSets are created through the API's write path ([`crate::internal`]) so
//! they get the same defaults and admission as kubectl's; updates and deletes are conditional
//! on the revision read, so a lost race only means deciding again next round. Events say
//! what was done, worded like upstream's controllers.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_store::Condition;
use hakube_workloads::{deployments, replica_sets};

use super::{Stored, key_parts};
use crate::ApiServer;
use crate::error::ApiResult;
use crate::events::{Event, EventType};

const REPLICA_SET_CONTROLLER: &str = "replicaset-controller";
const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";

/// One namespace's workload objects, typed, with where each is stored.
#[derive(Default)]
struct Namespace<'a> {
    deployments: Vec<(Deployment, &'a Stored)>,
    replica_sets: Vec<(ReplicaSet, &'a Stored)>,
    pods: Vec<(Pod, &'a Stored)>,
}

fn typed<T: serde::de::DeserializeOwned>(stored: &Stored) -> Option<T> {
    serde_json::from_value(stored.object.clone()).ok()
}

fn group(objects: &[Stored]) -> BTreeMap<&str, Namespace<'_>> {
    let mut namespaces: BTreeMap<&str, Namespace> = BTreeMap::new();
    for stored in objects {
        match key_parts(&stored.key) {
            Some(("apps", "deployments", Some(namespace), _)) => {
                if let Some(object) = typed(stored) {
                    namespaces
                        .entry(namespace)
                        .or_default()
                        .deployments
                        .push((object, stored));
                }
            }
            Some(("apps", "replicasets", Some(namespace), _)) => {
                if let Some(object) = typed(stored) {
                    namespaces
                        .entry(namespace)
                        .or_default()
                        .replica_sets
                        .push((object, stored));
                }
            }
            Some(("", "pods", Some(namespace), _)) => {
                if let Some(object) = typed(stored) {
                    namespaces
                        .entry(namespace)
                        .or_default()
                        .pods
                        .push((object, stored));
                }
            }
            _ => {}
        }
    }
    namespaces
}

/// Runs the Deployment and ReplicaSet controllers once; returns how many writes they made.
pub async fn round(server: &ApiServer, objects: &[Stored]) -> ApiResult<usize> {
    let now = jiff::Timestamp::now();
    let mut writes = 0;
    for namespace in group(objects).values() {
        let replica_sets: Vec<ReplicaSet> = namespace
            .replica_sets
            .iter()
            .map(|(o, _)| o.clone())
            .collect();
        let pods: Vec<Pod> = namespace.pods.iter().map(|(o, _)| o.clone()).collect();
        for (deployment, stored) in &namespace.deployments {
            let plan = deployments::reconcile(deployment, &replica_sets, &pods, now);
            writes += apply_deployment_plan(server, namespace, stored, plan).await?;
        }
        for (replica_set, stored) in &namespace.replica_sets {
            let plan = replica_sets::reconcile(replica_set, &pods, now);
            writes += apply_replica_set_plan(server, namespace, stored, plan).await?;
        }
    }
    Ok(writes)
}

fn uid_of(stored: &Stored) -> &str {
    super::uid(&stored.object).unwrap_or_default()
}

fn find<'a, T>(objects: &'a [(T, &'a Stored)], uid: &str) -> Option<&'a Stored> {
    objects.iter().map(|(_, s)| *s).find(|s| uid_of(s) == uid)
}

/// Writes `object` over `stored` if unchanged since read; true when written.
async fn replace<T: Serialize>(server: &ApiServer, stored: &Stored, object: &T) -> ApiResult<bool> {
    let value = serde_json::to_value(object)
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    Ok(server
        .storage
        .put(&stored.key, &value, Condition::ModRevision(stored.revision))
        .await?
        .is_ok())
}

async fn remove(server: &ApiServer, stored: &Stored) -> ApiResult<bool> {
    Ok(server
        .storage
        .delete(&stored.key, Condition::ModRevision(stored.revision))
        .await?
        .is_ok())
}

async fn event(
    server: &ApiServer,
    involved: &Value,
    event_type: EventType,
    reason: &str,
    message: &str,
    component: &str,
) {
    let event = Event {
        involved,
        event_type,
        reason,
        message,
        component,
    };
    if let Err(error) = crate::events::record(server, event).await {
        tracing::debug!(%error, "cannot record an event");
    }
}

async fn apply_replica_set_plan(
    server: &ApiServer,
    namespace: &Namespace<'_>,
    owner: &Stored,
    plan: replica_sets::ReplicaSetPlan,
) -> ApiResult<usize> {
    let mut writes = 0;
    let mut pending = plan.create.into_iter();
    // Upstream's slow start: a template that cannot make pods fails once, not N times.
    'batches: for size in replica_sets::slow_start_batches(pending.len()) {
        let batch: Vec<Pod> = pending.by_ref().take(size).collect();
        let creates = batch.into_iter().map(|pod| async move {
            let object = serde_json::to_value(&pod).unwrap_or_default();
            crate::internal::create(server, object, REPLICA_SET_CONTROLLER).await
        });
        for outcome in futures::future::join_all(creates).await {
            match outcome {
                Ok(pod) => {
                    writes += 1;
                    let name = crate::objects::name(&pod).unwrap_or_default();
                    event(
                        server,
                        &owner.object,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {name}"),
                        REPLICA_SET_CONTROLLER,
                    )
                    .await;
                }
                Err(error) => {
                    event(
                        server,
                        &owner.object,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating: {error}"),
                        REPLICA_SET_CONTROLLER,
                    )
                    .await;
                    break 'batches;
                }
            }
        }
    }
    for pod in &plan.delete {
        if let Some(stored) = find(&namespace.pods, &pod.uid)
            && remove(server, stored).await?
        {
            writes += 1;
            event(
                server,
                &owner.object,
                EventType::Normal,
                "SuccessfulDelete",
                &format!("Deleted pod: {}", pod.name),
                REPLICA_SET_CONTROLLER,
            )
            .await;
        }
    }
    for pod in plan.adopt.iter().chain(&plan.release) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if let Some(stored) = find(&namespace.pods, uid) {
            writes += usize::from(replace(server, stored, pod).await?);
        }
    }
    if let Some(status) = plan.status {
        let mut object = owner.object.clone();
        object["status"] = serde_json::to_value(&status).unwrap_or_default();
        writes += usize::from(replace(server, owner, &object).await?);
    }
    Ok(writes)
}

fn replicas(replica_set: &ReplicaSet) -> i32 {
    replica_set.spec.replicas.unwrap_or(0)
}

async fn apply_deployment_plan(
    server: &ApiServer,
    namespace: &Namespace<'_>,
    owner: &Stored,
    plan: deployments::DeploymentPlan,
) -> ApiResult<usize> {
    let mut writes = 0;
    if let Some(replica_set) = plan.create_replica_set {
        let object = serde_json::to_value(&replica_set).unwrap_or_default();
        match crate::internal::create(server, object, DEPLOYMENT_CONTROLLER).await {
            Ok(created) => {
                writes += 1;
                let name = crate::objects::name(&created).unwrap_or_default();
                let message = format!(
                    "Scaled up replica set {name} from 0 to {}",
                    replicas(&replica_set)
                );
                event(
                    server,
                    &owner.object,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &message,
                    DEPLOYMENT_CONTROLLER,
                )
                .await;
            }
            // Exists already (a round raced another): decided again next round.
            Err(error) => tracing::debug!(%error, "cannot create a ReplicaSet"),
        }
    }
    let before: HashMap<&str, i32> = namespace
        .replica_sets
        .iter()
        .map(|(rs, s)| (uid_of(s), replicas(rs)))
        .collect();
    for replica_set in plan
        .update_replica_sets
        .iter()
        .chain(&plan.adopt_replica_sets)
        .chain(&plan.release_replica_sets)
    {
        let uid = replica_set.metadata.uid.as_deref().unwrap_or_default();
        let Some(stored) = find(&namespace.replica_sets, uid) else {
            continue;
        };
        if !replace(server, stored, replica_set).await? {
            continue;
        }
        writes += 1;
        let (old, new) = (before.get(uid).copied().unwrap_or(0), replicas(replica_set));
        if old != new {
            let direction = if new > old { "up" } else { "down" };
            let name = replica_set.metadata.name.as_deref().unwrap_or_default();
            let message = format!("Scaled {direction} replica set {name} from {old} to {new}");
            event(
                server,
                &owner.object,
                EventType::Normal,
                "ScalingReplicaSet",
                &message,
                DEPLOYMENT_CONTROLLER,
            )
            .await;
        }
    }
    for gone in &plan.delete_replica_sets {
        if let Some(stored) = find(&namespace.replica_sets, &gone.uid) {
            writes += usize::from(remove(server, stored).await?);
        }
    }
    let mut deployment = plan
        .deployment
        .map(|changed| serde_json::to_value(&changed).unwrap_or_default());
    if let Some(status) = plan.status {
        let object = deployment.get_or_insert_with(|| owner.object.clone());
        object["status"] = serde_json::to_value(&status).unwrap_or_default();
    }
    if let Some(object) = deployment {
        writes += usize::from(replace(server, owner, &object).await?);
    }
    Ok(writes)
}
