//! Printers for cluster-level objects: nodes, namespaces, leases, priority
//! and runtime classes, RBAC bindings and admission webhook configurations.

use std::collections::BTreeSet;

use serde_json::Value;

use super::columns::{AGE, NAME, column, wide_column};
use super::fields::{
    age_cell, array, boolean, integer, length, map, name_cell, or_placeholder, text,
};
use super::{Column, Printer};

/// Label prefix whose suffix names a node role (`node-role.kubernetes.io/<role>`).
const NODE_ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";
/// Legacy label whose value names a node role.
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

const NODE_ADDRESSES_DESCRIPTION: &str =
    "List of addresses reachable to the node. Queried from cloud provider, if available.";

static NODE_COLUMNS: [Column; 10] = [
    NAME,
    column("Status", "string", "The status of the node"),
    column("Roles", "string", "The roles of the node"),
    AGE,
    column("Version", "string", "Kubelet Version reported by the node."),
    wide_column("Internal-IP", "string", NODE_ADDRESSES_DESCRIPTION),
    wide_column("External-IP", "string", NODE_ADDRESSES_DESCRIPTION),
    wide_column(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    wide_column(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    wide_column(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

pub(super) const NODE_PRINTER: Printer = Printer {
    columns: &NODE_COLUMNS,
    cells: node_cells,
};

fn node_cells(node: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let node_info = |key: &str| text(node, &["status", "nodeInfo", key]);
    vec![
        name_cell(node),
        Value::from(node_status(node)),
        Value::from(or_placeholder(&node_roles(node).join(","), "<none>")),
        age_cell(node, now_unix_seconds),
        Value::from(node_info("kubeletVersion")),
        Value::from(node_address(node, "InternalIP")),
        Value::from(node_address(node, "ExternalIP")),
        Value::from(or_placeholder(node_info("osImage"), "<unknown>")),
        Value::from(or_placeholder(node_info("kernelVersion"), "<unknown>")),
        Value::from(or_placeholder(
            node_info("containerRuntimeVersion"),
            "<unknown>",
        )),
    ]
}

/// "Ready" / "NotReady" from the Ready condition (any non-True status is
/// NotReady), "Unknown" without one; ",SchedulingDisabled" when cordoned.
fn node_status(node: &Value) -> String {
    let ready_condition = array(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|condition| text(condition, &["type"]) == "Ready");
    let mut status = match ready_condition {
        Some(condition) if text(condition, &["status"]) == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if boolean(node, &["spec", "unschedulable"]) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// Roles from `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role`
/// values, deduplicated and sorted.
fn node_roles(node: &Value) -> Vec<String> {
    let mut roles = BTreeSet::new();
    for (key, value) in map(node, &["metadata", "labels"]).into_iter().flatten() {
        if let Some(role) = key.strip_prefix(NODE_ROLE_LABEL_PREFIX) {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == NODE_ROLE_LABEL {
            let role = value.as_str().unwrap_or("");
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        }
    }
    roles.into_iter().collect()
}

/// The first address of `address_type`, or "<none>".
fn node_address(node: &Value, address_type: &str) -> String {
    array(node, &["status", "addresses"])
        .iter()
        .find(|address| text(address, &["type"]) == address_type)
        .map_or_else(
            || "<none>".to_string(),
            |address| text(address, &["address"]).to_string(),
        )
}

static NAMESPACE_COLUMNS: [Column; 3] = [
    NAME,
    column("Status", "string", "The status of the namespace"),
    AGE,
];

pub(super) const NAMESPACE_PRINTER: Printer = Printer {
    columns: &NAMESPACE_COLUMNS,
    cells: namespace_cells,
};

fn namespace_cells(namespace: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(namespace),
        Value::from(text(namespace, &["status", "phase"])),
        age_cell(namespace, now_unix_seconds),
    ]
}

static LEASE_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
    ),
    AGE,
];

pub(super) const LEASE_PRINTER: Printer = Printer {
    columns: &LEASE_COLUMNS,
    cells: lease_cells,
};

fn lease_cells(lease: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(lease),
        Value::from(text(lease, &["spec", "holderIdentity"])),
        age_cell(lease, now_unix_seconds),
    ]
}

// Upstream defines PreemptionPolicy without a priority, so it always shows.
static PRIORITY_CLASS_COLUMNS: [Column; 5] = [
    NAME,
    column(
        "Value",
        "integer",
        "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
    ),
    column(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
    ),
    AGE,
    column(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    ),
];

pub(super) const PRIORITY_CLASS_PRINTER: Printer = Printer {
    columns: &PRIORITY_CLASS_COLUMNS,
    cells: priority_class_cells,
};

fn priority_class_cells(class: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(class),
        Value::from(integer(class, &["value"])),
        Value::from(boolean(class, &["globalDefault"])),
        age_cell(class, now_unix_seconds),
        Value::from(text(class, &["preemptionPolicy"])),
    ]
}

static RUNTIME_CLASS_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Handler",
        "string",
        "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.",
    ),
    AGE,
];

