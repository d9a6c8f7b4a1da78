//! Printers for objects that scale or protect workloads: horizontal pod
//! autoscalers (autoscaling) and pod disruption budgets (policy).

use serde_json::{Value, json};

use super::columns::{AGE, NAME, column};
use super::fields::{
    age_cell, array, field, int_or_string, integer, name_cell, optional_integer, quantity, text,
};
use super::{Column, Printer};

/// Upstream shows at most this many metrics in the Targets cell.
const SHOWN_METRICS: usize = 2;

static HORIZONTAL_POD_AUTOSCALER_COLUMNS: [Column; 7] = [
    NAME,
    column(
        "Reference",
        "string",
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
    ),
    column(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).",
    ),
    column(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down. It defaults to 1 pod.",
    ),
    column(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.",
    ),
    column(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
    ),
    AGE,
];

pub(super) const HORIZONTAL_POD_AUTOSCALER_PRINTER: Printer = Printer {
    columns: &HORIZONTAL_POD_AUTOSCALER_COLUMNS,
    cells: horizontal_pod_autoscaler_cells,
};

fn horizontal_pod_autoscaler_cells(autoscaler: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        text(autoscaler, &["spec", "scaleTargetRef", "kind"]),
        text(autoscaler, &["spec", "scaleTargetRef", "name"])
    );
    let minimum = optional_integer(autoscaler, &["spec", "minReplicas"])
        .map_or_else(|| "<unset>".to_string(), |minimum| minimum.to_string());
    vec![
        name_cell(autoscaler),
        Value::from(reference),
        Value::from(format_metrics(autoscaler)),
        Value::from(minimum),
        Value::from(integer(autoscaler, &["spec", "maxReplicas"])),
        Value::from(integer(autoscaler, &["status", "currentReplicas"])),
        age_cell(autoscaler, now_unix_seconds),
    ]
}

/// Upstream's `formatHPAMetrics`: "current/target" per metric spec, paired
/// with the status metric at the same index, at most two then " + N more...".
fn format_metrics(autoscaler: &Value) -> String {
    let (specs, statuses) = metric_specs_and_statuses(autoscaler);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let rendered: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| format_metric(spec, statuses.get(index)))
        .collect();
    let visible = rendered[..rendered.len().min(SHOWN_METRICS)].join(", ");
    if rendered.len() > SHOWN_METRICS {
        format!("{visible} + {} more...", rendered.len() - SHOWN_METRICS)
    } else {
        visible
    }
}

/// autoscaling/v2 `spec.metrics` / `status.currentMetrics`; an autoscaling/v1
/// object's CPU percentages are mapped to the equivalent Resource metric, as
/// upstream's conversion to the internal type does.
fn metric_specs_and_statuses(autoscaler: &Value) -> (Vec<Value>, Vec<Value>) {
    let specs = array(autoscaler, &["spec", "metrics"]);
    if !specs.is_empty() {
        return (
            specs.to_vec(),
            array(autoscaler, &["status", "currentMetrics"]).to_vec(),
        );
    }
    let Some(target) = optional_integer(autoscaler, &["spec", "targetCPUUtilizationPercentage"])
    else {
        return (Vec::new(), Vec::new());
    };
    let spec = json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": target}}});
    let statuses = optional_integer(autoscaler, &["status", "currentCPUUtilizationPercentage"])
        .map(|current| {
            json!({"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": current}}})
        })
        .into_iter()
        .collect();
    (vec![spec], statuses)
}

/// One metric as "current/target", in the shape its source type prints.
fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    match text(spec, &["type"]) {
        "External" => format_value_metric(spec, status, "external"),
        "Object" => format_value_metric(spec, status, "object"),
        "Pods" => {
            let current = source_status(status, "pods").map_or_else(unknown, |source| {
                quantity_text(source, &["current", "averageValue"])
            });
            let target = quantity_text(spec, &["pods", "target", "averageValue"]);
            format!("{current}/{target}")
        }
        "Resource" => format_resource_metric(spec, status, "resource"),
        "ContainerResource" => format_resource_metric(spec, status, "containerResource"),
        _ => "<unknown type>".to_string(),
    }
}

/// External and Object metrics: an average-value target prints "(avg)".
fn format_value_metric(spec: &Value, status: Option<&Value>, source_key: &str) -> String {
    let source_status = source_status(status, source_key);
    if field(spec, &[source_key, "target", "averageValue"]).is_some() {
        let current = source_status
            .and_then(|source| quantity(field(source, &["current", "averageValue"])))
            .unwrap_or_else(unknown);
        let target = quantity_text(spec, &[source_key, "target", "averageValue"]);
        return format!("{current}/{target} (avg)");
    }
    let current = source_status.map_or_else(unknown, |source| {
        quantity_text(source, &["current", "value"])
    });
    let target = quantity_text(spec, &[source_key, "target", "value"]);
    format!("{current}/{target}")
}

/// Resource and ContainerResource metrics: "cpu: 40%/80%" for utilization
/// targets, "memory: 100Mi/200Mi" for average-value targets.
fn format_resource_metric(spec: &Value, status: Option<&Value>, source_key: &str) -> String {
    let resource_name = text(spec, &[source_key, "name"]);
    let source_status = source_status(status, source_key);
    if field(spec, &[source_key, "target", "averageValue"]).is_some() {
        let current = source_status.map_or_else(unknown, |source| {
            quantity_text(source, &["current", "averageValue"])
        });
        let target = quantity_text(spec, &[source_key, "target", "averageValue"]);
        return format!("{resource_name}: {current}/{target}");
    }
    let current = source_status
        .and_then(|source| optional_integer(source, &["current", "averageUtilization"]))
        .map_or_else(unknown, |percent| format!("{percent}%"));
    let target = optional_integer(spec, &[source_key, "target", "averageUtilization"])
        .map_or_else(|| "<auto>".to_string(), |percent| format!("{percent}%"));
    format!("{resource_name}: {current}/{target}")
}

/// The status entry's block for `source_key` (e.g. `resource`), if reported.
fn source_status<'a>(status: Option<&'a Value>, source_key: &str) -> Option<&'a Value> {
    status.and_then(|status| field(status, &[source_key]))
}

/// A quantity, or "<nil>" as Go prints a nil `*Quantity`.
fn quantity_text(object: &Value, path: &[&str]) -> String {
    quantity(field(object, path)).unwrap_or_else(|| "<nil>".to_string())
}

fn unknown() -> String {
    "<unknown>".to_string()
}

static POD_DISRUPTION_BUDGET_COLUMNS: [Column; 5] = [
    NAME,
    column(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    column(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    column(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

pub(super) const POD_DISRUPTION_BUDGET_PRINTER: Printer = Printer {
    columns: &POD_DISRUPTION_BUDGET_COLUMNS,
    cells: pod_disruption_budget_cells,
};

fn pod_disruption_budget_cells(budget: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let bound =
        |key: &str| field(budget, &["spec", key]).map_or_else(|| "N/A".to_string(), int_or_string);
    vec![
        name_cell(budget),
        Value::from(bound("minAvailable")),
        Value::from(bound("maxUnavailable")),
        Value::from(integer(budget, &["status", "disruptionsAllowed"])),
        age_cell(budget, now_unix_seconds),
    ]
}
