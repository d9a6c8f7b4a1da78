//! One seeded run: builds the turmoil simulation (nodes, clients), drives the seeded fault
//! schedule (partitions including leader isolation and majority splits, crashes with restarts,
//! power cuts that tear a redb commit, message delays), heals everything, waits for the nodes
//! to converge, and runs the invariant checks. Returns a [`RunReport`] with the failures and a
//! trace of observable events (used to compare two runs of one seed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::type_config::async_runtime::WatchReceiver;

use crate::client::{self, ClientPlan};
use crate::disk::SimDisk;
use crate::history::{History, OpKind, Outcome, decode_value, key_name};
use crate::invariants;
use crate::node::{self, NodeContext, Registry, host_name};
use crate::rng::SimRng;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: u64,
    pub clients: u64,
    pub ops_per_client: usize,
    pub keys: u64,
    pub faults: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            nodes: 3,
            clients: 3,
            ops_per_client: 30,
            keys: 3,
            faults: true,
        }
    }
}

#[derive(Debug, Default)]
pub struct RunReport {
    pub seed: u64,
    pub failures: Vec<String>,
    /// Observable events in order: faults, operations, final state.
    pub trace: Vec<String>,
    /// Fault events only, with their simulated times: fully determined by the seed.
    pub fault_trace: Vec<String>,
    /// The seeded fault schedule as generated (before any fault is applied).
    pub schedule: Vec<String>,
    /// Operations by outcome.
    pub outcomes: BTreeMap<&'static str, usize>,
    pub multi_leader_terms: usize,
    pub leader_terms: usize,
    pub torn_cuts: u64,
    pub restarts: u64,
    pub sim_time: Duration,
    pub wall_time: Duration,
    pub gave_up_keys: usize,
}

const TICK: Duration = Duration::from_millis(10);
const WORKLOAD_LIMIT: Duration = Duration::from_secs(150);
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);
const BASE_MAX_LATENCY: Duration = Duration::from_millis(10);

#[derive(Clone, Debug)]
enum Fault {
    IsolateLeader { for_ms: u64 },
    Isolate { node: u64, for_ms: u64 },
    Split { minority: Vec<u64>, for_ms: u64 },
    Crash { node: u64, down_ms: u64, torn: bool },
    Delay { max_ms: u64, for_ms: u64 },
}

fn schedule(config: &SimConfig) -> Vec<(u64, Fault)> {
    let mut rng = SimRng::derive(config.seed, 1);
    let mut faults = Vec::new();
    if !config.faults {
        return faults;
    }
    let nodes: Vec<u64> = (1..=config.nodes).collect();
    let mut at = rng.range(500, 2_000);
    while at < 25_000 {
        let node = *rng.pick(&nodes).unwrap_or(&1);
        let fault = match rng.below(100) {
            0..20 => Fault::IsolateLeader {
                for_ms: rng.range(500, 4_000),
            },
            20..35 => Fault::Isolate {
                node,
                for_ms: rng.range(500, 4_000),
            },
            35..45 => {
                // A minority keeps `node`; for 3 nodes a lone node, for 5 two of them.
                let mut minority = vec![node];
                if config.nodes >= 5 {
                    let other = nodes[(node as usize) % nodes.len()];
                    minority.push(other);
                }
                Fault::Split {
                    minority,
                    for_ms: rng.range(500, 3_000),
                }
            }
            45..65 => Fault::Crash {
                node,
                down_ms: rng.range(200, 3_000),
                torn: false,
            },
            65..85 => Fault::Crash {
                node,
                down_ms: rng.range(200, 3_000),
                torn: true,
            },
            _ => Fault::Delay {
                max_ms: rng.range(50, 400),
                for_ms: rng.range(500, 3_000),
            },
        };
        faults.push((at, fault));
        at += rng.range(800, 3_500);
    }
    faults
}

