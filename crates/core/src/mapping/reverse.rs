//! CRM record → Graph JSON body for writes.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    context::Context,
    convert::{ctx_value, key_text, parse_bool, render, to_jinja},
    time::parse_time,
};
use crate::model::{BodyType, MappingSet, Resource, ReverseConvert, ReverseSource};

/// The Graph body for a write, and what went wrong on the way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphBody {
    pub body: Value,
    pub warnings: Vec<String>,
}

/// Maps CRM fields (field name → JSON value as on the wire) to a Graph body through the rules' `reverse`
/// parts. Never fails: problems are warnings.
pub fn to_graph(
    set: &MappingSet,
    res: &Resource,
    fields: &IndexMap<String, Value>,
    ctx: &Context,
) -> GraphBody {
    let mut body = Value::Object(Map::new());
    let mut warnings = Vec::new();
    let record = Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    for rule in res.rules.iter().filter(|r| r.to_graph()) {
        let Some(rv) = &rule.reverse else { continue };
        let target = rv.to.join(".");
        let mut warn = |m: String| warnings.push(format!("{target}: {m}"));
        let mut v = match &rv.source {
            ReverseSource::Field(f) => fields.get(f).cloned().unwrap_or(Value::Null),
            ReverseSource::Const(c) => c.clone(),
            ReverseSource::Template(t) => match render(
                &set.templates,
                t,
                &[("record", to_jinja(&record)), ("ctx", ctx_value(ctx))],
            ) {
                Ok(v) => v,
                Err(e) => {
                    warn(e);
                    Value::Null
                }
            },
            ReverseSource::DateTime { date, time, end } => {
                match date_time(fields, date, time.as_deref(), *end, ctx) {
                    Ok(v) => v,
                    Err(e) => {
                        warn(e);
                        Value::Null
                    }
                }
            }
        };
        for c in &rv.convert {
            let missing = v.is_null() || v.as_str() == Some("");
            if missing && !matches!(c, ReverseConvert::Default(_)) {
                continue;
            }
            v = match c {
                ReverseConvert::Default(d) => {
                    if missing {
                        d.clone()
                    } else {
                        v
                    }
                }
                ReverseConvert::Boolean => match parse_bool(&v) {
                    Some(b) => Value::Bool(b),
                    None => {
                        warn(format!("`{}` is not a boolean; left out", key_text(&v)));
                        Value::Null
                    }
                },
                ReverseConvert::Truncate(n) => match &v {
                    Value::String(s) => match super::value::cut_text(s, *n) {
                        Some(cut) => {
                            warn(format!(
                                "text of {} characters cut to {n} (ends with `{}`)",
                                s.chars().count(),
                                super::value::TRUNCATION_MARKER
                            ));
                            Value::String(cut)
                        }
                        None => v,
                    },
                    _ => v,
                },
                ReverseConvert::Body(kind) => {
                    let text = key_text(&v);
                    match kind {
                        BodyType::Text => json!({"contentType": "text", "content": text}),
                        BodyType::Html => {
                            json!({"contentType": "html", "content": text_to_html(&text)})
                        }
                    }
                }
                ReverseConvert::Object(key) => json!({ key.as_str(): v }),
                ReverseConvert::List => Value::Array(vec![v]),
                ReverseConvert::Catalog(name) => {
                    let cat = &res.catalogs[name.as_str()];
                    let want = key_text(&v);
                    match cat.values.iter().find(|(_, crm)| key_text(crm) == want) {
                        Some((graph, _)) => Value::String(graph.clone()),
                        None => match &cat.reverse_default {
                            Some(d) => {
                                warn(format!(
                                    "CRM value `{want}` is not in catalog `{name}`; used `{}`",
                                    key_text(d)
                                ));
                                d.clone()
                            }
                            None => {
                                warn(format!(
                                    "CRM value `{want}` is not in catalog `{name}`; left out"
                                ));
                                Value::Null
                            }
                        },
                    }
                }
            };
        }
        if !v.is_null() {
            set_path(&mut body, &rv.to, v);
        }
    }
    GraphBody { body, warnings }
}

fn date_time(
    fields: &IndexMap<String, Value>,
    date: &str,
    time: Option<&str>,
    end: bool,
    ctx: &Context,
) -> Result<Value, String> {
    let Some(d) = fields.get(date).filter(|v| !v.is_null()) else {
        return Ok(Value::Null);
    };
    let d_text = key_text(d);
    let day: jiff::civil::Date = d_text
        .trim()
        .parse()
        .map_err(|_| format!("CRM field `{date}` = `{d_text}` is not a date (YYYY-MM-DD)"))?;
    let mut day = day;
    let t = match time
        .and_then(|t| fields.get(t))
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
    {
        None => {
            if end {
                day = day
                    .tomorrow()
                    .map_err(|e| format!("CRM field `{date}` = `{d_text}`: {e}"))?;
            }
            jiff::civil::Time::midnight()
        }
        Some(v) => {
            let text = key_text(v);
            parse_time(&text).ok_or_else(|| {
                format!(
                    "CRM field `{}` = `{text}` is not a time (HH:MM)",
                    time.unwrap_or_default()
                )
            })?
        }
    };
    Ok(json!({
        "dateTime": day.to_datetime(t).strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        "timeZone": ctx.tz_name,
    }))
}

/// Plain text → HTML: escaped, line breaks as `<br>`.
fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn set_path(body: &mut Value, path: &[String], v: Value) {
    let mut cur = body;
    for (i, seg) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            map.insert(seg.clone(), v);
            return;
        }
        cur = map
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}
