//! JSON batching (`POST /$batch`): up to 20 sub-requests a call, answers matched by id, per-item status,
//! only throttled items re-sent.
//!
//! Graph runs a batch's sub-requests in parallel unless `dependsOn` chains them, but hands the Outlook
//! service at most four of them at a time, whatever their mailboxes (*Microsoft Graph throttling limits*),
//! and each counts against the mailbox limits with the app's other requests. So a parallel batch carries up
//! to 20 sub-requests and holds, per mailbox, as many permits as it has items there (at most 4); a
//! sequential batch chains every item to the previous one (and holds one permit per mailbox). Throttled
//! items (429, and in a sequential batch the 424s behind them) are re-sent after the largest `Retry-After`
//! of the round.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value};

use super::{
    error::{ApiError, DecodeError, GraphError, hint_for},
    http::{GraphHttp, Idempotency, Request},
    throttle::parse_retry_after,
    types::{BatchRequestBody, BatchRequestItem, BatchResponseBody, BatchResponseItem, ErrorBody},
};

/// Graph's cap on sub-requests per batch.
pub const MAX_BATCH: usize = 20;

/// How sub-requests of one batch relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// Independent requests, run in parallel by Graph.
    Parallel,
    /// Each request depends on the previous one (`dependsOn`): order matters.
    Sequential,
}

/// A successful sub-response.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReply {
    pub status: u16,
    pub headers: Map<String, Value>,
    pub body: Option<Value>,
}

/// Per-request results of a batch, in the order of the requests.
pub type BatchResults = Vec<Result<BatchReply, Box<ApiError>>>;

impl GraphHttp {
    /// Sends `requests` (paths relative to the graph url) through `$batch`, 20 at a time.
    pub async fn batch(
        &self,
        requests: &[Request],
        mode: BatchMode,
    ) -> Result<BatchResults, GraphError> {
        let mut results: Vec<Option<Result<BatchReply, Box<ApiError>>>> =
            vec![None; requests.len()];
        for chunk in chunks(requests) {
            self.run_chunk(requests, &chunk, mode, &mut results).await?;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every request of a batch gets a result"))
            .collect())
    }

    async fn run_chunk(
        &self,
        requests: &[Request],
        chunk: &[usize],
        mode: BatchMode,
        results: &mut [Option<Result<BatchReply, Box<ApiError>>>],
    ) -> Result<(), GraphError> {
        let mut pending: Vec<usize> = chunk.to_vec();
        let mut backoff = self.config.retry.backoff();
        let mut round = 0;
        while !pending.is_empty() {
            round += 1;
            let body = self.batch_body(requests, &pending, mode);
            let mut permits: BTreeMap<String, usize> = BTreeMap::new();
            for &i in &pending {
                if let Some(m) = &requests[i].mailbox {
                    *permits.entry(m.to_ascii_lowercase()).or_default() += 1;
                }
            }
            let per = self.limiter().per_mailbox();
            let mut envelope = Request::new(Method::POST, "/$batch", None).json(
                serde_json::to_value(&body)
                    .map_err(|e| GraphError::Invalid(format!("cannot encode a batch: {e}")))?,
            );
            // A batch is as idempotent as its least idempotent request: after an answer that does not
            // prove it was not run (5xx, 408, a lost connection), re-sending it could create items twice.
            if pending
                .iter()
                .any(|&i| requests[i].idempotency == Idempotency::NotIdempotent)
            {
                envelope = envelope.not_idempotent();
            }
            envelope.permits = permits
                .into_iter()
                .map(|(m, n)| {
                    (
                        m,
                        if mode == BatchMode::Sequential {
                            1
                        } else {
                            n.min(per)
                        },
                    )
                })
                .collect();
            let res = self.send(&envelope).await?;
            let parsed: BatchResponseBody = res.json("a $batch response {\"responses\": [...]}")?;
            let mut by_id: BTreeMap<String, BatchResponseItem> = parsed
                .responses
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();

            let mut retry = Vec::new();
            let mut wait = None;
            let mut throttled_before = false;
            for &i in &pending {
                let id = (i + 1).to_string();
                let Some(item) = by_id.remove(&id) else {
                    return Err(GraphError::Decode(Box::new(DecodeError {
                        method: "POST".into(),
                        url: "/$batch".into(),
                        expected: "one response per request id",
                        detail: format!("no response for request id {id}"),
                        request_id: res.request_id.clone(),
                        client_request_id: res.client_request_id.clone(),
                    })));
                };
                let headers = item.headers.clone().unwrap_or_default();
                let last_round = round >= self.config.retry.max_attempts;
                let throttled = item.status == 429
                    || (mode == BatchMode::Sequential && item.status == 424 && throttled_before);
                if item.status == 429 {
                    self.stats
                        .throttled
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    throttled_before = true;
                    let ra = header(&headers, "retry-after")
                        .and_then(|v| parse_retry_after(&v, self.clock.wall()));
                    wait = wait.max(ra);
                }
                if throttled && !last_round {
                    retry.push(i);
                    continue;
                }
                results[i] = Some(if (200..300).contains(&item.status) {
                    Ok(BatchReply {
                        status: item.status,
                        headers,
                        body: item.body,
                    })
                } else {
                    Err(Box::new(item_error(
                        &requests[i],
                        &item,
                        &headers,
                        round,
                        &res.client_request_id,
                    )))
                });
            }
            if !retry.is_empty() {
                let delay = self.config.retry.wait(wait, &mut backoff);
                tracing::warn!(
                    n = retry.len(),
                    wait_ms = delay.as_millis() as u64,
                    round,
                    "batch items throttled, re-sending them"
                );
                self.stats
                    .retries
                    .fetch_add(retry.len() as u64, std::sync::atomic::Ordering::Relaxed);
                self.clock.sleep(delay).await;
            }
            pending = retry;
        }
        Ok(())
    }

