//! The cron schedule of a CronJob, read as upstream reads it (robfig/cron's ParseStandard):
//! five fields (cron_fields.rs); the descriptors @yearly, @annually, @monthly, @weekly, @daily,
//! @midnight, @hourly and `@every <duration>` (whole seconds: h, m, s, ms units); and an
//! optional `TZ=`/`CRON_TZ=` prefix. The next run after a time is searched on the wall clock of
//! the schedule's time zone.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::cron_fields::CronFields;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
    time_zone: TimeZone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Fields(CronFields),
    /// `@every <duration>`: a fixed delay (whole seconds, at least one).
    Every(i64),
}

/// Like robfig/cron, the search gives up after this many years (a day that never comes, such
/// as 30 February).
const SEARCH_YEARS: i16 = 5;

impl Schedule {
    /// Parses `text` in `default_time_zone` (a `TZ=`/`CRON_TZ=` prefix overrides it).
    pub fn parse(text: &str, default_time_zone: TimeZone) -> Result<Schedule, String> {
        let text = text.trim();
        let (time_zone, rest) = split_time_zone(text, default_time_zone)?;
        let kind = if let Some(descriptor) = rest.strip_prefix('@') {
            parse_descriptor(descriptor)?
        } else {
            Kind::Fields(CronFields::parse(rest)?)
        };
        Ok(Schedule { kind, time_zone })
    }

    /// The first run strictly after `after`, `None` when none comes within five years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(seconds) => {
                // robfig drops the sub-second part, so runs stay on whole seconds.
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole.checked_add(SignedDuration::from_secs(*seconds)).ok()
            }
            Kind::Fields(fields) => next_matching(fields, &self.time_zone, after),
        }
    }
}

fn split_time_zone(text: &str, default: TimeZone) -> Result<(TimeZone, &str), String> {
    let prefix = ["TZ=", "CRON_TZ="]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix));
    let Some(prefixed) = prefix else {
        return Ok((default, text));
    };
    let (name, rest) = prefixed
        .split_once(char::is_whitespace)
        .unwrap_or((prefixed, ""));
    let time_zone =
        time_zone_named(name).map_err(|error| format!("provided bad location {name}: {error}"))?;
    Ok((time_zone, rest.trim_start()))
}

/// A time zone by IANA name: UTC always, others from the system's tz database.
pub fn time_zone_named(name: &str) -> Result<TimeZone, String> {
    if matches!(name, "" | "UTC" | "Etc/UTC") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|error| error.to_string())
}

fn parse_descriptor(descriptor: &str) -> Result<Kind, String> {
    let every = |minute: &str, hour: &str, day: &str, month: &str, weekday: &str| {
        CronFields::parse(&format!("{minute} {hour} {day} {month} {weekday}")).map(Kind::Fields)
    };
    match descriptor {
        "yearly" | "annually" => every("0", "0", "1", "1", "*"),
        "monthly" => every("0", "0", "1", "*", "*"),
        "weekly" => every("0", "0", "*", "*", "0"),
        "daily" | "midnight" => every("0", "0", "*", "*", "*"),
        "hourly" => every("0", "*", "*", "*", "*"),
        _ => match descriptor.strip_prefix("every ") {
            Some(duration) => parse_duration(duration.trim()).map(Kind::Every),
            None => Err(format!("unrecognized descriptor: @{descriptor}")),
        },
    }
}

/// A Go duration such as "1h30m" or "90s", in whole seconds (at least one, as robfig rounds
/// shorter delays up).
fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("failed to parse duration @every {text}: invalid duration");
    let mut seconds: i64 = 0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    if text.is_empty() {
        return Err(invalid());
    }
    while let Some(character) = chars.next() {
        if character.is_ascii_digit() {
            number.push(character);
            continue;
        }
        let mut unit = character.to_string();
        if character == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let value: i64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        let scaled = match unit.as_str() {
            "h" => value.checked_mul(3_600),
            "m" => value.checked_mul(60),
            "s" => Some(value),
            "ms" => Some(value / 1_000),
            _ => None,
        };
        seconds = scaled
            .and_then(|scaled| seconds.checked_add(scaled))
            .ok_or_else(invalid)?;
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    Ok(seconds.max(1))
}

