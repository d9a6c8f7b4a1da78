//! Test images and pod networking for tests with real containers: the images are built once
//! (per version of the script) from Debian packages (scripts/build-test-images.sh) and imported with
//! `hakube images import`; each cluster's pod CIDR gets a blackhole route.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::kubectl::contains;
use super::{Cluster, wait_until};

/// The test images, built once per version of the build script and shared by every test
/// process (under a lock, so parallel tests wait for one build instead of each building).
pub fn test_images() -> &'static PathBuf {
    static IMAGES: OnceLock<PathBuf> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/build-test-images.sh"
        );
        let text = std::fs::read(script).expect("the image build script");
        // FNV-1a of the script: a changed script builds a fresh set.
        let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        let directory = std::env::temp_dir().join(format!("hakube-test-images-{hash:016x}"));
        let lock = directory.with_extension("lock");
        let output = Command::new("flock")
            .arg(&lock)
            .args([
                "bash",
                "-c",
                "test -d \"$1\" || { rm -rf \"$1.partial\" && bash \"$2\" \"$1.partial\" && mv \"$1.partial\" \"$1\"; }",
                "build-test-images",
            ])
            .arg(&directory)
            .arg(script)
            .output()
            .expect("flock and bash");
        assert!(
            output.status.success(),
            "building the test images failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        directory
    })
}

/// Pod addresses of a test cluster exist only on this machine: a blackhole route for the
/// cluster CIDR makes sure a missing route never sends them out of the real interface.
pub fn guard_cluster_cidr(cidr: &str) {
    let routes = Command::new("ip")
        .args(["route", "show", cidr])
        .output()
        .expect("ip");
    if !String::from_utf8_lossy(&routes.stdout).contains("blackhole") {
        let added = Command::new("ip")
            .args(["route", "add", "blackhole", cidr])
            .status()
            .expect("ip");
        assert!(added.success(), "cannot add a blackhole route for {cidr}");
    }
}

/// `hakube images import` of every test image, retried until every node's runtime is up.
pub fn import_images(cluster: &Cluster) {
    let images = test_images();
    let files: Vec<String> = ["busybox.tar", "nginx.tar"]
        .iter()
        .map(|f| images.join(f).to_string_lossy().into_owned())
        .collect();
    let mut last = String::new();
    let imported = wait_until(Duration::from_secs(90), || {
        let mut args = vec!["images", "import"];
        args.extend(files.iter().map(String::as_str));
        let run = cluster.on(1, &args);
        last = format!("{}{}", run.stdout, run.stderr);
        run.ok()
    });
    assert!(
        imported,
        "images import never succeeded on every node:\n{last}\n{}",
        cluster.logs()
    );
    contains(&last, "node3: imported");
}
