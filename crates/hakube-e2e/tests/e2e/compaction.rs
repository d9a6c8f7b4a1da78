//! 410 Gone once history is compacted: the leader keeps the newest 10,000 revisions and compacts
//! a whole window at a time (first at revision 20,000), so the test writes small ConfigMaps
//! until a continue token from before them is refused, then checks a watch and an exact list at
//! the old resourceVersion, and that kube's watcher starts over from a fresh list.
//!
//! Ignored by default: about 21,000 writes take 100–130 s with the debug binary on a shared
//! 2-core machine. Run it with
//! `cargo nextest run -p hakube-e2e --run-ignored only -E 'test(gone_after_compaction)'`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams, VersionMatch, WatchParams};
use kube::core::WatchEvent;
use kube::runtime::watcher;

use crate::support::{Cluster, KubeClient, api_code, create_namespace};

/// Concurrent writers.
const WRITERS: usize = 48;
/// A bound against hanging, not a measurement: far more writes than a compaction needs.
const GIVE_UP: Duration = Duration::from_secs(600);

fn small(name: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".into(), "1".into())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: about 21,000 writes before the first compaction (100-130 s)"]
async fn gone_after_compaction() {
    let cluster = Cluster::up("127.21.65", 3, &[]);
    let leader = cluster.leader(1).expect("a leader");
    let client = cluster.client(leader).await;
    create_namespace(&client, "e2e-compact").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "e2e-compact");
    for i in 0..3 {
        api.create(&PostParams::default(), &small(format!("old-{i}")))
            .await
            .expect("create");
    }
    let first_page = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("first page");
    let old_version = first_page.metadata.resource_version.clone().expect("rv");
    let old_token = first_page
        .metadata
        .continue_
        .clone()
        .expect("continue token");
    assert!(!old_token.is_empty());

    // Write until the old continue token is refused.
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    // Spread over the three API servers (each forwards its writes to the leader).
    let mut apis = Vec::new();
    for k in 1..=3 {
        apis.push(Api::<ConfigMap>::namespaced(
            cluster.client(k).await,
            "e2e-compact",
        ));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (api, stop, written) = (apis[w % 3].clone(), stop.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let object = small(format!("bulk-{w}-{i}"));
                match api.create(&PostParams::default(), &object).await {
                    Ok(_) => {
                        written.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    Err(error) => panic!("bulk create: {error}"),
                }
            }
        }));
    }
    let expired = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let next = api
            .list(&ListParams::default().limit(1).continue_token(&old_token))
            .await;
        match next {
            Ok(_) => {}
            Err(error) if api_code(&error) == Some(410) => break error,
            Err(error) => panic!("a list with the old continue token: {error}"),
        }
        assert!(
            started.elapsed() < GIVE_UP,
            "no compaction after {} writes",
            written.load(Ordering::Relaxed)
        );
    };
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    eprintln!(
        "compacted after {} writes in {:.1} s",
        written.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    let kube::Error::Api(status) = &expired else {
        unreachable!()
    };
    eprintln!("observed: the old continue token: {status:?}");
    assert_eq!(status.reason, "Expired", "{status:?}");

    // A watch from the old resourceVersion: 410 Gone (upstream sends it as an ERROR event).
    match api.watch(&WatchParams::default(), &old_version).await {
        Err(error) => {
            eprintln!(
                "observed: the watch was refused with HTTP {:?}",
                api_code(&error)
            );
            assert_eq!(api_code(&error), Some(410), "{error:?}");
        }
        Ok(stream) => {
            let mut stream = stream.boxed();
            let event = tokio::time::timeout(Duration::from_secs(60), stream.next())
                .await
                .expect("an event within the timeout")
                .expect("an event")
                .expect("a watch event");
            let WatchEvent::Error(status) = event else {
                panic!("expected a 410 ERROR event, got {event:?}");
            };
            eprintln!("observed: 200 and an ERROR event: {status:?}");
            assert_eq!(status.code, 410, "{status:?}");
        }
    }

    // An exact list at the old resourceVersion: 410 Gone.
    let exact = api
        .list(
            &ListParams::default()
                .at(&old_version)
                .matching(VersionMatch::Exact)
                .limit(1),
        )
        .await
        .expect_err("an exact list at a compacted revision");
    assert_eq!(api_code(&exact), Some(410), "{exact:?}");

    // kube's watcher lists afresh and sees every object.
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut initial = 0;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(120), events.next())
            .await
            .expect("a watcher event within the timeout")
            .expect("the watcher goes on")
            .expect("a watcher event");
        match event {
            watcher::Event::Init => {}
            watcher::Event::InitApply(_) => initial += 1,
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, 3 + written.load(Ordering::Relaxed));
}
