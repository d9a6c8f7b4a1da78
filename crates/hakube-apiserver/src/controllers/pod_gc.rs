//! Pod garbage collection (upstream's PodGC controller): pods nobody else will ever finish.
//! - bound to a Node that no longer exists (`kubectl delete node`, `hakube remove-node`),
//!   once it has been gone for a quarantine period (a node may be re-registering);
//! - being deleted while unscheduled (no agent will confirm it);
//! - being deleted on a node tainted `node.kubernetes.io/out-of-service` (its agent is known
//!   to be gone);
//! - finished (Succeeded or Failed) beyond `TERMINATED_POD_THRESHOLD`, oldest first.
//!
//! Each is deleted at once (grace period 0) unless a finalizer holds it: then it is only
//! marked deleting, and whoever owns the finalizer finishes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Action, Stored, finalizers, is_deleting, key_parts};

use crate::objects::At as _;
use crate::tree::Tree;

/// Upstream's `--terminated-pod-gc-threshold` default.
pub const TERMINATED_POD_THRESHOLD: usize = 12_500;
/// Upstream's quarantine for pods of a missing node.
pub const QUARANTINE: Duration = Duration::from_secs(40);
const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

/// When each missing node was first seen missing (only nodes some pod still names).
#[derive(Default)]
pub struct MissingNodes {
    since: HashMap<String, Instant>,
}

fn node_name(pod: &Tree) -> Option<&str> {
    pod.at("/spec/nodeName")
        .and_then(Tree::as_str)
        .filter(|n| !n.is_empty())
}

fn phase(pod: &Tree) -> &str {
    pod.at("/status/phase")
        .and_then(Tree::as_str)
        .unwrap_or("Pending")
}

fn out_of_service(node: &Tree) -> bool {
    node.at("/spec/taints")
        .and_then(Tree::as_array)
        .is_some_and(|taints| {
            taints.iter().any(|t| {
                t.get("key").and_then(Tree::as_str) == Some(OUT_OF_SERVICE_TAINT)
                    && t.get("effect").and_then(Tree::as_str) == Some("NoExecute")
            })
        })
}

/// Deletes `pod` now, or marks it deleting with no grace period when a finalizer holds it
/// (a pod its node was stopping gracefully too: no node will finish it).
fn collect(pod: &Stored, wall: &str) -> Option<Action> {
    if finalizers(&pod.object).is_empty() {
        return Some(Action::Delete {
            key: pod.key.clone(),
            revision: pod.revision,
        });
    }
    if is_deleting(&pod.object) && crate::handlers::delete::without_grace(&pod.object) {
        return None;
    }
    let mut object = pod.object.to_value();
    let metadata = crate::objects::metadata_mut(&mut object);
    metadata.insert("deletionTimestamp".into(), json!(wall));
    metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
    Some(Action::Update {
        key: pod.key.clone(),
        revision: pod.revision,
        object,
    })
}

/// Whether nobody but this controller will ever finish `pod`.
fn orphaned(
    pod: &Stored,
    nodes: &HashMap<&str, &Tree>,
    missing: &MissingNodes,
    now: Instant,
) -> bool {
    match node_name(&pod.object) {
        None => is_deleting(&pod.object),
        Some(name) => match nodes.get(name) {
            Some(node) => is_deleting(&pod.object) && out_of_service(node),
            None => missing
                .since
                .get(name)
                .is_some_and(|since| now.duration_since(*since) >= QUARANTINE),
        },
    }
}

