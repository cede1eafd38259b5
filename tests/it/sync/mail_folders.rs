//! Mail subfolders (issue 11, item 8): the configured folders are read with every folder under them,
//! each with its own cursor; a folder made later is picked up through the folder delta; a message
//! moved between two read folders stays one record; a folder that goes away deletes nothing on its
//! own; Junk E-mail, Deleted Items, Drafts and Outbox are never read, wherever they are.

use graph_connector::emulator::graph::ItemKind;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{ANA, Fixture, assert_ok, totals};

fn mail(subject: &str, received: Timestamp) -> Value {
    json!({
        "subject": subject,
        "internetMessageId": format!("<{}@fabrikam.com>", subject.replace(' ', "-")),
        "from": {"emailAddress": {"name": "Grace Green", "address": "grace@fabrikam.com"}},
        "toRecipients": [{"emailAddress": {"name": "Ana Alvarez", "address": ANA}}],
        "receivedDateTime": received.to_string(),
        "sentDateTime": received.to_string(),
        "body": {"contentType": "text", "content": "Hello."},
        "categories": ["CRM"],
    })
}

fn add(fx: &Fixture, folder: &str, subject: &str) -> String {
    fx.sandbox
        .graph
        .add_item(
            ANA,
            ItemKind::Message,
            Some(folder),
            mail(subject, fx.sandbox.graph.now()),
        )
        .expect("the emulator takes the message")
}

fn filed(fx: &Fixture, subject: &str) -> usize {
    fx.records_where("Contact", "Subject", subject).len()
}

async fn ana_id(fx: &Fixture) -> String {
    let engine = &fx.connected.as_ref().unwrap().engine;
    let listing = engine
        .graph
        .list_mailbox_users(&["contoso.com".to_owned()])
        .await
        .unwrap();
    listing
        .users
        .iter()
        .find(|u| u.user_principal_name == ANA)
        .unwrap()
        .id
        .clone()
}

/// The message cursors' scopes of Ana's mailbox.
async fn scopes(fx: &Fixture) -> Vec<String> {
    let id = ana_id(fx).await;
    let state = &fx.connected.as_ref().unwrap().engine.state;
    state
        .list_cursors(&id, "message")
        .await
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

fn requests(fx: &Fixture, endpoint: &str) -> u64 {
    fx.sandbox
        .graph
        .counters()
        .per_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

const CHILD_FOLDERS: &str = "GET /users/{id}/mailFolders/{id}/childFolders";

#[tokio::test]
async fn subfolders_are_read_and_a_folder_made_later_is_picked_up() {
    let fx = Fixture::start().await;
    let graph = &fx.sandbox.graph;
    let customers = graph.create_mail_folder(ANA, "inbox", "Customers").unwrap();
    add(&fx, &customers, "Order from a subfolder");
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "Order from a subfolder"), 1);
    assert!(
        scopes(&fx)
            .await
            .contains(&format!("folder:inbox/{customers}")),
        "each subfolder has its own cursor"
    );

    // A quiet cycle reads no folder tree: the folder delta said nothing changed.
    graph.reset_counters();
    assert_ok(&fx.cycle().await);
    assert_eq!(requests(&fx, CHILD_FOLDERS), 0);

    // A folder made later, two levels down, is found, and so is its mail.
    let fabrikam = graph
        .create_mail_folder(ANA, &customers, "Fabrikam")
        .unwrap();
    add(&fx, &fabrikam, "Order from a new folder");
    add(&fx, "sentitems", "Reply from a root folder");
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(filed(&fx, "Order from a new folder"), 1, "{report}");
    assert_eq!(filed(&fx, "Reply from a root folder"), 1, "{report}");
    assert_eq!(filed(&fx, "Order from a subfolder"), 1, "no second record");
    fx.close().await;
}

