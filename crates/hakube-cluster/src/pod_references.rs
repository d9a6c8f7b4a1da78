//! What a node's pods reference, read for the agent every round: the ConfigMaps and Secrets
//! of their env and volumes, and a service account token for projected token volumes.
//! Tokens are kept per pod and requested again at 80 % of their lifetime (as the kubelet
//! refreshes them), since each TokenRequest signs a new one; and the pods are resolved a few at
//! a time, so a round on a node with many pods does not wait for one request after another
//! before it starts a new pod.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use hakube_kinds::k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use hakube_node::resolved_pod::ResolvedPod;

use crate::kube_client;
use crate::node::Node;

/// The lifetime asked for in each TokenRequest (upstream's default projected token: 1 h + 7 s).
const TOKEN_SECONDS: u64 = 3607;
/// A kept token is requested again after this much of its lifetime.
const TOKEN_REFRESH: Duration = Duration::from_secs(TOKEN_SECONDS * 8 / 10);
/// Pods resolved at once (each resolution is a few API requests).
const CONCURRENT_RESOLUTIONS: usize = 16;

/// The tokens of this node's pods, by pod uid, with when each was issued.
#[derive(Default)]
pub struct PodReferences {
    tokens: HashMap<String, (String, Instant)>,
}

impl PodReferences {
    /// `pods` with what they reference, in the same order.
    pub async fn resolve_all(&mut self, node: &Node, pods: Vec<Pod>) -> Vec<ResolvedPod> {
        let now = Instant::now();
        let present: HashSet<&str> = pods
            .iter()
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        self.tokens.retain(|uid, (_, issued)| {
            present.contains(uid.as_str()) && now.duration_since(*issued) < TOKEN_REFRESH
        });
        let tokens = &self.tokens;
        let resolutions = pods.into_iter().map(|pod| {
            let cached = pod
                .metadata
                .uid
                .as_deref()
                .and_then(|uid| tokens.get(uid))
                .map(|(token, _)| token.clone());
            resolve(node, pod, cached)
        });
        let resolved: Vec<(ResolvedPod, Option<String>)> = futures::stream::iter(resolutions)
            .buffered(CONCURRENT_RESOLUTIONS)
            .collect()
            .await;
        let mut pods = Vec::with_capacity(resolved.len());
        for (pod, requested) in resolved {
            if let (Some(token), Some(uid)) = (requested, pod.pod.metadata.uid.clone()) {
                self.tokens.insert(uid, (token, now));
            }
            pods.push(pod);
        }
        pods
    }
}

/// The pod with what its env and volumes reference, read from the API (missing ones are
/// left out: the agent reports CreateContainerConfigError for them, as the kubelet does).
/// Also returns a token it had to request (none when `cached` served or none is wanted).
async fn resolve(node: &Node, pod: Pod, cached: Option<String>) -> (ResolvedPod, Option<String>) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut resolved = ResolvedPod::new(pod);
    let (config_maps, secrets, wants_token) = references(&resolved.pod);
    for name in config_maps {
        let path = format!("/api/v1/namespaces/{namespace}/configmaps/{name}");
        if let Ok(object) = kube_client::get(node, &path).await
            && let Ok(config_map) = serde_json::from_value::<ConfigMap>(object)
        {
            resolved.config_maps.insert(name, config_map);
        }
    }
    for name in secrets {
        let path = format!("/api/v1/namespaces/{namespace}/secrets/{name}");
        if let Ok(object) = kube_client::get(node, &path).await
            && let Ok(secret) = serde_json::from_value::<Secret>(object)
        {
            resolved.secrets.insert(name, secret);
        }
    }
    let mut requested = None;
    if wants_token {
        if cached.is_some() {
            resolved.service_account_token = cached;
        } else {
            requested = service_account_token(node, &resolved.pod).await;
            resolved.service_account_token = requested.clone();
        }
    }
    (resolved, requested)
}

/// The ConfigMaps and Secrets a pod names, and whether it mounts a service account token.
fn references(pod: &Pod) -> (Vec<String>, Vec<String>, bool) {
    let value = serde_json::to_value(pod).unwrap_or(Value::Null);
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    let mut token = false;
    collect(&value["spec"], &mut config_maps, &mut secrets, &mut token);
    config_maps.sort();
    config_maps.dedup();
    secrets.sort();
    secrets.dedup();
    (config_maps, secrets, token)
}

/// Walks the pod spec for `configMapKeyRef`, `configMapRef`, `configMap` (volumes and
/// projections) and their Secret counterparts, and `serviceAccountToken` projections.
fn collect(
    value: &Value,
    config_maps: &mut Vec<String>,
    secrets: &mut Vec<String>,
    token: &mut bool,
) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let name = inner
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match key.as_str() {
                    "configMapKeyRef" | "configMapRef" | "configMap" => config_maps.extend(name),
                    "secretKeyRef" | "secretRef" => secrets.extend(name),
                    "secret" => secrets.extend(
                        inner
                            .get("secretName")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .or(name),
                    ),
                    "serviceAccountToken" => *token = true,
                    _ => {}
                }
                collect(inner, config_maps, secrets, token);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, config_maps, secrets, token);
            }
        }
        _ => {}
    }
}

/// A token for the pod's service account, bound to the pod (TokenRequest), for projected
/// token volumes.
async fn service_account_token(node: &Node, pod: &Pod) -> Option<String> {
    let namespace = pod.metadata.namespace.as_deref()?;
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .unwrap_or("default");
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token");
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS, "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
            "name": pod.metadata.name, "uid": pod.metadata.uid}}});
    let reply = kube_client::create(node, &path, &request).await.ok()?;
    reply
        .pointer("/status/token")
        .and_then(Value::as_str)
        .map(str::to_string)
}
