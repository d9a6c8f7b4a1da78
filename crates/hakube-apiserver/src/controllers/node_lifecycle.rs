//! Node lifecycle, as upstream's node lifecycle controller and taint manager: a node whose
//! Lease in `kube-node-lease` has not changed for the grace period (by this controller's own
//! clock, so clock skew between nodes does not matter) gets Unknown conditions ("Kubelet
//! stopped posting node status."), the `node.kubernetes.io/unreachable` NoSchedule and
//! NoExecute taints, and its pods lose Ready; a node reporting Ready=False gets the
//! `not-ready` taints. Pods on a NoExecute-tainted node are deleted (gracefully: they show
//! Terminating, and their controllers replace them) once their toleration runs out (300 s
//! by default, added at admission). A node that reports again loses the taints.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Action, Stored, key_parts};

use crate::objects::At as _;
use crate::tree::{Json, Tree};

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
const HEARTBEAT_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// When each node's Lease was last seen to change (this controller's memory across rounds).
#[derive(Debug, Default)]
pub struct NodeHealth {
    seen: HashMap<String, (String, Instant)>,
}

impl NodeHealth {
    /// Whether `node`'s Lease changed within `grace` (a node seen for the first time gets the
    /// whole grace period from now, as upstream does after a controller restart).
    fn is_reporting(
        &mut self,
        node: &str,
        renew_time: &str,
        now: Instant,
        grace: Duration,
    ) -> bool {
        let entry = self
            .seen
            .entry(node.to_string())
            .or_insert_with(|| (renew_time.to_string(), now));
        if entry.0 != renew_time {
            *entry = (renew_time.to_string(), now);
        }
        now.duration_since(entry.1) < grace
    }
}

/// What the controller needs to know besides the objects.
pub struct Clock<'a> {
    pub now: Instant,
    /// The wall clock as RFC 3339 (taint times, condition transitions).
    pub wall: &'a str,
    pub grace: Duration,
}

fn condition_status<'a>(node: &'a Tree, kind: &str) -> Option<&'a str> {
    node.at("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Tree::as_str) == Some(kind))?
        .get("status")?
        .as_str()
}

/// The node's taints (copies: what a round decides with, and what a write would set).
fn taints<J: Json>(node: &J) -> Vec<Value> {
    node.at("/spec/taints")
        .and_then(J::as_array)
        .map(|taints| taints.iter().map(J::to_value).collect())
        .unwrap_or_default()
}

/// The node's taints with the lifecycle taints set to `wanted` (a key or none).
fn with_lifecycle_taints(node: &Tree, wanted: Option<&str>, wall: &str) -> Vec<Value> {
    let current = taints(node);
    let mut result: Vec<Value> = current
        .into_iter()
        .filter(|t| {
            let key = t.get("key").and_then(Value::as_str).unwrap_or_default();
            (key != UNREACHABLE && key != NOT_READY) || Some(key) == wanted
        })
        .collect();
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            let present = result.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    && t.get("effect").and_then(Value::as_str) == Some(effect)
            });
            if !present {
                let mut taint = json!({"key": key, "effect": effect});
                if effect == "NoExecute" {
                    taint["timeAdded"] = json!(wall);
                }
                result.push(taint);
            }
        }
    }
    result
}

fn unknown_conditions(node: &Tree, wall: &str) -> Value {
    let mut conditions: Vec<Value> = node
        .at("/status/conditions")
        .and_then(Tree::as_array)
        .map(|list| list.iter().map(Tree::to_value).collect())
        .unwrap_or_default();
    for condition in &mut conditions {
        let kind = condition
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if HEARTBEAT_CONDITIONS.contains(&kind) && condition["status"] != "Unknown" {
            condition["status"] = json!("Unknown");
            condition["reason"] = json!("NodeStatusUnknown");
            condition["message"] = json!("Kubelet stopped posting node status.");
            condition["lastTransitionTime"] = json!(wall);
        }
    }
    json!(conditions)
}

