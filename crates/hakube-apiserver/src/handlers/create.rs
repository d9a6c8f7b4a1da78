//! POST of a new object: the write path of [`crate::write`], admission (LimitRange defaults,
//! ResourceQuota charging), then a create-only store write (409 AlreadyExists when the name is
//! taken), in one transaction with the quotas it charges.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use hakube_store::Condition;

use crate::admission::{self, quota};
use crate::error::{ApiError, ApiResult};
use crate::handlers::{Call, written};
use crate::resources::ResourceType;
use crate::storage::{Freshness, Write};
use crate::{ApiServer, body, objects, storage, write};

pub async fn create(call: Call, request_body: Body) -> ApiResult<Response> {
    let resource = call.target.resource.clone();
    if !resource.stored {
        return crate::handlers::reviews::create(call, request_body).await;
    }
    let bytes = body::read(request_body).await?;
    let mut object = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let warnings = write::prepare_create(
        &call.server,
        &resource,
        call.target.namespace.as_deref(),
        &mut object,
        &call.query,
    )
    .await?;
    admission::mutate_create(&call.server, &resource, &mut object).await?;
    let manager = crate::handlers::update::field_manager(&call);
    crate::managed_fields::record_update(
        None,
        &mut object,
        &manager,
        &resource.api_version(),
        None,
    );
    if call.query.dry_run()? {
        return Ok(written(&resource, StatusCode::CREATED, object, &warnings));
    }
    let stored = store_new(&call.server, &resource, object).await?;
    Ok(written(&resource, StatusCode::CREATED, stored, &warnings))
}

/// How often a create is retried after a quota changed under it.
const QUOTA_ATTEMPTS: usize = 10;

/// Stores a new object, charging the namespace's quotas in the same transaction.
pub async fn store_new(
    server: &ApiServer,
    resource: &ResourceType,
    mut object: Value,
) -> ApiResult<Value> {
    let name = objects::name(&object).unwrap_or_default().to_string();
    let namespace = objects::namespace(&object).map(str::to_string);
    let key = storage::key(resource, namespace.as_deref(), &name);
    let cost = quota::usage(&resource.group, &resource.plural, &object);
    for _ in 0..QUOTA_ATTEMPTS {
        let quotas = match &namespace {
            Some(namespace) if resource.namespaced => {
                admission::namespace_objects(server, "", "resourcequotas", namespace).await?
            }
            _ => Vec::new(),
        };
        let allocations = if resource.group.is_empty() && resource.kind == "Service" {
            crate::services::allocate(server, resource, &mut object).await?
        } else {
            Vec::new()
        };
        let mut writes = vec![Write::Put {
            key: key.clone(),
            object: object.clone(),
            condition: Condition::Absent,
        }];
        writes.extend(allocations);
        let tracking = quotas.iter().filter(|q| {
            quota::tracks(&q.object, &cost, &resource.group, &resource.plural, &object)
        });
        for charged in tracking {
            let updated = quota::charge(
                &charged.object,
                &cost,
                &resource.group,
                &resource.plural,
                &object,
                &name,
            )?;
            writes.push(Write::Put {
                key: charged.key.clone(),
                object: updated,
                condition: Condition::ModRevision(charged.revision),
            });
        }
        if writes.len() == 1 {
            return match server.storage.put(&key, &object, Condition::Absent).await? {
                Ok(stored) => Ok(stored),
                Err(_) => Err(ApiError::AlreadyExists(resource.subject(&name))),
            };
        }
        if let Some(revision) = server.storage.transact(&writes).await? {
            storage::set_resource_version(&mut object, revision);
            return Ok(object);
        }
        // The object exists, or a quota changed meanwhile: find out which.
        if server
            .storage
            .get(&key, Freshness::Latest)
            .await?
            .0
            .is_some()
        {
            return Err(ApiError::AlreadyExists(resource.subject(&name)));
        }
    }
    Err(ApiError::Conflict {
        subject: resource.subject(&name),
        message: "the namespace's resource quotas kept changing; try again".into(),
    })
}
