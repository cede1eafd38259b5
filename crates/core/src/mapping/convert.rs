//! Forward and reverse converters, JSONPath evaluation and template rendering.

use jiff::civil::{Date, Time};
use serde_json::Value;

use super::{
    context::Context,
    time::{GraphTime, local, parse_graph_time},
};
use crate::model::{self, Catalog, DurationUnit, JsonPath};

/// A value while converters run: JSON, or an already typed date / time.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Json(Value),
    Date(Date),
    Time(Time),
}

impl Work {
    pub fn is_missing(&self) -> bool {
        match self {
            Work::Json(Value::Null) => true,
            Work::Json(Value::String(s)) => s.is_empty(),
            _ => false,
        }
    }
}

/// What converters may look at besides the value.
pub struct Env<'a> {
    pub item: &'a Value,
    pub ctx: &'a Context,
    pub resource: &'a model::Resource,
    pub all_day: bool,
    pub field: &'a str,
    pub warnings: &'a mut Vec<String>,
}

impl Env<'_> {
    fn warn(&mut self, msg: String) {
        self.warnings.push(format!("{}: {msg}", self.field));
    }
}

/// Evaluates a JSONPath: no match → `null`; a singular path → its value; a path that may select several
/// nodes (`[*]`, `..`, filters, slices, unions) → a list.
pub fn eval_path(path: &JsonPath, v: &Value) -> Value {
    let found: Vec<Value> = match jsonpath_rust::query::js_path_process(&path.query, v) {
        Ok(refs) => refs.into_iter().map(|r| r.val().clone()).collect(),
        Err(_) => Vec::new(),
    };
    let plural = path.text.contains('*')
        || path.text.contains("..")
        || path.text.contains('?')
        || path.text.contains(':')
        || path.text.contains(',');
    if plural {
        Value::Array(found)
    } else {
        found.into_iter().next().unwrap_or(Value::Null)
    }
}

/// JSON truthiness: present and not `false`, `0`, empty text or an empty list/object.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// JSON → minijinja value (minijinja is built without its serde feature).
pub fn to_jinja(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => minijinja::Value::from(i),
            None => minijinja::Value::from(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(a) => a.iter().map(to_jinja).collect(),
        Value::Object(o) => minijinja::Value::from(
            o.iter()
                .map(|(k, v)| (k.clone(), to_jinja(v)))
                .collect::<std::collections::BTreeMap<String, minijinja::Value>>(),
        ),
    }
}

/// The `ctx` variable of templates.
pub fn ctx_value(ctx: &Context) -> minijinja::Value {
    let mut m = serde_json::Map::new();
    m.insert("tz".into(), Value::String(ctx.tz_name.clone()));
    m.insert("lang".into(), Value::String(ctx.lang.clone()));
    m.insert("now".into(), Value::String(ctx.now.to_string()));
    m.insert(
        "mailbox".into(),
        ctx.mailbox
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    m.insert(
        "folder".into(),
        ctx.folder.clone().map(Value::String).unwrap_or(Value::Null),
    );
    to_jinja(&Value::Object(m))
}

/// Renders a compiled template; an empty result is `null`. Errors are warning texts.
pub fn render(
    env: &minijinja::Environment<'static>,
    tpl: &model::TemplateRef,
    vars: &[(&str, minijinja::Value)],
) -> Result<Value, String> {
    let t = env
        .get_template(&tpl.name)
        .map_err(|e| format!("template missing: {e}"))?;
    let ctx: std::collections::BTreeMap<&str, minijinja::Value> = vars.iter().cloned().collect();
    let out = crate::jinja::render(&t, minijinja::Value::from(ctx)).map_err(|e| e.message)?;
    Ok(if out.is_empty() {
        Value::Null
    } else {
        Value::String(out)
    })
}

/// A JSON scalar as lookup key / display text.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Looks a value up in a catalog; unknown values give the default and a warning.
fn lookup(cat: &Catalog, v: &Value, name: &str, env: &mut Env<'_>) -> Value {
    let key = key_text(v);
    match cat.values.get(&key) {
        Some(hit) => hit.clone(),
        None => {
            env.warn(format!(
                "unknown value `{key}` for {name}; used the default {}",
                if cat.default.is_null() {
                    "(left out)".to_string()
                } else {
                    format!("`{}`", key_text(&cat.default))
                }
            ));
            cat.default.clone()
        }
    }
}

/// Parses booleans in their usual spellings.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Some(true),
            "false" | "no" | "0" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub use super::html::html_to_text;

/// A Graph `itemBody` (`{contentType, content}`) or an HTML string as plain text; other values as their
/// key text.
pub fn body_text(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let content = m.get("content").and_then(Value::as_str).unwrap_or_default();
            let html = m
                .get("contentType")
                .and_then(Value::as_str)
                .is_none_or(|t| t.eq_ignore_ascii_case("html"));
            if html {
                html_to_text(content)
            } else {
                content.to_string()
            }
        }
        Value::String(s) => html_to_text(s),
        Value::Null => String::new(),
        other => key_text(other),
    }
}

