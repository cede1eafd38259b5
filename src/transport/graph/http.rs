//! One Graph request, done right: token, `Prefer` headers, request ids, per-mailbox cap, retries, error mapping.
//!
//! Every call of the client goes through `GraphHttp::send`. It holds a mailbox permit only while the
//! request is on the wire (never while sleeping), retries 429/503/504 (and 408/500/502) after
//! `Retry-After` or a jittered backoff, refreshes the token once on a 401, and turns any other failure
//! into an `ApiError` carrying `request-id`, `client-request-id` and the fix.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use reqwest::{Method, header::HeaderMap};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    auth::{Credentials, TokenCache},
    error::{ApiError, DecodeError, GraphError, HttpError, hint_for},
    throttle::{MailboxLimiter, RetryPolicy, is_ambiguous, is_retryable, parse_retry_after},
    types::{BodyType, ErrorBody},
};
use crate::transport::clock::{Clock, TokioClock};

/// Everything the HTTP client needs to know.
#[derive(Debug, Clone)]
pub struct GraphClientConfig {
    /// Base URL including the version, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    pub credentials: Credentials,
    /// `Prefer: outlook.timezone` (start/end of events, task dates).
    pub time_zone: String,
    /// `Prefer: outlook.body-content-type`.
    pub body_content_type: BodyType,
    /// `Prefer: odata.maxpagesize`.
    pub max_page_size: u32,
    /// Time zone assumed for a mailbox whose settings cannot be read (MailboxSettings.Read missing).
    pub default_mailbox_time_zone: String,
    /// Concurrent requests per mailbox (Graph's limit is 4).
    pub per_mailbox_concurrency: usize,
    pub retry: RetryPolicy,
    /// Per-attempt timeout; `None` for none (tests on paused time).
    pub request_timeout: Option<Duration>,
}

impl GraphClientConfig {
    /// Defaults of the setup guide for a graph url and credentials.
    pub fn new(graph_url: &str, credentials: Credentials) -> GraphClientConfig {
        GraphClientConfig {
            graph_url: graph_url.trim_end_matches('/').to_owned(),
            credentials,
            time_zone: "UTC".to_owned(),
            body_content_type: BodyType::Text,
            max_page_size: 100,
            default_mailbox_time_zone: "UTC".to_owned(),
            per_mailbox_concurrency: 4,
            retry: RetryPolicy::default(),
            request_timeout: Some(Duration::from_secs(100)),
        }
    }
}

/// Whether a request may be repeated after a response that does not prove it was not executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, deletes, PATCHes with `If-Match`, creates with `transactionId`: retry any transient failure.
    Idempotent,
    /// Creates without a dedup key: retry only failures that prove nothing happened (429, 401).
    NotIdempotent,
}

/// One Graph call.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// A path under the graph url (`/users/{id}/events`) or an absolute nextLink/deltaLink.
    pub url: String,
    /// The mailbox the call touches (its concurrency cap applies).
    pub mailbox: Option<String>,
    pub body: Option<Value>,
    pub if_match: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub idempotency: Idempotency,
    /// Override of `Prefer: outlook.timezone`.
    pub time_zone: Option<String>,
    /// Permits to hold instead of one for `mailbox` (a `$batch` touching several mailboxes).
    pub permits: Vec<(String, usize)>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>, mailbox: Option<&str>) -> Request {
        Request {
            method,
            url: url.into(),
            mailbox: mailbox.map(str::to_owned),
            body: None,
            if_match: None,
            headers: Vec::new(),
            idempotency: Idempotency::Idempotent,
            time_zone: None,
            permits: Vec::new(),
        }
    }

    pub fn get(url: impl Into<String>, mailbox: Option<&str>) -> Request {
        Request::new(Method::GET, url, mailbox)
    }

    pub fn json(mut self, body: Value) -> Request {
        self.body = Some(body);
        self
    }

    pub fn if_match(mut self, etag: Option<&str>) -> Request {
        self.if_match = etag.map(str::to_owned);
        self
    }

    pub fn not_idempotent(mut self) -> Request {
        self.idempotency = Idempotency::NotIdempotent;
        self
    }
}

/// A 2xx response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: Option<String>,
    pub client_request_id: String,
    pub method: String,
    pub url: String,
}

impl Response {
    /// Decodes the body as `T`, or says what was expected.
    pub fn json<T: DeserializeOwned>(&self, expected: &'static str) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            GraphError::Decode(Box::new(DecodeError {
                method: self.method.clone(),
                url: self.url.clone(),
                expected,
                detail: e.to_string(),
                request_id: self.request_id.clone(),
                client_request_id: self.client_request_id.clone(),
            }))
        })
    }
}

/// Counters of what the client did, for reports and benchmarks.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub unavailable: AtomicU64,
    pub token_refreshes_on_401: AtomicU64,
}

/// A snapshot of `ClientStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP attempts sent (retries included).
    pub requests: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
    /// 429 answers seen (also inside `$batch`).
    pub throttled: u64,
    /// 5xx / 408 answers seen.
    pub unavailable: u64,
    pub token_refreshes_on_401: u64,
}

