//! The first cycle brings every resource across once; the second finds nothing to do; what is outside the
//! window or the scope stays where it is.

use std::collections::BTreeMap;

use graph_connector::{emulator::graph::ItemKind, sync::Status};

use super::{ANA, BEN, Fixture, assert_ok, totals};

#[tokio::test]
async fn first_cycle_syncs_every_resource_and_the_second_writes_nothing() {
    let fx = Fixture::start().await;
    let first = fx.cycle().await;
    assert_ok(&first);
    let event = totals(&first, "event");
    assert!(event.graph_to_crm.created >= 2, "{first}");
    assert_eq!(
        event.crm_to_graph.created, 1,
        "the CRM appointment: {first}"
    );
    assert_eq!(totals(&first, "absence").crm_to_graph.created, 1, "{first}");
    let task = totals(&first, "task");
    assert!(
        task.graph_to_crm.created >= 2 && task.crm_to_graph.created == 1,
        "{first}"
    );
    assert!(
        totals(&first, "contact").crm_to_graph.created >= 2,
        "{first}"
    );
    assert!(
        totals(&first, "message").graph_to_crm.created >= 2,
        "{first}"
    );
    assert!(first.requests.graph > 0 && first.requests.crm > 0);

    let second = fx.cycle().await;
    assert_ok(&second);
    assert_eq!(second.writes(), 0, "the second cycle wrote:\n{second}");
    let third = fx.cycle().await;
    assert_eq!(third.writes(), 0, "{third}");
    fx.close().await;
}

#[tokio::test]
async fn skipped_reps_are_reported_with_reason_and_fix() {
    let fx = Fixture::start().await;
    let report = fx.cycle().await;
    let by_rep: BTreeMap<&str, _> = report
        .mailboxes
        .iter()
        .map(|m| (m.rep.as_str(), m))
        .collect();
    assert_eq!(by_rep["ANA"].status, Status::Synced);
    assert_eq!(by_rep["BEN"].status, Status::Synced);
    for rep in ["CHL", "DIE", "EVA"] {
        let m = by_rep[rep];
        assert_eq!(m.status, Status::Skipped, "{rep}");
        assert!(m.reason.as_deref().is_some_and(|r| !r.is_empty()), "{rep}");
        assert!(m.fix.as_deref().is_some_and(|f| !f.is_empty()), "{rep}");
    }
    let json = serde_json::to_value(&report).unwrap();
    for key in ["ok", "duration_ms", "requests", "mailboxes", "totals"] {
        assert!(json.get(key).is_some(), "report JSON lacks `{key}`: {json}");
    }
    let counts = &json["totals"]["event"]["graph_to_crm"];
    for key in [
        "created",
        "updated",
        "deleted",
        "unchanged",
        "skipped",
        "conflicts",
        "failed",
    ] {
        assert!(counts.get(key).is_some(), "counts lack `{key}`: {counts}");
    }
    fx.close().await;
}

#[tokio::test]
async fn every_synced_item_has_one_record_and_one_xk_row() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let xk = fx.records("ExtKey");
    // One XK row per key (upserted by Ext. System + key), every pointed row names a live record.
    let mut keys: Vec<&String> = xk.iter().filter_map(|r| r.get("ExtKey")).collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "an XK key appears twice");
    let live: Vec<String> = ["Contact", "Tasks", "Absences", "Person"]
        .iter()
        .flat_map(|t| fx.records(t).into_iter().map(|r| r["id"].clone()))
        .collect();
    for row in &xk {
        if let Some(id) = row.get("RecId").filter(|id| !id.is_empty()) {
            assert!(live.contains(id), "XK row {row:?} points at no record");
        }
    }
    // Each CRM record made from Graph is named by at least one XK row.
    let named: Vec<&String> = xk.iter().filter_map(|r| r.get("RecId")).collect();
    for r in fx.records("Contact") {
        assert!(named.contains(&&r["id"]), "record without XK row: {r:?}");
    }
    fx.close().await;
}

#[tokio::test]
async fn absence_events_are_private_neutral_and_never_read_back_as_appointments() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    assert_ok(&fx.cycle().await);
    let absence = fx.item_by(ANA, ItemKind::Event, "subject", "Out of office");
    assert_eq!(absence["sensitivity"], "private", "{absence}");
    assert_eq!(absence["showAs"], "oof");
    // The type is in the body, for the rep only.
    assert!(
        absence["body"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("Training"),
        "{absence}"
    );
    assert!(
        fx.records_where("Contact", "Subject", "Out of office")
            .is_empty(),
        "the absence came back as an appointment"
    );
    fx.close().await;
}

#[tokio::test]
async fn the_crm_appointment_lands_in_the_reps_calendar_once() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    assert_ok(&fx.cycle().await);
    let event = fx.item_by(
        ANA,
        ItemKind::Event,
        "subject",
        "Call Fabrikam about the offer",
    );
    assert_eq!(event["isAllDay"], false);
    assert!(
        fx.items(BEN, ItemKind::Event)
            .iter()
            .all(|e| e["subject"] != "Call Fabrikam about the offer"),
        "Ben got Ana's CRM appointment"
    );
    // Still one record: the item the connector created is an echo, not a new appointment.
    assert_eq!(
        fx.records_where("Contact", "Subject", "Call Fabrikam about the offer")
            .len(),
        1
    );
    fx.close().await;
}

#[tokio::test]
async fn a_rep_with_a_switch_off_gets_none_of_that_resource() {
    let fx = Fixture::start().await;
    let before = fx.items(BEN, ItemKind::Contact).len();
    let report = fx.cycle().await;
    let ben = report.mailboxes.iter().find(|m| m.rep == "BEN").unwrap();
    // BEN has SyncContacts off in the seed: no contact is read or written in his mailbox.
    assert!(!ben.resources.contains_key("contact"), "{report}");
    assert_eq!(fx.items(BEN, ItemKind::Contact).len(), before);
    fx.close().await;
}

#[tokio::test]
async fn plan_is_a_dry_run_that_writes_nothing_anywhere() {
    let fx = Fixture::start().await;
    let before = fx.fingerprint();
    let options = graph_connector::sync::CycleOptions {
        mode: graph_connector::sync::Mode::DryRun,
        ..fx.options()
    };
    let selector = graph_connector::sync::Selector::default();
    let first = fx.cycle_with(&selector, options).await;
    assert_ok(&first);
    let creates = first.planned().filter(|a| a.action == "create").count();
    assert!(creates > 5, "{first}");
    assert_eq!(fx.fingerprint(), before, "the dry run wrote to a service");
    let state = fx.connected.as_ref().unwrap().engine.state.clone();
    for mailbox in &first.mailboxes {
        if let Some(id) = &mailbox.user_id {
            for resource in ["event", "task", "message", "contact", "absence"] {
                assert!(state.list_cursors(id, resource).await.unwrap().is_empty());
                assert!(state.list_links(id, resource).await.unwrap().is_empty());
            }
        }
    }
    // The same plan again: nothing was consumed.
    let second = fx.cycle_with(&selector, options).await;
    assert_eq!(
        second.planned().filter(|a| a.action == "create").count(),
        creates
    );
    fx.close().await;
}

#[tokio::test]
async fn resync_replays_a_mailbox_without_duplicating() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    let before = fx.fingerprint();
    let engine = &fx.connected.as_ref().unwrap().engine;
    let forgotten = engine.forget(ANA, &[], None).await.unwrap();
    assert!(forgotten >= 3, "{forgotten} cursors");
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(report.writes(), 0, "{report}");
    assert_eq!(fx.fingerprint(), before);
    fx.close().await;
}
