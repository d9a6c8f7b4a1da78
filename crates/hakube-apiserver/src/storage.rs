//! Objects in the replicated store: where each lives (`/registry/<group>/<plural>/<ns>/<name>`),
//! and reads and conditional writes that turn store revisions into resourceVersions. Objects
//! are stored as JSON without `metadata.resourceVersion`; reads add it from the key's mod
//! revision, so the version can never disagree with the store.

use serde_json::Value;

use hakube_store::txn::{Compare, CompareResult, CompareTarget, DeleteRangeOp, PutOp, Txn, TxnOp};
use hakube_store::{Condition, Consistency, KeyValue, Operation, Store};

use crate::error::{ApiError, ApiResult};
use crate::objects::At as _;
use crate::resources::ResourceType;
use crate::tree::Tree;

/// The key prefix of every object of `resource` (in `namespace` when given).
pub fn prefix(resource: &ResourceType, namespace: Option<&str>) -> Vec<u8> {
    let group = if resource.group.is_empty() {
        "core"
    } else {
        resource.group.as_str()
    };
    let mut key = format!("/registry/{group}/{}/", resource.plural);
    if let (true, Some(namespace)) = (resource.namespaced, namespace) {
        key.push_str(namespace);
        key.push('/');
    }
    key.into_bytes()
}

pub fn key(resource: &ResourceType, namespace: Option<&str>, name: &str) -> Vec<u8> {
    let mut key = prefix(resource, namespace);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The end of a prefix scan: the prefix with its last byte incremented.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    // Prefixes end in '/', never 0xff, so incrementing cannot overflow.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// A stored object with its resourceVersion filled in.
pub fn decode(kv: &KeyValue) -> ApiResult<Value> {
    let mut object: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        ApiError::Internal(format!(
            "stored object {} is not JSON: {e}",
            String::from_utf8_lossy(&kv.key)
        ))
    })?;
    set_resource_version(&mut object, kv.mod_revision);
    Ok(object)
}

pub fn set_resource_version(object: &mut Value, revision: u64) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

fn encode(object: &Value) -> ApiResult<Vec<u8>> {
    let mut stored = object.clone();
    if let Some(metadata) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    serde_json::to_vec(&stored).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Reads of one object or a range, and conditional writes.
#[derive(Clone)]
pub struct Storage {
    store: Store,
    decoded: std::sync::Arc<crate::decoded_cache::DecodedCache>,
}

/// How fresh a read must be (the `resourceVersion` parameter of a GET or LIST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// "" : the latest, confirmed with the leader (like upstream's quorum read).
    Latest,
    /// "0" or a version this replica already has: whatever this replica has.
    Any,
    /// An exact revision (continue tokens, `resourceVersionMatch=Exact`).
    Exact(u64),
}

