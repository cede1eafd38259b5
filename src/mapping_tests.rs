//! Runs the `*.test.yaml` cases beside the mapping specs, offline, with a readable diff on failure.
//!
//! Each case maps its input (a Graph item, or with `reverse: true` a CRM record) through the mappings of
//! its template and compares only what the case lists: fields, absent fields, Graph body properties,
//! warnings and the selection / filter verdict. `graph-connector test` prints a [`Report`]; `cargo test`
//! runs the shipped cases through [`run_dir`].

use std::{collections::HashMap, fmt::Write as _, path::Path};

use indexmap::IndexMap;
use serde_json::Value;

use crate::{
    diag::{Diagnostic, did_you_mean},
    load,
    mapping::{self, Context, Directory},
    model::MappingSet,
    spec::{
        TestSuite,
        schema::Kind,
        tests::{Expect, TestCase, TestContext},
    },
};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub template: Option<String>,
    /// `None` when the case passed; otherwise the readable difference.
    pub failure: Option<String>,
}

/// Everything a test run found.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    /// Problems that stop cases from running (unreadable test files, broken mappings).
    pub errors: Vec<Diagnostic>,
}

impl Report {
    /// Number of failed cases plus blocking errors.
    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
            + self.errors.iter().filter(|d| d.is_error()).count()
    }
}

/// Runs every `*.test.yaml` in `dir` against the mappings in `dir`.
pub fn run_dir(dir: &Path) -> Report {
    let mut report = Report::default();
    let files = match load::test_files(dir) {
        Ok(f) => f,
        Err(e) => {
            report.errors.push(Diagnostic::error(
                load::display_name(dir),
                0,
                0,
                format!("cannot list test files: {e}"),
            ));
            return report;
        }
    };
    let mut sets: HashMap<Option<String>, Result<MappingSet, ()>> = HashMap::new();
    for path in files {
        let file = load::display_name(&path);
        let read = load::read_spec::<TestSuite>(&path, Kind::MappingTests);
        report.errors.extend(read.diagnostics);
        let Some(suite) = read.spec else { continue };
        if let Some(doc) = &read.doc {
            // A bad `now` or time zone fails its cases below; this says where it is written.
            report
                .errors
                .extend(crate::check::check_suite(doc, &suite, None));
        }
        for case in &suite.cases {
            let set = sets.entry(case.template.clone()).or_insert_with(|| {
                match load::load_mappings(dir, case.template.as_deref()) {
                    Ok(l) => Ok(l.model),
                    Err(f) => {
                        // Loaded once per template: the base files' problems show up for each one.
                        for d in f.diagnostics {
                            if !report.errors.contains(&d) {
                                report.errors.push(d);
                            }
                        }
                        Err(())
                    }
                }
            });
            let failure = match set {
                Ok(set) => run_case(set, &suite, case).err(),
                Err(()) => Some(format!(
                    "  the mappings{} do not load (see the errors above)\n",
                    case.template
                        .as_deref()
                        .map(|t| format!(" with template `{t}`"))
                        .unwrap_or_default()
                )),
            };
            report.cases.push(CaseResult {
                file: file.clone(),
                name: case.name.clone(),
                template: case.template.clone(),
                failure,
            });
        }
    }
    report
}

/// Builds an evaluation context from a test context (suite defaults overridden by the case).
pub fn context(suite: &TestContext, case: Option<&TestContext>) -> Result<Context, String> {
    let pick = |f: fn(&TestContext) -> Option<&String>| -> Option<String> {
        case.and_then(f).or_else(|| f(suite)).cloned()
    };
    let tz = pick(|c| c.tz.as_ref()).unwrap_or_else(|| "UTC".into());
    let mut ctx = Context::new(&tz).map_err(|e| e.to_string())?;
    if let Some(lang) = pick(|c| c.lang.as_ref()) {
        ctx.lang = lang;
    }
    let now = pick(|c| c.now.as_ref()).unwrap_or_else(|| "2000-01-01T00:00:00Z".into());
    ctx.now = now
        .parse()
        .map_err(|e| format!("context `now` = `{now}`: expected an RFC 3339 time ({e})"))?;
    ctx.mailbox = pick(|c| c.mailbox.as_ref());
    ctx.folder = pick(|c| c.folder.as_ref());
    let dir = case
        .and_then(|c| c.directory.as_ref())
        .or(suite.directory.as_ref());
    ctx.directory = dir.map(Directory::from).unwrap_or_default();
    Ok(ctx)
}

