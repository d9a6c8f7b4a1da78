//! The scheduler's loop (upstream's kube-scheduler, in process): while this node holds the
//! `kube-scheduler` Lease, whenever the store changed it reads the nodes and pods, lets
//! [`hakube_workloads::scheduler::schedule`] place the pending pods, and writes the outcome
//! as the binding subresource would: `spec.nodeName` and a True PodScheduled condition, or a
//! False one with upstream's "0/3 nodes are available: …" message and a FailedScheduling
//! event. An unschedulable pod is written again only when the reason changes, so a cluster
//! with nowhere to put a pod settles instead of rewriting it every round, and it is not even
//! decided again until something that could change the answer changes ([`unschedulable`]).
//! Decisions are written 128 pods per store transaction, their events together.

mod unschedulable;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use hakube_kinds::k8s_openapi::api::core::v1::{Node, Pod};
use hakube_store::Condition;
use hakube_workloads::scheduler::{self, Outcome};

use crate::ApiServer;
use crate::controllers::Stored;
use crate::error::ApiResult;
use crate::events::{Event, EventType, Involved};
use crate::objects::At as _;
use crate::storage::Write;
use crate::tree::{Json, Tree};
use unschedulable::Unschedulable;

/// A round starts when the store applies a change to pods or nodes; without one, this often
/// anyway (a missed wake-up costs at most this much).
const ROUND_INTERVAL: Duration = Duration::from_millis(500);
/// After a wake-up, how long to let a burst of changes (a ReplicaSet creating pods) land so one
/// round places them together.
const BATCH_DELAY: Duration = Duration::from_millis(2);
/// Decisions written in one store transaction (the store's limit on a transaction's
/// operations); their events are created together in another.
const PODS_PER_WRITE: usize = hakube_store::txn::MAX_TXN_OPS;
/// Transactions in flight at once, so Raft commits several together.
const CONCURRENT_WRITES: usize = 4;
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// A pod this scheduler has to place ([`Placement::needed`]), from its decoded form: the
/// wake-up reads the same fields from the stored bytes, so the two cannot disagree.
fn is_pending(pod: &Tree) -> bool {
    Placement::deserialize(pod).is_ok_and(|placement| placement.needed())
}

fn is_bound(pod: &Tree) -> bool {
    pod.at("/spec/nodeName")
        .and_then(Tree::as_str)
        .is_some_and(|name| !name.is_empty())
}

