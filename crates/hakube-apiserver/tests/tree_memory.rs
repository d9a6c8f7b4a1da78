//! What the decoded cache holds per pod: stored pods decoded the old way (a `Value` without
//! managed fields) and as [`Tree`]s, measured as the growth of this process's anonymous
//! memory under jemalloc, the daemon's allocator. Prints the figures:
//! `cargo nextest run -p hakube-apiserver --test tree_memory --no-capture`.

#![allow(clippy::expect_used)]

use hakube_apiserver::tree::Tree;
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A pod of a Deployment on a real node: with its token volume, status and container status.
const POD: &str = include_str!("../src/tree/fixtures/pod.json");
/// A pod of the benchmark's Deployment on a simulated node, as stored (`/tmp/memexp.sh`).
const SIMULATED_POD: &str = include_str!("../src/tree/fixtures/pod_simulated.json");
/// Enough pods that page granularity and allocator bookkeeping are noise.
const PODS: usize = 4000;

/// The decoded cache's form before trees: the object decoded, managed fields removed, the
/// revision set.
fn as_value(bytes: &[u8], revision: u64) -> Value {
    let mut object: Value = serde_json::from_slice(bytes).expect("a stored pod");
    let metadata = object["metadata"].as_object_mut().expect("metadata");
    metadata.remove("managedFields");
    metadata.insert("resourceVersion".into(), revision.to_string().into());
    object
}

/// This process's anonymous resident memory, in bytes.
fn rss_anon() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon");
    let kilobytes: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .expect("a number");
    kilobytes * 1024
}

/// The heap bytes a tree asked for: every boxed slice and string, exactly.
fn heap_bytes(tree: &Tree) -> usize {
    let node = std::mem::size_of::<Tree>();
    match tree {
        Tree::String(text) => text.len(),
        Tree::Array(items) => items.len() * node + items.iter().map(heap_bytes).sum::<usize>(),
        Tree::Object(entries) => {
            entries.len() * std::mem::size_of::<(Box<str>, Tree)>()
                + entries
                    .iter()
                    .map(|(k, v)| k.len() + heap_bytes(v))
                    .sum::<usize>()
        }
        _ => 0,
    }
}

/// What one cached copy of `pod` costs as a Value and as a Tree, in bytes of anonymous memory
/// per pod over [`PODS`] copies. What it builds is kept alive (returned) so the next
/// measurement does not reuse its memory.
fn measure(pod: &str, name: &str) -> (usize, usize, (Vec<Tree>, Vec<Value>)) {
    let stored: Vec<Vec<u8>> = (0..PODS)
        .map(|i| pod.replace(name, &format!("{name}{i:05}")).into_bytes())
        .collect();
    let mut trees = Vec::with_capacity(PODS);
    let mut values = Vec::with_capacity(PODS);
    // The smaller first, so what a build frees for a moment is not reused by the other.
    let start = rss_anon();
    trees.extend(
        stored
            .iter()
            .zip(1..)
            .map(|(b, r)| Tree::from_stored(b, r).expect("a stored pod")),
    );
    let after_trees = rss_anon();
    values.extend(stored.iter().zip(1..).map(|(b, r)| as_value(b, r)));
    let after_values = rss_anon();
    assert_eq!(trees[7], values[7], "the same object either way");
    println!(
        "a stored pod of {} bytes of JSON ({} without managedFields): \
         Value {} bytes, Tree {} bytes ({} asked for)",
        pod.len(),
        serde_json::to_string(&trees[0]).expect("encodes").len(),
        (after_values - after_trees) / PODS,
        (after_trees - start) / PODS,
        heap_bytes(&trees[0]) + std::mem::size_of::<Tree>(),
    );
    (
        (after_values - after_trees) / PODS,
        (after_trees - start) / PODS,
        (trees, values),
    )
}

#[test]
fn a_cached_pod_costs_a_fraction_of_its_value() {
    println!("decoded for the cache (RssAnon growth per pod under jemalloc, {PODS} pods):");
    let (value, tree, _kept) = measure(POD, "scale-6d9f7c8b5-x7k2p");
    // Measured 8.6 vs 26.4 KB; the bound leaves room for the allocator's slack.
    assert!(
        tree * 2 < value,
        "a tree should cost under half of a Value: {tree} vs {value}"
    );
    let (value, tree, _also_kept) = measure(SIMULATED_POD, "scale-7dcf455c94-22gkh");
    // Measured 5.0-6.0 vs 15.4 KB.
    assert!(
        tree * 2 < value,
        "a tree should cost under half of a Value: {tree} vs {value}"
    );
}
