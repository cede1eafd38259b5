//! One meeting seen in several mailboxes is one record; recurring series; unresolved participants; one
//! e-mail filed by two reps is one record.

use std::collections::BTreeMap;

use graph_connector::emulator::graph::ItemKind;
use serde_json::json;

use super::{ANA, BEN, Fixture, assert_ok};

/// (Subject, Date, Time) → how many records.
fn instances(fx: &Fixture, subject: &str) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in fx.records_where("Contact", "Subject", subject) {
        let key = (
            r.get("Date").cloned().unwrap_or_default(),
            r.get("Time").cloned().unwrap_or_default(),
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

#[tokio::test]
async fn a_meeting_in_two_mailboxes_is_one_record_per_instance_with_both_reps() {
    let fx = Fixture::start().await;
    let date = fx.world.day(3);
    fx.sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Account plan Fabrikam",
                "start": {"dateTime": format!("{date}T14:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T15:00:00"), "timeZone": "W. Europe Standard Time"},
                "attendees": [
                    {"type": "required", "emailAddress": {"name": "Ben Becker", "address": BEN}},
                    {"type": "required", "emailAddress": {"name": "Frank Fischer", "address": "frank@fabrikam.com"}},
                ],
            }),
        )
        .unwrap();
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    // Ben (Pacific) holds a copy in his own time zone: still one record, written from Ana's copy.
    assert!(
        fx.items(BEN, ItemKind::Event)
            .iter()
            .any(|e| e["subject"] == "Account plan Fabrikam"),
        "the emulator delivered no copy to Ben"
    );
    let records = fx.records_where("Contact", "Subject", "Account plan Fabrikam");
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r["RepID"], "ANA");
    assert!(r["ParticipantID"].contains("BEN"), "{r:?}");
    assert_eq!(r["Time"], "14:00", "kept in the CRM's zone: {r:?}");
    // Every series instance of Ana's weekly meeting (Ben is invited too) is one record.
    for ((date, time), n) in instances(&fx, "Weekly Fabrikam sync") {
        assert_eq!(n, 1, "{date} {time} has {n} records");
    }
    fx.close().await;
}

#[tokio::test]
async fn a_series_maps_to_a_master_and_serial_appointments_and_a_cancelled_occurrence_to_none() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let series = fx.records_where("Contact", "Subject", "Weekly Fabrikam sync");
    let masters: Vec<_> = series
        .iter()
        .filter(|r| r.get("IsMasterContact").map(String::as_str) == Some("true"))
        .collect();
    assert_eq!(masters.len(), 1, "{series:#?}");
    assert!(
        series
            .iter()
            .filter(|r| r.get("IsMasterContact").map(String::as_str) != Some("true"))
            .all(|r| r.get("IsSerialContact").map(String::as_str) == Some("true")),
        "{series:#?}"
    );
    // Each serial appointment names its master by the master's key.
    let master = masters[0];
    for r in series
        .iter()
        .filter(|r| r.get("IsSerialContact").map(String::as_str) == Some("true"))
    {
        assert_eq!(r.get("ContactStatNo"), master.get("StatNo"), "{r:?}");
        assert_eq!(r.get("ContactSeqNo"), master.get("SeqNo"), "{r:?}");
    }
    // The cancelled occurrence (the anchor Monday) is no appointment.
    let cancelled = fx.world.day(0).to_string();
    assert!(
        series.iter().all(
            |r| r.get("IsMasterContact").map(String::as_str) == Some("true")
                || r["Date"] != cancelled
        ),
        "the cancelled occurrence became a record: {series:#?}"
    );
    fx.close().await;
}

#[tokio::test]
async fn base_template_maps_each_occurrence_as_its_own_appointment() {
    let fx = Fixture::with_template(None).await;
    assert_ok(&fx.cycle().await);
    let series = fx.records_where("Contact", "Subject", "Daily stand-up");
    assert!(series.len() >= 2, "{series:#?}");
    assert!(series.iter().all(|r| !r.contains_key("IsMasterContact")));
    for ((date, time), n) in instances(&fx, "Daily stand-up") {
        assert_eq!(n, 1, "{date} {time}");
    }
    fx.close().await;
}

