//! Semantic checks of mapping specs (`check::check`): every problem reported, located, with expectations.

use std::path::Path;

use graph_connector::{
    check::{Source, check},
    diag::Diagnostic,
    load,
    spec::{MappingSpec, OverlaySpec, schema::Kind, yaml},
};
use pretty_assertions::assert_eq;

fn data(dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/mapping")
        .join(dir)
}

fn short(d: &Diagnostic) -> String {
    let file = Path::new(&d.file).file_name().unwrap().to_string_lossy();
    let message = d
        .message
        .replace(concat!(env!("CARGO_MANIFEST_DIR"), "/"), "");
    format!("{file}:{}:{}: {message}", d.line, d.column)
}

/// Checks YAML texts directly (mapping files, then an optional overlay named `NAME.yaml`).
fn check_texts(mappings: &[&str], overlay: Option<(&str, &str)>) -> Vec<Diagnostic> {
    let docs: Vec<_> = mappings
        .iter()
        .enumerate()
        .map(|(i, t)| yaml::parse(&format!("m{i}.yaml"), t).expect("valid YAML"))
        .collect();
    let specs: Vec<MappingSpec> = docs
        .iter()
        .map(|d| {
            let read = load::spec_from_document::<MappingSpec>(d, Kind::Mapping);
            assert_eq!(
                read.diagnostics,
                vec![],
                "schema problems in the test input"
            );
            read.spec.unwrap()
        })
        .collect();
    let ov_doc = overlay.map(|(name, t)| yaml::parse(name, t).expect("valid YAML"));
    let ov_spec: Option<OverlaySpec> = ov_doc.as_ref().map(|d| {
        let read = load::spec_from_document::<OverlaySpec>(d, Kind::Overlay);
        assert_eq!(
            read.diagnostics,
            vec![],
            "schema problems in the test overlay"
        );
        read.spec.unwrap()
    });
    let sources: Vec<_> = docs
        .iter()
        .zip(&specs)
        .map(|(doc, spec)| Source { doc, spec })
        .collect();
    let overlay = ov_doc
        .as_ref()
        .zip(ov_spec.as_ref())
        .map(|(doc, spec)| Source { doc, spec });
    let out = check(&sources, overlay);
    assert_eq!(
        out.model.is_some(),
        !out.diagnostics.iter().any(Diagnostic::is_error),
        "a model exactly when there is no error"
    );
    out.diagnostics
}

