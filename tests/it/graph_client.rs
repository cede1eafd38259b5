//! Contract suite of the Graph client (`transport::graph`) against the in-process Graph emulator.
//!
//! The emulator is the independent reference (it shares no code with the client). Waits go through a
//! recording clock that returns at once, so `Retry-After` is asserted from what the client asked for,
//! never from wall-clock timing.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use futures::future::{BoxFuture, join_all};
use graph_connector::{
    emulator::graph::{
        self as emu, EmulatorOptions, Faults, GraphEmulator, RetryAfter, SecretSeed, Seed,
    },
    transport::clock::Clock,
    transport::graph::{
        CreateOptions, CreateTarget, DeltaChange, DeltaResource, DeltaScope, GraphClient,
        GraphClientConfig, GraphTransport, Item, ItemKind, ItemRef, MailboxState,
        REMOVED_OUTSIDE_WINDOW, StampScope, TimeZoneSource,
        auth::Credentials,
        batch::BatchMode,
        delta::{DeltaRound, RoundKind, ScopeSelection, mailbox_scopes},
        diagnose,
        http::Request,
        throttle::MailboxLimiter,
        types::EventType,
    },
};
use jiff::Timestamp;
use secrecy::SecretString;
use serde_json::json;

const ANA: &str = "ana@contoso.com";
const BEN: &str = "ben@contoso.com";
const CHLOE: &str = "chloe@contoso.com";

/// A virtual clock (tokio's paused time needs the `test-util` feature): sleeps return at once, are
/// recorded, and move the clock forward; tests can also advance it.
#[derive(Debug, Default)]
pub(super) struct RecordingClock {
    pub(super) sleeps: Mutex<Vec<Duration>>,
    offset: Mutex<Duration>,
}

impl RecordingClock {
    fn advance(&self, d: Duration) {
        *self.offset.lock().unwrap() += d;
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + *self.offset.lock().unwrap()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now() + *self.offset.lock().unwrap()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.sleeps.lock().unwrap().push(d);
        self.advance(d);
        Box::pin(tokio::task::yield_now())
    }
}

fn client_with(
    emulator: &GraphEmulator,
    token_url: &str,
    client_id: &str,
    secret: &str,
    clock: Arc<RecordingClock>,
) -> GraphClient {
    let creds = Credentials {
        token_url: token_url.to_owned(),
        // The tenant is the token url's path segment, as `Credentials::new` builds it.
        tenant_id: token_url
            .rsplit("/oauth2/")
            .nth(1)
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or(emulator.tenant_id())
            .to_owned(),
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
        scope: "https://graph.microsoft.com/.default".to_owned(),
    };
    let mut config = GraphClientConfig::new(&emulator.graph_url(), creds);
    config.max_page_size = 3;
    config.default_mailbox_time_zone = "W. Europe Standard Time".to_owned();
    config.retry.max_attempts = 12;
    config.retry.min_backoff = Duration::from_millis(100);
    config.retry.max_backoff = Duration::from_secs(8);
    config.retry.jitter_seed = Some(7);
    GraphClient::with_parts(config, clock, MailboxLimiter::new(4)).unwrap()
}

pub(super) fn client(emulator: &GraphEmulator, clock: Arc<RecordingClock>) -> GraphClient {
    client_with(
        emulator,
        &emulator.token_url(),
        emulator.client_id(),
        emulator.client_secret(),
        clock,
    )
}

pub(super) async fn start(options: EmulatorOptions) -> GraphEmulator {
    emu::spawn(options).await.unwrap()
}

fn window() -> DeltaResource {
    DeltaResource::Events {
        start: "2026-09-01T00:00:00Z".parse::<Timestamp>().unwrap(),
        end: "2027-06-01T00:00:00Z".parse::<Timestamp>().unwrap(),
    }
}