    fn batch_body(
        &self,
        requests: &[Request],
        pending: &[usize],
        mode: BatchMode,
    ) -> BatchRequestBody {
        let mut items = Vec::with_capacity(pending.len());
        let mut prev: Option<String> = None;
        for &i in pending {
            let r = &requests[i];
            let id = (i + 1).to_string();
            let mut headers = Map::new();
            headers.insert("Prefer".into(), Value::String(self.prefer(r)));
            if r.body.is_some() {
                headers.insert(
                    "Content-Type".into(),
                    Value::String("application/json".into()),
                );
            }
            if let Some(etag) = &r.if_match {
                headers.insert("If-Match".into(), Value::String(etag.clone()));
            }
            for (k, v) in &r.headers {
                headers.insert((*k).to_owned(), Value::String(v.clone()));
            }
            let depends_on = match mode {
                BatchMode::Sequential => prev.clone().map(|p| vec![p]),
                BatchMode::Parallel => None,
            };
            items.push(BatchRequestItem {
                id: id.clone(),
                method: r.method.to_string(),
                url: r.url.clone(),
                headers: Some(headers),
                body: r.body.clone(),
                depends_on,
            });
            prev = Some(id);
        }
        BatchRequestBody { requests: items }
    }
}

/// Splits request indexes into batches of at most 20, in order (a sequential batch's order matters).
pub fn chunks(requests: &[Request]) -> Vec<Vec<usize>> {
    (0..requests.len())
        .collect::<Vec<_>>()
        .chunks(MAX_BATCH)
        .map(<[usize]>::to_vec)
        .collect()
}

fn header(headers: &Map<String, Value>, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

fn item_error(
    req: &Request,
    item: &BatchResponseItem,
    headers: &Map<String, Value>,
    attempts: u32,
    batch_client_request_id: &str,
) -> ApiError {
    let parsed = item
        .body
        .clone()
        .and_then(|b| serde_json::from_value::<ErrorBody>(b).ok());
    let (code, message, inner) = match parsed {
        Some(b) => (b.error.code, b.error.message, b.error.inner_error),
        None => (String::new(), format!("status {}", item.status), None),
    };
    let request_id =
        header(headers, "request-id").or_else(|| inner.as_ref().and_then(|i| i.request_id.clone()));
    let client_request_id = inner
        .and_then(|i| i.client_request_id)
        .unwrap_or_else(|| batch_client_request_id.to_owned());
    ApiError {
        hint: hint_for(item.status, &code, &message, &req.url),
        method: req.method.to_string(),
        url: req.url.clone(),
        status: item.status,
        code,
        message,
        request_id,
        client_request_id,
        retry_after: header(headers, "retry-after")
            .and_then(|v| parse_retry_after(&v, std::time::SystemTime::now())),
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_carry_twenty_requests_whatever_their_mailboxes() {
        let reqs: Vec<Request> = (0..30)
            .map(|i| {
                Request::get(
                    format!("/users/u{}/events", i % 3),
                    Some(&format!("u{}", i % 3)),
                )
            })
            .collect();
        let chunks = chunks(&reqs);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![20, 10]
        );
        assert_eq!(chunks.concat(), (0..30).collect::<Vec<_>>());
    }
}
