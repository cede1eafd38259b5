//! Errors of the Graph transport, each rendered as one actionable line (what failed, why, the fix, request ids).
//!
//! The token endpoint's AADSTS codes and Graph's error codes are the setup guide's worst support cases; the
//! hints here name the admin action that fixes them. `diagnose` is what a `doctor` command prints.

use std::{fmt, time::Duration};

use super::throttle::is_retryable;
use crate::transport::Disposition;

/// Every failure of the Graph transport.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The token endpoint refused the client-credentials grant.
    #[error("{}", redacted(.0))]
    Token(Box<TokenError>),
    /// Graph answered with an error status (after retries where they apply).
    #[error("{}", redacted(.0))]
    Api(Box<ApiError>),
    /// No HTTP response at all (connection refused, reset, timeout).
    #[error("{}", redacted(.0))]
    Http(Box<HttpError>),
    /// A 2xx response whose body is not what Graph documents.
    #[error("{}", redacted(.0))]
    Decode(Box<DecodeError>),
    /// The caller asked for something the transport cannot do (bad config, bad item reference).
    #[error("{}", redacted(.0))]
    Invalid(String),
}

/// A message without secret-looking values: the texts of these errors quote response bodies, which a
/// hostile or misconfigured endpoint can fill with the request (client secret, bearer token).
fn redacted(e: &impl fmt::Display) -> String {
    crate::redact::redact_patterns(&e.to_string())
}

impl GraphError {
    /// The Graph error, when the failure is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GraphError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP status of a Graph error.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// Graph error code (`ErrorAccessDenied`, `SyncStateNotFound`…), when the failure is one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// True when a delta token or nextLink is no longer valid (410 `SyncStateNotFound`, `resyncRequired`).
    pub fn is_sync_state_lost(&self) -> bool {
        self.api().is_some_and(ApiError::is_sync_state_lost)
    }

    /// True for 404 `ErrorItemNotFound` / `itemNotFound` (and other 404s on an item).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404) && self.code() != Some("MailboxNotEnabledForRESTAPI")
    }

    /// What the sync runner does about this error (see [`Disposition`]). A refused token parks every
    /// mailbox (the app's credentials are wrong); a 404 naming the mailbox (`MailboxNotEnabledForRESTAPI`,
    /// `ErrorInvalidUser`, `Request_ResourceNotFound`) parks it, any other 404 is the item's.
    pub fn disposition(&self) -> Disposition {
        match self {
            GraphError::Token(e) => e.disposition(),
            GraphError::Api(e) => e.disposition(),
            GraphError::Http(_) => Disposition::Retry,
            GraphError::Decode(_) | GraphError::Invalid(_) => Disposition::FailItem,
        }
    }
}

/// No HTTP response at all.
#[derive(Debug, thiserror::Error)]
#[error(
    "{method} {url}: no response from graph: {source} (client-request-id {client_request_id}); fix: check that the graph and token urls are reachable from this host"
)]
pub struct HttpError {
    pub method: String,
    pub url: String,
    pub client_request_id: String,
    #[source]
    pub source: reqwest::Error,
}

/// A 2xx response whose body is not what Graph documents.
#[derive(Debug, thiserror::Error)]
#[error(
    "{method} {url}: unexpected response body, expected {expected}: {detail} (request-id {}, client-request-id {client_request_id})",
    request_id.as_deref().unwrap_or("-")
)]
pub struct DecodeError {
    pub method: String,
    pub url: String,
    pub expected: &'static str,
    pub detail: String,
    pub request_id: Option<String>,
    pub client_request_id: String,
}

/// One line a `doctor` command can print for any transport error: the cause and its fix.
pub fn diagnose(err: &GraphError) -> String {
    err.to_string()
}

/// A Graph error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub method: String,
    /// Path and query of the call (no host; tokens in delta links are opaque but harmless).
    pub url: String,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub client_request_id: String,
    /// How long Graph asked us to wait (429/503), when it said.
    pub retry_after: Option<Duration>,
    /// Attempts made before giving up (1 when the error is not retryable).
    pub attempts: u32,
    /// The fix, when the error is an admin mistake or a known condition.
    pub hint: Option<String>,
}

