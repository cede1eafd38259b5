//! Rules of the shipped mappings that were pinned only by `mappings/*.test.yaml` cases, as Rust tests of the
//! core: the mailbox owner among attendees in any letter case, the missing-attendees block cleared in
//! replace mode, the all-day exclusive end both ways, and case-insensitive category selection.

use graph_connector_core::{
    check::{self, Source},
    mapping::{self, Context, Directory, DirectoryEntry, FieldValue},
    model::MappingSet,
    spec::{MappingSpec, OverlaySpec, yaml},
};
use indexmap::IndexMap;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const FILES: [(&str, &str); 5] = [
    (
        "absence.yaml",
        include_str!("../../../mappings/absence.yaml"),
    ),
    (
        "contact.yaml",
        include_str!("../../../mappings/contact.yaml"),
    ),
    ("event.yaml", include_str!("../../../mappings/event.yaml")),
    (
        "message.yaml",
        include_str!("../../../mappings/message.yaml"),
    ),
    ("task.yaml", include_str!("../../../mappings/task.yaml")),
];
const ISI: &str = include_str!("../../../mappings/templates/isi.yaml");

/// The shipped mappings, with the ISI overlay or without (built as `load` does).
fn set(isi: bool) -> MappingSet {
    let docs: Vec<_> = FILES
        .iter()
        .map(|(name, text)| yaml::parse(name, text).unwrap())
        .collect();
    let specs: Vec<MappingSpec> = docs
        .iter()
        .map(|doc| serde_json::from_value(doc.value.clone()).unwrap())
        .collect();
    let sources: Vec<Source<'_, MappingSpec>> = docs
        .iter()
        .zip(&specs)
        .map(|(doc, spec)| Source { doc, spec })
        .collect();
    let overlay_doc = yaml::parse("isi.yaml", ISI).unwrap();
    let overlay: OverlaySpec = serde_json::from_value(overlay_doc.value.clone()).unwrap();
    let overlay = isi.then_some(Source {
        doc: &overlay_doc,
        spec: &overlay,
    });
    let checked = check::check(&sources, overlay);
    checked
        .model
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics))
}

fn context(mailbox: &str) -> Context {
    let entry = |email: &str, id: &str, name: &str| DirectoryEntry {
        email: email.into(),
        id: id.into(),
        name: name.into(),
        fields: Default::default(),
    };
    let mut ctx = Context::new("W. Europe Standard Time").unwrap();
    ctx.mailbox = Some(mailbox.to_owned());
    ctx.directory = Directory {
        reps: vec![
            entry("ana@contoso.com", "ANA", "Ana Alvarez"),
            entry("ben@contoso.com", "BEN", "Ben Becker"),
        ],
        persons: vec![entry("juergen@northwind.de", "1-4", "Jürgen Jäger")],
    };
    ctx
}

fn text(v: Option<&FieldValue>) -> Option<&str> {
    match v {
        Some(FieldValue::Text(t)) => Some(t),
        _ => None,
    }
}

fn meeting(addresses: &[&str]) -> Value {
    let attendees: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"type": "required", "emailAddress": {"address": a}}))
        .collect();
    json!({
        "subject": "Planning",
        "start": {"dateTime": "2025-03-04T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-04T09:00:00.0000000", "timeZone": "UTC"},
        "attendees": attendees,
    })
}

#[test]
fn the_mailbox_owner_is_recognised_among_attendees_whatever_the_letter_case() {
    let set = set(true);
    let res = set.resource("event").unwrap();
    for (mailbox, attendee) in [
        ("ana@contoso.com", "ANA@CONTOSO.COM"),
        ("Ana@Contoso.COM", "ana@contoso.com"),
        ("ANA@contoso.com", "ana@CONTOSO.com"),
    ] {
        let item = meeting(&[attendee, "ben@contoso.com", "stranger@example.org"]);
        let rec = mapping::to_crm(&set, res, &item, &context(mailbox));
        let case = format!("mailbox {mailbox}, attendee {attendee}");
        assert_eq!(text(rec.fields.get("RepID")), Some("ANA"), "{case}");
        assert_eq!(
            text(rec.fields.get("ParticipantID")),
            Some("BEN"),
            "the owner is the record's rep, not a participant: {case}"
        );
        assert_eq!(
            text(rec.fields.get("Participants")),
            Some("Ben Becker"),
            "{case}"
        );
        assert_eq!(
            text(rec.fields.get("MissingParticipants")),
            Some("Unassigned participants:\nTo: stranger@example.org"),
            "{case}"
        );
    }
}

#[test]
fn an_owner_alias_is_recognised_whatever_the_letter_case() {
    let set = set(true);
    let res = set.resource("event").unwrap();
    let mut ctx = context("ana@contoso.com");
    ctx.mailbox_aliases = vec!["Ana.Alvarez@Contoso.com".into()];
    let item = meeting(&["ana.alvarez@CONTOSO.COM", "stranger@example.org"]);
    let rec = mapping::to_crm(&set, res, &item, &ctx);
    assert_eq!(
        text(rec.fields.get("MissingParticipants")),
        Some("Unassigned participants:\nTo: stranger@example.org"),
        "the owner's alias is no unresolved participant"
    );
}

