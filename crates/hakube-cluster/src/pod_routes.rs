//! Routes to the other nodes' pods (flannel's host-gw idea): each node's pods live on its own
//! bridge and /24 of the cluster CIDR; another node's /24 is reached through that node's
//! address. Nodes sharing one host (`hakube up`, tests) need none: every bridge is a connected
//! route there, and a 127.x gateway would not work anyway. [`plan`] decides, [`sync`] applies
//! with `ip route`.

use std::net::IpAddr;

use serde_json::Value;

/// One other node's pod network and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNetwork {
    pub pod_cidr: String,
    pub address: IpAddr,
}

/// What to change: routes to add or replace, and stale ones to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoutePlan {
    pub replace: Vec<PeerNetwork>,
    pub remove: Vec<String>,
}

/// The other nodes' pod networks, from the Node objects.
pub fn peer_networks(nodes: &[Value], own_name: &str) -> Vec<PeerNetwork> {
    nodes
        .iter()
        .filter(|node| node.pointer("/metadata/name").and_then(Value::as_str) != Some(own_name))
        .filter_map(|node| {
            let pod_cidr = node.pointer("/spec/podCIDR")?.as_str()?.to_string();
            let address = node
                .pointer("/status/addresses")?
                .as_array()?
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))?
                .get("address")?
                .as_str()?
                .parse()
                .ok()?;
            Some(PeerNetwork { pod_cidr, address })
        })
        .collect()
}

/// Decides the routes. `connected` are the pod CIDRs this host already reaches directly (a
/// local bridge); `installed` the routes this agent added before (CIDR and gateway).
pub fn plan(
    peers: &[PeerNetwork],
    connected: &[String],
    installed: &[(String, IpAddr)],
) -> RoutePlan {
    let mut plan = RoutePlan::default();
    let wanted: Vec<&PeerNetwork> = peers
        .iter()
        .filter(|peer| !peer.address.is_loopback() && !connected.contains(&peer.pod_cidr))
        .collect();
    for peer in &wanted {
        let current = installed.iter().find(|(cidr, _)| *cidr == peer.pod_cidr);
        if current.is_none_or(|(_, gateway)| *gateway != peer.address) {
            plan.replace.push((*peer).clone());
        }
    }
    for (cidr, _) in installed {
        if !wanted.iter().any(|peer| &peer.pod_cidr == cidr) {
            plan.remove.push(cidr.clone());
        }
    }
    plan
}

/// The routes in the main table for `cluster_cidr`'s subnets, as (CIDR, gateway) for those
/// with a gateway, and the CIDRs reached through a device directly (local bridges).
async fn current_routes() -> (Vec<(String, IpAddr)>, Vec<String>) {
    let Ok(output) = tokio::process::Command::new("ip")
        .args(["-4", "route", "show"])
        .output()
        .await
    else {
        return (Vec::new(), Vec::new());
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut via = Vec::new();
    let mut direct = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(cidr) = words.first() else {
            continue;
        };
        let gateway = words
            .iter()
            .position(|w| *w == "via")
            .and_then(|at| words.get(at + 1))
            .and_then(|g| g.parse::<IpAddr>().ok());
        match gateway {
            Some(gateway) if line.contains("proto static") || line.contains("hakube") => {
                via.push((cidr.to_string(), gateway))
            }
            Some(_) => {}
            None if words.contains(&"dev") && !line.starts_with("blackhole") => {
                direct.push(cidr.to_string())
            }
            None => {}
        }
    }
    (via, direct)
}

/// Brings this host's routes to the other nodes' pods in line with the Node objects.
pub async fn sync(nodes: &[Value], own_name: &str, cluster_cidr: &str) {
    let peers = peer_networks(nodes, own_name);
    let (installed, connected) = current_routes().await;
    let ours: Vec<(String, IpAddr)> = installed
        .into_iter()
        .filter(|(cidr, _)| within(cidr, cluster_cidr))
        .collect();
    let plan = plan(&peers, &connected, &ours);
    for peer in &plan.replace {
        let gateway = peer.address.to_string();
        let outcome = tokio::process::Command::new("ip")
            .args([
                "route",
                "replace",
                &peer.pod_cidr,
                "via",
                &gateway,
                "proto",
                "static",
            ])
            .output()
            .await;
        if !outcome.is_ok_and(|o| o.status.success()) {
            tracing::warn!(cidr = %peer.pod_cidr, %gateway, "cannot add the route to a node's pods");
        }
    }
    for cidr in &plan.remove {
        let _ = tokio::process::Command::new("ip")
            .args(["route", "del", cidr, "proto", "static"])
            .output()
            .await;
    }
}

/// Whether `cidr` lies inside `cluster` (both IPv4 a.b.c.d/n).
fn within(cidr: &str, cluster: &str) -> bool {
    use hakube_apiserver::controllers::node_ipam::Ipv4Block;
    let (Ok(inner), Ok(outer)) = (cidr.parse::<Ipv4Block>(), cluster.parse::<Ipv4Block>()) else {
        return false;
    };
    let mask = |length: u8| {
        if length == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(length))
        }
    };
    inner.prefix_length >= outer.prefix_length
        && u32::from(inner.base) & mask(outer.prefix_length) == u32::from(outer.base)
}

const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the routes in step with the Node objects until the node stops.
pub async fn run(node: std::sync::Arc<crate::node::Node>) {
    loop {
        if let Ok(list) = crate::kube_client::get(&node, "/api/v1/nodes").await {
            let nodes = list["items"].as_array().cloned().unwrap_or_default();
            sync(&nodes, &node.config.node_name, &node.config.cluster_cidr).await;
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(SYNC_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cidr: &str, address: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": address}]}})
    }

    #[test]
    fn other_hosts_pods_go_through_their_node_and_local_bridges_need_nothing() {
        let nodes = [
            node("a", "10.1.0.0/24", "192.168.1.10"),
            node("b", "10.1.1.0/24", "192.168.1.11"),
            node("c", "10.1.2.0/24", "127.0.0.13"),
        ];
        let peers = peer_networks(&nodes, "a");
        assert_eq!(peers.len(), 2);
        let plan = plan(&peers, &["10.1.0.0/24".to_string()], &[]);
        assert_eq!(
            plan.replace,
            [PeerNetwork {
                pod_cidr: "10.1.1.0/24".into(),
                address: "192.168.1.11".parse().expect("address"),
            }]
        );
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn routes_follow_moved_and_removed_nodes() {
        let peers = [PeerNetwork {
            pod_cidr: "10.1.1.0/24".into(),
            address: "192.168.1.12".parse().expect("address"),
        }];
        let installed = [
            (
                "10.1.1.0/24".to_string(),
                "192.168.1.11".parse().expect("address"),
            ),
            (
                "10.1.5.0/24".to_string(),
                "192.168.1.15".parse().expect("address"),
            ),
        ];
        let plan = plan(&peers, &[], &installed);
        assert_eq!(plan.replace.len(), 1, "the gateway changed");
        assert_eq!(plan.remove, ["10.1.5.0/24"]);
        assert!(
            super::plan(
                &peers,
                &[],
                &[(
                    "10.1.1.0/24".into(),
                    "192.168.1.12".parse().expect("address")
                )]
            )
            .replace
            .is_empty()
        );
    }

    #[test]
    fn only_routes_inside_the_cluster_cidr_are_ours() {
        assert!(within("10.1.3.0/24", "10.1.0.0/16"));
        assert!(!within("10.2.3.0/24", "10.1.0.0/16"));
        assert!(!within("10.0.0.0/8", "10.1.0.0/16"));
    }
}