impl ApiError {
    /// See [`GraphError::disposition`].
    pub fn disposition(&self) -> Disposition {
        if self.is_sync_state_lost() {
            // The runner restarts the delta round; nothing for an admin or the item.
            return Disposition::Retry;
        }
        match (self.status, self.code.as_str()) {
            (
                404,
                "MailboxNotEnabledForRESTAPI" | "ErrorInvalidUser" | "Request_ResourceNotFound",
            ) => Disposition::ParkMailbox,
            (401 | 403, _) => Disposition::ParkMailbox,
            // The configured calendar window is too long: every round of every mailbox fails alike.
            (400, _) if self.message.contains("1825") => Disposition::ParkMailbox,
            // Throttling, server failures, and conflicts a later re-read resolves (409, 412).
            (408 | 409 | 412 | 429, _) | (500..=599, _) => Disposition::Retry,
            _ => Disposition::FailItem,
        }
    }

    /// 410 `SyncStateNotFound` or a `resyncRequired` code: the delta state is gone.
    pub fn is_sync_state_lost(&self) -> bool {
        self.status == 410
            || self.code.eq_ignore_ascii_case("SyncStateNotFound")
            || self.code.eq_ignore_ascii_case("resyncRequired")
            || self.code.eq_ignore_ascii_case("SyncStateInvalid")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message is the service's: secret-looking values in it never print (see `redacted`).
        f.write_str(&crate::redact::redact_patterns(&self.line()))
    }
}

impl ApiError {
    fn line(&self) -> String {
        use std::fmt::Write as _;
        let code = if self.code.is_empty() {
            "-"
        } else {
            &self.code
        };
        let mut out = format!(
            "{} {}: {} {}: {}",
            self.method,
            self.url,
            self.status,
            code,
            self.message.trim_end_matches('.')
        );
        if let Some(hint) = &self.hint {
            let _ = write!(out, "; fix: {hint}");
        }
        if self.attempts > 1 {
            let _ = write!(out, " (gave up after {} attempts)", self.attempts);
        }
        let _ = write!(
            out,
            " (request-id {}, client-request-id {})",
            self.request_id.as_deref().unwrap_or("-"),
            self.client_request_id
        );
        out
    }
}

/// The application permission a Graph call needs, from its path.
pub fn permission_for(path: &str) -> &'static str {
    let p = path.to_ascii_lowercase();
    let p = p.split('?').next().unwrap_or("");
    if p.contains("/mailboxsettings") {
        "MailboxSettings.Read"
    } else if p.contains("/messages") || p.contains("/mailfolders") {
        "Mail.ReadWrite"
    } else if p.contains("/events") || p.contains("/calendarview") || p.contains("/calendar") {
        "Calendars.ReadWrite"
    } else if p.contains("/contacts") || p.contains("/contactfolders") {
        "Contacts.ReadWrite"
    } else if p.contains("/todo/") || p.ends_with("/todo") {
        "Tasks.ReadWrite.All"
    } else {
        "User.Read.All (or Directory.Read.All)"
    }
}

/// The fix for a Graph error, when it is one the setup guide knows.
pub fn hint_for(status: u16, code: &str, message: &str, path: &str) -> Option<String> {
    let mailbox = mailbox_of(path);
    let lower_msg = message.to_ascii_lowercase();
    if status == 403
        && (lower_msg.contains("access to odata is disabled")
            || lower_msg.contains("[raop]")
            || lower_msg.contains("apponly accesspolicy"))
    {
        return Some(format!(
            "mailbox {} is outside the Exchange application access policy that restricts this app; add it to the \
             policy's mail-enabled security group (Get-ApplicationAccessPolicy / Test-ApplicationAccessPolicy in \
             Exchange Online PowerShell) or widen the policy; changes can take up to 24 hours",
            mailbox.unwrap_or("?")
        ));
    }
    match (status, code) {
        (403, "ErrorAccessDenied" | "accessDenied" | "Authorization_RequestDenied" | "") | (403, _) => {
            Some(format!(
                "the app lacks the application permission {} for this call, or admin consent was not granted; in \
                 Entra ID > App registrations > API permissions add it as an Application permission and click \
                 \"Grant admin consent\"",
                permission_for(path)
            ))
        }
        (404, "MailboxNotEnabledForRESTAPI") => Some(format!(
            "user {} has no Exchange Online mailbox (unlicensed, guest, soft-deleted or on-premises); assign an \
             Exchange Online license or turn the connector off for this user",
            mailbox.unwrap_or("?")
        )),
        (404, "ErrorInvalidUser" | "Request_ResourceNotFound") => Some(format!(
            "user {} does not exist in this tenant; check the rep's e-mail address in the CRM",
            mailbox.unwrap_or("?")
        )),
        (401, _) => Some(
            "Graph rejected the access token; check that tenant_id and the token url belong to the same tenant and \
             cloud as the graph url"
                .to_owned(),
        ),
        (410, _) => Some("the delta state expired; a full round for this folder/list/window is needed".to_owned()),
        (412, _) => Some("the item changed since it was read; re-read it and merge".to_owned()),
        (429 | 503 | 504, _) => Some(
            "Graph kept throttling or was unavailable; lower the number of mailboxes synced in parallel or retry later"
                .to_owned(),
        ),
        (400, _) if message.contains("1825") => Some(
            "the calendar window is longer than 1,825 days; shorten the configured sync window".to_owned(),
        ),
        _ => None,
    }
}

