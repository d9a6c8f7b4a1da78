//! Deterministic simulation of hakube's replicated store under turmoil: real openraft nodes
//! with the REAL `LogStore` (on a crash-consistent simulated disk), `StateMachine` and `Store`
//! from `hakube-store`, a simulated peer transport, clients recording a history, seeded faults
//! (partitions, leader isolation, crashes and restarts, torn writes, delays), and invariant
//! checks: no acknowledged write lost, per-key linearizability, leaders per term, convergence.
//!
//! Run: `cargo test -p hakube-sim` (200 seeds by default). `HAKUBE_SIM_SEEDS=N` sets the count,
//! `HAKUBE_SIM_SEED=S` the first seed; long mode: `HAKUBE_SIM_SEEDS=10000 cargo test -p
//! hakube-sim --release -- --nocapture`. A failing seed prints the command that replays it.
//!
//! The history and the per-key checker are reusable outside turmoil: `crates/hakube/tests/chaos.rs`
//! records real processes through the etcd API with [`History::invoke_at`] and checks each key
//! with [`check_key`].

pub mod append_stream;
pub mod checker;
pub mod client;
pub mod disk;
pub mod history;
pub mod invariants;
pub mod network;
pub mod node;
pub mod rng;
pub mod scenario;

pub use checker::{Verdict, check_key};
pub use history::{History, OpKind, OpRecord, Outcome};
pub use scenario::{RunReport, SimConfig, run};