/// Runs one case; `Err` holds a readable difference.
pub fn run_case(set: &MappingSet, suite: &TestSuite, case: &TestCase) -> Result<(), String> {
    let Some(res) = set.resource(&suite.resource) else {
        let names: Vec<&str> = set.resources.keys().map(String::as_str).collect();
        return Err(format!(
            "  no mapping for resource `{}` (expected one of: {}){}\n",
            suite.resource,
            names.join(", "),
            did_you_mean(&suite.resource, &names)
                .map(|h| format!("; {h}"))
                .unwrap_or_default()
        ));
    };
    let ctx = context(&suite.context, case.context.as_ref()).map_err(|e| format!("  {e}\n"))?;
    let mut diff = String::new();
    let e = &case.expect;
    if case.reverse {
        let Some(fields) = case.input.get("fields").and_then(Value::as_object) else {
            return Err("  a reverse case needs `input: {table, fields: {...}}`\n".into());
        };
        let fields: IndexMap<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let out = mapping::to_graph(set, res, &fields, &ctx);
        if let Some(want) = &e.body {
            compare_subset("body", want, &out.body, &mut diff);
        }
        if let Some(want) = e.selected {
            let got = res
                .filter
                .as_ref()
                .is_none_or(|f| mapping::filter::matches(f, &fields));
            if got != want {
                let _ = writeln!(
                    diff,
                    "  CRM filter: expected the record to {}pass, it does {}",
                    if want { "" } else { "not " },
                    if got { "" } else { "not" }
                );
            }
        }
        compare_warnings(e, &out.warnings, &mut diff);
        for f in &e.absent {
            if let Some(v) = out.body.get(f) {
                let _ = writeln!(diff, "  body `{f}`: expected absent, found {v}");
            }
        }
        if !e.fields.is_empty() {
            let _ = writeln!(
                diff,
                "  `fields` are compared in forward cases only; use `body` here"
            );
        }
    } else {
        let out = mapping::to_crm(set, res, &case.input, &ctx);
        let got = out.json_fields();
        for (k, want) in &e.fields {
            match got.get(k) {
                Some(v) if loosely_equal(want, v) => {}
                Some(v) => {
                    let _ = writeln!(
                        diff,
                        "  field `{k}`:\n    - expected: {}\n    + actual:   {}",
                        show(want),
                        show(v)
                    );
                }
                None if want.is_null() => {}
                None => {
                    let _ = writeln!(
                        diff,
                        "  field `{k}`:\n    - expected: {}\n    + actual:   (not written)",
                        show(want)
                    );
                }
            }
        }
        for k in &e.absent {
            if let Some(v) = got.get(k) {
                let _ = writeln!(diff, "  field `{k}`: expected absent, found {}", show(v));
            }
        }
        if let Some(want) = e.selected {
            let got = mapping::selected(res, &case.input, &ctx);
            if got != want {
                let _ = writeln!(
                    diff,
                    "  selection: expected the item to be {}, it is {}",
                    if want { "selected" } else { "skipped" },
                    if got { "selected" } else { "skipped" }
                );
            }
        }
        compare_warnings(e, &out.warnings, &mut diff);
        if e.body.is_some() {
            let _ = writeln!(
                diff,
                "  `body` is compared in reverse cases only; use `fields` here"
            );
        }
    }
    if diff.is_empty() { Ok(()) } else { Err(diff) }
}

fn compare_warnings(e: &Expect, got: &[String], diff: &mut String) {
    let Some(want) = &e.warnings else { return };
    let ok = want.len() == got.len() && want.iter().zip(got).all(|(w, g)| g.contains(w.as_str()));
    if !ok {
        let _ = writeln!(diff, "  warnings:");
        for w in want {
            let _ = writeln!(diff, "    - expected (containing): {w}");
        }
        for g in got {
            let _ = writeln!(diff, "    + actual: {g}");
        }
        if want.is_empty() && got.is_empty() {
            let _ = writeln!(diff, "    (none)");
        }
    }
}

/// Numbers compare by value (`60` = `60.0`); everything else exactly.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Compares only the keys `want` lists, recursively in objects; lists and scalars exactly.
fn compare_subset(at: &str, want: &Value, got: &Value, diff: &mut String) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let path = format!("{at}.{k}");
                match g.get(k) {
                    Some(gv) => compare_subset(&path, wv, gv, diff),
                    None if wv.is_null() => {}
                    None => {
                        let _ = writeln!(
                            diff,
                            "  `{path}`:\n    - expected: {}\n    + actual:   (not written)",
                            show(wv)
                        );
                    }
                }
            }
        }
        _ if loosely_equal(want, got) => {}
        _ => {
            let _ = writeln!(
                diff,
                "  `{at}`:\n    - expected: {}\n    + actual:   {}",
                show(want),
                show(got)
            );
        }
    }
}

fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| v.to_string())
}