/// Every delta scope of a mailbox: inbox, sent items, the calendar window, each contact folder, each list.
async fn scopes(c: &GraphClient, mailbox: &str) -> Vec<DeltaScope> {
    let DeltaResource::Events { start, end } = window() else {
        unreachable!()
    };
    let selection = ScopeSelection {
        mail_folders: vec!["inbox".into(), "sentitems".into()],
        window: Some((start, end)),
        contacts: true,
        tasks: true,
    };
    let all = mailbox_scopes(c, mailbox, &selection).await.unwrap();
    if mailbox == ANA {
        let folders = c.contact_folders(mailbox).await.unwrap();
        let names: Vec<_> = folders
            .iter()
            .map(|f| f.display_name.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(names, ["Contacts", "Partners"], "the default folder first");
        assert_eq!(all.len(), 3 + 2 + c.todo_lists(ANA).await.unwrap().len());
    }
    all
}

/// What a caller keeps of a round: items by id (merged idempotently), and the delta link.
#[derive(Debug, Default, Clone)]
struct Mirror {
    items: BTreeMap<String, Item>,
    delta_link: Option<String>,
    full_rounds: u32,
    restarts: u32,
}

async fn sync(c: &GraphClient, scope: &DeltaScope, mirror: &mut Mirror) {
    let mut round = DeltaRound::new(scope.clone(), mirror.delta_link.clone());
    let mut fresh: BTreeMap<String, Item> = BTreeMap::new();
    while let Some(page) = round
        .next_page(c)
        .await
        .unwrap_or_else(|e| panic!("{scope:?}: {e}"))
    {
        if page.restarted.is_some() {
            mirror.restarts += 1;
            fresh.clear();
        }
        for change in page.changes {
            match change {
                DeltaChange::Upsert(item) => {
                    fresh.insert(item.id().to_owned(), item);
                }
                DeltaChange::Removed { id, .. } => {
                    fresh.remove(&id);
                    mirror.items.remove(&id);
                }
            }
        }
    }
    let outcome = round.finish();
    if outcome.kind.is_full() {
        // Only a completed full round may drop what it did not see.
        mirror.full_rounds += 1;
        mirror.items = fresh;
    } else {
        mirror.items.extend(fresh);
    }
    assert!(!outcome.delta_link.is_empty());
    mirror.delta_link = Some(outcome.delta_link);
}

/// Runs every scope of `mailboxes` concurrently (so the per-mailbox cap is exercised).
async fn sync_all(c: &GraphClient, all: &[DeltaScope], mirrors: &mut HashMap<DeltaScope, Mirror>) {
    let mut work: Vec<(DeltaScope, Mirror)> = all
        .iter()
        .map(|s| (s.clone(), mirrors.remove(s).unwrap_or_default()))
        .collect();
    join_all(work.iter_mut().map(|(s, m)| sync(c, s, m))).await;
    mirrors.extend(work);
}

/// Ids a full sync must hold, from the emulator's store (events: single instances and series masters).
fn truth(emulator: &GraphEmulator, mailbox: &str, kind: emu::ItemKind) -> BTreeSet<String> {
    emulator
        .items(mailbox, kind)
        .into_iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

fn synced_ids(
    mirrors: &HashMap<DeltaScope, Mirror>,
    mailbox: &str,
    kind: ItemKind,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (scope, m) in mirrors {
        if scope.mailbox != mailbox || scope.resource.kind() != kind {
            continue;
        }
        for (id, item) in &m.items {
            match item {
                // Occurrences and exceptions stand for their series master.
                Item::Event(e) if e.series_master_id.is_some() => {
                    out.insert(e.series_master_id.clone().unwrap());
                }
                _ => {
                    out.insert(id.clone());
                }
            }
        }
    }
    out
}

pub(super) fn messages_in(
    emulator: &GraphEmulator,
    mailbox: &str,
    folders: &[&str],
) -> BTreeSet<String> {
    let ids: Vec<String> = folders
        .iter()
        .map(|f| emulator.container_id(mailbox, f).unwrap())
        .collect();
    emulator
        .items(mailbox, emu::ItemKind::Message)
        .into_iter()
        .filter(|v| ids.iter().any(|f| v["parentFolderId"].as_str() == Some(f)))
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

fn assert_mirrors_match(
    emulator: &GraphEmulator,
    mirrors: &HashMap<DeltaScope, Mirror>,
    mailbox: &str,
) {
    assert_eq!(
        synced_ids(mirrors, mailbox, ItemKind::Message),
        messages_in(emulator, mailbox, &["inbox", "sentitems"]),
        "{mailbox}: messages"
    );
    assert_eq!(
        synced_ids(mirrors, mailbox, ItemKind::Contact),
        truth(emulator, mailbox, emu::ItemKind::Contact),
        "{mailbox}: contacts"
    );
    assert_eq!(
        synced_ids(mirrors, mailbox, ItemKind::Task),
        truth(emulator, mailbox, emu::ItemKind::Task),
        "{mailbox}: tasks"
    );
    assert_eq!(
        synced_ids(mirrors, mailbox, ItemKind::Event),
        truth(emulator, mailbox, emu::ItemKind::Event),
        "{mailbox}: events"
    );
}

fn total_items(mirrors: &HashMap<DeltaScope, Mirror>) -> usize {
    mirrors.values().map(|m| m.items.len()).sum()
}

#[tokio::test]
async fn users_are_listed_with_mailbox_probe_and_time_zone() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let listing = c
        .list_mailbox_users(&["contoso.com".to_owned()])
        .await
        .unwrap();
    let by_upn: BTreeMap<&str, &MailboxState> = listing
        .users
        .iter()
        .map(|u| (u.user_principal_name.as_str(), &u.mailbox))
        .collect();
    assert!(
        !by_upn.contains_key("eva@fabrikam-partner.com"),
        "{by_upn:?}"
    );
    assert_eq!(
        by_upn[ANA],
        &MailboxState::Ready {
            time_zone: "W. Europe Standard Time".into(),
            source: TimeZoneSource::MailboxSettings
        }
    );
    assert!(
        matches!(by_upn[BEN], MailboxState::Ready { time_zone, .. } if time_zone == "Pacific Standard Time")
    );
    let MailboxState::NoMailbox { diagnosis } = by_upn[CHLOE] else {
        panic!("chloe has no mailbox: {:?}", by_upn[CHLOE]);
    };
    assert!(
        diagnosis.contains("MailboxNotEnabledForRESTAPI")
            && diagnosis.contains("assign an Exchange Online license"),
        "{diagnosis}"
    );
    assert!(listing.warnings.is_empty(), "{:?}", listing.warnings);

    // Without MailboxSettings.Read: inbox probe, configured default time zone, one warning.
    let roles = [
        "Calendars.ReadWrite",
        "Contacts.ReadWrite",
        "Directory.Read.All",
        "Mail.ReadWrite",
        "Tasks.ReadWrite.All",
    ];
    emulator
        .set_app_roles(emulator.client_id(), &roles)
        .unwrap();
    let c = client(&emulator, Arc::default());
    let listing = c
        .list_mailbox_users(&["contoso.com".to_owned()])
        .await
        .unwrap();
    let ben = listing
        .users
        .iter()
        .find(|u| u.user_principal_name == BEN)
        .unwrap();
    assert_eq!(
        ben.mailbox,
        MailboxState::Ready {
            time_zone: "W. Europe Standard Time".into(),
            source: TimeZoneSource::ConfiguredDefault
        }
    );
    let chloe = listing
        .users
        .iter()
        .find(|u| u.user_principal_name == CHLOE)
        .unwrap();
    assert!(
        matches!(chloe.mailbox, MailboxState::NoMailbox { .. }),
        "{chloe:?}"
    );
    assert_eq!(listing.warnings.len(), 1);
    assert!(
        listing.warnings[0].contains("MailboxSettings.Read"),
        "{:?}",
        listing.warnings
    );
}

#[tokio::test]
async fn delta_rounds_of_every_resource_then_incremental_changes() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let mut all = scopes(&c, ANA).await;
    all.extend(scopes(&c, BEN).await);
    let mut mirrors = HashMap::new();
    sync_all(&c, &all, &mut mirrors).await;
    assert_mirrors_match(&emulator, &mirrors, ANA);
    assert_mirrors_match(&emulator, &mirrors, BEN);
    assert!(
        total_items(&mirrors) >= 20,
        "a seeded tenant has items: {}",
        total_items(&mirrors)
    );

    // Occurrences are sparse; the series master has the rest.
    let calendar = mirrors
        .iter()
        .find(|(s, _)| s.mailbox == ANA && s.resource == window())
        .unwrap()
        .1;
    let occurrence = calendar
        .items
        .values()
        .find_map(|i| match i {
            Item::Event(e) if e.series_master_id.is_some() => Some(e.clone()),
            _ => None,
        })
        .expect("ana has a weekly series");
    let master = c
        .get_item(&ItemRef {
            mailbox: ANA.into(),
            kind: ItemKind::Event,
            id: occurrence.series_master_id.clone().unwrap(),
            list_id: None,
        })
        .await
        .unwrap()
        .expect("the series master exists");
    let Item::Event(master) = master else {
        panic!()
    };
    assert!(
        master.recurrence.is_some() && master.subject.is_some(),
        "{master:?}"
    );

    // A user adds, changes and deletes items; the next round reports exactly that.
    let new_id = emulator
        .add_item(
            ANA,
            emu::ItemKind::Message,
            Some("inbox"),
            json!({"subject": "late news", "receivedDateTime": "2026-11-25T10:00:00Z"}),
        )
        .unwrap();
    let contact = truth(&emulator, ANA, emu::ItemKind::Contact)
        .into_iter()
        .next()
        .unwrap();
    emulator
        .update_item(ANA, &contact, json!({"jobTitle": "Head of Purchasing"}))
        .unwrap();
    let gone = messages_in(&emulator, ANA, &["sentitems"])
        .into_iter()
        .next()
        .unwrap();
    emulator.delete_item(ANA, &gone).unwrap();
    sync_all(&c, &all, &mut mirrors).await;
    assert_mirrors_match(&emulator, &mirrors, ANA);
    let inbox = mirrors
        .iter()
        .find(|(s, _)| {
            s.mailbox == ANA
                && s.resource
                    == DeltaResource::Messages {
                        folder: "inbox".into(),
                    }
        })
        .unwrap()
        .1;
    assert!(inbox.items.contains_key(&new_id));
    let updated = mirrors
        .values()
        .find_map(|m| m.items.get(&contact))
        .and_then(|i| match i {
            Item::Contact(c) => c.job_title.clone(),
            _ => None,
        });
    assert_eq!(updated.as_deref(), Some("Head of Purchasing"));
    assert!(
        mirrors
            .values()
            .all(|m| m.full_rounds == 1 && m.restarts == 0)
    );
}

#[tokio::test]
async fn delta_rounds_survive_a_30_percent_fault_rate_without_loss_or_duplicates() {
    let faults = Faults {
        rate: 0.3,
        statuses: vec![429, 503, 504],
        retry_after: vec![
            RetryAfter::Integer(1),
            RetryAfter::Decimal(0.25),
            RetryAfter::Absent,
        ],
        latency: Duration::from_millis(2),
        ..Faults::default()
    };
    let emulator = start(EmulatorOptions {
        faults,
        rng_seed: 4711,
        ..EmulatorOptions::default()
    })
    .await;
    // More than the sandbox seed: dozens of pages per mailbox.
    for n in 0..40 {
        let subject = format!("bulk message {n}");
        emulator
            .add_item(
                ANA,
                emu::ItemKind::Message,
                Some("inbox"),
                json!({"subject": subject, "receivedDateTime": "2026-11-24T10:00:00Z"}),
            )
            .unwrap();
        let surname = format!("Bulk{n}");
        emulator
            .add_item(
                BEN,
                emu::ItemKind::Contact,
                None,
                json!({"givenName": "Bo", "surname": surname}),
            )
            .unwrap();
    }
    let clock = Arc::new(RecordingClock::default());
    let c = client(&emulator, clock.clone());
    let started = Instant::now();
    let mut all = scopes(&c, ANA).await;
    all.extend(scopes(&c, BEN).await);
    let mut mirrors = HashMap::new();
    sync_all(&c, &all, &mut mirrors).await;
    // A second, incremental round under the same faults.
    emulator
        .add_item(
            BEN,
            emu::ItemKind::Contact,
            None,
            json!({"givenName": "Nina", "surname": "Neu"}),
        )
        .unwrap();
    sync_all(&c, &all, &mut mirrors).await;
    let elapsed = started.elapsed();
    assert_mirrors_match(&emulator, &mirrors, ANA);
    assert_mirrors_match(&emulator, &mirrors, BEN);

    let counters = emulator.counters();
    let stats = c.stats();
    let injected: u64 = counters.faults.values().sum();
    assert!(
        injected >= 10,
        "faults were injected: {:?}",
        counters.faults
    );
    assert!(
        stats.retries >= injected,
        "every fault was retried: {stats:?} {:?}",
        counters.faults
    );
    for (mailbox, n) in &counters.max_in_flight {
        assert!(*n <= 4, "{mailbox} had {n} requests in flight");
    }
    assert_eq!(
        counters.concurrency_429, 0,
        "the client never exceeded the mailbox concurrency"
    );
    let sleeps = clock.sleeps.lock().unwrap().clone();
    assert!(
        sleeps.contains(&Duration::from_secs(1)),
        "Retry-After: 1 honoured"
    );
    assert!(
        sleeps.contains(&Duration::from_millis(250)),
        "Retry-After: 0.25 honoured"
    );
    assert!(
        sleeps.iter().any(|d| *d >= Duration::from_millis(100)
            && *d != Duration::from_secs(1)
            && *d != Duration::from_millis(250)),
        "absent Retry-After backs off: {sleeps:?}"
    );
    println!(
        "30% faults: {} items in {} scopes, {} requests ({} retries, faults {:?}), max in flight {:?}, {:?}",
        total_items(&mirrors),
        all.len(),
        stats.requests,
        stats.retries,
        counters.faults,
        counters.max_in_flight,
        elapsed
    );
}

#[tokio::test]
async fn never_more_than_four_requests_in_flight_per_mailbox() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let contact = truth(&emulator, ANA, emu::ItemKind::Contact)
        .into_iter()
        .next()
        .unwrap();
    c.check_credentials().await.unwrap();
    emulator.hold_requests();
    let item = ItemRef {
        mailbox: ANA.into(),
        kind: ItemKind::Contact,
        id: contact,
        list_id: None,
    };
    let gets = join_all((0..10).map(|_| c.get_item(&item)));
    let watcher = async {
        emulator.wait_for_in_flight(ANA, 4).await.unwrap();
        emulator.release_requests();
    };
    let (results, ()) = tokio::join!(gets, watcher);
    assert!(
        results.iter().all(|r| matches!(r, Ok(Some(_)))),
        "{results:?}"
    );
    let counters = emulator.counters();
    assert_eq!(
        counters.max_in_flight.get(ANA),
        Some(&4),
        "{:?}",
        counters.max_in_flight
    );
    assert_eq!(counters.concurrency_429, 0);
    assert_eq!(c.http().limiter().max_in_flight(ANA), 4);
}