fn is_terminal(pod: &Tree) -> bool {
    matches!(
        pod.at("/status/phase").and_then(Tree::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// Runs the scheduler while this node holds the `kube-scheduler` Lease, until `shutdown`.
pub async fn run(server: Arc<ApiServer>, shutdown: CancellationToken) {
    let candidate = crate::leader_election::Candidate::new(
        "kube-scheduler",
        &server.options.node_name,
        server.options.control.leader_lease_duration,
    );
    let holding = crate::leader_election::spawn(server.clone(), candidate, shutdown.clone());
    let mut changes = server.storage.store().machine().subscribe();
    let mut decided_at = 0;
    let mut unschedulable = Unschedulable::default();
    // Pods were left unplaced by the last round: any pod change may make room for them.
    let mut waiting = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = next_change(&mut changes, waiting) => tokio::time::sleep(BATCH_DELAY).await,
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
        if !*holding.borrow() {
            decided_at = 0;
            unschedulable = Unschedulable::default();
            waiting = true;
            continue;
        }
        let revision = server.storage.store().machine().read().kv.revision();
        if revision == decided_at {
            continue;
        }
        let Some(outcome) = crate::leader_election::unless_panicked(
            "scheduling",
            round(&server, &mut unschedulable),
        )
        .await
        else {
            continue;
        };
        match outcome {
            Ok(round) => {
                waiting = round.waiting;
                if round.written == 0 {
                    decided_at = revision;
                }
            }
            Err(error) => {
                waiting = true;
                tracing::debug!(%error, "scheduling round failed; retrying");
            }
        }
    }
}

/// Waits for the store to apply a change that may need a round (or to report that this
/// receiver fell behind, which may have hidden one).
async fn next_change(changes: &mut broadcast::Receiver<Arc<hakube_store::Event>>, waiting: bool) {
    loop {
        match changes.recv().await {
            Ok(event) if wakes_the_scheduler(&event, waiting) => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            // No more changes will come (the store stopped): let the timer pace the loop.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// A node change can always change a decision. A pod change matters when the pod needs
/// placing, or when pods are waiting for room (a pod that ends or goes away frees some).
/// Looking at the one changed pod keeps a cluster busy with other pod writes (status
/// updates, gated pods) from costing a pass over every pod per write.
fn wakes_the_scheduler(event: &hakube_store::Event, waiting: bool) -> bool {
    let key = &event.kv.key;
    if key.starts_with(b"/registry/core/nodes/") {
        return true;
    }
    if !key.starts_with(b"/registry/core/pods/") {
        return false;
    }
    waiting
        || (event.kind == hakube_store::EventKind::Put
            && serde_json::from_slice::<Placement>(&event.kv.value).is_ok_and(|p| p.needed()))
}

/// The fields of a stored pod that say whether it needs placing, read without decoding the
/// rest of it.
#[derive(Deserialize)]
struct Placement<'a> {
    #[serde(default)]
    metadata: PlacementMetadata,
    #[serde(default, borrow)]
    spec: PlacementSpec<'a>,
}

#[derive(Deserialize, Default)]
struct PlacementMetadata {
    #[serde(rename = "deletionTimestamp")]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
struct PlacementSpec<'a> {
    // Borrowed where the JSON allows: every pod is read on a round's pass.
    #[serde(rename = "nodeName", borrow)]
    node_name: Option<Cow<'a, str>>,
    #[serde(rename = "schedulerName", borrow)]
    scheduler_name: Option<Cow<'a, str>>,
    #[serde(rename = "schedulingGates")]
    scheduling_gates: Option<Vec<serde::de::IgnoredAny>>,
}

impl Placement<'_> {
    /// Unbound, not being deleted, for this scheduler and not held back by scheduling gates
    /// (the pure scheduler applies the same rule to typed pods). Gated pods and other
    /// schedulers' pods must not start rounds: each round decodes every pending pod, so with
    /// thousands of gated pods every pod change would cost that much.
    fn needed(&self) -> bool {
        let spec = &self.spec;
        spec.node_name.as_deref().is_none_or(str::is_empty)
            && spec
                .scheduler_name
                .as_deref()
                .is_none_or(|name| name.is_empty() || name == SCHEDULER_NAME)
            && spec.scheduling_gates.as_ref().is_none_or(Vec::is_empty)
            && self.metadata.deletion_timestamp.is_none()
    }
}

/// What a round did.
struct Round {
    /// Pods bound or marked unschedulable.
    written: usize,
    /// Pods that needed placing at its start (placed or not).
    waiting: bool,
}

/// One round.
async fn round(server: &ApiServer, unschedulable: &mut Unschedulable) -> ApiResult<Round> {
    let pods = server.storage.decoded_under(b"/registry/core/pods/");
    if !pods.iter().any(|s| is_pending(&s.object)) {
        return Ok(Round {
            written: 0,
            waiting: false,
        });
    }
    let written = place(server, unschedulable, &pods).await?;
    Ok(Round {
        written,
        waiting: true,
    })
}

/// Places the pending pods among `pods`; returns how many it wrote.
async fn place(
    server: &ApiServer,
    unschedulable: &mut Unschedulable,
    pods: &[Arc<Stored>],
) -> ApiResult<usize> {
    let node_objects = server.storage.decoded_under(b"/registry/core/nodes/");
    let placed = || {
        pods.iter()
            .filter(|s| is_bound(&s.object) && !is_terminal(&s.object))
    };
    unschedulable.begin(
        unschedulable::fingerprint(
            node_objects.iter().map(|s| &s.object),
            placed().map(|s| &s.object),
        ),
        Instant::now(),
    );
    let pending: Vec<&Stored> = pods
        .iter()
        .map(|s| &**s)
        .filter(|s| is_pending(&s.object))
        .filter(|s| {
            crate::controllers::uid(&s.object)
                .is_none_or(|uid| !unschedulable.skips(uid, s.revision))
        })
        .collect();
    if pending.is_empty() {
        return Ok(0);
    }
    let nodes: Vec<Node> = node_objects
        .iter()
        .filter_map(|s| Node::deserialize(&s.object).ok())
        .collect();
    let assigned: Vec<Pod> = placed()
        .filter_map(|s| Pod::deserialize(&s.object).ok())
        .collect();
    let mut typed: Vec<(Pod, &Stored)> = pending
        .iter()
        .filter_map(|s| Some((Pod::deserialize(&s.object).ok()?, *s)))
        .collect();
    typed.sort_by_key(|(pod, _)| queue_order(pod));
    let (order, stored): (Vec<Pod>, Vec<&Stored>) = typed.into_iter().unzip();
    let by_uid: HashMap<&str, &Stored> = stored
        .iter()
        .filter_map(|s| Some((crate::controllers::uid(&s.object)?, *s)))
        .collect();
    let decisions = scheduler::schedule(&order, &nodes, &assigned);
    let mut planned = Vec::new();
    for decision in decisions {
        let Some(target) = by_uid.get(decision.uid.as_str()) else {
            continue;
        };
        let fits_nowhere = matches!(decision.outcome, Outcome::Unschedulable { .. });
        match planned_write(target, decision.outcome) {
            Some(write) => planned.push(write),
            // It says so already.
            None if fits_nowhere => unschedulable.remember(&decision.uid, target.revision),
            None => {}
        }
    }
    // Made before they are polled: a lazy iterator over borrowed chunks would make this
    // future's Send-ness depend on a lifetime the compiler cannot prove for `tokio::spawn`.
    let writes: Vec<_> = planned
        .chunks(PODS_PER_WRITE)
        .map(|chunk| write_together(server, chunk))
        .collect();
    let written: Vec<Vec<(&Planned, u64)>> = futures::stream::iter(writes)
        .buffer_unordered(CONCURRENT_WRITES)
        .collect()
        .await;
    let mut count = 0;
    for (write, revision) in written.into_iter().flatten() {
        count += 1;
        if write.event_type == EventType::Warning {
            unschedulable.remember(&write.uid, revision);
        }
    }
    Ok(count)
}

/// Upstream's queue order: higher priority first, then older first.
fn queue_order(pod: &Pod) -> (i32, String, String) {
    let priority = pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    (
        -priority,
        created,
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn scheduled_condition(status: &str, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut condition = json!({"type": "PodScheduled", "status": status,
        "lastProbeTime": null, "lastTransitionTime": crate::objects::now_rfc3339()});
    if let Some(reason) = reason {
        condition["reason"] = json!(reason);
    }
    if let Some(message) = message {
        condition["message"] = json!(message);
    }
    condition
}

/// The pod with its PodScheduled condition replaced; None when it already says the same
/// (decided on the pod as read, a cached tree or a changed copy; copied only to change it).
fn with_scheduled_condition<J: Json>(pod: &J, condition: Value) -> Option<Value> {
    let field_is = |c: &J, field: &str| match (c.get(field), condition.get(field)) {
        (Some(read), Some(wanted)) => read == wanted,
        (read, wanted) => read.is_none() && wanted.is_none(),
    };
    let same = |c: &J| field_is(c, "type") && field_is(c, "status") && field_is(c, "message");
    let conditions = pod.at("/status/conditions").and_then(J::as_array);
    if conditions.unwrap_or_default().iter().any(same) {
        return None;
    }
    let mut pod = pod.to_value();
    let conditions = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut kept: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c.get("type") != condition.get("type"))
        .collect();
    kept.push(condition);
    pod["status"]["conditions"] = json!(kept);
    if pod["status"].get("phase").is_none() {
        pod["status"]["phase"] = json!("Pending");
    }
    Some(pod)
}

/// One pod's new state and the event that says why.
struct Planned {
    uid: String,
    key: Vec<u8>,
    revision: u64,
    pod: Value,
    event_type: EventType,
    reason: &'static str,
    message: String,
}

/// What writing `outcome` to the pod means; None when the pod already says it.
fn planned_write(stored: &Stored, outcome: Outcome) -> Option<Planned> {
    let (pod, event_type, reason, message) = match outcome {
        Outcome::Bind { node } => {
            let mut pod = stored.object.to_value();
            pod["spec"]["nodeName"] = json!(node);
            let pod = with_scheduled_condition(&pod, scheduled_condition("True", None, None))
                .unwrap_or(pod);
            let namespace = crate::objects::namespace(&pod).unwrap_or_default();
            let name = crate::objects::name(&pod).unwrap_or_default();
            let message = format!("Successfully assigned {namespace}/{name} to {node}");
            (pod, EventType::Normal, "Scheduled", message)
        }
        Outcome::Unschedulable { message } => {
            let condition = scheduled_condition("False", Some("Unschedulable"), Some(&message));
            let pod = with_scheduled_condition(&stored.object, condition)?;
            (pod, EventType::Warning, "FailedScheduling", message)
        }
    };
    Some(Planned {
        uid: crate::controllers::uid(&stored.object)
            .unwrap_or_default()
            .to_string(),
        key: stored.key.clone(),
        revision: stored.revision,
        pod,
        event_type,
        reason,
        message,
    })
}

/// Writes a chunk of decisions in one store transaction (each pod only if unchanged since it
/// was read), then their events; when a pod changed meanwhile, the chunk goes one pod at a
/// time so the others still land. Returns the pods written, with their new revisions.
async fn write_together<'a>(server: &ApiServer, chunk: &'a [Planned]) -> Vec<(&'a Planned, u64)> {
    let writes: Vec<Write> = chunk
        .iter()
        .map(|planned| {
            let mut object = planned.pod.clone();
            server
                .storage
                .restore_managed_fields(&planned.key, planned.revision, &mut object);
            Write::Put {
                key: planned.key.clone(),
                object,
                condition: Condition::ModRevision(planned.revision),
            }
        })
        .collect();
    let revision = match server.storage.transact(&writes).await {
        Ok(Some(revision)) => revision,
        Ok(None) => return write_one_by_one(server, chunk).await,
        Err(error) => {
            // The store is busy or read-only: the next round decides again.
            tracing::debug!(%error, "cannot write scheduling decisions");
            return Vec::new();
        }
    };
    // The objects just written, reused (not copied again) for their events.
    let written: Vec<Value> = writes
        .into_iter()
        .filter_map(|write| match write {
            Write::Put { mut object, .. } => {
                crate::storage::set_resource_version(&mut object, revision);
                Some(object)
            }
            Write::Delete { .. } => None,
        })
        .collect();
    let events: Vec<Event> = chunk
        .iter()
        .zip(&written)
        .map(|(p, w)| event(p, w))
        .collect();
    crate::events::record_all(server, &events).await;
    chunk.iter().map(|planned| (planned, revision)).collect()
}

async fn write_one_by_one<'a>(server: &ApiServer, chunk: &'a [Planned]) -> Vec<(&'a Planned, u64)> {
    let mut written_pods = Vec::new();
    for planned in chunk {
        let condition = Condition::ModRevision(planned.revision);
        let mut object = planned.pod.clone();
        server
            .storage
            .restore_managed_fields(&planned.key, planned.revision, &mut object);
        let Ok(Ok(written)) = server.storage.put(&planned.key, &object, condition).await else {
            // Changed meanwhile (or the store is busy): the next round decides again.
            continue;
        };
        let revision = crate::objects::resource_version(&written)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        written_pods.push((planned, revision));
        if let Err(error) = crate::events::record(server, event(planned, &written)).await {
            tracing::debug!(%error, "cannot record a scheduling event");
        }
    }
    written_pods
}

fn event<'a>(planned: &'a Planned, written: &'a Value) -> Event<'a> {
    Event {
        involved: Involved::of(written),
        event_type: planned.event_type,
        reason: planned.reason,
        message: &planned.message,
        component: SCHEDULER_NAME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_pending` on the decoded pod, checked against the stored-bytes reading the
    /// wake-up uses: the two must agree.
    fn pending(pod: &Value) -> bool {
        let bytes = serde_json::to_vec(pod).unwrap();
        let placement: Placement = serde_json::from_slice(&bytes).unwrap();
        let pending = is_pending(&Tree::from(pod));
        assert_eq!(placement.needed(), pending, "{pod}");
        pending
    }

    #[test]
    fn only_unbound_ungated_pods_of_this_scheduler_are_pending() {
        let pod = |spec: Value| json!({"metadata": {"name": "p"}, "spec": spec});
        assert!(pending(&pod(json!({"containers": []}))));
        assert!(pending(&pod(json!({"schedulerName": SCHEDULER_NAME}))));
        assert!(pending(&pod(
            json!({"schedulingGates": [], "nodeName": ""})
        )));
        assert!(!pending(&pod(json!({"nodeName": "node1"}))));
        assert!(!pending(&pod(
            json!({"schedulingGates": [{"name": "example.com/wait"}]})
        )));
        assert!(!pending(&pod(json!({"schedulerName": "other"}))));
        let mut deleting = pod(json!({}));
        deleting["metadata"]["deletionTimestamp"] = json!("2026-11-26T00:00:00Z");
        assert!(!pending(&deleting));
        // A gated pod is neither pending nor placed: it takes no room on any node.
        let gated = pod(json!({"schedulingGates": [{"name": "g"}]}));
        assert!(!is_bound(&Tree::from(gated)));
        assert!(is_bound(&Tree::from(pod(json!({"nodeName": "node1"})))));
    }

    #[test]
    fn only_changes_that_can_change_a_decision_wake_the_scheduler() {
        let event = |key: &str, kind, value: Value| hakube_store::Event {
            kind,
            kv: hakube_store::KeyValue {
                key: key.as_bytes().to_vec(),
                value: serde_json::to_vec(&value).unwrap().into(),
                create_revision: 1,
                mod_revision: 1,
                version: 1,
                lease: 0,
            },
            previous: None,
        };
        use hakube_store::EventKind::{Delete, Put};
        let new_pod = json!({"metadata": {"name": "p"}, "spec": {}});
        let bound = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "node1"}});
        let pods = "/registry/core/pods/default/p";
        assert!(wakes_the_scheduler(
            &event(pods, Put, new_pod.clone()),
            false
        ));
        assert!(!wakes_the_scheduler(
            &event(pods, Put, bound.clone()),
            false
        ));
        assert!(!wakes_the_scheduler(
            &event(pods, Delete, json!(null)),
            false
        ));
        // Pods wait for room: a pod that goes away may make some.
        assert!(wakes_the_scheduler(&event(pods, Delete, json!(null)), true));
        assert!(wakes_the_scheduler(&event(pods, Put, bound), true));
        let node = "/registry/core/nodes/node1";
        assert!(wakes_the_scheduler(&event(node, Put, json!({})), false));
        let config = "/registry/core/configmaps/default/c";
        assert!(!wakes_the_scheduler(&event(config, Put, new_pod), true));
    }
}
