//! Controllers that are part of the API's semantics (upstream runs them in
//! kube-controller-manager): namespace lifecycle (a terminating namespace empties itself, then
//! goes) and garbage collection by ownerReferences (background, foreground and orphan
//! deletion). Each decides with a pure function over a snapshot of the objects
//! ([`namespaces::plan`], [`garbage::plan`]) and acts through the store; only the datastore
//! leader runs them, so one instance acts cluster-wide.

pub mod api_endpoints;
pub mod definitions;
pub mod disruption;
pub mod garbage;
pub mod namespaces;
pub mod quotas;
pub mod service_accounts;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use hakube_store::Condition;

use crate::ApiServer;
use crate::error::ApiResult;
use crate::storage::Freshness;

/// How often the controllers look at the cluster.
const ROUND_INTERVAL: Duration = Duration::from_secs(1);

pub use crate::storage::Stored;

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
    let text = std::str::from_utf8(key).ok()?;
    let parts: Vec<&str> = text.strip_prefix("/registry/")?.split('/').collect();
    match parts.as_slice() {
        [group, plural, namespace, name] => {
            Some((core_as_empty(group), plural, Some(namespace), name))
        }
        [group, plural, name] => Some((core_as_empty(group), plural, None, name)),
        _ => None,
    }
}

fn core_as_empty(group: &str) -> &str {
    if group == "core" { "" } else { group }
}

/// Every stored object of every type.
async fn snapshot(server: &ApiServer) -> ApiResult<Vec<Stored>> {
    server
        .storage
        .objects_under(b"/registry/", Freshness::Any)
        .await
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
            object,
        } => {
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

async fn round(server: &ApiServer) -> ApiResult<usize> {
    let objects = snapshot(server).await?;
    let mut actions = namespaces::plan(&objects);
    actions.extend(garbage::plan(&objects));
    actions.extend(quotas::plan(&objects));
    actions.extend(disruption::plan(&objects));
    actions.extend(service_accounts::plan(&objects));
    actions.extend(api_endpoints::plan(&objects));
    actions.extend(definitions::plan(&objects));
    for (key, revision) in crate::services::stale_allocations(server).await? {
        actions.push(Action::Delete { key, revision });
    }
    let count = actions.len();
    tracing::debug!(objects = objects.len(), actions = count, "controller round");
    for action in actions {
        act(server, action).await?;
    }
    Ok(count)
}

/// Runs the controllers while this node leads the datastore, until `shutdown`.
pub async fn run(server: Arc<ApiServer>, shutdown: tokio_util::sync::CancellationToken) {
    // The revision the last complete round saw: nothing changed since, nothing to decide.
    // (Each round still reads every object; incremental controllers are the next step.)
    let mut decided_at = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
        let store = server.storage.store();
        if store.status().leader != Some(store.node_id()) {
            decided_at = 0;
            continue;
        }
        let revision = store.machine().read().kv.revision();
        if revision == decided_at {
            continue;
        }
        match round(&server).await {
            // Its own writes moved the revision: look again next round.
            Ok(0) => decided_at = revision,
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "controller round failed; retrying"),
        }
    }
}

/// The finalizers of an object's metadata.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub fn uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

/// The object without `finalizer`; when nothing holds it any more and it is being deleted,
/// the action is a delete.
pub fn release(stored: &Stored, finalizer: &str) -> Action {
    let mut object = stored.object.clone();
    let remaining: Vec<String> = finalizers(&object)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    if remaining.is_empty()
        && is_deleting(&object)
        && !crate::handlers::delete::held_by_spec(&object)
    {
        return Action::Delete {
            key: stored.key.clone(),
            revision: stored.revision,
        };
    }
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
