//! Participants: where a Graph item's attendees come from, the CRM fields that receive the resolved reps
//! and persons (each with one writer, like rule fields), the text written for unresolved ones, and the
//! lengths of the list fields.

use super::{At, Checker, InForm, Loc, Writers, one_of, p};
use crate::{diag::did_you_mean, model, spec::mapping as sm, spec::yaml::Document};

impl Checker {
    pub(super) fn participants(
        &mut self,
        pa: &Loc<'_, sm::Participants>,
        writers: &mut Writers,
        in_form: &InForm<'_>,
    ) -> Option<model::Participants> {
        let doc = pa.doc;
        let base = pa.ptr.as_str();
        let spec = &pa.item;
        let n_before = self.error_count();
        let sources = self.participant_sources(doc, base, spec);
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
        self.resolved_fields(doc, base, spec, writers, in_form);
        let missing = spec
            .missing
            .as_ref()
            .map(|m| self.missing(doc, base, m, writers, in_form));
        self.max_lengths(doc, base, spec);
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

    /// Where participants are read from: each source has a path and exactly one of `role`, `role_path`.
    fn participant_sources(
        &mut self,
        doc: &Document,
        base: &str,
        spec: &sm::Participants,
    ) -> Vec<model::ParticipantSource> {
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
        sources
    }

    /// The CRM fields receiving resolved reps and persons: in the form, one writer each.
    fn resolved_fields(
        &mut self,
        doc: &Document,
        base: &str,
        spec: &sm::Participants,
        writers: &mut Writers,
        in_form: &InForm<'_>,
    ) {
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
    }

    /// What is written for participants that resolve to no rep or person.
    fn missing(
        &mut self,
        doc: &Document,
        base: &str,
        m: &sm::Missing,
        writers: &mut Writers,
        in_form: &InForm<'_>,
    ) -> model::Missing {
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
    }

    /// `max_length` only for list fields these settings write, and at least 1.
    fn max_lengths(&mut self, doc: &Document, base: &str, spec: &sm::Participants) {
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
    }
}
