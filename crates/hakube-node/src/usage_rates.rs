//! Usage rates for the metrics API (`kubectl top`): CPU counters are cumulative, so a rate
//! needs two samples. This keeps the previous sample of the node and of each container (by pod
//! uid and container name) and the rate between the last two, nothing older. Containers that
//! vanish from a round are forgotten, so the map never outgrows what the node runs (and never
//! [`MAX_CONTAINERS`]).

use std::collections::HashMap;

use crate::container_usage::ContainerUsage;

/// At most this many containers are tracked (a node runs far fewer; the rest are ignored).
pub const MAX_CONTAINERS: usize = 16_384;

/// One reading of a cumulative CPU counter and the memory working set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Unix nanoseconds.
    pub timestamp_nanoseconds: i64,
    pub cpu_usage_core_nanoseconds: u64,
    pub memory_working_set_bytes: u64,
}

/// Usage over the window between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// When the later sample was taken, Unix nanoseconds.
    pub timestamp_nanoseconds: i64,
    pub window_nanoseconds: i64,
    /// CPU cores used on average over the window, in billionths of a core.
    pub cpu_nanocores: u64,
    /// The later sample's working set (memory is a level, not a counter).
    pub memory_bytes: u64,
}

/// The rate between `previous` and `latest`; none when time did not move forward or the
/// counter went backwards (the container was restarted and its counter started over).
pub fn rate(previous: &Sample, latest: &Sample) -> Option<Rate> {
    let window = latest
        .timestamp_nanoseconds
        .checked_sub(previous.timestamp_nanoseconds)?;
    if window <= 0 {
        return None;
    }
    let used = latest
        .cpu_usage_core_nanoseconds
        .checked_sub(previous.cpu_usage_core_nanoseconds)?;
    // core-ns per ns = cores; scaled to nanocores. u128 so a long window cannot overflow.
    let nanocores = u128::from(used) * 1_000_000_000 / window.unsigned_abs() as u128;
    Some(Rate {
        timestamp_nanoseconds: latest.timestamp_nanoseconds,
        window_nanoseconds: window,
        cpu_nanocores: u64::try_from(nanocores).unwrap_or(u64::MAX),
        memory_bytes: latest.memory_working_set_bytes,
    })
}

/// The previous sample of one counter and the rate up to it.
#[derive(Debug, Clone, Default)]
struct Counter {
    previous: Option<Sample>,
    rate: Option<Rate>,
}

impl Counter {
    fn observe(&mut self, sample: Sample) {
        match &self.previous {
            // The same reading again (a cached stat): keep the rate it gave.
            Some(previous) if previous.timestamp_nanoseconds == sample.timestamp_nanoseconds => {
                return;
            }
            Some(previous) => self.rate = rate(previous, &sample),
            None => self.rate = None,
        }
        self.previous = Some(sample);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ContainerKey {
    pod_uid: String,
    container_name: String,
}

#[derive(Debug, Clone)]
struct Tracked {
    namespace: String,
    pod_name: String,
    counter: Counter,
}

/// A container's rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRate {
    pub name: String,
    pub rate: Rate,
}

/// The rates of one pod's containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRates {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// By container name.
    pub containers: Vec<ContainerRate>,
}

/// The node's and its containers' latest rates.
#[derive(Debug, Default)]
pub struct UsageRates {
    node: Counter,
    containers: HashMap<ContainerKey, Tracked>,
}

impl UsageRates {
    pub fn record_node(&mut self, sample: Sample) {
        self.node.observe(sample);
    }

    /// Records one round of container samples (all the runtime reported). Containers absent
    /// from it are forgotten. Returns how many containers were seen for the first time (they
    /// have no rate until the next round).
    pub fn record_containers(&mut self, usage: Vec<ContainerUsage>) -> usize {
        // A container the runtime lists without stats (exited: timestamp 0) has no reading;
        // the running one under the same name, if any, is the one to follow.
        let mut latest: HashMap<ContainerKey, ContainerUsage> = HashMap::new();
        for container in usage.into_iter().filter(|c| c.timestamp_nanoseconds > 0) {
            let key = ContainerKey {
                pod_uid: container.pod_uid.clone(),
                container_name: container.container_name.clone(),
            };
            let newer = latest
                .get(&key)
                .is_none_or(|seen| seen.timestamp_nanoseconds < container.timestamp_nanoseconds);
            if newer && (latest.len() < MAX_CONTAINERS || latest.contains_key(&key)) {
                latest.insert(key, container);
            }
        }
        self.containers.retain(|key, _| latest.contains_key(key));
        let mut new = 0;
        for (key, container) in latest {
            let sample = Sample {
                timestamp_nanoseconds: container.timestamp_nanoseconds,
                cpu_usage_core_nanoseconds: container.cpu_usage_core_nanoseconds,
                memory_working_set_bytes: container.memory_working_set_bytes,
            };
            let tracked = self.containers.entry(key).or_insert_with(|| {
                new += 1;
                Tracked {
                    namespace: container.namespace.clone(),
                    pod_name: container.pod_name.clone(),
                    counter: Counter::default(),
                }
            });
            tracked.counter.observe(sample);
        }
        new
    }

