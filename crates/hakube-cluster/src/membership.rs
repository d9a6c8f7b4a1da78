//! Membership changes, which only the leader may make: admitting a joined node, removing a
//! node, handing a stopping voter's place to a standby, and applying the role manager's
//! decisions. A non-leader forwards the request to the leader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use openraft::ChangeMembers;
use serde::Serialize;
use serde::de::DeserializeOwned;

use hakube_store::{Member, NodeId};

use crate::admin_api::DatastoreRole;
use crate::node::Node;
use crate::peer_server::{ADMIT_PATH, HANDOVER_PATH, REMOVE_PATH};
use crate::registry::{self, NodeRecord};
use crate::roles::{Candidate, RoleAction, RoleInputs};
use crate::rpc::{AdmitRequest, AdmitResponse, HandoverRequest, RemoveMemberRequest};

const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `path` on the leader: returns `None` when this node is the leader (the caller then acts
/// locally), or the leader's answer.
async fn forward_to_leader<Req: Serialize, Resp: DeserializeOwned>(
    node: &Node,
    path: &str,
    request: &Req,
) -> anyhow::Result<Option<Resp>> {
    let status = node.store.status();
    match status.leader {
        Some(leader) if leader == node.node_id() => Ok(None),
        Some(leader) => {
            let member = status
                .members
                .iter()
                .find(|(id, _)| *id == leader)
                .map(|(_, m)| m.clone())
                .ok_or_else(|| anyhow!("the leader is not in the membership"))?;
            let reply: Result<Resp, String> = node
                .client
                .call(
                    &member.peer_address,
                    path,
                    request,
                    MEMBERSHIP_TIMEOUT + Duration::from_secs(5),
                )
                .await?;
            reply.map(Some).map_err(anyhow::Error::msg)
        }
        None => {
            bail!("the datastore has no leader right now (quorum lost?); try again when it has one")
        }
    }
}

/// Attempts of a membership change interrupted by an election with no leader yet.
const ELECTION_RETRIES: usize = 25;

/// Whether a refusal means "no leader right now" (an election is running): worth a retry.
fn awaiting_leader(error: &impl std::fmt::Display) -> bool {
    error
        .to_string()
        .contains("has to forward request to: None")
}

async fn change(
    node: &Node,
    change: ChangeMembers<NodeId, Member>,
    retain: bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + MEMBERSHIP_TIMEOUT;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = tokio::time::timeout_at(
            deadline,
            node.store.raft().change_membership(change.clone(), retain),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "membership change did not commit within {} s",
                MEMBERSHIP_TIMEOUT.as_secs()
            )
        })?;
        match outcome {
            Ok(_) => return Ok(()),
            // An election is running on a loaded machine: this node may lead again.
            Err(error) if awaiting_leader(&error) && attempt < ELECTION_RETRIES => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(anyhow!("membership change refused: {error}")),
        }
    }
}

async fn add_learner(
    node: &Node,
    id: NodeId,
    member: Member,
    blocking: bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + MEMBERSHIP_TIMEOUT;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = tokio::time::timeout_at(
            deadline,
            node.store.raft().add_learner(id, member.clone(), blocking),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "the new member did not catch up within {} s",
                MEMBERSHIP_TIMEOUT.as_secs()
            )
        })?;
        match outcome {
            Ok(_) => return Ok(()),
            Err(error) if awaiting_leader(&error) && attempt < ELECTION_RETRIES => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(anyhow!("adding the member refused: {error}")),
        }
    }
}

fn role_of(node: &Node, id: NodeId) -> DatastoreRole {
    let status = node.store.status();
    if status.voters.contains(&id) {
        DatastoreRole::Voter
    } else if status.learners.contains(&id) {
        DatastoreRole::Standby
    } else {
        DatastoreRole::Spare
    }
}

pub fn role_name(role: DatastoreRole) -> String {
    match role {
        DatastoreRole::Voter => "voter",
        DatastoreRole::Standby => "standby",
        DatastoreRole::Spare => "spare",
        DatastoreRole::None => "none",
    }
    .into()
}

