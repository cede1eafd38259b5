//! Tokens and permissions: the Entra token endpoint's AADSTS answers, role checks per resource family, mailbox and access-policy refusals, and the request ids every answer carries.

use graph_connector_emulator::graph::{EmulatorOptions, Seed, spawn};
use reqwest::Client;
use serde_json::{Value, json};

use super::{ANA, assert_graph_error, call, get, start, token, token_with};

#[tokio::test]
async fn token_endpoint_answers_each_admin_mistake_with_its_aadsts_code() {
    let mut seed = Seed::sandbox();
    seed.apps[0]
        .secrets
        .push(graph_connector_emulator::graph::SecretSeed {
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
    assert_graph_error(&users, 403, "Authorization_RequestDenied");
    let events = get(&emu, &tok, "/users/ana@contoso.com/events").await;
    assert_graph_error(&events, 403, "ErrorAccessDenied");
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
    assert_graph_error(&garbage, 401, "InvalidAuthenticationToken");
    assert!(garbage.headers.contains_key("www-authenticate"));
    emu.advance_clock(jiff::SignedDuration::from_hours(2));
    let expired = get(&emu, &tok, "/users/ana@contoso.com/mailFolders/inbox").await;
    assert_graph_error(&expired, 401, "InvalidAuthenticationToken");
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
        assert_graph_error(&c, 403, "ErrorAccessDenied");
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
        assert_graph_error(&c, 403, "ErrorAccessDenied");
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
    assert_graph_error(&chloe, 404, "MailboxNotEnabledForRESTAPI");
    let eva = get(
        &emu,
        &tok,
        "/users/eva@fabrikam-partner.com/mailFolders/inbox",
    )
    .await;
    assert_graph_error(&eva, 404, "ErrorInvalidUser");
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