    /// Forgets every container (the runtime could not be asked: its old rates would go stale).
    pub fn forget_containers(&mut self) {
        self.containers.clear();
    }

    /// The node's latest rate, once two samples exist.
    pub fn node(&self) -> Option<Rate> {
        self.node.rate
    }

    /// Pods whose every tracked container has a rate, by namespace and name. A pod with a
    /// container still lacking one is left out rather than reported short of it (as
    /// metrics-server does).
    pub fn pods(&self) -> Vec<PodRates> {
        let mut pods: HashMap<&str, (PodRates, bool)> = HashMap::new();
        for (key, tracked) in &self.containers {
            let (pod, complete) = pods.entry(key.pod_uid.as_str()).or_insert_with(|| {
                (
                    PodRates {
                        uid: key.pod_uid.clone(),
                        namespace: tracked.namespace.clone(),
                        name: tracked.pod_name.clone(),
                        containers: Vec::new(),
                    },
                    true,
                )
            });
            match tracked.counter.rate {
                Some(rate) => pod.containers.push(ContainerRate {
                    name: key.container_name.clone(),
                    rate,
                }),
                None => *complete = false,
            }
        }
        let mut pods: Vec<PodRates> = pods
            .into_values()
            .filter(|(_, complete)| *complete)
            .map(|(mut pod, _)| {
                pod.containers.sort_by(|a, b| a.name.cmp(&b.name));
                pod
            })
            .collect();
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    fn sample(seconds: i64, cpu_ns: u64, memory: u64) -> Sample {
        Sample {
            timestamp_nanoseconds: seconds * SECOND,
            cpu_usage_core_nanoseconds: cpu_ns,
            memory_working_set_bytes: memory,
        }
    }

    /// A running container's sample `seconds` after some moment (0 is "no stats" in CRI).
    fn container(uid: &str, name: &str, seconds: i64, cpu_ns: u64) -> ContainerUsage {
        ContainerUsage {
            pod_uid: uid.into(),
            namespace: "default".into(),
            pod_name: format!("pod-{uid}"),
            container_name: name.into(),
            timestamp_nanoseconds: (1_000 + seconds) * SECOND,
            cpu_usage_core_nanoseconds: cpu_ns,
            memory_working_set_bytes: 4096,
        }
    }

    #[test]
    fn a_rate_is_the_counter_over_the_window() {
        // Half a core for 10 s: 5 core-seconds.
        let rate = rate(&sample(100, 0, 1), &sample(110, 5 * SECOND as u64, 2)).unwrap();
        assert_eq!(rate.cpu_nanocores, 500_000_000);
        assert_eq!(rate.window_nanoseconds, 10 * SECOND);
        assert_eq!(rate.timestamp_nanoseconds, 110 * SECOND);
        assert_eq!(rate.memory_bytes, 2, "memory is the latest working set");
    }

    #[test]
    fn no_rate_without_time_passing_or_when_the_counter_restarts() {
        assert_eq!(rate(&sample(10, 0, 0), &sample(10, 5, 0)), None);
        assert_eq!(rate(&sample(10, 0, 0), &sample(9, 5, 0)), None);
        assert_eq!(rate(&sample(10, 50, 0), &sample(20, 5, 0)), None);
    }

    #[test]
    fn a_huge_counter_does_not_overflow() {
        let rate = rate(&sample(0, 0, 0), &sample(1, u64::MAX, 0)).unwrap();
        assert_eq!(rate.cpu_nanocores, u64::MAX);
    }

    #[test]
    fn the_node_has_a_rate_from_its_second_sample_on() {
        let mut rates = UsageRates::default();
        rates.record_node(sample(0, 0, 100));
        assert_eq!(rates.node(), None);
        rates.record_node(sample(1, SECOND as u64 / 4, 200));
        assert_eq!(rates.node().unwrap().cpu_nanocores, 250_000_000);
        // A repeated reading changes nothing.
        rates.record_node(sample(1, SECOND as u64 / 4, 200));
        assert_eq!(rates.node().unwrap().cpu_nanocores, 250_000_000);
        rates.record_node(sample(11, SECOND as u64 / 4 + 10 * SECOND as u64, 300));
        let latest = rates.node().unwrap();
        assert_eq!(latest.cpu_nanocores, 1_000_000_000);
        assert_eq!(latest.memory_bytes, 300);
    }

    #[test]
    fn containers_get_rates_grouped_by_pod_and_vanished_ones_are_forgotten() {
        let mut rates = UsageRates::default();
        let first = vec![
            container("a", "web", 0, 0),
            container("a", "sidecar", 0, 0),
            container("b", "db", 0, 0),
        ];
        assert_eq!(rates.record_containers(first), 3);
        assert!(rates.pods().is_empty(), "one sample gives no rate");
        let second = vec![
            container("a", "web", 10, 10 * SECOND as u64),
            container("a", "sidecar", 10, SECOND as u64),
            container("b", "db", 10, 0),
        ];
        assert_eq!(rates.record_containers(second), 0);
        let pods = rates.pods();
        assert_eq!(pods.len(), 2);
        assert_eq!(pods[0].uid, "a");
        assert_eq!(pods[0].name, "pod-a");
        let names: Vec<&str> = pods[0].containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["sidecar", "web"]);
        assert_eq!(pods[0].containers[0].rate.cpu_nanocores, 100_000_000);
        assert_eq!(pods[0].containers[1].rate.cpu_nanocores, 1_000_000_000);
        assert_eq!(pods[1].containers[0].rate.cpu_nanocores, 0);

        // Pod b is gone: forgotten, and a later pod under a new uid starts over.
        rates.record_containers(vec![
            container("a", "web", 20, 20 * SECOND as u64),
            container("a", "sidecar", 20, 2 * SECOND as u64),
        ]);
        assert_eq!(rates.containers.len(), 2);
        assert_eq!(rates.pods().len(), 1);
    }