pub(super) const RUNTIME_CLASS_PRINTER: Printer = Printer {
    columns: &RUNTIME_CLASS_COLUMNS,
    cells: runtime_class_cells,
};

fn runtime_class_cells(class: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(class),
        Value::from(text(class, &["handler"])),
        age_cell(class, now_unix_seconds),
    ]
}

const ROLE_REFERENCE_DESCRIPTION: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";

static ROLE_BINDING_COLUMNS: [Column; 6] = [
    NAME,
    column("Role", "string", ROLE_REFERENCE_DESCRIPTION),
    AGE,
    wide_column("Users", "string", "Users in the roleBinding"),
    wide_column("Groups", "string", "Groups in the roleBinding"),
    wide_column(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    ),
];

static CLUSTER_ROLE_BINDING_COLUMNS: [Column; 6] = [
    NAME,
    column(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
    ),
    AGE,
    wide_column("Users", "string", "Users in the clusterRoleBinding"),
    wide_column("Groups", "string", "Groups in the clusterRoleBinding"),
    wide_column(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

pub(super) const ROLE_BINDING_PRINTER: Printer = Printer {
    columns: &ROLE_BINDING_COLUMNS,
    cells: binding_cells,
};

pub(super) const CLUSTER_ROLE_BINDING_PRINTER: Printer = Printer {
    columns: &CLUSTER_ROLE_BINDING_COLUMNS,
    cells: binding_cells,
};

fn binding_cells(binding: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        text(binding, &["roleRef", "kind"]),
        text(binding, &["roleRef", "name"])
    );
    let subjects = BindingSubjects::of(binding);
    vec![
        name_cell(binding),
        Value::from(role),
        age_cell(binding, now_unix_seconds),
        Value::from(subjects.users.join(", ")),
        Value::from(subjects.groups.join(", ")),
        Value::from(subjects.service_accounts.join(", ")),
    ]
}

/// Upstream's `rbac.SubjectsStrings`, minus the unused "others" bucket.
#[derive(Debug, Default)]
struct BindingSubjects {
    users: Vec<String>,
    groups: Vec<String>,
    /// "namespace/name".
    service_accounts: Vec<String>,
}

impl BindingSubjects {
    fn of(binding: &Value) -> Self {
        let mut subjects = Self::default();
        for subject in array(binding, &["subjects"]) {
            let name = text(subject, &["name"]);
            match text(subject, &["kind"]) {
                "User" => subjects.users.push(name.to_string()),
                "Group" => subjects.groups.push(name.to_string()),
                "ServiceAccount" => {
                    let namespace = text(subject, &["namespace"]);
                    subjects
                        .service_accounts
                        .push(format!("{namespace}/{name}"));
                }
                _ => {}
            }
        }
        subjects
    }
}

static WEBHOOK_CONFIGURATION_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

/// Shared by mutating and validating webhook configurations.
pub(super) const WEBHOOK_CONFIGURATION_PRINTER: Printer = Printer {
    columns: &WEBHOOK_CONFIGURATION_COLUMNS,
    cells: webhook_configuration_cells,
};

fn webhook_configuration_cells(configuration: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(configuration),
        Value::from(length(array(configuration, &["webhooks"]).len())),
        age_cell(configuration, now_unix_seconds),
    ]
}
