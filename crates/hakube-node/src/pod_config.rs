//! The CRI configurations of a pod: its PodSandboxConfig (identity, hostname, log directory,
//! labels, per-pod cgroup, namespaces, hostPorts, DNS) and each container's ContainerConfig
//! (image, command, env, mounts, resources, log path), as the kubelet builds them.

use hakube_kinds::k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use hakube_kinds::quantity::{milli_value, value};
use k8s_cri::v1 as cri;
use std::collections::HashMap;
use std::path::Path;

pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// The CFS period the kubelet uses (100 ms), in microseconds.
const CPU_PERIOD_MICROSECONDS: i64 = 100_000;
/// The kubelet's floor for cpu.shares (a container without a CPU request gets it).
const MIN_CPU_SHARES: i64 = 2;

/// Node-wide inputs to the pod configurations.
#[derive(Debug, Clone, Default)]
pub struct SandboxContext {
    /// The cgroup under which every pod of this node gets `pod<uid>` (e.g. `hakube-node-a`).
    pub cgroup_root: String,
    /// Cluster DNS for `dnsPolicy: ClusterFirst`: server address and cluster domain.
    pub cluster_dns: Option<(String, String)>,
}

/// The sandbox configuration; `log_directory` is the pod directory.
pub fn sandbox_config(
    pod: &Pod,
    attempt: u32,
    pod_dir: &Path,
    context: &SandboxContext,
) -> cri::PodSandboxConfig {
    let metadata = &pod.metadata;
    let name = metadata.name.clone().unwrap_or_default();
    let namespace = metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let uid = metadata.uid.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mut labels: HashMap<String, String> = metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.insert(POD_NAME_LABEL.to_owned(), name.clone());
    labels.insert(POD_NAMESPACE_LABEL.to_owned(), namespace.clone());
    labels.insert(POD_UID_LABEL.to_owned(), uid.clone());
    let host_network = spec.host_network.unwrap_or(false);
    let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name,
            uid: uid.clone(),
            namespace: namespace.clone(),
            attempt,
        }),
        hostname: if host_network {
            String::new()
        } else {
            hostname
        },
        log_directory: pod_dir.display().to_string(),
        dns_config: dns_config(pod, &namespace, context),
        port_mappings: port_mappings(&spec.containers),
        labels,
        annotations: metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: pod_cgroup_parent(&context.cgroup_root, &uid),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(host_network)),
                ..cri::LinuxSandboxSecurityContext::default()
            }),
            ..cri::LinuxPodSandboxConfig::default()
        }),
        windows: None,
    }
}

/// The pod's cgroup, relative to each hierarchy's root: `/<root>/pod<uid>`.
pub fn pod_cgroup_parent(cgroup_root: &str, uid: &str) -> String {
    format!("/{cgroup_root}/pod{uid}")
}

/// Network and IPC shared by the pod (or the node's for hostNetwork); PID per container.
fn namespace_options(host_network: bool) -> cri::NamespaceOption {
    let network = if host_network {
        cri::NamespaceMode::Node
    } else {
        cri::NamespaceMode::Pod
    };
    cri::NamespaceOption {
        network: network as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..cri::NamespaceOption::default()
    }
}

fn port_mappings(containers: &[Container]) -> Vec<cri::PortMapping> {
    let ports = containers
        .iter()
        .flat_map(|container| container.ports.iter().flatten());
    ports
        .filter(|port| port.host_port.unwrap_or(0) > 0)
        .map(|port| cri::PortMapping {
            protocol: match port.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp as i32,
                Some("SCTP") => cri::Protocol::Sctp as i32,
                _ => cri::Protocol::Tcp as i32,
            },
            container_port: port.container_port,
            host_port: port.host_port.unwrap_or(0),
            host_ip: port.host_ip.clone().unwrap_or_default(),
        })
        .collect()
}

/// ClusterFirst DNS when the node knows the cluster DNS, plus the pod's own dnsConfig.
fn dns_config(pod: &Pod, namespace: &str, context: &SandboxContext) -> Option<cri::DnsConfig> {
    let spec = pod.spec.as_ref()?;
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let mut config = cri::DnsConfig::default();
    if let (Some((server, domain)), "ClusterFirst") = (&context.cluster_dns, policy)
        && !spec.host_network.unwrap_or(false)
    {
        config.servers.push(server.clone());
        config.searches = vec![
            format!("{namespace}.svc.{domain}"),
            format!("svc.{domain}"),
            domain.clone(),
        ];
        config.options.push("ndots:5".to_owned());
    }
    if let Some(pod_dns) = &spec.dns_config {
        config
            .servers
            .extend(pod_dns.nameservers.iter().flatten().cloned());
        config
            .searches
            .extend(pod_dns.searches.iter().flatten().cloned());
        for option in pod_dns.options.iter().flatten() {
            let name = option.name.clone().unwrap_or_default();
            config.options.push(match &option.value {
                Some(value) => format!("{name}:{value}"),
                None => name,
            });
        }
    }
    let empty =
        config.servers.is_empty() && config.searches.is_empty() && config.options.is_empty();
    (!empty || policy == "None").then_some(config)
}

