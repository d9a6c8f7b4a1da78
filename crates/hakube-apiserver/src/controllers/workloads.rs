//! The workload controllers' I/O: reads the Deployments, ReplicaSets, DaemonSets,
//! StatefulSets, Jobs, CronJobs, pods and claims of each namespace (and the nodes), lets
//! [`hakube_workloads`] decide (pure functions over typed objects), and writes the decisions
//! ([`super::workload_writes`]): objects are created through the API's write path so they get
//! the same defaults and admission as kubectl's; updates and deletes are conditional on the
//! revision read, so a lost race only means deciding again next round.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hakube_kinds::k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use hakube_kinds::k8s_openapi::api::batch::v1::{CronJob, Job};
use hakube_kinds::k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, PodTemplateSpec};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use hakube_workloads::controller_refs::is_controlled_by;
use hakube_workloads::controller_revisions::{self, Owner};
use hakube_workloads::{cron_jobs, daemon_sets, deployments, jobs, replica_sets, stateful_sets};

use super::controller_revisions::{keep, live_revisions};
use super::workload_writes::{
    PodPlan, apply_pod_plan, create_all, event, find, remove, replace, uid_of, write_status,
};
use super::{Stored, key_parts};
use crate::ApiServer;
use crate::error::ApiResult;
use crate::events::EventType;

const REPLICA_SET_CONTROLLER: &str = "replicaset-controller";
const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";
const DAEMON_SET_CONTROLLER: &str = "daemonset-controller";
const STATEFUL_SET_CONTROLLER: &str = "statefulset-controller";
const JOB_CONTROLLER: &str = "job-controller";
const CRON_JOB_CONTROLLER: &str = "cronjob-controller";

