//! Throttling and faults: the per-mailbox concurrency limit, the request budget per window, injected faults with every `Retry-After` variant, and held requests.

use graph_connector_emulator::graph::{EmulatorOptions, Faults, RetryAfter, spawn};
use reqwest::Client;
use serde_json::Value;

use super::{ANA, assert_graph_error, get, start, token, wait_until};

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
    emu.set_throttle(graph_connector_emulator::graph::ThrottleSettings {
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
    assert_graph_error(&over, 429, "ApplicationThrottled");
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
