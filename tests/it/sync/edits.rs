//! Edits on either side flow to the other once; edits on both sides follow the resource's conflict policy;
//! a linked item moved out of the window is updated, not deleted.

use graph_connector::{emulator::graph::ItemKind, plan::ConflictPolicy, transport::crm::Value};
use serde_json::json;

use super::{ANA, Fixture, assert_ok, totals};

/// Adds a meeting-free appointment to Ana's calendar on `day` (days after the anchor Monday), syncs it and
/// returns its Graph id and its CRM record id.
pub async fn synced_event(fx: &Fixture, subject: &str, day: i64) -> (String, String) {
    let date = fx.world.day(day);
    let id = fx
        .sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": subject,
                "body": {"contentType": "text", "content": "Agenda"},
                "start": {"dateTime": format!("{date}T10:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T11:00:00"), "timeZone": "W. Europe Standard Time"},
            }),
        )
        .expect("event added");
    assert_ok(&fx.cycle().await);
    let records = fx.records_where("Contact", "Subject", subject);
    assert_eq!(records.len(), 1, "one record for `{subject}`: {records:#?}");
    (id, records[0]["id"].clone())
}

#[tokio::test]
async fn a_graph_edit_reaches_the_crm_once() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let (id, record) = synced_event(&fx, "Pipeline review", 2).await;
    fx.sandbox
        .graph
        .update_item(
            ANA,
            &id,
            json!({"subject": "Pipeline review (agenda sent)"}),
        )
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(totals(&report, "event").graph_to_crm.updated, 1, "{report}");
    let records = fx.records_where("Contact", "Subject", "Pipeline review (agenda sent)");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["id"], record, "the same record was updated");
    assert_eq!(fx.cycle().await.writes(), 0);
    fx.close().await;
}

#[tokio::test]
async fn a_crm_edit_reaches_the_reps_calendar_once() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let (id, record) = synced_event(&fx, "Quarterly planning", 3).await;
    fx.crm_update(
        "Contact",
        &record,
        &[("Subject", Value::from("Quarterly planning (room 2)"))],
    )
    .await;
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(totals(&report, "event").crm_to_graph.updated, 1, "{report}");
    let item = fx.sandbox.graph.item(ANA, &id).expect("the event exists");
    assert_eq!(item["subject"], "Quarterly planning (room 2)");
    assert_eq!(fx.settle(3).await.last().unwrap().writes(), 0);
    assert_eq!(
        fx.records_where("Contact", "Subject", "Quarterly planning (room 2)")
            .len(),
        1
    );
    fx.close().await;
}

async fn both_sides_edit(
    policy: ConflictPolicy,
) -> (String, String, graph_connector::sync::CycleReport) {
    let mut fx = Fixture::start().await;
    fx.set_conflict("event", policy);
    assert_ok(&fx.cycle().await);
    let (id, record) = synced_event(&fx, "Budget talk", 1).await;
    fx.sandbox
        .graph
        .update_item(ANA, &id, json!({"subject": "Budget talk (Graph)"}))
        .unwrap();
    fx.crm_update(
        "Contact",
        &record,
        &[("Subject", Value::from("Budget talk (CRM)"))],
    )
    .await;
    let report = fx.cycle().await;
    let graph_subject = fx.sandbox.graph.item(ANA, &id).unwrap()["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    let crm_subject = fx
        .records("Contact")
        .into_iter()
        .find(|r| r["id"] == record)
        .unwrap()["Subject"]
        .clone();
    fx.close().await;
    (graph_subject, crm_subject, report)
}

#[tokio::test]
async fn both_sides_edited_crm_wins() {
    let (graph, crm, report) = both_sides_edit(ConflictPolicy::CrmWins).await;
    assert_ok(&report);
    assert_eq!(
        (graph.as_str(), crm.as_str()),
        ("Budget talk (CRM)", "Budget talk (CRM)")
    );
}

#[tokio::test]
async fn both_sides_edited_graph_wins() {
    let (graph, crm, report) = both_sides_edit(ConflictPolicy::GraphWins).await;
    assert_ok(&report);
    assert_eq!(
        (graph.as_str(), crm.as_str()),
        ("Budget talk (Graph)", "Budget talk (Graph)")
    );
}

#[tokio::test]
async fn both_sides_edited_manual_overwrites_nothing_and_reports_the_conflict() {
    let (graph, crm, report) = both_sides_edit(ConflictPolicy::Manual).await;
    assert_eq!(
        (graph.as_str(), crm.as_str()),
        ("Budget talk (Graph)", "Budget talk (CRM)")
    );
    assert_eq!(
        totals(&report, "event").graph_to_crm.conflicts,
        1,
        "{report}"
    );
}

#[tokio::test]
async fn a_linked_event_moved_out_of_the_window_is_updated_not_deleted() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let (id, record) = synced_event(&fx, "Workshop", 2).await;
    let later = fx.world.day(60);
    fx.sandbox
        .graph
        .update_item(
            ANA,
            &id,
            json!({
                "start": {"dateTime": format!("{later}T10:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{later}T11:00:00"), "timeZone": "W. Europe Standard Time"},
            }),
        )
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    let r = fx
        .records("Contact")
        .into_iter()
        .find(|r| r["id"] == record)
        .expect("the record stays");
    assert_eq!(
        r.get("ConnectorDeleted").map(String::as_str).unwrap_or(""),
        ""
    );
    assert_eq!(
        r["Date"],
        later.to_string(),
        "the record follows the move: {r:?}"
    );
    fx.close().await;
}
