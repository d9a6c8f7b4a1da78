//! Validation of objects beyond their types: names, and the rules kubectl users meet most
//! (selectors matching templates, non-negative replicas, containers with names and images,
//! immutable fields). Failures are 422 Invalid with upstream's field paths.

use serde_json::Value;

use crate::error::{ApiError, ApiResult, Cause};
use crate::objects::At as _;
use crate::objects::{self, check_name, name_rule};
use crate::resources::ResourceType;
use crate::selectors::LabelSelector;

/// Validates `object` (with `current`, the stored object, on update).
pub fn validate(resource: &ResourceType, object: &Value, current: Option<&Value>) -> ApiResult<()> {
    let mut causes = Vec::new();
    let name = objects::name(object).unwrap_or_default().to_string();
    if current.is_none() {
        causes.extend(check_name(
            &name,
            name_rule(&resource.group, &resource.kind),
            "metadata.name",
        ));
    }
    metadata(object, &mut causes);
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Pod") => pod_spec(object.get("spec"), "spec", &mut causes),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("", "ReplicationController") => workload(object, &mut causes),
        ("", "ResourceQuota") => crate::admission::quota_scopes::validate(object, &mut causes),
        ("batch", "Job") => {
            pod_spec(
                object.at("/spec/template/spec"),
                "spec.template.spec",
                &mut causes,
            );
            super::pod_failure_policy::validate(object, &mut causes);
        }
        _ => {}
    }
    if let Some(current) = current {
        immutable(resource, object, current, &mut causes);
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            subject: resource.subject(&name),
            causes,
        })
    }
}

fn metadata(object: &Value, causes: &mut Vec<Cause>) {
    for (field, map) in [
        ("labels", object.at("/metadata/labels")),
        ("annotations", object.at("/metadata/annotations")),
    ] {
        let Some(map) = map.and_then(Value::as_object) else {
            continue;
        };
        for (key, value) in map {
            if !qualified_name_ok(key) {
                causes.push(Cause::invalid(format!("metadata.{field}"), format!("\"{key}\""), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
            }
            if field == "labels" {
                let text = value.as_str().unwrap_or_default();
                if text.len() > 63 || !label_value_ok(text) {
                    causes.push(Cause::invalid("metadata.labels", format!("\"{text}\""), "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
                }
            }
        }
    }
}

fn name_part_ok(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn qualified_name_ok(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && check_name(prefix, objects::NameRule::Subdomain, "").is_empty()
                && name_part_ok(name)
        }
        None => name_part_ok(key),
    }
}

fn label_value_ok(text: &str) -> bool {
    text.is_empty() || name_part_ok(text)
}

fn workload(object: &Value, causes: &mut Vec<Cause>) {
    if let Some(replicas) = object.at("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            replicas,
            "must be greater than or equal to 0",
        ));
    }
    let selector = object.at("/spec/selector");
    let template_labels = object
        .at("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match selector {
        None | Some(Value::Null)
            if object.get("kind") != Some(&Value::from("ReplicationController")) =>
        {
            causes.push(Cause::required("spec.selector"))
        }
        Some(selector) if object.get("kind") != Some(&Value::from("ReplicationController")) => {
            match LabelSelector::from_label_selector_object(selector) {
                Ok(parsed) if parsed.is_empty() => causes.push(Cause::invalid(
                    "spec.selector",
                    "{}",
                    "empty selector is invalid for deployment",
                )),
                Ok(parsed) if !parsed.matches(&template_labels) => causes.push(Cause::invalid(
                    "spec.template.metadata.labels",
                    format!("{}", serde_json::Value::Object(template_labels.clone())),
                    "`selector` does not match template `labels`",
                )),
                Ok(_) => {}
                Err(error) => causes.push(Cause::invalid("spec.selector", "", &error.to_string())),
            }
        }
        _ => {}
    }
    pod_spec(
        object.at("/spec/template/spec"),
        "spec.template.spec",
        causes,
    );
}

fn pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(Cause::required(format!("{path}.containers")));
        return;
    };
    let mut seen = Vec::new();
    for (index, container) in containers.iter().enumerate() {
        let field = format!("{path}.containers[{index}]");
        let name = container.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            causes.push(Cause::required(format!("{field}.name")));
        } else if seen.contains(&name) {
            causes.push(Cause {
                reason: "FieldValueDuplicate",
                field: format!("{field}.name"),
                message: format!("Duplicate value: \"{name}\""),
            });
        } else {
            causes.extend(check_name(
                name,
                objects::NameRule::Label,
                &format!("{field}.name"),
            ));
            seen.push(name);
        }
        if container
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .is_empty()
        {
            causes.push(Cause::required(format!("{field}.image")));
        }
    }
}

/// Fields that may not change after creation.
fn immutable(resource: &ResourceType, object: &Value, current: &Value, causes: &mut Vec<Cause>) {
    let fixed: &[(&str, &str)] = match (resource.group.as_str(), resource.kind.as_str()) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet") => {
            &[("/spec/selector", "spec.selector")]
        }
        ("batch", "Job") => &[
            ("/spec/selector", "spec.selector"),
            ("/spec/template", "spec.template"),
            ("/spec/podFailurePolicy", "spec.podFailurePolicy"),
        ],
        ("", "ResourceQuota") => &[
            ("/spec/scopes", "spec.scopes"),
            ("/spec/scopeSelector", "spec.scopeSelector"),
        ],
        ("", "Pod") => &[("/spec/containers", "spec")],
        _ => &[],
    };
    for (pointer, field) in fixed {
        let before = current.at(pointer);
        let after = object.at(pointer);
        if before == after {
            continue;
        }
        // A pod's images may change; nothing else in its containers.
        if resource.kind == "Pod" && same_except_images(before, after) {
            continue;
        }
        causes.push(Cause::invalid(
            *field,
            describe(after),
            "field is immutable",
        ));
    }
}

fn same_except_images(before: Option<&Value>, after: Option<&Value>) -> bool {
    let strip = |value: Option<&Value>| {
        let mut value = value.cloned().unwrap_or(Value::Null);
        if let Some(list) = value.as_array_mut() {
            for container in list.iter_mut().filter_map(Value::as_object_mut) {
                container.remove("image");
            }
        }
        value
    };
    strip(before) == strip(after)
}

fn describe(value: Option<&Value>) -> String {
    match value {
        Some(value) => value.to_string(),
        None => "null".into(),
    }
}
