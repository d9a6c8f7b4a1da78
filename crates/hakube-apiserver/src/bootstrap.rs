//! Objects every cluster has from the start: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`. Every API server ensures them (create-if-absent, so
//! several servers racing is harmless), retrying until the store accepts writes.

use std::time::Duration;

use serde_json::{Value, json};

use hakube_store::Condition;

use crate::ApiServer;
use crate::error::ApiResult;
use crate::objects;
use crate::storage;

pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure_namespace(server: &ApiServer, name: &str) -> ApiResult<()> {
    let Some(resource) = server.registry.by_plural("", "v1", "namespaces") else {
        return Ok(());
    };
    let key = storage::key(&resource, None, name);
    if server
        .storage
        .get(&key, storage::Freshness::Any)
        .await?
        .0
        .is_some()
    {
        return Ok(());
    }
    let namespace = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": objects::new_uid(),
            "creationTimestamp": objects::now_rfc3339(),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    });
    // Absent: another server may have created it meanwhile, which is just as good.
    server
        .storage
        .put(&key, &namespace, Condition::Absent)
        .await?
        .ok();
    Ok(())
}

/// The `kubernetes` Service (the API at 10.152.183.1:443) with its address allocation.
async fn ensure_kubernetes_service(server: &ApiServer) -> ApiResult<()> {
    let key = b"/registry/core/services/default/kubernetes".to_vec();
    if server
        .storage
        .get(&key, storage::Freshness::Any)
        .await?
        .0
        .is_some()
    {
        return Ok(());
    }
    let ip = crate::services::KUBERNETES_SERVICE_IP.to_string();
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "uid": objects::new_uid(),
            "creationTimestamp": objects::now_rfc3339(),
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                "targetPort": crate::controllers::api_endpoints::API_PORT}]},
        "status": {"loadBalancer": {}},
    });
    let writes = [
        storage::Write::Put {
            key,
            object: service,
            condition: Condition::Absent,
        },
        storage::Write::Put {
            key: format!("{}{ip}", crate::services::IP_PREFIX).into_bytes(),
            object: json!({"namespace": "default", "name": "kubernetes"}),
            condition: Condition::Absent,
        },
    ];
    server.storage.transact(&writes).await?;
    Ok(())
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "uid": objects::new_uid(), "creationTimestamp": objects::now_rfc3339(),
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": rules})
}

fn cluster_role_binding(name: &str, role: &str, group: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "uid": objects::new_uid(), "creationTimestamp": objects::now_rfc3339(),
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]})
}

/// Upstream's default roles users build on: cluster-admin, admin, edit, view, and what every
/// authenticated user may do (ask what it may do, who it is).
fn default_rbac() -> Vec<(String, Value)> {
    let all = json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]);
    let read = ["get", "list", "watch"];
    let write = ["create", "delete", "deletecollection", "patch", "update"];
    let edit_verbs: Vec<&str> = read.iter().chain(write.iter()).copied().collect();
    let workloads = json!([
        "pods",
        "pods/log",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/eviction",
        "services",
        "endpoints",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "events",
        "deployments",
        "deployments/scale",
        "replicasets",
        "replicasets/scale",
        "statefulsets",
        "statefulsets/scale",
        "daemonsets",
        "jobs",
        "cronjobs",
        "horizontalpodautoscalers",
        "ingresses",
        "networkpolicies",
        "poddisruptionbudgets",
        "leases"
    ]);
    let groups = json!([
        "",
        "apps",
        "batch",
        "autoscaling",
        "networking.k8s.io",
        "policy",
        "coordination.k8s.io",
        "events.k8s.io"
    ]);
    let self_review = json!([{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]);
    // What metrics-server's aggregated reader role adds to admin, edit and view: `kubectl top`.
    let metrics =
        json!({"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": read});
    let rbac = "/registry/rbac.authorization.k8s.io";
    vec![
        (
            format!("{rbac}/clusterroles/cluster-admin"),
            cluster_role("cluster-admin", all),
        ),
        (
            format!("{rbac}/clusterroles/admin"),
            cluster_role(
                "admin",
                json!([
            {"apiGroups": groups, "resources": workloads, "verbs": edit_verbs},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": edit_verbs},
            {"apiGroups": [""], "resources": ["resourcequotas", "limitranges", "namespaces"], "verbs": read},
            metrics.clone()]),
            ),
        ),
        (
            format!("{rbac}/clusterroles/edit"),
            cluster_role(
                "edit",
                json!([
            {"apiGroups": groups, "resources": workloads, "verbs": edit_verbs},
            {"apiGroups": [""], "resources": ["resourcequotas", "limitranges", "namespaces"], "verbs": read},
            metrics.clone()]),
            ),
        ),
        (
            format!("{rbac}/clusterroles/view"),
            cluster_role(
                "view",
                json!([
            {"apiGroups": groups, "resources": workloads.as_array().map(|w| w.iter().filter(|r| r != &&json!("secrets")).cloned().collect::<Vec<_>>()).unwrap_or_default(), "verbs": read},
            {"apiGroups": [""], "resources": ["resourcequotas", "limitranges", "namespaces"], "verbs": read},
            metrics.clone()]),
            ),
        ),
        (
            format!("{rbac}/clusterroles/system:basic-user"),
            cluster_role("system:basic-user", self_review),
        ),
        (
            format!("{rbac}/clusterrolebindings/cluster-admin"),
            cluster_role_binding("cluster-admin", "cluster-admin", "system:masters"),
        ),
        (
            format!("{rbac}/clusterrolebindings/system:basic-user"),
            cluster_role_binding(
                "system:basic-user",
                "system:basic-user",
                "system:authenticated",
            ),
        ),
    ]
}

async fn ensure_default_rbac(server: &ApiServer) -> ApiResult<()> {
    for (key, object) in default_rbac() {
        if server
            .storage
            .get(key.as_bytes(), storage::Freshness::Any)
            .await?
            .0
            .is_none()
        {
            server
                .storage
                .put(key.as_bytes(), &object, Condition::Absent)
                .await?
                .ok();
        }
    }
    Ok(())
}

/// Runs until the system namespaces exist.
pub async fn ensure_system_objects(server: std::sync::Arc<ApiServer>) {
    for name in SYSTEM_NAMESPACES {
        while let Err(error) = ensure_namespace(&server, name).await {
            tracing::debug!(%error, namespace = name, "cannot create a system namespace yet");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    while let Err(error) = ensure_default_rbac(&server).await {
        tracing::debug!(%error, "cannot create the default roles yet");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    while let Err(error) = ensure_kubernetes_service(&server).await {
        tracing::debug!(%error, "cannot create the kubernetes service yet");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
