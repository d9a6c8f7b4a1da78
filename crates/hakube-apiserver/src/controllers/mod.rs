//! The controllers upstream runs in kube-controller-manager: namespace lifecycle, garbage
//! collection by ownerReferences, pod garbage collection, quotas, disruption budgets, service
//! accounts, node IPAM and node lifecycle, and the workload controllers. Each decides with a pure function over a
//! snapshot of the objects (`plan`) and acts through the store; only the node holding the
//! `kube-controller-manager` Lease in kube-system runs them, so one instance acts
//! cluster-wide.

pub mod api_endpoints;
pub mod controller_revisions;
pub mod definitions;
pub mod disruption;
mod disruption_scale;
pub mod event_ttl;
pub mod garbage;
pub mod namespaces;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pod_gc;
pub mod quiet_namespaces;
pub mod quotas;
pub mod service_accounts;
pub mod workload_writes;
pub mod workloads;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use hakube_store::Condition;

use crate::ApiServer;
use crate::error::ApiResult;
use crate::objects::At as _;
use crate::storage::Freshness;
use crate::tree::{Json, Tree};

/// How often the controllers look at the cluster.
const ROUND_INTERVAL: Duration = Duration::from_secs(1);
/// Time-driven decisions (node grace periods, toleration deadlines) need rounds even when
/// nothing was written: at least this often.
const IDLE_ROUND_INTERVAL: Duration = Duration::from_secs(5);

/// The controller manager's settings (upstream's kube-controller-manager flags).
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// The Leases of kube-scheduler and kube-controller-manager.
    pub leader_lease_duration: Duration,
    /// A node whose Lease has not changed for this long is NotReady (Unknown).
    pub node_monitor_grace_period: Duration,
    /// The tolerationSeconds admission gives pods for the not-ready and unreachable taints.
    pub pod_eviction_timeout_seconds: i64,
    /// Where node pod CIDRs come from (none: nodes get none).
    pub cluster_cidr: Option<node_ipam::Ipv4Block>,
    pub node_cidr_mask_size: u8,
}

impl Default for ControlOptions {
    fn default() -> Self {
        Self {
            leader_lease_duration: Duration::from_secs(15),
            node_monitor_grace_period: Duration::from_secs(50),
            pod_eviction_timeout_seconds: 300,
            cluster_cidr: None,
            node_cidr_mask_size: 24,
        }
    }
}

/// What the controllers remember between rounds.
#[derive(Default)]
struct Memory {
    node_health: node_lifecycle::NodeHealth,
    missing_nodes: pod_gc::MissingNodes,
    /// When expired events were last looked for.
    events_swept: Option<std::time::Instant>,
    /// Namespaces the workload controllers can leave alone until something in them changes.
    quiet_namespaces: quiet_namespaces::QuietNamespaces,
}

/// A stored object as the controllers read it: from the decoded cache, a shared [`Tree`].
pub type Stored = crate::storage::Stored<Tree>;

/// A change a controller decided on.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Remove the object (if unchanged since it was read).
    Delete { key: Vec<u8>, revision: u64 },
    /// Write the object back changed (if unchanged since it was read).
    Update {
        key: Vec<u8>,
        revision: u64,
        object: Value,
    },
    /// Create the object (if absent).
    Create { key: Vec<u8>, object: Value },
}

/// `(group, plural, namespace, name)` of a storage key (`/registry/<group>/<plural>/…`; the
/// core group is stored as "core").
pub fn key_parts(key: &[u8]) -> Option<(&str, &str, Option<&str>, &str)> {
    // Without collecting the parts: every planner asks this of every object every round.
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.strip_prefix("/registry/")?.split('/');
    let (group, plural, third) = (parts.next()?, parts.next()?, parts.next()?);
    match (parts.next(), parts.next()) {
        (None, _) => Some((core_as_empty(group), plural, None, third)),
        (Some(name), None) => Some((core_as_empty(group), plural, Some(third), name)),
        (Some(_), Some(_)) => None,
    }
}

fn core_as_empty(group: &str) -> &str {
    if group == "core" { "" } else { group }
}

