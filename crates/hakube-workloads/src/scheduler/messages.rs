//! The texts a pod's PodScheduled condition carries when it cannot be placed: upstream's filter
//! reasons, and `FitError.Error()`'s layout ("0/N nodes are available: <count> <reason>, ....
//! preemption: ..."). Owns every user-visible string so they stay byte-identical to upstream's.

use std::collections::HashMap;

pub const NODE_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
pub const HOST_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
pub const TOO_MANY_PODS: &str = "Too many pods";
pub const POD_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const POD_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
pub const TOPOLOGY_SPREAD: &str = "node(s) didn't match pod topology spread constraints";
pub const TOPOLOGY_SPREAD_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
pub const NO_NODES: &str = "no nodes available to schedule pods";
const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

pub fn untolerated_taint(key: &str, value: &str) -> String {
    format!("node(s) had untolerated taint {{{key}: {value}}}")
}

pub fn insufficient(resource: &str) -> String {
    format!("Insufficient {resource}")
}

/// Upstream's FitError text: each reason prefixed by how many nodes gave it, the entries
/// sorted as strings (so "10 ..." sorts before "2 ..." exactly as upstream's `sort.Strings`),
/// then the preemption outcome. Preemption is not implemented, so every node is reported as
/// one where it would not help.
pub fn fit_error(node_count: usize, reasons_per_node: &[Vec<String>]) -> String {
    if node_count == 0 {
        return NO_NODES.to_owned();
    }
    let mut histogram: HashMap<&str, usize> = HashMap::new();
    for reason in reasons_per_node.iter().flatten() {
        *histogram.entry(reason.as_str()).or_insert(0) += 1;
    }
    let mut entries: Vec<String> = histogram
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    entries.sort();
    let mut message = format!("0/{node_count} nodes are available:");
    if !entries.is_empty() {
        message.push_str(&format!(" {}.", entries.join(", ")));
    }
    message.push_str(&format!(
        " preemption: 0/{node_count} nodes are available: {node_count} {PREEMPTION_NOT_HELPFUL}."
    ));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_error_matches_upstream_layout() {
        let reasons = vec![
            vec![untolerated_taint(
                "node-role.kubernetes.io/control-plane",
                "",
            )],
            vec![insufficient("cpu")],
            vec![insufficient("cpu")],
        ];
        assert_eq!(
            fit_error(3, &reasons),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
             2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn counts_sort_as_strings_and_one_node_may_give_several_reasons() {
        let mut reasons = vec![vec![TOO_MANY_PODS.to_owned()]; 10];
        reasons.push(vec![insufficient("cpu"), insufficient("memory")]);
        reasons.push(vec![insufficient("cpu")]);
        assert_eq!(
            fit_error(12, &reasons),
            "0/12 nodes are available: 1 Insufficient memory, 10 Too many pods, 2 Insufficient cpu. \
             preemption: 0/12 nodes are available: 12 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn no_nodes_has_its_own_message() {
        assert_eq!(fit_error(0, &[]), "no nodes available to schedule pods");
    }
}
