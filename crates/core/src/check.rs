//! Semantic checks of mapping specs and overlays: spec in, every `Diagnostic` out (no early return).
//!
//! `check` applies the template overlay to the base resource files, then validates the result: JSONPaths
//! parse, minijinja templates compile and use only known variables and filters, catalogs exist and hold
//! valid values, no two rules write one CRM field, every CRM field used is in the template's form field
//! list (which must contain `StatNo` and `SeqNo`), and an overlay only touches what the base has. Each
//! problem is located by the JSON pointer of the offending node in its file. The model is built only when
//! there is no error.

use std::{collections::HashSet, sync::Arc};

use indexmap::IndexMap;
use serde_json::Value;

use crate::{
    diag::{Diagnostic, Severity, did_you_mean},
    model,
    spec::{
        MappingSpec, OverlaySpec,
        mapping::{self as sm, Direction},
        overlay as so,
        yaml::Document,
    },
};

/// A spec together with the document it was read from (for locating diagnostics).
#[derive(Debug)]
pub struct Source<'a, T> {
    pub doc: &'a Document,
    pub spec: &'a T,
}

impl<T> Clone for Source<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Source<'_, T> {}

/// The outcome of [`check`]: the model (only when there is no error) and every diagnostic.
#[derive(Debug)]
pub struct Checked {
    pub model: Option<model::MappingSet>,
    pub diagnostics: Vec<Diagnostic>,
}

/// CRM tables the connector knows (a table outside this list is a warning: it may be a custom table).
const KNOWN_TABLES: &[&str] = &[
    "Contact", "Tasks", "Absences", "Person", "Company", "Rep", "ExtKey",
];
/// CRM groupware content types (catalog "Content Type (groupware)").
const CONTENT_TYPES: &[&str] = &[
    "application/x-mmRecord",
    "text/x-mmAbsences",
    "text/x-mmPerson",
    "text/x-mmTasks",
    "text/x-vevent",
];
/// Graph `sensitivity` values.
const SENSITIVITIES: &[&str] = &["normal", "personal", "private", "confidential"];
/// Variables of forward templates.
const FORWARD_VARS: &[&str] = &["item", "ctx"];
/// Variables of reverse templates.
const REVERSE_VARS: &[&str] = &["record", "ctx"];
/// minijinja's built-in filters (the only ones templates may use).
const FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "tojson",
    "pprint",
    "format",
    "urlencode",
];

