//! What the workload controllers and the scheduler decide, as pure functions over typed
//! Kubernetes objects (k8s-openapi through hakube-kinds): each takes what the cluster looks
//! like and returns the changes to make. Reading the store, writing through the API's write
//! path and the timing of rounds live in hakube-apiserver's controllers; keeping the decisions
//! free of I/O lets unit tests and benchmarks drive them directly.

pub mod controller_refs;
pub mod controller_revisions;
pub mod cron_jobs;
pub mod daemon_sets;
pub mod deployments;
pub mod jobs;
pub mod label_selectors;
pub mod pod_states;
pub mod replica_sets;
pub mod scheduler;
pub mod stateful_sets;
#[cfg(test)]
mod test_objects;
