//! `validate`: located diagnostics for YAML syntax, schema and meaning; output formats and exit codes.

use std::{path::Path, process::Command};

use graph_connector::{
    diag::Diagnostic,
    load,
    spec::{
        schema::{self, Kind},
        yaml,
    },
};
use pretty_assertions::assert_eq;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Parses and schema-checks `text` as a file of `kind`, rendering every diagnostic.
fn schema_diagnostics(kind: Kind, text: &str) -> String {
    let diagnostics = match yaml::parse("event.yaml", text) {
        Ok(doc) => schema::validate(&doc, kind),
        Err(diagnostics) => diagnostics,
    };
    render(&diagnostics)
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the binary in the crate root; returns (exit code, stdout).
fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(args)
        .current_dir(ROOT)
        .env("GRAPH_CONNECTOR_LOG", "off")
        .output()
        .expect("the binary runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

const HEADER: &str = "resource: event\ntable: Contact\ncontent_type: text/x-vevent\n";

#[test]
fn yaml_syntax_errors_are_located() {
    insta::assert_snapshot!(
        schema_diagnostics(
            Kind::Mapping,
            "resource: event\nfields:\n  - crm: Subject\n    from: {path: $.subject\n  - crm: Date\n"
        ),
        @r"
    event.yaml:5:8: error: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'
      expected: well-formed YAML (check indentation, quotes and `key: value` pairs)
    "
    );
    insta::assert_snapshot!(
        schema_diagnostics(Kind::Mapping, "resource: event\n  table: Contact\n"),
        @r"
    event.yaml:2:8: error: invalid YAML: mapping values are not allowed in this context
      expected: well-formed YAML (check indentation, quotes and `key: value` pairs)
    "
    );
}

#[test]
fn duplicate_keys_are_errors() {
    insta::assert_snapshot!(
        schema_diagnostics(Kind::Mapping, &format!("{HEADER}direction: both\ntable: Tasks\n")),
        @r"
    event.yaml:5:1: error: duplicate key `table` (first defined at line 2)
      expected: each key at most once per mapping
    "
    );
}

#[test]
fn unknown_keys_name_the_allowed_ones_and_the_closest() {
    let text = format!(
        "{HEADER}direction: both\ndescripton: x\nfields:\n  - crm: Subject\n    form:\n      path: $.subject\n    convert:\n      - truncat: 80\n"
    );
    insta::assert_snapshot!(schema_diagnostics(Kind::Mapping, &text), @r"
    event.yaml:5:1: error: unknown key `descripton` at the top level
      expected: one of: resource, table, content_type, form, direction, description, all_day, floating_dates, selection, filters, fields, catalogs, participants, deletion, form_fields, sync
      hint: did you mean `description`?
    event.yaml:8:5: error: unknown key `form` in `fields[0]`
      expected: one of: crm, from, convert, when, direction, reverse
      hint: did you mean `from`?
    event.yaml:11:9: error: unknown key `truncat` in `fields[0].convert[0]`
      expected: exactly one of the keys: duration, duration_unit, truncate, catalog, map, join, default
      hint: did you mean `truncate`?
    ");
}

#[test]
fn wrong_types_say_what_was_found_and_expected() {
    let text = format!(
        "{HEADER}direction: both\nselection:\n  resolved_participant: yes\nfields:\n  - crm: Subject\n    from:\n      path: 12\n    convert: trim\n"
    );
    insta::assert_snapshot!(schema_diagnostics(Kind::Mapping, &text), @r"
    event.yaml:6:25: error: wrong type for `selection.resolved_participant`: found text
      expected: a boolean (`true` or `false`)
      hint: YAML 1.2 reads `yes` as text; write `true` or `false`
    event.yaml:10:13: error: wrong type for `fields[0].from.path`: found an integer
      expected: text
    event.yaml:11:14: error: wrong type for `fields[0].convert`: found text
      expected: a list
      hint: write a list: `[trim]`
    ");
}

#[test]
fn bad_enum_values_list_the_allowed_values() {
    let text = format!(
        "{HEADER}direction: bothways\nfilters:\n  field: ConnectorDeleted\n  op: \"==\"\n  value: true\nfields:\n  - crm: Subject\n    from:\n      path: $.subject\n    convert: [dat]\n"
    );
    insta::assert_snapshot!(schema_diagnostics(Kind::Mapping, &text), @r"
    event.yaml:4:12: error: unknown value `bothways` for `direction`
      expected: one of: graph_to_crm, crm_to_graph, both
      hint: did you mean `both`?
    event.yaml:7:7: error: unknown value `==` for `filters.op`
      expected: one of: =, !=, <, >, <=, >=, contains
      hint: did you mean `=`?
    event.yaml:13:15: error: unknown value `dat` for `fields[0].convert[0]`
      expected: one of: date, end_date, time, boolean, html_to_text, trim
      hint: did you mean `date`?
    ");
}

#[test]
fn a_mapping_with_five_mistakes_gives_five_located_diagnostics_in_one_run() {
    let (code, stdout) = run(&[
        "validate",
        "--format",
        "json",
        "tests/data/validate/five-mistakes/event.yaml",
    ]);
    assert_eq!(code, 1, "{stdout}");
    let list: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let located: Vec<(u64, u64, &str)> = list
        .iter()
        .map(|d| {
            assert_eq!(d["file"], "tests/data/validate/five-mistakes/event.yaml");
            assert_eq!(d["severity"], "error");
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                d["message"].as_str().unwrap(),
            )
        })
        .collect();
    // The lines carry the numbered comments of the fixture: 1 and 2 from the schema, 3 to 5 from the
    // semantic checks.
    let lines: Vec<u64> = located.iter().map(|(l, ..)| *l).collect();
    assert_eq!(lines, vec![8, 12, 16, 21, 24], "{located:#?}");
    assert!(located[0].2.contains("unknown key `descripton`"));
    assert!(located[1].2.contains("JSONPath"));
    assert!(located[2].2.contains("unknown value `dat`"));
    assert!(located[3].2.contains("show_az"));
    assert!(located[4].2.contains("itm"));
    assert!(list.iter().all(|d| d["expected"].is_string()), "{list:#?}");
}

#[test]
fn every_problem_of_every_file_in_one_run() {
    let (code, stdout) = run(&["validate", "tests/data/validate/two-files"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stdout, @r"
    tests/data/validate/two-files/event.yaml:9:15: error: unknown value `trimm` for `fields[0].convert[0]`
      expected: one of: date, end_date, time, boolean, html_to_text, trim
      hint: did you mean `trim`?
    tests/data/validate/two-files/task.yaml:7:5: error: unknown key `form` in `fields[0]`
      expected: one of: crm, from, convert, when, direction, reverse
      hint: did you mean `from`?
    2 errors, 0 warnings in 2 files
    ");
}

#[test]
fn json_format_is_a_list_of_located_diagnostics() {
    let (code, stdout) = run(&[
        "validate",
        "--format",
        "json",
        "tests/data/validate/broken-yaml/event.yaml",
    ]);
    assert_eq!(code, 1);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let list = list.as_array().expect("a JSON list");
    assert_eq!(list.len(), 1);
    let keys: Vec<&str> = list[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "file", "line", "column", "severity", "message", "expected", "hint"
        ]
    );
    assert_eq!(
        list[0]["file"],
        "tests/data/validate/broken-yaml/event.yaml"
    );
    assert_eq!(list[0]["line"], 6);
    assert_eq!(list[0]["severity"], "error");
}

#[test]
fn exit_codes() {
    // clean
    let (code, stdout) = run(&["validate", "tests/data/validate/clean"]);
    assert_eq!((code, stdout.as_str()), (0, "no problems in 2 files\n"));
    // errors
    assert_eq!(run(&["validate", "tests/data/validate/broken-yaml"]).0, 1);
    // warnings pass, unless denied
    let path = "tests/data/validate/warning-only/connector.yaml";
    let (code, stdout) = run(&["validate", path]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.ends_with("0 errors, 1 warning in 1 file\n"),
        "{stdout}"
    );
    assert_eq!(run(&["validate", "--deny-warnings", path]).0, 1);
    // could not run
    assert_eq!(run(&["validate", "tests/data/validate/no-such-dir"]).0, 2);
}

#[test]
fn a_config_next_to_mappings_is_checked_as_a_config() {
    let (code, stdout) = run(&["validate", "tests/data/validate/warning-only"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("warning-only/connector.yaml:5:18: warning: secret written literally"),
        "{stdout}"
    );
}

#[test]
fn unknown_template_names_the_available_ones() {
    let (code, stdout) = run(&["validate", "--template", "iso", "tests/data/validate/clean"]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with(
            "tests/data/validate/clean/templates: error: template `iso` not found (no file tests/data/validate/clean/templates/iso.yaml)\n  expected: one of: isi\n  hint: did you mean `isi`?\n"
        ),
        "{stdout}"
    );
}

#[test]
fn library_load_reports_the_same_problems() {
    let dir = Path::new(ROOT).join("tests/data/validate/five-mistakes");
    let failure = load::load_mappings(&dir, None).unwrap_err();
    assert_eq!(failure.diagnostics.len(), 5);
    let loaded = load::load_mappings(
        &Path::new(ROOT).join("tests/data/validate/clean"),
        Some("isi"),
    )
    .expect("the clean fixture loads");
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.files.len(), 2);
}

#[test]
fn shipped_mappings_and_example_config_are_clean() {
    let (code, stdout) = run(&["validate", "--config", "connector.example.yaml"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("no problems in "), "{stdout}");
    // Every overlay, not only the configured one.
    let (code, stdout) = run(&["validate", "mappings"]);
    assert_eq!(code, 0, "{stdout}");
}

/// Runs the binary in `dir` (relative to the crate root).
fn run_in(dir: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(args)
        .current_dir(Path::new(ROOT).join(dir))
        .env("GRAPH_CONNECTOR_LOG", "off")
        .output()
        .expect("the binary runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

#[test]
fn without_paths_the_config_and_its_mappings_are_checked() {
    let (code, stdout) = run_in("tests/data/validate/with-config", &["validate"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "no problems in 3 files\n"),
        "config + event.yaml + templates/isi.yaml"
    );
    let (code, stdout) = run_in("tests/data/validate/no-config", &["validate"]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            0,
            "note: connector.yaml not found; assuming the default config: mappings in mappings/, checked with every template overlay\nno problems in 1 file\n"
        )
    );
    // JSON keeps stdout machine-readable: the note goes to stderr
    let (code, stdout) = run_in(
        "tests/data/validate/no-config",
        &["validate", "--format", "json"],
    );
    assert_eq!((code, stdout.as_str()), (0, "[]\n"));
    let (code, _) = run_in(
        "tests/data/validate/no-config",
        &["validate", "--config", "missing.yaml"],
    );
    assert_eq!(code, 2);
}

#[test]
fn mapping_test_files_are_checked_against_their_schema() {
    let (code, stdout) = run(&[
        "validate",
        "tests/data/validate/bad-test-file/event.test.yaml",
    ]);
    assert_eq!(code, 1);
    let first = stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "tests/data/validate/bad-test-file/event.test.yaml:6:7: error: unknown key `feilds` in `cases[0].expect`"
    );
    assert!(stdout.contains("hint: did you mean `fields`?"), "{stdout}");
}

/// Filters are untagged unions of groups and conditions: each mistake is reported once, against the
/// alternative the writer meant, not as one error per alternative.
#[test]
fn nested_alternatives_report_the_closest_one() {
    let text = format!(
        "{HEADER}direction: both\nfilters:\n  all:\n    - field: ConnectorDeleted\n      op: \"=\"\n      valu: true\n    - field: ConnectorPublished\n      op: is\n      value: true\n    - alll: []\n"
    );
    insta::assert_snapshot!(schema_diagnostics(Kind::Mapping, &text), @r"
    event.yaml:9:7: error: unknown key `valu` in `filters.all[0]`
      expected: one of: field, op, value
      hint: did you mean `value`?
    event.yaml:11:11: error: unknown value `is` for `filters.all[1].op`
      expected: one of: =, !=, <, >, <=, >=, contains
    event.yaml:13:7: error: unknown key `alll` in `filters.all[2]`
      expected: exactly one of the keys: all, any, not
      hint: did you mean `all`?
    ");
}

#[test]
fn the_configs_template_and_mapping_dir_are_checked_at_their_lines() {
    let (code, stdout) = run_in("tests/data/validate/bad-config-refs", &["validate"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stdout, @r"
    connector.yaml:9:13: error: template `iso` not found (no file ../clean/templates/iso.yaml)
      expected: one of: isi
      hint: did you mean `isi`?
    1 error, 0 warnings in 2 files
    ");
    let (code, stdout) = run_in("tests/data/validate/bad-config-dir", &["validate"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stdout, @r"
    connector.yaml:8:8: error: mapping directory `nowhere` does not exist
      expected: a directory of mapping specs (relative to the config file)
    1 error, 0 warnings in 1 file
    ");
}

/// A resource file broken beyond reading (its `direction` is wrong) does not make the overlay's
/// changes to it look like changes to a resource that does not exist.
#[test]
fn an_unreadable_resource_file_causes_no_overlay_errors() {
    let (code, stdout) = run(&["validate", "tests/data/validate/unreadable-resource"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stdout, @r"
    tests/data/validate/unreadable-resource/event.yaml:4:12: error: unknown value `bothways` for `direction`
      expected: one of: graph_to_crm, crm_to_graph, both
      hint: did you mean `both`?
    1 error, 0 warnings in 2 files
    ");
}

#[test]
fn an_empty_mapping_directory_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let (code, stdout) = run(&["validate", path]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "{path}: warning: no mapping specs in this directory\n"
        )),
        "{stdout}"
    );
    assert_eq!(run(&["validate", "--deny-warnings", path]).0, 1);
}

/// The shipped mappings with a YAML syntax error in `event.yaml` and the `isi` overlay: the syntax
/// error is the only problem, not also "overlay changes resource `event`, which no mapping file
/// defines" or "no mapping uses form `vevent`".
#[test]
fn a_syntax_error_in_a_resource_file_is_its_only_diagnostic_under_an_overlay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    for name in [
        "event.yaml",
        "message.yaml",
        "task.yaml",
        "templates/isi.yaml",
    ] {
        std::fs::copy(
            Path::new(ROOT).join("mappings").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    let event = std::fs::read_to_string(dir.path().join("event.yaml")).unwrap();
    let broken = event.replacen("table: Contact\n", "table: [Contact\n", 1);
    assert_ne!(broken, event);
    std::fs::write(dir.path().join("event.yaml"), broken).unwrap();
    let path = dir.path().to_str().unwrap();
    let (code, stdout) = run(&["validate", path, "--template", "isi", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}");
    let diagnostics: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(diagnostics.len(), 1, "{stdout}");
    assert!(
        diagnostics[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("event.yaml"),
        "{stdout}"
    );
    assert_eq!(diagnostics[0]["severity"], "error");
}

#[test]
fn directory_files_and_emulator_seeds_get_located_errors_with_did_you_mean() {
    let dir = "tests/data/validate/seeds";
    let (code, stdout) = run(&[
        "validate",
        &format!("{dir}/crm-seed.yaml"),
        &format!("{dir}/graph-seed.yaml"),
        &format!("{dir}/graph-seed-zone.yaml"),
        &format!("{dir}/directory.yaml"),
    ]);
    assert_eq!(code, 1, "{stdout}");
    insta::assert_snapshot!(stdout, @r"
    tests/data/validate/seeds/crm-seed.yaml:2:42: error: unknown key `clent` in `master`
      expected: one of: user, password, client, language
      hint: did you mean `client`?
    tests/data/validate/seeds/crm-seed.yaml:9:29: error: unknown value `txt` for `tables[0].fields[1].type`
      expected: one of: text, number, bool, date, time, catalog, rep
      hint: did you mean `text`?
    tests/data/validate/seeds/directory.yaml:5:45: error: unknown key `nmae` in `persons[0]`
      expected: one of: email, id, name, fields
      hint: did you mean `name`?
    tests/data/validate/seeds/graph-seed-zone.yaml:7:15: error: `users[0].timeZone`: expected a Windows or IANA time zone name, found `Pacific Standrd Time`
    tests/data/validate/seeds/graph-seed.yaml:6:5: error: unknown key `userPrincipalNam` in `users[0]`
      expected: one of: id, displayName, userPrincipalName, mail, proxyAddresses, accountEnabled, userType, givenName, surname, jobTitle, mobilePhone, businessPhones, officeLocation, mailbox, timeZone, mailFolders, contactFolders, messages, events, contacts, todoLists
      hint: did you mean `userPrincipalName`?
    5 errors, 0 warnings in 4 files
    ");
}

#[test]
fn shipped_directory_and_seeds_are_clean() {
    let (code, stdout) = run(&[
        "validate",
        "mappings/examples/directory.yaml",
        "crates/emulator/src/crm/default-seed.yaml",
        "crates/emulator/src/graph/default-seed.yaml",
    ]);
    assert_eq!((code, stdout.as_str()), (0, "no problems in 3 files\n"));
}

#[test]
fn seeds_and_directories_are_classified_by_content_then_name() {
    let classify = |name: &str, text: &str| {
        let doc = yaml::parse(name, text).ok();
        load::classify(Path::new(name), doc.as_ref())
    };
    use graph_connector::spec::schema::Kind::*;
    assert_eq!(classify("x.yaml", "tenant: {id: a}\n"), GraphSeed);
    assert_eq!(
        classify("x.yaml", "master: {user: OCSU}\nreps: []\n"),
        CrmSeed
    );
    assert_eq!(classify("x.yaml", "reps: []\n"), Directory);
    assert_eq!(classify("x.yaml", "persons: []\n"), Directory);
    assert_eq!(classify("crm/seed.yaml", "{"), CrmSeed);
    assert_eq!(classify("graph/my-seed.yaml", "{"), GraphSeed);
    assert_eq!(classify("directory.yaml", "{"), Directory);
    assert_eq!(classify("x.yaml", "resource: event\n"), Mapping);
}
