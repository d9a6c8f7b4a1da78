//! DELETE of an object or a collection. An object with finalizers (or deleted with
//! `propagationPolicy=Foreground`/`Orphan`, or a namespace) is only marked with a
//! deletionTimestamp; whoever owns the finalizer removes it, and the last removal deletes the
//! object (see [`finalized`]). Others are removed at once; their dependents are collected by
//! the garbage collector. A pod running on a node is deleted gracefully: it gets a
//! deletionTimestamp its grace period ahead, its node agent stops it (SIGTERM, then SIGKILL at
//! the deadline) and then removes it with a grace period of 0, as upstream's kubelet does.
//! Its propagation policy's finalizer is added in that same write, and the garbage
//! collector's other one removed, as for any other object (see [`finalizers_with_policy`]).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use hakube_store::Condition;

use crate::controllers::is_deleting;
use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::handlers::list::Selection;
use crate::objects::At as _;
use crate::request::Query;
use crate::storage::{self, Freshness};
use crate::tree::Json;
use crate::{body, objects, respond};

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";

/// The DeleteOptions of a request (body, or query parameters), or of an Eviction.
pub struct DeleteOptions {
    propagation: Option<String>,
    precondition_uid: Option<String>,
    precondition_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
}

async fn options(call: &Call, request_body: Body) -> ApiResult<DeleteOptions> {
    let bytes = body::read(request_body).await?;
    let value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::decode_object(&bytes, &body::content_type(&call.headers))?
    };
    DeleteOptions::of(call, &value)
}

impl DeleteOptions {
    /// The options `value` (a DeleteOptions object) and the request's query give.
    pub fn of(call: &Call, value: &Value) -> ApiResult<Self> {
        Self::parse(&call.query, value)
    }

    /// The options `value` and `query` give (the body's fields win over the query's).
    pub fn parse(query: &Query, value: &Value) -> ApiResult<Self> {
        let orphan = value
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| query.get("orphanDependents").map(|v| v == "true"));
        let propagation = value
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or(query.get("propagationPolicy"))
            .map(str::to_string)
            .or_else(|| {
                orphan.map(|o| {
                    if o {
                        "Orphan".into()
                    } else {
                        "Background".into()
                    }
                })
            });
        if let Some(policy) = &propagation
            && !matches!(policy.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::BadRequest(format!(
                "propagationPolicy must be Orphan, Background or Foreground, not {policy:?}"
            )));
        }
        let dry_run = value
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"))
            || query.dry_run()?;
        let text = |pointer: &str| {
            value
                .at(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(DeleteOptions {
            propagation,
            precondition_uid: text("/preconditions/uid"),
            precondition_version: text("/preconditions/resourceVersion"),
            grace_period_seconds: value
                .get("gracePeriodSeconds")
                .and_then(Value::as_i64)
                .or_else(|| query.get("gracePeriodSeconds").and_then(|v| v.parse().ok()))
                .map(at_least_one_second_if_negative),
            dry_run,
        })
    }

    /// The precondition `current` fails, worded as upstream's.
    pub fn unmet_by(&self, current: &Value) -> Option<String> {
        let uid = objects::text(current, &["metadata", "uid"]).unwrap_or("");
        if let Some(wanted) = self.precondition_uid.as_deref().filter(|w| *w != uid) {
            return Some(format!(
                "Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}"
            ));
        }
        let version = objects::resource_version(current).unwrap_or("0");
        self.precondition_version
            .as_deref()
            .filter(|w| *w != version)
            .map(|wanted| format!("Precondition failed: ResourceVersion in precondition: {wanted}, ResourceVersion in object meta: {version}"))
    }
}

/// A negative grace period is not valid, yet upstream (since 1.27: rest.BeforeDelete for
/// every kind, and the pod strategy's CheckGracefulDelete) deletes with 1 second rather than
/// refusing it or treating it as 0, so that clients sending one still get a graceful stop.
fn at_least_one_second_if_negative(grace: i64) -> i64 {
    if grace < 0 { 1 } else { grace }
}