#[tokio::test]
async fn lost_sync_state_restarts_a_full_round() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let scope = DeltaScope {
        mailbox: ANA.into(),
        resource: DeltaResource::Messages {
            folder: "inbox".into(),
        },
    };
    let mut mirror = Mirror::default();
    sync(&c, &scope, &mut mirror).await;
    let before = mirror.items.len();
    emulator.evict_delta_tokens(Some(ANA)).unwrap();
    // A message deleted while the state was lost must disappear after the full round.
    let victim = mirror.items.keys().next().unwrap().clone();
    emulator.delete_item(ANA, &victim).unwrap();
    let mut round = DeltaRound::new(scope.clone(), mirror.delta_link.clone());
    let first = round.next_page(&c).await.unwrap().unwrap();
    let restart = first
        .restarted
        .clone()
        .expect("the stale delta link is reported");
    assert_eq!(restart.code, "SyncStateNotFound");
    while round.next_page(&c).await.unwrap().is_some() {}
    let outcome = round.finish();
    assert!(
        matches!(outcome.kind, RoundKind::Resync(_)),
        "{:?}",
        outcome.kind
    );
    assert_eq!(outcome.seen.len(), before - 1);
    assert!(!outcome.seen.contains(&victim));
}

#[tokio::test]
async fn conflicting_update_is_reread_merged_and_retried() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let id = truth(&emulator, ANA, emu::ItemKind::Contact)
        .into_iter()
        .next()
        .unwrap();
    let item = ItemRef {
        mailbox: ANA.into(),
        kind: ItemKind::Contact,
        id: id.clone(),
        list_id: None,
    };
    let read = c.get_item(&item).await.unwrap().unwrap();
    let etag = read.etag().expect("items carry an etag").to_owned();
    // The user edits the contact in Outlook after we read it.
    emulator
        .update_item(ANA, &id, json!({"jobTitle": "Director"}))
        .unwrap();
    let out = c
        .update_item(&item, &json!({"department": "Purchasing"}), Some(&etag))
        .await
        .unwrap();
    assert_eq!(out.conflicts_resolved, 1);
    let Some(Item::Contact(now)) = c.get_item(&item).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        now.job_title.as_deref(),
        Some("Director"),
        "the user's change is kept"
    );
    assert_eq!(
        now.department.as_deref(),
        Some("Purchasing"),
        "our change is applied"
    );
    assert_ne!(now.etag.as_deref(), Some(etag.as_str()));
}

