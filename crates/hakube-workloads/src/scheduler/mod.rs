//! The kube-scheduler's decisions as a pure function: given the pending pods, the nodes and
//! the pods already on them, where each pending pod goes or why it cannot go anywhere, with
//! upstream's filter semantics, default score plugins and message texts. Binding, events and
//! status updates are the caller's; preemption is not implemented (failure messages say it
//! would not help, as upstream does when it finds no victims).
//!
//! Layout: `placement` runs one pod's cycle over the filters (`filters`, `topology_spread`,
//! `pod_affinity`) and scores (`scores`); `node_state` keeps the per-node accounting that each
//! placement updates; `resources`/`quantity` do the arithmetic, `selectors` the matching and
//! `messages` the texts.

mod filters;
mod messages;
mod node_state;
mod placement;
mod pod_affinity;
mod resources;
mod scores;
mod selectors;
mod topology_spread;

#[cfg(test)]
mod benchmark;
#[cfg(test)]
mod test_support;

use std::cmp::Ordering;

use hakube_kinds::k8s_openapi::api::core::v1::{Node, Pod};

use node_state::{Cluster, PodFacts};

/// What the scheduler decided for one pending pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Bind the pod to this node.
    Bind { node: String },
    /// No node fits; `message` is upstream's text for the PodScheduled=False condition.
    Unschedulable { message: String },
}

/// The scheduler that places a pod when its spec.schedulerName is empty or this.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Places `pending` pods (in the order given by priority desc, then creationTimestamp, then name) onto `nodes`,
/// given every pod already assigned (spec.nodeName set, not terminated: phase not Succeeded/Failed).
/// Each placement counts for the next (requests, host ports, affinity, spread).
///
/// Pods that are bound already, being deleted, gated (spec.schedulingGates) or meant for
/// another scheduler are skipped without a decision.
pub fn schedule(pending: &[Pod], nodes: &[Node], assigned: &[Pod]) -> Vec<Decision> {
    let mut cluster = Cluster::new(nodes, assigned);
    let mut queue: Vec<&Pod> = pending.iter().filter(|pod| is_ours_to_place(pod)).collect();
    queue.sort_by(|left, right| queue_order(left, right));
    queue
        .into_iter()
        .map(|pod| decide(pod, &mut cluster))
        .collect()
}

fn decide<'a>(pod: &'a Pod, cluster: &mut Cluster<'a>) -> Decision {
    let facts = PodFacts::of(pod);
    let outcome = match placement::find_node(&facts, cluster) {
        Ok(index) => {
            let node = cluster.nodes[index].name.to_owned();
            cluster.place(facts, index);
            Outcome::Bind { node }
        }
        Err(message) => Outcome::Unschedulable { message },
    };
    Decision {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        outcome,
    }
}

fn is_ours_to_place(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return false };
    let unbound = spec.node_name.as_deref().is_none_or(str::is_empty);
    let ours = matches!(
        spec.scheduler_name.as_deref(),
        None | Some("" | DEFAULT_SCHEDULER_NAME)
    );
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|gates| !gates.is_empty());
    unbound && ours && !gated && pod.metadata.deletion_timestamp.is_none()
}

