//! Pods made from a Job's template, as upstream's job controller makes them: the template's
//! labels (with the Job's identity labels, which upstream's API server adds to the template),
//! annotations and spec, a generated name prefixed by the Job's name, and the Job as
//! controller. An Indexed Job's pod also carries its completion index (annotation, label,
//! JOB_COMPLETION_INDEX in every container) and the hostname "<job>-<index>". Upstream's
//! tracking finalizer is not added: hakube counts finished pods from the pods themselves.

use hakube_kinds::k8s_openapi::api::batch::v1::Job;
use hakube_kinds::k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::indexes::COMPLETION_INDEX;
use crate::controller_refs;

pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";
const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// Upstream's names.MaxGeneratedNameLength: the API server appends five random characters.
const MAX_GENERATED_NAME_LENGTH: usize = 58;

/// One pod per entry: `None` for a NonIndexed Job, the completion index for an Indexed one.
pub fn pods_to_create(job: &Job, indexes: &[Option<u32>]) -> Vec<Pod> {
    indexes.iter().map(|index| pod_for(job, *index)).collect()
}

fn pod_for(job: &Job, index: Option<u32>) -> Pod {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let template = job.spec.as_ref().map(|spec| &spec.template);
    let template_metadata = template.and_then(|template| template.metadata.clone());
    let template_metadata = template_metadata.unwrap_or_default();
    let mut labels = template_metadata.labels.unwrap_or_default();
    for (key, value) in [
        (CONTROLLER_UID_LABEL, uid),
        (JOB_NAME_LABEL, name),
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ] {
        labels
            .entry(key.to_string())
            .or_insert_with(|| value.to_string());
    }
    let mut annotations = template_metadata.annotations;
    let mut spec = template.and_then(|template| template.spec.clone());
    let mut generate_name = format!("{name}-");
    if let Some(index) = index {
        labels.insert(COMPLETION_INDEX.to_string(), index.to_string());
        annotations
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_string(), index.to_string());
        generate_name = generate_name_with_index(name, index);
        if let Some(spec) = spec.as_mut() {
            spec.hostname = Some(format!("{name}-{index}"));
            let containers = spec.init_containers.iter_mut().flatten();
            containers
                .chain(spec.containers.iter_mut())
                .for_each(add_completion_index_env);
        }
    }
    let owner = controller_refs::controller_reference("batch/v1", "Job", &job.metadata);
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations,
            finalizers: template_metadata.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// "<job>-<index>-", the Job's name cut so the whole fits a generated name.
fn generate_name_with_index(name: &str, index: u32) -> String {
    let suffix = format!("-{index}-");
    let room = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len());
    let cut = name
        .char_indices()
        .map(|(position, _)| position)
        .chain([name.len()])
        .take_while(|position| *position <= room)
        .last()
        .unwrap_or(0);
    format!("{}{suffix}", &name[..cut])
}

fn add_completion_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env
        .iter()
        .any(|variable| variable.name == COMPLETION_INDEX_ENV)
    {
        return;
    }
    env.push(EnvVar {
        name: COMPLETION_INDEX_ENV.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
            }),
            ..EnvVarSource::default()
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_to_leave_room_for_the_index() {
        assert_eq!(generate_name_with_index("pi", 3), "pi-3-");
        let long = "a".repeat(70);
        let name = generate_name_with_index(&long, 12);
        assert_eq!(name.len(), MAX_GENERATED_NAME_LENGTH);
        assert!(name.ends_with("-12-"));
    }
}