#[tokio::test]
async fn event_creates_are_deduplicated_by_transaction_id_and_found_by_stamp() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let target = CreateTarget {
        mailbox: BEN.into(),
        kind: ItemKind::Event,
        container: None,
    };
    let body = json!({
        "subject": "Contract review",
        "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-12-14T11:00:00", "timeZone": "Pacific Standard Time"},
    });
    let options = CreateOptions {
        crm_stamp: Some("MA-7-42".into()),
        transaction_id: Some("b1f0e0a2-7c1d-4e55-9f00-000000000042".into()),
    };
    let first = c.create_item(&target, &body, &options).await.unwrap();
    let again = c.create_item(&target, &body, &options).await.unwrap();
    assert_eq!(
        first.id(),
        again.id(),
        "a repeated create returns the first event"
    );
    let same_subject = emulator
        .items(BEN, emu::ItemKind::Event)
        .iter()
        .filter(|e| e["subject"] == "Contract review")
        .count();
    assert_eq!(same_subject, 1);

    let scope = |kind, list_id: Option<String>| StampScope {
        mailbox: BEN.into(),
        kind,
        list_id,
    };
    let found = c
        .find_by_stamp(&scope(ItemKind::Event, None), "MA-7-42")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(Item::id).collect::<Vec<_>>(),
        vec![first.id()]
    );
    assert_eq!(found[0].crm_stamp(), Some("MA-7-42"));
    assert!(
        c.find_by_stamp(&scope(ItemKind::Event, None), "MA-7-43")
            .await
            .unwrap()
            .is_empty()
    );

    // Stamping existing items: a message, a contact and a To Do task.
    let message = messages_in(&emulator, BEN, &["inbox"])
        .into_iter()
        .next()
        .unwrap();
    let stamped = c
        .stamp(
            &ItemRef {
                mailbox: BEN.into(),
                kind: ItemKind::Message,
                id: message.clone(),
                list_id: None,
            },
            "MA-7-50",
        )
        .await
        .unwrap();
    assert_eq!(stamped.crm_stamp(), Some("MA-7-50"));
    let found = c
        .find_by_stamp(&scope(ItemKind::Message, None), "MA-7-50")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(Item::id).collect::<Vec<_>>(),
        vec![message.as_str()]
    );

    let list = c.todo_lists(BEN).await.unwrap().remove(0).id;
    let task = c
        .create_item(
            &CreateTarget {
                mailbox: BEN.into(),
                kind: ItemKind::Task,
                container: Some(list.clone()),
            },
            &json!({"title": "Call Grace"}),
            &CreateOptions {
                crm_stamp: Some("A1-9-1".into()),
                transaction_id: None,
            },
        )
        .await
        .unwrap();
    let found = c
        .find_by_stamp(&scope(ItemKind::Task, Some(list.clone())), "A1-9-1")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(Item::id).collect::<Vec<_>>(),
        vec![task.id()]
    );
    let task_ref = ItemRef {
        mailbox: BEN.into(),
        kind: ItemKind::Task,
        id: task.id().to_owned(),
        list_id: Some(list.clone()),
    };
    // Stamping again with the same id adds nothing.
    let restamped = c.stamp(&task_ref, "A1-9-1").await.unwrap();
    assert_eq!(restamped.crm_stamp(), Some("A1-9-1"));
    let Item::Task(t) = &restamped else { panic!() };
    assert_eq!(
        t.linked_resources.as_ref().map(Vec::len),
        Some(1),
        "stamping is idempotent"
    );
    // A task linked by another application keeps that link and gains ours.
    let follow_ups = c
        .todo_lists(ANA)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.display_name.as_deref() == Some("Follow-ups"))
        .unwrap()
        .id;
    let theirs = c
        .find_by_stamp(
            &StampScope {
                mailbox: ANA.into(),
                kind: ItemKind::Task,
                list_id: Some(follow_ups.clone()),
            },
            "A1-100-7",
        )
        .await
        .unwrap();
    assert!(
        theirs.is_empty(),
        "another application's externalId is not our stamp"
    );
    let seeded = emulator.items(ANA, emu::ItemKind::Task);
    let prepare = seeded
        .iter()
        .find(|t| t["title"] == "Prepare Northwind visit")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prepare_ref = ItemRef {
        mailbox: ANA.into(),
        kind: ItemKind::Task,
        id: prepare,
        list_id: Some(follow_ups),
    };
    let stamped = c.stamp(&prepare_ref, "A1-100-7").await.unwrap();
    assert_eq!(stamped.crm_stamp(), Some("A1-100-7"));
    let Item::Task(t) = &stamped else { panic!() };
    assert_eq!(t.linked_resources.as_ref().map(Vec::len), Some(2));

    // Deleting is idempotent.
    assert!(c.delete_item(&task_ref, None).await.unwrap());
    assert!(!c.delete_item(&task_ref, None).await.unwrap());
}

