//! Which scheduled time a CronJob owes a Job for, as upstream's mostRecentScheduleTime reckons
//! it: only the most recent unmet time since the last schedule (or the CronJob's creation)
//! runs, missed times are counted roughly from the gap between two runs, and more than 100
//! of them is reported as clock trouble. Also when to look again.

use jiff::{SignedDuration, Timestamp};

use super::schedule::Schedule;

/// Upstream's threshold for "too many missed start times".
const MANY_MISSED: i64 = 100;

/// Upstream pads the next look by 100 ms against clock skew.
const NEXT_SCHEDULE_DELTA: SignedDuration = SignedDuration::from_millis(100);

pub const TOO_MANY_MISSED: &str = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew";

pub const SCHEDULES_TOO_CLOSE: &str = "time difference between two schedules is less than 1 second";

/// How many scheduled times passed unmet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    Many,
}

/// The answer of mostRecentScheduleTime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmet {
    /// The last schedule time, the creation time, or the starting deadline's edge.
    pub earliest: Timestamp,
    /// The most recent scheduled time at or before now, if any is unmet.
    pub most_recent: Option<Timestamp>,
    pub missed: Missed,
}

/// Upstream's mostRecentScheduleTime: `Err` when two consecutive runs are less than a second
/// apart (a schedule that never fires, such as 30 February).
pub fn most_recent_schedule_time(
    schedule: &Schedule,
    earliest: Timestamp,
    now: Timestamp,
) -> Result<Unmet, &'static str> {
    let mut unmet = Unmet {
        earliest,
        most_recent: None,
        missed: Missed::None,
    };
    let first = schedule.next_after(earliest);
    let second = first.and_then(|first| schedule.next_after(first));
    if first.is_some_and(|first| now < first) {
        return Ok(unmet);
    }
    if let (Some(first), Some(second)) = (first, second)
        && now < second
    {
        unmet.most_recent = Some(first);
        return Ok(unmet);
    }
    let (Some(first), Some(second)) = (first, second) else {
        return Err(SCHEDULES_TOO_CLOSE);
    };
    let between = second.duration_since(first).round(jiff::Unit::Second);
    let between = between.map(|between| between.as_secs()).unwrap_or(0);
    if between < 1 {
        return Err(SCHEDULES_TOO_CLOSE);
    }
    let elapsed = now.duration_since(first).as_secs();
    let missed = elapsed / between + 1;
    // Start two intervals before the estimated last run and let the schedule find the exact
    // one, which keeps irregular schedules (weekdays only, say) right.
    let back = SignedDuration::from_secs((missed - 2).saturating_mul(between));
    let mut time = first.checked_add(back).unwrap_or(first);
    while let Some(next) = schedule.next_after(time).filter(|next| *next <= now) {
        unmet.most_recent = Some(next);
        time = next;
    }
    unmet.missed = if missed > MANY_MISSED {
        Missed::Many
    } else {
        Missed::Few
    };
    Ok(unmet)
}

/// Upstream's nextScheduleTimeDuration, as a time: the run after the most recent one (or after
/// the earliest time when none was missed, after now when some were), plus 100 ms.
pub fn next_look(schedule: &Schedule, earliest: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let from = match most_recent_schedule_time(schedule, earliest, now) {
        Err(_) => now,
        Ok(Unmet {
            most_recent: Some(most_recent),
            ..
        }) => most_recent,
        Ok(Unmet {
            missed: Missed::None,
            ..
        }) => earliest,
        Ok(_) => now,
    };
    let next = schedule.next_after(from)?;
    next.checked_add(NEXT_SCHEDULE_DELTA).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn time(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn every_minute() -> Schedule {
        Schedule::parse("* * * * *", TimeZone::UTC).unwrap()
    }

    #[test]
    fn nothing_is_owed_before_the_first_run() {
        let unmet = most_recent_schedule_time(
            &every_minute(),
            time("2024-05-01T10:00:00Z"),
            time("2024-05-01T10:00:59Z"),
        )
        .unwrap();
        assert_eq!(unmet.most_recent, None);
        assert_eq!(unmet.missed, Missed::None);
    }

    #[test]
    fn only_the_most_recent_missed_time_is_owed() {
        let unmet = most_recent_schedule_time(
            &every_minute(),
            time("2024-05-01T10:00:00Z"),
            time("2024-05-01T10:05:30Z"),
        )
        .unwrap();
        assert_eq!(unmet.most_recent, Some(time("2024-05-01T10:05:00Z")));
        assert_eq!(unmet.missed, Missed::Few);
        let weekdays = Schedule::parse("0 9 * * 1-5", TimeZone::UTC).unwrap();
        // Friday 9:00 was the last run; by Tuesday 10:00 Monday and Tuesday were missed.
        let unmet = most_recent_schedule_time(
            &weekdays,
            time("2024-05-03T09:00:00Z"),
            time("2024-05-07T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(unmet.most_recent, Some(time("2024-05-07T09:00:00Z")));
    }

    #[test]
    fn more_than_a_hundred_missed_times_are_many() {
        let unmet = most_recent_schedule_time(
            &every_minute(),
            time("2024-05-01T10:00:00Z"),
            time("2024-05-01T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(unmet.missed, Missed::Many);
        assert_eq!(unmet.most_recent, Some(time("2024-05-01T12:00:00Z")));
    }

    #[test]
    fn a_schedule_that_never_fires_is_an_error() {
        let never = Schedule::parse("0 0 30 2 *", TimeZone::UTC).unwrap();
        let result = most_recent_schedule_time(
            &never,
            time("2024-05-01T10:00:00Z"),
            time("2024-05-01T12:00:00Z"),
        );
        assert_eq!(result, Err(SCHEDULES_TOO_CLOSE));
    }

    #[test]
    fn the_next_look_follows_the_last_run() {
        let next = next_look(
            &every_minute(),
            time("2024-05-01T10:05:00Z"),
            time("2024-05-01T10:05:01Z"),
        );
        assert_eq!(next, Some(time("2024-05-01T10:06:00.1Z")));
    }
}
