//! Ranking the feasible nodes: upstream's default score plugins with their default weights
//! (TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2,
//! NodeResourcesFit/LeastAllocated 1, NodeResourcesBalancedAllocation 1), each normalized to
//! 0..=100, summed, and the best node picked. Ties are broken by a hash of the pod's uid over
//! the tied nodes: deterministic, yet replicas with equal scores do not all pick the first.

use hakube_kinds::k8s_openapi::api::core::v1::PreferredSchedulingTerm;

use super::filters::tolerations;
use super::node_state::{Cluster, NodeState, PodFacts};
use super::selectors::{node_matches_term, tolerates};
use super::{pod_affinity, topology_spread};

const MAX_NODE_SCORE: i64 = 100;
const TAINT_TOLERATION_WEIGHT: i64 = 3;
const NODE_AFFINITY_WEIGHT: i64 = 2;
const TOPOLOGY_SPREAD_WEIGHT: i64 = 2;
const INTER_POD_AFFINITY_WEIGHT: i64 = 2;
const LEAST_ALLOCATED_WEIGHT: i64 = 1;
const BALANCED_ALLOCATION_WEIGHT: i64 = 1;

/// The feasible node (an index into `cluster.nodes`) the pod should go to.
pub fn pick(facts: &PodFacts<'_>, cluster: &Cluster<'_>, feasible: &[usize]) -> Option<usize> {
    if feasible.len() <= 1 {
        return feasible.first().copied();
    }
    let totals = total_scores(facts, cluster, feasible);
    let best = totals.iter().copied().max()?;
    let tied: Vec<usize> = feasible
        .iter()
        .zip(&totals)
        .filter(|(_, total)| **total == best)
        .map(|(index, _)| *index)
        .collect();
    let uid = facts.pod.metadata.uid.as_deref().unwrap_or_default();
    let position = usize::try_from(fnv1a(uid.as_bytes()) % tied.len() as u64).unwrap_or(0);
    tied.get(position).copied()
}

fn total_scores(facts: &PodFacts<'_>, cluster: &Cluster<'_>, feasible: &[usize]) -> Vec<i64> {
    let nodes: Vec<&NodeState<'_>> = feasible
        .iter()
        .map(|&index| &cluster.nodes[index])
        .collect();
    let mut totals = vec![0_i64; feasible.len()];
    let mut add = |scores: &[i64], weight: i64| {
        for (total, score) in totals.iter_mut().zip(scores) {
            *total += score * weight;
        }
    };
    let taint_counts: Vec<i64> = nodes
        .iter()
        .map(|node| intolerable_soft_taints(facts, node))
        .collect();
    add(
        &normalize_by_maximum(&taint_counts, true),
        TAINT_TOLERATION_WEIGHT,
    );
    let preferred = preferred_node_terms(facts);
    if !preferred.is_empty() {
        let weights: Vec<i64> = nodes
            .iter()
            .map(|node| preferred_node_weight(preferred, node))
            .collect();
        add(&normalize_by_maximum(&weights, false), NODE_AFFINITY_WEIGHT);
    }
    if let Some(scores) = topology_spread::scores(facts, cluster, feasible) {
        add(&scores, TOPOLOGY_SPREAD_WEIGHT);
    }
    if let Some(scores) = pod_affinity::scores(facts, cluster, feasible) {
        add(&scores, INTER_POD_AFFINITY_WEIGHT);
    }
    let least: Vec<i64> = nodes
        .iter()
        .map(|node| least_allocated(facts, node))
        .collect();
    add(&least, LEAST_ALLOCATED_WEIGHT);
    if !facts.requests.requested.is_zero() {
        let balanced: Vec<i64> = nodes
            .iter()
            .map(|node| balanced_allocation(facts, node))
            .collect();
        add(&balanced, BALANCED_ALLOCATION_WEIGHT);
    }
    totals
}

