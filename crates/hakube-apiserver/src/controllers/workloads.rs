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
use super::quiet_namespaces::{Decided, Fingerprint, QuietNamespaces};
use super::workload_writes::{
    PodPlan, Written, apply_pod_plan, create_all, event, find, remove, replace, uid_of,
    write_status,
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
    /// Every object of the namespace but its Leases (renewed every few seconds, read by no
    /// workload controller), to tell whether anything changed since the last round.
    fingerprint: Fingerprint,
}

impl Namespace<'_> {
    /// What its decisions depend on: its objects, and the nodes when a DaemonSet is there.
    fn depends_on(&self, nodes: Fingerprint) -> Fingerprint {
        if self.daemon_sets.is_empty() {
            self.fingerprint
        } else {
            self.fingerprint.with(nodes)
        }
    }
}

/// The cluster as the workload controllers read it: namespaces, and the nodes.
struct Cluster<'a> {
    namespaces: BTreeMap<&'a str, Namespace<'a>>,
    nodes: Vec<Node>,
    nodes_fingerprint: Fingerprint,
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

/// Groups the objects by namespace; pods are left untyped ([`type_pods`]).
fn group(objects: &[Arc<Stored>]) -> Cluster<'_> {
    let mut cluster = Cluster {
        namespaces: BTreeMap::new(),
        nodes: Vec::new(),
        nodes_fingerprint: Fingerprint::default(),
    };
    for stored in objects {
        let Some((group, plural, namespace, _)) = key_parts(&stored.key) else {
            continue;
        };
        let Some(namespace) = namespace else {
            if (group, plural) == ("", "nodes")
                && let Some(node) = typed(stored)
            {
                cluster.nodes.push(node);
                cluster.nodes_fingerprint.add(&stored.key, stored.revision);
            }
            continue;
        };
        let space = cluster.namespaces.entry(namespace).or_default();
        if (group, plural) != ("coordination.k8s.io", "leases") {
            space.fingerprint.add(&stored.key, stored.revision);
        }
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
    cluster
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

/// Runs the workload controllers once over the namespaces that changed (or whose plans asked
/// to be looked at again: [`QuietNamespaces`]); returns how many writes they made.
pub async fn round(
    server: &ApiServer,
    all: &[Arc<Stored>],
    quiet: &mut QuietNamespaces,
) -> ApiResult<usize> {
    let now = jiff::Timestamp::now();
    let mut cluster = group(all);
    quiet.keep_only(&cluster.namespaces);
    let mut writes = 0;
    for (name, namespace) in &mut cluster.namespaces {
        let fingerprint = namespace.depends_on(cluster.nodes_fingerprint);
        if quiet.is_quiet(name, fingerprint, now) {
            continue;
        }
        type_pods(namespace);
        let (written, decided) = namespace_round(server, namespace, &cluster.nodes, now).await?;
        writes += written.writes;
        quiet.record(name, fingerprint, decided, now);
    }
    Ok(writes)
}

/// One round of every workload controller of a namespace.
async fn namespace_round(
    server: &ApiServer,
    namespace: &Namespace<'_>,
    nodes: &[Node],
    now: jiff::Timestamp,
) -> ApiResult<(Written, Decided)> {
    let mut written = Written::default();
    let mut decided = Decided {
        clock_driven: !namespace.cron_jobs.is_empty(),
        ..Decided::default()
    };
    let pods = &namespace.pods;
    let replica_sets = objects(&namespace.replica_sets);
    for (deployment, stored) in &namespace.deployments {
        let plan = deployments::reconcile(deployment, &replica_sets, pods, now);
        decided.recheck(plan.recheck_at);
        written += apply_deployment_plan(server, namespace, stored, plan).await?;
    }
    for (replica_set, stored) in &namespace.replica_sets {
        let plan = replica_sets::reconcile(replica_set, pods, now);
        decided.recheck(plan.recheck_at);
        let entries = &namespace.pod_entries;
        written += apply_pod_plan(
            server,
            entries,
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
        written += keep_history(server, namespace, &owner, None, DAEMON_SET_CONTROLLER).await?;
        let plan = daemon_sets::reconcile(daemon_set, nodes, pods, now);
        decided.recheck(plan.recheck_at);
        let entries = &namespace.pod_entries;
        written += apply_pod_plan(
            server,
            entries,
            stored,
            pod_plan!(plan),
            DAEMON_SET_CONTROLLER,
        )
        .await?;
    }
    written += stateful_sets_round(server, namespace, now, &mut decided).await?;
    for (job, stored) in &namespace.jobs {
        let plan = jobs::reconcile(job, pods, now);
        decided.recheck(plan.recheck_at);
        if plan.delete_job {
            written += Written::of(usize::from(remove(server, stored).await?), true);
            continue;
        }
        let entries = &namespace.pod_entries;
        written += apply_pod_plan(server, entries, stored, pod_plan!(plan), JOB_CONTROLLER).await?;
    }
    written += cron_jobs_round(server, namespace, now).await?;
    decided.wanted = written.wanted;
    Ok((written, decided))
}

async fn stateful_sets_round(
    server: &ApiServer,
    namespace: &Namespace<'_>,
    now: jiff::Timestamp,
    decided: &mut Decided,
) -> ApiResult<Written> {
    let mut written = Written::default();
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
        written +=
            keep_history(server, namespace, &owner, current, STATEFUL_SET_CONTROLLER).await?;
        let plan = stateful_sets::reconcile(
            stateful_set,
            current_template.as_ref(),
            &namespace.pods,
            &claims,
            now,
        );
        decided.recheck(plan.recheck_at);
        // Claims first: a pod's volumes must exist before it starts.
        let wanted = !plan.create_claims.is_empty();
        let created = create_all(server, stored, plan.create_claims, STATEFUL_SET_CONTROLLER).await;
        written += Written::of(created, wanted);
        let entries = &namespace.pod_entries;
        written += apply_pod_plan(
            server,
            entries,
            stored,
            pod_plan!(plan),
            STATEFUL_SET_CONTROLLER,
        )
        .await?;
    }
    Ok(written)
}

/// The CronJobs of a namespace (their namespace is never quiet: schedules come due by the
/// clock alone).
async fn cron_jobs_round(
    server: &ApiServer,
    namespace: &Namespace<'_>,
    now: jiff::Timestamp,
) -> ApiResult<Written> {
    let mut writes = 0;
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
    Ok(Written::of(writes, false))
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
) -> ApiResult<Written> {
    if owner.metadata.deletion_timestamp.is_some() {
        return Ok(Written::default());
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
) -> ApiResult<Written> {
    let wanted = plan.create_replica_set.is_some()
        || !plan.update_replica_sets.is_empty()
        || !plan.delete_replica_sets.is_empty()
        || !plan.adopt_replica_sets.is_empty()
        || !plan.release_replica_sets.is_empty()
        || plan.deployment.is_some()
        || plan.status.is_some();
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
        let object = deployment.get_or_insert_with(|| owner.object.to_value());
        object["status"] = serde_json::to_value(&status).unwrap_or_default();
    }
    if let Some(object) = deployment {
        writes += usize::from(replace(server, owner, &object).await?);
    }
    Ok(Written::of(writes, wanted))
}
