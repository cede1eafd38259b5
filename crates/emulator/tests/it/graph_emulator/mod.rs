//! The Graph emulator answers like Graph, driven over plain HTTP: one module per concern, and the one
//! way to start it, get a token, send a request, check an error and page a delta round.

mod auth;
mod batch;
mod calendar;
mod corpus;
mod delta;
mod folders;
mod items;
mod odata_filter;
mod seed;
mod subscriptions;
mod throttling;
mod users;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use graph_connector_emulator::graph::{EmulatorOptions, GraphEmulator, spawn};
use reqwest::{Client, StatusCode};
use serde_json::Value;

pub(crate) const ANA: &str = "ana@contoso.com";

/// The header a client that keeps ids sends: immutable ids, which survive moves (the emulator's
/// helpers such as `add_item` and `items` name items by them).
pub(crate) const IMMUTABLE: (&str, &str) = ("Prefer", "IdType=\"ImmutableId\"");
/// `Prefer` of a delta round with immutable ids, ten items a page.
pub(crate) const IMMUTABLE_PAGES: &str = "IdType=\"ImmutableId\", odata.maxpagesize=10";

/// An emulator with the sandbox seed on a free loopback port.
pub(crate) async fn start() -> GraphEmulator {
    spawn(EmulatorOptions::default())
        .await
        .expect("emulator starts")
}

/// An emulator with the sandbox seed that accepts `http://` webhook URLs on loopback (the test
/// receivers have no certificate; Graph takes HTTPS only).
pub(crate) async fn start_with_loopback_webhooks() -> GraphEmulator {
    spawn(EmulatorOptions {
        allow_http_loopback_webhooks: true,
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts")
}

/// Posts a token request form, to the seed tenant's endpoint or to `tenant`'s.
pub(crate) async fn token_with(
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

/// An access token of the seed's app, with the roles it has now.
pub(crate) async fn token(emu: &GraphEmulator) -> String {
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

/// One Graph answer; `request` names the call for failure messages.
pub(crate) struct Call {
    pub request: String,
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// Sends one Graph request; `path` is relative to `/v1.0` or a whole URL (a nextLink).
pub(crate) async fn call(
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
    let request = match &body {
        Some(b) => format!("{method} {url} {b}"),
        None => format!("{method} {url}"),
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
        request,
        status,
        headers,
        body,
    }
}

pub(crate) async fn get(emu: &GraphEmulator, tok: &str, path: &str) -> Call {
    call(emu, tok, "GET", path, &[], None).await
}

/// Asserts Graph's error envelope: this status and `error.code`.
#[track_caller]
pub(crate) fn assert_graph_error(res: &Call, status: u16, code: &str) {
    let found = res.body["error"]["code"].as_str().unwrap_or("");
    assert_eq!(
        (res.status.as_u16(), found),
        (status, code),
        "{}: {}",
        res.request,
        res.body
    );
}

/// Pages a delta round to its end: every page, and the deltaLink.
pub(crate) async fn delta_pages(
    emu: &GraphEmulator,
    tok: &str,
    first: &str,
    prefer: &str,
) -> (Vec<Value>, String) {
    let mut url = first.to_owned();
    let mut pages = Vec::new();
    loop {
        let c = call(emu, tok, "GET", &url, &[("Prefer", prefer)], None).await;
        assert_eq!(c.status, 200, "{}: {}", c.request, c.body);
        let next = c.body["@odata.nextLink"].as_str().map(str::to_owned);
        let delta = c.body["@odata.deltaLink"].as_str().map(str::to_owned);
        pages.push(c.body);
        match (next, delta) {
            (Some(next), _) => url = next,
            (None, Some(delta)) => return (pages, delta),
            (None, None) => panic!("{url}: a page with neither nextLink nor deltaLink"),
        }
    }
}

/// A delta round's items (pages concatenated), its deltaLink and its page count.
pub(crate) async fn delta_round(
    emu: &GraphEmulator,
    tok: &str,
    first: &str,
    prefer: &str,
) -> (Vec<Value>, String, usize) {
    let (pages, link) = delta_pages(emu, tok, first, prefer).await;
    let items = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().iter().cloned())
        .collect();
    (items, link, pages.len())
}

/// The ids of the items that are not `@removed`.
pub(crate) fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_none())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..4000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached within 20 s");
}

/// Notifications a webhook receiver got.
pub(crate) type Seen = Arc<Mutex<Vec<Value>>>;

/// A webhook receiver on loopback: echoes validation tokens, records notifications.
pub(crate) async fn webhook() -> (String, Seen) {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
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