/// Issue 9: Exchange items have a regular id (changes when the item moves) and an immutable id; the
/// emulator gives each only to callers that ask for it, and counts every item call made without
/// `Prefer: IdType="ImmutableId"`. Every client call that returns or takes an id asks for immutable
/// ids: lists, delta rounds, reads, creates, updates, stamps, lookups, deletes and `$batch` items.
#[tokio::test]
async fn regression_issue_9_every_id_call_asks_for_immutable_ids() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    c.list_mailbox_users(&["contoso.com".to_owned()])
        .await
        .unwrap();
    let all = scopes(&c, ANA).await;
    let mut mirrors = HashMap::new();
    sync_all(&c, &all, &mut mirrors).await;
    assert_mirrors_match(&emulator, &mirrors, ANA);

    let options = |stamp: &str| CreateOptions {
        crm_stamp: Some(stamp.to_owned()),
        transaction_id: None,
    };
    let list = c.todo_lists(ANA).await.unwrap().remove(0).id;
    let creates = [
        (
            ItemKind::Event,
            None,
            json!({"subject": "Ids", "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-12-14T11:00:00", "timeZone": "UTC"}}),
        ),
        (
            ItemKind::Contact,
            None,
            json!({"givenName": "Ida", "surname": "Ids"}),
        ),
        (
            ItemKind::Message,
            Some("drafts".to_owned()),
            json!({"subject": "Ids"}),
        ),
        (ItemKind::Task, Some(list.clone()), json!({"title": "Ids"})),
    ];
    for (n, (kind, container, body)) in creates.into_iter().enumerate() {
        let target = CreateTarget {
            mailbox: ANA.into(),
            kind,
            container: container.clone(),
        };
        let stamp = format!("MA-9-{n}");
        let created = c
            .create_item(&target, &body, &options(&stamp))
            .await
            .unwrap();
        assert!(
            emulator.item(ANA, created.id()).is_some(),
            "{kind:?}: a create answers the immutable id, found {}",
            created.id()
        );
        let item = ItemRef {
            mailbox: ANA.into(),
            kind,
            id: created.id().to_owned(),
            list_id: (kind == ItemKind::Task).then(|| list.clone()),
        };
        let read = c.get_item(&item).await.unwrap().expect("created");
        assert_eq!(read.id(), created.id());
        let patch = match kind {
            ItemKind::Task => json!({"title": "Ids 2"}),
            ItemKind::Contact => json!({"jobTitle": "Ids 2"}),
            _ => json!({"subject": "Ids 2"}),
        };
        c.update_item(&item, &patch, None).await.unwrap();
        c.stamp(&item, &stamp).await.unwrap();
        let scope = StampScope {
            mailbox: ANA.into(),
            kind,
            list_id: item.list_id.clone(),
        };
        let found = c.find_by_stamp(&scope, &stamp).await.unwrap();
        assert_eq!(
            found.iter().map(Item::id).collect::<Vec<_>>(),
            vec![created.id()]
        );
        assert!(c.delete_item(&item, None).await.unwrap());
    }
    let contact = truth(&emulator, ANA, emu::ItemKind::Contact)
        .into_iter()
        .next()
        .unwrap();
    let batch = [Request::get(
        format!("/users/{ANA}/contacts/{contact}"),
        Some(ANA),
    )];
    let replies = c.batch(&batch, BatchMode::Parallel).await.unwrap();
    let reply = replies[0].as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reply.body.as_ref().unwrap()["id"].as_str(),
        Some(contact.as_str())
    );

    let counters = emulator.counters();
    for called in [
        "GET /users/{id}/calendarView/delta",
        "POST /users/{id}/events",
        "POST /$batch",
        "GET /users/{id}/contacts/{id}",
    ] {
        assert!(
            counters.per_endpoint.contains_key(called),
            "the test covers {called}: {:?}",
            counters.per_endpoint.keys()
        );
    }
    assert_eq!(
        counters.without_immutable_id,
        BTreeMap::new(),
        "item calls sent without Prefer: IdType=\"ImmutableId\""
    );
}

#[tokio::test]
async fn batch_matches_responses_by_id_and_retries_only_throttled_items() {
    let emulator = start(EmulatorOptions {
        faults: Faults {
            rate: 0.3,
            statuses: vec![429],
            retry_after: vec![
                RetryAfter::Decimal(0.25),
                RetryAfter::Integer(1),
                RetryAfter::Absent,
            ],
            include_batch_items: true,
            ..Faults::default()
        },
        rng_seed: 9,
        ..EmulatorOptions::default()
    })
    .await;
    let c = client(&emulator, Arc::default());
    let mut wanted = Vec::new();
    for mailbox in [ANA, BEN] {
        for (kind, path) in [
            (emu::ItemKind::Contact, "contacts"),
            (emu::ItemKind::Message, "messages"),
        ] {
            for v in emulator.items(mailbox, kind) {
                let id = v["id"].as_str().unwrap().to_owned();
                wanted.push((mailbox, format!("/users/{mailbox}/{path}/{id}"), id));
            }
        }
    }
    let mut requests: Vec<Request> = wanted
        .iter()
        .map(|(m, url, _)| Request::get(url.clone(), Some(m)))
        .collect();
    while requests.len() < 25 {
        let (m, url, id) = wanted[requests.len() % wanted.len()].clone();
        wanted.push((m, url.clone(), id));
        requests.push(Request::get(url, Some(m)));
    }
    let results = c.batch(&requests, BatchMode::Parallel).await.unwrap();
    assert_eq!(results.len(), requests.len());
    for (r, (_, _, id)) in results.iter().zip(&wanted) {
        let reply = r.as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            reply.body.as_ref().unwrap()["id"].as_str(),
            Some(id.as_str()),
            "responses are matched by id"
        );
    }
    assert!(c.stats().throttled > 0, "some batch items were throttled");

    // Sequential: dependsOn chains; a failed item fails its dependents with 424, each with its own status.
    let seq = vec![
        Request::get(wanted[0].1.clone(), Some(ANA)),
        Request::get(format!("/users/{ANA}/contacts/does-not-exist"), Some(ANA)),
        Request::get(wanted[1].1.clone(), Some(ANA)),
    ];
    let results = c.batch(&seq, BatchMode::Sequential).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let err = results[1].as_ref().unwrap_err();
    assert!(matches!(err.status, 400 | 404), "{err}");
    assert_eq!(results[2].as_ref().unwrap_err().status, 424);
}

