//! Change notifications: the validation handshake, notification delivery and failures.

use graph_connector_emulator::graph::ItemKind;
use serde_json::{Value, json};

use super::{
    ANA, IMMUTABLE, assert_graph_error, call, start, start_with_loopback_webhooks, token,
    wait_until, webhook,
};

#[tokio::test]
async fn subscriptions_validate_the_endpoint_and_deliver_notifications() {
    let emu = start_with_loopback_webhooks().await;
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
        &[IMMUTABLE],
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

/// Issue 9: a notification or lifecycle URL that is not HTTPS is refused as Graph does (400
/// `InvalidRequest`), before any validation request; `allow_http_loopback_webhooks` (emulator only)
/// accepts `http://` on loopback and nothing else.
#[tokio::test]
async fn regression_issue_9_webhook_urls_must_be_https() {
    let (base, _) = webhook().await;
    let expires = |emu: &graph_connector_emulator::graph::GraphEmulator| {
        (emu.now() + jiff::SignedDuration::from_hours(24)).to_string()
    };
    let sub = |url: &str, lifecycle: &str, expires: &str| {
        json!({"changeType": "created", "notificationUrl": url, "lifecycleNotificationUrl": lifecycle,
            "resource": "users/ana@contoso.com/messages", "expirationDateTime": expires})
    };
    let hook = format!("{base}/hook");
    let strict = start().await;
    let tok = token(&strict).await;
    let refused = call(
        &strict,
        &tok,
        "POST",
        "/subscriptions",
        &[IMMUTABLE],
        Some(sub(&hook, &hook, &expires(&strict))),
    )
    .await;
    assert_graph_error(&refused, 400, "InvalidRequest");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("NotificationUrl scheme='http' is not supported."),
        "{message}"
    );
    assert!(
        message.contains("GRAPH_EMULATOR_ALLOW_HTTP_WEBHOOKS"),
        "{message}"
    );
    // An https URL passes the scheme check (here it then fails the validation request).
    let https = call(
        &strict,
        &tok,
        "POST",
        "/subscriptions",
        &[IMMUTABLE],
        Some(sub(
            "https://127.0.0.1:1/hook",
            "https://127.0.0.1:1/hook",
            &expires(&strict),
        )),
    )
    .await;
    assert_eq!(https.status, 400);
    assert!(
        https.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("validation"),
        "{}",
        https.body
    );

    let lenient = start_with_loopback_webhooks().await;
    let tok = token(&lenient).await;
    for (url, lifecycle, field) in [
        ("http://example.com/hook", hook.as_str(), "NotificationUrl"),
        (
            hook.as_str(),
            "http://example.com/lifecycle",
            "LifecycleNotificationUrl",
        ),
        ("ftp://127.0.0.1/hook", hook.as_str(), "NotificationUrl"),
    ] {
        let c = call(
            &lenient,
            &tok,
            "POST",
            "/subscriptions",
            &[IMMUTABLE],
            Some(sub(url, lifecycle, &expires(&lenient))),
        )
        .await;
        assert_graph_error(&c, 400, "InvalidRequest");
        assert!(
            c.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field} scheme=")),
            "{}",
            c.body
        );
    }
    let ok = call(
        &lenient,
        &tok,
        "POST",
        "/subscriptions",
        &[IMMUTABLE],
        Some(sub(&hook, &hook, &expires(&lenient))),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert!(strict.subscription_ids().is_empty());
}

/// Issue 9: notifications carry the id form the subscription was created with: immutable ids with
/// `Prefer: IdType="ImmutableId"`, regular ids (of the item's folder) without.
#[tokio::test]
async fn regression_issue_9_notifications_carry_the_id_form_the_subscription_asked_for() {
    let emu = start_with_loopback_webhooks().await;
    let tok = token(&emu).await;
    let (base, seen) = webhook().await;
    let expires = (emu.now() + jiff::SignedDuration::from_hours(24)).to_string();
    for (state, headers) in [("immutable", vec![IMMUTABLE]), ("regular", vec![])] {
        let body = json!({"changeType": "created", "notificationUrl": format!("{base}/hook"),
            "resource": "users/ana@contoso.com/messages", "expirationDateTime": expires, "clientState": state});
        let c = call(&emu, &tok, "POST", "/subscriptions", &headers, Some(body)).await;
        assert_eq!(c.status, 201, "{}", c.body);
    }
    let id = emu
        .add_item(
            ANA,
            ItemKind::Message,
            Some("inbox"),
            json!({"subject": "ids"}),
        )
        .unwrap();
    wait_until(|| seen.lock().unwrap().len() == 2).await;
    let notes: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b["value"].as_array().unwrap().clone())
        .collect();
    let by_state = |state: &str| {
        notes.iter().find(|n| n["clientState"] == state).unwrap()["resourceData"]["id"].clone()
    };
    assert_eq!(by_state("immutable"), id.as_str());
    assert_eq!(
        by_state("regular"),
        emu.regular_id(ANA, &id).unwrap().as_str()
    );
}