/// The node's decision: its updated object when something changes (decided on the cached
/// node; copied only to write the change).
fn node_update(node: &Tree, reporting: bool, wall: &str) -> Option<Value> {
    let (conditions, wanted) = if !reporting {
        (Some(unknown_conditions(node, wall)), Some(UNREACHABLE))
    } else {
        match condition_status(node, "Ready") {
            Some("True") => (None, None),
            Some("False") => (None, Some(NOT_READY)),
            // Reporting again, but its status not refreshed yet: keep what is there.
            _ => return None,
        }
    };
    let conditions = conditions.filter(|wanted| {
        !node
            .at("/status/conditions")
            .is_some_and(|now| now == wanted)
    });
    let taints = json!(with_lifecycle_taints(node, wanted, wall));
    let current_taints = node.at("/spec/taints");
    let taints_change = if taints.as_array().is_some_and(Vec::is_empty) {
        current_taints.is_some()
    } else {
        !current_taints.is_some_and(|now| *now == taints)
    };
    if conditions.is_none() && !taints_change {
        return None;
    }
    let mut updated = node.to_value();
    if let Some(conditions) = conditions {
        updated["status"]["conditions"] = conditions;
    }
    if taints.as_array().is_some_and(Vec::is_empty) {
        if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("taints");
        }
    } else {
        updated["spec"]["taints"] = taints;
    }
    Some(updated)
}

fn pod_node(pod: &Tree) -> Option<&str> {
    pod.at("/spec/nodeName").and_then(Tree::as_str)
}

/// The pod with its Ready conditions False (its node stopped reporting), if it had them True.
fn pod_not_ready(pod: &Tree, wall: &str) -> Option<Value> {
    let conditions = pod.at("/status/conditions")?.as_array()?;
    let mut changed = false;
    let updated: Vec<Value> = conditions
        .iter()
        .map(|c| {
            let kind = c.get("type").and_then(Tree::as_str).unwrap_or_default();
            let mut c = c.to_value();
            if (kind == "Ready" || kind == "ContainersReady") && c["status"] == "True" {
                changed = true;
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(wall);
            }
            c
        })
        .collect();
    changed.then(|| {
        let mut pod = pod.to_value();
        pod["status"]["conditions"] = json!(updated);
        pod
    })
}

/// A string field of a toleration or a taint ("" when absent).
fn text<'a, J: Json>(object: &'a J, field: &str) -> &'a str {
    object.get(field).and_then(J::as_str).unwrap_or_default()
}

fn tolerates(toleration: &Tree, taint: &Value) -> bool {
    let effect = text(toleration, "effect");
    if !effect.is_empty() && effect != text(taint, "effect") {
        return false;
    }
    let key = text(toleration, "key");
    let operator = text(toleration, "operator");
    if key.is_empty() {
        return operator == "Exists";
    }
    key == text(taint, "key")
        && (operator == "Exists" || text(toleration, "value") == text(taint, "value"))
}

/// When the pod must go from a node with `taints` (None: it may stay).
fn eviction_deadline(pod: &Tree, taints: &[Value]) -> Option<jiff::Timestamp> {
    let tolerations = pod
        .at("/spec/tolerations")
        .and_then(Tree::as_array)
        .unwrap_or_default();
    let mut deadline: Option<jiff::Timestamp> = None;
    for taint in taints.iter().filter(|t| t["effect"] == "NoExecute") {
        let added = taint
            .get("timeAdded")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(jiff::Timestamp::now);
        let matching: Vec<&Tree> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(added);
        }
        // Tolerated for the shortest of the matching tolerations (none: forever).
        let seconds = matching
            .iter()
            .filter_map(|t| t.get("tolerationSeconds").and_then(Tree::as_i64))
            .min();
        if let Some(seconds) = seconds {
            let end = added
                .checked_add(jiff::SignedDuration::from_secs(seconds.max(0)))
                .unwrap_or(added);
            deadline = Some(deadline.map_or(end, |d| d.min(end)));
        }
    }
    deadline
}

