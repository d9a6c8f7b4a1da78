//! LimitRange for pods: containers without requests or limits get the namespace's
//! `defaultRequest` / `default` (type Container); then `min`/`max` bounds are enforced
//! (403 Forbidden, as upstream's LimitRanger admission answers).

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::objects::At as _;
use crate::quantity::Quantity;

fn container_limits(range: &Value) -> impl Iterator<Item = &Value> {
    range
        .at("/spec/limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|limit| limit.get("type").and_then(Value::as_str) == Some("Container"))
}

fn fill(target: &mut serde_json::Map<String, Value>, defaults: Option<&Value>) {
    for (name, value) in defaults.and_then(Value::as_object).into_iter().flatten() {
        target.entry(name.clone()).or_insert_with(|| value.clone());
    }
}

/// Applies every range's defaults to `pod`, then checks its bounds.
pub fn apply(ranges: &[Value], pod: &mut Value) -> ApiResult<()> {
    let pod_name = crate::objects::name(pod).unwrap_or_default().to_string();
    let Some(containers) = pod
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    for container in containers.iter_mut().filter_map(Value::as_object_mut) {
        let resources = container.entry("resources").or_insert_with(|| json!({}));
        let Some(resources) = resources.as_object_mut() else {
            continue;
        };
        for limit in ranges.iter().flat_map(container_limits) {
            let limits = resources.entry("limits").or_insert_with(|| json!({}));
            if let Some(limits) = limits.as_object_mut() {
                fill(limits, limit.get("default"));
            }
            let requests = resources.entry("requests").or_insert_with(|| json!({}));
            if let Some(requests) = requests.as_object_mut() {
                fill(requests, limit.get("defaultRequest"));
            }
        }
        for field in ["limits", "requests"] {
            if resources
                .get(field)
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
            {
                resources.remove(field);
            }
        }
    }
    check_bounds(ranges, pod, &pod_name)
}

fn check_bounds(ranges: &[Value], pod: &Value, pod_name: &str) -> ApiResult<()> {
    let containers = pod
        .at("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for limit in ranges.iter().flat_map(container_limits) {
        for container in &containers {
            for (bound, field, too) in
                [("max", "limits", "maximum"), ("min", "requests", "minimum")]
            {
                for (resource, bound_value) in limit
                    .get(bound)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    let (Some(allowed), Some(actual)) = (
                        crate::quantity::from_json(bound_value),
                        container
                            .at(&format!("/resources/{field}/{resource}"))
                            .and_then(crate::quantity::from_json),
                    ) else {
                        continue;
                    };
                    // Amounts only: equal amounts in different notations are equal.
                    let violates = if bound == "max" {
                        actual.milli() > allowed.milli()
                    } else {
                        actual.milli() < allowed.milli()
                    };
                    if violates {
                        return Err(forbidden(
                            pod_name, too, resource, container, &allowed, &actual, field,
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn forbidden(
    pod: &str,
    too: &str,
    resource: &str,
    container: &Value,
    allowed: &Quantity,
    actual: &Quantity,
    field: &str,
) -> ApiError {
    let container = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = if field == "limits" {
        "limit"
    } else {
        "request"
    };
    ApiError::Forbidden(format!(
        "pods \"{pod}\" is forbidden: {too} {resource} usage per Container is {allowed}, but {kind} is {actual} (container {container})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_get_defaults_and_bounds_hold() {
        let range = json!({"spec":{"limits":[{"type":"Container","default":{"cpu":"500m"},"defaultRequest":{"cpu":"250m"},"max":{"cpu":"1"}}]}});
        let mut pod =
            json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}});
        apply(std::slice::from_ref(&range), &mut pod).unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"limits":{"cpu":"500m"},"requests":{"cpu":"250m"}})
        );
        let mut big = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"2"}}}]}});
        let error = apply(&[range], &mut big).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("maximum cpu usage per Container is 1, but limit is 2"),
            "{error}"
        );
    }
}
