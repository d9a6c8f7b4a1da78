//! Discovery: which groups, versions and resources the server has, in both forms kubectl
//! reads: aggregated (apidiscovery.k8s.io/v2, one document for `/api` and one for `/apis`)
//! and legacy (`APIVersions`, `APIGroupList`, one `APIResourceList` per group version).

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceType};

pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Named groups with their versions, in first-seen (discovery) order.
fn groups(registry: &Registry) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for resource in registry.all() {
        if resource.group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(name, _)| *name == resource.group) {
            Some((_, versions)) if !versions.contains(&resource.version) => {
                versions.push(resource.version.clone())
            }
            Some(_) => {}
            None => groups.push((resource.group.clone(), vec![resource.version.clone()])),
        }
    }
    // The preferred version first, whatever order the types were added in (several custom
    // resources may share a group).
    for (_, versions) in &mut groups {
        versions.sort_by(|a, b| crate::version_priority::compare(a, b));
    }
    groups
}

fn scope(resource: &ResourceType) -> &'static str {
    if resource.namespaced {
        "Namespaced"
    } else {
        "Cluster"
    }
}

fn aggregated_resource(resource: &ResourceType) -> Value {
    let kind = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let mut subresources = Vec::new();
    if resource.subresources.status {
        subresources.push(json!({"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}));
    }
    if resource.subresources.scale {
        subresources.push(json!({"subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": ["get", "patch", "update"]}));
    }
    for extra in &resource.extra_subresources {
        subresources.push(json!({"subresource": extra.name,
            "responseKind": {"group": extra.group, "version": extra.version, "kind": extra.kind},
            "verbs": extra.verbs}));
    }
    let mut entry = json!({
        "resource": resource.plural,
        "responseKind": kind,
        "scope": scope(resource),
        "singularResource": resource.singular,
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    if !subresources.is_empty() {
        entry["subresources"] = json!(subresources);
    }
    entry
}

fn aggregated_group(registry: &Registry, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = registry
                .all()
                .iter()
                .filter(|r| r.group == group && r.version == *version)
                .map(|r| aggregated_resource(r))
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

fn aggregated_list(items: Vec<Value>) -> Value {
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {}, "items": items})
}

/// `/api` in aggregated form: the core group only.
pub fn aggregated_core(registry: &Registry) -> Value {
    aggregated_list(vec![aggregated_group(registry, "", &["v1".to_string()])])
}

/// `/apis` in aggregated form: every named group.
pub fn aggregated_groups(registry: &Registry) -> Value {
    let items = groups(registry)
        .iter()
        .map(|(group, versions)| aggregated_group(registry, group, versions))
        .collect();
    aggregated_list(items)
}

/// `/api` in legacy form.
pub fn api_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn legacy_group(group: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": entries, "preferredVersion": entries.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis` in legacy form.
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = groups(registry)
        .iter()
        .map(|(group, versions)| legacy_group(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, when the group exists.
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    let (name, versions) = groups(registry)
        .into_iter()
        .find(|(name, _)| name == group)?;
    let mut value = legacy_group(&name, &versions);
    value["kind"] = json!("APIGroup");
    value["apiVersion"] = json!("v1");
    Some(value)
}

/// `/api/v1` or `/apis/<group>/<version>`: the legacy resource list (drain reads
/// `pods/eviction` from it).
pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for resource in registry.all() {
        if resource.group != group || resource.version != version {
            continue;
        }
        let mut entry = json!({"name": resource.plural, "singularName": resource.singular,
            "namespaced": resource.namespaced, "kind": resource.kind, "verbs": resource.verbs});
        if !resource.short_names.is_empty() {
            entry["shortNames"] = json!(resource.short_names);
        }
        if !resource.categories.is_empty() {
            entry["categories"] = json!(resource.categories);
        }
        resources.push(entry);
        let sub = |name: &str, group: &str, version: &str, kind: &str, verbs: Value| {
            let mut entry = json!({"name": format!("{}/{name}", resource.plural), "singularName": "",
                "namespaced": resource.namespaced, "kind": kind, "verbs": verbs});
            if group != resource.group || version != resource.version {
                entry["group"] = json!(group);
                entry["version"] = json!(version);
            }
            entry
        };
        if resource.subresources.status {
            resources.push(sub(
                "status",
                &resource.group,
                &resource.version,
                &resource.kind,
                json!(["get", "patch", "update"]),
            ));
        }
        if resource.subresources.scale {
            resources.push(sub(
                "scale",
                "autoscaling",
                "v1",
                "Scale",
                json!(["get", "patch", "update"]),
            ));
        }
        for extra in &resource.extra_subresources {
            resources.push(sub(
                extra.name,
                extra.group,
                extra.version,
                extra.kind,
                json!(extra.verbs),
            ));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_resource_list_offers_policy_eviction() {
        let list = api_resource_list(&Registry::with_builtin(), "", "v1");
        let eviction = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods/eviction")
            .unwrap();
        assert_eq!(eviction["group"], "policy");
        assert_eq!(eviction["version"], "v1");
        assert_eq!(eviction["kind"], "Eviction");
    }

    #[test]
    fn aggregated_discovery_has_short_names_and_categories() {
        let core = aggregated_core(&Registry::with_builtin());
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap()
            .clone();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["scope"], "Namespaced");
        let groups = aggregated_groups(&Registry::with_builtin());
        assert!(
            groups["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "apps")
        );
    }
}
