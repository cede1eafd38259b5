//! Mapping test files: the shipped `mappings/*.test.yaml` pass, and a wrong expectation fails loudly.

use std::{path::Path, process::Command};

use graph_connector::mapping_tests::run_dir;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_mapping_tests_pass() {
    let report = run_dir(&root().join("mappings"));
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| {
            c.failure
                .as_ref()
                .map(|f| format!("{}: {} [{:?}]\n{f}", c.file, c.name, c.template))
        })
        .collect();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
    assert!(
        report.cases.len() >= 50,
        "only {} cases",
        report.cases.len()
    );
    for resource in ["event", "message", "task", "contact", "absence"] {
        assert!(
            report
                .cases
                .iter()
                .any(|c| c.file.ends_with(&format!("{resource}.test.yaml"))),
            "no cases for {resource}"
        );
    }
}

#[test]
fn a_wrong_expectation_is_reported_with_a_diff() {
    let report = run_dir(&root().join("tests/data/mapping/failing"));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.cases.len(), 2);
    assert_eq!(report.cases[0].failure, None);
    let diff = report.cases[1]
        .failure
        .as_deref()
        .expect("the wrong case fails");
    pretty_assertions::assert_eq!(
        diff,
        "  field `Date`:\n    - expected: \"2025-03-04\"\n    + actual:   \"2025-03-05\"\n  field `Subject`: expected absent, found \"Hello\"\n"
    );
    assert_eq!(report.failures(), 1);
}

#[test]
fn the_test_command_exits_1_on_failure_and_0_on_success() {
    let bin = env!("CARGO_BIN_EXE_graph-connector");
    let out = Command::new(bin)
        .args(["test", "tests/data/mapping/failing"])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  tests/data/mapping/failing/note.test.yaml: wrong expectation"),
        "{stdout}"
    );
    assert!(stdout.contains("2 cases: 1 passed, 1 failed"), "{stdout}");

    let out = Command::new(bin)
        .args(["test", "mappings"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A test file naming a resource no mapping defines: each case fails on its own line, with a hint.
#[test]
fn a_test_file_for_an_unknown_resource_fails_each_case_on_its_own_line() {
    let bin = env!("CARGO_BIN_EXE_graph-connector");
    let out = Command::new(bin)
        .args(["test", "tests/data/mapping/unknown-resource"])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let failure = "  no mapping for resource `nte` (expected one of: note); did you mean `note`?";
    pretty_assertions::assert_eq!(
        stdout,
        format!(
            "FAILED  tests/data/mapping/unknown-resource/note.test.yaml: first case\n{failure}\n\
             FAILED  tests/data/mapping/unknown-resource/note.test.yaml: second case\n{failure}\n\
             \n2 cases: 0 passed, 2 failed\n"
        )
    );
}

/// Mappings that do not load under the base nor under a template: each problem is reported once.
#[test]
fn a_broken_mapping_is_reported_once_whatever_the_templates_of_the_cases() {
    let report = run_dir(&root().join("tests/data/mapping/broken-under-two-templates"));
    let errors: Vec<String> = report
        .errors
        .iter()
        .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
        .collect();
    pretty_assertions::assert_eq!(
        errors,
        vec![format!(
            "{}/tests/data/mapping/broken-under-two-templates/note.yaml:10:26: unknown catalog `nope`",
            root().display()
        )]
    );
    assert_eq!(report.cases.len(), 2);
    assert!(report.cases.iter().all(|c| c.failure.is_some()));
}
