//! Throughput of the pure mapping core: loading the shipped mappings and mapping one Graph event either way.
//!
//! Run with `cargo bench --bench mapping`. Figures are quoted in the issue notes, never asserted in tests.

use std::{hint::black_box, path::Path};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use graph_connector::{
    load::{load_set, read_directory},
    mapping::{context::Context, to_crm, to_graph},
};

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = root.join("mappings");
    let item: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(mappings.join("examples/event.json")).unwrap(),
    )
    .unwrap();
    let directory = read_directory(&mappings.join("examples/directory.yaml")).unwrap();

    let mut group = c.benchmark_group("load");
    group.bench_function("load mappings + isi overlay", |b| {
        b.iter(|| load_set(black_box(&mappings), Some("isi")).unwrap())
    });
    group.finish();

    let set = load_set(&mappings, Some("isi")).unwrap();
    let res = set.resource("event").unwrap();
    let mut ctx = Context::new("W. Europe Standard Time").unwrap();
    ctx.directory = directory;
    ctx.mailbox = Some("ana@contoso.com".into());

    let record = to_crm(&set, res, &item, &ctx);
    let fields: indexmap::IndexMap<String, serde_json::Value> = record
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();

    let mut group = c.benchmark_group("map");
    group.throughput(Throughput::Elements(1));
    group.bench_function("event graph->crm (isi, 6 attendees)", |b| {
        b.iter(|| to_crm(&set, res, black_box(&item), &ctx))
    });
    group.bench_function("event crm->graph (isi)", |b| {
        b.iter(|| to_graph(&set, res, black_box(&fields), &ctx))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
