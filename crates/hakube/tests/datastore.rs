//! The datastore through `dbctl`: watches from a revision, five voters, and linearizable reads.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Cluster, hakube_binary, wait_until};

#[test]
fn watch_from_a_revision_replays_history_then_follows() {
    let cluster = Cluster::up("127.21.12", 3, &[]);
    assert!(cluster.on(1, &["dbctl", "put", "/w/a", "1"]).ok());
    let members = cluster.on(1, &["dbctl", "members"]);
    assert!(members.ok());
    let got = cluster.on(2, &["dbctl", "get", "/w/a"]);
    assert_eq!(got.stdout.trim(), "1");
    assert!(cluster.on(2, &["dbctl", "put", "/w/b", "2"]).ok());
    assert!(cluster.on(3, &["dbctl", "del", "/w/a"]).ok());

    // A watch on node 3 from revision 1 sees every change under /w/ in order, then live ones.
    let dir = cluster.node_dir_str(3);
    let mut child = Command::new(hakube_binary())
        .args([
            "dbctl",
            "watch",
            "/w/",
            "--revision",
            "1",
            "--data-dir",
            &dir,
            "--timeout",
            "20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(lines.next().unwrap().unwrap());
    }
    assert_eq!(seen, vec!["PUT /w/a 1", "PUT /w/b 2", "DELETE /w/a"]);
    assert!(cluster.on(1, &["dbctl", "put", "/w/c", "3"]).ok());
    assert_eq!(lines.next().unwrap().unwrap(), "PUT /w/c 3");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn five_voters_when_configured() {
    let cluster = Cluster::up("127.21.13", 5, &["--voters", "5"]);
    let status = cluster.status(5);
    let voters = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["datastoreRole"] == "voter")
        .count();
    assert_eq!(voters, 5, "{status}");
    // Two of five may fail.
    let leader = cluster.leader(1).unwrap();
    let victims: Vec<usize> = (1..=5).filter(|&k| k != leader).take(2).collect();
    for &k in &victims {
        cluster.signal(k, "KILL");
    }
    assert!(wait_until(Duration::from_secs(15), || cluster
        .on(leader, &["dbctl", "put", "/five", "ok"])
        .ok()));
}