/// The HTTP core shared by the client's operations.
pub struct GraphHttp {
    pub(crate) http: reqwest::Client,
    pub(crate) config: GraphClientConfig,
    pub(crate) tokens: TokenCache,
    pub(crate) limiter: MailboxLimiter,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) stats: ClientStats,
}

impl GraphHttp {
    /// Builds the client with tokio time and the process-wide mailbox limiter of this endpoint and app.
    pub fn new(config: GraphClientConfig) -> Result<GraphHttp, GraphError> {
        let key = format!(
            "{}|{}|{}",
            config.graph_url, config.credentials.tenant_id, config.credentials.client_id
        );
        let limiter = MailboxLimiter::shared(&key, config.per_mailbox_concurrency);
        GraphHttp::with_parts(config, Arc::new(TokioClock), limiter)
    }

    /// Builds the client with an explicit clock and limiter (tests, several clients sharing one cap).
    pub fn with_parts(
        config: GraphClientConfig,
        clock: Arc<dyn Clock>,
        limiter: MailboxLimiter,
    ) -> Result<GraphHttp, GraphError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("graph-connector/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30));
        if let Some(t) = config.request_timeout {
            builder = builder.timeout(t);
        }
        let http = builder
            .build()
            .map_err(|e| GraphError::Invalid(format!("cannot build the http client: {e}")))?;
        let tokens = TokenCache::new(
            http.clone(),
            config.credentials.clone(),
            clock.clone(),
            config.retry.clone(),
        );
        Ok(GraphHttp {
            http,
            config,
            tokens,
            limiter,
            clock,
            stats: ClientStats::default(),
        })
    }

    pub fn config(&self) -> &GraphClientConfig {
        &self.config
    }

