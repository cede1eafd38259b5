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
