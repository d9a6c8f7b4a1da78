//! Pod topology spread (upstream's PodTopologySpread plugin): the filter for DoNotSchedule
//! constraints (skew against the least-loaded domain, minDomains) and the score for
//! ScheduleAnyway ones. A pod without constraints gets upstream's system defaults (hostname
//! maxSkew 3, zone maxSkew 5, ScheduleAnyway) over its spreading group, read from the
//! cluster's per-node and per-zone counters instead of scanning pods.

use std::collections::{HashMap, HashSet};

use hakube_kinds::k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::filters::{Reasons, matches_node_affinity, taint_toleration};
use super::messages;
use super::node_state::{Cluster, NodeState, PodFacts, ZONE_LABEL};
use super::selectors::Selector;

const DEFAULT_HOSTNAME_MAX_SKEW: i64 = 3;
const DEFAULT_ZONE_MAX_SKEW: i64 = 5;

#[derive(Debug)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: Option<i64>,
    honor_node_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn compile(constraint: &TopologySpreadConstraint, facts: &PodFacts<'_>) -> Self {
        let selector = Selector::compile(constraint.label_selector.as_ref()).with_pod_label_keys(
            constraint.match_label_keys.as_deref().unwrap_or_default(),
            facts.labels,
            true,
        );
        Self {
            max_skew: i64::from(constraint.max_skew),
            topology_key: constraint.topology_key.clone(),
            selector,
            min_domains: constraint.min_domains.map(i64::from),
            // Upstream's defaults: honour node affinity, ignore taints.
            honor_node_affinity: constraint.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: constraint.node_taints_policy.as_deref() == Some("Honor"),
        }
    }
}

/// The pod's constraints with the given whenUnsatisfiable.
fn constraints(facts: &PodFacts<'_>, when_unsatisfiable: &str) -> Vec<Constraint> {
    let listed = facts
        .pod
        .spec
        .as_ref()
        .and_then(|spec| spec.topology_spread_constraints.as_deref())
        .unwrap_or_default();
    listed
        .iter()
        .filter(|constraint| constraint.when_unsatisfiable == when_unsatisfiable)
        .map(|constraint| Constraint::compile(constraint, facts))
        .collect()
}

fn has_explicit_constraints(facts: &PodFacts<'_>) -> bool {
    facts
        .pod
        .spec
        .as_ref()
        .and_then(|spec| spec.topology_spread_constraints.as_ref())
        .is_some_and(|list| !list.is_empty())
}

/// Matching pods per domain of one constraint, over the nodes the constraint's inclusion
/// policies admit and that carry every key in `required_keys`.
fn count_domains(
    constraint: &Constraint,
    required_keys: &[&str],
    facts: &PodFacts<'_>,
    cluster: &Cluster<'_>,
) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for node in &cluster.nodes {
        let admitted = (!constraint.honor_node_affinity || matches_node_affinity(facts.pod, node))
            && (!constraint.honor_taints || taint_toleration(facts.pod, node).is_ok())
            && required_keys
                .iter()
                .all(|key| node.topology_value(key).is_some());
        let Some(value) = node
            .topology_value(&constraint.topology_key)
            .filter(|_| admitted)
        else {
            continue;
        };
        let matching = node
            .pods
            .iter()
            .map(|&index| &cluster.pods[index].facts)
            .filter(|pod| {
                !pod.terminating
                    && pod.namespace == facts.namespace
                    && constraint.selector.matches(pod.labels)
            })
            .count();
        *counts.entry(value.to_owned()).or_insert(0) += i64::try_from(matching).unwrap_or(i64::MAX);
    }
    counts
}

/// One DoNotSchedule constraint with what the filter needs, gathered once per pod.
#[derive(Debug)]
struct HardConstraint {
    constraint: Constraint,
    /// Matching pods per domain.
    counts: HashMap<String, i64>,
    /// The least-loaded domain's count (zero when there are fewer domains than minDomains).
    minimum: i64,
    /// Whether the incoming pod itself matches the selector and so adds one where it lands.
    self_match: bool,
}

/// The DoNotSchedule constraints of one incoming pod.
#[derive(Debug, Default)]
pub struct SpreadFilter {
    constraints: Vec<HardConstraint>,
}

impl SpreadFilter {
    pub fn prepare(facts: &PodFacts<'_>, cluster: &Cluster<'_>) -> Self {
        let hard = constraints(facts, "DoNotSchedule");
        let keys: Vec<String> = hard
            .iter()
            .map(|constraint| constraint.topology_key.clone())
            .collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let constraints = hard
            .into_iter()
            .map(|constraint| {
                let counts = count_domains(&constraint, &key_refs, facts, cluster);
                let domain_count = i64::try_from(counts.len()).unwrap_or(i64::MAX);
                let below_min_domains = constraint
                    .min_domains
                    .is_some_and(|minimum| domain_count < minimum);
                let minimum = if below_min_domains {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                };
                let self_match = constraint.selector.matches(facts.labels);
                HardConstraint {
                    constraint,
                    counts,
                    minimum,
                    self_match,
                }
            })
            .collect();
        Self { constraints }
    }

