//! The host's own usage for `kubectl top nodes`: cumulative busy CPU from /proc/stat and the
//! memory working set from /proc/meminfo, as a [`Sample`] for [`crate::usage_rates`].

use crate::usage_rates::Sample;

/// /proc/stat counts in USER_HZ, which the kernel's ABI fixes at 100 on every architecture
/// Linux exports it for (sysconf(_SC_CLK_TCK) answers the same), so no call is needed.
const CLOCK_TICKS_PER_SECOND: u64 = 100;
const NANOSECONDS_PER_TICK: u64 = 1_000_000_000 / CLOCK_TICKS_PER_SECOND;

#[derive(Debug, thiserror::Error)]
pub enum NodeUsageError {
    #[error("reading {path}: {source}")]
    Read {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("{path} has no {what}")]
    Parse {
        path: &'static str,
        what: &'static str,
    },
}

/// Busy CPU time of all cores since boot, in core-nanoseconds: the aggregate `cpu` line's
/// user, nice, system, irq, softirq and steal ticks (idle and iowait are not busy; guest
/// time is already inside user and nice).
pub fn parse_cpu_core_nanoseconds(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle [iowait irq softirq steal …]: the last four came with later
    // kernels, so a missing one counts as nothing.
    if fields.len() < 4 {
        return None;
    }
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| fields.get(i).copied().unwrap_or(0))
        .sum();
    busy.checked_mul(NANOSECONDS_PER_TICK)
}

/// MemTotal − MemAvailable, in bytes: what the host could not hand out without reclaiming
/// working memory (the kubelet's node working set excludes reclaimable caches the same way).
pub fn parse_memory_working_set_bytes(meminfo: &str) -> Option<u64> {
    let kib = |name: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let total = kib("MemTotal")?;
    let available = kib("MemAvailable")?;
    total.saturating_sub(available).checked_mul(1024)
}

fn read(path: &'static str) -> Result<String, NodeUsageError> {
    std::fs::read_to_string(path).map_err(|source| NodeUsageError::Read { path, source })
}

/// One sample of the host, stamped now.
pub fn sample() -> Result<Sample, NodeUsageError> {
    let cpu = parse_cpu_core_nanoseconds(&read("/proc/stat")?).ok_or(NodeUsageError::Parse {
        path: "/proc/stat",
        what: "aggregate cpu line",
    })?;
    let memory =
        parse_memory_working_set_bytes(&read("/proc/meminfo")?).ok_or(NodeUsageError::Parse {
            path: "/proc/meminfo",
            what: "MemTotal and MemAvailable",
        })?;
    let now = jiff::Timestamp::now().as_nanosecond();
    Ok(Sample {
        timestamp_nanoseconds: i64::try_from(now).unwrap_or(i64::MAX),
        cpu_usage_core_nanoseconds: cpu,
        memory_working_set_bytes: memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10132153 290696 3084719 46828483 16683 0 25195 7 175628 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
cpu1 1335996 30454 502651 13363297 3360 0 3300 0 23958 0
intr 1462898 0 0
ctxt 19584383
btime 1700000000
";

    const MEMINFO: &str = "MemTotal:       24576000 kB
MemFree:        18000000 kB
MemAvailable:   22000000 kB
Buffers:          100000 kB
Cached:          4000000 kB
";

    #[test]
    fn busy_cpu_is_the_non_idle_ticks_in_nanoseconds() {
        // user, nice, system, irq (0), softirq, steal.
        let busy_ticks = 10132153 + 290696 + 3084719 + 25195 + 7;
        assert_eq!(
            parse_cpu_core_nanoseconds(STAT),
            Some(busy_ticks * 10_000_000)
        );
    }

    #[test]
    fn an_old_kernel_without_steal_still_counts() {
        assert_eq!(
            parse_cpu_core_nanoseconds("cpu  1 2 3 4\n"),
            Some(6 * 10_000_000)
        );
    }

    #[test]
    fn a_stat_without_the_aggregate_line_is_refused() {
        assert_eq!(parse_cpu_core_nanoseconds("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_cpu_core_nanoseconds("cpu  1 x 3 4\n"), None);
        assert_eq!(parse_cpu_core_nanoseconds("cpu  1 2\n"), None);
    }

    #[test]
    fn the_working_set_is_total_less_available() {
        assert_eq!(
            parse_memory_working_set_bytes(MEMINFO),
            Some((24576000 - 22000000) * 1024)
        );
        assert_eq!(
            parse_memory_working_set_bytes("MemTotal: 10 kB\nMemFree: 5 kB\n"),
            None
        );
    }

    #[test]
    fn this_host_can_be_sampled() {
        let sample = sample().unwrap();
        assert!(sample.cpu_usage_core_nanoseconds > 0);
        assert!(sample.memory_working_set_bytes > 0);
        assert!(sample.timestamp_nanoseconds > 0);
    }
}
