//! Datastore roles with real processes: standbys, graceful hand-over, replacement of a dead
//! voter, and the metrics that show them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Cluster, wait_until};
use serde_json::Value;

fn role_of(status: &Value, name: &str) -> String {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .map(|n| n["datastoreRole"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn voters(status: &Value) -> Vec<String> {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["datastoreRole"] == "voter")
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn graceful_stop_hands_the_vote_to_a_standby() {
    let cluster = Cluster::up("127.21.6", 4, &[]);
    let status = cluster.status(1);
    assert_eq!(voters(&status).len(), 3, "{status}");
    assert_eq!(role_of(&status, "node4"), "standby");
    assert_eq!(status["nodes"].as_array().unwrap().len(), 4);

    let leader = cluster.leader(1).unwrap();
    let stopped = cluster.on(leader, &["stop"]);
    assert!(stopped.ok(), "{}", stopped.stderr);
    let other = if leader == 1 { 2 } else { 1 };
    assert!(
        wait_until(Duration::from_secs(20), || {
            let status = cluster.status(other);
            role_of(&status, "node4") == "voter" && status["highAvailability"] == true
        }),
        "node4 did not take over the vote\n{}\n{}",
        cluster.status(other),
        cluster.logs()
    );
    assert_eq!(
        role_of(&cluster.status(other), &format!("node{leader}")),
        "standby"
    );
    assert!(
        cluster
            .on(other, &["dbctl", "put", "/after-stop", "ok"])
            .ok()
    );

    // Back again, as a standby, with the data.
    cluster.start(leader);
    assert!(wait_until(Duration::from_secs(20), || cluster
        .on(leader, &["dbctl", "get", "/after-stop", "--local"])
        .stdout
        .trim()
        == "ok"));
}

#[test]
fn a_dead_voter_is_replaced_by_a_standby_after_the_delay() {
    let cluster = Cluster::up("127.21.7", 4, &["--voter-replacement-delay", "3"]);
    let leader = cluster.leader(1).unwrap();
    let victim = (1..=3).find(|&k| k != leader).unwrap();
    cluster.signal(victim, "KILL");
    assert!(
        wait_until(Duration::from_secs(30), || {
            let status = cluster.status(leader);
            role_of(&status, "node4") == "voter"
                && role_of(&status, &format!("node{victim}")) != "voter"
        }),
        "the dead voter was not replaced\n{}\n{}",
        cluster.status(leader),
        cluster.logs()
    );
    let status = cluster.status(leader);
    assert_eq!(status["highAvailability"], true, "{status}");
    assert_eq!(voters(&status).len(), 3);

    // The metrics show the roles and the leader changes.
    let socket = cluster.node_dir(leader).join("hakube.sock");
    let output = std::process::Command::new("curl")
        .args([
            "-s",
            "--unix-socket",
            socket.to_str().unwrap(),
            "http://hakube/metrics",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("hakube_datastore_is_leader 1"), "{text}");
    assert!(text.contains("hakube_datastore_voters 3"), "{text}");
    assert!(
        text.contains("hakube_datastore_commit_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("hakube_datastore_fsync_seconds_count"),
        "{text}"
    );
}