    pub fn check(&self, node: &NodeState<'_>) -> Result<(), Reasons> {
        for hard in &self.constraints {
            let Some(value) = node.topology_value(&hard.constraint.topology_key) else {
                return Err(vec![messages::TOPOLOGY_SPREAD_MISSING_LABEL.to_owned()]);
            };
            let matching =
                hard.counts.get(value).copied().unwrap_or(0) + i64::from(hard.self_match);
            if matching - hard.minimum > hard.constraint.max_skew {
                return Err(vec![messages::TOPOLOGY_SPREAD.to_owned()]);
            }
        }
        Ok(())
    }
}

/// Spreading scores for the feasible nodes, normalized to 0..=100 (fewer matching pods in a
/// node's domains scores higher); `None` when nothing applies.
pub fn scores(facts: &PodFacts<'_>, cluster: &Cluster<'_>, feasible: &[usize]) -> Option<Vec<i64>> {
    if has_explicit_constraints(facts) {
        explicit_scores(facts, cluster, feasible)
    } else {
        default_scores(facts, cluster, feasible)
    }
}

/// Upstream's per-constraint term: count × log(domain count + 2) + (maxSkew − 1).
fn score_for_count(count: i64, max_skew: i64, weight: f64) -> f64 {
    count as f64 * weight + (max_skew - 1) as f64
}

fn topology_weight(domain_count: usize) -> f64 {
    (domain_count as f64 + 2.0).ln()
}

fn explicit_scores(
    facts: &PodFacts<'_>,
    cluster: &Cluster<'_>,
    feasible: &[usize],
) -> Option<Vec<i64>> {
    let soft = constraints(facts, "ScheduleAnyway");
    if soft.is_empty() {
        return None;
    }
    // Pods count only on nodes carrying every key, as in upstream's PreScore.
    let keys: Vec<&str> = soft
        .iter()
        .map(|constraint| constraint.topology_key.as_str())
        .collect();
    // Nodes missing one of the keys are ignored: they score 0 after normalization.
    let considered: Vec<bool> = feasible
        .iter()
        .map(|&index| {
            soft.iter().all(|constraint| {
                cluster.nodes[index]
                    .topology_value(&constraint.topology_key)
                    .is_some()
            })
        })
        .collect();
    let mut raw = vec![0.0_f64; feasible.len()];
    for constraint in &soft {
        let counts = count_domains(constraint, &keys, facts, cluster);
        let domains: HashSet<&str> = feasible
            .iter()
            .zip(&considered)
            .filter(|(_, considered)| **considered)
            .filter_map(|(&index, _)| cluster.nodes[index].topology_value(&constraint.topology_key))
            .collect();
        let weight = topology_weight(domains.len());
        for (position, &index) in feasible.iter().enumerate() {
            if let Some(value) = cluster.nodes[index].topology_value(&constraint.topology_key) {
                raw[position] += score_for_count(
                    counts.get(value).copied().unwrap_or(0),
                    constraint.max_skew,
                    weight,
                );
            }
        }
    }
    let raw: Vec<Option<i64>> = raw
        .iter()
        .zip(&considered)
        .map(|(score, considered)| considered.then(|| score.round() as i64))
        .collect();
    Some(normalize(&raw))
}

/// System default constraints over the pod's spreading group, read from the counters.
fn default_scores(
    facts: &PodFacts<'_>,
    cluster: &Cluster<'_>,
    feasible: &[usize],
) -> Option<Vec<i64>> {
    let group = facts.spread_group.as_ref()?;
    let counts = cluster.groups.get(group);
    let zones: HashSet<&str> = feasible
        .iter()
        .filter_map(|&index| cluster.nodes[index].labels.get(ZONE_LABEL))
        .map(String::as_str)
        .collect();
    let hostname_weight = topology_weight(feasible.len());
    let zone_weight = topology_weight(zones.len());
    let raw: Vec<Option<i64>> = feasible
        .iter()
        .map(|&index| {
            let on_node = counts
                .and_then(|counts| counts.per_node.get(index))
                .copied()
                .unwrap_or(0);
            let mut score = score_for_count(
                i64::from(on_node),
                DEFAULT_HOSTNAME_MAX_SKEW,
                hostname_weight,
            );
            if let Some(zone) = cluster.nodes[index].labels.get(ZONE_LABEL) {
                let in_zone = counts
                    .and_then(|counts| counts.per_zone.get(zone))
                    .copied()
                    .unwrap_or(0);
                score += score_for_count(i64::from(in_zone), DEFAULT_ZONE_MAX_SKEW, zone_weight);
            }
            Some(score.round() as i64)
        })
        .collect();
    Some(normalize(&raw))
}

