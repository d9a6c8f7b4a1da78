//! Pulling from a plain-HTTP registry: Debian's docker-registry on loopback holds a pushed
//! busybox image, containerd is configured with it as an insecure registry, and a pod whose
//! image is not present pulls it and runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{agent_for, busybox_pod, phase, sync_until_with_events};
use hakube_node::resolved_pod::ResolvedPod;
use std::path::Path;
use std::time::Duration;

/// Runs curl and returns its stdout; the registry answers on loopback only.
fn curl(arguments: &[&str]) -> String {
    let output = std::process::Command::new("curl")
        .arg("-sS")
        .args(arguments)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "curl {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn upload_blob(registry: &str, repository: &str, digest: &str, file: &Path) {
    let headers = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-X",
        "POST",
        &format!("http://{registry}/v2/{repository}/blobs/uploads/"),
    ]);
    let location = headers
        .lines()
        .find_map(|line| {
            line.strip_prefix("Location: ")
                .or_else(|| line.strip_prefix("location: "))
        })
        .unwrap()
        .trim()
        .to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{registry}{location}")
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{separator}digest={digest}");
    let data = format!("@{}", file.display());
    curl(&[
        "-f",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &data,
        &url,
    ]);
}

/// Pushes the OCI archive's image as `repository:tag` through the registry HTTP API.
fn push(registry: &str, archive: &Path, repository: &str, tag: &str) {
    let layout = archive.with_extension("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(status.success());
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    digests.extend(
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|layer| layer["digest"].as_str().unwrap().to_owned()),
    );
    for digest in &digests {
        upload_blob(registry, repository, digest, &blob(digest));
    }
    let data = format!("@{}", blob(&manifest_digest).display());
    let url = format!("http://{registry}/v2/{repository}/manifests/{tag}");
    curl(&[
        "-f",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &data,
        &url,
    ]);
}

#[tokio::test]
async fn an_image_is_pulled_from_an_insecure_registry() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = format!("127.0.0.1:{port}");
    let node = common::TestNode::start_with("hkn-t-reg", "10.1.243.0/24", |options| {
        options.insecure_registries = vec![registry.clone()];
    })
    .await;
    let config = node.path().join("registry.yml");
    let storage = node.path().join("registry");
    let text = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {registry}\n",
        storage.display()
    );
    std::fs::write(&config, text).unwrap();
    let log = std::fs::File::create(node.path().join("registry.log")).unwrap();
    let mut server = tokio::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut answered = false;
    for _ in 0..50 {
        let probe = std::process::Command::new("curl")
            .args(["-sf", &format!("http://{registry}/v2/")])
            .output()
            .unwrap();
        if probe.status.success() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the registry did not come up");
    let archive = node.path().join("images/busybox.tar");
    common::write_busybox_image(&archive);
    push(&registry, &archive, "test/busybox", "1");

    let mut agent = agent_for(&node);
    let mut pod = busybox_pod("pulled", "uid-pulled", "exec sleep 3600", "Always");
    pod.spec.as_mut().unwrap().containers[0].image = Some(format!("{registry}/test/busybox:1"));
    let desired = [ResolvedPod::new(pod)];
    let mut events = std::collections::BTreeMap::new();
    sync_until_with_events(
        &mut agent,
        &desired,
        "uid-pulled",
        Duration::from_secs(60),
        |report| phase(report) == "Running",
        &mut events,
    )
    .await;
    let pulled = events["uid-pulled"]
        .iter()
        .find(|event| event.reason == "Pulled")
        .unwrap();
    assert_eq!(
        pulled.message,
        format!("Successfully pulled image \"{registry}/test/busybox:1\"")
    );
    server.kill().await.unwrap();
    node.cleanup().await;
}
