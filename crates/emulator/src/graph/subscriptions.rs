//! Change notifications: `/subscriptions` with the validation handshake, lifetimes and
//! `clientState`, and a dispatcher that POSTs notifications for item changes (3 s timeout,
//! bounded retries), plus lifecycle events on demand.

use std::{sync::Arc, time::Duration};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::lock;

use super::{
    calendar,
    http::{self, Req, Resp, err},
    ids, percent,
    store::{Change, ItemKind, Store, Subscription, TokenInfo},
    wire::Shared,
};

/// Maximum lifetimes (minutes): Outlook resources 10,080 (current docs), To Do 4,230.
fn max_minutes(kind: ItemKind) -> i64 {
    match kind {
        ItemKind::Task => 4230,
        _ => 10_080,
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds")
    })
}

fn sub_json(shared: &Shared, store: &Store, s: &Subscription) -> Value {
    json!({
        "@odata.context": format!("{}/$metadata#subscriptions/$entity", shared.graph_base()),
        "id": s.id,
        "resource": s.resource,
        "applicationId": store.apps[s.app].client_id,
        "changeType": s.change_types.join(","),
        "clientState": s.client_state,
        "notificationUrl": s.notification_url,
        "lifecycleNotificationUrl": s.lifecycle_url,
        "expirationDateTime": calendar::fmt_instant_7(s.expires),
        "creatorId": store.apps[s.app].client_id,
        "includeResourceData": false,
        "latestSupportedTlsVersion": s.tls,
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationQueryOptions": null,
        "notificationContentType": "application/json",
    })
}

/// Parses `users/{uid}/…` into (mailbox, kind, container); the error is the 400 message.
fn parse_resource(
    store: &Store,
    resource: &str,
) -> Result<(usize, ItemKind, Option<String>), String> {
    let segs = http::split_segments(resource);
    let low: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = low.iter().map(String::as_str).collect();
    if l.first() == Some(&"me") {
        return Err(
            "/me is only valid with delegated authentication flow; use users/{id}/….".into(),
        );
    }
    if l.len() < 3 || l[0] != "users" {
        return Err(format!(
            "Resource '{resource}' is not supported: expected users/{{id}}/messages, events, contacts or todo/lists/{{id}}/tasks."
        ));
    }
    let ui = store
        .user_index(&segs[1])
        .ok_or_else(|| format!("The requested user '{}' is invalid.", segs[1]))?;
    let mb = store.mailboxes[ui]
        .as_ref()
        .ok_or("The mailbox is either inactive, soft-deleted, or is hosted on-premise.")?;
    let found = |c: Option<String>| {
        c.ok_or_else(|| format!("Resource '{resource}': the folder or list does not exist."))
    };
    Ok(match &l[2..] {
        ["messages"] => (ui, ItemKind::Message, None),
        ["mailfolders", _, "messages"] => (
            ui,
            ItemKind::Message,
            Some(found(mb.mail_folder(&segs[3]).map(|f| f.id.clone()))?),
        ),
        ["events"] => (ui, ItemKind::Event, None),
        ["contacts"] => (ui, ItemKind::Contact, None),
        ["contactfolders", _, "contacts"] => (
            ui,
            ItemKind::Contact,
            Some(found(mb.contact_folder(&segs[3]).map(|f| f.id.clone()))?),
        ),
        ["todo", "lists", _, "tasks"] => (
            ui,
            ItemKind::Task,
            Some(found(mb.todo_list(&segs[4]).map(|x| x.id.clone()))?),
        ),
        _ => {
            return Err(format!(
                "Resource '{resource}' is not supported: expected users/{{id}}/messages, events, contacts or todo/lists/{{id}}/tasks."
            ));
        }
    })
}

/// Graph's rule for `notificationUrl` and `lifecycleNotificationUrl` (`field`): an absolute HTTPS URL.
/// With `allow_http_loopback` (emulator only) `http://` to a loopback host is accepted too.
fn check_webhook_url(field: &str, raw: &str, allow_http_loopback: bool) -> Result<(), Resp> {
    let url = url::Url::parse(raw).map_err(|e| {
        Resp::error(
            400,
            "InvalidRequest",
            format!("{field} '{raw}' is not a valid absolute URL: {e}."),
        )
    })?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http_loopback && loopback => Ok(()),
        scheme => {
            let hint = match (scheme, loopback) {
                ("http", true) => {
                    " (emulator: EmulatorOptions::allow_http_loopback_webhooks or GRAPH_EMULATOR_ALLOW_HTTP_WEBHOOKS=true accept http:// on loopback)"
                }
                _ => "",
            };
            Err(Resp::error(
                400,
                "InvalidRequest",
                format!("{field} scheme='{scheme}' is not supported.{hint}"),
            ))
        }
    }
}

/// Posts the validation token and checks the endpoint echoes it (200, within 10 s).
async fn validate(url: &str) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let sep = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{sep}validationToken={}", percent::enc(&token));
    let res = client()
        .post(target)
        .header("Content-Type", "text/plain; charset=utf-8")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({e})"))?;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    if status != 200 {
        return Err(format!(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. (got {status})"
        ));
    }
    if body != token {
        return Err("Subscription validation request failed. Response must exactly match validationToken query parameter.".into());
    }
    Ok(())
}

