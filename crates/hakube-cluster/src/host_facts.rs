//! What a node reports about its host in its Node object: CPUs, memory, disk, OS image,
//! kernel, machine and boot ids. Read from /proc, /etc and statvfs; a fact that cannot be
//! read is reported empty rather than invented.

use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub cpus: usize,
    pub memory_kib: u64,
    pub ephemeral_storage_kib: u64,
    pub os_image: String,
    pub kernel_version: String,
    pub machine_id: String,
    pub boot_id: String,
    pub hostname: String,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` from /proc/meminfo, in KiB.
fn memory_kib(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// `PRETTY_NAME` from os-release.
fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn disk_kib(path: &Path) -> u64 {
    rustix::fs::statvfs(path)
        .map(|stats| stats.f_blocks.saturating_mul(stats.f_frsize) / 1024)
        .unwrap_or(0)
}

impl HostFacts {
    pub fn read(data_dir: &Path) -> Self {
        HostFacts {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_kib: memory_kib(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default()),
            ephemeral_storage_kib: disk_kib(data_dir),
            os_image: os_image(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
            kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
            machine_id: read_trimmed("/etc/machine-id"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            hostname: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_come_from_the_files() {
        assert_eq!(
            memory_kib("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            24_576_000
        );
        assert_eq!(
            os_image("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        let facts = HostFacts::read(Path::new("/"));
        assert!(facts.cpus >= 1);
        assert!(facts.memory_kib > 0);
    }
}