fn span_minutes(start: &GraphTime, end: &GraphTime, all_day: bool) -> i64 {
    if all_day {
        let days = start
            .civil
            .date()
            .until(end.civil.date())
            .map(|s| s.get_days())
            .unwrap_or(0);
        i64::from(days) * 1440
    } else {
        start.instant.duration_until(end.instant).as_secs() / 60
    }
}

fn pick_unit(minutes: i64, unit: DurationUnit, all_day: bool) -> DurationUnit {
    match unit {
        DurationUnit::Auto if all_day || (minutes != 0 && minutes % 1440 == 0) => {
            DurationUnit::Days
        }
        DurationUnit::Auto if minutes % 60 == 0 && minutes != 0 => DurationUnit::Hours,
        DurationUnit::Auto => DurationUnit::Minutes,
        other => other,
    }
}

fn unit_name(u: DurationUnit) -> &'static str {
    match u {
        DurationUnit::Minutes | DurationUnit::Auto => "minutes",
        DurationUnit::Hours => "hours",
        DurationUnit::Days => "days",
    }
}

fn minutes_of(v: &Work, end: Option<&JsonPath>, env: &mut Env<'_>) -> Option<i64> {
    let Work::Json(v) = v else {
        env.warn("duration needs a dateTimeTimeZone or a number of minutes".into());
        return None;
    };
    match end {
        None => match v.as_f64() {
            Some(n) if n >= 0.0 && n.is_finite() => Some(n.round() as i64),
            Some(n) => {
                env.warn(format!(
                    "expected a number of minutes of at least 0, found {n}; left out"
                ));
                None
            }
            None => {
                env.warn(format!("expected a number of minutes, found {v}"));
                None
            }
        },
        Some(end) => {
            let end_v = eval_path(end, env.item);
            if end_v.is_null() {
                return None;
            }
            match (parse_graph_time(v), parse_graph_time(&end_v)) {
                (Ok(s), Ok(e))
                    if if env.all_day {
                        e.civil.date() < s.civil.date()
                    } else {
                        e.instant < s.instant
                    } =>
                {
                    env.warn(format!(
                        "the end ({}: {}) is before the start ({}); duration left out",
                        end.text, e.civil, s.civil
                    ));
                    None
                }
                (Ok(s), Ok(e)) => Some(span_minutes(&s, &e, env.all_day)),
                (Err(e), _) | (_, Err(e)) => {
                    env.warn(e);
                    None
                }
            }
        }
    }
}

