//! Failure paths of the Graph client that would silently lose or duplicate data: a mailbox without its
//! Exchange licence is an error (never "the item is gone"), creates whose outcome is unknown are checked
//! before anything is sent again, a throttled `$batch` waits for its largest `Retry-After`, and a sync state
//! lost in the middle of a full delta round restarts the round from scratch.
//!
//! Waits go through the recording clock of `graph_client` (no test sleeps or depends on wall-clock time);
//! servers are the in-process emulator or a scripted loopback server that records every call.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use graph_connector::{
    emulator::graph::{self as emu, EmulatorOptions},
    transport::{
        Disposition,
        graph::{
            CRM_STAMP_PROPERTY_ID, CreateOptions, CreateTarget, DeltaChange, DeltaNext,
            DeltaResource, DeltaScope, GraphClient, GraphTransport, ItemKind, ItemRef, NewItem,
            batch::BatchMode,
            delta::{DeltaRound, RoundKind},
            http::Request,
        },
    },
};
use serde_json::{Value, json};

use super::graph_client::{RecordingClock, client, messages_in, scripted_client, start};

const ANA: &str = "ana@contoso.com";
const BEN: &str = "ben@contoso.com";

// --- A licence taken away -------------------------------------------------------------------------

/// An item of each kind in BEN's mailbox, as the client addresses it (the task one of its own, so that
/// its list is known).
async fn ben_items(emulator: &emu::GraphEmulator, c: &GraphClient) -> Vec<ItemRef> {
    let first = |kind| {
        emulator.items(BEN, kind)[0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let list = c.todo_lists(BEN).await.unwrap().remove(0).id;
    let task = c
        .create_item(
            &CreateTarget {
                mailbox: BEN.into(),
                kind: ItemKind::Task,
                container: Some(list.clone()),
            },
            &json!({"title": "Call Grace"}),
            &stamped(Some("A1-1-1")),
        )
        .await
        .unwrap();
    let item = |kind, id, list_id| ItemRef {
        mailbox: BEN.into(),
        kind,
        id,
        list_id,
    };
    vec![
        item(ItemKind::Event, first(emu::ItemKind::Event), None),
        item(ItemKind::Contact, first(emu::ItemKind::Contact), None),
        item(ItemKind::Message, first(emu::ItemKind::Message), None),
        item(ItemKind::Task, task.id().to_owned(), Some(list)),
    ]
}

#[tokio::test]
async fn a_mailbox_without_exchange_licence_is_an_error_on_get_and_delete_never_a_missing_item() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let items = ben_items(&emulator, &c).await;
    for item in &items {
        assert!(c.get_item(item).await.unwrap().is_some(), "{item:?}");
    }
    let parked = emulator.remove_license(BEN).unwrap();
    for item in &items {
        let kind = item.kind.as_str();
        let err = c
            .get_item(item)
            .await
            .expect_err(&format!("get of a {kind} in a mailbox without licence"));
        assert_eq!(err.status(), Some(404), "{kind}: {err}");
        assert_eq!(err.code(), Some("MailboxNotEnabledForRESTAPI"), "{kind}");
        assert_eq!(err.disposition(), Disposition::ParkMailbox, "{kind}");
        let err = c
            .delete_item(item, None)
            .await
            .expect_err(&format!("delete of a {kind} in a mailbox without licence"));
        assert_eq!(err.code(), Some("MailboxNotEnabledForRESTAPI"), "{kind}");
        assert_eq!(err.disposition(), Disposition::ParkMailbox, "{kind}");
    }
    // With the licence back, every item is still there (the deletes did nothing) …
    emulator.restore_license(parked);
    for item in &items {
        assert!(c.get_item(item).await.unwrap().is_some(), "{item:?}");
    }
    // … and a really deleted item is "gone", not an error.
    let gone = &items[1];
    assert!(c.delete_item(gone, None).await.unwrap());
    assert_eq!(c.get_item(gone).await.unwrap(), None);
    assert!(!c.delete_item(gone, None).await.unwrap());
}

// --- Creates whose outcome is unknown --------------------------------------------------------------

/// One call the scripted server received (token requests aside).
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    body: Value,
}

type Reply = (u16, Vec<(&'static str, String)>, Value);

/// A loopback Graph whose answers a test computes from each call (and the calls before it).
#[derive(Default)]
struct Server {
    calls: Mutex<Vec<Call>>,
}

impl Server {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self, method: &str, path_start: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.method == method && c.path.starts_with(path_start))
            .count()
    }
}

