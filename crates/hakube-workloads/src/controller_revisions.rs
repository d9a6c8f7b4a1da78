//! ControllerRevisions of StatefulSets and DaemonSets, as upstream keeps them: one per pod
//! template the owner has had, named "<owner>-<template hash>", holding the template as the
//! strategic-merge patch `kubectl rollout undo` sends back (`{"spec":{"template":{…,
//! "$patch":"replace"}}}`), numbered in the order the templates became current. A template
//! that comes back (an undo) renumbers its old revision instead of adding one; revisions no
//! pod is made from are pruned beyond the owner's `revisionHistoryLimit` (10). Like pods,
//! revisions are claimed by selector: orphans the owner selects (left by a set deleted with
//! `--cascade=orphan`) are adopted, and owned ones it no longer selects are released.

use std::collections::BTreeSet;

use hakube_kinds::k8s_openapi::api::apps::v1::ControllerRevision;
use hakube_kinds::k8s_openapi::api::core::v1::PodTemplateSpec;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use hakube_kinds::k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::json;

use crate::controller_refs::{
    Claim, Claimant, add_owner, claim, controller_reference, remove_owner,
};
use crate::label_selectors::{selector_is_empty, selector_matches};

/// Upstream's default `revisionHistoryLimit`.
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// The label a revision (and a daemon pod) carries with the template hash.
const HASH_LABEL: &str = "controller-revision-hash";

/// The owner whose templates are kept.
pub struct Owner<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub metadata: &'a ObjectMeta,
    pub template: &'a PodTemplateSpec,
    pub selector: &'a LabelSelector,
    pub history_limit: Option<i32>,
}

/// What to write this round.
#[derive(Debug, Default, PartialEq)]
pub struct RevisionPlan {
    /// A revision for a template never seen before.
    pub create: Option<ControllerRevision>,
    /// An old revision whose template is current again, with its new number.
    pub renumber: Option<ControllerRevision>,
    /// The uids of revisions to prune.
    pub delete: Vec<String>,
    /// Orphaned revisions the owner selects, with its controller reference added.
    pub adopt: Vec<ControllerRevision>,
    /// Owned revisions it no longer selects, with its reference removed.
    pub release: Vec<ControllerRevision>,
}

impl RevisionPlan {
    /// Whether the plan asks for no write at all.
    pub fn is_empty(&self) -> bool {
        self.create.is_none()
            && self.renumber.is_none()
            && self.delete.is_empty()
            && self.adopt.is_empty()
            && self.release.is_empty()
    }
}

/// The name of the revision of `hash` ("<owner>-<hash>").
pub fn revision_name(owner: &ObjectMeta, hash: &str) -> String {
    format!("{}-{hash}", owner.name.as_deref().unwrap_or_default())
}

fn number(revision: &ControllerRevision) -> i64 {
    revision.revision.unwrap_or_default()
}

/// The revision data: the template as a strategic-merge patch replacing the owner's.
fn data(template: &PodTemplateSpec) -> RawExtension {
    let mut template = serde_json::to_value(template).unwrap_or_default();
    template["$patch"] = json!("replace");
    RawExtension(json!({"spec": {"template": template}}))
}

/// The pod template a revision holds (its data's `spec.template`), as pods of that
/// revision are made from it; `None` when the data is not a template.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.0.pointer("/spec/template")?.clone();
    if let Some(fields) = template.as_object_mut() {
        fields.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

fn new_revision(owner: &Owner<'_>, name: String, hash: &str, number: i64) -> ControllerRevision {
    let mut labels = owner
        .template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    labels.insert(HASH_LABEL.to_string(), hash.to_string());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: owner.metadata.namespace.clone(),
            labels: Some(labels),
            // Upstream copies the owner's annotations (kubectl shows the change-cause one).
            annotations: owner.metadata.annotations.clone(),
            owner_references: Some(vec![controller_reference(
                owner.api_version,
                owner.kind,
                owner.metadata,
            )]),
            ..ObjectMeta::default()
        },
        data: data(owner.template),
        revision: Some(number),
    }
}

