//! Service addresses: a ClusterIP from the service range (10.152.183.0/24, as MicroK8s; .1 is
//! the `kubernetes` service) and node ports from 30000–32767. Each allocation is a store key
//! (`/hakube/serviceips/<ip>`, `/hakube/nodeports/<port>`) created in the same transaction as
//! the Service, so two Services can never get the same address; the controllers release
//! allocations whose Service is gone.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rand::RngExt;
use serde_json::{Value, json};

use hakube_store::Condition;

use crate::ApiServer;
use crate::error::{ApiError, ApiResult, Cause};
use crate::objects::At as _;
use crate::resources::ResourceType;
use crate::storage::{self, Freshness, Write};

pub const SERVICE_RANGE_BASE: Ipv4Addr = Ipv4Addr::new(10, 152, 183, 0);
/// The address of the `kubernetes` service (the API).
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 152, 183, 1);
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;
pub const IP_PREFIX: &str = "/hakube/serviceips/";
pub const PORT_PREFIX: &str = "/hakube/nodeports/";

fn in_range(ip: Ipv4Addr) -> bool {
    let [a, b, c, d] = ip.octets();
    [a, b, c] == [10, 152, 183] && d != 0 && d != 255
}

async fn taken(server: &ApiServer, prefix: &str) -> ApiResult<BTreeSet<String>> {
    let start = prefix.as_bytes().to_vec();
    let end = storage::prefix_end(&start);
    let (items, _) = server
        .storage
        .range(&start, &end, Freshness::Latest)
        .await?;
    Ok(items
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key[start.len()..]).into_owned())
        .collect())
}

fn owner(service: &Value) -> Value {
    json!({"namespace": crate::objects::namespace(service), "name": crate::objects::name(service)})
}

fn invalid(
    service: &Value,
    field: &str,
    value: &str,
    why: &str,
    resource: &ResourceType,
) -> ApiError {
    ApiError::Invalid {
        subject: resource.subject(crate::objects::name(service).unwrap_or_default()),
        causes: vec![Cause::invalid(field, format!("\"{value}\""), why)],
    }
}

/// Picks the Service's ClusterIP and node ports (unless given) and returns the allocation
/// writes to commit with it.
pub async fn allocate(
    server: &ApiServer,
    resource: &ResourceType,
    service: &mut Value,
) -> ApiResult<Vec<Write>> {
    let kind = service
        .at("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if kind == "ExternalName" {
        return Ok(Vec::new());
    }
    let mut writes = Vec::new();
    let requested = service
        .at("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested != "None" {
        let used = taken(server, IP_PREFIX).await?;
        let ip = if requested.is_empty() {
            let free: Vec<u8> = (2..=254u8)
                .filter(|d| !used.contains(&Ipv4Addr::new(10, 152, 183, *d).to_string()))
                .collect();
            if free.is_empty() {
                return Err(ApiError::Internal(
                    "failed to allocate a serviceIP: range is full".into(),
                ));
            }
            Ipv4Addr::new(10, 152, 183, free[rand::rng().random_range(0..free.len())])
        } else {
            let ip: Ipv4Addr = requested.parse().map_err(|_| {
                invalid(
                    service,
                    "spec.clusterIPs",
                    &requested,
                    "must be a valid IP address",
                    resource,
                )
            })?;
            if !in_range(ip) {
                return Err(invalid(
                    service,
                    "spec.clusterIPs",
                    &requested,
                    "failed to allocate IP: the provided IP is not in the valid range. The range of valid IPs is 10.152.183.0/24",
                    resource,
                ));
            }
            if used.contains(&ip.to_string()) {
                return Err(invalid(
                    service,
                    "spec.clusterIPs",
                    &requested,
                    "failed to allocate IP: provided IP is already allocated",
                    resource,
                ));
            }
            ip
        };
        service["spec"]["clusterIP"] = json!(ip.to_string());
        service["spec"]["clusterIPs"] = json!([ip.to_string()]);
        writes.push(Write::Put {
            key: format!("{IP_PREFIX}{ip}").into_bytes(),
            object: owner(service),
            condition: Condition::Absent,
        });
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        writes.extend(allocate_node_ports(server, resource, service).await?);
    }
    Ok(writes)
}

