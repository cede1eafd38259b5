//! The e-mail scope (issue 11, item 8): no old mail on the first run, only the configured folders,
//! no meeting messages, automatic replies or delivery reports, no BCC participants, excluded
//! correspondence kept out — while linked items keep syncing.

use graph_connector::{
    config::Since, emulator::graph::ItemKind, scope::SystemMessage, sync::Selector,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{ANA, Fixture, assert_ok};

/// A CRM-categorised message from Grace (a CRM person) to Ana, received at `received`.
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

fn with(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(x)) = (&mut base, extra) {
        b.extend(x);
    }
    base
}

/// The fixture with the shipped default: e-mails from the mailbox's first sync on.
async fn default_scope() -> Fixture {
    let mut fx = Fixture::start().await;
    fx.config.schedules.messages.since = None;
    fx.reopen().await;
    fx
}

fn filed(fx: &Fixture, subject: &str) -> usize {
    fx.records_where("Contact", "Subject", subject).len()
}

fn add(fx: &Fixture, folder: Option<&str>, item: Value) -> String {
    fx.sandbox
        .graph
        .add_item(ANA, ItemKind::Message, folder, item)
        .expect("the emulator takes the message")
}

#[tokio::test]
async fn the_first_run_files_no_old_mail_and_the_start_stays_put() {
    let mut fx = default_scope().await;
    let now = fx.sandbox.graph.now();
    add(
        &fx,
        None,
        mail("Old offer", now - SignedDuration::from_hours(72)),
    );
    assert_ok(&fx.cycle().await);
    assert_eq!(
        filed(&fx, "Old offer"),
        0,
        "mail from before the first sync was filed"
    );

    // Mail that arrives afterwards is filed.
    add(&fx, None, mail("New offer", fx.sandbox.graph.now()));
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "New offer"), 1);

    // A replay (resync) keeps the remembered start: still no old mail, still one record.
    fx.engine()
        .forget(ANA, &["message".to_owned()], None)
        .await
        .unwrap();
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "Old offer"), 0);
    assert_eq!(filed(&fx, "New offer"), 1);

    // A later configured start keeps newer-but-earlier mail out, and a linked message still updates.
    let later = fx.sandbox.graph.now() + SignedDuration::from_hours(24);
    fx.config.schedules.messages.since = Some(Since::At(later));
    fx.reopen().await;
    let linked = fx.item_by(ANA, ItemKind::Message, "subject", "New offer");
    fx.sandbox
        .graph
        .update_item(
            ANA,
            linked["id"].as_str().unwrap(),
            json!({"subject": "New offer (revised)"}),
        )
        .unwrap();
    add(&fx, None, mail("Between offers", fx.sandbox.graph.now()));
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(filed(&fx, "New offer (revised)"), 1, "{report}");
    assert_eq!(filed(&fx, "Between offers"), 0, "{report}");
    fx.close().await;
}

#[tokio::test]
async fn a_dry_run_remembers_no_start() {
    let fx = default_scope().await;
    let dry_run_at = fx.sandbox.graph.now();
    let mut options = fx.options();
    options.mode = graph_connector::sync::Mode::DryRun;
    assert_ok(&fx.cycle_with(&Selector::default(), options).await);
    // Mail between the dry run and the first real cycle is older than the start that cycle takes.
    fx.sandbox
        .graph
        .advance_clock(SignedDuration::from_hours(1));
    add(
        &fx,
        None,
        mail(
            "Between the runs",
            dry_run_at + SignedDuration::from_mins(30),
        ),
    );
    assert_ok(&fx.cycle().await);
    assert_eq!(
        filed(&fx, "Between the runs"),
        0,
        "the dry run took the start"
    );
    add(
        &fx,
        None,
        mail("After the first sync", fx.sandbox.graph.now()),
    );
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "After the first sync"), 1);
    fx.close().await;
}

