//! Which ReplicaSets a Deployment owns: those it controls and still selects, plus orphans it
//! selects (adopted this round); those it controls but no longer selects are released.

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use crate::controller_refs::{self, Claim, Claimant};
use crate::label_selectors::selector_matches;

pub struct ClaimedReplicaSets {
    /// Owned ReplicaSets, adopted ones with the controller reference already added.
    pub owned: Vec<ReplicaSet>,
    /// The uids of the adopted ones (written back as adoptions, not updates).
    pub adopted: Vec<String>,
    /// Released ReplicaSets, with the controller reference removed.
    pub released: Vec<ReplicaSet>,
}

pub fn claim_replica_sets(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
) -> ClaimedReplicaSets {
    let uid = deployment.metadata.uid.as_deref().unwrap_or_default();
    let claimant = Claimant {
        uid,
        deleting: deployment.metadata.deletion_timestamp.is_some(),
    };
    let mut claimed = ClaimedReplicaSets {
        owned: Vec::new(),
        adopted: Vec::new(),
        released: Vec::new(),
    };
    for replica_set in replica_sets {
        let labels = replica_set.metadata.labels.as_ref();
        let selected = selector_matches(&deployment.spec.selector, labels);
        match controller_refs::claim(claimant, &replica_set.metadata, selected) {
            Claim::Owned => claimed.owned.push(replica_set.clone()),
            Claim::Adopt => {
                let mut adopted = replica_set.clone();
                let reference = controller_refs::controller_reference(
                    "apps/v1",
                    "Deployment",
                    &deployment.metadata,
                );
                controller_refs::add_owner(&mut adopted.metadata, reference);
                claimed
                    .adopted
                    .push(adopted.metadata.uid.clone().unwrap_or_default());
                claimed.owned.push(adopted);
            }
            Claim::Release => {
                let mut released = replica_set.clone();
                controller_refs::remove_owner(&mut released.metadata, uid);
                claimed.released.push(released);
            }
            Claim::Ignore => {}
        }
    }
    claimed
}
