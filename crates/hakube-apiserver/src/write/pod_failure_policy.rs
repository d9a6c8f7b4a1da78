//! Validation of a Job's `spec.podFailurePolicy`, with upstream's field paths and words: the
//! template must use restartPolicy Never, each rule has a known action and exactly one of
//! onExitCodes and onPodConditions, and exit codes are ordered, unique, and not 0 under In.

use serde_json::Value;

use crate::error::Cause;
use crate::objects::At as _;

const PATH: &str = "spec.podFailurePolicy";

fn not_supported(field: String, value: &str, supported: &str) -> Cause {
    Cause {
        reason: "FieldValueNotSupported",
        field,
        message: format!("Unsupported value: \"{value}\": supported values: {supported}"),
    }
}

/// An Invalid cause about a whole rule (upstream omits the value).
fn invalid_rule(path: &str, why: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: path.to_string(),
        message: format!("Invalid value: {why}"),
    }
}

/// Checks the Job's policy, if it has one.
pub fn validate(job: &Value, causes: &mut Vec<Cause>) {
    let Some(policy) = job.at("/spec/podFailurePolicy") else {
        return;
    };
    let restart = job
        .at("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if restart != "Never" {
        causes.push(Cause::invalid(
            "spec.template.spec.restartPolicy",
            format!("\"{restart}\""),
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    let per_index = job
        .at("/spec/backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    let rules = policy.get("rules").and_then(Value::as_array);
    for (index, rule) in rules.into_iter().flatten().enumerate() {
        rule_causes(rule, &format!("{PATH}.rules[{index}]"), per_index, causes);
    }
}

fn rule_causes(rule: &Value, path: &str, per_index: bool, causes: &mut Vec<Cause>) {
    let action = rule
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match action {
        "Count" | "FailJob" | "Ignore" => {}
        "FailIndex" if per_index => {}
        "FailIndex" => causes.push(Cause::invalid(
            format!("{path}.action"),
            "\"FailIndex\"",
            "requires the backoffLimitPerIndex to be set",
        )),
        other => causes.push(not_supported(
            format!("{path}.action"),
            other,
            "\"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
        )),
    }
    let exit_codes = rule.get("onExitCodes").filter(|v| !v.is_null());
    let conditions = rule.get("onPodConditions").filter(|v| !v.is_null());
    match (exit_codes, conditions) {
        (Some(_), Some(_)) => causes.push(invalid_rule(
            path,
            "specifying both OnExitCodes and OnPodConditions is not supported",
        )),
        (None, None) => causes.push(invalid_rule(
            path,
            "specifying one of OnExitCodes and OnPodConditions is required",
        )),
        (Some(requirement), None) => {
            exit_code_causes(requirement, &format!("{path}.onExitCodes"), causes);
        }
        (None, Some(_)) => {}
    }
}

fn exit_code_causes(requirement: &Value, path: &str, causes: &mut Vec<Cause>) {
    let operator = requirement
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(operator, "In" | "NotIn") {
        causes.push(not_supported(
            format!("{path}.operator"),
            operator,
            "\"In\", \"NotIn\"",
        ));
    }
    let values: Vec<i64> = requirement
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    if values.is_empty() {
        causes.push(Cause::required(format!("{path}.values")));
    }
    for (index, value) in values.iter().enumerate() {
        let field = format!("{path}.values[{index}]");
        if *value == 0 && operator == "In" {
            causes.push(Cause::invalid(
                field,
                value,
                "must not be 0 for the In operator",
            ));
        } else if index > 0 && values[index - 1] == *value {
            causes.push(Cause {
                reason: "FieldValueDuplicate",
                field,
                message: format!("Duplicate value: {value}"),
            });
        } else if index > 0 && values[index - 1] > *value {
            causes.push(Cause::invalid(field, value, "must be ordered"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(job: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(&job, &mut causes);
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn job(restart: &str, rules: Value) -> Value {
        json!({"spec": {"podFailurePolicy": {"rules": rules},
            "template": {"spec": {"restartPolicy": restart}}}})
    }

    #[test]
    fn good_policies_pass() {
        let rules = json!([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 42]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]);
        assert!(messages(job("Never", rules)).is_empty());
    }

    #[test]
    fn bad_policies_say_why() {
        let rules = json!([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0, 3, 2]}},
            {"action": "Explode", "onPodConditions": [], "onExitCodes": {"operator": "In", "values": [1]}}]);
        assert_eq!(
            messages(job("OnFailure", rules)),
            [
                "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when podFailurePolicy is specified",
                "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
                "spec.podFailurePolicy.rules[0].onExitCodes.values[2]: Invalid value: 2: must be ordered",
                "spec.podFailurePolicy.rules[1].action: Unsupported value: \"Explode\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
                "spec.podFailurePolicy.rules[1]: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
            ]
        );
    }
}
