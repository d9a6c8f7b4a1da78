//! The `kubernetes` Service's Endpoints in `default`: the API server address of every Ready
//! control-plane node, so in-cluster clients reach the API through 10.152.183.1:443.

use serde_json::json;
use std::sync::Arc;

use super::{Action, Stored, key_parts};
use crate::controllers::disruption::is_ready;
use crate::objects::At as _;
use crate::tree::Tree;

pub const API_PORT: u16 = 16443;
const ENDPOINTS_KEY: &str = "/registry/core/endpoints/default/kubernetes";

fn is_control_plane(node: &Tree) -> bool {
    node.at("/metadata/labels")
        .and_then(|l| l.get("node-role.kubernetes.io/control-plane"))
        .is_some()
}

fn internal_ip(node: &Tree) -> Option<&str> {
    node.at("/status/addresses")?
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?
        .get("address")?
        .as_str()
}

pub fn plan(objects: &[Arc<Stored>]) -> Vec<Action> {
    let mut addresses: Vec<&str> = objects
        .iter()
        .filter(|s| matches!(key_parts(&s.key), Some(("", "nodes", None, _))))
        .filter(|s| is_control_plane(&s.object) && is_ready(&s.object))
        .filter_map(|s| internal_ip(&s.object))
        .collect();
    addresses.sort_unstable();
    if addresses.is_empty() {
        return Vec::new();
    }
    let subsets = json!([{
        "addresses": addresses.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}],
    }]);
    match objects.iter().find(|s| s.key == ENDPOINTS_KEY.as_bytes()) {
        Some(current) if current.object.get("subsets").is_some_and(|s| *s == subsets) => Vec::new(),
        Some(current) => {
            let mut updated = current.object.to_value();
            updated["subsets"] = subsets;
            vec![Action::Update {
                key: current.key.clone(),
                revision: current.revision,
                object: updated,
            }]
        }
        None => vec![Action::Create {
            key: ENDPOINTS_KEY.as_bytes().to_vec(),
            object: json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default", "uid": crate::objects::new_uid(),
                    "creationTimestamp": crate::objects::now_rfc3339(),
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": subsets}),
        }],
    }
}
