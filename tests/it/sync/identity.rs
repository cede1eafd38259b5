//! Identity (issue 11, item 12): a mailbox is its Entra user object id — a renamed mailbox is the same
//! mailbox, a rep's address matches any of the user's proxy addresses — and the stamps on Graph items are
//! namespaced by CRM installation and tenant, so a second installation never takes over another's items.

use std::path::Path;

use graph_connector::{
    emulator::graph::ItemKind,
    state::{self, JournalEntry},
    sync::setup::Connected,
    transport::crm::{Actor, Fields, REP_TABLE, Value},
};
use serde_json::json;

use super::{ANA, Fixture, assert_ok};

const RENAMED: &str = "ana.alvarez@contoso.com";

#[tokio::test]
async fn renaming_a_mailbox_duplicates_nothing() {
    let fx = Fixture::start().await;
    assert!(
        fx.settle(4)
            .await
            .last()
            .is_some_and(|r| r.ok && r.writes() == 0)
    );
    let before = fx.fingerprint();
    let links_before = links_of_ana(&fx).await;
    assert!(!links_before.is_empty());

    // The administrator renames Ana: new sign-in name and primary address, the old one stays a proxy
    // address. The CRM still has the old address: the rep matches through the proxy address.
    fx.sandbox.graph.rename_user(ANA, RENAMED).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    let ana = report.mailboxes.iter().find(|m| m.rep == "ANA").unwrap();
    assert_eq!(
        ana.status,
        graph_connector::sync::Status::Synced,
        "{report}"
    );
    assert_eq!(report.writes(), 0, "the rename wrote:\n{report}");
    assert_eq!(fx.fingerprint(), before);

    // The CRM catches up with the new address: still the same mailbox, nothing written.
    let reps = fx.crm().list_reps(&Actor::Master, false).await.unwrap();
    let rep = reps.iter().find(|r| r.rep_id == "ANA").unwrap();
    let mut fields = Fields::new();
    fields.insert("E-mail1".into(), Value::from(RENAMED));
    fx.crm()
        .update(&Actor::Master, REP_TABLE, &rep.id, fields)
        .await
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(report.writes(), 0, "the new CRM address wrote:\n{report}");
    assert_eq!(fx.fingerprint(), before);
    assert_eq!(links_of_ana(&fx).await, links_before);

    // Mail to the old address is Ana's: filed once, Ana the owner and not a participant of her own mail.
    let now = fx.sandbox.graph.now();
    fx.sandbox
        .graph
        .add_item(
            RENAMED,
            ItemKind::Message,
            None,
            json!({
                "subject": "Order 4712",
                "internetMessageId": "<order-4712@fabrikam.com>",
                "from": {"emailAddress": {"name": "Grace Green", "address": "grace@fabrikam.com"}},
                "toRecipients": [{"emailAddress": {"name": "Ana Alvarez", "address": ANA}}],
                "receivedDateTime": now.to_string(),
                "body": {"contentType": "text", "content": "Please confirm."},
            }),
        )
        .unwrap();
    assert_ok(&fx.cycle().await);
    let records = fx.records_where("Contact", "Subject", "Order 4712");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["RepID"], "ANA");
    assert!(
        !records[0]
            .get("ParticipantID")
            .is_some_and(|p| p.contains("ANA")),
        "{:?}",
        records[0]
    );
    fx.close().await;
}

#[tokio::test]
async fn meetings_organized_under_a_proxy_address_are_a_synced_reps() {
    let fx = Fixture::start().await;
    fx.sandbox.graph.rename_user(ANA, RENAMED).unwrap();
    let date = fx.world.day(3);
    // Ben's copy names Ana by her old address: the organizer is still a synced rep.
    fx.sandbox
        .graph
        .add_item(
            RENAMED,
            ItemKind::Event,
            None,
            json!({
                "subject": "Pricing workshop",
                "start": {"dateTime": format!("{date}T11:00:00"), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": format!("{date}T12:00:00"), "timeZone": "W. Europe Standard Time"},
                "attendees": [{"type": "required", "emailAddress": {"name": "Ben Becker", "address": super::BEN}}],
            }),
        )
        .unwrap();
    assert_ok(&fx.cycle().await);
    let records = fx.records_where("Contact", "Subject", "Pricing workshop");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_ne!(
        records[0].get("ConnectorPublished").map(String::as_str),
        Some("true"),
        "a meeting of a synced rep was published: {:?}",
        records[0]
    );
    fx.close().await;
}

#[tokio::test]
async fn stamps_on_graph_items_carry_the_installation() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let installation = fx.config.installation();
    let record = fx
        .records_where("Contact", "Subject", "Call Fabrikam about the offer")
        .pop()
        .unwrap();
    let event = fx.item_by(
        ANA,
        ItemKind::Event,
        "subject",
        "Call Fabrikam about the offer",
    );
    let stamp = stamp_of(&event).expect("the connector's event is stamped");
    assert_eq!(stamp, format!("{installation}/Contact:{}", record["id"]));
    fx.close().await;
}

