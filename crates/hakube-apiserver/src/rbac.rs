//! Authorization. Off by default (every authenticated user may do everything), as in MicroK8s;
//! with RBAC on, a request is allowed when a Role or ClusterRole bound to the user, one of
//! its groups or its service account has a rule for the verb, group, resource and name.
//! `system:masters` (the admin kubeconfig) and `system:nodes` (hakube's own agents) are always
//! allowed; discovery and other non-resource reads are open to authenticated users.

use serde_json::Value;

use crate::ApiServer;
use crate::auth::User;
use crate::error::ApiResult;
use crate::objects::At as _;
use crate::objects::strings;
use crate::storage::Freshness;
use crate::tree::{Json, Tree};

/// What a request wants to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Attributes {
    /// Upstream's Forbidden wording.
    pub fn refusal(&self, user: &User) -> String {
        let resource = match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        };
        let scope = match &self.namespace {
            Some(namespace) => format!(" in the namespace \"{namespace}\""),
            None => " at the cluster scope".into(),
        };
        let named = match &self.name {
            Some(name) => format!("{resource} \"{name}\" is forbidden"),
            None => format!("{resource} is forbidden"),
        };
        format!(
            "{named}: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\"{scope}",
            user.name, self.verb, self.group
        )
    }
}

fn matches(list: &[&str], wanted: &str) -> bool {
    list.iter().any(|item| *item == "*" || *item == wanted)
}

/// Whether one policy rule allows the request.
pub fn rule_allows(rule: &Value, request: &Attributes) -> bool {
    let resource = match &request.subresource {
        Some(sub) => format!("{}/{sub}", request.resource),
        None => request.resource.clone(),
    };
    let names = strings(rule.get("resourceNames"));
    matches(&strings(rule.get("verbs")), &request.verb)
        && matches(&strings(rule.get("apiGroups")), &request.group)
        && (matches(&strings(rule.get("resources")), &resource)
            || request
                .subresource
                .as_ref()
                .is_some_and(|sub| matches(&strings(rule.get("resources")), &format!("*/{sub}"))))
        && (names.is_empty()
            || request
                .name
                .as_deref()
                .is_some_and(|name| names.contains(&name)))
}

/// Whether a binding's subjects include the user.
pub fn binds<J: Json>(binding: &J, user: &User) -> bool {
    binding
        .get("subjects")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .any(|subject| {
            let name = subject.get("name").and_then(J::as_str).unwrap_or_default();
            match subject.get("kind").and_then(J::as_str) {
                Some("User") => user.name == name,
                Some("Group") => user.groups.iter().any(|g| g == name),
                Some("ServiceAccount") => {
                    let namespace = subject
                        .get("namespace")
                        .and_then(J::as_str)
                        .unwrap_or_default();
                    user.name == format!("system:serviceaccount:{namespace}:{name}")
                }
                _ => false,
            }
        })
}

/// The bindings under `prefix`, decoded once per write and shared by every request's check.
fn objects(
    server: &ApiServer,
    prefix: String,
) -> Vec<std::sync::Arc<crate::storage::Stored<Tree>>> {
    server.storage.decoded_under(prefix.as_bytes())
}

async fn role_rules(
    server: &ApiServer,
    binding: &Tree,
    namespace: Option<&str>,
) -> ApiResult<Vec<Value>> {
    let kind = binding
        .at("/roleRef/kind")
        .and_then(Tree::as_str)
        .unwrap_or_default();
    let name = binding
        .at("/roleRef/name")
        .and_then(Tree::as_str)
        .unwrap_or_default();
    let key = match (kind, namespace) {
        ("ClusterRole", _) => format!("/registry/rbac.authorization.k8s.io/clusterroles/{name}"),
        ("Role", Some(namespace)) => {
            format!("/registry/rbac.authorization.k8s.io/roles/{namespace}/{name}")
        }
        _ => return Ok(Vec::new()),
    };
    let (role, _) = server.storage.get(key.as_bytes(), Freshness::Any).await?;
    Ok(role
        .and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
        .unwrap_or_default())
}

