//! The chaos test's faults: a seeded schedule of kill -9 and restart, SIGSTOP/SIGCONT, a leader
//! or a minority partitioned from the rest (blackhole routes between network namespaces), a
//! majority taken away, and the healing afterwards.

#![allow(dead_code)]

use super::*;

/// Node K's status, or `None` if it does not answer.
pub(crate) fn status(cluster: &Cluster, k: usize) -> Option<Value> {
    let run = cluster.on(k, &["status", "--format", "json"]);
    if !run.ok() {
        return None;
    }
    serde_json::from_str(&run.stdout).ok()
}

pub(crate) fn leader_seen_by(cluster: &Cluster, k: usize) -> Option<usize> {
    let status = status(cluster, k)?;
    status["leader"]
        .as_str()?
        .strip_prefix("node")?
        .parse()
        .ok()
}

/// Sends SIGCONT to every node's PID when dropped, so a failing run never leaves a stopped
/// process behind (the cluster's own drop then stops them).
pub(crate) struct Resume<'a>(pub(crate) &'a Cluster);

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

pub(crate) struct Nemesis<'a> {
    pub(crate) cluster: &'a Cluster,
    pub(crate) netns: &'a NetnsCluster,
    /// Whether a partition is in place (healed by `heal`).
    pub(crate) partitioned: bool,
    pub(crate) rng: SimRng,
    pub(crate) start: Instant,
    pub(crate) log: Vec<String>,
    pub(crate) killed: HashSet<usize>,
    pub(crate) stopped: HashSet<usize>,
}

impl Nemesis<'_> {
    pub(crate) fn note(&mut self, text: String) {
        let line = format!("{:>7.1}s {text}", self.start.elapsed().as_secs_f64());
        eprintln!("chaos: {line}");
        self.log.push(line);
    }

    pub(crate) fn healthy(&self) -> Vec<usize> {
        (1..=self.cluster.nodes)
            .filter(|k| !self.killed.contains(k) && !self.stopped.contains(k))
            .collect()
    }

    pub(crate) fn random_node(&mut self) -> usize {
        let healthy = self.healthy();
        *self.rng.pick(&healthy).unwrap()
    }

    pub(crate) fn leader(&mut self) -> usize {
        let healthy = self.healthy();
        let asking = *self.rng.pick(&healthy).unwrap();
        match leader_seen_by(self.cluster, asking) {
            Some(k) if healthy.contains(&k) => k,
            _ => self.random_node(),
        }
    }

    pub(crate) fn kill(&mut self, k: usize) {
        self.cluster.signal(k, "KILL");
        self.killed.insert(k);
        self.note(format!("kill -9 node{k}"));
    }

    pub(crate) fn pause(&mut self, k: usize, what: &str) {
        self.cluster.signal(k, "STOP");
        self.stopped.insert(k);
        self.note(format!("SIGSTOP node{k} ({what})"));
    }

    /// Cuts `side` off from the other nodes; the clients still reach everyone.
    pub(crate) fn cut_off(&mut self, side: &[usize], what: &str) {
        self.netns.partition(side);
        self.partitioned = true;
        let names: Vec<String> = side.iter().map(|k| format!("node{k}")).collect();
        self.note(format!("partition: {} cut off ({what})", names.join(", ")));
    }

    pub(crate) fn heal(&mut self) {
        if self.partitioned {
            self.netns.heal_partition();
            self.partitioned = false;
            self.note("partition healed".to_string());
        }
        let mut stopped: Vec<usize> = self.stopped.drain().collect();
        stopped.sort_unstable();
        for k in stopped {
            self.cluster.signal(k, "CONT");
            self.note(format!("SIGCONT node{k}"));
        }
        let mut killed: Vec<usize> = self.killed.drain().collect();
        killed.sort_unstable();
        for k in killed {
            self.netns.restart(k);
            self.note(format!("restarted node{k}"));
        }
    }

    pub(crate) fn sleep_ms(&mut self, low: u64, high: u64) {
        std::thread::sleep(Duration::from_millis(self.rng.range(low, high)));
    }

    /// One fault, held for a while, then healed.
    pub(crate) fn fault(&mut self) {
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
            55..63 => {
                // The leader frozen beyond an election, then back with stale state.
                let k = self.leader();
                self.pause(k, "leader frozen");
                self.sleep_ms(4000, 12000);
            }
            63..75 => {
                // The leader partitioned from its followers; its clients still reach it.
                let k = self.leader();
                self.cut_off(&[k], "the leader");
                self.sleep_ms(4000, 12000);
            }
            75..85 => {
                // A minority partitioned from the rest, which runs on.
                let mut side = Vec::new();
                while side.len() < minority {
                    let k = self.random_node();
                    if !side.contains(&k) {
                        side.push(k);
                    }
                }
                self.cut_off(&side, "a minority");
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
