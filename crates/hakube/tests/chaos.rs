//! Jepsen-style chaos test with real processes: 3 (or 5) `hakube` nodes under a client load of
//! linearizable reads, puts, compare-and-swaps (a txn comparing the mod revision) and watches
//! through the etcd API over mutual TLS, while a seeded schedule kill -9s and restarts nodes,
//! SIGSTOPs them, freezes the leader ("partition", see below) and takes a majority away. Every
//! operation's invocation and completion is recorded; after healing, the history is checked:
//! linearizable per key (hakube-sim's checker, values unique per write so a mod revision compare
//! is a compare on the value), every acknowledged write present at its revision, and every
//! node's watch (reconnecting from its last revision + 1) seeing every revision of the prefix in
//! order exactly once.
//!
//! Partitions: neither `nft` nor `iptables` is available in CI, and loopback addresses share
//! one network namespace, so a partition is a frozen node (SIGSTOP for longer than an election,
//! then SIGCONT): its peers see it vanish and it comes back with stale leadership/state, which is
//! what a partition tests at the Raft level.
//!
//! Short run (CI default, ~75 s of faults): `cargo test -p hakube --test chaos -- --nocapture`.
//! Long run: `HAKUBE_CHAOS_SECONDS=1800`. `HAKUBE_CHAOS_SEED=S` replays a fault schedule and a
//! workload; `HAKUBE_CHAOS_NODES=5` runs five nodes. Loopback range 127.21.40.x. See
//! docs/chaos.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

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
use serde_json::Value;

const BASE: &str = "127.21.40";
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

/// Node K's etcd endpoint and client credentials, from `hakube config --etcd`.
#[derive(Clone)]
struct Endpoint {
    url: String,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn endpoint(cluster: &Cluster, k: usize) -> Endpoint {
    let run = cluster.on(k, &["config", "--etcd"]);
    assert!(run.ok(), "config --etcd: {}", run.stderr);
    let env: HashMap<String, String> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let read = |name: &str| std::fs::read(&env[name]).unwrap();
    Endpoint {
        url: env["ETCDCTL_ENDPOINTS"].clone(),
        ca: read("ETCDCTL_CACERT"),
        cert: read("ETCDCTL_CERT"),
        key: read("ETCDCTL_KEY"),
    }
}

/// One connection attempt, bounded.
async fn try_connect(endpoint: &Endpoint) -> Option<Client> {
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(endpoint.ca.clone()))
        .identity(Identity::from_pem(
            endpoint.cert.clone(),
            endpoint.key.clone(),
        ));
    let options = ConnectOptions::new()
        .with_tls(tls)
        .with_connect_timeout(Duration::from_secs(2))
        .with_keep_alive(Duration::from_secs(1), Duration::from_secs(2));
    match tokio::time::timeout(
        Duration::from_secs(3),
        Client::connect([endpoint.url.as_str()], Some(options)),
    )
    .await
    {
        Ok(Ok(client)) => Some(client),
        _ => None,
    }
}

/// Elapsed time since the start of the run (for display; order comes from the history's
/// sequence numbers).
#[derive(Clone)]
struct Clock(Instant);

impl Clock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// An error as an outcome: refusals that the server guarantees changed nothing (quorum lost,
/// "read-only") and requests that never left the client (the TCP connection was refused) are
/// definite; everything else (timeouts, resets, "request timed out", "no leader", ...) may or
/// may not have been applied.
fn classify(error: &str) -> Outcome {
    if error.contains("tcp connect error") {
        return Outcome::NotApplied(format!("not sent: {error}"));
    }
    if error.contains("read-only") && error.contains("quorum") && !error.contains("linearizable") {
        Outcome::NotApplied(format!("quorum lost: {error}"))
    } else {
        Outcome::Unknown(error.to_string())
    }
}

fn short(error: impl std::fmt::Display) -> String {
    let text = error.to_string();
    text.chars().take(200).collect()
}

struct Worker {
    id: u64,
    node: usize,
    client: Option<Client>,
    history: History,
    clock: Clock,
    values: Arc<AtomicU64>,
    failures_in_a_row: u32,
}

impl Worker {
    async fn client(&mut self, endpoint: &Endpoint) -> Option<&mut Client> {
        if self.client.is_none() || self.failures_in_a_row >= 3 {
            self.failures_in_a_row = 0;
            self.client = try_connect(endpoint).await;
        }
        self.client.as_mut()
    }

