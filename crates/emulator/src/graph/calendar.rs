//! Time zones (Windows and IANA names), `dateTimeTimeZone` values and recurrence expansion.
//!
//! Graph stores an event's wall-clock start in its own zone and renders it in the zone asked for
//! by `Prefer: outlook.timezone` (UTC by default); all-day events are floating dates and keep their
//! wall clock whatever zone is asked for. Series are expanded in the recurrence time zone.

use jiff::{
    SignedDuration, Timestamp, ToSpan,
    civil::{Date, DateTime, Weekday},
    tz::TimeZone,
};
use serde_json::{Value, json};

/// Resolves a Windows time zone name (`W. Europe Standard Time`), an IANA name or `UTC`.
pub fn zone(name: &str) -> Option<TimeZone> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") || name == "Coordinated Universal Time" {
        return Some(TimeZone::UTC);
    }
    if let Some(iana) = localzone::win_zone_to_iana(name, Some("001"))
        .or_else(|| localzone::win_zone_to_iana(name, None))
    {
        return TimeZone::get(iana).ok();
    }
    TimeZone::get(name).ok()
}

/// Parses Graph's `dateTime` (`2025-03-04T09:00:00.0000000`, no offset).
pub fn parse_local(s: &str) -> Option<DateTime> {
    let s = s.trim().trim_end_matches('Z');
    s.parse::<DateTime>().ok()
}

/// Formats a wall-clock time as Graph does (seven fractional digits).
pub fn fmt_local(dt: DateTime) -> String {
    format!("{}.0000000", dt.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// `2025-03-04T09:00:00.1234567Z` (events, tasks).
pub fn fmt_instant_7(ts: Timestamp) -> String {
    format!(
        "{}.{:07}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ts.subsec_nanosecond() / 100
    )
}

/// `2025-03-04T09:00:00Z` (messages, contacts).
pub fn fmt_instant(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The instant of a `dateTimeTimeZone` value.
pub fn instant_of(v: &Value) -> Option<Timestamp> {
    let dt = parse_local(v.get("dateTime")?.as_str()?)?;
    let tz = zone(v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC"))?;
    tz.to_timestamp(dt).ok()
}

/// The wall clock of a `dateTimeTimeZone` value (for floating all-day dates).
pub fn wall_of(v: &Value) -> Option<DateTime> {
    parse_local(v.get("dateTime")?.as_str()?)
}

/// A `dateTimeTimeZone` for an instant shown in `tz_name`.
pub fn render(ts: Timestamp, tz_name: &str) -> Value {
    let tz = zone(tz_name).unwrap_or(TimeZone::UTC);
    json!({"dateTime": fmt_local(tz.to_datetime(ts)), "timeZone": tz_name})
}

/// A floating wall-clock value labelled with `tz_name` (all-day events).
pub fn render_floating(dt: DateTime, tz_name: &str) -> Value {
    json!({"dateTime": fmt_local(dt), "timeZone": tz_name})
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "sunday" => Weekday::Sunday,
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        _ => return None,
    })
}

/// Why a recurrence cannot be expanded (the message goes into a 400 response).
pub type RecurrenceError = String;

/// The original (series) dates of a recurrence, in order, up to `last` (inclusive) and at most
/// `limit` dates. Validates the pattern the way Graph does on create.
pub fn expand(recurrence: &Value, last: Date, limit: usize) -> Result<Vec<Date>, RecurrenceError> {
    let pattern = recurrence
        .get("pattern")
        .ok_or("recurrence.pattern is required")?;
    let range = recurrence
        .get("range")
        .ok_or("recurrence.range is required")?;
    let kind = pattern
        .get("type")
        .and_then(Value::as_str)
        .ok_or("recurrence.pattern.type is required")?
        .to_ascii_lowercase();
    let interval = pattern
        .get("interval")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let start: Date = range
        .get("startDate")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or("recurrence.range.startDate must be a date such as 2025-01-06")?;
    let range_type = range
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("noEnd")
        .to_ascii_lowercase();
    let end_date: Option<Date> = match range_type.as_str() {
        "enddate" => Some(
            range
                .get("endDate")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or("recurrence.range.endDate must be a date for type endDate")?,
        ),
        "noend" | "numbered" => None,
        other => {
            return Err(format!(
                "recurrence.range.type `{other}` is not one of endDate, noEnd, numbered"
            ));
        }
    };
    let count: Option<usize> = if range_type == "numbered" {
        Some(
            range
                .get("numberOfOccurrences")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .ok_or("recurrence.range.numberOfOccurrences must be positive for type numbered")?
                as usize,
        )
    } else {
        None
    };
    let stop = match end_date {
        Some(e) if e < last => e,
        _ => last,
    };
    let days: Vec<Weekday> = pattern
        .get("daysOfWeek")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().and_then(weekday))
                .collect()
        })
        .unwrap_or_default();
    let day_of_month = pattern
        .get("dayOfMonth")
        .and_then(Value::as_i64)
        .unwrap_or(0) as i8;
    let month = pattern.get("month").and_then(Value::as_i64).unwrap_or(0) as i8;
    let index = pattern
        .get("index")
        .and_then(Value::as_str)
        .unwrap_or("first")
        .to_ascii_lowercase();

    let mut out = Vec::new();
    let push = |d: Date, out: &mut Vec<Date>| -> bool {
        if d < start {
            return true;
        }
        if d > stop || out.len() >= limit || count.is_some_and(|c| out.len() >= c) {
            return false;
        }
        out.push(d);
        true
    };
    // Candidate generation per period; stops once a candidate passes `stop` or the count.
    let max_periods = 20_000i64;
    match kind.as_str() {
        "daily" => {
            for k in 0..max_periods {
                let Ok(d) = start.checked_add((k * interval).days()) else {
                    break;
                };
                if !push(d, &mut out) {
                    break;
                }
            }
        }
        "weekly" => {
            if days.is_empty() {
                return Err(
                    "recurrence.pattern.daysOfWeek must name at least one day for type weekly"
                        .into(),
                );
            }
            let first = pattern
                .get("firstDayOfWeek")
                .and_then(Value::as_str)
                .and_then(weekday)
                .unwrap_or(Weekday::Sunday);
            let back = first.until(start.weekday()) as i64;
            let week0 = start.checked_sub(back.days()).map_err(|e| e.to_string())?;
            'weeks: for k in 0..max_periods {
                let Ok(ws) = week0.checked_add((k * interval * 7).days()) else {
                    break;
                };
                for off in 0..7 {
                    let d = ws.checked_add(off.days()).map_err(|e| e.to_string())?;
                    if days.contains(&d.weekday()) && !push(d, &mut out) {
                        break 'weeks;
                    }
                }
            }
        }
        "absolutemonthly" | "relativemonthly" | "absoluteyearly" | "relativeyearly" => {
            let yearly = kind.ends_with("yearly");
            if kind.starts_with("absolute") && !(1..=31).contains(&day_of_month) {
                return Err("recurrence.pattern.dayOfMonth must be 1..31".into());
            }
            if kind.starts_with("relative") && days.is_empty() {
                return Err(
                    "recurrence.pattern.daysOfWeek must name a day for relative patterns".into(),
                );
            }
            if yearly && !(1..=12).contains(&month) {
                return Err("recurrence.pattern.month must be 1..12 for yearly patterns".into());
            }
            let step_months = if yearly { interval * 12 } else { interval };
            let base = if yearly {
                Date::new(start.year(), month, 1).map_err(|e| e.to_string())?
            } else {
                start.first_of_month()
            };
            for k in 0..max_periods {
                let Ok(m) = base.checked_add((k * step_months).months()) else {
                    break;
                };
                let mut cands: Vec<Date> = Vec::new();
                if kind.starts_with("absolute") {
                    if day_of_month <= m.days_in_month() {
                        cands.push(
                            m.with()
                                .day(day_of_month)
                                .build()
                                .map_err(|e| e.to_string())?,
                        );
                    }
                } else {
                    let nth: i8 = match index.as_str() {
                        "first" => 1,
                        "second" => 2,
                        "third" => 3,
                        "fourth" => 4,
                        _ => -1,
                    };
                    for wd in &days {
                        if let Ok(d) = m.nth_weekday_of_month(nth, *wd) {
                            cands.push(d);
                        }
                    }
                    cands.sort();
                }
                let mut more = true;
                for d in cands {
                    if !push(d, &mut out) {
                        more = false;
                        break;
                    }
                }
                if !more || m > stop {
                    break;
                }
            }
        }
        other => {
            return Err(format!(
                "recurrence.pattern.type `{other}` is not supported"
            ));
        }
    }
    Ok(out)
}

