//! Bad input gets one clear line on stderr, a non-zero exit, and changes nothing.

mod common;

use common::{Cluster, Run, hakube};

fn assert_one_line_error(run: &Run, needle: &str) {
    assert!(!run.ok(), "expected a failure, got: {}", run.stdout);
    let text = run.stderr.trim();
    assert_eq!(text.lines().count(), 1, "not one line: {text}");
    assert!(
        text.to_lowercase().contains(&needle.to_lowercase()),
        "{text:?} does not mention {needle:?}"
    );
}

#[test]
fn joins_with_bad_input_are_refused_and_change_nothing() {
    let cluster = Cluster::up("127.21.8", 2, &[]);
    let fingerprint = {
        let line = cluster.on(1, &["add-node", "--format", "short"]).stdout;
        line.trim().rsplit('/').next().unwrap().to_string()
    };
    let dir3 = cluster.node_dir_str(3);
    cluster.start_alone(3);
    let join = |s: &str| hakube(&["join", s, "--data-dir", &dir3]);

    assert_one_line_error(&join("not-a-join-string"), "malformed join string");
    assert_one_line_error(
        &join(&format!(
            "{}/{}/{fingerprint}",
            cluster.address(1),
            "a".repeat(32)
        )),
        "malformed join string",
    );
    let unknown = format!(
        "{}:25000/{}/{fingerprint}",
        cluster.address(1),
        "z".repeat(32)
    );
    assert_one_line_error(&join(&unknown), "invalid token");
    let unreachable = format!("{}.99:25000/{}/{fingerprint}", cluster.base, "z".repeat(32));
    assert_one_line_error(&join(&unreachable), "cannot reach");
    let short_token = format!("{}:25000/short/{fingerprint}", cluster.address(1));
    assert_one_line_error(&join(&short_token), "token");

    // A node whose name is taken is refused by the cluster.
    let dir4 = cluster.node_dir_str(4);
    let address4 = cluster.address(4);
    assert!(
        hakube(&[
            "start",
            "--data-dir",
            &dir4,
            "--address",
            &address4,
            "--node-name",
            "node2"
        ])
        .ok()
    );
    let token = cluster.join_string(1);
    assert_one_line_error(
        &hakube(&["join", &token, "--data-dir", &dir4]),
        "already in the cluster",
    );

    // Nothing changed: still two nodes, node3 and node4 still alone.
    assert_eq!(cluster.status(1)["nodes"].as_array().unwrap().len(), 2);
    let alone = serde_json::from_str::<serde_json::Value>(
        &hakube(&["status", "--format", "json", "--data-dir", &dir3]).stdout,
    )
    .unwrap();
    assert_eq!(alone["nodes"].as_array().unwrap().len(), 1);

    // A node that has other members must leave first.
    let token = cluster.join_string(1);
    assert_one_line_error(&cluster.on(2, &["join", &token]), "leave");

    // The last voter cannot be removed; bad tokens are refused by add-node.
    assert_one_line_error(
        &cluster.on(1, &["add-node", "--token", "tooshort"]),
        "token",
    );
    assert_one_line_error(&cluster.on(1, &["remove-node", "nosuchnode"]), "no node");
    assert_one_line_error(&cluster.on(1, &["dbctl", "get", "/missing"]), "not found");
}