fn parse_expiry(body: &Value, kind: ItemKind, now: Timestamp) -> Result<Timestamp, Resp> {
    let exp: Timestamp = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err::bad_request("expirationDateTime is required, as an ISO 8601 instant such as 2025-03-07T10:00:00Z."))?;
    let max = max_minutes(kind);
    if exp > now + SignedDuration::from_mins(max) {
        return Err(Resp::error(
            400,
            "ExtensionError",
            format!("Subscription expiration can only be {max} minutes in the future."),
        ));
    }
    if exp <= now {
        return Err(Resp::error(
            400,
            "ExtensionError",
            "Subscription expiration must be in the future.",
        ));
    }
    // Short lifetimes are raised to 45 minutes.
    Ok(exp.max(now + SignedDuration::from_mins(45)))
}

/// `/subscriptions[/{id}]`.
pub async fn handle(shared: &Arc<Shared>, req: &Req, token: &TokenInfo) -> Resp {
    let now = shared.clock.now();
    let m = req.method.as_str();
    match (m, req.segments.len()) {
        ("POST", 1) => create(shared, req, token, now).await,
        ("GET", 1) => {
            let store = lock(&shared.store);
            let subs: Vec<Value> = store
                .subscriptions
                .iter()
                .filter(|s| s.app == token.app && s.expires > now)
                .map(|s| sub_json(shared, &store, s))
                .collect();
            Resp::ok(
                json!({"@odata.context": format!("{}/$metadata#subscriptions", shared.graph_base()), "value": subs}),
            )
        }
        (_, 2) => {
            let id = req.segments[1].clone();
            let mut store = lock(&shared.store);
            let Some(pos) = store
                .subscriptions
                .iter()
                .position(|s| s.id == id && s.app == token.app && s.expires > now)
            else {
                return Resp::error(
                    404,
                    "ResourceNotFound",
                    format!("The object was not found. Subscription '{id}'."),
                );
            };
            match m {
                "GET" => Resp::ok(sub_json(shared, &store, &store.subscriptions[pos])),
                "DELETE" => {
                    store.subscriptions.remove(pos);
                    Resp::no_content()
                }
                "PATCH" => {
                    let kind = store.subscriptions[pos].kind;
                    let body = req.body.clone().unwrap_or(Value::Null);
                    let exp = match parse_expiry(&body, kind, now) {
                        Ok(e) => e,
                        Err(r) => return r,
                    };
                    store.subscriptions[pos].expires = exp;
                    Resp::ok(sub_json(shared, &store, &store.subscriptions[pos]))
                }
                _ => err::method_not_allowed(),
            }
        }
        (_, 3) if m == "POST" && req.segments[2].eq_ignore_ascii_case("reauthorize") => {
            let store = lock(&shared.store);
            match store
                .subscriptions
                .iter()
                .find(|s| s.id == req.segments[1] && s.app == token.app)
            {
                Some(_) => Resp::no_content(),
                None => Resp::error(404, "ResourceNotFound", "The object was not found."),
            }
        }
        _ => err::method_not_allowed(),
    }
}

async fn create(shared: &Arc<Shared>, req: &Req, token: &TokenInfo, now: Timestamp) -> Resp {
    let Some(body) = req.body.clone().filter(Value::is_object) else {
        return err::bad_request("Empty Payload. JSON content expected.");
    };
    let resource = body
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let parsed = {
        let store = lock(&shared.store);
        parse_resource(&store, &resource)
    };
    let (ui, kind, container) = match parsed {
        Ok(p) => p,
        Err(m) => return Resp::error(400, "ExtensionError", m),
    };
    let role_ok = {
        let family_roles: &[&str] = match kind {
            ItemKind::Message => &[
                "Mail.ReadBasic",
                "Mail.ReadBasic.All",
                "Mail.Read",
                "Mail.ReadWrite",
            ],
            ItemKind::Event => &[
                "Calendars.Read",
                "Calendars.ReadBasic",
                "Calendars.ReadWrite",
            ],
            ItemKind::Contact => &["Contacts.Read", "Contacts.ReadWrite"],
            ItemKind::Task => &["Tasks.Read.All", "Tasks.ReadWrite.All"],
        };
        token
            .roles
            .iter()
            .any(|r| family_roles.iter().any(|f| f.eq_ignore_ascii_case(r)))
    };
    if !role_ok {
        return Resp::error(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. Check credentials and try again.]",
        );
    }
    let change_types: Vec<String> = body
        .get("changeType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if change_types.is_empty()
        || change_types
            .iter()
            .any(|c| !matches!(c.as_str(), "created" | "updated" | "deleted"))
    {
        return err::bad_request(
            "changeType must be a comma-separated list of created, updated, deleted.",
        );
    }
    let Some(url) = body
        .get("notificationUrl")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return err::bad_request("notificationUrl is required.");
    };
    let lifecycle = body
        .get("lifecycleNotificationUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let client_state = body
        .get("clientState")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if client_state.as_ref().is_some_and(|c| c.len() > 128) {
        return err::bad_request("clientState must be at most 128 characters.");
    }
    let expires = match parse_expiry(&body, kind, now) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let urls = [
        ("NotificationUrl", Some(&url)),
        ("LifecycleNotificationUrl", lifecycle.as_ref()),
    ];
    for (field, u) in urls {
        if let Some(u) = u
            && let Err(r) = check_webhook_url(field, u, shared.allow_http_loopback_webhooks)
        {
            return r;
        }
    }
    for u in std::iter::once(&url).chain(lifecycle.iter()) {
        if let Err(m) = validate(u).await {
            return err::bad_request(m);
        }
    }
    let mut store = lock(&shared.store);
    let sub = Subscription {
        id: store.guid(),
        app: token.app,
        resource,
        ui,
        kind,
        container,
        change_types,
        notification_url: url,
        lifecycle_url: lifecycle,
        client_state,
        expires,
        tls: body
            .get("latestSupportedTlsVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1_2")
            .to_owned(),
        immutable_ids: req.prefer().immutable_id,
    };
    let out = sub_json(shared, &store, &sub);
    store.subscriptions.push(sub);
    Resp::json(201, out)
}

