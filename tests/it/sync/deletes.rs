//! Deletes both ways follow the mapping's deletion rules; the mass-delete guard holds a cycle that would
//! remove too much; a mailbox that loses its licence is never read as "everything was deleted".

use graph_connector::{
    emulator::graph::ItemKind,
    sync::{CycleOptions, Selector, Status},
    transport::crm::{Actor, RecordId},
};
use serde_json::json;

use super::{ANA, BEN, Fixture, assert_ok, edits::synced_event, totals};

#[tokio::test]
async fn a_graph_delete_flags_the_record_and_never_deletes_it() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let (id, record) = synced_event(&fx, "Cancelled visit", 2).await;
    fx.sandbox.graph.delete_item(ANA, &id).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(totals(&report, "event").graph_to_crm.deleted, 1, "{report}");
    let r = fx
        .records("Contact")
        .into_iter()
        .find(|r| r["id"] == record)
        .expect("the record stays");
    assert_eq!(r["ConnectorDeleted"], "true");
    // The flagged record is not written back to Graph (the filter excludes it), and nothing repeats.
    assert_eq!(fx.settle(3).await.last().unwrap().writes(), 0);
    assert!(
        fx.items(ANA, ItemKind::Event)
            .iter()
            .all(|e| e["subject"] != "Cancelled visit")
    );
    fx.close().await;
}

#[tokio::test]
async fn a_crm_delete_of_a_person_removes_the_contact_the_connector_created() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let grace = fx.item_by(ANA, ItemKind::Contact, "displayName", "Grace Green");
    let person = fx.records_where("Person", "LastName", "Green")[0]["id"].clone();
    fx.crm()
        .delete(&Actor::Master, "Person", &RecordId::new(&person))
        .await
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(
        totals(&report, "contact").crm_to_graph.deleted,
        1,
        "{report}"
    );
    assert!(
        fx.sandbox
            .graph
            .item(ANA, grace["id"].as_str().unwrap())
            .is_none()
    );
    assert_eq!(fx.cycle().await.writes(), 0);
    fx.close().await;
}

#[tokio::test]
async fn the_mass_delete_guard_holds_a_cycle_that_would_remove_too_much() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let mut ids = Vec::new();
    for n in 0..10 {
        let date = fx.world.day(n % 5);
        ids.push(
            fx.sandbox
                .graph
                .add_item(
                    ANA,
                    ItemKind::Event,
                    None,
                    json!({
                        "subject": format!("Call slot {n}"),
                        "start": {"dateTime": format!("{date}T0{}:00:00", n % 8 + 1), "timeZone": "UTC"},
                        "end": {"dateTime": format!("{date}T0{}:30:00", n % 8 + 1), "timeZone": "UTC"},
                    }),
                )
                .unwrap(),
        );
    }
    assert_ok(&fx.cycle().await);
    for id in ids.iter().take(8) {
        fx.sandbox.graph.delete_item(ANA, id).unwrap();
    }
    let held = fx.cycle().await;
    let ana = held.mailboxes.iter().find(|m| m.rep == "ANA").unwrap();
    assert_eq!(ana.status, Status::Failed, "{held}");
    assert!(
        ana.reason
            .as_deref()
            .unwrap_or("")
            .contains("mass-delete guard"),
        "{held}"
    );
    assert!(!ana.held.is_empty());
    let flagged = |fx: &Fixture| {
        fx.records("Contact")
            .iter()
            .filter(|r| r.get("Subject").is_some_and(|s| s.starts_with("Call slot")))
            .filter(|r| r.get("ConnectorDeleted").map(String::as_str) == Some("true"))
            .count()
    };
    assert_eq!(flagged(&fx), 0, "the guard let deletes through");
    // The removals come back next cycle (the cursor stayed) and are held again …
    let again = fx.cycle().await;
    assert!(!again.ok);
    assert_eq!(flagged(&fx), 0);
    // … until an administrator lets them through once.
    let allowed = fx
        .cycle_with(
            &Selector::default(),
            CycleOptions {
                allow_mass_delete: true,
                ..fx.options()
            },
        )
        .await;
    assert_ok(&allowed);
    assert_eq!(flagged(&fx), 8);
    assert_eq!(fx.cycle().await.writes(), 0);
    fx.close().await;
}

#[tokio::test]
async fn a_mailbox_that_loses_its_licence_is_skipped_and_nothing_is_deleted() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let before = fx.fingerprint();
    let parked = fx.sandbox.graph.remove_license(BEN).unwrap();
    let report = fx.cycle().await;
    let ben = report.mailboxes.iter().find(|m| m.rep == "BEN").unwrap();
    assert_ne!(ben.status, Status::Synced, "{report}");
    assert!(ben.reason.is_some() && ben.fix.is_some(), "{report}");
    let ana = report.mailboxes.iter().find(|m| m.rep == "ANA").unwrap();
    assert_eq!(ana.status, Status::Synced, "{report}");
    assert_eq!(report.writes(), 0, "{report}");
    let flagged: Vec<_> = fx
        .records("Contact")
        .into_iter()
        .filter(|r| r.get("ConnectorDeleted").map(String::as_str) == Some("true"))
        .collect();
    assert!(flagged.is_empty(), "records were flagged: {flagged:#?}");
    fx.sandbox.graph.restore_license(parked);
    let back = fx.cycle().await;
    assert_ok(&back);
    assert_eq!(back.writes(), 0, "{back}");
    assert_eq!(fx.fingerprint(), before);
    fx.close().await;
}

#[tokio::test]
async fn a_crm_delete_of_an_appointment_unlinks_and_leaves_the_calendar_alone() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let (id, record) = synced_event(&fx, "Strategy call", 2).await;
    fx.crm()
        .delete(&Actor::Master, "Contact", &RecordId::new(&record))
        .await
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert!(
        fx.sandbox.graph.item(ANA, &id).is_some(),
        "the event was deleted"
    );
    // The item is not created again in the CRM either: its link is gone, but its XK row is too, and the
    // next cycles have nothing to do.
    let reports = fx.settle(3).await;
    assert_eq!(
        reports.last().unwrap().writes(),
        0,
        "{}",
        reports.last().unwrap()
    );
    fx.close().await;
}
