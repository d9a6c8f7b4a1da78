//! What containerd leaves behind when a pod's sandbox is removed (reference §1.1, §2.2): the
//! pod directory (logs, volumes) and the pod-level cgroup in every hierarchy.

use crate::node_paths::NodePaths;
use crate::pod_config::pod_cgroup_parent;
use crate::sync::PodRef;
use std::path::Path;

const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// Removes the pod's directory and cgroups; what is already gone is fine.
pub fn cleanup_pod(paths: &NodePaths, cgroup_root: &str, pod: &PodRef) {
    let pod_dir = paths.pod_dir(&pod.namespace, &pod.name, &pod.uid);
    if let Err(error) = std::fs::remove_dir_all(&pod_dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, pod_dir = %pod_dir.display(), "removing the pod directory failed");
    }
    remove_pod_cgroups(Path::new(CGROUP_MOUNT), cgroup_root, &pod.uid);
}

/// rmdir of `<hierarchy>/<root>/pod<uid>` in each hierarchy (v1 controllers and the unified
/// one), container cgroups inside it first: containerd removes those itself, but only once the
/// shim has gone, which may be after the sandbox removal returned. A cgroup directory can
/// only be removed with rmdir, and only once no process is left in it.
pub fn remove_pod_cgroups(cgroup_mount: &Path, cgroup_root: &str, uid: &str) {
    let relative = pod_cgroup_parent(cgroup_root, uid);
    let relative = relative.trim_start_matches('/');
    let mut directories: Vec<std::path::PathBuf> = std::fs::read_dir(cgroup_mount)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join(relative))
                .collect()
        })
        .unwrap_or_default();
    // cgroup v2 only: the pod cgroup sits directly under the mount.
    directories.push(cgroup_mount.join(relative));
    for directory in directories.iter().filter(|directory| directory.is_dir()) {
        for child in std::fs::read_dir(directory).into_iter().flatten().flatten() {
            if child.path().is_dir() {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        let _ = std::fs::remove_dir(directory);
    }
}

/// The pod cgroup directories still present (for tests and diagnostics).
pub fn remaining_pod_cgroups(cgroup_root: &str, uid: &str) -> Vec<std::path::PathBuf> {
    let relative = pod_cgroup_parent(cgroup_root, uid);
    let mount = Path::new(CGROUP_MOUNT);
    let mut remaining: Vec<std::path::PathBuf> = std::fs::read_dir(mount)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join(relative.trim_start_matches('/')))
                .collect()
        })
        .unwrap_or_default();
    remaining.push(mount.join(relative.trim_start_matches('/')));
    remaining.retain(|path| path.is_dir());
    remaining
}

/// Removes the node's cgroup root in every hierarchy, with any empty pod cgroups left in it
/// (node teardown, after every pod was removed).
pub fn remove_node_cgroups(cgroup_root: &str) {
    let mount = Path::new(CGROUP_MOUNT);
    let mut roots: Vec<std::path::PathBuf> = std::fs::read_dir(mount)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join(cgroup_root))
                .collect()
        })
        .unwrap_or_default();
    roots.push(mount.join(cgroup_root));
    for root in roots.iter().filter(|root| root.is_dir()) {
        for pod in std::fs::read_dir(root).into_iter().flatten().flatten() {
            if pod.file_name().to_string_lossy().starts_with("pod") && pod.path().is_dir() {
                let _ = std::fs::remove_dir(pod.path());
            }
        }
        let _ = std::fs::remove_dir(root);
    }
}
