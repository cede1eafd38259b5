//! The connector's contact folder (issue 11, item 9): CRM persons go into a folder of their own (made
//! once, found again by name after a crash, kept when renamed, made again when deleted), while Outlook
//! contacts adopted by e-mail address stay in the default folder and keep syncing.

use graph_connector::{
    emulator::graph::ItemKind,
    sync::{Mode, Selector},
    transport::crm::Value,
};
use serde_json::json;

use super::{ANA, Fixture, assert_ok, totals};

const FOLDER: &str = "CRM contacts";

/// Ana's contact folders named `name`.
fn folders_named(fx: &Fixture, name: &str) -> Vec<String> {
    fx.sandbox
        .graph
        .contact_folders(ANA)
        .into_iter()
        .filter(|(_, n)| n == name)
        .map(|(id, _)| id)
        .collect()
}

fn person(fx: &Fixture, last_name: &str) -> std::collections::BTreeMap<String, String> {
    fx.records_where("Person", "LastName", last_name)
        .into_iter()
        .next()
        .expect("the CRM person")
}

#[tokio::test]
async fn new_contacts_go_to_the_crm_folder_and_adopted_ones_stay_and_keep_syncing() {
    let fx = Fixture::start().await;
    // A dry run makes no folder.
    let mut options = fx.options();
    options.mode = Mode::DryRun;
    assert_ok(&fx.cycle_with(&Selector::default(), options).await);
    assert!(folders_named(&fx, FOLDER).is_empty());

    let report = fx.cycle().await;
    assert_ok(&report);
    let folder = folders_named(&fx, FOLDER);
    assert_eq!(folder.len(), 1, "{report}");
    let grace = fx.item_by(ANA, ItemKind::Contact, "displayName", "Grace Green");
    assert_eq!(
        grace["parentFolderId"],
        folder[0].as_str(),
        "created in the CRM folder"
    );
    let default = fx.sandbox.graph.container_id(ANA, "contacts").unwrap();
    let frank = fx.item_by(ANA, ItemKind::Contact, "displayName", "Frank Fischer");
    assert_eq!(
        frank["parentFolderId"],
        default.as_str(),
        "the adopted contact stays put"
    );
    let contacts = fx.items(ANA, ItemKind::Contact).len();

    // An Outlook edit of the adopted contact (default folder) reaches the CRM.
    fx.sandbox
        .graph
        .update_item(
            ANA,
            frank["id"].as_str().unwrap(),
            json!({"jobTitle": "Head of Purchasing"}),
        )
        .unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(
        person(&fx, "Fischer")["JobTitle"],
        "Head of Purchasing",
        "{report}"
    );

    // Later cycles make no second folder and no second contact.
    assert_ok(&fx.cycle().await);
    assert_eq!(folders_named(&fx, FOLDER).len(), 1);
    assert_eq!(fx.items(ANA, ItemKind::Contact).len(), contacts);
    fx.close().await;
}

#[tokio::test]
async fn a_folder_made_before_a_crash_is_found_again_not_made_twice() {
    let fx = Fixture::start().await;
    // The process made the folder and died before it recorded anything.
    let graph = fx.connected.as_ref().unwrap().engine.graph.clone();
    let made = graph.create_contact_folder(ANA, FOLDER).await.unwrap();
    // The transport's create is idempotent by name.
    let again = graph.create_contact_folder(ANA, FOLDER).await.unwrap();
    assert_eq!(made.id, again.id);

    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(
        folders_named(&fx, FOLDER),
        vec![made.id.clone()],
        "{report}"
    );
    let grace = fx.item_by(ANA, ItemKind::Contact, "displayName", "Grace Green");
    assert_eq!(grace["parentFolderId"], made.id.as_str());
    fx.close().await;
}

#[tokio::test]
async fn a_renamed_folder_stays_the_connectors() {
    let mut fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let folder = folders_named(&fx, FOLDER).remove(0);
    fx.sandbox
        .graph
        .rename_contact_folder(ANA, &folder, "Customers")
        .unwrap();
    // Also across a resync, which forgets every cursor.
    fx.engine()
        .forget(ANA, &["contact".to_owned()], None)
        .await
        .unwrap();
    let grace = person(&fx, "Green");
    fx.crm_update("Person", &grace["id"], &[("JobTitle", Value::from("CEO"))])
        .await;
    let report = fx.cycle().await;
    assert_ok(&report);
    assert!(
        folders_named(&fx, FOLDER).is_empty(),
        "a second folder: {report}"
    );
    let contact = fx.item_by(ANA, ItemKind::Contact, "displayName", "Grace Green");
    assert_eq!(contact["parentFolderId"], folder.as_str());
    assert_eq!(contact["jobTitle"], "CEO", "{report}");
    fx.close().await;
}

#[tokio::test]
async fn a_deleted_folder_is_made_again_and_its_contacts_follow_the_deletion_policy() {
    let fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let folder = folders_named(&fx, FOLDER).remove(0);
    let before = fx.records("Person").len();
    fx.sandbox
        .graph
        .delete_contact_folder(ANA, &folder)
        .unwrap();

    let report = fx.cycle().await;
    assert_ok(&report);
    let again = folders_named(&fx, FOLDER);
    assert_eq!(again.len(), 1, "{report}");
    assert_ne!(again[0], folder);
    // Contacts: a Graph removal unlinks; the CRM person stays and is not pushed back at once.
    assert_eq!(fx.records("Person").len(), before);
    assert_eq!(
        totals(&report, "contact").crm_to_graph.created,
        0,
        "{report}"
    );
    assert!(
        fx.items(ANA, ItemKind::Contact)
            .iter()
            .all(|c| c["displayName"] != "Grace Green")
    );

    // A later CRM change of the person creates the contact again, in the new folder, once.
    let grace = person(&fx, "Green");
    fx.crm_update("Person", &grace["id"], &[("JobTitle", Value::from("CEO"))])
        .await;
    let report = fx.cycle().await;
    assert_ok(&report);
    let contact = fx.item_by(ANA, ItemKind::Contact, "displayName", "Grace Green");
    assert_eq!(contact["parentFolderId"], again[0].as_str(), "{report}");
    assert_eq!(fx.cycle().await.writes(), 0);
    fx.close().await;
}
