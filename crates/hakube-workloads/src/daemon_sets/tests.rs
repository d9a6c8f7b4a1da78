//! Unit tests of the DaemonSet controller's decisions, most driven through an in-memory
//! cluster where the controller, a scheduler and a kubelet take turns.

mod nodes;
mod pods;
mod rolling;
mod status;
mod world;
