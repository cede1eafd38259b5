//! JSON batching: `dependsOn` ordering, 424 for dependents of a failure, and refused envelopes.

use reqwest::Client;
use serde_json::{Value, json};

use super::{call, start, token, wait_until};

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
