//! The role manager: on the leader, it keeps the datastore at its target shape (dqlite's
//! voters, standbys and spares). The decision is a pure function of a snapshot of the cluster
//! ([`RoleInputs`] → at most one [`RoleAction`] per round), so tests and a simulation can drive
//! it; [`run`] gathers the inputs and applies the action.
//!
//! Voters vote; standbys are Raft learners that replicate and are ready to be promoted; spares
//! are registered control-plane nodes outside the Raft membership.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hakube_store::{Member, NodeId};

use crate::node::Node;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: NodeId,
    pub member: Member,
    pub failure_domain: u64,
    pub reachable: bool,
    pub unreachable_for: Duration,
}

#[derive(Clone, Debug)]
pub struct RoleInputs {
    pub leader: NodeId,
    pub voters: BTreeSet<NodeId>,
    pub standbys: BTreeSet<NodeId>,
    /// Every registered control-plane node, members or not.
    pub nodes: Vec<Candidate>,
    pub target_voters: usize,
    pub target_standbys: usize,
    pub voter_replacement_delay: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleAction {
    /// A standby becomes a voter.
    Promote(NodeId),
    /// A voter unreachable for too long gives its place to a standby, and becomes a spare.
    ReplaceVoter { dead: NodeId, standby: NodeId },
    /// A spare starts replicating as a standby.
    AddStandby(NodeId, Member),
    /// A standby beyond the target goes back to being a spare.
    RemoveStandby(NodeId),
}

impl RoleInputs {
    fn candidate(&self, id: NodeId) -> Option<&Candidate> {
        self.nodes.iter().find(|c| c.id == id)
    }

    fn is_dead(&self, id: NodeId) -> bool {
        id != self.leader
            && self
                .candidate(id)
                .is_some_and(|c| !c.reachable && c.unreachable_for > self.voter_replacement_delay)
    }

    /// Failure domains of the voters that stay.
    fn voter_domains(&self, excluding: Option<NodeId>) -> BTreeSet<u64> {
        self.voters
            .iter()
            .filter(|&&id| Some(id) != excluding)
            .filter_map(|&id| self.candidate(id).map(|c| c.failure_domain))
            .collect()
    }

    /// The reachable node among `pool` that best spreads failure domains; lowest id breaks ties
    /// so every leader decides the same.
    fn best(
        &self,
        pool: impl Iterator<Item = NodeId>,
        excluding: Option<NodeId>,
    ) -> Option<NodeId> {
        let domains = self.voter_domains(excluding);
        pool.filter_map(|id| self.candidate(id))
            .filter(|c| c.reachable)
            .min_by_key(|c| (domains.contains(&c.failure_domain), c.id))
            .map(|c| c.id)
    }

    fn spares(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .map(|c| c.id)
            .filter(|id| !self.voters.contains(id) && !self.standbys.contains(id))
    }

