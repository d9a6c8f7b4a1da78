//! Server-side Table printers: the columns and cells that `kubectl get` shows
//! when it asks for `application/json;as=Table;g=meta.k8s.io;v=v1`.
//!
//! This file owns the public API (`Column`, `Printer`, `printer_for`) and the
//! dispatch from a resource to its printer. Per-resource column tables and
//! cell logic live in the sibling files, cut by API area; `duration` owns the
//! human-readable ages and `fields` the JSON access shared by all printers.
//!
//! Cells follow upstream's `pkg/printers/internalversion/printers.go` with
//! the table generated in wide mode, as the upstream API server always does:
//! every row carries one cell per column and the client hides priority-1
//! columns unless `-o wide` is requested.

mod batch;
mod cluster;
mod columns;
mod core;
pub mod custom;
mod duration;
mod events;
mod fields;
mod networking;
mod pods;
mod scaling;
mod storage;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::Value;

#[cfg(test)]
pub use duration::{age, human_duration};

/// One column definition of a meta.k8s.io/v1 Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// "string" | "integer" | "date" | "number" | "boolean"
    pub column_type: &'static str,
    /// "name" for the Name column, else "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0 always shown, 1 only with -o wide.
    pub priority: u8,
}

/// The columns of a resource and the function that fills one row of cells.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub columns: &'static [Column],
    /// One JSON value (string or integer, as upstream prints it) per column.
    pub cells: fn(object: &Value, now_unix_seconds: i64) -> Vec<Value>,
}

/// The printer for a resource (`group` "" is the core group; `resource` is the
/// plural, e.g. "deployments"). Unknown resources get the default printer:
/// Name, Created At (type date, the creationTimestamp string).
#[must_use]
pub fn printer_for(group: &str, resource: &str) -> Printer {
    core_group_printer(group, resource)
        .or_else(|| workload_printer(group, resource))
        .or_else(|| other_group_printer(group, resource))
        .unwrap_or(core::DEFAULT_PRINTER)
}

fn core_group_printer(group: &str, resource: &str) -> Option<Printer> {
    if !group.is_empty() {
        return None;
    }
    let printer = match resource {
        "pods" => pods::POD_PRINTER,
        "podtemplates" => workloads::POD_TEMPLATE_PRINTER,
        "replicationcontrollers" => workloads::REPLICATION_CONTROLLER_PRINTER,
        "nodes" => cluster::NODE_PRINTER,
        "namespaces" => cluster::NAMESPACE_PRINTER,
        "services" => networking::SERVICE_PRINTER,
        "endpoints" => networking::ENDPOINTS_PRINTER,
        "secrets" => core::SECRET_PRINTER,
        "configmaps" => core::CONFIG_MAP_PRINTER,
        "serviceaccounts" => core::SERVICE_ACCOUNT_PRINTER,
        "resourcequotas" => core::RESOURCE_QUOTA_PRINTER,
        "events" => events::EVENT_PRINTER,
        "persistentvolumes" => storage::PERSISTENT_VOLUME_PRINTER,
        "persistentvolumeclaims" => storage::PERSISTENT_VOLUME_CLAIM_PRINTER,
        _ => return None,
    };
    Some(printer)
}

fn workload_printer(group: &str, resource: &str) -> Option<Printer> {
    let printer = match (group, resource) {
        ("apps", "deployments") => workloads::DEPLOYMENT_PRINTER,
        ("apps", "replicasets") => workloads::REPLICA_SET_PRINTER,
        ("apps", "daemonsets") => workloads::DAEMON_SET_PRINTER,
        ("apps", "statefulsets") => workloads::STATEFUL_SET_PRINTER,
        ("apps", "controllerrevisions") => workloads::CONTROLLER_REVISION_PRINTER,
        ("batch", "jobs") => batch::JOB_PRINTER,
        ("batch", "cronjobs") => batch::CRON_JOB_PRINTER,
        ("autoscaling", "horizontalpodautoscalers") => scaling::HORIZONTAL_POD_AUTOSCALER_PRINTER,
        ("policy", "poddisruptionbudgets") => scaling::POD_DISRUPTION_BUDGET_PRINTER,
        _ => return None,
    };
    Some(printer)
}

fn other_group_printer(group: &str, resource: &str) -> Option<Printer> {
    let printer = match (group, resource) {
        ("events.k8s.io", "events") => events::EVENT_PRINTER,
        ("discovery.k8s.io", "endpointslices") => networking::ENDPOINT_SLICE_PRINTER,
        ("networking.k8s.io", "ingresses") => networking::INGRESS_PRINTER,
        ("networking.k8s.io", "ingressclasses") => networking::INGRESS_CLASS_PRINTER,
        ("networking.k8s.io", "networkpolicies") => networking::NETWORK_POLICY_PRINTER,
        ("coordination.k8s.io", "leases") => cluster::LEASE_PRINTER,
        ("scheduling.k8s.io", "priorityclasses") => cluster::PRIORITY_CLASS_PRINTER,
        ("node.k8s.io", "runtimeclasses") => cluster::RUNTIME_CLASS_PRINTER,
        ("rbac.authorization.k8s.io", "rolebindings") => cluster::ROLE_BINDING_PRINTER,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            cluster::CLUSTER_ROLE_BINDING_PRINTER
        }
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
        ) => cluster::WEBHOOK_CONFIGURATION_PRINTER,
        ("storage.k8s.io", "storageclasses") => storage::STORAGE_CLASS_PRINTER,
        _ => return None,
    };
    Some(printer)
}
