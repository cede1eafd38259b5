//! Catalogs: references by name, and the values a catalog maps to (checked against `crm_values` when the
//! mapping lists the CRM's valid values).

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
            let valid_text: Vec<String> = valid.iter().map(show).collect();
            let check_value = |cx: &mut Checker, ptr: String, v: &Value| {
                if v.is_null() || valid.contains(v) {
                    return;
                }
                let d = cx.error(
                    At {
                        doc: at.doc,
                        ptr: &ptr,
                    },
                    format!("unknown CRM catalog value `{}`", show(v)),
                );
                d.expected = Some(one_of(&valid_text));
                d.hint = did_you_mean(&show(v), &valid_text);
            };
            for (k, v) in &c.values {
                check_value(self, p(&p(at.ptr, "values"), k), v);
            }
            check_value(self, p(at.ptr, "default"), &c.default);
        }
        model::Catalog {
            values: c.values.clone(),
            default: c.default.clone(),
            reverse_default: c.reverse_default.clone(),
        }
    }
}

/// A JSON value as an admin wrote it (strings without quotes).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
