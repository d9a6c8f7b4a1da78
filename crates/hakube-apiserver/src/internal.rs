//! The API's write path for in-process clients (the controllers, the scheduler): the same
//! defaulting, validation, admission (quotas, limit ranges, namespace lifecycle) and field
//! managers as a POST, without HTTP. Controllers create pods through here so a pod made by a
//! ReplicaSet looks exactly like one made by kubectl.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use hakube_store::Condition;
use hakube_store::txn::MAX_TXN_OPS;

use crate::error::{ApiError, ApiResult};
use crate::request::Query;
use crate::storage::{self, Write};
use crate::{ApiServer, admission, objects, write};

/// Creates `object` (its apiVersion and kind name the type) as `manager`; returns it stored.
pub async fn create(server: &ApiServer, mut object: Value, manager: &str) -> ApiResult<Value> {
    let resource = prepare(server, &mut object, manager, None).await?;
    crate::handlers::create::store_new(server, &resource, object).await
}

/// Creates every object in one store write (at most [`MAX_TXN_OPS`] of them) when none of
/// their namespaces has a ResourceQuota: `Ok(Some(stored))` when all were created,
/// `Ok(None)` when nothing was written because one exists already (a generated name taken) or
/// a quota would have to be charged; the caller then creates them one by one through
/// [`create`], which charges quotas and says which failed and why.
pub async fn create_together(
    server: &ApiServer,
    objects: Vec<Value>,
    manager: &str,
) -> ApiResult<Option<Vec<Value>>> {
    if objects.len() > MAX_TXN_OPS {
        return Ok(None);
    }
    let mut writes = Vec::with_capacity(objects.len());
    // What admission reads of each namespace (linearizable reads), once per batch: a
    // namespace with quotas ends the batch; its LimitRanges (read for pods only) are applied
    // to each pod.
    let mut without_quotas: HashSet<String> = HashSet::new();
    let mut limit_ranges: HashMap<String, Vec<Value>> = HashMap::new();
    for mut object in objects {
        let namespace = objects::namespace(&object).map(str::to_string);
        if let Some(namespace) = &namespace
            && !without_quotas.contains(namespace)
        {
            let quotas = admission::namespace_objects(server, "", "resourcequotas", namespace);
            if !quotas.await?.is_empty() {
                return Ok(None);
            }
            without_quotas.insert(namespace.clone());
        }
        if let Some(namespace) = &namespace
            && objects::text(&object, &["kind"]) == Some("Pod")
            && !limit_ranges.contains_key(namespace)
        {
            let ranges = admission::namespace_limit_ranges(server, namespace).await?;
            limit_ranges.insert(namespace.clone(), ranges);
        }
        let ranges = namespace.as_ref().and_then(|n| limit_ranges.get(n));
        let resource = prepare(server, &mut object, manager, ranges.map(Vec::as_slice)).await?;
        let name = objects::name(&object).unwrap_or_default().to_string();
        writes.push(Write::Put {
            key: storage::key(&resource, namespace.as_deref(), &name),
            object,
            condition: Condition::Absent,
        });
    }
    let Some(revision) = server.storage.transact(&writes).await? else {
        return Ok(None);
    };
    Ok(Some(
        writes
            .into_iter()
            .filter_map(|write| match write {
                Write::Put { mut object, .. } => {
                    storage::set_resource_version(&mut object, revision);
                    Some(object)
                }
                Write::Delete { .. } => None,
            })
            .collect(),
    ))
}

/// Defaults, validates and admits a new `object` as `manager` would POST it (with its
/// namespace's LimitRanges when already read); returns its type.
async fn prepare(
    server: &ApiServer,
    object: &mut Value,
    manager: &str,
    limit_ranges: Option<&[Value]>,
) -> ApiResult<std::sync::Arc<crate::resources::ResourceType>> {
    let api_version = objects::text(object, &["apiVersion"]).unwrap_or_default();
    let kind = objects::text(object, &["kind"]).unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    let resource = server.registry.by_kind(group, kind).ok_or_else(|| {
        ApiError::BadRequest(format!("no resource type for {api_version} {kind}"))
    })?;
    let namespace = objects::namespace(object).map(str::to_string);
    write::prepare_create(
        server,
        &resource,
        namespace.as_deref(),
        object,
        &Query::default(),
    )
    .await?;
    admission::mutate_create_with(server, &resource, object, limit_ranges).await?;
    crate::managed_fields::record_update(None, object, manager, &resource.api_version(), None);
    Ok(resource)
}
