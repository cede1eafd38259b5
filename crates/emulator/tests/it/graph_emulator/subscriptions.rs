//! Change notifications: the validation handshake, notification delivery and failures.

use graph_connector_emulator::graph::ItemKind;
use serde_json::{Value, json};

use super::{ANA, IMMUTABLE, call, start, token, wait_until, webhook};

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
