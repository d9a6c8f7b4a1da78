//! Printers for pod-owning workloads: deployments, replica sets, daemon sets,
//! stateful sets and controller revisions (group apps), plus the core-group
//! replication controllers and pod templates.

use serde_json::Value;

use super::columns::{AGE, CONTAINERS, IMAGES, LABEL_SELECTOR_DESCRIPTION, NAME, column, selector};
use super::fields::{
    age_cell, array, container_cells, field, format_label_selector, format_labels, integer,
    label_selector_string, map, name_cell, optional_integer, template_containers, text,
};
use super::{Column, Printer};

/// apps/v1 defaulting sets a missing `spec.replicas` to 1 before storage.
const DEFAULT_REPLICAS: i64 = 1;

/// The Containers and Images cells of the pod template at `template_path`.
fn container_values(object: &Value, template_path: &[&str]) -> [Value; 2] {
    let (names, images) = container_cells(template_containers(object, template_path));
    [Value::from(names), Value::from(images)]
}

/// `spec.replicas`, defaulted like apps/v1.
fn desired_replicas(object: &Value) -> i64 {
    optional_integer(object, &["spec", "replicas"]).unwrap_or(DEFAULT_REPLICAS)
}

static DEPLOYMENT_COLUMNS: [Column; 8] = [
    NAME,
    column("Ready", "string", "Number of the pod with ready state"),
    column(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    column(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector(LABEL_SELECTOR_DESCRIPTION),
];

pub(super) const DEPLOYMENT_PRINTER: Printer = Printer {
    columns: &DEPLOYMENT_COLUMNS,
    cells: deployment_cells,
};

fn deployment_cells(deployment: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let ready = format!(
        "{}/{}",
        integer(deployment, &["status", "readyReplicas"]),
        desired_replicas(deployment)
    );
    // Deployments print the raw selector string ("" when it selects
    // everything) and "<invalid>" rather than FormatLabelSelector's fallbacks.
    let selector = label_selector_string(field(deployment, &["spec", "selector"]))
        .unwrap_or_else(|| "<invalid>".to_string());
    let [containers, images] = container_values(deployment, &["spec", "template"]);
    vec![
        name_cell(deployment),
        Value::from(ready),
        Value::from(integer(deployment, &["status", "updatedReplicas"])),
        Value::from(integer(deployment, &["status", "availableReplicas"])),
        age_cell(deployment, now_unix_seconds),
        containers,
        images,
        Value::from(selector),
    ]
}

static REPLICA_SET_COLUMNS: [Column; 8] = [
    NAME,
    column(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
    ),
    column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    column(
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector(
        "Selector is a label query over pods that should match the replica count. It must match the pod template's labels.",
    ),
];

pub(super) const REPLICA_SET_PRINTER: Printer = Printer {
    columns: &REPLICA_SET_COLUMNS,
    cells: replica_set_cells,
};

fn replica_set_cells(replica_set: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let [containers, images] = container_values(replica_set, &["spec", "template"]);
    vec![
        name_cell(replica_set),
        Value::from(desired_replicas(replica_set)),
        Value::from(integer(replica_set, &["status", "replicas"])),
        Value::from(integer(replica_set, &["status", "readyReplicas"])),
        age_cell(replica_set, now_unix_seconds),
        containers,
        images,
        Value::from(format_label_selector(field(
            replica_set,
            &["spec", "selector"],
        ))),
    ]
}

static REPLICATION_CONTROLLER_COLUMNS: [Column; 8] = [
    NAME,
    column(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
    ),
    column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    column(
        "Ready",
        "integer",
        "The number of ready replicas for this replication controller.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector(
        "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template.",
    ),
];

pub(super) const REPLICATION_CONTROLLER_PRINTER: Printer = Printer {
    columns: &REPLICATION_CONTROLLER_COLUMNS,
    cells: replication_controller_cells,
};

fn replication_controller_cells(controller: &Value, now_unix_seconds: i64) -> Vec<Value> {
    // Upstream dereferences a missing replicas pointer to 0 here.
    let [containers, images] = container_values(controller, &["spec", "template"]);
    vec![
        name_cell(controller),
        Value::from(integer(controller, &["spec", "replicas"])),
        Value::from(integer(controller, &["status", "replicas"])),
        Value::from(integer(controller, &["status", "readyReplicas"])),
        age_cell(controller, now_unix_seconds),
        containers,
        images,
        Value::from(format_labels(map(controller, &["spec", "selector"]))),
    ]
}

static DAEMON_SET_COLUMNS: [Column; 11] = [
    NAME,
    column(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
    ),
    column(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    column(
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    column(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    column(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    column(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector(
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels.",
    ),
];

pub(super) const DAEMON_SET_PRINTER: Printer = Printer {
    columns: &DAEMON_SET_COLUMNS,
    cells: daemon_set_cells,
};

fn daemon_set_cells(daemon_set: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let status = |key: &str| Value::from(integer(daemon_set, &["status", key]));
    let node_selector = map(daemon_set, &["spec", "template", "spec", "nodeSelector"]);
    let [containers, images] = container_values(daemon_set, &["spec", "template"]);
    vec![
        name_cell(daemon_set),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        Value::from(format_labels(node_selector)),
        age_cell(daemon_set, now_unix_seconds),
        containers,
        images,
        Value::from(format_label_selector(field(
            daemon_set,
            &["spec", "selector"],
        ))),
    ]
}

static STATEFUL_SET_COLUMNS: [Column; 5] = [
    NAME,
    column("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

pub(super) const STATEFUL_SET_PRINTER: Printer = Printer {
    columns: &STATEFUL_SET_COLUMNS,
    cells: stateful_set_cells,
};

fn stateful_set_cells(stateful_set: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let ready = format!(
        "{}/{}",
        integer(stateful_set, &["status", "readyReplicas"]),
        desired_replicas(stateful_set)
    );
    let [containers, images] = container_values(stateful_set, &["spec", "template"]);
    vec![
        name_cell(stateful_set),
        Value::from(ready),
        age_cell(stateful_set, now_unix_seconds),
        containers,
        images,
    ]
}

static CONTROLLER_REVISION_COLUMNS: [Column; 4] = [
    NAME,
    column("Controller", "string", "Controller of the object"),
    column(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];

pub(super) const CONTROLLER_REVISION_PRINTER: Printer = Printer {
    columns: &CONTROLLER_REVISION_COLUMNS,
    cells: controller_revision_cells,
};

fn controller_revision_cells(revision: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(revision),
        Value::from(controller_name(revision)),
        Value::from(integer(revision, &["revision"])),
        age_cell(revision, now_unix_seconds),
    ]
}

/// The controlling owner as "kind.group/name" lower-cased ("daemonset.apps/x"),
/// "kind/name" for the core group, "<none>" without a controller.
fn controller_name(object: &Value) -> String {
    let owner = array(object, &["metadata", "ownerReferences"])
        .iter()
        .find(|reference| field(reference, &["controller"]).and_then(Value::as_bool) == Some(true));
    let Some(owner) = owner else {
        return "<none>".to_string();
    };
    let kind = text(owner, &["kind"]);
    let name = text(owner, &["name"]);
    // "apps/v1" carries a group; a bare "v1" is the core group.
    let group = text(owner, &["apiVersion"])
        .split_once('/')
        .map_or("", |(group, _)| group);
    let group_kind = match (kind.is_empty(), group.is_empty()) {
        (true, true) => return name.to_string(),
        (_, true) => kind.to_string(),
        _ => format!("{kind}.{group}"),
    };
    format!("{}/{name}", group_kind.to_lowercase())
}

static POD_TEMPLATE_COLUMNS: [Column; 4] = [
    NAME,
    column(
        "Containers",
        "string",
        "Names of each container in the template.",
    ),
    column(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    column("Pod Labels", "string", "The labels for the pod template."),
];

pub(super) const POD_TEMPLATE_PRINTER: Printer = Printer {
    columns: &POD_TEMPLATE_COLUMNS,
    cells: pod_template_cells,
};

fn pod_template_cells(template: &Value, _now_unix_seconds: i64) -> Vec<Value> {
    let [containers, images] = container_values(template, &["template"]);
    vec![
        name_cell(template),
        containers,
        images,
        Value::from(format_labels(map(
            template,
            &["template", "metadata", "labels"],
        ))),
    ]
}
