//! The Graph emulator answers like Graph: token errors, 403/404/401s, delta paging and 410,
//! optimistic concurrency, transactionId, `$batch`, throttling, fault injection and its CLI line.

use std::time::Duration;

use graph_connector::emulator::graph::{
    EmulatorOptions, Faults, GraphEmulator, ItemKind, RetryAfter, Seed, spawn,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ANA: &str = "ana@contoso.com";

async fn start() -> GraphEmulator {
    spawn(EmulatorOptions::default())
        .await
        .expect("emulator starts")
}

async fn token_with(
    emu: &GraphEmulator,
    form: &[(&str, &str)],
    tenant: Option<&str>,
) -> (StatusCode, Value) {
    let url = match tenant {
        Some(t) => format!("{}/{t}/oauth2/v2.0/token", emu.base_url()),
        None => emu.token_url(),
    };
    let res = Client::new().post(url).form(form).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn token(emu: &GraphEmulator) -> String {
    let (status, body) = token_with(
        emu,
        &[
            ("client_id", emu.client_id()),
            ("client_secret", emu.client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

struct Call {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(
    emu: &GraphEmulator,
    tok: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Call {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", emu.graph_url())
    };
    let mut req = Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(tok);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Call {
        status,
        headers,
        body,
    }
}

async fn get(emu: &GraphEmulator, tok: &str, path: &str) -> Call {
    call(emu, tok, "GET", path, &[], None).await
}

fn code(c: &Call) -> &str {
    c.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn token_endpoint_answers_each_admin_mistake_with_its_aadsts_code() {
    let mut seed = Seed::sandbox();
    seed.apps[0]
        .secrets
        .push(graph_connector::emulator::graph::SecretSeed {
            id: "b7c3e1f0-0000-4000-8000-000000000002".into(),
            value: "old-secret".into(),
            expires: Some("2020-01-01T00:00:00Z".into()),
        });
    let emu = spawn(EmulatorOptions {
        seed,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let cid = emu.client_id().to_owned();
    let scope = "https://graph.microsoft.com/.default";
    let base = |secret: &'static str| {
        vec![
            ("client_id", cid.clone()),
            ("client_secret", secret.to_owned()),
            ("scope", scope.to_owned()),
            ("grant_type", "client_credentials".to_owned()),
        ]
    };
    type Case<'a> = (Vec<(&'a str, String)>, Option<&'a str>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            base("b7c3e1f0-0000-4000-8000-000000000001"),
            None,
            401,
            "invalid_client",
            7000215,
        ),
        (base("old-secret"), None, 401, "invalid_client", 7000222),
        (
            vec![
                ("client_id", "00000000-0000-4000-8000-00000000dead".into()),
                ("client_secret", "x".into()),
                ("scope", scope.into()),
                ("grant_type", "client_credentials".into()),
            ],
            None,
            400,
            "unauthorized_client",
            700016,
        ),
        (
            base("x"),
            Some("11111111-2222-4333-8444-555555555555"),
            400,
            "invalid_request",
            90002,
        ),
        (
            base("x"),
            Some("not_a_tenant"),
            400,
            "invalid_request",
            900023,
        ),
        (
            vec![
                ("client_id", cid.clone()),
                ("scope", scope.into()),
                ("grant_type", "client_credentials".into()),
            ],
            None,
            400,
            "invalid_request",
            7000218,
        ),
        (
            vec![
                ("client_id", cid.clone()),
                ("client_secret", "x".into()),
                ("scope", "Mail.Read".into()),
                ("grant_type", "client_credentials".into()),
            ],
            None,
            400,
            "invalid_scope",
            1002012,
        ),
        (
            vec![
                ("client_id", cid.clone()),
                ("client_secret", "x".into()),
                (
                    "scope",
                    "https://graph.microsoft.com/.default openid".into(),
                ),
                ("grant_type", "client_credentials".into()),
            ],
            None,
            400,
            "invalid_scope",
            70011,
        ),
    ];
    for (form, tenant, status, error, aadsts) in cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, body) = token_with(&emu, &form, tenant).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], json!([aadsts]), "{body}");
        let desc = body["error_description"].as_str().unwrap();
        assert!(desc.starts_with(&format!("AADSTS{aadsts}: ")), "{desc}");
        for key in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(body[key].is_string(), "{key} missing in {body}");
        }
    }
    // The domain works in place of the tenant GUID, and a good secret gets a JWT-shaped token with roles.
    let (status, body) = token_with(
        &emu,
        &[
            ("client_id", &cid),
            ("client_secret", emu.client_secret()),
            ("scope", scope),
            ("grant_type", "client_credentials"),
        ],
        Some("contoso.com"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let tok = body["access_token"].as_str().unwrap();
    let payload = tok.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["tid"], emu.tenant_id());
    assert!(
        payload["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Mail.ReadWrite")
    );
}

#[tokio::test]
async fn missing_permissions_give_graphs_403s_and_bad_tokens_401() {
    let emu = start().await;
    let cid = emu.client_id().to_owned();
    emu.set_app_roles(&cid, &["Mail.Read"]).unwrap();
    let tok = token(&emu).await;
    let users = get(&emu, &tok, "/users").await;
    assert_eq!(
        (users.status.as_u16(), code(&users)),
        (403, "Authorization_RequestDenied")
    );
    let events = get(&emu, &tok, "/users/ana@contoso.com/events").await;
    assert_eq!(
        (events.status.as_u16(), code(&events)),
        (403, "ErrorAccessDenied")
    );
    assert_eq!(
        events.body["error"]["message"],
        "Access is denied. Check credentials and try again."
    );
    let settings = get(
        &emu,
        &tok,
        "/users/ana@contoso.com/mailboxSettings?$select=timeZone",
    )
    .await;
    assert_eq!(settings.status, 403);
    // Read is enough to read mail, not to write it.
    assert_eq!(
        get(
            &emu,
            &tok,
            "/users/ana@contoso.com/mailFolders/inbox?$select=id"
        )
        .await
        .status,
        200
    );
    let write = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/messages",
        &[],
        Some(json!({"subject": "x"})),
    )
    .await;
    assert_eq!(write.status, 403);
    // With only Mail.ReadBasic.All, messages come without bodies or previews.
    emu.set_app_roles(&cid, &["Mail.ReadBasic.All"]).unwrap();
    let basic = token(&emu).await;
    let inbox = get(
        &emu,
        &basic,
        "/users/ana@contoso.com/mailFolders/inbox/messages",
    )
    .await;
    let first = &inbox.body["value"][0];
    assert!(
        first["subject"].is_string()
            && first.get("body").is_none()
            && first.get("bodyPreview").is_none(),
        "{first}"
    );

    let garbage = get(&emu, "not-a-token", "/users").await;
    assert_eq!(
        (garbage.status.as_u16(), code(&garbage)),
        (401, "InvalidAuthenticationToken")
    );
    assert!(garbage.headers.contains_key("www-authenticate"));
    emu.advance_clock(jiff::SignedDuration::from_hours(2));
    let expired = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox").await;
    assert_eq!(
        (expired.status.as_u16(), code(&expired)),
        (401, "InvalidAuthenticationToken")
    );
    assert!(
        expired.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

/// Each family needs its own application role; a Read role does not allow writes.
#[tokio::test]
async fn contacts_and_to_do_need_their_own_roles() {
    let emu = start().await;
    let cid = emu.client_id().to_owned();
    let u = "/users/ana@contoso.com";
    let list = emu.container_id(ANA, "Tasks").unwrap();
    let reads = [
        format!("{u}/contacts"),
        format!("{u}/contactFolders/contacts/contacts/delta"),
        format!("{u}/todo/lists"),
        format!("{u}/todo/lists/{list}/tasks/delta"),
    ];
    // Delegated-only names (Tasks.ReadWrite without .All) grant nothing to an app.
    emu.set_app_roles(&cid, &["Mail.ReadWrite", "Tasks.ReadWrite"])
        .unwrap();
    let tok = token(&emu).await;
    for path in &reads {
        let c = get(&emu, &tok, path).await;
        assert_eq!(
            (c.status.as_u16(), code(&c)),
            (403, "ErrorAccessDenied"),
            "{path}"
        );
    }
    emu.set_app_roles(&cid, &["Contacts.Read", "Tasks.Read.All"])
        .unwrap();
    let tok = token(&emu).await;
    for path in &reads {
        assert_eq!(get(&emu, &tok, path).await.status, 200, "{path}");
    }
    let writes = [
        (format!("{u}/contacts"), json!({"givenName": "Iris"})),
        (
            format!("{u}/todo/lists/{list}/tasks"),
            json!({"title": "Call Iris"}),
        ),
    ];
    for (path, body) in writes {
        let c = call(&emu, &tok, "POST", &path, &[], Some(body)).await;
        assert_eq!(
            (c.status.as_u16(), code(&c)),
            (403, "ErrorAccessDenied"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn mailbox_problems_give_404_and_the_access_policy_403() {
    let emu = start().await;
    let tok = token(&emu).await;
    let chloe = get(
        &emu,
        &tok,
        "/users/chloe@contoso.com/mailboxSettings?$select=timeZone",
    )
    .await;
    assert_eq!(
        (chloe.status.as_u16(), code(&chloe)),
        (404, "MailboxNotEnabledForRESTAPI")
    );
    let eva = get(
        &emu,
        &tok,
        "/users/eva@fabrikam-partner.com/mailFolders/inbox",
    )
    .await;
    assert_eq!((eva.status.as_u16(), code(&eva)), (404, "ErrorInvalidUser"));
    let ben = get(&emu, &tok, "/users/ben@contoso.com/mailboxSettings").await;
    assert_eq!(ben.body["timeZone"], "Pacific Standard Time");
    let envelope = &chloe.body["error"]["innerError"];
    for key in ["date", "request-id", "client-request-id"] {
        assert!(envelope[key].is_string(), "{key}");
    }
    let cid = emu.client_id().to_owned();
    emu.set_access_policy(&cid, Some(&["ana@contoso.com"]))
        .unwrap();
    let blocked = get(&emu, &tok, "/users/ben@contoso.com/events").await;
    assert_eq!(blocked.status, 403);
    assert_eq!(
        blocked.body["error"]["message"],
        "Access to OData is disabled."
    );
    assert_eq!(
        get(&emu, &tok, "/users/ana@contoso.com/events")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn every_response_carries_request_ids_and_date() {
    let emu = start().await;
    let tok = token(&emu).await;
    let c = call(
        &emu,
        &tok,
        "GET",
        "/users/ana@contoso.com/mailFolders/inbox",
        &[("client-request-id", "my-id-123")],
        None,
    )
    .await;
    assert_eq!(c.headers["client-request-id"], "my-id-123");
    assert!(c.headers.contains_key("request-id"));
    assert!(c.headers.contains_key("date"));
}

#[tokio::test]
async fn token_answers_carry_entras_request_ids_not_graphs() {
    let emu = start().await;
    let form = |secret: &str| {
        vec![
            ("client_id", emu.client_id().to_owned()),
            ("client_secret", secret.to_owned()),
            ("scope", "https://graph.microsoft.com/.default".to_owned()),
            ("grant_type", "client_credentials".to_owned()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>, client_request_id: Option<&'static str>| {
        let mut req = Client::new().post(emu.token_url()).form(&form);
        if let Some(id) = client_request_id {
            req = req.header("client-request-id", id);
        }
        req.send()
    };
    let ok = send(form(emu.client_secret()), Some("crid-42"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let h = ok.headers().clone();
    assert!(h.contains_key("x-ms-request-id"), "{h:?}");
    assert_eq!(h["client-request-id"], "crid-42");
    for graph_only in ["request-id", "x-ms-ags-diagnostic", "odata-version"] {
        assert!(!h.contains_key(graph_only), "{graph_only} in {h:?}");
    }
    // An error names the same ids in its body: trace_id is x-ms-request-id, the correlation id
    // is the caller's client-request-id; without one, nothing is echoed.
    let bad = send(form("wrong"), Some("crid-43")).await.unwrap();
    assert_eq!(bad.status(), 401);
    let h = bad.headers().clone();
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["trace_id"], h["x-ms-request-id"].to_str().unwrap());
    assert_eq!(body["correlation_id"], "crid-43");
    assert!(!h.contains_key("request-id"));
    let anon = send(form("wrong"), None).await.unwrap();
    assert!(anon.headers().contains_key("x-ms-request-id"));
    assert!(!anon.headers().contains_key("client-request-id"));
    assert!(!anon.headers().contains_key("request-id"));
}

#[tokio::test]
async fn users_page_with_skiptoken_and_advanced_filters_need_consistency_level() {
    let emu = start().await;
    let tok = token(&emu).await;
    let mut all = Vec::new();
    let mut page = get(
        &emu,
        &tok,
        "/users?$select=id,mail,userPrincipalName&$top=2",
    )
    .await;
    loop {
        all.extend(page.body["value"].as_array().unwrap().iter().cloned());
        let Some(next) = page.body["@odata.nextLink"].as_str() else {
            break;
        };
        assert!(next.contains("$skiptoken="));
        page = get(&emu, &tok, next).await;
    }
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|u| u.as_object().unwrap().len() == 3));
    let refused = get(&emu, &tok, "/users?$filter=endswith(mail,'@contoso.com')").await;
    assert_eq!(
        (refused.status.as_u16(), code(&refused)),
        (400, "Request_UnsupportedQuery")
    );
    let ok = call(
        &emu,
        &tok,
        "GET",
        "/users?$filter=endswith(mail,'@contoso.com')&$count=true",
        &[("ConsistencyLevel", "eventual")],
        None,
    )
    .await;
    assert_eq!(ok.body["@odata.count"], 4);
    let upn = get(
        &emu,
        &tok,
        "/users?$filter=startswith(userPrincipalName,'ben')",
    )
    .await;
    assert_eq!(upn.body["value"].as_array().unwrap().len(), 1);
}

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
async fn mailbox_settings_patch_needs_read_write_and_applies_the_update() {
    let emu = start().await;
    let settings = "/users/ana@contoso.com/mailboxSettings";
    let patch = json!({
        "timeZone": "Pacific Standard Time",
        "automaticRepliesSetting": {
            "status": "scheduled",
            "scheduledStartDateTime": {"dateTime": "2026-12-24T08:00:00", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2027-01-02T08:00:00", "timeZone": "UTC"},
            "externalReplyMessage": "Back in January"
        }
    });
    // The sandbox app has MailboxSettings.Read only.
    let tok = token(&emu).await;
    let denied = call(&emu, &tok, "PATCH", settings, &[], Some(patch.clone())).await;
    assert_eq!(
        (denied.status.as_u16(), code(&denied)),
        (403, "ErrorAccessDenied")
    );
    assert_eq!(
        get(&emu, &tok, settings).await.body["timeZone"],
        "W. Europe Standard Time"
    );

    let cid = emu.client_id().to_owned();
    emu.set_app_roles(&cid, &["MailboxSettings.ReadWrite"])
        .unwrap();
    let tok = token(&emu).await;
    let ok = call(&emu, &tok, "PATCH", settings, &[], Some(patch)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The answer holds the written properties, whole (unsent sub-properties kept).
    let body = ok.body.as_object().unwrap();
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/mailboxSettings")
    );
    assert_eq!(body.len(), 3, "{body:?}");
    let replies = &body["automaticRepliesSetting"];
    assert_eq!(replies["status"], "scheduled");
    assert_eq!(replies["externalAudience"], "all");
    assert_eq!(
        replies["scheduledStartDateTime"]["dateTime"],
        "2026-12-24T08:00:00.0000000"
    );
    let read = get(&emu, &tok, settings).await.body;
    assert_eq!(read["timeZone"], "Pacific Standard Time");
    assert_eq!(read["automaticRepliesSetting"], *replies);
    assert_eq!(
        read["automaticRepliesSetting"]["externalReplyMessage"],
        "Back in January"
    );
    let tz = get(&emu, &tok, &format!("{settings}/timeZone")).await.body;
    assert_eq!(tz["value"], "Pacific Standard Time");

    // Bad updates are refused whole, naming the property.
    for (bad, want) in [
        (
            json!({"timeZone": "Mars Standard Time"}),
            "TimeZoneNotSupportedException",
        ),
        (
            json!({"automaticRepliesSetting": {"status": "sometimes"}}),
            "RequestBodyRead",
        ),
        (
            json!({"timeZone": "UTC", "colour": "blue"}),
            "RequestBodyRead",
        ),
        (
            json!({"userPurpose": {"value": "shared"}}),
            "ErrorInvalidRequest",
        ),
    ] {
        let c = call(&emu, &tok, "PATCH", settings, &[], Some(bad.clone())).await;
        assert_eq!((c.status.as_u16(), code(&c)), (400, want), "{bad}");
    }
    assert_eq!(
        get(&emu, &tok, settings).await.body["timeZone"],
        "Pacific Standard Time"
    );
}

async fn delta_round(
    emu: &GraphEmulator,
    tok: &str,
    first: &str,
    prefer: &str,
) -> (Vec<Value>, String, usize) {
    let mut url = first.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let c = call(emu, tok, "GET", &url, &[("Prefer", prefer)], None).await;
        assert_eq!(c.status, 200, "{}", c.body);
        pages += 1;
        items.extend(c.body["value"].as_array().unwrap().iter().cloned());
        if let Some(next) = c.body["@odata.nextLink"].as_str() {
            url = next.to_owned();
            continue;
        }
        return (
            items,
            c.body["@odata.deltaLink"].as_str().unwrap().to_owned(),
            pages,
        );
    }
}

fn ids(items: &[Value]) -> std::collections::BTreeSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_none())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn message_delta_pages_repeat_items_report_removals_and_410_after_eviction() {
    let emu = start().await;
    let tok = token(&emu).await;
    let start =
        "/users/ana@contoso.com/mailFolders/inbox/messages/delta?$select=subject,sender,isRead";
    let (items, delta_link, pages) = delta_round(&emu, &tok, start, "odata.maxpagesize=1").await;
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
    let (round2, link2, _) = delta_round(&emu, &tok, &delta_link, "odata.maxpagesize=5").await;
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
    assert_eq!(
        (gone.status.as_u16(), code(&gone)),
        (410, "SyncStateNotFound")
    );
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
async fn calendar_view_delta_freezes_the_window_and_sends_sparse_occurrences() {
    let emu = start().await;
    let tok = token(&emu).await;
    let too_wide = get(&emu, &tok, "/users/ana@contoso.com/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2031-01-02T00:00:00Z").await;
    assert_eq!(
        (too_wide.status.as_u16(), code(&too_wide)),
        (400, "ErrorInvalidRequest")
    );
    assert!(
        too_wide.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Maximum number of days: 1825")
    );

    let start = "/users/ana@contoso.com/calendarView/delta?startDateTime=2026-11-01T00:00:00Z&endDateTime=2026-12-01T00:00:00Z";
    let (items, link, _) = delta_round(&emu, &tok, start, "odata.maxpagesize=50").await;
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
    let (round2, link2, _) = delta_round(&emu, &tok, &link, "odata.maxpagesize=50").await;
    assert!(
        round2
            .iter()
            .any(|i| i["id"] == single.as_str() && i["subject"] == "Short call")
    );
    emu.update_item(ANA, &single, json!({"start": {"dateTime": "2027-02-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2027-02-01T09:30:00", "timeZone": "UTC"}})).unwrap();
    let (round3, _, _) = delta_round(&emu, &tok, &link2, "odata.maxpagesize=50").await;
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
    assert_eq!(
        (stale.status.as_u16(), code(&stale)),
        (412, "ErrorIrresolvableConflict")
    );
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
async fn extended_properties_and_linked_resources_can_be_expanded_and_filtered() {
    let emu = start().await;
    let tok = token(&emu).await;
    let prop = "String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name CrmRecordId";
    let created = call(&emu, &tok, "POST", "/users/ana@contoso.com/contacts", &[], Some(json!({"givenName": "Grace", "surname": "Green", "singleValueExtendedProperties": [{"id": prop.to_uppercase().replace("STRING", "String").replace("NAME CRMRECORDID", "Name CrmRecordId"), "value": "KP-7"}]}))).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap();
    assert!(
        created.body.get("singleValueExtendedProperties").is_none(),
        "only with $expand"
    );
    let expanded = get(&emu, &tok, &format!("/users/ana@contoso.com/contacts/{id}?$expand=singleValueExtendedProperties($filter=id eq '{prop}')")).await;
    assert_eq!(
        expanded.body["singleValueExtendedProperties"],
        json!([{"id": prop, "value": "KP-7"}])
    );
    let found = get(&emu, &tok, &format!("/users/ana@contoso.com/contacts?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and ep/value eq 'KP-7')")).await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["value"][0]["id"], id);

    let list = emu.container_id(ANA, "Follow-ups").unwrap();
    let tasks = get(&emu, &tok, &format!("/users/ana@contoso.com/todo/lists/{list}/tasks?$filter=linkedResources/any(r: r/externalId eq 'A1-100-7')")).await;
    assert_eq!(tasks.body["value"].as_array().unwrap().len(), 1);
    assert!(tasks.body["value"][0]["linkedResources"][0]["id"].is_string());

    // Open extensions on a To Do task: create, expand, filter on existence.
    let task = tasks.body["value"][0]["id"].as_str().unwrap().to_owned();
    let base = format!("/users/ana@contoso.com/todo/lists/{list}/tasks");
    let ext = call(&emu, &tok, "POST", &format!("{base}/{task}/extensions"), &[], Some(json!({"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "com.acme.crm", "recordId": "A1-100-7"}))).await;
    assert_eq!(ext.status, 201, "{}", ext.body);
    assert_eq!(
        ext.body["id"],
        "Microsoft.OutlookServices.OpenTypeExtension.com.acme.crm"
    );
    let dup = call(
        &emu,
        &tok,
        "POST",
        &format!("{base}/{task}/extensions"),
        &[],
        Some(json!({"extensionName": "com.acme.crm"})),
    )
    .await;
    assert_eq!(dup.status, 409);
    let got = get(
        &emu,
        &tok,
        &format!("{base}/{task}?$expand=extensions($filter=id eq 'com.acme.crm')"),
    )
    .await;
    assert_eq!(got.body["extensions"][0]["recordId"], "A1-100-7");
    let found = get(
        &emu,
        &tok,
        &format!("{base}?$filter=extensions/any(e: e/id eq 'com.acme.crm')"),
    )
    .await;
    assert_eq!(found.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(
            &emu,
            &tok,
            "DELETE",
            &format!("{base}/{task}/extensions/com.acme.crm"),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(
            &emu,
            &tok,
            &format!("{base}?$filter=extensions/any(e: e/id eq 'com.acme.crm')")
        )
        .await
        .body["value"],
        json!([])
    );
}

#[tokio::test]
async fn an_extended_property_filter_must_name_the_property_id() {
    let emu = start().await;
    let tok = token(&emu).await;
    let prop = "String {0b1ad2ce-7f2a-4c4e-9a3e-5c1f6f0d4b11} Name CrmRecordId";
    let created = call(
        &emu,
        &tok,
        "POST",
        "/users/ana@contoso.com/contacts",
        &[],
        Some(json!({"givenName": "Hanna", "singleValueExtendedProperties": [{"id": prop, "value": "KP-9"}]})),
    )
    .await;
    assert_eq!(created.status, 201);
    let contacts = "/users/ana@contoso.com/contacts?$filter=singleValueExtendedProperties";
    let value_only = get(
        &emu,
        &tok,
        &format!("{contacts}/Any(ep: ep/value eq 'KP-9')"),
    )
    .await;
    assert_eq!(
        (value_only.status.as_u16(), code(&value_only)),
        (400, "ErrorInvalidUrlQueryFilter")
    );
    let message = value_only.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("must test the property id") && message.contains("ep/id eq"),
        "{message}"
    );
    let or = get(
        &emu,
        &tok,
        &format!("{contacts}/Any(ep: ep/id eq '{prop}' or ep/value eq 'KP-9')"),
    )
    .await;
    assert_eq!(or.status, 400);
    // The forms Graph takes: id and value (what the client sends), or the id alone.
    for ok in [
        format!("{contacts}/Any(ep: ep/id eq '{prop}' and ep/value eq 'KP-9')"),
        format!("{contacts}/Any(ep: ep/id eq '{prop}')"),
    ] {
        let c = get(&emu, &tok, &ok).await;
        assert_eq!(c.status, 200, "{ok}: {}", c.body);
        assert_eq!(c.body["value"].as_array().unwrap().len(), 1, "{ok}");
    }
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
async fn batch_runs_dependencies_reports_424_and_rejects_bad_envelopes() {
    let emu = start().await;
    let tok = token(&emu).await;
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users/ana@contoso.com/mailFolders/inbox?$select=id"},
        {"id": "2", "method": "GET", "url": "/users/ana@contoso.com/events/AAMkAGhvc3Q="},
        {"id": "3", "method": "GET", "url": "users/ben@contoso.com/mailboxSettings/timeZone", "dependsOn": ["1"]},
        {"id": "4", "method": "DELETE", "url": "/users/ana@contoso.com/events/AAMkAGhvc3Q=", "dependsOn": ["2"]},
        {"id": "5", "method": "POST", "url": "/users/ana@contoso.com/todo/lists", "body": {"displayName": "CRM"}, "headers": {"Content-Type": "application/json"}}
    ]});
    let c = call(&emu, &tok, "POST", "/$batch", &[], Some(batch)).await;
    assert_eq!(c.status, 200);
    let responses = c.body["responses"].as_array().unwrap();
    let status = |id: &str| {
        responses.iter().find(|r| r["id"] == id).unwrap()["status"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        [
            status("1"),
            status("2"),
            status("3"),
            status("4"),
            status("5")
        ],
        [200, 404, 200, 424, 201]
    );
    assert_eq!(
        responses.iter().find(|r| r["id"] == "3").unwrap()["body"]["value"],
        "Pacific Standard Time"
    );

    let too_many = json!({"requests": (0..21).map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/users"})).collect::<Vec<_>>()});
    assert_eq!(
        call(&emu, &tok, "POST", "/$batch", &[], Some(too_many))
            .await
            .status,
        400
    );
    let no_ct = json!({"requests": [{"id": "1", "method": "POST", "url": "/users/ana@contoso.com/contacts", "body": {}}]});
    assert_eq!(
        call(&emu, &tok, "POST", "/$batch", &[], Some(no_ct))
            .await
            .status,
        400
    );
    assert_eq!(
        call(&emu, &tok, "POST", "/$batch", &[], Some(json!({"nope": 1})))
            .await
            .status,
        400
    );

    // Sub-requests count against the mailbox limit on their own: 6 parallel reads of one
    // mailbox, held at the gate, leave two of them throttled.
    emu.hold_requests();
    let reads = json!({"requests": (0..6).map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/users/ben@contoso.com/mailFolders/inbox"})).collect::<Vec<_>>()});
    let emu_url = emu.graph_url();
    let tok2 = tok.clone();
    let pending = tokio::spawn(async move {
        Client::new()
            .post(format!("{emu_url}/$batch"))
            .bearer_auth(tok2)
            .json(&reads)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    emu.wait_for_in_flight("ben@contoso.com", 4).await.unwrap();
    wait_until(|| emu.counters().concurrency_429 >= 2).await;
    emu.release_requests();
    let body = pending.await.unwrap();
    let statuses: Vec<u64> = body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{body}");
    assert!(
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == 429)
            .all(|r| r["headers"]["Retry-After"].is_string())
    );
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..4000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached within 20 s");
}

#[tokio::test]
async fn a_fifth_concurrent_request_for_a_mailbox_gets_application_throttled() {
    let emu = start().await;
    let tok = token(&emu).await;
    emu.hold_requests();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let url = format!(
            "{}/users/ana@contoso.com/mailFolders/inbox?$select=id",
            emu.graph_url()
        );
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            let res = Client::new()
                .get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                res.status().as_u16(),
                retry,
                res.json::<Value>().await.unwrap(),
            )
        }));
    }
    emu.wait_for_in_flight(ANA, 4).await.unwrap();
    wait_until(|| emu.counters().concurrency_429 == 1).await;
    // Another mailbox is not affected.
    assert_eq!(emu.counters().max_in_flight.get("ben@contoso.com"), None);
    emu.release_requests();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let throttled: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(results.iter().filter(|r| r.0 == 200).count(), 4);
    assert_eq!(throttled[0].1.as_deref(), Some("1"));
    assert_eq!(throttled[0].2["error"]["code"], "ApplicationThrottled");
    assert_eq!(
        throttled[0].2["error"]["message"],
        "Application is over its MailboxConcurrency limit."
    );
    let counters = emu.counters();
    assert_eq!(counters.max_in_flight[ANA], 5);
    assert_eq!(counters.per_mailbox[ANA], 5);
    assert_eq!(counters.per_endpoint["GET /users/{id}/mailFolders/{id}"], 5);
}

#[tokio::test]
async fn the_request_budget_per_window_throttles_until_the_window_ends() {
    let emu = start().await;
    let tok = token(&emu).await;
    emu.set_throttle(graph_connector::emulator::graph::ThrottleSettings {
        budget: 3,
        ..Default::default()
    });
    for _ in 0..3 {
        assert_eq!(
            get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox")
                .await
                .status,
            200
        );
    }
    let over = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox").await;
    assert_eq!(
        (over.status.as_u16(), code(&over)),
        (429, "ApplicationThrottled")
    );
    // Seconds to the end of the 10-minute window that opened with the first request.
    let retry: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&retry), "{retry}");
    assert_eq!(
        get(&emu, &tok, "/users/ben@contoso.com/mailFolders/inbox")
            .await
            .status,
        200
    );
    emu.advance_clock(jiff::SignedDuration::from_mins(10));
    let tok = token(&emu).await;
    assert_eq!(
        get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn injected_faults_follow_the_rate_and_use_every_retry_after_variant() {
    let emu = spawn(EmulatorOptions {
        faults: Faults::rate(0.3),
        rng_seed: 7,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let tok = token(&emu).await;
    let mut failed = 0;
    let mut retry_after = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let c = get(
            &emu,
            &tok,
            "/users/ana@contoso.com/mailFolders/inbox?$select=id",
        )
        .await;
        if c.status != 200 {
            failed += 1;
            assert!([429, 503, 504].contains(&c.status.as_u16()));
            retry_after.insert(
                c.headers
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            );
        }
    }
    let counters = emu.counters();
    assert_eq!(counters.faults.values().sum::<u64>(), failed);
    assert!((35..=85).contains(&failed), "30% of 200, got {failed}");
    assert_eq!(
        retry_after,
        [None, Some("0.25".to_owned()), Some("1".to_owned())]
            .into_iter()
            .collect()
    );
    emu.set_faults(Faults {
        rate: 1.0,
        statuses: vec![429],
        retry_after: vec![RetryAfter::Decimal(0.5)],
        ..Faults::default()
    });
    let c = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox").await;
    assert_eq!(
        (
            c.status.as_u16(),
            c.headers["retry-after"].to_str().unwrap()
        ),
        (429, "0.5")
    );
    assert_eq!(c.body["error"]["code"], "TooManyRequests");
    emu.set_faults(Faults::none());
    assert_eq!(
        get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox")
            .await
            .status,
        200
    );
}

#[test]
fn cli_prints_one_json_line_with_urls_and_credentials() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(["emulate", "graph"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["graph_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(v["graph_url"].as_str().unwrap().ends_with("/v1.0"));
    assert!(
        v["token_url"]
            .as_str()
            .unwrap()
            .ends_with("/8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f/oauth2/v2.0/token")
    );
    assert_eq!(v["tenant_id"], "8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f");
    assert_eq!(v["client_id"], "3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43");
    assert_eq!(
        v["client_secret"],
        "sandbox-secret-value~0123456789abcdefghij"
    );
}

#[test]
fn a_bad_seed_is_reported_with_the_field() {
    let err = Seed::from_yaml("tenant: {id: nope, domains: [x.com]}\n", "seed.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "graph emulator seed seed.yaml: tenant.id: expected a GUID, found `nope`"
    );
    let err = Seed::from_yaml("tenant: {id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f, domains: [x.com]}\nusers:\n  - {id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f, displayName: A, userPrincipalName: a@x.com, timeZone: Mars Standard Time}\n", "seed.yaml").unwrap_err();
    assert!(err.to_string().contains("users[0].timeZone"), "{err}");
}

#[tokio::test]
async fn a_moved_message_gets_a_new_id_unless_ids_are_immutable() {
    let emu = start().await;
    let tok = token(&emu).await;
    let inbox_delta = "/users/ana@contoso.com/mailFolders/inbox/messages/delta";
    let (_, link, _) = delta_round(&emu, &tok, inbox_delta, "odata.maxpagesize=10").await;
    let inbox = emu.container_id(ANA, "inbox").unwrap();
    let mut msgs: Vec<String> = emu
        .items(ANA, ItemKind::Message)
        .into_iter()
        .filter(|m| m["parentFolderId"] == inbox.as_str())
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let (a, b) = (msgs.pop().unwrap(), msgs.pop().unwrap());
    let plain = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/messages/{a}/move"),
        &[],
        Some(json!({"destinationId": "archive"})),
    )
    .await;
    assert_eq!(plain.status, 201);
    assert_ne!(plain.body["id"], a.as_str());
    let immutable = call(
        &emu,
        &tok,
        "POST",
        &format!("/users/ana@contoso.com/messages/{b}/move"),
        &[("Prefer", "IdType=\"ImmutableId\"")],
        Some(json!({"destinationId": "archive"})),
    )
    .await;
    assert_eq!(immutable.status, 201);
    assert_eq!(immutable.body["id"], b.as_str());
    assert_eq!(
        immutable.body["parentFolderId"],
        emu.container_id(ANA, "archive").unwrap().as_str()
    );
    let (round2, _, _) = delta_round(&emu, &tok, &link, "odata.maxpagesize=10").await;
    for gone in [&a, &b] {
        assert!(
            round2
                .iter()
                .any(|i| i["id"] == gone.as_str() && i["@removed"].is_object()),
            "{gone} removed from the inbox"
        );
    }
    let archive = emu.container_id(ANA, "archive").unwrap();
    let (arch, _, _) = delta_round(
        &emu,
        &tok,
        &format!("/users/ana@contoso.com/mailFolders/{archive}/messages/delta"),
        "odata.maxpagesize=10",
    )
    .await;
    assert_eq!(
        ids(&arch),
        [plain.body["id"].as_str().unwrap().to_owned(), b.clone()]
            .into_iter()
            .collect()
    );

    // An EWS id (standard base64) of the same item translates to the REST id.
    let rest = b.clone();
    let ews = rest.replace('-', "+").replace('_', "/");
    let t = call(&emu, &tok, "POST", "/users/ana@contoso.com/translateExchangeIds", &[], Some(json!({"inputIds": [ews], "sourceIdType": "ewsId", "targetIdType": "restImmutableEntryId"}))).await;
    assert_eq!(t.body["value"][0]["targetId"], rest.as_str());
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
        (Some("occurrence"), Some(series.as_str()))
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

#[tokio::test]
async fn a_held_request_whose_client_gives_up_frees_its_slot() {
    let emu = start().await;
    let tok = token(&emu).await;
    emu.hold_requests();
    let url = format!(
        "{}/users/ana@contoso.com/mailFolders/inbox",
        emu.graph_url()
    );
    let task = tokio::spawn(async move { Client::new().get(url).bearer_auth(tok).send().await });
    emu.wait_for_in_flight(ANA, 1).await.unwrap();
    task.abort();
    // Still held at the gate: the slot comes back when the server sees the closed connection.
    wait_until(|| emu.in_flight(ANA) == 0).await;
    emu.release_requests();
}

/// A webhook receiver on loopback: echoes validation tokens, records notifications.
pub(crate) async fn webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;
    async fn hook(
        State(seen): State<Seen>,
        Query(q): Query<HashMap<String, String>>,
        body: String,
    ) -> (axum::http::StatusCode, String) {
        if let Some(token) = q.get("validationToken") {
            return (axum::http::StatusCode::OK, token.clone());
        }
        seen.lock()
            .unwrap()
            .push(serde_json::from_str(&body).unwrap());
        (axum::http::StatusCode::ACCEPTED, String::new())
    }
    async fn broken() -> axum::http::StatusCode {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    }
    let seen: Seen = Default::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .route("/broken", axum::routing::post(broken))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

#[tokio::test]
async fn subscriptions_validate_the_endpoint_and_deliver_notifications() {
    let emu = start().await;
    let tok = token(&emu).await;
    let (base, seen) = webhook().await;
    let expires = (emu.now() + jiff::SignedDuration::from_hours(24)).to_string();
    let sub = |url: &str, expires: &str| {
        json!({"changeType": "created,updated,deleted", "notificationUrl": url, "lifecycleNotificationUrl": url,
            "resource": "users/ana@contoso.com/mailFolders('Inbox')/messages", "expirationDateTime": expires, "clientState": "s3cret"})
    };
    let broken = call(
        &emu,
        &tok,
        "POST",
        "/subscriptions",
        &[],
        Some(sub(&format!("{base}/broken"), &expires)),
    )
    .await;
    assert_eq!(broken.status, 400);
    assert!(
        broken.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("validation")
    );
    let too_long = (emu.now() + jiff::SignedDuration::from_hours(24 * 8)).to_string();
    assert_eq!(
        call(
            &emu,
            &tok,
            "POST",
            "/subscriptions",
            &[],
            Some(sub(&format!("{base}/hook"), &too_long))
        )
        .await
        .status,
        400
    );
    let created = call(
        &emu,
        &tok,
        "POST",
        "/subscriptions",
        &[],
        Some(sub(&format!("{base}/hook"), &expires)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let sub_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(emu.subscription_ids(), std::slice::from_ref(&sub_id));

    emu.add_item(
        ANA,
        ItemKind::Message,
        Some("sentitems"),
        json!({"subject": "not watched"}),
    )
    .unwrap();
    let id = emu
        .add_item(
            ANA,
            ItemKind::Message,
            Some("inbox"),
            json!({"subject": "watched"}),
        )
        .unwrap();
    wait_until(|| !seen.lock().unwrap().is_empty()).await;
    let notes: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b["value"].as_array().unwrap().clone())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let n = &notes[0];
    assert_eq!(
        (n["changeType"].as_str(), n["clientState"].as_str()),
        (Some("created"), Some("s3cret"))
    );
    assert_eq!(n["resourceData"]["id"], id.as_str());
    assert_eq!(n["subscriptionId"], sub_id.as_str());
    assert_eq!(n["tenantId"], emu.tenant_id());

    emu.send_lifecycle_event(&sub_id, "missed").await.unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|b| b["value"][0]["lifecycleEvent"] == "missed")
    );
    let renewed = (emu.now() + jiff::SignedDuration::from_hours(48)).to_string();
    let patched = call(
        &emu,
        &tok,
        "PATCH",
        &format!("/subscriptions/{sub_id}"),
        &[],
        Some(json!({"expirationDateTime": renewed})),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        call(
            &emu,
            &tok,
            "DELETE",
            &format!("/subscriptions/{sub_id}"),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert!(emu.subscription_ids().is_empty());
    // The dispatcher counts a delivery once the receiver's answer is back.
    wait_until(|| emu.counters().notifications_delivered == 2).await;
    assert_eq!(emu.counters().notifications_failed, 0);
}

#[test]
fn cli_refuses_a_bad_fault_rate_naming_the_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(["emulate", "graph"])
        .env("GRAPH_EMULATOR_FAULT_RATE", "2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GRAPH_EMULATOR_FAULT_RATE: expected a number from 0 to 1, found 2"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
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
    assert_eq!(
        (gone.status.as_u16(), code(&gone)),
        (410, "SyncStateNotFound")
    );
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
    assert_eq!(
        (gone.status.as_u16(), code(&gone)),
        (410, "SyncStateNotFound")
    );
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
    assert_eq!(
        (denied.status.as_u16(), code(&denied)),
        (403, "ErrorAccessDenied")
    );
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
