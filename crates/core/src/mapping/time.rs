//! Time zones and Graph `dateTimeTimeZone` values: Windows or IANA names, mailbox-local dates and times.

use jiff::{
    Timestamp,
    civil::{Date, DateTime, Time},
    tz::TimeZone,
};
use serde_json::Value;

/// Resolves a Windows (`W. Europe Standard Time`, CLDR windowsZones) or IANA (`Europe/Berlin`) time
/// zone name; `UTC` and `tzone://Microsoft/Utc` are UTC.
pub fn resolve_time_zone(name: &str) -> Option<TimeZone> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") || name == "tzone://Microsoft/Utc" || name == "Etc/UTC" {
        return Some(TimeZone::UTC);
    }
    if let Some(iana) = localzone::win_zone_to_iana(name, Some("001")) {
        return TimeZone::get(iana).ok();
    }
    TimeZone::get(name).ok()
}

/// A point in time as Graph gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphTime {
    /// The wall-clock value as written (`dateTime` without offset).
    pub civil: DateTime,
    /// The instant, when the time zone is known.
    pub instant: Timestamp,
}

/// Parses a `dateTimeTimeZone` object or a date-time text (RFC 3339 with offset, or civil text read as
/// UTC). Errors are messages for a warning.
pub fn parse_graph_time(v: &Value) -> Result<GraphTime, String> {
    let (text, zone) = match v {
        Value::Object(m) => {
            let text = m
                .get("dateTime")
                .and_then(Value::as_str)
                .ok_or_else(|| "a dateTimeTimeZone without `dateTime` text".to_string())?;
            let zone = m.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
            (text, zone)
        }
        Value::String(s) => {
            if let Ok(ts) = s.parse::<Timestamp>() {
                return Ok(GraphTime {
                    civil: ts.to_zoned_datetime(TimeZone::UTC).datetime(),
                    instant: ts,
                });
            }
            (s.as_str(), "UTC")
        }
        other => return Err(format!("expected a dateTimeTimeZone, found {other}")),
    };
    let civil: DateTime = text
        .parse()
        .or_else(|_| {
            text.parse::<Date>()
                .map(|d| d.to_datetime(Time::midnight()))
        })
        .map_err(|e| format!("`{text}` is not a date-time: {e}"))?;
    let tz = resolve_time_zone(zone).ok_or_else(|| format!("unknown time zone `{zone}`"))?;
    let instant = civil
        .to_zoned_datetime(tz)
        .map_err(|e| format!("`{text}` in `{zone}`: {e}"))?
        .timestamp();
    Ok(GraphTime { civil, instant })
}

/// The local date-time of `t` in `tz`; for all-day items the written wall clock (floating).
pub fn local(t: &GraphTime, tz: &TimeZone, all_day: bool) -> DateTime {
    if all_day {
        t.civil
    } else {
        t.instant.to_zoned_datetime(tz.clone()).datetime()
    }
}

/// `HH:MM`.
pub fn format_time(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Parses `HH:MM` or `HH:MM:SS`.
pub fn parse_time(s: &str) -> Option<Time> {
    let s = s.trim();
    s.parse::<Time>()
        .ok()
        .or_else(|| format!("{s}:00").parse().ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resolves_windows_iana_and_utc_names() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            resolve_time_zone("W. Europe Standard Time")
                .unwrap()
                .iana_name(),
            berlin.iana_name()
        );
        assert_eq!(
            resolve_time_zone("Pacific Standard Time")
                .unwrap()
                .iana_name(),
            Some("America/Los_Angeles")
        );
        assert_eq!(
            resolve_time_zone("Europe/Zurich").unwrap().iana_name(),
            Some("Europe/Zurich")
        );
        assert_eq!(resolve_time_zone("UTC"), Some(TimeZone::UTC));
        assert_eq!(resolve_time_zone("Mars Standard Time"), None);
    }

    #[test]
    fn local_times_follow_dst_and_all_day_floats() {
        let tz = resolve_time_zone("W. Europe Standard Time").unwrap();
        let winter = parse_graph_time(
            &json!({"dateTime": "2025-03-29T12:00:00.0000000", "timeZone": "UTC"}),
        )
        .unwrap();
        let summer = parse_graph_time(
            &json!({"dateTime": "2025-03-30T12:00:00.0000000", "timeZone": "UTC"}),
        )
        .unwrap();
        assert_eq!(format_time(local(&winter, &tz, false).time()), "13:00");
        assert_eq!(format_time(local(&summer, &tz, false).time()), "14:00");
        assert_eq!(format_time(local(&summer, &tz, true).time()), "12:00");
        let offset = parse_graph_time(&json!("2025-03-30T12:00:00+02:00")).unwrap();
        assert_eq!(format_time(local(&offset, &tz, false).time()), "12:00");
        assert!(parse_graph_time(&json!(42)).is_err());
        assert!(parse_graph_time(&json!({"timeZone": "UTC"})).is_err());
    }

    #[test]
    fn parses_short_and_long_times() {
        assert_eq!(
            parse_time("09:30").map(format_time).as_deref(),
            Some("09:30")
        );
        assert_eq!(
            parse_time("09:30:15").map(format_time).as_deref(),
            Some("09:30")
        );
        assert_eq!(parse_time("9.30"), None);
    }
}
