//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the `Impersonate-*` headers of a
//! request, what the real user must be allowed to do for them (upstream's `impersonate` verb on
//! users, service accounts, groups, uids and user extras), and the user the request then runs
//! as. Pure: the caller authorizes each check and swaps the user.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::rbac::Attributes;

const USER_HEADER: &str = "impersonate-user";
const GROUP_HEADER: &str = "impersonate-group";
const UID_HEADER: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// Every request carries at most this many impersonation values, so a request cannot make
/// the server run thousands of authorization checks.
const MAX_VALUES: usize = 64;

/// What a request asks to be treated as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Impersonation {
    pub user: String,
    pub groups: Vec<String>,
    pub uid: Option<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

fn text(value: &axum::http::HeaderValue) -> ApiResult<String> {
    value
        .to_str()
        .map(str::to_string)
        .map_err(|_| ApiError::BadRequest("impersonation headers must be ASCII text".into()))
}

/// Extra keys travel percent-encoded in header names (upstream's rule), lower-cased.
fn extra_key(encoded: &str) -> String {
    crate::request::percent_decode(encoded).to_lowercase()
}

/// The impersonation a request asks for, if any; 400 for groups, a uid or extras without a user.
pub fn requested(headers: &HeaderMap) -> ApiResult<Option<Impersonation>> {
    let mut wanted = Impersonation::default();
    let mut user = None;
    let mut values = 0;
    for (name, value) in headers {
        let name = name.as_str();
        if !name.starts_with("impersonate-") {
            continue;
        }
        values += 1;
        if values > MAX_VALUES {
            return Err(ApiError::BadRequest(format!(
                "at most {MAX_VALUES} impersonation headers are accepted"
            )));
        }
        match name {
            USER_HEADER => user = Some(text(value)?),
            GROUP_HEADER => wanted.groups.push(text(value)?),
            UID_HEADER => wanted.uid = Some(text(value)?),
            _ => {
                if let Some(key) = name.strip_prefix(EXTRA_PREFIX) {
                    let value = text(value)?;
                    wanted.extra.entry(extra_key(key)).or_default().push(value);
                }
            }
        }
    }
    match user {
        Some(user) if !user.is_empty() => {
            wanted.user = user;
            Ok(Some(wanted))
        }
        _ if wanted.groups.is_empty() && wanted.uid.is_none() && wanted.extra.is_empty() => {
            Ok(None)
        }
        _ => Err(ApiError::BadRequest(
            "requested impersonation of groups, a uid or extra fields without impersonating a user"
                .into(),
        )),
    }
}

/// A service account's user name split into its namespace and name.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    rest.split_once(':')
        .filter(|(namespace, name)| !namespace.is_empty() && !name.is_empty())
}

fn check(
    group: &str,
    resource: &str,
    subresource: Option<&str>,
    namespace: Option<&str>,
    name: &str,
) -> Attributes {
    Attributes {
        verb: "impersonate".into(),
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.map(str::to_string),
        namespace: namespace.map(str::to_string),
        name: Some(name.into()),
    }
}

impl Impersonation {
    /// What the real user must be allowed, one check per impersonated value (upstream's order).
    pub fn checks(&self) -> Vec<Attributes> {
        let mut checks = vec![match service_account(&self.user) {
            Some((namespace, name)) => check("", "serviceaccounts", None, Some(namespace), name),
            None => check("", "users", None, None, &self.user),
        }];
        checks.extend(
            self.groups
                .iter()
                .map(|group| check("", "groups", None, None, group)),
        );
        if let Some(uid) = &self.uid {
            checks.push(check("authentication.k8s.io", "uids", None, None, uid));
        }
        for (key, values) in &self.extra {
            checks.extend(values.iter().map(|value| {
                check(
                    "authentication.k8s.io",
                    "userextras",
                    Some(key),
                    None,
                    value,
                )
            }));
        }
        checks
    }

    /// The user the request runs as: the asked-for groups, a service account's groups when none
    /// were asked for, and `system:authenticated` (upstream adds it to every impersonated user
    /// but the anonymous one).
    pub fn user(self, impersonator: User) -> User {
        let mut groups = self.groups;
        if groups.is_empty()
            && let Some((namespace, _)) = service_account(&self.user)
        {
            groups.push("system:serviceaccounts".into());
            groups.push(format!("system:serviceaccounts:{namespace}"));
        }
        let authenticated = "system:authenticated";
        if self.user != "system:anonymous" && !groups.iter().any(|g| g == authenticated) {
            groups.push(authenticated.into());
        }
        User {
            name: self.user,
            groups,
            uid: self.uid,
            extra: self.extra,
            impersonator: Some(Box::new(impersonator)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    fn admin() -> User {
        User {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
            ..User::default()
        }
    }

    #[test]
    fn no_headers_no_impersonation() {
        assert_eq!(
            requested(&headers(&[("Accept", "application/json")])).ok(),
            Some(None)
        );
    }

    #[test]
    fn groups_without_a_user_are_refused() {
        let error = requested(&headers(&[("Impersonate-Group", "devs")])).err();
        assert!(matches!(error, Some(ApiError::BadRequest(_))), "{error:?}");
    }

    #[test]
    fn a_user_with_groups_and_extras_needs_one_check_each() {
        let asked = requested(&headers(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "1234"),
            ("Impersonate-Extra-Acme.com%2Fproject", "red"),
        ]))
        .ok()
        .flatten()
        .expect("an impersonation");
        let checks: Vec<String> = asked
            .checks()
            .iter()
            .map(|c| {
                format!(
                    "{}/{}/{}/{}",
                    c.group,
                    c.resource,
                    c.subresource.clone().unwrap_or_default(),
                    c.name.clone().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            checks,
            [
                "/users//jane",
                "/groups//devs",
                "/groups//ops",
                "authentication.k8s.io/uids//1234",
                "authentication.k8s.io/userextras/acme.com/project/red",
            ]
        );
        let user = asked.user(admin());
        assert_eq!(user.name, "jane");
        assert_eq!(user.groups, ["devs", "ops", "system:authenticated"]);
        assert_eq!(user.impersonator.map(|u| u.name).as_deref(), Some("admin"));
    }

    #[test]
    fn a_service_account_is_checked_in_its_namespace_and_gets_its_groups() {
        let asked = requested(&headers(&[(
            "Impersonate-User",
            "system:serviceaccount:ci:robot",
        )]))
        .ok()
        .flatten()
        .expect("an impersonation");
        let checks = asked.checks();
        assert_eq!(checks[0].resource, "serviceaccounts");
        assert_eq!(checks[0].namespace.as_deref(), Some("ci"));
        assert_eq!(checks[0].name.as_deref(), Some("robot"));
        assert_eq!(
            asked.user(admin()).groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated"
            ]
        );
    }
}
