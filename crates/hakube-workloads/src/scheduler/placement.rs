//! One scheduling cycle for one pod: run the filters over every node in upstream's plugin
//! order (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
//! PodTopologySpread, InterPodAffinity; the first failing filter gives the node's reasons),
//! then rank the nodes left. Returns the chosen node or the upstream-style failure message.

use super::filters::{self, Reasons};
use super::messages;
use super::node_state::{Cluster, NodeState, PodFacts};
use super::pod_affinity::AffinityFilter;
use super::scores;
use super::topology_spread::SpreadFilter;

/// The index of the node to bind to, or the message for the PodScheduled condition.
pub fn find_node(facts: &PodFacts<'_>, cluster: &Cluster<'_>) -> Result<usize, String> {
    if cluster.nodes.is_empty() {
        return Err(messages::NO_NODES.to_owned());
    }
    let spread = SpreadFilter::prepare(facts, cluster);
    let affinity = AffinityFilter::prepare(facts, cluster);
    let mut feasible = Vec::new();
    let mut rejections = Vec::new();
    for (index, node) in cluster.nodes.iter().enumerate() {
        match run_filters(facts, node, &spread, &affinity) {
            Ok(()) => feasible.push(index),
            Err(reasons) => rejections.push(reasons),
        }
    }
    scores::pick(facts, cluster, &feasible)
        .ok_or_else(|| messages::fit_error(cluster.nodes.len(), &rejections))
}

fn run_filters(
    facts: &PodFacts<'_>,
    node: &NodeState<'_>,
    spread: &SpreadFilter,
    affinity: &AffinityFilter,
) -> Result<(), Reasons> {
    filters::node_unschedulable(facts.pod, node)?;
    filters::taint_toleration(facts.pod, node)?;
    filters::node_affinity(facts.pod, node)?;
    filters::node_ports(facts, node)?;
    filters::node_resources_fit(facts, node)?;
    spread.check(node)?;
    affinity.check(facts, node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::*;

    #[test]
    fn the_first_failing_filter_names_the_node() {
        let nodes = vec![
            with_taint(node("a", "1", "1Gi", 10), "dedicated", "db", "NoSchedule"),
            node("b", "1", "1Gi", 10),
            node("c", "1", "1Gi", 10),
        ];
        let cluster = Cluster::new(&nodes, &[]);
        let greedy = with_requests(pod("p", ""), "2", "2Gi");
        assert_eq!(
            find_node(&PodFacts::of(&greedy), &cluster),
            Err("0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu, \
                 2 Insufficient memory. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
                .to_owned())
        );
    }

    #[test]
    fn a_single_feasible_node_is_chosen() {
        let nodes = vec![node("a", "1", "1Gi", 0), node("b", "1", "1Gi", 10)];
        let cluster = Cluster::new(&nodes, &[]);
        assert_eq!(find_node(&PodFacts::of(&pod("p", "")), &cluster), Ok(1));
    }

    #[test]
    fn no_nodes_at_all() {
        let cluster = Cluster::new(&[], &[]);
        assert_eq!(
            find_node(&PodFacts::of(&pod("p", "")), &cluster),
            Err("no nodes available to schedule pods".to_owned())
        );
    }
}
