//! Controller references: who controls an object, and the claim rules upstream's
//! ControllerRefManager applies (keep what we own and still select, release what we own but no
//! longer select, adopt orphans we select), shared by the ReplicaSet controller (pods) and the
//! Deployment controller (ReplicaSets).

use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// What a controller does with one object it looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by this controller and still selected.
    Owned,
    /// An orphan the controller selects: it takes it.
    Adopt,
    /// Controlled by this controller but no longer selected: it lets it go.
    Release,
    /// Someone else's, or nothing to do with this controller.
    Ignore,
}

/// The owner a controller claims for: its uid and whether it is being deleted (a controller
/// being deleted neither adopts nor releases, so the garbage collector sees a stable set).
#[derive(Clone, Copy, Debug)]
pub struct Claimant<'a> {
    pub uid: &'a str,
    pub deleting: bool,
}

/// The controller reference of an object, if any (at most one is allowed).
pub fn controller_of(metadata: &ObjectMeta) -> Option<&OwnerReference> {
    metadata
        .owner_references
        .iter()
        .flatten()
        .find(|reference| reference.controller == Some(true))
}

/// Whether `metadata` names the owner with `uid` as its controller.
pub fn is_controlled_by(metadata: &ObjectMeta, uid: &str) -> bool {
    controller_of(metadata).is_some_and(|reference| reference.uid == uid)
}

/// Upstream's claim decision for one object, given whether the selector matches it.
pub fn claim(claimant: Claimant<'_>, metadata: &ObjectMeta, selected: bool) -> Claim {
    if let Some(reference) = controller_of(metadata) {
        return match (reference.uid == claimant.uid, selected) {
            (false, _) => Claim::Ignore,
            (true, true) => Claim::Owned,
            (true, false) if claimant.deleting => Claim::Ignore,
            (true, false) => Claim::Release,
        };
    }
    // An object already being deleted is not worth adopting: it is going away.
    if claimant.deleting || !selected || metadata.deletion_timestamp.is_some() {
        return Claim::Ignore;
    }
    Claim::Adopt
}

/// A controller reference as controllers write it: the owner blocks the object's foreground
/// deletion, so deleting the owner with propagation waits for its objects.
pub fn controller_reference(
    api_version: &str,
    kind: &str,
    metadata: &ObjectMeta,
) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: metadata.name.clone().unwrap_or_default(),
        uid: metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Adds `reference` to the object's owners (adoption).
pub fn add_owner(metadata: &mut ObjectMeta, reference: OwnerReference) {
    metadata
        .owner_references
        .get_or_insert_with(Vec::new)
        .push(reference);
}

/// Removes the owner with `uid` (release), leaving no empty list behind.
pub fn remove_owner(metadata: &mut ObjectMeta, uid: &str) {
    if let Some(references) = metadata.owner_references.as_mut() {
        references.retain(|reference| reference.uid != uid);
        if references.is_empty() {
            metadata.owner_references = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn owned_by(uid: &str, controller: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                uid: uid.to_string(),
                controller: Some(controller),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        }
    }

    const ME: Claimant<'static> = Claimant {
        uid: "me",
        deleting: false,
    };
    const ME_DELETING: Claimant<'static> = Claimant {
        uid: "me",
        deleting: true,
    };

    #[test]
    fn owned_objects_are_kept_or_released_by_selection() {
        assert_eq!(claim(ME, &owned_by("me", true), true), Claim::Owned);
        assert_eq!(claim(ME, &owned_by("me", true), false), Claim::Release);
        assert_eq!(
            claim(ME_DELETING, &owned_by("me", true), false),
            Claim::Ignore
        );
        assert_eq!(claim(ME, &owned_by("other", true), true), Claim::Ignore);
    }

    #[test]
    fn orphans_are_adopted_only_when_selected_and_alive() {
        // A non-controller owner reference leaves the object an orphan.
        assert_eq!(claim(ME, &owned_by("other", false), true), Claim::Adopt);
        assert_eq!(claim(ME, &ObjectMeta::default(), false), Claim::Ignore);
        assert_eq!(
            claim(ME_DELETING, &ObjectMeta::default(), true),
            Claim::Ignore
        );
        let deleting = ObjectMeta {
            deletion_timestamp: Some(Time(jiff::Timestamp::UNIX_EPOCH)),
            ..ObjectMeta::default()
        };
        assert_eq!(claim(ME, &deleting, true), Claim::Ignore);
    }

    #[test]
    fn release_removes_only_that_owner() {
        let mut metadata = owned_by("me", true);
        add_owner(
            &mut metadata,
            OwnerReference {
                uid: "other".into(),
                ..OwnerReference::default()
            },
        );
        remove_owner(&mut metadata, "me");
        let remaining: Vec<_> = metadata
            .owner_references
            .iter()
            .flatten()
            .map(|r| r.uid.as_str())
            .collect();
        assert_eq!(remaining, ["other"]);
        remove_owner(&mut metadata, "other");
        assert_eq!(metadata.owner_references, None);
    }
}
