//! The state store contract suite: one set of behaviours written against `&dyn StateStore`, run for
//! SQLite (a file in a temporary directory) and for PostgreSQL (a fresh schema per test) when
//! `GRAPH_CONNECTOR_TEST_POSTGRES` holds a URL; without it the PostgreSQL half prints a skip note.

use std::{
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use futures::FutureExt as _;
use graph_connector::state::{
    self, AuditEntry, CrmRef, JournalEntry, Link, MailboxStatus, Outcome, RoundCommit,
    StateErrorKind, StateLocation, StateStore, WriteId, WriteStatus,
};
use jiff::Timestamp;
use pretty_assertions::assert_eq;
use sqlx::{AssertSqlSafe, Connection as _};

const POSTGRES_ENV: &str = "GRAPH_CONNECTOR_TEST_POSTGRES";

/// Where one test's store lives; `open` may be called again to reopen it.
enum Fixture {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        base_url: String,
        url: String,
        schema: String,
    },
}

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Fixture::Sqlite { _dir: dir, path }
    }

    /// A fresh schema in the database of `GRAPH_CONNECTOR_TEST_POSTGRES`, or none without it.
    async fn postgres() -> Option<Fixture> {
        let base_url = std::env::var(POSTGRES_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())?;
        let schema = format!("gc_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}={base_url}: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}options=-c%20search_path%3D{schema}");
        Some(Fixture::Postgres {
            base_url,
            url,
            schema,
        })
    }

    fn location(&self) -> StateLocation {
        match self {
            Fixture::Sqlite { path, .. } => StateLocation::Sqlite(path.clone()),
            Fixture::Postgres { url, .. } => StateLocation::Postgres(url.clone()),
        }
    }

    async fn open(&self) -> Arc<dyn StateStore> {
        state::open(&self.location()).await.unwrap()
    }

    /// Marks migration `version` as applied, as a newer graph-connector would have.
    async fn fake_future_migration(&self, version: i64) {
        let insert = |checksum: &str| {
            format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ({version}, 'from the future', TRUE, {checksum}, 0)"
            )
        };
        match self {
            Fixture::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::raw_sql(AssertSqlSafe(insert("X'00'")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
            Fixture::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(insert("'\\x00'::bytea")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    async fn teardown(self) {
        if let Fixture::Postgres {
            base_url, schema, ..
        } = self
        {
            let mut conn = sqlx::PgConnection::connect(&base_url).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// Runs one behaviour and tears the fixture down even when the behaviour panics.
async fn run<F>(fixture: Fixture, behaviour: F)
where
    F: AsyncFnOnce(&Fixture),
{
    let res = AssertUnwindSafe(behaviour(&fixture)).catch_unwind().await;
    fixture.teardown().await;
    if let Err(panic) = res {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::run(super::Fixture::sqlite(), super::$name).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(fixture) = super::Fixture::postgres().await else {
                    eprintln!(
                        "skipped: set {}=postgres://USER@HOST:PORT/DATABASE to run the postgres state contract",
                        super::POSTGRES_ENV
                    );
                    return;
                };
                super::run(fixture, super::$name).await;
            })*
        }
    };
}

contract!(
    links_are_unique_and_found_every_way,
    cursors_are_kept_per_scope_and_forgotten_for_resync,
    a_failing_round_leaves_nothing_half_written,
    a_round_applies_deletes_upserts_cursor_and_audit,
    journal_lists_exactly_the_unresolved_writes,
    audit_is_appended_and_listed_newest_first,
    status_is_kept_per_mailbox,
    reopening_keeps_everything,
    a_newer_schema_is_a_clear_error,
    concurrent_tasks_lose_nothing,
    concurrent_links_to_one_record_admit_one,
);

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_700_000_000_000 + ms).unwrap()
}

fn link(mailbox: &str, graph_id: &str, crm_id: &str) -> Link {
    Link {
        mailbox: mailbox.into(),
        resource: "event".into(),
        graph_id: graph_id.into(),
        correlation_key: None,
        change_key: Some(format!("ck-{graph_id}")),
        crm_table: "MA".into(),
        crm_id: crm_id.into(),
        graph_hash: "aa01".into(),
        crm_hash: "bb02".into(),
        mapping_version: "isi@1".into(),
        updated_at: at(1),
        authoritative: true,
        published: false,
        origin: "graph".into(),
    }
}

fn ma(id: &str) -> CrmRef {
    CrmRef {
        table: "MA".into(),
        id: id.into(),
    }
}

fn audit_entry(mailbox: &str, n: i64) -> AuditEntry {
    AuditEntry {
        time: at(n),
        mailbox: mailbox.into(),
        resource: "event".into(),
        direction: "graph_to_crm".into(),
        action: "create".into(),
        graph_id: Some(format!("g{n}")),
        crm_id: Some(format!("MA:{n}")),
        mapping_version: "isi@1".into(),
        before_hash: None,
        after_hash: Some(format!("{n:04x}")),
    }
}

fn journal_entry(mailbox: &str, key: &str) -> JournalEntry {
    JournalEntry {
        mailbox: mailbox.into(),
        resource: "event".into(),
        direction: "graph_to_crm".into(),
        action: "create".into(),
        target: None,
        match_key: key.into(),
        payload_hash: "cafe".into(),
        started_at: at(5),
    }
}

fn status(mailbox: &str) -> MailboxStatus {
    MailboxStatus {
        mailbox: mailbox.into(),
        address: format!("{mailbox}@contoso.example"),
        last_success: Some(at(10)),
        last_error_at: None,
        last_error: None,
        last_fix: None,
        counts: serde_json::json!({"event": {"graph_to_crm": {"created": 3}}}),
        retired_at: None,
    }
}

async fn links_are_unique_and_found_every_way(fx: &Fixture) {
    let store = fx.open().await;
    let a = Link {
        correlation_key: Some("ical-1".into()),
        ..link("m1", "g1", "1")
    };
    // The same meeting in a second attendee's mailbox links to the same CRM record.
    let b = Link {
        correlation_key: Some("ical-1".into()),
        ..link("m2", "g2", "1")
    };
    let c = link("m1", "g3", "2");
    for l in [&a, &b, &c] {
        store.put_link(l).await.unwrap();
    }

    assert_eq!(
        store.get_link("m1", "event", "g1").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_link("m1", "event", "nope").await.unwrap(), None);
    assert_eq!(store.get_link("m1", "task", "g1").await.unwrap(), None);
    assert_eq!(store.get_link("m2", "event", "g1").await.unwrap(), None);
    assert_eq!(
        store.link_by_crm("m1", "event", &ma("1")).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.link_by_crm("m2", "event", &ma("1")).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store.link_by_crm("m2", "event", &ma("2")).await.unwrap(),
        None
    );
    assert_eq!(
        store.links_by_crm(&ma("1")).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.links_by_correlation("event", "ical-1").await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store
            .links_by_correlation("message", "ical-1")
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.list_links("m1", "event").await.unwrap(),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(store.count_links("m1", "event").await.unwrap(), 2);
    assert_eq!(store.count_links("m3", "event").await.unwrap(), 0);

    // A second Graph item of the same mailbox cannot link to an already linked record.
    let err = store.put_link(&link("m1", "g4", "1")).await.unwrap_err();
    assert_eq!(err.kind(), StateErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("table `links`"), "{err}");
    assert_eq!(store.get_link("m1", "event", "g4").await.unwrap(), None);
    // Nor can an existing link move onto it.
    let moved = link("m1", "g1", "2");
    let err = store.put_link(&moved).await.unwrap_err();
    assert_eq!(err.kind(), StateErrorKind::Conflict, "{err}");
    assert_eq!(
        store.get_link("m1", "event", "g1").await.unwrap(),
        Some(a.clone())
    );

    // Upserting the same graph id replaces the link.
    let a2 = Link {
        graph_hash: "ffff".into(),
        change_key: None,
        updated_at: at(2),
        authoritative: false,
        published: true,
        origin: "crm".into(),
        ..a.clone()
    };
    store.put_link(&a2).await.unwrap();
    assert_eq!(store.get_link("m1", "event", "g1").await.unwrap(), Some(a2));
    assert_eq!(store.count_links("m1", "event").await.unwrap(), 2);

    assert!(store.delete_link("m1", "event", "g1").await.unwrap());
    assert!(!store.delete_link("m1", "event", "g1").await.unwrap());
    assert_eq!(
        store.link_by_crm("m1", "event", &ma("1")).await.unwrap(),
        None
    );
    assert_eq!(store.links_by_crm(&ma("1")).await.unwrap(), vec![b]);
    assert_eq!(store.count_links("m1", "event").await.unwrap(), 1);
    // Now the record is free again in m1.
    store.put_link(&link("m1", "g4", "1")).await.unwrap();
    store.close().await;
}

async fn cursors_are_kept_per_scope_and_forgotten_for_resync(fx: &Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        None
    );
    store
        .put_cursor("m1", "event", "window", "d1")
        .await
        .unwrap();
    store
        .put_cursor("m1", "event", "window", "d2")
        .await
        .unwrap();
    store
        .put_cursor("m1", "message", "inbox", "m-in")
        .await
        .unwrap();
    store
        .put_cursor("m1", "message", "sent", "m-sent")
        .await
        .unwrap();
    store
        .put_cursor("m2", "event", "window", "other")
        .await
        .unwrap();
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        Some("d2".into())
    );
    assert_eq!(
        store.list_cursors("m1", "message").await.unwrap(),
        vec![
            ("inbox".to_owned(), "m-in".to_owned()),
            ("sent".to_owned(), "m-sent".to_owned())
        ]
    );

    assert!(store.delete_cursor("m1", "message", "sent").await.unwrap());
    assert!(!store.delete_cursor("m1", "message", "sent").await.unwrap());

    store.put_link(&link("m1", "g1", "1")).await.unwrap();
    assert_eq!(store.forget_cursors("m1", Some("event")).await.unwrap(), 1);
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        None
    );
    assert_eq!(
        store.get_cursor("m1", "message", "inbox").await.unwrap(),
        Some("m-in".into())
    );
    assert_eq!(store.forget_cursors("m1", None).await.unwrap(), 1);
    assert_eq!(store.list_cursors("m1", "message").await.unwrap(), vec![]);
    // Other mailboxes and the links stay: a resync links instead of duplicating.
    assert_eq!(
        store.get_cursor("m2", "event", "window").await.unwrap(),
        Some("other".into())
    );
    assert_eq!(store.count_links("m1", "event").await.unwrap(), 1);
    store.close().await;
}

