//! The CRM contract suite: one set of test functions, generic over a backend, run against the CRM.interface
//! emulator through the real HTTP client, so the client and the emulator stay in step (there is one CRM
//! implementation; no second fake that could drift).

use std::{sync::Arc, time::Duration, time::Instant};

use graph_connector::{
    emulator::crm::{self as crm_emulator, CrmEmulator, EmulatorOptions, Faults},
    transport::crm::{
        Actor, BatchCommand, CatalogMode, Command, Condition, CrmError, CrmErrorKind, CrmTransport,
        CursorFlags, Fields, Op, Query, Record, RecordId, Reply, TableQuery, Value, WireFormats,
        WriteAction,
        client::{CrmClient, CrmClientConfig, RetryPolicy},
    },
};
use jiff::{ToSpan, civil::date};
use pretty_assertions::assert_eq;

/// What the suite needs from a backend.
trait Backend: Send + Sync {
    /// A transport logged in as the master user.
    fn master(&self) -> Arc<dyn CrmTransport>;
    /// A master transport with another catalog mode and request language.
    fn master_with(&self, mode: CatalogMode, language: &str) -> Arc<dyn CrmTransport>;
    /// A transport logged in with other credentials.
    fn login(&self, user: &str, password: &str, client: &str) -> Arc<dyn CrmTransport>;
    /// Undeleted records of `table` whose `field` equals `value` in the backend's store.
    fn count(&self, table: &str, field: &str, value: &str) -> usize;
}

struct Emulator(CrmEmulator);

fn client_config(url: &str, user: &str, password: &str, client: &str) -> CrmClientConfig {
    let mut config = CrmClientConfig::new(url, user, password.into());
    config.client_name = client.to_owned();
    config.timeout = Duration::from_secs(20);
    config.retry = RetryPolicy {
        max_retries: 40,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    config
}

impl Backend for Emulator {
    fn master(&self) -> Arc<dyn CrmTransport> {
        let m = self.0.master();
        self.login(&m.user, &m.password, &m.client)
    }

    fn master_with(&self, mode: CatalogMode, language: &str) -> Arc<dyn CrmTransport> {
        let m = self.0.master();
        let mut config = client_config(self.0.url(), &m.user, &m.password, &m.client);
        config.catalog_mode = mode;
        config.language = language.to_owned();
        Arc::new(CrmClient::new(config).expect("client builds"))
    }

    fn login(&self, user: &str, password: &str, client: &str) -> Arc<dyn CrmTransport> {
        let config = client_config(self.0.url(), user, password, client);
        Arc::new(CrmClient::new(config).expect("client builds"))
    }

    fn count(&self, table: &str, field: &str, value: &str) -> usize {
        self.0
            .records(table)
            .iter()
            .filter(|r| !r.deleted && r.values.get(field).map(String::as_str) == Some(value))
            .count()
    }
}

async fn emulator_with(faults: Faults) -> Emulator {
    let options = EmulatorOptions {
        faults,
        rng_seed: 7,
        ..EmulatorOptions::default()
    };
    Emulator(crm_emulator::spawn(options).await.expect("emulator starts"))
}

/// Runs each listed contract test against the emulator through the real client.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod emulator {
            $(#[tokio::test]
            async fn $name() {
                let backend = super::emulator_with(super::Faults::default()).await;
                super::$name(&backend).await;
                backend.0.shutdown().await;
            })*
        }
    };
}

contract!(
    health_check_proves_the_master_login,
    wrong_password_is_an_auth_error,
    impersonation_only_for_the_master_user_and_client,
    unknown_field_is_a_typed_error_naming_the_field,
    write_rules_are_typed_errors,
    write_read_update_delete_round_trip,
    upsert_by_match_key_never_duplicates,
    ambiguous_match_key_writes_nothing,
    conditions_groups_operators_and_wildcards,
    linked_tables_and_cursor_flags,
    reps_and_email_resolution,
    email_resolution_through_tel_no,
    catalog_values_with_texts_and_external_keys,
    catalog_fields_by_text_code_or_external_key,
    condition_groups_name_one_table,
    changed_since_sees_recent_writes,
    break_skips_commands_after_a_failure,
    too_long_values_are_rejected_naming_the_field,
    exotic_text_survives_insert_and_query,
    links_to_missing_parents_are_not_found,
    regression_issue_9_match_keys_compare_like_queries,
);

/// The error of a master insert of `fields` into `Contact`, which must be rejected.
async fn rejected_contact(crm: &dyn CrmTransport, fields: Fields) -> CrmError {
    crm.insert(&Actor::Master, "Contact", fields)
        .await
        .unwrap_err()
}

fn contact(graph_id: &str, subject: &str) -> Fields {
    let mut fields = Fields::new();
    fields.insert("GraphId".into(), graph_id.into());
    fields.insert("Contact".into(), "Appointment".into());
    fields.insert("Date".into(), Value::Date(date(2026, 11, 26)));
    fields.insert("Time".into(), Value::Time(jiff::civil::time(10, 30, 0, 0)));
    fields.insert("RepID".into(), "ANA".into());
    fields.insert("Subject".into(), subject.into());
    fields
}

const CONTACT_FIELDS: &[&str] = &[
    "GraphId", "Subject", "Contact", "Date", "Time", "RepID", "Rep",
];

async fn health_check_proves_the_master_login(b: &dyn Backend) {
    let health = b.master().health_check().await.expect("healthy");
    assert!(health.reps_visible);
    assert_eq!(health.user, "OCSU");
}

