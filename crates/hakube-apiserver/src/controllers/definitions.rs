//! A deleted CustomResourceDefinition takes its custom objects with it: while it carries the
//! cleanup finalizer, its objects are deleted; then the finalizer is released and it goes.

use std::sync::Arc;

use super::{Action, Stored, finalizers, is_deleting, key_parts, release};
use crate::crds::CLEANUP_FINALIZER;
use crate::objects::At as _;
use crate::tree::Tree;

pub fn plan(objects: &[Arc<Stored>]) -> Vec<Action> {
    let mut actions = Vec::new();
    for definition in objects {
        let Some(("apiextensions.k8s.io", "customresourcedefinitions", None, _)) =
            key_parts(&definition.key)
        else {
            continue;
        };
        if !is_deleting(&definition.object)
            || !finalizers(&definition.object)
                .iter()
                .any(|f| f == CLEANUP_FINALIZER)
        {
            continue;
        }
        let group = definition
            .object
            .at("/spec/group")
            .and_then(Tree::as_str)
            .unwrap_or_default();
        let plural = definition
            .object
            .at("/spec/names/plural")
            .and_then(Tree::as_str)
            .unwrap_or_default();
        let instances: Vec<&Stored> = objects
            .iter()
            .map(|s| &**s)
            .filter(
                |s| matches!(key_parts(&s.key), Some((g, p, _, _)) if g == group && p == plural),
            )
            .collect();
        if instances.is_empty() {
            actions.push(release(definition, CLEANUP_FINALIZER));
        }
        actions.extend(instances.iter().map(|s| Action::Delete {
            key: s.key.clone(),
            revision: s.revision,
        }));
    }
    actions
}
