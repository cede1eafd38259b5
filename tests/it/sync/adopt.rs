//! Adopt, don't duplicate: records an earlier connector linked (XK rows of `SyncML`), and everything after
//! the state store was lost, are linked instead of created again.

use graph_connector::{
    config::StateLocation,
    emulator::graph::ItemKind,
    sync::{CycleOptions, Selector},
    transport::crm::{Actor, Fields, RecordId, Value, ext_keys},
};
use serde_json::json;

use super::{ANA, Fixture, assert_ok, totals};

/// A Graph event of Ana's and a CRM appointment an earlier connector linked to it by its iCalUId.
async fn legacy_pair(fx: &Fixture) -> String {
    let date = fx.world.day(2);
    let id = fx
        .sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Visit Contoso HQ",
                "start": {"dateTime": format!("{date}T09:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T10:00:00"), "timeZone": "W. Europe Standard Time"},
            }),
        )
        .unwrap();
    let ical = fx.sandbox.graph.item(ANA, &id).unwrap()["iCalUId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut fields = Fields::new();
    for (k, v) in [
        ("Contact", Value::from("Visit")),
        ("Subject", Value::from("Visit Contoso HQ (EWS)")),
        ("RepID", Value::from("ANA")),
        ("Date", Value::Date(date)),
        ("Time", Value::Time(jiff::civil::time(9, 0, 0, 0))),
        ("EndDate", Value::Date(date)),
        ("EndTime", Value::Time(jiff::civil::time(10, 0, 0, 0))),
    ] {
        fields.insert(k.into(), v);
    }
    let crm = fx.crm();
    let record = crm.insert(&Actor::Master, "Contact", fields).await.unwrap();
    let mut xk = ext_keys::ExtKey::graph(&ical, "text/x-vevent", "MA", Some(record.clone()));
    xk.system = "SyncML".into();
    ext_keys::put(crm.as_ref(), &Actor::Master, &xk)
        .await
        .unwrap();
    record.to_string()
}

#[tokio::test]
async fn a_record_an_earlier_connector_linked_is_adopted_not_duplicated() {
    let fx = Fixture::start().await;
    let record = legacy_pair(&fx).await;
    let report = fx.cycle().await;
    assert_ok(&report);
    let visits: Vec<_> = fx
        .records("Contact")
        .into_iter()
        .filter(|r| {
            r.get("Subject")
                .is_some_and(|s| s.starts_with("Visit Contoso HQ"))
        })
        .collect();
    assert_eq!(visits.len(), 1, "{visits:#?}");
    assert_eq!(visits[0]["id"], record);
    assert_eq!(
        visits[0]["Subject"], "Visit Contoso HQ",
        "Graph's fields were written"
    );
    assert!(
        totals(&report, "event").graph_to_crm.updated >= 1,
        "{report}"
    );
    assert_eq!(fx.cycle().await.writes(), 0);
    fx.close().await;
}

#[tokio::test]
async fn no_adopt_creates_a_new_record() {
    let fx = Fixture::start().await;
    legacy_pair(&fx).await;
    let options = CycleOptions {
        adopt: false,
        ..fx.options()
    };
    assert_ok(&fx.cycle_with(&Selector::default(), options).await);
    let visits = fx
        .records("Contact")
        .into_iter()
        .filter(|r| {
            r.get("Subject")
                .is_some_and(|s| s.starts_with("Visit Contoso HQ"))
        })
        .count();
    assert_eq!(visits, 2);
    fx.close().await;
}

#[tokio::test]
async fn a_lost_state_store_relinks_everything_without_a_duplicate() {
    let mut fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    assert_eq!(fx.cycle().await.writes(), 0);
    let before = fx.fingerprint();
    let fresh = tempfile::tempdir().unwrap();
    fx.config.state.location = StateLocation::Sqlite(fresh.path().join("new.db"));
    fx.reopen().await;
    let reports = fx.settle(4).await;
    for r in &reports {
        assert_ok(r);
        for (resource, counts) in &r.totals {
            assert_eq!(
                counts.graph_to_crm.created, 0,
                "{resource} created in CRM:\n{r}"
            );
            assert_eq!(
                counts.crm_to_graph.created, 0,
                "{resource} created in Graph:\n{r}"
            );
        }
    }
    assert_eq!(reports.last().unwrap().writes(), 0);
    assert_eq!(fx.fingerprint(), before);
    let _ = RecordId::new("");
    fx.close().await;
}