    fn add_standby(&self) -> Option<RoleAction> {
        let id = self.best(self.spares(), None)?;
        let member = self.candidate(id)?.member.clone();
        Some(RoleAction::AddStandby(id, member))
    }
}

/// One step towards the target shape, or nothing when it is reached (or unreachable now).
pub fn decide(inputs: &RoleInputs) -> Option<RoleAction> {
    if let Some(&dead) = inputs.voters.iter().find(|&&id| inputs.is_dead(id)) {
        if let Some(standby) = inputs.best(inputs.standbys.iter().copied(), Some(dead)) {
            return Some(RoleAction::ReplaceVoter { dead, standby });
        }
        if let Some(action) = inputs.add_standby() {
            return Some(action);
        }
    }
    if inputs.voters.len() < inputs.target_voters {
        if let Some(standby) = inputs.best(inputs.standbys.iter().copied(), None) {
            return Some(RoleAction::Promote(standby));
        }
        if let Some(action) = inputs.add_standby() {
            return Some(action);
        }
    }
    if inputs.standbys.len() < inputs.target_standbys
        && let Some(action) = inputs.add_standby()
    {
        return Some(action);
    }
    if inputs.standbys.len() > inputs.target_standbys {
        // Drop an unreachable standby first, then the highest id.
        let drop = inputs
            .standbys
            .iter()
            .copied()
            .max_by_key(|&id| (!inputs.candidate(id).is_some_and(|c| c.reachable), id))?;
        return Some(RoleAction::RemoveStandby(drop));
    }
    None
}

/// Reconciles every `role_reconcile_interval_ms` while this node leads.
pub async fn run(node: Arc<Node>) {
    let interval = Duration::from_millis(node.config.role_reconcile_interval_ms.max(100));
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if !node.is_leader() {
            continue;
        }
        let inputs = match crate::membership::role_inputs(&node).await {
            Ok(inputs) => inputs,
            Err(error) => {
                tracing::debug!(%error, "role manager: cannot read the cluster");
                continue;
            }
        };
        if let Some(action) = decide(&inputs) {
            tracing::info!(?action, "role manager");
            if let Err(error) = crate::membership::apply_role_action(&node, &action).await {
                tracing::warn!(?action, error = %format!("{error:#}"), "role change failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: NodeId, domain: u64, reachable: bool, down_seconds: u64) -> Candidate {
        Candidate {
            id,
            member: Member {
                name: format!("node{id}"),
                peer_address: format!("127.0.0.{id}:19001"),
            },
            failure_domain: domain,
            reachable,
            unreachable_for: Duration::from_secs(down_seconds),
        }
    }

    fn inputs(voters: &[NodeId], standbys: &[NodeId], nodes: Vec<Candidate>) -> RoleInputs {
        RoleInputs {
            leader: voters[0],
            voters: voters.iter().copied().collect(),
            standbys: standbys.iter().copied().collect(),
            nodes,
            target_voters: 3,
            target_standbys: 2,
            voter_replacement_delay: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_second_node_becomes_a_voter_through_standby() {
        let nodes = vec![candidate(1, 1, true, 0), candidate(2, 1, true, 0)];
        assert_eq!(
            decide(&inputs(&[1], &[2], nodes.clone())),
            Some(RoleAction::Promote(2))
        );
        let spare = decide(&inputs(&[1], &[], nodes));
        assert!(matches!(spare, Some(RoleAction::AddStandby(2, _))));
    }

    #[test]
    fn target_shape_is_stable() {
        let nodes = (1..=5).map(|i| candidate(i, 1, true, 0)).collect();
        assert_eq!(decide(&inputs(&[1, 2, 3], &[4, 5], nodes)), None);
    }

    #[test]
    fn sixth_node_stays_spare_and_extra_standby_is_dropped() {
        let nodes: Vec<_> = (1..=6).map(|i| candidate(i, 1, true, 0)).collect();
        assert_eq!(decide(&inputs(&[1, 2, 3], &[4, 5], nodes.clone())), None);
        assert_eq!(
            decide(&inputs(&[1, 2, 3], &[4, 5, 6], nodes)),
            Some(RoleAction::RemoveStandby(6))
        );
    }

    #[test]
    fn dead_voter_is_replaced_only_after_the_delay_preferring_a_new_failure_domain() {
        let mut nodes = vec![
            candidate(1, 1, true, 0),
            candidate(2, 2, true, 0),
            candidate(3, 3, false, 10),
            candidate(4, 2, true, 0),
            candidate(5, 3, true, 0),
        ];
        assert_eq!(decide(&inputs(&[1, 2, 3], &[4, 5], nodes.clone())), None);
        nodes[2] = candidate(3, 3, false, 31);
        assert_eq!(
            decide(&inputs(&[1, 2, 3], &[4, 5], nodes)),
            Some(RoleAction::ReplaceVoter {
                dead: 3,
                standby: 5
            })
        );
    }

    #[test]
    fn unreachable_standby_is_never_promoted() {
        let nodes = vec![candidate(1, 1, true, 0), candidate(2, 1, false, 100)];
        assert_eq!(decide(&inputs(&[1], &[2], nodes)), None);
    }
}
