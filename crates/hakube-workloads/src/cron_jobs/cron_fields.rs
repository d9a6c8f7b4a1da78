//! The five fields of a cron schedule (minute, hour, day of month, month, day of week), as
//! robfig/cron parses them: `*` and `?`, ranges, lists, steps ("N/step" meaning N to the
//! maximum), month and weekday names (jan–dec, sun–sat, any case), and its error words.

use jiff::civil::DateTime;

/// One bit per allowed value; the star flag records a `*` or `?` (robfig's starBit), which
/// decides how day of month and day of week combine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronFields {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    day_of_month_star: bool,
    day_of_week_star: bool,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl CronFields {
    /// Parses "minute hour day-of-month month day-of-week".
    pub fn parse(text: &str) -> Result<CronFields, String> {
        parse_fields(text)
    }

    pub fn minute(&self, minute: i8) -> bool {
        has(self.minutes, minute)
    }

    pub fn hour(&self, hour: i8) -> bool {
        has(self.hours, hour)
    }

    pub fn month(&self, month: i8) -> bool {
        has(self.months, month)
    }

    /// Whether the day matches: standard cron ORs day of month and day of week when both are
    /// restricted, and ANDs them when either is a star.
    pub fn day(&self, day: DateTime) -> bool {
        let day_of_month = has(self.days_of_month, day.day());
        let day_of_week = has(self.days_of_week, day.weekday().to_sunday_zero_offset());
        if self.day_of_month_star || self.day_of_week_star {
            day_of_month && day_of_week
        } else {
            day_of_month || day_of_week
        }
    }
}

fn parse_fields(text: &str) -> Result<CronFields, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
        return Err(format!(
            "expected exactly 5 fields, found {}: {text}",
            fields.len()
        ));
    };
    let (days_of_month, day_of_month_star) = parse_field(day_of_month, &DAYS_OF_MONTH)?;
    let (days_of_week, day_of_week_star) = parse_field(day_of_week, &DAYS_OF_WEEK)?;
    Ok(CronFields {
        minutes: parse_field(minute, &MINUTES)?.0,
        hours: parse_field(hour, &HOURS)?.0,
        days_of_month,
        months: parse_field(month, &MONTHS)?.0,
        days_of_week,
        day_of_month_star,
        day_of_week_star,
    })
}

/// A comma-separated list of ranges; whether it was a bare star.
fn parse_field(field: &str, bounds: &Bounds) -> Result<(u64, bool), String> {
    let mut bits = 0;
    let mut star = false;
    for range in field.split(',') {
        let (range_bits, range_star) = parse_range(range, bounds)?;
        bits |= range_bits;
        star |= range_star;
    }
    Ok((bits, star))
}

fn parse_range(range: &str, bounds: &Bounds) -> Result<(u64, bool), String> {
    let (span, step) = match range.split('/').collect::<Vec<_>>()[..] {
        [span] => (span, None),
        [span, step] => (span, Some(step)),
        _ => return Err(format!("too many slashes: {range}")),
    };
    let ends: Vec<&str> = span.split('-').collect();
    let (mut start, mut end, mut star) = match ends[..] {
        ["*" | "?"] => (bounds.min, bounds.max, true),
        [single] => {
            let value = parse_value(single, bounds)?;
            (value, value, false)
        }
        [low, high] => (parse_value(low, bounds)?, parse_value(high, bounds)?, false),
        _ => return Err(format!("too many hyphens: {range}")),
    };
    let step = match step {
        None => 1,
        Some(step) => {
            let step: u32 = step
                .parse()
                .map_err(|_| format!("failed to parse int from {step}"))?;
            // "N/step" means "N-max/step".
            if ends.len() == 1 && !star {
                end = bounds.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
    };
    if start < bounds.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {range}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {range}",
            bounds.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {range}"
        ));
    }
    if step == 0 {
        return Err(format!(
            "step of range should be a positive number: {range}"
        ));
    }
    let mut bits = 0;
    while start <= end {
        bits |= 1 << start;
        let Some(next) = start.checked_add(step) else {
            break;
        };
        start = next;
    }
    Ok((bits, star))
}

fn parse_value(text: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(position) = bounds.names.iter().position(|name| *name == lower) {
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        return Ok(position + bounds.min);
    }
    text.parse()
        .map_err(|_| format!("failed to parse int from {text}"))
}

fn has(bits: u64, value: impl TryInto<u32>) -> bool {
    value
        .try_into()
        .ok()
        .is_some_and(|value| value < 64 && bits & (1 << value) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_past_the_range_keeps_only_its_start() {
        let fields = CronFields::parse("*/4294967295 5/100 * * *").unwrap();
        assert!(fields.minute(0) && !fields.minute(1));
        assert!(fields.hour(5) && !fields.hour(6));
    }

    #[test]
    fn malformed_schedules_are_refused_with_robfig_words() {
        let cases = [
            ("* * * *", "expected exactly 5 fields, found 4: * * * *"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("x * * * *", "failed to parse int from x"),
        ];
        for (schedule, message) in cases {
            let error = CronFields::parse(schedule).unwrap_err();
            assert_eq!(error, message, "{schedule}");
        }
    }
}
