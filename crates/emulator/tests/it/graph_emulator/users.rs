//! Users and mailbox settings: paging and advanced filters on `/users`, and `mailboxSettings` reads and patches.

use serde_json::json;

use super::{assert_graph_error, call, get, start, token};

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
    assert_graph_error(&refused, 400, "Request_UnsupportedQuery");
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
    assert_graph_error(&denied, 403, "ErrorAccessDenied");
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
        assert_graph_error(&c, 400, want);
    }
    assert_eq!(
        get(&emu, &tok, settings).await.body["timeZone"],
        "Pacific Standard Time"
    );
}