/// Issue 9: Graph runs four items of a batch at a time, so 20 reads of one mailbox go in one `$batch`
/// call without a 429 (the client holds four of the mailbox's permits meanwhile).
#[tokio::test]
async fn regression_issue_9_twenty_items_for_one_mailbox_make_one_batch() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let contacts: Vec<String> = truth(&emulator, ANA, emu::ItemKind::Contact)
        .into_iter()
        .collect();
    let requests: Vec<Request> = (0..20)
        .map(|i| {
            let id = &contacts[i % contacts.len()];
            Request::get(format!("/users/{ANA}/contacts/{id}"), Some(ANA))
        })
        .collect();
    let results = c.batch(&requests, BatchMode::Parallel).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let counters = emulator.counters();
    assert_eq!(counters.per_endpoint.get("POST /$batch"), Some(&1));
    assert_eq!(counters.throttled_429, 0);
    assert!(counters.max_in_flight[ANA] <= 4);
    assert_eq!(c.stats().retries, 0);
}

#[tokio::test]
async fn token_is_renewed_five_minutes_before_expiry() {
    let emulator = start(EmulatorOptions::default()).await;
    let clock = Arc::new(RecordingClock::default());
    let c = client(&emulator, clock.clone());
    let tokens = |e: &GraphEmulator| {
        e.counters()
            .per_endpoint
            .iter()
            .filter(|(k, _)| k.contains("oauth2"))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    c.todo_lists(ANA).await.unwrap();
    // expires_in is 3599 s: the token is renewed after 3599 - 300 s, without waiting for a 401.
    clock.advance(Duration::from_secs(54 * 60));
    c.todo_lists(ANA).await.unwrap();
    assert_eq!(tokens(&emulator), 1);
    clock.advance(Duration::from_secs(60));
    c.todo_lists(ANA).await.unwrap();
    assert_eq!(tokens(&emulator), 2);
    assert_eq!(c.stats().token_refreshes_on_401, 0);
}

#[tokio::test]
async fn token_is_cached_and_renewed_once_on_401() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    c.todo_lists(ANA).await.unwrap();
    c.todo_lists(ANA).await.unwrap();
    let tokens = |e: &GraphEmulator| {
        e.counters()
            .per_endpoint
            .iter()
            .filter(|(k, _)| k.contains("oauth2"))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    assert_eq!(tokens(&emulator), 1, "one token for many calls");
    // Graph's clock moves past the token's expiry: 401, one renewal, success.
    emulator.advance_clock(jiff::SignedDuration::from_hours(2));
    c.todo_lists(ANA).await.unwrap();
    assert_eq!(c.stats().token_refreshes_on_401, 1);
    assert_eq!(tokens(&emulator), 2);
}

/// Each admin mistake of the setup guide yields one line naming the fix.
#[tokio::test]
async fn admin_mistakes_produce_their_one_line_fix() {
    let mut seed = Seed::sandbox();
    seed.apps[0].secrets.push(SecretSeed {
        id: "0c0c0c0c-0000-4000-8000-0000000000ee".into(),
        value: "expired-secret-value~abcdefghijklmnopqrstu".into(),
        expires: Some("2024-01-31T00:00:00Z".into()),
    });
    let emulator = start(EmulatorOptions {
        seed,
        ..EmulatorOptions::default()
    })
    .await;
    let client_id = emulator.client_id().to_owned();
    let url = emulator.token_url();
    // The one-line diagnosis of a credentials check that fails with this token URL, app and secret.
    let fails = |token_url: &str, client_id: &str, secret: &str| {
        let c = client_with(&emulator, token_url, client_id, secret, Arc::default());
        async move { diagnose(&c.check_credentials().await.unwrap_err()) }
    };

    let mut lines = Vec::new();
    let wrong = fails(&url, &client_id, "not-the-secret").await;
    assert!(
        wrong.contains("AADSTS7000215") && wrong.contains("copy the secret's Value"),
        "{wrong}"
    );
    lines.push(wrong);
    let pasted_id = fails(&url, &client_id, emulator.secret_id()).await;
    assert!(
        pasted_id.contains("AADSTS7000215")
            && pasted_id.contains("secret's ID was pasted instead of its Value"),
        "{pasted_id}"
    );
    lines.push(pasted_id);
    let padded = format!("{}\n", emulator.client_secret());
    let padded = fails(&url, &client_id, &padded).await;
    assert!(
        padded.contains("AADSTS7000215") && padded.contains("line break"),
        "{padded}"
    );
    lines.push(padded);
    let expired = fails(
        &url,
        &client_id,
        "expired-secret-value~abcdefghijklmnopqrstu",
    )
    .await;
    assert!(
        expired.contains("AADSTS7000222") && expired.contains("create a new client secret"),
        "{expired}"
    );
    lines.push(expired);
    let unknown_client = fails(
        &url,
        "11111111-2222-4333-8444-555555555555",
        emulator.client_secret(),
    )
    .await;
    assert!(
        unknown_client.contains("AADSTS700016") && unknown_client.contains("granted consent"),
        "{unknown_client}"
    );
    lines.push(unknown_client);
    let other_tenant = format!(
        "{}/{}/oauth2/v2.0/token",
        emulator.base_url(),
        "00000000-1111-4222-8333-444444444444"
    );
    let unknown_tenant = fails(&other_tenant, &client_id, emulator.client_secret()).await;
    assert!(
        unknown_tenant.contains("AADSTS90002") && unknown_tenant.contains("Directory (tenant) ID"),
        "{unknown_tenant}"
    );
    lines.push(unknown_tenant);

    // Missing permission: the token is issued, the call is refused with the permission named.
    let roles = [
        "Calendars.ReadWrite",
        "Contacts.ReadWrite",
        "Directory.Read.All",
        "Mail.ReadWrite",
        "User.ReadWrite.All",
        "MailboxSettings.Read",
    ];
    emulator.set_app_roles(&client_id, &roles).unwrap();
    let c = client(&emulator, Arc::default());
    let no_tasks = diagnose(&c.todo_lists(ANA).await.unwrap_err());
    assert!(
        no_tasks.contains("403")
            && no_tasks.contains("Tasks.ReadWrite.All")
            && no_tasks.contains("Grant admin consent"),
        "{no_tasks}"
    );
    lines.push(no_tasks);
    emulator
        .set_app_roles(
            &client_id,
            &[
                "Calendars.ReadWrite",
                "Mail.ReadWrite",
                "MailboxSettings.Read",
            ],
        )
        .unwrap();
    let c = client(&emulator, Arc::default());
    let no_users = diagnose(
        &c.list_mailbox_users(&["contoso.com".into()])
            .await
            .unwrap_err(),
    );
    assert!(
        no_users.contains("Authorization_RequestDenied") && no_users.contains("User.Read.All"),
        "{no_users}"
    );
    lines.push(no_users);

    // No mailbox, and a mailbox outside the application access policy.
    let c = client(&emulator, Arc::default());
    c.health_check(Some(ANA)).await.unwrap();
    let health = diagnose(&c.health_check(Some(CHLOE)).await.unwrap_err());
    assert!(health.contains("MailboxNotEnabledForRESTAPI"), "{health}");
    let chloe = DeltaScope {
        mailbox: CHLOE.into(),
        resource: window(),
    };
    let no_mailbox = diagnose(
        &c.delta_page(
            &chloe,
            &graph_connector::transport::graph::DeltaCursor::Start,
        )
        .await
        .unwrap_err(),
    );
    assert!(
        no_mailbox.contains("MailboxNotEnabledForRESTAPI")
            && no_mailbox.contains("has no Exchange Online mailbox"),
        "{no_mailbox}"
    );
    lines.push(no_mailbox);
    emulator
        .set_access_policy(&client_id, Some(&[ANA]))
        .unwrap();
    let c = client(&emulator, Arc::default());
    let ben = DeltaScope {
        mailbox: BEN.into(),
        resource: window(),
    };
    let policy = diagnose(
        &c.delta_page(&ben, &graph_connector::transport::graph::DeltaCursor::Start)
            .await
            .unwrap_err(),
    );
    assert!(
        policy.contains("Access to OData is disabled")
            && policy.contains("application access policy"),
        "{policy}"
    );
    lines.push(policy);

    for line in &lines {
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.contains("fix:"), "names a fix: {line}");
        assert!(
            !line.contains("sandbox-secret-value"),
            "never prints the secret: {line}"
        );
    }
    println!("{}", lines.join("\n"));
}