/// The revisions to write for `owner`, whose current template hashes to `hash`. `live` names
/// the revisions pods are still made from (they are never pruned).
pub fn plan(
    owner: &Owner<'_>,
    hash: &str,
    revisions: &[ControllerRevision],
    live: &BTreeSet<String>,
) -> RevisionPlan {
    let mut plan = RevisionPlan::default();
    let claimant = Claimant {
        uid: owner.metadata.uid.as_deref().unwrap_or_default(),
        deleting: owner.metadata.deletion_timestamp.is_some(),
    };
    // An empty selector would take every orphan in the namespace: upstream refuses it.
    let selects = |revision: &ControllerRevision| {
        !selector_is_empty(owner.selector)
            && selector_matches(owner.selector, revision.metadata.labels.as_ref())
    };
    let mut owned: Vec<&ControllerRevision> = Vec::new();
    for revision in revisions {
        match claim(claimant, &revision.metadata, selects(revision)) {
            Claim::Owned => owned.push(revision),
            Claim::Adopt => {
                let mut adopted = revision.clone();
                let reference = controller_reference(owner.api_version, owner.kind, owner.metadata);
                add_owner(&mut adopted.metadata, reference);
                plan.adopt.push(adopted);
                owned.push(revision);
            }
            Claim::Release => {
                let mut released = revision.clone();
                remove_owner(&mut released.metadata, claimant.uid);
                plan.release.push(released);
            }
            Claim::Ignore => {}
        }
    }
    owned.sort_by_key(|revision| (number(revision), revision.metadata.name.clone()));
    let name = revision_name(owner.metadata, hash);
    let latest = owned.last().map_or(0, |revision| number(revision));
    let current = owned
        .iter()
        .find(|revision| revision.metadata.name.as_deref() == Some(name.as_str()));
    match current {
        Some(revision) if number(revision) == latest => {}
        Some(revision) => {
            let mut renumbered = (*revision).clone();
            renumbered.revision = Some(latest + 1);
            plan.renumber = Some(renumbered);
        }
        None => plan.create = Some(new_revision(owner, name.clone(), hash, latest + 1)),
    }
    let limit = owner.history_limit.unwrap_or(DEFAULT_HISTORY_LIMIT).max(0) as usize;
    let history: Vec<&&ControllerRevision> = owned
        .iter()
        .filter(|revision| {
            let revision_name = revision.metadata.name.as_deref().unwrap_or_default();
            revision_name != name && !live.contains(revision_name)
        })
        .collect();
    let excess = history.len().saturating_sub(limit);
    plan.delete = history
        .iter()
        .take(excess)
        .filter_map(|revision| revision.metadata.uid.clone())
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller_refs::is_controlled_by;
    use crate::test_objects::template;

    fn owner_metadata() -> ObjectMeta {
        ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("set-uid".into()),
            annotations: Some(
                [("kubernetes.io/change-cause".to_string(), "v2".to_string())].into(),
            ),
            ..ObjectMeta::default()
        }
    }

    fn owner<'a>(metadata: &'a ObjectMeta, template: &'a PodTemplateSpec) -> Owner<'a> {
        Owner {
            api_version: "apps/v1",
            kind: "StatefulSet",
            metadata,
            template,
            selector: &WEB,
            history_limit: Some(2),
        }
    }

    static WEB: std::sync::LazyLock<LabelSelector> =
        std::sync::LazyLock::new(|| crate::test_objects::selector(&[("app", "web")]));

    fn stored(revision: ControllerRevision, uid: &str) -> ControllerRevision {
        let mut revision = revision;
        revision.metadata.uid = Some(uid.into());
        revision
    }

    #[test]
    fn a_new_template_gets_the_next_revision_with_its_patch() {
        let metadata = owner_metadata();
        let first = template(&[("app", "web")], "nginx:1");
        let plan = plan(&owner(&metadata, &first), "aaa", &[], &BTreeSet::new());
        let created = plan.create.expect("a revision");
        assert_eq!(created.metadata.name.as_deref(), Some("web-aaa"));
        assert_eq!(created.revision, Some(1));
        let data = created.data.0;
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            data["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1"
        );
        let labels = created.metadata.labels.expect("labels");
        assert_eq!(labels["app"], "web");
        assert_eq!(labels[HASH_LABEL], "aaa");
        assert_eq!(
            created.metadata.annotations.expect("annotations")["kubernetes.io/change-cause"],
            "v2"
        );
    }

    #[test]
    fn a_revision_gives_back_its_template() {
        let metadata = owner_metadata();
        let first = template(&[("app", "web")], "nginx:1");
        let revision = new_revision(&owner(&metadata, &first), "web-aaa".into(), "aaa", 1);
        assert_eq!(template_of(&revision), Some(first));
        let empty = ControllerRevision::default();
        assert_eq!(template_of(&empty), None);
    }

    #[test]
    fn a_template_that_comes_back_is_renumbered_and_old_ones_are_pruned() {
        let metadata = owner_metadata();
        let first = template(&[("app", "web")], "nginx:1");
        let one = stored(
            new_revision(&owner(&metadata, &first), "web-aaa".into(), "aaa", 1),
            "u1",
        );
        let two = stored(
            new_revision(&owner(&metadata, &first), "web-bbb".into(), "bbb", 2),
            "u2",
        );
        let three = stored(
            new_revision(&owner(&metadata, &first), "web-ccc".into(), "ccc", 3),
            "u3",
        );
        let all = [one, two, three];
        // The current template is the latest revision: nothing to write.
        let unchanged = plan(&owner(&metadata, &first), "ccc", &all, &BTreeSet::new());
        assert_eq!(unchanged, RevisionPlan::default());
        // Back to the first template (an undo): renumbered 4, and with a limit of 2 the
        // oldest other revision goes unless pods are still made from it.
        let undone = plan(&owner(&metadata, &first), "aaa", &all, &BTreeSet::new());
        assert_eq!(undone.renumber.and_then(|r| r.revision), Some(4));
        assert_eq!(undone.create, None);
        assert_eq!(undone.delete, Vec::<String>::new());
        let mut limited = owner(&metadata, &first);
        limited.history_limit = Some(1);
        assert_eq!(
            plan(&limited, "ddd", &all, &BTreeSet::new()).delete,
            ["u1", "u2"]
        );
        let live = BTreeSet::from(["web-aaa".to_string()]);
        assert_eq!(plan(&limited, "ddd", &all, &live).delete, ["u2"]);
    }

    #[test]
    fn revisions_of_other_owners_are_ignored() {
        let metadata = owner_metadata();
        let first = template(&[("app", "web")], "nginx:1");
        let mut other_metadata = owner_metadata();
        other_metadata.uid = Some("other".into());
        let theirs = stored(
            new_revision(&owner(&other_metadata, &first), "web-aaa".into(), "aaa", 7),
            "u9",
        );
        let plan = plan(
            &owner(&metadata, &first),
            "aaa",
            &[theirs],
            &BTreeSet::new(),
        );
        assert_eq!(plan.create.and_then(|r| r.revision), Some(1));
    }

    #[test]
    fn orphans_the_owner_selects_are_adopted_and_unselected_ones_released() {
        let metadata = owner_metadata();
        let first = template(&[("app", "web")], "nginx:1");
        let mut orphan = stored(
            new_revision(&owner(&metadata, &first), "web-aaa".into(), "aaa", 3),
            "u1",
        );
        orphan.metadata.owner_references = None;
        let other = template(&[("app", "db")], "nginx:1");
        let unselected = stored(
            new_revision(&owner(&metadata, &other), "web-bbb".into(), "bbb", 4),
            "u2",
        );
        let plan = plan(
            &owner(&metadata, &first),
            "aaa",
            &[orphan, unselected],
            &BTreeSet::new(),
        );
        // The orphan is the current template's revision: adopted, not created again.
        assert_eq!(plan.create, None);
        let adopted = plan.adopt.first().expect("an adoption");
        assert_eq!(adopted.metadata.uid.as_deref(), Some("u1"));
        assert!(is_controlled_by(&adopted.metadata, "set-uid"));
        let released = plan.release.first().expect("a release");
        assert_eq!(released.metadata.uid.as_deref(), Some("u2"));
        assert_eq!(released.metadata.owner_references, None);
    }
}