/// Every rule that applies to `user` in `namespace` (cluster-wide bindings, then the
/// namespace's), for `kubectl auth can-i --list`; None when the user is always allowed.
pub async fn rules_of(
    server: &ApiServer,
    user: &User,
    namespace: &str,
) -> ApiResult<Option<Vec<Value>>> {
    if user
        .groups
        .iter()
        .any(|g| g == "system:masters" || g == "system:nodes")
    {
        return Ok(None);
    }
    let prefix = "/registry/rbac.authorization.k8s.io/";
    let mut rules = Vec::new();
    for binding in objects(server, format!("{prefix}clusterrolebindings/")) {
        if binds(&binding.object, user) {
            rules.extend(role_rules(server, &binding.object, None).await?);
        }
    }
    if !namespace.is_empty() {
        for binding in objects(server, format!("{prefix}rolebindings/{namespace}/")) {
            if binds(&binding.object, user) {
                rules.extend(role_rules(server, &binding.object, Some(namespace)).await?);
            }
        }
    }
    Ok(Some(rules))
}

/// Whether `user` may do `request` (RBAC on).
pub async fn allowed(server: &ApiServer, user: &User, request: &Attributes) -> ApiResult<bool> {
    if user
        .groups
        .iter()
        .any(|g| g == "system:masters" || g == "system:nodes")
    {
        return Ok(true);
    }
    let prefix = "/registry/rbac.authorization.k8s.io/";
    for binding in objects(server, format!("{prefix}clusterrolebindings/")) {
        if binds(&binding.object, user)
            && role_rules(server, &binding.object, None)
                .await?
                .iter()
                .any(|r| rule_allows(r, request))
        {
            return Ok(true);
        }
    }
    if let Some(namespace) = &request.namespace {
        for binding in objects(server, format!("{prefix}rolebindings/{namespace}/")) {
            if binds(&binding.object, user)
                && role_rules(server, &binding.object, Some(namespace))
                    .await?
                    .iter()
                    .any(|r| rule_allows(r, request))
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(verb: &str, resource: &str, name: Option<&str>) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: None,
            namespace: Some("default".into()),
            name: name.map(str::to_string),
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_and_names() {
        let rule = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]});
        assert!(rule_allows(&rule, &attributes("list", "pods", None)));
        assert!(!rule_allows(
            &rule,
            &attributes("delete", "pods", Some("a"))
        ));
        assert!(!rule_allows(
            &rule,
            &attributes("get", "secrets", Some("a"))
        ));
        let named = json!({"apiGroups": ["*"], "resources": ["configmaps"], "verbs": ["*"], "resourceNames": ["one"]});
        assert!(rule_allows(
            &named,
            &attributes("update", "configmaps", Some("one"))
        ));
        assert!(!rule_allows(
            &named,
            &attributes("update", "configmaps", Some("two"))
        ));
    }

    #[test]
    fn bindings_name_users_groups_and_service_accounts() {
        let binding = json!({"subjects": [{"kind": "User", "name": "bob"}, {"kind": "ServiceAccount", "name": "robot", "namespace": "ci"}]});
        let bob = User {
            name: "bob".into(),
            groups: vec![],
            ..User::default()
        };
        let robot = User {
            name: "system:serviceaccount:ci:robot".into(),
            groups: vec![],
            ..User::default()
        };
        let eve = User {
            name: "eve".into(),
            groups: vec!["devs".into()],
            ..User::default()
        };
        assert!(binds(&binding, &bob) && binds(&binding, &robot) && !binds(&binding, &eve));
    }

    #[test]
    fn refusals_read_like_upstream() {
        let bob = User {
            name: "bob".into(),
            groups: vec![],
            ..User::default()
        };
        assert_eq!(
            attributes("list", "pods", None).refusal(&bob),
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
    }
}
