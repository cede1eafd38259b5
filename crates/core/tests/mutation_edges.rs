//! Behaviours of the mapping core that a mutation run (issue 12) found unpinned: `when:` truthiness, the
//! unit `duration_unit` picks, HTML attributes and end tags, named entities, an empty bearer token, and
//! the e-mail exclusion list's address check.

use graph_connector_core::{
    check::{self, Source},
    mapping::{self, Context, FieldValue, html::html_to_text},
    model::MappingSet,
    redact::redact_patterns,
    spec::{MappingSpec, yaml},
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const EVENT: &str = r#"
resource: event
table: Contact
content_type: text/x-vevent
direction: graph_to_crm
fields:
  - crm: ReminderDur
    when: $.flag
    from: { const: 15 }
  - crm: Unit
    from: { path: $.start }
    convert: [{ duration_unit: { end: $.end } }]
"#;

fn model(text: &str) -> Result<MappingSet, Vec<String>> {
    let doc = yaml::parse("m.yaml", text).unwrap_or_else(|d| panic!("{d:#?}"));
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
        .ok_or_else(|| checked.diagnostics.iter().map(|d| d.to_string()).collect())
}

fn to_crm(item: Value) -> mapping::CrmRecord {
    let set = model(EVENT).unwrap();
    let res = set.resource("event").unwrap();
    mapping::to_crm(&set, res, &item, &Context::new("UTC").unwrap())
}

#[test]
fn when_holds_only_for_present_truthy_values() {
    for flag in [
        json!(true),
        json!(1),
        json!("x"),
        json!([0]),
        json!({"a": 1}),
    ] {
        let rec = to_crm(json!({ "flag": flag }));
        assert!(rec.fields.contains_key("ReminderDur"), "{flag}");
    }
    for flag in [
        json!(false),
        json!(0),
        json!(""),
        json!([]),
        json!({}),
        Value::Null,
    ] {
        let rec = to_crm(json!({ "flag": flag }));
        assert!(!rec.fields.contains_key("ReminderDur"), "{flag}");
    }
    assert!(!to_crm(json!({})).fields.contains_key("ReminderDur"));
}

fn unit_of(minutes: i64) -> String {
    let start: jiff::Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
    let end = start + jiff::SignedDuration::from_mins(minutes);
    let at = |t: jiff::Timestamp| json!({"dateTime": t.strftime("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"});
    let rec = to_crm(json!({"start": at(start), "end": at(end)}));
    match rec.fields.get("Unit") {
        Some(FieldValue::Text(t)) => t.clone(),
        other => panic!("{minutes} min: {other:?}"),
    }
}

#[test]
fn duration_unit_picks_days_hours_or_minutes() {
    assert_eq!(unit_of(1440), "days");
    assert_eq!(unit_of(2880), "days");
    assert_eq!(unit_of(60), "hours");
    assert_eq!(unit_of(1500), "hours");
    assert_eq!(unit_of(90), "minutes");
    assert_eq!(unit_of(1450), "minutes");
}

#[test]
fn attributes_may_have_spaces_around_their_equals_sign() {
    assert_eq!(html_to_text(r#"<p title = "a > b">Hello</p>"#), "Hello");
    assert_eq!(html_to_text("<p class =\n'x > y'>Hello</p>"), "Hello");
}

#[test]
fn a_skipped_element_ends_only_at_its_own_end_tag() {
    assert_eq!(
        html_to_text("<style>p { x: 1 }</styles>still style</style>Visible"),
        "Visible"
    );
    assert_eq!(
        html_to_text("<script>a</scripts>b</SCRIPT >Visible"),
        "Visible"
    );
}

#[test]
fn named_entities_are_decoded() {
    assert_eq!(
        html_to_text("<p>Wait&hellip; and&nbsp;see &amp; more</p>"),
        "Wait… and see & more"
    );
}

#[test]
fn an_empty_bearer_token_leaves_the_text_alone() {
    for text in ["Authorization: Bearer ", "bearer  and more", "Bearer\n"] {
        assert_eq!(redact_patterns(text), text);
    }
    assert!(!redact_patterns("Authorization: Bearer eyJabc.def").contains("eyJabc"));
}

#[test]
fn the_exclusion_list_takes_only_addresses_and_domains() {
    let with = |entries: &str| {
        format!(
            "resource: message\ntable: Contact\ncontent_type: application/x-mmRecord\ndirection: graph_to_crm\nfields:\n  - crm: Subject\n    from: {{ path: $.subject }}\nsync:\n  exclude: [{entries}]\n"
        )
    };
    assert!(
        model(&with(
            "hr@contoso.com, family.example, \"@sub.example.org\""
        ))
        .is_ok()
    );
    for bad in ["\"not an address\"", "nodot", "\"a@b@c.com\"", "\"@\""] {
        let errors = model(&with(bad)).expect_err(bad);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("is neither an e-mail address nor a domain")),
            "{bad}: {errors:#?}"
        );
    }
}
