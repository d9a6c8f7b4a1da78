//! Garbage collection by ownerReferences, like upstream's garbage collector:
//! - background: an object whose owners are all gone is deleted;
//! - foreground: an owner marked with the `foregroundDeletion` finalizer has its dependents
//!   deleted first, and goes when none is left;
//! - orphan: an owner marked with the `orphan` finalizer has its references removed from its
//!   dependents, then goes.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Action, Stored, finalizers, is_deleting, release, uid};
use crate::handlers::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::objects::At as _;
use crate::tree::Tree;

fn owner_uids(object: &Tree) -> Vec<&str> {
    object
        .at("/metadata/ownerReferences")
        .and_then(Tree::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Tree::as_str))
                .collect()
        })
        .unwrap_or_default()
}

pub fn plan(objects: &[Arc<Stored>]) -> Vec<Action> {
    let live: HashSet<&str> = objects.iter().filter_map(|s| uid(&s.object)).collect();
    let mut actions = Vec::new();
    for owner in objects.iter().filter(|s| is_deleting(&s.object)) {
        let Some(owner_uid) = uid(&owner.object) else {
            continue;
        };
        let owner_finalizers = finalizers(&owner.object);
        let dependents: Vec<&Stored> = objects
            .iter()
            .map(|s| &**s)
            .filter(|s| owner_uids(&s.object).contains(&owner_uid))
            .collect();
        if owner_finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
            if dependents.is_empty() {
                actions.push(release(owner, ORPHAN_FINALIZER));
            }
            actions.extend(dependents.iter().map(|d| drop_owner(d, owner_uid)));
        } else if owner_finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
            if dependents.is_empty() {
                actions.push(release(owner, FOREGROUND_FINALIZER));
            }
            for dependent in dependents.iter().filter(|d| !is_deleting(&d.object)) {
                actions.push(delete_or_mark(dependent));
            }
        }
    }
    // Background: every owner is gone (deleted for good, not just being deleted).
    for dependent in objects {
        let owners = owner_uids(&dependent.object);
        if owners.is_empty()
            || owners.iter().any(|o| live.contains(o))
            || is_deleting(&dependent.object)
        {
            continue;
        }
        actions.push(delete_or_mark(dependent));
    }
    actions
}

/// Deleted at once, or marked when finalizers hold it.
fn delete_or_mark(stored: &Stored) -> Action {
    if finalizers(&stored.object).is_empty() {
        return Action::Delete {
            key: stored.key.clone(),
            revision: stored.revision,
        };
    }
    let mut object = stored.object.to_value();
    let metadata = crate::objects::metadata_mut(&mut object);
    metadata.insert(
        "deletionTimestamp".into(),
        json!(crate::objects::now_rfc3339()),
    );
    metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
    Action::Update {
        key: stored.key.clone(),
        revision: stored.revision,
        object,
    }
}

fn drop_owner(stored: &Stored, owner_uid: &str) -> Action {
    let mut object = stored.object.to_value();
    let metadata = crate::objects::metadata_mut(&mut object);
    let kept: Vec<Value> = metadata
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if kept.is_empty() {
        metadata.remove("ownerReferences");
    } else {
        metadata.insert("ownerReferences".into(), json!(kept));
    }
    Action::Update {
        key: stored.key.clone(),
        revision: stored.revision,
        object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(name: &str, object: Value) -> Arc<Stored> {
        Arc::new(Stored {
            key: format!("/registry/apps/replicasets/default/{name}").into_bytes(),
            revision: 3,
            object: object.into(),
        })
    }

    fn owned_by(uid: &str) -> Value {
        json!({"metadata":{"name":"rs","uid":"rs-uid","ownerReferences":[{"uid":uid,"kind":"Deployment","name":"web","apiVersion":"apps/v1"}]}})
    }

    #[test]
    fn orphans_of_a_deleted_owner_are_collected() {
        let dependent = stored("rs", owned_by("gone"));
        assert_eq!(
            plan(std::slice::from_ref(&dependent)),
            vec![Action::Delete {
                key: dependent.key.clone(),
                revision: 3
            }]
        );
        let owner = stored("web", json!({"metadata":{"name":"web","uid":"gone"}}));
        assert!(plan(&[owner, stored("rs", owned_by("gone"))]).is_empty());
    }

    #[test]
    fn foreground_deletes_dependents_first_then_the_owner() {
        let owner = stored(
            "web",
            json!({"metadata":{"name":"web","uid":"o","deletionTimestamp":"t","finalizers":["foregroundDeletion"]}}),
        );
        let dependent = stored("rs", owned_by("o"));
        assert_eq!(
            plan(&[owner.clone(), dependent.clone()]),
            vec![Action::Delete {
                key: dependent.key.clone(),
                revision: 3
            }]
        );
        assert_eq!(
            plan(std::slice::from_ref(&owner)),
            vec![Action::Delete {
                key: owner.key.clone(),
                revision: 3
            }]
        );
    }

    #[test]
    fn orphan_deletion_keeps_dependents_without_the_reference() {
        let owner = stored(
            "web",
            json!({"metadata":{"name":"web","uid":"o","deletionTimestamp":"t","finalizers":["orphan"]}}),
        );
        let dependent = stored("rs", owned_by("o"));
        let actions = plan(&[owner, dependent]);
        assert_eq!(actions.len(), 1);
        assert!(
            matches!(&actions[0], Action::Update { object, .. } if object["metadata"].get("ownerReferences").is_none())
        );
    }
}