async fn wrong_password_is_an_auth_error(b: &dyn Backend) {
    let crm = b.login("OCSU", "not-the-password", "GraphApi");
    let err = crm.health_check().await.unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::Auth, "{err}");
    let err = crm
        .query(&Actor::Master, &Query::table("Rep").fields(["RepID"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::Auth, "{err}");
    assert!(!err.is_retryable());
}

async fn impersonation_only_for_the_master_user_and_client(b: &dyn Backend) {
    let ana = Actor::RepEmail("ana@contoso.com".into());
    let query = Query::table("Rep").fields(["RepID"]);
    // The master user with its client may act as a rep.
    let records = b
        .master()
        .query(&ana, &query)
        .await
        .expect("master impersonates");
    assert!(!records.is_empty());
    let by_name = Actor::RepName("Ana Alvarez".into());
    assert_eq!(
        b.master().query(&by_name, &query).await.unwrap().len(),
        records.len()
    );
    // A valid non-master login may not.
    let err = b
        .login("ANA", "ana-secret", "GraphApi")
        .query(&ana, &query)
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::PermissionDenied, "{err}");
    // Nor the master user naming another client.
    let err = b
        .login("OCSU", "sandbox", "SyncML")
        .query(&ana, &query)
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::PermissionDenied, "{err}");
    // Impersonating an address that is no rep fails to log in.
    let nobody = Actor::RepEmail("stranger@example.org".into());
    let err = b.master().query(&nobody, &query).await.unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::Auth, "{err}");
}

async fn unknown_field_is_a_typed_error_naming_the_field(b: &dyn Backend) {
    let crm = b.master();
    let mut fields = contact("unknown-field-1", "hello");
    fields.insert("Subjct".into(), "typo".into());
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::UnknownField, "{err}");
    assert_eq!(err.table.as_deref(), Some("Contact"));
    assert_eq!(err.field.as_deref(), Some("Subjct"));
    assert_eq!(
        b.count("Contact", "GraphId", "unknown-field-1"),
        0,
        "nothing written"
    );

    let err = crm
        .query(&Actor::Master, &Query::table("Contact").fields(["Subjct"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::UnknownField, "{err}");
    assert_eq!(err.field.as_deref(), Some("Subjct"));

    let err = crm
        .query(
            &Actor::Master,
            &Query::table("Contacts").fields(["Subject"]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::UnknownTable, "{err}");
}

async fn write_rules_are_typed_errors(b: &dyn Backend) {
    let crm = b.master();
    let mut fields = contact("rules-1", "no date");
    fields.shift_remove("Date");
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::RequiredFieldMissing, "{err}");
    assert_eq!(err.field.as_deref(), Some("Date"));

    let mut fields = contact("rules-2", "read-only rep name");
    fields.insert("Rep".into(), "Somebody".into());
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::InvalidValue, "{err}");
    assert_eq!(err.field.as_deref(), Some("Rep"));

    let mut fields = contact("rules-3", "bad date");
    fields.insert("Date".into(), "26/11/2026".into());
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::InvalidValue, "{err}");
    assert_eq!(err.field.as_deref(), Some("Date"));

    let mut fields = contact("rules-4", "unknown rep");
    fields.insert("RepID".into(), "ZZZ".into());
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::InvalidValue, "{err}");
    assert_eq!(err.field.as_deref(), Some("RepID"));

    // Reps are written by the master user itself only; a read-only login writes nothing.
    let mut rep = Fields::new();
    rep.insert("Name".into(), "Ana A.".into());
    let ana = crm.list_reps(&Actor::Master, true).await.unwrap().remove(0);
    let err = crm
        .update(
            &Actor::RepEmail("ana@contoso.com".into()),
            "Rep",
            &ana.id,
            rep,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::PermissionDenied, "{err}");
    let err = b
        .login("AUDIT", "audit-secret", "GraphApi")
        .insert(
            &Actor::Master,
            "Contact",
            contact("rules-5", "read-only login"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::PermissionDenied, "{err}");
    for n in 1..=5 {
        assert_eq!(b.count("Contact", "GraphId", &format!("rules-{n}")), 0);
    }
    assert!(
        crm.read_catalog(&Actor::Master, "No such catalog")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn write_read_update_delete_round_trip(b: &dyn Backend) {
    let crm = b.master();
    let actor = Actor::RepEmail("ana@contoso.com".into());
    let id = crm
        .insert(&actor, "Contact", contact("rt-1", "first"))
        .await
        .expect("insert");
    let record = crm
        .read(&actor, "Contact", &id, CONTACT_FIELDS)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(record.id, id);
    assert_eq!(record.tableshort, "MA");
    assert_eq!(record.text("Subject"), Some("first"));
    assert_eq!(record.text("Contact"), Some("Appointment"));
    assert_eq!(record.text("Date"), Some("2026-11-26"));
    assert_eq!(record.text("Time"), Some("10:30"));
    let formats = WireFormats::default();
    assert_eq!(record.date("Date", &formats), Some(date(2026, 11, 26)));
    assert_eq!(
        record.time("Time", &formats),
        Some(jiff::civil::time(10, 30, 0, 0))
    );
    assert_eq!(
        record.text("Rep"),
        Some("Ana Alvarez"),
        "rep name filled from RepID"
    );

    let mut change = Fields::new();
    change.insert("Subject".into(), "second".into());
    crm.update(&actor, "Contact", &id, change)
        .await
        .expect("update");
    crm.soft_delete(&actor, "Contact", &id, "ConnectorDeleted")
        .await
        .expect("soft delete");
    let record = crm
        .read(
            &actor,
            "Contact",
            &id,
            &["Subject", "ConnectorDeleted", "GraphId"],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.text("Subject"), Some("second"));
    assert_eq!(record.text("ConnectorDeleted"), Some("true"));
    assert_eq!(
        record.text("GraphId"),
        Some("rt-1"),
        "untouched fields keep their values"
    );

    crm.delete(&actor, "Contact", &id).await.expect("delete");
    assert_eq!(
        crm.read(&actor, "Contact", &id, &["Subject"])
            .await
            .unwrap(),
        None
    );
    let err = crm.delete(&actor, "Contact", &id).await.unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::NotFound, "{err}");
    let err = crm
        .update(
            &actor,
            "Contact",
            &RecordId::new("4294999999"),
            Fields::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::NotFound, "{err}");
    // Deleted records stay readable with the read-deleted cursor flag.
    let query = Query::table("Contact")
        .fields(["GraphId"])
        .flags(CursorFlags::READ_DELETED)
        .filter(Condition::eq("Contact", "GraphId", "rt-1"));
    let records = crm.query(&actor, &query).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, id);
    assert!(
        records[0].deleted,
        "read with the flag, it says it is deleted"
    );
}