    fn done(&mut self, op: usize, outcome: Outcome) {
        if matches!(outcome, Outcome::Unknown(_) | Outcome::NotApplied(_)) {
            self.failures_in_a_row += 1;
        } else {
            self.failures_in_a_row = 0;
        }
        self.history.complete_at(op, outcome, self.clock.now());
    }

    fn invoke(&self, key: u64, kind: OpKind) -> usize {
        self.history
            .invoke_at(self.id, self.node as u64, key, kind, self.clock.now())
    }

    /// A linearizable get; returns the value and mod revision it read.
    async fn get(&mut self, endpoint: &Endpoint, key: u64) -> Option<(Option<u64>, i64)> {
        let op = self.invoke(key, OpKind::Get);
        let Some(client) = self.client(endpoint).await else {
            self.done(op, Outcome::Unknown("cannot connect".into()));
            return None;
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, client.get(key_name(key), None)).await;
        match result {
            Ok(Ok(response)) => {
                let kv = response.kvs().first();
                let value = kv.and_then(|kv| decode_value(kv.value()));
                let mod_revision = kv.map_or(0, |kv| kv.mod_revision());
                self.done(
                    op,
                    Outcome::Read {
                        value,
                        mod_revision: kv.map(|kv| kv.mod_revision() as u64),
                    },
                );
                Some((value, mod_revision))
            }
            Ok(Err(e)) => {
                self.done(op, Outcome::Unknown(short(e)));
                None
            }
            Err(_) => {
                self.done(op, Outcome::Unknown("client timeout".into()));
                None
            }
        }
    }

    async fn put(&mut self, endpoint: &Endpoint, key: u64) {
        let value = self.values.fetch_add(1, Ordering::SeqCst) + 1;
        let op = self.invoke(key, OpKind::Put { value });
        let Some(client) = self.client(endpoint).await else {
            self.done(op, Outcome::NotApplied("cannot connect".into()));
            return;
        };
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            client.put(
                key_name(key),
                encode_value(value),
                Some(PutOptions::new().with_prev_key()),
            ),
        )
        .await;
        let outcome = match result {
            Ok(Ok(response)) => Outcome::Written {
                previous: response.prev_key().and_then(|kv| decode_value(kv.value())),
                revision: response.header().map_or(0, |h| h.revision() as u64),
            },
            Ok(Err(e)) => classify(&short(e)),
            Err(_) => Outcome::Unknown("client timeout".into()),
        };
        self.done(op, outcome);
    }

    /// Compare-and-swap on the mod revision read (or create if absent): a txn whose failure
    /// branch reads the key, so a failed compare tells what it saw.
    async fn cas(&mut self, endpoint: &Endpoint, key: u64, seen: (Option<u64>, i64)) {
        let value = self.values.fetch_add(1, Ordering::SeqCst) + 1;
        let (kind, compare) = match seen {
            (Some(expected), mod_revision) => (
                OpKind::Cas { expected, value },
                Compare::mod_revision(key_name(key), CompareOp::Equal, mod_revision),
            ),
            (None, _) => (
                OpKind::Create { value },
                Compare::version(key_name(key), CompareOp::Equal, 0),
            ),
        };
        let op = self.invoke(key, kind);
        let Some(client) = self.client(endpoint).await else {
            self.done(op, Outcome::NotApplied("cannot connect".into()));
            return;
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::put(
                key_name(key),
                encode_value(value),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key_name(key), None)]);
        let result = tokio::time::timeout(REQUEST_TIMEOUT, client.txn(txn)).await;
        let outcome = match result {
            Ok(Ok(response)) => {
                let revision = response.header().map_or(0, |h| h.revision() as u64);
                match (response.succeeded(), response.op_responses().first()) {
                    (true, Some(TxnOpResponse::Put(put))) => Outcome::Written {
                        previous: put.prev_key().and_then(|kv| decode_value(kv.value())),
                        revision,
                    },
                    (false, Some(TxnOpResponse::Get(get))) => Outcome::ConditionFailed {
                        current: get.kvs().first().and_then(|kv| decode_value(kv.value())),
                    },
                    (succeeded, other) => {
                        panic!("unexpected txn response: succeeded={succeeded} {other:?}")
                    }
                }
            }
            Ok(Err(e)) => classify(&short(e)),
            Err(_) => Outcome::Unknown("client timeout".into()),
        };
        self.done(op, outcome);
    }
}

