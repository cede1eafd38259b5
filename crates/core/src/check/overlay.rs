//! The template overlay: its header (name, resources it changes, forms), and its merge into working copies
//! of a base resource. Every merged node keeps the document and pointer it was written at, so a problem
//! with the merged mapping is reported where the administrator wrote it. Applied in the documented order:
//! drop, rename, override, add, then the other sections.

use indexmap::IndexMap;

use super::{At, Checker, Loc, Source, one_of, p};
use crate::{
    diag::did_you_mean,
    spec::{
        MappingSpec, OverlaySpec,
        mapping::{self as sm},
        overlay as so,
        yaml::Document,
    },
};

/// The nodes of one resource after the overlay, each with where it was written.
pub(super) struct Merged<'a> {
    pub(super) rules: Vec<Loc<'a, sm::Rule>>,
    pub(super) filter: Option<Loc<'a, sm::Filter>>,
    /// Filters an overlay adds (and-ed with `filter`).
    pub(super) extra_filters: Vec<Loc<'a, sm::Filter>>,
    pub(super) selection: Option<Loc<'a, sm::Selection>>,
    pub(super) catalogs: IndexMap<String, Loc<'a, sm::Catalog>>,
    pub(super) participants: Option<Loc<'a, sm::Participants>>,
    pub(super) deletion: Loc<'a, sm::Deletion>,
    /// The form's field list: the overlay's `forms` entry for the mapping's form, else the base's.
    pub(super) field_list: Option<Loc<'a, Vec<String>>>,
}

impl<'a> Merged<'a> {
    /// Working copies of the base nodes; the field list is the overlay's when it lists the form.
    pub(super) fn base(
        res: Source<'a, MappingSpec>,
        overlay: Option<Source<'a, OverlaySpec>>,
    ) -> Self {
        let (spec, bdoc) = (res.spec, res.doc);
        let loc = |ptr: String| Loc {
            doc: bdoc,
            ptr,
            item: (),
        };
        let mut field_list = spec
            .form_fields
            .clone()
            .map(|f| loc("/form_fields".into()).with(f));
        if let (Some(ov), Some(form)) = (overlay, spec.form.as_ref())
            && let Some(list) = ov.spec.forms.get(form)
        {
            field_list = Some(Loc {
                doc: ov.doc,
                ptr: p("/forms", form),
                item: list.clone(),
            });
        }
        Merged {
            rules: spec
                .fields
                .iter()
                .enumerate()
                .map(|(i, r)| loc(p("/fields", i)).with(r.clone()))
                .collect(),
            filter: spec.filters.clone().map(|f| loc("/filters".into()).with(f)),
            extra_filters: Vec::new(),
            selection: spec
                .selection
                .clone()
                .map(|s| loc("/selection".into()).with(s)),
            catalogs: spec
                .catalogs
                .iter()
                .map(|(k, c)| (k.clone(), loc(p("/catalogs", k)).with(c.clone())))
                .collect(),
            participants: spec
                .participants
                .clone()
                .map(|pa| loc("/participants".into()).with(pa)),
            deletion: loc("/deletion".into()).with(spec.deletion.clone()),
            field_list,
        }
    }
}

impl<'a> Loc<'a, ()> {
    /// The same place holding `item`.
    fn with<T>(self, item: T) -> Loc<'a, T> {
        Loc {
            doc: self.doc,
            ptr: self.ptr,
            item,
        }
    }
}

