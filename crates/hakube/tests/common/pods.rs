//! Pods as the host sees them: a selector's pods with phase, IP and node, and an HTTP GET of
//! a pod address from the host (busybox's wget, so no proxy or client library is involved).

use std::process::Command;

use super::kubectl::Kubectl;

/// A pod on node1 that fetches `http://TARGET/` once (replace TARGET) and exits: Succeeded
/// and its log holds the page when the target answered.
pub const PROBE_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: probe
spec:
  restartPolicy: Never
  nodeSelector:
    kubernetes.io/hostname: node1
  containers:
  - name: probe
    image: hakube.local/busybox:1
    command: [\"wget\", \"-qO-\", \"http://TARGET/\"]
";

/// `(name, phase, ip, node)` of every pod of `selector` that is not being deleted.
pub fn pods(kubectl: &Kubectl, selector: &str) -> Vec<(String, String, String, String)> {
    let template = "{range .items[*]}{.metadata.name} {.status.phase} {.status.podIP} {.spec.nodeName} {.metadata.deletionTimestamp}{\"\\n\"}{end}";
    let out = kubectl.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        &format!("jsonpath={template}"),
    ]);
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() == 4)
        .map(|f| (f[0].clone(), f[1].clone(), f[2].clone(), f[3].clone()))
        .collect()
}

/// The body of `url` fetched from the host, or nothing.
pub fn wget(url: &str) -> String {
    // timeout(1) bounds it; busybox-static's own `wget -T` crashes.
    let output = Command::new("timeout")
        .args(["20", "busybox", "wget", "-qO-", url])
        .output()
        .expect("timeout and busybox");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