async fn a_failing_round_leaves_nothing_half_written(fx: &Fixture) {
    let store = fx.open().await;
    store.put_link(&link("m1", "g1", "1")).await.unwrap();
    store
        .put_cursor("m1", "event", "window", "before")
        .await
        .unwrap();

    // The second upsert links record 1 again while g1 still holds it.
    let round = RoundCommit {
        mailbox: "m1".into(),
        resource: "event".into(),
        upsert_links: vec![link("m1", "g2", "5"), link("m1", "g3", "1")],
        delete_links: vec![],
        cursor: Some(("window".into(), "after".into())),
        audit: vec![audit_entry("m1", 1)],
    };
    let err = store.commit_round(&round).await.unwrap_err();
    assert_eq!(err.kind(), StateErrorKind::Conflict, "{err}");
    assert_eq!(store.get_link("m1", "event", "g2").await.unwrap(), None);
    assert_eq!(
        store.list_links("m1", "event").await.unwrap(),
        vec![link("m1", "g1", "1")]
    );
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        Some("before".into())
    );
    assert_eq!(store.audit(None, 10).await.unwrap(), vec![]);

    // Rows of another mailbox or resource are refused before anything is written.
    for round in [
        RoundCommit {
            upsert_links: vec![link("m1", "g2", "5"), link("m2", "g9", "9")],
            ..round.clone()
        },
        RoundCommit {
            upsert_links: vec![Link {
                resource: "task".into(),
                ..link("m1", "g2", "5")
            }],
            ..round.clone()
        },
        RoundCommit {
            upsert_links: vec![link("m1", "g2", "5")],
            audit: vec![audit_entry("m2", 1)],
            ..round.clone()
        },
    ] {
        let err = store.commit_round(&round).await.unwrap_err();
        assert_eq!(err.kind(), StateErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(store.count_links("m1", "event").await.unwrap(), 1);
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        Some("before".into())
    );
    assert_eq!(store.audit(None, 10).await.unwrap(), vec![]);
    store.close().await;
}

