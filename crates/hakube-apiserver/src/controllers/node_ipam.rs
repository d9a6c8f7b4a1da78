//! Node IPAM, as upstream's range allocator: every Node gets its own pod CIDR
//! (`spec.podCIDR`, `spec.podCIDRs`) out of the cluster CIDR, the lowest free block first. The
//! node agent builds its pod bridge from it; other nodes route to it through the node's
//! address.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::json;

use super::{Action, Stored, key_parts};

use crate::objects::At as _;
use crate::tree::Tree;

/// An IPv4 block: `10.1.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Block {
    pub base: Ipv4Addr,
    pub prefix_length: u8,
}

impl std::str::FromStr for Ipv4Block {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid IPv4 CIDR {text:?} (expected e.g. 10.1.0.0/16)");
        let (address, length) = text.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        let prefix_length: u8 = length.parse().map_err(|_| invalid())?;
        if prefix_length > 32 {
            return Err(invalid());
        }
        let block = Self {
            base: Ipv4Addr::from(u32::from(address) & mask(prefix_length)),
            prefix_length,
        };
        if block.base != address {
            return Err(format!("{text} has host bits set (the network is {block})"));
        }
        Ok(block)
    }
}

impl std::fmt::Display for Ipv4Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix_length)
    }
}

fn mask(prefix_length: u8) -> u32 {
    if prefix_length == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_length))
    }
}

impl Ipv4Block {
    /// The `index`-th sub-block of `prefix_length` (None past the end).
    fn sub_block(&self, prefix_length: u8, index: u32) -> Option<Ipv4Block> {
        let count = 1u64 << (prefix_length.checked_sub(self.prefix_length)?);
        if u64::from(index) >= count {
            return None;
        }
        let size = 1u64 << (32 - u32::from(prefix_length));
        let base = u64::from(u32::from(self.base)) + u64::from(index) * size;
        Some(Ipv4Block {
            base: Ipv4Addr::from(u32::try_from(base).ok()?),
            prefix_length,
        })
    }
}

/// Assigns a free block of `node_prefix_length` to every node without one.
pub fn plan(objects: &[Arc<Stored>], cluster: Ipv4Block, node_prefix_length: u8) -> Vec<Action> {
    let nodes: Vec<&Stored> = objects
        .iter()
        .map(|s| &**s)
        .filter(|s| matches!(key_parts(&s.key), Some(("", "nodes", None, _))))
        .collect();
    let mut used: BTreeSet<String> = nodes
        .iter()
        .filter_map(|s| s.object.at("/spec/podCIDR").and_then(Tree::as_str))
        .map(str::to_string)
        .collect();
    let mut next = 0u32;
    let mut actions = Vec::new();
    for stored in nodes {
        if stored.object.at("/spec/podCIDR").is_some() {
            continue;
        }
        let block = loop {
            match cluster.sub_block(node_prefix_length, next) {
                Some(block) if used.contains(&block.to_string()) => next += 1,
                other => break other,
            }
        };
        let Some(block) = block else {
            tracing::warn!(cluster = %cluster, "the cluster CIDR has no free pod CIDR left");
            break;
        };
        used.insert(block.to_string());
        let mut object = stored.object.to_value();
        object["spec"]["podCIDR"] = json!(block.to_string());
        object["spec"]["podCIDRs"] = json!([block.to_string()]);
        actions.push(Action::Update {
            key: stored.key.clone(),
            revision: stored.revision,
            object,
        });
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: Option<&str>) -> Arc<Stored> {
        let mut object = json!({"metadata": {"name": name}, "spec": {}});
        if let Some(cidr) = cidr {
            object["spec"]["podCIDR"] = json!(cidr);
        }
        Arc::new(Stored {
            key: format!("/registry/core/nodes/{name}").into_bytes(),
            revision: 1,
            object: object.into(),
        })
    }

    fn assigned(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Update { object, .. } => {
                    object["spec"]["podCIDR"].as_str().map(str::to_string)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn free_blocks_are_handed_out_lowest_first() {
        let cluster: Ipv4Block = "10.1.0.0/16".parse().expect("valid");
        let objects = vec![
            node("a", Some("10.1.0.0/24")),
            node("b", None),
            node("c", None),
        ];
        assert_eq!(
            assigned(&plan(&objects, cluster, 24)),
            ["10.1.1.0/24", "10.1.2.0/24"]
        );
    }

    #[test]
    fn an_exhausted_range_assigns_what_it_can() {
        let cluster: Ipv4Block = "10.1.0.0/23".parse().expect("valid");
        let objects = vec![node("a", None), node("b", None), node("c", None)];
        assert_eq!(
            assigned(&plan(&objects, cluster, 24)),
            ["10.1.0.0/24", "10.1.1.0/24"]
        );
    }

    #[test]
    fn bad_cidrs_are_refused() {
        assert!("10.1.0.1/16".parse::<Ipv4Block>().is_err());
        assert!("10.1.0.0".parse::<Ipv4Block>().is_err());
        assert!("10.1.0.0/33".parse::<Ipv4Block>().is_err());
    }
}
