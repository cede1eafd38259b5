//! `schemas/`: the committed JSON Schemas match the spec types, and shipped YAML files point at them.

use std::{path::Path, process::Command};

use graph_connector::spec::schema::{Kind, render};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn committed_schemas_match_the_spec_types() {
    let dir = Path::new(ROOT).join("schemas");
    let mut drifted = Vec::new();
    for kind in Kind::ALL {
        let path = dir.join(kind.file_name());
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != render(kind) {
            drifted.push(path.display().to_string());
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas drifted from the spec types, run `cargo run -- schema`: {drifted:?}"
    );
}

#[test]
fn schema_check_names_drifted_files() {
    let bin = env!("CARGO_BIN_EXE_graph-connector");
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let write = Command::new(bin)
        .args(["schema", "--dir", dir_arg])
        .output()
        .unwrap();
    assert!(write.status.success());
    let check = Command::new(bin)
        .args(["schema", "--check", "--dir", dir_arg])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0));

    std::fs::write(dir.path().join("overlay.schema.json"), "{}\n").unwrap();
    let check = Command::new(bin)
        .args(["schema", "--check", "--dir", dir_arg])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let stdout = String::from_utf8(check.stdout).unwrap();
    assert!(stdout.contains("overlay.schema.json: differs"), "{stdout}");
    assert!(!stdout.contains("mapping.schema.json"), "{stdout}");
}

#[test]
fn schemas_are_valid_and_reject_unknown_keys() {
    for kind in Kind::ALL {
        let schema = kind.schema();
        assert!(
            jsonschema::meta::is_valid(schema),
            "{} is not a valid JSON Schema",
            kind.file_name()
        );
        // deny_unknown_fields reaches the schema
        assert_eq!(
            schema["additionalProperties"],
            serde_json::Value::Bool(false),
            "{}",
            kind.file_name()
        );
    }
}

/// The first line of every shipped YAML names its schema, so editors complete and flag keys.
#[test]
fn shipped_yaml_files_name_their_schema() {
    let root = Path::new(ROOT);
    let mut files = vec![root.join("connector.example.yaml")];
    for dir in [root.join("mappings"), root.join("mappings/templates")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    files.push(path);
                }
            }
        }
    }
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let first = text.lines().next().unwrap_or("");
        let Some(reference) = first.strip_prefix("# yaml-language-server: $schema=") else {
            problems.push(format!("{}: first line is `{first}`", file.display()));
            continue;
        };
        let target = file.parent().unwrap().join(reference);
        if !target.is_file() {
            problems.push(format!(
                "{}: schema {reference} does not exist",
                file.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
