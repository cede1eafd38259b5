//! Field rules: who writes each CRM field (and Graph property) — one writer each —, a rule's direction,
//! its source (path, template, constant), its conversions and its reverse part.

use super::{At, Checker, InForm, Loc, Writers, overlay::Merged, p, templates};
use crate::{
    model,
    spec::{
        MappingSpec,
        mapping::{self as sm, Direction},
    },
};

impl Checker {
    /// Checks every merged rule, in order; the model rules of the resource.
    pub(super) fn rules(
        &mut self,
        merged: &Merged<'_>,
        spec: &MappingSpec,
        writers: &mut Writers,
        in_form: &InForm<'_>,
    ) -> Vec<model::Rule> {
        let catalog_names: Vec<String> = merged.catalogs.keys().cloned().collect();
        merged
            .rules
            .iter()
            .map(|r| self.rule(r, spec, writers, &catalog_names, in_form))
            .collect()
    }

    fn rule(
        &mut self,
        r: &Loc<'_, sm::Rule>,
        spec: &MappingSpec,
        writers: &mut Writers,
        catalog_names: &[String],
        in_form: &InForm<'_>,
    ) -> model::Rule {
        let rule = &r.item;
        let crm_ptr = p(&r.ptr, "crm");
        let at_crm = At {
            doc: r.doc,
            ptr: &crm_ptr,
        };
        in_form(self, at_crm, &rule.crm);
        let direction = self.direction(r, spec);
        let forward = matches!(direction, Direction::GraphToCrm | Direction::Both);
        if forward {
            self.writer(writers, &rule.crm, at_crm);
        }
        let source = self.rule_source(r, forward);
        let mut convert = Vec::new();
        for (i, c) in rule.convert.iter().enumerate() {
            let cptr = p(&p(&r.ptr, "convert"), i);
            if let Some(c) = self.convert(
                At {
                    doc: r.doc,
                    ptr: &cptr,
                },
                c,
                catalog_names,
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
            self.graph_writer(writers, r, rv);
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
                catalog_names,
                in_form,
            )
        });
        model::Rule {
            crm: rule.crm.clone(),
            source,
            convert,
            when,
            direction,
            reverse,
        }
    }

    /// The rule's direction; a warning when it, or its reverse part, never runs in the mapping's direction.
    fn direction(&mut self, r: &Loc<'_, sm::Rule>, spec: &MappingSpec) -> Direction {
        let rule = &r.item;
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
        direction
    }

    /// The rule's `from`; a forward rule must have one.
    fn rule_source(&mut self, r: &Loc<'_, sm::Rule>, forward: bool) -> Option<model::Source> {
        let rule = &r.item;
        match &rule.from {
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
        }
    }

    /// Graph properties have one writer too; `Graph:` keeps them apart from CRM fields.
    fn graph_writer(&mut self, writers: &mut Writers, r: &Loc<'_, sm::Rule>, rv: &sm::Reverse) {
        let tptr = p(&p(&r.ptr, "reverse"), "to");
        let at = At {
            doc: r.doc,
            ptr: &tptr,
        };
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

    pub(super) fn writer(&mut self, writers: &mut Writers, field: &str, at: At<'_>) {
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
                    templates::FORWARD_VARS,
                )
                .map(model::Source::Template),
            sm::Source::Const(v) => Some(model::Source::Const(v.clone())),
        }
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

    fn reverse(
        &mut self,
        at: At<'_>,
        rv: &sm::Reverse,
        crm: &str,
        catalogs: &[String],
        in_form: &InForm<'_>,
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
                templates::REVERSE_VARS,
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
        let convert = self.reverse_converts(at, rv, catalogs);
        Some(model::Reverse {
            to,
            source,
            convert,
        })
    }

    /// The `convert` steps of a reverse rule (a bad catalog reference is reported and skipped).
    fn reverse_converts(
        &mut self,
        at: At<'_>,
        rv: &sm::Reverse,
        catalogs: &[String],
    ) -> Vec<model::ReverseConvert> {
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
        convert
    }
}
