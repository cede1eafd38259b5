//! Semantic checks of mapping specs and overlays: spec in, every `Diagnostic` out (no early return).
//!
//! `check` applies the template overlay to the base resource files, then validates the result: JSONPaths
//! parse, minijinja templates compile and use only known variables and filters, catalogs exist and hold
//! valid values, no two rules write one CRM field, every CRM field used is in the template's form field
//! list (which must contain `StatNo` and `SeqNo`), and an overlay only touches what the base has. Each
//! problem is located by the JSON pointer of the offending node in its file. The model is built only when
//! there is no error.
//!
//! By concern: [`overlay`] merges the template overlay into working copies of the base nodes (each with the
//! place it was written); `resource` checks one merged resource and builds its model from [`rules`],
//! [`catalogs`], [`filters`] (filters and selection) and [`participants`]; [`templates`] compiles the
//! minijinja templates; JSONPaths are parsed here. This module holds the entry point and the context every
//! concern shares: the [`Checker`] that collects diagnostics, and [`At`]/[`Loc`] locations.

mod catalogs;
mod filters;
mod overlay;
mod participants;
mod resource;
mod rules;
mod templates;
mod test_files;

pub use test_files::check_suite;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use indexmap::IndexMap;

use crate::{
    diag::{Diagnostic, Severity},
    model,
    spec::{MappingSpec, OverlaySpec, yaml::Document},
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
        cx.unused_forms(ov, resources);
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

/// The minijinja environment all mapping templates compile into (also used by the engine), with its
/// limits (see [`crate::jinja`]).
pub use crate::jinja::new_environment;

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

/// Where a CRM field (or, prefixed `Graph:`, a Graph property) is first written: a second writer is an error.
type Writers = IndexMap<String, (String, usize, usize)>;

/// Checks a CRM field against the form's field list (when the mapping has one); built per resource.
type InForm<'f> = dyn Fn(&mut Checker, At<'_>, &str) + 'f;

/// The context every concern shares: the diagnostics so far and the template environment.
struct Checker {
    diags: Vec<Diagnostic>,
    env: minijinja::Environment<'static>,
    /// Nodes of a base file that an overlay replaced: `file#pointer` → where the overlay wrote them, so
    /// a problem with the merged value is reported where it was written.
    relocated: HashMap<String, (String, usize, usize)>,
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

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
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