/// Checks the resource specs with an optional overlay; reports every problem in one run.
pub fn check(
    resources: &[Source<'_, MappingSpec>],
    overlay: Option<Source<'_, OverlaySpec>>,
) -> Checked {
    let mut cx = Checker {
        diags: Vec::new(),
        env: new_environment(),
        relocated: Default::default(),
    };
    let mut out = IndexMap::new();
    let mut seen: IndexMap<String, &Document> = IndexMap::new();
    for res in resources {
        let name = &res.spec.resource;
        if let Some(first) = seen.get(name) {
            cx.push(res.doc.error(
                "/resource",
                format!(
                    "resource `{name}` is defined twice (first in {})",
                    first.file
                ),
            ));
            continue;
        }
        seen.insert(name.clone(), res.doc);
    }
    if let Some(ov) = overlay {
        cx.check_overlay_header(ov, &seen.keys().cloned().collect::<Vec<_>>());
    }
    let mut done = HashSet::new();
    for res in resources {
        if !done.insert(res.spec.resource.clone()) {
            continue;
        }
        let ov = overlay.and_then(|o| {
            o.spec
                .resources
                .get_index_of(&res.spec.resource)
                .map(|i| (o, i))
        });
        if let Some(r) = cx.resource(*res, ov, overlay) {
            out.insert(r.name.clone(), r);
        }
    }
    if let Some(ov) = overlay {
        let forms: Vec<String> = resources
            .iter()
            .filter_map(|r| r.spec.form.clone())
            .collect();
        for form in ov.spec.forms.keys() {
            if !forms.contains(form) {
                let ptr = p("/forms", form);
                let d = cx.warning(
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
    let failed = cx.diags.iter().any(|d| d.severity == Severity::Error);
    let Checker { diags, env, .. } = cx;
    Checked {
        model: (!failed).then(|| model::MappingSet {
            template: overlay.map(|o| o.spec.template.clone()),
            resources: out,
            templates: Arc::new(env),
        }),
        diagnostics: diags,
    }
}

/// The minijinja environment all mapping templates compile into (also used by the engine).
pub fn new_environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env
}

/// A location: a document and a JSON pointer into it.
#[derive(Clone, Copy)]
struct At<'a> {
    doc: &'a Document,
    ptr: &'a str,
}

/// A spec node and where it was written (base file or overlay), with its pointer.
#[derive(Clone)]
struct Loc<'a, T> {
    doc: &'a Document,
    ptr: String,
    item: T,
}

struct Checker {
    diags: Vec<Diagnostic>,
    env: minijinja::Environment<'static>,
    /// Nodes of a base file that an overlay replaced: `file#pointer` → where the overlay wrote them, so
    /// a problem with the merged value is reported where it was written.
    relocated: std::collections::HashMap<String, (String, usize, usize)>,
}

fn p(base: &str, token: impl std::fmt::Display) -> String {
    crate::spec::yaml::pointer_push(base, &token.to_string())
}

fn one_of<S: AsRef<str>>(items: &[S]) -> String {
    let list: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    format!("one of: {}", list.join(", "))
}

impl Checker {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn error(&mut self, at: At<'_>, msg: impl Into<String>) -> &mut Diagnostic {
        let d = match self.relocated.get(&format!("{}#{}", at.doc.file, at.ptr)) {
            Some((file, line, col)) => Diagnostic::error(file.clone(), *line, *col, msg),
            None => at.doc.error(at.ptr, msg),
        };
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    /// An error at the key of the mapping entry at `at` (for misspelled names used as keys).
    fn error_key(&mut self, at: At<'_>, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags
            .push(at.doc.diag_key(at.ptr, Severity::Error, msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn warning(&mut self, at: At<'_>, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(at.doc.warning(at.ptr, msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn check_overlay_header(&mut self, ov: Source<'_, OverlaySpec>, resources: &[String]) {
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

    fn require_keys(&mut self, at: At<'_>, table: &str, form: &str, fields: &[String]) {
        let keys = record_keys(table);
        for key in keys {
            if !fields.iter().any(|f| f == key) {
                let d = self.error(
                    at,
                    format!(
                        "the `{form}` field list lacks `{key}`, part of the `{table}` record key"
                    ),
                );
                d.expected = Some(format!("a field list containing {}", keys.join(", ")));
            }
        }
    }

    /// Applies the overlay to one resource and checks the result.
    fn resource(
        &mut self,
        res: Source<'_, MappingSpec>,
        ov_res: Option<(Source<'_, OverlaySpec>, usize)>,
        overlay: Option<Source<'_, OverlaySpec>>,
    ) -> Option<model::Resource> {
        let spec = res.spec;
        let bdoc = res.doc;
        let n_before = self.error_count();
        if !KNOWN_TABLES.contains(&spec.table.as_str()) {
            let d = self.warning(
                At {
                    doc: bdoc,
                    ptr: "/table",
                },
                format!("`{}` is not a CRM table the connector knows", spec.table),
            );
            d.expected = Some(one_of(KNOWN_TABLES));
            d.hint = did_you_mean(&spec.table, KNOWN_TABLES.iter().copied());
        }

        if !CONTENT_TYPES.contains(&spec.content_type.as_str()) {
            let d = self.warning(
                At {
                    doc: bdoc,
                    ptr: "/content_type",
                },
                format!(
                    "`{}` is not a CRM groupware content type",
                    spec.content_type
                ),
            );
            d.expected = Some(one_of(CONTENT_TYPES));
            d.hint = did_you_mean(&spec.content_type, CONTENT_TYPES.iter().copied());
        }

        // Working copies with their origin.
        let mut rules: Vec<Loc<'_, sm::Rule>> = spec
            .fields
            .iter()
            .enumerate()
            .map(|(i, r)| Loc {
                doc: bdoc,
                ptr: p("/fields", i),
                item: r.clone(),
            })
            .collect();
        let mut filter: Option<Loc<'_, sm::Filter>> = spec.filters.clone().map(|f| Loc {
            doc: bdoc,
            ptr: "/filters".into(),
            item: f,
        });
        let mut extra_filters: Vec<Loc<'_, sm::Filter>> = Vec::new();
        let mut selection = spec.selection.clone().map(|s| Loc {
            doc: bdoc,
            ptr: "/selection".to_string(),
            item: s,
        });
        let mut catalogs: IndexMap<String, Loc<'_, sm::Catalog>> = spec
            .catalogs
            .iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    Loc {
                        doc: bdoc,
                        ptr: p("/catalogs", k),
                        item: c.clone(),
                    },
                )
            })
            .collect();
        let mut participants = spec.participants.clone().map(|pa| Loc {
            doc: bdoc,
            ptr: "/participants".to_string(),
            item: pa,
        });
        let mut deletion = Loc {
            doc: bdoc,
            ptr: "/deletion".to_string(),
            item: spec.deletion.clone(),
        };
        let mut field_list: Option<Loc<'_, Vec<String>>> = spec.form_fields.clone().map(|f| Loc {
            doc: bdoc,
            ptr: "/form_fields".to_string(),
            item: f,
        });
        if let (Some(ov), Some(form)) = (overlay, spec.form.as_ref())
            && let Some(list) = ov.spec.forms.get(form)
        {
            field_list = Some(Loc {
                doc: ov.doc,
                ptr: p("/forms", form),
                item: list.clone(),
            });
        }
        if let Some(f) = &field_list {
            let form = spec.form.clone().unwrap_or_else(|| spec.resource.clone());
            self.require_keys(
                At {
                    doc: f.doc,
                    ptr: &f.ptr,
                },
                &spec.table,
                &form,
                &f.item,
            );
        }

        if let Some((ov, idx)) = ov_res {
            let (name, ro) = ov.spec.resources.get_index(idx).expect("index from lookup");
            let base = p("/resources", name);
            let odoc = ov.doc;
            let base_fields: Vec<String> = rules.iter().map(|r| r.item.crm.clone()).collect();
            for (i, f) in ro.drop.iter().enumerate() {
                let ptr = p(&p(&base, "drop"), i);
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
                        &base_fields,
                    ),
                }
            }
            for (from, to) in &ro.rename {
                let ptr = p(&p(&base, "rename"), from);
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
                        &base_fields,
                    ),
                }
            }
            for (i, rule) in ro.r#override.iter().enumerate() {
                let ptr = p(&p(&base, "override"), i);
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
                        d.hint = did_you_mean(&rule.crm, &names).or_else(|| {
                            Some("to write a new field, list its rule under `add`".into())
                        });
                    }
                }
            }
            for (i, rule) in ro.add.iter().enumerate() {
                let ptr = p(&p(&base, "add"), i);
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
            if let Some(fo) = &ro.filters {
                let fbase = p(&base, "filters");
                if let Some(rep) = &fo.replace {
                    filter = Some(Loc {
                        doc: odoc,
                        ptr: p(&fbase, "replace"),
                        item: rep.clone(),
                    });
                }
                for (i, f) in fo.add.iter().enumerate() {
                    extra_filters.push(Loc {
                        doc: odoc,
                        ptr: p(&p(&fbase, "add"), i),
                        item: f.clone(),
                    });
                }
            }
            if let Some(sel) = &ro.selection {
                selection = Some(Loc {
                    doc: odoc,
                    ptr: p(&base, "selection"),
                    item: sel.clone(),
                });
            }
            for (cname, co) in &ro.catalogs {
                let ptr = p(&p(&base, "catalogs"), cname);
                self.merge_catalog(&mut catalogs, cname, co, odoc, &ptr);
            }
            if let Some(po) = &ro.participants {
                let ptr = p(&base, "participants");
                self.merge_participants(&mut participants, po, odoc, &ptr, spec);
            }
            if let Some(del) = &ro.deletion {
                deletion = Loc {
                    doc: odoc,
                    ptr: p(&base, "deletion"),
                    item: del.clone(),
                };
            }
        }

        // Now check the merged mapping.
        let catalog_names: Vec<String> = catalogs.keys().cloned().collect();
        let fields_known: Option<(Vec<String>, String, String)> = field_list.as_ref().map(|f| {
            (
                f.item.clone(),
                spec.form.clone().unwrap_or_else(|| spec.resource.clone()),
                overlay
                    .map(|o| o.spec.template.clone())
                    .unwrap_or_else(|| "base".into()),
            )
        });
        let in_form = |cx: &mut Checker, at: At<'_>, field: &str| {
            if let Some((list, form, template)) = &fields_known
                && !list.iter().any(|f| f == field)
            {
                let d = cx.error(
                    at,
                    format!("CRM field `{field}` is not in the {form} field list of template `{template}`"),
                );
                d.expected = Some(one_of(list));
                d.hint = did_you_mean(field, list);
            }
        };

        let all_day = spec.all_day.as_ref().and_then(|t| {
            self.path(
                At {
                    doc: bdoc,
                    ptr: "/all_day",
                },
                t,
            )
        });

        // Writers of CRM fields: (field, location) in order; a second writer is an error.
        let mut writers: IndexMap<String, (String, usize, usize)> = IndexMap::new();
        let mut model_rules = Vec::new();
        for r in &rules {
            let rule = &r.item;
            let crm_ptr = p(&r.ptr, "crm");
            let at_crm = At {
                doc: r.doc,
                ptr: &crm_ptr,
            };
            in_form(self, at_crm, &rule.crm);
            let direction = rule.direction.unwrap_or(spec.direction);
            let forward = matches!(direction, Direction::GraphToCrm | Direction::Both);
            let runs_forward = forward && spec.direction != Direction::CrmToGraph;
            let runs_back = matches!(direction, Direction::CrmToGraph | Direction::Both)
                && spec.direction != Direction::GraphToCrm;
            if !runs_forward && !runs_back {
                let ptr = p(&r.ptr, "direction");
                let d = self.warning(
                    At { doc: r.doc, ptr: &ptr },
                    format!(
                        "the rule for `{}` never runs: the `{}` mapping's direction excludes its direction",
                        rule.crm, spec.resource
                    ),
                );
                d.expected = Some("a rule direction within the mapping's `direction`".into());
            } else if rule.reverse.is_some() && !runs_back {
                let ptr = p(&r.ptr, "reverse");
                let d = self.warning(
                    At { doc: r.doc, ptr: &ptr },
                    format!("the reverse part of the rule for `{}` never runs (the rule runs graph_to_crm only)", rule.crm),
                );
                d.hint = Some("remove `reverse`, or set `direction: both`".into());
            }
            if forward {
                self.writer(&mut writers, &rule.crm, at_crm);
            }
            let source = match &rule.from {
                Some(src) => self.source(
                    At {
                        doc: r.doc,
                        ptr: &p(&r.ptr, "from"),
                    },
                    src,
                ),
                None => {
                    if forward {
                        let d = self.error(
                            At {
                                doc: r.doc,
                                ptr: &r.ptr,
                            },
                            format!("rule for CRM field `{}` has no `from` source", rule.crm),
                        );
                        d.expected = Some("`from: {path: ...}`, `{template: ...}` or `{const: ...}`, or `direction: crm_to_graph`".into());
                    }
                    None
                }
            };
            let mut convert = Vec::new();
            for (i, c) in rule.convert.iter().enumerate() {
                let cptr = p(&p(&r.ptr, "convert"), i);
                if let Some(c) = self.convert(
                    At {
                        doc: r.doc,
                        ptr: &cptr,
                    },
                    c,
                    &catalog_names,
                ) {
                    convert.push(c);
                }
            }
            let when = rule.when.as_ref().and_then(|w| {
                self.path(
                    At {
                        doc: r.doc,
                        ptr: &p(&r.ptr, "when"),
                    },
                    w,
                )
            });
            if let (Some(rv), true) = (
                &rule.reverse,
                matches!(direction, Direction::CrmToGraph | Direction::Both),
            ) {
                let tptr = p(&p(&r.ptr, "reverse"), "to");
                let at = At {
                    doc: r.doc,
                    ptr: &tptr,
                };
                // Graph properties have one writer too; `Graph:` keeps them apart from CRM fields.
                if let Some((file, line, col)) = writers.get(&format!("Graph:{}", rv.to)) {
                    let msg = format!(
                        "two rules write Graph property `{}` (the other one is at {file}:{line}:{col})",
                        rv.to
                    );
                    self.error(at, msg);
                } else {
                    let (line, col) = r.doc.locate(&tptr);
                    writers.insert(format!("Graph:{}", rv.to), (r.doc.file.clone(), line, col));
                }
            }
            let reverse = rule.reverse.as_ref().and_then(|rv| {
                let rptr = p(&r.ptr, "reverse");
                self.reverse(
                    At {
                        doc: r.doc,
                        ptr: &rptr,
                    },
                    rv,
                    &rule.crm,
                    &catalog_names,
                    &in_form,
                )
            });
            model_rules.push(model::Rule {
                crm: rule.crm.clone(),
                source,
                convert,
                when,
                direction,
                reverse,
            });
        }

        // Catalogs.
        let mut model_catalogs = IndexMap::new();
        for (name, c) in &catalogs {
            let m = self.catalog(
                At {
                    doc: c.doc,
                    ptr: &c.ptr,
                },
                &c.item,
            );
            model_catalogs.insert(name.clone(), m);
        }

        // Filters.
        let mut model_filter = filter.as_ref().map(|f| {
            self.filter(
                At {
                    doc: f.doc,
                    ptr: &f.ptr,
                },
                &f.item,
                &in_form,
            )
        });
        if !extra_filters.is_empty() {
            let mut all: Vec<model::Filter> = model_filter.into_iter().collect();
            for f in &extra_filters {
                all.push(self.filter(
                    At {
                        doc: f.doc,
                        ptr: &f.ptr,
                    },
                    &f.item,
                    &in_form,
                ));
            }
            model_filter = Some(model::Filter::All(all));
        }
        let model_selection = selection.as_ref().map(|s| {
            self.selection(
                At {
                    doc: s.doc,
                    ptr: &s.ptr,
                },
                &s.item,
            )
        });

        // Participants.
        let model_participants = participants
            .as_ref()
            .and_then(|pa| self.participants(pa, &mut writers, &in_form));

        // Deletion.
        let dptr = p(&deletion.ptr, "flag_field");
        if deletion.item.on_graph_delete == sm::OnGraphDelete::Flag {
            in_form(
                self,
                At {
                    doc: deletion.doc,
                    ptr: &dptr,
                },
                &deletion.item.flag_field,
            );
        }

        if self.error_count() > n_before {
            return None;
        }
        Some(model::Resource {
            name: spec.resource.clone(),
            table: spec.table.clone(),
            content_type: spec.content_type.clone(),
            form: spec.form.clone(),
            direction: spec.direction,
            all_day,
            selection: model_selection,
            filter: model_filter,
            rules: model_rules,
            catalogs: model_catalogs,
            participants: model_participants,
            deletion: model::Deletion {
                on_graph_delete: deletion.item.on_graph_delete,
                flag_field: deletion.item.flag_field.clone(),
                propagate_crm_delete: deletion.item.propagate_crm_delete,
            },
            form_fields: field_list.map(|f| f.item),
        })
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
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

    fn writer(
        &mut self,
        writers: &mut IndexMap<String, (String, usize, usize)>,
        field: &str,
        at: At<'_>,
    ) {
        if let Some((file, line, col)) = writers.get(field) {
            let msg = format!(
                "two rules write CRM field `{field}` (the other one is at {file}:{line}:{col})"
            );
            let d = self.error(at, msg);
            d.hint = Some(
                "keep one rule per CRM field; an overlay changes a base rule with `override`"
                    .into(),
            );
        } else {
            let (line, col) = at.doc.locate(at.ptr);
            writers.insert(field.to_string(), (at.doc.file.clone(), line, col));
        }
    }

    fn path(&mut self, at: At<'_>, text: &str) -> Option<model::JsonPath> {
        match jsonpath_rust::parser::parse_json_path(text) {
            Ok(query) => Some(model::JsonPath {
                text: text.to_string(),
                query,
            }),
            Err(e) => {
                let d = self.error(
                    at,
                    format!("invalid JSONPath `{text}`: {}", path_error(&e.to_string())),
                );
                d.expected = Some(
                    "a JSONPath such as `$.subject` or `$.attendees[*].emailAddress.address`"
                        .into(),
                );
                None
            }
        }
    }

    fn template(&mut self, at: At<'_>, source: &str, vars: &[&str]) -> Option<model::TemplateRef> {
        let name = format!("{}#{}", at.doc.file, at.ptr);
        if let Err(e) = self
            .env
            .add_template_owned(name.clone(), source.to_string())
        {
            let line = e
                .line()
                .map(|l| format!(" (template line {l})"))
                .unwrap_or_default();
            let what = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string());
            let d = self.error(at, format!("template syntax error: {what}{line}"));
            d.expected = Some("a minijinja template, e.g. `{{ item.subject }}`".into());
            return None;
        }
        let mut ok = true;
        let tpl = self.env.get_template(&name).expect("just added");
        let mut unknown: Vec<String> = tpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !vars.contains(&v.as_str()))
            .collect();
        unknown.sort();
        for v in unknown {
            ok = false;
            let d = self.error(at, format!("template uses unknown variable `{v}`"));
            d.expected = Some(one_of(vars));
            d.hint = did_you_mean(&v, vars.iter().copied());
        }
        for f in used_filters(source) {
            if !FILTERS.contains(&f.as_str()) {
                ok = false;
                let d = self.error(at, format!("template uses unknown filter `{f}`"));
                d.expected = Some(
                    "a minijinja built-in filter (lower, upper, trim, default, join, replace, …)"
                        .into(),
                );
                d.hint = did_you_mean(&f, FILTERS.iter().copied());
            }
        }
        ok.then_some(model::TemplateRef { name })
    }

    fn source(&mut self, at: At<'_>, src: &sm::Source) -> Option<model::Source> {
        match src {
            sm::Source::Path(t) => self
                .path(
                    At {
                        doc: at.doc,
                        ptr: &p(at.ptr, "path"),
                    },
                    t,
                )
                .map(model::Source::Path),
            sm::Source::Template(t) => self
                .template(
                    At {
                        doc: at.doc,
                        ptr: &p(at.ptr, "template"),
                    },
                    t,
                    FORWARD_VARS,
                )
                .map(model::Source::Template),
            sm::Source::Const(v) => Some(model::Source::Const(v.clone())),
        }
    }

    fn catalog_ref(&mut self, at: At<'_>, name: &str, names: &[String]) -> bool {
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

    fn convert(
        &mut self,
        at: At<'_>,
        c: &sm::Convert,
        catalogs: &[String],
    ) -> Option<model::Convert> {
        Some(match c {
            sm::Convert::Date => model::Convert::Date,
            sm::Convert::EndDate => model::Convert::EndDate,
            sm::Convert::Time => model::Convert::Time,
            sm::Convert::Duration(o) | sm::Convert::DurationUnit(o) => {
                let end = match &o.end {
                    Some(e) => {
                        let ptr = p(
                            &p(
                                at.ptr,
                                if matches!(c, sm::Convert::Duration(_)) {
                                    "duration"
                                } else {
                                    "duration_unit"
                                },
                            ),
                            "end",
                        );
                        Some(self.path(
                            At {
                                doc: at.doc,
                                ptr: &ptr,
                            },
                            e,
                        )?)
                    }
                    None => None,
                };
                if matches!(c, sm::Convert::Duration(_)) {
                    model::Convert::Duration { end, unit: o.unit }
                } else {
                    model::Convert::DurationUnit { end, unit: o.unit }
                }
            }
            sm::Convert::Boolean => model::Convert::Boolean,
            sm::Convert::HtmlToText => model::Convert::HtmlToText,
            sm::Convert::Trim => model::Convert::Trim,
            sm::Convert::Truncate(n) => {
                if *n == 0 {
                    let d = self.error(
                        At {
                            doc: at.doc,
                            ptr: &p(at.ptr, "truncate"),
                        },
                        "`truncate: 0` would empty every value",
                    );
                    d.expected = Some("the CRM field length, a number of characters ≥ 1".into());
                    return None;
                }
                model::Convert::Truncate(*n)
            }
            sm::Convert::Catalog(name) => {
                if !self.catalog_ref(
                    At {
                        doc: at.doc,
                        ptr: &p(at.ptr, "catalog"),
                    },
                    name,
                    catalogs,
                ) {
                    return None;
                }
                model::Convert::Catalog(name.clone())
            }
            sm::Convert::Map(m) => model::Convert::Map(self.catalog(
                At {
                    doc: at.doc,
                    ptr: &p(at.ptr, "map"),
                },
                m,
            )),
            sm::Convert::Join(s) => model::Convert::Join(s.clone()),
            sm::Convert::Default(v) => model::Convert::Default(v.clone()),
        })
    }

    fn catalog(&mut self, at: At<'_>, c: &sm::Catalog) -> model::Catalog {
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

    fn reverse(
        &mut self,
        at: At<'_>,
        rv: &sm::Reverse,
        crm: &str,
        catalogs: &[String],
        in_form: &dyn Fn(&mut Checker, At<'_>, &str),
    ) -> Option<model::Reverse> {
        let to: Vec<String> = rv.to.split('.').map(str::to_string).collect();
        if to.iter().any(|s| s.is_empty()) {
            let d = self.error(
                At {
                    doc: at.doc,
                    ptr: &p(at.ptr, "to"),
                },
                format!("invalid Graph property path `{}`", rv.to),
            );
            d.expected = Some("a dotted property path such as `subject` or `body.content`".into());
            return None;
        }
        let sptr = p(at.ptr, "from");
        let source = match &rv.from {
            None => model::ReverseSource::Field(crm.to_string()),
            Some(sm::ReverseSource::Field(f)) => {
                in_form(
                    self,
                    At {
                        doc: at.doc,
                        ptr: &p(&sptr, "field"),
                    },
                    f,
                );
                model::ReverseSource::Field(f.clone())
            }
            Some(sm::ReverseSource::Template(t)) => model::ReverseSource::Template(self.template(
                At {
                    doc: at.doc,
                    ptr: &p(&sptr, "template"),
                },
                t,
                REVERSE_VARS,
            )?),
            Some(sm::ReverseSource::Const(v)) => model::ReverseSource::Const(v.clone()),
            Some(sm::ReverseSource::DateTime(dt)) => {
                let dptr = p(&sptr, "date_time");
                in_form(
                    self,
                    At {
                        doc: at.doc,
                        ptr: &p(&dptr, "date"),
                    },
                    &dt.date,
                );
                if let Some(t) = &dt.time {
                    in_form(
                        self,
                        At {
                            doc: at.doc,
                            ptr: &p(&dptr, "time"),
                        },
                        t,
                    );
                }
                model::ReverseSource::DateTime {
                    date: dt.date.clone(),
                    time: dt.time.clone(),
                    end: dt.end,
                }
            }
        };
        let mut convert = Vec::new();
        for (i, c) in rv.convert.iter().enumerate() {
            let cptr = p(&p(at.ptr, "convert"), i);
            convert.push(match c {
                sm::ReverseConvert::Catalog(n) => {
                    if !self.catalog_ref(
                        At {
                            doc: at.doc,
                            ptr: &p(&cptr, "catalog"),
                        },
                        n,
                        catalogs,
                    ) {
                        continue;
                    }
                    model::ReverseConvert::Catalog(n.clone())
                }
                sm::ReverseConvert::Boolean => model::ReverseConvert::Boolean,
                sm::ReverseConvert::Body(b) => model::ReverseConvert::Body(*b),
                sm::ReverseConvert::Truncate(n) => model::ReverseConvert::Truncate(*n),
                sm::ReverseConvert::Default(v) => model::ReverseConvert::Default(v.clone()),
                sm::ReverseConvert::Object(k) => model::ReverseConvert::Object(k.clone()),
                sm::ReverseConvert::List => model::ReverseConvert::List,
            });
        }
        Some(model::Reverse {
            to,
            source,
            convert,
        })
    }

    fn filter(
        &mut self,
        at: At<'_>,
        f: &sm::Filter,
        in_form: &dyn Fn(&mut Checker, At<'_>, &str),
    ) -> model::Filter {
        let list = |cx: &mut Checker, key: &str, l: &[sm::Filter]| -> Vec<model::Filter> {
            l.iter()
                .enumerate()
                .map(|(i, f)| {
                    cx.filter(
                        At {
                            doc: at.doc,
                            ptr: &p(&p(at.ptr, key), i),
                        },
                        f,
                        in_form,
                    )
                })
                .collect()
        };
        match f {
            sm::Filter::Group(sm::FilterGroup::All(l)) => model::Filter::All(list(self, "all", l)),
            sm::Filter::Group(sm::FilterGroup::Any(l)) => model::Filter::Any(list(self, "any", l)),
            sm::Filter::Group(sm::FilterGroup::Not(f)) => {
                model::Filter::Not(Box::new(self.filter(
                    At {
                        doc: at.doc,
                        ptr: &p(at.ptr, "not"),
                    },
                    f,
                    in_form,
                )))
            }
            sm::Filter::Condition(c) => {
                in_form(
                    self,
                    At {
                        doc: at.doc,
                        ptr: &p(at.ptr, "field"),
                    },
                    &c.field,
                );
                if c.op == sm::Op::Contains && !c.value.is_string() {
                    let d = self.error(
                        At {
                            doc: at.doc,
                            ptr: &p(at.ptr, "value"),
                        },
                        "`contains` needs a text value",
                    );
                    d.expected = Some("a string".into());
                }
                model::Filter::Condition {
                    field: c.field.clone(),
                    op: c.op,
                    value: c.value.clone(),
                }
            }
        }
    }

    fn selection(&mut self, at: At<'_>, s: &sm::Selection) -> model::Selection {
        let list = |cx: &mut Checker, key: &str, l: &[sm::Selection]| -> Vec<model::Selection> {
            l.iter()
                .enumerate()
                .map(|(i, s)| {
                    cx.selection(
                        At {
                            doc: at.doc,
                            ptr: &p(&p(at.ptr, key), i),
                        },
                        s,
                    )
                })
                .collect()
        };
        match s {
            sm::Selection::All(l) => model::Selection::All(list(self, "all", l)),
            sm::Selection::Any(l) => model::Selection::Any(list(self, "any", l)),
            sm::Selection::Not(s) => model::Selection::Not(Box::new(self.selection(
                At {
                    doc: at.doc,
                    ptr: &p(at.ptr, "not"),
                },
                s,
            ))),
            sm::Selection::Category(c) => model::Selection::Category(c.clone()),
            sm::Selection::Sensitivity(v) => {
                for (i, s) in v.iter().enumerate() {
                    if !SENSITIVITIES.contains(&s.as_str()) {
                        let ptr = p(&p(at.ptr, "sensitivity"), i);
                        let d = self.error(
                            At {
                                doc: at.doc,
                                ptr: &ptr,
                            },
                            format!("unknown sensitivity `{s}`"),
                        );
                        d.expected = Some(one_of(SENSITIVITIES));
                        d.hint = did_you_mean(s, SENSITIVITIES.iter().copied());
                    }
                }
                model::Selection::Sensitivity(v.clone())
            }
            sm::Selection::Folder(v) => model::Selection::Folder(v.clone()),
            sm::Selection::ResolvedParticipant(b) => model::Selection::ResolvedParticipant(*b),
            sm::Selection::ResolvedPerson(b) => model::Selection::ResolvedPerson(*b),
            sm::Selection::Property(c) => {
                let ptr = p(&p(at.ptr, "property"), "path");
                match self.path(
                    At {
                        doc: at.doc,
                        ptr: &ptr,
                    },
                    &c.path,
                ) {
                    Some(path) => model::Selection::Property {
                        path,
                        equals: c.equals.clone(),
                    },
                    // Reported; the model is not built, so any placeholder will do.
                    None => model::Selection::All(Vec::new()),
                }
            }
        }
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

    fn participants(
        &mut self,
        pa: &Loc<'_, sm::Participants>,
        writers: &mut IndexMap<String, (String, usize, usize)>,
        in_form: &dyn Fn(&mut Checker, At<'_>, &str),
    ) -> Option<model::Participants> {
        let doc = pa.doc;
        let base = pa.ptr.as_str();
        let spec = &pa.item;
        let n_before = self.error_count();
        let mut sources = Vec::new();
        for (i, s) in spec.from.iter().enumerate() {
            let sptr = p(&p(base, "from"), i);
            let path = self.path(
                At {
                    doc,
                    ptr: &p(&sptr, "path"),
                },
                &s.path,
            );
            let role_path = s.role_path.as_ref().and_then(|r| {
                self.path(
                    At {
                        doc,
                        ptr: &p(&sptr, "role_path"),
                    },
                    r,
                )
            });
            if s.role.is_some() == s.role_path.is_some() {
                let d = self.error(
                    At { doc, ptr: &sptr },
                    "a participant source needs exactly one of `role` and `role_path`",
                );
                d.expected = Some(
                    "`role: required|optional|informational|unknown` or `role_path: $.type`".into(),
                );
            }
            if let Some(path) = path {
                sources.push(model::ParticipantSource {
                    path,
                    role: s.role,
                    role_path,
                });
            }
        }
        let address = self.path(
            At {
                doc,
                ptr: &p(base, "address"),
            },
            &spec.address,
        );
        let name = self.path(
            At {
                doc,
                ptr: &p(base, "name"),
            },
            &spec.name,
        );
        let rptr = p(base, "resolved");
        for (key, field) in [
            ("mailbox_rep", &spec.resolved.mailbox_rep),
            ("rep_ids", &spec.resolved.rep_ids),
            ("names", &spec.resolved.names),
            ("person_ids", &spec.resolved.person_ids),
        ] {
            if let Some(f) = field {
                let at = At {
                    doc,
                    ptr: &p(&rptr, key),
                };
                in_form(self, at, f);
                self.writer(writers, f, at);
            }
        }
        for (i, f) in spec.resolved.link.iter().enumerate() {
            let lptr = p(&p(&rptr, "link"), i);
            let at = At { doc, ptr: &lptr };
            in_form(self, at, f);
            self.writer(writers, f, at);
        }
        let missing = spec.missing.as_ref().map(|m| {
            let mptr = p(base, "missing");
            let fat = At {
                doc,
                ptr: &p(&mptr, "field"),
            };
            in_form(self, fat, &m.field);
            match m.mode {
                sm::MissingMode::Replace => self.writer(writers, &m.field, fat),
                sm::MissingMode::Append => {
                    if !writers.contains_key(&m.field) {
                        let d = self.warning(
                            fat,
                            format!(
                                "append mode adds to CRM field `{}`, but no rule writes it",
                                m.field
                            ),
                        );
                        d.hint = Some("use `mode: replace`, or add a rule for that field".into());
                    }
                }
            }
            if let Some(flag) = &m.flag {
                let at = At {
                    doc,
                    ptr: &p(&mptr, "flag"),
                };
                in_form(self, at, flag);
                self.writer(writers, flag, at);
            }
            if !m.texts.contains_key("en") {
                let d = self.error(
                    At {
                        doc,
                        ptr: &p(&mptr, "texts"),
                    },
                    "missing-participants texts lack `en`, the fallback language",
                );
                d.expected = Some("texts for `en` (and any other language)".into());
            }
            model::Missing {
                mode: m.mode,
                field: m.field.clone(),
                flag: m.flag.clone(),
                separator: m.separator.clone(),
                texts: m.texts.clone(),
            }
        });
        // A length only makes sense for a field these settings write.
        let limited: Vec<&str> = [
            &spec.resolved.rep_ids,
            &spec.resolved.names,
            &spec.resolved.person_ids,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .chain(spec.missing.as_ref().map(|m| m.field.as_str()))
        .collect();
        for (field, n) in &spec.max_length {
            let at = At {
                doc,
                ptr: &p(&p(base, "max_length"), field),
            };
            if !limited.contains(&field.as_str()) {
                let d = self.error(
                    at,
                    format!(
                        "`max_length` for CRM field `{field}`, which the participant settings do not write"
                    ),
                );
                d.expected = Some(if limited.is_empty() {
                    "no `max_length`: these settings write no list field".into()
                } else {
                    one_of(&limited)
                });
                d.hint = did_you_mean(field, limited.iter().copied());
            } else if *n == 0 {
                let d = self.error(at, format!("`max_length` of `{field}` is 0"));
                d.expected = Some("the CRM field's length in characters, at least 1".into());
            }
        }
        if self.error_count() > n_before {
            return None;
        }
        Some(model::Participants {
            sources,
            address: address?,
            name: name?,
            skip_mailbox: spec.skip_mailbox,
            resolved: model::Resolved {
                mailbox_rep: spec.resolved.mailbox_rep.clone(),
                rep_ids: spec.resolved.rep_ids.clone(),
                names: spec.resolved.names.clone(),
                person_ids: spec.resolved.person_ids.clone(),
                link: spec.resolved.link.clone(),
                separator: spec
                    .resolved
                    .separator
                    .clone()
                    .unwrap_or_else(|| "; ".into()),
            },
            missing,
            max_length: spec.max_length.clone(),
        })
    }
}

/// A one-line version of a JSONPath parse error (the parser's message is a multi-line drawing).
fn path_error(msg: &str) -> String {
    let at = msg
        .split("-->")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pos| pos.split(':').nth(1))
        .map(|col| format!("at character {col}: "))
        .unwrap_or_default();
    let what = msg
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("= "))
        .unwrap_or(msg.lines().next().unwrap_or(msg))
        .trim();
    format!("{at}{what}")
}

/// The fields identifying a record of a CRM table (every form of that table must list them).
fn record_keys(table: &str) -> &'static [&'static str] {
    match table {
        "Person" => &["CoGrp", "CoNo", "PeGrp", "PeNo"],
        "Company" => &["CoGrp", "CoNo"],
        "Rep" => &["RepID"],
        _ => &["StatNo", "SeqNo"],
    }
}

/// A JSON value as an admin wrote it (strings without quotes).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Filter names used in a template (`| name`), outside string literals.
fn used_filters(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_tag = false;
    let mut quote: Option<char> = None;
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !in_tag {
            if c == '{' && matches!(chars.get(i + 1), Some('{') | Some('%')) {
                in_tag = true;
                i += 2;
                continue;
            }
        } else if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if (c == '}' || c == '%') && chars.get(i + 1) == Some(&'}') {
            in_tag = false;
        } else if c == '|' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > start {
                out.push(chars[start..j].iter().collect());
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::used_filters;

    #[test]
    fn finds_filters_outside_strings() {
        assert_eq!(
            used_filters("{{ item.subject | upper }} | x {{ 'a|b' | replace('a', 'b') |trim }}"),
            vec!["upper", "replace", "trim"]
        );
    }
}
