//! Every length rule of the mapping core at its boundary: a text of exactly the limit is kept whole without
//! a warning, one character more is cut with one. Limits count characters (Unicode scalar values, as the
//! spec documents: "field length, in characters"), never bytes, so each rule also gets a multi-byte case.

use graph_connector_core::{
    check::{self, Source},
    limits::MAX_PARTICIPANTS,
    mapping::{self, Context, Directory, DirectoryEntry, FieldValue},
    model::MappingSet,
    spec::{MappingSpec, yaml},
};
use indexmap::IndexMap;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// A small event mapping whose limits are easy to count: `Subject` cut at 5 both ways, rep ids (`,`-joined)
/// at 8, names at 12, the missing-participants block (replace mode) at 10.
const LIMITS: &str = r#"
resource: event
table: Contact
content_type: text/x-vevent
direction: both
fields:
  - crm: Subject
    from: { path: $.subject }
    convert: [{ truncate: 5 }]
    reverse: { to: subject, convert: [{ truncate: 5 }] }
participants:
  from:
    - { path: $.attendees, role_path: $.type }
  resolved:
    rep_ids: ParticipantID
    names: Participants
    separator: ","
  missing:
    mode: replace
    field: MissingParticipants
    texts:
      en: { header: "Ü", required: "R:", optional: "O:", informational: "I:", unknown: "U:", more: "+{n}" }
  max_length: { ParticipantID: 8, Participants: 12, MissingParticipants: 10 }
"#;

fn model(text: &str) -> MappingSet {
    let doc = yaml::parse("limits.yaml", text).unwrap_or_else(|d| panic!("{d:#?}"));
    let spec: MappingSpec = serde_json::from_value(doc.value.clone()).unwrap();
    let checked = check::check(
        &[Source {
            doc: &doc,
            spec: &spec,
        }],
        None,
    );
    checked
        .model
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics))
}

/// Reps whose ids and names add up to the limits above: R1, R2, R3 (8 characters joined) or R1, R2, R33
/// (9); Zoë, Jörg, Åsa (12 characters, 15 bytes) or Zoë, Jörg, Åsaa (13).
fn context() -> Context {
    let rep = |email: &str, id: &str, name: &str| DirectoryEntry {
        email: email.into(),
        id: id.into(),
        name: name.into(),
        fields: Default::default(),
    };
    let mut ctx = Context::new("UTC").unwrap();
    ctx.directory = Directory {
        reps: vec![
            rep("zoe@contoso.com", "R1", "Zoë"),
            rep("joerg@contoso.com", "R2", "Jörg"),
            rep("asa@contoso.com", "R3", "Åsa"),
            rep("asaa@contoso.com", "R33", "Åsaa"),
        ],
        persons: vec![],
    };
    ctx
}

fn attendees(addresses: &[&str]) -> Value {
    let list: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"type": "required", "emailAddress": {"address": a}}))
        .collect();
    json!({"subject": "s", "attendees": list})
}

fn text(v: Option<&FieldValue>) -> Option<&str> {
    match v {
        Some(FieldValue::Text(t)) => Some(t),
        _ => None,
    }
}

fn subject_to_crm(subject: &str) -> (Option<String>, Vec<String>) {
    let set = model(LIMITS);
    let res = set.resource("event").unwrap();
    let rec = mapping::to_crm(&set, res, &json!({"subject": subject}), &context());
    (
        text(rec.fields.get("Subject")).map(str::to_owned),
        rec.warnings,
    )
}

fn subject_to_graph(subject: &str) -> (Value, Vec<String>) {
    let set = model(LIMITS);
    let res = set.resource("event").unwrap();
    let fields: IndexMap<String, Value> = [("Subject".to_owned(), json!(subject))].into();
    let out = mapping::to_graph(&set, res, &fields, &context());
    (out.body["subject"].clone(), out.warnings)
}

