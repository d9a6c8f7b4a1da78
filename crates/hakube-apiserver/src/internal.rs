//! The API's write path for in-process clients (the controllers, the scheduler): the same
//! defaulting, validation, admission (quotas, limit ranges, namespace lifecycle) and field
//! managers as a POST, without HTTP. Controllers create pods through here so a pod made by a
//! ReplicaSet looks exactly like one made by kubectl.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::Query;
use crate::{ApiServer, admission, objects, write};

/// Creates `object` (its apiVersion and kind name the type) as `manager`; returns it stored.
pub async fn create(server: &ApiServer, mut object: Value, manager: &str) -> ApiResult<Value> {
    let api_version = objects::text(&object, &["apiVersion"]).unwrap_or_default();
    let kind = objects::text(&object, &["kind"]).unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    let resource = server.registry.by_kind(group, kind).ok_or_else(|| {
        ApiError::BadRequest(format!("no resource type for {api_version} {kind}"))
    })?;
    let namespace = objects::namespace(&object).map(str::to_string);
    write::prepare_create(
        server,
        &resource,
        namespace.as_deref(),
        &mut object,
        &Query::default(),
    )
    .await?;
    admission::mutate_create(server, &resource, &mut object).await?;
    crate::managed_fields::record_update(None, &mut object, manager, &resource.api_version(), None);
    crate::handlers::create::store_new(server, &resource, object).await
}
