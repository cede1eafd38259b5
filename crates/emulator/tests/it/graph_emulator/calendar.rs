//! Calendar view and recurrence: frozen delta windows, sparse occurrences, attendee copies, per-occurrence change keys, exceptions and gaps.

use graph_connector_emulator::graph::{GraphEmulator, ItemKind};
use serde_json::{Value, json};

use super::{ANA, Call, assert_graph_error, call, delta_round, get, start, token};

/// Immutable ids (the emulator helpers' ids), fifty items a page.
const IMMUTABLE_50: &str = "IdType=\"ImmutableId\", odata.maxpagesize=50";

#[tokio::test]
async fn calendar_view_delta_freezes_the_window_and_sends_sparse_occurrences() {
    let emu = start().await;
    let tok = token(&emu).await;
    let too_wide = get(&emu, &tok, "/users/ana@contoso.com/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2031-01-02T00:00:00Z").await;
    assert_graph_error(&too_wide, 400, "ErrorInvalidRequest");
    assert!(
        too_wide.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Maximum number of days: 1825")
    );

    let start = "/users/ana@contoso.com/calendarView/delta?startDateTime=2026-11-01T00:00:00Z&endDateTime=2026-12-01T00:00:00Z";
    let (items, link, _) = delta_round(&emu, &tok, start, IMMUTABLE_50).await;
    let occurrences: Vec<&Value> = items.iter().filter(|i| i["type"] == "occurrence").collect();
    // Weekly on Mondays 2, 9, 16 (exception), 23 (cancelled), 30.
    assert_eq!(occurrences.len(), 3, "{items:#?}");
    for o in &occurrences {
        let mut keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "@odata.etag",
                "@odata.type",
                "end",
                "id",
                "seriesMasterId",
                "start",
                "type"
            ]
        );
    }
    let exception = items
        .iter()
        .find(|i| i["type"] == "exception")
        .expect("the moved occurrence");
    assert_eq!(exception["subject"], "Weekly Fabrikam sync (moved)");
    assert_eq!(
        exception["start"]["dateTime"],
        "2026-11-16T10:00:00.0000000"
    );
    assert!(items.iter().any(|i| i["type"] == "seriesMaster"));
    assert!(
        !items.iter().any(|i| i["subject"] == "Visit Northwind GmbH"),
        "outside the window"
    );

    // An event moved out of the window comes back as @removed; the window stays frozen in the token.
    let series = items.iter().find(|i| i["type"] == "seriesMaster").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let single = emu.add_item(ANA, ItemKind::Event, None, json!({"subject": "Short call", "start": {"dateTime": "2026-11-20T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-11-20T09:30:00", "timeZone": "UTC"}})).unwrap();
    let (round2, link2, _) = delta_round(&emu, &tok, &link, IMMUTABLE_50).await;
    assert!(
        round2
            .iter()
            .any(|i| i["id"] == single.as_str() && i["subject"] == "Short call")
    );
    emu.update_item(ANA, &single, json!({"start": {"dateTime": "2027-02-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2027-02-01T09:30:00", "timeZone": "UTC"}})).unwrap();
    let (round3, _, _) = delta_round(&emu, &tok, &link2, IMMUTABLE_50).await;
    assert!(
        round3
            .iter()
            .any(|i| i["id"] == single.as_str() && i["@removed"]["reason"] == "deleted")
    );
    assert!(
        !round3.iter().any(|i| i["id"] == series.as_str()),
        "unchanged series not resent"
    );

    // /instances lists occurrences and exceptions, not cancelled ones.
    let inst = get(&emu, &tok, &format!("/users/ana@contoso.com/events/{series}/instances?startDateTime=2026-11-01T00:00:00Z&endDateTime=2026-12-01T00:00:00Z")).await;
    assert_eq!(inst.body["value"].as_array().unwrap().len(), 4);
}

/// Each calendarView window is its own sync state: finishing a round of one window does not make
/// the nextLinks of another window's round stale.
#[tokio::test]
async fn calendar_view_windows_keep_separate_sync_states() {
    let emu = start().await;
    let tok = token(&emu).await;
    let cv = "/users/ana@contoso.com/calendarView/delta";
    let a = format!("{cv}?startDateTime=2026-11-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z");
    let b = format!("{cv}?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-03-31T00:00:00Z");
    let first = get(&emu, &tok, &a).await;
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_owned();
    delta_round(&emu, &tok, &b, "odata.maxpagesize=10").await;
    let page = get(&emu, &tok, &next).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // A second round of window A itself does make it stale.
    delta_round(&emu, &tok, &a, "odata.maxpagesize=10").await;
    let gone = get(&emu, &tok, &next).await;
    assert_graph_error(&gone, 410, "SyncStateNotFound");
}

