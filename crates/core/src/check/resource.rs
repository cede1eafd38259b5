//! One resource: the table and content type, the form's record key, the overlay merge, then each concern's
//! checks of the merged nodes, in the order diagnostics are reported; the model only when none failed.

use super::{At, Checker, InForm, Loc, Source, Writers, one_of, overlay::Merged, p};
use crate::{
    diag::did_you_mean,
    model,
    spec::{MappingSpec, OverlaySpec, mapping as sm},
};

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

/// A form's field list, what CRM fields are checked against.
struct FormFields {
    list: Vec<String>,
    form: String,
    /// The overlay's template name, or `base`.
    template: String,
}

impl Checker {
    /// Applies the overlay to one resource and checks the result.
    pub(super) fn resource(
        &mut self,
        res: Source<'_, MappingSpec>,
        ov_res: Option<(Source<'_, OverlaySpec>, usize)>,
        overlay: Option<Source<'_, OverlaySpec>>,
    ) -> Option<model::Resource> {
        let spec = res.spec;
        let n_before = self.error_count();
        self.table_and_content_type(res);
        let mut merged = Merged::base(res, overlay);
        if let Some(f) = &merged.field_list {
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
        if let Some(ov) = ov_res {
            self.apply_overlay(&mut merged, ov, spec);
        }

        // Now check the merged mapping.
        let fields_known = merged.field_list.as_ref().map(|f| FormFields {
            list: f.item.clone(),
            form: spec.form.clone().unwrap_or_else(|| spec.resource.clone()),
            template: overlay
                .map(|o| o.spec.template.clone())
                .unwrap_or_else(|| "base".into()),
        });
        let in_form = |cx: &mut Checker, at: At<'_>, field: &str| {
            cx.in_form(fields_known.as_ref(), at, field)
        };
        let all_day = spec.all_day.as_ref().and_then(|t| {
            self.path(
                At {
                    doc: res.doc,
                    ptr: "/all_day",
                },
                t,
            )
        });
        // Writers of CRM fields: (field, location) in order; a second writer is an error.
        let mut writers = Writers::new();
        let rules = self.rules(&merged, spec, &mut writers, &in_form);
        let catalogs = self.catalogs(&merged.catalogs);
        let filter = self.merged_filter(&merged, &in_form);
        let selection = merged.selection.as_ref().map(|s| {
            self.selection(
                At {
                    doc: s.doc,
                    ptr: &s.ptr,
                },
                &s.item,
            )
        });
        let participants = merged
            .participants
            .as_ref()
            .and_then(|pa| self.participants(pa, &mut writers, &in_form));
        self.deletion(&merged.deletion, &in_form);
        self.sync_settings(res.doc, &spec.sync, &in_form);
        self.sync_scope(res.doc, &spec.resource, &spec.sync);

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
            floating_dates: spec.floating_dates,
            selection,
            filter,
            rules,
            catalogs,
            participants,
            deletion: model::Deletion {
                on_graph_delete: merged.deletion.item.on_graph_delete,
                flag_field: merged.deletion.item.flag_field.clone(),
                propagate_crm_delete: merged.deletion.item.propagate_crm_delete,
            },
            form_fields: merged.field_list.map(|f| f.item),
            sync: spec.sync.clone(),
        })
    }

    /// Per-field conflict policies name fields of the form; the guard's share is a share.
    fn sync_settings(
        &mut self,
        doc: &crate::spec::yaml::Document,
        sync: &sm::SyncSpec,
        in_form: &InForm<'_>,
    ) {
        for field in sync.field_conflicts.keys() {
            let ptr = p("/sync/field_conflicts", field);
            in_form(self, At { doc, ptr: &ptr }, field);
        }
        if let Some(guard) = &sync.mass_delete
            && !(guard.share > 0.0 && guard.share <= 1.0)
        {
            let d = self.error(
                At {
                    doc,
                    ptr: "/sync/mass_delete/share",
                },
                format!("share {} is not a share of the linked items", guard.share),
            );
            d.expected = Some("a number above 0 and at most 1, e.g. 0.2 for 20 %".into());
        }
    }

    /// `sync.exclude` holds addresses and domains, for messages and events; `sync.skip_messages` is for
    /// messages only.
    fn sync_scope(
        &mut self,
        doc: &crate::spec::yaml::Document,
        resource: &str,
        sync: &sm::SyncSpec,
    ) {
        if !sync.exclude.is_empty() && !matches!(resource, "message" | "event") {
            let d = self.error(
                At {
                    doc,
                    ptr: "/sync/exclude",
                },
                format!("`sync.exclude` does not apply to resource `{resource}`"),
            );
            d.expected = Some("`exclude` under the `message` or `event` mapping".into());
        }
        for (n, entry) in sync.exclude.iter().enumerate() {
            if !is_address_or_domain(entry) {
                let ptr = format!("/sync/exclude/{n}");
                let d = self.error(
                    At { doc, ptr: &ptr },
                    format!("`{entry}` is neither an e-mail address nor a domain"),
                );
                d.expected = Some(
                    "an address such as `hr@contoso.com` or a domain such as `example.org` (or `@example.org`)"
                        .into(),
                );
            }
        }
        if sync.skip_messages.is_some() && resource != "message" {
            let d = self.error(
                At {
                    doc,
                    ptr: "/sync/skip_messages",
                },
                format!("`sync.skip_messages` does not apply to resource `{resource}`"),
            );
            d.expected = Some("`skip_messages` under the `message` mapping".into());
        }
    }

    /// Warnings for a table or content type the connector does not know (they may be custom ones).
    fn table_and_content_type(&mut self, res: Source<'_, MappingSpec>) {
        let (spec, bdoc) = (res.spec, res.doc);
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

    /// An error when `field` is not in the form's field list (when the mapping has one).
    fn in_form(&mut self, fields: Option<&FormFields>, at: At<'_>, field: &str) {
        if let Some(FormFields {
            list,
            form,
            template,
        }) = fields
            && !list.iter().any(|f| f == field)
        {
            let d = self.error(
                at,
                format!(
                    "CRM field `{field}` is not in the {form} field list of template `{template}`"
                ),
            );
            d.expected = Some(one_of(list));
            d.hint = did_you_mean(field, list);
        }
    }

    /// The flag field of `on_graph_delete: flag` must be in the form.
    fn deletion(&mut self, deletion: &Loc<'_, sm::Deletion>, in_form: &InForm<'_>) {
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
    }
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

/// `local@domain.tld`, `domain.tld` or `@domain.tld`: no spaces, one `@` at most, a dotted domain.
fn is_address_or_domain(text: &str) -> bool {
    let t = text.trim();
    let domain = match t.rsplit_once('@') {
        Some((local, domain)) => {
            if local.contains('@') || local.chars().any(char::is_whitespace) {
                return false;
            }
            domain
        }
        None => t,
    };
    domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}
