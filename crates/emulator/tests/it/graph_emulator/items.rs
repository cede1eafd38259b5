//! Item reads and writes: OData contexts, change keys and `If-Match`, `transactionId`, `Prefer` conversions, moves and sent mail.

use graph_connector_emulator::graph::ItemKind;
use serde_json::{Value, json};

use super::{
    ANA, IMMUTABLE, IMMUTABLE_PAGES, assert_graph_error, call, delta_round, get, ids, start, token,
};

#[tokio::test]
async fn folder_scoped_lists_name_their_folder_in_the_odata_context() {
    let emu = start().await;
    let tok = token(&emu).await;
    let ana_id = get(&emu, &tok, "/users/ana@contoso.com").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let partners = emu.container_id(ANA, "Partners").unwrap();
    let tasks = emu.container_id(ANA, "Tasks").unwrap();
    let meta = format!("{}/$metadata#", emu.graph_url());
    let cases = [
        (
            "/users/ana@contoso.com/mailFolders/inbox/messages".to_owned(),
            format!("users('{ana_id}')/mailFolders('inbox')/messages"),
        ),
        (
            "/users/ana@contoso.com/mailFolders('inbox')/messages?$select=subject,from".to_owned(),
            format!("users('{ana_id}')/mailFolders('inbox')/messages(subject,from)"),
        ),
        (
            "/users/ana@contoso.com/messages".to_owned(),
            format!("users('{ana_id}')/messages"),
        ),
        (
            format!("/users/ana@contoso.com/contactFolders/{partners}/contacts"),
            format!("users('{ana_id}')/contactFolders('{partners}')/contacts"),
        ),
        (
            format!("/users/ana@contoso.com/todo/lists/{tasks}/tasks"),
            format!("users('{ana_id}')/todo/lists('{tasks}')/tasks"),
        ),
        // Delta is a function returning a collection: the corpus (message-delta-*.json) names
        // no folder there.
        (
            "/users/ana@contoso.com/mailFolders/inbox/messages/delta".to_owned(),
            "Collection(message)".to_owned(),
        ),
    ];
    for (path, context) in cases {
        let c = get(&emu, &tok, &path).await;
        assert_eq!(c.status, 200, "{path}: {}", c.body);
        assert_eq!(
            c.body["@odata.context"].as_str().unwrap(),
            format!("{meta}{context}"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn writes_bump_the_change_key_and_a_stale_if_match_gives_412() {
    let emu = start().await;
    let tok = token(&emu).await;
    let created = call(&emu, &tok, "POST", "/users/ana@contoso.com/events", &[], Some(json!({"subject": "Demo", "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "W. Europe Standard Time"}, "end": {"dateTime": "2026-12-01T11:00:00", "timeZone": "W. Europe Standard Time"}}))).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let etag = created.body["@odata.etag"].as_str().unwrap().to_owned();
    assert_eq!(
        etag,
        format!("W/\"{}\"", created.body["changeKey"].as_str().unwrap())
    );
    let path = format!("/users/ana@contoso.com/events/{id}");
    let ok = call(
        &emu,
        &tok,
        "PATCH",
        &path,
        &[("If-Match", &etag)],
        Some(json!({"subject": "Demo 2"})),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_ne!(ok.body["changeKey"], created.body["changeKey"]);
    let stale = call(
        &emu,
        &tok,
        "PATCH",
        &path,
        &[("If-Match", &etag)],
        Some(json!({"subject": "Demo 3"})),
    )
    .await;
    assert_graph_error(&stale, 412, "ErrorIrresolvableConflict");
    let del = call(&emu, &tok, "DELETE", &path, &[("If-Match", &etag)], None).await;
    assert_eq!(del.status, 412);
    let fresh = ok.body["@odata.etag"].as_str().unwrap();
    assert_eq!(
        call(&emu, &tok, "DELETE", &path, &[("If-Match", fresh)], None)
            .await
            .status,
        204
    );
    assert_eq!(get(&emu, &tok, &path).await.status, 404);

    // Sent/received messages keep their body and recipients; flags may change.
    let inbox = emu.container_id(ANA, "inbox").unwrap();
    let msg = emu
        .items(ANA, ItemKind::Message)
        .into_iter()
        .find(|m| m["parentFolderId"] == inbox.as_str())
        .unwrap();
    let mpath = format!(
        "/users/ana@contoso.com/messages/{}",
        msg["id"].as_str().unwrap()
    );
    let refused = call(
        &emu,
        &tok,
        "PATCH",
        &mpath,
        &[],
        Some(json!({"subject": "edited"})),
    )
    .await;
    assert_eq!(refused.status, 400);
    let flagged = call(
        &emu,
        &tok,
        "PATCH",
        &mpath,
        &[],
        Some(json!({"flag": {"flagStatus": "flagged"}, "categories": ["CRM"]})),
    )
    .await;
    assert_eq!(flagged.status, 200);
    assert_eq!(flagged.body["flag"]["flagStatus"], "flagged");
}

#[tokio::test]
async fn a_retried_event_create_with_the_same_transaction_id_does_not_duplicate() {
    let emu = start().await;
    let tok = token(&emu).await;
    let before = emu.items(ANA, ItemKind::Event).len();
    let body = json!({"subject": "Once", "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7", "start": {"dateTime": "2026-12-05T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-12-05T11:00:00", "timeZone": "UTC"}});
    let a = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/events",
        &[],
        Some(body.clone()),
    )
    .await;
    let b = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/events",
        &[],
        Some(body),
    )
    .await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 201));
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(emu.items(ANA, ItemKind::Event).len(), before + 1);
}

#[tokio::test]
async fn prefer_headers_convert_time_zones_and_bodies() {
    let emu = start().await;
    let tok = token(&emu).await;
    let events = emu.items(ANA, ItemKind::Event);
    let visit = events
        .iter()
        .find(|e| e["subject"] == "Visit Northwind GmbH")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fair = events
        .iter()
        .find(|e| e["subject"] == "Trade fair")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let utc = get(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/events/{visit}"),
    )
    .await;
    assert_eq!(
        utc.body["start"],
        json!({"dateTime": "2026-12-03T13:00:00.0000000", "timeZone": "UTC"})
    );
    let pst = call(
        &emu,
        &tok,
        "GET",
        &format!("/users/ana@contoso.com/events/{visit}"),
        &[(
            "Prefer",
            "outlook.timezone=\"Pacific Standard Time\", outlook.body-content-type=\"html\"",
        )],
        None,
    )
    .await;
    assert_eq!(
        pst.body["start"],
        json!({"dateTime": "2026-12-03T05:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert!(
        pst.body["body"]["content"]
            .as_str()
            .unwrap()
            .starts_with("<html>")
    );
    let applied: Vec<&str> = pst
        .headers
        .get_all("preference-applied")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        applied.contains(&"outlook.timezone=\"Pacific Standard Time\""),
        "{applied:?}"
    );
    // All-day events are floating dates.
    let allday = call(
        &emu,
        &tok,
        "GET",
        &format!("/users/ana@contoso.com/events/{fair}"),
        &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")],
        None,
    )
    .await;
    assert_eq!(
        allday.body["start"]["dateTime"],
        "2026-12-08T00:00:00.0000000"
    );
    // … and so are the occurrences of an all-day series, sparse ones included.
    emu.add_item(ANA, ItemKind::Event, None, json!({"subject": "Holiday", "isAllDay": true,
        "start": {"dateTime": "2026-12-24T00:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-12-25T00:00:00", "timeZone": "W. Europe Standard Time"},
        "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2026-12-24", "numberOfOccurrences": 2}}})).unwrap();
    let pst_pref = [("Prefer", "outlook.timezone=\"Pacific Standard Time\"")];
    let view = call(&emu, &tok, "GET", "/users/ana@contoso.com/calendarView?startDateTime=2026-12-24T00:00:00Z&endDateTime=2026-12-27T00:00:00Z", &pst_pref, None).await;
    let starts: Vec<&str> = view.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == "Holiday")
        .map(|e| e["start"]["dateTime"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["2026-12-24T00:00:00.0000000", "2026-12-25T00:00:00.0000000"]
    );
    let first = call(&emu, &tok, "GET", "/users/ana@contoso.com/calendarView/delta?startDateTime=2026-12-24T00:00:00Z&endDateTime=2026-12-27T00:00:00Z", &pst_pref, None).await;
    let page = call(
        &emu,
        &tok,
        "GET",
        first.body["@odata.nextLink"].as_str().unwrap(),
        &pst_pref,
        None,
    )
    .await;
    let sparse: Vec<&Value> = page.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "occurrence")
        .collect();
    assert_eq!(sparse.len(), 2);
    // Each applied preference is echoed once, delta pages included.
    let applied: Vec<&str> = page
        .headers
        .get_all("preference-applied")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        applied,
        ["outlook.timezone=\"Pacific Standard Time\""],
        "{applied:?}"
    );
    assert_eq!(
        sparse[0]["start"],
        json!({"dateTime": "2026-12-24T00:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    let inbox = emu.container_id(ANA, "inbox").unwrap();
    let msgs = call(
        &emu,
        &tok,
        "GET",
        &format!("/users/ana@contoso.com/mailFolders/{inbox}/messages?$select=subject,body"),
        &[("Prefer", "outlook.body-content-type=\"text\"")],
        None,
    )
    .await;
    let html_one = msgs.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"] == "Fabrikam order 4711")
        .unwrap();
    assert_eq!(html_one["body"]["contentType"], "text");
    assert!(!html_one["body"]["content"].as_str().unwrap().contains('<'));
}

#[tokio::test]
async fn a_moved_message_gets_a_new_id_unless_ids_are_immutable() {
    let emu = start().await;
    let tok = token(&emu).await;
    let inbox_delta = "/users/ana@contoso.com/mailFolders/inbox/messages/delta";
    let (_, link, _) = delta_round(&emu, &tok, inbox_delta, "odata.maxpagesize=10").await;
    let (_, immutable_link, _) = delta_round(&emu, &tok, inbox_delta, IMMUTABLE_PAGES).await;
    let inbox = emu.container_id(ANA, "inbox").unwrap();
    let mut msgs: Vec<String> = emu
        .items(ANA, ItemKind::Message)
        .into_iter()
        .filter(|m| m["parentFolderId"] == inbox.as_str())
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let (a, b) = (msgs.pop().unwrap(), msgs.pop().unwrap());
    let (a_in_inbox, b_in_inbox) = (
        emu.regular_id(ANA, &a).unwrap(),
        emu.regular_id(ANA, &b).unwrap(),
    );
    assert_ne!(a_in_inbox, a, "the regular id is not the immutable id");
    let plain = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/messages/{a_in_inbox}/move"),
        &[],
        Some(json!({"destinationId": "archive"})),
    )
    .await;
    assert_eq!(plain.status, 201);
    let a_in_archive = emu.regular_id(ANA, &a).unwrap();
    assert_eq!(plain.body["id"], a_in_archive.as_str());
    assert_ne!(a_in_archive, a_in_inbox);
    assert_eq!(
        get(
            &emu,
            &tok,
            &format!("/users/ana@contoso.com/messages/{a_in_inbox}")
        )
        .await
        .status,
        404,
        "a regular id goes stale when its item moves"
    );
    for id in [&a, &a_in_archive] {
        let one = get(&emu, &tok, &format!("/users/ana@contoso.com/messages/{id}")).await;
        assert_eq!(
            one.body["id"],
            a_in_archive.as_str(),
            "both forms address it"
        );
    }
    let immutable = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/messages/{b}/move"),
        &[IMMUTABLE],
        Some(json!({"destinationId": "archive"})),
    )
    .await;
    assert_eq!(immutable.status, 201);
    assert_eq!(immutable.body["id"], b.as_str());
    assert_eq!(
        immutable.body["parentFolderId"],
        emu.container_id(ANA, "archive").unwrap().as_str()
    );
    // The inbox's delta reports both gone, by the id form each round was started with.
    let (round2, _, _) = delta_round(&emu, &tok, &link, "odata.maxpagesize=10").await;
    let (immutable_round2, _, _) = delta_round(&emu, &tok, &immutable_link, IMMUTABLE_PAGES).await;
    for (round, gone) in [
        (&round2, [&a_in_inbox, &b_in_inbox]),
        (&immutable_round2, [&a, &b]),
    ] {
        for id in gone {
            assert!(
                round
                    .iter()
                    .any(|i| i["id"] == id.as_str() && i["@removed"].is_object()),
                "{id} removed from the inbox: {round:#?}"
            );
        }
    }
    let archive = emu.container_id(ANA, "archive").unwrap();
    let archive_delta = format!("/users/ana@contoso.com/mailFolders/{archive}/messages/delta");
    let (arch, _, _) = delta_round(&emu, &tok, &archive_delta, "odata.maxpagesize=10").await;
    let b_in_archive = emu.regular_id(ANA, &b).unwrap();
    assert_eq!(
        ids(&arch),
        [a_in_archive.clone(), b_in_archive.clone()]
            .into_iter()
            .collect()
    );
    let (arch, _, _) = delta_round(&emu, &tok, &archive_delta, IMMUTABLE_PAGES).await;
    assert_eq!(ids(&arch), [a.clone(), b.clone()].into_iter().collect());

    // translateExchangeIds: an EWS id (standard base64) and a regular REST id to the immutable id,
    // the immutable id to the regular id; a stale regular id names no item.
    let ews = b_in_archive.replace('-', "+").replace('_', "/");
    let translate = |inputs: Vec<&str>, from: &str, to: &str| {
        call(
            &emu,
            &tok,
            "POST",
            "/users/ana@contoso.com/translateExchangeIds",
            &[],
            Some(json!({"inputIds": inputs, "sourceIdType": from, "targetIdType": to})),
        )
    };
    let t = translate(vec![ews.as_str()], "ewsId", "restImmutableEntryId").await;
    assert_eq!(t.body["value"][0]["targetId"], b.as_str());
    let t = translate(
        vec![a_in_archive.as_str()],
        "restId",
        "restImmutableEntryId",
    )
    .await;
    assert_eq!(t.body["value"][0]["targetId"], a.as_str());
    let t = translate(
        vec![a.as_str(), a_in_inbox.as_str()],
        "restImmutableEntryId",
        "restId",
    )
    .await;
    assert_eq!(t.body["value"][0]["targetId"], a_in_archive.as_str());
    assert_eq!(
        t.body["value"][1]["errorDetails"]["code"], "ErrorItemNotFound",
        "{}",
        t.body
    );
}

#[tokio::test]
async fn sent_mail_reaches_internal_inboxes_with_the_same_internet_message_id() {
    let emu = start().await;
    let tok = token(&emu).await;
    let mail = json!({"message": {"subject": "Offer 4711", "body": {"contentType": "text", "content": "Attached."},
        "toRecipients": [{"emailAddress": {"address": "ben@contoso.com"}}, {"emailAddress": {"address": "frank@fabrikam.com"}}]}});
    let denied = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/sendMail",
        &[],
        Some(mail.clone()),
    )
    .await;
    assert_graph_error(&denied, 403, "ErrorAccessDenied");
    let cid = emu.client_id().to_owned();
    emu.set_app_roles(&cid, &["Mail.ReadWrite", "Mail.Send"])
        .unwrap();
    let tok = token(&emu).await;
    let sent = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/sendMail",
        &[],
        Some(mail),
    )
    .await;
    assert_eq!(sent.status, 202);
    let find = |mailbox: &str| {
        emu.items(mailbox, ItemKind::Message)
            .into_iter()
            .find(|m| m["subject"] == "Offer 4711")
            .unwrap()
    };
    let (mine, bens) = (find(ANA), find("ben@contoso.com"));
    assert_eq!(
        mine["parentFolderId"],
        emu.container_id(ANA, "sentitems").unwrap().as_str()
    );
    assert_eq!(
        bens["parentFolderId"],
        emu.container_id("ben@contoso.com", "inbox")
            .unwrap()
            .as_str()
    );
    assert_eq!(mine["internetMessageId"], bens["internetMessageId"]);
    assert_ne!(mine["id"], bens["id"]);
    assert_eq!(
        (mine["isRead"].as_bool(), bens["isRead"].as_bool()),
        (Some(true), Some(false))
    );
    // The seed has such a pair too: Ana's memo to Dieter.
    let memo = |mailbox: &str| {
        emu.items(mailbox, ItemKind::Message)
            .into_iter()
            .find(|m| m["subject"] == "Internal memo")
            .unwrap()["internetMessageId"]
            .clone()
    };
    assert_eq!(memo(ANA), memo("dieter@contoso.com"));
}

/// Issue 9: without `Prefer: IdType="ImmutableId"` every id a call answers or takes is the regular
/// one (creates, lists, reads, `$batch` items); with it, the immutable one; the emulator counts the
/// item calls made without it.
#[tokio::test]
async fn regression_issue_9_ids_follow_prefer_id_type_on_every_call() {
    let emu = start().await;
    let tok = token(&emu).await;
    let contact = json!({"givenName": "Ida", "surname": "Ids"});
    let plain = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/contacts",
        &[],
        Some(contact.clone()),
    )
    .await;
    let kept = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/contacts",
        &[IMMUTABLE],
        Some(contact),
    )
    .await;
    let (plain_id, kept_id) = (
        plain.body["id"].as_str().unwrap().to_owned(),
        kept.body["id"].as_str().unwrap().to_owned(),
    );
    assert!(
        emu.item(ANA, &kept_id).is_some(),
        "the immutable id is the stored one"
    );
    assert!(
        emu.item(ANA, &plain_id).is_none(),
        "a regular id is another string"
    );
    let immutable_of_plain = emu
        .items(ANA, ItemKind::Contact)
        .into_iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .find(|id| emu.regular_id(ANA, id).as_deref() == Some(plain_id.as_str()))
        .expect("the regular id answered by the create is the contact's");

    let listed = |headers: &'static [(&'static str, &'static str)]| {
        let (emu, tok) = (&emu, &tok);
        async move {
            let l = call(
                emu,
                tok,
                "GET",
                "/users/ana@contoso.com/contacts?$top=50",
                headers,
                None,
            )
            .await;
            ids(l.body["value"].as_array().unwrap())
        }
    };
    let regular = listed(&[]).await;
    let immutable = listed(&[IMMUTABLE]).await;
    assert!(regular.contains(&plain_id) && !regular.contains(&kept_id));
    assert!(immutable.contains(&kept_id) && immutable.contains(&immutable_of_plain));

    // A $batch item follows its own headers, not the envelope's.
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/users/ana@contoso.com/contacts/{kept_id}")},
        {"id": "2", "method": "GET", "url": format!("/users/ana@contoso.com/contacts/{plain_id}"), "headers": {"Prefer": "IdType=\"ImmutableId\""}},
    ]});
    let b = call(&emu, &tok, "POST", "/$batch", &[IMMUTABLE], Some(batch)).await;
    let body = |id: &str| {
        b.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["body"]["id"]
            .clone()
    };
    assert_eq!(body("1"), emu.regular_id(ANA, &kept_id).unwrap().as_str());
    assert_eq!(body("2"), immutable_of_plain.as_str());

    let counted = emu.counters().without_immutable_id;
    assert_eq!(
        counted,
        [
            ("GET /users/{id}/contacts".to_owned(), 1),
            ("GET /users/{id}/contacts/{id}".to_owned(), 1),
            ("POST /users/{id}/contacts".to_owned(), 1),
        ]
        .into_iter()
        .collect(),
    );
}