#[test]
fn replace_mode_clears_a_block_that_no_longer_applies() {
    let set = set(true);
    let res = set.resource("event").unwrap();
    let ctx = context("ana@contoso.com");
    let before = mapping::to_crm(
        &set,
        res,
        &meeting(&["ben@contoso.com", "stranger@example.org"]),
        &ctx,
    );
    assert_eq!(
        text(before.fields.get("MissingParticipants")),
        Some("Unassigned participants:\nTo: stranger@example.org")
    );
    assert_eq!(
        before.fields.get("ConnectorMissingparticipants"),
        Some(&FieldValue::Bool(true))
    );
    // The stranger became a CRM person (or left the meeting): the update must write an empty block, not
    // leave the field out (which would keep the old block in the CRM).
    for after in [
        meeting(&["ben@contoso.com", "juergen@northwind.de"]),
        meeting(&["ben@contoso.com"]),
        meeting(&[]),
    ] {
        let rec = mapping::to_crm(&set, res, &after, &ctx);
        assert_eq!(
            rec.fields.get("MissingParticipants"),
            Some(&FieldValue::Text(String::new())),
            "{after}"
        );
        assert_eq!(
            rec.fields.get("ConnectorMissingparticipants"),
            Some(&FieldValue::Bool(false)),
            "{after}"
        );
    }
}

#[test]
fn append_mode_leaves_the_text_alone_when_every_attendee_is_resolved() {
    let set = set(false);
    let res = set.resource("event").unwrap();
    let mut item = meeting(&["ben@contoso.com"]);
    item["body"] = json!({"contentType": "text", "content": "Agenda"});
    let rec = mapping::to_crm(&set, res, &item, &context("ana@contoso.com"));
    assert_eq!(text(rec.fields.get("Text")), Some("Agenda"));
}

fn date(s: &str) -> FieldValue {
    FieldValue::Date(s.parse().unwrap())
}

#[test]
fn an_all_day_event_ends_on_its_last_day_in_the_crm() {
    let set = set(false);
    let res = set.resource("event").unwrap();
    for (tz, start, end, last, days) in [
        // One day, seen from a zone west of UTC: still that calendar day.
        (
            "Pacific Standard Time",
            "2025-03-10",
            "2025-03-11",
            "2025-03-10",
            1,
        ),
        (
            "W. Europe Standard Time",
            "2025-07-14",
            "2025-07-17",
            "2025-07-16",
            3,
        ),
    ] {
        let item = json!({
            "subject": "Away",
            "isAllDay": true,
            "start": {"dateTime": format!("{start}T00:00:00.0000000"), "timeZone": tz},
            "end": {"dateTime": format!("{end}T00:00:00.0000000"), "timeZone": tz},
        });
        let rec = mapping::to_crm(&set, res, &item, &Context::new(tz).unwrap());
        assert_eq!(rec.fields.get("Date"), Some(&date(start)), "{tz}");
        assert_eq!(
            rec.fields.get("EndDate"),
            Some(&date(last)),
            "Graph's end is exclusive, the CRM's inclusive ({tz})"
        );
        assert_eq!(rec.fields.get("Duration"), Some(&FieldValue::Int(days)));
        assert_eq!(text(rec.fields.get("Unit")), Some("Days"));
        assert!(
            !rec.fields.contains_key("Time") && !rec.fields.contains_key("EndTime"),
            "{:?}",
            rec.fields
        );
    }
}

#[test]
fn a_crm_appointment_without_times_ends_the_day_after_its_last_day_in_graph() {
    let set = set(false);
    let res = set.resource("event").unwrap();
    let ctx = Context::new("W. Europe Standard Time").unwrap();
    for (first, last, end) in [
        ("2025-07-14", "2025-07-16", "2025-07-17"),
        ("2025-03-10", "2025-03-10", "2025-03-11"),
        // The day after the last one crosses a month and a year.
        ("2025-12-31", "2025-12-31", "2026-01-01"),
    ] {
        let fields: IndexMap<String, Value> = [
            ("Subject".to_owned(), json!("Vacation")),
            ("Date".to_owned(), json!(first)),
            ("EndDate".to_owned(), json!(last)),
        ]
        .into();
        let out = mapping::to_graph(&set, res, &fields, &ctx);
        assert_eq!(out.warnings, Vec::<String>::new());
        assert_eq!(out.body["isAllDay"], json!(true));
        assert_eq!(
            out.body["start"]["dateTime"],
            json!(format!("{first}T00:00:00"))
        );
        assert_eq!(
            out.body["end"]["dateTime"],
            json!(format!("{end}T00:00:00")),
            "Graph's end is the midnight after the last day"
        );
        // And back: the same days in the CRM.
        let back = mapping::to_crm(&set, res, &out.body, &ctx);
        assert_eq!(back.fields.get("Date"), Some(&date(first)));
        assert_eq!(back.fields.get("EndDate"), Some(&date(last)));
    }
}

#[test]
fn the_crm_category_selects_a_message_whatever_its_letter_case() {
    let set = set(false);
    let res = set.resource("message").unwrap();
    let ctx = context("ana@contoso.com");
    let message = |categories: Value| {
        json!({
            "subject": "Newsletter",
            "categories": categories,
            "from": {"emailAddress": {"address": "news@example.org"}},
            "toRecipients": [{"emailAddress": {"address": "ana@contoso.com"}}],
        })
    };
    for cats in [
        json!(["CRM"]),
        json!(["crm"]),
        json!(["Crm"]),
        json!(["Family", "cRm"]),
    ] {
        assert!(
            mapping::selected(res, &message(cats.clone()), &ctx),
            "{cats}"
        );
    }
    for cats in [
        json!([]),
        json!(["Family"]),
        json!(["CRM-old"]),
        json!(null),
    ] {
        assert!(
            !mapping::selected(res, &message(cats.clone()), &ctx),
            "{cats}"
        );
    }
}