async fn serve<F>(answer: F) -> (String, Arc<Server>)
where
    F: Fn(&Call, &[Call]) -> Reply + Send + Sync + 'static,
{
    use axum::response::IntoResponse;
    let server = Arc::new(Server::default());
    let answer = Arc::new(answer);
    let s = server.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let s = s.clone();
        let answer = answer.clone();
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            if path.contains("/oauth2/v2.0/token") {
                let body = r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"t"}"#;
                return ([("content-type", "application/json")], body).into_response();
            }
            let method = req.method().to_string();
            let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let call = Call {
                method,
                path: path.trim_start_matches("/v1.0").to_owned(),
                body,
            };
            let (status, headers, body) = {
                let mut calls = s.calls.lock().unwrap();
                let reply = answer(&call, &calls);
                calls.push(call);
                reply
            };
            let mut res = (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), server)
}

fn graph_error(status: u16) -> Value {
    let code = match status {
        429 => "ApplicationThrottled",
        408 => "RequestTimeout",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        _ => "GatewayTimeout",
    };
    json!({"error": {"code": code, "message": "scripted failure"}})
}

/// A contact as Graph returns it, carrying the CRM stamp.
fn stamped_contact(id: &str, stamp: &str) -> Value {
    json!({
        "id": id,
        "givenName": "Crm",
        "surname": "Person",
        "singleValueExtendedProperties": [{"id": CRM_STAMP_PROPERTY_ID, "value": stamp}],
    })
}

fn contact_target() -> CreateTarget {
    CreateTarget {
        mailbox: ANA.into(),
        kind: ItemKind::Contact,
        container: None,
    }
}

fn stamped(stamp: Option<&str>) -> CreateOptions {
    CreateOptions {
        crm_stamp: stamp.map(str::to_owned),
        transaction_id: None,
    }
}

const CONTACTS: &str = "/users/ana@contoso.com/contacts";

/// The server created the contact, then failed to say so (`status`); a lookup by stamp finds it.
async fn create_lost_in(status: u16) {
    let (base, server) = serve(move |call, before| {
        let posts = before.iter().filter(|c| c.method == "POST").count();
        match (call.method.as_str(), posts) {
            ("POST", 0) => (status, vec![], graph_error(status)),
            ("POST", _) => (201, vec![], stamped_contact("C2-duplicate", "KP-7")),
            // The lookup by stamp: the first POST did create the contact.
            _ => (
                200,
                vec![],
                json!({"value": [stamped_contact("C1", "KP-7")]}),
            ),
        }
    })
    .await;
    let c = scripted_client(&base, Arc::default(), 8);
    let created = c
        .create_item(
            &contact_target(),
            &json!({"givenName": "Crm"}),
            &stamped(Some("KP-7")),
        )
        .await
        .unwrap_or_else(|e| panic!("{status}: {e}"));
    assert_eq!(
        created.id(),
        "C1",
        "{status}: the contact the server created"
    );
    assert_eq!(
        server.count("POST", CONTACTS),
        1,
        "{status}: the create was sent again blindly: {:#?}",
        server.calls()
    );
    let calls = server.calls();
    assert_eq!(calls[1].method, "GET", "{status}: the retry is a lookup");
    assert!(
        calls[1].path.starts_with(CONTACTS) && calls[1].path.contains("KP-7"),
        "{status}: looked up by stamp: {}",
        calls[1].path
    );
}

#[tokio::test]
async fn a_create_answered_with_a_server_error_is_looked_up_by_stamp_not_sent_again() {
    for status in [500, 502, 503, 504, 408] {
        create_lost_in(status).await;
    }
}

#[tokio::test]
async fn a_create_without_stamp_answered_with_a_server_error_is_not_sent_again() {
    for status in [500, 502, 503, 504, 408] {
        let (base, server) = serve(move |_, _| (status, vec![], graph_error(status))).await;
        let c = scripted_client(&base, Arc::default(), 8);
        let err = c
            .create_item(
                &contact_target(),
                &json!({"givenName": "Crm"}),
                &stamped(None),
            )
            .await
            .expect_err("the outcome is unknown: reported, not guessed");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.disposition(), Disposition::Retry, "{status}");
        assert_eq!(server.calls().len(), 1, "{status}: {:#?}", server.calls());
    }
}