/// Phase 2 of a join: the new node (already certified) becomes a learner, gets its record, and
/// is promoted at once when voters are missing. Rolled back when it cannot catch up.
pub async fn admit(node: &Node, request: AdmitRequest) -> anyhow::Result<AdmitResponse> {
    if let Some(reply) = forward_to_leader(node, ADMIT_PATH, &request).await? {
        return Ok(reply);
    }
    if crate::restore::seal_pending(node) {
        bail!(
            "this cluster was just restored from a backup and is still sealing it into a snapshot: retry in a few seconds"
        );
    }
    let record = NodeRecord {
        name: request.member.name.clone(),
        node_id: request.node_id,
        address: request
            .member
            .peer_address
            .rsplit_once(':')
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_default(),
        peer_address: request.member.peer_address.clone(),
        control_plane: !request.worker,
        failure_domain: request.failure_domain,
        version: crate::node::VERSION.to_string(),
    };
    if request.worker {
        registry::put_node(&node.store, &record).await?;
        return Ok(AdmitResponse {
            role: role_name(DatastoreRole::None),
        });
    }
    if let Err(error) = add_learner(node, request.node_id, request.member.clone(), true).await {
        // No ghost member: take the half-added learner out again.
        let _ = change(
            node,
            ChangeMembers::RemoveNodes(BTreeSet::from([request.node_id])),
            false,
        )
        .await;
        return Err(error.context(format!("admitting {}", request.member.name)));
    }
    registry::put_node(&node.store, &record)
        .await
        .context("recording the new node")?;
    let status = node.store.status();
    if status.voters.len() < node.config.voters {
        change(
            node,
            ChangeMembers::AddVoterIds(BTreeSet::from([request.node_id])),
            false,
        )
        .await?;
    } else if status.learners.len() > node.config.standbys {
        change(
            node,
            ChangeMembers::RemoveNodes(BTreeSet::from([request.node_id])),
            false,
        )
        .await?;
    }
    Ok(AdmitResponse {
        role: role_name(role_of(node, request.node_id)),
    })
}

/// Takes a node out of the cluster: its datastore membership and its record. Refuses while the
/// node is reachable and still a member unless forced, and never removes the last voter.
pub async fn remove(node: &Node, name: &str, force: bool) -> anyhow::Result<String> {
    let request = RemoveMemberRequest {
        name: name.to_string(),
        force,
    };
    let records = registry::list_nodes(&node.store).await?;
    let record = records
        .iter()
        .find(|r| r.name == name || r.address == name)
        .cloned()
        .ok_or_else(|| {
            anyhow!("no node named or addressed {name:?} in this cluster (see: hakube status)")
        })?;
    let status = node.store.status();
    let is_member =
        status.voters.contains(&record.node_id) || status.learners.contains(&record.node_id);
    if is_member
        && !force
        && node.health.is_reachable(record.node_id)
        && record.node_id != node.node_id()
    {
        bail!(
            "node {} is reachable and still a member: run 'hakube leave' on it, or use --force",
            record.name
        );
    }
    if status.voters.len() == 1 && status.voters.contains(&record.node_id) {
        bail!(
            "node {} is the last datastore voter and cannot be removed",
            record.name
        );
    }
    if record.node_id == node.node_id() && node.is_leader() {
        transfer_leadership(node).await?;
    }
    if let Some(reply) = forward_to_leader::<_, String>(node, REMOVE_PATH, &request).await? {
        return Ok(reply);
    }
    if status.voters.contains(&record.node_id) {
        // Keep the voter count: promote a standby first when there is one.
        let inputs = role_inputs(node).await?;
        let others = inputs
            .standbys
            .iter()
            .copied()
            .filter(|id| node.health.is_reachable(*id))
            .min();
        if let Some(standby) = others {
            change(
                node,
                ChangeMembers::AddVoterIds(BTreeSet::from([standby])),
                false,
            )
            .await?;
        }
    }
    let ids = BTreeSet::from([record.node_id]);
    if status.voters.contains(&record.node_id) {
        change(node, ChangeMembers::RemoveVoters(ids), false).await?;
    } else if is_member {
        change(node, ChangeMembers::RemoveNodes(ids), false).await?;
    }
    registry::delete_node(&node.store, &record.name).await?;
    // Its Node and Lease go too, so `kubectl get nodes` keeps no ghost.
    hakube_apiserver::nodes::forget(&node.store, &record.name).await?;
    node.health.forget(record.node_id);
    Ok(format!("Removed node {} from the cluster.", record.name))
}

