//! Reading a request: the URL path as a resource target (group, version, resource, namespace,
//! name, subresource) and the query string as parameters.

use std::sync::Arc;

use crate::error::{ApiError, ApiResult};
use crate::resources::{Registry, ResourceType};

/// What a resource URL addresses.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// A path under `/api` or `/apis`.
#[derive(Debug, Clone)]
pub enum ApiPath {
    /// `/api/v1` or `/apis/<group>/<version>`: the group version's resource list.
    GroupVersion {
        group: String,
        version: String,
    },
    /// `/apis/<group>`: the group.
    Group(String),
    Resource(Target),
}

/// Parses `/api/v1/…` and `/apis/<group>/<version>/…`.
pub fn parse_path(path: &str, registry: &Registry) -> ApiResult<ApiPath> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group] => return Ok(ApiPath::Group((*group).to_string())),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::UnknownPath),
    };
    if !registry.has_group_version(group, version) {
        return Err(ApiError::UnknownPath);
    }
    let gv = || ApiPath::GroupVersion {
        group: group.to_string(),
        version: version.to_string(),
    };
    let lookup = |plural: &str| {
        registry
            .by_plural(group, version, plural)
            .ok_or(ApiError::UnknownPath)
    };
    let target = |resource, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        ApiPath::Resource(Target {
            resource,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    };
    Ok(match rest {
        [] => gv(),
        // /api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]; /namespaces/<name>/status|finalize
        // is the namespace's own subresource.
        ["namespaces", namespace, plural, tail @ ..]
            if !(group.is_empty()
                && tail.is_empty()
                && matches!(*plural, "status" | "finalize")) =>
        {
            let resource = lookup(plural)?;
            if !resource.namespaced {
                return Err(ApiError::UnknownPath);
            }
            match tail {
                [] => target(resource, Some(namespace), None, None),
                [name] => target(resource, Some(namespace), Some(name), None),
                [name, sub] => target(resource, Some(namespace), Some(name), Some(sub)),
                _ => return Err(ApiError::UnknownPath),
            }
        }
        [plural, tail @ ..] => {
            let resource = lookup(plural)?;
            match tail {
                [] => target(resource, None, None, None),
                [name] if !resource.namespaced => target(resource, None, Some(name), None),
                [name, sub] if !resource.namespaced => {
                    target(resource, None, Some(name), Some(sub))
                }
                _ => return Err(ApiError::UnknownPath),
            }
        }
    })
}

/// The query string as ordered pairs (repeated keys kept: exec's `command`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs again as a query string (for passing a request on to a node agent).
    pub fn encoded(&self) -> String {
        self.pairs
            .iter()
            .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Every value of a repeated parameter, in order.
    pub fn pairs_named<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// A non-negative integer parameter; a malformed one is a 400.
    pub fn number(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid value for {key}: {text:?} is not a non-negative integer"
                ))
            }),
        }
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "unsupported dryRun value {other:?}: the only supported value is \"All\""
            ))),
        }
    }
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query-string decoding: `%XX` escapes, and `+` as a space.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                match (hex_digit(bytes[index + 1]), hex_digit(bytes[index + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high * 16 + low);
                        index += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> Target {
        match parse_path(path, &Registry::with_builtin()).unwrap() {
            ApiPath::Resource(target) => target,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paths_name_their_targets() {
        let pods = resource("/api/v1/namespaces/default/pods");
        assert_eq!(
            (pods.resource.plural.as_str(), pods.namespace.as_deref()),
            ("pods", Some("default"))
        );
        let log = resource("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (log.name.as_deref(), log.subresource.as_deref()),
            (Some("web"), Some("log"))
        );
        let namespace = resource("/api/v1/namespaces/kube-system");
        assert_eq!(
            (
                namespace.resource.plural.as_str(),
                namespace.name.as_deref()
            ),
            ("namespaces", Some("kube-system"))
        );
        let status = resource("/api/v1/namespaces/kube-system/status");
        assert_eq!(status.subresource.as_deref(), Some("status"));
        let all_deployments = resource("/apis/apps/v1/deployments");
        assert_eq!(all_deployments.namespace, None);
        let node = resource("/api/v1/nodes/node1/status");
        assert_eq!(node.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        let registry = Registry::with_builtin();
        for path in [
            "/api/v2/pods",
            "/apis/apps/v1/widgets",
            "/api/v1/namespaces/default/nodes",
            "/api/v1/pods/x",
        ] {
            assert!(
                matches!(parse_path(path, &registry), Err(ApiError::UnknownPath)),
                "{path}"
            );
        }
    }

    #[test]
    fn queries_decode_percent_escapes_and_repeats() {
        let query = Query::parse(Some(
            "fieldSelector=spec.nodeName%3Dnode1&command=echo&command=hi+there&limit=500",
        ));
        assert_eq!(query.get("fieldSelector"), Some("spec.nodeName=node1"));
        assert_eq!(query.get("command"), Some("echo"));
        assert_eq!(query.number("limit").unwrap(), Some(500));
    }
}
