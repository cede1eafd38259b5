//! A sync state lost in the middle of a full delta round: the round starts over and what the abandoned
//! pages listed is dropped, so an event deleted meanwhile is a deletion, not "still present" (and, since
//! the new delta link has no record of it, a deletion that would otherwise never be reported).
//!
//! The engine reads Graph through the real client on small pages; a pass-through `GraphTransport` lets the
//! test act between two pages of one round (Exchange drops the sync state, the user deletes an event).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use futures::future::BoxFuture;
use graph_connector::{
    emulator::graph::ItemKind as EmuKind,
    transport::graph::{
        CreateOptions, CreateTarget, DeltaChange, DeltaCursor, DeltaNext, DeltaPage, DeltaScope,
        ExchangeIdType, FolderChanges, GraphClient, GraphClientConfig, GraphError, GraphTransport,
        Item, ItemRef, StampScope, UpdateOutcome, UserListing,
        auth::Credentials,
        types::{ContactFolder, MailFolder, TodoTaskList},
    },
};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{ANA, Fixture, assert_ok, totals};

/// The pause between two pages: the candidate event the last page listed goes to the test, the round
/// goes on when the test answers.
struct Pause {
    victim: oneshot::Sender<String>,
    resume: oneshot::Receiver<()>,
}

/// The real client, with one pause in a delta round after a page that listed a candidate (one of ANA's
/// linked events) and before the page after it.
struct PauseMidRound {
    inner: GraphClient,
    candidates: HashSet<String>,
    /// The scope whose last page listed a candidate, and the candidate.
    listed: Mutex<Option<(DeltaScope, String)>>,
    pause: Mutex<Option<Pause>>,
}

impl PauseMidRound {
    async fn page(
        &self,
        scope: &DeltaScope,
        cursor: &DeltaCursor,
    ) -> Result<DeltaPage, GraphError> {
        if matches!(cursor, DeltaCursor::Next(_)) {
            let listed = {
                let mut listed = self.listed.lock().unwrap();
                match listed.take() {
                    Some((s, id)) if s == *scope => Some(id),
                    other => {
                        *listed = other;
                        None
                    }
                }
            };
            let pause = listed.and_then(|id| Some((id, self.pause.lock().unwrap().take()?)));
            if let Some((id, pause)) = pause {
                pause.victim.send(id).unwrap();
                pause.resume.await.unwrap();
            }
        }
        let page = self.inner.delta_page(scope, cursor).await?;
        if matches!(page.next, DeltaNext::More(_)) {
            let candidate = page.changes.iter().find_map(|c| match c {
                DeltaChange::Upsert(item) if self.candidates.contains(item.id()) => {
                    Some(item.id().to_owned())
                }
                _ => None,
            });
            if let Some(id) = candidate {
                *self.listed.lock().unwrap() = Some((scope.clone(), id));
            }
        }
        Ok(page)
    }
}

impl GraphTransport for PauseMidRound {
    fn health_check<'a>(
        &'a self,
        mailbox: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), GraphError>> {
        self.inner.health_check(mailbox)
    }
    fn list_mailbox_users<'a>(
        &'a self,
        domains: &'a [String],
    ) -> BoxFuture<'a, Result<UserListing, GraphError>> {
        self.inner.list_mailbox_users(domains)
    }
    fn todo_lists<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TodoTaskList>, GraphError>> {
        self.inner.todo_lists(mailbox)
    }
    fn default_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, GraphError>> {
        self.inner.default_contact_folder(mailbox)
    }
    fn contact_folders<'a>(
        &'a self,
        mailbox: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ContactFolder>, GraphError>> {
        self.inner.contact_folders(mailbox)
    }
    fn mail_folder_tree<'a>(
        &'a self,
        mailbox: &'a str,
        folder: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MailFolder>, GraphError>> {
        self.inner.mail_folder_tree(mailbox, folder)
    }
    fn mail_folder_changes<'a>(
        &'a self,
        mailbox: &'a str,
        link: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FolderChanges, GraphError>> {
        self.inner.mail_folder_changes(mailbox, link)
    }
    fn create_contact_folder<'a>(
        &'a self,
        mailbox: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ContactFolder, GraphError>> {
        self.inner.create_contact_folder(mailbox, name)
    }
    fn delta_page<'a>(
        &'a self,
        scope: &'a DeltaScope,
        cursor: &'a DeltaCursor,
    ) -> BoxFuture<'a, Result<DeltaPage, GraphError>> {
        Box::pin(self.page(scope, cursor))
    }
    fn get_item<'a>(
        &'a self,
        item: &'a ItemRef,
    ) -> BoxFuture<'a, Result<Option<Item>, GraphError>> {
        self.inner.get_item(item)
    }
    fn create_item<'a>(
        &'a self,
        target: &'a CreateTarget,
        body: &'a Value,
        options: &'a CreateOptions,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        self.inner.create_item(target, body, options)
    }
    fn create_items<'a>(
        &'a self,
        items: &'a [graph_connector::transport::graph::NewItem],
    ) -> BoxFuture<'a, Vec<Result<Item, GraphError>>> {
        self.inner.create_items(items)
    }
    fn update_item<'a>(
        &'a self,
        item: &'a ItemRef,
        patch: &'a Value,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<UpdateOutcome, GraphError>> {
        self.inner.update_item(item, patch, if_match)
    }
    fn delete_item<'a>(
        &'a self,
        item: &'a ItemRef,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, GraphError>> {
        self.inner.delete_item(item, if_match)
    }
    fn stamp<'a>(
        &'a self,
        item: &'a ItemRef,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Item, GraphError>> {
        self.inner.stamp(item, crm_id)
    }
    fn find_by_stamp<'a>(
        &'a self,
        scope: &'a StampScope,
        crm_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Item>, GraphError>> {
        self.inner.find_by_stamp(scope, crm_id)
    }
    fn translate_exchange_ids<'a>(
        &'a self,
        mailbox: &'a str,
        ids: &'a [String],
        from: ExchangeIdType,
        to: ExchangeIdType,
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, GraphError>> {
        self.inner.translate_exchange_ids(mailbox, ids, from, to)
    }
}

