//! Graph item → CRM record, and the Graph-side selection.

use indexmap::IndexMap;
use serde_json::Value;

use super::{
    context::{Context, Found},
    convert::{
        Env, Work, apply, ctx_value, eval_path, key_text, parse_bool, render, to_jinja, truthy,
    },
    participants,
    value::{CrmRecord, FieldValue, clean_fields},
};
use crate::model::{MappingSet, Resource, Selection, Source};

/// Maps a Graph item to a CRM record of `res` (which must belong to `set`). Never fails: problems with
/// the item's data are warnings on the record.
pub fn to_crm(set: &MappingSet, res: &Resource, item: &Value, ctx: &Context) -> CrmRecord {
    let mut warnings = Vec::new();
    let mut fields: IndexMap<String, FieldValue> = IndexMap::new();
    let all_day = res.floating_dates
        || res.all_day.as_ref().is_some_and(|p| {
            let v = eval_path(p, item);
            match parse_bool(&v) {
                Some(b) => b,
                None if v.is_null() => false,
                None => {
                    // `"false"` is false (parse_bool); what is no boolean at all must not drop the times.
                    warnings.push(format!(
                        "{}: `{}` is not a boolean; the item is mapped as not all-day",
                        p.text,
                        key_text(&v)
                    ));
                    false
                }
            }
        });
    for rule in res.rules.iter().filter(|r| r.to_crm()) {
        if let Some(when) = &rule.when
            && !condition(&eval_path(when, item))
        {
            continue;
        }
        let Some(source) = &rule.source else { continue };
        let start = match source {
            Source::Path(p) => eval_path(p, item),
            Source::Const(v) => v.clone(),
            Source::Template(t) => {
                match render(
                    &set.templates,
                    t,
                    &[("item", to_jinja(item)), ("ctx", ctx_value(ctx))],
                ) {
                    Ok(v) => v,
                    Err(e) => {
                        warnings.push(format!("{}: {e}", rule.crm));
                        Value::Null
                    }
                }
            }
        };
        let mut env = Env {
            item,
            ctx,
            resource: res,
            all_day,
            field: &rule.crm,
            warnings: &mut warnings,
        };
        let mut v = Work::Json(start);
        for c in &rule.convert {
            v = apply(c, v, &mut env);
        }
        let value = match v {
            Work::Date(d) => Some(FieldValue::Date(d)),
            Work::Time(t) => Some(FieldValue::Time(t)),
            Work::Json(j) => FieldValue::from_json(&j),
        };
        if let Some(value) = value {
            fields.insert(rule.crm.clone(), value);
        }
    }
    if let Some(p) = &res.participants {
        let list = participants::collect_with_warnings(p, item, ctx, &mut warnings);
        participants::write(p, &list, ctx, &mut fields, &mut warnings);
    }
    clean_fields(&mut fields, &mut warnings);
    CrmRecord {
        table: res.table.clone(),
        fields,
        warnings,
    }
}

/// A `when` condition: booleans in their usual spellings (`"false"` is false), else JSON truthiness.
fn condition(v: &Value) -> bool {
    parse_bool(v).unwrap_or_else(|| truthy(v))
}

/// Whether a Graph item passes the resource's Graph-side selection (no selection: every item).
pub fn selected(res: &Resource, item: &Value, ctx: &Context) -> bool {
    match &res.selection {
        None => true,
        Some(s) => select(s, res, item, ctx),
    }
}

fn select(s: &Selection, res: &Resource, item: &Value, ctx: &Context) -> bool {
    match s {
        Selection::All(l) => l.iter().all(|s| select(s, res, item, ctx)),
        Selection::Any(l) => l.iter().any(|s| select(s, res, item, ctx)),
        Selection::Not(s) => !select(s, res, item, ctx),
        Selection::Category(c) => item
            .get("categories")
            .and_then(Value::as_array)
            .is_some_and(|cats| {
                cats.iter()
                    .filter_map(Value::as_str)
                    .any(|x| x.eq_ignore_ascii_case(c))
            }),
        Selection::Sensitivity(allowed) => {
            let s = item
                .get("sensitivity")
                .and_then(Value::as_str)
                .unwrap_or("normal");
            allowed.iter().any(|a| a == s)
        }
        Selection::Folder(folders) => {
            let parent = item.get("parentFolderId").and_then(Value::as_str);
            folders.iter().any(|f| {
                ctx.folder
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(f))
                    || parent == Some(f.as_str())
            })
        }
        Selection::Property { path, equals } => {
            let v = eval_path(path, item);
            v == *equals
                || matches!((&v, equals), (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64())
        }
        Selection::ResolvedParticipant(want) => {
            let any = res.participants.as_ref().is_some_and(|p| {
                participants::collect(p, item, ctx)
                    .iter()
                    .any(|x| x.found.is_some())
            });
            any == *want
        }
        Selection::ResolvedPerson(want) => {
            let any = res.participants.as_ref().is_some_and(|p| {
                participants::collect(p, item, ctx).iter().any(|x| {
                    matches!(x.found, Some(Found::Person(_))) && !ctx.is_mailbox(&x.address)
                })
            });
            any == *want
        }
    }
}