async fn a_round_applies_deletes_upserts_cursor_and_audit(fx: &Fixture) {
    let store = fx.open().await;
    store.put_link(&link("m1", "g1", "1")).await.unwrap();
    store.put_link(&link("m1", "g2", "2")).await.unwrap();

    // g1 goes and its record is linked to g3 in the same round: deletions come first.
    let round = RoundCommit {
        mailbox: "m1".into(),
        resource: "event".into(),
        upsert_links: vec![link("m1", "g3", "1"), link("m1", "g4", "4")],
        delete_links: vec!["g1".into(), "never-linked".into()],
        cursor: Some(("window".into(), "after".into())),
        audit: vec![audit_entry("m1", 1), audit_entry("m1", 2)],
    };
    store.commit_round(&round).await.unwrap();
    assert_eq!(
        store.list_links("m1", "event").await.unwrap(),
        vec![
            link("m1", "g2", "2"),
            link("m1", "g3", "1"),
            link("m1", "g4", "4")
        ]
    );
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        Some("after".into())
    );
    assert_eq!(
        store.audit(Some("m1"), 10).await.unwrap(),
        vec![audit_entry("m1", 2), audit_entry("m1", 1)]
    );

    // An empty round (nothing changed) is fine and leaves the cursor alone.
    store
        .commit_round(&RoundCommit {
            mailbox: "m1".into(),
            resource: "event".into(),
            ..RoundCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        Some("after".into())
    );
    store.close().await;
}

