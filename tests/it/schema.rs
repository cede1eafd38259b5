//! `schemas/`: the committed JSON Schemas match the spec and seed types, and shipped YAML files point
//! at them and pass them.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use graph_connector::{
    load,
    spec::schema::{self, Kind},
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn committed_schemas_match_the_spec_types() {
    let dir = Path::new(ROOT).join("schemas");
    let mut drifted = Vec::new();
    for kind in Kind::ALL {
        let path = dir.join(kind.file_name());
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != load::render_schema(kind).expect("the tests build with the sandbox feature")
        {
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
        let schema = load::schema(kind).unwrap();
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

/// Every YAML file the repository ships: the example config, the mappings with their tests, overlays
/// and examples, and the emulators' default seeds.
fn shipped_yaml_files() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files = vec![
        root.join("connector.example.yaml"),
        root.join("crates/emulator/src/crm/default-seed.yaml"),
        root.join("crates/emulator/src/graph/default-seed.yaml"),
    ];
    for dir in ["mappings", "mappings/templates", "mappings/examples"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|err| panic!("{dir}: {err}"))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// The first line of every shipped YAML names its schema, so editors complete and flag keys; it is the
/// schema of what the file holds.
#[test]
fn shipped_yaml_files_name_their_schema() {
    let files = shipped_yaml_files();
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
        let doc = load::read_document(file).ok();
        let kind = load::classify(file, doc.as_ref());
        if !reference.ends_with(&format!("/{}", kind.file_name())) {
            problems.push(format!(
                "{}: names {reference}, but holds a {kind:?} file ({})",
                file.display(),
                kind.file_name()
            ));
        }
    }
    for expected in [
        "directory.yaml",
        "default-seed.yaml",
        "event.yaml",
        "event.test.yaml",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            "{expected} is not among the shipped files {files:?}"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every shipped YAML passes the schema it names, with the validation `validate` uses.
#[test]
fn shipped_yaml_files_pass_their_schema() {
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for file in shipped_yaml_files() {
        let doc =
            load::read_document(&file).unwrap_or_else(|d| panic!("{}: {d:?}", file.display()));
        let kind = load::classify(&file, Some(&doc));
        seen.insert(format!("{kind:?}"));
        for violation in schema::validate_with(
            &doc,
            load::validator(kind).unwrap(),
            load::schema(kind).unwrap(),
        ) {
            problems.push(violation.diagnostic.to_string());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Every kind of file is among them, so each schema is exercised on a real file.
    let all: std::collections::BTreeSet<String> =
        Kind::ALL.iter().map(|k| format!("{k:?}")).collect();
    assert_eq!(seen, all);
}