/// Inputs of one container's configuration computed elsewhere (env, mounts).
#[derive(Debug, Clone, Default)]
pub struct ContainerParts {
    pub environment: Vec<cri::KeyValue>,
    pub mounts: Vec<cri::Mount>,
    pub oom_score_adj: i64,
}

/// A container's configuration for restart number `attempt`.
pub fn container_config(
    pod: &Pod,
    container: &Container,
    attempt: u32,
    parts: ContainerParts,
) -> cri::ContainerConfig {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let labels = HashMap::from([
        (CONTAINER_NAME_LABEL.to_owned(), container.name.clone()),
        (
            POD_NAME_LABEL.to_owned(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (
            POD_NAMESPACE_LABEL.to_owned(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (POD_UID_LABEL.to_owned(), uid),
    ]);
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.host_network)
        .unwrap_or(false);
    let mut resources = linux_resources(container.resources.as_ref());
    resources.oom_score_adj = parts.oom_score_adj.max(0);
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: container.name.clone(),
            attempt,
        }),
        image: Some(crate::cri::image_spec(
            container.image.as_deref().unwrap_or_default(),
        )),
        command: container.command.clone().unwrap_or_default(),
        args: container.args.clone().unwrap_or_default(),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: parts.environment,
        mounts: parts.mounts,
        labels,
        log_path: container_log_path(&container.name, attempt),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(resources),
            security_context: Some(security_context(container, host_network)),
        }),
        ..cri::ContainerConfig::default()
    }
}

/// `<container>/<restartCount>.log`, relative to the pod's log directory.
pub fn container_log_path(container_name: &str, attempt: u32) -> String {
    format!("{container_name}/{attempt}.log")
}

type QuantityMap = std::collections::BTreeMap<
    String,
    hakube_kinds::k8s_openapi::apimachinery::pkg::api::resource::Quantity,
>;

fn quantity<'a>(
    map: Option<&'a QuantityMap>,
    name: &str,
) -> Option<&'a hakube_kinds::k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    map.and_then(|map| map.get(name))
}

/// cpu.shares from the request, CFS quota from the limit, memory limit in bytes.
pub fn linux_resources(resources: Option<&ResourceRequirements>) -> cri::LinuxContainerResources {
    let requests = resources.and_then(|resources| resources.requests.as_ref());
    let limits = resources.and_then(|resources| resources.limits.as_ref());
    // Kubernetes defaults a missing request to the limit.
    let cpu_request = quantity(requests, "cpu")
        .or(quantity(limits, "cpu"))
        .and_then(milli_value);
    let cpu_limit = quantity(limits, "cpu").and_then(milli_value);
    let memory_limit = quantity(limits, "memory").and_then(value);
    cri::LinuxContainerResources {
        cpu_shares: cpu_request.map_or(MIN_CPU_SHARES, |millis| {
            (millis * 1024 / 1000).max(MIN_CPU_SHARES)
        }),
        cpu_quota: cpu_limit.map_or(0, |millis| {
            (millis * CPU_PERIOD_MICROSECONDS / 1000).max(1000)
        }),
        cpu_period: if cpu_limit.is_some() {
            CPU_PERIOD_MICROSECONDS
        } else {
            0
        },
        memory_limit_in_bytes: memory_limit.unwrap_or(0).max(0),
        ..cri::LinuxContainerResources::default()
    }
}

/// The kubelet's OOM score by QoS class, with Guaranteed at 0 instead of -997: this machine
/// kind's root cannot lower scores (no CAP_SYS_RESOURCE).
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity_bytes: i64) -> i64 {
    let qos = pod
        .status
        .as_ref()
        .and_then(|status| status.qos_class.clone())
        .unwrap_or_default();
    match qos.as_str() {
        "Guaranteed" => 0,
        "BestEffort" | ""
            if container
                .resources
                .as_ref()
                .is_none_or(|resources| resources.requests.is_none()) =>
        {
            1000
        }
        _ => {
            let requests = container
                .resources
                .as_ref()
                .and_then(|resources| resources.requests.as_ref());
            let memory_request = requests
                .and_then(|requests| requests.get("memory"))
                .and_then(value)
                .unwrap_or(0);
            let capacity = memory_capacity_bytes.max(1);
            (1000 - (1000 * memory_request) / capacity).clamp(2, 999)
        }
    }
}