async fn client_loop(
    mut worker: Worker,
    endpoint: Endpoint,
    keys: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = SimRng::derive(seed, 1000 + worker.id);
    while !stop.load(Ordering::SeqCst) {
        let key = rng.below(keys);
        let roll = rng.below(100);
        if roll < 30 {
            worker.get(&endpoint, key).await;
        } else if roll < 60 {
            worker.put(&endpoint, key).await;
        } else if let Some(seen) = worker.get(&endpoint, key).await {
            worker.cas(&endpoint, key, seen).await;
        }
        if worker.failures_in_a_row > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
        }
    }
}

/// One event of the prefix as a watch delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    revision: i64,
    key: String,
    value: Option<u64>,
    delete: bool,
}

#[derive(Default)]
struct WatchLog {
    events: Vec<Event>,
    problems: Vec<String>,
    restarts: u64,
    /// Set when the server answered that a start revision was compacted (tolerated only by
    /// the final reference watch, which then starts after it).
    compacted: Option<i64>,
}

/// A watch on the prefix from revision `from`, following node `node`, restarted from its last
/// revision + 1 whenever its stream ends, errors, or stays silent for 10 s, until it has seen
/// revision `until` (0 = not known yet) and `stop` is set.
async fn watch_loop(
    node: usize,
    endpoint: Endpoint,
    from: i64,
    tolerate_compaction: bool,
    until: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WatchLog>>,
) {
    let mut next = from;
    let finished = |next: i64| {
        let until = until.load(Ordering::SeqCst);
        stop.load(Ordering::SeqCst) && until > 0 && next > until
    };
    let mut first = true;
    'outer: while !finished(next) {
        if !first {
            log.lock().unwrap().restarts += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        first = false;
        let Some(mut client) = try_connect(&endpoint).await else {
            continue;
        };
        let options = WatchOptions::new().with_prefix().with_start_revision(next);
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(3), client.watch(PREFIX, Some(options))).await
        else {
            continue;
        };
        let mut silent = 0;
        loop {
            if finished(next) {
                break 'outer;
            }
            match tokio::time::timeout(Duration::from_secs(1), stream.message()).await {
                Err(_) => {
                    silent += 1;
                    if silent >= 10 {
                        continue 'outer;
                    }
                }
                Ok(Ok(Some(response))) => {
                    silent = 0;
                    let mut log = log.lock().unwrap();
                    if response.canceled() {
                        if response.compact_revision() > 0 && tolerate_compaction {
                            log.compacted = Some(response.compact_revision());
                            next = next.max(response.compact_revision() + 1);
                            continue 'outer;
                        }
                        if response.compact_revision() > 0 {
                            log.compacted = Some(response.compact_revision());
                            log.problems.push(format!(
                                "node{node}: watch from {next} compacted at {}",
                                response.compact_revision()
                            ));
                            return;
                        }
                        continue 'outer;
                    }
                    for event in response.events() {
                        let Some(kv) = event.kv() else {
                            log.problems
                                .push(format!("node{node}: event without kv near {next}"));
                            continue;
                        };
                        let revision = kv.mod_revision();
                        if revision < next {
                            log.problems.push(format!(
                                "node{node}: revision {revision} after {} (repeated or out of order)",
                                next - 1
                            ));
                        }
                        log.events.push(Event {
                            revision,
                            key: kv.key_str().unwrap_or("?").to_string(),
                            value: decode_value(kv.value()),
                            delete: event.event_type() == EventType::Delete,
                        });
                        next = next.max(revision + 1);
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => continue 'outer,
            }
        }
    }
}

/// Node K's status, or `None` if it does not answer.
fn status(cluster: &Cluster, k: usize) -> Option<Value> {
    let run = cluster.on(k, &["status", "--format", "json"]);
    if !run.ok() {
        return None;
    }
    serde_json::from_str(&run.stdout).ok()
}

fn leader_seen_by(cluster: &Cluster, k: usize) -> Option<usize> {
    let status = status(cluster, k)?;
    status["leader"]
        .as_str()?
        .strip_prefix("node")?
        .parse()
        .ok()
}

/// Sends SIGCONT to every node's PID when dropped, so a failing run never leaves a stopped
/// process behind (the cluster's own drop then stops them).
struct Resume<'a>(&'a Cluster);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        for k in 1..=self.0.nodes {
            if let Some(pid) = self.0.pid(k) {
                let _ = std::process::Command::new("kill")
                    .args(["-s", "CONT", &pid.to_string()])
                    .status();
            }
        }
    }
}

