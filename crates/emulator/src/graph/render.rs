//! Turns stored items into the JSON Graph returns: time zone and body-type preferences, `$select`,
//! `$expand` of extended properties, series occurrences (full or sparse).

use serde_json::{Map, Value, json};

use super::{
    calendar,
    html::{html_to_text, text_to_html},
    odata,
    recurrence::Instance,
    store::{Item, ItemKind},
};

/// How the client asked to see items.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub tz: Option<String>,
    pub body_type: Option<String>,
    pub select: Option<Vec<String>>,
    /// `Some(None)`: expand all extended properties; `Some(Some(f))`: those matching `f`.
    pub expand: Expand,
    /// The app holds only Mail.ReadBasic / Calendars.ReadBasic: no bodies, previews,
    /// attendees or extended properties.
    pub basic: bool,
}

/// What `$expand` asked for: `Some(None)` = all, `Some(Some(f))` = those matching `f`.
#[derive(Debug, Clone, Default)]
pub struct Expand {
    pub ext_props: Option<Option<odata::Expr>>,
    pub extensions: Option<Option<odata::Expr>>,
}

/// Parses `$expand=singleValueExtendedProperties($filter=id eq '…'),extensions($filter=id eq '…')`;
/// other navigations (linkedResources, attachments…) are accepted and ignored.
pub fn parse_expand(expand: Option<&str>) -> Result<Expand, String> {
    let mut out = Expand::default();
    let Some(expand) = expand else {
        return Ok(out);
    };
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in expand.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&expand[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&expand[start..]);
    for part in parts {
        let part = part.trim();
        let (name, rest) = match part.find('(') {
            Some(i) => (&part[..i], part[i..].trim()),
            None => (part, ""),
        };
        let filter = if rest.is_empty() {
            None
        } else {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("expected {name}($filter=id eq '...')"))?;
            let f = inner
                .trim()
                .strip_prefix("$filter=")
                .ok_or_else(|| format!("expected $filter= inside {name}(...)"))?;
            Some(odata::parse(f)?)
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "singlevalueextendedproperties" => out.ext_props = Some(filter),
            "extensions" => out.extensions = Some(filter),
            _ => {}
        }
    }
    Ok(out)
}

fn convert_body(body: &Value, to: &str) -> Value {
    let ct = body
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or("text");
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    match (ct, to) {
        ("html", "text") => json!({"contentType": "text", "content": html_to_text(content)}),
        ("text", "html") => json!({"contentType": "html", "content": text_to_html(content)}),
        _ => body.clone(),
    }
}

fn zone_value(v: &Value, tz: &str, floating: bool) -> Value {
    if floating {
        match calendar::wall_of(v) {
            Some(w) => calendar::render_floating(w, tz),
            None => v.clone(),
        }
    } else {
        match calendar::instant_of(v) {
            Some(t) => calendar::render(t, tz),
            None => v.clone(),
        }
    }
}

fn apply_zone(m: &mut Map<String, Value>, kind: ItemKind, tz: &str) {
    match kind {
        ItemKind::Event => {
            let all_day = m.get("isAllDay").and_then(Value::as_bool) == Some(true);
            for k in ["start", "end"] {
                if let Some(v) = m.get(k).filter(|v| v.is_object()) {
                    let z = zone_value(v, tz, all_day);
                    m.insert(k.into(), z);
                }
            }
        }
        ItemKind::Task => {
            if let Some(v) = m.get("dueDateTime").filter(|v| v.is_object()) {
                let z = zone_value(v, tz, true);
                m.insert("dueDateTime".into(), z);
            }
            for k in ["startDateTime", "reminderDateTime"] {
                if let Some(v) = m.get(k).filter(|v| v.is_object()) {
                    let z = zone_value(v, tz, false);
                    m.insert(k.into(), z);
                }
            }
        }
        _ => {}
    }
}

/// Properties Graph returns only when `$select`ed.
fn hidden(kind: ItemKind) -> &'static [&'static str] {
    match kind {
        ItemKind::Message => &["uniqueBody", "internetMessageHeaders"],
        _ => &[],
    }
}

fn ext_json(item: &Item) -> Vec<Value> {
    item.ext
        .iter()
        .map(|(id, v)| json!({"id": id, "value": v}))
        .collect()
}

/// Renders a stored item for a response.
pub fn item_json(item: &Item, view: &View) -> Map<String, Value> {
    let mut m = item.data.clone();
    finish(&mut m, item, view);
    m
}

