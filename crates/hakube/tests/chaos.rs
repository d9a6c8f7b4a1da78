//! Jepsen-style chaos test with real processes: 3 (or 5) `hakube` nodes under a client load of
//! linearizable reads, puts, compare-and-swaps (a txn comparing the mod revision) and watches
//! through the etcd API over mutual TLS, while a seeded schedule kill -9s and restarts nodes,
//! SIGSTOPs them, partitions the leader or a minority from the rest, and takes a majority away. Every
//! operation's invocation and completion is recorded; after healing, the history is checked:
//! linearizable per key (hakube-sim's checker, values unique per write so a mod revision compare
//! is a compare on the value), every acknowledged write present at its revision, and every
//! node's watch (reconnecting from its last revision + 1) seeing every revision of the prefix in
//! order exactly once.
//!
//! Partitions are real: every node runs in a network namespace of its own on a host bridge
//! (`common/netns.rs`), and a partition is a set of blackhole routes between two groups of
//! namespaces. The test's clients run on the host and still reach both sides, so a leader cut off
//! from its followers keeps receiving requests it must not answer wrongly. Freezing a node
//! (SIGSTOP) is a fault of its own: it comes back with stale leadership and state.
//!
//! Short run (CI default, ~75 s of faults): `cargo test -p hakube --test chaos -- --nocapture`.
//! Long run: `HAKUBE_CHAOS_SECONDS=1800`. `HAKUBE_CHAOS_SEED=S` replays a fault schedule and a
//! workload; `HAKUBE_CHAOS_NODES=5` runs five nodes. Node subnet 10.181.0.0/24 on bridge
//! `hkc40br`, namespaces `hkc40a`…`hkc40e`, pod range 10.182.0.0/16 (both guarded by blackhole
//! routes on the host). Needs root, like the other real-process tests. See docs/chaos.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cluster, wait_until};
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use hakube_sim::history::{decode_value, encode_value};
use hakube_sim::rng::SimRng;
use hakube_sim::{History, OpKind, OpRecord, Outcome, Verdict, check_key};
use netns::{NetnsCluster, NetworkSpec};
use serde_json::Value;

/// The namespaces of node1…node5, on this bridge and node subnet (node K is 10.181.0.(10+K)).
const NAMESPACES: [&str; 5] = ["hkc40a", "hkc40b", "hkc40c", "hkc40d", "hkc40e"];
const BRIDGE: &str = "hkc40br";
const BRIDGE_ADDRESS: &str = "10.181.0.1/24";
const NODE_BASE: &str = "10.181.0";
/// The nodes' pod network (no pods run here, but every node agent gets a /24 of it).
const CLUSTER_CIDR: &str = "10.182.0.0/16";
const PREFIX: &str = "/chaos/";
const SENTINEL: &str = "/chaos/zz-end";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
const CLIENTS_PER_NODE: usize = 2;

struct Settings {
    seed: u64,
    seconds: u64,
    nodes: usize,
    keys: u64,
}