#[test]
fn five_mistakes_give_five_located_diagnostics_in_one_run() {
    let failure = load::load_mappings(&data("five-mistakes"), None).unwrap_err();
    let got: Vec<String> = failure.diagnostics.iter().map(short).collect();
    assert_eq!(
        got,
        vec![
            "event.yaml:10:19: invalid JSONPath `$.subject[`: at character 11: expected selector",
            "event.yaml:12:23: template uses unknown variable `itme`",
            "event.yaml:15:26: unknown catalog `show_ass`",
            "event.yaml:16:10: two rules write CRM field `Subject` (the other one is at tests/data/mapping/five-mistakes/event.yaml:9:10)",
            "event.yaml:18:10: CRM field `Subjekt` is not in the vevent field list of template `base`",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    );
    let hints: Vec<Option<&str>> = failure
        .diagnostics
        .iter()
        .map(|d| d.hint.as_deref())
        .collect();
    assert_eq!(hints[1], Some("did you mean `item`?"));
    assert_eq!(hints[2], Some("did you mean `show_as`?"));
    assert_eq!(hints[4], Some("did you mean `Subject`?"));
    assert_eq!(
        failure.diagnostics[4].expected.as_deref(),
        Some("one of: StatNo, SeqNo, Subject, Text, ShowAs, ConnectorDeleted")
    );
}

#[test]
fn overlay_mistakes_are_located_in_the_overlay() {
    let failure = load::load_mappings(&data("five-mistakes"), Some("broken")).unwrap_err();
    let got: Vec<String> = failure
        .diagnostics
        .iter()
        .filter(|d| d.file.ends_with("broken.yaml"))
        .map(short)
        .collect();
    assert_eq!(
        got,
        vec![
            "broken.yaml:5:11: the `vevent` field list lacks `SeqNo`, part of the `Contact` record key",
            "broken.yaml:8:12: overlay drops CRM field `Lokation`, which the base `event` mapping does not write",
            "broken.yaml:10:14: CRM field `A031Locaton` is not in the vevent field list of template `broken`",
            "broken.yaml:14:24: unknown CRM catalog value `Out of offise`",
        ]
    );
    let typo = failure
        .diagnostics
        .iter()
        .find(|d| d.message.contains("A031Locaton"))
        .unwrap();
    assert_eq!(typo.hint.as_deref(), Some("did you mean `A031Location`?"));
}

const BASE: &str = r#"
resource: event
table: Contact
content_type: text/x-vevent
form: vevent
direction: both
fields:
  - crm: Subject
    from: { path: $.subject }
  - crm: ShowAs
    from: { path: $.showAs }
    convert: [{ catalog: show_as }]
catalogs:
  show_as: { values: { busy: Busy }, default: Busy }
participants:
  from: [{ path: "$.attendees[*]", role_path: $.type }]
  missing:
    mode: replace
    field: MissingParticipants
    texts:
      en: { header: "Unassigned participants:", required: "To: ", optional: "CC: ", informational: "BCC: ", unknown: "Unknown: " }
"#;

#[test]
fn the_shipped_shape_checks_clean() {
    assert_eq!(check_texts(&[BASE], None), vec![]);
}

#[test]
fn template_syntax_errors_and_unknown_filters() {
    let text = BASE.replace(
        "    from: { path: $.subject }",
        "    from: { template: \"{{ item.subject | shout }} {% if %}\" }",
    );
    let got: Vec<String> = check_texts(&[&text], None).iter().map(short).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0],
        "m0.yaml:9:23: template syntax error: unexpected end of block (template line 1)"
    );

    let text = BASE.replace(
        "    from: { path: $.subject }",
        "    from: { template: \"{{ item.subject | uper }}\" }",
    );
    let diags = check_texts(&[&text], None);
    assert_eq!(
        diags.iter().map(short).collect::<Vec<_>>(),
        vec!["m0.yaml:9:23: template uses unknown filter `uper`"]
    );
    assert_eq!(diags[0].hint.as_deref(), Some("did you mean `upper`?"));
}

#[test]
fn missing_english_texts_bad_sensitivity_and_role_conflicts() {
    let text = BASE
        .replace("      en: {", "      de: {")
        .replace("role_path: $.type }", "role_path: $.type, role: required }")
        + "selection: { sensitivity: [normal, privat] }\n";
    let got: Vec<String> = check_texts(&[&text], None).iter().map(short).collect();
    assert_eq!(
        got,
        vec![
            "m0.yaml:22:36: unknown sensitivity `privat`",
            "m0.yaml:16:10: a participant source needs exactly one of `role` and `role_path`",
            "m0.yaml:21:7: missing-participants texts lack `en`, the fallback language",
        ]
    );
}

#[test]
fn overlay_override_add_and_rename_must_match_the_base() {
    let overlay = r#"
template: t
resources:
  event:
    rename: { Subjct: Title }
    override:
      - crm: Location
        from: { path: $.location.displayName }
    add:
      - crm: Subject
        from: { const: x }
  evnt:
    drop: [Subject]
"#;
    let got: Vec<String> = check_texts(&[BASE], Some(("t.yaml", overlay)))
        .iter()
        .map(short)
        .collect();
    assert_eq!(
        got,
        vec![
            "t.yaml:12:3: overlay changes resource `evnt`, which no mapping file defines",
            "t.yaml:5:15: overlay renames CRM field `Subjct`, which the base `event` mapping does not write",
            "t.yaml:7:14: overlay overrides CRM field `Location`, which the base `event` mapping does not write",
            "t.yaml:10:14: overlay adds a rule for CRM field `Subject`, which the base `event` mapping already writes",
        ]
    );
}

