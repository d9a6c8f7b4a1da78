//! DefaultTolerationSeconds, upstream's admission plugin: a new pod that does not already
//! tolerate the `not-ready` and `unreachable` NoExecute taints gets tolerations for them with
//! the cluster's eviction timeout (300 s by default), so the node lifecycle controller moves
//! it off a dead node after that long.

use serde_json::{Value, json};

use crate::controllers::node_lifecycle::{NOT_READY, UNREACHABLE};
use crate::objects::At as _;

fn tolerates_no_execute(toleration: &Value, key: &str) -> bool {
    let field = |name: &str| {
        toleration
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let effect_matches = field("effect").is_empty() || field("effect") == "NoExecute";
    let key_matches =
        field("key") == key || (field("key").is_empty() && field("operator") == "Exists");
    effect_matches && key_matches
}

pub fn apply(pod: &mut Value, seconds: i64) {
    let mut tolerations = pod
        .at("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let before = tolerations.len();
    for key in [NOT_READY, UNREACHABLE] {
        if !tolerations.iter().any(|t| tolerates_no_execute(t, key)) {
            tolerations.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": seconds}),
            );
        }
    }
    if tolerations.len() != before
        && let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("tolerations".into(), json!(tolerations));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tolerations_are_added_once() {
        let mut pod = json!({"spec": {"containers": []}});
        apply(&mut pod, 300);
        apply(&mut pod, 300);
        let tolerations = pod["spec"]["tolerations"].as_array().expect("added");
        assert_eq!(tolerations.len(), 2);
        assert_eq!(tolerations[0]["key"], NOT_READY);
        assert_eq!(tolerations[1]["tolerationSeconds"], 300);
    }

    #[test]
    fn an_own_toleration_is_kept() {
        let mut pod = json!({"spec": {"tolerations": [
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}});
        apply(&mut pod, 300);
        let tolerations = pod["spec"]["tolerations"].as_array().expect("kept");
        assert_eq!(tolerations.len(), 2);
        assert_eq!(tolerations[0]["tolerationSeconds"], 5);
        let mut everything = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        apply(&mut everything, 300);
        assert_eq!(
            everything["spec"]["tolerations"].as_array().map(Vec::len),
            Some(1)
        );
    }
}