fn settings() -> Settings {
    let seed = std::env::var("HAKUBE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000_000
        });
    let seconds = std::env::var("HAKUBE_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(75);
    let nodes = std::env::var("HAKUBE_CHAOS_NODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    assert!(nodes == 3 || nodes == 5, "HAKUBE_CHAOS_NODES is 3 or 5");
    Settings {
        seed,
        seconds,
        nodes,
        // More keys in long runs keep each key's history small enough to check.
        keys: (seconds / 15).max(5),
    }
}

impl Settings {
    fn replay(&self) -> String {
        format!(
            "HAKUBE_CHAOS_SEED={} HAKUBE_CHAOS_SECONDS={} HAKUBE_CHAOS_NODES={} cargo test -p hakube --test chaos -- --nocapture",
            self.seed, self.seconds, self.nodes
        )
    }
}

fn key_name(key: u64) -> String {
    format!("{PREFIX}k{key:03}")
}

fn key_index(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.strip_prefix('k')?.parse().ok()
}

#[path = "chaos_support/nemesis.rs"]
mod nemesis;
#[path = "chaos_support/watches.rs"]
mod watches;
#[path = "chaos_support/workload.rs"]
mod workload;

use nemesis::*;
use watches::*;
use workload::*;

fn network_spec(nodes: usize) -> NetworkSpec {
    NetworkSpec {
        namespaces: NAMESPACES[..nodes].to_vec(),
        bridge: BRIDGE,
        bridge_address: BRIDGE_ADDRESS,
        node_base: NODE_BASE,
        guarded: vec!["10.181.0.0/16", CLUSTER_CIDR],
    }
}

/// Waits until every node reports a running cluster with quorum in which every node is
/// reachable.
fn wait_all_ready(cluster: &Cluster, timeout: Duration) -> bool {
    wait_until(timeout, || {
        (1..=cluster.nodes).all(|k| {
            status(cluster, k).is_some_and(|s| {
                s["running"] == true
                    && s["quorum"] == true
                    && s["nodes"]
                        .as_array()
                        .is_some_and(|nodes| nodes.iter().all(|n| n["reachable"] == true))
            })
        })
    })
}

fn excerpt(records: &[OpRecord], limit: usize) -> String {
    let mut text = String::new();
    let skip = records.len().saturating_sub(limit);
    if skip > 0 {
        let _ = writeln!(text, "    ... {skip} earlier operations ...");
    }
    for record in &records[skip..] {
        let _ = writeln!(text, "    {record}");
    }
    text
}

#[test]
fn chaos_linearizable_no_lost_writes_and_exactly_once_watches_under_kills_pauses_and_partitions() {
    let settings = settings();
    eprintln!(
        "chaos: seed {} — {} s of faults on {} nodes, {} keys\nchaos: replay with: {}",
        settings.seed,
        settings.seconds,
        settings.nodes,
        settings.keys,
        settings.replay()
    );
    let netns = NetnsCluster::up(
        network_spec(settings.nodes),
        settings.nodes,
        &["--cluster-cidr", CLUSTER_CIDR],
    );
    let cluster = &netns.cluster;
    let _resume = Resume(cluster);
    let endpoints: Vec<Endpoint> = (1..=settings.nodes).map(|k| endpoint(cluster, k)).collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clock = Clock(Instant::now());
    let history = History::default();
    let values = Arc::new(AtomicU64::new(0));
    let stop_clients = Arc::new(AtomicBool::new(false));
    let stop_watches = Arc::new(AtomicBool::new(false));
    let until = Arc::new(AtomicI64::new(0));

    let mut watches = Vec::new();
    let mut watch_tasks = Vec::new();
    for k in 1..=settings.nodes {
        let log = Arc::new(Mutex::new(WatchLog::default()));
        watches.push(log.clone());
        watch_tasks.push(runtime.spawn(watch_loop(
            k,
            endpoints[k - 1].clone(),
            1,
            false,
            until.clone(),
            stop_watches.clone(),
            log,
        )));
    }
    let mut clients = Vec::new();
    for k in 1..=settings.nodes {
        for c in 0..CLIENTS_PER_NODE {
            let worker = Worker {
                id: (k * CLIENTS_PER_NODE + c) as u64,
                node: k,
                client: None,
                history: history.clone(),
                clock: clock.clone(),
                values: values.clone(),
                failures_in_a_row: 0,
            };
            clients.push(runtime.spawn(client_loop(
                worker,
                endpoints[k - 1].clone(),
                settings.keys,
                settings.seed,
                stop_clients.clone(),
            )));
        }
    }

    // The fault schedule.
    let mut nemesis = Nemesis {
        cluster,
        netns: &netns,
        partitioned: false,
        rng: SimRng::derive(settings.seed, 1),
        start: clock.0,
        log: Vec::new(),
        killed: HashSet::new(),
        stopped: HashSet::new(),
    };
    std::thread::sleep(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let mut faults = 0;
    while Instant::now() < deadline {
        nemesis.fault();
        faults += 1;
        nemesis.sleep_ms(1000, 4000);
    }
    nemesis.heal();
    let fault_log = nemesis.log.clone();
    let ready = wait_all_ready(cluster, Duration::from_secs(60));
    nemesis.note(format!("healed; all nodes ready: {ready}"));
    // A few seconds of load on the healed cluster, then the clients stop.
    std::thread::sleep(Duration::from_secs(3));
    stop_clients.store(true, Ordering::SeqCst);
    runtime.block_on(async {
        for client in clients {
            client.await.unwrap();
        }
    });
    assert!(
        ready,
        "seed {}: the cluster did not recover\nreplay: {}\n{}",
        settings.seed,
        settings.replay(),
        cluster.logs()
    );

    // Final state: a sentinel write (the watches' end marker) and one linearizable read of every
    // key, both recorded.
    let mut failures: Vec<String> = Vec::new();
    let (end, final_worker) = runtime.block_on(async {
        let mut worker = Worker {
            id: 0,
            node: 1,
            client: None,
            history: history.clone(),
            clock: clock.clone(),
            values: values.clone(),
            failures_in_a_row: 0,
        };
        let mut end = 0;
        for _ in 0..30 {
            if let Some(client) = worker.client(&endpoints[0]).await
                && let Ok(Ok(response)) =
                    tokio::time::timeout(REQUEST_TIMEOUT, client.put(SENTINEL, "end", None)).await
            {
                end = response.header().unwrap().revision();
                break;
            }
            worker.failures_in_a_row = 3;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(end > 0, "the sentinel write never succeeded");
        for key in 0..settings.keys {
            let mut tries = 0;
            while worker.get(&endpoints[0], key).await.is_none() && tries < 10 {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        (end, worker)
    });
    until.store(end, Ordering::SeqCst);
    stop_watches.store(true, Ordering::SeqCst);

    // The reference: a fresh watch from revision 1 on a healthy node.
    let reference = Arc::new(Mutex::new(WatchLog::default()));
    let reference_task = runtime.spawn(watch_loop(
        2,
        endpoints[1].clone(),
        1,
        true,
        until.clone(),
        stop_watches.clone(),
        reference.clone(),
    ));
    let watches_done = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            for task in watch_tasks {
                task.await.unwrap();
            }
            reference_task.await.unwrap();
        })
        .await
        .is_ok()
    });
    if !watches_done {
        failures.push(format!(
            "not every watch reached the final revision {end} within 60 s"
        ));
    }

    // The complete history of the prefix: the fresh reference watch from revision 1, or, when
    // automatic compaction (long runs) has dropped its beginning, node 1's watch, which has run
    // since revision 1 (the reference then checks the part after the compaction).
    let reference_log = std::mem::take(&mut *reference.lock().unwrap());
    let compacted = reference_log.compacted;
    let upto = |events: &[Event]| -> Vec<Event> {
        events
            .iter()
            .filter(|e| e.revision <= end)
            .cloned()
            .collect()
    };
    let reference_events = upto(&reference_log.events);
    let full: Vec<Event> = match compacted {
        None => reference_events.clone(),
        Some(_) => upto(&watches[0].lock().unwrap().events),
    };
    failures.extend(
        reference_log
            .problems
            .iter()
            .map(|p| format!("reference {p}")),
    );
    if let Some(c) = compacted {
        let suffix: Vec<&Event> = full.iter().filter(|e| e.revision > c).collect();
        if suffix.iter().copied().ne(reference_events.iter()) {
            failures.push(format!(
                "the reference watch after compaction {c} ({} events) differs from node1's ({})",
                reference_events.len(),
                suffix.len()
            ));
        }
    }
    let by_revision: BTreeMap<i64, &Event> = full.iter().map(|e| (e.revision, e)).collect();

    // Acknowledged writes: in the history at their revision, and readable at that revision.
    let ops = history.ops();
    let acknowledged: Vec<&OpRecord> = ops
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Written { .. }))
        .collect();
    let mut rev_checks = 0;
    // Below a revision a read found compacted, every older one is compacted too: not asked.
    let mut compacted_below = 0;
    let mut rev_failures = Vec::new();
    runtime.block_on(async {
        let mut client = try_connect(&endpoints[2 % settings.nodes]).await.unwrap();
        for op in &acknowledged {
            let Outcome::Written { revision, .. } = op.outcome else {
                continue;
            };
            let value = match op.kind {
                OpKind::Put { value } | OpKind::Cas { value, .. } | OpKind::Create { value } => {
                    value
                }
                _ => continue,
            };
            let expected = Event {
                revision: revision as i64,
                key: key_name(op.key),
                value: Some(value),
                delete: false,
            };
            if by_revision.get(&(revision as i64)) != Some(&&expected) {
                rev_failures.push(format!(
                    "acknowledged write missing from the watch history: {op} (watch has {:?})",
                    by_revision.get(&(revision as i64))
                ));
            }
            if rev_checks >= 5000 || revision <= compacted_below {
                continue;
            }
            let read = tokio::time::timeout(
                REQUEST_TIMEOUT,
                client.get(
                    key_name(op.key),
                    Some(GetOptions::new().with_revision(revision as i64)),
                ),
            )
            .await;
            let read = match read {
                Ok(Err(e)) if e.to_string().contains("compacted") => {
                    compacted_below = compacted_below.max(revision);
                    continue;
                }
                Ok(read) => read,
                Err(_) => {
                    rev_failures.push(format!("read at revision {revision} timed out"));
                    continue;
                }
            };
            rev_checks += 1;
            let ok = read.as_ref().is_ok_and(|r| {
                r.kvs().first().is_some_and(|kv| {
                    kv.mod_revision() == revision as i64 && decode_value(kv.value()) == Some(value)
                })
            });
            if !ok {
                rev_failures.push(format!(
                    "acknowledged write not readable at its revision: {op}: {read:?}"
                ));
            }
        }
    });
    let lost = rev_failures.len();
    failures.extend(rev_failures.into_iter().take(20));
    if lost > 20 {
        failures.push(format!(
            "... {} more acknowledged-write failures",
            lost - 20
        ));
    }
    let acknowledged = acknowledged.len();

    // Watches: each node's stream equals the complete history, in order, exactly once.
    let mut restarts = Vec::new();
    for (i, log) in watches.iter().enumerate() {
        let log = log.lock().unwrap();
        restarts.push(log.restarts);
        failures.extend(log.problems.iter().cloned());
        let events = upto(&log.events);
        if events != full {
            let first_difference = events
                .iter()
                .zip(full.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(events.len().min(full.len()));
            failures.push(format!(
                "node{}: watch saw {} events, the complete history has {}; first difference at \
                 {first_difference}: {:?} vs {:?}",
                i + 1,
                events.len(),
                full.len(),
                events.get(first_difference),
                full.get(first_difference),
            ));
        }
    }

    // Every event is a write some client asked for, and none that was refused or failed its
    // condition. Writes of unknown outcome absent from the complete history never happened.
    let mut ops = ops;
    if watches_done {
        let applied: HashSet<u64> = full.iter().filter_map(|e| e.value).collect();
        let mut invoked: HashMap<u64, &OpRecord> = HashMap::new();
        for op in &ops {
            if let OpKind::Put { value } | OpKind::Cas { value, .. } | OpKind::Create { value } =
                op.kind
            {
                invoked.insert(value, op);
            }
        }
        for event in &full {
            if event.key == SENTINEL {
                continue;
            }
            match event.value.and_then(|v| invoked.get(&v)) {
                None => failures.push(format!("event of a write nobody made: {event:?}")),
                Some(op)
                    if matches!(
                        op.outcome,
                        Outcome::NotApplied(_) | Outcome::ConditionFailed { .. }
                    ) || key_index(&event.key) != Some(op.key)
                        || event.delete =>
                {
                    failures.push(format!("event {event:?} of a write that failed: {op}"));
                }
                Some(_) => {}
            }
        }
        for op in &mut ops {
            if let OpKind::Put { value } | OpKind::Cas { value, .. } | OpKind::Create { value } =
                op.kind
                && matches!(op.outcome, Outcome::Unknown(_) | Outcome::Pending)
                && !applied.contains(&value)
            {
                op.outcome = Outcome::NotApplied("absent from the complete history".into());
            }
        }
    }

    // Per-key linearizability, on a thread with a deep stack (the search recurses per op).
    let mut per_key: BTreeMap<u64, Vec<OpRecord>> = BTreeMap::new();
    for op in &ops {
        per_key.entry(op.key).or_default().push(op.clone());
    }
    let verdicts: Vec<(u64, usize, Verdict)> = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            per_key
                .into_iter()
                .map(|(key, records)| (key, records.len(), check_key(&records)))
                .collect()
        })
        .unwrap()
        .join()
        .unwrap();
    let mut gave_up = Vec::new();
    for (key, _, verdict) in &verdicts {
        match verdict {
            Verdict::Linearizable => {}
            Verdict::GaveUp => gave_up.push(*key),
            Verdict::Violation(text) => {
                let lines: Vec<&str> = text.lines().collect();
                let skip = lines.len().saturating_sub(60);
                failures.push(format!(
                    "key {}: not linearizable ({} ops; last 60):\n{}",
                    key_name(*key),
                    lines.len() - 1,
                    lines[skip..].join("\n")
                ));
            }
        }
    }

    // Summary.
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for op in &ops {
        *outcomes.entry(op.outcome.label()).or_default() += 1;
    }
    drop(final_worker);
    let summary = format!(
        "seed {} on {} nodes: {} faults in {} s, {} operations {:?}, {} acknowledged writes \
         ({} read back at their revision), final revision {end}, {} watch events per node, \
         watch (re)connect attempts per node {:?}, compacted {:?}, checker gave up on keys {:?}",
        settings.seed,
        settings.nodes,
        faults,
        settings.seconds,
        ops.len(),
        outcomes,
        acknowledged,
        rev_checks,
        full.len(),
        restarts,
        compacted,
        gave_up,
    );
    eprintln!("chaos: {summary}");
    // Which errors the clients met (as recorded, before the unknown writes absent from the
    // history were marked not applied), digits folded.
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for op in history.ops() {
        if let Outcome::Unknown(text) | Outcome::NotApplied(text) = &op.outcome {
            let text: String = text
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .take(120)
                .collect();
            *errors
                .entry(format!("{} {text}", op.outcome.label()))
                .or_default() += 1;
        }
    }
    let mut errors: Vec<(String, usize)> = errors.into_iter().collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (text, count) in errors.iter().take(8) {
        eprintln!("chaos:   {count:>6} × {text}");
    }
    if !failures.is_empty() {
        let path = std::env::temp_dir().join(format!("hakube-chaos-{}.history", settings.seed));
        let mut all = String::new();
        let _ = writeln!(all, "{summary}\n\nfaults:");
        for line in &fault_log {
            let _ = writeln!(all, "  {line}");
        }
        let _ = writeln!(all, "\nhistory:");
        for op in &ops {
            let _ = writeln!(all, "  {op}");
        }
        let _ = std::fs::write(&path, all);
        panic!(
            "chaos run failed: seed {}\nreplay: {}\n{summary}\nfull history: {}\n\n{}\n\nfaults:\n{}\n\nlast operations:\n{}\n{}",
            settings.seed,
            settings.replay(),
            path.display(),
            failures.join("\n"),
            fault_log.join("\n"),
            excerpt(&ops, 30),
            cluster.logs()
        );
    }
}
