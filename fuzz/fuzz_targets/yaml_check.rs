//! The YAML loader and the checks: any bytes as a mapping spec through parse → schema → serde → check.
#![no_main]

use graph_connector_core::{
    check::{self, Source},
    spec::{
        MappingSpec,
        schema::{self, Kind},
        yaml,
    },
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = yaml::parse("fuzz.yaml", text) else {
        return;
    };
    for kind in Kind::ALL {
        let _ = schema::validate(&doc, kind);
    }
    if let Ok(spec) = serde_json::from_value::<MappingSpec>(doc.value.clone()) {
        let _ = check::check(
            &[Source {
                doc: &doc,
                spec: &spec,
            }],
            None,
        );
    }
});