#[tokio::test]
async fn only_the_configured_folders_are_read() {
    let mut fx = Fixture::start().await;
    fx.config.schedules.messages.folders = vec!["inbox".into(), "archive".into()];
    fx.reopen().await;
    let now = fx.sandbox.graph.now();
    add(&fx, Some("archive"), mail("Archived offer", now));
    add(&fx, Some("sentitems"), mail("Sent offer", now));
    add(&fx, Some("junkemail"), mail("Junk offer", now));
    add(&fx, Some("deleteditems"), mail("Deleted offer", now));
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "Archived offer"), 1);
    assert_eq!(filed(&fx, "Sent offer"), 0, "Sent Items is not configured");
    assert_eq!(filed(&fx, "Junk offer"), 0);
    assert_eq!(filed(&fx, "Deleted offer"), 0);
    fx.close().await;
}

#[tokio::test]
async fn meeting_messages_automatic_replies_and_delivery_reports_are_not_filed() {
    let mut fx = Fixture::start().await;
    let now = fx.sandbox.graph.now();
    let class =
        |c: &str| json!({"singleValueExtendedProperties": [{"id": "String 0x001A", "value": c}]});
    add(&fx, None, mail("Plain offer", now));
    add(
        &fx,
        None,
        with(
            mail("Invitation: Q1 review", now),
            json!({"meetingMessageType": "meetingRequest"}),
        ),
    );
    add(
        &fx,
        None,
        with(
            mail("Automatic reply: Offer", now),
            class("IPM.Note.Rules.OofTemplate.Microsoft"),
        ),
    );
    add(
        &fx,
        None,
        with(
            mail("Undeliverable: Offer", now),
            with(
                class("REPORT.IPM.Note.NDR"),
                json!({"from": {"emailAddress": {"name": "Mail Delivery System", "address": "postmaster@fabrikam.com"}},
                       "toRecipients": [{"emailAddress": {"address": ANA}}, {"emailAddress": {"address": "grace@fabrikam.com"}}]}),
            ),
        ),
    );
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(filed(&fx, "Plain offer"), 1, "{report}");
    for subject in [
        "Invitation: Q1 review",
        "Automatic reply: Offer",
        "Undeliverable: Offer",
    ] {
        assert_eq!(filed(&fx, subject), 0, "`{subject}` was filed: {report}");
    }

    // The mapping decides: skipping only meeting messages files the automatic reply (and the report).
    set_sync(&mut fx, |sync| {
        sync.skip_messages = Some(vec![SystemMessage::Meeting])
    });
    fx.engine()
        .forget(ANA, &["message".to_owned()], None)
        .await
        .unwrap();
    assert_ok(&fx.cycle().await);
    assert_eq!(filed(&fx, "Automatic reply: Offer"), 1);
    assert_eq!(filed(&fx, "Undeliverable: Offer"), 1);
    assert_eq!(filed(&fx, "Invitation: Q1 review"), 0);
    assert_eq!(filed(&fx, "Plain offer"), 1);
    fx.close().await;
}

#[tokio::test]
async fn bcc_recipients_of_sent_mail_do_not_become_participants() {
    let fx = Fixture::start().await;
    let now = fx.sandbox.graph.now();
    add(
        &fx,
        Some("sentitems"),
        json!({
            "subject": "Quote for Northwind",
            "internetMessageId": "<quote-northwind@contoso.com>",
            "from": {"emailAddress": {"name": "Ana Alvarez", "address": ANA}},
            "toRecipients": [{"emailAddress": {"name": "Hanna Huber", "address": "hanna@northwind.de"}}],
            "bccRecipients": [
                {"emailAddress": {"name": "Ben Becker", "address": "ben@contoso.com"}},
                {"emailAddress": {"name": "Grace Green", "address": "grace@fabrikam.com"}},
                {"emailAddress": {"address": "archive@example.org"}},
            ],
            "sentDateTime": now.to_string(),
            "receivedDateTime": now.to_string(),
            "body": {"contentType": "text", "content": "Please find the quote attached."},
        }),
    );
    assert_ok(&fx.cycle().await);
    let records = fx.records_where("Contact", "Subject", "Quote for Northwind");
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    let all = format!("{r:?}");
    assert!(
        !all.contains("BEN"),
        "a BCC rep became a participant: {r:?}"
    );
    assert!(!all.contains("Grace") && !all.contains("grace@"), "{r:?}");
    assert!(!all.contains("archive@example.org"), "{r:?}");
    assert_eq!(r.get("RepID").map(String::as_str), Some("ANA"));
    assert!(
        all.contains("Hanna Huber"),
        "the To recipient is a participant: {r:?}"
    );
    fx.close().await;
}

