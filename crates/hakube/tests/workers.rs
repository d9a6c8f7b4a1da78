//! Worker nodes: no datastore role, status through the control plane, leave.

mod common;

use std::time::Duration;

use common::{Cluster, wait_until};

#[test]
fn a_worker_joins_without_a_datastore_role_and_can_leave() {
    let cluster = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        let run = common::hakube(&[
            "up",
            "--nodes",
            "3",
            "--workers",
            "1",
            "--dir",
            &path,
            "--base-address",
            "127.21.11",
        ]);
        let cluster = Cluster {
            dir,
            base: "127.21.11".into(),
            nodes: 4,
        };
        assert!(
            run.ok(),
            "{}\n{}\n{}",
            run.stdout,
            run.stderr,
            cluster.logs()
        );
        cluster
    };
    let status = cluster.status(4);
    assert_eq!(status["node"], "node4");
    assert_eq!(status["quorum"], true, "{status}");
    let worker = common::node_entry(&status, "node4");
    assert_eq!(worker["datastoreRole"], "none");
    assert_eq!(worker["controlPlane"], false);
    assert_eq!(status["datastoreVoters"].as_array().unwrap().len(), 3);

    // Workers cannot mint tokens; they can leave.
    assert!(!cluster.on(4, &["add-node"]).ok());
    let left = cluster.on(4, &["leave"]);
    assert!(left.ok(), "{}\n{}", left.stderr, cluster.logs());
    assert!(wait_until(
        Duration::from_secs(10),
        || cluster.status(1)["nodes"].as_array().unwrap().len() == 3
    ));
}