#[tokio::test]
async fn a_create_answered_with_a_server_error_is_sent_again_only_when_the_lookup_finds_nothing() {
    let (base, server) = serve(|call, before| {
        let posts = before.iter().filter(|c| c.method == "POST").count();
        match (call.method.as_str(), posts) {
            ("POST", 0) => (503, vec![], graph_error(503)),
            ("POST", _) => (201, vec![], stamped_contact("C1", "KP-8")),
            _ => (200, vec![], json!({"value": []})),
        }
    })
    .await;
    let c = scripted_client(&base, Arc::default(), 8);
    let created = c
        .create_item(
            &contact_target(),
            &json!({"givenName": "Crm"}),
            &stamped(Some("KP-8")),
        )
        .await
        .unwrap();
    assert_eq!(created.id(), "C1");
    let methods: Vec<String> = server.calls().iter().map(|c| c.method.clone()).collect();
    assert_eq!(
        methods,
        ["POST", "GET", "POST"],
        "lookup before the second POST"
    );
}

#[tokio::test]
async fn a_throttled_create_is_sent_again_after_its_retry_after() {
    let (base, server) = serve(|_, before| {
        if before.is_empty() {
            (429, vec![("retry-after", "7".into())], graph_error(429))
        } else {
            (201, vec![], stamped_contact("C1", "KP-9"))
        }
    })
    .await;
    let clock = Arc::new(RecordingClock::default());
    let c = scripted_client(&base, clock.clone(), 8);
    let created = c
        .create_item(
            &contact_target(),
            &json!({"givenName": "Crm"}),
            &stamped(Some("KP-9")),
        )
        .await
        .unwrap();
    assert_eq!(created.id(), "C1");
    // A 429 proves the request was not executed: no lookup, the same POST again.
    let methods: Vec<String> = server.calls().iter().map(|c| c.method.clone()).collect();
    assert_eq!(methods, ["POST", "POST"]);
    assert_eq!(server.calls()[0].body, server.calls()[1].body);
    assert_eq!(
        *clock.sleeps.lock().unwrap(),
        vec![Duration::from_secs(7)],
        "waited as Graph asked"
    );
}

#[tokio::test]
async fn an_event_create_is_repeated_only_with_the_same_transaction_id() {
    let (base, server) = serve(|_, before| {
        if before.is_empty() {
            (503, vec![], graph_error(503))
        } else {
            let event = json!({
                "id": "E1",
                "subject": "Visit",
                "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-14T11:00:00", "timeZone": "UTC"},
            });
            (201, vec![], event)
        }
    })
    .await;
    let c = scripted_client(&base, Arc::default(), 8);
    let target = CreateTarget {
        mailbox: ANA.into(),
        kind: ItemKind::Event,
        container: None,
    };
    let body = json!({
        "subject": "Visit",
        "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-14T11:00:00", "timeZone": "UTC"},
    });
    let created = c
        .create_item(&target, &body, &stamped(Some("MA-1")))
        .await
        .unwrap();
    assert_eq!(created.id(), "E1");
    let calls = server.calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let tid = |c: &Call| c.body["transactionId"].as_str().map(str::to_owned);
    assert!(
        tid(&calls[0]).is_some(),
        "events carry Graph's idempotency key"
    );
    assert_eq!(
        tid(&calls[0]),
        tid(&calls[1]),
        "Graph returns the first event for a repeated transactionId"
    );
}

