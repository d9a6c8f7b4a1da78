//! How the workload controllers' decisions are written: pods (and claims) created through
//! the API's write path in upstream's slow-start batches, deletes and ownership changes
//! conditional on the revision read, statuses written over the object read, and the events
//! upstream's controllers record for each.

use serde::Serialize;
use serde_json::Value;

use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_store::Condition;
use hakube_store::txn::MAX_TXN_OPS;
use hakube_workloads::replica_sets::{PodRef, slow_start_batches};

use super::Stored;
use crate::ApiServer;
use crate::error::ApiResult;
use crate::events::{Event, EventType, Involved};
use crate::tree::Tree;

/// What any pod-owning controller decides on: pod changes and its new status.
pub struct PodPlan<S> {
    pub create: Vec<Pod>,
    pub delete: Vec<PodRef>,
    pub adopt: Vec<Pod>,
    pub release: Vec<Pod>,
    pub status: Option<S>,
}

impl<S> PodPlan<S> {
    /// Whether the plan asks for no write at all.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.delete.is_empty()
            && self.adopt.is_empty()
            && self.release.is_empty()
            && self.status.is_none()
    }
}

/// What applying a plan did: how many writes succeeded, and whether the plan asked for any. A
/// write that failed (a quota, a lost race, no quorum) changes nothing in the store but leaves
/// `wanted` set, so the namespace is planned again next round instead of being left quiet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub writes: usize,
    pub wanted: bool,
}

impl Written {
    /// `writes` done of a plan that asked for some when `wanted`.
    pub fn of(writes: usize, wanted: bool) -> Self {
        Self { writes, wanted }
    }
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, other: Self) {
        self.writes += other.writes;
        self.wanted |= other.wanted;
    }
}

pub fn uid_of(stored: &Stored) -> &str {
    super::uid(&stored.object).unwrap_or_default()
}

pub fn find<'a, T>(objects: &'a [(T, &'a Stored)], uid: &str) -> Option<&'a Stored> {
    objects.iter().map(|(_, s)| *s).find(|s| uid_of(s) == uid)
}

pub fn find_stored<'a>(objects: &[&'a Stored], uid: &str) -> Option<&'a Stored> {
    objects.iter().copied().find(|s| uid_of(s) == uid)
}

/// Writes `object` over `stored` if unchanged since read; true when written.
pub async fn replace<T: Serialize>(
    server: &ApiServer,
    stored: &Stored,
    object: &T,
) -> ApiResult<bool> {
    let mut value = serde_json::to_value(object)
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    server
        .storage
        .restore_managed_fields(&stored.key, stored.revision, &mut value);
    Ok(server
        .storage
        .put(&stored.key, &value, Condition::ModRevision(stored.revision))
        .await?
        .is_ok())
}

pub async fn remove(server: &ApiServer, stored: &Stored) -> ApiResult<bool> {
    Ok(server
        .storage
        .delete(&stored.key, Condition::ModRevision(stored.revision))
        .await?
        .is_ok())
}

/// Writes `status` as the owner's status; true when written.
pub async fn write_status<T: Serialize>(
    server: &ApiServer,
    owner: &Stored,
    status: &T,
) -> ApiResult<bool> {
    let mut object = owner.object.to_value();
    object["status"] = serde_json::to_value(status).unwrap_or_default();
    replace(server, owner, &object).await
}

pub async fn event(
    server: &ApiServer,
    involved: &Tree,
    event_type: EventType,
    reason: &str,
    message: &str,
    component: &str,
) {
    let event = Event {
        involved: Involved::of(involved),
        event_type,
        reason,
        message,
        component,
    };
    if let Err(error) = crate::events::record(server, event).await {
        tracing::debug!(%error, "cannot record an event");
    }
}

/// Creates `objects` through the API in slow-start batches, stopping at the first failure
/// (recorded as a FailedCreate event on `owner`); returns how many were created. A batch is
/// written [`MAX_TXN_OPS`] objects per store transaction, and its SuccessfulCreate events
/// together, so a ReplicaSet of thousands costs tens of Raft writes, not two per pod; a chunk
/// that cannot be written whole (a quota to charge, a generated name taken) goes one by one.
pub async fn create_all<T: Serialize>(
    server: &ApiServer,
    owner: &Stored,
    objects: Vec<T>,
    component: &str,
) -> usize {
    let mut created = 0;
    let mut pending = objects
        .iter()
        .map(|object| serde_json::to_value(object).unwrap_or_default());
    for size in slow_start_batches(objects.len()) {
        let batch: Vec<Value> = pending.by_ref().take(size).collect();
        let chunks: Vec<_> = batch
            .chunks(MAX_TXN_OPS)
            .map(|chunk| create_chunk(server, chunk.to_vec(), component))
            .collect();
        let outcomes: Vec<ApiResult<Value>> = futures::future::join_all(chunks)
            .await
            .into_iter()
            .flatten()
            .collect();
        let failed = outcomes.iter().any(Result::is_err);
        created += outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        let messages: Vec<(EventType, &str, String)> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(object) => {
                    let kind = object["kind"].as_str().unwrap_or("object").to_lowercase();
                    let name = crate::objects::name(object).unwrap_or_default();
                    let message = format!("Created {kind}: {name}");
                    (EventType::Normal, "SuccessfulCreate", message)
                }
                Err(error) => {
                    let message = format!("Error creating: {error}");
                    (EventType::Warning, "FailedCreate", message)
                }
            })
            .collect();
        let events: Vec<Event> = messages
            .iter()
            .map(|(event_type, reason, message)| Event {
                involved: Involved::of(&owner.object),
                event_type: *event_type,
                reason,
                message,
                component,
            })
            .collect();
        crate::events::record_all(server, &events).await;
        if failed {
            break;
        }
    }
    created
}

/// Creates up to [`MAX_TXN_OPS`] objects in one store write, or one by one when they cannot
/// all be written together.
async fn create_chunk(
    server: &ApiServer,
    chunk: Vec<Value>,
    component: &str,
) -> Vec<ApiResult<Value>> {
    if let Ok(Some(created)) =
        crate::internal::create_together(server, chunk.clone(), component).await
    {
        return created.into_iter().map(Ok).collect();
    }
    let creates = chunk
        .into_iter()
        .map(|object| crate::internal::create(server, object, component));
    futures::future::join_all(creates).await
}

/// Applies a pod-owning controller's plan for `owner`.
pub async fn apply_pod_plan<S: Serialize>(
    server: &ApiServer,
    pods: &[&Stored],
    owner: &Stored,
    plan: PodPlan<S>,
    component: &str,
) -> ApiResult<Written> {
    let wanted = !plan.is_empty();
    let mut writes = create_all(server, owner, plan.create, component).await;
    for pod in &plan.delete {
        if let Some(stored) = find_stored(pods, &pod.uid)
            && remove(server, stored).await?
        {
            writes += 1;
            let message = format!("Deleted pod: {}", pod.name);
            event(
                server,
                &owner.object,
                EventType::Normal,
                "SuccessfulDelete",
                &message,
                component,
            )
            .await;
        }
    }
    for pod in plan.adopt.iter().chain(&plan.release) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if let Some(stored) = find_stored(pods, uid) {
            writes += usize::from(replace(server, stored, pod).await?);
        }
    }
    if let Some(status) = plan.status {
        writes += usize::from(write_status(server, owner, &status).await?);
    }
    Ok(Written::of(writes, wanted))
}
