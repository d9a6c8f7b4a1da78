//! OpenAPI v3 (`/openapi/v3` and one document per group version), generated from the typed
//! kinds (never copied from upstream's spec files). kubectl reads it for two things: the PATCH
//! operation of each kind must list the `fieldValidation` parameter (then `apply` and
//! `create -f` rely on server-side validation), and `kubectl explain` walks the schemas.
//! Strategic merge patch is deliberately not listed as a PATCH body: kubectl then computes
//! apply patches from its compiled-in types rather than from these schemas.

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceType};

fn group_version_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group version's document is.
pub fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for resource in registry.all() {
        let key = group_version_key(&resource.group, &resource.version);
        paths
            .entry(key.clone())
            .or_insert_with(|| json!({"serverRelativeURL": format!("/openapi/v3/{key}")}));
    }
    json!({"paths": paths})
}

fn schema_name(resource: &ResourceType) -> Option<String> {
    hakube_kinds::schemas::schemas()
        .kinds
        .iter()
        .find(|(group, version, kind, _)| {
            *group == resource.group && *version == resource.version && *kind == resource.kind
        })
        .map(|(_, _, _, name)| name.clone())
}

fn operations(resource: &ResourceType, schema: Option<&str>) -> Value {
    let gvk = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let body_schema = match schema {
        Some(name) => json!({"$ref": format!("#/components/schemas/{name}")}),
        None => json!({"type": "object"}),
    };
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true});
    let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": body_schema}}}});
    json!({
        "get": {"operationId": format!("read{}", resource.kind), "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk, "responses": ok},
        "put": {"operationId": format!("replace{}", resource.kind), "x-kubernetes-action": "put",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation")],
            "requestBody": {"content": {"application/json": {"schema": body_schema}}},
            "responses": ok},
        "patch": {"operationId": format!("patch{}", resource.kind), "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
            "requestBody": {"content": {
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/apply-patch+yaml": {"schema": {"type": "object"}}}},
            "responses": ok},
        "delete": {"operationId": format!("delete{}", resource.kind), "x-kubernetes-action": "delete",
            "x-kubernetes-group-version-kind": gvk, "responses": ok},
    })
}

/// The content type of `/openapi/v2` (kube-openapi's spelling: Go's media-type parser rejects
/// the `@` of the Accept header's form).
pub const V2_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` as protobuf: paths only (kubectl 1.28 checks it for `fieldValidation`
/// support before `apply`/`create -f`; newer kubectl reads v3).
pub fn v2_document(registry: &Registry) -> Vec<u8> {
    let kinds: Vec<crate::openapi_v2::KindPath> = registry
        .all()
        .iter()
        .filter(|resource| resource.stored)
        .map(|resource| crate::openapi_v2::KindPath {
            path: object_path(resource),
            group: resource.group.clone(),
            version: resource.version.clone(),
            kind: resource.kind.clone(),
        })
        .collect();
    crate::openapi_v2::document(&kinds, crate::version::KUBERNETES_GIT_VERSION)
}

fn object_path(resource: &ResourceType) -> String {
    let base = resource.group_version_path();
    if resource.namespaced {
        format!(
            "{base}/namespaces/{{namespace}}/{}/{{name}}",
            resource.plural
        )
    } else {
        format!("{base}/{}/{{name}}", resource.plural)
    }
}

/// The document of one group version, or `None` when the server has no such group version.
pub fn group_version(registry: &Registry, path: &str) -> Option<Value> {
    let mut paths = Map::new();
    let mut names = Vec::new();
    let mut custom_schemas = Map::new();
    let mut found = false;
    for resource in registry.all() {
        if group_version_key(&resource.group, &resource.version) != path {
            continue;
        }
        found = true;
        if !resource.stored {
            continue;
        }
        if let Some(custom) = resource.custom.as_ref().map(|c| &c.schema) {
            let name = format!("{}.{}.{}", resource.group, resource.version, resource.kind);
            let mut schema = custom.clone();
            schema["x-kubernetes-group-version-kind"] = json!([{"group": resource.group, "version": resource.version, "kind": resource.kind}]);
            paths.insert(object_path(&resource), operations(&resource, Some(&name)));
            custom_schemas.insert(name, schema);
            continue;
        }
        let schema = schema_name(&resource);
        paths.insert(
            object_path(&resource),
            operations(&resource, schema.as_deref()),
        );
        names.extend(schema);
    }
    if !found {
        return None;
    }
    let mut schemas = hakube_kinds::schemas::closure(&names);
    schemas.extend(custom_schemas);
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::version::KUBERNETES_GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_offer_field_validation_and_schemas_are_there() {
        let registry = Registry::with_builtin();
        let root = root(&registry);
        assert!(root["paths"]["apis/policy/v1"]["serverRelativeURL"].is_string());
        let document = group_version(&registry, "apis/policy/v1").unwrap();
        let path = &document["paths"]["/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}"];
        assert_eq!(
            path["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "PodDisruptionBudget"
        );
        assert!(
            path["patch"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            document["components"]["schemas"]["io.k8s.api.policy.v1.PodDisruptionBudget"]
                .is_object()
        );
        assert!(group_version(&registry, "apis/nothing/v1").is_none());
    }
}
