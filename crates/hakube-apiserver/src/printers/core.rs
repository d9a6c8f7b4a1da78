//! Printers for simple core-group configuration objects (secrets, configmaps,
//! service accounts, resource quotas) and the default printer that every
//! resource without a dedicated table falls back to (roles, limit ranges,
//! CustomResourceDefinitions, ...).

use serde_json::Value;

use super::columns::{AGE, CREATED_AT, NAME, column};
use super::duration::{format_rfc3339_utc, parse_timestamp};
use super::fields::{age_cell, array, map, map_length, name_cell, optional_text, quantity, text};
use super::{Column, Printer};

/// Go's zero `time.Time` in RFC 3339, which upstream prints for objects that
/// have no creation timestamp.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

static DEFAULT_COLUMNS: [Column; 2] = [NAME, CREATED_AT];

/// Upstream's `rest.defaultTableConvertor`: Name, Created At.
pub(super) const DEFAULT_PRINTER: Printer = Printer {
    columns: &DEFAULT_COLUMNS,
    cells: default_cells,
};

fn default_cells(object: &Value, _now_unix_seconds: i64) -> Vec<Value> {
    vec![name_cell(object), Value::from(created_at(object))]
}

/// The creation timestamp re-rendered as UTC second precision (as Go's
/// `Format(time.RFC3339)` does); an unparsable stored value is passed through.
fn created_at(object: &Value) -> String {
    match optional_text(object, &["metadata", "creationTimestamp"]) {
        None | Some("") => ZERO_TIME.to_string(),
        Some(raw) => parse_timestamp(raw).map_or_else(|| raw.to_string(), format_rfc3339_utc),
    }
}

static SECRET_COLUMNS: [Column; 4] = [
    NAME,
    column(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    column(
        "Data",
        "string",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

pub(super) const SECRET_PRINTER: Printer = Printer {
    columns: &SECRET_COLUMNS,
    cells: secret_cells,
};

fn secret_cells(secret: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(secret),
        Value::from(text(secret, &["type"])),
        Value::from(map_length(secret, &["data"])),
        age_cell(secret, now_unix_seconds),
    ]
}

static CONFIG_MAP_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

pub(super) const CONFIG_MAP_PRINTER: Printer = Printer {
    columns: &CONFIG_MAP_COLUMNS,
    cells: config_map_cells,
};

fn config_map_cells(config_map: &Value, now_unix_seconds: i64) -> Vec<Value> {
    // Both plain and binary entries count, like upstream.
    let entries = map_length(config_map, &["data"]) + map_length(config_map, &["binaryData"]);
    vec![
        name_cell(config_map),
        Value::from(entries),
        age_cell(config_map, now_unix_seconds),
    ]
}

// The Secrets column is the 1.31-1.34 layout; upstream dropped it in 1.35
// because core components no longer populate `secrets`.
static SERVICE_ACCOUNT_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

pub(super) const SERVICE_ACCOUNT_PRINTER: Printer = Printer {
    columns: &SERVICE_ACCOUNT_COLUMNS,
    cells: service_account_cells,
};

fn service_account_cells(account: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let secrets = array(account, &["secrets"]).len();
    vec![
        name_cell(account),
        Value::from(secrets),
        age_cell(account, now_unix_seconds),
    ]
}

static RESOURCE_QUOTA_COLUMNS: [Column; 4] = [
    NAME,
    column(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    column(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

pub(super) const RESOURCE_QUOTA_PRINTER: Printer = Printer {
    columns: &RESOURCE_QUOTA_COLUMNS,
    cells: resource_quota_cells,
};

fn resource_quota_cells(quota: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let (requests, limits) = quota_usage(quota);
    vec![
        name_cell(quota),
        Value::from(requests),
        Value::from(limits),
        age_cell(quota, now_unix_seconds),
    ]
}

/// "name: used/hard, ..." for every resource in `status.hard`, sorted by name;
/// `limits.*` resources go to the second (Limit) string, the rest to the first.
fn quota_usage(quota: &Value) -> (String, String) {
    let Some(hard) = map(quota, &["status", "hard"]) else {
        return (String::new(), String::new());
    };
    let used = map(quota, &["status", "used"]);
    let mut resource_names: Vec<&String> = hard.keys().collect();
    resource_names.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for resource_name in resource_names {
        let hard_amount = quantity(hard.get(resource_name)).unwrap_or_else(|| "0".to_string());
        // A resource not yet observed as used prints as a zero quantity.
        let used_amount = quantity(used.and_then(|used| used.get(resource_name)))
            .unwrap_or_else(|| "0".to_string());
        let entry = format!("{resource_name}: {used_amount}/{hard_amount}");
        if is_limit_resource(resource_name) {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    (requests.join(", "), limits.join(", "))
}

/// Upstream routes names whose first dot-separated piece is "limits".
fn is_limit_resource(resource_name: &str) -> bool {
    resource_name
        .split_once('.')
        .is_some_and(|(prefix, _)| prefix == "limits")
}
