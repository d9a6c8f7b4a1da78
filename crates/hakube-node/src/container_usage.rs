//! Resource usage of the node's containers from CRI stats, keyed by pod and container name,
//! for the metrics API (`kubectl top`). CPU is the cumulative counter with its sample time: a
//! rate needs two samples, which the caller keeps.

use crate::cri::{CriClient, CriError};
use crate::pod_config::{CONTAINER_NAME_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    pub pod_uid: String,
    pub namespace: String,
    pub pod_name: String,
    pub container_name: String,
    /// When the sample was taken, Unix nanoseconds.
    pub timestamp_nanoseconds: i64,
    pub cpu_usage_core_nanoseconds: u64,
    pub memory_working_set_bytes: u64,
}

/// One sample per container the agent runs (containers without pod labels are skipped).
pub async fn container_usage(client: &CriClient) -> Result<Vec<ContainerUsage>, CriError> {
    let stats = client.list_container_stats().await?;
    let usage = stats.into_iter().filter_map(|stats| {
        let attributes = stats.attributes?;
        let label = |key: &str| attributes.labels.get(key).cloned();
        let cpu = stats.cpu.unwrap_or_default();
        let memory = stats.memory.unwrap_or_default();
        Some(ContainerUsage {
            pod_uid: label(POD_UID_LABEL)?,
            namespace: label(POD_NAMESPACE_LABEL).unwrap_or_default(),
            pod_name: label(POD_NAME_LABEL).unwrap_or_default(),
            container_name: label(CONTAINER_NAME_LABEL)?,
            timestamp_nanoseconds: cpu.timestamp.max(memory.timestamp),
            cpu_usage_core_nanoseconds: cpu.usage_core_nano_seconds.map_or(0, |value| value.value),
            memory_working_set_bytes: memory.working_set_bytes.map_or(0, |value| value.value),
        })
    });
    Ok(usage.collect())
}
