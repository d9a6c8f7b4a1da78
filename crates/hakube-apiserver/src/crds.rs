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
use crate::resources::{
    ALL_VERBS, CustomVersion, PrinterColumn, ResourceType, ScalePaths, Subresources,
};
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
    if !versions.is_empty()
        && !versions
            .iter()
            .any(|v| v.get("served") != Some(&json!(false)))
    {
        causes.push(Cause::invalid(
            "spec.versions",
            "[…]",
            "must have at least one version served",
        ));
    }
    let names: Vec<&str> = versions.iter().map(|v| text(v, "/name")).collect();
    if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
        causes.push(Cause::invalid(
            "spec.versions",
            format!("{names:?}"),
            "must contain unique version names",
        ));
    }
    for (index, name) in names.iter().enumerate() {
        causes.extend(crate::objects::check_name(
            name,
            crate::objects::NameRule::Rfc1035Label,
            &format!("spec.versions[{index}].name"),
        ));
    }
    let served = versions
        .iter()
        .filter(|v| v.get("served") != Some(&json!(false)))
        .count();
    match text(crd, "/spec/conversion/strategy") {
        "" | "None" => {}
        // With one served version nothing is ever converted.
        _ if served <= 1 => {}
        other => causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: "spec.conversion.strategy".into(),
            message: format!(
                "Unsupported value: \"{other}\": supported values: \"None\" (hakube does not call conversion webhooks; versions differ only in apiVersion)"
            ),
        }),
    }
    for (index, version) in versions.iter().enumerate() {
        check_printer_columns(version, &format!("spec.versions[{index}]"), &mut causes);
        check_scale(version, &format!("spec.versions[{index}]"), &mut causes);
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

/// Problems with `status.storedVersions` (every one still in `spec.versions`; after a status
/// write, also at least one and the storage version among them), as upstream checks them.
pub fn check_stored_versions(crd: &Value, status_write: bool) -> Vec<Cause> {
    let stored = strings(crd, "/status/storedVersions");
    let names: Vec<&str> = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| text(v, "/name"))
        .collect();
    let mut causes: Vec<Cause> = stored
        .iter()
        .enumerate()
        .filter(|(_, version)| !names.contains(&version.as_str()))
        .map(|(index, version)| {
            Cause::invalid(
                format!("status.storedVersions[{index}]"),
                format!("\"{version}\""),
                "must appear in spec.versions",
            )
        })
        .collect();
    let storage = storage_version(crd);
    if status_write && stored.is_empty() {
        causes.push(Cause::invalid(
            "status.storedVersions",
            "[]",
            "must have at least one stored version",
        ));
    } else if status_write && !stored.iter().any(|v| v == storage) {
        causes.push(Cause::invalid(
            "status.storedVersions",
            format!("{stored:?}"),
            &format!("must have the storage version {storage}"),
        ));
    }
    causes
}

/// The status of an accepted definition: `storedVersions` keeps every version objects may
/// still be stored as (those of `previous`, the status before this write) and adds the
/// current storage version.
pub fn accepted_status(crd: &Value, previous: Option<&Value>) -> Value {
    let now = crate::objects::now_rfc3339();
    let mut stored = previous
        .map(|status| strings(status, "/storedVersions"))
        .unwrap_or_default();
    let storage = storage_version(crd);
    if !storage.is_empty() && !stored.iter().any(|v| v == storage) {
        stored.push(storage.to_string());
    }
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now});
    json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd.at("/spec/names").cloned().unwrap_or(json!({})),
        "storedVersions": stored,
    })
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|column| PrinterColumn {
            name: text(column, "/name").to_string(),
            column_type: text(column, "/type").to_string(),
            format: text(column, "/format").to_string(),
            description: text(column, "/description").to_string(),
            priority: column
                .get("priority")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            json_path: text(column, "/jsonPath").to_string(),
        })
        .collect()
}

/// Upstream's checks of one version's `additionalPrinterColumns`.
fn check_printer_columns(version: &Value, path: &str, causes: &mut Vec<Cause>) {
    let not_supported = |field: String, value: &str, supported: &str| Cause {
        reason: "FieldValueNotSupported",
        field,
        message: format!("Unsupported value: \"{value}\": supported values: {supported}"),
    };
    for (index, column) in printer_columns(version).iter().enumerate() {
        let at = format!("{path}.additionalPrinterColumns[{index}]");
        if column.name.is_empty() {
            causes.push(Cause::required(format!("{at}.name")));
        }
        if !matches!(
            column.column_type.as_str(),
            "boolean" | "date" | "integer" | "number" | "string"
        ) {
            causes.push(not_supported(
                format!("{at}.type"),
                &column.column_type,
                "\"boolean\", \"date\", \"integer\", \"number\", \"string\"",
            ));
        }
        if !matches!(
            column.format.as_str(),
            "" | "int32"
                | "int64"
                | "float"
                | "double"
                | "byte"
                | "date"
                | "date-time"
                | "password"
        ) {
            causes.push(not_supported(
                format!("{at}.format"),
                &column.format,
                "\"int32\", \"int64\", \"float\", \"double\", \"byte\", \"date\", \"date-time\", \"password\"",
            ));
        }
        if column.json_path.is_empty() {
            causes.push(Cause::required(format!("{at}.jsonPath")));
        } else if let Err(why) = crate::json_path::JsonPath::parse(&column.json_path) {
            causes.push(Cause::invalid(
                format!("{at}.jsonPath"),
                format!("\"{}\"", column.json_path),
                &format!("must be a simple json path ({why})"),
            ));
        }
    }
}

