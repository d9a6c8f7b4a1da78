//! Resource arithmetic: what a pod requests (upstream's `PodRequests`: containers summed,
//! init containers as a maximum, sidecars counted for the whole pod life, plus overhead) and
//! what a node offers (status.allocatable). Owns the resource-name vocabulary the fit filter
//! and the allocation scores share.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::core::v1::{Container, Node, Pod};
use hakube_kinds::k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use hakube_kinds::quantity;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// Requests a container without any are counted with for spreading scores, so that many
/// request-less pods do not pile onto one node (upstream's `DefaultMilliCPURequest` and
/// `DefaultMemoryRequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Upstream's `IsScalarResourceName`: extended resources (domain-prefixed, not
/// `requests.`), prefixed native ones, hugepages and attachable volumes; other names
/// (typos, `storage`) are not accounted by the scheduler.
fn is_scalar_resource_name(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("requests."))
}

/// A set of resource amounts: CPU in milli-units, the rest in whole units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended and other scalar resources (hugepages, device plugins), by name.
    pub scalars: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource list; `pods` is not a resource a pod requests and is left out.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut resources = Self::default();
        for (name, amount) in list {
            match name.as_str() {
                CPU => resources.milli_cpu = quantity::milli_value(amount).unwrap_or(0),
                MEMORY => resources.memory = quantity::value(amount).unwrap_or(0),
                EPHEMERAL_STORAGE => {
                    resources.ephemeral_storage = quantity::value(amount).unwrap_or(0)
                }
                other if is_scalar_resource_name(other) => {
                    resources
                        .scalars
                        .insert(other.to_owned(), quantity::value(amount).unwrap_or(0));
                }
                // `pods` and unprefixed names the scheduler does not account.
                _ => {}
            }
        }
        resources
    }

    pub fn add(&mut self, other: &Self) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        for (name, amount) in &other.scalars {
            let entry = self.scalars.entry(name.clone()).or_insert(0);
            *entry = entry.saturating_add(*amount);
        }
    }

    /// Raises each amount to `other`'s where that is larger.
    pub fn raise_to(&mut self, other: &Self) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, amount) in &other.scalars {
            let entry = self.scalars.entry(name.clone()).or_insert(0);
            *entry = (*entry).max(*amount);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalars.values().all(|amount| *amount == 0)
    }
}

/// What one pod asks of a node, computed once per pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// The requests the fit filter checks and the node accounts.
    pub requested: Resources,
    /// CPU and memory with the defaults for containers that request none, for scoring.
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
}

impl PodRequests {
    pub fn of(pod: &Pod) -> Self {
        let Some(spec) = &pod.spec else {
            return Self::default();
        };
        let init_containers = spec.init_containers.as_deref().unwrap_or_default();
        let requested = effective_requests(
            &spec.containers,
            init_containers,
            spec.overhead.as_ref(),
            container_requests,
        );
        let non_zero = effective_requests(
            &spec.containers,
            init_containers,
            spec.overhead.as_ref(),
            non_zero_container_requests,
        );
        Self {
            requested,
            non_zero_milli_cpu: non_zero.milli_cpu,
            non_zero_memory: non_zero.memory,
        }
    }
}

