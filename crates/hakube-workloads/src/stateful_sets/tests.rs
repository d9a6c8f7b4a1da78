//! Unit tests of the StatefulSet controller's decisions, most driven through an in-memory
//! namespace where the controller and a kubelet take turns.

mod claims;
mod ordering;
mod pods;
mod updates;
mod world;
