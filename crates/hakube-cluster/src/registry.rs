//! The cluster's own records in the replicated store, under `/hakube/`: one record per node
//! (name, id, address, control plane or worker, failure domain, version) and the join tokens
//! (hashed). Kubernetes objects live under `/registry/`; nothing else writes here.

use serde::{Deserialize, Serialize};

use hakube_store::{Condition, Consistency, KeyValue, Operation, Store, StoreError};

use crate::token::TokenRecord;

pub const NODES_PREFIX: &str = "/hakube/nodes/";
pub const TOKENS_PREFIX: &str = "/hakube/tokens/";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    pub name: String,
    pub node_id: u64,
    pub address: String,
    pub peer_address: String,
    pub control_plane: bool,
    pub failure_domain: u64,
    pub version: String,
}

pub fn node_key(name: &str) -> Vec<u8> {
    format!("{NODES_PREFIX}{name}").into_bytes()
}

pub fn token_key(hash: &str) -> Vec<u8> {
    format!("{TOKENS_PREFIX}{hash}").into_bytes()
}

fn decode<T: serde::de::DeserializeOwned>(kv: &KeyValue) -> Result<T, StoreError> {
    serde_json::from_slice(&kv.value).map_err(|e| {
        StoreError::Internal(format!(
            "record {} is unreadable: {e}",
            String::from_utf8_lossy(&kv.key)
        ))
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Internal(format!("unencodable record: {e}")))
}

/// Every node record, sorted by name. Served from the local replica: membership decisions
/// re-check through Raft where it matters.
pub async fn list_nodes(store: &Store) -> Result<Vec<NodeRecord>, StoreError> {
    let start = NODES_PREFIX.as_bytes();
    let end = hakube_store::mvcc::prefix_end(start);
    let (result, _) = store
        .range(start, end.as_deref(), None, 0, Consistency::Local)
        .await?;
    result.items.iter().map(decode).collect()
}

pub async fn get_node(
    store: &Store,
    name: &str,
    consistency: Consistency,
) -> Result<Option<(NodeRecord, u64)>, StoreError> {
    let (kv, _) = store.get(&node_key(name), None, consistency).await?;
    kv.map(|kv| decode(&kv).map(|record| (record, kv.mod_revision)))
        .transpose()
}

pub async fn put_node(store: &Store, record: &NodeRecord) -> Result<(), StoreError> {
    let operation = Operation::Put {
        key: node_key(&record.name),
        value: encode(record)?,
        condition: Condition::Always,
    };
    store.write(operation).await.map(|_| ())
}

pub async fn delete_node(store: &Store, name: &str) -> Result<(), StoreError> {
    store
        .write(Operation::Delete {
            key: node_key(name),
            condition: Condition::Always,
        })
        .await
        .map(|_| ())
}

pub async fn put_token(store: &Store, record: &TokenRecord) -> Result<(), StoreError> {
    let operation = Operation::Put {
        key: token_key(&record.hash),
        value: encode(record)?,
        condition: Condition::Always,
    };
    store.write(operation).await.map(|_| ())
}

/// Looks up a token by its hash (linearizable, so a token just consumed elsewhere is gone).
pub async fn get_token(
    store: &Store,
    hash: &str,
) -> Result<Option<(TokenRecord, u64)>, StoreError> {
    let (kv, _) = store
        .get(&token_key(hash), None, Consistency::Linearizable)
        .await?;
    kv.map(|kv| decode(&kv).map(|record| (record, kv.mod_revision)))
        .transpose()
}

/// Consumes a single-use token with a conditional delete: of two concurrent joins with the
/// same token, on any nodes, exactly one wins.
pub async fn consume_token(
    store: &Store,
    hash: &str,
    mod_revision: u64,
) -> Result<bool, StoreError> {
    let operation = Operation::Delete {
        key: token_key(hash),
        condition: Condition::ModRevision(mod_revision),
    };
    Ok(store.write(operation).await?.succeeded)
}