/// Timed follow-ups of faults.
#[derive(Clone, Debug)]
enum Followup {
    Heal(Vec<u64>, Vec<u64>),
    Restart(u64),
    EndDelay,
    /// An armed torn crash that has not fired by then becomes a plain crash.
    TornDeadline {
        node: u64,
        down_ms: u64,
    },
}

struct Driver<'a> {
    sim: turmoil::Sim<'a>,
    config: SimConfig,
    registry: Registry,
    disks: BTreeMap<u64, SimDisk>,
    down: BTreeSet<u64>,
    armed: BTreeMap<u64, u64>,
    followups: BTreeMap<u64, Vec<Followup>>,
    partitions: Vec<(Vec<u64>, Vec<u64>)>,
    rng: SimRng,
    report: RunReport,
}

fn names(nodes: &[u64]) -> Vec<String> {
    nodes.iter().map(|&n| host_name(n)).collect()
}

impl Driver<'_> {
    fn now_ms(&self) -> u64 {
        self.sim.elapsed().as_millis() as u64
    }

    fn event(&mut self, text: String) {
        let line = format!("t={}ms {text}", self.now_ms());
        self.report.fault_trace.push(line.clone());
        self.report.trace.push(line);
    }

    fn later(&mut self, after_ms: u64, followup: Followup) {
        let at = self.now_ms() + after_ms;
        self.followups.entry(at).or_default().push(followup);
    }

    fn partition(&mut self, a: Vec<u64>, b: Vec<u64>, for_ms: u64) {
        for x in &a {
            for y in &b {
                self.sim
                    .partition(host_name(*x).as_str(), host_name(*y).as_str());
            }
        }
        self.event(format!(
            "partition {:?} from {:?} for {for_ms}ms",
            names(&a),
            names(&b)
        ));
        self.partitions.push((a.clone(), b.clone()));
        self.later(for_ms, Followup::Heal(a, b));
    }

    fn heal(&mut self, a: &[u64], b: &[u64]) {
        for x in a {
            for y in b {
                self.sim
                    .repair(host_name(*x).as_str(), host_name(*y).as_str());
            }
        }
        self.partitions.retain(|(pa, pb)| !(pa == a && pb == b));
        // Overlapping partitions: re-apply the ones still active.
        for (pa, pb) in self.partitions.clone() {
            for x in &pa {
                for y in &pb {
                    self.sim
                        .partition(host_name(*x).as_str(), host_name(*y).as_str());
                }
            }
        }
        self.event(format!("heal {:?} / {:?}", names(a), names(b)));
    }

    fn others(&self, group: &[u64]) -> Vec<u64> {
        (1..=self.config.nodes)
            .filter(|n| !group.contains(n))
            .collect()
    }

    /// Power cut (if not already done by an armed crash) and crash of the host.
    fn crash(&mut self, node: u64, down_ms: u64, how: &str) {
        if let Some(disk) = self.disks.get(&node)
            && !disk.tripped()
        {
            disk.power_cut(None);
        }
        self.registry.lock().stores.remove(&node);
        self.sim.crash(host_name(node).as_str());
        self.down.insert(node);
        self.armed.remove(&node);
        self.event(format!("crash n{node} ({how}), down {down_ms}ms"));
        self.later(down_ms, Followup::Restart(node));
    }

    fn restart(&mut self, node: u64) {
        if self.down.remove(&node) {
            self.sim.bounce(host_name(node).as_str());
            self.report.restarts += 1;
            self.event(format!("restart n{node}"));
        }
    }

    fn start_fault(&mut self, fault: Fault) {
        match fault {
            Fault::IsolateLeader { for_ms } => {
                if let Some(leader) = self.registry.current_leader() {
                    let others = self.others(&[leader]);
                    self.event(format!("isolate leader n{leader}"));
                    self.partition(vec![leader], others, for_ms);
                }
            }
            Fault::Isolate { node, for_ms } => {
                let others = self.others(&[node]);
                self.partition(vec![node], others, for_ms);
            }
            Fault::Split { minority, for_ms } => {
                let others = self.others(&minority);
                self.partition(minority, others, for_ms);
            }
            Fault::Crash {
                node,
                down_ms,
                torn,
            } => {
                if self.down.contains(&node) || self.armed.contains_key(&node) {
                    return;
                }
                if torn {
                    let seed = self.rng.next_u64();
                    if let Some(disk) = self.disks.get(&node) {
                        disk.arm_crash(seed);
                    }
                    self.armed.insert(node, down_ms);
                    self.event(format!("arm a torn-write crash of n{node}"));
                    self.later(2_000, Followup::TornDeadline { node, down_ms });
                } else {
                    self.crash(node, down_ms, "power cut");
                }
            }
            Fault::Delay { max_ms, for_ms } => {
                self.sim
                    .set_max_message_latency(Duration::from_millis(max_ms));
                self.event(format!("delay messages up to {max_ms}ms for {for_ms}ms"));
                self.later(for_ms, Followup::EndDelay);
            }
        }
    }

    fn followup(&mut self, followup: Followup) {
        match followup {
            Followup::Heal(a, b) => self.heal(&a, &b),
            Followup::Restart(node) => self.restart(node),
            Followup::EndDelay => {
                self.sim.set_max_message_latency(BASE_MAX_LATENCY);
                self.event("delays end".into());
            }
            Followup::TornDeadline { node, down_ms } => {
                if self.armed.remove(&node).is_some() {
                    if let Some(disk) = self.disks.get(&node) {
                        disk.disarm();
                    }
                    self.crash(node, down_ms, "power cut, no sync was in flight");
                }
            }
        }
    }

    /// Crashes nodes whose disk lost power inside a sync.
    fn reap_tripped(&mut self) {
        let tripped: Vec<(u64, u64)> = self
            .armed
            .iter()
            .filter(|(node, _)| self.disks.get(node).is_some_and(SimDisk::tripped))
            .map(|(n, d)| (*n, *d))
            .collect();
        for (node, down_ms) in tripped {
            self.crash(node, down_ms, "power cut inside a sync: torn write");
        }
    }

    fn due_followups(&mut self) {
        let now = self.now_ms();
        let due: Vec<u64> = self.followups.range(..=now).map(|(t, _)| *t).collect();
        for t in due {
            for followup in self.followups.remove(&t).unwrap_or_default() {
                self.followup(followup);
            }
        }
    }

    fn step(&mut self) -> Result<bool, String> {
        self.sim
            .step()
            .map_err(|e| format!("simulation error at {}ms: {e}", self.now_ms()))
    }

    /// Heals every partition, ends delays and restarts every crashed node.
    fn heal_all(&mut self) {
        for (a, b) in std::mem::take(&mut self.partitions) {
            self.heal(&a, &b);
        }
        self.sim.set_max_message_latency(BASE_MAX_LATENCY);
        // A crash that fired inside a sync is reaped first: once disarmed and forgotten, its
        // node would stay dead (openraft shut down on the failed sync) and never restart.
        self.reap_tripped();
        for (node, disk) in &self.disks {
            if self.armed.contains_key(node) {
                disk.disarm();
            }
        }
        self.armed.clear();
        for node in self.down.clone() {
            self.restart(node);
        }
        self.followups.clear();
        self.event("healed everything".into());
    }

    /// All nodes up and following one leader that has applied its whole log (so everything
    /// committed before it was elected is applied: its own term's first entry comes after),
    /// same applied log id, identical state bytes. Without the leader rule, nodes that all
    /// restarted one batch behind the last commit (the committed index is saved without an
    /// fsync) looked converged before a leader applied that batch again.
    fn converged(&self) -> Option<(u64, Vec<u8>)> {
        let registry = self.registry.lock();
        if registry.stores.len() as u64 != self.config.nodes {
            return None;
        }
        let leader_id = registry
            .stores
            .values()
            .next()?
            .raft()
            .metrics()
            .borrow_watched()
            .current_leader?;
        let leader = registry
            .stores
            .get(&leader_id)?
            .raft()
            .metrics()
            .borrow_watched()
            .clone();
        if leader.state != openraft::ServerState::Leader
            || leader.last_applied.as_ref().map(|id| id.index()) != leader.last_log_index
        {
            return None;
        }
        let mut common: Option<(String, Vec<u8>)> = None;
        for store in registry.stores.values() {
            let metrics = store.raft().metrics().borrow_watched().clone();
            if metrics.current_leader != Some(leader_id) {
                return None;
            }
            let applied = format!("{:?}", metrics.last_applied);
            let bytes = postcard::to_stdvec(&store.machine().read().kv).ok()?;
            match &common {
                None => common = Some((applied, bytes)),
                Some((a, b)) if *a == applied && *b == bytes => {}
                Some(_) => return None,
            }
        }
        let revision = registry
            .stores
            .values()
            .next()
            .map(|s| s.machine().read().kv.revision())?;
        common.map(|(_, bytes)| (revision, bytes))
    }
}

