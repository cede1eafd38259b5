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
}

/// Issue 9: Graph runs at most four requests of a batch against the Outlook service at a time, so
/// a batch of 20 reads of one mailbox is not throttled for its size; its items still count against
/// the mailbox's limit with the app's other requests.
#[tokio::test]
async fn regression_issue_9_a_batch_runs_four_mailbox_items_at_a_time() {
    let emu = start().await;
    let tok = token(&emu).await;
    let batch = |n: usize| {
        let reads = json!({"requests": (0..n).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users/ben@contoso.com/mailFolders/inbox"})).collect::<Vec<_>>()});
        let (url, tok) = (emu.graph_url(), tok.clone());
        tokio::spawn(async move {
            Client::new()
                .post(format!("{url}/$batch"))
                .bearer_auth(tok)
                .json(&reads)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let statuses = |body: &Value| -> Vec<u64> {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    };

    emu.hold_requests();
    let twenty = batch(20);
    emu.wait_for_in_flight("ben@contoso.com", 4).await.unwrap();
    emu.release_requests();
    let body = twenty.await.unwrap();
    assert_eq!(statuses(&body), vec![200; 20], "{body}");
    let counters = emu.counters();
    assert_eq!(counters.concurrency_429, 0);
    assert_eq!(counters.max_in_flight["ben@contoso.com"], 4);

    // Two reads of the mailbox outside the batch are held; of the batch's four, two fit.
    emu.hold_requests();
    let singles: Vec<_> = (0..2)
        .map(|_| {
            let (url, tok) = (emu.graph_url(), tok.clone());
            tokio::spawn(async move {
                Client::new()
                    .get(format!("{url}/users/ben@contoso.com/mailFolders/inbox"))
                    .bearer_auth(tok)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    emu.wait_for_in_flight("ben@contoso.com", 2).await.unwrap();
    let four = batch(4);
    wait_until(|| emu.counters().concurrency_429 >= 2).await;
    emu.release_requests();
    let body = four.await.unwrap();
    for s in singles {
        assert_eq!(s.await.unwrap(), 200);
    }
    let mut got = statuses(&body);
    got.sort_unstable();
    assert_eq!(got, [200, 200, 429, 429], "{body}");
    assert!(
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == 429)
            .all(|r| r["headers"]["Retry-After"].is_string())
    );
}