/// Upstream's PrioritySort queue order: higher priority first, then older, then by name.
fn queue_order(left: &Pod, right: &Pod) -> Ordering {
    let priority = |pod: &Pod| {
        pod.spec
            .as_ref()
            .and_then(|spec| spec.priority)
            .unwrap_or(0)
    };
    let created = |pod: &Pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0);
    priority(right)
        .cmp(&priority(left))
        .then_with(|| created(left).cmp(&created(right)))
        .then_with(|| pod_name(left).cmp(pod_name(right)))
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::collections::BTreeMap;

    fn bound_nodes(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .map(|decision| match &decision.outcome {
                Outcome::Bind { node } => node.clone(),
                Outcome::Unschedulable { message } => format!("unschedulable: {message}"),
            })
            .collect()
    }

    #[test]
    fn replicas_of_one_owner_spread_one_per_node() {
        let nodes = vec![
            node("a", "4", "8Gi", 110),
            node("b", "4", "8Gi", 110),
            node("c", "4", "8Gi", 110),
        ];
        let pending: Vec<Pod> = (0..3)
            .map(|index| pod(&format!("web-{index}"), "rs-web"))
            .collect();
        let mut placed = bound_nodes(&schedule(&pending, &nodes, &[]));
        placed.sort();
        assert_eq!(placed, vec!["a", "b", "c"]);
    }

    #[test]
    fn replicas_spread_even_when_they_request_resources() {
        let nodes = vec![
            node("a", "4", "8Gi", 110),
            node("b", "4", "8Gi", 110),
            node("c", "4", "8Gi", 110),
        ];
        let pending: Vec<Pod> = (0..6)
            .map(|index| with_requests(pod(&format!("web-{index}"), "rs-web"), "100m", "128Mi"))
            .collect();
        let placed = bound_nodes(&schedule(&pending, &nodes, &[]));
        let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
        for node in placed {
            *per_node.entry(node).or_insert(0) += 1;
        }
        assert_eq!(per_node.into_values().collect::<Vec<_>>(), vec![2, 2, 2]);
    }

    #[test]
    fn each_placement_counts_for_the_next() {
        let nodes = vec![node("a", "1", "4Gi", 110)];
        let pending: Vec<Pod> = (0..3)
            .map(|index| with_requests(pod(&format!("p{index}"), "rs"), "400m", "128Mi"))
            .collect();
        let decisions = schedule(&pending, &nodes, &[]);
        assert_eq!(
            decisions[0].outcome,
            Outcome::Bind {
                node: "a".to_owned()
            }
        );
        assert_eq!(
            decisions[1].outcome,
            Outcome::Bind {
                node: "a".to_owned()
            }
        );
        assert_eq!(
            decisions[2].outcome,
            Outcome::Unschedulable {
                message: "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: \
                          1 Preemption is not helpful for scheduling."
                    .to_owned()
            }
        );
    }

    #[test]
    fn assigned_pods_use_up_their_nodes() {
        let nodes = vec![node("a", "2", "4Gi", 110), node("b", "2", "4Gi", 110)];
        let assigned = vec![on_node(with_requests(pod("old", "x"), "2", "1Gi"), "a")];
        let decisions = schedule(
            &[with_requests(pod("new", "y"), "1", "1Gi")],
            &nodes,
            &assigned,
        );
        assert_eq!(
            decisions[0].outcome,
            Outcome::Bind {
                node: "b".to_owned()
            }
        );
    }

    #[test]
    fn higher_priority_goes_first() {
        let nodes = vec![node("a", "1", "4Gi", 110)];
        let low = with_requests(pod("low", "l"), "1", "1Gi");
        let mut high = with_requests(pod("high", "h"), "1", "1Gi");
        spec_mut(&mut high).priority = Some(1000);
        let decisions = schedule(&[low, high], &nodes, &[]);
        assert_eq!(decisions[0].name, "high");
        assert_eq!(
            decisions[0].outcome,
            Outcome::Bind {
                node: "a".to_owned()
            }
        );
        assert_eq!(decisions[1].name, "low");
        assert!(matches!(
            decisions[1].outcome,
            Outcome::Unschedulable { .. }
        ));
    }

    #[test]
    fn pods_not_ours_are_skipped_silently() {
        let nodes = vec![node("a", "1", "4Gi", 110)];
        let mut other_scheduler = pod("other", "");
        spec_mut(&mut other_scheduler).scheduler_name = Some("custom".to_owned());
        let bound = on_node(pod("bound", ""), "a");
        let mut deleting = pod("deleting", "");
        deleting.metadata.deletion_timestamp = Some(
            hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                hakube_kinds::k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        );
        let mut named_default = pod("mine", "");
        spec_mut(&mut named_default).scheduler_name = Some("default-scheduler".to_owned());
        let decisions = schedule(
            &[other_scheduler, bound, deleting, named_default],
            &nodes,
            &[],
        );
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].name, "mine");
        assert_eq!(decisions[0].uid, "mine-uid");
        assert_eq!(decisions[0].namespace, "default");
    }

    #[test]
    fn required_anti_affinity_counts_pods_placed_in_the_same_call() {
        let nodes = vec![node("a", "4", "8Gi", 110), node("b", "4", "8Gi", 110)];
        let pending: Vec<Pod> = (0..3)
            .map(|index| {
                with_self_anti_affinity(
                    pod(&format!("db-{index}"), "db"),
                    "kubernetes.io/hostname",
                    None,
                )
            })
            .collect();
        let placed = bound_nodes(&schedule(&pending, &nodes, &[]));
        assert_ne!(placed[0], placed[1]);
        assert_eq!(
            placed[2],
            "unschedulable: 0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. \
             preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn hard_zone_spread_counts_pods_placed_in_the_same_call() {
        let nodes = vec![
            with_node_labels(node("a1", "4", "8Gi", 110), &[("zone", "a")]),
            with_node_labels(node("a2", "4", "8Gi", 110), &[("zone", "a")]),
            with_node_labels(node("b1", "4", "8Gi", 110), &[("zone", "b")]),
        ];
        let pending: Vec<Pod> = (0..4)
            .map(|index| {
                with_spread(
                    pod(&format!("web-{index}"), "web"),
                    "zone",
                    1,
                    "DoNotSchedule",
                )
            })
            .collect();
        let placed = bound_nodes(&schedule(&pending, &nodes, &[]));
        let in_zone_b = placed.iter().filter(|node| node.as_str() == "b1").count();
        assert_eq!(in_zone_b, 2, "{placed:?}");
    }

    #[test]
    fn preferred_anti_affinity_spreads_replicas() {
        let nodes = vec![node("a", "64", "256Gi", 110), node("b", "64", "256Gi", 110)];
        let assigned = vec![on_node(pod("cache-0", "cache"), "a")];
        let incoming =
            with_self_anti_affinity(pod("cache-1", "cache"), "kubernetes.io/hostname", Some(100));
        let placed = bound_nodes(&schedule(&[incoming], &nodes, &assigned));
        assert_eq!(placed, vec!["b"]);
    }

    #[test]
    fn no_nodes_gives_upstreams_message() {
        let decisions = schedule(&[pod("p", "")], &[], &[]);
        assert_eq!(
            decisions[0].outcome,
            Outcome::Unschedulable {
                message: "no nodes available to schedule pods".to_owned()
            }
        );
    }
}
