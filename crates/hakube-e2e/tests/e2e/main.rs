//! The Kubernetes API through the kube-rs client against real 3-node hakube clusters, each on
//! its own loopback range: 127.21.60 and 127.21.62–127.21.66 (127.21.61 is taken by a test in
//! crates/hakube/tests/kubectl.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod apply;
mod compaction;
mod crud;
mod watch;