struct Nemesis<'a> {
    cluster: &'a Cluster,
    rng: SimRng,
    start: Instant,
    log: Vec<String>,
    killed: HashSet<usize>,
    stopped: HashSet<usize>,
}

impl Nemesis<'_> {
    fn note(&mut self, text: String) {
        let line = format!("{:>7.1}s {text}", self.start.elapsed().as_secs_f64());
        eprintln!("chaos: {line}");
        self.log.push(line);
    }

    fn healthy(&self) -> Vec<usize> {
        (1..=self.cluster.nodes)
            .filter(|k| !self.killed.contains(k) && !self.stopped.contains(k))
            .collect()
    }

    fn random_node(&mut self) -> usize {
        let healthy = self.healthy();
        *self.rng.pick(&healthy).unwrap()
    }

    fn leader(&mut self) -> usize {
        let healthy = self.healthy();
        let asking = *self.rng.pick(&healthy).unwrap();
        match leader_seen_by(self.cluster, asking) {
            Some(k) if healthy.contains(&k) => k,
            _ => self.random_node(),
        }
    }

    fn kill(&mut self, k: usize) {
        self.cluster.signal(k, "KILL");
        self.killed.insert(k);
        self.note(format!("kill -9 node{k}"));
    }

    fn pause(&mut self, k: usize, what: &str) {
        self.cluster.signal(k, "STOP");
        self.stopped.insert(k);
        self.note(format!("SIGSTOP node{k} ({what})"));
    }

    fn heal(&mut self) {
        let mut stopped: Vec<usize> = self.stopped.drain().collect();
        stopped.sort_unstable();
        for k in stopped {
            self.cluster.signal(k, "CONT");
            self.note(format!("SIGCONT node{k}"));
        }
        let mut killed: Vec<usize> = self.killed.drain().collect();
        killed.sort_unstable();
        for k in killed {
            self.cluster.start(k);
            self.note(format!("restarted node{k}"));
        }
    }

    fn sleep_ms(&mut self, low: u64, high: u64) {
        std::thread::sleep(Duration::from_millis(self.rng.range(low, high)));
    }

    /// One fault, held for a while, then healed.
    fn fault(&mut self) {
        let minority = (self.cluster.nodes - 1) / 2;
        match self.rng.below(100) {
            0..20 => {
                let k = self.random_node();
                self.kill(k);
                self.sleep_ms(1000, 6000);
            }
            20..40 => {
                let k = self.leader();
                self.kill(k);
                self.sleep_ms(1000, 6000);
            }
            40..55 => {
                let k = self.random_node();
                self.pause(k, "pause");
                self.sleep_ms(500, 6000);
            }
            55..75 => {
                // "Partition": the leader frozen beyond an election, then back with stale state.
                let k = self.leader();
                self.pause(k, "partition: leader cut off");
                self.sleep_ms(4000, 12000);
            }
            75..85 => {
                // A minority partition plus the rest of the cluster running on.
                for _ in 0..minority {
                    let k = self.random_node();
                    self.pause(k, "partition: minority cut off");
                }
                self.sleep_ms(3000, 10000);
            }
            _ => {
                // Majority lost: writes must be refused ("read-only") or time out, never lie.
                for i in 0..=minority {
                    let k = self.random_node();
                    if i % 2 == 0 {
                        self.kill(k);
                    } else {
                        self.pause(k, "majority down");
                    }
                }
                self.sleep_ms(2000, 8000);
            }
        }
        self.heal();
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
    let cluster = Cluster::up(BASE, settings.nodes, &[]);
    let _resume = Resume(&cluster);
    let endpoints: Vec<Endpoint> = (1..=settings.nodes)
        .map(|k| endpoint(&cluster, k))
        .collect();

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
        cluster: &cluster,
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
    let ready = wait_all_ready(&cluster, Duration::from_secs(60));
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
            if rev_checks >= 5000 {
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
                Ok(Err(e)) if e.to_string().contains("compacted") => continue,
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