async fn add_lunch(fx: &Fixture) {
    let date = fx.world.day(4);
    fx.sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Lunch with a prospect",
                "body": {"contentType": "text", "content": "Bring brochures."},
                "start": {"dateTime": format!("{date}T12:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T13:00:00"), "timeZone": "W. Europe Standard Time"},
                "attendees": [
                    {"type": "required", "emailAddress": {"name": "Somebody", "address": "stranger@example.org"}},
                    {"type": "optional", "emailAddress": {"name": "Hanna Huber", "address": "hanna@northwind.de"}},
                ],
            }),
        )
        .unwrap();
}

#[tokio::test]
async fn unresolved_attendees_go_to_missing_participants_under_isi() {
    let fx = Fixture::start().await;
    add_lunch(&fx).await;
    assert_ok(&fx.cycle().await);
    let lunch = fx.records_where("Contact", "Subject", "Lunch with a prospect");
    assert_eq!(lunch.len(), 1);
    let r = &lunch[0];
    assert!(
        r.get("MissingParticipants")
            .is_some_and(|m| m.contains("stranger@example.org")),
        "{r:?}"
    );
    assert!(
        !r["MissingParticipants"].contains("hanna@northwind.de"),
        "a resolved person is not missing: {r:?}"
    );
    assert_eq!(
        r.get("ConnectorMissingparticipants").map(String::as_str),
        Some("true")
    );
    assert!(
        !r.get("Text")
            .is_some_and(|t| t.contains("stranger@example.org")),
        "{r:?}"
    );
    assert_eq!(fx.cycle().await.writes(), 0);
    fx.close().await;
}

#[tokio::test]
async fn unresolved_attendees_are_appended_to_the_text_under_base() {
    let fx = Fixture::with_template(None).await;
    add_lunch(&fx).await;
    assert_ok(&fx.cycle().await);
    let lunch = fx.records_where("Contact", "Subject", "Lunch with a prospect");
    assert_eq!(lunch.len(), 1);
    let text = &lunch[0]["Text"];
    assert!(text.contains("Bring brochures."), "{text}");
    assert!(text.contains("Unassigned participants:"), "{text}");
    assert!(text.contains("stranger@example.org"), "{text}");
    // The block is not appended a second time by later cycles.
    assert_eq!(fx.settle(3).await.last().unwrap().writes(), 0);
    let again = &fx.records_where("Contact", "Subject", "Lunch with a prospect")[0]["Text"];
    assert_eq!(
        again.matches("Unassigned participants:").count(),
        1,
        "{again}"
    );
    fx.close().await;
}

#[tokio::test]
async fn one_email_filed_in_two_mailboxes_is_one_record_with_both_reps() {
    let fx = Fixture::start().await;
    let mail = |to: &str| {
        json!({
            "subject": "Fabrikam framework agreement",
            "internetMessageId": "<agreement-1@fabrikam.com>",
            "from": {"emailAddress": {"name": "Frank Fischer", "address": "frank@fabrikam.com"}},
            "toRecipients": [
                {"emailAddress": {"name": "Ana Alvarez", "address": ANA}},
                {"emailAddress": {"name": "Ben Becker", "address": BEN}},
            ],
            "receivedDateTime": "2026-11-24T08:00:00Z",
            "sentDateTime": "2026-11-24T07:59:00Z",
            "body": {"contentType": "text", "content": "Draft attached."},
            "_to": to,
        })
    };
    for mailbox in [ANA, BEN] {
        let mut m = mail(mailbox);
        m.as_object_mut().unwrap().remove("_to");
        fx.sandbox
            .graph
            .add_item(mailbox, ItemKind::Message, None, m)
            .unwrap();
    }
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    let records = fx.records_where("Contact", "Subject", "Fabrikam framework agreement");
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    let reps = format!(
        "{} {}",
        r["RepID"],
        r.get("ParticipantID").cloned().unwrap_or_default()
    );
    assert!(reps.contains("ANA") && reps.contains("BEN"), "{r:?}");
    fx.close().await;
}

