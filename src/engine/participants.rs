//! Participant resolution: attendees / recipients by e-mail against CRM reps and persons, and the
//! missing-participants block for the ones that do not resolve.

use indexmap::IndexMap;
use serde_json::Value;

use super::{
    context::{Context, Found},
    convert::{eval_path, key_text},
    value::FieldValue,
};
use crate::model::{self, MissingMode, Role};

/// One participant of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Participant<'a> {
    pub address: String,
    pub name: String,
    pub role: Role,
    pub found: Option<Found<'a>>,
}

/// Maps a Graph attendee type to a role: `required`, `optional`, `resource` → informational, else unknown.
pub fn role_of(graph_type: &str) -> Role {
    match graph_type {
        "required" => Role::Required,
        "optional" => Role::Optional,
        "resource" => Role::Informational,
        _ => Role::Unknown,
    }
}

/// The item's participants in source order, without duplicates (by address) or the mailbox owner.
pub fn collect<'c>(
    p: &model::Participants,
    item: &Value,
    ctx: &'c Context,
) -> Vec<Participant<'c>> {
    let mut out: Vec<Participant<'c>> = Vec::new();
    for src in &p.sources {
        let nodes = match eval_path(&src.path, item) {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        for node in nodes {
            let address = key_text(&eval_path(&p.address, &node)).trim().to_string();
            if address.is_empty() || address == "null" {
                continue;
            }
            if p.skip_mailbox
                && ctx
                    .mailbox
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(&address))
            {
                continue;
            }
            if out.iter().any(|o| o.address.eq_ignore_ascii_case(&address)) {
                continue;
            }
            let name = match eval_path(&p.name, &node) {
                Value::Null => String::new(),
                v => key_text(&v),
            };
            let role = match (&src.role, &src.role_path) {
                (Some(r), _) => *r,
                (None, Some(path)) => role_of(&key_text(&eval_path(path, &node))),
                (None, None) => Role::Unknown,
            };
            let found = ctx.directory.lookup(&address);
            out.push(Participant {
                address,
                name,
                role,
                found,
            });
        }
    }
    out
}

/// Writes the resolved-participant fields and the missing-participants block.
pub fn write(
    p: &model::Participants,
    list: &[Participant<'_>],
    ctx: &Context,
    fields: &mut IndexMap<String, FieldValue>,
    warnings: &mut Vec<String>,
) {
    let sep = &p.resolved.separator;
    let reps: Vec<_> = list
        .iter()
        .filter_map(|x| match x.found {
            Some(Found::Rep(e)) => Some(e),
            _ => None,
        })
        .collect();
    let persons: Vec<_> = list
        .iter()
        .filter_map(|x| match x.found {
            Some(Found::Person(e)) => Some(e),
            _ => None,
        })
        .collect();
    if let (Some(field), Some(mailbox)) = (&p.resolved.mailbox_rep, &ctx.mailbox)
        && let Some(Found::Rep(rep)) = ctx.directory.lookup(mailbox)
    {
        fields.insert(field.clone(), FieldValue::Text(rep.id.clone()));
    }
    if let Some(first) = persons.first() {
        for f in &p.resolved.link {
            if let Some(v) = first.fields.get(f).and_then(FieldValue::from_json) {
                fields.insert(f.clone(), v);
            }
        }
    }
    let mut set = |field: &Option<String>, items: Vec<String>| {
        if let Some(f) = field
            && !items.is_empty()
        {
            fields.insert(f.clone(), FieldValue::Text(items.join(sep)));
        }
    };
    set(
        &p.resolved.rep_ids,
        reps.iter().map(|e| e.id.clone()).collect(),
    );
    set(
        &p.resolved.person_ids,
        persons.iter().map(|e| e.id.clone()).collect(),
    );
    set(
        &p.resolved.names,
        reps.iter()
            .chain(persons.iter())
            .map(|e| e.name.clone())
            .collect(),
    );

    let Some(m) = &p.missing else { return };
    let missing: Vec<&Participant<'_>> = list.iter().filter(|x| x.found.is_none()).collect();
    if let Some(flag) = &m.flag {
        fields.insert(flag.clone(), FieldValue::Bool(!missing.is_empty()));
    }
    let block = if missing.is_empty() {
        None
    } else {
        let texts = match m.texts.get(&ctx.lang) {
            Some(t) => t,
            None => {
                warnings.push(format!(
                    "{}: no missing-participants texts for language `{}`; used `en`",
                    m.field, ctx.lang
                ));
                &m.texts["en"]
            }
        };
        let mut lines = vec![texts.header.clone()];
        for (role, label) in [
            (Role::Required, &texts.required),
            (Role::Optional, &texts.optional),
            (Role::Informational, &texts.informational),
            (Role::Unknown, &texts.unknown),
        ] {
            let addrs: Vec<&str> = missing
                .iter()
                .filter(|x| x.role == role)
                .map(|x| x.address.as_str())
                .collect();
            if addrs.is_empty() {
                continue;
            }
            match &m.separator {
                Some(s) => lines.push(format!("{label}{}", addrs.join(s))),
                None => lines.extend(addrs.iter().map(|a| format!("{label}{a}"))),
            }
        }
        Some(lines.join("\n"))
    };
    match m.mode {
        MissingMode::Replace => {
            // Written even when empty so that an update clears a block that no longer applies.
            fields.insert(m.field.clone(), FieldValue::Text(block.unwrap_or_default()));
        }
        MissingMode::Append => {
            if let Some(block) = block {
                let text = match fields.get(&m.field) {
                    Some(FieldValue::Text(t)) if !t.is_empty() => format!("{t}\n\n{block}"),
                    _ => block,
                };
                fields.insert(m.field.clone(), FieldValue::Text(text));
            }
        }
    }
}