async fn journal_lists_exactly_the_unresolved_writes(fx: &Fixture) {
    let store = fx.open().await;
    let first = store
        .begin_write(&journal_entry("m1", "stamp-1"))
        .await
        .unwrap();
    let second = store
        .begin_write(&journal_entry("m1", "stamp-2"))
        .await
        .unwrap();
    let third_entry = JournalEntry {
        action: "update".into(),
        target: Some("MA:7".into()),
        ..journal_entry("m1", "stamp-3")
    };
    let third = store.begin_write(&third_entry).await.unwrap();
    let other = store
        .begin_write(&journal_entry("m2", "stamp-4"))
        .await
        .unwrap();
    assert!(
        first < second && second < third,
        "ids grow: {first} {second} {third}"
    );

    let pending = store.pending_writes("m1").await.unwrap();
    assert_eq!(
        pending.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![first, second, third]
    );
    assert_eq!(pending[2].entry, third_entry);

    let ok = Outcome {
        status: WriteStatus::Ok,
        result_id: Some("MA:8".into()),
        detail: None,
        resolved_at: at(6),
    };
    let failed = Outcome {
        status: WriteStatus::Failed,
        result_id: None,
        detail: Some("crm refused the write: field too long".into()),
        resolved_at: at(7),
    };
    store.resolve_write(first, &ok).await.unwrap();
    store.resolve_write(third, &failed).await.unwrap();
    let pending = store.pending_writes("m1").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, second);
    assert_eq!(pending[0].entry, journal_entry("m1", "stamp-2"));
    assert_eq!(store.pending_writes("m2").await.unwrap()[0].id, other);

    let err = store.resolve_write(first, &ok).await.unwrap_err();
    assert_eq!(err.kind(), StateErrorKind::AlreadyResolved, "{err}");
    let err = store
        .resolve_write(WriteId(987_654), &ok)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StateErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("table `write_journal`"), "{err}");
    store.close().await;
}