/// Runs one seed and checks every invariant.
pub fn run(config: SimConfig) -> RunReport {
    let started = Instant::now();
    let seed = config.seed;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(3_600))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(BASE_MAX_LATENCY)
        .build();
    let registry = Registry::default();
    let history = History::default();
    let voters: BTreeSet<u64> = (1..=config.nodes).collect();
    let snapshots = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            return RunReport {
                seed,
                failures: vec![format!("cannot create a temporary directory: {e}")],
                ..Default::default()
            };
        }
    };
    let mut disks = BTreeMap::new();
    for &id in &voters {
        let disk = SimDisk::new();
        disks.insert(id, disk.clone());
        let snapshot_dir = snapshots.path().join(host_name(id));
        if let Err(e) = std::fs::create_dir_all(&snapshot_dir) {
            return RunReport {
                seed,
                failures: vec![format!("cannot create {}: {e}", snapshot_dir.display())],
                ..Default::default()
            };
        }
        let ctx = NodeContext {
            id,
            voters: voters.clone(),
            disk,
            snapshot_dir,
            registry: registry.clone(),
        };
        sim.host(host_name(id).as_str(), move || node::run(ctx.clone()));
    }
    for index in 0..config.clients {
        let plan = ClientPlan {
            index,
            seed,
            nodes: voters.iter().copied().collect(),
            keys: config.keys,
            ops: config.ops_per_client,
            history: history.clone(),
        };
        sim.client(format!("c{index}").as_str(), client::run(plan));
    }
    let mut pending_faults = schedule(&config);
    let schedule_text: Vec<String> = pending_faults
        .iter()
        .map(|(at, fault)| format!("{at}ms {fault:?}"))
        .collect();
    pending_faults.reverse();
    let mut driver = Driver {
        sim,
        config: config.clone(),
        registry: registry.clone(),
        disks,
        down: BTreeSet::new(),
        armed: BTreeMap::new(),
        followups: BTreeMap::new(),
        partitions: Vec::new(),
        rng: SimRng::derive(seed, 2),
        report: RunReport {
            seed,
            schedule: schedule_text,
            ..Default::default()
        },
    };

    // Workload under faults.
    let mut failures = Vec::new();
    loop {
        match driver.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                failures.push(e);
                break;
            }
        }
        driver.reap_tripped();
        driver.due_followups();
        while pending_faults
            .last()
            .is_some_and(|(at, _)| *at <= driver.now_ms())
        {
            if let Some((_, fault)) = pending_faults.pop() {
                driver.start_fault(fault);
            }
        }
        if driver.sim.elapsed() > WORKLOAD_LIMIT {
            failures.push(format!(
                "the workload did not finish within {}s of simulated time",
                WORKLOAD_LIMIT.as_secs()
            ));
            break;
        }
    }

    // Heal and converge.
    driver.heal_all();
    let heal_at = driver.sim.elapsed();
    let mut converged = None;
    while failures.is_empty() {
        if let Err(e) = driver.step() {
            failures.push(e);
            break;
        }
        if driver.now_ms().is_multiple_of(100)
            && let Some(state) = driver.converged()
        {
            converged = Some(state);
            break;
        }
        if driver.sim.elapsed() - heal_at > CONVERGE_LIMIT {
            let registry = registry.lock();
            let mut detail = String::new();
            for (id, store) in &registry.stores {
                let status = store.status();
                detail.push_str(&format!(
                    "\n    n{id}: {} term {} leader {:?} applied {} revision {}",
                    status.state, status.term, status.leader, status.applied_index, status.revision
                ));
            }
            failures.push(format!(
                "no convergence within {}s after healing ({} of {} nodes running):{detail}",
                CONVERGE_LIMIT.as_secs(),
                registry.stores.len(),
                config.nodes
            ));
            break;
        }
    }
    let mut report = std::mem::take(&mut driver.report);
    report.sim_time = driver.sim.elapsed();
    for disk in driver.disks.values() {
        report.torn_cuts += disk.stats().1;
    }

    // Final reads of every key from the converged state join the history as the last ops.
    let final_state = registry
        .stores_snapshot()
        .map(|store| store.machine().read().kv.clone());
    if let (Some((revision, _)), Some(state)) = (&converged, &final_state) {
        for key in 0..config.keys {
            let id = history.invoke(u64::MAX, 0, key, OpKind::Get);
            let value = match state.get(&key_name(key), None) {
                Ok(kv) => kv,
                Err(e) => {
                    failures.push(format!("final read of key{key}: {e}"));
                    None
                }
            };
            history.complete(
                id,
                Outcome::Read {
                    value: value
                        .as_ref()
                        .map(|kv| decode_value(&kv.value).unwrap_or(u64::MAX)),
                    mod_revision: value.as_ref().map(|kv| kv.mod_revision),
                },
            );
        }
        report.trace.push(format!("final revision {revision}"));
    }
    let ops = history.ops();
    for op in &ops {
        *report.outcomes.entry(op.outcome.label()).or_default() += 1;
        report.trace.push(op.to_string());
    }

    // Invariants.
    let lin = invariants::linearizable(&ops);
    failures.extend(lin.violations);
    report.gave_up_keys = lin.gave_up.len();
    if let Some(state) = &final_state {
        failures.extend(invariants::acknowledged_writes_kept(&ops, state));
    }
    {
        let registry = registry.lock();
        let leaders: BTreeSet<_> = registry.leaders.keys().cloned().collect();
        report.leader_terms = leaders
            .iter()
            .map(|l| l.term)
            .collect::<BTreeSet<_>>()
            .len();
        let multi = invariants::multi_leader_terms(&leaders);
        report.multi_leader_terms = multi.len();
        for (term, nodes) in multi {
            failures.push(format!("term {term} had several leaders: {nodes:?}"));
        }
        for (node, error) in &registry.refused {
            failures.push(format!("n{node} refused to start after a crash: {error}"));
        }
        for (node, error) in &registry.fatal {
            if !error.contains("simulated disk") {
                failures.push(format!("n{node} stopped with a fatal error: {error}"));
            }
        }
    }
    report.failures = failures;
    report.wall_time = started.elapsed();
    // Stop every runtime (and the stores in them) before the registry goes.
    drop(driver);
    registry.lock().stores.clear();
    report
}

impl Registry {
    /// Any running node's store (all are identical once converged).
    fn stores_snapshot(&self) -> Option<hakube_store::Store> {
        self.lock().stores.values().next().cloned()
    }
}