/// Whether removing `target` keeps a quorum: the voters left (plus a reachable standby the
/// removal promotes) must have a reachable majority. `Err` says why not.
pub fn removal_keeps_quorum(node: &Node, target: NodeId) -> Result<(), String> {
    let status = node.store.status();
    if !status.voters.contains(&target) {
        return Ok(());
    }
    let reachable = |id: &NodeId| *id == node.node_id() || node.health.is_reachable(*id);
    let reachable_others = status
        .voters
        .iter()
        .filter(|v| **v != target && reachable(v))
        .count();
    let promoted = usize::from(status.learners.iter().any(reachable));
    let voters_after = status.voters.len() - 1 + promoted;
    let needed = voters_after / 2 + 1;
    if voters_after == 0 || reachable_others + promoted < needed {
        return Err(format!(
            "removing its datastore vote would lose quorum ({} of {voters_after} remaining voters reachable, {needed} needed)",
            reachable_others + promoted
        ));
    }
    Ok(())
}

/// A voter that stops gracefully gives its vote to a reachable standby, and stays as a standby.
pub async fn handover(node: &Node, from: NodeId) -> anyhow::Result<String> {
    if let Some(reply) =
        forward_to_leader::<_, String>(node, HANDOVER_PATH, &HandoverRequest { node_id: from })
            .await?
    {
        return Ok(reply);
    }
    let status = node.store.status();
    if !status.voters.contains(&from) {
        return Ok("not a voter: nothing to hand over".into());
    }
    let standby = status
        .learners
        .iter()
        .copied()
        .filter(|id| node.health.is_reachable(*id))
        .min();
    let Some(standby) = standby else {
        return Ok("no standby to hand the vote to".into());
    };
    change(
        node,
        ChangeMembers::AddVoterIds(BTreeSet::from([standby])),
        false,
    )
    .await?;
    change(
        node,
        ChangeMembers::RemoveVoters(BTreeSet::from([from])),
        true,
    )
    .await?;
    Ok(format!(
        "handed the datastore vote over to node id {standby}"
    ))
}

/// Moves leadership to the most suitable other reachable voter and waits for it.
pub async fn transfer_leadership(node: &Node) -> anyhow::Result<()> {
    let status = node.store.status();
    let target = status
        .voters
        .iter()
        .copied()
        .filter(|&id| id != node.node_id() && node.health.is_reachable(id))
        .min();
    let Some(target) = target else {
        return Ok(());
    };
    node.store
        .raft()
        .trigger()
        .transfer_leader(target)
        .await
        .map_err(|e| anyhow!("leadership transfer: {e}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let leader = node.store.status().leader;
        if leader.is_some() && leader != Some(node.node_id()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("leadership did not move within 5 s")
}

/// The role manager's view of the cluster.
pub async fn role_inputs(node: &Node) -> anyhow::Result<RoleInputs> {
    let status = node.store.status();
    let records = registry::list_nodes(&node.store).await?;
    let members: BTreeMap<NodeId, Member> = status.members.iter().cloned().collect();
    let nodes = records
        .iter()
        .filter(|r| r.control_plane)
        .map(|r| Candidate {
            id: r.node_id,
            member: members.get(&r.node_id).cloned().unwrap_or(Member {
                name: r.name.clone(),
                peer_address: r.peer_address.clone(),
            }),
            failure_domain: r.failure_domain,
            reachable: r.node_id == node.node_id() || node.health.is_reachable(r.node_id),
            unreachable_for: if r.node_id == node.node_id() {
                Duration::ZERO
            } else {
                node.health.unreachable_for(r.node_id)
            },
        })
        .collect();
    Ok(RoleInputs {
        leader: node.node_id(),
        voters: status.voters.iter().copied().collect(),
        standbys: status.learners.iter().copied().collect(),
        nodes,
        target_voters: node.config.voters,
        target_standbys: node.config.standbys,
        voter_replacement_delay: Duration::from_secs(node.config.voter_replacement_delay_seconds),
    })
}

pub async fn apply_role_action(node: &Node, action: &RoleAction) -> anyhow::Result<()> {
    match action {
        RoleAction::Promote(id) => {
            change(
                node,
                ChangeMembers::AddVoterIds(BTreeSet::from([*id])),
                false,
            )
            .await
        }
        RoleAction::ReplaceVoter { dead, standby } => {
            change(
                node,
                ChangeMembers::AddVoterIds(BTreeSet::from([*standby])),
                false,
            )
            .await?;
            change(
                node,
                ChangeMembers::RemoveVoters(BTreeSet::from([*dead])),
                false,
            )
            .await
        }
        RoleAction::AddStandby(id, member) => add_learner(node, *id, member.clone(), false).await,
        RoleAction::RemoveStandby(id) => {
            change(
                node,
                ChangeMembers::RemoveNodes(BTreeSet::from([*id])),
                false,
            )
            .await
        }
    }
}
