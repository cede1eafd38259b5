//! Field lengths (issue 11, item 14): an over-long text is cut to its CRM field's length with a marker and a
//! warning, so the record syncs instead of being refused on every retry, and the cut is no edit afterwards.

use graph_connector::emulator::graph::ItemKind;
use serde_json::json;

use super::{ANA, Fixture, assert_ok};

#[tokio::test]
async fn an_over_long_subject_and_location_are_cut_with_a_marker_and_a_warning() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let date = fx.world.day(2);
    // 300 characters, multi-byte ones included: lengths count characters, not bytes.
    let subject: String = "Grüße ✓ ".repeat(38).chars().take(300).collect();
    assert_eq!(subject.chars().count(), 300);
    let location: String = "Conference room B, Münchner Straße ".repeat(10);
    fx.sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": subject,
                "location": {"displayName": location},
                "start": {"dateTime": format!("{date}T09:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T10:00:00"), "timeZone": "W. Europe Standard Time"},
            }),
        )
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    let cut: String = subject.chars().take(254).chain(['…']).collect();
    let records = fx.records_where("Contact", "Subject", &cut);
    assert_eq!(
        records.len(),
        1,
        "the cut subject was not written:\n{report}"
    );
    let loc = &records[0]["A031Location"];
    assert_eq!(loc.chars().count(), 255, "{loc}");
    assert!(loc.ends_with('…'), "{loc}");
    let notes: Vec<&String> = report.mailboxes.iter().flat_map(|m| &m.notes).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Subject")
                && n.contains("300 characters cut to the field length 255")),
        "no warning names the cut subject: {notes:#?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("A031Location")),
        "no warning names the cut location: {notes:#?}"
    );
    // The cut is what the CRM holds, not an edit: the next cycles write nothing either way.
    let next = fx.cycle().await;
    assert_ok(&next);
    assert_eq!(next.writes(), 0, "{next}");
    let event = fx.item_by(ANA, ItemKind::Event, "subject", &subject);
    assert_eq!(
        event["subject"],
        json!(subject),
        "the Graph subject was rewritten"
    );
    fx.close().await;
}