#[test]
fn a_participant_field_also_written_by_a_rule_is_reported() {
    let text = BASE.replace("crm: Subject", "crm: MissingParticipants");
    let got: Vec<String> = check_texts(&[&text], None).iter().map(short).collect();
    assert_eq!(
        got,
        vec![
            "m0.yaml:19:12: two rules write CRM field `MissingParticipants` (the other one is at m0.yaml:8:10)"
        ]
    );
}

#[test]
fn two_reverse_rules_writing_one_graph_property_are_reported() {
    let text = BASE
        .replace(
            "    from: { path: $.subject }",
            "    from: { path: $.subject }\n    reverse: { to: subject }",
        )
        .replace(
            "    convert: [{ catalog: show_as }]",
            "    convert: [{ catalog: show_as }]\n    reverse: { to: subject }",
        );
    let got: Vec<String> = check_texts(&[&text], None).iter().map(short).collect();
    assert_eq!(
        got,
        vec![
            "m0.yaml:14:20: two rules write Graph property `subject` (the other one is at m0.yaml:10:20)"
        ]
    );
}

#[test]
fn rules_that_never_run_and_unknown_content_types_are_warnings() {
    let text = BASE
        .replace("direction: both", "direction: graph_to_crm")
        .replace("content_type: text/x-vevent", "content_type: text/x-vevnt")
        .replace(
            "    from: { path: $.subject }",
            "    from: { path: $.subject }\n    reverse: { to: subject }",
        )
        .replace(
            "    convert: [{ catalog: show_as }]",
            "    convert: [{ catalog: show_as }]\n    direction: crm_to_graph",
        );
    let diags = check_texts(&[&text], None);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    assert_eq!(
        diags.iter().map(short).collect::<Vec<_>>(),
        vec![
            "m0.yaml:4:15: `text/x-vevnt` is not a CRM groupware content type",
            "m0.yaml:10:14: the reverse part of the rule for `Subject` never runs (the rule runs graph_to_crm only)",
            "m0.yaml:14:16: the rule for `ShowAs` never runs: the `event` mapping's direction excludes its direction",
        ]
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("did you mean `text/x-vevent`?")
    );
}

#[test]
fn the_shipped_mappings_check_clean_under_every_template() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    for template in [None, Some("isi")] {
        let loaded = load::load_mappings(&dir, template)
            .unwrap_or_else(|f| panic!("{template:?}: {:#?}", f.diagnostics));
        assert_eq!(loaded.diagnostics, vec![], "{template:?}");
        let names: Vec<&str> = loaded.model.resources.keys().map(String::as_str).collect();
        assert_eq!(names, ["absence", "contact", "event", "message", "task"]);
    }
}

#[test]
fn max_length_only_for_fields_the_participants_write() {
    let text = BASE.to_string() + "  max_length: { MissingParticipant: 4000 }\n";
    let overlay = "template: t\nresources:\n  event:\n    participants:\n      max_length: { Participants: 0 }\n";
    let diags = check_texts(&[&text], Some(("t.yaml", overlay)));
    let got: Vec<String> = diags.iter().map(short).collect();
    assert_eq!(
        got,
        vec![
            "m0.yaml:22:37: `max_length` for CRM field `MissingParticipant`, which the participant settings do not write",
            "t.yaml:5:35: `max_length` for CRM field `Participants`, which the participant settings do not write",
        ]
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("did you mean `MissingParticipants`?")
    );
    assert_eq!(
        diags[1].expected.as_deref(),
        Some("one of: MissingParticipants")
    );
}

#[test]
fn sync_settings_name_form_fields_and_shares_in_range() {
    let text = "resource: event
table: Contact
content_type: text/x-vevent
form: vevent
direction: both
fields:
  - crm: Subject
    from: { path: $.subject }
sync:
  conflict: manual
  field_conflicts: { Subjekt: graph-wins }
  mass_delete: { share: 1.5 }
form_fields: [StatNo, SeqNo, Subject, ConnectorDeleted]
";
    let got: Vec<String> = check_texts(&[text], None).iter().map(short).collect();
    assert_eq!(
        got,
        vec![
            "m0.yaml:11:31: CRM field `Subjekt` is not in the vevent field list of template `base`"
                .to_string(),
            "m0.yaml:12:25: share 1.5 is not a share of the linked items".to_string(),
        ]
    );
}
