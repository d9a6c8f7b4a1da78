//! Admission: what a cluster enforces on writes beyond validation. LimitRange defaults and
//! bounds for pods, default tolerations of not-ready and unreachable nodes, and ResourceQuota charging (usage counted in the quota's status, updated
//! in the same store transaction as the object, so concurrent creates cannot overrun a quota).
//! NamespaceLifecycle lives with the write path ([`crate::write::admit_namespace`]).

pub mod default_tolerations;
pub mod limit_ranges;
pub mod quota;
pub mod quota_scopes;

use serde_json::Value;

use crate::ApiServer;
use crate::error::ApiResult;
use crate::resources::ResourceType;
use crate::storage::{self, Freshness};

/// The stored objects of one type in one namespace (with their keys and revisions).
pub async fn namespace_objects(
    server: &ApiServer,
    group: &str,
    plural: &str,
    namespace: &str,
) -> ApiResult<Vec<storage::Stored>> {
    let Some(resource) = server
        .registry
        .all()
        .into_iter()
        .find(|r| r.group == group && r.plural == plural)
    else {
        return Ok(Vec::new());
    };
    let prefix = storage::prefix(&resource, Some(namespace));
    server
        .storage
        .objects_under(&prefix, Freshness::Latest)
        .await
}

/// The LimitRanges of `namespace`, read linearizably.
pub async fn namespace_limit_ranges(server: &ApiServer, namespace: &str) -> ApiResult<Vec<Value>> {
    let ranges = namespace_objects(server, "", "limitranges", namespace).await?;
    Ok(ranges.into_iter().map(|s| s.object).collect())
}

/// Mutating admission of a new object (LimitRange defaults), then its checks.
pub async fn mutate_create(
    server: &ApiServer,
    resource: &ResourceType,
    object: &mut Value,
) -> ApiResult<()> {
    mutate_create_with(server, resource, object, None).await
}

/// [`mutate_create`] with the namespace's LimitRanges when the caller read them already (a
/// batch of pods in one namespace reads them once).
pub async fn mutate_create_with(
    server: &ApiServer,
    resource: &ResourceType,
    object: &mut Value,
    limit_ranges: Option<&[Value]>,
) -> ApiResult<()> {
    if resource.group.is_empty()
        && resource.kind == "Pod"
        && let Some(namespace) = crate::objects::namespace(object).map(str::to_string)
    {
        let ranges = match limit_ranges {
            Some(ranges) => ranges.to_vec(),
            None => namespace_limit_ranges(server, &namespace).await?,
        };
        limit_ranges::apply(&ranges, object)?;
        default_tolerations::apply(object, server.options.control.pod_eviction_timeout_seconds);
    }
    Ok(())
}
