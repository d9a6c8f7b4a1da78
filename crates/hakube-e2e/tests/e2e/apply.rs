//! Server-side apply with kube's `Patch::Apply`: create (201), update (200), a no-op apply
//! keeping the resourceVersion, a second field manager refused with 409 for a field the first
//! owns and taking it with `force`, a field its only applier stops applying removed, and typed
//! apply of a Deployment.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{Cluster, KubeClient, create_namespace};

const CONFIG_MAPS: &str = "/api/v1/namespaces/e2e-apply/configmaps";

/// An apply PATCH sent as kube sends it, returning the HTTP status and the body.
async fn apply(
    client: &kube::Client,
    name: &str,
    params: &PatchParams,
    body: Value,
) -> (u16, Value) {
    let request = kube::core::Request::new(CONFIG_MAPS)
        .patch(name, params, &Patch::Apply(body))
        .expect("apply request");
    assert_eq!(
        request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/apply-patch+yaml")
    );
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("send apply");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .expect("apply response body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("apply response is not JSON ({e}): {bytes:?}"));
    (status, body)
}

fn applied(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": data})
}

/// The (manager, operation) pairs of an object's managedFields.
fn managers(object: &Value) -> Vec<(String, String)> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or_default().to_string(),
                        e["operation"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply() {
    let cluster = Cluster::up("127.21.64", 3, &[]);
    let client = cluster.client(1).await;
    create_namespace(&client, "e2e-apply").await;
    let manager_a = PatchParams::apply("manager-a");
    let manager_b = PatchParams::apply("manager-b");

    // Create by apply: 201, with manager-a's Apply entry in managedFields.
    let (status, created) = apply(
        &client,
        "applied",
        &manager_a,
        applied(json!({"key": "one", "other": "x"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"], json!({"key": "one", "other": "x"}));
    assert!(
        managers(&created).contains(&("manager-a".into(), "Apply".into())),
        "{created}"
    );
    let uid = created["metadata"]["uid"].clone();
    assert!(uid.is_string());

    // Update by apply: 200, same object.
    let (status, updated) = apply(
        &client,
        "applied",
        &manager_a,
        applied(json!({"key": "two", "other": "x"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["data"], json!({"key": "two", "other": "x"}));
    assert_eq!(updated["metadata"]["uid"], uid);
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    // The same apply again: 200 and the same content.
    let (status, again) = apply(
        &client,
        "applied",
        &manager_a,
        applied(json!({"key": "two", "other": "x"})),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"], updated["data"]);
    // Nothing changed: the same resourceVersion, as upstream.
    assert_eq!(
        again["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );

    // A second manager setting manager-a's field without force: 409 Conflict naming the
    // owner and the field.
    let (status, conflicting) = apply(
        &client,
        "applied",
        &manager_b,
        applied(json!({"key": "three"})),
    )
    .await;
    assert_eq!(status, 409, "{conflicting}");
    let message = conflicting["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("conflict with \"manager-a\"") && message.contains(".data.key"),
        "{message}"
    );

    // With force, the second manager takes the field: 200, its value, the other field kept,
    // both managers recorded.
    let (status, forced) = apply(
        &client,
        "applied",
        &PatchParams::apply("manager-b").force(),
        applied(json!({"key": "four"})),
    )
    .await;
    assert_eq!(status, 200, "{forced}");
    assert_eq!(forced["data"], json!({"key": "four", "other": "x"}));
    let recorded = managers(&forced);
    assert!(
        recorded.contains(&("manager-a".into(), "Apply".into()))
            && recorded.contains(&("manager-b".into(), "Apply".into())),
        "{recorded:?}"
    );

    // manager-a applies a configuration without `other`, which it alone set: the field goes.
    let (status, dropped) = apply(
        &client,
        "applied",
        &manager_a,
        applied(json!({"key": "four"})),
    )
    .await;
    assert_eq!(status, 200, "{dropped}");
    assert_eq!(dropped["data"], json!({"key": "four"}));

    // Typed apply through kube::Api: a Deployment created and changed by apply.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "e2e-apply");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("deployment");
    let params = PatchParams::apply("deployer");
    let created = deployments
        .patch("web", &params, &Patch::Apply(&deployment))
        .await
        .expect("apply a new deployment");
    assert_eq!(created.spec.replicas, Some(2));
    let mut changed = deployment.clone();
    let spec = &mut changed.spec;
    spec.replicas = Some(3);
    spec.template.spec.as_mut().expect("pod spec").containers[0].image = Some("nginx:1.28".into());
    let updated = deployments
        .patch("web", &params, &Patch::Apply(&changed))
        .await
        .expect("apply a changed deployment");
    let spec = &updated.spec;
    assert_eq!(spec.replicas, Some(3));
    let containers = &spec.template.spec.as_ref().expect("pod spec").containers;
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1.28"));
    assert_eq!(updated.metadata.uid, created.metadata.uid);
    assert_eq!(updated.metadata.generation, Some(2));

    // A typed read of the ConfigMap agrees with what the last apply answered.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "e2e-apply");
    let read = config_maps.get("applied").await.expect("get");
    let answered: BTreeMap<String, String> =
        serde_json::from_value(dropped["data"].clone()).expect("data");
    assert_eq!(read.data, Some(answered));
}
