//! The persistent volume claims of a StatefulSet's pods, one per volumeClaimTemplate and
//! ordinal, named "<template>-<set>-<ordinal>" so a recreated pod finds its data again. They
//! are created before the pod and never deleted here (the retention policy is ignored).

use std::collections::BTreeSet;

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, PodSpec, Volume,
};

use super::identity::pod_name;

fn templates(stateful_set: &StatefulSet) -> &[PersistentVolumeClaim] {
    let templates = stateful_set.spec.volume_claim_templates.as_deref();
    templates.unwrap_or_default()
}

fn template_name(template: &PersistentVolumeClaim) -> &str {
    template.metadata.name.as_deref().unwrap_or_default()
}

pub fn claim_name(
    stateful_set: &StatefulSet,
    template: &PersistentVolumeClaim,
    ordinal: i32,
) -> String {
    format!(
        "{}-{}",
        template_name(template),
        pod_name(stateful_set, ordinal)
    )
}

/// The claims of `ordinals` that `existing` lacks, each once.
pub fn missing(
    stateful_set: &StatefulSet,
    ordinals: &[i32],
    existing: &[PersistentVolumeClaim],
) -> Vec<PersistentVolumeClaim> {
    let mut names: BTreeSet<String> = existing
        .iter()
        .filter_map(|claim| claim.metadata.name.clone())
        .collect();
    let mut claims = Vec::new();
    for ordinal in ordinals {
        for template in templates(stateful_set) {
            let claim = claim_for(stateful_set, template, *ordinal);
            let name = claim.metadata.name.clone().unwrap_or_default();
            if names.insert(name) {
                claims.push(claim);
            }
        }
    }
    claims
}

/// A claim from its template: its name, the set's namespace, and the selector's labels
/// added to the template's (upstream's getPersistentVolumeClaims).
fn claim_for(
    stateful_set: &StatefulSet,
    template: &PersistentVolumeClaim,
    ordinal: i32,
) -> PersistentVolumeClaim {
    let mut claim = template.clone();
    claim.metadata.name = Some(claim_name(stateful_set, template, ordinal));
    claim.metadata.namespace = stateful_set.metadata.namespace.clone();
    let selector_labels = stateful_set.spec.selector.match_labels.clone();
    let labels = claim.metadata.labels.get_or_insert_with(Default::default);
    labels.extend(selector_labels.unwrap_or_default());
    claim.status = None;
    claim
}

/// Upstream's updateStorage: a volume per claim template, named after the template, in place
/// of any template volume of that name.
pub fn mount_claims(stateful_set: &StatefulSet, ordinal: i32, spec: &mut PodSpec) {
    let templates = templates(stateful_set);
    if templates.is_empty() {
        return;
    }
    let mut volumes: Vec<Volume> = templates
        .iter()
        .map(|template| Volume {
            name: template_name(template).to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(stateful_set, template, ordinal),
                read_only: Some(false),
            }),
            ..Volume::default()
        })
        .collect();
    let own = spec.volumes.take().unwrap_or_default();
    let claimed = |volume: &Volume| templates.iter().any(|t| template_name(t) == volume.name);
    volumes.extend(own.into_iter().filter(|volume| !claimed(volume)));
    spec.volumes = Some(volumes);
}
