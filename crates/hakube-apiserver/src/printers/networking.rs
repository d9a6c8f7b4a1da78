//! Printers for service networking: services, endpoints, endpoint slices
//! (discovery.k8s.io), ingresses, ingress classes and network policies
//! (networking.k8s.io).

use std::collections::BTreeSet;

use serde_json::Value;

use super::columns::{AGE, NAME, column, wide_column};
use super::fields::{
    age_cell, array, field, format_label_selector, format_labels, list_with_more, map, name_cell,
    optional_integer, optional_text, text,
};
use super::{Column, Printer};

/// Upstream lists at most this many endpoints, ports or hosts in one cell.
const SHOWN_ITEMS: usize = 3;

static SERVICE_COLUMNS: [Column; 7] = [
    NAME,
    column(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
    ),
    column(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    column(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    column(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    wide_column(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];

pub(super) const SERVICE_PRINTER: Printer = Printer {
    columns: &SERVICE_COLUMNS,
    cells: service_cells,
};

fn service_cells(service: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let ports = service_ports(array(service, &["spec", "ports"]));
    vec![
        name_cell(service),
        Value::from(text(service, &["spec", "type"])),
        Value::from(cluster_ip(service)),
        Value::from(external_ip(service)),
        Value::from(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports
        }),
        age_cell(service, now_unix_seconds),
        Value::from(format_labels(map(service, &["spec", "selector"]))),
    ]
}

/// The primary cluster IP (`clusterIPs[0]`, else the legacy `clusterIP`).
fn cluster_ip(service: &Value) -> String {
    let primary = array(service, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| optional_text(service, &["spec", "clusterIP"]))
        .unwrap_or("");
    if primary.is_empty() {
        "<none>".to_string()
    } else {
        primary.to_string()
    }
}

/// Upstream's `getServiceExternalIP` for a wide (unclipped) table.
fn external_ip(service: &Value) -> String {
    let external_ips: Vec<&str> = array(service, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match text(service, &["spec", "type"]) {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => load_balancer_external_ip(service, &external_ips),
        "ExternalName" => text(service, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Load-balancer ingress points followed by explicit external IPs, or
/// "<pending>" while the load balancer has not been provisioned.
fn load_balancer_external_ip(service: &Value, external_ips: &[&str]) -> String {
    let mut addresses = load_balancer_addresses(field(service, &["status", "loadBalancer"]));
    addresses.extend(external_ips.iter().map(|ip| (*ip).to_string()));
    if addresses.is_empty() {
        "<pending>".to_string()
    } else {
        addresses.join(",")
    }
}

/// Sorted, deduplicated IPs (or hostnames when no IP) of a load balancer
/// status's `ingress` list.
fn load_balancer_addresses(status: Option<&Value>) -> Vec<String> {
    let Some(status) = status else {
        return Vec::new();
    };
    let addresses: BTreeSet<String> = array(status, &["ingress"])
        .iter()
        .map(|point| {
            let ip = text(point, &["ip"]);
            if ip.is_empty() {
                text(point, &["hostname"])
            } else {
                ip
            }
        })
        .filter(|address| !address.is_empty())
        .map(str::to_string)
        .collect();
    addresses.into_iter().collect()
}

/// "80/TCP" or, with a node port, "80:30080/TCP", joined by ",".
fn service_ports(ports: &[Value]) -> String {
    let rendered: Vec<String> = ports
        .iter()
        .map(|port| {
            let number = optional_integer(port, &["port"]).unwrap_or(0);
            // Stored services always carry the defaulted protocol.
            let protocol = optional_text(port, &["protocol"]).unwrap_or("TCP");
            match optional_integer(port, &["nodePort"]) {
                Some(node_port) if node_port > 0 => format!("{number}:{node_port}/{protocol}"),
                _ => format!("{number}/{protocol}"),
            }
        })
        .collect();
    rendered.join(",")
}

static ENDPOINTS_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share.",
    ),
    AGE,
];

pub(super) const ENDPOINTS_PRINTER: Printer = Printer {
    columns: &ENDPOINTS_COLUMNS,
    cells: endpoints_cells,
};

fn endpoints_cells(endpoints: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(endpoints),
        Value::from(format_endpoints(endpoints)),
        age_cell(endpoints, now_unix_seconds),
    ]
}

/// "ip:port" for every address and port of every subset (bare IPs for
/// port-less headless subsets), at most three then " + N more...".
fn format_endpoints(endpoints: &Value) -> String {
    let subsets = array(endpoints, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut entries = Vec::new();
    for subset in subsets {
        let ips: Vec<&str> = array(subset, &["addresses"])
            .iter()
            .map(|address| text(address, &["ip"]))
            .collect();
        let ports = array(subset, &["ports"]);
        if ports.is_empty() {
            entries.extend(ips.iter().map(|ip| (*ip).to_string()));
            continue;
        }
        for port in ports {
            let number = optional_integer(port, &["port"]).unwrap_or(0);
            entries.extend(ips.iter().map(|ip| join_host_port(ip, number)));
        }
    }
    list_with_more(&entries, SHOWN_ITEMS, "")
}

/// Go's `net.JoinHostPort`: IPv6 hosts are bracketed.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

static ENDPOINT_SLICE_COLUMNS: [Column; 5] = [
    NAME,
    column(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type.",
    ),
    column(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    column(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];

pub(super) const ENDPOINT_SLICE_PRINTER: Printer = Printer {
    columns: &ENDPOINT_SLICE_COLUMNS,
    cells: endpoint_slice_cells,
};

fn endpoint_slice_cells(slice: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let ports: Vec<String> = array(slice, &["ports"]).iter().map(slice_port).collect();
    let addresses: Vec<String> = array(slice, &["endpoints"])
        .iter()
        .flat_map(|endpoint| array(endpoint, &["addresses"]))
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    vec![
        name_cell(slice),
        Value::from(text(slice, &["addressType"])),
        Value::from(list_with_more(&ports, SHOWN_ITEMS, "<unset>")),
        Value::from(list_with_more(&addresses, SHOWN_ITEMS, "<unset>")),
        age_cell(slice, now_unix_seconds),
    ]
}

/// The port number, else its name, else "*" (all ports).
fn slice_port(port: &Value) -> String {
    if let Some(number) = optional_integer(port, &["port"]) {
        return number.to_string();
    }
    optional_text(port, &["name"]).unwrap_or("*").to_string()
}

static INGRESS_COLUMNS: [Column; 6] = [
    NAME,
    column(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    column(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    column(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    column("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

pub(super) const INGRESS_PRINTER: Printer = Printer {
    columns: &INGRESS_COLUMNS,
    cells: ingress_cells,
};

fn ingress_cells(ingress: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let class = optional_text(ingress, &["spec", "ingressClassName"]).unwrap_or("<none>");
    let address = load_balancer_addresses(field(ingress, &["status", "loadBalancer"])).join(",");
    let ports = if array(ingress, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name_cell(ingress),
        Value::from(class),
        Value::from(ingress_hosts(array(ingress, &["spec", "rules"]))),
        Value::from(address),
        Value::from(ports),
        age_cell(ingress, now_unix_seconds),
    ]
}

/// Upstream's `formatHosts`: the first three non-empty hosts, "*" when none,
/// and " + N more..." (N counting every rule past the third) when any rule
/// follows the third host.
fn ingress_hosts(rules: &[Value]) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == SHOWN_ITEMS {
            more = true;
            break;
        }
        let host = text(rule, &["host"]);
        if !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_string();
    }
    let joined = hosts.join(",");
    if more {
        format!(
            "{joined} + {} more...",
            rules.len().saturating_sub(SHOWN_ITEMS)
        )
    } else {
        joined
    }
}

static INGRESS_CLASS_COLUMNS: [Column; 4] = [
    NAME,
    column(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    column(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

pub(super) const INGRESS_CLASS_PRINTER: Printer = Printer {
    columns: &INGRESS_CLASS_COLUMNS,
    cells: ingress_class_cells,
};

fn ingress_class_cells(class: &Value, now_unix_seconds: i64) -> Vec<Value> {
    vec![
        name_cell(class),
        Value::from(text(class, &["spec", "controller"])),
        Value::from(ingress_class_parameters(field(
            class,
            &["spec", "parameters"],
        ))),
        age_cell(class, now_unix_seconds),
    ]
}

/// "Kind.apiGroup/name" (or "Kind/name" without a group), "<none>" if unset.
fn ingress_class_parameters(parameters: Option<&Value>) -> String {
    let Some(parameters) = parameters else {
        return "<none>".to_string();
    };
    let kind = text(parameters, &["kind"]);
    let name = text(parameters, &["name"]);
    match optional_text(parameters, &["apiGroup"]) {
        Some(group) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

static NETWORK_POLICY_COLUMNS: [Column; 3] = [
    NAME,
    column(
        "Pod-Selector",
        "string",
        "Selects the pods to which this NetworkPolicy object applies.",
    ),
    AGE,
];

pub(super) const NETWORK_POLICY_PRINTER: Printer = Printer {
    columns: &NETWORK_POLICY_COLUMNS,
    cells: network_policy_cells,
};

fn network_policy_cells(policy: &Value, now_unix_seconds: i64) -> Vec<Value> {
    // An absent pod selector is the empty selector upstream; both print
    // "<none>".
    let pod_selector = field(policy, &["spec", "podSelector"]);
    vec![
        name_cell(policy),
        Value::from(format_label_selector(pod_selector)),
        age_cell(policy, now_unix_seconds),
    ]
}