#[tokio::test]
async fn attendee_copies_share_the_ical_uid_and_follow_the_organizer() {
    let emu = start().await;
    let tok = token(&emu).await;
    let ana = emu.items(ANA, ItemKind::Event);
    let series = ana
        .iter()
        .find(|e| e["subject"] == "Weekly Fabrikam sync")
        .unwrap();
    let ical = series["iCalUId"].clone();
    let copy_in = |mailbox: &str| {
        emu.items(mailbox, ItemKind::Event)
            .into_iter()
            .find(|e| e["iCalUId"] == ical)
    };
    let copy = copy_in("ben@contoso.com").expect("Ben got an invitation");
    assert_ne!(copy["id"], series["id"]);
    assert_eq!(copy["isOrganizer"], false);
    assert_eq!(copy["cancelledOccurrences"], json!(["2026-11-23"]));
    assert!(copy_in("dieter@contoso.com").is_none());
    let id = series["id"].as_str().unwrap();
    let patched = call(
        &emu,
        &tok,
        "PATCH",
        &format!("/users/ana@contoso.com/events/{id}"),
        &[],
        Some(json!({"subject": "Fabrikam sync", "attendees": [
            {"type": "required", "emailAddress": {"name": "Frank Fischer", "address": "frank@fabrikam.com"}},
            {"type": "required", "emailAddress": {"name": "Dieter Dörr", "address": "dieter@contoso.com"}}
        ]})),
    )
    .await;
    assert_eq!(patched.status, 200);
    let ben = emu
        .item("ben@contoso.com", copy["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(ben["isCancelled"], true, "Ben was removed from the meeting");
    assert_eq!(ben["subject"], "Canceled: Weekly Fabrikam sync");
    let dieter = copy_in("dieter@contoso.com").expect("Dieter was invited");
    assert_eq!(dieter["subject"], "Fabrikam sync");
    // Cancelling one occurrence reaches the copies.
    let occ = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/events/{id}/instances?startDateTime=2026-11-30T00:00:00Z&endDateTime=2026-12-01T00:00:00Z"),
    )
    .await;
    let occ = occ.body["value"][0]["id"].as_str().unwrap().to_owned();
    let del = call(
        &emu,
        &tok,
        "DELETE",
        &format!("/users/ana@contoso.com/events/{occ}"),
        &[],
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    let dieter = emu
        .item("dieter@contoso.com", dieter["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        dieter["cancelledOccurrences"],
        json!(["2026-11-23", "2026-11-30"])
    );
}

/// An attendee's response reaches the organizer's copy (unless sendResponse is false).
#[tokio::test]
async fn an_attendee_response_shows_in_the_organizers_copy() {
    let emu = start().await;
    let tok = token(&emu).await;
    let ben = "ben@contoso.com";
    let status_of_ben = |emu: &GraphEmulator| {
        let series = emu
            .items(ANA, ItemKind::Event)
            .into_iter()
            .find(|e| e["subject"] == "Weekly Fabrikam sync")
            .unwrap();
        let ben_row = series["attendees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["emailAddress"]["address"] == ben)
            .cloned()
            .unwrap();
        (
            ben_row["status"]["response"].clone(),
            series["changeKey"].clone(),
        )
    };
    let copy = emu
        .items(ben, ItemKind::Event)
        .into_iter()
        .find(|e| e["subject"] == "Weekly Fabrikam sync")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (before, key_before) = status_of_ben(&emu);
    assert_eq!(before, "none");
    let respond = |action: &'static str, send: bool| {
        let path = format!("/users/{ben}/events/{copy}/{action}");
        let emu = &emu;
        let tok = &tok;
        async move {
            let body = json!({"comment": "", "sendResponse": send});
            call(emu, tok, "POST", &path, &[], Some(body)).await.status
        }
    };
    assert_eq!(respond("tentativelyAccept", false).await, 202);
    assert_eq!(status_of_ben(&emu), (json!("none"), key_before.clone()));
    assert_eq!(respond("accept", true).await, 202);
    let (after, key_after) = status_of_ben(&emu);
    assert_eq!(after, "accepted");
    assert_ne!(key_after, key_before, "the organizer's copy changed");
}

#[tokio::test]
async fn each_occurrence_has_its_own_stable_change_key() {
    let emu = start().await;
    let tok = token(&emu).await;
    let series = emu
        .items(ANA, ItemKind::Event)
        .into_iter()
        .find(|e| e["subject"] == "Weekly Fabrikam sync")
        .unwrap();
    let series = series["id"].as_str().unwrap().to_owned();
    let master_path = format!("/users/ana@contoso.com/events/{series}");
    let instances = format!(
        "{master_path}/instances?startDateTime=2026-11-29T00:00:00Z&endDateTime=2026-12-15T00:00:00Z"
    );
    // (id, etag, changeKey) of each instance.
    let read = |path: String| {
        let emu = &emu;
        let tok = &tok;
        async move {
            get(emu, tok, &path).await.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    (
                        i["id"].as_str().unwrap().to_owned(),
                        i["@odata.etag"].as_str().unwrap().to_owned(),
                        i["changeKey"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let master_etag = |c: &Call| c.body["@odata.etag"].as_str().unwrap().to_owned();
    let before = read(instances.clone()).await;
    assert_eq!(before.len(), 3);
    let master = master_etag(&get(&emu, &tok, &master_path).await);
    let etags: std::collections::BTreeSet<&str> =
        before.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(etags.len(), 3, "one etag per occurrence: {before:?}");
    assert!(!etags.contains(master.as_str()), "not the master's etag");
    for (_, etag, key) in &before {
        assert_eq!(*etag, format!("W/\"{key}\""));
    }
    assert_eq!(read(instances.clone()).await, before, "stable across reads");
    let one = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/events/{}", before[0].0),
    )
    .await;
    assert_eq!(one.body["@odata.etag"], before[0].1.as_str());

    // If-Match takes the occurrence's own etag; the master's is stale for it.
    let occ_path = format!("/users/ana@contoso.com/events/{}", before[0].0);
    let with_master = call(
        &emu,
        &tok,
        "PATCH",
        &occ_path,
        &[("If-Match", &master)],
        Some(json!({"subject": "Special sync"})),
    )
    .await;
    assert_eq!(with_master.status, 412);
    let patched = call(
        &emu,
        &tok,
        "PATCH",
        &occ_path,
        &[("If-Match", &before[0].1)],
        Some(json!({"subject": "Special sync"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let after = read(instances.clone()).await;
    assert_ne!(after[0].1, before[0].1, "the exception's etag changed");
    assert_eq!(patched.body["@odata.etag"], after[0].1.as_str());

    // A change of the master reaches every occurrence's change key.
    let updated = call(
        &emu,
        &tok,
        "PATCH",
        &master_path,
        &[],
        Some(json!({"subject": "Weekly Fabrikam sync (new)"})),
    )
    .await;
    assert_eq!(updated.status, 200);
    let last = read(instances).await;
    for (a, b) in after.iter().zip(&last) {
        assert_ne!(a.1, b.1, "{} kept its etag after a master change", a.0);
    }
}

#[tokio::test]
async fn patching_or_deleting_an_occurrence_makes_an_exception_or_a_gap() {
    let emu = start().await;
    let tok = token(&emu).await;
    let series = emu
        .items(ANA, ItemKind::Event)
        .into_iter()
        .find(|e| e["subject"] == "Weekly Fabrikam sync")
        .unwrap();
    let series = series["id"].as_str().unwrap().to_owned();
    let window = "startDateTime=2026-11-29T00:00:00Z&endDateTime=2026-12-15T00:00:00Z";
    let inst = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/events/{series}/instances?{window}"),
    )
    .await;
    let occ: Vec<String> = inst.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(occ.len(), 3, "Nov 30, Dec 7, Dec 14");
    let one = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/events/{}", occ[0]),
    )
    .await;
    assert_eq!(
        (
            one.body["type"].as_str(),
            one.body["seriesMasterId"].as_str()
        ),
        (Some("occurrence"), emu.regular_id(ANA, &series).as_deref()),
        "read without immutable ids: the master's regular id"
    );
    let patched = call(
        &emu,
        &tok,
        "PATCH",
        &format!("/users/ana@contoso.com/events/{}", occ[0]),
        &[],
        Some(json!({"subject": "Special sync"})),
    )
    .await;
    assert_eq!(
        (patched.status.as_u16(), patched.body["type"].as_str()),
        (200, Some("exception"))
    );
    assert_eq!(
        call(
            &emu,
            &tok,
            "DELETE",
            &format!("/users/ana@contoso.com/events/{}", occ[1]),
            &[],
            None
        )
        .await
        .status,
        204
    );
    let after = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/calendarView?{window}"),
    )
    .await;
    let subjects: Vec<&str> = after.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            "Special sync",
            "Visit Northwind GmbH",
            "Trade fair",
            "Weekly Fabrikam sync"
        ]
    );
    assert_eq!(
        get(
            &emu,
            &tok,
            &format!("/users/ana@contoso.com/events/{}", occ[1])
        )
        .await
        .status,
        404
    );
}

/// Issue 9: an exception's `originalStart` is where the series put it before it was moved, in UTC,
/// for a seeded exception and for one made by a PATCH.
#[tokio::test]
async fn regression_issue_9_an_exceptions_original_start_is_its_start_before_the_move() {
    let emu = start().await;
    let tok = token(&emu).await;
    let view = |from: &'static str, to: &'static str| {
        let (emu, tok) = (&emu, &tok);
        async move {
            let c = call(
                emu,
                tok,
                "GET",
                &format!(
                    "/users/ana@contoso.com/calendarView?startDateTime={from}&endDateTime={to}"
                ),
                &[super::IMMUTABLE],
                None,
            )
            .await;
            c.body["value"].as_array().unwrap().clone()
        }
    };
    // The weekly series starts at 10:00 W. Europe (09:00 UTC); the seed moved Nov 16 to 11:00.
    let week = view("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z").await;
    let moved = week.iter().find(|e| e["type"] == "exception").unwrap();
    assert_eq!(moved["start"]["dateTime"], "2026-11-16T10:00:00.0000000");
    assert_eq!(moved["originalStart"], "2026-11-16T09:00:00Z");

    let next = view("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z").await;
    let occurrence = next.iter().find(|e| e["type"] == "occurrence").unwrap();
    assert_eq!(occurrence["originalStart"], "2026-11-30T09:00:00Z");
    let id = occurrence["id"].as_str().unwrap();
    let patched = call(
        &emu,
        &tok,
        "PATCH",
        &format!("/users/ana@contoso.com/events/{id}"),
        &[super::IMMUTABLE],
        Some(
            json!({"start": {"dateTime": "2026-11-30T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-30T15:30:00", "timeZone": "UTC"}}),
        ),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        (
            patched.body["type"].as_str(),
            patched.body["originalStart"].as_str()
        ),
        (Some("exception"), Some("2026-11-30T09:00:00Z"))
    );
    let again = view("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z").await;
    let moved = again.iter().find(|e| e["id"] == id).unwrap();
    assert_eq!(moved["start"]["dateTime"], "2026-11-30T15:00:00.0000000");
    assert_eq!(moved["originalStart"], "2026-11-30T09:00:00Z");
}

/// Issue 9: the 1,825-day cap on a calendar view window applies to plain `/calendarView` too.
#[tokio::test]
async fn regression_issue_9_plain_calendar_view_windows_are_capped_at_1825_days() {
    let emu = start().await;
    let tok = token(&emu).await;
    let view = |end: &str| {
        format!(
            "/users/ana@contoso.com/calendarView?startDateTime=2026-01-01T00:00:00Z&endDateTime={end}"
        )
    };
    // 2026-01-01 + 1,825 days = 2030-12-31
    let ok = get(&emu, &tok, &view("2030-12-31T00:00:00Z")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let too_long = get(&emu, &tok, &view("2030-12-31T00:00:01Z")).await;
    assert_graph_error(&too_long, 400, "ErrorInvalidRequest");
    assert!(
        too_long.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Maximum number of days: 1825")
    );
    let delta = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2030-12-31T00:00:01Z",
    )
    .await;
    assert_graph_error(&delta, 400, "ErrorInvalidRequest");
}