fn terminating(pod: &Tree, wall: &str) -> Value {
    let mut pod = pod.to_value();
    let grace = pod
        .at("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let metadata = crate::objects::metadata_mut(&mut pod);
    metadata.insert("deletionTimestamp".into(), json!(wall));
    metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
    pod
}

pub fn plan(objects: &[Arc<Stored>], health: &mut NodeHealth, clock: &Clock) -> Vec<Action> {
    let mut renew_times: HashMap<&str, &str> = HashMap::new();
    for stored in objects {
        if let Some(("coordination.k8s.io", "leases", Some("kube-node-lease"), name)) =
            key_parts(&stored.key)
        {
            let renew = stored
                .object
                .at("/spec/renewTime")
                .and_then(Tree::as_str)
                .unwrap_or_default();
            renew_times.insert(name, renew);
        }
    }
    let wall_now = clock
        .wall
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|_| jiff::Timestamp::now());
    let mut actions = Vec::new();
    // Per node: reporting, and the taints it will carry after this round.
    let mut state: HashMap<&str, (bool, Vec<Value>)> = HashMap::new();
    for stored in objects {
        let Some(("", "nodes", None, name)) = key_parts(&stored.key) else {
            continue;
        };
        let renew = renew_times.get(name).copied().unwrap_or_default();
        let reporting = health.is_reporting(name, renew, clock.now, clock.grace);
        let updated = node_update(&stored.object, reporting, clock.wall);
        let current = match &updated {
            Some(object) => taints(object),
            None => taints(&stored.object),
        };
        state.insert(name, (reporting, current));
        if let Some(object) = updated {
            actions.push(Action::Update {
                key: stored.key.clone(),
                revision: stored.revision,
                object,
            });
        }
    }
    for stored in objects {
        let Some(("", "pods", Some(_), _)) = key_parts(&stored.key) else {
            continue;
        };
        let pod = &stored.object;
        let Some((reporting, taints)) = pod_node(pod).and_then(|n| state.get(n)) else {
            continue;
        };
        if super::is_deleting(pod) {
            continue;
        }
        let update = match eviction_deadline(pod, taints) {
            Some(deadline) if deadline <= wall_now => Some(terminating(pod, clock.wall)),
            _ if !reporting => pod_not_ready(pod, clock.wall),
            _ => None,
        };
        if let Some(object) = update {
            actions.push(Action::Update {
                key: stored.key.clone(),
                revision: stored.revision,
                object,
            });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::stored;

    fn node(ready: &str) -> Arc<Stored> {
        stored(
            "/registry/core/nodes/n1",
            json!({"metadata": {"name": "n1"}, "spec": {},
                "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}]}}),
        )
    }

    fn lease(renew: &str) -> Arc<Stored> {
        stored(
            "/registry/coordination.k8s.io/leases/kube-node-lease/n1",
            json!({"spec": {"renewTime": renew}}),
        )
    }

    fn pod(tolerations: Value) -> Arc<Stored> {
        stored(
            "/registry/core/pods/default/p1",
            json!({"metadata": {"name": "p1", "namespace": "default"},
                "spec": {"nodeName": "n1", "tolerations": tolerations},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        )
    }

    fn updated_node(actions: &[Action]) -> Option<&Value> {
        actions.iter().find_map(|a| match a {
            Action::Update { key, object, .. } if key.starts_with(b"/registry/core/nodes/") => {
                Some(object)
            }
            _ => None,
        })
    }

    fn updated_pod(actions: &[Action]) -> Option<&Value> {
        actions.iter().find_map(|a| match a {
            Action::Update { key, object, .. } if key.starts_with(b"/registry/core/pods/") => {
                Some(object)
            }
            _ => None,
        })
    }

    #[test]
    fn a_silent_node_becomes_unknown_and_tainted_after_the_grace_period() {
        let mut health = NodeHealth::default();
        let start = Instant::now();
        let grace = Duration::from_secs(50);
        let default_tolerations = json!([
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ]);
        let objects = vec![node("True"), lease("r1"), pod(default_tolerations)];
        let clock = Clock {
            now: start,
            wall: "2026-01-01T00:00:00Z",
            grace,
        };
        assert!(plan(&objects, &mut health, &clock).is_empty());
        let clock = Clock {
            now: start + Duration::from_secs(49),
            wall: "2026-01-01T00:00:49Z",
            grace,
        };
        assert!(plan(&objects, &mut health, &clock).is_empty());
        let clock = Clock {
            now: start + Duration::from_secs(50),
            wall: "2026-01-01T00:00:50Z",
            grace,
        };
        let actions = plan(&objects, &mut health, &clock);
        let node = updated_node(&actions).expect("node updated");
        assert_eq!(node["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(
            node["status"]["conditions"][0]["message"],
            "Kubelet stopped posting node status."
        );
        let taints = node["spec"]["taints"].as_array().expect("taints");
        assert_eq!(taints.len(), 2);
        assert!(taints.iter().all(|t| t["key"] == UNREACHABLE));
        let pod = updated_pod(&actions).expect("pod not ready");
        assert_eq!(pod["status"]["conditions"][0]["status"], "False");
        assert!(
            pod["metadata"].get("deletionTimestamp").is_none(),
            "tolerated for 300 s"
        );
    }

    #[test]
    fn pods_go_when_their_toleration_runs_out_or_at_once_without_one() {
        let tainted = stored(
            "/registry/core/nodes/n1",
            json!({"metadata": {"name": "n1"},
                "spec": {"taints": [
                    {"key": UNREACHABLE, "effect": "NoSchedule"},
                    {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}]},
                "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        );
        let tolerating = json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
        let grace = Duration::from_secs(50);
        let mut health = NodeHealth::default();
        let now = Instant::now();
        let objects = vec![tainted.clone(), lease("r1"), pod(tolerating.clone())];
        let before = Clock {
            now,
            wall: "2026-01-01T00:04:59Z",
            grace,
        };
        let actions = plan(&objects, &mut health, &before);
        assert!(
            updated_pod(&actions).is_none_or(|p| p["metadata"].get("deletionTimestamp").is_none())
        );
        let after = Clock {
            now,
            wall: "2026-01-01T00:05:00Z",
            grace,
        };
        let actions = plan(&objects, &mut health, &after);
        let evicted = updated_pod(&actions).expect("evicted");
        assert_eq!(
            evicted["metadata"]["deletionTimestamp"],
            "2026-01-01T00:05:00Z"
        );
        // No toleration: at once.
        let objects = vec![tainted, lease("r1"), pod(json!([]))];
        let actions = plan(&objects, &mut health, &before);
        assert!(
            updated_pod(&actions).is_some_and(|p| p["metadata"]["deletionTimestamp"].is_string())
        );
    }

    #[test]
    fn a_node_that_reports_again_loses_the_taints() {
        let mut health = NodeHealth::default();
        let recovered = stored(
            "/registry/core/nodes/n1",
            json!({"metadata": {"name": "n1"},
                "spec": {"taints": [{"key": UNREACHABLE, "effect": "NoSchedule"}, {"key": "custom", "effect": "NoSchedule"}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let clock = Clock {
            now: Instant::now(),
            wall: "2026-01-01T00:00:00Z",
            grace: Duration::from_secs(50),
        };
        let actions = plan(&[recovered, lease("r2")], &mut health, &clock);
        let node = updated_node(&actions).expect("taints removed");
        assert_eq!(
            node["spec"]["taints"],
            json!([{"key": "custom", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn a_node_reporting_not_ready_gets_the_not_ready_taints() {
        let mut health = NodeHealth::default();
        let clock = Clock {
            now: Instant::now(),
            wall: "2026-01-01T00:00:00Z",
            grace: Duration::from_secs(50),
        };
        let actions = plan(&[node("False"), lease("r1")], &mut health, &clock);
        let node = updated_node(&actions).expect("tainted");
        assert!(
            node["spec"]["taints"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["key"] == NOT_READY))
        );
    }
}
