//! The unit tests of strategic merge patch: merging by key, list ordering, the
//! directives, the per-kind strategies and the exact error messages.

use serde_json::{Value, json};

use super::{StrategicMergeError, apply};

fn patched(original: Value, patch: Value, kind: &str) -> Value {
    match apply(&original, &patch, kind) {
        Ok(value) => value,
        Err(error) => panic!("patch failed: {error}"),
    }
}

fn patch_error(original: Value, patch: Value, kind: &str) -> StrategicMergeError {
    match apply(&original, &patch, kind) {
        Ok(value) => panic!("patch unexpectedly succeeded: {value}"),
        Err(error) => error,
    }
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["name"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.25",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "side", "image": "busybox"}
            ]}}
        }
    })
}

#[test]
fn kubectl_apply_patch_with_set_element_order_and_delete() {
    let patch = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"web"},{"name":"side"}],
        "containers":[{
            "$setElementOrder/env":[{"name":"A"},{"name":"C"}],
            "env":[{"name":"C","value":"3"},{"$patch":"delete","name":"B"}],
            "image":"nginx:1.26","name":"web"}]}}}});
    let result = patched(deployment(), patch, "Deployment");
    let containers = &result["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([
            {"name": "web", "image": "nginx:1.26",
             "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]},
            {"name": "side", "image": "busybox"}
        ])
    );
    assert_eq!(result["spec"]["replicas"], json!(2));
    assert!(!result.to_string().contains('$'));
}

#[test]
fn set_element_order_alone_reorders() {
    let patch = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"side"},{"name":"web"}]}}}});
    let result = patched(deployment(), patch, "Deployment");
    assert_eq!(
        names(&result["spec"]["template"]["spec"]["containers"]),
        ["side", "web"]
    );
}

#[test]
fn set_element_order_rejects_patch_items_out_of_order() {
    let patch = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"web"},{"name":"side"}],
        "containers":[{"name":"side","image":"b"},{"name":"web","image":"w"}]}}}});
    assert_eq!(
        patch_error(deployment(), patch, "Deployment"),
        StrategicMergeError::OrderMismatch {
            field: "containers".into()
        }
    );
}

