//! Delta rounds: repeated items on page boundaries, removals, 410 after eviction, stale nextLinks, opaque tokens, new folders and lists.

use graph_connector_emulator::graph::ItemKind;
use serde_json::{Value, json};

use super::{ANA, assert_graph_error, call, delta_round, get, ids, start, token};

/// Immutable ids (the emulator helpers' ids), one and five items a page.
const IMMUTABLE_ONE: &str = "IdType=\"ImmutableId\", odata.maxpagesize=1";
const IMMUTABLE_FIVE: &str = "IdType=\"ImmutableId\", odata.maxpagesize=5";

#[tokio::test]
async fn message_delta_pages_repeat_items_report_removals_and_410_after_eviction() {
    let emu = start().await;
    let tok = token(&emu).await;
    let start =
        "/users/ana@contoso.com/mailFolders/inbox/messages/delta?$select=subject,sender,isRead";
    let (items, delta_link, pages) = delta_round(&emu, &tok, start, IMMUTABLE_ONE).await;
    let inbox: std::collections::BTreeSet<String> = emu
        .items(ANA, ItemKind::Message)
        .iter()
        .filter(|m| m["parentFolderId"] == emu.container_id(ANA, "inbox").unwrap().as_str())
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&items), inbox);
    assert!(
        items.len() > inbox.len(),
        "pages after the first repeat the previous page's last item"
    );
    assert!(pages >= 3, "an empty first page, then one item per page");
    assert_eq!(items[0]["@odata.type"], "#microsoft.graph.message");

    // A user reads one message, deletes another and receives a new one.
    let mut it = inbox.iter();
    let (a, b) = (it.next().unwrap().clone(), it.next().unwrap().clone());
    emu.update_item(ANA, &a, json!({"isRead": true})).unwrap();
    emu.delete_item(ANA, &b).unwrap();
    let new = emu.add_item(ANA, ItemKind::Message, Some("inbox"), json!({"subject": "New order", "from": {"emailAddress": {"name": "Grace Green", "address": "grace@fabrikam.com"}}})).unwrap();
    let (round2, link2, _) = delta_round(&emu, &tok, &delta_link, IMMUTABLE_FIVE).await;
    assert!(
        round2
            .iter()
            .any(|i| i["id"] == a.as_str() && i["isRead"] == true)
    );
    assert!(
        round2
            .iter()
            .any(|i| i["id"] == b.as_str() && i["@removed"]["reason"] == "deleted")
    );
    assert!(round2.iter().any(|i| i["id"] == new.as_str()));

    emu.evict_delta_tokens(Some(ANA)).unwrap();
    let gone = get(&emu, &tok, &link2).await;
    assert_graph_error(&gone, 410, "SyncStateNotFound");
    assert!(
        gone.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("generation=")
    );
    // Only the messages filter Graph allows is accepted.
    let bad = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/mailFolders/inbox/messages/delta?$filter=subject eq 'x'",
    )
    .await;
    assert_eq!(bad.status, 400);
    let ok = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox/messages/delta?$filter=receivedDateTime ge 2026-11-21T00:00:00Z").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn a_next_link_goes_stale_once_newer_generations_exist() {
    let emu = start().await;
    let tok = token(&emu).await;
    let start = "/users/ben@contoso.com/contactFolders/contacts/contacts/delta";
    let (_, old_link, _) = delta_round(&emu, &tok, start, "odata.maxpagesize=10").await;
    let first = get(&emu, &tok, start).await;
    let stale = first.body["@odata.nextLink"].as_str().unwrap().to_owned();
    // Another round of the same folder completes meanwhile (reference §3: finish rounds promptly).
    let (_, link, _) = delta_round(&emu, &tok, start, "odata.maxpagesize=10").await;
    let gone = get(&emu, &tok, &stale).await;
    assert_graph_error(&gone, 410, "SyncStateNotFound");
    // deltaLinks live longer: an older one still starts a round, and that round's nextLinks
    // (the newest sync state) page to the end.
    emu.add_item(
        "ben@contoso.com",
        ItemKind::Contact,
        None,
        json!({"givenName": "Ida"}),
    )
    .unwrap();
    emu.add_item(
        "ben@contoso.com",
        ItemKind::Contact,
        None,
        json!({"givenName": "Jan"}),
    )
    .unwrap();
    for l in [&old_link, &link] {
        let (items, _, pages) = delta_round(&emu, &tok, l, "odata.maxpagesize=1").await;
        assert!(pages >= 2 && items.len() >= 2, "{pages} pages: {items:?}");
    }
    let garbage = get(&emu, &tok, &format!("{start}?$deltatoken=bm90LWEtdG9rZW4")).await;
    assert_eq!(garbage.status, 400);
}

/// Graph's tokens are opaque: nothing a client could read (and come to rely on) or edit.
#[tokio::test]
async fn delta_and_paging_tokens_are_opaque_and_refused_when_altered() {
    use base64::Engine as _;
    let emu = start().await;
    let tok = token(&emu).await;
    let start = "/users/ana@contoso.com/mailFolders/inbox/messages/delta?$select=subject";
    let (_, delta_link, _) = delta_round(&emu, &tok, start, "odata.maxpagesize=1").await;
    let users = get(&emu, &tok, "/users?$top=1&$select=id").await;
    let next_users = users.body["@odata.nextLink"].as_str().unwrap().to_owned();
    for (link, param) in [(&delta_link, "$deltatoken="), (&next_users, "$skiptoken=")] {
        let token = link.split(param).nth(1).unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            serde_json::from_slice::<Value>(&raw).is_err() && !text.contains("subject"),
            "{param} reads as {text}"
        );
        // One character changed in the middle of the token.
        let mid = link.len() - token.len() / 2;
        let flipped = if &link[mid..=mid] == "A" { "B" } else { "A" };
        let altered = format!("{}{flipped}{}", &link[..mid], &link[mid + 1..]);
        let refused = get(&emu, &tok, &altered).await;
        assert_eq!(refused.status, 400, "{param}: {}", refused.body);
    }
    // The untouched delta link still works.
    assert_eq!(get(&emu, &tok, &delta_link).await.status, 200);
}

#[tokio::test]
async fn folder_and_list_deltas_report_new_lists() {
    let emu = start().await;
    let tok = token(&emu).await;
    let folders = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/delta").await;
    let names: Vec<&str> = folders.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Inbox") && names.contains(&"Projects"),
        "{names:?}"
    );
    let contacts = get(&emu, &tok, "/users/ana@contoso.com/contactFolders/delta").await;
    assert_eq!(contacts.body["value"][0]["displayName"], "Partners");
    let lists = get(&emu, &tok, "/users/ana@contoso.com/todo/lists/delta").await;
    assert_eq!(lists.body["value"].as_array().unwrap().len(), 2);
    let link = lists.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let created = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/todo/lists",
        &[],
        Some(json!({"displayName": "CRM tasks"})),
    )
    .await;
    assert_eq!(created.status, 201);
    let next = get(&emu, &tok, &link).await;
    let value = next.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["displayName"], "CRM tasks");
}
