//! The Entra v2.0 token endpoint (client credentials) with its AADSTS errors, and bearer checks.
//!
//! Tokens are JWT-shaped (header.payload.signature, base64url) and carry `aud`, `tid`, `appid`,
//! `exp` and `roles`; the emulator remembers what it issued, so a forged or foreign token is
//! rejected with 401 InvalidAuthenticationToken like a bad signature would be.

use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::lock;

use super::{
    http::{Req, Resp},
    store::{Store, TokenInfo},
    wire::{Shared, fault_response},
};

const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// What an Entra answer names besides its verdict: the clock, its `x-ms-request-id` (the
/// body's `trace_id`) and the correlation id (the caller's `client-request-id` when sent).
struct Ctx {
    now: Timestamp,
    trace_id: String,
    correlation_id: String,
}

/// AADSTS70011: a scope that is not one `{resource}/.default` value.
fn invalid_scope(scope: &str, ctx: &Ctx) -> Resp {
    aad_error(
        400,
        "invalid_scope",
        70011,
        &format!(
            "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        ),
        ctx,
    )
}

fn aad_error(status: u16, error: &str, code: u32, text: &str, ctx: &Ctx) -> Resp {
    let trace = &ctx.trace_id;
    let corr = &ctx.correlation_id;
    let ts = ctx.now.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
    Resp::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
    .with_header("Content-Type", "application/json; charset=utf-8")
}

fn is_domain(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// `POST /{tenant}/oauth2/v2.0/token`, answered with Entra's headers (not Graph's): see
/// [`entra_headers`].
pub async fn token_endpoint(
    shared: &Shared,
    method: &axum::http::Method,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let sent_client_request_id = headers
        .iter()
        .find(|(k, _)| k == "client-request-id")
        .map(|(_, v)| v.clone());
    let ctx = Ctx {
        now: shared.clock.now(),
        trace_id: uuid::Uuid::new_v4().to_string(),
        correlation_id: sent_client_request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let r = {
        let mut t = lock(&shared.throttle);
        t.counters.requests += 1;
        *t.counters
            .per_endpoint
            .entry("POST /{tenant}/oauth2/v2.0/token".into())
            .or_insert(0) += 1;
        if t.faults.include_token
            && let Some((status, retry)) = t.draw_fault()
        {
            let mut r = fault_response(status, retry);
            r.body = Some(
                json!({"error": "temporarily_unavailable", "error_description": "AADSTS50196: The server terminated an operation because it encountered a client request loop. (emulated fault)", "error_codes": [50196], "trace_id": ctx.trace_id, "correlation_id": ctx.correlation_id}),
            );
            r.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            Some(r.with_header("Content-Type", "application/json; charset=utf-8"))
        } else {
            None
        }
    };
    let r = match r {
        Some(fault) => fault,
        None => {
            let r = token(shared, method, path, headers, body, &ctx);
            let mut t = lock(&shared.throttle);
            *t.counters.statuses.entry(r.status).or_insert(0) += 1;
            r
        }
    };
    entra_headers(r, &ctx.trace_id, sent_client_request_id.as_deref())
}

/// Entra's response headers: `x-ms-request-id` (the body's `trace_id`), `client-request-id`
/// only when the caller sent one, `x-ms-ests-server` and no-store caching; never Graph's
/// `request-id` or `x-ms-ags-diagnostic`.
fn entra_headers(mut r: Resp, trace_id: &str, client_request_id: Option<&str>) -> Resp {
    r.headers
        .push(("x-ms-request-id".into(), trace_id.to_owned()));
    if let Some(id) = client_request_id {
        r.headers.push(("client-request-id".into(), id.to_owned()));
    }
    r.headers.push((
        "x-ms-ests-server".into(),
        "2.1.19344.4 - Loopback ProdSlices (emulator)".into(),
    ));
    r.headers
        .push(("Cache-Control".into(), "no-store, no-cache".into()));
    r.headers.push(("Pragma".into(), "no-cache".into()));
    r.headers.push(("Expires".into(), "-1".into()));
    r.headers
        .push(("X-Content-Type-Options".into(), "nosniff".into()));
    r
}

fn token(
    shared: &Shared,
    method: &axum::http::Method,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    ctx: &Ctx,
) -> Resp {
    let now = ctx.now;
    let tenant = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    if method != axum::http::Method::POST {
        return aad_error(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests. Received a GET request.",
            ctx,
        );
    }
    let form_ok = headers.iter().any(|(k, v)| {
        k == "content-type"
            && v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    });
    if !form_ok {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
            ctx,
        );
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut store = lock(&shared.store);
    let guid = uuid::Uuid::parse_str(&tenant).is_ok();
    if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations") {
        return aad_error(
            400,
            "invalid_request",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory 'common'. Use a tenant-specific endpoint for the client credentials flow.",
                get("client_id").unwrap_or_default()
            ),
            ctx,
        );
    }
    if !guid && !is_domain(&tenant) {
        return aad_error(
            400,
            "invalid_request",
            900023,
            &format!(
                "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."
            ),
            ctx,
        );
    }
    let known = tenant.eq_ignore_ascii_case(&store.tenant_id)
        || store
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&tenant));
    if !known {
        return aad_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
            ctx,
        );
    }
    match get("grant_type").as_deref() {
        Some("client_credentials") => {}
        None => {
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
                ctx,
            );
        }
        Some(other) => {
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
                ctx,
            );
        }
    }
    let Some(client_id) = get("client_id") else {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
            ctx,
        );
    };
    let Some(app_index) = store
        .apps
        .iter()
        .position(|a| a.client_id.eq_ignore_ascii_case(&client_id))
    else {
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
            ctx,
        );
    };
    let app = store.apps[app_index].clone();
    let Some(scope) = get("scope") else {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
            ctx,
        );
    };
    if scope.split_whitespace().count() != 1 {
        return invalid_scope(&scope, ctx);
    }
    match scope.strip_suffix("/.default") {
        Some(resource)
            if resource
                .trim_end_matches('/')
                .eq_ignore_ascii_case(GRAPH_RESOURCE)
                || resource == "00000003-0000-0000-c000-000000000000" => {}
        Some(resource) if resource.starts_with("https://") || resource.starts_with("api://") => {
            return aad_error(
                400,
                "invalid_resource",
                500011,
                &format!(
                    "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
                ),
                ctx,
            );
        }
        Some(_) => {
            return invalid_scope(&scope, ctx);
        }
        None => {
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                &format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
                ctx,
            );
        }
    }
    if app.disabled {
        return aad_error(
            400,
            "unauthorized_client",
            7000112,
            &format!(
                "Application '{}'({}) is disabled.",
                app.client_id, app.display_name
            ),
            ctx,
        );
    }
    let Some(secret) = get("client_secret") else {
        if get("client_assertion").is_some() {
            return aad_error(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation. (The emulator accepts client secrets only.)",
                ctx,
            );
        }
        return aad_error(
            400,
            "invalid_request",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ctx,
        );
    };
    let Some(matched) = app.secrets.iter().find(|s| s.1 == secret) else {
        return aad_error(
            401,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
            ctx,
        );
    };
    if matched.2.is_some_and(|exp| exp <= now) {
        return aad_error(
            401,
            "invalid_client",
            7000222,
            &format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                app.client_id
            ),
            ctx,
        );
    }
    let lifetime = shared.token_lifetime.as_secs() as i64;
    let exp = now + jiff::SignedDuration::from_secs(lifetime);
    let token = issue(&mut store, app_index, &app.roles, now, exp);
    Resp::json(
        200,
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
    )
    .with_header("Content-Type", "application/json; charset=utf-8")
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn issue(
    store: &mut Store,
    app: usize,
    roles: &[String],
    now: Timestamp,
    exp: Timestamp,
) -> String {
    let a = &store.apps[app];
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator"});
    let mut payload = json!({
        "aud": GRAPH_RESOURCE,
        "iss": format!("https://sts.windows.net/{}/", store.tenant_id),
        "iat": now.as_second(),
        "nbf": now.as_second(),
        "exp": exp.as_second(),
        "app_displayname": a.display_name,
        "appid": a.client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": a.client_id,
        "sub": a.client_id,
        "tid": store.tenant_id,
        "ver": "1.0",
    });
    if !roles.is_empty() {
        payload["roles"] = json!(roles);
    }
    let sig = store.change_key();
    let token = format!(
        "{}.{}.{}",
        b64(&header),
        b64(&payload),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    );
    store.tokens.insert(
        token.clone(),
        TokenInfo {
            app,
            roles: roles.to_vec(),
            expires: exp,
        },
    );
    token
}

/// Checks `Authorization: Bearer …`; a 401 InvalidAuthenticationToken when it fails.
pub fn authenticate(store: &Store, req: &Req, now: Timestamp) -> Result<TokenInfo, Resp> {
    let unauthorized = |msg: &str| {
        Resp::error(401, "InvalidAuthenticationToken", msg).with_header(
            "WWW-Authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        )
    };
    let Some(auth) = req.header("authorization") else {
        return Err(unauthorized("Access token is empty."));
    };
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    if token.split('.').count() != 3 {
        return Err(unauthorized(
            "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.",
        ));
    }
    let Some(info) = store.tokens.get(token) else {
        return Err(unauthorized(
            "Access token validation failure. Invalid audience.",
        ));
    };
    if info.expires <= now {
        return Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    Ok(info.clone())
}
