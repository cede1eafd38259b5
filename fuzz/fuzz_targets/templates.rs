//! The template and JSONPath compilers: any text compiled, checked for literal bombs and rendered within
//! the limits, and parsed as a JSONPath.
#![no_main]

use graph_connector_core::{check, jinja};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = jsonpath_rust::parser::parse_json_path(text);
    let _ = jinja::static_limits(text);
    let mut env = check::new_environment();
    if env.add_template_owned("t", text.to_string()).is_ok()
        && let Ok(tpl) = env.get_template("t")
    {
        let vars: std::collections::BTreeMap<&str, minijinja::Value> =
            [("item", minijinja::Value::from("abc"))].into();
        let _ = jinja::render(&tpl, minijinja::Value::from(vars));
    }
});
