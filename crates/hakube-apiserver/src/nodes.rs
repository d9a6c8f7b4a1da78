//! Keeping Nodes and datastore members in step: the API objects of a node that leaves or is
//! removed ([`forget`]), and the hook through which deleting a Node removes the node from the
//! cluster ([`NodeRemoval`]), so neither list keeps ghosts.

use futures::future::BoxFuture;

use hakube_store::{Condition, Operation, Store, StoreError};

/// Removes a node from the cluster when its Node object is deleted (implemented by the
/// cluster layer, which owns membership). `Err` carries a one-line reason to refuse the delete.
pub trait NodeRemoval: Send + Sync {
    fn remove(&self, name: String) -> BoxFuture<'static, Result<(), String>>;
}

fn node_keys(name: &str) -> [Vec<u8>; 2] {
    [
        format!("/registry/core/nodes/{name}").into_bytes(),
        format!("/registry/coordination.k8s.io/leases/kube-node-lease/{name}").into_bytes(),
    ]
}

/// Deletes a node's Node and Lease (absent ones are fine).
pub async fn forget(store: &Store, name: &str) -> Result<(), StoreError> {
    for key in node_keys(name) {
        store
            .write(Operation::Delete {
                key,
                condition: Condition::Always,
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn node_keys_match_the_storage_layout() {
        let registry = Registry::with_builtin();
        let nodes = registry.by_plural("", "v1", "nodes").unwrap();
        let leases = registry
            .by_plural("coordination.k8s.io", "v1", "leases")
            .unwrap();
        assert_eq!(
            node_keys("node1"),
            [
                crate::storage::key(&nodes, None, "node1"),
                crate::storage::key(&leases, Some("kube-node-lease"), "node1")
            ]
        );
    }
}