/// One namespace's workload objects, typed, with where each is stored.
#[derive(Default)]
struct Namespace<'a> {
    deployments: Vec<(Deployment, &'a Stored)>,
    replica_sets: Vec<(ReplicaSet, &'a Stored)>,
    daemon_sets: Vec<(DaemonSet, &'a Stored)>,
    stateful_sets: Vec<(StatefulSet, &'a Stored)>,
    jobs: Vec<(Job, &'a Stored)>,
    cron_jobs: Vec<(CronJob, &'a Stored)>,
    /// Typed pods, and where each is stored (same order): the controllers take the typed
    /// list as it is, without a copy.
    pods: Vec<Pod>,
    pod_entries: Vec<&'a Stored>,
    claims: Vec<(PersistentVolumeClaim, &'a Stored)>,
    revisions: Vec<(ControllerRevision, &'a Stored)>,
}

fn typed<T: serde::de::DeserializeOwned>(stored: &Stored) -> Option<T> {
    // From the borrowed tree: no copy of the decoded object first.
    T::deserialize(&stored.object).ok()
}

fn push<'a, T: serde::de::DeserializeOwned>(list: &mut Vec<(T, &'a Stored)>, stored: &'a Stored) {
    if let Some(object) = typed(stored) {
        list.push((object, stored));
    }
}

fn group(objects: &[Arc<Stored>]) -> (BTreeMap<&str, Namespace<'_>>, Vec<Node>) {
    let mut namespaces: BTreeMap<&str, Namespace> = BTreeMap::new();
    let mut nodes = Vec::new();
    for stored in objects {
        let Some((group, plural, namespace, _)) = key_parts(&stored.key) else {
            continue;
        };
        let Some(namespace) = namespace else {
            if (group, plural) == ("", "nodes")
                && let Some(node) = typed(stored)
            {
                nodes.push(node);
            }
            continue;
        };
        let space = namespaces.entry(namespace).or_default();
        match (group, plural) {
            ("apps", "deployments") => push(&mut space.deployments, stored),
            ("apps", "replicasets") => push(&mut space.replica_sets, stored),
            ("apps", "daemonsets") => push(&mut space.daemon_sets, stored),
            ("apps", "statefulsets") => push(&mut space.stateful_sets, stored),
            ("batch", "jobs") => push(&mut space.jobs, stored),
            ("batch", "cronjobs") => push(&mut space.cron_jobs, stored),
            ("", "pods") => space.pod_entries.push(stored),
            ("", "persistentvolumeclaims") => push(&mut space.claims, stored),
            ("apps", "controllerrevisions") => push(&mut space.revisions, stored),
            _ => {}
        }
    }
    for space in namespaces.values_mut() {
        type_pods(space);
    }
    (namespaces, nodes)
}

/// Types the namespace's pods when a controller there reads them, and drops them otherwise:
/// typing a pod costs more than everything else a round does with it, and most pods of a
/// busy cluster can live in namespaces without any workload controller.
fn type_pods(space: &mut Namespace<'_>) {
    let entries = std::mem::take(&mut space.pod_entries);
    let needed = !(space.deployments.is_empty()
        && space.replica_sets.is_empty()
        && space.daemon_sets.is_empty()
        && space.stateful_sets.is_empty()
        && space.jobs.is_empty());
    if !needed {
        return;
    }
    for stored in entries {
        if let Some(pod) = typed(stored) {
            space.pods.push(pod);
            space.pod_entries.push(stored);
        }
    }
}

/// The pod part and status of a controller's plan (they all name them alike).
macro_rules! pod_plan {
    ($plan:expr) => {
        PodPlan {
            create: $plan.create,
            delete: $plan.delete,
            adopt: $plan.adopt,
            release: $plan.release,
            status: $plan.status,
        }
    };
}

fn objects<T: Clone>(list: &[(T, &Stored)]) -> Vec<T> {
    list.iter().map(|(o, _)| o.clone()).collect()
}

/// Runs the workload controllers once; returns how many writes they made.
pub async fn round(server: &ApiServer, all: &[Arc<Stored>]) -> ApiResult<usize> {
    let now = jiff::Timestamp::now();
    let (namespaces, nodes) = group(all);
    let mut writes = 0;
    for namespace in namespaces.values() {
        let pods = &namespace.pods;
        let replica_sets = objects(&namespace.replica_sets);
        for (deployment, stored) in &namespace.deployments {
            let plan = deployments::reconcile(deployment, &replica_sets, pods, now);
            writes += apply_deployment_plan(server, namespace, stored, plan).await?;
        }
        for (replica_set, stored) in &namespace.replica_sets {
            let plan = replica_sets::reconcile(replica_set, pods, now);
            writes += apply_pod_plan(
                server,
                &namespace.pod_entries,
                stored,
                pod_plan!(plan),
                REPLICA_SET_CONTROLLER,
            )
            .await?;
        }
        for (daemon_set, stored) in &namespace.daemon_sets {
            let owner = Owner {
                api_version: "apps/v1",
                kind: "DaemonSet",
                metadata: &daemon_set.metadata,
                template: &daemon_set.spec.template,
                selector: &daemon_set.spec.selector,
                history_limit: daemon_set.spec.revision_history_limit,
            };
            writes += keep_history(server, namespace, &owner, None, DAEMON_SET_CONTROLLER).await?;
            let plan = daemon_sets::reconcile(daemon_set, &nodes, pods, now);
            writes += apply_pod_plan(
                server,
                &namespace.pod_entries,
                stored,
                pod_plan!(plan),
                DAEMON_SET_CONTROLLER,
            )
            .await?;
        }
        let claims = objects(&namespace.claims);
        for (stateful_set, stored) in &namespace.stateful_sets {
            let owner = Owner {
                api_version: "apps/v1",
                kind: "StatefulSet",
                metadata: &stateful_set.metadata,
                template: &stateful_set.spec.template,
                selector: &stateful_set.spec.selector,
                history_limit: stateful_set.spec.revision_history_limit,
            };
            let current = stateful_set.status.as_ref();
            let current = current.and_then(|status| status.current_revision.clone());
            let current_template = current
                .as_deref()
                .and_then(|name| revision_template(namespace, &stateful_set.metadata, name));
            writes +=
                keep_history(server, namespace, &owner, current, STATEFUL_SET_CONTROLLER).await?;
            let plan = stateful_sets::reconcile(
                stateful_set,
                current_template.as_ref(),
                pods,
                &claims,
                now,
            );
            // Claims first: a pod's volumes must exist before it starts.
            writes += create_all(server, stored, plan.create_claims, STATEFUL_SET_CONTROLLER).await;
            writes += apply_pod_plan(
                server,
                &namespace.pod_entries,
                stored,
                pod_plan!(plan),
                STATEFUL_SET_CONTROLLER,
            )
            .await?;
        }
        for (job, stored) in &namespace.jobs {
            let plan = jobs::reconcile(job, pods, now);
            if plan.delete_job {
                writes += usize::from(remove(server, stored).await?);
                continue;
            }
            writes += apply_pod_plan(
                server,
                &namespace.pod_entries,
                stored,
                pod_plan!(plan),
                JOB_CONTROLLER,
            )
            .await?;
        }
        let jobs = objects(&namespace.jobs);
        for (cron_job, stored) in &namespace.cron_jobs {
            let plan = cron_jobs::reconcile(cron_job, &jobs, now);
            writes += create_all(server, stored, plan.create_jobs, CRON_JOB_CONTROLLER).await;
            for gone in &plan.delete_jobs {
                if let Some(job) = find(&namespace.jobs, &gone.uid) {
                    writes += usize::from(remove(server, job).await?);
                }
            }
            for warning in &plan.warnings {
                event(
                    server,
                    &stored.object,
                    EventType::Warning,
                    "UnexpectedJob",
                    warning,
                    CRON_JOB_CONTROLLER,
                )
                .await;
            }
            if let Some(status) = plan.status {
                writes += usize::from(write_status(server, stored, &status).await?);
            }
        }
    }
    Ok(writes)
}

/// Keeps the ControllerRevisions of a StatefulSet or DaemonSet (not of one being deleted:
/// the garbage collector takes its revisions). `current` is a revision still in use that pods
/// may not show yet (a StatefulSet's current revision).
async fn keep_history(
    server: &ApiServer,
    namespace: &Namespace<'_>,
    owner: &Owner<'_>,
    current: Option<String>,
    component: &str,
) -> ApiResult<usize> {
    if owner.metadata.deletion_timestamp.is_some() {
        return Ok(0);
    }
    let hash = deployments::pod_template_hash(owner.template, None);
    let mut live = live_revisions(owner, &namespace.pods);
    live.extend(current);
    keep(server, owner, &hash, &namespace.revisions, &live, component).await
}

/// The template of the owner's ControllerRevision `name`, if it has one.
fn revision_template(
    namespace: &Namespace<'_>,
    owner: &ObjectMeta,
    name: &str,
) -> Option<PodTemplateSpec> {
    let uid = owner.uid.as_deref().unwrap_or_default();
    namespace
        .revisions
        .iter()
        .map(|(revision, _)| revision)
        .find(|revision| {
            revision.metadata.name.as_deref() == Some(name)
                && is_controlled_by(&revision.metadata, uid)
        })
        .and_then(controller_revisions::template_of)
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
