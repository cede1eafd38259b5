//! The type of each CRM field a resource maps, inferred from its rules, so a CRM record read back as wire
//! text becomes the same typed values `to_crm` produces — both sides of a link then hash alike.

use indexmap::IndexMap;
use serde_json::Value;

use crate::model::{Catalog, Convert, Resource, Source};

/// What a CRM field holds, as far as comparing and hashing need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Bool,
    Number,
    Date,
    Time,
}

/// The kind of every CRM field the resource's Graph → CRM rules, participants and deletion flag write,
/// in rule order. Fields only the reverse direction reads are `Text` unless a rule says otherwise.
pub fn field_kinds(res: &Resource) -> IndexMap<String, FieldKind> {
    let mut kinds = IndexMap::new();
    for rule in &res.rules {
        let kind = rule
            .convert
            .iter()
            .rev()
            .find_map(|c| convert_kind(c, res))
            .or_else(|| match &rule.source {
                Some(Source::Const(v)) => Some(value_kind(v)),
                _ => None,
            })
            .unwrap_or(FieldKind::Text);
        // A field written by a forward rule keeps that rule's kind over a reverse-only rule's.
        if rule.to_crm() || !kinds.contains_key(&rule.crm) {
            kinds.insert(rule.crm.clone(), kind);
        }
    }
    if let Some(p) = &res.participants {
        for field in [
            &p.resolved.mailbox_rep,
            &p.resolved.rep_ids,
            &p.resolved.names,
            &p.resolved.person_ids,
        ]
        .into_iter()
        .flatten()
        {
            kinds.entry(field.clone()).or_insert(FieldKind::Text);
        }
        for field in &p.resolved.link {
            kinds.entry(field.clone()).or_insert(FieldKind::Number);
        }
        if let Some(m) = &p.missing {
            kinds.entry(m.field.clone()).or_insert(FieldKind::Text);
            if let Some(flag) = &m.flag {
                kinds.insert(flag.clone(), FieldKind::Bool);
            }
        }
    }
    kinds.insert(res.deletion.flag_field.clone(), FieldKind::Bool);
    kinds
}

fn convert_kind(c: &Convert, res: &Resource) -> Option<FieldKind> {
    Some(match c {
        Convert::Date | Convert::EndDate => FieldKind::Date,
        Convert::Time => FieldKind::Time,
        Convert::Duration { .. } => FieldKind::Number,
        Convert::Boolean => FieldKind::Bool,
        Convert::Catalog(name) => catalog_kind(res.catalogs.get(name)?),
        Convert::Map(catalog) => catalog_kind(catalog),
        Convert::Default(v) if !v.is_null() => value_kind(v),
        Convert::Default(_) => return None,
        Convert::DurationUnit { .. }
        | Convert::HtmlToText
        | Convert::Trim
        | Convert::Truncate(_)
        | Convert::Join(_) => FieldKind::Text,
    })
}

fn catalog_kind(catalog: &Catalog) -> FieldKind {
    let mut values = catalog
        .values
        .values()
        .chain(std::iter::once(&catalog.default))
        .filter(|v| !v.is_null());
    match values.next().map(value_kind) {
        Some(kind) if values.all(|v| value_kind(v) == kind) => kind,
        _ => FieldKind::Text,
    }
}

fn value_kind(v: &Value) -> FieldKind {
    match v {
        Value::Bool(_) => FieldKind::Bool,
        Value::Number(_) => FieldKind::Number,
        _ => FieldKind::Text,
    }
}
