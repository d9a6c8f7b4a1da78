//! Throughput check, ignored by default: 10,000 pending pods from 100 ReplicaSets onto 100
//! nodes in 4 zones. Run with
//! `nice -n 19 cargo test --release -p hakube-workloads scheduler -- --ignored --nocapture`.

use std::time::Instant;

use super::test_support::{
    node, pod, with_node_labels, with_requests, with_self_anti_affinity, with_spread,
};
use super::{Outcome, schedule};

#[test]
#[ignore = "benchmark; run explicitly with --release"]
fn ten_thousand_pods_on_a_hundred_nodes() {
    let zones = ["zone-a", "zone-b", "zone-c", "zone-d"];
    let nodes: Vec<_> = (0..100)
        .map(|index| {
            let node = node(&format!("node-{index:03}"), "64", "256Gi", 110);
            with_node_labels(
                node,
                &[("topology.kubernetes.io/zone", zones[index % zones.len()])],
            )
        })
        .collect();
    let pending: Vec<_> = (0..10_000)
        .map(|index| {
            with_requests(
                pod(
                    &format!("pod-{index:05}"),
                    &format!("rs-{:03}", index % 100),
                ),
                "100m",
                "128Mi",
            )
        })
        .collect();
    let started = Instant::now();
    let decisions = schedule(&pending, &nodes, &[]);
    let elapsed = started.elapsed();
    let bound = decisions
        .iter()
        .filter(|decision| matches!(decision.outcome, Outcome::Bind { .. }))
        .count();
    let pods_per_second = decisions.len() as f64 / elapsed.as_secs_f64();
    println!(
        "scheduled {} pods ({bound} bound) on {} nodes in {elapsed:?}: {pods_per_second:.0} pods/s",
        decisions.len(),
        nodes.len()
    );
    assert_eq!(bound, 10_000);
}

/// The uncommon path, for reference: every pod has a hard zone spread constraint and a
/// preferred per-node anti-affinity, which makes each decision scan the placed pods.
#[test]
#[ignore = "benchmark; run explicitly with --release"]
fn two_thousand_constrained_pods_on_a_hundred_nodes() {
    let zones = ["zone-a", "zone-b", "zone-c", "zone-d"];
    let nodes: Vec<_> = (0..100)
        .map(|index| {
            let node = node(&format!("node-{index:03}"), "64", "256Gi", 110);
            with_node_labels(
                node,
                &[("topology.kubernetes.io/zone", zones[index % zones.len()])],
            )
        })
        .collect();
    let pending: Vec<_> = (0..2_000)
        .map(|index| {
            let pod = pod(&format!("pod-{index:05}"), &format!("rs-{:03}", index % 20));
            let pod = with_spread(pod, "topology.kubernetes.io/zone", 1, "DoNotSchedule");
            with_self_anti_affinity(pod, "kubernetes.io/hostname", Some(100))
        })
        .collect();
    let started = Instant::now();
    let decisions = schedule(&pending, &nodes, &[]);
    let elapsed = started.elapsed();
    let bound = decisions
        .iter()
        .filter(|decision| matches!(decision.outcome, Outcome::Bind { .. }))
        .count();
    let pods_per_second = decisions.len() as f64 / elapsed.as_secs_f64();
    println!(
        "constrained: scheduled {} pods ({bound} bound) on {} nodes in {elapsed:?}: {pods_per_second:.0} pods/s",
        decisions.len(),
        nodes.len()
    );
    assert_eq!(bound, 2_000);
}