/// The sub-requests of a `$batch` call the server received.
fn batch_items(call: &Call) -> Vec<Value> {
    call.body["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn batched_creates_lost_in_a_server_error_are_looked_up_and_throttled_ones_resent() {
    // Batch 1: item 1 created but answered 503, item 2 throttled, item 3 created. Batch 2: item 2 created.
    let (base, server) = serve(|call, before| {
        if call.path == "/$batch" {
            let batches = before.iter().filter(|c| c.path == "/$batch").count();
            let responses: Vec<Value> = batch_items(call)
                .iter()
                .map(|r| {
                    let id = r["id"].as_str().unwrap();
                    let stamp = r["body"]["singleValueExtendedProperties"][0]["value"]
                        .as_str()
                        .unwrap();
                    match (batches, id) {
                        (0, "1") => json!({"id": id, "status": 503, "body": graph_error(503)}),
                        (0, "2") => json!({"id": id, "status": 429, "headers": {"Retry-After": "4"}, "body": graph_error(429)}),
                        _ => json!({"id": id, "status": 201, "body": stamped_contact(&format!("C{id}"), stamp)}),
                    }
                })
                .collect();
            (200, vec![], json!({"responses": responses}))
        } else if call.method == "GET" && call.path.contains("KP-1") {
            (200, vec![], json!({"value": [stamped_contact("C1", "KP-1")]}))
        } else {
            (500, vec![], graph_error(500))
        }
    })
    .await;
    let clock = Arc::new(RecordingClock::default());
    let c = scripted_client(&base, clock.clone(), 8);
    let items: Vec<NewItem> = (1..=3)
        .map(|n| NewItem {
            target: contact_target(),
            body: json!({"givenName": format!("Crm {n}")}),
            options: stamped(Some(&format!("KP-{n}"))),
        })
        .collect();
    let results = c.create_items(&items).await;
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|i| i.id().to_owned())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert_eq!(ids, ["C1", "C2", "C3"]);
    let calls = server.calls();
    let batches: Vec<&Call> = calls.iter().filter(|c| c.path == "/$batch").collect();
    assert_eq!(batches.len(), 2, "{calls:#?}");
    let resent: Vec<String> = batch_items(batches[1])
        .iter()
        .map(|r| r["body"]["givenName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(resent, ["Crm 2"], "only the throttled item is re-sent");
    assert_eq!(
        server.count("POST", CONTACTS),
        0,
        "nothing created outside the batch: {calls:#?}"
    );
    assert_eq!(server.count("GET", CONTACTS), 1, "one lookup, for item 1");
    assert_eq!(*clock.sleeps.lock().unwrap(), vec![Duration::from_secs(4)]);
}

/// Regression (issue 12): the `$batch` envelope of creates was an idempotent request, so a 5xx answer
/// re-sent every create in it blindly.
#[tokio::test]
async fn regression_issue_12_a_batch_of_creates_answered_with_a_server_error_is_not_sent_again_blindly()
 {
    let event = |id: &str| {
        json!({
            "id": id,
            "subject": "Visit",
            "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-14T11:00:00", "timeZone": "UTC"},
        })
    };
    let (base, server) = serve(move |call, before| {
        let batches = before.iter().filter(|c| c.path == "/$batch").count();
        match (call.method.as_str(), call.path.as_str()) {
            // Graph ran the batch, the gateway timed out on the answer.
            ("POST", "/$batch") if batches == 0 => (504, vec![], graph_error(504)),
            ("POST", "/$batch") => {
                let responses: Vec<Value> = batch_items(call)
                    .iter()
                    .map(|r| json!({"id": r["id"], "status": 201, "body": stamped_contact("DUPLICATE", "?")}))
                    .collect();
                (200, vec![], json!({"responses": responses}))
            }
            ("GET", path) if path.contains("KP-1") => {
                (200, vec![], json!({"value": [stamped_contact("C1", "KP-1")]}))
            }
            ("GET", path) if path.contains("KP-2") => {
                (200, vec![], json!({"value": [stamped_contact("C2", "KP-2")]}))
            }
            // The event again, with its transactionId: Graph answers the event it created first.
            ("POST", path) if path.ends_with("/events") => (201, vec![], event("E1")),
            _ => (500, vec![], graph_error(500)),
        }
    })
    .await;
    let c = scripted_client(&base, Arc::default(), 8);
    let mut items: Vec<NewItem> = (1..=2)
        .map(|n| NewItem {
            target: contact_target(),
            body: json!({"givenName": format!("Crm {n}")}),
            options: stamped(Some(&format!("KP-{n}"))),
        })
        .collect();
    items.push(NewItem {
        target: CreateTarget {
            mailbox: ANA.into(),
            kind: ItemKind::Event,
            container: None,
        },
        body: json!({
            "subject": "Visit",
            "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-14T11:00:00", "timeZone": "UTC"},
        }),
        options: stamped(Some("MA-1")),
    });
    let results = c.create_items(&items).await;
    let ids: Vec<String> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|i| i.id().to_owned())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert_eq!(ids, ["C1", "C2", "E1"]);
    let calls = server.calls();
    assert_eq!(
        server.count("POST", "/$batch"),
        1,
        "the batch was sent again blindly: {calls:#?}"
    );
    assert_eq!(server.count("POST", CONTACTS), 0, "{calls:#?}");
    let tid = |c: &Call| c.body["transactionId"].as_str().map(str::to_owned);
    let batched = batch_items(&calls[0]);
    let resent = calls
        .iter()
        .find(|c| c.method == "POST" && c.path.ends_with("/events"))
        .expect("the event is finished on its own");
    assert!(batched[2]["body"]["transactionId"].is_string());
    assert_eq!(
        batched[2]["body"]["transactionId"]
            .as_str()
            .map(str::to_owned),
        tid(resent),
        "the event is repeated only with its transactionId"
    );
}