/// Every stored object of every type but events, decoded once per write
/// ([`crate::decoded_cache`]).
fn snapshot(server: &ApiServer) -> Vec<Arc<Stored>> {
    server.storage.decoded_under(b"/registry/")
}

/// The snapshot plus the events of every namespace being deleted: the snapshot leaves events
/// out, and a namespace goes only once they are gone too (read afresh, as trees like the rest:
/// rare, and only while a namespace goes).
async fn with_events_of_deleting_namespaces<'a>(
    server: &ApiServer,
    objects: &'a [Arc<Stored>],
) -> ApiResult<Cow<'a, [Arc<Stored>]>> {
    let mut view = Cow::Borrowed(objects);
    let deleting = objects.iter().filter_map(|s| match key_parts(&s.key) {
        Some(("", "namespaces", None, name)) if is_deleting(&s.object) => Some(name),
        _ => None,
    });
    for name in deleting {
        let prefix = format!("/registry/core/events/{name}/");
        let events = server
            .storage
            .objects_under(prefix.as_bytes(), Freshness::Any)
            .await?;
        view.to_mut().extend(events.into_iter().map(|event| {
            Arc::new(Stored {
                key: event.key,
                revision: event.revision,
                object: Tree::from(event.object),
            })
        }));
    }
    Ok(view)
}

/// How often expired events are looked for (a full read of the events).
const EVENT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Expired events, when a sweep is due.
async fn expired_events(server: &ApiServer, memory: &mut Memory) -> ApiResult<Vec<Action>> {
    let now = std::time::Instant::now();
    if memory
        .events_swept
        .is_some_and(|at| now.duration_since(at) < EVENT_SWEEP_INTERVAL)
    {
        return Ok(Vec::new());
    }
    let start = b"/registry/core/events/";
    let (events, _) = server
        .storage
        .range(start, &crate::storage::prefix_end(start), Freshness::Any)
        .await?;
    memory.events_swept = Some(now);
    Ok(event_ttl::plan(&events, jiff::Timestamp::now()))
}

async fn act(server: &ApiServer, action: Action) -> ApiResult<()> {
    // A lost race (the object changed) is fine: the next round decides again.
    match action {
        Action::Delete { key, revision } => {
            server
                .storage
                .delete(&key, Condition::ModRevision(revision))
                .await?
                .ok();
        }
        Action::Update {
            key,
            revision,
            mut object,
        } => {
            server
                .storage
                .restore_managed_fields(&key, revision, &mut object);
            server
                .storage
                .put(&key, &object, Condition::ModRevision(revision))
                .await?
                .ok();
        }
        Action::Create { key, object } => {
            server
                .storage
                .put(&key, &object, Condition::Absent)
                .await?
                .ok();
        }
    }
    Ok(())
}

async fn round(server: &ApiServer, memory: &mut Memory) -> ApiResult<usize> {
    let started = std::time::Instant::now();
    let objects = snapshot(server);
    let options = &server.options.control;
    let wall = crate::objects::now_rfc3339();
    let clock = node_lifecycle::Clock {
        now: std::time::Instant::now(),
        wall: &wall,
        grace: options.node_monitor_grace_period,
    };
    let mut actions = node_lifecycle::plan(&objects, &mut memory.node_health, &clock);
    if let Some(cluster) = options.cluster_cidr {
        actions.extend(node_ipam::plan(
            &objects,
            cluster,
            options.node_cidr_mask_size,
        ));
    }
    actions.extend(pod_gc::plan(
        &objects,
        &mut memory.missing_nodes,
        clock.now,
        &wall,
    ));
    actions.extend(namespaces::plan(
        &with_events_of_deleting_namespaces(server, &objects).await?,
    ));
    actions.extend(garbage::plan(&objects));
    actions.extend(quotas::plan(&objects));
    actions.extend(disruption::plan(&objects, &wall));
    actions.extend(service_accounts::plan(&objects));
    actions.extend(api_endpoints::plan(&objects));
    actions.extend(definitions::plan(&objects));
    actions.extend(expired_events(server, memory).await?);
    for (key, revision) in crate::services::stale_allocations(server).await? {
        actions.push(Action::Delete { key, revision });
    }
    let mut count = actions.len();
    tracing::debug!(
        objects = objects.len(),
        actions = count,
        planned_ms = started.elapsed().as_millis() as u64,
        "controller round"
    );
    for action in actions {
        act(server, action).await?;
    }
    count += workloads::round(server, &objects, &mut memory.quiet_namespaces).await?;
    Ok(count)
}

