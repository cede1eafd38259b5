//! The item mapper: any JSON as a Graph item through every shipped mapping (base and isi), and as a CRM
//! record back to Graph.
#![no_main]

use std::sync::OnceLock;

use graph_connector::{load, mapping, model::MappingSet};
use libfuzzer_sys::fuzz_target;

fn sets() -> &'static [MappingSet; 2] {
    static SETS: OnceLock<[MappingSet; 2]> = OnceLock::new();
    SETS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings");
        let load = |template| {
            load::load_mappings(&dir, template)
                .expect("shipped mappings load")
                .model
        };
        [load(None), load(Some("isi"))]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(item) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(ctx) = mapping::Context::new("W. Europe Standard Time") else {
        return;
    };
    for set in sets() {
        for res in set.resources.values() {
            let record = mapping::to_crm(set, res, &item, &ctx);
            let _ = mapping::selected(res, &item, &ctx);
            let fields = record.json_fields();
            let _ = mapping::to_graph(set, res, &fields, &ctx);
        }
    }
});