fn security_context(
    container: &Container,
    host_network: bool,
) -> cri::LinuxContainerSecurityContext {
    let context = container.security_context.clone().unwrap_or_default();
    let capabilities = context.capabilities.clone().unwrap_or_default();
    cri::LinuxContainerSecurityContext {
        capabilities: Some(cri::Capability {
            add_capabilities: capabilities.add.unwrap_or_default(),
            drop_capabilities: capabilities.drop.unwrap_or_default(),
            add_ambient_capabilities: Vec::new(),
        }),
        privileged: context.privileged.unwrap_or(false),
        namespace_options: Some(namespace_options(host_network)),
        run_as_user: context.run_as_user.map(|value| cri::Int64Value { value }),
        run_as_group: context.run_as_group.map(|value| cri::Int64Value { value }),
        readonly_rootfs: context.read_only_root_filesystem.unwrap_or(false),
        no_new_privs: !context.allow_privilege_escalation.unwrap_or(true),
        ..cri::LinuxContainerSecurityContext::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{ContainerPort, PodSpec};
    use hakube_kinds::k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn pod() -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web".to_owned());
        pod.metadata.namespace = Some("team".to_owned());
        pod.metadata.uid = Some("u1".to_owned());
        pod.spec = Some(PodSpec {
            containers: vec![Container {
                name: "app".to_owned(),
                image: Some("hakube.local/busybox:1".to_owned()),
                ports: Some(vec![ContainerPort {
                    container_port: 80,
                    host_port: Some(18080),
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        });
        pod
    }

    #[test]
    fn sandbox_config_names_the_pod_and_its_cgroup() {
        let context = SandboxContext {
            cgroup_root: "hakube-a".to_owned(),
            cluster_dns: None,
        };
        let config = sandbox_config(&pod(), 2, Path::new("/n/pods/team_web_u1"), &context);
        let metadata = config.metadata.clone().unwrap_or_default();
        assert_eq!(
            (
                metadata.name.as_str(),
                metadata.namespace.as_str(),
                metadata.attempt
            ),
            ("web", "team", 2)
        );
        assert_eq!(config.hostname, "web");
        assert_eq!(config.log_directory, "/n/pods/team_web_u1");
        assert_eq!(config.labels[POD_UID_LABEL], "u1");
        assert_eq!(config.port_mappings[0].host_port, 18080);
        let linux = config.linux.unwrap_or_default();
        assert_eq!(linux.cgroup_parent, "/hakube-a/podu1");
        let namespaces = linux
            .security_context
            .and_then(|context| context.namespace_options)
            .unwrap_or_default();
        assert_eq!(namespaces.pid, cri::NamespaceMode::Container as i32);
        assert!(config.dns_config.is_none());
    }

    #[test]
    fn cluster_first_dns_uses_the_cluster_domain() {
        let context = SandboxContext {
            cgroup_root: "r".to_owned(),
            cluster_dns: Some(("10.96.0.10".to_owned(), "cluster.local".to_owned())),
        };
        let config = sandbox_config(&pod(), 0, Path::new("/p"), &context);
        let dns = config.dns_config.unwrap_or_default();
        assert_eq!(dns.servers, ["10.96.0.10"]);
        assert_eq!(dns.searches[0], "team.svc.cluster.local");
    }

    #[test]
    fn resources_become_shares_quota_and_memory_limit() {
        let requirements = ResourceRequirements {
            requests: Some([("cpu".to_owned(), Quantity("250m".to_owned()))].into()),
            limits: Some(
                [
                    ("cpu".to_owned(), Quantity("500m".to_owned())),
                    ("memory".to_owned(), Quantity("64Mi".to_owned())),
                ]
                .into(),
            ),
            ..ResourceRequirements::default()
        };
        let resources = linux_resources(Some(&requirements));
        assert_eq!(resources.cpu_shares, 256);
        assert_eq!(
            (resources.cpu_quota, resources.cpu_period),
            (50_000, 100_000)
        );
        assert_eq!(resources.memory_limit_in_bytes, 64 * 1024 * 1024);
        assert_eq!(linux_resources(None).cpu_shares, MIN_CPU_SHARES);
    }

    #[test]
    fn container_config_logs_per_restart_and_never_lowers_the_oom_score() {
        let pod = pod();
        let parts = ContainerParts {
            oom_score_adj: -997,
            ..ContainerParts::default()
        };
        let config = container_config(
            &pod,
            &pod.spec.clone().unwrap_or_default().containers[0],
            3,
            parts,
        );
        assert_eq!(config.log_path, "app/3.log");
        let resources = config
            .linux
            .and_then(|linux| linux.resources)
            .unwrap_or_default();
        assert_eq!(resources.oom_score_adj, 0);
    }
}