async fn upsert_by_match_key_never_duplicates(b: &dyn Backend) {
    let crm = b.master();
    let first = crm
        .upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact("up-1", "v1"),
        )
        .await
        .unwrap();
    let second = crm
        .upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact("up-1", "v2"),
        )
        .await
        .unwrap();
    assert_eq!(first.action, WriteAction::Insert);
    assert_eq!(second.action, WriteAction::Update);
    assert_eq!(first.id, second.id);
    assert_eq!(b.count("Contact", "GraphId", "up-1"), 1);
    let record = crm
        .read(&Actor::Master, "Contact", &first.id, &["Subject"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.text("Subject"), Some("v2"));
}

/// Issue 9: the CRM compares an upsert's match key as its queries compare text (ignoring case), so the
/// record a query by key finds is the one an upsert by that key updates.
async fn regression_issue_9_match_keys_compare_like_queries(b: &dyn Backend) {
    let crm = b.master();
    let first = crm
        .upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact("Case-Key", "v1"),
        )
        .await
        .unwrap();
    let query = Query::table("Contact")
        .fields(["GraphId"])
        .filter(Condition::eq("Contact", "GraphId", "CASE-KEY"));
    let found = crm.query(&Actor::Master, &query).await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![first.id.clone()]
    );
    let second = crm
        .upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact("case-key", "v2"),
        )
        .await
        .unwrap();
    assert_eq!((second.action, second.id), (WriteAction::Update, first.id));
}

async fn ambiguous_match_key_writes_nothing(b: &dyn Backend) {
    let crm = b.master();
    for _ in 0..2 {
        crm.insert(&Actor::Master, "Contact", contact("dup-1", "twin"))
            .await
            .unwrap();
    }
    let err = crm
        .upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact("dup-1", "third"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::AmbiguousMatch, "{err}");
    assert_eq!(b.count("Contact", "GraphId", "dup-1"), 2);
    assert_eq!(b.count("Contact", "Subject", "third"), 0);
}