/// `{uid}` of a `/users/{uid}/...` path.
fn mailbox_of(path: &str) -> Option<&str> {
    let rest = path.split("/users/").nth(1)?;
    let uid = rest.split(['/', '?']).next()?;
    (!uid.is_empty()).then_some(uid)
}

/// What went wrong at the token endpoint, by AADSTS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorKind {
    /// AADSTS7000215: wrong secret (often the secret ID pasted instead of its value).
    WrongSecret,
    /// AADSTS7000222: the secret expired.
    ExpiredSecret,
    /// AADSTS7000218: no secret sent.
    NoSecret,
    /// AADSTS700016: app not found in the tenant (wrong client id or tenant, or no consent there).
    UnknownClient,
    /// AADSTS90002: the tenant does not exist.
    UnknownTenant,
    /// AADSTS900023: the tenant string is neither a GUID nor a domain.
    MalformedTenant,
    /// AADSTS1002012 / 70011: bad scope.
    BadScope,
    /// AADSTS500011: resource not in tenant.
    BadResource,
    /// AADSTS7000112: the application is disabled.
    AppDisabled,
    /// Anything else (including transport-level failures of the token endpoint).
    Other,
}

/// A refused client-credentials grant, with the admin's fix.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenError {
    pub kind: TokenErrorKind,
    pub tenant_id: String,
    pub client_id: String,
    pub status: u16,
    pub error: String,
    pub aadsts: Option<u64>,
    pub description: String,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub hint: String,
}

/// What the configured secret looks like (only its shape is inspected, never printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShape {
    Plausible,
    /// A GUID: a secret's ID, never its Value.
    LooksLikeId,
    /// Leading or trailing whitespace or a line break, usually from copy-paste.
    SurroundingWhitespace,
}

impl TokenError {
    /// Classifies a token error body; `secret` says what the configured secret looks like.
    pub fn classify(
        tenant_id: &str,
        client_id: &str,
        status: u16,
        body: &super::types::TokenErrorBody,
        secret: SecretShape,
    ) -> TokenError {
        let code = body.error_codes.first().copied().or_else(|| {
            let d = body.error_description.as_deref()?;
            let n = d.strip_prefix("AADSTS")?;
            n.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        });
        let (kind, hint) = match code {
            Some(7000215) if secret == SecretShape::SurroundingWhitespace => (
                TokenErrorKind::WrongSecret,
                "the configured client secret starts or ends with spaces or a line break (a copy-paste slip); \
                 remove them from the configuration"
                    .to_owned(),
            ),
            Some(7000215) if secret == SecretShape::LooksLikeId => (
                TokenErrorKind::WrongSecret,
                "the configured client secret is a GUID, i.e. the secret's ID was pasted instead of its Value; in \
                 Entra ID > App registrations > Certificates & secrets copy the Value column (shown only right \
                 after creation; create a new secret if it is hidden) into the configuration"
                    .to_owned(),
            ),
            Some(7000215) => (
                TokenErrorKind::WrongSecret,
                "the client secret is wrong; copy the secret's Value (not its Secret ID) from Entra ID > App \
                 registrations > Certificates & secrets, or create a new secret, and update the configuration"
                    .to_owned(),
            ),
            Some(7000222) => (
                TokenErrorKind::ExpiredSecret,
                "the client secret has expired; create a new client secret under Certificates & secrets of the app \
                 registration and put its Value into the configuration"
                    .to_owned(),
            ),
            Some(7000218) => (
                TokenErrorKind::NoSecret,
                "no client secret was sent; set the client secret in the configuration".to_owned(),
            ),
            Some(700016) => (
                TokenErrorKind::UnknownClient,
                format!(
                    "application {client_id} was not found in tenant {tenant_id}; check client_id (Application \
                     (client) ID) and tenant_id, and that an administrator of that tenant granted consent to the app"
                ),
            ),
            Some(90002) => (
                TokenErrorKind::UnknownTenant,
                format!(
                    "tenant {tenant_id} does not exist; set tenant_id to the Directory (tenant) ID shown in Entra ID \
                     (or a verified domain) and check the cloud of the token url"
                ),
            ),
            Some(900023) => (
                TokenErrorKind::MalformedTenant,
                format!("tenant {tenant_id:?} is neither a GUID nor a domain; fix tenant_id"),
            ),
            Some(1002012 | 70011) => (
                TokenErrorKind::BadScope,
                "the scope must be https://graph.microsoft.com/.default for app-only access".to_owned(),
            ),
            Some(500011) => (
                TokenErrorKind::BadResource,
                "the resource of the scope is not known in this tenant; check the graph url and scope".to_owned(),
            ),
            Some(7000112) => (
                TokenErrorKind::AppDisabled,
                "the application is disabled in this tenant; enable it in Entra ID > Enterprise applications"
                    .to_owned(),
            ),
            _ => (
                TokenErrorKind::Other,
                "check tenant_id, client_id and the client secret in the configuration".to_owned(),
            ),
        };
        TokenError {
            kind,
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            status,
            error: body.error.clone(),
            aadsts: code,
            description: body.error_description.clone().unwrap_or_default(),
            trace_id: body.trace_id.clone(),
            correlation_id: body.correlation_id.clone(),
            hint,
        }
    }
}