/// Applies one forward converter.
pub fn apply(c: &model::Convert, v: Work, env: &mut Env<'_>) -> Work {
    use model::Convert as C;
    if v.is_missing() && !matches!(c, C::Default(_)) {
        return v;
    }
    match c {
        C::Date | C::EndDate | C::Time => {
            let Work::Json(j) = &v else { return v };
            match parse_graph_time(j) {
                Ok(t) => {
                    let dt = local(&t, &env.ctx.tz, env.all_day);
                    match c {
                        C::Date => Work::Date(dt.date()),
                        C::EndDate if env.all_day && dt.time() == Time::midnight() => {
                            Work::Date(dt.date().yesterday().unwrap_or(dt.date()))
                        }
                        C::EndDate => Work::Date(dt.date()),
                        _ if env.all_day => Work::Json(Value::Null),
                        _ => Work::Time(dt.time()),
                    }
                }
                Err(e) => {
                    env.warn(e);
                    Work::Json(Value::Null)
                }
            }
        }
        C::Duration { end, unit } | C::DurationUnit { end, unit } => {
            let Some(minutes) = minutes_of(&v, end.as_ref(), env) else {
                return Work::Json(Value::Null);
            };
            // An all-day item's span is whole days; a plain number of minutes (a reminder) is not
            // a span of the item, so it keeps its own unit (15 minutes, not `0 Days`).
            let u = pick_unit(minutes, *unit, env.all_day && end.is_some());
            if matches!(c, C::DurationUnit { .. }) {
                return Work::Json(Value::String(unit_name(u).into()));
            }
            let per = match u {
                DurationUnit::Days => 1440,
                DurationUnit::Hours => 60,
                _ => 1,
            };
            if minutes % per != 0 {
                env.warn(format!(
                    "{minutes} minutes is not a whole number of {}; written as {}",
                    unit_name(u),
                    minutes / per
                ));
            }
            let n = minutes / per;
            Work::Json(Value::from(n))
        }
        C::Boolean => {
            let Work::Json(j) = &v else { return v };
            match parse_bool(j) {
                Some(b) => Work::Json(Value::Bool(b)),
                None => {
                    env.warn(format!("`{}` is not a boolean; left out", key_text(j)));
                    Work::Json(Value::Null)
                }
            }
        }
        C::HtmlToText => {
            let Work::Json(j) = &v else { return v };
            let text = body_text(j);
            Work::Json(if text.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            })
        }
        C::Trim => match v {
            Work::Json(Value::String(s)) => Work::Json(Value::String(s.trim().to_string())),
            other => other,
        },
        C::Truncate(n) => match v {
            Work::Json(Value::String(s)) => match super::value::cut_text(&s, *n) {
                Some(cut) => {
                    env.warn(format!(
                        "text of {} characters cut to the field length {n} (ends with `{}`)",
                        s.chars().count(),
                        super::value::TRUNCATION_MARKER
                    ));
                    Work::Json(Value::String(cut))
                }
                None => Work::Json(Value::String(s)),
            },
            other => other,
        },
        C::Catalog(name) => {
            let Work::Json(j) = &v else { return v };
            let res = env.resource;
            Work::Json(lookup(
                &res.catalogs[name.as_str()],
                j,
                &format!("catalog `{name}`"),
                env,
            ))
        }
        C::Map(cat) => {
            let Work::Json(j) = &v else { return v };
            Work::Json(lookup(cat, j, "the value map", env))
        }
        C::Join(sep) => match v {
            Work::Json(Value::Array(items)) => {
                let parts: Vec<String> = items
                    .iter()
                    .filter(|i| !i.is_null())
                    .map(key_text)
                    .collect();
                Work::Json(if parts.is_empty() {
                    Value::Null
                } else {
                    Value::String(parts.join(sep))
                })
            }
            other => other,
        },
        C::Default(d) => {
            if v.is_missing() {
                Work::Json(d.clone())
            } else {
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(text: &str) -> JsonPath {
        JsonPath {
            text: text.into(),
            query: jsonpath_rust::parser::parse_json_path(text).unwrap(),
        }
    }

    #[test]
    fn html_to_text_keeps_lists_and_collapses_blank_lines() {
        let html = "<p>A&nbsp;&amp;&nbsp;B</p><p>&nbsp;</p><p>&nbsp;</p><ol><li>one</li><li>two</li></ol>\
                    <p><a href=\"https://x\">link</a></p>";
        assert_eq!(html_to_text(html), "A & B\n\n1. one\n2. two\n\n[link]");
    }

    #[test]
    fn singular_paths_give_a_value_and_wildcards_a_list() {
        let item = json!({"a": [{"b": 1}], "c": null});
        assert_eq!(eval_path(&path("$.a[0].b"), &item), json!(1));
        assert_eq!(eval_path(&path("$.a[*].b"), &item), json!([1]));
        assert_eq!(eval_path(&path("$.missing"), &item), Value::Null);
        assert_eq!(eval_path(&path("$.c"), &item), Value::Null);
    }

    #[test]
    fn booleans_in_their_usual_spellings() {
        for (v, want) in [
            (json!("Yes"), Some(true)),
            (json!("0"), Some(false)),
            (json!(""), Some(false)),
            (json!(2), Some(true)),
            (json!("maybe"), None),
            (json!([]), None),
        ] {
            assert_eq!(parse_bool(&v), want, "{v}");
        }
    }
}
