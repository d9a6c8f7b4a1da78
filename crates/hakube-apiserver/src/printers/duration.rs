//! Human-readable durations and ages: upstream's `duration.HumanDuration`
//! (k8s.io/apimachinery/pkg/util/duration) and `translateTimestampSince`,
//! plus the RFC 3339 parsing every time-based cell relies on.

use jiff::Timestamp;

const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_HOUR: i64 = 60 * SECONDS_PER_MINUTE;
const HOURS_PER_DAY: i64 = 24;
const DAYS_PER_YEAR: i64 = 365;
const NANOSECONDS_PER_SECOND: i128 = 1_000_000_000;

/// Upstream's duration.HumanDuration, used for Age-like cells ("10s", "5m3s",
/// "3h", "2d5h", "3y40d"...). It keeps ~2-3 significant figures.
#[must_use]
pub fn human_duration(seconds: i64) -> String {
    // A skew of up to one second between machines still reads as "now";
    // anything further in the future is reported as invalid.
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 2 * SECONDS_PER_MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / SECONDS_PER_MINUTE;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % SECONDS_PER_MINUTE, "s");
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / SECONDS_PER_HOUR;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    human_duration_in_hours(hours)
}

/// The coarse half of HumanDuration, for durations of eight hours or more.
fn human_duration_in_hours(hours: i64) -> String {
    let days = hours / HOURS_PER_DAY;
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < HOURS_PER_DAY * 8 {
        return with_remainder(days, "d", hours % HOURS_PER_DAY, "h");
    }
    if hours < HOURS_PER_DAY * DAYS_PER_YEAR * 2 {
        return format!("{days}d");
    }
    let years = days / DAYS_PER_YEAR;
    if hours < HOURS_PER_DAY * DAYS_PER_YEAR * 8 {
        return with_remainder(years, "y", days % DAYS_PER_YEAR, "d");
    }
    format!("{years}y")
}

/// "5m3s", or just "5m" when the smaller unit is zero.
fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// Age of an RFC 3339 timestamp relative to now; "<unknown>" when missing or
/// unparsable.
#[must_use]
pub fn age(timestamp: Option<&str>, now_unix_seconds: i64) -> String {
    match timestamp.and_then(parse_timestamp) {
        Some(moment) => human_duration(seconds_since(moment, now_unix_seconds)),
        None => "<unknown>".to_string(),
    }
}

/// Parses an RFC 3339 timestamp (seconds or sub-second precision, any offset).
/// Empty strings count as missing, like Go's zero `metav1.Time`.
pub(super) fn parse_timestamp(text: &str) -> Option<Timestamp> {
    if text.is_empty() {
        return None;
    }
    text.parse::<Timestamp>().ok()
}

/// Whole seconds from `moment` to now, truncated toward zero like Go's
/// `int(d.Seconds())`, so sub-second timestamps age exactly as upstream.
pub(super) fn seconds_since(moment: Timestamp, now_unix_seconds: i64) -> i64 {
    let now_nanoseconds = i128::from(now_unix_seconds) * NANOSECONDS_PER_SECOND;
    seconds_between_nanoseconds(moment.as_nanosecond(), now_nanoseconds)
}

/// Whole seconds from `start` to `end`, truncated toward zero.
pub(super) fn seconds_between(start: Timestamp, end: Timestamp) -> i64 {
    seconds_between_nanoseconds(start.as_nanosecond(), end.as_nanosecond())
}

fn seconds_between_nanoseconds(start: i128, end: i128) -> i64 {
    let seconds = (end - start) / NANOSECONDS_PER_SECOND;
    // Saturate rather than wrap: only absurd timestamps get this far.
    i64::try_from(seconds).unwrap_or(if seconds < 0 { i64::MIN } else { i64::MAX })
}

/// Formats like Go's `time.RFC3339` in UTC: second precision, "Z" suffix.
pub(super) fn format_rfc3339_utc(moment: Timestamp) -> String {
    moment.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
