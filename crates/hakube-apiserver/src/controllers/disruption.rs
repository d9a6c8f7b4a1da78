//! PodDisruptionBudget status, as upstream's disruption controller keeps it: the pods its
//! selector matches (expected), those Ready (current healthy), the healthy count the budget
//! demands (desired, from minAvailable or maxUnavailable, integer or percentage), and how many
//! may be disrupted now. The eviction subresource decides from this status, and records the
//! pods it let go in `disruptedPods`; those count as unhealthy until their deletion shows
//! (a deletionTimestamp, or gone) or two minutes pass, as upstream's.

use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::disruption_scale::Controllers;
use super::{Action, Stored, is_deleting, key_parts};
use crate::objects::At as _;
use crate::selectors::LabelSelector;
use crate::tree::Json;
use crate::tree::Tree;

/// A pod counts as healthy when its Ready condition is True.
pub fn is_ready<J: Json>(pod: &J) -> bool {
    pod.at("/status/conditions")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(J::as_str) == Some("Ready")
                && c.get("status").and_then(J::as_str) == Some("True")
        })
}

/// An int-or-percentage of `total` (percentages round up, as upstream's for minAvailable).
fn scaled<J: Json>(value: &J, total: i64, round_up: bool) -> i64 {
    if let Some(n) = value.as_number() {
        return n.as_i64().unwrap_or(0);
    }
    let Some(text) = value.as_str() else {
        return 0;
    };
    match text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
        Some(percent) if round_up => (percent * total + 99) / 100,
        Some(percent) => percent * total / 100,
        None => text.parse().unwrap_or(0),
    }
}

/// How long an eviction's entry in `disruptedPods` waits for the pod's deletion to show.
const DISRUPTION_TIMEOUT_SECONDS: i64 = 120;

/// The budget's `disruptedPods` still pending at `wall`: pods that exist and are not being
/// deleted yet, granted less than the timeout ago.
fn pending_disruptions<J: Json>(budget: &J, pods: &[&J], wall: &str) -> Map<String, Value> {
    let now = wall.parse::<jiff::Timestamp>().ok();
    let recent = |at: &J| {
        let granted = at.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        match (granted, now) {
            (Some(granted), Some(now)) => {
                now.duration_since(granted).as_secs() < DISRUPTION_TIMEOUT_SECONDS
            }
            _ => false,
        }
    };
    let waiting = |name: &str| {
        pods.iter()
            .any(|pod| crate::objects::name(*pod) == Some(name) && !is_deleting(*pod))
    };
    budget
        .at("/status/disruptedPods")
        .and_then(J::members)
        .into_iter()
        .flatten()
        .filter(|(name, at)| recent(at) && waiting(name))
        .map(|(name, at)| (name.to_string(), at.to_value()))
        .collect()
}

/// The pods of `pods` the budget's selector selects (those being deleted too).
pub fn selected<'a, J: Json>(budget: &J, pods: &[&'a J]) -> Vec<&'a J> {
    let selector = budget
        .at("/spec/selector")
        .map(LabelSelector::from_label_selector_object)
        .and_then(Result::ok);
    pods.iter()
        .copied()
        .filter(|pod| {
            selector
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.matches_object(*pod))
        })
        .collect()
}