#[test]
fn truncate_keeps_a_text_of_exactly_the_limit_and_cuts_one_more_graph_to_crm() {
    assert_eq!(subject_to_crm("abcde"), (Some("abcde".into()), vec![]));
    // One more: the first four characters and the marker, five in all.
    let (cut, warnings) = subject_to_crm("abcdef");
    assert_eq!(cut.as_deref(), Some("abcd…"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("6 characters cut to the field length 5"),
        "{warnings:?}"
    );
}

#[test]
fn truncate_counts_characters_not_bytes_graph_to_crm() {
    // Five characters, fourteen bytes in UTF-8.
    assert_eq!(subject_to_crm("ÄÖÜ€😀"), (Some("ÄÖÜ€😀".into()), vec![]));
    let (cut, warnings) = subject_to_crm("ÄÖÜ€😀ß");
    assert_eq!(cut.as_deref(), Some("ÄÖÜ€…"), "cut at a character boundary");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn truncate_keeps_a_text_of_exactly_the_limit_and_cuts_one_more_crm_to_graph() {
    assert_eq!(subject_to_graph("abcde"), (json!("abcde"), vec![]));
    assert_eq!(subject_to_graph("ÄÖÜ€😀"), (json!("ÄÖÜ€😀"), vec![]));
    let (cut, warnings) = subject_to_graph("abcdef");
    assert_eq!(cut, json!("abcd…"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let (cut, warnings) = subject_to_graph("ÄÖÜ€😀ß");
    assert_eq!(cut, json!("ÄÖÜ€…"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn resolved_participant_fields_of_exactly_their_length_are_kept_whole() {
    let set = model(LIMITS);
    let res = set.resource("event").unwrap();
    let item = attendees(&["zoe@contoso.com", "joerg@contoso.com", "asa@contoso.com"]);
    let rec = mapping::to_crm(&set, res, &item, &context());
    // 8 characters; 12 characters in 15 bytes.
    assert_eq!(text(rec.fields.get("ParticipantID")), Some("R1,R2,R3"));
    assert_eq!(text(rec.fields.get("Participants")), Some("Zoë,Jörg,Åsa"));
    assert_eq!(rec.warnings, Vec::<String>::new());
}

#[test]
fn resolved_participant_fields_one_character_over_are_cut_at_an_entry_with_a_warning() {
    let set = model(LIMITS);
    let res = set.resource("event").unwrap();
    let item = attendees(&["zoe@contoso.com", "joerg@contoso.com", "asaa@contoso.com"]);
    let rec = mapping::to_crm(&set, res, &item, &context());
    // "R1,R2,R33" is 9: ids are cut without a marker. "Zoë,Jörg,Åsaa" is 13: names end with the marker.
    assert_eq!(text(rec.fields.get("ParticipantID")), Some("R1,R2"));
    assert_eq!(text(rec.fields.get("Participants")), Some("Zoë,Jörg,+1"));
    assert_eq!(rec.warnings.len(), 2, "{:?}", rec.warnings);
    assert!(
        rec.warnings.iter().any(|w| w.starts_with("ParticipantID:"))
            && rec.warnings.iter().any(|w| w.starts_with("Participants:")),
        "each warning names its field: {:?}",
        rec.warnings
    );
}

#[test]
fn missing_block_of_exactly_max_length_is_kept_whole() {
    let set = model(LIMITS);
    let res = set.resource("event").unwrap();
    // "Ü\nR:x@e.io": 10 characters, 11 bytes.
    let rec = mapping::to_crm(&set, res, &attendees(&["x@e.io"]), &context());
    assert_eq!(
        text(rec.fields.get("MissingParticipants")),
        Some("Ü\nR:x@e.io")
    );
    assert_eq!(rec.warnings, Vec::<String>::new());
}

#[test]
fn missing_block_one_character_over_max_length_is_cut_with_a_warning() {
    let set = model(LIMITS);
    let res = set.resource("event").unwrap();
    let rec = mapping::to_crm(&set, res, &attendees(&["xy@e.io"]), &context());
    assert_eq!(text(rec.fields.get("MissingParticipants")), Some("Ü\n+1"));
    assert_eq!(rec.warnings.len(), 1, "{:?}", rec.warnings);
    assert!(
        rec.warnings[0].starts_with("MissingParticipants:"),
        "{:?}",
        rec.warnings
    );
}

#[test]
fn participants_of_one_item_are_resolved_up_to_the_limit_and_one_more_is_left_out_with_a_warning() {
    // The same mapping without field lengths: every participant resolved shows in the block.
    let unlimited = LIMITS.replace(
        "max_length: { ParticipantID: 8, Participants: 12, MissingParticipants: 10 }",
        "",
    );
    let set = model(&unlimited);
    let res = set.resource("event").unwrap();
    let addresses: Vec<String> = (0..=MAX_PARTICIPANTS)
        .map(|i| format!("guest{i}@example.org"))
        .collect();
    let lines = |n: usize| {
        let refs: Vec<&str> = addresses[..n].iter().map(String::as_str).collect();
        let rec = mapping::to_crm(&set, res, &attendees(&refs), &context());
        let block = text(rec.fields.get("MissingParticipants"))
            .unwrap()
            .to_owned();
        (block.lines().count() - 1, rec.warnings)
    };
    assert_eq!(lines(MAX_PARTICIPANTS), (MAX_PARTICIPANTS, vec![]));
    let (n, warnings) = lines(MAX_PARTICIPANTS + 1);
    assert_eq!(n, MAX_PARTICIPANTS);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("1 participants left out"),
        "{warnings:?}"
    );
}
