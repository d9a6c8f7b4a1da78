//! The node agent's container side: starting and supervising this node's own containerd,
//! running pods through its CRI API with CNI networking, and reporting what runs.

pub mod agent;
pub mod agent_config;
pub mod back_off;
pub mod cni;
pub mod container_start;
pub mod container_status;
pub mod container_usage;
pub mod containerd;
pub mod containerd_config;
pub mod containerd_process;
pub mod containerd_supervisor;
pub mod cri;
pub mod desired_pod;
pub mod environment;
pub mod log_rotation;
pub mod logs;
pub mod node_paths;
pub mod node_runtime;
pub mod node_usage;
pub mod observe;
pub mod oci_archive;
pub mod pause_image;
pub mod pod_cleanup;
pub mod pod_config;
pub mod pod_events;
pub mod probe_run;
pub mod probes;
pub mod resolved_pod;
pub mod runtime_view;
pub mod status;
pub mod stream_urls;
pub mod sync;
pub mod usage_rates;
pub mod volumes;