async fn conditions_groups_operators_and_wildcards(b: &dyn Backend) {
    let crm = b.master();
    for (n, subject) in ["Alpha offer", "beta OFFER", "Gamma call", "delta"]
        .iter()
        .enumerate()
    {
        let mut fields = contact(&format!("cond-{n}"), subject);
        fields.insert("Duration".into(), Value::Number(n as f64 * 10.0));
        crm.insert(&Actor::Master, "Contact", fields).await.unwrap();
    }
    let subjects = |condition: Condition| {
        let crm = crm.clone();
        async move {
            let query = Query::table("Contact")
                .fields(["Subject"])
                .filter(Condition::eq("Contact", "GraphId", "cond-*"))
                .filter(condition);
            let records = crm.query(&Actor::Master, &query).await.unwrap();
            records
                .iter()
                .map(|r| r.text("Subject").unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let c = |field: &str, op: Op, value: Value| Condition::new("Contact", field, op, value);
    assert_eq!(
        subjects(c("Subject", Op::Contains, "offer".into())).await,
        ["Alpha offer", "beta OFFER"],
        "contains ignores case"
    );
    assert_eq!(
        subjects(c("Subject", Op::NotContains, "offer".into())).await,
        ["Gamma call", "delta"]
    );
    assert_eq!(
        subjects(c("Subject", Op::Eq, "ALPHA*".into())).await,
        ["Alpha offer"]
    );
    assert_eq!(
        subjects(c("Subject", Op::Ne, "*offer".into())).await,
        ["Gamma call", "delta"]
    );
    assert_eq!(
        subjects(c("Duration", Op::Ge, Value::Number(20.0))).await,
        ["Gamma call", "delta"]
    );
    assert_eq!(
        subjects(c("Duration", Op::Gt, Value::Number(20.0))).await,
        ["delta"]
    );
    assert_eq!(
        subjects(c("Duration", Op::Lt, Value::Number(10.0))).await,
        ["Alpha offer"]
    );
    assert_eq!(
        subjects(c("Duration", Op::Le, Value::Number(10.0))).await,
        ["Alpha offer", "beta OFFER"]
    );
    let or = Condition::Or(vec![
        c("Subject", Op::Eq, "delta".into()),
        Condition::And(vec![
            c("Subject", Op::Contains, "offer".into()),
            c("Duration", Op::Gt, Value::Number(5.0)),
        ]),
    ]);
    assert_eq!(subjects(or).await, ["beta OFFER", "delta"]);
    // No value: a number is 0, a boolean false.
    assert_eq!(
        subjects(c("PeNo", Op::Eq, Value::Number(0.0))).await.len(),
        4
    );
    assert_eq!(
        subjects(c("Private", Op::Eq, Value::Bool(false)))
            .await
            .len(),
        4
    );
    assert_eq!(
        subjects(c("Private", Op::Eq, Value::Bool(true)))
            .await
            .len(),
        0
    );
    let limited = Query::table("Contact")
        .fields(["Subject"])
        .max_records(2)
        .filter(Condition::eq("Contact", "GraphId", "cond-*"));
    assert_eq!(crm.query(&Actor::Master, &limited).await.unwrap().len(), 2);
}

async fn linked_tables_and_cursor_flags(b: &dyn Backend) {
    let crm = b.master();
    let persons = TableQuery::new("Person").fields(["LastName"]);
    let query = Query::table("Company")
        .fields(["Company"])
        .child(persons.clone())
        .filter(Condition::eq("Company", "Company", "Fabrikam*"));
    let companies = crm.query(&Actor::Master, &query).await.unwrap();
    assert_eq!(companies.len(), 1);
    let names: Vec<_> = companies[0]
        .children
        .iter()
        .map(|p| (p.table.as_str(), p.text("LastName").unwrap_or_default()))
        .collect();
    assert_eq!(names, [("Person", "Fischer"), ("Person", "Green")]);

    // A condition on the child table filters the children; an alias names them.
    let query = Query::table("Company")
        .fields(["Company"])
        .child(persons.clone().alias("Buyer"))
        .filter(Condition::eq("Company", "Company", "Fabrikam*"))
        .filter(Condition::eq("Person", "LastName", "Green").alias("Buyer"));
    let companies = crm.query(&Actor::Master, &query).await.unwrap();
    let child = &companies[0].children;
    assert_eq!(child.len(), 1);
    assert_eq!(child[0].alias.as_deref(), Some("Buyer"));
    assert_eq!(child[0].text("LastName"), Some("Green"));

    // WITH: only companies having a matching person.
    let query = Query::table("Company")
        .fields(["Company"])
        .child(persons.clone().flags(CursorFlags::WITH))
        .filter(Condition::eq("Person", "LastName", "Huber"));
    let companies = crm.query(&Actor::Master, &query).await.unwrap();
    let names: Vec<_> = companies
        .iter()
        .map(|c| c.text("Company").unwrap())
        .collect();
    assert_eq!(names, ["Northwind GmbH"]);

    // Links are followed in either direction: a contact's rep, a person's company.
    crm.insert(&Actor::Master, "Contact", contact("link-1", "linked"))
        .await
        .unwrap();
    let query = Query::table("Contact")
        .fields(["Subject"])
        .child(TableQuery::new("Rep").fields(["Name"]))
        .filter(Condition::eq("Contact", "GraphId", "link-1"));
    let contacts = crm.query(&Actor::Master, &query).await.unwrap();
    assert_eq!(contacts[0].children.len(), 1);
    assert_eq!(contacts[0].children[0].text("Name"), Some("Ana Alvarez"));
    assert_eq!(contacts[0].children[0].tableshort, "ID");
    let query = Query::table("Person")
        .fields(["LastName"])
        .child(TableQuery::new("Company").fields(["Company"]))
        .filter(Condition::eq("Person", "LastName", "Jäger"));
    let persons = crm.query(&Actor::Master, &query).await.unwrap();
    assert_eq!(
        persons[0].children[0].text("Company"),
        Some("Northwind GmbH")
    );
}

async fn reps_and_email_resolution(b: &dyn Backend) {
    let crm = b.master();
    let reps = crm.list_reps(&Actor::Master, true).await.unwrap();
    let ids: Vec<_> = reps.iter().map(|r| r.rep_id.as_str()).collect();
    assert_eq!(ids, ["ANA", "BEN", "CHL", "EVA"]);
    assert_eq!(reps[0].email.as_deref(), Some("ana@contoso.com"));
    assert!(reps[0].enable_connector && reps[0].sync_appointments);
    let all = crm.list_reps(&Actor::Master, false).await.unwrap();
    assert!(all.iter().any(|r| r.rep_id == "DIE" && !r.enable_connector));

    let addresses: Vec<String> = [
        "ana@contoso.com",
        "FRANK@fabrikam.com",
        "stranger@example.org",
        "juergen@northwind.de",
    ]
    .map(String::from)
    .to_vec();
    let found = crm
        .resolve_emails(&Actor::Master, &addresses)
        .await
        .unwrap();
    assert_eq!(found.len(), 4);
    let ana = &found["ana@contoso.com"];
    assert_eq!(ana.reps.len(), 1);
    assert_eq!(ana.reps[0].text("RepID"), Some("ANA"));
    let frank = &found["FRANK@fabrikam.com"];
    assert_eq!(frank.reps.len(), 0);
    assert_eq!(frank.persons.len(), 1);
    assert_eq!(frank.persons[0].text("LastName"), Some("Fischer"));
    assert_eq!(
        found["juergen@northwind.de"].persons[0].text("FirstName"),
        Some("Jürgen")
    );
    let stranger = &found["stranger@example.org"];
    assert!(stranger.reps.is_empty() && stranger.persons.is_empty());
}

/// A write whose link fields name a parent record that does not exist (a person of no company, a contact
/// of no person) is `not-found` naming the first link field, and writes nothing.
async fn links_to_missing_parents_are_not_found(b: &dyn Backend) {
    let crm = b.master();
    let frank = person_keys(&*crm, "Fischer").await;

    let mut orphan = Fields::new();
    orphan.insert("CoGrp".into(), Value::Number(99.0));
    orphan.insert("CoNo".into(), Value::Number(99999.0));
    orphan.insert("LastName".into(), "Orphan".into());
    let err = crm
        .insert(&Actor::Master, "Person", orphan)
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::NotFound, "{err}");
    assert_eq!(err.table.as_deref(), Some("Person"));
    assert_eq!(err.field.as_deref(), Some("CoGrp"));
    assert_eq!(
        b.count("Person", "LastName", "Orphan"),
        0,
        "nothing written"
    );

    let mut fields = contact("links-1", "no such person");
    fields.insert("PeGrp".into(), frank["PeGrp"].clone());
    fields.insert("PeNo".into(), Value::Number(99999.0));
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::NotFound, "{err}");
    assert_eq!(err.table.as_deref(), Some("Contact"));
    assert_eq!(err.field.as_deref(), Some("PeGrp"));
    assert_eq!(
        b.count("Contact", "GraphId", "links-1"),
        0,
        "nothing written"
    );

    // A contact of an existing person is written; moving it to a missing company is refused.
    let mut fields = contact("links-2", "Frank's meeting");
    fields.insert("PeGrp".into(), frank["PeGrp"].clone());
    fields.insert("PeNo".into(), frank["PeNo"].clone());
    let id = crm
        .insert(&Actor::Master, "Contact", fields)
        .await
        .expect("a contact of an existing person");
    let mut moved = Fields::new();
    moved.insert("CoGrp".into(), Value::Number(99.0));
    moved.insert("CoNo".into(), Value::Number(99999.0));
    let err = crm
        .update(&Actor::Master, "Contact", &id, moved)
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::NotFound, "{err}");
    assert_eq!(err.field.as_deref(), Some("CoGrp"));
    let record = crm
        .read(&Actor::Master, "Contact", &id, &["CoNo"])
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(record.fields["CoNo"], frank["CoNo"], "update not applied");
}

/// Key fields (`CoGrp`, `CoNo`, `PeGrp`, `PeNo`) of the person with `last_name`.
async fn person_keys(crm: &dyn CrmTransport, last_name: &str) -> Fields {
    let query = Query::table("Person")
        .fields(["CoGrp", "CoNo", "PeGrp", "PeNo"])
        .filter(Condition::eq("Person", "LastName", last_name));
    let mut persons = crm.query(&Actor::Master, &query).await.unwrap();
    assert_eq!(persons.len(), 1, "one person {last_name}");
    persons.remove(0).fields
}

