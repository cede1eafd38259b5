//! A rep who leaves (issue 11, item 12): when the user of a synced mailbox is deleted from the tenant the
//! mailbox becomes `retired` — reported as such, not a failure, nothing flagged deleted in the CRM — and
//! `retired --clean-up` removes the connector's links and External Key rows of it while the CRM records
//! stay. A mailbox that only loses its licence is not retired.

use graph_connector::sync::{MailboxReport, Status};

use super::{ANA, BEN, Fixture, assert_ok};

/// The CRM side of the fingerprint: Ben's mailbox cannot be read once his user is gone.
fn crm_fingerprint(fx: &Fixture) -> Vec<String> {
    fx.fingerprint()
        .into_iter()
        .filter(|l| l.starts_with("crm "))
        .collect()
}

async fn user_id(fx: &Fixture, address: &str) -> String {
    let listing = fx
        .connected
        .as_ref()
        .unwrap()
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
                .any(|a| a.eq_ignore_ascii_case(address))
        })
        .map(|u| u.id.clone())
        .expect("the user exists")
}

async fn link_count(fx: &Fixture, mailbox: &str) -> usize {
    let state = &fx.connected.as_ref().unwrap().engine.state;
    let mut n = 0;
    for resource in ["event", "task", "contact", "message", "absence"] {
        n += state.list_links(mailbox, resource).await.unwrap().len();
    }
    n
}

/// GraphApi External Key rows (catalog code 2 of `Ext. System (Rep)`) of `rep`'s Graph items; the
/// correlation rows (`ical:…`, `msg:…`) tie the copies of several mailboxes together and stay.
fn xk_rows_of(fx: &Fixture, rep: &str) -> usize {
    fx.records("ExtKey")
        .iter()
        .filter(|r| {
            r.get("ExtSystem").map(String::as_str) == Some("2")
                && r.get("RepID").map(String::as_str) == Some(rep)
                && !r["ExtKey"].starts_with("ical:")
                && !r["ExtKey"].starts_with("msg:")
        })
        .count()
}

fn ben(report: &graph_connector::sync::CycleReport) -> &MailboxReport {
    report
        .mailboxes
        .iter()
        .find(|m| m.mailbox.eq_ignore_ascii_case(BEN))
        .unwrap_or_else(|| panic!("Ben is not in the report:\n{report}"))
}

#[tokio::test]
async fn a_deleted_user_retires_the_mailbox_and_clean_up_keeps_the_records() {
    let mut fx = Fixture::start().await;
    assert!(
        fx.settle(4)
            .await
            .last()
            .is_some_and(|r| r.ok && r.writes() == 0)
    );
    let ben_id = user_id(&fx, BEN).await;
    let ben_links = link_count(&fx, &ben_id).await;
    assert!(ben_links > 0, "Ben's mailbox synced nothing");
    assert!(xk_rows_of(&fx, "BEN") > 0);
    let crm_before = crm_fingerprint(&fx);

    fx.sandbox.graph.delete_user(BEN).unwrap();
    let report = fx.cycle().await;
    assert_ok(&report);
    assert_eq!(report.exit_code(), 0, "{report}");
    let entry = ben(&report);
    assert_eq!(entry.status, Status::Retired, "{report}");
    let reason = entry.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("retired") && reason.contains(&ben_id),
        "{reason}"
    );
    assert!(
        entry
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("--clean-up")
    );
    assert_eq!(report.writes(), 0, "retiring wrote:\n{report}");
    assert_eq!(crm_fingerprint(&fx), crm_before, "the CRM changed");
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["status"] == "retired"),
        "{json:#}"
    );

    // Retired is remembered: the next cycle says so again, and the state store lists it.
    let again = fx.cycle().await;
    assert_eq!(ben(&again).status, Status::Retired, "{again}");
    let engine = fx.engine();
    let retired = engine.retired().await.unwrap();
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(retired[0].mailbox, ben_id);
    assert!(retired[0].retired_at.is_some());

    // Only a retired mailbox can be cleaned up.
    let refused = engine.clean_up_retired(ANA).await.unwrap_err().to_string();
    assert!(refused.contains("no retired mailbox"), "{refused}");

    let ana_id = user_id(&fx, ANA).await;
    let ana_links = link_count(&fx, &ana_id).await;
    let ana_xk = xk_rows_of(&fx, "ANA");
    let done = fx.engine().clean_up_retired(BEN).await.unwrap();
    assert_eq!(done.links as usize, ben_links, "{done:?}");
    assert!(done.ext_keys > 0, "{done:?}");
    assert_eq!(link_count(&fx, &ben_id).await, 0);
    assert_eq!(xk_rows_of(&fx, "BEN"), 0, "Ben's item keys stay");
    // Ana keeps everything; the CRM records stay.
    assert_eq!(link_count(&fx, &ana_id).await, ana_links);
    assert_eq!(xk_rows_of(&fx, "ANA"), ana_xk);
    assert_eq!(
        crm_fingerprint(&fx),
        crm_before,
        "clean-up changed CRM records"
    );

    let after = fx.cycle().await;
    assert_ok(&after);
    assert_eq!(after.writes(), 0, "{after}");
    assert_eq!(ben(&after).status, Status::Retired, "{after}");
    fx.close().await;
}

#[tokio::test]
async fn a_mailbox_without_a_licence_is_not_retired() {
    let mut fx = Fixture::start().await;
    assert_ok(&fx.cycle().await);
    let _parked = fx.sandbox.graph.remove_license(BEN).unwrap();
    let report = fx.cycle().await;
    assert_ne!(ben(&report).status, Status::Retired, "{report}");
    assert!(fx.engine().retired().await.unwrap().is_empty());
    fx.close().await;
}