pub fn plan(
    objects: &[Arc<Stored>],
    missing: &mut MissingNodes,
    now: Instant,
    wall: &str,
) -> Vec<Action> {
    let nodes: HashMap<&str, &Tree> = objects
        .iter()
        .filter_map(|s| match key_parts(&s.key) {
            Some(("", "nodes", None, name)) => Some((name, &s.object)),
            _ => None,
        })
        .collect();
    let pods: Vec<&Stored> = objects
        .iter()
        .map(|s| &**s)
        .filter(|s| matches!(key_parts(&s.key), Some(("", "pods", Some(_), _))))
        .collect();
    // Remember when each named-but-missing node was first missed; forget the rest.
    let named_missing: Vec<&str> = pods
        .iter()
        .filter_map(|p| node_name(&p.object))
        .filter(|name| !nodes.contains_key(name))
        .collect();
    missing
        .since
        .retain(|name, _| named_missing.contains(&name.as_str()));
    for name in named_missing {
        missing.since.entry(name.to_string()).or_insert(now);
    }

    let mut actions: Vec<Action> = pods
        .iter()
        .filter(|pod| orphaned(pod, &nodes, missing, now))
        .filter_map(|pod| collect(pod, wall))
        .collect();

    let mut finished: Vec<&&Stored> = pods
        .iter()
        .filter(|p| matches!(phase(&p.object), "Succeeded" | "Failed"))
        .filter(|p| !is_deleting(&p.object))
        .collect();
    if finished.len() > TERMINATED_POD_THRESHOLD {
        let created = |pod: &Stored| {
            pod.object
                .at("/metadata/creationTimestamp")
                .and_then(Tree::as_str)
                .unwrap_or_default()
                .to_string()
        };
        finished.sort_by_cached_key(|p| created(p));
        let excess = finished.len() - TERMINATED_POD_THRESHOLD;
        actions.extend(
            finished
                .iter()
                .take(excess)
                .filter_map(|p| collect(p, wall)),
        );
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn node(name: &str, taints: Value) -> Arc<Stored> {
        Arc::new(Stored {
            key: format!("/registry/core/nodes/{name}").into_bytes(),
            revision: 1,
            object: json!({"metadata": {"name": name}, "spec": {"taints": taints}}).into(),
        })
    }

    fn pod(name: &str, node: &str, extra: Value) -> Arc<Stored> {
        let mut object = json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node}, "status": {"phase": "Running"}});
        json_patch::merge(&mut object, &extra);
        Arc::new(Stored {
            key: format!("/registry/core/pods/default/{name}").into_bytes(),
            revision: 7,
            object: object.into(),
        })
    }

    fn deleted_names(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { key, .. } => Some(String::from_utf8_lossy(key).to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pods_of_a_missing_node_go_after_the_quarantine() {
        let objects = [
            node("node1", json!([])),
            pod("kept", "node1", json!({})),
            pod("lost", "node3", json!({})),
        ];
        let mut missing = MissingNodes::default();
        let start = Instant::now();
        assert!(
            plan(&objects, &mut missing, start, "t").is_empty(),
            "quarantined first"
        );
        let later = start + QUARANTINE;
        assert_eq!(
            deleted_names(&plan(&objects, &mut missing, later, "t")),
            ["/registry/core/pods/default/lost"]
        );
    }

    #[test]
    fn a_node_that_comes_back_restarts_the_quarantine() {
        let mut missing = MissingNodes::default();
        let start = Instant::now();
        let without = [pod("p", "node3", json!({}))];
        plan(&without, &mut missing, start, "t");
        let with = [node("node3", json!([])), pod("p", "node3", json!({}))];
        plan(&with, &mut missing, start + QUARANTINE / 2, "t");
        assert!(plan(&without, &mut missing, start + QUARANTINE, "t").is_empty());
    }

    #[test]
    fn terminating_pods_without_a_node_or_on_an_out_of_service_node_go_at_once() {
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
        let unscheduled = pod("unscheduled", "", deleting.clone());
        let mut object = unscheduled.object.to_value();
        object["spec"] = json!({});
        let unscheduled = Arc::new(Stored {
            object: object.into(),
            ..(*unscheduled).clone()
        });
        let taint = json!([{"key": OUT_OF_SERVICE_TAINT, "effect": "NoExecute"}]);
        let objects = [
            node("down", taint),
            node("up", json!([])),
            unscheduled,
            pod("on-down", "down", deleting.clone()),
            pod("on-up", "up", deleting),
            pod("running-on-down", "down", json!({})),
        ];
        let mut names = deleted_names(&plan(
            &objects,
            &mut MissingNodes::default(),
            Instant::now(),
            "t",
        ));
        names.sort();
        assert_eq!(
            names,
            [
                "/registry/core/pods/default/on-down",
                "/registry/core/pods/default/unscheduled"
            ]
        );
    }

    /// What the controller does with `held` (on a node that is gone) once its quarantine ends.
    fn after_quarantine(held: Arc<Stored>) -> Vec<Action> {
        let mut missing = MissingNodes::default();
        let start = Instant::now();
        plan(std::slice::from_ref(&held), &mut missing, start, "now");
        plan(&[held], &mut missing, start + QUARANTINE, "now")
    }

    #[test]
    fn a_finalizer_turns_the_delete_into_a_mark() {
        let held = pod(
            "held",
            "gone",
            json!({"metadata": {"finalizers": ["example.com/keep"]}}),
        );
        let actions = after_quarantine(held);
        match actions.as_slice() {
            [Action::Update { object, .. }] => {
                assert_eq!(object["metadata"]["deletionTimestamp"], "now");
                assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_held_pod_stopping_gracefully_on_a_gone_node_loses_its_grace_period() {
        let stopping = json!({"metadata": {"finalizers": ["example.com/keep"],
            "deletionTimestamp": "then", "deletionGracePeriodSeconds": 30}});
        let held = pod("held", "gone", stopping);
        let actions = after_quarantine(held);
        match actions.as_slice() {
            [Action::Update { object, .. }] => {
                assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finished_pods_beyond_the_threshold_go_oldest_first() {
        let mut objects = vec![node("n", json!([]))];
        for i in 0..TERMINATED_POD_THRESHOLD + 2 {
            objects.push(pod(
                &format!("done-{i:05}"),
                "n",
                json!({"metadata": {"creationTimestamp": format!("2026-01-01T00:00:00.{i:06}Z")},
                    "status": {"phase": "Succeeded"}}),
            ));
        }
        let names = deleted_names(&plan(
            &objects,
            &mut MissingNodes::default(),
            Instant::now(),
            "t",
        ));
        assert_eq!(
            names,
            [
                "/registry/core/pods/default/done-00000",
                "/registry/core/pods/default/done-00001"
            ]
        );
    }
}