/// Inserts a TN (Tel.No./E-mail) row with `number`, linked by `link` (person or company key fields).
async fn add_tel_no(crm: &dyn CrmTransport, link: &[(&str, &Fields)], number: &str) {
    let mut fields = Fields::new();
    for (name, from) in link {
        fields.insert((*name).to_owned(), from[*name].clone());
    }
    fields.insert("Kind".into(), "E-mail".into());
    fields.insert("Number".into(), number.into());
    crm.insert(&Actor::Master, "TelNo", fields).await.unwrap();
}

/// The link of a TN row to a person.
fn person(keys: &Fields) -> [(&str, &Fields); 2] {
    [("PeGrp", keys), ("PeNo", keys)]
}

fn last_names(records: &[Record]) -> Vec<&str> {
    let mut names: Vec<&str> = records.iter().filter_map(|r| r.text("LastName")).collect();
    names.sort_unstable();
    names
}

/// Participants are also found through TN (reference §7, §9): a TN row of a person resolves to the
/// person, a TN row of a company alone to the company; a person found several ways is listed once;
/// different persons sharing an address are all listed.
async fn email_resolution_through_tel_no(b: &dyn Backend) {
    let crm = b.master();
    let crm = crm.as_ref();
    // The seed's TN rows repeat the persons' E-mail1.
    assert_eq!(b.count("TelNo", "Number", "frank@fabrikam.com"), 1);
    let grace = person_keys(crm, "Green").await;
    let frank = person_keys(crm, "Fischer").await;
    let hanna = person_keys(crm, "Huber").await;
    let juergen = person_keys(crm, "Jäger").await;
    add_tel_no(crm, &person(&grace), "Grace.Green@Private.Example").await;
    add_tel_no(
        crm,
        &[("CoGrp", &hanna), ("CoNo", &hanna)],
        "sales@northwind.de",
    )
    .await;
    add_tel_no(crm, &person(&frank), "shared@example.org").await;
    add_tel_no(crm, &person(&hanna), "shared@example.org").await;
    // Jürgen by E-mail2 and by TN.
    let id = crm
        .query(
            &Actor::Master,
            &Query::table("Person").filter(Condition::eq("Person", "LastName", "Jäger")),
        )
        .await
        .unwrap()[0]
        .id
        .clone();
    let mut e_mail2 = Fields::new();
    e_mail2.insert("E-mail2".into(), "JJ@northwind.de".into());
    crm.update(&Actor::Master, "Person", &id, e_mail2)
        .await
        .unwrap();
    add_tel_no(crm, &person(&juergen), "jj@NORTHWIND.de").await;

    let addresses: Vec<String> = [
        "grace.green@private.example",
        "frank@fabrikam.com",
        "Sales@Northwind.de",
        "shared@example.org",
        "jj@northwind.de",
        "stranger@example.org",
    ]
    .map(String::from)
    .to_vec();
    let found = crm
        .resolve_emails(&Actor::Master, &addresses)
        .await
        .unwrap();
    assert_eq!(found.len(), 6);

    let only_tn = &found["grace.green@private.example"];
    assert_eq!(last_names(&only_tn.persons), ["Green"], "known only in TN");
    assert!(only_tn.reps.is_empty() && only_tn.companies.is_empty());
    assert_eq!(only_tn.persons[0].tableshort, "KP");
    assert_eq!(only_tn.persons[0].text("FirstName"), Some("Grace"));

    let twice = &found["frank@fabrikam.com"];
    assert_eq!(
        last_names(&twice.persons),
        ["Fischer"],
        "E-mail1 and TN: once"
    );
    assert!(
        twice.companies.is_empty(),
        "a person's TN row is not its company's"
    );

    let company = &found["Sales@Northwind.de"];
    assert!(company.persons.is_empty(), "{company:?}");
    assert_eq!(company.companies.len(), 1, "{company:?}");
    assert_eq!(company.companies[0].text("Company"), Some("Northwind GmbH"));
    assert_eq!(company.companies[0].tableshort, "FI");

    let shared = &found["shared@example.org"];
    assert_eq!(
        last_names(&shared.persons),
        ["Fischer", "Huber"],
        "ambiguous: both"
    );

    let e_mail2_and_tn = &found["jj@northwind.de"];
    assert_eq!(
        last_names(&e_mail2_and_tn.persons),
        ["Jäger"],
        "E-mail2 and TN: once"
    );

    let stranger = &found["stranger@example.org"];
    assert_eq!(stranger, &Default::default());

    // A TN row of a deleted person finds nothing.
    let huber = crm
        .query(
            &Actor::Master,
            &Query::table("Person").filter(Condition::eq("Person", "LastName", "Huber")),
        )
        .await
        .unwrap()[0]
        .id
        .clone();
    crm.delete(&Actor::Master, "Person", &huber).await.unwrap();
    let found = crm
        .resolve_emails(&Actor::Master, &["shared@example.org".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        last_names(&found["shared@example.org"].persons),
        ["Fischer"]
    );
}

async fn catalog_values_with_texts_and_external_keys(b: &dyn Backend) {
    let crm = b.master();
    let show_as = crm.read_catalog(&Actor::Master, "ShowAs").await.unwrap();
    let busy = show_as.iter().find(|v| v.code == "3").expect("code 3");
    assert_eq!(busy.texts.get("en").map(String::as_str), Some("Busy"));
    assert_eq!(busy.texts.get("de").map(String::as_str), Some("Gebucht"));
    assert_eq!(busy.ext_key.as_deref(), Some("1_2_3"));
    let content = crm
        .read_catalog(&Actor::Master, "Content Type (groupware)")
        .await
        .unwrap();
    let texts: Vec<_> = content.iter().map(|v| v.texts["en"].as_str()).collect();
    assert_eq!(
        texts,
        [
            "application/x-mmRecord",
            "text/x-mmAbsences",
            "text/x-mmPerson",
            "text/x-mmTasks",
            "text/x-vevent"
        ]
    );
    // A catalog field rejects a text the catalog does not hold.
    let mut fields = contact("cat-1", "x");
    fields.insert("ShowAs".into(), "Sleeping".into());
    let err = rejected_contact(&*crm, fields).await;
    assert_eq!(err.kind, CrmErrorKind::InvalidValue, "{err}");
    assert_eq!(err.field.as_deref(), Some("ShowAs"));
}

async fn catalog_fields_by_text_code_or_external_key(b: &dyn Backend) {
    let by_code = b.master_with(CatalogMode::Code, "en");
    let mut fields = contact("catmode-1", "by code");
    fields.insert("Contact".into(), "7".into());
    fields.insert("ShowAs".into(), "3".into());
    let id = by_code
        .insert(&Actor::Master, "Contact", fields)
        .await
        .unwrap();
    let show_as = |mode, language: &'static str| {
        let crm = b.master_with(mode, language);
        let id = id.clone();
        async move {
            let record = crm
                .read(&Actor::Master, "Contact", &id, &["ShowAs", "Contact"])
                .await
                .unwrap()
                .unwrap();
            (
                record.text("ShowAs").unwrap().to_owned(),
                record.text("Contact").unwrap().to_owned(),
            )
        }
    };
    assert_eq!(
        show_as(CatalogMode::Code, "en").await,
        ("3".into(), "7".into())
    );
    assert_eq!(
        show_as(CatalogMode::Text, "en").await,
        ("Busy".into(), "Appointment".into())
    );
    assert_eq!(
        show_as(CatalogMode::Text, "de").await,
        ("Gebucht".into(), "Termin".into())
    );
    assert_eq!(
        show_as(CatalogMode::ExtKey, "en").await,
        ("1_2_3".into(), "1_1_7".into())
    );

    let by_ext_key = b.master_with(CatalogMode::ExtKey, "en");
    let mut change = Fields::new();
    change.insert("ShowAs".into(), "1_2_4".into());
    by_ext_key
        .update(&Actor::Master, "Contact", &id, change)
        .await
        .unwrap();
    assert_eq!(show_as(CatalogMode::Text, "en").await.0, "Out of office");

    // Conditions take catalog values in the same mode.
    let query = Query::table("Contact")
        .fields(["GraphId"])
        .filter(Condition::eq("Contact", "ShowAs", "4"))
        .filter(Condition::eq("Contact", "GraphId", "catmode-*"));
    assert_eq!(
        by_code.query(&Actor::Master, &query).await.unwrap().len(),
        1
    );
    // Texts and `#code` are understood in every mode; an unknown code is refused naming the field.
    let mut fields = contact("catmode-2", "text in code mode");
    fields.insert("ShowAs".into(), "#2".into());
    by_code
        .insert(&Actor::Master, "Contact", fields)
        .await
        .unwrap();
    let mut fields = contact("catmode-3", "unknown code");
    fields.insert("Contact".into(), "99".into());
    let err = rejected_contact(&*by_code, fields).await;
    assert_eq!(err.kind, CrmErrorKind::InvalidValue, "{err}");
    assert_eq!(err.field.as_deref(), Some("Contact"));
}