/// Start instant of the occurrence on `date` for a master starting at `master_start` (wall clock in `tz`).
pub fn occurrence_start(date: Date, master_start: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_timestamp(date.to_datetime(master_start.time())).ok()
}

/// Length of an event, from its start and end values.
pub fn duration(start: &Value, end: &Value) -> SignedDuration {
    match (instant_of(start), instant_of(end)) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => SignedDuration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(rec: Value, last: &str) -> Vec<String> {
        expand(&rec, last.parse().unwrap(), 100)
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn weekly_daily_monthly_and_relative_patterns_expand_like_outlook() {
        let weekly = json!({"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "sunday"},
            "range": {"type": "endDate", "startDate": "2026-11-05", "endDate": "2026-11-30"}});
        assert_eq!(
            dates(weekly, "2027-01-01"),
            ["2026-11-05", "2026-11-16", "2026-11-19", "2026-11-30"]
        );
        let daily = json!({"pattern": {"type": "daily", "interval": 3}, "range": {"type": "numbered", "startDate": "2026-11-01", "numberOfOccurrences": 3}});
        assert_eq!(
            dates(daily, "2027-01-01"),
            ["2026-11-01", "2026-11-04", "2026-11-07"]
        );
        let monthly = json!({"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, "range": {"type": "noEnd", "startDate": "2026-10-31"}});
        assert_eq!(
            dates(monthly, "2027-03-31"),
            ["2026-10-31", "2026-12-31", "2027-01-31", "2027-03-31"]
        );
        let relative = json!({"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"}, "range": {"type": "numbered", "startDate": "2026-11-01", "numberOfOccurrences": 2}});
        assert_eq!(dates(relative, "2027-12-31"), ["2026-11-27", "2026-12-25"]);
        let bad = json!({"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2026-11-01"}});
        assert!(
            expand(&bad, "2027-01-01".parse().unwrap(), 10)
                .unwrap_err()
                .contains("daysOfWeek")
        );
    }

    #[test]
    fn windows_and_iana_zone_names_resolve() {
        let ts: Timestamp = "2026-12-03T13:00:00Z".parse().unwrap();
        assert_eq!(
            render(ts, "W. Europe Standard Time")["dateTime"],
            "2026-12-03T14:00:00.0000000"
        );
        assert_eq!(
            render(ts, "Pacific Standard Time")["dateTime"],
            "2026-12-03T05:00:00.0000000"
        );
        assert_eq!(
            render(ts, "Europe/Berlin")["dateTime"],
            "2026-12-03T14:00:00.0000000"
        );
        assert!(zone("Mars Standard Time").is_none());
    }
}
