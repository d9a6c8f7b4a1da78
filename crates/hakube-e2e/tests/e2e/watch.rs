//! Watches: events in order (from a list's resourceVersion, with a label selector, and through
//! `kube::runtime::watcher`), and a watch resumed from a recorded resourceVersion after `kill -9`
//! of the datastore leader delivering every change exactly once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::WatchEvent;
use kube::runtime::watcher;
use kube::runtime::watcher::Event;
use serde_json::json;

use crate::support::{Cluster, Kill, KubeClient, api_code, create_namespace, eventually};

/// A bound against hanging, not a measurement.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

fn counter_map(name: &str, counter: u64, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("counter".into(), counter.to_string())])),
        ..Default::default()
    }
}

fn counter_of(cm: &ConfigMap) -> u64 {
    cm.data
        .as_ref()
        .and_then(|d| d.get("counter"))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {cm:?}"))
}

fn version_of(cm: &ConfigMap) -> u64 {
    cm.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric resourceVersion in {cm:?}"))
}

/// The next watch event other than a bookmark.
async fn next_change<S>(stream: &mut S) -> WatchEvent<ConfigMap>
where
    S: Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    loop {
        let event = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
            .await
            .expect("no watch event within the timeout")
            .expect("the watch ended")
            .expect("a watch error");
        if !matches!(event, WatchEvent::Bookmark(_)) {
            return event;
        }
    }
}

/// A change as (type, counter).
fn describe(event: &WatchEvent<ConfigMap>) -> (&'static str, u64) {
    match event {
        WatchEvent::Added(cm) => ("ADDED", counter_of(cm)),
        WatchEvent::Modified(cm) => ("MODIFIED", counter_of(cm)),
        WatchEvent::Deleted(cm) => ("DELETED", counter_of(cm)),
        other => panic!("unexpected watch event {other:?}"),
    }
}

fn set_counter_patch(counter: u64) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"data": {"counter": counter.to_string()}}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_in_order() {
    let cluster = Cluster::up("127.21.62", 3, &[]);
    let client = cluster.client(3).await;
    create_namespace(&client, "e2e-watch").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "e2e-watch");
    let patch = PatchParams::default();

    // Api::watch from a list's resourceVersion: ADDED, MODIFIED, MODIFIED, DELETED.
    let list = api.list(&ListParams::default()).await.expect("list");
    let version = list.metadata.resource_version.expect("list rv");
    let mut stream = api
        .watch(&kube::api::WatchParams::default(), &version)
        .await
        .expect("watch")
        .boxed();
    api.create(&PostParams::default(), &counter_map("plain", 0, &[]))
        .await
        .expect("create");
    for counter in 1..=2 {
        api.patch("plain", &patch, &set_counter_patch(counter))
            .await
            .expect("patch");
    }
    api.delete("plain", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    let mut last_version = 0;
    while seen.len() < 4 {
        let event = next_change(&mut stream).await;
        let (WatchEvent::Added(cm) | WatchEvent::Modified(cm) | WatchEvent::Deleted(cm)) = &event
        else {
            panic!("unexpected {event:?}");
        };
        assert!(
            version_of(cm) > last_version,
            "resourceVersions increase along the watch"
        );
        last_version = version_of(cm);
        seen.push(describe(&event));
    }
    assert_eq!(
        seen,
        [
            ("ADDED", 0),
            ("MODIFIED", 1),
            ("MODIFIED", 2),
            ("DELETED", 2)
        ]
    );
    drop(stream);

    // With a label selector: an object that starts matching is ADDED, one that stops is DELETED.
    let list = api.list(&ListParams::default()).await.expect("list");
    let version = list.metadata.resource_version.expect("list rv");
    let mut stream = api
        .watch(
            &kube::api::WatchParams::default().labels("watched=yes"),
            &version,
        )
        .await
        .expect("watch with selector")
        .boxed();
    api.create(&PostParams::default(), &counter_map("labelled", 0, &[]))
        .await
        .expect("create");
    api.patch(
        "labelled",
        &patch,
        &Patch::Merge(
            json!({"metadata": {"labels": {"watched": "yes"}}, "data": {"counter": "1"}}),
        ),
    )
    .await
    .expect("label");
    api.patch("labelled", &patch, &set_counter_patch(2))
        .await
        .expect("patch");
    api.patch(
        "labelled",
        &patch,
        &Patch::Merge(json!({"metadata": {"labels": {"watched": null}}, "data": {"counter": "3"}})),
    )
    .await
    .expect("unlabel");
    api.patch("labelled", &patch, &set_counter_patch(4))
        .await
        .expect("patch");
    api.create(
        &PostParams::default(),
        &counter_map("marker", 5, &[("watched", "yes")]),
    )
    .await
    .expect("create marker");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.push(describe(&next_change(&mut stream).await));
    }
    assert_eq!(
        seen,
        [("ADDED", 1), ("MODIFIED", 2), ("DELETED", 3), ("ADDED", 5)],
        "an object leaving the selector is DELETED (with its new state); changes outside it are not sent"
    );
    drop(stream);

    // kube::runtime::watcher: an initial list, then Apply, Apply, Delete.
    let mut events = watcher(
        api.clone(),
        watcher::Config::default().labels("app=runtime"),
    )
    .boxed();
    let mut initial = Vec::new();
    loop {
        let event = tokio::time::timeout(EVENT_TIMEOUT, events.next())
            .await
            .expect("no watcher event within the timeout")
            .expect("the watcher ended")
            .expect("a watcher error");
        match event {
            Event::Init => {}
            Event::InitApply(cm) => initial.push(cm),
            Event::InitDone => break,
            other => panic!("unexpected {other:?} before InitDone"),
        }
    }
    assert!(initial.is_empty());
    api.create(
        &PostParams::default(),
        &counter_map("runtime", 0, &[("app", "runtime")]),
    )
    .await
    .expect("create");
    api.patch("runtime", &patch, &set_counter_patch(1))
        .await
        .expect("patch");
    api.delete("runtime", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(EVENT_TIMEOUT, events.next())
            .await
            .expect("no watcher event within the timeout")
            .expect("the watcher ended")
            .expect("a watcher error");
        match event {
            Event::Apply(cm) => seen.push(("apply", counter_of(&cm))),
            Event::Delete(cm) => seen.push(("delete", counter_of(&cm))),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, [("apply", 0), ("apply", 1), ("delete", 1)]);
}