/// The client the engine would build for the sandbox, reading two items a page.
fn small_page_client(fx: &Fixture) -> GraphClient {
    let g = &fx.config.graph;
    let mut credentials = Credentials::new(
        "https://login.microsoftonline.com",
        &g.tenant_id,
        &g.client_id,
        SecretString::from(fx.sandbox.credentials().client_secret),
    );
    credentials.token_url = g.token_endpoint();
    let mut config = GraphClientConfig::new(&g.graph_url, credentials);
    config.default_mailbox_time_zone = g.default_time_zone.clone();
    config.max_page_size = 2;
    GraphClient::new(config).unwrap()
}

#[tokio::test]
async fn an_event_deleted_while_a_lost_sync_state_restarts_the_round_is_flagged_deleted() {
    let mut fx = Fixture::start().await;
    // Enough single events that the calendar round takes several pages of two.
    for n in 0..6 {
        let date = fx.world.day(n % 3 + 1);
        fx.sandbox
            .graph
            .add_item(
                ANA,
                EmuKind::Event,
                None,
                json!({
                    "subject": format!("Site visit {n}"),
                    "start": {"dateTime": format!("{date}T0{}:00:00", n + 1), "timeZone": "UTC"},
                    "end": {"dateTime": format!("{date}T0{}:30:00", n + 1), "timeZone": "UTC"},
                }),
            )
            .unwrap();
    }
    assert_ok(&fx.cycle().await);
    // Linked single events: each the one CRM appointment with its subject.
    let candidates: HashSet<String> = fx
        .items(ANA, EmuKind::Event)
        .iter()
        .filter(|e| e["type"] == "singleInstance")
        .filter(|e| {
            let subject = e["subject"].as_str().unwrap_or_default();
            fx.records_where("Contact", "Subject", subject).len() == 1
        })
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(candidates.len() >= 2, "{candidates:?}");
    let (victim_tx, victim_rx) = oneshot::channel();
    let (resume_tx, resume_rx) = oneshot::channel();
    let inner = small_page_client(&fx);
    fx.engine().graph = Arc::new(PauseMidRound {
        inner,
        candidates,
        listed: Mutex::new(None),
        pause: Mutex::new(Some(Pause {
            victim: victim_tx,
            resume: resume_rx,
        })),
    });
    // The next calendar round is a full one (its delta link is gone) …
    fx.sandbox.graph.evict_delta_tokens(Some(ANA)).unwrap();
    let (report, victim, subject) = {
        let cycle = fx.cycle();
        tokio::pin!(cycle);
        let victim = tokio::select! {
            report = &mut cycle => panic!("the calendar round never paused between two pages:\n{report}"),
            victim = victim_rx => victim.unwrap(),
        };
        // … and in its middle, Exchange drops the sync state again while the user deletes an event the round
        // has already listed.
        let graph = &fx.sandbox.graph;
        let subject = graph.item(ANA, &victim).unwrap()["subject"]
            .as_str()
            .unwrap()
            .to_owned();
        graph.evict_delta_tokens(Some(ANA)).unwrap();
        graph.delete_item(ANA, &victim).unwrap();
        resume_tx.send(()).unwrap();
        (cycle.await, victim, subject)
    };
    assert_ok(&report);
    assert!(fx.sandbox.graph.item(ANA, &victim).is_none());
    assert_eq!(totals(&report, "event").graph_to_crm.deleted, 1, "{report}");
    let record = &fx.records_where("Contact", "Subject", &subject)[0];
    assert_eq!(
        record.get("ConnectorDeleted").map(String::as_str),
        Some("true"),
        "`{subject}` was deleted in Graph: {record:#?}"
    );
    fx.close().await;
}