/// Upstream's NormalizeScore: 100 × (max + min − score) / max, ignored nodes (`None`) at 0.
fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let present = raw.iter().flatten().copied();
    let minimum = present.clone().min().unwrap_or(0);
    let maximum = present.max().unwrap_or(0);
    raw.iter()
        .map(|score| match score {
            None => 0,
            Some(_) if maximum == 0 => 100,
            Some(score) => 100 * (maximum + minimum - score) / maximum,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{Node, Pod};
    use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn spread(mut pod: Pod, key: &str, max_skew: i32, when: &str, min_domains: Option<i32>) -> Pod {
        let app = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("app"))
            .cloned()
            .unwrap_or_default();
        spec_mut(&mut pod)
            .topology_spread_constraints
            .get_or_insert_with(Vec::new)
            .push(TopologySpreadConstraint {
                label_selector: Some(LabelSelector {
                    match_labels: Some(labels(&[("app", &app)])),
                    match_expressions: None,
                }),
                max_skew,
                min_domains,
                topology_key: key.to_owned(),
                when_unsatisfiable: when.to_owned(),
                ..Default::default()
            });
        pod
    }

    fn zoned(name: &str, zone: &str) -> Node {
        with_node_labels(node(name, "8", "16Gi", 20), &[("zone", zone)])
    }

    fn verdicts(incoming: &Pod, nodes: &[Node], assigned: &[Pod]) -> Vec<Result<(), Reasons>> {
        let cluster = Cluster::new(nodes, assigned);
        let facts = PodFacts::of(incoming);
        let filter = SpreadFilter::prepare(&facts, &cluster);
        cluster
            .nodes
            .iter()
            .map(|node| filter.check(node))
            .collect()
    }

    #[test]
    fn do_not_schedule_rejects_domains_over_the_skew() {
        let nodes = vec![
            zoned("a", "z1"),
            zoned("b", "z2"),
            node("c", "8", "16Gi", 20),
        ];
        let assigned = vec![on_node(pod("web-0", "web"), "a")];
        let incoming = spread(pod("web-1", "web"), "zone", 1, "DoNotSchedule", None);
        assert_eq!(
            verdicts(&incoming, &nodes, &assigned),
            vec![
                Err(vec![messages::TOPOLOGY_SPREAD.to_owned()]),
                Ok(()),
                Err(vec![messages::TOPOLOGY_SPREAD_MISSING_LABEL.to_owned()]),
            ]
        );
    }

    #[test]
    fn min_domains_treats_missing_domains_as_empty() {
        let nodes = vec![zoned("a", "z1"), zoned("b", "z2")];
        let assigned = vec![
            on_node(pod("web-0", "web"), "a"),
            on_node(pod("web-1", "web"), "b"),
        ];
        let incoming = spread(pod("web-2", "web"), "zone", 1, "DoNotSchedule", Some(3));
        let rejected = Err(vec![messages::TOPOLOGY_SPREAD.to_owned()]);
        assert_eq!(
            verdicts(&incoming, &nodes, &assigned),
            vec![rejected.clone(), rejected]
        );
        let without = spread(pod("web-2", "web"), "zone", 1, "DoNotSchedule", None);
        assert_eq!(verdicts(&without, &nodes, &assigned), vec![Ok(()), Ok(())]);
    }

    #[test]
    fn schedule_anyway_prefers_emptier_domains() {
        let nodes = vec![zoned("a", "z1"), zoned("b", "z2")];
        let assigned = vec![on_node(pod("web-0", "web"), "a")];
        let incoming = spread(pod("web-1", "web"), "zone", 1, "ScheduleAnyway", None);
        let cluster = Cluster::new(&nodes, &assigned);
        let scores = scores(&PodFacts::of(&incoming), &cluster, &[0, 1]).unwrap_or_default();
        assert!(scores[1] > scores[0], "{scores:?}");
    }

    #[test]
    fn default_spreading_uses_the_controller_group() {
        let nodes = vec![zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2")];
        let nodes: Vec<Node> = nodes
            .into_iter()
            .map(|node| {
                let zone = node
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get("zone"))
                    .cloned()
                    .unwrap_or_default();
                with_node_labels(node, &[(ZONE_LABEL, &zone)])
            })
            .collect();
        let assigned = vec![on_node(pod("web-0", "web"), "a")];
        let cluster = Cluster::new(&nodes, &assigned);
        let scores =
            scores(&PodFacts::of(&pod("web-1", "web")), &cluster, &[0, 1, 2]).unwrap_or_default();
        // The other zone beats the other node in the same zone, which beats the occupied node.
        assert!(scores[2] > scores[1] && scores[1] > scores[0], "{scores:?}");
        assert_eq!(
            super::scores(&PodFacts::of(&pod("loner", "")), &cluster, &[0, 1, 2]),
            None
        );
    }
}