async fn condition_groups_name_one_table(b: &dyn Backend) {
    let query = Query::table("Company")
        .fields(["Company"])
        .child(TableQuery::new("Person").fields(["LastName"]))
        .filter(Condition::Or(vec![
            Condition::eq("Company", "Company", "Fabrikam*"),
            Condition::eq("Person", "LastName", "Huber"),
        ]));
    let err = b.master().query(&Actor::Master, &query).await.unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::Malformed, "{err}");
}

async fn changed_since_sees_recent_writes(b: &dyn Backend) {
    let crm = b.master();
    let before = jiff::Timestamp::now() - 1.hour();
    let id = crm
        .insert(&Actor::Master, "Contact", contact("changed-1", "recent"))
        .await
        .unwrap();
    let changed = crm
        .changed_since(&Actor::Master, "Contact", before, &["GraphId"])
        .await
        .unwrap();
    let hit = changed
        .iter()
        .find(|r| r.id == id)
        .expect("recent write is listed");
    assert!(
        hit.text("Upd").is_some_and(|u| u.ends_with('Z')),
        "Upd is RFC 3339 UTC"
    );
    let later = jiff::Timestamp::now() + 1.hour();
    let changed = crm
        .changed_since(&Actor::Master, "Contact", later, &["GraphId"])
        .await
        .unwrap();
    assert!(changed.is_empty());
}

async fn break_skips_commands_after_a_failure(b: &dyn Backend) {
    let crm = b.master();
    let commands = [
        BatchCommand::new(Command::Update {
            table: "Contact".into(),
            id: RecordId::new("4294999998"),
            fields: Fields::new(),
        }),
        BatchCommand::after_success(Command::Insert {
            table: "Contact".into(),
            fields: contact("break-1", "must not exist"),
        }),
        BatchCommand::new(Command::Insert {
            table: "Contact".into(),
            fields: contact("break-2", "must not exist either"),
        }),
    ];
    let results = crm.execute(&Actor::Master, &commands).await.unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().kind,
        CrmErrorKind::NotFound
    );
    assert_eq!(results[1], Ok(Reply::Skipped));
    assert_eq!(
        results[2],
        Ok(Reply::Skipped),
        "a break stops the rest of the request"
    );
    assert_eq!(b.count("Contact", "GraphId", "break-1"), 0);
    assert_eq!(b.count("Contact", "GraphId", "break-2"), 0);

    // Independent commands of one request: a failure does not undo or stop the others.
    let commands = [
        BatchCommand::new(Command::Insert {
            table: "Contact".into(),
            fields: contact("batch-1", "kept"),
        }),
        BatchCommand::new(Command::Delete {
            table: "Contact".into(),
            id: RecordId::new("4294999997"),
        }),
        BatchCommand::new(Command::Insert {
            table: "Contact".into(),
            fields: contact("batch-2", "kept too"),
        }),
    ];
    let results = crm.execute(&Actor::Master, &commands).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(
        results[1].as_ref().unwrap_err().kind,
        CrmErrorKind::NotFound
    );
    assert_eq!(b.count("Contact", "GraphId", "batch-1"), 1);
    assert_eq!(b.count("Contact", "GraphId", "batch-2"), 1);
}

