//! Typed CRUD of ConfigMaps and Deployments through `kube::Api`, list paging with `limit` and
//! `continue`, and label and field selectors.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{Cluster, KubeClient, api_code, create_namespace};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn config_map(name: &str, label_pairs: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(label_pairs)),
            ..Default::default()
        },
        data: Some(labels(data)),
        ..Default::default()
    }
}

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    let app = labels(&[("app", name)]);
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some(image.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn names<K: kube::Resource>(items: &[K]) -> BTreeSet<String> {
    items
        .iter()
        .map(|item| item.meta().name.clone().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_paging_and_selectors() {
    let cluster = Cluster::up("127.21.60", 3, &[]);
    // Node 2: any node answers, writes are forwarded to the leader.
    let client = cluster.client(2).await;
    create_namespace(&client, "e2e-crud").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "e2e-crud");

    // ConfigMaps: create, get, list, replace (and a stale replace), patches, delete.
    let created = config_maps
        .create(
            &PostParams::default(),
            &config_map("settings", &[("tier", "a")], &[("colour", "blue")]),
        )
        .await
        .expect("create configmap");
    let first_version = created.metadata.resource_version.clone().expect("rv");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some("e2e-crud"));

    let again = config_maps
        .create(&PostParams::default(), &config_map("settings", &[], &[]))
        .await
        .expect_err("a second create of the same name");
    assert_eq!(api_code(&again), Some(409), "{again:?}");

    let fetched = config_maps.get("settings").await.expect("get configmap");
    assert_eq!(fetched.data, created.data);
    assert_eq!(
        fetched.metadata.resource_version,
        Some(first_version.clone())
    );

    let list = config_maps
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(names(&list.items).contains("settings"));

    let mut replacement = fetched.clone();
    replacement.data = Some(labels(&[("colour", "green")]));
    let replaced = config_maps
        .replace("settings", &PostParams::default(), &replacement)
        .await
        .expect("replace configmap");
    assert_eq!(replaced.data, Some(labels(&[("colour", "green")])));
    assert_ne!(replaced.metadata.resource_version, Some(first_version));
    assert_eq!(replaced.metadata.uid, created.metadata.uid);

    // Replacing from the first version again loses the race: 409 Conflict.
    let stale = config_maps
        .replace("settings", &PostParams::default(), &fetched)
        .await
        .expect_err("a replace with a stale resourceVersion");
    assert_eq!(api_code(&stale), Some(409), "{stale:?}");

    let merged = config_maps
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"size": "large"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        merged.data,
        Some(labels(&[("colour", "green"), ("size", "large")]))
    );
    let strategic = config_maps
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Strategic(
                json!({"data": {"colour": null}, "metadata": {"labels": {"tier": "b"}}}),
            ),
        )
        .await
        .expect("strategic merge patch");
    assert_eq!(strategic.data, Some(labels(&[("size", "large")])));
    assert_eq!(strategic.metadata.labels, Some(labels(&[("tier", "b")])));

    config_maps
        .delete("settings", &DeleteParams::default())
        .await
        .expect("delete configmap");
    let gone = config_maps
        .get("settings")
        .await
        .expect_err("get after delete");
    assert_eq!(api_code(&gone), Some(404), "{gone:?}");
    assert!(
        config_maps
            .get_opt("settings")
            .await
            .expect("get_opt")
            .is_none()
    );
    let missing = config_maps
        .delete("settings", &DeleteParams::default())
        .await
        .expect_err("delete of a missing object");
    assert_eq!(api_code(&missing), Some(404), "{missing:?}");

    // Deployments: create, get, replace, strategic patch of a container (merge key `name`),
    // merge patch of replicas, delete.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "e2e-crud");
    let created = deployments
        .create(&PostParams::default(), &deployment("web", "nginx:1.27", 1))
        .await
        .expect("create deployment");
    assert_eq!(created.metadata.generation, Some(1));
    let spec = created.spec.clone();
    // Defaults are filled in as upstream does.
    assert!(spec.strategy.is_some(), "{spec:?}");
    assert_eq!(spec.revision_history_limit, Some(10));

    let mut replacement = deployments.get("web").await.expect("get deployment");
    replacement.spec.replicas = Some(3);
    let replaced = deployments
        .replace("web", &PostParams::default(), &replacement)
        .await
        .expect("replace deployment");
    assert_eq!(replaced.spec.replicas, Some(3));
    assert_eq!(replaced.metadata.generation, Some(2));

    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.28"},
                {"name": "sidecar", "image": "busybox:1.37"}
            ]}}}})),
        )
        .await
        .expect("strategic patch of the containers");
    let containers = patched
        .spec
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .expect("containers");
    let images: BTreeMap<String, String> = containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        images,
        labels(&[("web", "nginx:1.28"), ("sidecar", "busybox:1.37")]),
        "the strategic merge keeps one entry per container name"
    );
    let scaled = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .expect("merge patch of replicas");
    assert_eq!(scaled.spec.replicas, Some(0));
    let listed = deployments
        .list(&ListParams::default())
        .await
        .expect("list deployments");
    assert_eq!(names(&listed.items), BTreeSet::from(["web".to_string()]));
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete deployment");
    assert!(deployments.get_opt("web").await.expect("get_opt").is_none());

    // Paging: 25 objects listed 7 at a time come back exactly once each, all pages at the
    // first page's revision (an object created between pages is not in them).
    create_namespace(&client, "e2e-pages").await;
    let pages: Api<ConfigMap> = Api::namespaced(client.clone(), "e2e-pages");
    let mut expected = BTreeSet::new();
    for i in 0..25 {
        let name = format!("page-{i:02}");
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        pages
            .create(
                &PostParams::default(),
                &config_map(
                    &name,
                    &[("paged", "yes"), ("tier", tier)],
                    &[("i", &i.to_string())],
                ),
            )
            .await
            .expect("create page object");
        expected.insert(name);
    }
    let mut seen = Vec::new();
    let mut params = ListParams::default().labels("paged=yes").limit(7);
    let mut page_count = 0;
    let mut list_version = None;
    loop {
        let page = pages.list(&params).await.expect("list page");
        page_count += 1;
        assert!(page.items.len() <= 7, "a page has at most `limit` items");
        let version = page.metadata.resource_version.clone().expect("list rv");
        match &list_version {
            None => list_version = Some(version),
            Some(first) => assert_eq!(&version, first, "every page is read at one revision"),
        }
        seen.extend(
            page.items
                .iter()
                .map(|cm| cm.metadata.name.clone().unwrap_or_default()),
        );
        if page_count == 1 {
            // Written after the first page: not part of this list.
            pages
                .create(
                    &PostParams::default(),
                    &config_map("page-late", &[("paged", "yes")], &[]),
                )
                .await
                .expect("create late object");
        }
        match page.metadata.continue_.as_deref() {
            Some(token) if !token.is_empty() => {
                assert!(page.items.len() == 7, "a page before the last one is full");
                params = params.continue_token(token);
            }
            _ => break,
        }
        assert!(page_count < 10, "paging does not end: {seen:?}");
    }
    assert_eq!(page_count, 4, "25 objects in pages of 7");
    assert_eq!(seen.len(), 25, "each object exactly once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected);
    let all = pages
        .list(&ListParams::default().labels("paged=yes"))
        .await
        .expect("list");
    assert_eq!(all.items.len(), 26, "a fresh list sees the late object");
    assert!(all.metadata.continue_.as_deref().unwrap_or("").is_empty());

    // Label selectors: equality, inequality, set-based, existence.
    let count = |selector: &'static str| {
        let pages = pages.clone();
        async move {
            pages
                .list(&ListParams::default().labels(selector))
                .await
                .unwrap_or_else(|e| panic!("list with labels {selector}: {e}"))
                .items
        }
    };
    assert_eq!(count("tier=even").await.len(), 13);
    assert_eq!(count("tier==odd").await.len(), 12);
    assert_eq!(
        count("paged=yes,tier!=even").await.len(),
        13,
        "12 odd + page-late"
    );
    assert_eq!(count("tier in (even,odd)").await.len(), 25);
    assert_eq!(count("paged=yes,tier notin (even)").await.len(), 13);
    assert_eq!(
        names(&count("paged=yes,!tier").await),
        BTreeSet::from(["page-late".into()])
    );
    assert_eq!(count("tier").await.len(), 25);
    assert_eq!(count("tier=none").await.len(), 0);
    let bad = pages
        .list(&ListParams::default().labels("tier in even"))
        .await
        .expect_err("a malformed label selector");
    assert_eq!(api_code(&bad), Some(400), "{bad:?}");

    // Field selectors: by name, by namespace across all namespaces; unsupported labels are 400.
    let by_name = pages
        .list(&ListParams::default().fields("metadata.name=page-07"))
        .await
        .expect("list by name");
    assert_eq!(names(&by_name.items), BTreeSet::from(["page-07".into()]));
    let not_name = pages
        .list(
            &ListParams::default()
                .fields("metadata.name!=page-07")
                .labels("tier=odd"),
        )
        .await
        .expect("list by name and labels");
    assert_eq!(not_name.items.len(), 11);
    let everywhere: Api<ConfigMap> = Api::all(client.clone());
    let in_namespace = everywhere
        .list(&ListParams::default().fields("metadata.namespace=e2e-pages"))
        .await
        .expect("list all namespaces by namespace");
    let namespaced_names: BTreeSet<String> = in_namespace
        .items
        .iter()
        .filter(|cm| cm.metadata.name.as_deref() != Some("kube-root-ca.crt"))
        .map(|cm| cm.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(namespaced_names.len(), 26, "{namespaced_names:?}");
    assert!(
        in_namespace
            .items
            .iter()
            .all(|cm| cm.metadata.namespace.as_deref() == Some("e2e-pages"))
    );
    let unsupported = pages
        .list(&ListParams::default().fields("data.i=3"))
        .await
        .expect_err("a field label ConfigMaps do not support");
    assert_eq!(api_code(&unsupported), Some(400), "{unsupported:?}");

    // A paged list with a selector across all namespaces, 5 at a time.
    let mut seen = BTreeSet::new();
    let mut params = ListParams::default().labels("tier=odd").limit(5);
    loop {
        let page = everywhere.list(&params).await.expect("list page");
        for cm in &page.items {
            assert!(seen.insert(cm.metadata.name.clone().unwrap_or_default()));
        }
        match page.metadata.continue_.as_deref() {
            Some(token) if !token.is_empty() => params = params.continue_token(token),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 12);
}

/// Creating a namespace and then an object in it, both through a follower, must succeed
/// (upstream's NamespaceLifecycle looks the namespace up live when its cache misses).
/// Ignored: hakube's `write::admit_namespace` reads the namespace with `Freshness::Any` from the
/// follower's replica, which may not have applied the namespace yet, and answers 404
/// "namespaces \"...\" not found".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_usable_right_after_create() {
    let cluster = Cluster::up("127.21.66", 3, &[]);
    let leader = cluster.leader(1).expect("a leader");
    let follower = if leader == 1 { 2 } else { 1 };
    let client = cluster.client(follower).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut refused = Vec::new();
    for i in 0..20 {
        let name = format!("fresh-{i}");
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create namespace");
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
        if let Err(error) = config_maps
            .create(&PostParams::default(), &config_map("first", &[], &[]))
            .await
        {
            refused.push(match &error {
                kube::Error::Api(status) => format!("{name}: {} {}", status.code, status.message),
                other => format!("{name}: {other}"),
            });
        }
    }
    assert!(
        refused.is_empty(),
        "creates refused right after their namespace's: {refused:#?}"
    );
}