/// What the watch on the leader saw before the leader was killed.
#[derive(Default)]
struct Seen {
    /// (counter, resourceVersion) of each change, in order.
    changes: Vec<(u64, u64)>,
    /// The newest resourceVersion the stream reported (a change or a bookmark).
    version: String,
    /// How the stream ended.
    end: String,
}

/// Sets the ConfigMap's counter to `counter` through a node that stays up, retrying through the
/// election: each attempt reads the object and replaces it conditioned on what it read, so a
/// write whose outcome was unknown is never applied twice.
async fn set_counter(api: &Api<ConfigMap>, counter: u64) {
    eventually(
        Duration::from_secs(180),
        "a write through the election",
        || async move {
            let current = match api.get("resumed").await {
                Ok(current) => current,
                Err(error) => {
                    eprintln!("counter {counter}: get failed ({error}), retrying");
                    return None;
                }
            };
            let now = counter_of(&current);
            if now == counter {
                return Some(()); // An earlier attempt did it.
            }
            assert_eq!(now, counter - 1, "the counter moves one step at a time");
            let mut next = current.clone();
            next.data = Some(BTreeMap::from([("counter".into(), counter.to_string())]));
            match api.replace("resumed", &PostParams::default(), &next).await {
                Ok(_) => Some(()),
                Err(error) => {
                    eprintln!(
                        "counter {counter}: replace failed ({error}; code {:?}), retrying",
                        api_code(&error)
                    );
                    None
                }
            }
        },
    )
    .await;
}

