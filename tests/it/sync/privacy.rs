//! Private items and meetings: busy blocks when the mapping says so; CRM edits of a meeting never rewrite
//! its body and never notify external attendees unless the mapping allows it.

use graph_connector::{emulator::graph::ItemKind, model::Privacy, transport::crm::Value};
use serde_json::json;

use super::{ANA, BEN, Fixture, assert_ok};

fn event(fx: &Fixture, subject: &str, day: i64, extra: serde_json::Value) -> String {
    let date = fx.world.day(day);
    let mut item = json!({
        "subject": subject,
        "body": {"contentType": "text", "content": "Confidential agenda"},
        "location": {"displayName": "Room 1"},
        "start": {"dateTime": format!("{date}T09:00:00"), "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": format!("{date}T10:00:00"), "timeZone": "W. Europe Standard Time"},
    });
    for (k, v) in extra.as_object().unwrap() {
        item[k] = v.clone();
    }
    fx.sandbox
        .graph
        .add_item(ANA, ItemKind::Event, None, item)
        .unwrap()
}

#[tokio::test]
async fn busy_only_writes_private_items_as_busy_blocks() {
    let mut fx = Fixture::start().await;
    fx.set_sync("event", |s| s.privacy = Some(Privacy::BusyOnly));
    event(
        &fx,
        "Doctor's appointment",
        2,
        json!({"sensitivity": "private"}),
    );
    event(&fx, "Team lunch", 3, json!({}));
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    let date = fx.world.day(2).to_string();
    let block: Vec<_> = fx
        .records_where("Contact", "Date", &date)
        .into_iter()
        .filter(|r| r.get("Private").map(String::as_str) == Some("true"))
        .collect();
    assert_eq!(block.len(), 1, "{block:#?}");
    let r = &block[0];
    for field in ["Subject", "Text", "A031Location", "F5044", "Participants"] {
        assert!(
            !r.contains_key(field),
            "a busy block carries `{field}`: {r:?}"
        );
    }
    assert_eq!(r["Time"], "09:00");
    assert!(
        fx.records_where("Contact", "Subject", "Doctor's appointment")
            .is_empty()
    );
    assert_eq!(
        fx.records_where("Contact", "Subject", "Team lunch").len(),
        1
    );
    fx.close().await;
}

#[tokio::test]
async fn by_default_private_items_sync_with_the_private_flag() {
    let fx = Fixture::start().await;
    event(
        &fx,
        "Doctor's appointment",
        2,
        json!({"sensitivity": "private"}),
    );
    assert_ok(&fx.cycle().await);
    let r = &fx.records_where("Contact", "Subject", "Doctor's appointment")[0];
    assert_eq!(r["Private"], "true");
    fx.close().await;
}

#[tokio::test]
async fn a_crm_edit_of_a_meeting_with_external_attendees_is_held_and_said() {
    let fx = Fixture::start().await;
    let id = event(
        &fx,
        "Negotiation Fabrikam",
        2,
        json!({"attendees": [{"type": "required", "emailAddress": {"name": "Frank", "address": "frank@fabrikam.com"}}]}),
    );
    assert_ok(&fx.cycle().await);
    let record = fx.records_where("Contact", "Subject", "Negotiation Fabrikam")[0]["id"].clone();
    fx.crm_update(
        "Contact",
        &record,
        &[("Subject", Value::from("Negotiation Fabrikam (CRM)"))],
    )
    .await;
    let report = fx.cycle().await;
    assert_ok(&report);
    let ana = report.mailboxes.iter().find(|m| m.rep == "ANA").unwrap();
    assert!(
        ana.notes
            .iter()
            .any(|n| n.contains("outside the managed domains")),
        "{report}"
    );
    assert_eq!(
        fx.sandbox.graph.item(ANA, &id).unwrap()["subject"],
        "Negotiation Fabrikam"
    );
    // Held once, not retried every cycle.
    let again = fx.cycle().await;
    assert_eq!(again.writes(), 0, "{again}");
    fx.close().await;
}

#[tokio::test]
async fn a_crm_edit_of_an_internal_meeting_changes_the_subject_but_never_the_body() {
    let fx = Fixture::start().await;
    let id = event(
        &fx,
        "Sales huddle",
        3,
        json!({"attendees": [{"type": "required", "emailAddress": {"name": "Ben", "address": BEN}}]}),
    );
    assert_ok(&fx.cycle().await);
    let record = fx.records_where("Contact", "Subject", "Sales huddle")[0]["id"].clone();
    fx.crm_update(
        "Contact",
        &record,
        &[
            ("Subject", Value::from("Sales huddle (room 3)")),
            ("Text", Value::from("Rewritten in the CRM")),
        ],
    )
    .await;
    assert_ok(&fx.cycle().await);
    let item = fx.sandbox.graph.item(ANA, &id).unwrap();
    assert_eq!(item["subject"], "Sales huddle (room 3)");
    assert!(
        item["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Confidential agenda"),
        "the body was rewritten: {item}"
    );
    fx.close().await;
}