async fn too_long_values_are_rejected_naming_the_field(b: &dyn Backend) {
    let crm = b.master();
    let exactly: String = "😀".repeat(255);
    let id = crm
        .insert(&Actor::Master, "Contact", contact("len-1", &exactly))
        .await
        .expect("255 characters fit Subject (length counts characters)");
    let record = crm
        .read(&Actor::Master, "Contact", &id, &["Subject"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.text("Subject"), Some(exactly.as_str()));
    let err = crm
        .insert(
            &Actor::Master,
            "Contact",
            contact("len-2", &"x".repeat(256)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::InvalidValue, "{err}");
    assert_eq!(err.field.as_deref(), Some("Subject"));
    assert_eq!(b.count("Contact", "GraphId", "len-2"), 0);
}

/// Texts that break naive XML handling.
const EXOTIC: &[&str] = &[
    "</Subject><Rep>x</Rep> & \"co\"",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇩🇪",
    "CJK 漢字 かな カナ 한국어",
    "RTL עברית العربية mixed ltr",
    "  leading and trailing spaces  ",
    "line1\r\nline2\nline3\rline4\ttab",
    "]]> <![CDATA[ x ]]> &amp; &lt; &#13; literally",
    "quotes ' \" ` and backslash \\ and <?pi?> <!-- comment -->",
    "combining e\u{301} zero-width \u{200b} joiner \u{200d} bom \u{feff}",
    "astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 and DEL \u{7f} NEL \u{85} LS \u{2028}",
    " ",
];

/// The expected stored Subject/Text of exotic record `n`.
fn exotic(n: usize) -> (String, String) {
    let sample = EXOTIC[n % EXOTIC.len()];
    let subject: String = format!("{sample} #{n}").chars().take(255).collect();
    let text = if n.is_multiple_of(10) {
        // Very long: 32,000 characters (the seed's `Text` is long text without a limit).
        sample.chars().cycle().take(32_000).collect()
    } else {
        format!("{sample}\n{}", EXOTIC[(n + 3) % EXOTIC.len()])
    };
    (subject, text)
}

async fn exotic_text_survives_insert_and_query(b: &dyn Backend) {
    const RECORDS: usize = 1_000;
    const PER_REQUEST: usize = 50;
    let started = Instant::now();
    let crm = b.master();
    let commands: Vec<BatchCommand> = (0..RECORDS)
        .map(|n| {
            let (subject, text) = exotic(n);
            let mut fields = contact(&format!("exotic-{n:04}"), &subject);
            fields.insert("Text".into(), text.into());
            // Both write paths: import (upsert) and plain insert.
            BatchCommand::new(if n.is_multiple_of(2) {
                Command::Upsert {
                    table: "Contact".into(),
                    key: vec!["GraphId".into()],
                    fields,
                }
            } else {
                Command::Insert {
                    table: "Contact".into(),
                    fields,
                }
            })
        })
        .collect();
    for chunk in commands.chunks(PER_REQUEST) {
        for result in crm.execute(&Actor::Master, chunk).await.unwrap() {
            result.expect("exotic record written");
        }
    }
    let query = Query::table("Contact")
        .fields(["GraphId", "Subject", "Text"])
        .filter(Condition::eq("Contact", "GraphId", "exotic-*"));
    let records = crm.query(&Actor::Master, &query).await.unwrap();
    assert_eq!(records.len(), RECORDS);
    for record in &records {
        let n: usize = record.text("GraphId").unwrap()["exotic-".len()..]
            .parse()
            .unwrap();
        let (subject, text) = exotic(n);
        assert_eq!(record.text("Subject"), Some(subject.as_str()), "record {n}");
        assert_eq!(record.text("Text"), Some(text.as_str()), "record {n}");
    }
    eprintln!(
        "exotic text: {RECORDS} records written and read back unchanged in {:?}",
        started.elapsed()
    );
}

// ---- emulator only: injected faults ----

/// Upserts (plain and dependent pairs) under dropped connections and 500/503 answers at a seeded rate
/// never duplicate a record.
#[tokio::test]
async fn upserts_under_injected_faults_never_duplicate() {
    const RECORDS: usize = 300;
    const PER_REQUEST: usize = 10;
    let faults = Faults {
        server_error_rate: 0.1,
        drop_before_rate: 0.1,
        drop_after_rate: 0.15,
        ..Faults::default()
    };
    let backend = emulator_with(faults).await;
    let crm = backend.master();
    let started = Instant::now();
    // Two rounds of independent upserts: the first inserts, the second updates; all under faults.
    for round in 0..2 {
        let commands: Vec<BatchCommand> = (0..RECORDS)
            .map(|n| {
                let fields = contact(&format!("fault-{n:04}"), &format!("round {round}"));
                BatchCommand::new(Command::Upsert {
                    table: "Contact".into(),
                    key: vec!["GraphId".into()],
                    fields,
                })
            })
            .collect();
        for chunk in commands.chunks(PER_REQUEST) {
            let results = crm
                .execute(&Actor::RepEmail("ana@contoso.com".into()), chunk)
                .await
                .expect("retries get through");
            for result in results {
                result.expect("upsert succeeds after retries");
            }
        }
    }
    // A third round of dependent pairs: each child upsert runs only after its parent's succeeded.
    let commands: Vec<BatchCommand> = (0..RECORDS)
        .flat_map(|n| {
            let parent = contact(&format!("fault-{n:04}"), "round 2");
            let child = contact(&format!("fault-{n:04}-child"), "child");
            [
                BatchCommand::new(Command::Upsert {
                    table: "Contact".into(),
                    key: vec!["GraphId".into()],
                    fields: parent,
                }),
                BatchCommand::after_success(Command::Upsert {
                    table: "Contact".into(),
                    key: vec!["GraphId".into()],
                    fields: child,
                }),
            ]
        })
        .collect();
    for chunk in commands.chunks(PER_REQUEST) {
        let results = crm
            .execute(&Actor::Master, chunk)
            .await
            .expect("retries get through");
        for result in results {
            assert!(
                matches!(result, Ok(Reply::Written(_))),
                "dependent upserts all run: {result:?}"
            );
        }
    }
    let elapsed = started.elapsed();
    let counters = backend.0.counters();
    let injected = counters.faults.clone();
    let checks = counters.commands.get("match").copied().unwrap_or(0);
    backend.0.set_faults(Faults::default());
    let duplicates: Vec<String> = (0..RECORDS)
        .map(|n| format!("fault-{n:04}"))
        .filter(|id| backend.count("Contact", "GraphId", id) != 1)
        .collect();
    assert_eq!(duplicates, Vec::<String>::new(), "every key exactly once");
    assert_eq!(
        backend.count("Contact", "Subject", "round 2"),
        RECORDS,
        "last round applied"
    );
    let child_duplicates: Vec<String> = (0..RECORDS)
        .map(|n| format!("fault-{n:04}-child"))
        .filter(|id| backend.count("Contact", "GraphId", id) != 1)
        .collect();
    assert_eq!(
        child_duplicates,
        Vec::<String>::new(),
        "every child exactly once"
    );
    assert!(
        injected.drops_after > 0 && injected.server_errors > 0 && injected.drops_before > 0,
        "the seeded faults must actually hit: {injected:?}"
    );
    assert!(
        checks > 0,
        "lost answers must be checked by match key before a retry"
    );
    eprintln!(
        "faults: {RECORDS} keys x 3 rounds (+{RECORDS} dependent children), injected {injected:?}, {checks} match-key checks, duplicates 0, in {elapsed:?}"
    );
    backend.0.shutdown().await;
}

/// A plain insert (no match key) whose answer is lost is reported, not repeated.
#[tokio::test]
async fn insert_with_unknown_outcome_is_not_repeated() {
    let backend = emulator_with(Faults {
        drop_after_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let err = backend
        .master()
        .execute(
            &Actor::Master,
            &[BatchCommand::new(Command::Insert {
                table: "Contact".into(),
                fields: contact("lost-1", "sent once"),
            })],
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::UnknownOutcome, "{err}");
    backend.0.set_faults(Faults::default());
    assert_eq!(backend.count("Contact", "GraphId", "lost-1"), 1);
    backend.0.shutdown().await;
}

/// Resolving 100 addresses (two chunks of rep, person and TN queries) is one HTTP request.
#[tokio::test]
async fn resolving_100_addresses_is_one_request() {
    let backend = emulator_with(Faults::default()).await;
    let crm = backend.master();
    let mut addresses: Vec<String> = (0..96)
        .map(|n| format!("nobody-{n:02}@example.org"))
        .collect();
    addresses.insert(0, "ana@contoso.com".into());
    addresses.insert(30, "frank@fabrikam.com".into());
    addresses.insert(70, "GRACE@fabrikam.com".into());
    addresses.push("juergen@northwind.de".into());
    assert_eq!(addresses.len(), 100);
    let before = backend.0.counters();
    let found = crm
        .resolve_emails(&Actor::Master, &addresses)
        .await
        .unwrap();
    let after = backend.0.counters();
    assert_eq!(after.requests - before.requests, 1, "one request");
    let queries = |c: &crm_emulator::Counters| c.commands.get("query").copied().unwrap_or(0);
    assert_eq!(
        queries(&after) - queries(&before),
        6,
        "2 chunks x (Rep, Person, TelNo)"
    );
    assert_eq!(found.len(), 100);
    assert_eq!(found["ana@contoso.com"].reps.len(), 1);
    for (address, last_name) in [
        ("frank@fabrikam.com", "Fischer"),
        ("GRACE@fabrikam.com", "Green"),
        ("juergen@northwind.de", "Jäger"),
    ] {
        assert_eq!(
            last_names(&found[address].persons),
            [last_name],
            "{address}"
        );
    }
    let unknown = found.values().filter(|m| *m == &Default::default()).count();
    assert_eq!(unknown, 96);
    backend.0.shutdown().await;
}

/// With the server failing before it runs anything, a request is retried and then given up cleanly.
#[tokio::test]
async fn persistent_server_failure_is_a_retryable_error() {
    let backend = emulator_with(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let m = backend.0.master();
    let mut config = client_config(backend.0.url(), &m.user, &m.password, &m.client);
    config.retry.max_retries = 2;
    let crm = CrmClient::new(config).unwrap();
    let err = crm.health_check().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(backend.0.counters().requests, 3, "one try and two retries");
    backend.0.shutdown().await;
}

/// A CRM slower than the client's timeout gives a retryable error after the bounded retries; the
/// uncertain upsert is checked by its key (the checks time out too) and never written twice.
#[tokio::test]
async fn timeouts_are_bounded_retryable_errors() {
    let backend = emulator_with(Faults {
        latency: Duration::from_secs(30),
        ..Faults::default()
    })
    .await;
    let m = backend.0.master();
    let mut config = client_config(backend.0.url(), &m.user, &m.password, &m.client);
    config.timeout = Duration::from_millis(400);
    config.retry.max_retries = 2;
    let crm = CrmClient::new(config).unwrap();
    let err = crm
        .upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact("slow-1", "never answered"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, CrmErrorKind::Transient, "{err}");
    assert!(err.message.contains("timed out"), "{err}");
    assert_eq!(backend.0.counters().requests, 3, "one try and two retries");
    assert_eq!(backend.count("Contact", "GraphId", "slow-1"), 0);
}

/// Captured log output (a `MakeWriter` over a shared buffer).
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Retries are logged with their context; nothing logged (at any level, by any crate) shows a password.
#[tokio::test]
async fn logs_never_show_credentials() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests run in parallel without a subscriber; make every callsite ask this one again.
    tracing::callsite::rebuild_interest_cache();
    let backend = emulator_with(Faults {
        server_error_rate: 0.5,
        drop_after_rate: 0.3,
        ..Faults::default()
    })
    .await;
    let crm = backend.master();
    for n in 0..10 {
        crm.upsert(
            &Actor::Master,
            "Contact",
            &["GraphId"],
            contact(&format!("log-{n}"), "logged"),
        )
        .await
        .unwrap();
    }
    let bad = backend.login("OCSU", "wrong-password-xyz", "GraphApi");
    bad.health_check().await.unwrap_err();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("retrying"), "the retries are logged:\n{text}");
    for secret in ["sandbox", "wrong-password-xyz", "pwd="] {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked into the logs:\n{text}"
        );
    }
    backend.0.shutdown().await;
}