impl TokenError {
    /// See [`GraphError::disposition`]: an unreachable or busy token endpoint is transient, any refusal
    /// needs an admin (and parks every mailbox, since they all share the app's credentials).
    pub fn disposition(&self) -> Disposition {
        match self.kind {
            TokenErrorKind::Other if self.status == 0 || is_retryable(self.status) => {
                Disposition::Retry
            }
            _ => Disposition::ParkMailbox,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Entra appends "Trace ID: … Correlation ID: … Timestamp: …" (on new lines or the same one);
        // the ids are printed once at the end.
        let first_line = self.description.lines().next().unwrap_or("");
        let first_line = first_line.split(" Trace ID:").next().unwrap_or(first_line);
        let summary = match self.aadsts {
            Some(code) => {
                let text = first_line
                    .strip_prefix(&format!("AADSTS{code}:"))
                    .unwrap_or(first_line)
                    .trim()
                    .trim_end_matches('.');
                format!("AADSTS{code} {}: {text}", self.error)
            }
            None => format!("{} {}: {}", self.status, self.error, first_line.trim()),
        };
        let line = format!(
            "token request for tenant {} failed: {summary}; fix: {} (trace-id {}, correlation-id {})",
            self.tenant_id,
            self.hint,
            self.trace_id.as_deref().unwrap_or("-"),
            self.correlation_id.as_deref().unwrap_or("-")
        );
        // The description is the endpoint's: secret-looking values in it never print.
        f.write_str(&crate::redact::redact_patterns(&line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::graph::types::TokenErrorBody;

    fn body(code: u64, error: &str) -> TokenErrorBody {
        TokenErrorBody {
            error: error.to_owned(),
            error_description: Some(format!("AADSTS{code}: Something happened.\r\nTrace ID: x")),
            error_codes: vec![code],
            timestamp: None,
            trace_id: Some("t".into()),
            correlation_id: Some("c".into()),
            error_uri: None,
        }
    }

    #[test]
    fn secret_id_pasted_is_named() {
        let e = TokenError::classify(
            "ten",
            "cli",
            401,
            &body(7000215, "invalid_client"),
            SecretShape::LooksLikeId,
        );
        assert_eq!(e.kind, TokenErrorKind::WrongSecret);
        let line = e.to_string();
        assert!(
            line.contains("secret's ID was pasted instead of its Value"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
        let e = TokenError::classify(
            "ten",
            "cli",
            401,
            &body(7000215, "invalid_client"),
            SecretShape::SurroundingWhitespace,
        );
        assert!(e.to_string().contains("line break"), "{e}");
        let e = TokenError::classify(
            "ten",
            "cli",
            401,
            &body(7000215, "invalid_client"),
            SecretShape::Plausible,
        );
        assert!(
            e.to_string()
                .contains("copy the secret's Value (not its Secret ID)"),
            "{e}"
        );
    }

    #[test]
    fn forbidden_names_the_permission() {
        let hint = hint_for(
            403,
            "ErrorAccessDenied",
            "Access is denied.",
            "/users/a@b.c/todo/lists",
        )
        .unwrap();
        assert!(hint.contains("Tasks.ReadWrite.All"), "{hint}");
        let hint = hint_for(
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled.",
            "/users/a@b.c/events",
        )
        .unwrap();
        assert!(hint.contains("application access policy"), "{hint}");
        let hint = hint_for(
            404,
            "MailboxNotEnabledForRESTAPI",
            "x",
            "/users/a@b.c/mailboxSettings",
        )
        .unwrap();
        assert!(
            hint.contains("user a@b.c has no Exchange Online mailbox"),
            "{hint}"
        );
    }

    fn api(status: u16, code: &str, message: &str) -> GraphError {
        GraphError::Api(Box::new(ApiError {
            method: "GET".into(),
            url: "/users/ana@contoso.com/events/AAMk".into(),
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
            client_request_id: "c".into(),
            retry_after: None,
            attempts: 1,
            hint: None,
        }))
    }

    fn token(kind: TokenErrorKind, status: u16) -> GraphError {
        GraphError::Token(Box::new(TokenError {
            kind,
            tenant_id: "ten".into(),
            client_id: "cli".into(),
            status,
            error: "e".into(),
            aadsts: None,
            description: String::new(),
            trace_id: None,
            correlation_id: None,
            hint: "h".into(),
        }))
    }

    #[test]
    fn every_kind_has_a_disposition() {
        use Disposition::*;
        use TokenErrorKind::*;
        let no_response = reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("an invalid url");
        let cases = [
            // Token endpoint: refusals need an admin, an unreachable or busy endpoint does not.
            (token(WrongSecret, 401), ParkMailbox),
            (token(ExpiredSecret, 401), ParkMailbox),
            (token(NoSecret, 401), ParkMailbox),
            (token(UnknownClient, 400), ParkMailbox),
            (token(UnknownTenant, 400), ParkMailbox),
            (token(MalformedTenant, 400), ParkMailbox),
            (token(BadScope, 400), ParkMailbox),
            (token(BadResource, 400), ParkMailbox),
            (token(AppDisabled, 401), ParkMailbox),
            (token(Other, 400), ParkMailbox),
            (token(Other, 0), Retry),
            (token(Other, 503), Retry),
            // Graph errors.
            (api(401, "InvalidAuthenticationToken", ""), ParkMailbox),
            (
                api(403, "ErrorAccessDenied", "Access is denied."),
                ParkMailbox,
            ),
            (
                api(
                    403,
                    "ErrorAccessDenied",
                    "Access to OData is disabled: [RAOP]",
                ),
                ParkMailbox,
            ),
            (
                api(
                    404,
                    "MailboxNotEnabledForRESTAPI",
                    "REST API is not yet supported",
                ),
                ParkMailbox,
            ),
            (
                api(404, "ErrorInvalidUser", "The requested user is invalid"),
                ParkMailbox,
            ),
            (
                api(404, "Request_ResourceNotFound", "user not found"),
                ParkMailbox,
            ),
            (
                api(400, "ErrorInvalidRequest", "longer than 1825 days"),
                ParkMailbox,
            ),
            (
                api(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found",
                ),
                FailItem,
            ),
            (api(400, "ErrorInvalidProperty", "bad property"), FailItem),
            (api(413, "ErrorRequestEntityTooLarge", ""), FailItem),
            (api(422, "unprocessable", ""), FailItem),
            (api(410, "SyncStateNotFound", ""), Retry),
            (api(400, "resyncRequired", ""), Retry),
            (api(408, "RequestTimeout", ""), Retry),
            (api(409, "ErrorIrresolvableConflict", ""), Retry),
            (api(412, "ErrorIrresolvableConflict", ""), Retry),
            (api(429, "ApplicationThrottled", ""), Retry),
            (api(429, "MailboxConcurrency", ""), Retry),
            (api(500, "ErrorInternalServerError", ""), Retry),
            (api(502, "", ""), Retry),
            (api(503, "ServiceUnavailable", ""), Retry),
            (api(504, "", ""), Retry),
            // No response, an undocumented body, a bad request of the caller's.
            (
                GraphError::Http(Box::new(HttpError {
                    method: "GET".into(),
                    url: "/users".into(),
                    client_request_id: "c".into(),
                    source: no_response,
                })),
                Retry,
            ),
            (
                GraphError::Decode(Box::new(DecodeError {
                    method: "GET".into(),
                    url: "/users/ana/events/AAMk".into(),
                    expected: "an event",
                    detail: "missing field `id`".into(),
                    request_id: None,
                    client_request_id: "c".into(),
                })),
                FailItem,
            ),
            (GraphError::Invalid("bad item reference".into()), FailItem),
        ];
        for (err, expected) in cases {
            assert_eq!(err.disposition(), expected, "{err}");
        }
        // A mailbox without Exchange Online is never "item gone".
        let no_mailbox = api(404, "MailboxNotEnabledForRESTAPI", "");
        assert!(!no_mailbox.is_not_found());
        assert_eq!(no_mailbox.disposition(), ParkMailbox);
    }
}