/// Runs the controllers while this node holds the `kube-controller-manager` Lease, until
/// `shutdown`.
pub async fn run(server: Arc<ApiServer>, shutdown: tokio_util::sync::CancellationToken) {
    let candidate = crate::leader_election::Candidate::new(
        "kube-controller-manager",
        &server.options.node_name,
        server.options.control.leader_lease_duration,
    );
    let holding = crate::leader_election::spawn(server.clone(), candidate, shutdown.clone());
    // The revision the last complete round saw: nothing changed since, nothing to decide
    // until time-driven decisions are due. (Each round still reads every object; incremental
    // controllers are the next step.)
    let mut decided_at = 0;
    let mut decided_when = std::time::Instant::now();
    let mut memory = Memory::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
        if !*holding.borrow() {
            // A new term starts afresh (upstream: node grace periods restart too).
            decided_at = 0;
            memory = Memory::default();
            continue;
        }
        let revision = server.storage.store().machine().read().kv.revision();
        if revision == decided_at && decided_when.elapsed() < IDLE_ROUND_INTERVAL {
            continue;
        }
        let Some(outcome) =
            crate::leader_election::unless_panicked("controller", round(&server, &mut memory))
                .await
        else {
            memory = Memory::default();
            continue;
        };
        match outcome {
            // Its own writes moved the revision: look again next round.
            Ok(0) => {
                decided_at = revision;
                decided_when = std::time::Instant::now();
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "controller round failed; retrying"),
        }
    }
}

/// The finalizers of an object's metadata.
pub fn finalizers<J: Json>(object: &J) -> Vec<String> {
    object
        .at("/metadata/finalizers")
        .and_then(J::as_array)
        .map(|list| {
            list.iter()
                .filter_map(J::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting<J: Json>(object: &J) -> bool {
    object
        .at("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub fn uid<J: Json>(object: &J) -> Option<&str> {
    object.at("/metadata/uid").and_then(J::as_str)
}

/// The object without `finalizer`; when nothing holds it any more and it is being deleted,
/// the action is a delete.
pub fn release(stored: &Stored, finalizer: &str) -> Action {
    let cached = &stored.object;
    let remaining: Vec<String> = finalizers(cached)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    if remaining.is_empty()
        && is_deleting(cached)
        && crate::handlers::delete::without_grace(cached)
        && !crate::handlers::delete::held_by_spec(cached)
    {
        return Action::Delete {
            key: stored.key.clone(),
            revision: stored.revision,
        };
    }
    let mut object = cached.to_value();
    let metadata = crate::objects::metadata_mut(&mut object);
    if remaining.is_empty() {
        metadata.remove("finalizers");
    } else {
        metadata.insert("finalizers".into(), serde_json::json!(remaining));
    }
    Action::Update {
        key: stored.key.clone(),
        revision: stored.revision,
        object,
    }
}

/// A stored object at revision 1 as the cache holds it, for the planners' unit tests.
#[cfg(test)]
pub fn stored(key: &str, object: Value) -> Arc<Stored> {
    Arc::new(Stored {
        key: key.as_bytes().to_vec(),
        revision: 1,
        object: Tree::from(object),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_name_the_group_plural_namespace_and_name() {
        assert_eq!(
            key_parts(b"/registry/core/pods/default/web"),
            Some(("", "pods", Some("default"), "web"))
        );
        assert_eq!(
            key_parts(b"/registry/apps/deployments/kube-system/dns"),
            Some(("apps", "deployments", Some("kube-system"), "dns"))
        );
        assert_eq!(
            key_parts(b"/registry/core/nodes/node1"),
            Some(("", "nodes", None, "node1"))
        );
        assert_eq!(key_parts(b"/registry/core/nodes"), None);
        assert_eq!(key_parts(b"/registry/a/b/c/d/e"), None);
        assert_eq!(key_parts(b"/other/core/pods/default/web"), None);
        assert_eq!(key_parts(&[0xff, 0xfe]), None);
    }
}