    pub fn limiter(&self) -> &MailboxLimiter {
        &self.limiter
    }

    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.stats.requests.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            throttled: self.stats.throttled.load(Ordering::Relaxed),
            unavailable: self.stats.unavailable.load(Ordering::Relaxed),
            token_refreshes_on_401: self.stats.token_refreshes_on_401.load(Ordering::Relaxed),
        }
    }

    /// A token now (the `doctor` check of credentials).
    pub async fn check_token(&self) -> Result<(), GraphError> {
        self.tokens.get().await.map(|_| ())
    }

    /// Absolute URL of a path or link; links must stay on the configured Graph host (the token goes with them).
    pub fn absolute(&self, url: &str) -> Result<String, GraphError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            let base = url::Url::parse(&self.config.graph_url).map_err(|e| {
                GraphError::Invalid(format!(
                    "graph url {:?} is not a url: {e}",
                    self.config.graph_url
                ))
            })?;
            let link = url::Url::parse(url)
                .map_err(|e| GraphError::Invalid(format!("link {url:?} is not a url: {e}")))?;
            if base.origin() != link.origin() {
                return Err(GraphError::Invalid(format!(
                    "graph returned a link to another host ({url}); expected links under {}",
                    self.config.graph_url
                )));
            }
            Ok(url.to_owned())
        } else {
            let sep = if url.starts_with('/') { "" } else { "/" };
            Ok(format!("{}{sep}{url}", self.config.graph_url))
        }
    }

    pub(crate) fn prefer(&self, req: &Request) -> String {
        self.prefer_with(req, self.config.max_page_size)
    }

    fn prefer_with(&self, req: &Request, page_size: u32) -> String {
        let tz = req.time_zone.as_deref().unwrap_or(&self.config.time_zone);
        format!(
            "IdType=\"ImmutableId\", outlook.timezone=\"{tz}\", outlook.body-content-type=\"{}\", odata.maxpagesize={page_size}",
            self.config.body_content_type
        )
    }

    /// Sends `req` until it succeeds, fails for good, or the retry budget is spent.
    pub async fn send(&self, req: &Request) -> Result<Response, GraphError> {
        let url = self.absolute(&req.url)?;
        let shown = display_path(&url, &self.config.graph_url);
        let method = req.method.to_string();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut backoff = self.config.retry.backoff();
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        // Graph's advice for 504 (gateway timeout): ask for smaller pages.
        let mut page_size = self.config.max_page_size;
        loop {
            attempt += 1;
            let token = self.tokens.get().await?;
            let mut builder = self
                .http
                .request(req.method.clone(), &url)
                .bearer_auth(token.token.expose_secret())
                .header("Prefer", self.prefer_with(req, page_size))
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true");
            if let Some(etag) = &req.if_match {
                builder = builder.header("If-Match", etag);
            }
            for (k, v) in &req.headers {
                builder = builder.header(*k, v);
            }
            if let Some(body) = &req.body {
                builder = builder.json(body);
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut permit = Vec::new();
            if req.permits.is_empty() {
                if let Some(m) = &req.mailbox {
                    permit.push(self.limiter.acquire(m, 1).await);
                }
            } else {
                // Sorted by mailbox so two batches never wait on each other's half-acquired permits.
                let mut wanted = req.permits.clone();
                wanted.sort();
                for (m, n) in &wanted {
                    permit.push(self.limiter.acquire(m, *n).await);
                }
            }
            let sent = match builder.send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let headers = res.headers().clone();
                    res.bytes().await.map(|b| (status, headers, b))
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let (status, headers, body) = match sent {
                Ok(x) => x,
                Err(e) => {
                    let may_retry = req.idempotency == Idempotency::Idempotent || e.is_connect();
                    if may_retry && attempt < self.config.retry.max_attempts {
                        tracing::warn!(method, url = %shown, attempt, client_request_id, error = %e, "graph request failed, retrying");
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        self.clock
                            .sleep(self.config.retry.wait(None, &mut backoff))
                            .await;
                        continue;
                    }
                    tracing::error!(method, url = %shown, attempt, client_request_id, error = %e, "graph request failed");
                    return Err(GraphError::Http(Box::new(HttpError {
                        method,
                        url: shown,
                        client_request_id,
                        source: e,
                    })));
                }
            };
            let request_id = header(&headers, "request-id");
            if (200..300).contains(&status) {
                return Ok(Response {
                    status,
                    headers,
                    body,
                    request_id,
                    client_request_id,
                    method,
                    url: shown,
                });
            }
            if status == 401 && !refreshed {
                // One renewal per request: the token may have expired or been revoked since it was cached.
                refreshed = true;
                attempt -= 1;
                self.stats
                    .token_refreshes_on_401
                    .fetch_add(1, Ordering::Relaxed);
                self.tokens.invalidate(token.generation).await;
                tracing::info!(method, url = %shown, client_request_id, ?request_id, "graph answered 401, renewing the token");
                continue;
            }
            if status == 504 {
                page_size = (page_size / 2).max(1);
            }
            if status == 429 {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            } else if status >= 500 || status == 408 {
                self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            let retry_after = header(&headers, "retry-after")
                .and_then(|v| parse_retry_after(&v, self.clock.wall()));
            let may_retry = is_retryable(status)
                && (req.idempotency == Idempotency::Idempotent || !is_ambiguous(status))
                && attempt < self.config.retry.max_attempts;
            let (code, message, inner_request_id) = error_parts(&body);
            if may_retry {
                let wait = self.config.retry.wait(retry_after, &mut backoff);
                tracing::warn!(
                    method, url = %shown, status, code, attempt, wait_ms = wait.as_millis() as u64,
                    request_id = ?request_id.as_ref().or(inner_request_id.as_ref()), client_request_id,
                    "graph asked to retry"
                );
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                self.clock.sleep(wait).await;
                continue;
            }
            let err = ApiError {
                hint: hint_for(status, &code, &message, &shown),
                method,
                url: shown,
                status,
                code,
                message,
                request_id: request_id.or(inner_request_id),
                client_request_id,
                retry_after,
                attempts: attempt,
            };
            if status == 404 || status == 410 || status == 412 {
                tracing::debug!(error = %err, "graph error");
            } else {
                tracing::warn!(error = %err, request_id = ?err.request_id, client_request_id = %err.client_request_id, "graph error");
            }
            return Err(GraphError::Api(Box::new(err)));
        }
    }

    /// `send` + decode the 2xx body.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        req: &Request,
        expected: &'static str,
    ) -> Result<T, GraphError> {
        self.send(req).await?.json(expected)
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `code`, `message` and `innerError.request-id` of an error body (empty when it is not Graph's envelope).
pub(crate) fn error_parts(body: &[u8]) -> (String, String, Option<String>) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (
            b.error.code,
            b.error.message,
            b.error.inner_error.and_then(|i| i.request_id),
        ),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
            None,
        ),
    }
}

/// The part of a URL after the graph base, for messages (`/users/{id}/events?...`).
fn display_path(url: &str, base: &str) -> String {
    url.strip_prefix(base)
        .map_or_else(|| url.to_owned(), str::to_owned)
}

/// Percent-encodes an OData query value (spaces as `%20`, OData punctuation kept readable).
pub fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b'\''
            | b'('
            | b')'
            | b','
            | b':'
            | b'@'
            | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `path?k=v&…` with encoded values.
pub fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect();
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{}", q.join("&"))
}

/// Encodes an id or UPN for use as a path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' | b'=' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_readably() {
        assert_eq!(
            with_query(
                "/users",
                &[
                    ("$filter", "endswith(mail,'@contoso.com')"),
                    ("$top", "999")
                ]
            ),
            "/users?$filter=endswith(mail,'@contoso.com')&$top=999"
        );
        assert_eq!(encode_query_value("a eq 'b c'"), "a%20eq%20'b%20c'");
        assert_eq!(seg("AAMk+/x=="), "AAMk%2B%2Fx==");
    }

    #[test]
    fn error_parts_read_the_envelope() {
        let (code, msg, rid) = error_parts(
            br#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied.","innerError":{"request-id":"r1"}}}"#,
        );
        assert_eq!(
            (code.as_str(), msg.as_str(), rid.as_deref()),
            ("ErrorAccessDenied", "Access is denied.", Some("r1"))
        );
    }
}
