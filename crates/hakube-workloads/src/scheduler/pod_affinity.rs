//! Inter-pod affinity and anti-affinity (upstream's InterPodAffinity plugin): compiling a
//! pod's terms once, the filter (the incoming pod's required affinity and anti-affinity, and
//! existing pods' required anti-affinity against it) and the score (preferred terms both ways,
//! existing pods' required affinity at weight 1).

use std::collections::HashMap;

use hakube_kinds::k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use super::filters::Reasons;
use super::messages;
use super::node_state::{Cluster, NodeState, PodFacts};
use super::selectors::{Labels, Selector};

/// Upstream's default `hardPodAffinityWeight`: how much an existing pod's required affinity
/// towards the incoming pod counts in the score.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Which namespaces a term looks at. A namespace selector cannot be evaluated without the
/// Namespace objects, so only the empty one (all namespaces) is honoured; otherwise the listed
/// namespaces, or the pod's own when none are listed.
#[derive(Debug)]
enum Namespaces {
    Listed(Vec<String>),
    All,
}

#[derive(Debug)]
pub struct AffinityTerm {
    selector: Selector,
    namespaces: Namespaces,
    topology_key: String,
    weight: i64,
}

impl AffinityTerm {
    fn compile(term: &PodAffinityTerm, weight: i64, namespace: &str, labels: &Labels) -> Self {
        let selector = Selector::compile(term.label_selector.as_ref())
            .with_pod_label_keys(
                term.match_label_keys.as_deref().unwrap_or_default(),
                labels,
                true,
            )
            .with_pod_label_keys(
                term.mismatch_label_keys.as_deref().unwrap_or_default(),
                labels,
                false,
            );
        let selects_all_namespaces = term.namespace_selector.as_ref().is_some_and(|selector| {
            selector
                .match_labels
                .as_ref()
                .is_none_or(|labels| labels.is_empty())
                && selector
                    .match_expressions
                    .as_ref()
                    .is_none_or(|expressions| expressions.is_empty())
        });
        let listed = term.namespaces.clone().unwrap_or_default();
        let namespaces = if selects_all_namespaces {
            Namespaces::All
        } else if listed.is_empty() && term.namespace_selector.is_none() {
            Namespaces::Listed(vec![namespace.to_owned()])
        } else {
            Namespaces::Listed(listed)
        };
        Self {
            selector,
            namespaces,
            topology_key: term.topology_key.clone(),
            weight,
        }
    }

    pub fn matches(&self, pod: &PodFacts<'_>) -> bool {
        let namespace_matches = match &self.namespaces {
            Namespaces::All => true,
            Namespaces::Listed(namespaces) => namespaces
                .iter()
                .any(|namespace| namespace == pod.namespace),
        };
        namespace_matches && self.selector.matches(pod.labels)
    }

    /// The node's value for this term's topology key, if the node has the key.
    fn domain<'node>(&self, node: &'node NodeState<'_>) -> Option<&'node str> {
        node.topology_value(&self.topology_key)
    }
}

/// A pod's four kinds of inter-pod terms, compiled once.
#[derive(Debug, Default)]
pub struct AffinityTerms {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
}