/// Collects counters from a watch until it delivers `last`.
async fn collect_until<S>(stream: &mut S, last: u64) -> Vec<(u64, u64)>
where
    S: Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    let mut changes = Vec::new();
    loop {
        let event = next_change(stream).await;
        let (WatchEvent::Added(cm) | WatchEvent::Modified(cm)) = &event else {
            panic!("unexpected {event:?}");
        };
        changes.push((counter_of(cm), version_of(cm)));
        if counter_of(cm) >= last {
            return changes;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_across_a_leader_kill() {
    let cluster = Cluster::up("127.21.63", 3, &[]);
    let leader = cluster.leader(1).expect("a leader");
    let others: Vec<usize> = (1..=3).filter(|k| *k != leader).collect();
    let (writer, resumer) = (others[0], others[1]);
    let write_client = cluster.client(writer).await;
    create_namespace(&write_client, "e2e-resume").await;
    let writes: Api<ConfigMap> = Api::namespaced(write_client, "e2e-resume");
    let on_leader: Api<ConfigMap> = Api::namespaced(cluster.client(leader).await, "e2e-resume");
    let on_resumer: Api<ConfigMap> = Api::namespaced(cluster.client(resumer).await, "e2e-resume");

    // A watch through the leader's API from a list's resourceVersion, recording what it sees.
    let start = on_leader
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list rv");
    let seen = Arc::new(Mutex::new(Seen {
        version: start.clone(),
        ..Seen::default()
    }));
    let mut stream = on_leader
        .watch(&kube::api::WatchParams::default(), &start)
        .await
        .expect("watch on the leader")
        .boxed();
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                let mut seen = seen.lock().unwrap();
                match event {
                    Ok(WatchEvent::Added(cm) | WatchEvent::Modified(cm)) => {
                        seen.changes.push((counter_of(&cm), version_of(&cm)));
                        seen.version = cm.metadata.resource_version.clone().unwrap_or_default();
                    }
                    Ok(WatchEvent::Bookmark(bookmark)) => {
                        seen.version = bookmark.metadata.resource_version;
                    }
                    Ok(other) => {
                        seen.end = format!("unexpected event {other:?}");
                        return;
                    }
                    Err(error) => {
                        seen.end = format!("stream error: {error}");
                        return;
                    }
                }
            }
            seen.lock().unwrap().end = "stream ended".into();
        })
    };

    // Changes 1..=10 through a follower, all seen by the leader's watch; then 11..=13 and the
    // leader killed right after, whether or not its watch delivered them.
    writes
        .create(&PostParams::default(), &counter_map("resumed", 1, &[]))
        .await
        .expect("create");
    for counter in 2..=10 {
        set_counter(&writes, counter).await;
    }
    let seen_ref = &seen;
    eventually(
        EVENT_TIMEOUT,
        "the leader's watch to see change 10",
        || async move {
            let seen = seen_ref.lock().unwrap();
            seen.changes
                .last()
                .is_some_and(|(c, _)| *c == 10)
                .then_some(())
        },
    )
    .await;
    for counter in 11..=13 {
        set_counter(&writes, counter).await;
    }
    cluster.kill(leader);
    tokio::time::timeout(EVENT_TIMEOUT, recorder)
        .await
        .expect("the leader's watch ends when the leader dies")
        .expect("recorder task");
    let (before, resume_from, end) = {
        let seen = seen.lock().unwrap();
        (seen.changes.clone(), seen.version.clone(), seen.end.clone())
    };
    eprintln!(
        "the leader's watch saw counters {:?} and ended with {end:?}; resuming from {resume_from}",
        before.iter().map(|(c, _)| *c).collect::<Vec<_>>()
    );

    // Resume on another node from the last resourceVersion seen, while the cluster elects a new
    // leader and the writes go on.
    let (on_resumer_ref, resume_from_ref) = (&on_resumer, &resume_from);
    let mut resumed = eventually(
        Duration::from_secs(120),
        "the resumed watch",
        || async move {
            match on_resumer_ref
                .watch(&kube::api::WatchParams::default(), resume_from_ref)
                .await
            {
                Ok(stream) => Some(stream.boxed()),
                Err(error) => {
                    eprintln!("resuming the watch failed ({error}), retrying");
                    None
                }
            }
        },
    )
    .await;
    for counter in 14..=25 {
        set_counter(&writes, counter).await;
    }
    let after = collect_until(&mut resumed, 25).await;

    let all: Vec<(u64, u64)> = before.iter().chain(&after).copied().collect();
    let counters: Vec<u64> = all.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        counters,
        (1..=25).collect::<Vec<_>>(),
        "every change exactly once, in order, across the kill"
    );
    assert!(
        all.windows(2).all(|w| w[0].1 < w[1].1),
        "resourceVersions increase: {all:?}"
    );

    // The history replayed from the first list's resourceVersion on a surviving node agrees.
    let mut replay = on_resumer
        .watch(&kube::api::WatchParams::default(), &start)
        .await
        .expect("watch from the start")
        .boxed();
    let replayed = collect_until(&mut replay, 25).await;
    assert_eq!(
        replayed, all,
        "the replay has the same changes at the same versions"
    );

    let status = on_resumer.get("resumed").await.expect("get");
    assert_eq!(counter_of(&status), 25);
    let new_leader = cluster.leader(writer).expect("a new leader");
    assert_ne!(new_leader, leader);
}
