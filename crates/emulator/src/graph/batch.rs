//! JSON batching (`POST /v1.0/$batch`): up to 20 sub-requests, `dependsOn` ordering with 424 for
//! dependents of a failed request, per-item status (429s included) and responses out of order.
//!
//! Graph hands the Outlook service at most four requests of one batch at a time, whatever their
//! mailboxes (*Microsoft Graph throttling limits*, Outlook service), so a batch alone stays within a
//! mailbox's concurrency limit; its items still count against that limit with the app's other
//! requests to the mailbox.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

use crate::lock;

use super::{
    http::{self, Req, Resp, err},
    wire::Shared,
};

/// The request pipeline each item runs through (`router::graph`), passed in so `$batch` does not
/// depend on the router that dispatches to it.
pub type Pipeline = fn(Arc<Shared>, Req, bool) -> Pin<Box<dyn Future<Output = Resp> + Send>>;

struct Item {
    id: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(body: Option<&Value>) -> Result<Vec<Item>, String> {
    let requests = body
        .and_then(|b| b.get("requests"))
        .and_then(Value::as_array)
        .ok_or("Invalid batch payload format: expected {\"requests\": [...]}.")?;
    if requests.is_empty() {
        return Err("Invalid batch payload format: the requests array is empty.".into());
    }
    if requests.len() > 20 {
        return Err(format!(
            "Number of requests in a batch ({}) exceeds the limit of 20.",
            requests.len()
        ));
    }
    let mut out: Vec<Item> = Vec::new();
    for (n, r) in requests.iter().enumerate() {
        let id = match r.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => {
                return Err(format!(
                    "Invalid batch payload format: requests[{n}] has no id."
                ));
            }
        };
        if out.iter().any(|i| i.id == id) {
            return Err(format!(
                "Invalid batch payload format: request id '{id}' is used twice."
            ));
        }
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .ok_or(format!(
                "Invalid batch payload format: request '{id}' has no method."
            ))?
            .to_ascii_uppercase();
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .ok_or(format!(
                "Invalid batch payload format: request '{id}' has no url."
            ))?
            .to_owned();
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err(format!(
                "Invalid batch payload format: request '{id}' url must be relative, such as /users/{{id}}/events."
            ));
        }
        let headers: Vec<(String, String)> = r
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| {
                        (
                            k.to_ascii_lowercase(),
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = r.get("body").cloned();
        if body.is_some() && !headers.iter().any(|(k, _)| k == "content-type") {
            return Err(format!(
                "Invalid batch payload format: request '{id}' has a body but no Content-Type header."
            ));
        }
        let depends_on: Vec<String> = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for d in &depends_on {
            if !out.iter().any(|i| &i.id == d) {
                return Err(format!(
                    "Invalid batch payload format: request '{id}' depends on '{d}', which is not an earlier request of the batch."
                ));
            }
        }
        out.push(Item {
            id,
            method,
            url,
            headers,
            body,
            depends_on,
        });
    }
    Ok(out)
}

/// How many mailbox requests of one batch Graph runs at a time.
pub const OUTLOOK_PARALLELISM: usize = 4;

/// Runs a `$batch` envelope.
pub async fn run(shared: Arc<Shared>, outer: &Req, pipeline: Pipeline) -> Resp {
    let outlook = Arc::new(tokio::sync::Semaphore::new(OUTLOOK_PARALLELISM));
    if outer.method != "POST" {
        return err::method_not_allowed();
    }
    let items = match parse(outer.body.as_ref()) {
        Ok(i) => i,
        Err(m) => return err::bad_request(m),
    };
    let auth = outer.header("authorization").map(str::to_owned);
    let mut done: HashMap<String, u16> = HashMap::new();
    let mut responses: Vec<Value> = Vec::new();
    let mut pending: Vec<&Item> = items.iter().collect();
    while !pending.is_empty() {
        let (ready, wait): (Vec<&Item>, Vec<&Item>) = pending
            .into_iter()
            .partition(|i| i.depends_on.iter().all(|d| done.contains_key(d)));
        pending = wait;
        let mut runs = Vec::new();
        for item in ready {
            if let Some(failed) = item.depends_on.iter().find(|d| done[*d] >= 400) {
                let r = Resp::error(
                    424,
                    "FailedDependency",
                    format!("The request depends on request '{failed}', which failed."),
                )
                .finish(
                    &outer.request_id,
                    &outer.client_request_id,
                    shared.clock.now(),
                );
                done.insert(item.id.clone(), 424);
                responses.push(item_json(&item.id, r));
                continue;
            }
            let (path, query) = match item.url.split_once('?') {
                Some((p, q)) => (p.to_owned(), q.to_owned()),
                None => (item.url.clone(), String::new()),
            };
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            let mut headers = item.headers.clone();
            if let Some(a) = &auth {
                headers.push(("authorization".into(), a.clone()));
            }
            let sub = Req {
                method: item.method.clone(),
                segments: http::split_segments(&path),
                raw_path: path.clone(),
                query: http::parse_query(&query),
                headers,
                body: item.body.clone(),
                request_id: outer.request_id.clone(),
                client_request_id: outer.client_request_id.clone(),
            };
            let id = item.id.clone();
            let shared2 = shared.clone();
            // Mailbox calls (`/users/{id}/…`) wait for one of the batch's four slots.
            let mailbox_call =
                sub.segments.len() >= 3 && sub.segments[0].eq_ignore_ascii_case("users");
            let slots = outlook.clone();
            runs.push(async move {
                let _slot = match mailbox_call {
                    true => slots.acquire_owned().await.ok(),
                    false => None,
                };
                (id, pipeline(shared2, sub, true).await)
            });
        }
        for (id, r) in futures::future::join_all(runs).await {
            let r = r.finish(
                &outer.request_id,
                &outer.client_request_id,
                shared.clock.now(),
            );
            done.insert(id.clone(), r.status);
            responses.push(item_json(&id, r));
        }
    }
    {
        let mut t = lock(&shared.throttle);
        responses.shuffle(&mut t.rng);
    }
    Resp::ok(json!({"responses": responses}))
}

fn item_json(id: &str, r: Resp) -> Value {
    let mut headers = Map::new();
    for (k, v) in r.headers {
        if matches!(
            k.to_ascii_lowercase().as_str(),
            "request-id" | "client-request-id" | "x-ms-ags-diagnostic"
        ) {
            continue;
        }
        headers.insert(k, Value::String(v));
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("status".into(), json!(r.status));
    m.insert("headers".into(), Value::Object(headers));
    if let Some(b) = r.body {
        m.insert("body".into(), b);
    }
    Value::Object(m)
}
