//! Unit tests of the Job controller's decisions, driven through an in-memory namespace where a
//! simulated kubelet runs and finishes the pods.

mod completions;
mod failure_policy;
mod failures;
mod indexed;
mod lifecycle;
mod world;
