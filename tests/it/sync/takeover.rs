//! Taking over from the old connector (issue 11, item 13): its External Keys hold EWS ids, translated
//! with `translateExchangeIds` before they are matched; `doctor` warns while it still writes keys.

use std::process::Command;

use graph_connector::{
    emulator::graph::ItemKind,
    sync::legacy,
    transport::{
        crm::{Actor, Fields, RecordId, Value, ext_keys},
        graph::ExchangeIdType,
    },
};
use jiff::SignedDuration;
use serde_json::json;

use super::{ANA, Fixture, assert_ok};

/// The EWS id of an item, as the old connector kept it: the regular id in standard base64.
fn ews_id(fx: &Fixture, graph_id: &str) -> String {
    fx.sandbox
        .graph
        .regular_id(ANA, graph_id)
        .expect("the item has a regular id")
        .replace('-', "+")
        .replace('_', "/")
}

/// A legacy XK row of rep ANA linking `key` to appointment `record`.
async fn legacy_key(fx: &Fixture, system: &str, key: &str, record: &RecordId) {
    let mut xk = ext_keys::ExtKey::graph(key, "text/x-vevent", "MA", Some(record.clone()));
    xk.system = system.to_owned();
    xk.rep_id = Some("ANA".into());
    ext_keys::put(fx.crm().as_ref(), &Actor::Master, &xk)
        .await
        .expect("the XK row is written");
}

#[tokio::test]
async fn the_old_connectors_ews_keys_are_translated_and_adopted() {
    let fx = Fixture::start().await;
    let date = fx.world.day(2);
    // The old connector filed Ana's visit and kept its EWS id.
    let mut fields = Fields::new();
    for (k, v) in [
        ("Contact", "Visit"),
        ("Subject", "Visit Contoso Pharma"),
        ("Date", &date.to_string()),
        ("Time", "14:00"),
        ("EndDate", &date.to_string()),
        ("EndTime", "15:00"),
        ("RepID", "ANA"),
    ] {
        fields.insert(k.into(), Value::from(v));
    }
    let record = fx
        .crm()
        .insert(&Actor::Master, "Contact", fields)
        .await
        .expect("the old connector's record");
    let graph_id = fx
        .sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Event,
            None,
            json!({
                "subject": "Visit Contoso Pharma",
                "start": {"dateTime": format!("{date}T14:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T15:00:00"), "timeZone": "W. Europe Standard Time"},
            }),
        )
        .unwrap();
    let ews = ews_id(&fx, &graph_id);
    assert_ne!(ews, graph_id, "the EWS id differs from the Graph id");
    legacy_key(&fx, "SyncML", &ews, &record).await;

    // The transport translates it back.
    let graph = fx.connected.as_ref().unwrap().engine.graph.clone();
    let translated = graph
        .translate_exchange_ids(
            ANA,
            &[
                ews.clone(),
                "AAMkNoSuchItem0000000000000000000000000000000000==".into(),
            ],
            ExchangeIdType::EwsId,
            ExchangeIdType::RestImmutableEntryId,
        )
        .await
        .unwrap();
    assert_eq!(translated, vec![Some(graph_id.clone()), None]);

    // The plan adopts the record by the old connector's key instead of creating a second one.
    let mut dry = fx.options();
    dry.mode = graph_connector::sync::Mode::DryRun;
    let plan = fx.cycle_with(&Default::default(), dry).await;
    let action = plan
        .planned()
        .find(|a| a.graph_id.as_deref() == Some(graph_id.as_str()))
        .unwrap_or_else(|| panic!("no action for the visit:\n{plan}"));
    assert_eq!(action.action, "adopt", "{action:?}");
    assert!(action.reason.contains("SyncML"), "{action:?}");

    assert_ok(&fx.cycle().await);
    assert_ok(&fx.cycle().await);
    let records = fx.records_where("Contact", "Subject", "Visit Contoso Pharma");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["id"], record.to_string());
    let copies: Vec<_> = fx
        .items(ANA, ItemKind::Event)
        .into_iter()
        .filter(|e| e["subject"] == "Visit Contoso Pharma")
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "the record was written back as a second event"
    );
    fx.close().await;
}

#[tokio::test]
async fn the_old_connector_counts_as_running_while_it_writes_keys() {
    let fx = Fixture::start().await;
    let now = jiff::Timestamp::now();
    assert_eq!(
        legacy::still_writing(fx.crm().as_ref(), now).await.unwrap(),
        None,
        "no legacy key yet"
    );
    legacy_key(
        &fx,
        "marketing.manager",
        "AAMkAGI2TG93AAA+/bcdefghijklmnopqrstuvwxyz0123456789AAA=",
        &RecordId::new("1-1"),
    )
    .await;
    let warning = legacy::still_writing(fx.crm().as_ref(), now)
        .await
        .unwrap()
        .expect("a warning");
    assert!(warning.contains("marketing.manager"), "{warning}");
    assert!(warning.contains("fix: stop the old connector"), "{warning}");
    // A day later, with no new key, the old connector has stopped.
    let later = now + SignedDuration::from_hours(25);
    assert_eq!(
        legacy::still_writing(fx.crm().as_ref(), later)
            .await
            .unwrap(),
        None
    );

    // doctor says it, through a config file pointing at the emulators.
    let dir = tempfile::tempdir().unwrap();
    let master = fx.sandbox.crm.master();
    std::fs::write(dir.path().join("crm.pw"), &master.password).unwrap();
    let config = format!(
        "graph:\n  tenant_id: {}\n  client_id: {}\n  client_secret: env:TAKEOVER_GRAPH_SECRET\n  \
         managed_domains: [contoso.com]\n  graph_url: {}\n  token_url: {}\n\
         crm:\n  url: {}\n  user: {}\n  password: file:crm.pw\n",
        fx.sandbox.graph.tenant_id(),
        fx.sandbox.graph.client_id(),
        fx.sandbox.graph.graph_url(),
        fx.sandbox.graph.token_url(),
        fx.sandbox.crm.url(),
        master.user,
    );
    let path = dir.path().join("connector.yaml");
    std::fs::write(&path, config).unwrap();
    let secret = fx.sandbox.graph.client_secret().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_graph-connector"))
            .args(["doctor", "--config"])
            .arg(&path)
            .env("GRAPH_CONNECTOR_LOG", "off")
            .env("TAKEOVER_GRAPH_SECRET", secret)
            .output()
            .expect("doctor runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with(
            "warning: the old connector is still writing: 1 external keys of marketing.manager"
        )),
        "{stdout}"
    );
    fx.close().await;
}