fn finish(m: &mut Map<String, Value>, item: &Item, view: &View) {
    if view.basic {
        let gone: &[&str] = match item.kind {
            ItemKind::Message => &[
                "body",
                "bodyPreview",
                "uniqueBody",
                "internetMessageHeaders",
            ],
            ItemKind::Event => &["body", "bodyPreview", "attendees"],
            _ => &[],
        };
        for k in gone {
            m.remove(*k);
        }
    }
    let tz = view.tz.clone().unwrap_or_else(|| "UTC".into());
    apply_zone(m, item.kind, &tz);
    if let Some(to) = &view.body_type {
        for k in ["body", "uniqueBody"] {
            if let Some(b) = m.get(k) {
                let c = convert_body(b, to);
                m.insert(k.into(), c);
            }
        }
    }
    if let Some(filter) = &view.expand.extensions {
        let matching: Vec<Value> = item
            .extensions
            .iter()
            .filter(|e| filter.as_ref().is_none_or(|f| f.eval(&short_id(e))))
            .cloned()
            .map(Value::Object)
            .collect();
        m.insert("extensions".into(), Value::Array(matching));
    }
    if let Some(ext) = view.expand.ext_props.as_ref().filter(|_| !view.basic) {
        let matching: Vec<Value> = ext_json(item)
            .into_iter()
            .filter(|p| ext.as_ref().is_none_or(|f| f.eval_ext_property(p)))
            .collect();
        if !matching.is_empty() {
            m.insert(
                "singleValueExtendedProperties".into(),
                Value::Array(matching),
            );
        }
    }
    match &view.select {
        Some(sel) => {
            let keep = |k: &str| {
                matches!(
                    k,
                    "@odata.etag" | "id" | "@odata.type" | "singleValueExtendedProperties"
                ) || sel.iter().any(|s| s.eq_ignore_ascii_case(k))
            };
            m.retain(|k, _| keep(k));
        }
        None => {
            for h in hidden(item.kind) {
                m.remove(*h);
            }
        }
    }
}

/// Renders one instance of a series: full (calendarView, /instances) or sparse (delta).
pub fn instance_json(
    master: &Item,
    inst: &Instance,
    view: &View,
    sparse: bool,
) -> Map<String, Value> {
    let kind = if inst.exception {
        "exception"
    } else {
        "occurrence"
    };
    // Instances are computed as instants; all-day ones go back to floating wall clocks.
    let all_day = master.data.get("isAllDay").and_then(Value::as_bool) == Some(true);
    let (start, end) = if all_day {
        let stz = calendar::zone(master.data["start"]["timeZone"].as_str().unwrap_or("UTC"))
            .unwrap_or(jiff::tz::TimeZone::UTC);
        (
            calendar::render_floating(stz.to_datetime(inst.start), "UTC"),
            calendar::render_floating(stz.to_datetime(inst.end), "UTC"),
        )
    } else {
        (
            calendar::render(inst.start, "UTC"),
            calendar::render(inst.end, "UTC"),
        )
    };
    let mut m = if sparse && !inst.exception {
        let mut m = Map::new();
        m.insert("@odata.type".into(), json!("#microsoft.graph.event"));
        m.insert("@odata.etag".into(), json!(inst.etag(master)));
        m.insert("type".into(), json!(kind));
        m.insert("seriesMasterId".into(), json!(master.id));
        m.insert("start".into(), start);
        m.insert("end".into(), end);
        m.insert("id".into(), json!(inst.id));
        let tz = view.tz.clone().unwrap_or_else(|| "UTC".into());
        if all_day {
            // A sparse occurrence has no isAllDay for apply_zone to read: relabel here.
            for k in ["start", "end"] {
                let w = calendar::wall_of(&m[k]).expect("rendered");
                m.insert(k.into(), calendar::render_floating(w, &tz));
            }
        } else {
            apply_zone(&mut m, ItemKind::Event, &tz);
        }
        return m;
    } else {
        master.data.clone()
    };
    if let Some(over) = master.exceptions.get(&inst.original) {
        for (k, v) in over {
            m.insert(k.clone(), v.clone());
        }
    }
    m.insert("id".into(), json!(inst.id));
    m.insert("@odata.etag".into(), json!(inst.etag(master)));
    m.insert("changeKey".into(), json!(inst.change_key(master)));
    m.insert("type".into(), json!(kind));
    m.insert("seriesMasterId".into(), json!(master.id));
    m.insert("recurrence".into(), Value::Null);
    // The start the series gave this instance (an exception's start before it was moved), in UTC.
    m.insert(
        "originalStart".into(),
        json!(calendar::fmt_instant(inst.original_start)),
    );
    m.insert("start".into(), start);
    m.insert("end".into(), end);
    finish(&mut m, master, view);
    m
}

/// The stored item as tests see it: Graph JSON with extended properties, exceptions and
/// cancelled occurrences of a series.
pub fn stored_view(item: &Item) -> Value {
    let mut m = item.data.clone();
    if !item.ext.is_empty() {
        m.insert(
            "singleValueExtendedProperties".into(),
            Value::Array(ext_json(item)),
        );
    }
    if !item.extensions.is_empty() {
        m.insert(
            "extensions".into(),
            Value::Array(item.extensions.iter().cloned().map(Value::Object).collect()),
        );
    }
    if !item.exceptions.is_empty() {
        let ex: Map<String, Value> = item
            .exceptions
            .iter()
            .map(|(d, o)| (d.to_string(), Value::Object(o.clone())))
            .collect();
        m.insert("exceptions".into(), Value::Object(ex));
    }
    if !item.cancelled.is_empty() {
        m.insert(
            "cancelledOccurrences".into(),
            json!(
                item.cancelled
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
            ),
        );
    }
    Value::Object(m)
}

/// An open extension as filters see it: `id` is the extension name.
fn short_id(e: &Map<String, Value>) -> Value {
    let mut v = e.clone();
    if let Some(name) = e.get("extensionName") {
        v.insert("id".into(), name.clone());
    }
    Value::Object(v)
}

/// The JSON view `$filter` is evaluated against (extended properties included).
pub fn filter_view(item: &Item) -> Value {
    let mut m = item.data.clone();
    m.insert(
        "extensions".into(),
        Value::Array(item.extensions.iter().map(short_id).collect()),
    );
    m.insert(
        "singleValueExtendedProperties".into(),
        Value::Array(ext_json(item)),
    );
    Value::Object(m)
}