#[tokio::test]
async fn a_message_moved_between_read_folders_stays_one_record() {
    let fx = Fixture::start().await;
    let graph = &fx.sandbox.graph;
    let customers = graph.create_mail_folder(ANA, "inbox", "Customers").unwrap();
    let id = add(&fx, "inbox", "Order to file away");
    let other = add(&fx, "inbox", "Order to file twice");
    assert_ok(&fx.cycle().await);
    let before = fx.records_where("Contact", "Subject", "Order to file away");
    assert_eq!(before.len(), 1);

    // Into a known subfolder, and into one made in the same cycle.
    graph.move_message(ANA, &id, &customers).unwrap();
    let archive = graph.create_mail_folder(ANA, "inbox", "Done").unwrap();
    graph.move_message(ANA, &other, &archive).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    let counts = totals(&report, "message");
    assert_eq!(counts.graph_to_crm.created, 0, "{report}");
    assert_eq!(counts.graph_to_crm.deleted, 0, "{report}");
    assert_eq!(
        fx.records_where("Contact", "Subject", "Order to file away"),
        before,
        "the same record, untouched"
    );
    assert_eq!(filed(&fx, "Order to file twice"), 1);
    // Still linked to the same Graph item (immutable ids).
    let id_of_ana = ana_id(&fx).await;
    let state = &fx.connected.as_ref().unwrap().engine.state;
    let link = state.get_link(&id_of_ana, "message", &id).await.unwrap();
    assert!(link.is_some(), "the moved message lost its link");

    // And back again.
    graph.move_message(ANA, &id, "inbox").unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(totals(&report, "message").graph_to_crm.created, 0);
    assert_eq!(filed(&fx, "Order to file away"), 1);
    fx.close().await;
}

#[tokio::test]
async fn a_folder_that_goes_away_forgets_its_cursor_and_deletes_nothing_on_its_own() {
    let fx = Fixture::start().await;
    let graph = &fx.sandbox.graph;
    let customers = graph.create_mail_folder(ANA, "inbox", "Customers").unwrap();
    let kept = add(&fx, &customers, "Order in a folder");
    assert_ok(&fx.cycle().await);
    let scope = format!("folder:inbox/{customers}");
    assert!(scopes(&fx).await.contains(&scope));
    let ana = ana_id(&fx).await;
    let state = fx.connected.as_ref().unwrap().engine.state.clone();

    // Deleted in Outlook: the folder goes to Deleted Items (never read), its mail with it.
    graph.delete_mail_folder(ANA, &customers).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert!(!scopes(&fx).await.contains(&scope), "the cursor stayed");
    assert_eq!(filed(&fx, "Order in a folder"), 1, "the record stays");
    assert!(
        state
            .get_link(&ana, "message", &kept)
            .await
            .unwrap()
            .is_some(),
        "the message still exists: its link stays"
    );

    // Emptied from Deleted Items: Graph says the message is gone (404), so the link goes (e-mails:
    // unlink only, the record stays).
    let gone = add(&fx, "inbox", "Order soon gone");
    assert_ok(&fx.cycle().await);
    let later = graph.create_mail_folder(ANA, "inbox", "Later").unwrap();
    graph.move_message(ANA, &gone, &later).unwrap();
    assert_ok(&fx.cycle().await);
    graph.purge_mail_folder(ANA, &later).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert!(
        state
            .get_link(&ana, "message", &gone)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(filed(&fx, "Order soon gone"), 1, "the CRM record stays");
    fx.close().await;
}

#[tokio::test]
async fn junk_deleted_items_drafts_and_outbox_are_never_read_even_under_a_read_folder() {
    let mut fx = Fixture::start().await;
    // The root of the tree holds every folder, the never-read ones among them.
    fx.config.schedules.messages.folders = vec!["msgfolderroot".into()];
    fx.reopen().await;
    let graph = &fx.sandbox.graph;
    let nested = graph
        .create_mail_folder(ANA, "junkemail", "Spam pile")
        .unwrap();
    add(&fx, "Projects", "Order in a top folder");
    add(&fx, "junkemail", "Order in junk");
    add(&fx, &nested, "Order under junk");
    add(&fx, "deleteditems", "Order deleted");
    add(&fx, "drafts", "Order drafted");
    add(&fx, "outbox", "Order unsent");
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(filed(&fx, "Order in a top folder"), 1, "{report}");
    for subject in [
        "Order in junk",
        "Order under junk",
        "Order deleted",
        "Order drafted",
        "Order unsent",
    ] {
        assert_eq!(filed(&fx, subject), 0, "`{subject}` was filed: {report}");
    }
    fx.close().await;
}

#[tokio::test]
async fn subfolders_can_be_switched_off() {
    let mut fx = Fixture::start().await;
    fx.config.schedules.messages.subfolders = false;
    fx.reopen().await;
    let customers = fx
        .sandbox
        .graph
        .create_mail_folder(ANA, "inbox", "Customers")
        .unwrap();
    add(&fx, &customers, "Order in a subfolder");
    add(&fx, "inbox", "Order in the inbox");
    fx.sandbox.graph.reset_counters();
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "Order in the inbox"), 1);
    assert_eq!(filed(&fx, "Order in a subfolder"), 0);
    assert_eq!(requests(&fx, "GET /users/{id}/mailFolders/delta"), 0);
    fx.close().await;
}