impl Storage {
    pub fn new(store: Store) -> Self {
        Storage {
            store,
            decoded: Default::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn consistency(freshness: Freshness) -> Consistency {
        match freshness {
            Freshness::Latest => Consistency::Linearizable,
            Freshness::Any | Freshness::Exact(_) => Consistency::Local,
        }
    }

    /// The object under `key`, with the store revision it was read at and whether the read
    /// may be stale (quorum lost).
    pub async fn get(&self, key: &[u8], freshness: Freshness) -> ApiResult<(Option<Value>, Read)> {
        let revision = match freshness {
            Freshness::Exact(revision) => Some(revision),
            _ => None,
        };
        let (found, info) = self
            .store
            .get(key, revision, Self::consistency(freshness))
            .await?;
        let object = found.as_ref().map(decode).transpose()?;
        Ok((
            object,
            Read {
                revision: info.revision,
                stale: info.stale,
            },
        ))
    }

    /// Every key-value in `[start, end)`.
    pub async fn range(
        &self,
        start: &[u8],
        end: &[u8],
        freshness: Freshness,
    ) -> ApiResult<(Vec<KeyValue>, Read)> {
        self.range_matching(start, end, freshness, &|_| true).await
    }

    /// The key-values in `[start, end)` whose stored bytes `keep` accepts.
    pub async fn range_matching(
        &self,
        start: &[u8],
        end: &[u8],
        freshness: Freshness,
        keep: &(dyn Fn(&[u8]) -> bool + Sync),
    ) -> ApiResult<(Vec<KeyValue>, Read)> {
        let revision = match freshness {
            Freshness::Exact(revision) => Some(revision),
            _ => None,
        };
        let (result, info) = self
            .store
            .range_matching(
                start,
                Some(end),
                revision,
                Self::consistency(freshness),
                keep,
            )
            .await?;
        Ok((
            result.items,
            Read {
                revision: info.revision,
                stale: info.stale,
            },
        ))
    }

    /// Writes `object` under `key` if `condition` holds; returns the stored object (with its
    /// new resourceVersion), or `Ok(None)` when the condition failed.
    pub async fn put(
        &self,
        key: &[u8],
        object: &Value,
        condition: Condition,
    ) -> ApiResult<Result<Value, Option<Value>>> {
        let value = encode(object)?;
        let response = self
            .store
            .write(Operation::Put {
                key: key.to_vec(),
                value,
                condition,
            })
            .await?;
        if !response.succeeded {
            let current = response.previous.as_ref().map(decode).transpose()?;
            return Ok(Err(current));
        }
        let mut stored = object.clone();
        set_resource_version(&mut stored, response.revision);
        Ok(Ok(stored))
    }

    /// Deletes `key` if `condition` holds; returns the revision of the delete and the deleted
    /// object, or the current object when the condition failed (`None` when it is gone).
    pub async fn delete(
        &self,
        key: &[u8],
        condition: Condition,
    ) -> ApiResult<Result<(u64, Option<Value>), Option<Value>>> {
        let response = self
            .store
            .write(Operation::Delete {
                key: key.to_vec(),
                condition,
            })
            .await?;
        if !response.succeeded {
            let current = response.previous.as_ref().map(decode).transpose()?;
            return Ok(Err(current));
        }
        let deleted = response.previous.as_ref().map(decode).transpose()?;
        Ok(Ok((response.revision, deleted)))
    }
}

/// One write of a transaction ([`Storage::transact`]).
#[derive(Debug, Clone)]
pub enum Write {
    Put {
        key: Vec<u8>,
        object: Value,
        condition: Condition,
    },
    Delete {
        key: Vec<u8>,
        condition: Condition,
    },
}

fn compare(key: &[u8], condition: Condition) -> Option<Compare> {
    let target = match condition {
        Condition::Always => return None,
        // A missing key has version 0.
        Condition::Absent => CompareTarget::Version(0),
        Condition::ModRevision(revision) => CompareTarget::ModRevision(revision as i64),
    };
    Some(Compare {
        key: key.to_vec(),
        range_end: Vec::new(),
        target,
        result: CompareResult::Equal,
    })
}

impl Storage {
    /// Applies every write, or none when any condition fails: `Ok(Some(revision))` when
    /// applied (every written object has that resourceVersion), `Ok(None)` when a condition
    /// failed. Used where an object and its accounting change together (quota, eviction).
    pub async fn transact(&self, writes: &[Write]) -> ApiResult<Option<u64>> {
        let mut txn = Txn::default();
        for write in writes {
            match write {
                Write::Put {
                    key,
                    object,
                    condition,
                } => {
                    txn.compares.extend(compare(key, *condition));
                    txn.success.push(TxnOp::Put(PutOp {
                        key: key.clone(),
                        value: encode(object)?,
                        ..PutOp::default()
                    }));
                }
                Write::Delete { key, condition } => {
                    txn.compares.extend(compare(key, *condition));
                    txn.success.push(TxnOp::DeleteRange(DeleteRangeOp {
                        key: key.clone(),
                        range_end: Vec::new(),
                        prev_kv: false,
                    }));
                }
            }
        }
        let response = self.store.write(Operation::Txn(txn)).await?;
        if let Some(error) = response.txn_error {
            return Err(ApiError::Internal(format!(
                "the store refused a transaction: {error}"
            )));
        }
        let succeeded = response.txn.as_ref().is_some_and(|t| t.succeeded);
        Ok(succeeded.then_some(response.revision))
    }
}

/// One stored object with what is needed to write it back conditionally: decoded as a
/// `Value` by a read ([`Storage::objects_under`]), or as a shared [`Tree`] by the decoded
/// cache ([`Storage::decoded_under`]).
#[derive(Debug, Clone)]
pub struct Stored<O = Value> {
    pub key: Vec<u8>,
    pub revision: u64,
    pub object: O,
}

impl Storage {
    /// Every object under `prefix` as this replica has it, like `objects_under(prefix,
    /// Freshness::Any)` but decoded once per write and shared between readers
    /// ([`crate::decoded_cache`]); events are left out.
    pub fn decoded_under(&self, prefix: &[u8]) -> Vec<std::sync::Arc<Stored<Tree>>> {
        let machine = self.store.machine();
        self.decoded.objects_under(|| machine.read(), prefix)
    }

    /// Puts the stored `metadata.managedFields` of `key` at `revision` back into `object`, a
    /// changed copy (`to_value`) of a [`Storage::decoded_under`] object (the cache leaves them out), before
    /// it is written back conditionally on `revision`.
    pub fn restore_managed_fields(&self, key: &[u8], revision: u64, object: &mut Value) {
        if object.at("/metadata/managedFields").is_some() {
            return;
        }
        let machine = self.store.machine();
        let stored = machine.read().kv.get(key, None);
        if let Ok(Some(stored)) = stored {
            crate::decoded_cache::restore_managed_fields(&stored, revision, object);
        }
    }

    /// Every object under `prefix`, decoded (undecodable values are skipped).
    pub async fn objects_under(
        &self,
        prefix: &[u8],
        freshness: Freshness,
    ) -> ApiResult<Vec<Stored>> {
        let end = prefix_end(prefix);
        let (items, _) = self.range(prefix, &end, freshness).await?;
        Ok(items
            .iter()
            .filter_map(|kv| {
                let object = decode(kv).ok()?;
                Some(Stored {
                    key: kv.key.clone(),
                    revision: kv.mod_revision,
                    object,
                })
            })
            .collect())
    }
}

/// What a read saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub revision: u64,
    /// True when the read could not be confirmed with a quorum (read-only cluster).
    pub stale: bool,
}
