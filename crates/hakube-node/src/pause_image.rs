//! The pod sandbox ("pause") image, built offline from the host's busybox-static: a shell that
//! sleeps until SIGTERM, then exits 0 (reference §1.3). Built once per node directory.

use crate::oci_archive::{OciArchiveError, OciImageBuilder};
use std::path::Path;

/// The name containerd knows the sandbox image by (its `sandbox_image` setting).
pub const PAUSE_IMAGE: &str = "hakube.local/pause:1";

/// Where Debian's busybox-static installs its binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// The pause loop: `wait` is interruptible, so TERM ends the sandbox at once.
const PAUSE_SCRIPT: &str = r#"trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done"#;

/// Writes the pause image archive to `archive_path`.
pub fn write_pause_image(archive_path: &Path) -> Result<(), OciArchiveError> {
    OciImageBuilder::new()
        .directory("bin/")
        .host_file("bin/busybox", Path::new(HOST_BUSYBOX))?
        .symlink("bin/sh", "busybox")
        .symlink("bin/sleep", "busybox")
        .entrypoint(&["/bin/sh", "-c", PAUSE_SCRIPT])
        .write_archive(PAUSE_IMAGE, archive_path)
}
