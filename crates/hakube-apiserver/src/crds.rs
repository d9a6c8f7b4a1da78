//! CustomResourceDefinitions: checking a definition (names, versions, structural schemas),
//! its status once accepted, the resource types it adds to the registry, and keeping every
//! API server's registry in step with the stored definitions (a watch), so custom resources
//! are served as soon as their definition is stored, on every node.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ApiServer;
use crate::error::Cause;
use crate::objects::At as _;
use crate::resources::{ALL_VERBS, ResourceType, Subresources};
use crate::storage;

pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

fn text<'a>(crd: &'a Value, pointer: &str) -> &'a str {
    crd.at(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings(crd: &Value, pointer: &str) -> Vec<String> {
    crd.at(pointer)
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Problems that make a definition unacceptable (422 Invalid).
pub fn check(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let group = text(crd, "/spec/group");
    let plural = text(crd, "/spec/names/plural");
    let kind = text(crd, "/spec/names/kind");
    let name = crate::objects::name(crd).unwrap_or_default();
    if group.is_empty() || !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            format!("\"{group}\""),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural"));
    }
    if kind.is_empty() {
        causes.push(Cause::required("spec.names.kind"));
    }
    if name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            format!("\"{name}\""),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if !matches!(text(crd, "/spec/scope"), "Namespaced" | "Cluster") {
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: "spec.scope".into(),
            message: format!(
                "Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
                text(crd, "/spec/scope")
            ),
        });
    }
    let versions = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::required("spec.versions"));
    }
    let storage_versions = versions
        .iter()
        .filter(|v| v.get("storage") == Some(&json!(true)))
        .count();
    if !versions.is_empty() && storage_versions != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            storage_versions,
            "must have exactly one version marked as storage version",
        ));
    }
    for (index, version) in versions.iter().enumerate() {
        let Some(schema) = version.at("/schema/openAPIV3Schema") else {
            causes.push(Cause::required(format!(
                "spec.versions[{index}].schema.openAPIV3Schema"
            )));
            continue;
        };
        for problem in crate::crd_schema::check_structural(schema) {
            causes.push(Cause {
                reason: problem.reason,
                field: format!(
                    "spec.versions[{index}].schema.openAPIV3Schema.{}",
                    problem.field
                )
                .trim_end_matches('.')
                .to_string(),
                message: problem.message,
            });
        }
    }
    causes
}

/// The status of an accepted definition.
pub fn accepted_status(crd: &Value) -> Value {
    let now = crate::objects::now_rfc3339();
    let storage = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage") == Some(&json!(true)))
        .filter_map(|v| v.get("name").cloned())
        .collect::<Vec<_>>();
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now});
    json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd.at("/spec/names").cloned().unwrap_or(json!({})),
        "storedVersions": storage,
    })
}

/// The resource types of a definition's served versions.
pub fn types(crd: &Value) -> Vec<ResourceType> {
    let versions = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kind = text(crd, "/spec/names/kind").to_string();
    versions
        .iter()
        .filter(|v| v.get("served") != Some(&json!(false)))
        .map(|version| ResourceType {
            group: text(crd, "/spec/group").to_string(),
            version: version
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            plural: text(crd, "/spec/names/plural").to_string(),
            singular: match text(crd, "/spec/names/singular") {
                "" => kind.to_lowercase(),
                singular => singular.to_string(),
            },
            kind: kind.clone(),
            namespaced: text(crd, "/spec/scope") == "Namespaced",
            short_names: strings(crd, "/spec/names/shortNames"),
            categories: strings(crd, "/spec/names/categories"),
            subresources: Subresources {
                status: version.at("/subresources/status").is_some(),
                scale: false,
            },
            extra_subresources: Vec::new(),
            verbs: ALL_VERBS.to_vec(),
            stored: true,
            custom_schema: version.at("/schema/openAPIV3Schema").cloned().map(Arc::new),
        })
        .collect()
}

fn apply(server: &ApiServer, crd: &Value) {
    let group = text(crd, "/spec/group");
    let plural = text(crd, "/spec/names/plural");
    if group.is_empty() || plural.is_empty() {
        return;
    }
    server.registry.set_custom(group, plural, types(crd));
}

fn forget(server: &ApiServer, crd: &Value) {
    server
        .registry
        .remove_custom(text(crd, "/spec/group"), text(crd, "/spec/names/plural"));
}

/// Keeps this server's registry in step with the stored definitions until shutdown.
pub async fn sync(server: Arc<ApiServer>, shutdown: tokio_util::sync::CancellationToken) {
    let start = PREFIX.as_bytes().to_vec();
    let end = storage::prefix_end(&start);
    loop {
        let listed = server
            .storage
            .range(&start, &end, storage::Freshness::Any)
            .await;
        let (items, read) = match listed {
            Ok(listed) => listed,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for kv in &items {
            if let Ok(crd) = storage::decode(kv) {
                apply(&server, &crd);
            }
        }
        let Ok(mut watch) = server
            .storage
            .store()
            .watch(&start, Some(&end), read.revision)
        else {
            continue;
        };
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                event = watch.next() => event,
            };
            let Ok(event) = event else {
                // Fell behind or the store stopped: list again.
                break;
            };
            match event.kind {
                hakube_store::EventKind::Put => {
                    if let Ok(crd) = storage::decode(&event.kv) {
                        apply(&server, &crd);
                    }
                }
                hakube_store::EventKind::Delete => {
                    if let Some(Ok(crd)) = event.previous.as_ref().map(storage::decode) {
                        forget(&server, &crd);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn crontab() -> Value {
        json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
            "metadata":{"name":"crontabs.stable.example.com"},
            "spec":{"group":"stable.example.com","scope":"Namespaced",
                "names":{"plural":"crontabs","singular":"crontab","kind":"CronTab","shortNames":["ct"]},
                "versions":[{"name":"v1","served":true,"storage":true,
                    "subresources":{"status":{}},
                    "schema":{"openAPIV3Schema":{"type":"object","properties":{
                        "spec":{"type":"object","properties":{"cronSpec":{"type":"string"},"replicas":{"type":"integer","default":1}}},
                        "status":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}]}})
    }

    #[test]
    fn a_definition_gives_its_types() {
        assert!(check(&crontab()).is_empty(), "{:?}", check(&crontab()));
        let types = types(&crontab());
        assert_eq!(types.len(), 1);
        assert_eq!(
            (
                types[0].plural.as_str(),
                types[0].kind.as_str(),
                types[0].namespaced
            ),
            ("crontabs", "CronTab", true)
        );
        assert!(types[0].subresources.status);
        assert_eq!(types[0].short_names, vec!["ct"]);
    }

    #[test]
    fn bad_definitions_are_refused() {
        let mut wrong_name = crontab();
        wrong_name["metadata"]["name"] = json!("crontabs");
        assert!(
            check(&wrong_name)
                .iter()
                .any(|c| c.field == "metadata.name")
        );
        let mut no_type = crontab();
        no_type["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["cronSpec"] = json!({});
        assert!(!check(&no_type).is_empty());
    }
}
