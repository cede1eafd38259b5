//! The CRM emulator as the product ships it: `graph-connector emulate crm` (the binary's CLI line and seed
//! errors) and the shipped mappings against its default seed. The emulator alone is tested in
//! `crates/emulator/tests/crm_emulator.rs`.

use graph_connector::emulator::crm::Seed;
use pretty_assertions::assert_eq;

#[tokio::test]
async fn cli_prints_one_json_line_then_serves() {
    use std::io::BufRead;
    /// Kills the emulator process even when an assertion fails first.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_graph-connector"))
            .args(["emulate", "crm", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(json["user"], "OCSU");
    assert_eq!(json["password"], "sandbox");
    assert_eq!(json["client"], "GraphApi");
    let url = json["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/crm.interface"),
        "{url}"
    );
    let body = reqwest::Client::new()
        .post(&url)
        .body(
            r#"<?xml version="1.0" encoding="utf-8"?><request user="OCSU" pwd="sandbox" client="GraphApi" xml:lang="en"><query><tables><table tablename="Rep"/></tables></query></request>"#,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(child);
    assert_eq!(body.matches("<Rep tableshort=").count(), 5, "{body}");
}

#[test]
fn cli_names_a_bad_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("bad-seed.yaml");
    std::fs::write(&seed, "master: { user: OCSU }\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(["emulate", "crm", "--seed"])
        .arg(&seed)
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no JSON line for a bad seed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad-seed.yaml") && stderr.contains("invalid CRM emulator seed"),
        "{stderr}"
    );
}

/// The shipped mappings and the emulator's default seed describe one CRM: under the base behaviour and
/// every template, every table a mapping writes exists, every CRM field a mapping names (field lists,
/// rules, filters, participant and deletion fields) is a field of that table, and every CRM value a
/// catalog, value map or constant writes to a catalog field is a value of the seed's catalog. Without
/// this, `map` could preview records the sandbox CRM then refuses.
#[test]
fn shipped_mappings_fit_the_default_seed() {
    use graph_connector::{
        load,
        model::{Convert, Filter, OnGraphDelete, Resource, Source},
    };
    use serde_json::Value;

    fn filter_fields(filter: &Filter, out: &mut Vec<String>) {
        match filter {
            Filter::All(items) | Filter::Any(items) => {
                items.iter().for_each(|f| filter_fields(f, out))
            }
            Filter::Not(inner) => filter_fields(inner, out),
            Filter::Condition { field, .. } => out.push(field.clone()),
        }
    }
    fn named_fields(res: &Resource) -> Vec<String> {
        let mut out: Vec<String> = res.form_fields.clone().unwrap_or_default();
        out.extend(res.rules.iter().map(|r| r.crm.clone()));
        if let Some(f) = &res.filter {
            filter_fields(f, &mut out);
        }
        if let Some(p) = &res.participants {
            let r = &p.resolved;
            out.extend(
                [&r.mailbox_rep, &r.rep_ids, &r.names, &r.person_ids]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            out.extend(r.link.iter().cloned());
            if let Some(m) = &p.missing {
                out.push(m.field.clone());
                out.extend(m.flag.clone());
            }
        }
        if res.deletion.on_graph_delete == OnGraphDelete::Flag {
            out.push(res.deletion.flag_field.clone());
        }
        out
    }

    let seed = Seed::default_seed();
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut checked = 0;
    let mut problems = Vec::new();
    for template in [None, Some("isi")] {
        let set = load::load_mappings(&mappings, template)
            .unwrap_or_else(|f| panic!("shipped mappings load: {:?}", f.diagnostics))
            .model;
        let under = template.unwrap_or("base");
        for res in set.resources.values() {
            let Some(table) = seed.tables.iter().find(|t| t.name == res.table) else {
                problems.push(format!(
                    "{under}/{}: table {} not in the seed",
                    res.name, res.table
                ));
                continue;
            };
            for field in named_fields(res) {
                checked += 1;
                if !table.fields.iter().any(|f| f.name == field) {
                    problems.push(format!(
                        "{under}/{}: field {field} not in seed table {}",
                        res.name, res.table
                    ));
                }
            }
            for rule in res.rules.iter().filter(|r| r.to_crm()) {
                let Some(catalog) = table
                    .fields
                    .iter()
                    .find(|f| f.name == rule.crm)
                    .and_then(|f| f.catalog.as_deref())
                else {
                    continue;
                };
                let texts: Vec<&str> = seed
                    .catalogs
                    .iter()
                    .find(|c| c.name == catalog)
                    .map(|c| c.values.iter().map(|v| v.texts["en"].as_str()).collect())
                    .unwrap_or_default();
                // The values the rule can write: its constant, or the last catalog or value map.
                let mut values: Vec<Value> = Vec::new();
                if let Some(Source::Const(v)) = &rule.source {
                    values = vec![v.clone()];
                }
                for convert in &rule.convert {
                    let map = match convert {
                        Convert::Catalog(name) => res.catalogs.get(name),
                        Convert::Map(map) => Some(map),
                        _ => None,
                    };
                    if let Some(map) = map {
                        values = map.values.values().cloned().collect();
                        values.push(map.default.clone());
                    }
                }
                for value in values.iter().filter_map(Value::as_str) {
                    checked += 1;
                    if !texts.contains(&value) {
                        problems.push(format!(
                            "{under}/{}: {} may be written as `{value}`, not a value of seed catalog `{catalog}` {texts:?}",
                            res.name, rule.crm
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(problems, Vec::<String>::new());
    assert!(checked > 100, "only {checked} names checked");
}
