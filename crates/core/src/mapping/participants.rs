//! Participant resolution: attendees / recipients by e-mail against CRM reps and persons, and the
//! missing-participants block for the ones that do not resolve.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::{
    context::{Context, Found},
    convert::{eval_path, key_text},
    value::{FieldValue, clean_text},
};
use crate::{
    limits::MAX_PARTICIPANTS,
    model::{self, MissingMode, Role},
};

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
    collect_with_warnings(p, item, ctx, &mut Vec::new())
}

/// [`collect`], with a warning for each address or name that held control characters (replaced by
/// spaces, so no address can add a line to the missing-participants block) and when more than
/// [`MAX_PARTICIPANTS`] participants had to be left out. Linear in the number of participants: each
/// address is looked up in one index of the directory and one set of the addresses seen.
pub fn collect_with_warnings<'c>(
    p: &model::Participants,
    item: &Value,
    ctx: &'c Context,
    warnings: &mut Vec<String>,
) -> Vec<Participant<'c>> {
    let index = ctx.directory.index();
    // The mailbox owner's addresses (primary and proxy addresses), lower case: a handful.
    let owner: Vec<String> = ctx
        .mailbox
        .iter()
        .chain(&ctx.mailbox_aliases)
        .map(|m| m.trim().to_ascii_lowercase())
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<Participant<'c>> = Vec::new();
    let mut left_out = 0usize;
    for src in &p.sources {
        let nodes = match eval_path(&src.path, item) {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        for node in nodes {
            let raw = key_text(&eval_path(&p.address, &node));
            let (address, changed) = clean_text(raw.trim(), true);
            let address = address.trim().to_string();
            if address.is_empty() || address == "null" {
                continue;
            }
            let key = address.to_ascii_lowercase();
            if p.skip_mailbox && owner.contains(&key) {
                continue;
            }
            if seen.contains(&key) {
                continue;
            }
            if out.len() >= MAX_PARTICIPANTS {
                left_out += 1;
                continue;
            }
            if changed > 0 {
                warnings.push(format!(
                    "participant address {:?} holds control characters (line breaks, NUL, …); \
                     they were replaced by spaces",
                    raw.trim()
                ));
            }
            let name = match eval_path(&p.name, &node) {
                Value::Null => String::new(),
                v => {
                    let raw = key_text(&v);
                    let (name, changed) = clean_text(&raw, true);
                    if changed > 0 {
                        warnings.push(format!(
                            "participant name {raw:?} of {address} holds control characters; they were \
                             replaced by spaces"
                        ));
                    }
                    name
                }
            };
            let role = match (&src.role, &src.role_path) {
                (Some(r), _) => *r,
                (None, Some(path)) => role_of(&key_text(&eval_path(path, &node))),
                (None, None) => Role::Unknown,
            };
            let found = index.get(key.as_str()).copied();
            seen.insert(key);
            out.push(Participant {
                address,
                name,
                role,
                found,
            });
        }
    }
    if left_out > 0 {
        warnings.push(format!(
            "{left_out} participants left out: at most {MAX_PARTICIPANTS} participants of one item are \
             resolved"
        ));
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
    let more = more_text(p, &ctx.lang);
    let mut set = |field: &Option<String>, items: Vec<String>, marker: bool| {
        let Some(f) = field else { return };
        if items.is_empty() {
            return;
        }
        let n = items.len();
        let render = |k: usize| {
            let mut parts: Vec<String> = items[..k].to_vec();
            if marker && k < n {
                parts.push(more.replace("{n}", &(n - k).to_string()));
            }
            parts.join(sep)
        };
        let text = match p.max_length.get(f) {
            Some(&max) => fit(f, n, max, "participants", render, warnings),
            None => Some(render(n)),
        };
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            fields.insert(f.clone(), FieldValue::Text(text));
        }
    };
    // Ids are cut without a marker: the CRM reads those fields as lists of ids.
    set(
        &p.resolved.rep_ids,
        reps.iter().map(|e| e.id.clone()).collect(),
        false,
    );
    set(
        &p.resolved.person_ids,
        persons.iter().map(|e| e.id.clone()).collect(),
        false,
    );
    set(
        &p.resolved.names,
        reps.iter()
            .chain(persons.iter())
            .map(|e| e.name.clone())
            .collect(),
        true,
    );

    let Some(m) = &p.missing else { return };
    // In block order (by role, then as listed), so that a cut keeps a prefix of the block.
    let roles = [
        Role::Required,
        Role::Optional,
        Role::Informational,
        Role::Unknown,
    ];
    let missing: Vec<&Participant<'_>> = roles
        .iter()
        .flat_map(|r| {
            list.iter()
                .filter(move |x| x.found.is_none() && x.role == *r)
        })
        .collect();
    if let Some(flag) = &m.flag {
        fields.insert(flag.clone(), FieldValue::Bool(!missing.is_empty()));
    }
    let texts = if missing.is_empty() {
        None
    } else {
        Some(match m.texts.get(&ctx.lang) {
            Some(t) => t,
            None => {
                warnings.push(format!(
                    "{}: no missing-participants texts for language `{}`; used `en`",
                    m.field, ctx.lang
                ));
                &m.texts["en"]
            }
        })
    };
    // The field's own text in append mode comes first and counts towards its length.
    let own = match (m.mode, fields.get(&m.field)) {
        (MissingMode::Append, Some(FieldValue::Text(t))) if !t.is_empty() => Some(t.clone()),
        _ => None,
    };
    let n = missing.len();
    let render = |k: usize| -> String {
        let Some(texts) = texts else {
            return String::new();
        };
        let mut lines = vec![texts.header.clone()];
        for (role, label) in [
            (Role::Required, &texts.required),
            (Role::Optional, &texts.optional),
            (Role::Informational, &texts.informational),
            (Role::Unknown, &texts.unknown),
        ] {
            let addrs: Vec<&str> = missing[..k]
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
        if k < n {
            lines.push(more.replace("{n}", &(n - k).to_string()));
        }
        let block = lines.join("\n");
        match &own {
            Some(t) => format!("{t}\n\n{block}"),
            None => block,
        }
    };
    let value = match (texts, p.max_length.get(&m.field).copied()) {
        (None, _) => None,
        (Some(_), None) => Some(render(n)),
        (Some(_), Some(max)) => fit(
            &m.field,
            n,
            max,
            "unresolved participants",
            render,
            warnings,
        ),
    };
    match m.mode {
        MissingMode::Replace => {
            // Written even when empty so that an update clears a block that no longer applies.
            fields.insert(m.field.clone(), FieldValue::Text(value.unwrap_or_default()));
        }
        MissingMode::Append => {
            if let Some(value) = value {
                fields.insert(m.field.clone(), FieldValue::Text(value));
            }
        }
    }
}

/// The marker ending a cut list in `lang`, `{n}` standing for the number left out.
fn more_text(p: &model::Participants, lang: &str) -> String {
    let given = |l: &str| {
        p.missing
            .as_ref()
            .and_then(|m| m.texts.get(l))
            .and_then(|t| t.more.clone())
    };
    let builtin = |l: &str| match l {
        "de" => Some("… und {n} weitere".to_string()),
        "en" => Some("… and {n} more".to_string()),
        _ => None,
    };
    given(lang)
        .or_else(|| builtin(lang))
        .or_else(|| given("en"))
        .unwrap_or_else(|| "… and {n} more".into())
}

/// The longest rendering of the first `k` of `n` entries (`render(k)`) that has at most `max`
/// characters, with a warning naming `field` when entries had to be left out. `None` when not even
/// `render(0)` fits.
fn fit(
    field: &str,
    n: usize,
    max: usize,
    what: &str,
    render: impl Fn(usize) -> String,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let len = |t: &String| t.chars().count();
    let full = render(n);
    if len(&full) <= max {
        return Some(full);
    }
    // Fewer entries never render longer: each one left out removes more characters than the count
    // in the marker can add.
    let (mut lo, mut hi) = (0, n);
    if len(&render(0)) > max {
        warnings.push(format!(
            "{field}: {what} left out: not even one fits into the CRM field's {max} characters"
        ));
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if len(&render(mid)) <= max {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    warnings.push(format!(
        "{field}: {} of {n} {what} left out: the CRM field holds at most {max} characters",
        n - lo
    ));
    Some(render(lo))
}