/// PreferNoSchedule taints the pod does not tolerate (tolerations with that effect or none).
fn intolerable_soft_taints(facts: &PodFacts<'_>, node: &NodeState<'_>) -> i64 {
    let soft_tolerations = || {
        tolerations(facts.pod).iter().filter(|toleration| {
            matches!(
                toleration.effect.as_deref(),
                None | Some("" | "PreferNoSchedule")
            )
        })
    };
    let count = node
        .taints
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !soft_tolerations().any(|toleration| tolerates(toleration, taint)))
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn preferred_node_terms<'a>(facts: &PodFacts<'a>) -> &'a [PreferredSchedulingTerm] {
    facts
        .pod
        .spec
        .as_ref()
        .and_then(|spec| spec.affinity.as_ref())
        .and_then(|affinity| affinity.node_affinity.as_ref())
        .and_then(|node_affinity| {
            node_affinity
                .preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

fn preferred_node_weight(terms: &[PreferredSchedulingTerm], node: &NodeState<'_>) -> i64 {
    terms
        .iter()
        .filter(|term| term.weight != 0 && node_matches_term(node.node, &term.preference))
        .map(|term| i64::from(term.weight))
        .sum()
}

/// Upstream's `DefaultNormalizeScore`: scale so the maximum is 100; `reverse` turns a count of
/// bad things into a score (all zero counts → all 100).
fn normalize_by_maximum(raw: &[i64], reverse: bool) -> Vec<i64> {
    let maximum = raw.iter().copied().max().unwrap_or(0);
    raw.iter()
        .map(|score| {
            if maximum <= 0 {
                return if reverse { MAX_NODE_SCORE } else { 0 };
            }
            let scaled = MAX_NODE_SCORE * score / maximum;
            if reverse {
                MAX_NODE_SCORE - scaled
            } else {
                scaled
            }
        })
        .collect()
}

/// Free share of cpu and memory after placing the pod (with request defaults), averaged.
fn least_allocated(facts: &PodFacts<'_>, node: &NodeState<'_>) -> i64 {
    let free_share = |requested: i64, allocatable: i64| {
        if allocatable <= 0 || requested > allocatable {
            0
        } else {
            (allocatable - requested) * MAX_NODE_SCORE / allocatable
        }
    };
    let allocatable = &node.allocatable.resources;
    let cpu = free_share(
        node.non_zero_milli_cpu + facts.requests.non_zero_milli_cpu,
        allocatable.milli_cpu,
    );
    let memory = free_share(
        node.non_zero_memory + facts.requests.non_zero_memory,
        allocatable.memory,
    );
    (cpu + memory) / 2
}

/// How evenly cpu and memory would be used after placing the pod: 100 minus the standard
/// deviation of the two fractions (upstream uses the actual requests here).
fn balanced_allocation(facts: &PodFacts<'_>, node: &NodeState<'_>) -> i64 {
    let fraction = |requested: i64, allocatable: i64| {
        (allocatable > 0).then(|| (requested as f64 / allocatable as f64).min(1.0))
    };
    let allocatable = &node.allocatable.resources;
    let wanted = &facts.requests.requested;
    let cpu = fraction(
        node.requested.milli_cpu + wanted.milli_cpu,
        allocatable.milli_cpu,
    );
    let memory = fraction(node.requested.memory + wanted.memory, allocatable.memory);
    let deviation = match (cpu, memory) {
        (Some(cpu), Some(memory)) => ((cpu - memory) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
}

/// FNV-1a: a small, stable hash, so the same pod breaks ties the same way on every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    };

    fn totals(
        incoming: &Pod,
        nodes: &[hakube_kinds::k8s_openapi::api::core::v1::Node],
        assigned: &[Pod],
    ) -> Vec<i64> {
        let cluster = Cluster::new(nodes, assigned);
        let feasible: Vec<usize> = (0..nodes.len()).collect();
        total_scores(&PodFacts::of(incoming), &cluster, &feasible)
    }

    #[test]
    fn emptier_nodes_score_higher() {
        let nodes = vec![node("a", "4", "8Gi", 10), node("b", "4", "8Gi", 10)];
        let assigned = vec![on_node(with_requests(pod("old", "other"), "2", "4Gi"), "a")];
        let scores = totals(&with_requests(pod("p", ""), "1", "1Gi"), &nodes, &assigned);
        assert!(scores[1] > scores[0], "{scores:?}");
    }

    #[test]
    fn balanced_allocation_prefers_even_use() {
        let nodes = vec![node("a", "4", "4Gi", 10)];
        let cluster = Cluster::new(&nodes, &[]);
        let even = with_requests(pod("p", ""), "2", "2Gi");
        let lopsided = with_requests(pod("q", ""), "4", "100Mi");
        assert_eq!(
            balanced_allocation(&PodFacts::of(&even), &cluster.nodes[0]),
            100
        );
        assert!(balanced_allocation(&PodFacts::of(&lopsided), &cluster.nodes[0]) < 60);
    }

    #[test]
    fn soft_taints_repel_unless_tolerated() {
        let nodes = vec![
            with_taint(
                node("a", "4", "8Gi", 10),
                "spot",
                "true",
                "PreferNoSchedule",
            ),
            node("b", "4", "8Gi", 10),
        ];
        let scores = totals(&pod("p", ""), &nodes, &[]);
        assert_eq!(
            scores[1] - scores[0],
            TAINT_TOLERATION_WEIGHT * MAX_NODE_SCORE
        );
        let tolerant = with_toleration(pod("p", ""), "spot", "Exists", "PreferNoSchedule");
        let scores = totals(&tolerant, &nodes, &[]);
        assert_eq!(scores[0], scores[1]);
    }

    #[test]
    fn preferred_node_affinity_adds_its_weight() {
        let nodes = vec![
            node("a", "4", "8Gi", 10),
            with_node_labels(node("b", "4", "8Gi", 10), &[("disk", "ssd")]),
        ];
        let mut incoming = pod("p", "");
        spec_mut(&mut incoming).affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 50,
                        preference: NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "disk".to_owned(),
                                operator: "In".to_owned(),
                                values: Some(vec!["ssd".to_owned()]),
                            }]),
                            match_fields: None,
                        },
                    },
                ]),
                required_during_scheduling_ignored_during_execution: None,
            }),
            ..Default::default()
        });
        let scores = totals(&incoming, &nodes, &[]);
        assert_eq!(scores[1] - scores[0], NODE_AFFINITY_WEIGHT * MAX_NODE_SCORE);
    }

    #[test]
    fn ties_spread_by_uid_yet_stay_deterministic() {
        let nodes: Vec<_> = (0..4)
            .map(|index| node(&format!("n{index}"), "4", "8Gi", 10))
            .collect();
        let cluster = Cluster::new(&nodes, &[]);
        let feasible = [0, 1, 2, 3];
        let picks: std::collections::HashSet<Option<usize>> = (0..20)
            .map(|index| {
                pick(
                    &PodFacts::of(&pod(&format!("p{index}"), "")),
                    &cluster,
                    &feasible,
                )
            })
            .collect();
        assert!(picks.len() > 1, "{picks:?}");
        let once = pick(&PodFacts::of(&pod("p1", "")), &cluster, &feasible);
        assert_eq!(
            once,
            pick(&PodFacts::of(&pod("p1", "")), &cluster, &feasible)
        );
    }
}
