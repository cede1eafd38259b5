//! External Key (XK) links through the real client against the CRM emulator: a key is one row however
//! often it is written, rows are found by key, by legacy system and by the record they point at.

use std::sync::Arc;

use graph_connector::{
    emulator::crm::{self as crm_emulator, EmulatorOptions},
    transport::crm::{
        Actor, CrmTransport, Fields, RecordId, Value,
        client::{CrmClient, CrmClientConfig},
        ext_keys::{self, ExtKey, GRAPH_API, LEGACY_SYSTEMS},
    },
};
use pretty_assertions::assert_eq;

async fn setup() -> (crm_emulator::CrmEmulator, Arc<dyn CrmTransport>) {
    let emu = crm_emulator::spawn(EmulatorOptions::default())
        .await
        .unwrap();
    let master = emu.master();
    let mut config = CrmClientConfig::new(emu.url(), &master.user, master.password.into());
    config.client_name = master.client;
    let crm: Arc<dyn CrmTransport> = Arc::new(CrmClient::new(config).unwrap());
    (emu, crm)
}

async fn appointment(crm: &dyn CrmTransport, subject: &str) -> RecordId {
    let mut fields = Fields::new();
    fields.insert("Contact".into(), Value::from("Appointment"));
    fields.insert("Subject".into(), Value::from(subject));
    fields.insert("RepID".into(), Value::from("ANA"));
    fields.insert("Date".into(), Value::from("2026-12-07"));
    crm.insert(&Actor::Master, "Contact", fields).await.unwrap()
}

#[tokio::test]
async fn a_key_written_twice_is_one_row_pointing_at_the_last_record() {
    let (emu, crm) = setup().await;
    let first = appointment(&*crm, "one").await;
    let second = appointment(&*crm, "two").await;
    // A create reserves the key before its record exists, then points it at the record.
    let reserve = ExtKey::graph("AAMkImm1", "text/x-vevent", "MA", None);
    ext_keys::put(&*crm, &Actor::Master, &reserve)
        .await
        .unwrap();
    let link = ExtKey::graph("AAMkImm1", "text/x-vevent", "MA", Some(first.clone()));
    ext_keys::put(&*crm, &Actor::Master, &link).await.unwrap();
    ext_keys::put(&*crm, &Actor::Master, &link).await.unwrap();
    assert_eq!(emu.count("ExtKey", "ExtKey", "AAMkImm1"), 1);

    let found = ext_keys::find(&*crm, &Actor::Master, &[GRAPH_API], &["AAMkImm1", "nope"])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rec_id.as_ref(), Some(&first));
    assert_eq!(found[0].content_type.as_deref(), Some("text/x-vevent"));
    assert_eq!(found[0].rec_table, "MA");

    let moved = ExtKey::graph("AAMkImm1", "text/x-vevent", "MA", Some(second.clone()));
    ext_keys::put(&*crm, &Actor::Master, &moved).await.unwrap();
    let by_record = ext_keys::for_record(&*crm, &Actor::Master, "MA", &second)
        .await
        .unwrap();
    assert_eq!(by_record.len(), 1);
    assert_eq!(by_record[0].key, "AAMkImm1");
    assert!(
        ext_keys::for_record(&*crm, &Actor::Master, "MA", &first)
            .await
            .unwrap()
            .is_empty()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn legacy_keys_are_found_only_when_asked_for_and_many_keys_are_chunked() {
    let (emu, crm) = setup().await;
    let record = appointment(&*crm, "from EWS").await;
    let legacy = ExtKey {
        system: "SyncML".into(),
        ..ExtKey::graph("EWS-legacy-1", "text/x-vevent", "MA", Some(record.clone()))
    };
    ext_keys::put(&*crm, &Actor::Master, &legacy).await.unwrap();
    let graph_only = ext_keys::find(&*crm, &Actor::Master, &[GRAPH_API], &["EWS-legacy-1"])
        .await
        .unwrap();
    assert!(graph_only.is_empty(), "{graph_only:?}");
    let mut keys: Vec<String> = (0..120).map(|n| format!("k{n}")).collect();
    keys.push("EWS-legacy-1".into());
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let found = ext_keys::find(&*crm, &Actor::Master, LEGACY_SYSTEMS, &key_refs)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].system, "SyncML");
    assert_eq!(found[0].rec_id.as_ref(), Some(&record));
    emu.shutdown().await;
}
