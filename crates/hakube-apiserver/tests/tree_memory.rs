//! What the decoded cache holds per pod: stored pods decoded the old way (a `Value` without
//! managed fields) and as [`Tree`]s, measured as the growth of this process's anonymous
//! memory under jemalloc, the daemon's allocator. Prints the figures:
//! `cargo nextest run -p hakube-apiserver --test tree_memory --no-capture`.

#![allow(clippy::expect_used)]

use hakube_apiserver::tree::Tree;
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const POD: &str = include_str!("../src/tree/fixtures/pod.json");
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

#[test]
fn a_cached_pod_costs_a_fraction_of_its_value() {
    let stored: Vec<Vec<u8>> = (0..PODS)
        .map(|i| POD.replace("x7k2p", &format!("{i:05}")).into_bytes())
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
    let tree_per_pod = (after_trees - start) / PODS;
    let value_per_pod = (after_values - after_trees) / PODS;
    println!(
        "a stored pod of {} bytes of JSON ({} without managedFields), decoded for the cache: \
         Value {value_per_pod} bytes, Tree {tree_per_pod} bytes ({} asked for) \
         (RssAnon growth per pod under jemalloc, {PODS} pods)",
        POD.len(),
        serde_json::to_string(&trees[0]).expect("encodes").len(),
        heap_bytes(&trees[0]) + std::mem::size_of::<Tree>(),
    );
    assert!(
        tree_per_pod * 3 < value_per_pod,
        "a tree should cost under a third of a Value: {tree_per_pod} vs {value_per_pod}"
    );
}
