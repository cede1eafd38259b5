//! CRM-side filters (which records sync) and the Graph-side selection (which items sync).

use super::{At, Checker, InForm, one_of, overlay::Merged, p};
use crate::{diag::did_you_mean, model, spec::mapping as sm};

/// Graph `sensitivity` values.
const SENSITIVITIES: &[&str] = &["normal", "personal", "private", "confidential"];

impl Checker {
    /// The merged filter: the base (or replaced) filter and-ed with the filters an overlay adds.
    pub(super) fn merged_filter(
        &mut self,
        merged: &Merged<'_>,
        in_form: &InForm<'_>,
    ) -> Option<model::Filter> {
        let mut model_filter = merged.filter.as_ref().map(|f| {
            self.filter(
                At {
                    doc: f.doc,
                    ptr: &f.ptr,
                },
                &f.item,
                in_form,
            )
        });
        if !merged.extra_filters.is_empty() {
            let mut all: Vec<model::Filter> = model_filter.into_iter().collect();
            for f in &merged.extra_filters {
                all.push(self.filter(
                    At {
                        doc: f.doc,
                        ptr: &f.ptr,
                    },
                    &f.item,
                    in_form,
                ));
            }
            model_filter = Some(model::Filter::All(all));
        }
        model_filter
    }

    fn filter(&mut self, at: At<'_>, f: &sm::Filter, in_form: &InForm<'_>) -> model::Filter {
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

    pub(super) fn selection(&mut self, at: At<'_>, s: &sm::Selection) -> model::Selection {
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
}