impl Checker {
    pub(super) fn check_overlay_header(
        &mut self,
        ov: Source<'_, OverlaySpec>,
        resources: &[String],
    ) {
        let stem = std::path::Path::new(&ov.doc.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !stem.is_empty() && stem != ov.spec.template {
            let d = self.error(
                At {
                    doc: ov.doc,
                    ptr: "/template",
                },
                format!(
                    "template name `{}` does not match the file name `{stem}.yaml`",
                    ov.spec.template
                ),
            );
            d.expected = Some(format!("template: {stem}"));
        }
        for name in ov.spec.resources.keys() {
            if !resources.contains(name) {
                let ptr = p("/resources", name);
                let d = self.error_key(
                    At {
                        doc: ov.doc,
                        ptr: &ptr,
                    },
                    format!("overlay changes resource `{name}`, which no mapping file defines"),
                );
                d.expected = Some(one_of(resources));
                d.hint = did_you_mean(name, resources);
            }
        }
    }

    /// Warns about overlay field lists of forms no mapping uses (they would never be checked).
    pub(super) fn unused_forms(
        &mut self,
        ov: Source<'_, OverlaySpec>,
        resources: &[Source<'_, MappingSpec>],
    ) {
        let forms: Vec<String> = resources
            .iter()
            .filter_map(|r| r.spec.form.clone())
            .collect();
        for form in ov.spec.forms.keys() {
            if !forms.contains(form) {
                let ptr = p("/forms", form);
                let d = self.warning(
                    At {
                        doc: ov.doc,
                        ptr: &ptr,
                    },
                    format!("no mapping uses form `{form}`, so this field list is never checked"),
                );
                d.expected = Some(one_of(&forms));
                d.hint = did_you_mean(form, &forms);
            }
        }
    }

    /// Applies the overlay's changes to resource `idx` to the working copies.
    pub(super) fn apply_overlay<'a>(
        &mut self,
        merged: &mut Merged<'a>,
        (ov, idx): (Source<'a, OverlaySpec>, usize),
        spec: &MappingSpec,
    ) {
        let (name, ro) = ov.spec.resources.get_index(idx).expect("index from lookup");
        let base = p("/resources", name);
        let base_fields: Vec<String> = merged.rules.iter().map(|r| r.item.crm.clone()).collect();
        self.drop_and_rename(&mut merged.rules, ro, ov.doc, &base, spec, &base_fields);
        self.override_and_add(&mut merged.rules, ro, ov.doc, &base, spec);
        self.overlay_sections(merged, ro, ov.doc, &base, spec);
    }

    /// `drop` and `rename`: each must name a field the base writes.
    fn drop_and_rename<'a>(
        &mut self,
        rules: &mut Vec<Loc<'a, sm::Rule>>,
        ro: &so::ResourceOverlay,
        odoc: &'a Document,
        base: &str,
        spec: &MappingSpec,
        base_fields: &[String],
    ) {
        for (i, f) in ro.drop.iter().enumerate() {
            let ptr = p(&p(base, "drop"), i);
            match rules.iter().position(|r| &r.item.crm == f) {
                Some(pos) => {
                    rules.remove(pos);
                }
                None => self.not_in_base(
                    At {
                        doc: odoc,
                        ptr: &ptr,
                    },
                    "drops",
                    f,
                    spec,
                    base_fields,
                ),
            }
        }
        for (from, to) in &ro.rename {
            let ptr = p(&p(base, "rename"), from);
            match rules.iter_mut().find(|r| &r.item.crm == from) {
                Some(r) => {
                    r.item.crm = to.clone();
                    r.doc = odoc;
                    r.ptr = ptr;
                }
                None => self.not_in_base(
                    At {
                        doc: odoc,
                        ptr: &ptr,
                    },
                    "renames",
                    from,
                    spec,
                    base_fields,
                ),
            }
        }
    }

    /// `override` replaces a base rule of the same field; `add` writes a field the base does not.
    fn override_and_add<'a>(
        &mut self,
        rules: &mut Vec<Loc<'a, sm::Rule>>,
        ro: &so::ResourceOverlay,
        odoc: &'a Document,
        base: &str,
        spec: &MappingSpec,
    ) {
        for (i, rule) in ro.r#override.iter().enumerate() {
            let ptr = p(&p(base, "override"), i);
            match rules.iter_mut().find(|r| r.item.crm == rule.crm) {
                Some(r) => {
                    *r = Loc {
                        doc: odoc,
                        ptr,
                        item: rule.clone(),
                    }
                }
                None => {
                    let names: Vec<String> = rules.iter().map(|r| r.item.crm.clone()).collect();
                    let d = self.error(
                        At {
                            doc: odoc,
                            ptr: &p(&ptr, "crm"),
                        },
                        format!(
                            "overlay overrides CRM field `{}`, which the base `{}` mapping does not write",
                            rule.crm, spec.resource
                        ),
                    );
                    d.expected = Some(one_of(&names));
                    d.hint = did_you_mean(&rule.crm, &names)
                        .or_else(|| Some("to write a new field, list its rule under `add`".into()));
                }
            }
        }
        for (i, rule) in ro.add.iter().enumerate() {
            let ptr = p(&p(base, "add"), i);
            if rules.iter().any(|r| r.item.crm == rule.crm) {
                let d = self.error(
                    At {
                        doc: odoc,
                        ptr: &p(&ptr, "crm"),
                    },
                    format!(
                        "overlay adds a rule for CRM field `{}`, which the base `{}` mapping already writes",
                        rule.crm, spec.resource
                    ),
                );
                d.hint = Some("to change the base rule, list it under `override`".into());
                continue;
            }
            rules.push(Loc {
                doc: odoc,
                ptr,
                item: rule.clone(),
            });
        }
    }

    /// Filters, selection, catalogs, participants and deletion.
    fn overlay_sections<'a>(
        &mut self,
        merged: &mut Merged<'a>,
        ro: &so::ResourceOverlay,
        odoc: &'a Document,
        base: &str,
        spec: &MappingSpec,
    ) {
        if let Some(fo) = &ro.filters {
            let fbase = p(base, "filters");
            if let Some(rep) = &fo.replace {
                merged.filter = Some(Loc {
                    doc: odoc,
                    ptr: p(&fbase, "replace"),
                    item: rep.clone(),
                });
            }
            for (i, f) in fo.add.iter().enumerate() {
                merged.extra_filters.push(Loc {
                    doc: odoc,
                    ptr: p(&p(&fbase, "add"), i),
                    item: f.clone(),
                });
            }
        }
        if let Some(sel) = &ro.selection {
            merged.selection = Some(Loc {
                doc: odoc,
                ptr: p(base, "selection"),
                item: sel.clone(),
            });
        }
        for (cname, co) in &ro.catalogs {
            let ptr = p(&p(base, "catalogs"), cname);
            self.merge_catalog(&mut merged.catalogs, cname, co, odoc, &ptr);
        }
        if let Some(po) = &ro.participants {
            let ptr = p(base, "participants");
            self.merge_participants(&mut merged.participants, po, odoc, &ptr, spec);
        }
        if let Some(del) = &ro.deletion {
            merged.deletion = Loc {
                doc: odoc,
                ptr: p(base, "deletion"),
                item: del.clone(),
            };
        }
    }

    fn not_in_base(
        &mut self,
        at: At<'_>,
        verb: &str,
        field: &str,
        spec: &MappingSpec,
        names: &[String],
    ) {
        let mut unique: Vec<String> = Vec::new();
        for n in names {
            if !unique.contains(n) {
                unique.push(n.clone());
            }
        }
        let names = unique.as_slice();
        let msg = format!(
            "overlay {verb} CRM field `{field}`, which the base `{}` mapping does not write",
            spec.resource
        );
        // A renamed field is a key (`rename: {Old: New}`): point at the key.
        let d = if at.ptr.contains("/rename/") {
            self.error_key(at, msg)
        } else {
            self.error(at, msg)
        };
        d.expected = Some(one_of(names));
        d.hint = did_you_mean(field, names);
    }

    fn merge_catalog<'a>(
        &mut self,
        catalogs: &mut IndexMap<String, Loc<'a, sm::Catalog>>,
        name: &str,
        co: &so::CatalogOverlay,
        doc: &'a Document,
        ptr: &str,
    ) {
        let at = At { doc, ptr };
        match catalogs.get_mut(name) {
            Some(c) => {
                let mut relocate = |base: String, over: String| {
                    let (line, col) = doc.locate(&over);
                    self.relocated.insert(
                        format!("{}#{}", c.doc.file, base),
                        (doc.file.clone(), line, col),
                    );
                };
                for (k, v) in &co.values {
                    c.item.values.insert(k.clone(), v.clone());
                    relocate(p(&p(&c.ptr, "values"), k), p(&p(ptr, "values"), k));
                }
                if let Some(d) = &co.default {
                    c.item.default = d.clone();
                    relocate(p(&c.ptr, "default"), p(ptr, "default"));
                }
                if let Some(d) = &co.reverse_default {
                    c.item.reverse_default = Some(d.clone());
                }
                if let Some(v) = &co.crm_values {
                    c.item.crm_values = Some(v.clone());
                }
            }
            None => {
                let Some(default) = co.default.clone() else {
                    let d = self.error(at, format!("new catalog `{name}` has no `default`"));
                    d.expected = Some("`default:` the CRM value for unknown Graph values (null to leave the field out)".into());
                    return;
                };
                catalogs.insert(
                    name.to_string(),
                    Loc {
                        doc,
                        ptr: at.ptr.to_string(),
                        item: sm::Catalog {
                            values: co.values.clone(),
                            default,
                            reverse_default: co.reverse_default.clone(),
                            crm_values: co.crm_values.clone(),
                        },
                    },
                );
            }
        }
    }

    fn merge_participants<'a>(
        &mut self,
        participants: &mut Option<Loc<'a, sm::Participants>>,
        po: &so::ParticipantsOverlay,
        doc: &'a Document,
        ptr: &str,
        spec: &MappingSpec,
    ) {
        let at = At { doc, ptr };
        let Some(pa) = participants else {
            self.error(
                at,
                format!(
                    "overlay changes participants, but the base `{}` mapping has no `participants` section",
                    spec.resource
                ),
            );
            return;
        };
        if let Some(r) = &po.resolved {
            pa.item.resolved = r.clone();
        }
        if let Some(mo) = &po.missing {
            let m = match &mut pa.item.missing {
                Some(m) => m,
                None => {
                    let (Some(mode), Some(field)) = (mo.mode, mo.field.clone()) else {
                        let d = self.error(
                            At { doc: at.doc, ptr: &p(at.ptr, "missing") },
                            "the base has no missing-participants block, so the overlay must give `mode` and `field`",
                        );
                        d.expected = Some("`mode: replace|append` and `field: CRM field`".into());
                        return;
                    };
                    pa.item.missing = Some(sm::Missing {
                        mode,
                        field,
                        flag: None,
                        separator: None,
                        texts: IndexMap::new(),
                    });
                    pa.item.missing.as_mut().expect("just set")
                }
            };
            if let Some(v) = mo.mode {
                m.mode = v;
            }
            if let Some(v) = &mo.field {
                m.field = v.clone();
            }
            if let Some(v) = &mo.flag {
                m.flag = Some(v.clone());
            }
            if let Some(v) = &mo.separator {
                m.separator = Some(v.clone());
            }
            for (lang, t) in &mo.texts {
                m.texts.insert(lang.clone(), t.clone());
            }
            // Overlay-changed participant settings are reported at the overlay.
            pa.doc = doc;
            pa.ptr = ptr.to_string();
        }
        for (field, n) in &po.max_length {
            pa.item.max_length.insert(field.clone(), *n);
            let (line, col) = doc.locate(&p(&p(ptr, "max_length"), field));
            self.relocated.insert(
                format!("{}#{}", pa.doc.file, p(&p(&pa.ptr, "max_length"), field)),
                (doc.file.clone(), line, col),
            );
        }
    }
}