/// A definition's `.spec.replicas` as the JSON pointer `/spec/replicas` (None unless it is
/// a dotted path under `under`, as upstream requires).
fn simple_path(path: &str, under: &[&str]) -> Option<String> {
    let valid = under.iter().any(|prefix| path.starts_with(prefix))
        && path[1..]
            .split('.')
            .all(|part| !part.is_empty() && !part.contains(['[', ']', '*', '/', '~']));
    valid.then(|| path.replace('.', "/"))
}

fn scale_paths(version: &Value) -> Option<ScalePaths> {
    let scale = version.at("/subresources/scale")?;
    Some(ScalePaths {
        spec_replicas: simple_path(text(scale, "/specReplicasPath"), &[".spec."])?,
        status_replicas: simple_path(text(scale, "/statusReplicasPath"), &[".status."])?,
        label_selector: simple_path(text(scale, "/labelSelectorPath"), &[".spec.", ".status."]),
    })
}

/// Upstream's checks of a version's scale subresource paths.
fn check_scale(version: &Value, path: &str, causes: &mut Vec<Cause>) {
    let Some(scale) = version.at("/subresources/scale") else {
        return;
    };
    let at = format!("{path}.subresources.scale");
    let fields: [(&str, &[&str], &str, bool); 3] = [
        (
            "specReplicasPath",
            &[".spec."],
            "should be a json path under .spec",
            true,
        ),
        (
            "statusReplicasPath",
            &[".status."],
            "should be a json path under .status",
            true,
        ),
        (
            "labelSelectorPath",
            &[".spec.", ".status."],
            "should be a json path under either .spec or .status",
            false,
        ),
    ];
    for (field, under, why, required) in fields {
        match text(scale, &format!("/{field}")) {
            "" if required => causes.push(Cause::required(format!("{at}.{field}"))),
            "" => {}
            value if simple_path(value, under).is_none() => causes.push(Cause::invalid(
                format!("{at}.{field}"),
                format!("\"{value}\""),
                why,
            )),
            _ => {}
        }
    }
}

