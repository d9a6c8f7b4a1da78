//! Backups and a verified restore with real processes.

mod common;

use std::time::Duration;

use common::{Cluster, hakube, wait_until};

#[test]
fn a_backup_restores_into_a_new_cluster_that_others_can_join() {
    let cluster = Cluster::up("127.21.9", 3, &[]);
    for i in 0..10 {
        assert!(
            cluster
                .on(
                    1 + i % 3,
                    &["dbctl", "put", &format!("/b/{i}"), &format!("value-{i}")]
                )
                .ok()
        );
    }
    let file = cluster.dir.path().join("backup.hakube");
    let file = file.to_str().unwrap();
    let taken = cluster.on(2, &["dbctl", "backup", file]);
    assert!(taken.ok(), "{}", taken.stderr);
    assert!(
        taken.stdout.contains("10 keys") || taken.stdout.contains("keys"),
        "{}",
        taken.stdout
    );

    // A damaged copy is refused and changes nothing.
    let damaged = cluster.dir.path().join("damaged.hakube");
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    let dir4 = cluster.node_dir_str(4);
    let refused = hakube(&[
        "dbctl",
        "restore",
        damaged.to_str().unwrap(),
        "--data-dir",
        &dir4,
    ]);
    assert!(!refused.ok());
    assert!(refused.stderr.contains("corrupt"), "{}", refused.stderr);
    assert!(!cluster.node_dir(4).join("store").exists());

    // Restored into a fresh node: a one-node cluster with the data.
    let restored = hakube(&["dbctl", "restore", file, "--data-dir", &dir4]);
    assert!(restored.ok(), "{}", restored.stderr);
    cluster.start_alone(4);
    for i in 0..10 {
        let got = hakube(&["dbctl", "get", &format!("/b/{i}"), "--data-dir", &dir4]);
        assert_eq!(got.stdout.trim(), format!("value-{i}"), "{}", got.stderr);
    }
    // The old cluster's nodes are not part of the restored one.
    let status: serde_json::Value =
        serde_json::from_str(&hakube(&["status", "--format", "json", "--data-dir", &dir4]).stdout)
            .unwrap();
    assert_eq!(status["nodes"].as_array().unwrap().len(), 1, "{status}");
    // A new node joining it gets the data by snapshot.
    let dir5 = cluster.node_dir_str(5);
    cluster.start_alone(5);
    // Joins wait until the restored state is sealed in a snapshot (refused, changing nothing).
    let mut last = String::new();
    let joined = wait_until(Duration::from_secs(30), || {
        let run = hakube(&["join", &cluster.join_string(4), "--data-dir", &dir5]);
        last = run.stderr.clone();
        assert!(run.ok() || run.stderr.contains("sealing"), "{}", run.stderr);
        if !run.ok() {
            std::thread::sleep(Duration::from_millis(400));
        }
        run.ok()
    });
    assert!(joined, "{last}\n{}", cluster.logs());
    assert!(wait_until(Duration::from_secs(20), || {
        hakube(&["dbctl", "get", "/b/7", "--local", "--data-dir", &dir5])
            .stdout
            .trim()
            == "value-7"
    }));
}