/// The status a budget should have for the pods it `selected`, as upstream's: healthy pods
/// are Ready, not being deleted and not just granted an eviction (`disrupted`); the expected
/// count is the selected pods for an integer minAvailable, else the controllers' `scale`
/// (the selected pods when there is none), so an eviction under way does not lower the
/// healthy count the budget demands.
pub fn status<J: Json>(
    budget: &J,
    selected: &[&J],
    disrupted: &Map<String, Value>,
    scale: Option<i64>,
) -> Value {
    let healthy = selected
        .iter()
        .filter(|pod| is_ready(**pod) && !is_deleting(**pod))
        .filter(|pod| !crate::objects::name(**pod).is_some_and(|n| disrupted.contains_key(n)))
        .count() as i64;
    let counted = selected.len() as i64;
    let (min, max) = (
        budget.at("/spec/minAvailable"),
        budget.at("/spec/maxUnavailable"),
    );
    let expected = match min {
        Some(min) if min.as_number().is_some() => counted,
        _ => scale.unwrap_or(counted),
    };
    let desired = match (min, max) {
        (Some(min), _) => scaled(min, expected, true),
        (None, Some(max)) => (expected - scaled(max, expected, false)).max(0),
        (None, None) => expected,
    };
    let allowed = (healthy - desired).max(0);
    let generation = budget
        .at("/metadata/generation")
        .map_or(json!(1), J::to_value);
    let (condition, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let previous = budget.at("/status/conditions/0");
    let since = previous
        .filter(|c| c.get("status").and_then(J::as_str) == Some(condition))
        .and_then(|c| c.get("lastTransitionTime").map(J::to_value))
        .unwrap_or_else(|| json!(crate::objects::now_rfc3339()));
    let mut status = json!({
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [{"type": "DisruptionAllowed", "status": condition, "reason": reason,
            "message": "", "observedGeneration": generation, "lastTransitionTime": since}],
    });
    if !disrupted.is_empty() {
        status["disruptedPods"] = Value::Object(disrupted.clone());
    }
    status
}

pub fn plan(objects: &[Arc<Stored>], wall: &str) -> Vec<Action> {
    let mut actions = Vec::new();
    for budget in objects {
        let Some(("policy", "poddisruptionbudgets", Some(namespace), _)) = key_parts(&budget.key)
        else {
            continue;
        };
        let pods: Vec<&Tree> = objects
            .iter()
            .filter(
                |s| matches!(key_parts(&s.key), Some(("", "pods", Some(ns), _)) if ns == namespace),
            )
            .map(|s| &s.object)
            .collect();
        let disrupted = pending_disruptions(&budget.object, &pods, wall);
        let selected = selected(&budget.object, &pods);
        let scale = Controllers::of(objects, namespace).scale(&selected);
        let wanted = status(&budget.object, &selected, &disrupted, scale);
        if !budget.object.get("status").is_some_and(|s| *s == wanted) {
            let mut updated = budget.object.to_value();
            updated["status"] = wanted;
            actions.push(Action::Update {
                key: budget.key.clone(),
                revision: budget.revision,
                object: updated,
            });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool) -> Value {
        json!({"metadata":{"name":name,"labels":{"app":"web"}},
            "status":{"conditions":[{"type":"Ready","status": if ready {"True"} else {"False"}}]}})
    }

    #[test]
    fn min_available_leaves_the_surplus_disruptable() {
        let budget = json!({"metadata":{"generation":1},"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}});
        let (a, b, c) = (pod("a", true), pod("b", true), pod("c", true));
        let wanted = status(&budget, &[&a, &b, &c], &Map::new(), None);
        assert_eq!(
            (
                wanted["expectedPods"].as_i64(),
                wanted["currentHealthy"].as_i64(),
                wanted["desiredHealthy"].as_i64(),
                wanted["disruptionsAllowed"].as_i64()
            ),
            (Some(3), Some(3), Some(2), Some(1))
        );
        let unready = pod("c", false);
        assert_eq!(
            status(&budget, &[&a, &b, &unready], &Map::new(), None)["disruptionsAllowed"],
            0
        );
    }

    #[test]
    fn max_unavailable_percentages_round_down() {
        let budget =
            json!({"spec":{"maxUnavailable":"50%","selector":{"matchLabels":{"app":"web"}}}});
        let (a, b, c) = (pod("a", true), pod("b", true), pod("c", true));
        assert_eq!(
            status(&budget, &[&a, &b, &c], &Map::new(), None)["desiredHealthy"],
            2
        );
    }

    #[test]
    fn a_granted_eviction_counts_as_unhealthy_until_its_deletion_shows() {
        let granted = "2026-11-27T10:00:00Z";
        let budget = json!({"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}},
            "status":{"disruptedPods":{"a": granted, "gone": granted}}});
        let (a, b, c) = (pod("a", true), pod("b", true), pod("c", true));
        let pods = [&a, &b, &c];
        let soon = pending_disruptions(&budget, &pods, "2026-11-27T10:00:30Z");
        assert_eq!(
            soon.keys().collect::<Vec<_>>(),
            ["a"],
            "a pod that is gone drops out"
        );
        let wanted = status(&budget, &pods, &soon, None);
        assert_eq!(
            (
                wanted["currentHealthy"].as_i64(),
                wanted["disruptionsAllowed"].as_i64()
            ),
            (Some(2), Some(0))
        );
        assert_eq!(wanted["disruptedPods"], json!({"a": granted}));
        // Its deletion shows: it leaves the map (and, being deleted, the count).
        let mut deleting = a.clone();
        deleting["metadata"]["deletionTimestamp"] = json!(granted);
        assert!(
            pending_disruptions(&budget, &[&deleting, &b, &c], "2026-11-27T10:00:30Z").is_empty()
        );
        // Two minutes on, the grant lapses.
        assert!(pending_disruptions(&budget, &pods, "2026-11-27T10:02:01Z").is_empty());
    }

    #[test]
    fn an_eviction_under_way_does_not_lower_what_the_budget_demands() {
        let budget = json!({"spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}}});
        let (a, b) = (pod("a", true), pod("b", true));
        let mut evicted = pod("c", true);
        evicted["metadata"]["deletionTimestamp"] = json!("2026-11-27T10:00:00Z");
        // Still terminating: counted as expected, not as healthy.
        let wanted = status(&budget, &[&a, &b, &evicted], &Map::new(), None);
        assert_eq!(
            (
                wanted["expectedPods"].as_i64(),
                wanted["disruptionsAllowed"].as_i64()
            ),
            (Some(3), Some(0))
        );
        // Gone and not yet replaced: the controller's replicas still say 3.
        let wanted = status(&budget, &[&a, &b], &Map::new(), Some(3));
        assert_eq!(
            (
                wanted["expectedPods"].as_i64(),
                wanted["disruptionsAllowed"].as_i64()
            ),
            (Some(3), Some(0))
        );
    }
}