#[tokio::test]
async fn an_all_day_meeting_seen_from_another_zone_stays_all_day_and_one_record() {
    let fx = Fixture::start().await;
    let day = fx.world.day(2);
    let next = fx.world.day(3);
    fx.sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Customer day",
                "isAllDay": true,
                "start": {"dateTime": format!("{day}T00:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{next}T00:00:00"), "timeZone": "W. Europe Standard Time"},
                "attendees": [{"type": "required", "emailAddress": {"name": "Ben Becker", "address": BEN}}],
            }),
        )
        .unwrap();
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    let records = fx.records_where("Contact", "Subject", "Customer day");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["Date"], day.to_string());
    assert!(
        !records[0].contains_key("Time"),
        "an all-day record has no time: {:?}",
        records[0]
    );
    fx.close().await;
}

#[tokio::test]
async fn a_declining_attendee_leaves_the_record_and_only_the_record() {
    let fx = Fixture::start().await;
    let date = fx.world.day(3);
    fx.sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Forecast review",
                "start": {"dateTime": format!("{date}T15:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T16:00:00"), "timeZone": "W. Europe Standard Time"},
                "attendees": [{"type": "required", "emailAddress": {"name": "Ben Becker", "address": BEN}}],
            }),
        )
        .unwrap();
    assert_ok(&fx.cycle().await);
    let before = &fx.records_where("Contact", "Subject", "Forecast review")[0];
    assert!(before["ParticipantID"].contains("BEN"), "{before:?}");
    let copy = fx.item_by(BEN, ItemKind::Event, "subject", "Forecast review");
    fx.respond(BEN, copy["id"].as_str().unwrap(), "decline")
        .await;
    let reports = fx.settle(4).await;
    assert_ok(reports.last().unwrap());
    assert_eq!(reports.last().unwrap().writes(), 0);
    let after = fx.records_where("Contact", "Subject", "Forecast review");
    assert_eq!(after.len(), 1, "{after:#?}");
    let r = &after[0];
    assert_eq!(
        r.get("ConnectorDeleted").map(String::as_str).unwrap_or(""),
        "",
        "{r:?}"
    );
    assert!(
        !r.get("ParticipantID").is_some_and(|p| p.contains("BEN")),
        "{r:?}"
    );
    fx.close().await;
}

#[tokio::test]
async fn the_organizer_cancelling_flags_the_record_once() {
    let fx = Fixture::start().await;
    let date = fx.world.day(4);
    let id = fx
        .sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Offsite",
                "start": {"dateTime": format!("{date}T09:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T17:00:00"), "timeZone": "W. Europe Standard Time"},
                "attendees": [{"type": "required", "emailAddress": {"name": "Ben Becker", "address": BEN}}],
            }),
        )
        .unwrap();
    assert_ok(&fx.cycle().await);
    fx.sandbox.graph.delete_item(ANA, &id).unwrap();
    let reports = fx.settle(4).await;
    assert_ok(reports.last().unwrap());
    let r = fx.records_where("Contact", "Subject", "Offsite");
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0]["ConnectorDeleted"], "true");
    fx.close().await;
}

#[tokio::test]
async fn a_meeting_organized_by_an_outsider_is_published_and_read_only() {
    let fx = Fixture::start().await;
    let date = fx.world.day(2);
    let id = fx
        .sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Fabrikam supplier day",
                "isOrganizer": false,
                "organizer": {"emailAddress": {"name": "Frank Fischer", "address": "frank@fabrikam.com"}},
                "responseStatus": {"response": "accepted"},
                "start": {"dateTime": format!("{date}T13:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T14:00:00"), "timeZone": "W. Europe Standard Time"},
            }),
        )
        .unwrap();
    let item = fx.sandbox.graph.item(ANA, &id).unwrap();
    assert_eq!(
        item["isOrganizer"], false,
        "the emulator kept the organizer: {item}"
    );
    assert_ok(&fx.cycle().await);
    let r = fx.records_where("Contact", "Subject", "Fabrikam supplier day");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["ConnectorPublished"], "true", "{:?}", r[0]);
    // A CRM edit of a published meeting is not written back to the mailbox.
    fx.crm_update(
        "Contact",
        &r[0]["id"],
        &[(
            "Subject",
            graph_connector::transport::crm::Value::from("Renamed in the CRM"),
        )],
    )
    .await;
    assert_ok(&fx.cycle().await);
    assert_eq!(
        fx.sandbox.graph.item(ANA, &id).unwrap()["subject"],
        "Fabrikam supplier day"
    );
    fx.close().await;
}