/// Upstream's pod request rule: regular containers and sidecars (restartable init containers)
/// run together, so they add up; each regular init container runs alone beside the sidecars
/// started before it, so the pod needs the largest of those moments; overhead comes on top.
fn effective_requests(
    containers: &[Container],
    init_containers: &[Container],
    overhead: Option<&BTreeMap<String, Quantity>>,
    requests_of: fn(&Container) -> Resources,
) -> Resources {
    let mut total = Resources::default();
    for container in containers {
        total.add(&requests_of(container));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for container in init_containers {
        let own = requests_of(container);
        let mut moment = sidecars.clone();
        moment.add(&own);
        if container.restart_policy.as_deref() == Some("Always") {
            total.add(&own);
            sidecars.add(&own);
        }
        init_peak.raise_to(&moment);
    }
    total.raise_to(&init_peak);
    if let Some(overhead) = overhead {
        total.add(&Resources::from_list(overhead));
    }
    total
}

/// A container's requests; a resource with a limit but no request requests its limit, as the
/// API's defaulting would have written it.
fn container_requests(container: &Container) -> Resources {
    let Some(requirements) = &container.resources else {
        return Resources::default();
    };
    let mut list = requirements.limits.clone().unwrap_or_default();
    if let Some(requests) = &requirements.requests {
        list.extend(
            requests
                .iter()
                .map(|(name, amount)| (name.clone(), amount.clone())),
        );
    }
    Resources::from_list(&list)
}

fn non_zero_container_requests(container: &Container) -> Resources {
    let mut resources = container_requests(container);
    let requests = container
        .resources
        .as_ref()
        .and_then(|requirements| requirements.requests.as_ref());
    let limits = container
        .resources
        .as_ref()
        .and_then(|requirements| requirements.limits.as_ref());
    let declares = |name: &str| {
        requests.is_some_and(|list| list.contains_key(name))
            || limits.is_some_and(|list| list.contains_key(name))
    };
    if !declares(CPU) {
        resources.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if !declares(MEMORY) {
        resources.memory = DEFAULT_MEMORY_REQUEST;
    }
    resources
}

/// What a node offers pods: status.allocatable, with the pod count apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocatable {
    pub resources: Resources,
    pub pods: i64,
}

impl Allocatable {
    pub fn of(node: &Node) -> Self {
        let Some(list) = node
            .status
            .as_ref()
            .and_then(|status| status.allocatable.as_ref())
        else {
            return Self::default();
        };
        let pods = list.get(PODS).and_then(quantity::value).unwrap_or(0);
        Self {
            resources: Resources::from_list(list),
            pods,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    pub(crate) fn list(entries: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        entries
            .iter()
            .map(|(name, amount)| ((*name).to_owned(), Quantity((*amount).to_owned())))
            .collect()
    }

    fn container(requests: &[(&str, &str)], restart_policy: Option<&str>) -> Container {
        Container {
            name: "c".to_owned(),
            resources: Some(ResourceRequirements {
                requests: Some(list(requests)),
                ..Default::default()
            }),
            restart_policy: restart_policy.map(str::to_owned),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init_containers: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: Some(init_containers),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn containers_add_up_and_init_containers_take_the_maximum() {
        let requests = PodRequests::of(&pod(
            vec![
                container(&[("cpu", "100m"), ("memory", "64Mi")], None),
                container(&[("cpu", "200m")], None),
            ],
            vec![container(
                &[("cpu", "1"), ("example.com/gpu", "1"), ("unprefixed", "1")],
                None,
            )],
        ));
        assert_eq!(requests.requested.milli_cpu, 1000);
        assert_eq!(requests.requested.memory, 64 * 1024 * 1024);
        assert_eq!(requests.requested.scalars.get("example.com/gpu"), Some(&1));
        assert!(!requests.requested.scalars.contains_key("unprefixed"));
        // The second container declares no memory: the scoring default stands in for it.
        assert_eq!(
            requests.non_zero_memory,
            64 * 1024 * 1024 + DEFAULT_MEMORY_REQUEST
        );
    }

    #[test]
    fn sidecars_count_for_the_whole_pod_life() {
        let requests = PodRequests::of(&pod(
            vec![container(&[("cpu", "500m")], None)],
            vec![
                container(&[("cpu", "200m")], Some("Always")),
                container(&[("cpu", "600m")], None),
            ],
        ));
        // Sidecar 200m runs beside both the init container (800m) and the main one (700m).
        assert_eq!(requests.requested.milli_cpu, 800);
    }

    #[test]
    fn overhead_is_added_and_limits_stand_in_for_requests() {
        let mut pod = pod(
            vec![Container {
                name: "c".to_owned(),
                resources: Some(ResourceRequirements {
                    limits: Some(list(&[("cpu", "250m")])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            vec![],
        );
        if let Some(spec) = pod.spec.as_mut() {
            spec.overhead = Some(list(&[("cpu", "50m")]));
        }
        assert_eq!(PodRequests::of(&pod).requested.milli_cpu, 300);
    }

    #[test]
    fn request_less_pods_score_with_defaults() {
        let requests = PodRequests::of(&pod(vec![Container::default()], vec![]));
        assert!(requests.requested.is_zero());
        assert_eq!(requests.non_zero_milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(requests.non_zero_memory, DEFAULT_MEMORY_REQUEST);
    }
}
