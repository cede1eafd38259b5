//! Series expansion: the occurrences of a stored series master within a window or on a date, with
//! their exceptions and cancellations applied (the date rules themselves are in `calendar`).

use base64::Engine as _;
use jiff::{Timestamp, civil::Date};
use serde_json::Value;

use super::{
    calendar,
    store::{Item, Store},
};

/// One expanded instance of a series master within a window.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub original: Date,
    pub exception: bool,
    /// Where the series put this instance: an exception's start before it was moved (Graph's
    /// `originalStart`).
    pub original_start: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Instance {
    /// The occurrence's own change key: Exchange gives each occurrence and exception its own,
    /// so it is derived (stable across reads) from the master's change key, the original date,
    /// the instance's times and its exception properties: it changes whenever the master or
    /// this exception does.
    pub fn change_key(&self, master: &Item) -> String {
        let exception = master
            .exceptions
            .get(&self.original)
            .map(|o| Value::Object(o.clone()).to_string())
            .unwrap_or_default();
        let text = format!(
            "{}|{}|{}|{}|{exception}",
            master.change_key(),
            self.original,
            self.start,
            self.end
        );
        // Two FNV-1a passes with different offsets: 16 bytes, like the store's random keys.
        let fnv = |offset: u64| {
            text.bytes().fold(offset, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
        raw[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// `W/"<changeKey>"` of [`Instance::change_key`].
    pub fn etag(&self, master: &Item) -> String {
        format!("W/\"{}\"", self.change_key(master))
    }
}

/// A series' wall-clock start, the zone it recurs in, and each occurrence's length.
struct SeriesClock {
    wall: jiff::civil::DateTime,
    tz: jiff::tz::TimeZone,
    dur: jiff::SignedDuration,
}

fn series_clock(master: &Item) -> Option<(&Value, SeriesClock)> {
    let rec = master.data.get("recurrence").filter(|r| r.is_object())?;
    let start = &master.data["start"];
    let wall = calendar::wall_of(start)?;
    let tzname = rec
        .pointer("/range/recurrenceTimeZone")
        .and_then(Value::as_str)
        .or_else(|| start.get("timeZone").and_then(Value::as_str))
        .unwrap_or("UTC");
    let tz = calendar::zone(tzname).unwrap_or(jiff::tz::TimeZone::UTC);
    let dur = calendar::duration(start, &master.data["end"]);
    Some((rec, SeriesClock { wall, tz, dur }))
}

fn instance_at(master: &Item, d: Date, c: &SeriesClock) -> Option<Instance> {
    if master.cancelled.contains(&d) {
        return None;
    }
    let base = calendar::occurrence_start(d, c.wall, &c.tz);
    let (start, end, exception) = match master.exceptions.get(&d) {
        Some(x) => {
            let s = x.get("start").and_then(calendar::instant_of).or(base)?;
            let e = x
                .get("end")
                .and_then(calendar::instant_of)
                .unwrap_or(s + c.dur);
            (s, e, true)
        }
        None => (base?, base? + c.dur, false),
    };
    Some(Instance {
        id: Store::occurrence_id(&master.id, d),
        original: d,
        exception,
        original_start: base.unwrap_or(start),
        start,
        end,
    })
}

/// Upper bound of expanded dates per series (a daily series over a century).
const MAX_EXPANSION: usize = 50_000;

/// Instances of a series master overlapping `[from, to)`, cancelled occurrences left out.
pub fn instances(master: &Item, from: Timestamp, to: Timestamp) -> Vec<Instance> {
    let Some((rec, c)) = series_clock(master) else {
        return Vec::new();
    };
    let last =
        c.tz.to_datetime(to)
            .date()
            .checked_add(jiff::ToSpan::days(1))
            .unwrap_or(Date::MAX);
    let dates = calendar::expand(rec, last, MAX_EXPANSION).unwrap_or_default();
    dates
        .into_iter()
        .filter_map(|d| instance_at(master, d, &c))
        .filter(|i| i.start < to && (i.end > from || (i.end == i.start && i.start >= from)))
        .collect()
}

/// The instance whose original date is `date`, if the series has one there (not cancelled).
pub fn instance_on(master: &Item, date: Date) -> Option<Instance> {
    let (rec, c) = series_clock(master)?;
    let dates = calendar::expand(rec, date, MAX_EXPANSION).ok()?;
    if dates.last() != Some(&date) {
        return None;
    }
    instance_at(master, date, &c)
}
