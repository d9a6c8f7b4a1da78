//! Cluster formation with real processes: three nodes, joins, status formats, tokens.

mod common;

use std::time::Duration;

use common::{Cluster, wait_until};

#[test]
fn three_nodes_form_a_highly_available_cluster() {
    let cluster = Cluster::up("127.21.1", 3, &[]);
    let status = cluster.status(1);
    assert_eq!(status["running"], true);
    assert_eq!(status["highAvailability"], true, "{status}");
    assert_eq!(status["quorum"], true);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["name"], format!("node{}", i + 1));
        assert_eq!(node["address"], cluster.address(i + 1));
        assert_eq!(node["datastoreRole"], "voter");
        assert_eq!(node["reachable"], true);
    }
    let pretty = cluster.on(2, &["status"]);
    assert!(
        pretty
            .stdout
            .starts_with("hakube is running\nhigh-availability: yes\n"),
        "{}",
        pretty.stdout
    );
    assert!(pretty.stdout.contains(&format!(
        "  datastore master nodes: {0}.11:19001 {0}.12:19001 {0}.13:19001\n  datastore standby nodes: none",
        cluster.base
    )));

    // A write on one node is read on the others.
    assert!(cluster.on(2, &["dbctl", "put", "/test/a", "hello"]).ok());
    for k in 1..=3 {
        let got = cluster.on(k, &["dbctl", "get", "/test/a"]);
        assert!(got.ok(), "{}", got.stderr);
        assert_eq!(got.stdout.trim(), "hello");
    }
    let listed = cluster.on(3, &["dbctl", "list", "/test/"]);
    assert_eq!(listed.stdout.trim(), "/test/a");
    assert_eq!(
        cluster.on(1, &["version"]).stdout,
        cluster.on(3, &["version"]).stdout
    );
}

#[test]
fn tokens_are_single_use_and_a_fourth_node_becomes_a_standby() {
    let cluster = Cluster::up("127.21.2", 3, &[]);
    let token = cluster.on(1, &["add-node", "--format", "short"]);
    assert!(token.ok(), "{}", token.stderr);
    let join_line = token.stdout.lines().next().unwrap().to_string();
    let join_string = join_line.strip_prefix("hakube join ").unwrap().to_string();
    assert!(
        join_string.starts_with(&format!("{}:25000/", cluster.address(1))),
        "{join_string}"
    );

    // Node 4 starts alone, then joins.
    let dir4 = cluster.node_dir_str(4);
    cluster.start_alone(4);
    let joined = common::hakube(&["join", &join_string, "--data-dir", &dir4]);
    assert!(
        joined.ok(),
        "join failed: {}\n{}",
        joined.stderr,
        cluster.logs()
    );
    assert!(
        joined.stdout.contains("Successfully joined the cluster."),
        "{}",
        joined.stdout
    );
    let status = cluster.status(4);
    let node4 = common::node_entry(&status, "node4");
    assert_eq!(node4["datastoreRole"], "standby", "{status}");

    // Reusing the token fails with a clear one-line error, and changes nothing.
    let dir5 = cluster.node_dir_str(5);
    cluster.start_alone(5);
    let again = common::hakube(&["join", &join_string, "--data-dir", &dir5]);
    assert!(!again.ok());
    assert!(again.stderr.contains("invalid token"), "{}", again.stderr);
    assert_eq!(again.stderr.trim().lines().count(), 1, "{}", again.stderr);
    assert_eq!(cluster.status(1)["nodes"].as_array().unwrap().len(), 4);

    // A wrong fingerprint is refused before the token is sent.
    let fresh = cluster
        .on(1, &["add-node", "--format", "token"])
        .stdout
        .trim()
        .to_string();
    let wrong = format!("{}:25000/{fresh}/{}", cluster.address(1), "ab".repeat(32));
    let refused = common::hakube(&["join", &wrong, "--data-dir", &dir5]);
    assert!(!refused.ok());
    assert!(refused.stderr.contains("fingerprint"), "{}", refused.stderr);
    // The token was not consumed: it still works.
    let right = format!(
        "{}:25000/{fresh}/{}",
        cluster.address(1),
        join_string.rsplit('/').next().unwrap()
    );
    let ok = common::hakube(&["join", &right, "--data-dir", &dir5]);
    assert!(ok.ok(), "{}", ok.stderr);
    assert!(wait_until(
        Duration::from_secs(20),
        || cluster.status(1)["nodes"].as_array().unwrap().len() == 5
    ));
}