/// The name of the definition's storage version ("" when it has none).
fn storage_version(crd: &Value) -> &str {
    crd.at("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("storage") == Some(&json!(true)))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The resource types of a definition's served versions, in upstream's version priority
/// (so discovery's preferred version is the first).
pub fn types(crd: &Value) -> Vec<ResourceType> {
    let mut versions = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions.sort_by(|a, b| {
        let name = |v: &Value| {
            v.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        crate::version_priority::compare(&name(a), &name(b))
    });
    let group = text(crd, "/spec/group").to_string();
    let kind = text(crd, "/spec/names/kind").to_string();
    let storage_api_version = format!("{group}/{}", storage_version(crd));
    versions
        .iter()
        .filter(|v| v.get("served") != Some(&json!(false)))
        .map(|version| {
            let name = text(version, "/name").to_string();
            let deprecation_warning =
                (version.get("deprecated") == Some(&json!(true))).then(|| {
                    match text(version, "/deprecationWarning") {
                        "" => format!("{group}/{name} {kind} is deprecated"),
                        warning => warning.to_string(),
                    }
                });
            ResourceType {
                group: group.clone(),
                version: name,
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
                    scale: version.at("/subresources/scale").is_some(),
                },
                extra_subresources: Vec::new(),
                verbs: ALL_VERBS.to_vec(),
                stored: true,
                custom: Some(Arc::new(CustomVersion {
                    schema: version
                        .at("/schema/openAPIV3Schema")
                        .cloned()
                        .unwrap_or_else(|| json!({})),
                    storage_api_version: storage_api_version.clone(),
                    deprecation_warning,
                    printer_columns: printer_columns(version),
                    scale: scale_paths(version),
                })),
            }
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

    fn two_versions() -> Value {
        let mut crd = crontab();
        let v1 = crd["spec"]["versions"][0].clone();
        let mut beta = v1.clone();
        beta["name"] = json!("v1beta1");
        beta["storage"] = json!(false);
        beta["deprecated"] = json!(true);
        crd["spec"]["versions"] = json!([beta, v1]);
        crd
    }

    #[test]
    fn versions_are_served_in_priority_order_and_stored_as_the_storage_version() {
        let crd = two_versions();
        assert!(check(&crd).is_empty(), "{:?}", check(&crd));
        let types = types(&crd);
        let versions: Vec<&str> = types.iter().map(|t| t.version.as_str()).collect();
        assert_eq!(versions, ["v1", "v1beta1"]);
        let beta = &types[1];
        let custom = beta.custom.as_ref().expect("a custom type");
        assert_eq!(custom.storage_api_version, "stable.example.com/v1");
        assert_eq!(
            custom.deprecation_warning.as_deref(),
            Some("stable.example.com/v1beta1 CronTab is deprecated")
        );
        let mut object = json!({"apiVersion": "stable.example.com/v1beta1", "kind": "CronTab"});
        beta.to_storage(&mut object);
        assert_eq!(object["apiVersion"], "stable.example.com/v1");
        beta.present(&mut object);
        assert_eq!(object["apiVersion"], "stable.example.com/v1beta1");
    }

    #[test]
    fn stored_versions_accumulate_and_must_stay_defined() {
        let mut crd = two_versions();
        crd["spec"]["versions"][0]["storage"] = json!(true);
        crd["spec"]["versions"][1]["storage"] = json!(false);
        let first = accepted_status(&crd, None);
        assert_eq!(first["storedVersions"], json!(["v1beta1"]));
        let moved = two_versions();
        let second = accepted_status(&moved, Some(&first));
        assert_eq!(second["storedVersions"], json!(["v1beta1", "v1"]));
        let mut dropped = crontab();
        dropped["status"] = second;
        let causes = check_stored_versions(&dropped, false);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "status.storedVersions[0]");
        dropped["status"]["storedVersions"] = json!(["v1beta1"]);
        let mut fixed = two_versions();
        fixed["status"]["storedVersions"] = json!(["v1beta1"]);
        assert!(check_stored_versions(&fixed, false).is_empty());
        let causes = check_stored_versions(&fixed, true);
        assert!(
            causes[0]
                .message
                .ends_with("must have the storage version v1"),
            "{causes:?}"
        );
    }

    #[test]
    fn webhook_conversion_and_repeated_versions_are_refused() {
        let mut webhook = two_versions();
        webhook["spec"]["conversion"] = json!({"strategy": "Webhook"});
        assert!(
            check(&webhook)
                .iter()
                .any(|c| c.field == "spec.conversion.strategy")
        );
        // With one served version nothing is converted: accepted.
        let mut single = crontab();
        single["spec"]["conversion"] = json!({"strategy": "Webhook"});
        assert!(check(&single).is_empty(), "{:?}", check(&single));
        let mut repeated = two_versions();
        repeated["spec"]["versions"][0]["name"] = json!("v1");
        assert!(
            check(&repeated)
                .iter()
                .any(|c| c.message.ends_with("must contain unique version names"))
        );
        let mut upper = crontab();
        upper["spec"]["versions"][0]["name"] = json!("V1");
        assert!(
            check(&upper)
                .iter()
                .any(|c| c.field == "spec.versions[0].name")
        );
    }

    #[test]
    fn printer_columns_and_scale_paths_are_read_and_checked() {
        let mut crd = crontab();
        crd["spec"]["versions"][0]["subresources"]["scale"] =
            json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"});
        crd["spec"]["versions"][0]["additionalPrinterColumns"] =
            json!([{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]);
        assert!(check(&crd).is_empty(), "{:?}", check(&crd));
        let types = types(&crd);
        let custom = types[0].custom.as_ref().expect("a custom type");
        assert!(types[0].subresources.scale);
        let scale = custom.scale.as_ref().expect("scale paths");
        assert_eq!(
            (scale.spec_replicas.as_str(), scale.status_replicas.as_str()),
            ("/spec/replicas", "/status/replicas")
        );
        assert_eq!(custom.printer_columns[0].json_path, ".spec.cronSpec");
        let mut bad = crd.clone();
        bad["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] =
            json!(".status.replicas");
        bad["spec"]["versions"][0]["additionalPrinterColumns"] =
            json!([{"name": "Spec", "type": "text", "jsonPath": ".spec["}]);
        let fields: Vec<String> = check(&bad).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            [
                "spec.versions[0].additionalPrinterColumns[0].type",
                "spec.versions[0].additionalPrinterColumns[0].jsonPath",
                "spec.versions[0].subresources.scale.specReplicasPath",
            ]
        );
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