#[tokio::test]
async fn writes_under_faults_create_each_item_exactly_once() {
    let emulator = start(EmulatorOptions {
        faults: Faults {
            rate: 0.3,
            statuses: vec![429, 503, 504],
            retry_after: vec![
                RetryAfter::Integer(1),
                RetryAfter::Decimal(0.25),
                RetryAfter::Absent,
            ],
            ..Faults::default()
        },
        rng_seed: 1234,
        ..EmulatorOptions::default()
    })
    .await;
    let c = client(&emulator, Arc::default());
    let list = c.todo_lists(ANA).await.unwrap().remove(0).id;
    let events_before = emulator.items(ANA, emu::ItemKind::Event).len();
    let contacts_before = emulator.items(ANA, emu::ItemKind::Contact).len();
    let tasks_before = emulator.items(ANA, emu::ItemKind::Task).len();
    let creates = (0..10).map(|n| {
        let c = &c;
        let list = list.clone();
        async move {
            let event = json!({
                "subject": format!("CRM appointment {n}"),
                "start": {"dateTime": "2026-12-15T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-15T10:00:00", "timeZone": "UTC"},
            });
            let stamp = |s: &str| CreateOptions {
                crm_stamp: Some(format!("{s}-{n}")),
                transaction_id: None,
            };
            let target = |kind, container| CreateTarget {
                mailbox: ANA.into(),
                kind,
                container,
            };
            c.create_item(&target(ItemKind::Event, None), &event, &stamp("MA"))
                .await
                .unwrap();
            let contact = json!({"givenName": "Crm", "surname": format!("Person{n}")});
            c.create_item(&target(ItemKind::Contact, None), &contact, &stamp("KP"))
                .await
                .unwrap();
            let task = json!({"title": format!("CRM task {n}")});
            c.create_item(&target(ItemKind::Task, Some(list)), &task, &stamp("A1"))
                .await
                .unwrap();
        }
    });
    join_all(creates).await;
    assert_eq!(
        emulator.items(ANA, emu::ItemKind::Event).len(),
        events_before + 10
    );
    assert_eq!(
        emulator.items(ANA, emu::ItemKind::Contact).len(),
        contacts_before + 10
    );
    assert_eq!(
        emulator.items(ANA, emu::ItemKind::Task).len(),
        tasks_before + 10
    );
    for n in 0..10 {
        for (kind, prefix, list_id) in [
            (ItemKind::Event, "MA", None),
            (ItemKind::Contact, "KP", None),
            (ItemKind::Task, "A1", Some(list.clone())),
        ] {
            let scope = StampScope {
                mailbox: ANA.into(),
                kind,
                list_id,
            };
            let found = c
                .find_by_stamp(&scope, &format!("{prefix}-{n}"))
                .await
                .unwrap();
            assert_eq!(found.len(), 1, "{prefix}-{n}");
        }
    }
    // Received messages: only flags and categories change.
    let message = messages_in(&emulator, ANA, &["inbox"])
        .into_iter()
        .next()
        .unwrap();
    let m = ItemRef {
        mailbox: ANA.into(),
        kind: ItemKind::Message,
        id: message.clone(),
        list_id: None,
    };
    let patch = json!({"categories": ["CRM"], "flag": {"flagStatus": "flagged"}, "isRead": true});
    let out = c.update_item(&m, &patch, None).await.unwrap();
    let Item::Message(after) = out.item else {
        panic!()
    };
    assert_eq!(after.categories, Some(vec!["CRM".to_owned()]));
    assert_eq!(after.is_read, Some(true));
    let counters = emulator.counters();
    assert!(
        counters.faults.values().sum::<u64>() >= 10,
        "{:?}",
        counters.faults
    );
    assert!(
        counters.max_in_flight.values().all(|n| *n <= 4),
        "{:?}",
        counters.max_in_flight
    );
}