/// A second installation — a test CRM pointed at the production tenant, here even holding a copy of
/// production's external keys — neither recovers nor adopts the items production's connector wrote.
#[tokio::test]
async fn a_second_installation_never_takes_over_the_first_ones_items() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let contacts_before: Vec<serde_json::Value> = fx.items(ANA, ItemKind::Contact);
    let production: Vec<String> = contacts_before
        .iter()
        .filter(|c| stamp_of(c).is_some())
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!production.is_empty(), "production wrote no contact");
    let person = fx.records("Person").into_iter().next().unwrap();

    // The test installation: same tenant, same (copied) CRM, its own name and state.
    let dir = tempfile::tempdir().unwrap();
    let mut config = fx.config.clone();
    config.crm.installation = Some("test-crm".into());
    config.state.location =
        graph_connector::config::StateLocation::Sqlite(dir.path().join("state.db"));
    let mappings = graph_connector::load::load_mappings(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"),
        Some("isi"),
    )
    .unwrap()
    .model;
    let test = Connected::open(&config, std::sync::Arc::new(mappings), Path::new("."))
        .await
        .unwrap();
    // As if the test installation had crashed while creating the contact of a record production
    // also has: recovery looks for the test installation's stamp only.
    let ana_id = ana_user_id(&fx).await;
    let stamp = format!("test-crm/Person:{}", person["id"]);
    test.engine
        .state
        .begin_write(&JournalEntry {
            mailbox: ana_id.clone(),
            resource: "contact".into(),
            direction: "crm_to_graph".into(),
            action: "create".into(),
            target: None,
            match_key: stamp,
            payload_hash: String::new(),
            started_at: fx.sandbox.graph.now(),
        })
        .await
        .unwrap();
    let report = test.cycle(&Default::default(), fx.options()).await;
    assert!(report.ok, "{report}");
    let test_links = test
        .engine
        .state
        .list_links(&ana_id, "contact")
        .await
        .unwrap();
    for id in &production {
        assert!(
            !test_links.iter().any(|l| l.graph_id == *id),
            "the test installation took over production's contact {id}"
        );
        let after = fx
            .sandbox
            .graph
            .item(ANA, id)
            .expect("production's contact is still there");
        let before = contacts_before
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap();
        assert_eq!(
            after["changeKey"], before["changeKey"],
            "production's contact was written"
        );
    }
    test.close().await;
    fx.close().await;
}

/// The connector's stamp on a stored item (the emulator's view keeps extended properties).
fn stamp_of(item: &serde_json::Value) -> Option<String> {
    item["singleValueExtendedProperties"]
        .as_array()?
        .iter()
        .find(|p| {
            p["id"].as_str().is_some_and(|id| {
                id.eq_ignore_ascii_case(graph_connector::transport::graph::CRM_STAMP_PROPERTY_ID)
            })
        })?["value"]
        .as_str()
        .map(str::to_owned)
}

async fn ana_user_id(fx: &Fixture) -> String {
    let connected = fx.connected.as_ref().unwrap();
    let listing = connected
        .engine
        .graph
        .list_mailbox_users(&["contoso.com".to_owned()])
        .await
        .unwrap();
    listing
        .users
        .iter()
        .find(|u| {
            u.smtp_addresses()
                .iter()
                .any(|a| a.eq_ignore_ascii_case(ANA))
                || u.user_principal_name == ANA
        })
        .unwrap()
        .id
        .clone()
}

async fn links_of_ana(fx: &Fixture) -> Vec<(String, String, String)> {
    let id = ana_user_id(fx).await;
    let state = &fx.connected.as_ref().unwrap().engine.state;
    let mut out = Vec::new();
    for resource in ["event", "task", "contact", "message", "absence"] {
        for l in state::StateStore::list_links(state.as_ref(), &id, resource)
            .await
            .unwrap()
        {
            out.push((resource.to_owned(), l.graph_id, l.crm_id));
        }
    }
    out.sort();
    out
}
