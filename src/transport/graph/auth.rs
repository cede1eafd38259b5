//! Client-credentials tokens: one cached token per app and tenant, renewed before it expires and on a 401.
//!
//! Only one refresh runs at a time; callers that find the token stale wait for it. A 401 from Graph
//! invalidates exactly the token generation it was sent with, so concurrent 401s cause one refresh.

use std::{sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::{
    error::{GraphError, SecretShape, TokenError, TokenErrorKind},
    throttle::{RetryPolicy, is_retryable, parse_retry_after},
    types::{TokenErrorBody, TokenResponse},
};
use crate::transport::clock::Clock;

/// Renew this long before `expires_in` runs out (less for very short-lived tokens).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The app's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Full token URL, e.g. `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// `https://graph.microsoft.com/.default`.
    pub scope: String,
}

impl Credentials {
    /// Credentials for the public cloud's token endpoint (`authority` = `https://login.microsoftonline.com`).
    pub fn new(
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        client_secret: SecretString,
    ) -> Credentials {
        Credentials {
            token_url: format!(
                "{}/{tenant_id}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            scope: "https://graph.microsoft.com/.default".to_owned(),
        }
    }

    /// A secret ID is a GUID; a secret Value never is. Pasting the ID is the most common setup mistake.
    pub fn secret_shape(&self) -> SecretShape {
        let secret = self.client_secret.expose_secret();
        if uuid::Uuid::parse_str(secret.trim()).is_ok() {
            SecretShape::LooksLikeId
        } else if secret.trim() != secret {
            SecretShape::SurroundingWhitespace
        } else {
            SecretShape::Plausible
        }
    }
}

/// A bearer token and the generation it belongs to.
#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub generation: u64,
}

struct Cached {
    token: SecretString,
    generation: u64,
    refresh_at: tokio::time::Instant,
}

/// The token cache of one app and tenant.
pub struct TokenCache {
    http: reqwest::Client,
    creds: Credentials,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    state: Mutex<(Option<Cached>, u64)>,
}

impl TokenCache {
    pub fn new(
        http: reqwest::Client,
        creds: Credentials,
        clock: Arc<dyn Clock>,
        retry: RetryPolicy,
    ) -> TokenCache {
        TokenCache {
            http,
            creds,
            clock,
            retry,
            state: Mutex::new((None, 0)),
        }
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// A valid token: the cached one, or a fresh one when it is missing or due for renewal.
    pub async fn get(&self) -> Result<AccessToken, GraphError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.0
            && self.clock.now() < c.refresh_at
        {
            return Ok(AccessToken {
                token: c.token.clone(),
                generation: c.generation,
            });
        }
        let res = self.fetch().await?;
        state.1 += 1;
        let lifetime = Duration::from_secs(res.expires_in);
        // Renew 5 minutes early; a token living less than 10 minutes is renewed at half its life.
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let cached = Cached {
            token: SecretString::from(res.access_token),
            generation: state.1,
            refresh_at: self.clock.now() + (lifetime - margin),
        };
        let out = AccessToken {
            token: cached.token.clone(),
            generation: cached.generation,
        };
        state.0 = Some(cached);
        Ok(out)
    }

    /// Drops the token of `generation` after Graph answered 401 with it (no-op when already renewed).
    pub async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.0.as_ref().is_some_and(|c| c.generation == generation) {
            state.0 = None;
        }
    }

    async fn fetch(&self) -> Result<TokenResponse, GraphError> {
        let form = [
            ("client_id", self.creds.client_id.as_str()),
            ("client_secret", self.creds.client_secret.expose_secret()),
            ("scope", self.creds.scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let mut backoff = self.retry.backoff();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(&self.creds.token_url)
                .form(&form)
                .send()
                .await;
            let res = match sent {
                Ok(r) => r,
                Err(e) if attempt < self.retry.max_attempts => {
                    tracing::warn!(url = %self.creds.token_url, attempt, error = %e, "token endpoint unreachable, retrying");
                    self.clock.sleep(self.retry.wait(None, &mut backoff)).await;
                    continue;
                }
                Err(e) => {
                    return Err(GraphError::Token(Box::new(self.other_error(
                        0,
                        "unreachable",
                        format!("{e}"),
                    ))));
                }
            };
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, self.clock.wall()));
            let bytes = res.bytes().await.unwrap_or_default();
            if (200..300).contains(&status) {
                return serde_json::from_slice::<TokenResponse>(&bytes).map_err(|e| {
                    GraphError::Token(Box::new(self.other_error(
                        status,
                        "invalid_response",
                        format!("token response is not the documented JSON: {e}"),
                    )))
                });
            }
            if is_retryable(status) && attempt < self.retry.max_attempts {
                tracing::warn!(url = %self.creds.token_url, status, attempt, "token endpoint busy, retrying");
                self.clock
                    .sleep(self.retry.wait(retry_after, &mut backoff))
                    .await;
                continue;
            }
            let mut err = match serde_json::from_slice::<TokenErrorBody>(&bytes) {
                Ok(body) => TokenError::classify(
                    &self.creds.tenant_id,
                    &self.creds.client_id,
                    status,
                    &body,
                    self.creds.secret_shape(),
                ),
                Err(_) => self.other_error(
                    status,
                    "unexpected_response",
                    String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                ),
            };
            // The body is the endpoint's: it must not bring the secret into a message.
            let mut redactor = crate::redact::Redactor::new();
            redactor.add(self.creds.client_secret.expose_secret());
            err.description = redactor.redact(&err.description);
            err.error = redactor.redact(&err.error);
            tracing::error!(
                tenant = %self.creds.tenant_id, status, aadsts = ?err.aadsts,
                trace_id = ?err.trace_id, correlation_id = ?err.correlation_id, "token request refused"
            );
            return Err(GraphError::Token(Box::new(err)));
        }
    }

    fn other_error(&self, status: u16, error: &str, description: String) -> TokenError {
        TokenError {
            kind: TokenErrorKind::Other,
            tenant_id: self.creds.tenant_id.clone(),
            client_id: self.creds.client_id.clone(),
            status,
            error: error.to_owned(),
            aadsts: None,
            description,
            trace_id: None,
            correlation_id: None,
            hint: format!(
                "check that the token url {} is reachable and is the Entra ID token endpoint",
                self.creds.token_url
            ),
        }
    }
}