impl AffinityTerms {
    /// `None` when the pod has no pod affinity or anti-affinity at all.
    pub fn of(pod: &Pod, namespace: &str, labels: &Labels) -> Option<Box<Self>> {
        let affinity = pod.spec.as_ref()?.affinity.as_ref()?;
        if affinity.pod_affinity.is_none() && affinity.pod_anti_affinity.is_none() {
            return None;
        }
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|term| AffinityTerm::compile(term, 1, namespace, labels))
                .collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|term| {
                    AffinityTerm::compile(
                        &term.pod_affinity_term,
                        i64::from(term.weight),
                        namespace,
                        labels,
                    )
                })
                .collect()
        };
        let positive = affinity.pod_affinity.as_ref();
        let negative = affinity.pod_anti_affinity.as_ref();
        Some(Box::new(Self {
            required_affinity: required(positive.and_then(|terms| {
                terms
                    .required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(negative.and_then(|terms| {
                terms
                    .required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(positive.and_then(|terms| {
                terms
                    .preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(negative.and_then(|terms| {
                terms
                    .preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        }))
    }
}

/// Amounts per topology domain, keyed by topology key then value, so that lookups borrow the
/// node's strings instead of building pairs.
#[derive(Debug, Default)]
struct DomainTotals(HashMap<String, HashMap<String, i64>>);

impl DomainTotals {
    fn add(&mut self, key: &str, value: &str, amount: i64) {
        let values = match self.0.get_mut(key) {
            Some(values) => values,
            None => self.0.entry(key.to_owned()).or_default(),
        };
        match values.get_mut(value) {
            Some(total) => *total += amount,
            None => {
                values.insert(value.to_owned(), amount);
            }
        }
    }

    /// Adds for `term`'s domain of `node`, when the node has the term's key.
    fn add_for(&mut self, term: &AffinityTerm, node: &NodeState<'_>, amount: i64) {
        if let Some(value) = term.domain(node) {
            self.add(&term.topology_key, value, amount);
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|values| values.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn term_total(&self, term: &AffinityTerm, node: &NodeState<'_>) -> Option<i64> {
        term.domain(node)
            .map(|value| self.get(&term.topology_key, value))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sum over every key of the node's domain total.
    fn node_total(&self, node: &NodeState<'_>) -> i64 {
        self.0
            .iter()
            .filter_map(|(key, values)| {
                node.topology_value(key).and_then(|value| values.get(value))
            })
            .sum()
    }
}

/// What the filter needs about the cluster for one incoming pod, gathered once per pod.
#[derive(Debug, Default)]
pub struct AffinityFilter {
    /// Domains where an existing pod's required anti-affinity rejects the incoming pod.
    forbidden_by_existing: DomainTotals,
    /// Domains holding pods that match all of the incoming pod's required affinity terms.
    affinity_counts: DomainTotals,
    /// Domains holding pods that match one of its required anti-affinity terms.
    anti_affinity_counts: DomainTotals,
}

impl AffinityFilter {
    pub fn prepare(incoming: &PodFacts<'_>, cluster: &Cluster<'_>) -> Self {
        let mut filter = Self::default();
        for &pod_index in &cluster.pods_with_required_anti_affinity {
            let existing = &cluster.pods[pod_index];
            let node = &cluster.nodes[existing.node];
            for term in existing
                .facts
                .affinity_terms
                .iter()
                .flat_map(|terms| &terms.required_anti_affinity)
            {
                if term.matches(incoming) {
                    filter.forbidden_by_existing.add_for(term, node, 1);
                }
            }
        }
        if let Some(terms) = &incoming.affinity_terms {
            filter.count_incoming_terms(terms, cluster);
        }
        filter
    }

    fn count_incoming_terms(&mut self, terms: &AffinityTerms, cluster: &Cluster<'_>) {
        if terms.required_affinity.is_empty() && terms.required_anti_affinity.is_empty() {
            return;
        }
        for existing in &cluster.pods {
            let node = &cluster.nodes[existing.node];
            let matches_all = !terms.required_affinity.is_empty()
                && terms
                    .required_affinity
                    .iter()
                    .all(|term| term.matches(&existing.facts));
            if matches_all {
                for term in &terms.required_affinity {
                    self.affinity_counts.add_for(term, node, 1);
                }
            }
            for term in &terms.required_anti_affinity {
                if term.matches(&existing.facts) {
                    self.anti_affinity_counts.add_for(term, node, 1);
                }
            }
        }
    }

    /// Upstream's order: the pod's affinity, its anti-affinity, then existing pods' anti-affinity.
    pub fn check(&self, incoming: &PodFacts<'_>, node: &NodeState<'_>) -> Result<(), Reasons> {
        if let Some(terms) = &incoming.affinity_terms {
            if !self.satisfies_affinity(terms, incoming, node) {
                return Err(vec![messages::POD_AFFINITY.to_owned()]);
            }
            let anti_hit = terms.required_anti_affinity.iter().any(|term| {
                self.anti_affinity_counts
                    .term_total(term, node)
                    .is_some_and(|count| count > 0)
            });
            if anti_hit {
                return Err(vec![messages::POD_ANTI_AFFINITY.to_owned()]);
            }
        }
        if self.forbidden_by_existing.node_total(node) > 0 {
            Err(vec![messages::EXISTING_ANTI_AFFINITY.to_owned()])
        } else {
            Ok(())
        }
    }

    /// Every term's topology key must be on the node with a matching pod in that domain; the
    /// first pod of a group that selects itself may go anywhere with those keys.
    fn satisfies_affinity(
        &self,
        terms: &AffinityTerms,
        incoming: &PodFacts<'_>,
        node: &NodeState<'_>,
    ) -> bool {
        let mut pods_exist = true;
        for term in &terms.required_affinity {
            match self.affinity_counts.term_total(term, node) {
                None => return false,
                Some(0) => pods_exist = false,
                Some(_) => {}
            }
        }
        pods_exist
            || (self.affinity_counts.is_empty()
                && terms
                    .required_affinity
                    .iter()
                    .all(|term| term.matches(incoming)))
    }
}

/// Raw inter-pod affinity scores for the feasible nodes, normalized to 0..=100; `None` when no
/// term on either side applies (the plugin is skipped and scores nothing).
pub fn scores(
    incoming: &PodFacts<'_>,
    cluster: &Cluster<'_>,
    feasible: &[usize],
) -> Option<Vec<i64>> {
    let topology_scores = domain_scores(incoming, cluster);
    if topology_scores.is_empty() {
        return None;
    }
    let raw: Vec<i64> = feasible
        .iter()
        .map(|&index| topology_scores.node_total(&cluster.nodes[index]))
        .collect();
    Some(normalize_min_max(&raw))
}

/// Weights per topology domain from every (incoming, existing) pod pair whose terms apply.
fn domain_scores(incoming: &PodFacts<'_>, cluster: &Cluster<'_>) -> DomainTotals {
    let incoming_terms = incoming.affinity_terms.as_deref();
    let has_preferred = incoming_terms.is_some_and(|terms| {
        !terms.preferred_affinity.is_empty() || !terms.preferred_anti_affinity.is_empty()
    });
    // Only pods with terms can score unless the incoming pod has preferences about any pod.
    let candidates: Box<dyn Iterator<Item = usize>> = if has_preferred {
        Box::new(0..cluster.pods.len())
    } else {
        Box::new(cluster.pods_with_affinity.iter().copied())
    };
    let mut totals = DomainTotals::default();
    for pod_index in candidates {
        let existing = &cluster.pods[pod_index];
        let node = &cluster.nodes[existing.node];
        if let Some(terms) = incoming_terms {
            add_matching(
                &mut totals,
                &terms.preferred_affinity,
                &existing.facts,
                node,
                1,
            );
            add_matching(
                &mut totals,
                &terms.preferred_anti_affinity,
                &existing.facts,
                node,
                -1,
            );
        }
        if let Some(terms) = existing.facts.affinity_terms.as_deref() {
            // Required terms weigh `HARD_POD_AFFINITY_WEIGHT` (compiled with weight 1).
            let hard = HARD_POD_AFFINITY_WEIGHT;
            add_matching(&mut totals, &terms.required_affinity, incoming, node, hard);
            add_matching(&mut totals, &terms.preferred_affinity, incoming, node, 1);
            add_matching(
                &mut totals,
                &terms.preferred_anti_affinity,
                incoming,
                node,
                -1,
            );
        }
    }
    totals
}

/// Adds `sign` × weight of each term matching `pod` to the term's domain of `node`.
fn add_matching(
    totals: &mut DomainTotals,
    terms: &[AffinityTerm],
    pod: &PodFacts<'_>,
    node: &NodeState<'_>,
    sign: i64,
) {
    for term in terms.iter().filter(|term| term.matches(pod)) {
        totals.add_for(term, node, sign * term.weight);
    }
}

/// Upstream's InterPodAffinity normalization: the lowest raw score maps to 0, the highest to 100.
fn normalize_min_max(raw: &[i64]) -> Vec<i64> {
    let minimum = raw.iter().copied().min().unwrap_or(0);
    let maximum = raw.iter().copied().max().unwrap_or(0);
    let spread = maximum - minimum;
    raw.iter()
        .map(|score| {
            if spread > 0 {
                100 * (score - minimum) / spread
            } else {
                0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{Affinity, Node, PodAffinity, PodAntiAffinity};
    use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn term(app: &str, topology_key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", app)])),
                match_expressions: None,
            }),
            topology_key: topology_key.to_owned(),
            ..Default::default()
        }
    }

    fn with_affinity(
        mut pod: Pod,
        affinity: Option<PodAffinity>,
        anti: Option<PodAntiAffinity>,
    ) -> Pod {
        spec_mut(&mut pod).affinity = Some(Affinity {
            pod_affinity: affinity,
            pod_anti_affinity: anti,
            node_affinity: None,
        });
        pod
    }

    fn required_affinity(app: &str) -> Option<PodAffinity> {
        Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term(app, "zone")]),
            ..Default::default()
        })
    }

    fn required_anti(app: &str) -> Option<PodAntiAffinity> {
        Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term(app, "zone")]),
            ..Default::default()
        })
    }

    fn zoned_nodes() -> Vec<Node> {
        vec![
            with_node_labels(node("a", "4", "8Gi", 10), &[("zone", "z1")]),
            with_node_labels(node("b", "4", "8Gi", 10), &[("zone", "z2")]),
            node("c", "4", "8Gi", 10),
        ]
    }

    fn verdicts(incoming: &Pod, nodes: &[Node], assigned: &[Pod]) -> Vec<Result<(), Reasons>> {
        let cluster = Cluster::new(nodes, assigned);
        let facts = PodFacts::of(incoming);
        let filter = AffinityFilter::prepare(&facts, &cluster);
        cluster
            .nodes
            .iter()
            .map(|node| filter.check(&facts, node))
            .collect()
    }

    fn rejected(message: &str) -> Result<(), Reasons> {
        Err(vec![message.to_owned()])
    }

    #[test]
    fn required_affinity_needs_a_matching_pod_in_the_domain() {
        let nodes = zoned_nodes();
        let assigned = vec![on_node(pod("db-0", "db"), "b")];
        let incoming = with_affinity(pod("web-0", "web"), required_affinity("db"), None);
        let affinity_miss = rejected("node(s) didn't match pod affinity rules");
        assert_eq!(
            verdicts(&incoming, &nodes, &assigned),
            vec![affinity_miss.clone(), Ok(()), affinity_miss]
        );
    }

    #[test]
    fn the_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() {
        let nodes = zoned_nodes();
        let incoming = with_affinity(pod("web-0", "web"), required_affinity("web"), None);
        let verdicts = verdicts(&incoming, &nodes, &[]);
        assert_eq!(
            verdicts,
            vec![
                Ok(()),
                Ok(()),
                rejected("node(s) didn't match pod affinity rules")
            ]
        );
    }

    #[test]
    fn required_anti_affinity_keeps_away_from_matching_pods() {
        let nodes = zoned_nodes();
        let assigned = vec![on_node(pod("web-0", "web"), "a")];
        let incoming = with_affinity(pod("web-1", "web"), None, required_anti("web"));
        assert_eq!(
            verdicts(&incoming, &nodes, &assigned),
            vec![
                rejected("node(s) didn't match pod anti-affinity rules"),
                Ok(()),
                Ok(())
            ]
        );
    }

    #[test]
    fn existing_anti_affinity_rejects_the_incoming_pod() {
        let nodes = zoned_nodes();
        let assigned = vec![on_node(
            with_affinity(pod("db-0", "db"), None, required_anti("web")),
            "b",
        )];
        let incoming = pod("web-0", "web");
        assert_eq!(
            verdicts(&incoming, &nodes, &assigned),
            vec![
                Ok(()),
                rejected("node(s) didn't satisfy existing pods anti-affinity rules"),
                Ok(())
            ]
        );
        // Other namespaces are out of the term's reach by default.
        let mut elsewhere = pod("web-0", "web");
        elsewhere.metadata.namespace = Some("other".to_owned());
        assert_eq!(
            verdicts(&elsewhere, &nodes, &assigned),
            vec![Ok(()), Ok(()), Ok(())]
        );
    }

    #[test]
    fn preferred_terms_score_towards_and_away() {
        let nodes = zoned_nodes();
        let assigned = vec![
            on_node(pod("db-0", "db"), "a"),
            on_node(pod("cache-0", "cache"), "b"),
        ];
        let incoming = with_affinity(
            pod("web-0", "web"),
            Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 10,
                        pod_affinity_term: term("db", "zone"),
                    },
                ]),
                ..Default::default()
            }),
            Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 5,
                        pod_affinity_term: term("cache", "zone"),
                    },
                ]),
                ..Default::default()
            }),
        );
        let cluster = Cluster::new(&nodes, &assigned);
        let facts = PodFacts::of(&incoming);
        // Raw: a=+10, b=-5, c=0 → normalized over the range 15.
        assert_eq!(scores(&facts, &cluster, &[0, 1, 2]), Some(vec![100, 0, 33]));
        assert_eq!(
            scores(&PodFacts::of(&pod("plain", "x")), &cluster, &[0, 1, 2]),
            None
        );
    }

    #[test]
    fn existing_pods_required_affinity_draws_the_incoming_pod() {
        let nodes = zoned_nodes();
        let assigned = vec![on_node(
            with_affinity(pod("db-0", "db"), required_affinity("web"), None),
            "b",
        )];
        let cluster = Cluster::new(&nodes, &assigned);
        let incoming = pod("web-0", "web");
        assert_eq!(
            scores(&PodFacts::of(&incoming), &cluster, &[0, 1, 2]),
            Some(vec![0, 100, 0])
        );
    }
}