#[test]
fn unlisted_items_keep_their_original_slots() {
    // C, D and E are unknown to the patch; upstream's interleaving (not its design
    // notes, which put them all first) decides where they go.
    let original = json!({"spec":{"containers":[
        {"name":"C"},{"name":"B"},{"name":"D"},{"name":"A"},{"name":"E"}]}});
    let patch = json!({"spec":{
        "$setElementOrder/containers":[{"name":"A"},{"name":"B"}],
        "containers":[{"name":"A","image":"a"},{"name":"B","image":"b"}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(
        names(&result["spec"]["containers"]),
        ["C", "D", "A", "B", "E"]
    );
}

#[test]
fn patch_order_is_respected_without_set_element_order() {
    // Design proposal example: live B, C, A; patch A', B', D.
    let original = json!({"spec":{"containers":[{"name":"B"},{"name":"C"},{"name":"A"}]}});
    let patch = json!({"spec":{"containers":[
        {"name":"A","image":"a"},{"name":"B","image":"b"},{"name":"D"}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(names(&result["spec"]["containers"]), ["C", "A", "B", "D"]);
}

#[test]
fn new_item_without_set_element_order_goes_first_like_upstream() {
    let original = json!({"spec":{"containers":[{"name":"a"},{"name":"b"}]}});
    let patch = json!({"spec":{"containers":[{"name":"new","image":"x"}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(names(&result["spec"]["containers"]), ["new", "a", "b"]);
}

#[test]
fn merge_by_key_updates_matching_item_recursively() {
    let original = json!({"spec":{"containers":[
        {"name":"web","image":"nginx","ports":[{"containerPort":80,"name":"http"}],
         "resources":{"limits":{"cpu":"1"}}}]}});
    let patch = json!({"spec":{"containers":[
        {"name":"web","ports":[{"containerPort":80,"protocol":"TCP"}],
         "resources":{"limits":{"memory":"1Gi"}}}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(
        result["spec"]["containers"][0],
        json!({"name":"web","image":"nginx",
               "ports":[{"containerPort":80,"name":"http","protocol":"TCP"}],
               "resources":{"limits":{"cpu":"1","memory":"1Gi"}}})
    );
}

#[test]
fn volume_mounts_merge_by_mount_path_and_args_are_replaced() {
    let original = json!({"spec":{"containers":[{"name":"c","args":["a","b"],
        "volumeMounts":[{"mountPath":"/data","name":"data"}]}]}});
    let patch = json!({"spec":{"containers":[{"name":"c","args":["z"],
        "volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(
        result["spec"]["containers"][0],
        json!({"name":"c","args":["z"],
               "volumeMounts":[{"mountPath":"/data","name":"data","readOnly":true}]})
    );
}

#[test]
fn node_taints_are_replaced_whole() {
    let original = json!({"spec":{"taints":[
        {"key":"a","effect":"NoSchedule"},{"key":"b","effect":"NoExecute"}]}});
    let patch = json!({"spec":{"taints":[{"key":"c","effect":"NoSchedule"}]}});
    let result = patched(original, patch, "Node");
    assert_eq!(
        result["spec"]["taints"],
        json!([{"key":"c","effect":"NoSchedule"}])
    );
}

#[test]
fn null_deletes_fields() {
    let node =
        json!({"metadata":{"name":"n1"},"spec":{"unschedulable":true,"podCIDR":"10.0.0.0/24"}});
    let result = patched(node, json!({"spec":{"unschedulable":null}}), "Node");
    assert_eq!(result["spec"], json!({"podCIDR":"10.0.0.0/24"}));

    let result = patched(
        deployment(),
        json!({"metadata":{"labels":{"tier":null,"new":"x"}}}),
        "Deployment",
    );
    assert_eq!(result["metadata"]["labels"], json!({"app":"web","new":"x"}));
}

#[test]
fn null_inside_new_values_is_dropped() {
    let result = patched(
        json!({}),
        json!({"metadata":{"labels":{"a":"1","b":null}}}),
        "Pod",
    );
    assert_eq!(result, json!({"metadata":{"labels":{"a":"1"}}}));
}

#[test]
fn node_addresses_merge_by_type() {
    let original = json!({"status":{"addresses":[
        {"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n1"}]}});
    let patch = json!({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.2"}]}});
    let result = patched(original, patch, "Node");
    assert_eq!(
        result["status"]["addresses"],
        json!([{"type":"InternalIP","address":"10.0.0.2"},{"type":"Hostname","address":"n1"}])
    );
}

#[test]
fn conditions_merge_by_type() {
    let original = json!({"status":{"conditions":[
        {"type":"Ready","status":"False"},{"type":"MemoryPressure","status":"False"}]}});
    let patch = json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}});
    let result = patched(original, patch, "Node");
    assert_eq!(
        result["status"]["conditions"],
        json!([{"type":"Ready","status":"True"},{"type":"MemoryPressure","status":"False"}])
    );
}

#[test]
fn service_ports_merge_by_port() {
    let original = json!({"spec":{"ports":[
        {"port":80,"targetPort":8080,"name":"http"},{"port":443,"name":"https"}]}});
    let patch = json!({"spec":{"ports":[{"port":80,"targetPort":9090}]}});
    let result = patched(original, patch, "Service");
    assert_eq!(
        result["spec"]["ports"],
        json!([{"port":80,"targetPort":9090,"name":"http"},{"port":443,"name":"https"}])
    );
}

#[test]
fn service_port_without_merge_key_is_an_error() {
    let original = json!({"spec":{"ports":[{"port":80}]}});
    let error = patch_error(
        original,
        json!({"spec":{"ports":[{"name":"http"}]}}),
        "Service",
    );
    assert_eq!(
        error.to_string(),
        "merge key \"port\" missing from a list item of \"ports\""
    );
}

#[test]
fn pod_disruption_budget_selector_is_replaced() {
    let original =
        json!({"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"a","tier":"t"}}}});
    let patch = json!({"spec":{"selector":{"matchLabels":{"app":"b"}}}});
    let result = patched(original.clone(), patch.clone(), "PodDisruptionBudget");
    assert_eq!(
        result["spec"]["selector"],
        json!({"matchLabels":{"app":"b"}})
    );
    assert_eq!(result["spec"]["minAvailable"], json!(1));

    // Other kinds merge their selector map.
    let result = patched(original, patch, "ReplicaSet");
    assert_eq!(
        result["spec"]["selector"],
        json!({"matchLabels":{"app":"b","tier":"t"}})
    );
}

#[test]
fn finalizers_union_keeps_existing_and_dedupes() {
    let original = json!({"metadata":{"finalizers":["a","b"]}});
    let result = patched(
        original.clone(),
        json!({"metadata":{"finalizers":["b","c"]}}),
        "Pod",
    );
    assert_eq!(result["metadata"]["finalizers"], json!(["a", "b", "c"]));

    // A value unknown to the original goes first, as upstream does.
    let result = patched(
        original.clone(),
        json!({"metadata":{"finalizers":["c"]}}),
        "Pod",
    );
    assert_eq!(result["metadata"]["finalizers"], json!(["c", "a", "b"]));

    // kubectl apply's form: $setElementOrder pins the order.
    let patch =
        json!({"metadata":{"$setElementOrder/finalizers":["a","b","c"],"finalizers":["c"]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(result["metadata"]["finalizers"], json!(["a", "b", "c"]));
}

#[test]
fn delete_from_primitive_list_removes_values() {
    let original = json!({"metadata":{"finalizers":["a","b","c"]}});
    let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["b","zzz"]}});
    let result = patched(original.clone(), patch, "Pod");
    assert_eq!(result["metadata"]["finalizers"], json!(["a", "c"]));

    let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","b","c"]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(result["metadata"]["finalizers"], json!([]));
}

#[test]
fn delete_from_primitive_list_on_missing_list_does_nothing() {
    let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}});
    assert_eq!(
        patched(json!({"metadata":{}}), patch, "Pod"),
        json!({"metadata":{}})
    );
}

#[test]
fn namespace_spec_finalizers_are_replaced() {
    let original = json!({"spec":{"finalizers":["kubernetes"]}});
    let result = patched(original, json!({"spec":{"finalizers":[]}}), "Namespace");
    assert_eq!(result["spec"]["finalizers"], json!([]));
}

#[test]
fn patch_replace_directive_on_a_map() {
    let patch = json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}});
    let result = patched(deployment(), patch, "Deployment");
    assert_eq!(result["spec"]["strategy"], json!({"type":"Recreate"}));
}

#[test]
fn patch_delete_directive_on_a_map_empties_it() {
    let patch = json!({"metadata":{"labels":{"$patch":"delete"}}});
    let result = patched(deployment(), patch, "Deployment");
    assert_eq!(result["metadata"]["labels"], json!({}));
}

#[test]
fn patch_replace_item_replaces_a_merged_list() {
    let patch = json!({"spec":{"template":{"spec":{"containers":[
        {"$patch":"replace"},{"name":"only","image":"x"}]}}}});
    let result = patched(deployment(), patch, "Deployment");
    assert_eq!(
        result["spec"]["template"]["spec"]["containers"],
        json!([{"name":"only","image":"x"}])
    );
}

#[test]
fn patch_merge_item_is_the_default() {
    let original = json!({"spec":{"containers":[{"name":"a","image":"old"}]}});
    let patch = json!({"spec":{"containers":[{"$patch":"merge","name":"a","image":"new"}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(
        result["spec"]["containers"],
        json!([{"name":"a","image":"new"}])
    );
}

#[test]
fn retain_keys_drops_unlisted_fields() {
    let patch = json!({"spec":{"strategy":{
        "$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}});
    let result = patched(deployment(), patch, "Deployment");
    assert_eq!(result["spec"]["strategy"], json!({"type":"Recreate"}));
}

#[test]
fn retain_keys_on_volume_items() {
    let original = json!({"spec":{"volumes":[{"name":"v","emptyDir":{}}]}});
    let patch = json!({"spec":{"volumes":[{"$retainKeys":["name","configMap"],
        "name":"v","configMap":{"name":"cm"}}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(
        result["spec"]["volumes"],
        json!([{"name":"v","configMap":{"name":"cm"}}])
    );
}

#[test]
fn retain_keys_rejects_patched_field_it_does_not_retain() {
    let patch =
        json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":2}}}});
    assert_eq!(
        patch_error(deployment(), patch, "Deployment"),
        StrategicMergeError::FieldNotRetained {
            key: "rollingUpdate".into(),
            field: "strategy".into()
        }
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let original = json!({"metadata":{"ownerReferences":[{"uid":"1","name":"a"}]}});
    let patch = json!({"metadata":{"ownerReferences":[{"uid":"1","controller":true},{"uid":"2","name":"b"}]}});
    let result = patched(original, patch, "Pod");
    assert_eq!(
        result["metadata"]["ownerReferences"],
        json!([{"uid":"1","name":"a","controller":true},{"uid":"2","name":"b"}])
    );
}

#[test]
fn new_list_is_cleaned_of_directives() {
    let patch = json!({"spec":{
        "$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
        "containers":[{"name":"b","env":[{"name":"X","$patch":"delete"}]},{"name":"a"}]}});
    let result = patched(json!({"spec":{}}), patch, "Pod");
    assert_eq!(
        result,
        json!({"spec":{"containers":[{"name":"b","env":[]},{"name":"a"}]}})
    );
}

#[test]
fn mismatched_shapes_take_the_patch_value() {
    let original = json!({"spec":{"a":{"x":1},"b":[1,2],"c":"text"}});
    let patch = json!({"spec":{"a":[1],"b":{"y":null,"z":2},"c":{"k":"v"}}});
    let result = patched(original, patch, "Thing");
    assert_eq!(result, json!({"spec":{"a":[1],"b":{"z":2},"c":{"k":"v"}}}));
}

#[test]
fn kind_specific_rules_do_not_leak_to_other_kinds() {
    // Outside a Service, spec.ports is an unlisted list and is replaced.
    let original = json!({"spec":{"ports":[{"port":80},{"port":443}]}});
    let result = patched(
        original,
        json!({"spec":{"ports":[{"port":80,"name":"x"}]}}),
        "Ingress",
    );
    assert_eq!(result["spec"]["ports"], json!([{"port":80,"name":"x"}]));
}

#[test]
fn patch_must_be_an_object() {
    let error = patch_error(json!({}), json!([1]), "Pod");
    assert_eq!(error.to_string(), "the patch must be a JSON object");
    assert_eq!(
        patch_error(json!([]), json!({}), "Pod"),
        StrategicMergeError::OriginalNotObject
    );
}

#[test]
fn merge_key_missing_from_container_is_an_error() {
    let patch = json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}});
    let error = patch_error(deployment(), patch, "Deployment");
    assert_eq!(
        error.to_string(),
        "merge key \"name\" missing from a list item of \"containers\""
    );

    let patch = json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete"}]}}}});
    let error = patch_error(deployment(), patch, "Deployment");
    assert_eq!(
        error.to_string(),
        "merge key \"name\" missing from a list item of \"containers\""
    );
}

#[test]
fn unknown_directives_are_errors() {
    let error = patch_error(
        deployment(),
        json!({"spec":{"$frobnicate":1}}),
        "Deployment",
    );
    assert_eq!(
        error.to_string(),
        "unknown patch directive \"$frobnicate\" in \"spec\""
    );

    let error = patch_error(
        deployment(),
        json!({"spec":{"$setElementOrder/":[]}}),
        "Deployment",
    );
    assert!(matches!(
        error,
        StrategicMergeError::UnknownDirective { .. }
    ));

    let error = patch_error(
        deployment(),
        json!({"metadata":{"$patch":"explode"}}),
        "Deployment",
    );
    assert_eq!(
        error.to_string(),
        "invalid \"$patch\" value \"explode\" in \"metadata\": expected \"merge\", \"replace\" or \"delete\""
    );
}

#[test]
fn malformed_directive_values_are_errors() {
    let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}});
    assert_eq!(
        patch_error(deployment(), patch, "Deployment").to_string(),
        "\"$deleteFromPrimitiveList/finalizers\" must be a list"
    );
    let patch = json!({"spec":{"strategy":{"$retainKeys":[1]}}});
    assert_eq!(
        patch_error(deployment(), patch, "Deployment"),
        StrategicMergeError::RetainKeysNotNames {
            field: "strategy".into()
        }
    );
}

#[test]
fn delete_item_in_replaced_list_is_an_error() {
    let patch = json!({"spec":{"tolerations":[{"$patch":"delete","key":"a"}]}});
    assert_eq!(
        patch_error(json!({"spec":{}}), patch, "Pod"),
        StrategicMergeError::DeleteWithoutMergeKey {
            field: "tolerations".into()
        }
    );
}

#[test]
fn scalars_replace_and_original_is_untouched() {
    let original = deployment();
    let result = patched(
        original.clone(),
        json!({"spec":{"replicas":5}}),
        "Deployment",
    );
    assert_eq!(result["spec"]["replicas"], json!(5));
    assert_eq!(original["spec"]["replicas"], json!(2));
}
