//! Who is asking: the user of a request, from the client certificate the TLS layer verified
//! against the cluster CA (common name = user, organizations = groups), or from a service
//! account bearer token ([`crate::tokens`]). Requests with neither are anonymous and get 401,
//! as on a cluster with anonymous auth off. A request may then ask to run as someone else
//! ([`crate::impersonation`]); the real user must be allowed to impersonate them.

use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::storage::Freshness;

/// The verified client certificate of a connection, placed in each request's extensions by
/// the TLS server (absent fields: no certificate).
#[derive(Clone, Debug, Default)]
pub struct ClientCertificate {
    pub common_name: Option<String>,
    pub organizations: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    /// Set only by impersonation (certificates and tokens name no uid here).
    pub uid: Option<String>,
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
    /// Who sent the request when it runs as an impersonated user (audit records both).
    pub impersonator: Option<Box<User>>,
}

fn from_certificate(certificate: Option<&ClientCertificate>) -> Option<User> {
    let certificate = certificate?;
    let name = certificate.common_name.clone()?;
    let mut groups = certificate.organizations.clone();
    groups.push("system:authenticated".into());
    Some(User {
        name,
        groups,
        ..User::default()
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The user a request runs as: the one it authenticates as, or the one it impersonates when
/// that user may (403 otherwise, with upstream's wording).
pub async fn authenticate(server: &ApiServer, parts: &Parts) -> ApiResult<Authenticated> {
    let user = authenticated(server, parts).await?;
    let Some(impersonation) = crate::impersonation::requested(&parts.headers)? else {
        return Ok(Authenticated::User(user));
    };
    if server.options.rbac {
        for check in impersonation.checks() {
            if !crate::rbac::allowed(server, &user, &check).await? {
                let refusal = ApiError::Forbidden(check.refusal(&user));
                return Ok(Authenticated::RefusedImpersonation { user, refusal });
            }
        }
    }
    Ok(Authenticated::User(impersonation.user(user)))
}

/// Who a request runs as, or the impersonation its authenticated user may not do (kept apart
/// from other errors so the refusal is audited under the real user).
pub enum Authenticated {
    User(User),
    RefusedImpersonation { user: User, refusal: ApiError },
}

/// The user of a request: its certificate's, else its valid token's; 401 otherwise.
async fn authenticated(server: &ApiServer, parts: &Parts) -> ApiResult<User> {
    if let Some(user) = from_certificate(parts.extensions.get::<ClientCertificate>()) {
        return Ok(user);
    }
    let token = bearer(&parts.headers).ok_or(ApiError::Unauthorized)?;
    let key = server
        .options
        .token_key
        .as_ref()
        .ok_or(ApiError::Unauthorized)?;
    let subject = key
        .verify(token, crate::objects::now_unix_seconds())
        .ok_or(ApiError::Unauthorized)?;
    // Bound to the account: a token outlives neither its account nor a recreated one.
    let account_key = format!(
        "/registry/core/serviceaccounts/{}/{}",
        subject.namespace, subject.name
    );
    let (account, _) = server
        .storage
        .get(account_key.as_bytes(), Freshness::Any)
        .await?;
    let current_uid = account
        .as_ref()
        .and_then(|a| crate::objects::text(a, &["metadata", "uid"]));
    if current_uid != Some(subject.uid.as_str()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(User {
        name: subject.user_name(),
        groups: subject.groups(),
        ..User::default()
    })
}
