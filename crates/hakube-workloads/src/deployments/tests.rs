//! Unit tests of the Deployment controller's decisions, most driven through an in-memory
//! cluster where both controllers run round after round.

mod claims;
mod conditions;
mod creation;
mod recreate;
mod revisions;
mod rolling;
mod scaling;
mod world;