fn resource_path(store: &Store, c: &Change, id: &str) -> String {
    let uid = &store.users[c.ui].id;
    match c.kind {
        ItemKind::Message => format!("Users/{uid}/Messages/{id}"),
        ItemKind::Event => format!("Users/{uid}/Events/{id}"),
        ItemKind::Contact => format!("Users/{uid}/Contacts/{id}"),
        ItemKind::Task => format!("Users/{uid}/todo/lists/{}/tasks/{id}", c.container),
    }
}

fn odata_type(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "#Microsoft.Graph.Message",
        ItemKind::Event => "#Microsoft.Graph.Event",
        ItemKind::Contact => "#Microsoft.Graph.Contact",
        ItemKind::Task => "#Microsoft.Graph.todoTask",
    }
}

/// Matches pending changes against subscriptions: (url, body) per subscription with changes.
fn pending(store: &mut Store, now: Timestamp) -> Vec<(String, Value)> {
    let changes = std::mem::take(&mut store.changes);
    let mut out = Vec::new();
    for s in store.subscriptions.iter().filter(|s| s.expires > now) {
        let value: Vec<Value> = changes
            .iter()
            .filter(|c| c.ui == s.ui && c.kind == s.kind && s.container.as_ref().is_none_or(|f| f == &c.container))
            .filter(|c| s.change_types.iter().any(|t| t == c.change_type))
            .map(|c| {
                // The id form the subscription was created for, in the folder of the change.
                let regular = (!s.immutable_ids)
                    .then(|| ids::regular(&c.id, &c.container))
                    .flatten();
                let id = regular.as_deref().unwrap_or(&c.id);
                let path = resource_path(store, c, id);
                json!({
                    "subscriptionId": s.id,
                    "subscriptionExpirationDateTime": calendar::fmt_instant_7(s.expires),
                    "changeType": c.change_type,
                    "resource": path,
                    "resourceData": {"@odata.type": odata_type(c.kind), "@odata.id": path, "@odata.etag": c.etag, "id": id},
                    "clientState": s.client_state,
                    "tenantId": store.tenant_id,
                })
            })
            .collect();
        if !value.is_empty() {
            out.push((s.notification_url.clone(), json!({"value": value})));
        }
    }
    out
}

/// Delivers one notification body: 2xx within 3 s, else retried (up to 4 attempts).
async fn deliver(shared: &Shared, url: &str, body: &Value) {
    for attempt in 0..4u32 {
        let sent = client()
            .post(url)
            .json(body)
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            lock(&shared.throttle).counters.notifications_delivered += 1;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
    }
    lock(&shared.throttle).counters.notifications_failed += 1;
}

/// Runs until the emulator stops: wakes on every write and delivers what matches.
pub async fn dispatcher(shared: Arc<Shared>) {
    loop {
        shared.changed.notified().await;
        let batch = {
            let mut store = lock(&shared.store);
            pending(&mut store, shared.clock.now())
        };
        for (url, body) in batch {
            deliver(&shared, &url, &body).await;
        }
    }
}

/// Sends a lifecycle event (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) for a subscription.
pub async fn lifecycle(shared: &Shared, sub_id: &str, event: &str) -> Result<(), String> {
    let (url, body) = {
        let store = lock(&shared.store);
        let s = store
            .subscriptions
            .iter()
            .find(|s| s.id == sub_id)
            .ok_or_else(|| format!("no subscription {sub_id}"))?;
        let url = s
            .lifecycle_url
            .clone()
            .ok_or_else(|| format!("subscription {sub_id} has no lifecycleNotificationUrl"))?;
        let body = json!({"value": [{
            "subscriptionId": s.id,
            "subscriptionExpirationDateTime": calendar::fmt_instant_7(s.expires),
            "tenantId": store.tenant_id,
            "clientState": s.client_state,
            "lifecycleEvent": event,
        }]});
        (url, body)
    };
    deliver(shared, &url, &body).await;
    Ok(())
}
