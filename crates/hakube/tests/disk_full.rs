//! A full disk refuses writes cleanly (nothing changes, the node keeps running) and writes
//! resume when space returns. Uses a small tmpfs as the node's disk (needs root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::hakube;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = self.0.to_str().unwrap();
        let _ = hakube(&["stop", "--data-dir", &format!("{dir}/node1")]);
        let _ = Command::new("umount").arg(dir).status();
    }
}

#[test]
fn a_nearly_full_disk_refuses_writes_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=96m",
            "tmpfs",
            dir.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a tmpfs needs root");
    let mount = Mount(dir.path().to_path_buf());
    let data = format!("{}/node1", mount.0.display());
    assert!(
        hakube(&[
            "start",
            "--data-dir",
            &data,
            "--address",
            "127.21.10.11",
            "--node-name",
            "node1"
        ])
        .ok()
    );
    assert!(hakube(&["dbctl", "put", "/before", "1", "--data-dir", &data]).ok());

    // Leave less than the 64 MiB floor.
    let filler = mount.0.join("filler");
    let filled = Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", filler.display()),
            "bs=1M",
            "count=60",
        ])
        .output()
        .unwrap();
    assert!(filled.status.success());
    let refused = hakube(&["dbctl", "put", "/during", "2", "--data-dir", &data]);
    assert!(!refused.ok());
    assert!(
        refused.stderr.contains("disk is nearly full"),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.stderr.trim().lines().count(), 1);
    assert!(
        !hakube(&["dbctl", "get", "/during", "--data-dir", &data]).ok(),
        "the refused write was applied"
    );

    std::fs::remove_file(&filler).unwrap();
    let resumed = hakube(&["dbctl", "put", "/after", "3", "--data-dir", &data]);
    assert!(resumed.ok(), "{}", resumed.stderr);
    assert_eq!(
        hakube(&["dbctl", "get", "/before", "--data-dir", &data])
            .stdout
            .trim(),
        "1"
    );
}