async fn audit_is_appended_and_listed_newest_first(fx: &Fixture) {
    let store = fx.open().await;
    store.append_audit(&[]).await.unwrap();
    store
        .append_audit(&[audit_entry("m1", 1), audit_entry("m2", 2)])
        .await
        .unwrap();
    let update = AuditEntry {
        action: "update".into(),
        before_hash: Some("0001".into()),
        ..audit_entry("m1", 3)
    };
    store
        .append_audit(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(
        store.audit(None, 10).await.unwrap(),
        vec![update.clone(), audit_entry("m2", 2), audit_entry("m1", 1)]
    );
    assert_eq!(store.audit(Some("m1"), 1).await.unwrap(), vec![update]);
    assert_eq!(
        store.audit(Some("m2"), 10).await.unwrap(),
        vec![audit_entry("m2", 2)]
    );
    assert_eq!(store.audit(Some("m3"), 10).await.unwrap(), vec![]);
    assert_eq!(store.audit(None, 0).await.unwrap(), vec![]);
    store.close().await;
}

async fn status_is_kept_per_mailbox(fx: &Fixture) {
    let store = fx.open().await;
    assert_eq!(store.get_status("m1").await.unwrap(), None);
    store.put_status(&status("m2")).await.unwrap();
    store.put_status(&status("m1")).await.unwrap();
    let failed = MailboxStatus {
        last_error_at: Some(at(20)),
        last_error: Some("mailbox has no licence".into()),
        last_fix: Some("assign an Exchange Online licence to the user".into()),
        counts: serde_json::json!({}),
        ..status("m1")
    };
    store.put_status(&failed).await.unwrap();
    assert_eq!(store.get_status("m1").await.unwrap(), Some(failed.clone()));
    assert_eq!(
        store.list_status().await.unwrap(),
        vec![failed.clone(), status("m2")]
    );
    // Retiring is recorded and undone like any other column.
    let retired = MailboxStatus {
        retired_at: Some(at(30)),
        ..failed.clone()
    };
    store.put_status(&retired).await.unwrap();
    assert_eq!(store.get_status("m1").await.unwrap(), Some(retired));
    store.put_status(&failed).await.unwrap();
    assert_eq!(
        store.get_status("m1").await.unwrap().unwrap().retired_at,
        None
    );
    store.close().await;
}

async fn reopening_keeps_everything(fx: &Fixture) {
    let store = fx.open().await;
    store.put_link(&link("m1", "g1", "1")).await.unwrap();
    store
        .put_cursor("m1", "event", "window", "d1")
        .await
        .unwrap();
    store.put_status(&status("m1")).await.unwrap();
    let id = store
        .begin_write(&journal_entry("m1", "stamp"))
        .await
        .unwrap();
    store.append_audit(&[audit_entry("m1", 1)]).await.unwrap();
    store.close().await;
    drop(store);

    let store = fx.open().await;
    assert_eq!(
        store.get_link("m1", "event", "g1").await.unwrap(),
        Some(link("m1", "g1", "1"))
    );
    assert_eq!(
        store.get_cursor("m1", "event", "window").await.unwrap(),
        Some("d1".into())
    );
    assert_eq!(store.get_status("m1").await.unwrap(), Some(status("m1")));
    assert_eq!(store.pending_writes("m1").await.unwrap()[0].id, id);
    assert_eq!(
        store.audit(None, 5).await.unwrap(),
        vec![audit_entry("m1", 1)]
    );
    // Journal ids keep growing across restarts.
    let next = store
        .begin_write(&journal_entry("m1", "stamp-2"))
        .await
        .unwrap();
    assert!(next > id);
    store.close().await;
}

async fn a_newer_schema_is_a_clear_error(fx: &Fixture) {
    let store = fx.open().await;
    store.put_link(&link("m1", "g1", "1")).await.unwrap();
    store.close().await;
    drop(store);
    fx.fake_future_migration(9999).await;

    let Err(err) = state::open(&fx.location()).await else {
        panic!("a store with a newer schema opened");
    };
    assert_eq!(err.kind(), StateErrorKind::SchemaTooNew, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("has schema version 9999, newer than this graph-connector knows (3): upgrade graph-connector"),
        "{text}"
    );
    assert!(text.contains(&fx.location().to_string()), "{text}");
}

async fn concurrent_tasks_lose_nothing(fx: &Fixture) {
    let store = fx.open().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mailbox = format!("m{t}");
            for n in 0..10 {
                let graph_id = format!("g{n}");
                let id = store
                    .begin_write(&journal_entry(&mailbox, &graph_id))
                    .await
                    .unwrap();
                store
                    .put_link(&link(&mailbox, &graph_id, &format!("{t}-{n}")))
                    .await
                    .unwrap();
                let round = RoundCommit {
                    mailbox: mailbox.clone(),
                    resource: "event".into(),
                    upsert_links: vec![link(&mailbox, &format!("r{n}"), &format!("r{t}-{n}"))],
                    delete_links: vec![],
                    cursor: Some(("window".into(), format!("d{n}"))),
                    audit: vec![audit_entry(&mailbox, n)],
                };
                store.commit_round(&round).await.unwrap();
                let outcome = Outcome {
                    status: WriteStatus::Ok,
                    result_id: None,
                    detail: None,
                    resolved_at: at(n),
                };
                store.resolve_write(id, &outcome).await.unwrap();
                store.count_links(&mailbox, "event").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for t in 0..8 {
        let mailbox = format!("m{t}");
        assert_eq!(store.count_links(&mailbox, "event").await.unwrap(), 20);
        assert_eq!(
            store.get_cursor(&mailbox, "event", "window").await.unwrap(),
            Some("d9".into())
        );
        assert_eq!(store.pending_writes(&mailbox).await.unwrap(), vec![]);
    }
    assert_eq!(store.audit(None, 1000).await.unwrap().len(), 80);
    store.close().await;
}

async fn concurrent_links_to_one_record_admit_one(fx: &Fixture) {
    let store = fx.open().await;
    let won = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (store, won) = (Arc::clone(&store), Arc::clone(&won));
        tasks.push(tokio::spawn(async move {
            match store.put_link(&link("m1", &format!("g{t}"), "1")).await {
                Ok(()) => {
                    won.fetch_add(1, Ordering::SeqCst);
                }
                Err(err) => assert_eq!(err.kind(), StateErrorKind::Conflict, "{err}"),
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(won.load(Ordering::SeqCst), 1);
    assert_eq!(store.links_by_crm(&ma("1")).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn memory_location_is_an_empty_working_store() {
    let store = state::open(&StateLocation::Memory).await.unwrap();
    assert_eq!(store.location(), "memory");
    store.put_link(&link("m1", "g1", "1")).await.unwrap();
    assert_eq!(store.count_links("m1", "event").await.unwrap(), 1);
    let other = state::open(&StateLocation::Memory).await.unwrap();
    assert_eq!(other.count_links("m1", "event").await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_in_a_missing_directory_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("state.db");
    let location = StateLocation::parse(&format!("sqlite:{}", path.display())).unwrap();
    let Err(err) = state::open(&location).await else {
        panic!("opened a store in a missing directory");
    };
    assert_eq!(err.kind(), StateErrorKind::Open, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "directory `{}` does not exist",
            path.parent().unwrap().display()
        )),
        "{text}"
    );
    assert!(!path.parent().unwrap().exists());
}

#[tokio::test]
async fn sqlite_file_is_created_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = state::open(&StateLocation::Sqlite(path.clone()))
        .await
        .unwrap();
    assert!(path.exists());
    assert_eq!(store.location(), format!("sqlite:{}", path.display()));
    store.close().await;
}

#[tokio::test]
async fn a_bad_postgres_url_is_an_open_error_without_the_password() {
    let location = StateLocation::parse("postgres://gc:s3cret@127.0.0.1:port/state").unwrap();
    let Err(err) = state::open(&location).await else {
        panic!("opened a store at a malformed url");
    };
    assert_eq!(err.kind(), StateErrorKind::Open, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("postgres://gc:***@127.0.0.1:port/state"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}