/// The pod marked for graceful deletion, when its node must stop it first (it is bound to a
/// node, not finished, not being deleted yet, and the grace period is not 0). Marking it also
/// sets the garbage collector's finalizers `propagation` asks for, as upstream's store does in
/// the same update (updateForGracefulDeletionAndFinalizers), so the collector orphans its
/// dependents or deletes them first.
fn graceful_pod_deletion(
    current: &Value,
    requested: Option<i64>,
    propagation: Option<&str>,
) -> Option<Value> {
    if current.get("kind") != Some(&json!("Pod")) || is_deleting(current) {
        return None;
    }
    let bound = current
        .at("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        current.at("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let grace = requested.unwrap_or_else(|| {
        current
            .at("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30)
    });
    let grace = at_least_one_second_if_negative(grace);
    if !bound || finished || grace <= 0 {
        return None;
    }
    let deadline = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(grace))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    Some(with_deadline(current, deadline, grace, propagation))
}

/// The grace period of a pod's graceful deletion under way (its node is still stopping it).
fn pending_grace(current: &Value) -> Option<i64> {
    if current.get("kind") != Some(&json!("Pod")) || !is_deleting(current) {
        return None;
    }
    current
        .at("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .filter(|grace| *grace > 0)
}

/// A delete of a pod whose graceful deletion (`pending` seconds) is under way, as upstream's
/// BeforeDelete: only an explicit shorter grace period changes it, and the deadline then moves
/// earlier by the difference (old deadline − old grace + new grace), since the grace period
/// counts from the first delete, not from this one. The garbage collector's finalizers are
/// set as on a first mark; shortened to 0 with nothing holding it, the pod goes now (`None`).
fn shortened_pod_deletion(
    current: &Value,
    pending: i64,
    requested: Option<i64>,
    propagation: Option<&str>,
) -> Option<Value> {
    let Some(grace) = requested.filter(|grace| *grace < pending) else {
        return Some(current.clone());
    };
    if grace == 0 && finalizers_with_policy(current, propagation).is_empty() {
        return None;
    }
    let deadline = current
        .at("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|stamp| stamp.parse::<jiff::Timestamp>().ok())
        .and_then(|old| {
            old.checked_add(jiff::SignedDuration::from_secs(grace - pending))
                .ok()
        })
        .unwrap_or_else(jiff::Timestamp::now);
    Some(with_deadline(current, deadline, grace, propagation))
}

/// `current` with its deletion due at `deadline` after `grace` seconds and the garbage
/// collector's finalizers `propagation` asks for.
fn with_deadline(
    current: &Value,
    deadline: jiff::Timestamp,
    grace: i64,
    propagation: Option<&str>,
) -> Value {
    let mut marked = current.clone();
    let metadata = objects::metadata_mut(&mut marked);
    metadata.insert(
        "deletionTimestamp".into(),
        json!(deadline.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
    set_finalizers(metadata, finalizers_with_policy(current, propagation));
    marked
}

/// The finalizers a delete with `propagation` leaves on `current`, as upstream's
/// deletionFinalizersForGarbageCollection: the garbage collector's finalizer the policy asks
/// for is added and the other one removed (Orphan wants `orphan`, Foreground
/// `foregroundDeletion`, Background neither; orphanDependents was mapped to Orphan or
/// Background when parsed). Without a policy the object's own first one stands. When the set
/// does not change, the list is returned as it was, order included.
fn finalizers_with_policy(current: &Value, propagation: Option<&str>) -> Vec<Value> {
    let existing: Vec<Value> = current
        .at("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_collectors = |f: &Value| *f == ORPHAN_FINALIZER || *f == FOREGROUND_FINALIZER;
    let wanted = match propagation {
        Some("Orphan") => Some(ORPHAN_FINALIZER),
        Some("Foreground") => Some(FOREGROUND_FINALIZER),
        Some(_) => None,
        None => existing
            .iter()
            .find(|f| is_collectors(f))
            .and_then(Value::as_str),
    };
    let mut finalizers: Vec<Value> = existing
        .iter()
        .filter(|f| !is_collectors(f))
        .cloned()
        .collect();
    finalizers.extend(wanted.map(|f| json!(f)));
    if same_set(&existing, &finalizers) {
        existing
    } else {
        finalizers
    }
}

/// Whether two finalizer lists name the same finalizers (upstream compares them as sets).
fn same_set(a: &[Value], b: &[Value]) -> bool {
    let set = |list: &[Value]| {
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect::<std::collections::BTreeSet<_>>()
    };
    set(a) == set(b)
}

/// Sets `metadata.finalizers`, leaving the field out when none are left (as upstream's
/// omitempty encoding does).
fn set_finalizers(metadata: &mut serde_json::Map<String, Value>, finalizers: Vec<Value>) {
    if finalizers.is_empty() {
        metadata.remove("finalizers");
    } else {
        metadata.insert("finalizers".into(), json!(finalizers));
    }
}

/// The object as a delete with `options` leaves it when it cannot go at once (a pod its node
/// must stop first, or finalizers, its own or its propagation policy's, hold it); `None` when
/// it is removed now. An eviction deletes its pod with this too, as upstream's passes the
/// Eviction's deleteOptions to the pod's deletion.
pub fn marked_for_deletion(current: &Value, options: &DeleteOptions) -> Option<Value> {
    let propagation = options.propagation.as_deref();
    let requested = options.grace_period_seconds;
    if let Some(pending) = pending_grace(current) {
        return shortened_pod_deletion(current, pending, requested, propagation);
    }
    graceful_pod_deletion(current, requested, propagation)
        .or_else(|| mark_for_deletion(current, propagation))
}

/// Whether a namespace's spec finalizers still hold it (until it is emptied).
pub fn held_by_spec<J: Json>(object: &J) -> bool {
    object.get("kind").and_then(J::as_str) == Some("Namespace")
        && object
            .at("/spec/finalizers")
            .and_then(J::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// Whether a deleting object waits for no grace period: a pod its node is still stopping
/// (deletionGracePeriodSeconds > 0) goes only when the node deletes it with 0, so a write
/// that removes its last finalizer or reports its status must not remove it (upstream's
/// shouldDeleteDuringUpdate).
pub fn without_grace<J: Json>(object: &J) -> bool {
    object
        .at("/metadata/deletionGracePeriodSeconds")
        .and_then(J::as_i64)
        .is_none_or(|grace| grace <= 0)
}

/// True when `object` is being deleted, nothing holds it any more and no grace period is
/// left to wait for.
pub fn finalized(object: &Value) -> bool {
    let deleting = object
        .at("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
        && without_grace(object);
    let holders = object
        .at("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    // Namespaces are also held by their spec finalizers until emptied.
    let namespace_held = object.get("kind") == Some(&json!("Namespace"))
        && object
            .at("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    deleting && !holders && !namespace_held
}

pub async fn delete(call: Call, request_body: Body) -> ApiResult<Response> {
    let options = options(&call, request_body).await?;
    let key = object_key(&call);
    let (current, _) = call.server.storage.get(&key, Freshness::Latest).await?;
    let current = current.ok_or_else(|| not_found(&call))?;
    if call.target.resource.kind == "Node"
        && !options.dry_run
        && let Some(removal) = &call.server.node_removal
    {
        // The node leaves the cluster first; that also deletes its Node and Lease.
        let name = call.target.name.clone().unwrap_or_default();
        removal
            .remove(name.clone())
            .await
            .map_err(|why| ApiError::Forbidden(format!("nodes \"{name}\" is forbidden: {why}")))?;
        return Ok(respond::json(StatusCode::OK, &current, &[]));
    }
    // Without preconditions a delete must not fail because a controller wrote the object
    // between the read and the conditional delete: read again and retry, as upstream does.
    let unconditional =
        options.precondition_uid.is_none() && options.precondition_version.is_none();
    let mut current = current;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match delete_object(&call, &key, current, &options).await {
            Err(ApiError::Conflict { .. }) if unconditional && attempts < DELETE_ATTEMPTS => {
                let (again, _) = call.server.storage.get(&key, Freshness::Latest).await?;
                current = again.ok_or_else(|| not_found(&call))?;
            }
            outcome => {
                let (code, object) = outcome?;
                return Ok(crate::handlers::written(
                    &call.target.resource,
                    code,
                    object,
                    &[],
                ));
            }
        }
    }
}

/// How often a delete without preconditions re-reads after losing a race.
const DELETE_ATTEMPTS: u32 = 5;

async fn delete_object(
    call: &Call,
    key: &[u8],
    current: Value,
    options: &DeleteOptions,
) -> ApiResult<(StatusCode, Value)> {
    let resource = &call.target.resource;
    let name = objects::name(&current).unwrap_or_default().to_string();
    let conflict = |message: String| ApiError::Conflict {
        subject: resource.subject(&name),
        message,
    };
    if let Some(message) = options.unmet_by(&current) {
        return Err(conflict(message));
    }
    let revision: u64 = objects::resource_version(&current)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let marked = marked_for_deletion(&current, options);
    if options.dry_run {
        return Ok((StatusCode::OK, marked.unwrap_or(current)));
    }
    if let Some(marked) = marked {
        if marked == current {
            // Already being deleted: nothing to change.
            return Ok((StatusCode::OK, current));
        }
        return match call.server.storage.put(key, &marked, Condition::ModRevision(revision)).await? {
            Ok(stored) => Ok((StatusCode::OK, stored)),
            Err(_) => Err(conflict("the object has been modified; please apply your changes to the latest version and try again".into())),
        };
    }
    match call.server.storage.delete(key, Condition::ModRevision(revision)).await? {
        Ok((_, deleted)) => Ok((StatusCode::OK, deleted.unwrap_or(current))),
        Err(Some(_)) => Err(conflict("the object has been modified; please apply your changes to the latest version and try again".into())),
        Err(None) => Err(not_found(call)),
    }
}

/// The object marked for deletion, when it cannot be removed at once: finalizers hold it once
/// the propagation policy's are set (an `orphan` that Background removes no longer does), or
/// it is a namespace. The mark has no grace period left (this path is taken when none is to
/// be waited for).
fn mark_for_deletion(current: &Value, propagation: Option<&str>) -> Option<Value> {
    let finalizers = finalizers_with_policy(current, propagation);
    let is_namespace = current.get("kind") == Some(&json!("Namespace"));
    if finalizers.is_empty() && !is_namespace {
        return None;
    }
    let mut marked = current.clone();
    // Not deleting yet: due now, so removing the last finalizer removes the object. Already
    // due (no grace period left): its timestamp stays, as upstream's markAsDeleting keeps an
    // earlier one. (A pod's graceful deletion ended with grace 0 is shortened_pod_deletion's.)
    let due_now = is_deleting(current) && without_grace(current);
    let metadata = objects::metadata_mut(&mut marked);
    if !due_now {
        metadata.insert("deletionTimestamp".into(), json!(objects::now_rfc3339()));
        metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    set_finalizers(metadata, finalizers);
    if is_namespace {
        marked["status"]["phase"] = json!("Terminating");
    }
    Some(marked)
}

pub async fn delete_collection(call: Call, request_body: Body) -> ApiResult<Response> {
    let options = options(&call, request_body).await?;
    let selection = Selection::from_call(&call)?;
    let prefix = storage::prefix(&call.target.resource, call.target.namespace.as_deref());
    let end = storage::prefix_end(&prefix);
    let (items, _) = call
        .server
        .storage
        .range(&prefix, &end, Freshness::Latest)
        .await?;
    let mut deleted = Vec::new();
    for kv in &items {
        let object = storage::decode(kv)?;
        if !selection.matches(&object) {
            continue;
        }
        match delete_object(&call, &kv.key, object, &options).await {
            Ok((_, mut object)) => {
                call.target.resource.present(&mut object);
                deleted.push(object);
            }
            // Changed or removed meanwhile: upstream skips those too.
            Err(ApiError::Conflict { .. } | ApiError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }
    let resource = &call.target.resource;
    let list = json!({"kind": resource.list_kind(), "apiVersion": resource.api_version(), "metadata": {}, "items": deleted});
    Ok(respond::json(StatusCode::OK, &list, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleting(grace: i64, finalizers: &[&str]) -> Value {
        json!({"kind": "Pod", "metadata": {"name": "p", "deletionTimestamp": "2026-11-27T10:00:00Z",
            "deletionGracePeriodSeconds": grace, "finalizers": finalizers}})
    }

    #[test]
    fn an_update_finishes_a_deletion_only_when_no_grace_period_is_left() {
        assert!(finalized(&deleting(0, &[])));
        assert!(!finalized(&deleting(0, &["example.com/hold"])));
        assert!(
            !finalized(&deleting(300, &[])),
            "a pod its node is still stopping stays until the node deletes it"
        );
        assert!(!finalized(&json!({"metadata": {"name": "p"}})));
    }

    #[test]
    fn preconditions_are_checked_with_upstreams_words() {
        let options = DeleteOptions {
            propagation: None,
            precondition_uid: Some("u1".into()),
            precondition_version: Some("6".into()),
            grace_period_seconds: None,
            dry_run: false,
        };
        let pod = |uid: &str| json!({"metadata": {"uid": uid, "resourceVersion": "7"}});
        assert_eq!(
            options.unmet_by(&pod("u2")).as_deref(),
            Some("Precondition failed: UID in precondition: u1, UID in object meta: u2")
        );
        assert_eq!(
            options.unmet_by(&pod("u1")).as_deref(),
            Some(
                "Precondition failed: ResourceVersion in precondition: 6, ResourceVersion in object meta: 7"
            )
        );
    }

    fn running_pod(termination_grace: i64) -> Value {
        json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"},
            "spec": {"nodeName": "node1", "terminationGracePeriodSeconds": termination_grace},
            "status": {"phase": "Running"}})
    }

    fn options(query: &str, body: Value) -> DeleteOptions {
        DeleteOptions::parse(&Query::parse(Some(query)), &body).expect("valid options")
    }

    #[test]
    fn a_negative_grace_period_is_one_second_as_upstreams() {
        for requested in [
            options("gracePeriodSeconds=-5", json!({})),
            options("", json!({"gracePeriodSeconds": -1})),
        ] {
            assert_eq!(requested.grace_period_seconds, Some(1));
            let marked = marked_for_deletion(&running_pod(30), &requested)
                .expect("stopped by its node, not removed at once");
            assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 1);
        }
        // A pod whose own default is negative gets 1 second too (the pod strategy's
        // CheckGracefulDelete).
        let marked = marked_for_deletion(&running_pod(-10), &options("", json!({})))
            .expect("stopped by its node");
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 1);
        assert_eq!(
            options("gracePeriodSeconds=0", json!({})).grace_period_seconds,
            Some(0),
            "0 still means now"
        );
    }

    fn finalizers(object: &Value) -> Vec<&str> {
        object["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_graceful_pod_deletion_adds_the_propagation_policys_finalizer() {
        let mut pod = running_pod(30);
        pod["metadata"]["finalizers"] = json!(["example.com/hold"]);
        for (policy, finalizer) in [
            ("Orphan", ORPHAN_FINALIZER),
            ("Foreground", FOREGROUND_FINALIZER),
        ] {
            let delete = options(&format!("propagationPolicy={policy}"), json!({}));
            let marked = marked_for_deletion(&pod, &delete).expect("stopped by its node");
            assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
            assert_eq!(finalizers(&marked), ["example.com/hold", finalizer]);
            assert!(
                !finalized(&marked),
                "the pod still waits for its node to stop it"
            );
        }
        let background =
            marked_for_deletion(&pod, &options("propagationPolicy=Background", json!({})))
                .expect("stopped by its node");
        assert_eq!(finalizers(&background), ["example.com/hold"]);
    }

    #[test]
    fn a_graceful_pod_deletion_removes_the_finalizer_its_policy_contradicts() {
        let mut pod = running_pod(30);
        pod["metadata"]["finalizers"] = json!(["example.com/hold", ORPHAN_FINALIZER]);
        for background in ["propagationPolicy=Background", "orphanDependents=false"] {
            let marked = marked_for_deletion(&pod, &options(background, json!({})))
                .expect("stopped by its node");
            assert_eq!(finalizers(&marked), ["example.com/hold"], "{background}");
        }
        let foreground =
            marked_for_deletion(&pod, &options("propagationPolicy=Foreground", json!({})))
                .expect("stopped by its node");
        assert_eq!(
            finalizers(&foreground),
            ["example.com/hold", FOREGROUND_FINALIZER]
        );
        pod["metadata"]["finalizers"] = json!([FOREGROUND_FINALIZER]);
        for orphan in ["propagationPolicy=Orphan", "orphanDependents=true"] {
            let marked = marked_for_deletion(&pod, &options(orphan, json!({})))
                .expect("stopped by its node");
            assert_eq!(finalizers(&marked), [ORPHAN_FINALIZER], "{orphan}");
        }
        let unsaid = marked_for_deletion(&pod, &options("", json!({}))).expect("stopped");
        assert_eq!(
            finalizers(&unsaid),
            [FOREGROUND_FINALIZER],
            "without a policy the object's own finalizer stands"
        );
    }

    #[test]
    fn a_delete_held_by_finalizers_removes_the_one_its_policy_contradicts() {
        let held = json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "finalizers": [ORPHAN_FINALIZER, "example.com/hold"]}});
        let foreground =
            marked_for_deletion(&held, &options("propagationPolicy=Foreground", json!({})))
                .expect("held by its finalizers");
        assert_eq!(
            finalizers(&foreground),
            ["example.com/hold", FOREGROUND_FINALIZER]
        );
        assert_eq!(foreground["metadata"]["deletionGracePeriodSeconds"], 0);
        let orphaned = json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "finalizers": [ORPHAN_FINALIZER]}});
        assert_eq!(
            marked_for_deletion(
                &orphaned,
                &options("propagationPolicy=Background", json!({}))
            ),
            None,
            "nothing holds it once the orphan finalizer goes: removed at once, as upstream's"
        );
        let kept =
            marked_for_deletion(&orphaned, &options("", json!({}))).expect("held by its finalizer");
        assert_eq!(finalizers(&kept), [ORPHAN_FINALIZER]);
    }

    #[test]
    fn a_pending_graceful_deletion_keeps_its_finalizers_as_upstreams() {
        let first = marked_for_deletion(&running_pod(30), &options("", json!({})))
            .expect("stopped by its node");
        let orphan = options("propagationPolicy=Orphan", json!({}));
        assert_eq!(
            marked_for_deletion(&first, &orphan),
            Some(first.clone()),
            "a deletion already under way as soon cannot change its finalizers"
        );
        let sooner = options("propagationPolicy=Orphan&gracePeriodSeconds=5", json!({}));
        let shortened = marked_for_deletion(&first, &sooner).expect("stopped by its node");
        assert_eq!(shortened["metadata"]["deletionGracePeriodSeconds"], 5);
        assert_eq!(finalizers(&shortened), [ORPHAN_FINALIZER]);
    }

    /// A pod deleted at 10:00:00 with a grace period of 30 s, its termination default `own`.
    fn stopping_since_ten(own: i64, finalizers: &[&str]) -> Value {
        let mut pod = running_pod(own);
        pod["metadata"]["deletionTimestamp"] = json!("2026-11-27T10:00:30Z");
        pod["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        pod["metadata"]["finalizers"] = json!(finalizers);
        pod
    }

    #[test]
    fn shortening_a_pending_graceful_deletion_moves_its_deadline_earlier_as_upstreams() {
        let pending = stopping_since_ten(30, &[]);
        let shortened = marked_for_deletion(&pending, &options("gracePeriodSeconds=5", json!({})))
            .expect("still stopped by its node");
        assert_eq!(
            shortened["metadata"]["deletionTimestamp"], "2026-11-27T10:00:05Z",
            "old deadline - old grace + new grace, not now + new grace"
        );
        assert_eq!(shortened["metadata"]["deletionGracePeriodSeconds"], 5);
        let held = stopping_since_ten(30, &["example.com/hold"]);
        let now = marked_for_deletion(&held, &options("gracePeriodSeconds=0", json!({})))
            .expect("held by its finalizer");
        assert_eq!(now["metadata"]["deletionTimestamp"], "2026-11-27T10:00:00Z");
        assert_eq!(now["metadata"]["deletionGracePeriodSeconds"], 0);
        assert_eq!(
            marked_for_deletion(&pending, &options("gracePeriodSeconds=0", json!({}))),
            None,
            "nothing holds it: removed now"
        );
    }

    #[test]
    fn only_an_explicit_shorter_grace_period_changes_a_pending_deletion() {
        // Its own default (10 s) is shorter, but a delete without a grace period leaves a
        // deletion under way alone, as upstream's BeforeDelete does.
        let pending = stopping_since_ten(10, &[]);
        for unchanged in ["", "gracePeriodSeconds=30", "gracePeriodSeconds=60"] {
            assert_eq!(
                marked_for_deletion(&pending, &options(unchanged, json!({}))),
                Some(pending.clone()),
                "{unchanged:?}"
            );
        }
    }

    #[test]
    fn a_final_delete_of_a_pod_held_by_a_finalizer_leaves_no_grace_period() {
        let stopping = deleting(30, &["example.com/hold"]);
        let marked = marked_for_deletion(&stopping, &options("gracePeriodSeconds=0", json!({})))
            .expect("held by its finalizer");
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
        let mut released = marked.clone();
        released["metadata"]["finalizers"] = json!([]);
        assert!(
            finalized(&released),
            "removing the finalizer now removes it"
        );
        // Already due: deleting again changes nothing.
        assert_eq!(
            marked_for_deletion(&marked, &options("", json!({}))),
            Some(marked)
        );
    }
}