/// A canned reply: status, headers, body.
type Reply = (u16, Vec<(&'static str, String)>, &'static str);

/// A scripted Graph: answers each request with the next canned reply and records the request headers.
#[derive(Default)]
struct Script {
    seen: Mutex<Vec<axum::http::HeaderMap>>,
    replies: Mutex<std::collections::VecDeque<Reply>>,
    tokens: Mutex<u32>,
}

async fn scripted(replies: Vec<Reply>) -> (String, Arc<Script>) {
    use axum::response::IntoResponse;
    let script = Arc::new(Script::default());
    script.replies.lock().unwrap().extend(replies);
    let s = script.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let s = s.clone();
        async move {
            if req.uri().path().ends_with("/oauth2/v2.0/token") {
                *s.tokens.lock().unwrap() += 1;
                let body = r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"t"}"#;
                return ([("content-type", "application/json")], body).into_response();
            }
            s.seen.lock().unwrap().push(req.headers().clone());
            let (status, headers, body) = s.replies.lock().unwrap().pop_front().expect("a scripted reply is left");
            let mut res = (axum::http::StatusCode::from_u16(status).unwrap(), body).into_response();
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), script)
}

pub(super) fn scripted_client(
    base: &str,
    clock: Arc<RecordingClock>,
    max_attempts: u32,
) -> GraphClient {
    let tenant = "8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f";
    let creds = Credentials::new(
        base,
        tenant,
        "3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43",
        SecretString::from("s"),
    );
    let mut config = GraphClientConfig::new(&format!("{base}/v1.0"), creds);
    config.retry.max_attempts = max_attempts;
    config.retry.min_backoff = Duration::from_millis(100);
    config.retry.jitter_seed = Some(3);
    GraphClient::with_parts(config, clock, MailboxLimiter::new(4)).unwrap()
}

fn error_body(code: &str) -> &'static str {
    match code {
        "504" => r#"{"error":{"code":"GatewayTimeout","message":"The gateway timed out."}}"#,
        "503" => r#"{"error":{"code":"ServiceUnavailable","message":"Service unavailable."}}"#,
        "429" => {
            r#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#
        }
        _ => {
            r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}"#
        }
    }
}

#[tokio::test]
async fn retry_after_forms_are_honoured_and_504_shrinks_the_page() {
    let in_30s = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let (base, script) = scripted(vec![
        (504, vec![], error_body("504")),
        (503, vec![("retry-after", in_30s)], error_body("503")),
        (429, vec![("retry-after", "0.5".into())], error_body("429")),
        (
            200,
            vec![("content-type", "application/json".into())],
            r#"{"value":[{"id":"L1","displayName":"Tasks"}]}"#,
        ),
    ])
    .await;
    let clock = Arc::new(RecordingClock::default());
    let c = scripted_client(&base, clock.clone(), 8);
    let lists = c.todo_lists(ANA).await.unwrap();
    assert_eq!(lists[0].id, "L1");
    let sleeps = clock.sleeps.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 3, "{sleeps:?}");
    assert!(
        sleeps[0] >= Duration::from_millis(100) && sleeps[0] <= Duration::from_millis(200),
        "backoff: {sleeps:?}"
    );
    assert!(
        sleeps[1] >= Duration::from_secs(28) && sleeps[1] <= Duration::from_secs(30),
        "http date: {sleeps:?}"
    );
    assert_eq!(sleeps[2], Duration::from_millis(500), "decimal seconds");
    let seen = script.seen.lock().unwrap().clone();
    let header =
        |h: &axum::http::HeaderMap, k: &str| h.get(k).unwrap().to_str().unwrap().to_owned();
    let page_sizes: Vec<String> = seen
        .iter()
        .map(|h| {
            header(h, "prefer")
                .rsplit("odata.maxpagesize=")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(page_sizes, ["100", "50", "50", "50"]);
    for h in &seen {
        assert!(
            header(h, "prefer").starts_with("IdType=\"ImmutableId\", outlook.timezone=\"UTC\"")
        );
        assert_eq!(header(h, "authorization"), "Bearer t");
        assert_eq!(
            header(h, "client-request-id"),
            header(&seen[0], "client-request-id"),
            "one id per call"
        );
    }
    assert_eq!(*script.tokens.lock().unwrap(), 1);
}

#[tokio::test]
async fn retries_are_bounded_and_a_second_401_is_reported() {
    let (base, script) = scripted(vec![
        (503, vec![], error_body("503")),
        (503, vec![], error_body("503")),
        (503, vec![("request-id", "rid-3".into())], error_body("503")),
        (401, vec![], error_body("401")),
        (401, vec![("request-id", "rid-5".into())], error_body("401")),
    ])
    .await;
    let c = scripted_client(&base, Arc::default(), 3);
    let err = c.todo_lists(ANA).await.unwrap_err();
    let line = diagnose(&err);
    assert_eq!(err.status(), Some(503));
    assert!(
        line.contains("gave up after 3 attempts") && line.contains("request-id rid-3"),
        "{line}"
    );
    let err = c.todo_lists(ANA).await.unwrap_err();
    let line = diagnose(&err);
    assert_eq!(err.status(), Some(401));
    assert!(
        line.contains("rejected the access token") && line.contains("request-id rid-5"),
        "{line}"
    );
    assert_eq!(
        *script.tokens.lock().unwrap(),
        2,
        "one renewal after the first 401"
    );
    assert_eq!(c.stats().token_refreshes_on_401, 1);
    assert_eq!(script.seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn calendar_removals_tell_deleted_from_left_the_window() {
    let emulator = start(EmulatorOptions::default()).await;
    let c = client(&emulator, Arc::default());
    let scope = DeltaScope {
        mailbox: ANA.into(),
        resource: window(),
    };
    let mut mirror = Mirror::default();
    sync(&c, &scope, &mut mirror).await;
    let singles: Vec<String> = mirror
        .items
        .values()
        .filter_map(|i| match i {
            Item::Event(e) if e.kind == Some(EventType::SingleInstance) => e.id.clone(),
            _ => None,
        })
        .collect();
    assert!(singles.len() >= 2, "{singles:?}");
    // One event moves two years ahead (out of the window), another is deleted.
    let later = json!({
        "isAllDay": false,
        "start": {"dateTime": "2028-03-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2028-03-01T11:00:00", "timeZone": "UTC"},
    });
    emulator.update_item(ANA, &singles[0], later).unwrap();
    emulator.delete_item(ANA, &singles[1]).unwrap();
    let mut removed = BTreeMap::new();
    let mut round = DeltaRound::new(scope.clone(), mirror.delta_link.clone());
    while let Some(page) = round.next_page(&c).await.unwrap() {
        for change in page.changes {
            if let DeltaChange::Removed { id, reason } = change {
                removed.insert(id, reason);
            }
        }
    }
    assert_eq!(
        removed.get(&singles[0]).map(String::as_str),
        Some(REMOVED_OUTSIDE_WINDOW),
        "{removed:?}"
    );
    assert_eq!(
        removed.get(&singles[1]).map(String::as_str),
        Some("deleted"),
        "{removed:?}"
    );
}
