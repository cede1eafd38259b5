//! Catalogs: references by name, and the values a catalog maps to (checked against `crm_values` when the
//! mapping lists the CRM's valid values).

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::{At, Checker, Loc, one_of, p};
use crate::{diag::did_you_mean, model, spec::mapping as sm};

impl Checker {
    /// Checks every merged catalog; the model catalogs of the resource.
    pub(super) fn catalogs(
        &mut self,
        catalogs: &IndexMap<String, Loc<'_, sm::Catalog>>,
    ) -> IndexMap<String, model::Catalog> {
        let mut out = IndexMap::new();
        for (name, c) in catalogs {
            let m = self.catalog(
                At {
                    doc: c.doc,
                    ptr: &c.ptr,
                },
                &c.item,
            );
            out.insert(name.clone(), m);
        }
        out
    }

    pub(super) fn catalog_ref(&mut self, at: At<'_>, name: &str, names: &[String]) -> bool {
        if names.iter().any(|n| n == name) {
            return true;
        }
        let d = self.error(at, format!("unknown catalog `{name}`"));
        d.expected = Some(if names.is_empty() {
            "a catalog defined under `catalogs:` (this mapping defines none)".into()
        } else {
            one_of(names)
        });
        d.hint = did_you_mean(name, names);
        false
    }

    pub(super) fn catalog(&mut self, at: At<'_>, c: &sm::Catalog) -> model::Catalog {
        if let Some(valid) = &c.crm_values {
            // Sets and a bounded number of messages: a catalog of many thousand values is checked in
            // linear time, and its errors do not repeat the whole list thousands of times.
            let known: HashSet<String> = valid.iter().map(Value::to_string).collect();
            let valid_text: Vec<String> = valid.iter().map(show).collect();
            let mut unknown: Vec<(String, &Value)> = c
                .values
                .iter()
                .map(|(k, v)| (p(&p(at.ptr, "values"), k), v))
                .collect();
            unknown.push((p(at.ptr, "default"), &c.default));
            unknown.retain(|(_, v)| !v.is_null() && !known.contains(&v.to_string()));
            let expected = one_of_bounded(&valid_text);
            for (ptr, v) in unknown.iter().take(MAX_REPORTED) {
                let d = self.error(
                    at_ptr(at, ptr),
                    format!("unknown CRM catalog value `{}`", show(v)),
                );
                d.expected = Some(expected.clone());
                d.hint = did_you_mean(&show(v), &valid_text);
            }
            if unknown.len() > MAX_REPORTED {
                let d = self.error(
                    at,
                    format!(
                        "{} more unknown CRM catalog values in this catalog (the first {MAX_REPORTED} are \
                         reported above)",
                        unknown.len() - MAX_REPORTED
                    ),
                );
                d.expected = Some(expected);
            }
        }
        model::Catalog {
            values: c.values.clone(),
            default: c.default.clone(),
            reverse_default: c.reverse_default.clone(),
        }
    }
}

/// Unknown values reported one by one per catalog; the rest are counted in one more error.
const MAX_REPORTED: usize = 20;

/// Values listed in an `expected:` line; longer lists end with how many there are.
const MAX_LISTED: usize = 50;

fn at_ptr<'a>(at: At<'a>, ptr: &'a str) -> At<'a> {
    At { doc: at.doc, ptr }
}

/// `one of: a, b, …` listing at most [`MAX_LISTED`] values.
fn one_of_bounded(values: &[String]) -> String {
    if values.len() <= MAX_LISTED {
        return one_of(values);
    }
    format!(
        "{}, … ({} values in all)",
        one_of(&values[..MAX_LISTED]),
        values.len()
    )
}

/// A JSON value as an admin wrote it (strings without quotes).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
