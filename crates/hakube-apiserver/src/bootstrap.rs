//! Objects every cluster has from the start: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`. Every API server ensures them (create-if-absent, so
//! several servers racing is harmless), retrying until the store accepts writes.

use std::time::Duration;

use serde_json::json;

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

/// Runs until the system namespaces exist.
pub async fn ensure_system_objects(server: std::sync::Arc<ApiServer>) {
    for name in SYSTEM_NAMESPACES {
        while let Err(error) = ensure_namespace(&server, name).await {
            tracing::debug!(%error, namespace = name, "cannot create a system namespace yet");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    while let Err(error) = ensure_kubernetes_service(&server).await {
        tracing::debug!(%error, "cannot create the kubernetes service yet");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