/// Walks the wall clock a field at a time (month, day, hour, minute) from the first whole
/// minute after `after`. A wall time skipped by a daylight-saving change runs at the moment
/// after the gap; a repeated one runs once, at its first occurrence.
fn next_matching(fields: &CronFields, time_zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let start = time_zone.to_datetime(after);
    let mut candidate = start
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .ok()?
        .checked_add(1.minute())
        .ok()?;
    let last_year = start.year().saturating_add(SEARCH_YEARS);
    while candidate.year() <= last_year {
        candidate = if !fields.month(candidate.month()) {
            candidate
                .first_of_month()
                .checked_add(1.month())
                .ok()?
                .start_of_day()
        } else if !fields.day(candidate) {
            candidate.checked_add(1.day()).ok()?.start_of_day()
        } else if !fields.hour(candidate.hour()) {
            let hour_start = candidate.with().minute(0).build().ok()?;
            hour_start.checked_add(1.hour()).ok()?
        } else if !fields.minute(candidate.minute()) {
            candidate.checked_add(1.minute()).ok()?
        } else {
            let run = time_zone
                .to_ambiguous_timestamp(candidate)
                .compatible()
                .ok()?;
            if run > after {
                return Some(run);
            }
            candidate.checked_add(1.minute()).ok()?
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next(schedule: &str, after: &str) -> Option<String> {
        let schedule = Schedule::parse(schedule, TimeZone::UTC).unwrap();
        schedule.next_after(utc(after)).map(|time| time.to_string())
    }

    #[test]
    fn every_minute_runs_on_the_next_whole_minute() {
        let at = "2024-05-01T10:00:00Z";
        assert_eq!(
            next("* * * * *", at).as_deref(),
            Some("2024-05-01T10:01:00Z")
        );
        let between = "2024-05-01T10:00:30Z";
        assert_eq!(
            next("* * * * *", between).as_deref(),
            Some("2024-05-01T10:01:00Z")
        );
    }

    #[test]
    fn ranges_lists_steps_and_names() {
        let at = "2024-05-01T10:07:00Z"; // a Wednesday
        assert_eq!(
            next("*/15 * * * *", at).as_deref(),
            Some("2024-05-01T10:15:00Z")
        );
        assert_eq!(
            next("5,50 9-11 * * *", at).as_deref(),
            Some("2024-05-01T10:50:00Z")
        );
        assert_eq!(
            next("0 8 * * MON-fri", at).as_deref(),
            Some("2024-05-02T08:00:00Z")
        );
        assert_eq!(
            next("0 0 1 jan,Jul *", at).as_deref(),
            Some("2024-07-01T00:00:00Z")
        );
        // "10/20" is 10-59/20.
        assert_eq!(
            next("10/20 * * * *", at).as_deref(),
            Some("2024-05-01T10:10:00Z")
        );
        assert_eq!(
            next("0 12 ? * sun", at).as_deref(),
            Some("2024-05-05T12:00:00Z")
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_combine_like_cron() {
        let at = "2024-05-01T10:07:00Z"; // Wednesday 1 May
        // Both restricted: either matches (the 15th or the next Friday, 3 May).
        assert_eq!(
            next("0 0 15 * fri", at).as_deref(),
            Some("2024-05-03T00:00:00Z")
        );
        // A stepped day of week is not a star: still either.
        assert_eq!(
            next("0 0 2 * */7", at).as_deref(),
            Some("2024-05-02T00:00:00Z")
        );
        // Day of week a star: day of month alone decides.
        assert_eq!(
            next("0 0 15 * *", at).as_deref(),
            Some("2024-05-15T00:00:00Z")
        );
    }

    #[test]
    fn descriptors() {
        let at = "2024-05-01T10:07:00Z";
        let expectations = [
            ("@hourly", "2024-05-01T11:00:00Z"),
            ("@daily", "2024-05-02T00:00:00Z"),
            ("@midnight", "2024-05-02T00:00:00Z"),
            ("@weekly", "2024-05-05T00:00:00Z"),
            ("@monthly", "2024-06-01T00:00:00Z"),
            ("@yearly", "2025-01-01T00:00:00Z"),
            ("@annually", "2025-01-01T00:00:00Z"),
            ("@every 1h30m", "2024-05-01T11:37:00Z"),
        ];
        for (schedule, expected) in expectations {
            assert_eq!(next(schedule, at).as_deref(), Some(expected), "{schedule}");
        }
    }

    #[test]
    fn leap_days_and_impossible_dates() {
        let at = "2025-03-01T00:00:00Z";
        assert_eq!(
            next("0 0 29 2 *", at).as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(next("0 0 30 2 *", at), None);
    }

    #[test]
    fn unknown_descriptors_and_bad_durations_are_refused() {
        let error = Schedule::parse("@fortnightly", TimeZone::UTC).unwrap_err();
        assert_eq!(error, "unrecognized descriptor: @fortnightly");
        assert!(Schedule::parse("@every 5x", TimeZone::UTC).is_err());
        assert!(Schedule::parse("@every 10", TimeZone::UTC).is_err());
        let fields = Schedule::parse("61 * * * *", TimeZone::UTC).unwrap_err();
        assert_eq!(fields, "end of range (61) above maximum (59): 61");
    }

    #[test]
    fn time_zone_prefix_and_daylight_saving() {
        // Berlin springs forward at 02:00 on 31 March 2024: 02:30 does not exist that day.
        let berlin = Schedule::parse("TZ=Europe/Berlin 30 2 * * *", TimeZone::UTC).unwrap();
        let run = berlin.next_after(utc("2024-03-30T12:00:00Z")).unwrap();
        assert_eq!(run.to_string(), "2024-03-31T01:30:00Z");
        let run = berlin.next_after(run).unwrap();
        assert_eq!(run.to_string(), "2024-04-01T00:30:00Z");
        // 02:30 happens twice on 27 October 2024; it runs once.
        let first = berlin.next_after(utc("2024-10-26T12:00:00Z")).unwrap();
        assert_eq!(first.to_string(), "2024-10-27T00:30:00Z");
        let second = berlin.next_after(first).unwrap();
        assert_eq!(second.to_string(), "2024-10-28T01:30:00Z");
        assert!(Schedule::parse("CRON_TZ=Mars/Olympus * * * * *", TimeZone::UTC).is_err());
    }
}