    #[test]
    fn a_pod_with_a_container_lacking_a_rate_is_left_out() {
        let mut rates = UsageRates::default();
        rates.record_containers(vec![container("a", "web", 0, 0)]);
        let new = rates.record_containers(vec![
            container("a", "web", 10, SECOND as u64),
            container("a", "late", 10, 0),
        ]);
        assert_eq!(new, 1);
        assert!(rates.pods().is_empty());
    }

    #[test]
    fn an_exited_container_without_stats_does_not_hide_its_running_successor() {
        let mut rates = UsageRates::default();
        rates.record_containers(vec![container("a", "web", 0, 0)]);
        let exited = container("a", "web", 0, 0);
        let exited = ContainerUsage {
            timestamp_nanoseconds: 0,
            ..exited
        };
        rates.record_containers(vec![
            exited.clone(),
            container("a", "web", 10, SECOND as u64),
        ]);
        assert_eq!(
            rates.pods()[0].containers[0].rate.cpu_nanocores,
            100_000_000
        );
        // Only the exited one left: nothing to follow.
        rates.record_containers(vec![exited]);
        assert!(rates.pods().is_empty());
    }

    #[test]
    fn a_restarted_container_has_no_rate_until_its_next_sample() {
        let mut rates = UsageRates::default();
        rates.record_containers(vec![container("a", "web", 0, 0)]);
        rates.record_containers(vec![container("a", "web", 10, 50 * SECOND as u64)]);
        rates.record_containers(vec![container("a", "web", 20, SECOND as u64)]);
        assert!(rates.pods().is_empty());
        rates.record_containers(vec![container("a", "web", 30, 2 * SECOND as u64)]);
        assert_eq!(
            rates.pods()[0].containers[0].rate.cpu_nanocores,
            100_000_000
        );
    }

    #[test]
    fn tracking_is_bounded() {
        let mut rates = UsageRates::default();
        let many: Vec<ContainerUsage> = (0..MAX_CONTAINERS + 10)
            .map(|i| container(&i.to_string(), "c", 1, 0))
            .collect();
        assert_eq!(rates.record_containers(many), MAX_CONTAINERS);
        assert_eq!(rates.containers.len(), MAX_CONTAINERS);
        rates.forget_containers();
        assert!(rates.containers.is_empty());
    }
}