async fn allocate_node_ports(
    server: &ApiServer,
    resource: &ResourceType,
    service: &mut Value,
) -> ApiResult<Vec<Write>> {
    let used = taken(server, PORT_PREFIX).await?;
    let mut chosen = BTreeSet::new();
    let mut writes = Vec::new();
    let owner = owner(service);
    let Some(ports) = service
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut)
    else {
        return Ok(writes);
    };
    for (index, port) in ports.iter_mut().enumerate() {
        let number = match port.get("nodePort").and_then(Value::as_u64) {
            Some(given) => {
                let given = given as u16;
                if !NODE_PORTS.contains(&given)
                    || used.contains(&given.to_string())
                    || !chosen.insert(given)
                {
                    return Err(ApiError::Invalid {
                        subject: resource.subject(owner["name"].as_str().unwrap_or_default()),
                        causes: vec![Cause::invalid(
                            format!("spec.ports[{index}].nodePort"),
                            given,
                            "provided port is already allocated or outside 30000-32767",
                        )],
                    });
                }
                given
            }
            None => {
                let free: Vec<u16> = NODE_PORTS
                    .filter(|p| !used.contains(&p.to_string()) && !chosen.contains(p))
                    .take(4096)
                    .collect();
                if free.is_empty() {
                    return Err(ApiError::Internal(
                        "failed to allocate a nodePort: range is full".into(),
                    ));
                }
                let pick = free[rand::rng().random_range(0..free.len())];
                chosen.insert(pick);
                port["nodePort"] = json!(pick);
                pick
            }
        };
        writes.push(Write::Put {
            key: format!("{PORT_PREFIX}{number}").into_bytes(),
            object: owner.clone(),
            condition: Condition::Absent,
        });
    }
    Ok(writes)
}

/// On update, a Service keeps its addresses when the new spec leaves them out.
pub fn keep_addresses(current: &Value, new: &mut Value) {
    for field in ["clusterIP", "clusterIPs"] {
        let missing = new
            .at(&format!("/spec/{field}"))
            .is_none_or(|v| v.is_null() || v == "");
        if missing && let Some(value) = current.at(&format!("/spec/{field}")) {
            new["spec"][field] = value.clone();
        }
    }
    let current_ports: Vec<Value> = current
        .at("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut() {
            if port.get("nodePort").is_some() {
                continue;
            }
            let same = current_ports.iter().find(|p| {
                p.get("port") == port.get("port") && p.get("protocol") == port.get("protocol")
            });
            if let Some(node_port) = same.and_then(|p| p.get("nodePort")) {
                port["nodePort"] = node_port.clone();
            }
        }
    }
}

/// Allocation keys whose Service is gone (for the controllers to delete): `(key, revision)`.
pub async fn stale_allocations(server: &ApiServer) -> ApiResult<Vec<(Vec<u8>, u64)>> {
    let mut stale = Vec::new();
    for prefix in [IP_PREFIX, PORT_PREFIX] {
        let start = prefix.as_bytes().to_vec();
        let end = storage::prefix_end(&start);
        let (items, _) = server.storage.range(&start, &end, Freshness::Any).await?;
        for kv in items {
            let owner: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            let (Some(namespace), Some(name)) =
                (owner["namespace"].as_str(), owner["name"].as_str())
            else {
                continue;
            };
            let key = format!("/registry/core/services/{namespace}/{name}");
            let (service, _) = server.storage.get(key.as_bytes(), Freshness::Any).await?;
            let holds = service.is_some_and(|s| {
                let ip = String::from_utf8_lossy(&kv.key[start.len()..]).into_owned();
                s.at("/spec/clusterIP").and_then(Value::as_str) == Some(ip.as_str())
                    || s.at("/spec/ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|p| {
                            p.get("nodePort")
                                .and_then(Value::as_u64)
                                .map(|n| n.to_string())
                                == Some(ip.clone())
                        })
            });
            if !holds {
                stale.push((kv.key.clone(), kv.mod_revision));
            }
        }
    }
    Ok(stale)
}
