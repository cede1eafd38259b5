//! Issue 10: the hostile inputs' costs, to show each per-item step is linear and a bomb is refused fast:
//! a flat 10 MB HTML body, 200 000 nested elements, 100 000 attendees, a YAML alias bomb, a template
//! that runs out of fuel.
//!
//! Run with `cargo bench -p graph-connector-core --bench hostile`. The figures are quoted in
//! `docs/limits.md`, never asserted in tests.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use graph_connector_core::{
    check::{self, Source},
    jinja,
    mapping::{self, Context, Directory, DirectoryEntry, html::html_to_text},
    model::MappingSet,
    spec::{MappingSpec, OverlaySpec, yaml},
};
use serde_json::{Value, json};

const FILES: [(&str, &str); 5] = [
    (
        "absence.yaml",
        include_str!("../../../mappings/absence.yaml"),
    ),
    (
        "contact.yaml",
        include_str!("../../../mappings/contact.yaml"),
    ),
    ("event.yaml", include_str!("../../../mappings/event.yaml")),
    (
        "message.yaml",
        include_str!("../../../mappings/message.yaml"),
    ),
    ("task.yaml", include_str!("../../../mappings/task.yaml")),
];
const ISI: &str = include_str!("../../../mappings/templates/isi.yaml");

/// The shipped mappings with the ISI overlay, built as `load` does (parse, deserialize, check).
fn isi_set() -> MappingSet {
    let docs: Vec<_> = FILES
        .iter()
        .map(|(name, text)| yaml::parse(name, text).unwrap())
        .collect();
    let specs: Vec<MappingSpec> = docs
        .iter()
        .map(|doc| serde_json::from_value(doc.value.clone()).unwrap())
        .collect();
    let sources: Vec<Source<'_, MappingSpec>> = docs
        .iter()
        .zip(&specs)
        .map(|(doc, spec)| Source { doc, spec })
        .collect();
    let overlay_doc = yaml::parse("isi.yaml", ISI).unwrap();
    let overlay: OverlaySpec = serde_json::from_value(overlay_doc.value.clone()).unwrap();
    let checked = check::check(
        &sources,
        Some(Source {
            doc: &overlay_doc,
            spec: &overlay,
        }),
    );
    checked
        .model
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics))
}

fn event(extra: Value) -> Value {
    let mut item = json!({
        "subject": "Review",
        "start": {"dateTime": "2025-03-04T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-04T10:00:00", "timeZone": "UTC"},
    });
    if let (Some(item), Value::Object(extra)) = (item.as_object_mut(), extra) {
        item.extend(extra);
    }
    item
}

fn bench(c: &mut Criterion) {
    let flat = "<p>Hello &amp; welcome, this is a paragraph of the body.</p>\n".repeat(170_000);
    let nested = format!(
        "{}deep{}",
        "<div>".repeat(200_000),
        "</div>".repeat(200_000)
    );
    let mut group = c.benchmark_group("html_to_text");
    group.sample_size(10);
    group.bench_function("flat 10 MB body", |b| {
        b.iter(|| html_to_text(black_box(&flat)))
    });
    group.bench_function("200k nested elements", |b| {
        b.iter(|| html_to_text(black_box(&nested)))
    });
    group.finish();

    let set = isi_set();
    let res = set.resource("event").unwrap();
    let mut ctx = Context::new("W. Europe Standard Time").unwrap();
    ctx.mailbox = Some("ana@contoso.com".into());
    ctx.directory = Directory {
        reps: vec![],
        persons: (0..1_000)
            .map(|i| DirectoryEntry {
                email: format!("person{i}@fabrikam.com"),
                id: format!("P{i}"),
                name: format!("Person {i}"),
                fields: Default::default(),
            })
            .collect(),
    };
    let attendees: Vec<Value> = (0..100_000)
        .map(|i| json!({"type": "required", "emailAddress": {"address": format!("guest{i}@example.org"), "name": "Guest"}}))
        .collect();
    let crowded = event(json!({"attendees": attendees}));
    let big_body = event(json!({"body": {"contentType": "html", "content": flat}}));
    let mut group = c.benchmark_group("to_crm");
    group.sample_size(10);
    group.bench_function("event with 100k attendees (isi)", |b| {
        b.iter(|| mapping::to_crm(&set, res, black_box(&crowded), &ctx))
    });
    group.bench_function("event with a 10 MB HTML body (isi)", |b| {
        b.iter(|| mapping::to_crm(&set, res, black_box(&big_body), &ctx))
    });
    group.finish();

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let mut env = jinja::new_environment();
    env.add_template_owned(
        "loop",
        "{% for a in x * 5000 %}{% for b in x * 5000 %}{{ a }}{% endfor %}{% endfor %}".to_string(),
    )
    .unwrap();
    let tpl = env.get_template("loop").unwrap();
    let vars: std::collections::BTreeMap<&str, minijinja::Value> =
        [("x", minijinja::Value::from("y"))].into();
    let vars = minijinja::Value::from(vars);
    let mut group = c.benchmark_group("refused");
    group.bench_function("YAML alias bomb (10^9 values)", |b| {
        b.iter(|| yaml::parse("bomb.yaml", black_box(&bomb)).unwrap_err())
    });
    group.bench_function("template out of fuel (25M iterations asked)", |b| {
        b.iter(|| jinja::render(&tpl, vars.clone()).unwrap_err())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