#[tokio::test]
async fn excluded_addresses_and_domains_keep_correspondence_out() {
    let mut fx = Fixture::start().await;
    for resource in ["message", "event"] {
        set_sync_of(&mut fx, resource, |sync| {
            sync.exclude = vec!["hr@contoso.com".into(), "family.example".into()];
        });
    }
    let now = fx.sandbox.graph.now();
    add(
        &fx,
        None,
        with(
            mail("Salary review", now),
            json!({"ccRecipients": [{"emailAddress": {"address": "HR@contoso.com"}}]}),
        ),
    );
    add(
        &fx,
        None,
        with(
            mail("Family dinner", now),
            json!({"from": {"emailAddress": {"address": "mum@home.family.example"}}}),
        ),
    );
    add(&fx, None, mail("Order 4711", now));
    let date = fx.world.day(4);
    let event = |subject: &str, hour: u32, attendee: &str| {
        json!({
            "subject": subject,
            "start": {"dateTime": format!("{date}T{hour:02}:00:00"), "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": format!("{date}T{:02}:00:00", hour + 1), "timeZone": "W. Europe Standard Time"},
            "attendees": [{"type": "required", "emailAddress": {"address": attendee}}],
        })
    };
    for (subject, hour, attendee) in [
        ("Parents' evening", 17, "teacher@school.family.example"),
        ("Fabrikam visit", 10, "grace@fabrikam.com"),
    ] {
        fx.sandbox
            .graph
            .add_item(ANA, ItemKind::Event, None, event(subject, hour, attendee))
            .unwrap();
    }
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(filed(&fx, "Order 4711"), 1, "{report}");
    assert_eq!(filed(&fx, "Fabrikam visit"), 1, "{report}");
    for subject in ["Salary review", "Family dinner", "Parents' evening"] {
        assert_eq!(filed(&fx, subject), 0, "`{subject}` was synced: {report}");
    }
    fx.close().await;
}

#[tokio::test]
async fn copies_in_two_mailboxes_still_merge_within_the_scope() {
    let fx = default_scope().await;
    assert_ok(&fx.cycle().await);
    let now = fx.sandbox.graph.now();
    for mailbox in [ANA, super::BEN] {
        let mut m = mail("Framework agreement v2", now);
        m["toRecipients"] = json!([
            {"emailAddress": {"address": ANA}},
            {"emailAddress": {"address": super::BEN}},
        ]);
        fx.sandbox
            .graph
            .add_item(mailbox, ItemKind::Message, None, m)
            .unwrap();
    }
    assert_ok(&fx.cycle().await);
    let records = fx.records_where("Contact", "Subject", "Framework agreement v2");
    assert_eq!(records.len(), 1, "{records:#?}");
    fx.close().await;
}

fn set_sync(fx: &mut Fixture, change: impl Fn(&mut graph_connector::model::SyncSpec)) {
    set_sync_of(fx, "message", change);
}

/// Changes the mapping's `sync:` section of `resource` in the running engine (as an edited mapping
/// file would after a restart).
fn set_sync_of(
    fx: &mut Fixture,
    resource: &str,
    change: impl Fn(&mut graph_connector::model::SyncSpec),
) {
    let engine = fx.engine();
    let mut settings = (*engine.settings).clone();
    for spec in &mut settings.resources {
        if spec.name == resource {
            change(&mut spec.mapping.sync);
        }
    }
    engine.settings = std::sync::Arc::new(settings);
}