// --- $batch throttling ------------------------------------------------------------------------------

#[tokio::test]
async fn a_throttled_batch_waits_for_the_largest_retry_after_of_its_items() {
    // Neither the first nor the last throttled item has the largest Retry-After.
    let (base, server) = serve(|call, before| {
        let round = before.len();
        let responses: Vec<Value> = batch_items(call)
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap();
                let retry_after = match (round, id) {
                    (0, "1") => Some("3"),
                    (0, "2") => Some("11"),
                    (0, "3") => Some("2.5"),
                    _ => None,
                };
                match retry_after {
                    Some(s) => json!({"id": id, "status": 429, "headers": {"Retry-After": s}, "body": graph_error(429)}),
                    None => json!({"id": id, "status": 200, "body": {"id": format!("X{id}")}}),
                }
            })
            .collect();
        (200, vec![], json!({"responses": responses}))
    })
    .await;
    let clock = Arc::new(RecordingClock::default());
    let c = scripted_client(&base, clock.clone(), 8);
    let requests: Vec<_> = (1..=4)
        .map(|n| Request::get(format!("/users/{ANA}/contacts/X{n}"), Some(ANA)))
        .collect();
    let results = c.batch(&requests, BatchMode::Parallel).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        *clock.sleeps.lock().unwrap(),
        vec![Duration::from_secs(11)],
        "one wait, for the largest Retry-After"
    );
    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    let ids: BTreeSet<String> = batch_items(&calls[1])
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, BTreeSet::from(["1".into(), "2".into(), "3".into()]));
}

// --- A sync state lost in the middle of a full round -----------------------------------------------

#[tokio::test]
async fn a_sync_state_lost_mid_round_restarts_the_round_without_what_it_had_seen() {
    let emulator = start(EmulatorOptions::default()).await;
    // Pages of three items, and enough mail that the inbox takes several pages.
    for n in 0..7 {
        emulator
            .add_item(
                ANA,
                emu::ItemKind::Message,
                None,
                json!({"subject": format!("Offer {n}"), "from": {"emailAddress": {"address": "frank@fabrikam.com"}}}),
            )
            .unwrap();
    }
    let c = client(&emulator, Arc::default());
    let scope = DeltaScope {
        mailbox: ANA.into(),
        resource: DeltaResource::Messages {
            folder: "inbox".into(),
        },
    };
    let mut round = DeltaRound::new(scope.clone(), None);
    // Read until a page brought items, and more pages remain.
    let mut seen_before: Vec<String> = Vec::new();
    loop {
        let page = round.next_page(&c).await.unwrap().expect("more pages");
        for change in &page.changes {
            if let DeltaChange::Upsert(item) = change {
                seen_before.push(item.id().to_owned());
            }
        }
        assert!(
            matches!(page.next, DeltaNext::More(_)),
            "the inbox needs more pages than this test reads before the restart"
        );
        if !seen_before.is_empty() {
            break;
        }
    }
    // Exchange drops the sync state; meanwhile a message the round already listed is deleted.
    let victim = seen_before[0].clone();
    emulator.evict_delta_tokens(Some(ANA)).unwrap();
    emulator.delete_item(ANA, &victim).unwrap();
    let mut restarts = Vec::new();
    while let Some(page) = round.next_page(&c).await.unwrap() {
        restarts.extend(page.restarted.map(|r| r.code));
    }
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    let outcome = round.finish();
    assert!(
        matches!(outcome.kind, RoundKind::Resync(_)),
        "{:?}",
        outcome.kind
    );
    assert!(
        !outcome.seen.contains(&victim),
        "the deleted message is reported as present"
    );
    assert_eq!(
        outcome.seen.into_iter().collect::<BTreeSet<_>>(),
        messages_in(&emulator, ANA, &["inbox"])
    );
}
